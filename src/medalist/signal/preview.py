"""Front-end preview: what each branch of a signal config turns the first training rows into.

``medalist signal-preview CONFIG`` writes a PNG grid (one row per signal, one column per branch) of
the images/sequences the networks receive (before the branch BatchNorm and resize), and returns
their shapes and value ranges — a wrong ``hop``, ``fmax`` or wavelet scale shows at a glance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from medalist.core.errors import ConfigError

__all__ = ["preview_frontends"]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(img, [1, 99]) if img.size else (0.0, 1.0)
    return (np.clip((img - lo) / max(hi - lo, 1e-12), 0, 1) * 255).astype(np.uint8)


def preview_frontends(ws: Any, config: Path, overrides: list[str], *, rows: int = 4, out: Path | None = None,
                      tile: int = 96) -> dict[str, Any]:
    """Run each branch's front-end on the first ``rows`` training signals; optionally save a PNG grid."""
    import torch
    from PIL import Image

    from medalist.core.config import load_experiment
    from medalist.models.registry import create_model
    from medalist.signal.model import SignalModel
    from medalist.signal.net import _Branch
    from medalist.workspace.data import load_competition_data

    exp, _ = load_experiment(Path(config), overrides)
    model = create_model(exp.model.name, exp.model.params, **exp.model.options)
    if not isinstance(model, SignalModel):
        raise ConfigError(f"{config}: model.name", expected="'signal'", found=f"'{exp.model.name}'",
                          fix="preview a signal-model config")
    data = load_competition_data(ws, exp.columns, weight=exp.weight)
    frame = data.train.head(rows)
    p = model.p
    x = model._waveforms(frame, "training rows", p.length)
    provided = model._provided(frame, "training rows")
    info: dict[str, Any] = {"rows": len(x), "signal_shape": list(x.shape[1:]), "branches": []}
    tiles: list[list[np.ndarray]] = [[] for _ in range(len(x))]
    xt = torch.from_numpy(x)
    for b in p.branches:
        br = _Branch(b, p, x.shape[1], x.shape[-1], 2, tuple(provided[b.name].shape[1:]) if b.name in provided else None)
        with torch.no_grad():
            z = torch.from_numpy(provided[b.name]) if b.name in provided else (br.frontend(xt) if br.frontend is not None else xt)
            if br.log:
                z = torch.log1p(z)
        arr = z.numpy()
        info["branches"].append({"name": b.name, "input": b.input, "net": br.kind, "shape": list(arr.shape[1:]),
                                 "min": float(arr.min()), "max": float(arr.max())})
        for i in range(len(arr)):
            a = arr[i]
            if a.ndim == 2:  # a waveform (C, T): a line plot per channel
                img = np.zeros((tile, tile), np.uint8)
                for ch in a:
                    t = np.linspace(0, len(ch) - 1, tile).astype(int)
                    v = ch[t]
                    yy = ((1 - (v - v.min()) / max(np.ptp(v), 1e-12)) * (tile - 1)).astype(int)
                    for q in range(tile):  # a vertical segment to the previous point keeps the line connected
                        lo, hi = sorted((yy[max(q - 1, 0)], yy[q]))
                        img[lo:hi + 1, q] = 255
            else:  # (C, F, T): the first channel, low frequencies at the bottom
                im = Image.fromarray(_to_uint8(a[0][::-1]))
                img = np.asarray(im.resize((tile, tile), Image.BILINEAR))
            tiles[i].append(img)
    if out is not None and len(x):
        grid = np.concatenate([np.concatenate(r, axis=1) for r in tiles], axis=0)
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(out)
        info["png"] = str(out)
    return info
