"""Red-team table for configs (cases in cases_config.py): each attack exits 2 with a clear error,
writes nothing, and its canary proves nothing ran. The trusted path (``trust:`` in medalist.yaml)
still works."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from medalist.core.errors import ConfigError
from tests.conftest import run_medalist
from tests.security import gen_docs
from tests.security.cases_config import CASES, EVIL_MOD, FAST

ROOT = Path(__file__).resolve().parents[2]


class Payload:
    """Unpickling this writes the canary file (what a planted pickle would do, less politely)."""

    def __init__(self, canary: Path):
        self.canary = str(canary)

    def __reduce__(self):
        return exec, (f"open({self.canary!r}, 'w').write('ran')",)


def write_payload(path: Path, canary: Path) -> None:
    if path.suffix == ".npy":
        np.save(path, np.array([Payload(canary)], dtype=object), allow_pickle=True)
    else:  # .pkl, .joblib and legacy .pt files are plain pickles to their loaders
        path.write_bytes(pickle.dumps(Payload(canary)))


def merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def plant(case: dict, root: Path, canary: Path) -> None:
    """Write the case's config, files, links, payloads and medalist.yaml changes into the workspace at ``root``."""
    subs = {"canary": str(canary), "outside": str(root.parent / "outside")}

    def fill(text: str) -> str:
        return text.replace("{canary}", subs["canary"]).replace("{outside}", subs["outside"])

    for rel, text in {**case.get("files", {}), "configs/evil.yaml": case["config"]}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fill(text))
    for rel, target in case.get("links", {}).items():
        (root / rel).symlink_to(fill(target))
    for rel in case.get("payloads", []):
        write_payload(root / rel, canary)
    if "workspace" in case:
        cfg = root / "medalist.yaml"
        cfg.write_text(yaml.safe_dump(merge(yaml.safe_load(cfg.read_text()), case["workspace"]), sort_keys=False))


def test_the_table_is_large_and_unique():
    assert len(CASES) >= 20
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert all(c["attack"].strip() and c["refused_by"].strip() and "\n" not in c["attack"] for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_config_attack_is_refused(case, covid_ws, monkeypatch, capsys, tmp_path):
    root, canary = covid_ws.root, tmp_path / "canary"
    plant(case, root, canary)
    # the workspace folder is importable, as it is under `python -m medalist…`: refusal must not rely on luck
    monkeypatch.syspath_prepend(str(root))
    before, modules = snapshot(root), set(sys.modules)
    code, out, err = run_medalist(monkeypatch, capsys, *case.get("argv", ["train", "configs/evil.yaml"]))
    text = " ".join((out + err).split())
    assert code == 2, text
    assert "Traceback" not in text and "error:" in text
    for want in case["expect"]:
        assert want in text, f"{want!r} not in: {text}"
    assert not canary.exists(), "the attack ran"
    for name in case.get("modules", []):
        assert name in modules or name not in sys.modules, f"{name} was imported"
    assert snapshot(root) == before, "the workspace changed"


def test_the_canaries_fire_when_the_attack_is_not_stopped(tmp_path, monkeypatch):
    """Control: the planted pickles and module really do leave a mark when loaded, so an absent canary means something."""
    import joblib

    for name in ("payload.npy", "payload.pkl", "payload.joblib"):
        canary = tmp_path / f"canary-{name}"
        write_payload(tmp_path / name, canary)
        loader = {".npy": lambda p: np.load(p, allow_pickle=True), ".pkl": lambda p: pickle.loads(p.read_bytes()),
                  ".joblib": joblib.load}[Path(name).suffix]
        loader(tmp_path / name)
        assert canary.read_text() == "ran"
    canary = tmp_path / "canary-module"
    (tmp_path / "canary_probe_mod.py").write_text(EVIL_MOD.replace("{canary}", str(canary)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "canary_probe_mod", raising=False)
    __import__("canary_probe_mod")
    monkeypatch.delitem(sys.modules, "canary_probe_mod")
    assert canary.read_text() == "imported"


@pytest.mark.slow
def test_untrusted_module_is_refused_by_the_real_cli(covid_ws, tmp_path):
    """`python -m medalist.cli.app` puts the workspace (cwd) on sys.path: the module is still never imported."""
    canary = tmp_path / "canary"
    case = next(c for c in CASES if c["id"] == "cfg-untrusted-module-model")
    plant(case, covid_ws.root, canary)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    res = subprocess.run([sys.executable, "-m", "medalist.cli.app", "train", "configs/evil.yaml"], cwd=covid_ws.root,
                         env=env, capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 2, res.stderr
    assert "trust: [evil_mod]" in " ".join(res.stderr.split()) and not canary.exists()


# ------------------------------------------------------------------------- the trusted path
MY_PKG = """\
import polars as pl
from sklearn.linear_model import LogisticRegression


class MyEstimator(LogisticRegression):
    '''An estimator of the workspace's own code.'''


def make(C=1.0):
    return LogisticRegression(C=C, max_iter=500)


def age_squared(frame, params):
    return frame.with_columns((pl.col("age").cast(pl.Float64) ** params.get("power", 2)).alias("age_sq"))


def neg_abs_err(y_true, y_pred, sample_weight=None):
    import numpy as np
    return -float(np.average(np.abs(np.asarray(y_true) - np.asarray(y_pred)), weights=sample_weight))
"""


@pytest.fixture
def trusting_ws(covid_ws, monkeypatch):
    """The covid workspace with its own package my_pkg (not on sys.path) listed under trust:."""
    root = covid_ws.root
    (root / "my_pkg").mkdir()
    (root / "my_pkg" / "__init__.py").write_text(MY_PKG)
    cfg = root / "medalist.yaml"
    cfg.write_text(yaml.safe_dump({**yaml.safe_load(cfg.read_text()), "trust": ["my_pkg"]}, sort_keys=False))
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(root))])
    monkeypatch.delitem(sys.modules, "my_pkg", raising=False)
    yield root
    sys.modules.pop("my_pkg", None)


@pytest.mark.parametrize("model", ["sklearn:my_pkg.MyEstimator", "sklearn:my_pkg:make"])
def test_trusted_workspace_module_is_a_model_and_a_custom_block(trusting_ws, monkeypatch, capsys, model):
    (trusting_ws / "configs" / "mine.yaml").write_text(
        f"model: {{name: '{model}', params: {{C: 0.5}}}}\ncolumns: {{use: [age, pan_day]}}\nthreads: 1\n"
        "features:\n  - {block: custom, function: 'my_pkg:age_squared', params: {power: 2}}\n")
    code, _, err = run_medalist(monkeypatch, capsys, "train", "configs/mine.yaml")
    assert code == 0, err
    run = trusting_ws / "runs" / "mine-001"
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "done" and info["model"] == model and info["inputs"]["custom"] == ["my_pkg:age_squared"]
    assert pl.read_parquet(run / "importance.parquet")["feature"].to_list() == ["age", "age_sq", "pan_day"]
    assert sys.modules["my_pkg"].__file__ == str(trusting_ws / "my_pkg" / "__init__.py")  # imported from the workspace


def test_trusted_metric_and_an_untrusted_sibling(trusting_ws, monkeypatch, capsys):
    from medalist.metrics.registry import get_metric
    from medalist.workspace.paths import Workspace

    Workspace.open(trusting_ws)
    assert get_metric({"name": "my_pkg:neg_abs_err", "direction": "maximize"})([1, 2], [1, 4]) == pytest.approx(-1.0)
    (trusting_ws / "their_pkg.py").write_text(EVIL_MOD.replace("{canary}", str(trusting_ws.parent / "canary")))
    with pytest.raises(ConfigError, match=r"trust: \[their_pkg\]"):
        get_metric("their_pkg:feat")
    assert "their_pkg" not in sys.modules and not (trusting_ws.parent / "canary").exists()


def test_trust_is_the_opened_workspaces(trusting_ws, covid_template, tmp_path):
    """Opening another workspace replaces the trust list: my_pkg is refused there."""
    import shutil

    from medalist.core.safety import check_dotted, current_trust
    from medalist.workspace.paths import Workspace

    assert Workspace.open(trusting_ws).config.trust == ["my_pkg"] and current_trust() == ("my_pkg",)
    other = tmp_path / "other"
    shutil.copytree(covid_template, other)
    Workspace.open(other)
    assert current_trust() == ()
    with pytest.raises(ConfigError, match="not trusted"):
        check_dotted("my_pkg:make", where="model", kind="estimator")


def test_docs_security_md_is_current():
    assert gen_docs.DOC.read_text() == gen_docs.render(), "docs/security.md is stale: python -m tests.security.gen_docs"


def test_fast_config_still_trains(covid_ws, monkeypatch, capsys):
    """The allow-list keeps medalist's own names working: lightgbm and an sklearn path."""
    (covid_ws.root / "configs" / "ok.yaml").write_text(FAST)
    (covid_ws.root / "configs" / "lin.yaml").write_text(
        "model: {name: 'sklearn:sklearn.linear_model.LogisticRegression', params: {max_iter: 300}}\n"
        "columns: {use: [age, pan_day]}\nthreads: 1\n")
    for cfg in ("configs/ok.yaml", "configs/lin.yaml"):
        code, _, err = run_medalist(monkeypatch, capsys, "train", cfg)
        assert code == 0, err
