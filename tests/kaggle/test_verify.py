"""`verify_package`: a package runs offline in a clean venv like Kaggle's and reproduces its runs on seen and unseen rows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time

import polars as pl
import pytest

from medalist.core.errors import ConfigError
from medalist.kaggle.package import PackageError
from medalist.kaggle.package.cleanenv import offline_environ
from medalist.kaggle.package.inputs import unseen_input
from medalist.kaggle.package.verify import clean_env, verify_package

_PROBE = """
import importlib.util as u, json
print(json.dumps({m: (u.find_spec(m).origin if u.find_spec(m) else None) for m in ("medalist", "six", "numpy")}))
"""


def test_clean_env_isolates_and_is_offline(tmp_path):
    t0 = time.perf_counter()
    py = clean_env(tmp_path / "e", preinstalled=["six"])
    secs = time.perf_counter() - t0
    assert secs < 30, secs  # measured 4.2 s (ensurepip) on 2 cores
    env = offline_environ(tmp_path / "w", py.parent.parent)
    res = subprocess.run([str(py), "-c", _PROBE], env=env, capture_output=True, text=True, check=True)
    found = json.loads(res.stdout)
    assert found["medalist"] is None  # not importable: it must come from a package's wheel
    assert found["numpy"] is None  # this environment has it, but it was not listed
    assert found["six"] == str(tmp_path / "e" / "preinstalled" / "six.py")
    pip = subprocess.run([str(py), "-m", "pip", "install", "numpy"], env=env, capture_output=True, text=True)
    assert pip.returncode != 0 and "No matching distribution found for numpy" in pip.stderr
    assert not list((tmp_path / "w").rglob("*.pyc"))


def test_clean_env_refuses_medalist_and_unknown(tmp_path):
    with pytest.raises(ConfigError, match="medalist"):
        clean_env(tmp_path / "a", preinstalled=["medalist"])
    with pytest.raises(ConfigError, match="no-such-dist-xyz"):
        clean_env(tmp_path / "b", preinstalled=["no-such-dist-xyz"])
    assert not (tmp_path / "b" / "venv").exists()


def test_unseen_input_rekeys_shuffles_and_subsamples(covid_ws, tmp_path):
    ws = covid_ws
    u = unseen_input(ws, tmp_path / "unseen", seed=3)
    test = pl.read_csv(ws.test_path)
    new_test = pl.read_csv(u.dir / ws.test_path.name)
    sample = pl.read_csv(u.dir / ws.sample_submission_path.name)
    old_sample = pl.read_csv(ws.sample_submission_path)
    train = pl.read_csv(u.dir / ws.train_path.name)
    assert 0.6 * test.height <= new_test.height <= 0.8 * test.height and u.rows == new_test.height
    assert new_test.columns == test.columns and sample.columns == old_sample.columns
    new_ids = new_test["rownames"].to_list()
    assert sample["rownames"].to_list() == new_ids  # the sample lists the test rows in their (new) order
    assert not set(new_ids) & set(test["rownames"].to_list() + train["rownames"].to_list())
    assert min(new_ids) > max(test["rownames"].max(), train["rownames"].max())
    old = u.ids["old"].to_list()
    assert old != sorted(old)  # shuffled
    # each new row is the old row, features unchanged
    back = new_test.join(u.ids.rename({"new": "rownames"}), on="rownames").drop("rownames").rename({"old": "rownames"})
    assert back.select(test.columns).sort("rownames").equals(test.filter(pl.col("rownames").is_in(old)).sort("rownames"))
    ans = pl.read_parquet(u.answers)
    hidden = pl.read_parquet(ws.answers_path)
    assert ans["rownames"].to_list() == new_ids
    m = ans.join(u.ids.rename({"new": "rownames"}), on="rownames").join(hidden, left_on="old", right_on="rownames", suffix="_h")
    assert m.height == len(new_ids) and (m["target"] == m["target_h"]).all() and (m["usage"] == m["usage_h"]).all()


def test_verify_refuses_other_targets_and_non_packages(trained_ws, tmp_path):
    from medalist.runs.store import list_runs

    rid = list_runs(trained_ws)[0].id
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    with pytest.raises(PackageError, match="no package.json with its runs"):
        verify_package(trained_ws, pkg)
    (pkg / "package.json").write_text(json.dumps({"runs": [rid], "order": [rid], "preinstalled": [],
                                                  "target": {"python": "2.7", "abi": "cp27", "platforms": ["manylinux1_x86_64"]}}))
    with pytest.raises(PackageError, match=r"'target'.*a package for Python 2.7 \(cp27 manylinux1_x86_64\).*--python 3\.\d+"):
        verify_package(trained_ws, pkg, work=tmp_path / "w")
    assert not (tmp_path / "w" / "env").exists()  # refused before making the venv
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(ConfigError, match="a new or empty folder"):
        verify_package(trained_ws, pkg, work=tmp_path / "busy")


def _preinstall(pkg, names):
    """List ``names`` as preinstalled in the package's package.json (as Kaggle's image has them): a faster install."""
    man = pkg / "package.json"
    data = json.loads(man.read_text()) if man.is_file() else {}
    data["preinstalled"] = names
    man.write_text(json.dumps(data))


def _tamper_lightgbm(model_txt):
    lines = model_txt.read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("leaf_value="))
    vals = lines[i][len("leaf_value="):].split(" ")
    vals[0], vals[-1] = vals[-1], vals[0]  # same bytes, other leaves: the header's tree_sizes stay valid
    lines[i] = "leaf_value=" + " ".join(vals)
    model_txt.write_bytes(("\n".join(lines) + "\n").encode())


@pytest.fixture
def built(trained_ws, tmp_path):
    from medalist.kaggle.package import build_package
    from medalist.runs.store import list_runs

    ids = [r.id for r in list_runs(trained_ws)]
    from medalist.kaggle.package.wheels import Target

    here = f"{sys.version_info[0]}.{sys.version_info[1]}"  # wheels for this machine's Python, so they install here
    build_package(trained_ws, ids, tmp_path / "pkg", target=Target.parse(python=here))
    return trained_ws, tmp_path / "pkg", ids


def _copy(pkg, dst, *, fast=True):
    shutil.copytree(pkg, dst)
    if fast:  # everything but medalist and lightgbm counts as preinstalled: the install takes seconds
        pins = [ln.split("==")[0] for ln in (dst / "requirements.txt").read_text().split() if "==" in ln]
        _preinstall(dst, [p for p in pins if p != "lightgbm"])
    return dst


@pytest.mark.slow
def test_verify_passes_then_catches_tampering_and_missing_wheels(built, tmp_path):
    ws, pkg, ids = built
    # the hidden test as Kaggle would give it: every test row, shuffled, new ids (a subsample below)
    full = unseen_input(ws, tmp_path / "full", seed=1, fraction=(1.0, 1.0))
    before = sorted((str(p), p.stat().st_mtime_ns) for p in pkg.rglob("*"))
    rep = verify_package(ws, pkg, test_file=full.dir / ws.test_path.name)
    print(json.dumps(rep, indent=1))
    assert sorted((str(p), p.stat().st_mtime_ns) for p in pkg.rglob("*")) == before  # the package is only read
    assert "checks passed" in rep["summary"] and "(= submit --local)" in rep["summary"]
    assert rep["runs"] == ids and rep["preinstalled"] == [] and len(rep["checks"]) == 6
    t = rep["timings"]
    assert 0 < t["venv_s"] < 60 and 0 < t["install_s"] and t["inference_s"]["seen"] > 0 and t["inference_s"]["unseen"] > 0
    assert rep["scores"]["seen"] == rep["scores"]["expected"]
    assert rep["rows"] == {"seen": full.rows, "unseen": full.rows} and rep["work"] is None

    # a run's test.parquet in the workspace no longer matches what its saved models predict
    test_parquet = ws.runs_dir / ids[0] / "test.parquet"
    saved = test_parquet.read_bytes()
    t0 = pl.read_parquet(test_parquet)
    t0.with_columns(pl.when(pl.int_range(pl.len()) == 7).then(pl.col("pred") + 0.25).otherwise(pl.col("pred")).alias("pred")) \
        .write_parquet(test_parquet)
    fast = _copy(pkg, tmp_path / "fast")
    with pytest.raises(PackageError) as e:
        verify_package(ws, fast, work=tmp_path / "w1")
    msg = str(e.value)
    assert f"'seen rows: test predictions', run '{ids[0]}'" in msg and "0.25" in msg and f"rownames={t0['rownames'][7]!r}" in msg
    test_parquet.write_bytes(saved)

    # a packaged lightgbm model edited after the build
    lgbm = next(r for r in ids if list((fast / "runs" / r / "models").glob("*/model.txt")))
    _tamper_lightgbm(sorted((fast / "runs" / lgbm / "models").glob("*/model.txt"))[0])
    with pytest.raises(PackageError, match=f"'seen rows: test predictions', run '{lgbm}'.*max abs difference"):
        verify_package(ws, fast)

    # wheels/ without lightgbm's wheel (and lightgbm not preinstalled): the offline install names it
    nowheel = _copy(pkg, tmp_path / "nowheel")
    for w in (nowheel / "wheels").glob("lightgbm-*.whl"):
        w.unlink()
    with pytest.raises(PackageError, match="'install'.*distribution 'lightgbm'.*no wheel in wheels/"):
        verify_package(ws, nowheel)
    assert not list(tmp_path.glob("w1/*/*.csv"))


@pytest.mark.slow
def test_verify_on_an_unseen_subsample(built):
    ws, pkg, _ = built
    _preinstall(pkg, [ln.split("==")[0] for ln in (pkg / "requirements.txt").read_text().split() if "==" in ln and "lightgbm" not in ln])
    rep = verify_package(ws, pkg, seed=0)
    assert "unseen rows: each row predicted as in the workspace (row-wise features)" in rep["checks"]
