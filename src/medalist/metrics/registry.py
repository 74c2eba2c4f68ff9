"""Competition metrics by name: ``get_metric("auc")``, ``get_metric({"name": "pauc", "min_tpr": 0.9})``.

Every metric takes the prediction the model produced, whatever the metric needs, so one OOF
array scores under any metric. Conventions (fixed across medalist):

* binary: ``y_pred`` is (n,) probability of the positive class, ``y_true`` 0/1;
* multiclass: ``y_pred`` is (n, K) probabilities, ``y_true`` ints 0..K-1;
* regression: (n,) values; multilabel: ``y_true`` and ``y_pred`` both (n, L).

Label metrics (``needs="label"``) convert probabilities themselves: binary and multilabel at a
0.5 threshold, multiclass by argmax; ``qwk`` rounds regression outputs and clips them to the
observed label range. ``map@k`` is the exception: it scores rankings (see :func:`map_at_k`).

``METRICS`` holds factories ``(**params) -> Metric``; register your own with
:func:`register_metric`, or point a config at any function by dotted path.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from medalist.core.errors import ConfigError, did_you_mean
from medalist.core.registry import Registry

__all__ = ["Metric", "Domain", "METRICS", "get_metric", "list_metrics", "register_metric"]

Direction = Literal["maximize", "minimize"]
Needs = Literal["proba", "label", "value"]
_DIRECTIONS = ("maximize", "minimize")
_NEEDS = ("proba", "label", "value")


@dataclass(frozen=True)
class Domain:
    """The values a metric can score: ``low``/``high`` bounds (None: unbounded), each open or closed.

    Predictions outside are clipped into it before scoring (an open bound clips to the next float
    inside); with ``targets=True`` the targets must lie inside too (rmsle: ``y > -1``), which the
    runner checks before a run folder exists.

    >>> d = Domain(low=-1.0, low_open=True)
    >>> d.contains([-1.0, 0.0, 5.0]).tolist(), float(d.clip([-3.0])[0]) > -1.0, d.describe()
    ([False, True, True], True, 'values > -1.0')
    """

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    targets: bool = True

    def contains(self, values) -> Any:
        """A boolean array: which values lie inside (NaN is outside)."""
        import numpy as np

        v = np.asarray(values, dtype=float)
        ok = ~np.isnan(v)
        if self.low is not None:
            ok &= (v > self.low) if self.low_open else (v >= self.low)
        if self.high is not None:
            ok &= (v < self.high) if self.high_open else (v <= self.high)
        return ok

    def clip(self, values) -> Any:
        """``values`` clipped into the domain (NaN stays NaN)."""
        import numpy as np

        v = np.asarray(values, dtype=float)
        lo = None if self.low is None else (np.nextafter(self.low, np.inf) if self.low_open else self.low)
        hi = None if self.high is None else (np.nextafter(self.high, -np.inf) if self.high_open else self.high)
        return np.clip(v, lo, hi) if lo is not None or hi is not None else v

    def describe(self) -> str:
        """The domain in words, e.g. ``values > -1.0`` or ``values in [0.0, 1.0]``."""
        if self.low is not None and self.high is not None:
            return f"values in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        if self.low is not None:
            return f"values {'>' if self.low_open else '>='} {self.low}"
        if self.high is not None:
            return f"values {'<' if self.high_open else '<='} {self.high}"
        return "any value"


@dataclass(frozen=True)
class Metric:
    """A scoring function with the facts a run needs about it.

    >>> m = get_metric("rmse")
    >>> m([0.0, 2.0], [0.0, 0.0]), m.direction, m.better(0.1, 0.2)
    (1.4142135623730951, 'minimize', True)
    """

    name: str
    fn: Callable[[Any, Any, Any], float]
    direction: Direction
    needs: Needs
    domain: Domain | None = None  # what it can score; None: any finite value

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        return float(self.fn(y_true, y_pred, sample_weight))

    def better(self, a: float, b: float) -> bool:
        """True when score ``a`` is strictly better than ``b``; NaN is worse than any number."""
        if math.isnan(a):
            return False
        if math.isnan(b):
            return True
        return a > b if self.greater_is_better else a < b

    @property
    def greater_is_better(self) -> bool:
        return self.direction == "maximize"


METRICS: Registry = Registry("metric")


def _call(impl: Callable, params: dict, y_true, y_pred, sample_weight=None) -> float:
    # Module-level (not a closure) so Metric objects pickle into worker processes.
    if sample_weight is None:
        return impl(y_true, y_pred, **params)
    return impl(y_true, y_pred, sample_weight=sample_weight, **params)


def _params_of(fn: Callable) -> dict[str, Any]:
    """Keyword parameters after (y_true, y_pred, sample_weight) with their defaults."""
    sig = inspect.signature(fn).parameters
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {n: p.default for n, p in list(sig.items())[2:] if n != "sample_weight" and p.kind in kinds}


def _check_kind(where: str, direction: str, needs: str) -> None:
    if direction not in _DIRECTIONS:
        raise ConfigError(f"{where} direction", expected=" or ".join(_DIRECTIONS),
                          found=f"'{direction}'{did_you_mean(direction, _DIRECTIONS)}")
    if needs not in _NEEDS:
        raise ConfigError(f"{where} needs", expected="one of " + ", ".join(_NEEDS),
                          found=f"'{needs}'{did_you_mean(needs, _NEEDS)}")


def _display(name: str, params: dict) -> str:
    if not params:
        return name
    if name.endswith("@k") and set(params) == {"k"}:
        return f"{name[:-2]}@{params['k']}"
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in params.items())})"


def register_metric(name: str, *, direction: Direction, needs: Needs = "proba", overwrite: bool = False,
                    domain: Domain | None = None):
    """Register ``fn(y_true, y_pred, sample_weight=None, **params)`` as metric ``name``.

    ``domain`` declares the values it can score (see :class:`Domain`); the runner clips predictions
    into it before scoring and refuses targets outside it.

    >>> from sklearn import metrics as skm
    >>> @register_metric("neg_mae", direction="maximize", needs="value", overwrite=True)
    ... def neg_mae(y_true, y_pred, sample_weight=None):
    ...     return -skm.mean_absolute_error(y_true, y_pred, sample_weight=sample_weight)
    >>> get_metric("neg_mae")([1.0], [3.0])
    -2.0
    """
    _check_kind(f"metric '{name}'", direction, needs)

    def deco(fn: Callable) -> Callable:
        defaults = _params_of(fn)

        def factory(**params: Any) -> Metric:
            for key in params:
                if key not in defaults:
                    raise ConfigError(
                        f"metric '{name}' parameter '{key}'",
                        expected=f"one of {', '.join(defaults)}" if defaults else "no parameters",
                        found=f"'{key}'{did_you_mean(key, defaults)}",
                        fix=f"remove '{key}' from the metric spec",
                    )
            full = {**defaults, **params}
            missing = [k for k, v in full.items() if v is inspect.Parameter.empty]
            if missing:
                raise ConfigError(f"metric '{name}'", expected=f"a value for {', '.join(missing)}",
                                  found="none", fix=f"write {{name: {name}, {missing[0]}: ...}}")
            return Metric(_display(name, full), functools.partial(_call, fn, full), direction, needs, domain)

        METRICS.register(name, factory, overwrite=overwrite)
        return fn

    return deco


def list_metrics() -> list[str]:
    """Names of all registered metrics.

    >>> "auc" in list_metrics()
    True
    """
    return METRICS.names()


def get_metric(spec: str | dict | Metric) -> Metric:
    """Resolve a metric from a name, ``{"name": ..., **params}``, a dotted path, or a Metric.

    ``"map@12"`` means ``map@k`` with ``k=12``. A dotted path (``"pkg.mod.fn"`` or
    ``"pkg.mod:fn"``) imports ``fn(y_true, y_pred[, sample_weight])``. Its direction must be known:
    the dict form's ``direction`` (``"maximize"``/``"minimize"``), else the function's own ``direction``
    or ``greater_is_better`` attribute; neither is a ConfigError (a guessed direction would make every
    early stop, tune and blend optimise the wrong way). ``needs`` defaults to ``"proba"``.

    >>> get_metric({"name": "pauc", "min_tpr": 0.9}).name
    'pauc(min_tpr=0.9)'
    """
    if isinstance(spec, Metric):
        return spec
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict):
        if "name" not in spec:
            raise ConfigError("metric", expected="a mapping with a 'name' key", found=repr(spec),
                              fix="write e.g. {name: pauc, min_tpr: 0.8}")
        params = dict(spec)
        name = str(params.pop("name"))
    else:
        raise ConfigError("metric", expected="a name, a mapping with 'name', or a Metric",
                          found=type(spec).__name__)

    registered = METRICS.names()
    base, at, k = name.partition("@")
    if name not in registered and at and k.isdigit() and f"{base}@k" in registered:
        params.setdefault("k", int(k))
        name = f"{base}@k"
    if name in registered:
        return METRICS.get(name)(**params)
    if "." in name or ":" in name:
        return _from_path(name, params)
    return METRICS.get(name)  # raises ConfigError with did-you-mean


def _declared_direction(fn: Callable, path: str) -> str:
    """The direction a metric function declares about itself, or a ConfigError saying how to give one."""
    own = getattr(fn, "direction", None)
    if own is None and isinstance(getattr(fn, "greater_is_better", None), bool):
        own = "maximize" if fn.greater_is_better else "minimize"
    if own is None:
        raise ConfigError(f"metric '{path}'", expected="a direction: maximize (higher is better) or minimize (lower is better)",
                          found="none given, and the function declares none",
                          fix=f"write metric: {{name: '{path}', direction: minimize}} (or maximize)")
    return str(own)


def _from_path(path: str, params: dict) -> Metric:
    direction = params.pop("direction", None)
    needs = params.pop("needs", "proba")
    _check_kind(f"metric '{path}'", direction or "maximize", needs)
    module_name, sep, attr = path.partition(":") if ":" in path else path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"metric '{path}'", expected="'package.module.function' or 'package.module:function'",
                          found=repr(path))
    from medalist.core.safety import check_dotted, check_resolved, import_checked

    check_dotted(f"{module_name}:{attr}", where=f"metric '{path}'", kind="metric")  # refused here, before any import
    try:
        module = import_checked(module_name)
    except ImportError as e:
        raise ConfigError(f"metric '{path}'", expected=f"an importable module '{module_name}'",
                          found=f"import failed: {e}", fix="check the path and that the package is installed") from e
    fn = getattr(module, attr, None)
    if not callable(fn):
        names = [n for n in dir(module) if not n.startswith("_")]
        raise ConfigError(f"metric '{path}'", expected=f"a function '{attr}' in module '{module_name}'",
                          found=f"no such attribute{did_you_mean(attr, names)}")
    check_resolved(fn, path, where=f"metric '{path}'", kind="metric")
    if direction is None:
        direction = _declared_direction(fn, path)
        _check_kind(f"metric '{path}'", direction, needs)
    return Metric(_display(path, params), functools.partial(_call, fn, params), direction, needs)
