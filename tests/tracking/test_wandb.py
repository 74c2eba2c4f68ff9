"""Weights & Biases tracking, offline (no network): the same params, metrics and artifacts as MLflow's,
secrets kept out, and the never-fail rule."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from medalist.core.config import TrackingConfig
from medalist.runs.store import Run

pytest.importorskip("wandb")

KAGGLE_KEY = "0123456789abcdef0123456789abcdef"
WANDB_KEY = "feedc0ffee" * 4  # the shape of a W&B API key (40 hex)


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """W&B offline with every folder it writes in tmp; a fake API key in the environment."""
    wb = tmp_path / "wb"
    for var, sub in (("WANDB_DIR", "dir"), ("WANDB_CACHE_DIR", "cache"), ("WANDB_DATA_DIR", "data"),
                     ("WANDB_CONFIG_DIR", "config"), ("WANDB_ARTIFACT_DIR", "artifacts")):
        (wb / sub).mkdir(parents=True)
        monkeypatch.setenv(var, str(wb / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    return wb


def _use(ws, tracking) -> None:
    ws.config.tracking = tracking
    ws.save_config()


def _files_text(root: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def test_wandb_offline_records_what_mlflow_records(trained_ws, offline):
    from mlflow.tracking import MlflowClient

    from medalist.tracking import mirror_run
    from medalist.tracking.mlflow import log_run as mlflow_log
    from medalist.tracking.wandb import offline_runs, read_offline_run

    run = Run.open(trained_ws, "fast-001")
    # as if made with `model.params.kaggle_key=... model.params.note_id=...`, and a key leaked into its log
    cfg = yaml.safe_load((run.path / "config.yaml").read_text())
    cfg["model"]["params"].update(kaggle_key=KAGGLE_KEY, note_id=WANDB_KEY)
    (run.path / "config.yaml").write_text(yaml.safe_dump(cfg))
    with open(run.path / "log.txt", "a") as fh:
        fh.write(f"overrides: model.params.kaggle_key={KAGGLE_KEY}\ntoken was {WANDB_KEY}\n")
    run = Run.open(trained_ws, "fast-001")
    _use(trained_ws, TrackingConfig(backend="wandb", project="covid", mode="offline"))
    key, wid, warning = mirror_run(trained_ws, run)
    assert (key, warning) == ("wandb_run_id", None)
    [rdir] = offline_runs(offline / "dir")
    assert rdir.name.endswith(wid)
    wb = read_offline_run(rdir)

    _use(trained_ws, TrackingConfig())
    client = MlflowClient(tracking_uri=trained_ws.tracking_uri)
    mrun = client.get_run(mlflow_log(trained_ws, Run.open(trained_ws, run.id)))

    assert wb["name"] == run.id and "model:lightgbm" in wb["tags"]
    # params: W&B's config is MLflow's params, key for key and value for value
    assert {k: str(v) for k, v in wb["config"].items()} == mrun.data.params
    assert mrun.data.params["model.params.learning_rate"] == "0.1" and len(mrun.data.params) >= 20
    # metrics: W&B's summary (W&B's own _runtime etc. aside) is MLflow's latest value of every metric
    summary = {k: v for k, v in wb["summary"].items() if not k.startswith("_")}
    assert summary == pytest.approx(mrun.data.metrics, rel=1e-12)
    assert summary["cv_auc"] == pytest.approx(run.cv, rel=1e-12)
    assert any(k.startswith("curve/r0_f0_s42/") for k in summary)
    # series: per-fold scores and a learning curve, step for step
    rows = [r for r in wb["history"] if "fold_score" in r]
    hist = client.get_metric_history(mrun.info.run_id, "fold_score")
    assert [(r["fold_step"], r["fold_score"]) for r in rows] == [(m.step, m.value) for m in hist] != []
    curve = next(k for k in summary if k.startswith("curve/r0_f1_s42/"))
    rows = [r for r in wb["history"] if curve in r]
    hist = client.get_metric_history(mrun.info.run_id, curve)
    assert [(r["curve/r0_f1_s42/step"], r[curve]) for r in rows] == [(m.step, m.value) for m in hist]
    assert len(rows) > 5
    # artifacts: the same files at the same paths
    mlflow_paths = sorted(a.path for a in client.list_artifacts(mrun.info.run_id))
    assert wb["artifacts"] == {run.id: mlflow_paths}
    assert {"config.yaml", "metrics.json", "run.json", "log.txt"} <= set(mlflow_paths)
    # secrets: in neither store, nor anywhere W&B wrote (its run file, logs, artifact staging)
    assert not any("kaggle_key" in k or "note_id" in k for k in wb["config"])
    written = _files_text(offline)
    assert "kaggle_key: '***'" in written or "kaggle_key: ***" in written  # the masked config.yaml artifact
    for secret in (KAGGLE_KEY, WANDB_KEY):
        assert secret not in written
        assert not any(secret in v for v in mrun.data.params.values())
    art = Path(client.download_artifacts(mrun.info.run_id, "", str(trained_ws.root / "dl")))
    text = _files_text(art)
    assert "model.params.kaggle_key=***" in text and "token was ***" in text
    assert KAGGLE_KEY not in text and WANDB_KEY not in text


def test_blend_cli_mirrors_to_wandb_offline(trained_ws, offline, monkeypatch, capsys):
    from medalist.tracking.wandb import offline_runs, read_offline_run
    from tests.conftest import run_medalist

    data = yaml.safe_load((trained_ws.root / "medalist.yaml").read_text())
    data["tracking"] = {"backend": "wandb", "project": "covid-wb", "mode": "offline", "dir": "tracker"}
    (trained_ws.root / "medalist.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.delenv("WANDB_DIR")
    code, out, err = run_medalist(monkeypatch, capsys, "blend", "fast-001", "lin-001", "--method", "mean")
    assert code == 0 and "warning" not in err.lower(), err
    assert out.startswith("blend-mean-001") and "wandb" not in (out + err).lower()  # W&B's own chatter is off
    [rdir] = offline_runs(trained_ws.root / "tracker")  # `dir:` relative to the workspace
    info = json.loads((trained_ws.root / "runs" / "blend-mean-001" / "run.json").read_text())
    assert rdir.name.endswith(info["wandb_run_id"]) and "mlflow_run_id" not in info
    assert read_offline_run(rdir)["summary"]["cv_auc"] == pytest.approx(info["cv"], rel=1e-12)
    assert not (trained_ws.root / "mlflow.db").exists()


def _check_warned(ws, err: str, *needles: str) -> dict:
    warnings = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1, err
    for n in ("W&B tracking", "complete", "Fix:", *needles):
        assert n in warnings[0], warnings[0]
    info = json.loads((ws.root / "runs" / "blend-mean-001" / "run.json").read_text())
    assert info["status"] == "done" and "wandb_run_id" not in info and "W&B tracking" in info["tracking_error"]
    assert "WARNING W&B tracking" in (ws.root / "runs" / "blend-mean-001" / "log.txt").read_text()
    return info


def test_wandb_missing_warns_and_the_run_finishes(trained_ws, offline, monkeypatch, capsys):
    from tests.conftest import run_medalist

    _use(trained_ws, TrackingConfig(backend="wandb", mode="offline"))
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` raises ImportError
    code, out, err = run_medalist(monkeypatch, capsys, "blend", "fast-001", "lin-001", "--method", "mean")
    assert code == 0, err
    _check_warned(trained_ws, err, "pip install 'medalist[wandb]'")


def test_wandb_online_without_login_warns_instead_of_prompting(trained_ws, offline, monkeypatch, capsys):
    from tests.conftest import run_medalist

    _use(trained_ws, TrackingConfig(backend="wandb", project="p", mode="online"))
    monkeypatch.delenv("WANDB_API_KEY")
    code, out, err = run_medalist(monkeypatch, capsys, "blend", "fast-001", "lin-001", "--method", "mean")
    assert code == 0, err
    _check_warned(trained_ws, err, "not logged in", "wandb login", "mode: offline")


def test_wandb_error_inside_logging_warns(trained_ws, offline, monkeypatch, capsys):
    import wandb

    from tests.conftest import run_medalist

    def boom(*a, **k):
        raise wandb.errors.CommError("upstream 503")

    _use(trained_ws, TrackingConfig(backend="wandb", mode="offline"))
    monkeypatch.setattr(wandb, "init", boom)
    code, out, err = run_medalist(monkeypatch, capsys, "blend", "fast-001", "lin-001", "--method", "mean")
    assert code == 0, err
    info = _check_warned(trained_ws, err, "CommError: upstream 503")
    assert WANDB_KEY not in json.dumps(info) + err


def test_tracking_config_keys_belong_to_their_backend(trained_ws):
    from medalist.core.errors import ConfigError
    from medalist.workspace.paths import Workspace

    path = trained_ws.root / "medalist.yaml"
    data = yaml.safe_load(path.read_text())
    for bad, needle in (({"project": "p"}, "only with `backend: wandb`"),
                        ({"backend": "wandb", "uri": "http://x:5000"}, "no `uri` with `backend: wandb`"),
                        ({"backend": "wandb", "mode": "sometimes"}, "tracking.mode")):
        path.write_text(yaml.safe_dump({**data, "tracking": bad}))
        with pytest.raises(ConfigError, match="tracking") as e:
            Workspace.open(trained_ws.root)
        assert needle in str(e.value), str(e.value)
    path.write_text(yaml.safe_dump({**data, "tracking": {"backend": "wandb", "project": "p"}}))
    ws = Workspace.open(trained_ws.root)
    assert (ws.tracking_backend, ws.tracking_uri) == ("wandb", None)
    path.write_text(yaml.safe_dump({**data, "tracking": {"uri": "http://m:5000"}}))  # an old config
    ws = Workspace.open(trained_ws.root)
    assert (ws.tracking_backend, ws.tracking_uri) == ("mlflow", "http://m:5000")


def test_unknown_backend_warns_naming_the_registered_ones(trained_ws, monkeypatch, capsys):
    from tests.conftest import run_medalist

    _use(trained_ws, TrackingConfig(backend="neptune"))
    code, out, err = run_medalist(monkeypatch, capsys, "blend", "fast-001", "lin-001", "--method", "mean")
    assert code == 0, err
    assert "tracking backend 'neptune' failed" in err and "use one of mlflow, wandb" in err


def test_ui_on_a_wandb_workspace_says_where_the_runs_are(trained_ws, monkeypatch, capsys):
    from tests.conftest import run_medalist

    _use(trained_ws, TrackingConfig(backend="wandb", mode="offline"))
    code, out, err = run_medalist(monkeypatch, capsys, "ui")
    assert code == 2
    assert "tracking.backend" in err and "found 'wandb'" in err and "wandb sync" in err


def test_wandb_is_an_extra_and_part_of_all():
    import tomllib

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert extras["wandb"] == ["wandb>=0.20"] and ",wandb," in extras["all"][0]


def test_saved_config_keeps_the_default_backend_implicit(covid_ws):
    covid_ws.config.tracking = TrackingConfig()
    covid_ws.save_config()
    assert "tracking: {}" in (covid_ws.root / "medalist.yaml").read_text()
    covid_ws.config.tracking = TrackingConfig(backend="wandb", mode="offline")
    covid_ws.save_config()
    assert yaml.safe_load((covid_ws.root / "medalist.yaml").read_text())["tracking"] == {"backend": "wandb", "mode": "offline"}
