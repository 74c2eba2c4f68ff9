"""Optuna tuning: search space validation, pruning on per-fold scores, best config, and two worker
processes sharing one study on a real PostgreSQL server started by the fixture."""

from __future__ import annotations

import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

optuna = pytest.importorskip("optuna")

from medalist.core.errors import ConfigError  # noqa: E402
from medalist.runs.store import Run  # noqa: E402
from medalist.tuning.tune import dashboard_command, load_tune_config, tune  # noqa: E402

TUNED = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1}
  early_stopping_rounds: 10
  num_boost_round: 60
threads: 1
tune:
  seed: 3
  pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 0}
  space:
    model.params.learning_rate: {type: float, low: 0.0001, high: 0.3, log: true}
    model.params.num_leaves: {type: int, low: 2, high: 64, log: true}
    model.params.min_child_samples: {type: categorical, choices: [5, 20, 200, 2000]}
"""


def _write(ws, text: str, name: str = "tuned.yaml") -> Path:
    p = ws.root / "configs" / name
    p.write_text(text)
    return p


def test_pruning_stops_bad_trials_and_best_config_is_written(covid_ws):
    cfg = _write(covid_ws, TUNED)
    res = tune(covid_ws, cfg, n_trials=8, tracking=False)
    s = res.summary()
    assert s["trials"] == 8 and s["complete"] + s["pruned"] == 8
    assert s["pruned"] > 0  # seeded study: the MedianPruner stopped some trials early
    pruned = [t for t in s["trials_detail"] if t["state"] == "PRUNED"]
    assert all(t["folds"] < 3 for t in pruned)  # stopped before the last fold
    # every trial is a run; pruned ones are labelled and kept their finished folds only
    for t in s["trials_detail"]:
        run = Run.open(covid_ws, t["run"])
        assert run.status == ("done" if t["state"] == "COMPLETE" else "pruned")
    assert Run.open(covid_ws, s["best_run"]).cv == pytest.approx(s["best_value"])
    # the best params as a new config without the tune block; it trains to the same CV
    best = yaml.safe_load(Path(s["best_config"]).read_text())
    assert "tune" not in best and best["model"]["params"]["learning_rate"] == pytest.approx(s["best_params"]["model.params.learning_rate"])
    from medalist.cv.runner import train

    assert train(covid_ws, Path(s["best_config"]), tracking=False).cv == pytest.approx(s["best_value"], abs=1e-12)
    # default storage is SQLite in the workspace; asking again with the same total runs nothing new
    assert (covid_ws.root / "optuna.db").is_file()
    assert tune(covid_ws, cfg, n_trials=8, tracking=False).mine == []
    assert "optuna-dashboard sqlite:///" in dashboard_command(covid_ws)


def test_pruned_trials_are_tracked_in_mlflow_too(covid_ws):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from medalist.core.config import TrackingConfig

    covid_ws.config.tracking = TrackingConfig()  # the default: SQLite MLflow store in the workspace
    covid_ws.save_config()
    cfg = _write(covid_ws, TUNED)
    s = tune(covid_ws, cfg, n_trials=6).summary()
    client = MlflowClient(tracking_uri=covid_ws.tracking_uri)
    pruned = [t for t in s["trials_detail"] if t["state"] == "PRUNED"]
    assert pruned and len(pruned) < 6
    for t in s["trials_detail"]:
        run = Run.open(covid_ws, t["run"])
        mrun = client.get_run(run.info["mlflow_run_id"])
        assert mrun.data.tags["medalist.run_id"] == run.id and mrun.data.tags["medalist.status"] == run.status
        scores = [m.value for m in client.get_metric_history(mrun.info.run_id, "fold_score")]
        if t["state"] == "PRUNED":
            assert mrun.info.status == "KILLED" and len(scores) == run.info["pruned_after_folds"] == t["folds"]
            assert mrun.data.metrics["folds_done"] == t["folds"] and "cv_auc" not in mrun.data.metrics
            parts = sorted((run.path / "parts").glob("*.json"))
            assert scores == pytest.approx([json.loads(p.read_text())["score"] for p in parts])
        else:
            assert mrun.info.status == "FINISHED" and mrun.data.metrics["cv_auc"] == pytest.approx(run.cv)


@pytest.mark.parametrize("space, match", [
    ("{model.params.learning_rate: {type: float, low: 0.0, high: 0.3, log: true}}", "log scale"),
    ("{model.params.learning_rate: {type: float, low: 0.3, high: 0.1}}", "below"),
    ("{model.params.boosting: {type: categorical}}", "choices"),
    ("{model.parms.x: {type: int, low: 1, high: 3}}", "parms"),
    ("{}", "at least one"),
])
def test_bad_search_spaces_are_config_errors(covid_ws, space, match):
    cfg = _write(covid_ws, TUNED.split("tune:")[0] + f"tune:\n  space: {space}\n")
    with pytest.raises(ConfigError, match=match):
        load_tune_config(cfg)


def test_a_config_without_tune_block_is_refused(covid_ws):
    with pytest.raises(ConfigError, match="tune"):
        tune(covid_ws, Path("configs/fast.yaml"), n_trials=1, tracking=False)


# ----------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL cluster on loopback; as root it runs as the 'postgres' user (the
    server refuses to run as root)."""
    pytest.importorskip("psycopg2", reason="psycopg2 is needed for postgresql:// storage (pip install 'medalist[tune]')")
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    prefix: list[str] = []
    tmp = Path(tempfile.mkdtemp(prefix="medalist-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(tmp)
            pytest.skip("running as root and there is no 'postgres' user to run the server as")
        runuser = shutil.which("runuser")
        if not runuser:
            shutil.rmtree(tmp)
            pytest.skip("running as root without runuser to drop to the 'postgres' user")
        os.chown(tmp, user.pw_uid, user.pw_gid)
        os.chmod(tmp, 0o755)
        prefix = [runuser, "-u", "postgres", "--"]
    data, port = tmp / "data", _free_port()
    env = {**os.environ, "LC_ALL": "C"}
    subprocess.run([*prefix, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"],
                   check=True, capture_output=True, env=env, cwd=tmp)
    opts = f"-p {port} -k {tmp} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50"
    subprocess.run([*prefix, pg_ctl, "-D", str(data), "-o", opts, "-l", str(tmp / "log"), "-w", "-t", "60", "start"],
                   check=True, capture_output=True, env=env, cwd=tmp)
    try:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        con.autocommit = True
        con.cursor().execute("CREATE DATABASE medalist")
        con.close()
        yield f"postgresql://postgres@127.0.0.1:{port}/medalist"
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True, env=env, cwd=tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def test_two_workers_share_one_study_on_postgresql(covid_ws, postgres_url):
    cfg = _write(covid_ws, TUNED.replace("num_boost_round: 60", "num_boost_round: 30"), "pg.yaml")
    cmd = [sys.executable, "-m", "medalist.cli.app", "tune", str(cfg), "--trials", "6", "--storage", postgres_url,
           "--study", "pg", "--worker", "--no-track", "--json"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, cwd=covid_ws.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    results = [json.loads(out) for out, _ in outs]
    assert all(r["best_config"] is None for r in results)  # workers do not write the best config
    from medalist.tuning.tune import storage_url

    study = optuna.load_study(study_name="pg", storage=storage_url(postgres_url))
    trials = study.trials
    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))) and 6 <= len(trials) <= 7  # one study, no duplicates
    assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials)
    runs = [t.user_attrs["run"] for t in trials]
    assert len(set(runs)) == len(runs) and all((covid_ws.runs_dir / r / "run.json").is_file() for r in runs)
    mine = [set(r["mine"]) for r in results]
    assert not (mine[0] & mine[1]) and (mine[0] | mine[1]) == set(numbers)  # each trial ran in exactly one worker
    assert all(mine) and len({t.user_attrs["worker"] for t in trials}) == 2  # both workers took part
    # the coordinating (non-worker) call finds the study complete and writes the best config
    res = tune(covid_ws, cfg, n_trials=6, storage=postgres_url, study_name="pg", tracking=False)
    assert res.mine == [] and res.best_config is not None and res.best_config.is_file()
