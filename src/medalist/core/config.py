"""Typed configuration: the workspace's ``medalist.yaml`` and experiment YAMLs.

Experiment files may inherit with ``base: other.yaml`` (deep merge, paths relative to the file, which
must stay inside the workspace) and take dotted overrides from the command line
(``model.params.learning_rate=0.03``). Unknown keys are errors with a did-you-mean; the fully resolved
config is saved with each run. ``trust:`` (modules configs may name) belongs to medalist.yaml only.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medalist.core.errors import ConfigError, did_you_mean
from medalist.core.executors import ExecutorConfig
from medalist.core.safety import check_trust_entry

__all__ = [
    "Strict",
    "CompetitionConfig",
    "DataPaths",
    "FoldsConfig",
    "TrackingConfig",
    "ExecutorConfig",
    "SubmissionConfig",
    "WorkspaceConfig",
    "ModelConfig",
    "EarlyStoppingConfig",
    "ColumnsConfig",
    "PredictConfig",
    "ExperimentConfig",
    "load_yaml",
    "load_workspace_config",
    "load_experiment",
    "apply_overrides",
    "validate",
]

Task = Literal["binary", "multiclass", "regression", "multilabel", "distribution"]


class Strict(BaseModel):
    """Base for every config section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataPaths(Strict):
    train: str = "data/train.csv"
    test: str = "data/test.csv"
    sample_submission: str = "data/sample_submission.csv"


class CompetitionConfig(Strict):
    name: str
    task: Task
    metric: str | dict[str, Any]
    id: str
    target: str | list[str]
    group: str | None = None
    time: str | None = None
    data: DataPaths = Field(default_factory=DataPaths)
    # Local competitions keep the hidden answers here (id, target..., usage=Public|Private).
    answers: str | None = None

    @property
    def targets(self) -> list[str]:
        return [self.target] if isinstance(self.target, str) else list(self.target)

    @field_validator("target")
    @classmethod
    def _distribution_targets(cls, v, info):
        # ``task: distribution``: one column per class holding votes or probabilities (class order = column order).
        if info.data.get("task") == "distribution" and (isinstance(v, str) or len(v) < 2):
            raise ValueError("task 'distribution' needs target: a list of at least 2 columns, one per class "
                             "(votes or probabilities, e.g. [seizure_vote, lpd_vote, ...])")
        return v


class FoldsConfig(Strict):
    file: str = "folds.parquet"
    scheme: str | None = None
    k: int = 5
    group: str | None = None
    time: str | None = None
    gap: int | str = 0  # scheme time: rows, or a time span such as 7d / 12h / 30m
    repeats: int = 1
    seed: int = 42


class TrackingConfig(Strict):
    """``tracking:`` in medalist.yaml. ``backend`` names a registered tracker (docs/tracking.md);
    ``uri``/``experiment`` are MLflow's (no uri: SQLite ``mlflow.db`` in the workspace),
    ``project``/``entity``/``mode``/``dir`` are W&B's. ``tracking: none`` disables tracking."""

    backend: str = "mlflow"
    uri: str | None = None
    experiment: str | None = None
    project: str | None = None  # W&B project; default: `experiment`, else the competition name
    entity: str | None = None  # W&B team or user; default: the logged-in user's
    mode: Literal["offline", "online"] | None = None  # W&B; default: $WANDB_MODE, else online
    dir: str | None = None  # W&B's local folder, relative to the workspace; default: $WANDB_DIR, else the workspace

    @field_validator("backend")
    @classmethod
    def _backend_name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[a-z][a-z0-9_-]*", v):
            raise ValueError(f"a tracker name such as mlflow or wandb, got {v!r}")
        return v

    @model_validator(mode="after")
    def _keys_of_backend(self) -> "TrackingConfig":
        wandb_keys = [k for k in ("project", "entity", "mode", "dir") if getattr(self, k) is not None]
        if self.backend == "mlflow" and wandb_keys:
            raise ValueError(f"{', '.join(wandb_keys)} only with `backend: wandb` (W&B's keys; MLflow takes uri, experiment)")
        if self.backend == "wandb" and self.uri is not None:
            raise ValueError("no `uri` with `backend: wandb` (uri is MLflow's server; W&B takes project, entity, mode, dir)")
        return self


class SubmissionConfig(Strict):
    # The sample submission's format (medalist.workspace.formats); init writes what it detected.
    format: Literal["probabilities", "label", "ranked", "rle", "regression"] | None = None
    # probabilities: sample column -> class label (e.g. {"Status_C": "C"}); regression: column -> target.
    columns: dict[str, Any] | None = None
    k: int | None = Field(default=None, gt=0)  # ranked: labels per row


class WorkspaceConfig(Strict):
    competition: CompetitionConfig
    folds: FoldsConfig = Field(default_factory=FoldsConfig)
    tracking: TrackingConfig | Literal["none"] = Field(default_factory=TrackingConfig)
    submission: SubmissionConfig | None = None
    executor: ExecutorConfig | None = None  # None: local
    # Your own modules that configs may name by dotted path (custom feature functions, estimator
    # factories, metrics), besides the modelling libraries (medalist.core.safety). Only here: an
    # experiment config or a bundle cannot trust code.
    trust: list[str] = Field(default_factory=list)

    @field_validator("trust")
    @classmethod
    def _trust_names(cls, v: list[str]) -> list[str]:
        return [check_trust_entry(m) for m in v]


class EarlyStoppingConfig(Strict):
    """How boosting models (LightGBM, XGBoost, CatBoost) choose their round count; other models ignore it.

    ``metric``: ``competition`` stops on the run's competition metric through the library's own
    custom-metric hook (an error when the library cannot evaluate it), ``native`` on the objective's
    own metric, ``auto`` (default) competition when it can be evaluated, else native.
    ``split``: ``inner`` (default) stops on a slice of each fold's TRAINING rows (whole groups; the
    latest rows for time folds), so the scored fold is never seen by training or stopping;
    ``none`` finds each fold's round on such a slice first, then trains every fold with the mean of
    them on all its training rows, no stopping; ``scoring-fold`` stops on the scored fold itself
    (optimistic OOF; the old behaviour). ``inner_model``: under ``inner``, ``refit`` (default) retrains
    on all the fold's training rows with the found rounds × n_train / n_inner_train, ``keep`` uses the
    model trained on the inner part. ``rounds``: patience; None trains ``num_boost_round`` rounds.
    Defaults chosen on benchmarks/early_stopping.py (docs/early_stopping.md).
    """

    metric: Literal["auto", "competition", "native"] = "auto"
    rounds: int | None = Field(default=None, gt=0)
    split: Literal["inner", "none", "scoring-fold"] = "inner"
    inner_fraction: float = Field(default=0.15, gt=0.0, lt=0.5)
    inner_model: Literal["keep", "refit"] = "refit"


class ModelConfig(Strict):
    """A model family and its settings. ``early_stopping.rounds`` and ``early_stopping_rounds`` are the
    same number (patience): give either; both given and different is an error. The resolved config
    holds both, equal."""

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    early_stopping_rounds: int | None = 100
    early_stopping: EarlyStoppingConfig = Field(default_factory=EarlyStoppingConfig)
    num_boost_round: int = 10000
    options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _one_patience(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("early_stopping", {}), dict):
            return data
        es = dict(data.get("early_stopping") or {})
        if "rounds" in es and "early_stopping_rounds" in data and es["rounds"] != data["early_stopping_rounds"]:
            raise ConfigError("key 'model.early_stopping.rounds'",
                              expected="the same patience as model.early_stopping_rounds (they are one setting)",
                              found=f"early_stopping.rounds {es['rounds']!r} and early_stopping_rounds {data['early_stopping_rounds']!r}",
                              fix="set only one of them (early_stopping.rounds is the newer spelling)")
        rounds = es["rounds"] if "rounds" in es else data.get("early_stopping_rounds", 100)
        return {**data, "early_stopping_rounds": rounds, "early_stopping": {**es, "rounds": rounds}}


class ColumnsConfig(Strict):
    use: list[str] | None = None  # default: every column but id/target/group/time/weight/drop
    drop: list[str] = Field(default_factory=list)
    categorical: list[str] | Literal["auto"] = "auto"  # auto: string/categorical/boolean columns
    # Raw columns kept beside the features for models that read them (image paths, auxiliary
    # targets): never features, never encoded, and allowed to be missing from test.
    keep: list[str] = Field(default_factory=list)


class ModelSelectionBy(Strict):
    """Train/serve skew (ISIC's hospitals): two variants, with and without a column's features; each
    row is predicted by the full model when its value of ``column_known`` was seen in the fit's train
    rows, by the reduced one otherwise."""

    column_known: str
    # features the reduced model leaves out; default: the column and every feature a block made from it
    drop: list[str] | None = None


class PredictConfig(Strict):
    # Rows per slice when a model predicts: the frame -> numpy/DMatrix copy holds one slice, not the
    # whole test set. None: the library default (medalist.models.PREDICT_CHUNK_ROWS).
    chunk_rows: int | None = Field(default=100_000, gt=0)


class ExperimentConfig(Strict):
    name: str | None = None
    note: str = ""
    model: ModelConfig
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    weight: str | None = None
    # Regression target as the models fit it (predictions are mapped back); auto: log1p for rmsle/msle,
    # none otherwise. Applied by medalist.cv.runner.transform.
    target_transform: Literal["auto", "none", "log1p", "sqrt", "box-cox"] = "auto"
    seeds: list[int] = Field(default_factory=lambda: [42])
    full_fit: bool = False
    threads: int | None = None
    predict: PredictConfig = Field(default_factory=PredictConfig)
    # Feature blocks, in order: [{block: NAME, ...params}]. Validated by medalist.features when the
    # run starts (it needs the data's columns), which keeps this module free of the blocks.
    features: list[dict[str, Any]] = Field(default_factory=list)
    # Optuna search space of `medalist tune` (validated by medalist.tuning.tune). Excluded from the resolved
    # config: a run's config hash and config.yaml do not depend on the search space around it.
    tune: dict[str, Any] | None = Field(default=None, exclude=True)
    model_selection_by: ModelSelectionBy | None = None

    @field_validator("seeds")
    @classmethod
    def _seeds_nonempty(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("seeds must list at least one seed")
        return v


# --------------------------------------------------------------------------- loading


def load_yaml(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            str(path), expected="an existing YAML file", found="no such file", fix="check the path"
        )
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(str(path), expected="valid YAML", found=str(e).splitlines()[0], fix="fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), expected="a mapping of keys", found=type(data).__name__)
    return data


def _deep_merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in top.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _config_root(top: Path) -> Path:
    """Where a config's bases may live: its workspace (the folder above it with medalist.yaml), else its folder."""
    return next((d for d in top.parents if (d / "medalist.yaml").is_file()), top.parent)


def _base_path(path: Path, base: str, root: Path) -> Path:
    """``base`` of the config ``path``: a relative path that stays inside ``root`` (links followed)."""
    bpath = (path.parent / base).resolve()
    if Path(base).is_absolute() or not bpath.is_relative_to(root):
        raise ConfigError(f"{path}: base", expected=f"a YAML file inside the workspace {root}",
                          found=f"'{base}' (resolves to {bpath}, outside it)",
                          fix="copy the file into the workspace's configs/ and name it relative to this config")
    return bpath


def _resolve_bases(path: Path, seen: tuple[Path, ...] = (), root: Path | None = None) -> dict[str, Any]:
    root = root or _config_root(Path(path).absolute()).resolve()
    path = Path(path).resolve()
    if path in seen:
        chain = " -> ".join(p.name for p in (*seen, path))
        raise ConfigError(f"{path}: base", expected="an inheritance chain without cycles", found=chain)
    data = load_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    bases = [base] if isinstance(base, str) else base
    if not isinstance(bases, list) or not all(isinstance(b, str) and b.strip() for b in bases):
        raise ConfigError(f"{path}: base", expected="a file name or a list of file names (e.g. base: lgbm.yaml)",
                          found=repr(base), fix="name the YAML file(s) this config extends")
    merged: dict[str, Any] = {}
    for b in bases:
        bpath = _base_path(path, b, root)
        if not bpath.is_file():
            raise ConfigError(
                f"{path}: base", expected="a YAML file relative to this config", found=f"'{b}' does not exist",
                fix="fix the file name (it is resolved next to this config)",
            )
        merged = _deep_merge(merged, _resolve_bases(bpath, (*seen, path), root))
    return _deep_merge(merged, data)


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply dotted ``key.sub=value`` overrides; values are parsed as YAML.

    >>> apply_overrides({"model": {"params": {}}}, ["model.params.learning_rate=0.03"])
    {'model': {'params': {'learning_rate': 0.03}}}
    """
    out = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"override '{item}'", expected="KEY.SUBKEY=VALUE", found="no '='", fix="write e.g. model.params.learning_rate=0.03"
            )
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for i, p in enumerate(parts[:-1]):
            if node.get(p) is None:
                node[p] = {}
            elif not isinstance(node[p], dict):
                path = ".".join(parts[: i + 1])
                raise ConfigError(
                    f"override '{item}'", expected=f"'{path}' to be a mapping with sub-keys",
                    found=f"{node[p]!r} ({type(node[p]).__name__})", fix=f"set '{path}=VALUE' itself, or fix the key",
                )
            node = node[p]
        node[parts[-1]] = value
    return out


def _model_class_names() -> set[str]:
    """Names of every pydantic model class (the tags pydantic puts in union error locations)."""
    out: set[str] = set()
    todo = [BaseModel]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__name__ not in out:
                out.add(sub.__name__)
                todo.append(sub)
    return out


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    cls: Any = model
    for part in loc:
        fields = getattr(cls, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        cls = next((a for a in getattr(ann, "__args__", (ann,)) if isinstance(a, type) and issubclass(a, BaseModel)), ann)
    return list(getattr(cls, "model_fields", {}) or {})


def _override_for(key: str, overrides: list[str]) -> str | None:
    """The last override that set ``key`` (or a key above or below it), if any."""
    for item in reversed(overrides):
        k = item.partition("=")[0].strip()
        if k == key or k.startswith(key + ".") or key.startswith(k + "."):
            return item
    return None


def validate(model: type[Strict], data: dict[str, Any], source: str, overrides: list[str] | None = None) -> Any:
    """Validate ``data`` against ``model``; turn pydantic's errors into one ConfigError.

    A bad key or value that came from a command-line override is reported as that override.
    """
    try:
        return model.model_validate(data)
    except ConfigError as e:  # raised by a section's own cross-field check
        raise e.within(source) from None
    except ValidationError as e:
        # a misspelt key also shows up as a missing one: report the misspelling, it is the cause
        err = next((x for x in e.errors() if x["type"] == "extra_forbidden"), e.errors()[0])
        loc = tuple(p for p in err["loc"] if not isinstance(p, int))
        # pydantic reports union branches as extra loc parts (e.g. 'TrackingConfig'); drop them,
        # but not a user's key that merely starts with a capital letter
        branches = _model_class_names()
        loc = tuple(p for p in loc if not (isinstance(p, str) and p in branches) and "[" not in str(p))
        key = ".".join(str(p) for p in loc) or "(top level)"
        item = _override_for(key, overrides or [])
        if item is not None:
            source = f"override '{item}' (on {source})"
        if err["type"] == "extra_forbidden":
            choices = _fields_at(model, loc[:-1])
            bad = str(loc[-1]) if loc else str(err.get("input"))
            raise ConfigError(
                f"{source}: key '{key}'",
                expected=f"one of {', '.join(choices)}" if choices else "a known key",
                found=f"unknown key '{bad}'{did_you_mean(bad, choices)}",
                fix="rename or remove the key",
            ) from None
        if err["type"] == "missing":
            raise ConfigError(f"{source}: key '{key}'", expected="a value", found="nothing", fix=f"add '{key}:'") from None
        raise ConfigError(
            f"{source}: key '{key}'", expected=err["msg"].replace("Input should be", "").replace("Value error, ", "").strip(), found=repr(err.get("input")),
            fix=f"give '{key}' a value of that kind",
        ) from None


def load_workspace_config(path: Path) -> WorkspaceConfig:
    return validate(WorkspaceConfig, load_yaml(path), str(path))


def load_experiment(path: Path, overrides: list[str] | None = None) -> tuple[ExperimentConfig, dict[str, Any]]:
    """Load an experiment YAML with its bases and overrides; return (config, resolved dict).

    The resolved dict (with defaults filled in) is what gets saved as the run's config.yaml.
    """
    data = apply_overrides(_resolve_bases(Path(path)), overrides or [])
    if "trust" in data:
        item = _override_for("trust", overrides or [])
        raise ConfigError(f"override '{item}' (on {path})" if item else f"{path}: key 'trust'",
                          expected="trust: only in the workspace's medalist.yaml", found=f"trust: {data['trust']!r} in an experiment config",
                          fix="move the trust: line to medalist.yaml (a config someone gives you cannot trust code)")
    cfg = validate(ExperimentConfig, data, str(path), overrides)
    return cfg, cfg.model_dump(mode="json")
