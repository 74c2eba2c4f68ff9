"""Kaggle through the real `kaggle` client (KaggleApi -> kagglesdk) against a local stub on
localhost:7777 (KAGGLE_API_ENVIRONMENT=TEST). No test touches the internet."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from medalist.cli.app import app, main
from medalist.core.errors import SubmissionError
from medalist.runs.store import list_runs

runner = CliRunner()


def _covid_files(trained_ws) -> dict[str, bytes]:
    ws = trained_ws
    return {"train.csv": ws.train_path.read_bytes(), "test.csv": ws.test_path.read_bytes(),
            "sample_submission.csv": ws.sample_submission_path.read_bytes()}


def _kaggle_ws(trained_ws, stub, tmp_path, monkeypatch, slug="covid-comp"):
    """A workspace made by `medalist init --from-kaggle` from the stub, with the trained runs copied in."""
    import shutil

    stub.add_competition(slug, _covid_files(trained_ws))
    root = tmp_path / "kws"
    res = runner.invoke(app, ["init", str(root), "--from-kaggle", slug])
    assert res.exit_code == 0, res.output
    shutil.copy(trained_ws.folds_path, root / "folds.parquet")
    shutil.copytree(trained_ws.runs_dir, root / "runs", dirs_exist_ok=True)
    monkeypatch.chdir(root)
    from medalist.workspace.paths import Workspace

    return Workspace.open(root)


def test_init_from_kaggle_downloads_and_detects(trained_ws, stub, tmp_path, monkeypatch):
    ws = _kaggle_ws(trained_ws, stub, tmp_path, monkeypatch)
    c = ws.competition
    assert c.id == trained_ws.competition.id and c.target == trained_ws.competition.target
    assert c.task == "binary" and c.name == "covid-comp"
    assert (ws.root / "data" / "train.csv").read_bytes() == trained_ws.train_path.read_bytes()
    assert not list((ws.root / "data").glob("*.zip"))
    assert (ws.root / "kaggle.yaml").read_text().startswith("competition: covid-comp")
    assert any(p.endswith("DownloadDataFiles") for _, p, _ in stub.requests)


def test_submit_upload_sync_and_pick(trained_ws, stub, tmp_path, monkeypatch):
    ws = _kaggle_ws(trained_ws, stub, tmp_path, monkeypatch)
    ids = [r.id for r in list_runs(ws)]
    (ws.runs_dir / ids[0] / "git.json").write_text(json.dumps({"commit": "abcdef0123456789", "dirty": False}))
    refs = []
    for rid in ids:
        res = runner.invoke(app, ["submit", rid, "-m", f"try {rid}", "--json"])
        assert res.exit_code == 0, res.output
        rec = json.loads(res.output)
        assert rec["competition"] == "covid-comp" and rec["kaggle_ref"] >= 1000 and rec["status"] == "pending"
        assert f"[medalist run={rid} cv=" in rec["description"]
        refs.append(rec["kaggle_ref"])
        if rid == ids[0]:
            assert rec["description"] == f"try {rid} [medalist run={rid} cv={list_runs(ws)[0].cv:.6g} git=abcdef0]"
    # the uploaded bytes are the validated CSV
    up = [u["data"] for u in stub.uploads.values() if "data" in u]
    files = pl.read_parquet(ws.submissions_dir / "submissions.parquet").get_column("file").to_list()
    assert up == [(ws.root / f).read_bytes() for f in files]
    desc = [s["description"] for s in stub.submissions]
    assert all("[medalist run=" in d for d in desc)
    # Kaggle scores them; a team-mate submitted one more by hand
    stub.score(refs[0], 0.81, 0.80)
    stub.score(refs[1], 0.79, 0.78)
    stub.add_remote_submission("covid-comp", f"by hand [medalist run={ids[0]} cv=0.8]", 0.805)
    res = runner.invoke(app, ["lb", "sync", "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.output)
    assert s == {"competition": "covid-comp", "remote": 3, "updated": 2, "added": 1, "linked": 3}
    out = json.loads(runner.invoke(app, ["lb", "--json"]).output)
    by_ref = {r["kaggle_ref"]: r for r in out["submissions"]}
    assert by_ref[refs[0]]["public"] == pytest.approx(0.81) and by_ref[refs[0]]["private"] == pytest.approx(0.80)
    assert by_ref[refs[0]]["status"] == "complete" and by_ref[refs[0]]["run"] == ids[0]
    assert by_ref[refs[0]]["cv"] == pytest.approx(list_runs(ws)[0].cv)
    assert out["correlation"]["public"]["n"] == 2
    pick = json.loads(runner.invoke(app, ["pick", "--json"]).output)
    assert len(pick["picks"]) == 2
    # code competition: notebook version
    res = runner.invoke(app, ["submit", ids[0], "--kernel", "me/covid-infer", "--version", "3", "--json"])
    assert res.exit_code == 0, res.output
    assert stub.submissions[-1]["kernel"] == "me/covid-infer" and stub.submissions[-1]["kernelVersion"] == 3
    assert json.loads(res.output)["kernel"] == "me/covid-infer@3"


def test_submit_to_finished_or_unknown_competition(trained_ws, stub, tmp_path, monkeypatch, capsys):
    ws = _kaggle_ws(trained_ws, stub, tmp_path, monkeypatch)
    rid = list_runs(ws)[0].id
    stub.competitions["covid-comp"]["finished"] = True
    from medalist.kaggle.submit import submit

    with pytest.raises(SubmissionError, match="deadline has passed"):
        submit(ws, rid, message="late")
    (ws.root / "kaggle.yaml").write_text("competition: no-such-comp\n")
    with pytest.raises(SubmissionError, match="not found"):
        submit(ws, rid)
    assert not (ws.submissions_dir / "submissions.parquet").exists()  # nothing recorded
    assert not list(ws.submissions_dir.glob("*.csv"))  # and no orphan file
    monkeypatch.setattr("sys.argv", ["medalist", "submit", rid])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "no-such-comp" in err and "Traceback" not in err


def test_missing_credentials(trained_ws, stub, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["medalist", "init", str(tmp_path / "w"), "--from-kaggle", "covid-comp"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2
    cap = capsys.readouterr()
    err = " ".join(cap.err.split())
    for place in ("kaggle.json", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "access_token"):
        assert place in err
    assert "Traceback" not in err and cap.out == ""
    assert not stub.requests  # nothing was sent


def test_wrong_key_is_an_auth_error(trained_ws, stub, tmp_path, monkeypatch):
    from medalist.kaggle.api import KaggleAuthError, list_submissions

    stub.add_competition("covid-comp", _covid_files(trained_ws))
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key-000000")
    with pytest.raises(KaggleAuthError, match="rejected"):
        list_submissions("covid-comp")


def test_push_dataset_creates_then_versions(stub, tmp_path):
    """`medalist package --push`: the package folder becomes a Kaggle dataset, then a new version of it."""
    from medalist.kaggle.api import push_dataset

    pkg = tmp_path / "pkg"
    (pkg / "runs" / "fast-001" / "models").mkdir(parents=True)
    (pkg / "runs" / "fast-001" / "models" / "model.txt").write_text("tree\n")
    (pkg / "inference.py").write_text("print('hi')\n")
    (pkg / "dataset-metadata.json").write_text(json.dumps({"title": "medalist covid fast-001", "id": "medalist-tester/covid-pkg",
                                                           "licenses": [{"name": "CC0-1.0"}]}))
    first = push_dataset(pkg)
    assert first["version"] == "new" and first["dataset"] == "medalist-tester/covid-pkg"
    ds = stub.datasets["medalist-tester/covid-pkg"]
    assert ds["title"] == "medalist covid fast-001" and "inference.py" in ds["versions"][0]
    assert any(f and f.startswith("runs") for f in ds["versions"][0])  # folders go up zipped
    second = push_dataset(pkg, message="v2")
    assert second["version"] == "update" and len(ds["versions"]) == 2
