"""Meta (level-2) models of a stack: the registry ``META``, their inputs and their hyperparameter search spaces.

``logistic``, ``ridge``, ``lightgbm`` and ``conv1x3`` (HMS's 1×3-kernel stacker over model outputs,
needs torch). On a ``distribution`` task (targets are per-row class fractions) every one of them is
trained on the soft targets: logistic and LightGBM as multiclass models on the rows expanded once per
class with the fractions as sample weights (their log-loss is then the KL divergence up to a constant),
ridge on the fractions (outputs clipped at 0 and renormalised), conv1x3 with a KL loss.
:data:`SEARCH` gives each built-in meta model's Optuna search space (``stack --select optuna``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from medalist.core.errors import ConfigError
from medalist.core.optional import require
from medalist.core.registry import Registry
from medalist.ensemble.metastate import DIST_FLOOR, State, sklearn_state

__all__ = ["META", "SEARCH", "PROBA_TASKS", "MetaModel", "MetaSpec", "meta_inputs", "as_proba", "register_stacker",
           "get_stacker", "list_stackers"]

_EPS = 1e-6
PROBA_TASKS = ("multiclass", "distribution")  # K class-probability columns per member


class MetaModel(Protocol):
    """A level-2 model: ``fit(X, y)`` on level-1 inputs, ``predict(X) -> (n, K)``.

    ``X`` is :func:`meta_inputs` of the members (logits for probabilities), ``n_members × width``
    columns then ``n_raw`` raw features; ``y`` the targets (class ints, 0/1, values, or (n, K)
    fractions for a distribution). ``predict`` returns probabilities of class 1 (binary, K=1), of
    every class (multiclass/distribution, K classes) or values (regression, K=1). A factory
    registered in :data:`META` gets a :class:`MetaSpec` and raises a ConfigError for a task it
    cannot handle.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MetaModel": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


@dataclass
class MetaSpec:
    """What a meta model factory receives: the task, the layout of X, seed, threads and hyperparameters."""

    task: str
    n_members: int
    width: int  # K: prediction columns per member
    n_raw: int = 0  # raw feature columns appended after the member columns
    seed: int = 42
    threads: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)  # e.g. {"C": 0.3} (chosen by --select optuna)


# name -> factory(MetaSpec) -> MetaModel
META: Registry[Callable[[MetaSpec], MetaModel]] = Registry("stacker")


def register_stacker(name: str, *, overwrite: bool = False):
    """Register ``factory(spec: MetaSpec) -> MetaModel`` as meta model ``name`` (``stack --meta NAME``)."""
    return META.register(name, overwrite=overwrite)


def get_stacker(name: str) -> Callable[[MetaSpec], MetaModel]:
    """The meta-model factory ``name`` (ConfigError with a did-you-mean if unknown)."""
    return META.get(name)


def list_stackers() -> list[str]:
    """Names of the meta models.

    >>> "logistic" in list_stackers()
    True
    """
    return META.names()


def meta_inputs(preds: list[np.ndarray], task: str) -> np.ndarray:
    """Members' predictions as meta features: logits for probabilities, raw values for regression."""
    cols = []
    for p in preds:
        if task == "binary":
            q = np.clip(p, _EPS, 1 - _EPS)
            cols.append(np.log(q / (1 - q)))
        elif task in PROBA_TASKS:
            cols.append(np.log(np.clip(p, _EPS, 1.0)))
        else:
            cols.append(p.astype(np.float64))
    return np.hstack(cols)


def as_proba(task: str, raw: np.ndarray, n_classes: int) -> np.ndarray:
    """A meta model's output as (n, K)."""
    raw = np.asarray(raw, dtype=np.float64)
    if task in PROBA_TASKS:
        return raw.reshape(len(raw), n_classes)
    return raw.reshape(len(raw), 1)


def _expand(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Soft (n, K) targets as one row per (row, class with mass), labelled by class, weighted by the
    fraction: the same expansion the models train distributions with."""
    from medalist.models.soft import expand_soft

    rows, labels, weights = expand_soft(Y)
    return X[rows], labels, weights


class _Sklearn:
    """An sklearn estimator behind the MetaModel protocol (imputation + scaling first)."""

    def __init__(self, est: Any, spec: MetaSpec, *, scale: bool = True) -> None:
        self.est, self.spec, self.scale = est, spec, scale

    def fit(self, X, y):
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        steps = [SimpleImputer(strategy="median", keep_empty_features=True)]
        if self.scale:
            steps.append(StandardScaler())
        self.pipe_ = make_pipeline(*steps, self.est)
        if self.spec.task == "distribution" and not isinstance(self, _RidgeProba):
            X, y, w = _expand(X, y)
            self.pipe_.fit(X, y, **{f"{self.pipe_.steps[-1][0]}__sample_weight": w})
        else:
            self.pipe_.fit(X, y)
        return self

    def predict(self, X):
        s = self.spec
        if s.task == "regression":
            return self.pipe_.predict(X).reshape(-1, 1)
        proba = self.pipe_.predict_proba(X)
        classes = list(self.pipe_.classes_)
        k = s.width if s.task in PROBA_TASKS else 2
        full = np.zeros((len(X), k))
        for j, c in enumerate(classes):  # a fold may miss a class
            full[:, int(c)] = proba[:, j]
        return full if s.task in PROBA_TASKS else full[:, 1:2]

    def state(self) -> State | None:
        """The fitted pipeline as plain state (:mod:`medalist.ensemble.metastate`); None: not a known estimator."""
        return sklearn_state(self.pipe_)


@register_stacker("logistic")
def _logistic(spec: MetaSpec) -> MetaModel:
    if spec.task not in ("binary", *PROBA_TASKS):
        raise ConfigError("stack --meta logistic", expected="a binary, multiclass or distribution task",
                          found=f"task '{spec.task}'", fix="use --meta ridge (or lightgbm) for regression")
    from sklearn.linear_model import LogisticRegression

    return _Sklearn(LogisticRegression(C=float(spec.params.get("C", 1.0)), max_iter=2000), spec)


class _RidgeProba(_Sklearn):
    """Ridge; on a distribution task fitted on the fractions with the members' probabilities (not their
    logs) as inputs, so it is a (regularised, per-class) linear blend; outputs clipped and renormalised."""

    def _x(self, X):
        c = self.spec.n_members * self.spec.width if self.spec.task == "distribution" else 0
        return exp_columns(X, c)

    def fit(self, X, y):
        return super().fit(self._x(X), y)

    def predict(self, X):
        out = self.pipe_.predict(self._x(X))
        if self.spec.task == "distribution":
            return renormalise(out)
        out = out.reshape(-1, 1)
        return np.clip(out, _EPS, 1 - _EPS) if self.spec.task == "binary" else out

    def state(self) -> State | None:
        st = super().state()
        if st is not None and self.spec.task == "distribution":
            st[0]["exp_cols"] = self.spec.n_members * self.spec.width
        return st


def exp_columns(X: np.ndarray, n: int) -> np.ndarray:
    """``X`` with its first ``n`` columns (members' log-probabilities) back to probabilities."""
    if not n:
        return X
    X = np.array(X, dtype=np.float64, copy=True)
    X[:, :n] = np.exp(X[:, :n])
    return X


def renormalise(p: np.ndarray) -> np.ndarray:
    """Scores clipped at a small positive floor and scaled to sum to one per row (ridge on a distribution),
    as :class:`medalist.ensemble.metastate.SavedMeta` does."""
    q = np.clip(np.asarray(p, dtype=np.float64), DIST_FLOOR, None)
    return q / q.sum(axis=1, keepdims=True)


@register_stacker("ridge")
def _ridge(spec: MetaSpec) -> MetaModel:
    if spec.task not in ("binary", "regression", "distribution"):
        raise ConfigError("stack --meta ridge", expected="a regression, binary or distribution task", found=f"task '{spec.task}'",
                          fix="use --meta logistic for multiclass")
    from sklearn.linear_model import Ridge

    return _RidgeProba(Ridge(alpha=float(spec.params.get("alpha", 1.0))), spec)


@register_stacker("lightgbm")
def _lightgbm(spec: MetaSpec) -> MetaModel:
    import lightgbm as lgb

    kw = dict(n_estimators=300, learning_rate=0.03, num_leaves=7, min_child_samples=50, subsample=0.8, subsample_freq=1,
              colsample_bytree=0.8, reg_lambda=1.0, random_state=spec.seed, n_jobs=spec.threads or 1, verbose=-1)
    kw.update({k: spec.params[k] for k in ("learning_rate", "num_leaves") if k in spec.params})
    est = lgb.LGBMRegressor(**kw) if spec.task == "regression" else lgb.LGBMClassifier(**kw)
    return _Sklearn(est, spec, scale=False)


class _Conv1x3:
    """1×3 convolution over model outputs (HMS): members are channels, the kernel spans 3 neighbouring
    prediction columns (classes), so it learns per-model weights and class-to-class corrections.

    Starts as the plain mean of the members (centre tap 1/m) and is trained full-batch with Adam;
    on a distribution task with the KL divergence to the soft targets as loss.
    """

    def __init__(self, spec: MetaSpec, epochs: int = 300, lr: float = 0.02, weight_decay: float = 1e-4) -> None:
        p = spec.params
        self.spec = spec
        self.epochs, self.lr = int(p.get("epochs", epochs)), float(p.get("lr", lr))
        self.weight_decay = float(p.get("weight_decay", weight_decay))

    def _torch(self):
        return require("torch", extra="vision", purpose="the conv1x3 stacker")

    def _loss(self, torch, y):
        s = self.spec
        if s.task == "distribution":
            target = torch.tensor(np.asarray(y, dtype=np.float64), dtype=torch.float32)
            kl = torch.nn.KLDivLoss(reduction="batchmean")
            return target, lambda z, t: kl(torch.log_softmax(z, dim=1), t)
        if s.task == "multiclass":
            return torch.tensor(y, dtype=torch.long), torch.nn.CrossEntropyLoss()
        if s.task == "binary":
            return torch.tensor(y, dtype=torch.float32).reshape(-1, 1), torch.nn.BCEWithLogitsLoss()
        return (torch.tensor(y, dtype=torch.float32).reshape(-1, 1) - self.center_) / self.scale_, torch.nn.MSELoss()

    def fit(self, X, y):
        torch = self._torch()
        s = self.spec
        torch.manual_seed(s.seed)
        torch.set_num_threads(max(1, s.threads or 1))
        x = torch.tensor(X.reshape(len(X), s.n_members, s.width), dtype=torch.float32)
        self.center_ = float(x.mean()) if s.task == "regression" else 0.0
        self.scale_ = (float(x.std()) or 1.0) if s.task == "regression" else 1.0
        x = (x - self.center_) / self.scale_
        conv = torch.nn.Conv1d(s.n_members, 1, kernel_size=3, padding=1)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[:, :, 1] = 1.0 / s.n_members
            conv.bias.zero_()
        target, loss_fn = self._loss(torch, y)
        opt = torch.optim.Adam(conv.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = loss_fn(conv(x).squeeze(1), target)
            loss.backward()
            opt.step()
        self.conv_ = conv.eval()
        return self

    def predict(self, X):
        torch = self._torch()
        s = self.spec
        x = (torch.tensor(X.reshape(len(X), s.n_members, s.width), dtype=torch.float32) - self.center_) / self.scale_
        with torch.no_grad():
            z = self.conv_(x).squeeze(1)
            if s.task in PROBA_TASKS:
                return torch.softmax(z, dim=1).numpy().astype(np.float64)
            if s.task == "binary":
                return torch.sigmoid(z).numpy().astype(np.float64)
            return (z * self.scale_ + self.center_).numpy().astype(np.float64)

    def state(self) -> State:
        c = self.conv_
        return ({"kind": "conv1x3", "weight": c.weight.detach().double().numpy().tolist(),
                 "bias": c.bias.detach().double().numpy().tolist(), "center": self.center_, "scale": self.scale_}, {})


@register_stacker("conv1x3")
def _conv1x3(spec: MetaSpec) -> MetaModel:
    if spec.n_raw:
        raise ConfigError("stack --meta conv1x3", expected="member outputs only", found="--with-features",
                          fix="drop --with-features or use --meta lightgbm")
    meta = _Conv1x3(spec)
    meta._torch()  # missing torch: a clear error before any fold is fitted
    return meta


# name -> trial -> the meta model's hyperparameters (Optuna suggestions), searched by ``stack --select optuna``
SEARCH: dict[str, Callable[[Any], dict[str, Any]]] = {
    "logistic": lambda t: {"C": t.suggest_float("C", 1e-3, 1e2, log=True)},
    "ridge": lambda t: {"alpha": t.suggest_float("alpha", 1e-3, 1e3, log=True)},
    "lightgbm": lambda t: {"num_leaves": t.suggest_int("num_leaves", 3, 31, log=True),
                           "learning_rate": t.suggest_float("learning_rate", 0.01, 0.2, log=True)},
    "conv1x3": lambda t: {"epochs": t.suggest_int("epochs", 100, 500, step=100),
                          "lr": t.suggest_float("lr", 1e-3, 0.1, log=True),
                          "weight_decay": t.suggest_float("weight_decay", 1e-6, 1e-2, log=True)},
}
