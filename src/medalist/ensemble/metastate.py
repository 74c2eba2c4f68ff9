"""Fitted meta models as plain state, saved with a stack without pickle; and their prediction from it.

A stack's meta models (one per fold) are turned into JSON-able state right after each fit: the
imputer's medians, the scaler's means and scales and the linear model's coefficients (``logistic``,
``ridge``), LightGBM's own text model (``lightgbm``) or the 1×3 kernel and bias (``conv1x3``).
The stack predicts its OOF and test rows *from that state* (:class:`SavedMeta`), and so does a
re-applied stack (:mod:`medalist.ensemble.reapply`): both run the same code on the same numbers,
so a re-applied stack reproduces the stack's own test predictions bit for bit. Linear and conv
models are evaluated with elementwise NumPy (no BLAS call, whose summation order can depend on
the CPU and thread count); their results equal scikit-learn's/torch's to rounding (about 1e-15).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from medalist.core.errors import RunError

__all__ = ["STATE_VERSION", "SavedMeta", "sklearn_state"]

STATE_VERSION = 1
_PROBA = ("multiclass", "distribution")
DIST_FLOOR = 1e-3  # a ridge's class fractions are clipped here before renormalising (KL of a 0 is infinite)

State = tuple[dict[str, Any], dict[str, str]]  # (JSON-able state, text files such as a LightGBM model)


def sklearn_state(pipe: Any) -> State | None:
    """State of a fitted ``make_pipeline(SimpleImputer, [StandardScaler], estimator)``; None: unknown estimator."""
    steps = [s for _, s in pipe.steps]
    imp, est = steps[0], steps[-1]
    scaler = steps[1] if len(steps) == 3 else None
    state: dict[str, Any] = {
        "impute": np.asarray(imp.statistics_, dtype=np.float64).tolist(),
        "scale": None if scaler is None else {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()},
    }
    name = type(est).__name__
    texts: dict[str, str] = {}
    if name == "LogisticRegression":
        state.update(kind="logistic", coef=np.atleast_2d(est.coef_).tolist(),
                     intercept=np.ravel(est.intercept_).tolist(), classes=[int(c) for c in est.classes_])
    elif name == "Ridge":
        state.update(kind="ridge", coef=np.atleast_2d(est.coef_).tolist(), intercept=np.ravel(est.intercept_).tolist())
    elif name in ("LGBMClassifier", "LGBMRegressor"):
        state.update(kind="lightgbm", classes=[int(c) for c in est.classes_] if name == "LGBMClassifier" else None)
        texts["booster"] = est.booster_.model_to_string()
    else:
        return None
    return state, texts


def _impute(X: np.ndarray, stats: list[float]) -> np.ndarray:
    X = np.array(X, dtype=np.float64, copy=True)
    nan = np.isnan(X)
    if nan.any():
        X[nan] = np.broadcast_to(np.asarray(stats, dtype=np.float64), X.shape)[nan]
    return X


def _linear(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """X @ coef.T + intercept, summed column by column (a fixed order on every machine)."""
    z = np.zeros((X.shape[0], coef.shape[0]))
    for j in range(X.shape[1]):
        z += X[:, j:j + 1] * coef[:, j]
    return z + intercept


def _expit(z: np.ndarray) -> np.ndarray:
    from scipy.special import expit

    return expit(z)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _place(proba: np.ndarray, classes: list[int], task: str, width: int) -> np.ndarray:
    """Class probabilities in ``classes`` order -> (n, K) like ``_Sklearn.predict`` (a fold may miss a class)."""
    k = width if task in _PROBA else 2
    full = np.zeros((len(proba), k))
    for j, c in enumerate(classes):
        full[:, int(c)] = proba[:, j]
    return full if task in _PROBA else full[:, 1:2]


class SavedMeta:
    """A meta model rebuilt from its state; ``predict(X) -> (n, K)`` like the model it was saved from.

    >>> s = {"kind": "ridge", "impute": [0.0, 0.0], "scale": None, "coef": [[0.5, 2.0]], "intercept": [1.0]}
    >>> SavedMeta(s, {}, task="regression", width=1).predict(np.array([[2.0, 1.0], [np.nan, 0.5]]))
    array([[4.],
           [2.]])
    """

    def __init__(self, state: dict[str, Any], texts: dict[str, str], *, task: str, width: int) -> None:
        self.state, self.texts, self.task, self.width = state, texts, task, width
        self.kind = state.get("kind")
        if self.kind not in ("logistic", "ridge", "lightgbm", "conv1x3"):
            raise RunError("meta model state", expected="kind logistic, ridge, lightgbm or conv1x3",
                           found=repr(self.kind), fix="re-run the stack with this medalist version")
        self._booster = None

    def _inputs(self, X: np.ndarray) -> np.ndarray:
        n = int(self.state.get("exp_cols") or 0)  # a distribution ridge reads the members' probabilities
        if n:
            X = np.array(X, dtype=np.float64, copy=True)
            X[:, :n] = np.exp(X[:, :n])
        X = _impute(X, self.state["impute"])
        sc = self.state.get("scale")
        if sc is not None:
            X = (X - np.asarray(sc["mean"])) / np.asarray(sc["scale"])
        return X

    def predict(self, X: np.ndarray) -> np.ndarray:
        if self.kind == "conv1x3":
            return self._conv(np.asarray(X, dtype=np.float64))
        X = self._inputs(X)
        st, task = self.state, self.task
        if self.kind == "lightgbm":
            raw = np.asarray(self._lgb().predict(X), dtype=np.float64)
            if st["classes"] is None:
                return raw.reshape(-1, 1)
            proba = np.column_stack([1.0 - raw, raw]) if raw.ndim == 1 else raw
            return _place(proba, st["classes"], task, self.width)
        z = _linear(X, np.asarray(st["coef"], dtype=np.float64), np.asarray(st["intercept"], dtype=np.float64))
        if self.kind == "ridge":
            if task == "distribution":  # fractions: clipped at a floor, renormalised per row
                q = np.clip(z, DIST_FLOOR, None)
                return q / q.sum(axis=1, keepdims=True)
            return np.clip(z, 1e-6, 1 - 1e-6) if task == "binary" else z
        if len(st["classes"]) <= 2:
            p = _expit(z[:, 0])
            proba = np.column_stack([1.0 - p, p])
        else:
            proba = _softmax(z)
        return _place(proba, st["classes"], task, self.width)

    def _lgb(self):
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.texts["booster"])
        return self._booster

    def _conv(self, X: np.ndarray) -> np.ndarray:
        st, k = self.state, self.width
        w = np.asarray(st["weight"], dtype=np.float64)[0]  # (members, 3)
        m = w.shape[0]
        x = (X.reshape(len(X), m, k) - st["center"]) / st["scale"]
        xp = np.zeros((len(X), m, k + 2))
        xp[:, :, 1:-1] = x
        z = np.zeros((len(X), k))
        for c in range(m):  # cross-correlation with padding 1, as torch.nn.Conv1d
            for t in range(3):
                z += w[c, t] * xp[:, c, t:t + k]
        z += float(st["bias"][0])
        if self.task in _PROBA:
            return _softmax(z)
        if self.task == "binary":
            return _expit(z)
        return z * st["scale"] + st["center"]
