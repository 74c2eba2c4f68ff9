"""Augmentation: albumentations pipelines declared in YAML, SpecAugment, and mixup/cutmix on batches.

A pipeline is a list; each item is a transform name, ``{name: X, ...params}`` or ``{X: {params}}``::

    augment:
      - {name: HorizontalFlip, p: 0.5}
      - VerticalFlip
      - {Affine: {scale: [0.9, 1.1], rotate: [-15, 15], p: 0.5}}
      - {name: SpecAugment, alpha: 0.1, p: 0.5}

A resize to ``img_size`` is always added last, so the network sees one size. Normalisation happens
on the batch inside the network (uint8 travels to the GPU, not float).

>>> pipe = build_pipeline([{"name": "HorizontalFlip", "p": 0.5}], (32, 32))
>>> pipe(np.zeros((28, 28, 1), np.uint8)).shape
(32, 32, 1)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from medalist.core.errors import ConfigError, did_you_mean

__all__ = ["build_pipeline", "SpecAugment", "random_probabilities", "tta_coverage", "mix_batch", "CUSTOM"]


def _spec_augment_class():
    import albumentations as A

    class SpecAugment(A.ImageOnlyTransform):
        """Zero one random band of rows and one of columns, each at most ``alpha`` × the size wide.

        The spectrogram augmentation of SETI/HMS solutions (alpha = 0.1).
        """

        def __init__(self, alpha: float = 0.1, rows: bool = True, cols: bool = True, p: float = 0.5) -> None:
            super().__init__(p=p)
            if not 0 < alpha <= 1:
                raise ValueError(f"alpha must be in (0, 1], got {alpha}")
            self.alpha, self.rows, self.cols = alpha, rows, cols

        def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
            h, w = params["shape"][:2]
            rng = self.py_random

            def band(n: int) -> tuple[int, int]:
                width = rng.randint(0, max(int(self.alpha * n), 0))
                start = rng.randint(0, max(n - width, 0))
                return start, start + width

            return {"row_band": band(h) if self.rows else (0, 0), "col_band": band(w) if self.cols else (0, 0)}

        def apply(self, img: np.ndarray, row_band: tuple[int, int] = (0, 0), col_band: tuple[int, int] = (0, 0),
                  **params: Any) -> np.ndarray:
            out = img.copy()
            out[row_band[0]:row_band[1]] = 0
            out[:, col_band[0]:col_band[1]] = 0
            return out

        def get_transform_init_args_names(self) -> tuple[str, ...]:
            return ("alpha", "rows", "cols")

    return SpecAugment


# Custom transforms by name: factories so albumentations is imported only when a pipeline is built.
CUSTOM: dict[str, Callable[[], type]] = {"SpecAugment": _spec_augment_class}


def SpecAugment(**kwargs: Any) -> Any:  # noqa: N802 (reads like the class it builds)
    """A SpecAugment transform instance (see :data:`CUSTOM`)."""
    return _spec_augment_class()(**kwargs)


def _item(item: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str):
        return item, {}
    if isinstance(item, dict) and "name" in item:
        rest = {k: v for k, v in item.items() if k != "name"}
        return str(item["name"]), rest
    if isinstance(item, dict) and len(item) == 1:
        name, params = next(iter(item.items()))
        if params is None:
            params = {}
        if isinstance(params, dict):
            return str(name), dict(params)
    raise ConfigError(where, expected="a transform name, {name: X, ...params} or {X: {params}}",
                      found=repr(item)[:120], fix="e.g. - {name: HorizontalFlip, p: 0.5}")


def _transform_names(A: Any) -> list[str]:
    base = (A.BasicTransform,)
    return [n for n in dir(A) if isinstance(getattr(A, n), type) and issubclass(getattr(A, n), base)] + list(CUSTOM)


def build_transforms(spec: list[Any], where: str = "model.params.augment") -> list[Any]:
    """Albumentations transform objects for a YAML list (errors name the item and its position)."""
    import albumentations as A

    out = []
    for i, item in enumerate(spec or []):
        w = f"{where}[{i}]"
        name, params = _item(item, w)
        if name in CUSTOM:
            cls = CUSTOM[name]()
        else:
            cls = getattr(A, name, None)
            if not (isinstance(cls, type) and issubclass(cls, A.BasicTransform)):
                raise ConfigError(w, expected="an albumentations transform or SpecAugment",
                                  found=f"'{name}'{did_you_mean(name, _transform_names(A))}",
                                  fix="see https://albumentations.ai/docs for the names")
        try:
            out.append(cls(**params))
        except Exception as e:  # TypeError / pydantic ValidationError from albumentations' schemas
            msg = " ".join(str(e).split())[:200]
            raise ConfigError(w, expected=f"parameters {name} accepts", found=msg, fix="check the parameter names and ranges") from None
    return out


def build_pipeline(spec: list[Any], size: tuple[int, int], where: str = "model.params.augment") -> Callable[[np.ndarray], np.ndarray]:
    """A callable HWC array -> augmented HWC array of ``size`` (height, width)."""
    import albumentations as A

    transforms = build_transforms(spec, where)
    compose = A.Compose([*transforms, A.Resize(height=size[0], width=size[1])])

    def run(img: np.ndarray) -> np.ndarray:
        out = compose(image=img)["image"]
        return out[:, :, None] if out.ndim == 2 else out

    run.transforms = transforms  # type: ignore[attr-defined]
    return run


def random_probabilities(spec: list[Any]) -> list[float]:
    """The application probability ``p`` of each random transform (0 < p < 1) in a pipeline spec."""
    ps = []
    for t in build_transforms(spec):
        p = float(getattr(t, "p", 1.0))
        if 0 < p < 1:
            ps.append(p)
    return ps


def tta_coverage(n: int, ps: list[float]) -> float:
    """Probability that n random TTA passes apply every random augmentation at least once.

    With k augmentations each applied with p = 0.5 this is (1 − 0.5^n)^k.

    >>> round(tta_coverage(16, [0.5] * 4), 2), round(tta_coverage(4, [0.5] * 4), 2)
    (1.0, 0.77)
    """
    out = 1.0
    for p in ps:
        out *= 1.0 - (1.0 - p) ** n
    return out


def mix_batch(x: Any, targets: list[Any], cfg: Any, generator: Any) -> tuple[Any, list[Any], Any]:
    """Mixup or cutmix a float batch; targets (soft, and aux with NaN) are mixed with the same weights.

    Returns (x, targets, perm): ``perm`` pairs each row with its partner (for masks), or None when
    the batch was left alone.
    """
    import torch

    use_mixup, use_cutmix = cfg.mixup_alpha > 0, cfg.cutmix_alpha > 0
    if not (use_mixup or use_cutmix) or x.shape[0] < 2:
        return x, targets, None
    if torch.rand((), generator=generator).item() >= cfg.prob:
        return x, targets, None
    cutmix = use_cutmix and (not use_mixup or torch.rand((), generator=generator).item() < 0.5)
    alpha = cfg.cutmix_alpha if cutmix else cfg.mixup_alpha
    lam = float(np.random.default_rng(int(torch.randint(0, 2**31 - 1, (), generator=generator))).beta(alpha, alpha))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    if cutmix:
        h, w = x.shape[-2:]
        ch, cw = int(h * np.sqrt(1 - lam)), int(w * np.sqrt(1 - lam))
        cy = int(torch.randint(0, h, (), generator=generator))
        cx = int(torch.randint(0, w, (), generator=generator))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)  # the area actually pasted
    else:
        x = lam * x + (1 - lam) * x[perm]
    mixed = [None if t is None else lam * t + (1 - lam) * t[perm] for t in targets]
    return x, mixed, perm
