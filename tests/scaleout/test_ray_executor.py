"""The Ray executor on a real two-node Ray cluster that this module starts on this machine and stops.

One head and one worker node process (``ray start --block``, 1 CPU each, their own temp folder and
ports), shared by the module's tests: startup costs ~20 s, so the tests that need the cluster live here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import medalist
from medalist.core.errors import ConfigError, MissingDependencyError
from medalist.cv.runner import train

ray = pytest.importorskip("ray")

FAST = Path("configs/fast.yaml")
DETERMINISTIC = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1}
  early_stopping_rounds: 20
  num_boost_round: 300
seeds: [42, 7]
threads: 1
"""
RAY_BIN = str(Path(sys.executable).with_name("ray"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A head and a worker node, each a `ray start --block` process group this test owns."""

    def __init__(self, tmp: Path) -> None:
        self.port, self.tmp = _free_port(), tmp  # short: Ray's socket paths under it must fit 107 bytes
        self.head = self.worker = None
        src = str(Path(medalist.__file__).resolve().parents[1])  # workers import this medalist
        self.env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
                    "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
        self.address = f"127.0.0.1:{self.port}"
        common = ["--block", "--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(200 * 2**20)]
        try:
            self.head = self._start([RAY_BIN, "start", "--head", "--port", str(self.port), "--include-dashboard", "false",
                                     "--temp-dir", str(tmp / "ray"), *common], "head")
            self._wait("head")
            self.start_worker()
        except BaseException:
            self.stop()
            raise

    def _start(self, cmd: list[str], name: str) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        log.unlink(missing_ok=True)
        with open(log, "ab") as fh:
            return subprocess.Popen(cmd, env=self.env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)

    def start_worker(self) -> subprocess.Popen:
        p = self._start([RAY_BIN, "start", "--address", self.address, "--block", "--num-cpus", "1",
                         "--node-ip-address", "127.0.0.1", "--object-store-memory", str(200 * 2**20)], "worker")
        self.worker = p
        self._wait("worker")
        return p

    def _wait(self, name: str, timeout: float = 120) -> None:
        log, proc = self.tmp / f"{name}.log", getattr(self, name)
        t0 = time.time()
        while time.time() - t0 < timeout and proc.poll() is None:
            if "Ray runtime started" in log.read_text(errors="replace"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Ray {name} node did not start: {log.read_text(errors='replace')[-2000:]}")

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)  # the node and every process it started, at once
        self.worker.wait()

    def stop(self) -> None:
        for p in (self.worker, self.head):  # each node's process group: ray start and all it started
            if p is not None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()


@pytest.fixture(scope="module")
def cluster():
    import shutil
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="mray", dir="/tmp"))
    c = Cluster(tmp)
    try:
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _same_files(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _model_files(run) -> list[str]:
    return sorted(str(p.relative_to(run.path)) for p in (run.path / "models").rglob("*") if p.is_file())


def test_ray_run_is_byte_identical_to_local(covid_ws, cluster):
    (covid_ws.root / "configs" / "det.yaml").write_text(DETERMINISTIC)
    local = train(covid_ws, Path("configs/det.yaml"), tracking=False)
    events = []
    remote = train(covid_ws, Path("configs/det.yaml"), tracking=False, executor=f"ray@{cluster.address}",
                   on_event=lambda k, p: events.append(k))
    assert remote.record.status == "done"
    _same_files(local.path, remote.path, ["oof.parquet", "test.parquet", "importance.parquet", "curves.parquet"])
    models = _model_files(local)
    assert models == _model_files(remote) and len(models) >= 6  # 3 folds x 2 seeds, written by the driver
    _same_files(local.path, remote.path, models)
    assert events.count("fold_done") == 3
    assert {p.name for p in local.path.iterdir()} == {p.name for p in remote.path.iterdir()}
    nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
    assert len(nodes) == 2


def test_resume_a_ray_run_keeps_finished_folds(covid_ws, cluster):
    (covid_ws.root / "configs" / "det.yaml").write_text(DETERMINISTIC)
    cfg, ray_at = Path("configs/det.yaml"), f"ray@{cluster.address}"
    seen = []

    def stop_after_one(kind, payload):
        seen.append(kind)
        if kind == "fold_done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(covid_ws, cfg, tracking=False, executor=ray_at, on_event=stop_after_one)
    events = []
    resumed = train(covid_ws, cfg, tracking=False, executor=ray_at, resume="det-001", on_event=lambda k, p: events.append(k))
    assert resumed.id == "det-001" and resumed.record.status == "done"
    assert events.count("fold_resumed") == 1 and events.count("fold_done") == 2
    fresh = train(covid_ws, cfg, tracking=False)  # local
    _same_files(fresh.path, resumed.path, ["oof.parquet", "test.parquet"])


def test_cli_train_executor_flag(covid_ws, cluster, monkeypatch, capsys):
    from tests.conftest import run_medalist

    code, _, err = run_medalist(monkeypatch, capsys, "train", "configs/fast.yaml", "--executor", "dask")
    assert code == 2 and "--executor: expected local, ray or ray@ADDRESS" in err and "found 'dask'" in err
    code, out, _ = run_medalist(monkeypatch, capsys, "train", "configs/fast.yaml", "--executor", f"ray@{cluster.address}")
    assert code == 0 and "fast-001" in out


BOOM = """\
from sklearn.linear_model import LogisticRegression


class Boom(LogisticRegression):
    def fit(self, X, y, sample_weight=None):
        raise ValueError("boom in user code")


def make():
    return Boom()
"""


def test_a_fold_failing_in_user_code_fails_the_run_naming_the_fold(covid_ws, cluster):
    from medalist.runs.store import list_runs
    from medalist.workspace.paths import Workspace

    (covid_ws.root / "medalist_boom.py").write_text(BOOM)
    covid_ws.config.trust = ["medalist_boom"]
    covid_ws.save_config()
    ws = Workspace.open(covid_ws.root)
    (ws.root / "configs" / "boom.yaml").write_text("model: {name: 'sklearn:medalist_boom:make'}\n")
    for executor in ("local", f"ray@{cluster.address}"):
        with pytest.raises(ValueError, match="boom in user code") as err:
            train(ws, Path("configs/boom.yaml"), tracking=False, executor=executor)
        assert any(n.startswith("while fitting repeat 0 fold ") for n in err.value.__notes__), executor
    assert [r.record.status for r in list_runs(ws)] == ["failed"] * 2  # both recorded as failed


def test_gpus_per_task_without_gpus_is_a_clear_error(covid_ws, cluster):
    covid_ws.config.executor = {"name": "ray", "address": cluster.address, "gpus_per_task": 1}
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"gpus_per_task.*1 GPU.*found 0 GPU"):
        train(covid_ws, FAST, tracking=False)
    assert time.perf_counter() - t0 < 30
    assert not list(covid_ws.runs_dir.glob("fast-*"))  # nothing written


TUNED = DETERMINISTIC.replace("seeds: [42, 7]", "seeds: [42]").replace("num_boost_round: 300", "num_boost_round: 60") + """\
tune:
  seed: 3
  pruner: {name: none}
  space:
    model.params.learning_rate: {type: float, low: 0.01, high: 0.3, log: true}
    model.params.num_leaves: {type: int, low: 2, high: 64, log: true}
"""


@pytest.mark.slow  # ~25 s
def test_tune_parallel_runs_each_trial_once_on_the_cluster(covid_ws, cluster):
    pytest.importorskip("optuna")
    from medalist.core.executors import resolve_executor
    from medalist.cv.executor import RayExecutor
    from medalist.runs.store import Run
    from medalist.tuning.tune import tune

    cfg = covid_ws.root / "configs" / "tuned.yaml"
    cfg.write_text(TUNED)
    ex = RayExecutor(resolve_executor(None, f"ray@{cluster.address}"))
    res = tune(covid_ws, cfg, n_trials=4, parallel=2, tracking=False, executor=ex)
    s = res.summary()
    assert s["trials"] == 4 and s["complete"] == 4  # no overshoot past --trials with 2 threads
    assert sorted(res.mine) == [0, 1, 2, 3]  # every trial asked for and run exactly once
    runs = [t["run"] for t in s["trials_detail"]]
    assert len(set(runs)) == 4 and all(Run.open(covid_ws, r).status == "done" for r in runs)
    for r in runs:  # two runs at once, each log.txt has its own lines only
        text = (Run.open(covid_ws, r).path / "log.txt").read_text()
        assert f"run {r}:" in text and not any(f"run {o}:" in text for o in runs if o != r)
    tasks = [t for _, t in ex.submitted]
    assert len(tasks) == 4 * 3 and len(set(tasks)) == 12  # each trial's 3 folds: one Ray task each
    trials = res.study.trials
    assert any(a.datetime_start < b.datetime_complete and b.datetime_start < a.datetime_complete
               for a in trials for b in trials if a.number < b.number)  # trials overlapped: 2 at once


@pytest.mark.slow  # ~30 s
def test_auto_sends_every_runs_folds_to_the_cluster(covid_ws, cluster):
    from medalist.ensemble.auto import auto
    from medalist.runs.store import Run

    res = auto(covid_ws, budget=300, models=["lightgbm", "linear"], threads=1, tune=False, features=False,
               tracking=False, executor=f"ray@{cluster.address}")
    assert ray.is_initialized()  # the plan's runs were submitted to the cluster
    ids = [s["run"] for s in res.summary()["steps"] if s["run"]]
    assert "auto-lightgbm-001" in ids and "auto-linear-001" in ids and res.summary()["best"] in ids
    base = Run.open(covid_ws, "auto-lightgbm-001")
    assert base.record.status == "done"
    # the same run trained locally (no reuse) gives the same bytes: the cluster changed where, not what
    local = train(covid_ws, Path(base.record.config), list(base.record.overrides), tracking=False)
    assert local.id != base.id
    _same_files(base.path, local.path, ["oof.parquet", "test.parquet"])


@pytest.mark.slow  # ~30 s; the module's last cluster test: its worker node stays dead
def test_a_killed_worker_node_still_gives_the_same_run(covid_ws, cluster):
    (covid_ws.root / "configs" / "det.yaml").write_text(DETERMINISTIC)
    local = train(covid_ws, Path("configs/det.yaml"), tracking=False)
    killed = []

    def on_event(kind, payload):
        if kind == "fold_done" and not killed:  # the other node is still fitting a fold: kill it mid-fit
            cluster.kill_worker()
            killed.append(payload["fold"])

    remote = train(covid_ws, Path("configs/det.yaml"), tracking=False, executor=f"ray@{cluster.address}", on_event=on_event)
    assert killed and remote.record.status == "done"
    _same_files(local.path, remote.path, ["oof.parquet", "test.parquet", *_model_files(local)])


def test_unreachable_address_fails_fast_naming_it(covid_ws):
    port = _free_port()  # nothing listens there
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=rf"executor.address '127.0.0.1:{port}'.*no answer"):
        train(covid_ws, FAST, tracking=False, executor=f"ray@127.0.0.1:{port}")
    assert time.perf_counter() - t0 < 10
    assert not list(covid_ws.runs_dir.glob("fast-*"))


def test_ray_not_installed_names_the_extra(covid_ws, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the package
    with pytest.raises(MissingDependencyError, match=r"medalist\[ray\]"):
        train(covid_ws, FAST, tracking=False, executor="ray@auto")
