"""`verify_agent`: the archive is unpacked like Kaggle's and plays games in a clean offline venv without medalist."""

from __future__ import annotations

import importlib.util
import io
import json
import tarfile

import pytest

from medalist.core.errors import ConfigError
from medalist.kaggle.package import PackageError
from medalist.twentyq.package import MAIN_PY, package_submission
from medalist.twentyq.verify import verify_agent
from tests.conftest import run_medalist

NO_ENV = importlib.util.find_spec("kaggle_environments") is None
needs_env = pytest.mark.skipif(NO_ENV, reason="kaggle-environments==1.18.0 (medalist[twentyq]) is not installed")


def _tar(path, files: dict[str, str]):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return path


def test_archive_without_main_py_and_bad_games(tmp_path):
    with pytest.raises(PackageError, match="main.py at the archive's top level"):
        verify_agent(_tar(tmp_path / "s.tar.gz", {"agent/main.py": MAIN_PY}), work=tmp_path / "w")
    with pytest.raises(PackageError, match="no such file"):
        verify_agent(tmp_path / "none.tar.gz")
    with pytest.raises(ConfigError, match="games"):
        verify_agent(tmp_path / "s.tar.gz", games=0)


@needs_env
@pytest.mark.slow
def test_agent_plays_offline_without_medalist(tmp_path):
    from medalist.twentyq.keywords import env_keywords

    p = package_submission(tmp_path / "submission.tar.gz", [k.keyword for k in env_keywords()], eps=0.0, handshake=True)
    rep = verify_agent(p, work=tmp_path / "w", games=2, seed=0)
    assert (tmp_path / "w" / "kaggle_simulations" / "agent" / "main.py").is_file()
    assert "kaggle-environments" in rep["preinstalled"] and not {"torch", "transformers", "medalist"} & set(rep["preinstalled"])
    assert len(rep["games"]) == 2 and rep["solved"] == 2
    for g in rep["games"]:
        assert g["statuses"] == ["DONE", "DONE"] and g["guesses"][-1] == g["keyword"] and g["reward"] == 21 - g["rounds"]
        assert g["rounds"] <= 12 and g["max_turn_seconds"] < 60  # measured: rounds 9-10 of 578 keywords, turns < 0.03 s
    assert 0 < rep["timings"]["venv_s"] < 60 and 0 < rep["timings"]["play_s"] < 120


@needs_env
@pytest.mark.slow
def test_agent_importing_medalist_is_a_clear_error(tmp_path):
    """Kaggle's image has no medalist: a main.py importing it fails there, and here."""
    main = "import medalist.twentyq\n\n\ndef agent(obs, cfg=None):\n    return 'yes'\n"
    p = _tar(tmp_path / "broken.tar.gz", {"main.py": main, "config.json": "{}"})
    with pytest.raises(PackageError) as e:
        verify_agent(p, games=1)
    msg = str(e.value)
    assert "agent 0: ERROR" in msg and "No module named 'medalist'" in msg and "main.py" in msg


@needs_env
@pytest.mark.slow
def test_cli_package_verify(monkeypatch, capsys, tmp_path):
    out = tmp_path / "submission.tar.gz"
    code, stdout, err = run_medalist(monkeypatch, capsys, "twentyq", "package", "--out", out, "--candidates", "env",
                                     "--verify", "--games", "1", "--json")
    assert code == 0, err
    v = json.loads(stdout)["verify"]
    assert len(v["games"]) == 1 and v["solved"] == 1 and v["games"][0]["statuses"] == ["DONE", "DONE"]
