"""Adversarial validation: can a model tell the test rows from the train rows?

Train rows are labelled 0 and test rows 1, and a LightGBM classifier (through medalist's model
registry) is cross-validated on the stacked rows with stratified k-fold. Its out-of-fold AUC says how
far test has drifted from train: about 0.5 means they look alike (local CV should track the
leaderboard); well above 0.5 means a shift, and the classifier's gain importance names the features
that carry it. Each of the top features also gets a univariate drift statistic (Kolmogorov–Smirnov
for numbers, total variation distance for category codes), and every train row gets p(test), useful
for weighting rows or picking a test-like validation set.

The feature matrix is built exactly as a run builds it: the experiment's ``columns:`` and static
``features:`` blocks, or every feature of the competition when no config is given. Results go to
``advval/NNN/`` in the workspace (written into a hidden folder first, then renamed into place).

>>> res = adversarial_validation(Workspace.find(), Path("configs/fe.yaml"), k=5)
>>> round(res.auc, 3), res.verdict, res.importance["feature"][0]
(0.527, 'alike', 'area_ratio')
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from medalist.core.config import ColumnsConfig, load_experiment
from medalist.core.errors import ConfigError, did_you_mean
from medalist.core.io import atomic_write, atomic_write_json, atomic_write_parquet
from medalist.features import apply_static, build_plan
from medalist.models import FitContext, create_model
from medalist.workspace.data import load_competition_data
from medalist.workspace.paths import Workspace
from medalist.workspace.subsets import comparable_columns

__all__ = ["AdvValResult", "adversarial_validation", "feature_drift", "DEFAULT_PARAMS"]

log = logging.getLogger("medalist.cv.advval")

# A small, fixed-size booster: enough capacity to find a shift, and no early stopping, because
# stopping on the validation fold would pick the round that best fits noise and lift the AUC of
# identically distributed data above 0.5.
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
    "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "verbosity": -1,
}
DEFAULT_ROUNDS = 200
_LABEL = "__is_test"
_SMALL_CELLS = 2_000_000  # rows x features below which LightGBM runs single-threaded
_DIR_RE = re.compile(r"^(?P<n>\d{3,})$")


@dataclass
class AdvValResult:
    """What an adversarial validation found; ``path`` is its folder (None when not saved)."""

    auc: float
    folds: list[dict[str, Any]]
    importance: pl.DataFrame  # feature, gain, gain_share, drift_stat, drift, drift_p, missing_train, missing_test
    scores: pl.DataFrame  # train id -> p_test, fold
    n_train: int
    n_test: int
    k: int
    group: str | None = None
    config: str | None = None
    dropped: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    path: Path | None = None
    left_out: list[str] = field(default_factory=list)  # train-only and nested (list/array/struct) columns

    @property
    def verdict(self) -> str:
        """A one-word reading of the AUC."""
        return "alike" if self.auc < 0.6 else "mild shift" if self.auc < 0.75 else "strong shift"

    def summary(self, top: int = 15) -> dict[str, Any]:
        """The JSON-ready summary written to ``result.json``."""
        return {
            "auc": self.auc, "verdict": self.verdict, "folds": self.folds, "k": self.k,
            "n_train": self.n_train, "n_test": self.n_test, "n_features": self.importance.height,
            "group": self.group, "config": self.config, "dropped": self.dropped,
            "skipped_per_fold_features": self.skipped, "left_out": self.left_out,
            "top": self.importance.head(top).to_dicts(),
            "path": str(self.path) if self.path else None,
        }


def feature_drift(train: pl.Series, test: pl.Series, *, categorical: bool) -> dict[str, Any]:
    """Univariate drift of one feature: KS statistic for numbers, total variation distance for codes.

    Missing values count as their own category for codes; for numbers they are left out of the KS
    test and reported as missing fractions.

    >>> d = feature_drift(pl.Series([0, 0, 1]), pl.Series([1, 1, 1]), categorical=True)
    >>> d["drift"], round(d["drift_stat"], 3)
    ('tvd', 0.667)
    """
    from scipy.stats import ks_2samp

    def missing(s: pl.Series) -> float:
        n = s.null_count() + (int(s.is_nan().sum()) if s.dtype.is_float() else 0)
        return n / max(len(s), 1)

    out: dict[str, Any] = {"missing_train": missing(train), "missing_test": missing(test)}
    if categorical:
        # fill_null(-1): "missing" is a category of its own, and its share can drift too
        a = train.cast(pl.Int64).fill_null(-1).value_counts(normalize=True, name="p")
        b = test.cast(pl.Int64).fill_null(-1).value_counts(normalize=True, name="q")
        both = a.join(b, on=a.columns[0], how="full", coalesce=True).fill_null(0.0)
        tvd = 0.5 * float((both["p"] - both["q"]).abs().sum())
        return {**out, "drift": "tvd", "drift_stat": tvd, "drift_p": None}
    x = train.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
    y = test.cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
    if len(x) == 0 or len(y) == 0:
        return {**out, "drift": "ks", "drift_stat": None, "drift_p": None}
    ks = ks_2samp(x, y)
    return {**out, "drift": "ks", "drift_stat": float(ks.statistic), "drift_p": float(ks.pvalue)}


def _splitter(k: int, labels: np.ndarray, groups: np.ndarray | None, seed: int):
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    upper = int(np.bincount(labels).min()) if groups is None else int(min(
        len(np.unique(groups[labels == c])) for c in (0, 1)))
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= upper:
        what = "rows of the smaller of train/test" if groups is None else "groups of the smaller of train/test"
        raise ConfigError("--k", detail=f"The 'k' parameter must be an int in [2, {what}={upper}]. Got {k!r} instead",
                          fix=f"use a k between 2 and {upper}" if upper >= 2 else "use more data")
    if groups is not None:
        return StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels, groups)
    return StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(labels, labels)


def _reserve_dir(base: Path, tmp: Path) -> Path:
    """Move the finished ``tmp`` folder to ``base/NNN`` (the next free number); atomic per folder."""
    n = max((int(m["n"]) for p in base.iterdir() if (m := _DIR_RE.match(p.name))), default=0) + 1
    while True:
        dest = base / f"{n:03d}"
        # the exists() check matters: rename() would silently replace an *empty* folder of that name
        if not dest.exists():
            try:
                os.rename(tmp, dest)
                return dest
            except OSError:
                if not dest.exists():  # a real failure, not a concurrent advval taking the number
                    raise
        n += 1


def _save_plot(imp: pl.DataFrame, auc: float, path: Path, top: int = 15) -> bool:
    """Horizontal bar chart of the top features by gain; False when matplotlib is missing."""
    from medalist.core.optional import available

    if not available("matplotlib"):
        log.warning("matplotlib is not installed: no shift.png (pip install 'medalist[plot]')")
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = imp.head(top)
    # A bare Figure with an Agg canvas: no pyplot global state, no backend switch in the caller's process.
    fig = Figure(figsize=(7, 0.35 * max(rows.height, 3) + 1.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    names = rows["feature"].to_list()[::-1]
    ax.barh(names, rows["gain_share"].to_list()[::-1], color="#c0392b" if auc >= 0.6 else "#2e86c1")
    ax.set_xlabel("share of gain")
    ax.set_title(f"Adversarial validation: train vs test AUC = {auc:.3f}")
    fig.tight_layout()
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
    return True


def adversarial_validation(
    ws: Workspace,
    config: Path | None = None,
    overrides: list[str] | None = None,
    *,
    k: int = 5,
    drop: list[str] | None = None,
    seed: int = 42,
    params: dict[str, Any] | None = None,
    rounds: int = DEFAULT_ROUNDS,
    top: int = 20,
    save: bool = True,
) -> AdvValResult:
    """Cross-validate a train-vs-test classifier; return (and by default save) AUC, importance, p(test).

    ``config`` selects the columns and static feature blocks of an experiment (per-fold blocks such as
    target encoding need the target, which test rows lack, so they are skipped and listed). ``drop``
    removes features, e.g. an id-like column already known to drift. Rows of one group (the
    competition's group column) never straddle folds, so a patient's other rows can't give them away.
    Drift statistics are computed for the ``top`` features by gain.

    >>> res = adversarial_validation(Workspace.find(), k=5, drop=["worst_area"])
    >>> round(res.auc, 3), res.n_train, res.n_test, res.path.relative_to(Path.cwd())
    (0.519, 398, 171, PosixPath('advval/001'))
    """
    data, skipped, threads, left_out = _load_data(ws, config, overrides)
    drop = list(dict.fromkeys(drop or []))
    features = _kept_features(data.features, drop)
    categorical = [c for c in data.categorical if c in features]

    n_train, n_test = data.train.height, data.test.height
    X = pl.concat([data.train.select(features), data.test.select(features)], how="vertical_relaxed")
    labels = np.r_[np.zeros(n_train, dtype=np.int64), np.ones(n_test, dtype=np.int64)]
    X = X.with_columns(pl.Series(_LABEL, labels, dtype=pl.Int8))
    group, groups = _groups(ws.competition.group, data)

    model_params = {**DEFAULT_PARAMS, **(params or {})}
    if threads is None and X.height * len(features) < _SMALL_CELLS:
        # On a small matrix OpenMP's per-tree start-up and spinning cost more than the threads save,
        # and on a busy machine they make each round ~10x slower; one thread is the fast choice.
        threads = 1
    splits = _splitter(k, labels, groups, seed)
    oof, fold_of, gains, fold_rows = _cross_validate(X, labels, splits, features, categorical, seed=seed,
                                                     params=model_params, rounds=rounds, threads=threads)
    from sklearn.metrics import roc_auc_score

    auc = float(roc_auc_score(labels, oof))
    imp = _importance(features, gains, data, categorical, top)
    scores = pl.DataFrame({data.id: data.train.get_column(data.id), "p_test": oof[:n_train],
                           "fold": fold_of[:n_train]})
    res = AdvValResult(auc=auc, folds=fold_rows, importance=imp, scores=scores, n_train=n_train, n_test=n_test, k=k,
                       group=group, config=str(config) if config is not None else None, dropped=drop, skipped=skipped,
                       left_out=left_out)
    log.info("adversarial validation: AUC %.4f over %d features (%d train, %d test rows)", auc, len(features), n_train, n_test)
    if save:
        res.path = _save(ws, res)
    return res


def _load_data(ws: Workspace, config: Path | None, overrides: list[str] | None
               ) -> tuple[Any, list[str], int | None, list[str]]:
    """The competition data with the config's columns and static features, the per-fold blocks
    skipped (they need the target), the config's thread count, and the columns left out: train-only
    ones (an auxiliary target test lacks) and nested ones (list-column signals), which a train-vs-test
    classifier cannot use."""
    source = str(config) if config is not None else "medalist advval"
    if config is not None:
        exp, _ = load_experiment(Path(config), overrides)
        columns, specs, weight, threads = exp.columns, exp.features, exp.weight, exp.threads
    else:
        columns, specs, weight, threads = ColumnsConfig(), [], None, None
    columns, left_out = comparable_columns(ws, columns, weight=weight)
    if left_out:
        log.info("advval leaves out %s (not in test, or nested values)", ", ".join(left_out))
    data = load_competition_data(ws, columns, weight=weight)
    folds_hash = None
    if ws.folds_path.is_file():
        from medalist.workspace.folds import Folds

        folds_hash = Folds.load(ws.folds_path).hash  # oof_feature blocks check their run's folds against it
    plan = build_plan(specs, data, source=source, ws=ws, folds_hash=folds_hash)
    data = apply_static(plan, data)
    skipped = [f"{s.block.name} (#{s.index})" for s in plan.steps if s.block.per_fold]
    return data, skipped, threads, left_out


def _kept_features(all_features: list[str], drop: list[str]) -> list[str]:
    """``all_features`` less ``drop``; ConfigError for an unknown name or when nothing is left."""
    for c in drop:
        if c not in all_features:
            raise ConfigError(
                f"--drop '{c}'", expected="a feature column",
                found=f"no such feature{did_you_mean(c, all_features)}; features are {', '.join(all_features[:20])}"
                + ("…" if len(all_features) > 20 else ""),
                fix="pass one of the feature names above",
            )
    features = [c for c in all_features if c not in drop]
    if not features:
        raise ConfigError("--drop", expected="at least one feature left", found=f"all {len(all_features)} dropped",
                          fix="drop fewer columns")
    return features


def _groups(group: str | None, data: Any) -> tuple[str | None, np.ndarray | None]:
    """The group column and its value per stacked row, when both train and test have it; else (None, None)."""
    if group and group in data.train.columns and group in data.test.columns:
        g = pl.concat([data.train.get_column(group).cast(pl.String), data.test.get_column(group).cast(pl.String)])
        return group, g.fill_null("__none__").to_numpy()
    return None, None


def _cross_validate(X: pl.DataFrame, labels: np.ndarray, splits: Any, features: list[str], categorical: list[str], *,
                    seed: int, params: dict[str, Any], rounds: int, threads: int | None,
                    ) -> tuple[np.ndarray, np.ndarray, list[dict[str, float]], list[dict[str, Any]]]:
    """OOF p(test) and fold per stacked row, gain importance per fold, and each fold's AUC and row counts."""
    from sklearn.metrics import roc_auc_score

    oof = np.full(len(labels), np.nan)
    gains: list[dict[str, float]] = []
    fold_rows: list[dict[str, Any]] = []
    fold_of = np.full(len(labels), -1, dtype=np.int16)
    for fold, (tr_idx, va_idx) in enumerate(splits):
        ctx = FitContext(task="binary", target=[_LABEL], features=features, categorical=categorical,
                         seed=seed + fold, threads=threads)
        # a fresh model per fold; valid=None: fixed rounds (see DEFAULT_PARAMS)
        model = create_model("lightgbm", params, early_stopping_rounds=None, num_boost_round=rounds)
        model.fit(X[tr_idx], None, ctx)
        oof[va_idx] = model.predict(X[va_idx])
        fold_of[va_idx] = fold
        gains.append(model.feature_importance() or {})
        y_va = labels[va_idx]
        fold_auc = float(roc_auc_score(y_va, oof[va_idx])) if len(np.unique(y_va)) == 2 else float("nan")
        fold_rows.append({"fold": fold, "auc": fold_auc, "valid_train_rows": int(len(y_va) - y_va.sum()), "valid_test_rows": int(y_va.sum())})
    return oof, fold_of, gains, fold_rows


def _importance(features: list[str], gains: list[dict[str, float]], data: Any, categorical: list[str], top: int) -> pl.DataFrame:
    """Mean gain and gain share per feature, best first, with drift statistics for the ``top`` ones."""
    gain = np.array([[g.get(f, 0.0) for f in features] for g in gains]).mean(axis=0)
    total = float(gain.sum())
    imp = pl.DataFrame({"feature": features, "gain": gain,
                        "gain_share": gain / total if total > 0 else np.zeros(len(features))})
    imp = imp.sort(["gain", "feature"], descending=[True, False])
    drift_rows = []
    for f in imp["feature"].to_list():
        if len(drift_rows) < top:
            drift_rows.append({"feature": f, **feature_drift(data.train.get_column(f), data.test.get_column(f),
                                                               categorical=f in categorical)})
    drift = pl.DataFrame(drift_rows, schema={"feature": pl.String, "missing_train": pl.Float64, "missing_test": pl.Float64,
                                             "drift": pl.String, "drift_stat": pl.Float64, "drift_p": pl.Float64})
    imp = imp.join(drift, on="feature", how="left", maintain_order="left")
    return imp.select("feature", "gain", "gain_share", "drift", "drift_stat", "drift_p", "missing_train", "missing_test")


def _save(ws: Workspace, res: AdvValResult) -> Path:
    """Write result.json, importance.parquet, scores.parquet and shift.png to ``advval/NNN``.

    Everything goes into a hidden folder first and is renamed into place at the end, so a crash
    leaves no half-filled ``advval/NNN``.
    """
    base = ws.root / "advval"
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".advval-", dir=base))
    try:
        atomic_write_parquet(tmp / "importance.parquet", res.importance)
        atomic_write_parquet(tmp / "scores.parquet", res.scores)
        plotted = _save_plot(res.importance, res.auc, tmp / "shift.png")
        summary = res.summary()
        summary.update(created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                       plot="shift.png" if plotted else None)
        summary.pop("path")  # the folder's final name is known only after the rename
        atomic_write_json(tmp / "result.json", summary)
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700; results should read like normal folders
        return _reserve_dir(base, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask

