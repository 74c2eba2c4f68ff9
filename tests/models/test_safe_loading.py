"""Safe loading: skops with an explicit allow-list, pickles only with a hash this workspace recorded,
torch weights as safetensors (or weights_only)."""

from __future__ import annotations

import json
import os
import shutil
import warnings

import joblib
import numpy as np
import polars as pl
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression

from medalist.core.errors import DataError
from medalist.core.safety import PICKLE_LEDGER, check_pickle_source, record_pickle
from medalist.models import create_model, load_model
from medalist.models.protocol import FitContext
from medalist.models.persist import PickleFallbackWarning, skops_allowed


class Canary:
    def __init__(self, path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


class NeedsArg:
    """skops rebuilds objects with ``cls.__new__(cls)``: this one cannot be rebuilt that way (pickle can)."""

    def __new__(cls, value):
        obj = super().__new__(cls)
        obj.value = value
        return obj

    def __getnewargs__(self):
        return (self.value,)


class PatternHolder(BaseEstimator, ClassifierMixin):
    """An estimator skops cannot read back: saved as a recorded pickle, with a warning."""

    def fit(self, X, y):
        self.inner_ = LogisticRegression().fit(X, y)
        self.classes_ = self.inner_.classes_
        self.pattern_ = NeedsArg(3)
        return self

    def predict_proba(self, X):
        return self.inner_.predict_proba(X)


class DateHolder(PatternHolder):
    """Holds a datetime.date: skops writes it, but the type is outside the allow-list."""

    def fit(self, X, y):
        import datetime

        super().fit(X, y)
        self.pattern_ = datetime.date(2020, 1, 1)
        return self


@pytest.fixture
def ws_root(tmp_path):
    root = tmp_path / "ws"
    (root / "runs" / "r1" / "models").mkdir(parents=True)
    (root / "medalist.yaml").write_text("competition: {}\n")
    return root


def _data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3))
    df = pl.DataFrame(X, schema=["a", "b", "c"]).with_columns(pl.Series("y", (X[:, 0] > 0).astype(int)))
    return df, FitContext(task="binary", target=["y"], features=["a", "b", "c"], seed=0, threads=1)


def test_pickle_loads_only_with_a_hash_this_workspace_recorded(ws_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDALIST_ALLOW_PICKLE", raising=False)
    f = ws_root / "runs" / "r1" / "models" / "m.joblib"
    joblib.dump({"a": 1}, f)
    with pytest.raises(DataError, match="not recorded here"):
        check_pickle_source(f)  # inside runs/, but medalist did not record writing it
    digest = record_pickle(f)
    check_pickle_source(f)
    assert json.loads((ws_root / PICKLE_LEDGER).read_text()) == {"path": "runs/r1/models/m.joblib", "sha256": digest}
    joblib.dump({"a": 2}, f)  # changed since
    with pytest.raises(DataError, match="not recorded here"):
        check_pickle_source(f)
    # a teammate's run folder copied under runs/ with its own ledger inside vouches for nothing
    mate = ws_root / "runs" / "mate-001"
    (mate / ".medalist").mkdir(parents=True)
    g = mate / "model.joblib"
    g.write_bytes(b"\x80\x04K\x01.")
    import hashlib

    (mate / ".medalist" / "pickles.jsonl").write_text(json.dumps({"path": "model.joblib",
                                                                  "sha256": hashlib.sha256(g.read_bytes()).hexdigest()}) + "\n")
    with pytest.raises(DataError, match="not recorded here"):
        check_pickle_source(g)
    outside = tmp_path / "downloaded.joblib"
    shutil.copy(f, outside)
    with pytest.raises(DataError, match="outside any workspace"):
        check_pickle_source(outside)
    monkeypatch.setenv("MEDALIST_ALLOW_PICKLE", "1")
    check_pickle_source(outside)


def test_unrecorded_pickle_model_runs_nothing(ws_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MEDALIST_ALLOW_PICKLE", raising=False)
    df, ctx = _data()
    d = ws_root / "runs" / "r1" / "models" / "f0"
    m = create_model("sklearn:sklearn.linear_model.LogisticRegression").fit(df, None, ctx)
    m.save(d)
    meta = json.loads((d / "model.json").read_text())
    meta["format"] = "joblib"
    (d / "model.json").write_text(json.dumps(meta))
    canary = tmp_path / "canary"
    joblib.dump(Canary(canary), d / "model.joblib")
    with pytest.raises(DataError, match="not recorded here"):
        load_model(d)
    assert not canary.exists()


def test_skops_load_refuses_types_outside_the_allow_list(ws_root):
    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    df, ctx = _data()
    d = ws_root / "runs" / "r1" / "models" / "f0"
    create_model("sklearn:sklearn.ensemble.RandomForestClassifier", {"n_estimators": 3}).fit(df, None, ctx).save(d)
    assert json.loads((d / "model.json").read_text())["format"] == "skops"
    assert load_model(d).predict(df).shape == (120,)  # sklearn.tree._tree.Tree: on the list
    sio.dump(FunctionTransformer(func=os.system), d / "model.skops")
    with pytest.raises(DataError, match="posix.system"):
        load_model(d)


def test_skops_allow_list():
    types = ["sklearn.tree._tree.Tree", "numpy.dtype", "scipy.sparse._csr.csr_matrix", "posix.system", "builtins.eval",
             "__main__.Evil", "numpy.testing._private.utils.runstring", "sklearn.externals.x", "mypkg.models.Net"]
    assert skops_allowed(types) == (types[:3], types[3:])
    from medalist.core.safety import trusted

    assert skops_allowed(types, "mypkg.models:make")[0] == types[:3]  # an untrusted estimator package adds nothing
    with trusted(["mypkg"]):
        assert skops_allowed(types, "mypkg.models:make")[0] == types[:3] + ["mypkg.models.Net"]
    assert skops_allowed(["os.system"], "os:system") == ([], ["os.system"])  # a refused spec adds nothing


@pytest.mark.parametrize("cls,reason", [
    ("PatternHolder", "skops cannot write or read it back (TypeError"),
    ("DateHolder", "outside medalist's skops allow-list: datetime.date"),
])
def test_skops_fallback_is_a_warned_recorded_pickle(ws_root, monkeypatch, cls, reason):
    monkeypatch.delenv("MEDALIST_ALLOW_PICKLE", raising=False)
    df, ctx = _data()
    from medalist.core.safety import trusted

    d = ws_root / "runs" / "r1" / "models" / "f0"
    with trusted(["tests"]), warnings.catch_warnings(record=True) as w:  # the test module's estimators
        m = create_model(f"sklearn:{__name__}:{cls}", {}, preprocess=False).fit(df, None, ctx)
        warnings.simplefilter("always")
        m.save(d)
    msgs = [str(x.message) for x in w if issubclass(x.category, PickleFallbackWarning)]
    assert len(msgs) == 1 and reason in msgs[0] and "left out of bundles" in msgs[0], msgs
    assert not (d / "model.skops").exists() and json.loads((d / "model.json").read_text())["format"] == "joblib"
    assert "runs/r1/models/f0/model.joblib" in (ws_root / PICKLE_LEDGER).read_text()
    with trusted(["tests"]):
        np.testing.assert_allclose(load_model(d).predict(df), m.predict(df))
    other = ws_root.parent / "other"
    shutil.copytree(ws_root, other, ignore=shutil.ignore_patterns(".medalist"))
    with trusted(["tests"]), pytest.raises(DataError, match="not recorded here"):
        load_model(other / "runs" / "r1" / "models" / "f0")


def test_vision_weights_load_safetensors_or_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("safetensors")
    from safetensors.torch import save_file

    from medalist.vision.model import load_weights

    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    save_file(state, str(tmp_path / "weights.safetensors"))
    assert torch.equal(load_weights(tmp_path)["w"], state["w"])
    old = tmp_path / "old"
    old.mkdir()
    torch.save(state, old / "weights.pt")
    assert torch.equal(load_weights(old)["w"], state["w"])
    canary = tmp_path / "canary"
    torch.save({"w": Canary(canary)}, old / "weights.pt")
    with pytest.raises(DataError, match="tensors only"):
        load_weights(old)
    assert not canary.exists()
