"""RunRecord: typed run.json, round trip, unknown keys kept, 0.1.0 records migrated."""

from __future__ import annotations

import json

import pytest

from medalist.core.errors import RunError
from medalist.runs.record import SCHEMA_VERSION, RunRecord

from .conftest import OLD


def test_round_trip_keeps_set_fields_and_extras(tmp_path):
    rec = RunRecord(schema_version=SCHEMA_VERSION, id="lgbm-001", status="running", model="lightgbm",
                    seeds=[1, 2], note=None, classes=[0, 1], pred_columns=["pred"])
    rec.status = "done"
    rec.cv = 0.81
    path = tmp_path / "run.json"
    rec.save(path)
    raw = json.loads(path.read_text())
    # only what was set is written: no null 'error', 'mlflow_run_id', ... keys
    assert raw == {"schema_version": 1, "id": "lgbm-001", "status": "done", "model": "lightgbm", "seeds": [1, 2],
                   "note": None, "classes": [0, 1], "pred_columns": ["pred"], "cv": 0.81}
    back = RunRecord.load(path)
    assert back == rec and back.to_json() == raw


def test_unknown_keys_survive_a_rewrite(tmp_path):
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"schema_version": 1, "id": "x-001", "status": "done", "from_the_future": {"a": 1}}))
    rec = RunRecord.load(path)
    rec.note = "edited"
    rec.save(path)
    assert json.loads(path.read_text())["from_the_future"] == {"a": 1}


@pytest.mark.parametrize("rid", ["fast-001", "lin-001", "blend-hill-climb-001"])
def test_a_0_1_0_record_migrates_and_keeps_every_key(rid, tmp_path):
    src = OLD / "runs" / rid / "run.json"
    old = json.loads(src.read_text())
    assert "schema_version" not in old  # written by 0.1.0
    rec = RunRecord.load(src)
    assert rec.schema_version is None and rec.id == rid and rec.status == "done"
    assert rec.folds_hash == old["folds_hash"] and rec.pred_columns == ["pred"] and rec.cv == old["cv"]
    assert rec.to_json() == old
    rec.save(tmp_path / "run.json")
    new = json.loads((tmp_path / "run.json").read_text())
    assert new.pop("schema_version") == SCHEMA_VERSION and new == old


def test_defaults_of_keys_a_0_1_0_record_lacks():
    rec = RunRecord.from_dict({"id": "a-001"})
    assert rec.status == "unknown" and rec.seeds == [] and rec.overrides == [] and rec.note == ""
    assert rec.tracking_error is None and rec.members is None and rec.to_json() == {"id": "a-001"}


def test_an_unreadable_run_json_is_a_run_error(tmp_path):
    p = tmp_path / "run.json"
    p.write_text('{"id": "a-001", "seeds": "many"}')
    with pytest.raises(RunError, match="seeds"):
        RunRecord.load(p)
    p.write_text('{"id": ')
    with pytest.raises(RunError, match="readable"):
        RunRecord.load(p)
