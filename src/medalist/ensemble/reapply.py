"""Re-apply a finished blend or stack to new member test predictions (an offline notebook, a hidden test set).

A blend saves ``models/blend.json`` (method, members, the exact weights, power); a stack saves
``models/stack.json`` and each fold's meta model as plain state (``models/meta-fold<F>.json``, plus
LightGBM's text model), never a pickle. :func:`predict_ensemble` reads only those files of the run
folder: given the members' own ``test.parquet`` frames it reproduces the run's ``test.parquet``
exactly; given new rows it predicts them. Rank blends rank within the rows they are given, so on a
different set of rows their values legitimately differ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from medalist.core.errors import DataError, RunError
from medalist.ensemble.blend import combine, member_transform
from medalist.ensemble.encoding import encode_features
from medalist.ensemble.metastate import SavedMeta
from medalist.ensemble.meta import as_proba, meta_inputs

__all__ = ["ensemble_inputs", "predict_ensemble"]

_FIX = "re-run the blend/stack with this medalist version (`medalist blend …` / `medalist stack …`)"


def _config_ensemble(run_dir: Path) -> dict[str, Any] | None:
    p = run_dir / "config.yaml"
    if not p.is_file():
        return None
    cfg = yaml.safe_load(p.read_text()) or {}
    ens = cfg.get("ensemble")
    return ens if isinstance(ens, dict) else None


def _require_run(run_dir: Path) -> None:
    if not (run_dir / "run.json").is_file():
        raise RunError(f"run folder {run_dir}", expected="a run folder with run.json", found="none",
                       fix="pass the folder of a finished blend or stack run (runs/<id>)")


def _state(run_dir: Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    rid = run_dir.name
    _require_run(run_dir)
    for name in ("blend.json", "stack.json"):
        p = run_dir / "models" / name
        if p.is_file():
            return json.loads(p.read_text())
    ens = _config_ensemble(run_dir)
    if ens is None:
        raise RunError(f"run '{rid}'", expected="a blend or stack run (config.yaml with an 'ensemble:' block)",
                       found=f"no ensemble in {run_dir / 'config.yaml'}", fix="re-predict model runs with their own models")
    kind = ens.get("kind", "ensemble")
    raise RunError(f"run '{rid}'", expected=f"models/{kind}.json (the state to re-apply this {kind})",
                   found="no such file: the run was made by an older medalist", fix=_FIX)


def ensemble_inputs(run_dir: Path) -> list[str]:
    """The member run ids of a blend/stack in the order it combines them; ``[]`` for a run that is neither.

    Older blend/stack runs (without ``models/``) still name their members in config.yaml, so a
    dependency graph can be built for them too.
    """
    run_dir = Path(run_dir)
    _require_run(run_dir)
    for name in ("blend.json", "stack.json"):
        p = run_dir / "models" / name
        if p.is_file():
            return list(json.loads(p.read_text())["runs"])
    ens = _config_ensemble(run_dir)
    return list(ens.get("runs") or []) if ens else []


def _member_matrix(rid: str, state: dict[str, Any], members: dict[str, pl.DataFrame]) -> tuple[pl.Series, list[np.ndarray]]:
    """The id column (the first member's rows, in its order) and each member's (n, K) predictions aligned to it."""
    runs, key, cols = state["runs"], state["id"], state["pred_columns"]
    missing = [r for r in runs if r not in members]
    if missing:
        raise RunError(f"run '{rid}': members", expected=f"test predictions of {', '.join(runs)}",
                       found=f"none for {', '.join(missing)}", fix="re-predict those runs first and pass their frames")
    ids: pl.Series | None = None
    out = []
    for r in runs:
        frame = members[r]
        absent = [c for c in (key, *cols) if c not in frame.columns]
        if absent:
            raise DataError(f"run '{rid}': test predictions of member '{r}'", expected=f"columns {key}, {', '.join(cols)}",
                            found=f"no column {', '.join(absent)}", fix="pass the member's test.parquet frame")
        if ids is None:
            ids = frame.get_column(key)
            if ids.is_duplicated().any():
                raise DataError(f"run '{rid}': member '{r}' column '{key}'", expected="unique ids", found="repeated ids")
            out.append(frame.select(pl.col(cols).cast(pl.Float64)).to_numpy())
            continue
        out.append(_align(rid, r, frame, ids, key, cols))
    return ids, out


def _align(rid: str, what: str, frame: pl.DataFrame, ids: pl.Series, key: str, cols: list[str]) -> np.ndarray:
    right = frame.select(pl.col(key).cast(ids.dtype, strict=False), *[pl.col(c) for c in cols],
                         pl.lit(True).alias("__seen"))
    joined = pl.DataFrame({key: ids}).join(right, on=key, how="left", maintain_order="left")
    if joined.height != ids.len() or joined.get_column("__seen").null_count():
        n = int(joined.get_column("__seen").null_count())
        raise DataError(f"run '{rid}': {what}", expected=f"a row for each of the {ids.len()} ids of the first member",
                        found=f"{n} ids missing" if n else "repeated ids", fix="pass frames of the same test rows")
    return joined.select(pl.col(cols).cast(pl.Float64)).to_numpy()


def _frame(key: str, ids: pl.Series, cols: list[str], pred: np.ndarray) -> pl.DataFrame:
    data: dict[str, Any] = {key: ids}
    data.update({c: pred[:, i] for i, c in enumerate(cols)})
    return pl.DataFrame(data)


def _blend(state: dict[str, Any], preds: list[np.ndarray]) -> np.ndarray:
    tf = member_transform(state["method"], state["task"], state.get("power"))
    return combine([tf(p) for p in preds], np.asarray(state["weights_exact"], dtype=np.float64), state["task"])


def _stack(rid: str, run_dir: Path, state: dict[str, Any], preds: list[np.ndarray], ids: pl.Series,
           test: pl.DataFrame | None) -> np.ndarray:
    folds, task, width = state["folds"], state["task"], int(state["width"])
    if folds is None:
        raise RunError(f"run '{rid}'", expected="saved meta models", found=f"meta model '{state['meta']}' has no state() to save",
                       fix="stack with a built-in meta model (logistic, ridge, lightgbm, conv1x3)")
    T = meta_inputs(preds, task)
    if state.get("with_features"):
        if test is None:
            raise RunError(f"run '{rid}'", expected="the competition's test table (the stack uses raw features)",
                           found="test=None", fix="pass test=<the test table with its feature columns>")
        key = state["id"]
        if key not in test.columns:
            raise DataError(f"run '{rid}': test table", expected=f"the id column '{key}'", found="no such column")
        rows = test.select(pl.col(key).cast(ids.dtype, strict=False).alias("__id"), pl.int_range(pl.len()).alias("__row"))
        at = pl.DataFrame({"__id": ids}).join(rows, on="__id", how="left", maintain_order="left").get_column("__row")
        if at.len() != ids.len():
            raise DataError(f"run '{rid}': test table column '{key}'", expected="unique ids", found="repeated ids")
        if at.null_count():
            raise DataError(f"run '{rid}': test table", expected="a row for every id of the member predictions",
                            found=f"{at.null_count()} ids missing", fix="pass the same test rows")
        X = encode_features(test, state["features"], where=f"run '{rid}': test table")
        T = np.hstack([T, X[at.to_numpy()]])
    out = np.zeros((T.shape[0], width))
    n = int(state["n_folds"])
    for entry in folds:
        meta_state = json.loads((run_dir / "models" / entry["state"]).read_text())
        texts = {k: (run_dir / "models" / f).read_text() for k, f in entry["texts"].items()}
        model = SavedMeta(meta_state, texts, task=task, width=width)
        out += as_proba(task, model.predict(T), width) / n
    return out


def predict_ensemble(run_dir: Path, members: dict[str, pl.DataFrame], test: pl.DataFrame | None = None) -> pl.DataFrame:
    """The blend/stack at ``run_dir`` applied to its members' test predictions; a frame shaped like its test.parquet.

    ``members`` maps each member run id to its test predictions (id column + prediction columns, as
    in its test.parquet); rows follow the first member's order and the other members are matched by
    id. ``test`` is the competition's test table as read from its file, needed only by a stack
    ``--with-features`` (its string columns get the codes saved with the stack; values it never saw
    become missing). Reads only files inside ``run_dir``. A run made before this state was saved
    raises a RunError naming the run and the fix.
    """
    run_dir = Path(run_dir)
    rid = run_dir.name
    state = _state(run_dir)
    ids, preds = _member_matrix(rid, state, members)
    if state["kind"] == "blend":
        pred = _blend(state, preds)
    else:
        pred = _stack(rid, run_dir, state, preds, ids, test)
    return _frame(state["id"], ids, list(state["pred_columns"]), pred)
