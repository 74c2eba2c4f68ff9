"""Adversarial validation on real data: a patient split looks alike, a time split does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from medalist.core.errors import ConfigError
from medalist.cv.advval import adversarial_validation, feature_drift
from tests.cli.test_cli import cli
from tests.conftest import COVID


@pytest.fixture(scope="module")
def covid_time_ws(tmp_path_factory):
    """covid_testing with the latest 30% of pan_day held out: test is the future."""
    from medalist.workspace.competition import init_local_competition

    root = tmp_path_factory.mktemp("advval") / "covid-time"
    ws = init_local_competition(root, COVID["source"], target=COVID["target"], id=COVID["id"], time="pan_day",
                                drop=COVID["drop"], name="covid-time")
    ws.config.tracking = "none"
    ws.save_config()
    return ws


def test_patient_split_looks_alike_and_files_are_written(covid_ws):
    res = adversarial_validation(covid_ws, k=3)
    assert 0.4 < res.auc < 0.6, res.auc
    assert res.verdict == "alike" and res.group == "subject_id" and len(res.folds) == 3
    assert res.path == covid_ws.root / "advval" / "001"
    assert sorted(p.name for p in res.path.iterdir()) == ["importance.parquet", "result.json", "scores.parquet", "shift.png"]
    saved = json.loads((res.path / "result.json").read_text())
    assert saved["auc"] == pytest.approx(res.auc) and saved["top"][0]["feature"] == res.importance["feature"][0]
    scores = pl.read_parquet(res.path / "scores.parquet")
    train_ids = pl.read_csv(covid_ws.train_path)["rownames"]
    assert scores.columns == ["rownames", "p_test", "fold"] and scores["rownames"].equals(train_ids)
    assert scores["p_test"].is_between(0, 1).all() and set(scores["fold"].unique()) == {0, 1, 2}
    imp = pl.read_parquet(res.path / "importance.parquet")
    assert imp["gain_share"].sum() == pytest.approx(1.0) and imp["gain"].is_sorted(descending=True)
    assert (res.path / "shift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in (covid_ws.root / "advval").iterdir() if p.name.startswith(".")]  # no temp folder left
    assert adversarial_validation(covid_ws, k=2).path.name == "002"


def test_time_split_is_detected_and_the_shifted_feature_named(covid_time_ws):
    res = adversarial_validation(covid_time_ws, k=3, save=False)
    assert res.auc > 0.8, res.auc
    top = res.importance.row(0, named=True)
    # pan_day is the time column, so not a feature; age drifts with it (more children tested later)
    assert top["feature"] == "age" and top["drift"] == "ks" and top["drift_stat"] > 0.2 and top["drift_p"] < 1e-6
    assert res.path is None and not (covid_time_ws.root / "advval").exists()
    # without the drifting feature, the future looks like the past
    assert adversarial_validation(covid_time_ws, k=3, drop=["age"], save=False).auc < 0.6


def test_config_columns_and_static_features_are_used(covid_ws):
    Path("configs/adv.yaml").write_text(
        "base: fast.yaml\ncolumns: {drop: [age]}\n"
        "features:\n  - {block: count_encode, columns: [clinic_name]}\n  - {block: target_encode, columns: [clinic_name]}\n"
    )
    res = adversarial_validation(covid_ws, Path("configs/adv.yaml"), k=2, save=False)
    feats = res.importance["feature"].to_list()
    assert "cnt_clinic_name" in feats and "age" not in feats and "te_clinic_name" not in feats
    assert res.skipped and "target_encode" in res.skipped[0]


def test_feature_drift():
    same = feature_drift(pl.Series([1.0, 2.0, 3.0, None]), pl.Series([1.0, 2.0, 3.0]), categorical=False)
    assert same["drift_stat"] == 0.0 and same["missing_train"] == 0.25 and same["missing_test"] == 0.0
    apart = feature_drift(pl.Series([1.0, 2.0]), pl.Series([5.0, 6.0]), categorical=False)
    assert apart["drift_stat"] == 1.0
    cat = feature_drift(pl.Series([0, 1, None, None]), pl.Series([0, 1, 1, 1]), categorical=True)
    assert cat["drift"] == "tvd" and cat["drift_stat"] == pytest.approx(0.5)


def test_cli_json_and_table(covid_ws, monkeypatch, capsys):
    code, out, err = cli(monkeypatch, capsys, "advval", "--k", "2", "--drop", "pan_day", "--json")
    assert code == 0, err
    obj = json.loads(out)
    assert obj["auc"] < 0.6 and obj["k"] == 2 and obj["dropped"] == ["pan_day"]
    assert obj["top"] and "pan_day" not in [r["feature"] for r in obj["top"]]
    assert Path(obj["path"]).is_dir() and (Path(obj["path"]) / "result.json").is_file()
    code, out, err = cli(monkeypatch, capsys, "advval", "configs/fast.yaml", "--k", "2")
    assert code == 0, err
    assert "train vs test AUC" in out and "most shifted features" in out and "advval/002" in out


def test_bad_input_is_a_clear_error(covid_ws, monkeypatch, capsys):
    code, out, err = cli(monkeypatch, capsys, "advval", "--drop", "agee")
    assert code == 2 and "--drop 'agee'" in err and "did you mean 'age'" in err and "Traceback" not in err
    code, _, err = cli(monkeypatch, capsys, "advval", "--k", "1")
    assert code == 2 and "'k' parameter" in err
    with pytest.raises(ConfigError, match="at least one feature"):
        features = [c for c in pl.read_csv(covid_ws.train_path).columns if c not in ("rownames", "subject_id", "target")]
        adversarial_validation(covid_ws, drop=features, save=False)
    assert not (covid_ws.root / "advval").exists()  # nothing written on error


def test_help():
    out = subprocess.run([sys.executable, "-m", "medalist.cli.app", "advval", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--drop" in out.stdout and "--json" in out.stdout
