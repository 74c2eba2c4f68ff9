"""Team bundles: export -> import round trip; unsafe or foreign bundles are refused."""

from __future__ import annotations

import io
import json
import shutil
import tarfile

import pytest
from typer.testing import CliRunner

from medalist.cli.app import app, main
from medalist.core.errors import FoldsError, RunError
from medalist.kaggle.bundle import BundleError, export_runs, import_bundle
from medalist.runs.store import Run, list_runs
from medalist.workspace.paths import Workspace

runner = CliRunner()


def _other_ws(trained_ws, tmp_path):
    """A team-mate's workspace: same competition and folds.parquet, no runs."""
    root = tmp_path / "mate"
    shutil.copytree(trained_ws.root, root, ignore=shutil.ignore_patterns("runs", "submissions"))
    return Workspace.open(root)


def test_export_import_round_trip(trained_ws, tmp_path, monkeypatch):
    ids = [r.id for r in list_runs(trained_ws)]
    out = tmp_path / "b.tar.gz"
    res = runner.invoke(app, ["export", *ids, "-o", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["runs"][0]["id"] == ids[0] and info["n_files"] >= 10
    mate = _other_ws(trained_ws, tmp_path)
    monkeypatch.chdir(mate.root)
    res = runner.invoke(app, ["import", str(out), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["runs"] == ids
    for rid in ids:
        a, b = Run.open(trained_ws, rid), Run.open(mate, rid)
        assert a.oof().equals(b.oof()) and a.test().equals(b.test())
        assert a.metrics == b.metrics and b.info["folds_hash"] == a.info["folds_hash"]
        assert b.info["imported"]["bundle"] == "b.tar.gz"
    # importing again: the ids exist
    with pytest.raises(RunError, match="exists"):
        import_bundle(mate, out)
    import_bundle(mate, out, force=True)


def _tar(path, entries):
    with tarfile.open(path, "w:gz") as tar:
        for name, data, _kind in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_bundle_from_other_folds_is_refused(trained_ws, tmp_path, monkeypatch, capsys):
    out = tmp_path / "b.tar.gz"
    export_runs(trained_ws, [list_runs(trained_ws)[0].id], out)
    mate = _other_ws(trained_ws, tmp_path)
    from medalist.workspace.folds import build_folds

    build_folds(mate, scheme="group", k=4, group="subject_id", force=True)  # another CV
    with pytest.raises(FoldsError, match="folds hash"):
        import_bundle(mate, out)
    assert not any(mate.runs_dir.iterdir()) if mate.runs_dir.is_dir() else True
    # CLI: exit 2, one readable line, no traceback
    monkeypatch.chdir(mate.root)
    monkeypatch.setattr("sys.argv", ["medalist", "import", str(out)])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "folds" in err and "Traceback" not in err


def test_tampered_bundle_is_refused(trained_ws, tmp_path):
    out = tmp_path / "b.tar.gz"
    rid = list_runs(trained_ws)[0].id
    export_runs(trained_ws, [rid], out)
    members = {}
    with tarfile.open(out) as t:
        for m in t.getmembers():
            members[m.name] = t.extractfile(m).read()
    members[f"runs/{rid}/metrics.json"] = b'{"oof": 0.99}'
    _tar(tmp_path / "t.tar.gz", [(n, d, "file") for n, d in members.items()])
    mate = _other_ws(trained_ws, tmp_path)
    with pytest.raises(BundleError, match="sha256"):
        import_bundle(mate, tmp_path / "t.tar.gz")


XGB = "model: {name: xgboost, params: {max_depth: 3, eta: 0.3}, num_boost_round: 20, early_stopping_rounds: 5}\nthreads: 1\n"
CAT = "model: {name: catboost, params: {depth: 3, learning_rate: 0.3}, num_boost_round: 20, early_stopping_rounds: 5}\nthreads: 1\n"


def test_native_models_travel_import_predict_and_blend(trained_ws, tmp_path, monkeypatch, capsys):
    """The trusted path: LightGBM, XGBoost, CatBoost and scikit-learn (skops) runs exported with --models
    import into a team-mate's workspace, predict from the imported models exactly as at home, and blend."""
    import numpy as np

    from medalist.cv.predict import predict_run
    from medalist.cv.runner import train
    from tests.conftest import run_medalist

    for name, text in [("xgb", XGB), ("cat", CAT)]:
        (trained_ws.root / "configs" / f"{name}.yaml").write_text(text)
        train(trained_ws, trained_ws.root / "configs" / f"{name}.yaml", tracking=False)
    ids = [r.id for r in list_runs(trained_ws)]
    assert sorted(ids) == ["cat-001", "fast-001", "lin-001", "xgb-001"]
    out = tmp_path / "team.tar.gz"
    code, text, err = run_medalist(monkeypatch, capsys, "export", *ids, "--models", "-o", out, "--json")
    assert code == 0, err
    info = json.loads(text)
    assert info["skipped"] == []
    with tarfile.open(out) as t:
        natives = {n.rsplit("/", 1)[-1] for n in t.getnames() if "/models/" in n}
    assert {"model.txt", "xgboost.ubj", "model.cbm", "model.skops", "model.json"} <= natives
    mate = _other_ws(trained_ws, tmp_path)
    monkeypatch.chdir(mate.root)
    code, text, err = run_medalist(monkeypatch, capsys, "import", out)
    assert code == 0, err
    for rid in ids:
        home, here = predict_run(trained_ws.runs_dir / rid, trained_ws), predict_run(mate.runs_dir / rid, mate)
        np.testing.assert_allclose(here, home, rtol=0, atol=1e-12)
    code, text, err = run_medalist(monkeypatch, capsys, "blend", *ids, "--method", "mean", "--no-track", "--json")
    assert code == 0, err
    assert json.loads(text)["cv"] > 0.7


def test_pickled_models_stay_home(trained_ws, tmp_path):
    """A model saved as a pickle (skops could not hold it) is left out of `export --models`, with the reason."""
    rid = "lin-001"
    d = trained_ws.runs_dir / rid / "models" / "r0_f0_s42"
    (d / "model.joblib").write_bytes(b"\x80\x04K\x01.")
    (trained_ws.runs_dir / rid / "models" / "state.json").write_text("{}")  # a file directly under models/ travels alone
    manifest = export_runs(trained_ws, [rid], tmp_path / "b.tar.gz", models=True)
    assert manifest["skipped"] == [{"run": rid, "model": "r0_f0_s42", "reason": "model.joblib: a .joblib file (a pickle "
                                    "format: loading it runs code chosen by its author) (bundles carry data, never code)"}]
    assert f"runs/{rid}/models/state.json" in manifest["files"]
    assert not [n for n in manifest["files"] if "r0_f0_s42" in n]
    assert [n for n in manifest["files"] if "r0_f1_s42/model.skops" in n]
