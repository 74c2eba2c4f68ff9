"""The trusted path for image runs: a timm run's safetensors weights travel in `export --models`,
import into a team-mate's workspace and predict there exactly as at home."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.vision.conftest import IMG_CONFIG, _torch_threads, fashion_template  # noqa: F401  (fixtures)


@pytest.mark.slow
def test_timm_run_travels_with_safetensors(fashion_template, tmp_path, monkeypatch, capsys):  # noqa: F811
    import tarfile

    from medalist.cv.predict import predict_run
    from medalist.cv.runner import train
    from medalist.workspace.paths import Workspace
    from tests.conftest import run_medalist

    home_root = tmp_path / "home"
    shutil.copytree(fashion_template, home_root, symlinks=True)
    (home_root / "configs" / "one.yaml").write_text(IMG_CONFIG.replace("epochs: 2", "epochs: 1"))
    home = Workspace.open(home_root)
    monkeypatch.chdir(home_root)
    run = train(home, home_root / "configs" / "one.yaml", tracking=False)
    out = tmp_path / "img.tar.gz"
    code, text, err = run_medalist(monkeypatch, capsys, "export", run.id, "--models", "-o", out)
    assert code == 0 and "left out" not in text, err
    with tarfile.open(out) as t:
        names = t.getnames()
    assert any(n.endswith("r0_f0_s42/weights.safetensors") for n in names)
    assert not [n for n in names if n.endswith((".pt", ".pkl", ".joblib"))]
    mate_root = tmp_path / "mate"
    shutil.copytree(home_root, mate_root, symlinks=True, ignore=shutil.ignore_patterns("runs", ".medalist"))
    monkeypatch.chdir(mate_root)
    code, text, err = run_medalist(monkeypatch, capsys, "import", out)
    assert code == 0, err
    mate = Workspace.open(mate_root)
    np.testing.assert_allclose(predict_run(mate.runs_dir / run.id, mate), predict_run(run.path, home), atol=1e-6)
