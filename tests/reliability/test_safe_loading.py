"""Configs are data: YAML is loaded safely, dotted paths only reach modelling code, pickles only
load from the workspace's own runs unless explicitly allowed."""

from __future__ import annotations

import pytest

from medalist.core.errors import ConfigError, DataError
from medalist.core.safety import check_dotted
from medalist.metrics.registry import get_metric
from tests.conftest import run_medalist

FAST = "model: {name: lightgbm, params: {verbosity: -1}, num_boost_round: 5}\nthreads: 1\n"


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    code, out, err = run_medalist(monkeypatch, capsys, *args)
    return code, out + err


def test_yaml_python_tags_are_refused_not_executed(covid_ws, monkeypatch, capsys, tmp_path):
    marker = tmp_path / "pwned"
    (covid_ws.root / "configs" / "evil.yaml").write_text(
        f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    code, text = run_cli(monkeypatch, capsys, "train", "configs/evil.yaml")
    assert code == 2 and "valid YAML" in text and "Traceback" not in text
    assert not marker.exists()
    assert not any(covid_ws.runs_dir.glob("evil-*"))


@pytest.mark.parametrize("spec", [
    "os:system", "os.system", "subprocess:Popen", "subprocess.run", "builtins:eval", "builtins.exec",
    "importlib:import_module", "pickle:loads", "shutil.rmtree", "pty:spawn", "ctypes:CDLL", "runpy:run_path",
    "socket:socket", "sklearn.linear_model:_private", "sklearn.__init__:x",
])
def test_dangerous_dotted_paths_are_refused(spec):
    with pytest.raises(ConfigError):
        check_dotted(spec, where="model")


@pytest.mark.parametrize("spec", ["pydoc:os.system", "pydoc.os:system", "numpy.lib:os"])
def test_harmless_modules_reexporting_dangerous_names_are_refused(spec):
    from medalist.models.sklearn import resolve_estimator

    with pytest.raises(ConfigError):
        resolve_estimator(spec)


def test_sklearn_model_path_to_os_system_runs_nothing(covid_ws, monkeypatch, capsys, tmp_path):
    marker = tmp_path / "pwned"
    (covid_ws.root / "configs" / "evil.yaml").write_text(
        f"model: {{name: 'sklearn:os:system', params: {{command: 'touch {marker}'}}}}\n")
    code, text = run_cli(monkeypatch, capsys, "train", "configs/evil.yaml")
    assert code == 2 and "can run commands" in text and "Traceback" not in text
    assert not marker.exists()


def test_custom_block_and_metric_paths_are_guarded(covid_ws, monkeypatch, capsys):
    (covid_ws.root / "configs" / "evil.yaml").write_text(FAST + "features:\n  - {block: custom, function: 'os:system'}\n")
    code, text = run_cli(monkeypatch, capsys, "train", "configs/evil.yaml")
    assert code == 2 and "features[0].function" in text and "can run commands" in text
    with pytest.raises(ConfigError, match="can run commands"):
        get_metric({"name": "subprocess.call"})
    assert get_metric({"name": "sklearn.metrics.roc_auc_score", "direction": "maximize"}).name  # modelling code still resolves


def test_pickles_from_outside_a_workspace_need_an_explicit_flag(covid_ws, tmp_path, monkeypatch):
    from medalist.cv.runner import train
    from medalist.models import load_model

    cfg = covid_ws.root / "configs" / "knn.yaml"
    cfg.write_text("model: {name: 'sklearn:sklearn.neighbors.KNeighborsClassifier', params: {n_neighbors: 5}}\n"
                   "columns: {use: [age, pan_day]}\n")
    run = train(covid_ws, cfg, tracking=False)
    model_dir = next((run.path / "models").iterdir())
    import json
    import shutil

    import joblib

    # force the joblib path (what happens for objects skops cannot write)
    est = load_model(model_dir).estimator_
    meta = json.loads((model_dir / "model.json").read_text())
    (model_dir / "model.skops").unlink(missing_ok=True)
    joblib.dump(est, model_dir / "model.joblib")
    meta["format"] = "joblib"
    (model_dir / "model.json").write_text(json.dumps(meta))
    monkeypatch.delenv("MEDALIST_ALLOW_PICKLE", raising=False)
    with pytest.raises(DataError, match="not recorded here"):
        load_model(model_dir)  # inside runs/, but medalist did not write it: location alone proves nothing
    from medalist.core.safety import record_pickle

    record_pickle(model_dir / "model.joblib")  # what medalist does when it writes a pickle
    assert load_model(model_dir) is not None  # the workspace's own file, hash recorded

    outside = tmp_path / "downloaded"
    shutil.copytree(model_dir, outside)
    with pytest.raises(DataError, match="MEDALIST_ALLOW_PICKLE=1"):
        load_model(outside)
    monkeypatch.setenv("MEDALIST_ALLOW_PICKLE", "1")
    assert load_model(outside) is not None
