"""Red team: forged team bundles are refused by `medalist import` (exit 2), write nothing under runs/,
and run nothing (the payloads' canary file is never created); the genuine bundle still imports."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from medalist.kaggle import bundle_safety
from medalist.kaggle.bundle import export_runs
from medalist.workspace.paths import Workspace
from tests.conftest import run_medalist
from tests.security.cases_bundle import CASES, Ctx


@pytest.fixture(scope="module")
def genuine(trained_template, tmp_path_factory) -> Path:
    """`medalist export --models` of the LightGBM (model.txt) and scikit-learn (model.skops) runs."""
    out = tmp_path_factory.mktemp("bundle") / "genuine.tar.gz"
    export_runs(Workspace.open(trained_template), ["fast-001", "lin-001"], out, models=True)
    return out


@pytest.fixture
def mate(trained_template, tmp_path, monkeypatch) -> Path:
    """A team-mate's workspace: same competition and folds, no runs yet."""
    root = tmp_path / "mate"
    shutil.copytree(trained_template, root, ignore=shutil.ignore_patterns("runs", "submissions", ".medalist"))
    monkeypatch.chdir(root)
    return root


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_cases_are_documented():
    assert len(CASES) >= 12 and len({c["id"] for c in CASES}) == len(CASES)
    for c in CASES:
        assert c["attack"] and c["refused_by"] and "\n" not in c["attack"] + c["refused_by"]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_forged_bundle_is_refused(case, genuine, mate, tmp_path, monkeypatch, capsys):
    for name, value in case.get("caps", {}).items():
        monkeypatch.setattr(bundle_safety, name, value)
    ctx = Ctx(genuine=genuine, tmp=tmp_path, canary=tmp_path / "canary")
    bad = case["build"](ctx)
    before = _files(mate)
    code, out, err = run_medalist(monkeypatch, capsys, "import", bad)
    assert code == 2, out + err
    assert re.search(case["match"], err), err
    assert "Traceback" not in err
    assert sorted(set(_files(mate)) - {".medalist"}) == before  # nothing under runs/, no staging left
    assert not (mate / "runs").exists()
    assert not ctx.canary.exists()  # no payload ran
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/medalist-evil.txt").exists()


def test_genuine_bundle_imports_and_its_models_predict(genuine, mate, trained_template, monkeypatch, capsys):
    import numpy as np

    from medalist.cv.predict import predict_run

    code, out, err = run_medalist(monkeypatch, capsys, "import", genuine)
    assert code == 0, err
    ws, home = Workspace.open(mate), Workspace.open(trained_template)
    assert sorted(p.name for p in ws.runs_dir.iterdir()) == ["fast-001", "lin-001"]
    for rid, native in [("fast-001", "model.txt"), ("lin-001", "model.skops")]:
        assert (ws.runs_dir / rid / "models" / "r0_f0_s42" / native).is_file()
        np.testing.assert_allclose(predict_run(ws.runs_dir / rid, ws), predict_run(home.runs_dir / rid, home), atol=1e-12)
    assert not list((mate / ".medalist").glob("import-*"))
