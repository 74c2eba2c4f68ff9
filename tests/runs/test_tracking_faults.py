"""Blends, stacks and recommender runs with an unreachable MLflow server finish with ``tracking_error``
instead of raising (the runner's rule, tests/reliability/test_faults.py, now holds for every producer)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import polars as pl
import yaml

from .conftest import free_port


def _track_to_nowhere(ws) -> str:
    cfg = ws.root / "medalist.yaml"
    data = yaml.safe_load(cfg.read_text())
    uri = f"http://alice:hunter2@127.0.0.1:{free_port()}"  # nothing listens there
    data["tracking"] = {"uri": uri}
    cfg.write_text(yaml.safe_dump(data))
    return uri


def _check(run) -> None:
    raw = json.loads((run.path / "run.json").read_text())
    assert raw["status"] == "done" and "mlflow_run_id" not in raw and "hunter2" not in json.dumps(raw)
    assert "127.0.0.1" in raw["tracking_error"] and "complete" in raw["tracking_error"]
    assert run.record.tracking_error == raw["tracking_error"]
    assert "WARNING MLflow tracking" in (run.path / "log.txt").read_text()


def test_blend_and_stack_with_the_tracker_down_finish(old_ws):
    from medalist.ensemble import blend, stack
    from medalist.workspace.paths import Workspace

    _track_to_nowhere(old_ws)
    ws = Workspace.open(old_ws.root)
    assert ws.tracking_uri.startswith("http://")
    _check(blend(ws, ["fast-001", "lin-001"], "mean"))
    _check(stack(ws, ["fast-001", "lin-001"]))


def _interactions(path) -> None:
    rng = np.random.default_rng(0)
    rows = [(u, int(i), float(t)) for u in range(60) for t, i in enumerate(rng.choice(40, size=12, replace=False))]
    pl.DataFrame({"user": [r[0] for r in rows], "item": [r[1] for r in rows], "time": [r[2] * 86400 for r in rows]}
                 ).write_csv(path)


def test_recsys_run_with_the_tracker_down_finishes(tmp_path):
    from medalist.recsys import run_recsys

    _interactions(tmp_path / "log.csv")
    cfg = {"name": "tiny", "data": {"source": "log.csv"}, "split": {"holdout": 2, "min_train": 5}, "k": 5,
           "candidates": [{"name": "popular", "k": 20}], "ranker": {"num_boost_round": 5}, "refit_full": False}
    (tmp_path / "recsys.yaml").write_text(yaml.safe_dump(cfg))
    ws = SimpleNamespace(root=tmp_path, runs_dir=tmp_path / "runs",
                         tracking_uri=f"http://alice:hunter2@127.0.0.1:{free_port()}")
    run = run_recsys(tmp_path / "recsys.yaml", ws=ws)
    _check(run)


def test_blend_cli_with_the_tracker_down_warns_and_succeeds(old_ws, monkeypatch, capsys):
    from tests.conftest import run_medalist

    _track_to_nowhere(old_ws)
    monkeypatch.chdir(old_ws.root)
    code, out, err = run_medalist(monkeypatch, capsys, "blend", "fast-001", "lin-001", "--method", "mean")
    assert code == 0 and "blend-mean-001" in out
    assert "warning:" in err and "127.0.0.1" in err and "hunter2" not in err + out
