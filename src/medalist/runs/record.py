"""``run.json`` as a typed, versioned record: :class:`RunRecord`.

Every producer (CV runs, blends, stacks, tune trials, recommender runs, compare's seed replicas)
writes the same record through :class:`medalist.runs.writer.RunWriter`; readers use its attributes
(``run.record.model``) instead of string keys. Folders written by medalist 0.1.0 carry no
``schema_version``; :meth:`RunRecord.load` migrates them. Keys this version does not know (from a
newer writer, or added by hand) are kept and written back unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medalist.core.errors import RunError
from medalist.core.io import atomic_write_json

__all__ = ["RunRecord", "SCHEMA_VERSION", "STATUSES"]

SCHEMA_VERSION = 1

STATUSES = ("running", "done", "failed", "interrupted", "pruned", "stopped")
"""Statuses medalist writes; ``done`` means every file of the run is complete; ``stopped``: a time budget
(``medalist auto``) stopped it between folds, ``medalist train --resume`` finishes it."""

# Keys renamed since 0.1.0, old -> new (none yet: 0.1.0's names are kept, so old readers still work).
_RENAMED_SINCE_0_1_0: dict[str, str] = {}


class RunRecord(BaseModel):
    """The contents of a run folder's ``run.json``.

    Only fields that were set (by a writer, or read from the file) are written back, so a blend's
    record has no ``error`` key and a 0.1.0 record keeps its keys; unknown keys are kept as extras.
    """

    model_config = ConfigDict(extra="allow", validate_assignment=True)

    schema_version: int | None = Field(None, description="run.json schema; absent (None) in folders of medalist 0.1.0")
    id: str = Field(description="run id, also the folder name: <stem>-<NNN>")
    status: str = Field("unknown", description=f"one of {', '.join(STATUSES)}; 'done' means the folder is complete")
    created: str | None = Field(None, description="ISO-8601 UTC time the run started (kept on --resume)")
    finished: str | None = Field(None, description="ISO-8601 UTC time the run ended with status done")
    model: str | None = Field(None, description="model name: 'lightgbm', 'sklearn:...', 'blend:hill-climb', 'stack:...', 'recsys-...'")
    config: str | None = Field(None, description="experiment config path the run was made from (None for blends/stacks)")
    overrides: list[str] = Field(default_factory=list, description="dotted command-line overrides applied to the config")
    members: list[str] | None = Field(None, description="blends/stacks: the member run ids")
    config_hash: str | None = Field(None, description="hash of resolved config + competition + folds (what --resume checks)")
    folds_hash: str | None = Field(None, description="hash of folds.parquet the run was validated on")
    train_hash: str | None = Field(None, description="hash of the train table the folds were made for")
    data_hash: str | None = Field(None, description="recommender runs: hash of the interactions read")
    seeds: list[int] = Field(default_factory=list, description="model seeds averaged per fold")
    full_fit: bool = Field(False, description="whether test predictions come from a refit on every train row")
    note: str | None = Field("", description="free-text note (--note or the config's note)")
    task: str | None = Field(None, description="binary, multiclass, multilabel, regression, recsys, ...")
    classes: list[Any] | None = Field(None, description="class labels, in prediction-column order")
    pred_columns: list[str] | None = Field(None, description="prediction columns of oof.parquet/test.parquet")
    seconds: float | None = Field(None, description="wall seconds the run took")
    cv: float | None = Field(None, description="overall out-of-fold score (metrics.json 'oof')")
    metric: str | None = Field(None, description="name of the metric ``cv`` was scored with (with its parameters, "
                               "e.g. 'pauc(min_tpr=0.9)'); another metric in medalist.yaml makes the CV stale")
    error: str | None = Field(None, description="'Type: message' of what stopped a failed/interrupted/pruned/stopped run")
    pruned_after_folds: int | None = Field(None, description="tune trials pruned early: folds finished before the prune")
    seed_replica_of: str | None = Field(None, description="compare: the run this one is a seed replica of")
    mlflow_run_id: str | None = Field(None, description="id of the run's MLflow copy, when mirroring worked")
    wandb_run_id: str | None = Field(None, description="id of the run's Weights & Biases copy, when mirroring worked")
    tracking_error: str | None = Field(None, description="why mirroring to the tracker failed (the run itself is complete)")
    imported: dict[str, Any] | None = Field(None, description="runs imported from a bundle: {bundle, time}")
    inputs: dict[str, list[str]] | None = Field(None, description="what the run was made from: predict_from (oof_feature runs, "
                                                "members), trained_with (pseudo-label runs), tables (joins), in_fold (per-fold "
                                                "blocks), custom (code blocks); see medalist.runs.graph")

    # ------------------------------------------------------------------ reading
    @classmethod
    def migrate(cls, data: dict[str, Any]) -> dict[str, Any]:
        """A run.json dict of any known schema -> this schema (0.1.0 has no ``schema_version``)."""
        data = dict(data)
        if data.get("schema_version") is None:
            for old, new in _RENAMED_SINCE_0_1_0.items():
                if old in data and new not in data:
                    data[new] = data.pop(old)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "run.json") -> "RunRecord":
        try:
            return cls.model_validate(cls.migrate(data))
        except ValidationError as e:
            first = e.errors()[0]
            key = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise RunError(where, expected="a run.json medalist can read", found=f"key '{key}': {first['msg']}",
                           fix="restore the file from a backup, or delete the run folder") from None

    @classmethod
    def load(cls, path: Path) -> "RunRecord":
        """Read (and migrate) ``path``; RunError when it is not a readable run.json."""
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise RunError(str(path), expected="a readable run.json", found=f"{type(e).__name__}: {e}",
                           fix="restore the file from a backup, or delete the run folder") from None
        if not isinstance(data, dict):
            raise RunError(str(path), expected="a JSON object", found=type(data).__name__)
        return cls.from_dict(data, str(path))

    # ------------------------------------------------------------------ writing
    def to_json(self) -> dict[str, Any]:
        """The dict written to run.json: the fields that were set, then any extra keys."""
        return self.model_dump(exclude_unset=True)

    def save(self, path: Path, *, durable: bool = True) -> Path:
        """Write atomically, stamping the current ``schema_version``."""
        if self.schema_version != SCHEMA_VERSION:
            self.schema_version = SCHEMA_VERSION
        return atomic_write_json(Path(path), self.to_json(), durable=durable)
