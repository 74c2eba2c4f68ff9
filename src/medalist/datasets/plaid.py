"""sktime's PLAID appliance-current dataset as a small, real signal competition (tests, docs, benchmarks).

PLAID (UCR/UEA archive, shipped inside the ``sktime`` wheel): 1,074 current waveforms of 11 appliance
classes, lengths 100–1,344 samples (ragged). The files are read directly (sktime is not imported).
Annotator votes are *simulated* (each row gets 1–12 annotators who pick the true class with
probability ``accuracy``, else a random class) to exercise soft labels, ``min_votes`` and curricula.

>>> x, y = load_plaid()
>>> len(x), len(set(y.tolist())), min(map(len, x)), max(map(len, x))
(1074, 11, 100, 1344)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import polars as pl

from medalist.core.errors import DataError
from medalist.core.io import atomic_write_parquet

__all__ = ["plaid_dir", "load_plaid", "simulate_votes", "make_plaid_workspace", "PLAID_CLASSES"]

PLAID_CLASSES = 11


def plaid_dir() -> Path | None:
    """The PLAID folder inside the installed sktime package, or None."""
    spec = importlib.util.find_spec("sktime")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "PLAID"
    return d if (d / "PLAID_TRAIN.ts").is_file() else None


def _read_ts(path: Path) -> tuple[list[np.ndarray], list[int]]:
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
                values, label = line.rsplit(":", 1)
                xs.append(np.array(values.split(","), dtype=np.float32))
                ys.append(int(float(label)))
    return xs, ys


def load_plaid() -> tuple[list[np.ndarray], np.ndarray]:
    """(waveforms, labels 0..10) of PLAID's train + test splits: 1,074 ragged signals."""
    d = plaid_dir()
    if d is None:
        raise DataError("PLAID", expected="sktime's bundled PLAID files", found="sktime not installed",
                        fix="pip install sktime")
    xs, ys = [], []
    for split in ("TRAIN", "TEST"):
        x, y = _read_ts(d / f"PLAID_{split}.ts")
        xs += x
        ys += y
    return xs, np.array(ys, dtype=np.int64)


def simulate_votes(y: np.ndarray, n_classes: int, *, accuracy: float = 0.75, max_votes: int = 12, seed: int = 0) -> np.ndarray:
    """(n, K) vote counts: each row has 1..max_votes annotators, right with probability ``accuracy``."""
    rng = np.random.default_rng(seed)
    votes = np.zeros((len(y), n_classes), dtype=np.int64)
    for i, label in enumerate(y):
        n = rng.integers(1, max_votes + 1)
        right = rng.random(n) < accuracy
        picks = np.where(right, label, rng.integers(0, n_classes, n))
        np.add.at(votes[i], picks, 1)
    return votes


def make_plaid_workspace(root: Path, *, k: int = 3, n_test: int = 0, seed: int = 0, task: str = "multiclass"):
    """A workspace whose train.parquet holds PLAID (``id, label, current`` list column, ``vote_0..10``; no ``label`` for a distribution).

    ``n_test`` rows are held out as the test set (at least one row is: a competition needs a test).
    ``task="multiclass"``: target ``label``, metric accuracy. ``task="distribution"`` (HMS-shaped):
    the targets are the simulated vote columns ``vote_0..vote_10``, metric kl, the sample submission has
    one column per class (named like the vote columns), and the test rows' votes are the hidden answers
    (``.medalist/answers.parquet``, alternate rows public/private) that ``submit --local`` scores by KL.
    """
    from medalist.workspace.competition import init_workspace
    from medalist.workspace.folds import build_folds

    root = Path(root)
    xs, y = load_plaid()
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(xs))
    n_test = max(n_test, 1)
    test_idx, train_idx = order[:n_test], np.sort(order[n_test:])
    votes = simulate_votes(y, PLAID_CLASSES, seed=seed)
    src = root.parent / f".{root.name}-src"
    src.mkdir(parents=True, exist_ok=True)

    def table(idx: np.ndarray, with_labels: bool) -> pl.DataFrame:
        cols: dict = {"id": [f"p{i:04d}" for i in idx],
                      "current": pl.Series([xs[i].tolist() for i in idx], dtype=pl.List(pl.Float32))}
        if with_labels:
            if task != "distribution":  # the distribution variant only has the votes (HMS)
                cols["label"] = y[idx]
            for c in range(PLAID_CLASSES):
                cols[f"vote_{c}"] = votes[idx, c]
        return pl.DataFrame(cols)

    table(train_idx, True).write_parquet(src / "train.parquet")
    te = table(test_idx, False)
    te.write_parquet(src / "test.parquet")
    vote_cols = [f"vote_{c}" for c in range(PLAID_CLASSES)]
    if task == "distribution":
        te.select("id").with_columns(pl.lit(1.0 / PLAID_CLASSES).alias(c) for c in vote_cols).write_csv(src / "sample_submission.csv")
        target, metric = vote_cols, "kl"
    elif task == "multiclass":
        te.select("id").with_columns(pl.lit(0).alias("label")).write_csv(src / "sample_submission.csv")
        target, metric = "label", "accuracy"
    else:
        raise ValueError(f"make_plaid_workspace: task must be 'multiclass' or 'distribution', not {task!r}")
    ws = init_workspace(root, train=src / "train.parquet", test=src / "test.parquet",
                        sample_submission=src / "sample_submission.csv", target=target, id="id",
                        task=task, metric=metric, name="plaid")
    if task == "distribution":
        answers = pl.DataFrame({"id": [f"p{i:04d}" for i in test_idx], **{c: votes[test_idx, j] for j, c in enumerate(vote_cols)},
                                "usage": ["Public" if j % 2 == 0 else "Private" for j in range(len(test_idx))]})
        atomic_write_parquet(root / ".medalist" / "answers.parquet", answers)
        ws.config.competition.answers = ".medalist/answers.parquet"
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, scheme="stratified", k=k)
    return ws
