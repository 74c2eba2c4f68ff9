"""Wheels for Kaggle's image: the target's flags reach pip, the skip list, clear errors, the size limit.

Real ``pip download`` calls of small wheels (the registry is reachable through pip at build time); the
source-build cases use a local find-links folder with no index."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from medalist.kaggle.package import wheels as W
from medalist.kaggle.package.runtime import PackageError
from medalist.kaggle.package.wheels import KAGGLE_TARGET, Target, check_size, download_wheels, skip_set


def test_default_target_is_kaggles_image():
    assert KAGGLE_TARGET.python_version == "3.12" and KAGGLE_TARGET.abi == "cp312" and KAGGLE_TARGET.implementation == "cp"
    assert KAGGLE_TARGET.platforms[0] == "manylinux_2_35_x86_64" and KAGGLE_TARGET.platforms[-2:] == ("manylinux_2_17_x86_64", "manylinux2014_x86_64")
    assert len(KAGGLE_TARGET.platforms) == 35 - 17 + 2
    t = Target.parse(python="3.11", platform="manylinux_2_28_x86_64,win_amd64")
    assert t.abi == "cp311" and t.platforms[0] == "manylinux_2_28_x86_64" and t.platforms[-1] == "win_amd64"
    assert Target.parse().platforms == KAGGLE_TARGET.platforms
    args = Target.parse(python="3.13", platform="win_amd64").pip_args()
    assert args == ["--platform", "win_amd64", "--python-version", "3.13", "--implementation", "cp", "--abi", "cp313"]
    from medalist.core.errors import ConfigError

    with pytest.raises(ConfigError, match="3.12"):
        Target.parse(python="python3")


def test_target_flags_reach_pip(tmp_path):
    """A binary wheel for another OS and Python than this machine's: only the flags can have asked for it."""
    res = download_wheels(["markupsafe==2.1.5", "MarkupSafe==3.0.2"], tmp_path / "w1", target=Target.parse(python="3.12", platform="win_amd64"),
                          skip=set())
    assert res["shipped"] == ["MarkupSafe-2.1.5-cp312-cp312-win_amd64.whl", "MarkupSafe-3.0.2-cp312-cp312-win_amd64.whl"]
    assert res["bytes"] == sum(p.stat().st_size for p in (tmp_path / "w1").glob("*.whl")) and res["bytes"] > 10_000
    assert sorted(p.name for p in (tmp_path / "w1").iterdir()) == res["shipped"]  # nothing half-written beside them
    res = download_wheels(["markupsafe==3.0.2"], tmp_path / "w2")  # Kaggle's image by default
    assert res["shipped"] == ["MarkupSafe-3.0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"]


def test_skip_list_is_honoured(tmp_path, monkeypatch):
    calls = []

    def fake_fetch(pin, tmp, target):
        calls.append(pin)
        whl = tmp / "polars-1.0-py3-none-any.whl"
        whl.write_bytes(b"w" * 10)
        return whl, False

    monkeypatch.setattr(W, "_fetch_one", fake_fetch)
    pins = ["torch==2.14.1", "nvidia-cublas-cu12==12.8.4.1", "TorchVision==0.29.1", "polars==1.0", "triton==3.6.0"]
    res = download_wheels(pins, tmp_path)
    assert res == {"shipped": ["polars-1.0-py3-none-any.whl"], "bytes": 10, "built": [],
                   "skipped": ["torch==2.14.1", "nvidia-cublas-cu12==12.8.4.1", "TorchVision==0.29.1", "triton==3.6.0"]}
    assert calls == ["polars==1.0"]
    res = download_wheels(pins, tmp_path / "b", skip=skip_set(skip=["polars"], no_skip=["torch"]))
    assert calls[1:] == ["torch==2.14.1"] and "polars==1.0" in res["skipped"]
    assert "torch" not in skip_set(no_skip=["torch"]) and "nvidia-*" in skip_set(no_skip=["torch"])
    assert skip_set(skip=["XGBoost"], defaults=False) == {"xgboost"}
    assert "lightgbm" not in skip_set() and "xgboost" not in skip_set() and "catboost" not in skip_set()  # model files need their version


def test_no_wheel_for_the_target_names_package_version_and_target(tmp_path):
    with pytest.raises(PackageError) as e:  # lightgbm ships no Windows-on-ARM wheel, and none for Python 3.7
        download_wheels(["lightgbm==4.6.0"], tmp_path, target=Target.parse(python="3.7", platform="win_arm64"))
    msg = str(e.value)
    assert "lightgbm 4.6.0" in msg and "cp37 win_arm64" in msg and "other platforms only" in msg
    assert "--skip lightgbm" in msg and "--platform" in msg and "pin another version" in msg
    with pytest.raises(PackageError, match=r"typer 0\.29\.2 for cp37 .*other Python versions \(Requires-Python\) only \(ERROR: No matching"):
        download_wheels(["typer==0.29.2"], tmp_path, target=Target.parse(python="3.7", platform="manylinux2014_x86_64"))
    with pytest.raises(PackageError, match=r"lightgbm 99\.0\.0 for cp312 manylinux_2_35_x86_64.*no wheel and no buildable source"):
        download_wheels(["lightgbm==99.0.0"], tmp_path)
    assert not list(tmp_path.iterdir())


def _sdist(folder, name: str, *, platform_wheel: bool = False) -> None:
    """A source-only release ``name-0.1.tar.gz`` (setuptools); ``platform_wheel`` builds a non-pure wheel."""
    setup = "from setuptools import setup\n"
    if platform_wheel:  # an extension-module package without the compiling: a platform-tagged wheel
        setup += "from setuptools.dist import Distribution\nclass D(Distribution):\n    def has_ext_modules(self): return True\nsetup(distclass=D)\n"
    else:
        setup += "setup()\n"
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
                          f'[project]\nname = "{name}"\nversion = "0.1"\n[tool.setuptools]\npy-modules = ["{name.replace("-", "_")}"]\n',
        "setup.py": setup,
        f"{name.replace('-', '_')}.py": "X = 1\n",
        "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n",
    }
    with tarfile.open(folder / f"{name}-0.1.tar.gz", "w:gz") as tar:
        for fname, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-0.1/{fname}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.slow  # two setuptools builds: ~12 s
def test_source_only_release_is_built_when_pure_python(tmp_path, monkeypatch):
    links = tmp_path / "links"
    links.mkdir()
    _sdist(links, "medalist-pure-demo")
    _sdist(links, "medalist-native-demo", platform_wheel=True)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_NO_BUILD_ISOLATION", "0")  # pip's inverted switch: build with this venv's setuptools, offline
    monkeypatch.delenv("PIP_CONSTRAINT", raising=False)
    res = download_wheels(["medalist-pure-demo==0.1"], tmp_path / "w", skip=set())
    assert res["shipped"] == ["medalist_pure_demo-0.1-py3-none-any.whl"] and res["built"] == ["medalist-pure-demo==0.1"]
    with zipfile.ZipFile(tmp_path / "w" / res["shipped"][0]) as z:
        assert "medalist_pure_demo.py" in z.namelist()
    with pytest.raises(PackageError, match=r"medalist-native-demo 0\.1.*only a source release.*not a pure-Python one"):
        download_wheels(["medalist-native-demo==0.1"], tmp_path / "w", skip=set())
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == res["shipped"]


def test_size_limit_names_the_largest_files(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "big-1.0-py3-none-any.whl").write_bytes(b"x" * 6000)
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "model.txt").write_bytes(b"x" * 3000)
    (tmp_path / "inference.py").write_bytes(b"x" * 100)
    assert check_size(tmp_path, 9100) == 9100
    with pytest.raises(PackageError) as e:
        check_size(tmp_path, 9099)
    msg = str(e.value)
    assert "at most 9.1 KB" in msg and "found 9.1 KB" in msg
    assert msg.index("wheels/big-1.0-py3-none-any.whl (6.0 KB)") < msg.index("runs/model.txt (3.0 KB)") < msg.index("inference.py")
    assert W.KAGGLE_DATASET_LIMIT == 200 * 10**9
