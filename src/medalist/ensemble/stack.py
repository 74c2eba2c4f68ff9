"""Stacking: a level-2 (meta) model trained with the same folds on the members' OOF predictions.

For each fold ``f`` the meta model is fitted on the OOF rows of the other folds and predicts fold
``f``'s rows, so no OOF row of the stack comes from a meta model that saw it; test predictions are
the mean of the per-fold meta models. Meta models are registered by name (``META``): ``logistic``,
``ridge``, ``lightgbm`` and ``conv1x3`` (HMS's 1×3-kernel stacker over model outputs, needs torch).
``select_members`` lets Optuna choose which runs enter the stack.

Each fold's fitted meta model is saved as plain state under the run's ``models/`` (JSON arrays, or
LightGBM's text model; never a pickle) and the stack predicts from that state, so
:func:`medalist.ensemble.reapply.predict_ensemble` can re-apply it to new test rows exactly.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from medalist.core.errors import ConfigError, RunError
from medalist.core.optional import require
from medalist.core.registry import Registry
from medalist.ensemble.members import Members, load_members, write_ensemble_run
from medalist.ensemble.metastate import STATE_VERSION, SavedMeta, State, sklearn_state
from medalist.models.protocol import to_numpy
from medalist.runs.store import Run

__all__ = ["META", "MetaModel", "MetaSpec", "StackResult", "stack", "stack_members", "select_members", "meta_inputs",
           "register_stacker", "get_stacker", "list_stackers", "stack_files"]

_EPS = 1e-6


class MetaModel(Protocol):
    """A level-2 model: ``fit(X, y)`` on level-1 inputs, ``predict(X) -> (n, K)``.

    ``X`` is :func:`meta_inputs` of the members (logits for probabilities), ``n_members × width``
    columns then ``n_raw`` raw features; ``y`` the targets (class ints, 0/1 or values). ``predict``
    returns probabilities of class 1 (binary, K=1), of every class (multiclass, K classes) or values
    (regression, K=1). A factory registered in :data:`META` gets a :class:`MetaSpec` and raises a
    ConfigError for a task it cannot handle.
    """

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MetaModel": ...

    def predict(self, X: np.ndarray) -> np.ndarray: ...


@dataclass
class MetaSpec:
    """What a meta model factory receives: the task, the layout of X, seed and threads."""

    task: str
    n_members: int
    width: int  # K: prediction columns per member
    n_raw: int = 0  # raw feature columns appended after the member columns
    seed: int = 42
    threads: int | None = 1


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
        elif task == "multiclass":
            cols.append(np.log(np.clip(p, _EPS, 1.0)))
        else:
            cols.append(p.astype(np.float64))
    return np.hstack(cols)


def _as_proba(task: str, raw: np.ndarray, n_classes: int) -> np.ndarray:
    raw = np.asarray(raw, dtype=np.float64)
    if task == "multiclass":
        return raw.reshape(len(raw), n_classes)
    return raw.reshape(len(raw), 1)


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
        self.pipe_.fit(X, y)
        return self

    def predict(self, X):
        s = self.spec
        if s.task == "regression":
            return self.pipe_.predict(X).reshape(-1, 1)
        proba = self.pipe_.predict_proba(X)
        classes = list(self.pipe_.classes_)
        k = s.width if s.task == "multiclass" else 2
        full = np.zeros((len(X), k))
        for j, c in enumerate(classes):  # a fold may miss a class
            full[:, int(c)] = proba[:, j]
        return full if s.task == "multiclass" else full[:, 1:2]

    def state(self) -> State | None:
        """The fitted pipeline as plain state (:mod:`medalist.ensemble.metastate`); None: not a known estimator."""
        return sklearn_state(self.pipe_)


@register_stacker("logistic")
def _logistic(spec: MetaSpec) -> MetaModel:
    if spec.task not in ("binary", "multiclass"):
        raise ConfigError("stack --meta logistic", expected="a binary or multiclass task", found=f"task '{spec.task}'",
                          fix="use --meta ridge (or lightgbm) for regression")
    from sklearn.linear_model import LogisticRegression

    return _Sklearn(LogisticRegression(C=1.0, max_iter=2000), spec)


class _RidgeProba(_Sklearn):
    def predict(self, X):
        out = self.pipe_.predict(X).reshape(-1, 1)
        return np.clip(out, _EPS, 1 - _EPS) if self.spec.task == "binary" else out


@register_stacker("ridge")
def _ridge(spec: MetaSpec) -> MetaModel:
    if spec.task not in ("binary", "regression"):
        raise ConfigError("stack --meta ridge", expected="a regression or binary task", found=f"task '{spec.task}'",
                          fix="use --meta logistic for multiclass")
    from sklearn.linear_model import Ridge

    return _RidgeProba(Ridge(alpha=1.0), spec)


@register_stacker("lightgbm")
def _lightgbm(spec: MetaSpec) -> MetaModel:
    import lightgbm as lgb

    kw = dict(n_estimators=300, learning_rate=0.03, num_leaves=7, min_child_samples=50, subsample=0.8, subsample_freq=1,
              colsample_bytree=0.8, reg_lambda=1.0, random_state=spec.seed, n_jobs=spec.threads or 1, verbose=-1)
    est = lgb.LGBMRegressor(**kw) if spec.task == "regression" else lgb.LGBMClassifier(**kw)
    return _Sklearn(est, spec, scale=False)


class _Conv1x3:
    """1×3 convolution over model outputs (HMS): members are channels, the kernel spans 3 neighbouring
    prediction columns (classes), so it learns per-model weights and class-to-class corrections.

    Starts as the plain mean of the members (centre tap 1/m) and is trained full-batch with Adam.
    """

    def __init__(self, spec: MetaSpec, epochs: int = 300, lr: float = 0.02, weight_decay: float = 1e-4) -> None:
        self.spec, self.epochs, self.lr, self.weight_decay = spec, epochs, lr, weight_decay

    def _torch(self):
        return require("torch", extra="vision", purpose="the conv1x3 stacker")

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
        if s.task == "multiclass":
            target, loss_fn = torch.tensor(y, dtype=torch.long), torch.nn.CrossEntropyLoss()
        elif s.task == "binary":
            target, loss_fn = torch.tensor(y, dtype=torch.float32).reshape(-1, 1), torch.nn.BCEWithLogitsLoss()
        else:
            target = (torch.tensor(y, dtype=torch.float32).reshape(-1, 1) - self.center_) / self.scale_
            loss_fn = torch.nn.MSELoss()
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
            if s.task == "multiclass":
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


@dataclass
class StackResult:
    meta: str
    oof: np.ndarray  # (n, K), NaN on rows not validated by every member
    test: np.ndarray
    fits: list[dict[str, Any]] = field(default_factory=list)  # per fold: rows fitted on / predicted
    states: list[State | None] = field(default_factory=list)  # per fold: the meta model's saved state


def stack_members(m: Members, meta: str = "logistic", *, with_features: bool = False, seed: int = 42,
                  threads: int | None = 1) -> StackResult:
    """Train the meta model fold by fold on the members' OOF; return OOF and test predictions."""
    task = m.data.task
    if task == "multilabel":
        raise ConfigError("stack", expected="a binary, multiclass or regression task", found="multilabel",
                          fix="blend multilabel runs with `medalist blend`")
    factory = META.get(meta)
    width = m.oof[0].shape[1]
    X = meta_inputs(m.oof, task)
    T = meta_inputs(m.test, task)
    n_raw = 0
    if with_features:
        d = m.data
        X = np.hstack([X, to_numpy(d.train, d.features)])
        T = np.hstack([T, to_numpy(d.test, d.features)])
        n_raw = len(d.features)
    spec = MetaSpec(task=task, n_members=len(m.oof), width=width, n_raw=n_raw, seed=seed, threads=threads)
    factory(spec)  # a meta that cannot handle this task fails before any fit
    rows, y = m.valid, m.y
    if not rows.any():
        raise RunError("stack", expected="rows validated by every member", found="none", fix="stack runs of the same folds")
    oof = np.full((len(y), width), np.nan)
    test = np.zeros((T.shape[0], width))
    folds = np.unique(m.fold[rows])
    fits, states = [], []
    for f in folds:
        fit_rows = np.flatnonzero(rows & (m.fold != f))
        pred_rows = np.flatnonzero(rows & (m.fold == f))
        model = factory(spec).fit(X[fit_rows], y[fit_rows])
        state = model.state() if hasattr(model, "state") else None
        states.append(state)
        if state is not None:  # predict from the saved state: a re-applied stack runs the same code on the same numbers
            model = SavedMeta(*state, task=task, width=width)
        oof[pred_rows] = _as_proba(task, model.predict(X[pred_rows]), width)
        test += _as_proba(task, model.predict(T), width) / len(folds)
        fits.append({"fold": int(f), "fit_rows": fit_rows, "pred_rows": pred_rows})
    return StackResult(meta=meta, oof=oof, test=test, fits=fits, states=states)


def _subset(m: Members, keep: list[int]) -> Members:
    return Members(runs=[m.runs[i] for i in keep], data=m.data, metric=m.metric, oof=[m.oof[i] for i in keep],
                   test=[m.test[i] for i in keep], fold=m.fold, folds_hash=m.folds_hash, pred_columns=m.pred_columns, first=m.first)


def select_members(m: Members, meta: str = "logistic", *, n_trials: int = 20, seed: int = 42, with_features: bool = False,
                   threads: int | None = 1) -> tuple[list[int], Any]:
    """Let Optuna (TPE) choose which members enter the stack by the stack's OOF score; returns (indices, study)."""
    optuna = require("optuna", extra="tune", purpose="--select optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rows, y = m.valid, m.y

    def objective(trial):
        keep = [i for i, r in enumerate(m.ids) if trial.suggest_categorical(f"use:{r}", [True, False])]
        if not keep:
            raise optuna.TrialPruned()
        res = stack_members(_subset(m, keep), meta, with_features=with_features, seed=seed, threads=threads)
        return m.metric(y[rows], m.out(res.oof[rows]))

    study = optuna.create_study(direction=m.metric.direction, sampler=optuna.samplers.TPESampler(seed=seed))
    # every member in: the plain stack is always one of the candidates
    study.enqueue_trial({f"use:{r}": True for r in m.ids})
    study.optimize(objective, n_trials=n_trials)
    best = study.best_trial.params
    return [i for i, r in enumerate(m.ids) if best[f"use:{r}"]], study


def stack(ws, run_ids: list[str], meta: str = "logistic", *, with_features: bool = False, select: str | None = None,
          trials: int = 20, seed: int = 42, threads: int | None = 1, name: str | None = None, note: str = "",
          tracking: bool = True) -> Run:
    """Stack finished runs with a meta model on the same folds and write the stack as a run.

    >>> run = stack(Workspace.find(), ["lgbm-001", "logreg-001"], "logistic")
    >>> run.id, round(run.cv, 4)
    ('stack-logistic-001', 0.9882)
    """
    t0 = time.perf_counter()
    META.get(meta)
    if select not in (None, "all", "optuna"):
        raise ConfigError("stack --select", expected="'all' or 'optuna'", found=repr(select), fix="use --select optuna")
    m = load_members(ws, list(run_ids), min_runs=1)
    selection: dict[str, Any] = {}
    if select == "optuna":
        keep, study = select_members(m, meta, n_trials=trials, seed=seed, with_features=with_features, threads=threads)
        selection = {"select": "optuna", "trials": len(study.trials), "chosen": [m.ids[i] for i in keep],
                     "best_value": study.best_value}
        m = _subset(m, keep)
    res = stack_members(m, meta, with_features=with_features, seed=seed, threads=threads)
    spec = {"meta": meta, "runs": m.ids, "with_features": with_features, "seed": seed, **selection}
    extra = {"stack": {"meta": meta, "fold_rows": {str(f["fold"]): int(len(f["fit_rows"])) for f in res.fits}, **selection}}
    files = stack_files(ws, m, res, with_features=with_features, seed=seed, candidates=list(run_ids), select=select)
    return write_ensemble_run(ws, m, stem=name or f"stack-{meta}", kind="stack", oof=res.oof, test=res.test, spec=spec,
                              extra_metrics=extra, note=note or f"{meta} stack of {', '.join(m.ids)}",
                              seconds=time.perf_counter() - t0, tracking=tracking, files=files)


def stack_files(ws, m: Members, res: StackResult, *, with_features: bool, seed: int, candidates: list[str],
                select: str | None) -> dict[str, Any]:
    """The files that let :func:`medalist.ensemble.reapply.predict_ensemble` re-apply the stack: ``models/stack.json``
    and per fold ``models/meta-fold<F>.json`` (plus ``meta-fold<F>.<name>.txt`` such as LightGBM's text model).

    A meta model without a saved state (a custom stacker with no ``state()``) gets ``"folds": null``.
    """
    from medalist.ensemble.encoding import feature_encoding

    files: dict[str, Any] = {}
    folds: list[dict[str, Any]] | None = []
    for fit, st in zip(res.fits, res.states):
        if st is None:
            folds = None
            break
        state, texts = st
        f = fit["fold"]
        entry = {"fold": f, "state": f"meta-fold{f}.json", "texts": {}}
        files[f"models/{entry['state']}"] = state
        for key, text in texts.items():
            entry["texts"][key] = f"meta-fold{f}.{key}.txt"
            files[f"models/{entry['texts'][key]}"] = text
        folds.append(entry)
    if folds is None:
        files = {}
    files["models/stack.json"] = {
        "format": STATE_VERSION, "kind": "stack", "meta": res.meta, "runs": m.ids, "task": m.data.task, "id": m.data.id,
        "pred_columns": m.pred_columns, "width": int(m.oof[0].shape[1]), "with_features": with_features,
        "features": feature_encoding(ws, m.data) if with_features else None, "seed": seed,
        "select": select, "candidates": candidates, "n_folds": len(res.fits), "folds": folds,
    }
    return files
