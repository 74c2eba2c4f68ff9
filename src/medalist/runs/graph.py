"""The run graph: what each run was made from, so any run can be re-predicted on new rows.

A run's **inputs** are recorded in ``run.json`` (``inputs``) when it is written:

- ``predict_from``: runs whose *test predictions* this run's prediction reads — ``oof_feature``
  blocks, and the members of a blend or stack. Re-predicting the run on new rows needs them first.
- ``trained_with``: runs used only to train (pseudo-label sources); their predictions are baked into
  the saved weights, so re-predicting does not need them.
- ``tables``: tables joined by ``join`` blocks (workspace-relative paths).
- ``in_fold``: per-fold feature blocks (``target_encode``). Their per-fold state is fitted from the
  train rows of each split of the saved folds, exactly as in training; the package ships the folds and
  the notebook checks that the competition's train table is the one the folds were made for.
- ``custom``: ``custom`` blocks (code named in the config).

Runs written before inputs were recorded get them derived from their ``config.yaml`` and record.

>>> g = build_graph(Workspace.find().runs_dir, ["logreg-001"])
>>> g.order, g.nodes["logreg-001"].kind
(['logreg-001'], 'model')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from medalist.core.errors import RunError
from medalist.runs.record import RunRecord

__all__ = ["RunInputs", "RunGraph", "derive_inputs", "run_inputs", "build_graph"]

# per-fold blocks of medalist itself, for runs that did not record their inputs
_PER_FOLD = {"target_encode"}


@dataclass
class RunInputs:
    """What one run was made from (see the module docstring)."""

    run: str
    kind: str = "model"  # model | blend | stack | other
    predict_from: list[str] = field(default_factory=list)
    trained_with: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    in_fold: list[str] = field(default_factory=list)
    custom: list[str] = field(default_factory=list)
    status: str = "unknown"
    folds_hash: str | None = None
    train_hash: str | None = None
    model: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def derive_inputs(config: dict[str, Any], *, members: list[str] | None = None,
                  per_fold: set[str] | None = None) -> dict[str, list[str]]:
    """The ``inputs`` of a run from its resolved config (and, for blends/stacks, its members).

    >>> derive_inputs({"features": [{"block": "oof_feature", "run": "img-001", "rank": True},
    ...                             {"block": "target_encode", "columns": ["site"]}]})["predict_from"]
    ['img-001']
    """
    per_fold = _PER_FOLD if per_fold is None else per_fold
    out: dict[str, list[str]] = {"predict_from": list(members or []), "trained_with": [], "tables": [], "in_fold": [], "custom": []}
    for spec in config.get("features") or []:
        if not isinstance(spec, dict):
            continue
        block = spec.get("block")
        if block == "oof_feature" and spec.get("run"):
            out["predict_from"].append(str(spec["run"]))
        elif block == "join" and spec.get("path"):
            out["tables"].append(str(spec["path"]))
        elif block == "custom":
            out["custom"].append(str(spec.get("function") or spec.get("name") or "?"))
        if block in per_fold:
            out["in_fold"].append(str(block))
    params = ((config.get("model") or {}).get("params") or {}) if isinstance(config.get("model"), dict) else {}
    pseudo = params.get("pseudo_label") if isinstance(params, dict) else None
    if isinstance(pseudo, dict) and pseudo.get("run"):
        out["trained_with"].append(str(pseudo["run"]))
    return {k: list(dict.fromkeys(v)) for k, v in out.items()}


def _kind(rec: RunRecord) -> str:
    model = str(rec.model or "")
    if model.startswith("blend:"):
        return "blend"
    if model.startswith("stack:"):
        return "stack"
    if rec.config is None and not rec.members:
        return "other"
    return "model"


def run_inputs(run_dir: Path) -> RunInputs:
    """The recorded inputs of the run in ``run_dir`` (derived from its config.yaml when not recorded)."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").is_file():
        raise RunError(f"run '{run_dir.name}'", expected=f"a run folder with run.json at {run_dir}", found="none",
                       fix="see `medalist runs` for the ids of this workspace")
    rec = RunRecord.load(run_dir / "run.json")
    got = getattr(rec, "inputs", None)
    if not isinstance(got, dict):
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").is_file() else {}
        got = derive_inputs(cfg or {}, members=rec.members)
    return RunInputs(run=rec.id, kind=_kind(rec), status=rec.status, folds_hash=rec.folds_hash, train_hash=rec.train_hash,
                     model=rec.model, **{k: list(got.get(k) or []) for k in ("predict_from", "trained_with", "tables", "in_fold", "custom")})


@dataclass
class RunGraph:
    """The runs needed to predict ``roots``: ``order`` lists them upstream first."""

    roots: list[str]
    nodes: dict[str, RunInputs]
    order: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {"roots": self.roots, "order": self.order, "runs": {k: self.nodes[k].as_dict() for k in self.order}}


def build_graph(runs_dir: Path, roots: list[str]) -> RunGraph:
    """The prediction graph of ``roots``: every run they read test predictions from, transitively.

    Raises a :class:`RunError` naming the run that is missing or unfinished, or a cycle.
    """
    nodes: dict[str, RunInputs] = {}
    order: list[str] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(rid: str, needed_by: str | None, path: list[str]) -> None:
        if state.get(rid) == 2:
            return
        if state.get(rid) == 1:
            raise RunError(f"run '{rid}'", expected="runs that do not depend on themselves",
                           found="a cycle: " + " -> ".join([*path, rid]), fix="fix the oof_feature/members settings")
        where = f"run '{rid}'" + (f" (an input of '{needed_by}')" if needed_by else "")
        d = Path(runs_dir) / rid
        if not (d / "run.json").is_file():
            raise RunError(where, expected=f"a run folder {d}", found="no such run",
                           fix="import or retrain it (medalist import / medalist train), or package a run that does not read it")
        node = run_inputs(d)
        if node.status != "done":
            raise RunError(where, expected="a finished run (status done)", found=f"status '{node.status}'",
                           fix=f"finish it first (`medalist train CONFIG --resume {rid}`)")
        state[rid] = 1
        for up in node.predict_from:
            visit(up, rid, [*path, rid])
        state[rid] = 2
        nodes[rid] = node
        order.append(rid)

    for r in roots:
        visit(r, None, [])
    return RunGraph(roots=list(roots), nodes=nodes, order=order)
