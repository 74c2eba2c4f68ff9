"""``task: distribution`` (vote-distribution targets, scored by KL): soft targets vs the argmax label.

1. A real table (sklearn's ``wine``, 178 rows x 13 features, 3 classes; ``--table digits``: 1,797 x 64, 10
   classes) gets simulated annotator votes from its true class (1-12 annotators per row, each right with
   probability 0.75, else a random class: :func:`medalist.datasets.plaid.simulate_votes`). medalist's
   LightGBM adapter is fitted per fold of a 5-fold split (stratified on the majority vote) two ways:
   ``task: distribution`` (each row expanded into one row per voted class weighted by its vote share,
   :mod:`medalist.models.soft`) and ``task: multiclass`` on the majority-vote label. Both early-stop on
   their own validation log loss; the OOF predictions are scored by KL against the vote fractions.
   The class prior (each class's mean vote share) is the no-model reference.
2. The signal model on the HMS-shaped PLAID distribution workspace
   (:func:`medalist.datasets.plaid.make_plaid_workspace` with ``task="distribution"``: 1,054 ragged
   current waveforms, 11 vote columns, 3 folds): OOF KL and wall time of a small 1-D CNN (4 epochs,
   256-sample crops, CPU).

Run ``python benchmarks/distribution.py`` (table), ``--json`` (one JSON object), ``--table digits``,
``--no-signal``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

VOTE_SEED = 0
LGBM_PARAMS = {"learning_rate": 0.05, "num_leaves": 15}
SIGNAL_CONFIG = """\
model:
  name: signal
  params:
    signals: {columns: [current]}
    sample_rate: 30000
    length: 256
    pad: wrap
    epochs: 4
    batch_size: 32
    lr: 0.01
    branches:
      - {name: wave, input: raw, hidden: 16, layers: 3}
columns: {keep: [current]}
threads: 1
seeds: [0]
"""


def table(name: str) -> tuple[Any, list[str], list[str], np.ndarray]:
    """(frame with features, vote columns and ``hard`` = majority vote; features; vote columns; fractions)."""
    import polars as pl
    from sklearn import datasets

    from medalist.datasets.plaid import simulate_votes

    d = {"wine": datasets.load_wine, "digits": datasets.load_digits}[name]()
    k = int(d.target.max()) + 1
    votes = simulate_votes(d.target, k, seed=VOTE_SEED)
    y = votes / votes.sum(axis=1, keepdims=True)
    feats = [f"f{i}" for i in range(d.data.shape[1])]
    vcols = [f"v{c}" for c in range(k)]
    frame = pl.DataFrame({**{c: d.data[:, i] for i, c in enumerate(feats)},
                          **{c: votes[:, j].astype(float) for j, c in enumerate(vcols)}, "hard": y.argmax(axis=1)})
    return frame, feats, vcols, y


def oof_lightgbm(frame, feats: list[str], vcols: list[str], y: np.ndarray, task: str, threads: int = 1) -> tuple[np.ndarray, float]:
    """5-fold OOF class probabilities of LightGBM trained as ``task`` (distribution or multiclass), and seconds."""
    from sklearn.model_selection import StratifiedKFold

    from medalist.models import create_model
    from medalist.models.protocol import FitContext

    oof, t0 = np.zeros_like(y), time.perf_counter()
    for tr, va in StratifiedKFold(5, shuffle=True, random_state=0).split(y, y.argmax(axis=1)):
        ctx = FitContext(task=task, target=vcols if task == "distribution" else ["hard"], features=feats,
                         n_classes=y.shape[1], seed=0, threads=threads)
        model = create_model("lightgbm", dict(LGBM_PARAMS), early_stopping_rounds=50)
        oof[va] = model.fit(frame[tr], frame[va], ctx).predict(frame[va])
    return oof, time.perf_counter() - t0


def tabular(name: str) -> dict[str, Any]:
    from medalist.metrics.registry import get_metric

    kl = get_metric("kl")
    frame, feats, vcols, y = table(name)
    row: dict[str, Any] = {"table": name, "rows": frame.height, "features": len(feats), "classes": len(vcols),
                           "prior_kl": kl(y, np.tile(y.mean(axis=0), (len(y), 1)))}
    for task, key in (("distribution", "soft"), ("multiclass", "argmax")):
        oof, secs = oof_lightgbm(frame, feats, vcols, y, task)
        row[f"{key}_kl"], row[f"{key}_s"] = kl(y, oof), secs
    row["margin"] = row["argmax_kl"] - row["soft_kl"]
    return row


def signal() -> dict[str, Any]:
    import torch

    from medalist.cv.runner import train
    from medalist.datasets.plaid import make_plaid_workspace

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "plaid"
        ws = make_plaid_workspace(root, k=3, n_test=20, task="distribution")
        (root / "configs" / "signal.yaml").write_text(SIGNAL_CONFIG)
        cwd = os.getcwd()
        os.chdir(root)
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        try:
            run = train(ws, root / "configs" / "signal.yaml", tracking=False)
        finally:
            os.chdir(cwd)
        secs = time.perf_counter() - t0
        return {"workspace": "plaid distribution", "rows": 1054, "folds": 3, "oof_kl": run.record.cv, "seconds": secs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", choices=["wine", "digits"], default="wine")
    ap.add_argument("--no-signal", action="store_true", help="skip the PLAID signal model")
    ap.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {"lightgbm": tabular(args.table)}
    if not args.no_signal:
        out["signal"] = signal()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    r = out["lightgbm"]
    print(f"LightGBM on {r['table']} ({r['rows']} rows, {r['classes']} classes, simulated votes), 5-fold OOF KL (lower is better)")
    print(f"{'training':<34}{'KL':>8}{'seconds':>10}")
    print(f"{'soft targets (row expansion)':<34}{r['soft_kl']:>8.4f}{r['soft_s']:>10.1f}")
    print(f"{'argmax label (majority vote)':<34}{r['argmax_kl']:>8.4f}{r['argmax_s']:>10.1f}")
    print(f"{'class prior (no model)':<34}{r['prior_kl']:>8.4f}{'':>10}")
    if "signal" in out:
        s = out["signal"]
        print(f"\nsignal model on {s['workspace']} ({s['rows']} rows, {s['folds']} folds): "
              f"OOF KL {s['oof_kl']:.4f} in {s['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
