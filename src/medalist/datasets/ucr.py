"""UCR/UEA time-series sets shipped inside the ``sktime`` wheel (``sktime/datasets/data``) as small,
real signal competitions with an external pool (tests, docs).

``make_ucr_workspace(root, "OSULeaf")`` uses the set's TRAIN split as the competition's train rows and
its TEST split as *other data*: a few rows become the competition's (unlabelled) test set, the rest
``data/external.parquet`` — labelled rows for ``external: {file: data/external.parquet}`` or for a
pretraining workspace (``init_from``). The ``.ts`` files are read directly (sktime is not imported).

>>> x, y = load_ucr("OSULeaf", "TRAIN")
>>> x.shape, sorted(set(y.tolist()))
((200, 1, 427), ['1', '2', '3', '4', '5', '6'])
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.errors import DataError
from medalist.core.io import atomic_write_parquet

__all__ = ["load_ucr", "make_ucr_workspace", "signal_table", "ucr_dir"]


def ucr_dir(name: str) -> Path | None:
    """The folder of set ``name`` inside the installed sktime package, or None (no sktime, no such set)."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    return d if (d / f"{name}_TRAIN.ts").is_file() else None


def _read_ts(path: Path) -> tuple[list[np.ndarray], list[str]]:
    """(signals (C, T) float32, labels as written) of one ``.ts`` file; channels are ``:``-separated."""
    xs, ys, data = [], [], False
    with open(path) as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.lower().startswith("@data"):
                data = True
                continue
            if data:
                *chans, label = line.split(":")
                xs.append(np.array([c.split(",") for c in chans], dtype=np.float32))
                ys.append(label.strip())
    return xs, ys


def load_ucr(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """(signals (n, C, T), labels (strings)) of split ``TRAIN`` or ``TEST`` of the sktime-bundled set ``name``
    (equal-length sets only: ragged ones such as JapaneseVowels raise DataError)."""
    d = ucr_dir(name)
    if d is None:
        raise DataError(f"UCR set '{name}'", expected="a set bundled in sktime/datasets/data", found="not found (or sktime missing)",
                        fix="pip install sktime; names: ACSF1, ArrowHead, BasicMotions, GunPoint, OSULeaf, ...")
    xs, ys = _read_ts(d / f"{name}_{split}.ts")
    lengths = {x.shape for x in xs}
    if len(lengths) != 1:
        raise DataError(f"UCR set '{name}' ({split})", expected="signals of one shape", found=f"{len(lengths)} shapes",
                        fix="use an equal-length set (or PLAID's loader for ragged currents)")
    return np.stack(xs), np.array(ys)


def signal_table(x: np.ndarray, ids: list[str], labels: np.ndarray | None = None) -> pl.DataFrame:
    """``id``, one list column per channel (``ch0``, ``ch1``, …) and, with ``labels``, ``label``.

    >>> signal_table(np.zeros((2, 2, 3), np.float32), ["a", "b"], np.array(["u", "v"])).columns
    ['id', 'ch0', 'ch1', 'label']
    """
    cols: dict = {"id": ids}
    for c in range(x.shape[1]):
        cols[f"ch{c}"] = pl.Series([row.tolist() for row in x[:, c]], dtype=pl.List(pl.Float32))
    if labels is not None:
        cols["label"] = labels
    return pl.DataFrame(cols)


def make_ucr_workspace(root: Path, name: str, *, k: int = 3, n_test: int = 20, seed: int = 0):
    """A multiclass workspace (metric accuracy, stratified ``k`` folds) on set ``name``: train = its TRAIN
    split; of its TEST split, ``n_test`` random rows are the competition's test set and the others are
    labelled other data in ``data/external.parquet`` (same columns as train). Labels stay as the set writes them."""
    from medalist.workspace.competition import init_workspace
    from medalist.workspace.folds import build_folds

    root = Path(root)
    x_tr, y_tr = load_ucr(name, "TRAIN")
    x_po, y_po = load_ucr(name, "TEST")
    order = np.random.default_rng(seed).permutation(len(x_po))
    test_idx, ext_idx = np.sort(order[:max(n_test, 1)]), np.sort(order[max(n_test, 1):])
    src = root.parent / f".{root.name}-src"
    src.mkdir(parents=True, exist_ok=True)
    signal_table(x_tr, [f"t{i:04d}" for i in range(len(x_tr))], y_tr).write_parquet(src / "train.parquet")
    te = signal_table(x_po[test_idx], [f"s{i:04d}" for i in test_idx])
    te.write_parquet(src / "test.parquet")
    te.select("id").with_columns(pl.lit(y_tr[0]).alias("label")).write_csv(src / "sample_submission.csv")
    ws = init_workspace(root, train=src / "train.parquet", test=src / "test.parquet",
                        sample_submission=src / "sample_submission.csv", target="label", id="id",
                        task="multiclass", metric="accuracy", name=name.lower())
    atomic_write_parquet(root / "data" / "external.parquet", signal_table(x_po[ext_idx], [f"e{i:04d}" for i in ext_idx], y_po[ext_idx]))
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme="stratified", k=k)
    return ws
