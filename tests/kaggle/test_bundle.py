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
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "sym":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, "manifest.json"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize("name,kind,msg", [
    ("../evil.txt", "file", "path traversal"),
    ("runs/x/../../../evil.txt", "file", "path traversal"),
    ("/tmp/evil.txt", "file", "absolute path"),
    ("runs/x/link", "sym", "link"),
    ("runs/x/hard", "hard", "link"),
])
def test_unsafe_bundles_are_refused(trained_ws, tmp_path, name, kind, msg):
    bad = tmp_path / "bad.tar.gz"
    _tar(bad, [("manifest.json", b"{}", "file"), (name, b"x", kind)])
    before = sorted(p.name for p in trained_ws.runs_dir.iterdir())
    with pytest.raises(BundleError, match=msg):
        import_bundle(trained_ws, bad)
    assert sorted(p.name for p in trained_ws.runs_dir.iterdir()) == before
    assert not (tmp_path / "evil.txt").exists()


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
