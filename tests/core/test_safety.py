"""The dotted-path allow-list (medalist.core.safety) and where trust comes from (medalist.yaml only)."""

from __future__ import annotations

import sys

import pytest
import sklearn.metrics as skm
from sklearn.linear_model import Ridge

from medalist.core.config import WorkspaceConfig, load_experiment, load_workspace_config
from medalist.core.errors import ConfigError
from medalist.core.safety import (
    check_dotted,
    check_params,
    check_resolved,
    check_trust_entry,
    current_trust,
    import_checked,
    restore_trust,
    set_trust,
    trusted,
)

COMP = {"competition": {"name": "c", "task": "binary", "metric": "auc", "id": "id", "target": "y"}}


@pytest.fixture(autouse=True)
def _restore_trust():
    previous = set_trust(current_trust())
    yield
    restore_trust(previous)


@pytest.mark.parametrize(("spec", "kind"), [
    ("sklearn.linear_model.Ridge", "estimator"), ("sklearn.ensemble:HistGradientBoostingClassifier", "estimator"),
    ("lightgbm.LGBMRegressor", "estimator"), ("xgboost:XGBClassifier", "estimator"), ("catboost.CatBoostRegressor", "estimator"),
    ("sklearn.metrics.log_loss", "metric"), ("sklearn.metrics:adjusted_rand_score", "metric"),
])
def test_modelling_code_resolves(spec, kind):
    module, attr = check_dotted(spec, where="w", kind=kind)
    assert check_resolved(getattr(import_checked(module), attr), spec, where="w", kind=kind).__name__ == attr


@pytest.mark.parametrize(("spec", "kind", "message"), [
    ("numpy.load", "any", "module 'numpy' can run commands"),
    ("my_pkg.models:Net", "estimator", r"add the line `trust: \[my_pkg\]` to the workspace's medalist.yaml"),
    ("sklearn.utils.fixes:parse_version", "any", "'utils' is not modelling code"),
    ("catboost.datasets:titanic", "estimator", "'datasets' is not modelling code"),
    ("lightgbm.dask:DaskLGBMClassifier", "estimator", "'dask' is not modelling code"),
    ("sklearn.linear_model.Ridge", "metric", "must come from sklearn.metrics, medalist.metrics"),
    ("sklearn.metrics.roc_auc_score", "feature", "must come from a module medalist.yaml trusts"),
    ("medalist.ensemble.blend:blend", "any", "not one of the modelling modules"),
    ("sklearn.linear_model:_base", "any", "private or dunder"),
    ("os system", "any", "'package.module:name'"),
])
def test_refused_before_import(spec, kind, message):
    before = set(sys.modules)
    with pytest.raises(ConfigError, match=message):
        check_dotted(spec, where="w", kind=kind)
    assert not {"my_pkg.models", "catboost.datasets", "lightgbm.dask"} & (set(sys.modules) - before)


def test_kind_checks_after_import():
    assert check_resolved(Ridge, "r", where="w", kind="estimator") is Ridge
    with pytest.raises(ConfigError, match="not an estimator class"):
        check_resolved(skm.r2_score, "r2", where="w", kind="estimator")  # a function is a factory only in trusted modules
    with pytest.raises(ConfigError, match=r"a function of \(X, Y, \.\.\.\), not \(y_true"):
        check_resolved(skm.pairwise.euclidean_distances, "e", where="w", kind="metric")
    with pytest.raises(ConfigError, match="builtins.print"):
        check_resolved(print, "sklearn.linear_model:print", where="w")
    with pytest.raises(ConfigError, match="is a module"):
        check_resolved(sys, "x:sys", where="w")
    import numpy as np

    with pytest.raises(ConfigError, match="numpy.*neither in"):
        check_resolved(np.load, "sklearn.linear_model:np.load", where="w")


def test_trusted_modules_and_their_limits(tmp_path, monkeypatch):
    (tmp_path / "team_feats.py").write_text(
        "import os\nfrom numpy import load\n"
        "def feat(frame, params):\n    return frame\n"
        "def score(a, b):\n    return 0.0\n"
        "def make(alpha=1.0):\n    from sklearn.linear_model import Ridge\n    return Ridge(alpha=alpha)\n")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "team_feats", raising=False)
    with trusted(["team_feats"], root=tmp_path):
        mod = import_checked(check_dotted("team_feats:feat", where="w", kind="feature")[0])
        assert sys.path[-1] == str(tmp_path)  # appended: installed packages keep precedence over workspace files
        for name, kind in [("feat", "feature"), ("score", "metric"), ("make", "estimator")]:
            check_dotted(f"team_feats:{name}", where="w", kind=kind)
            check_resolved(getattr(mod, name), name, where="w", kind=kind)
        with pytest.raises(ConfigError, match="'os' is a re-exported module"):
            check_dotted("team_feats:os.system", where="w")
        with pytest.raises(ConfigError, match="numpy.*neither in"):
            check_resolved(mod.load, "team_feats:load", where="w", kind="estimator")  # re-exported numpy.load
    monkeypatch.delitem(sys.modules, "team_feats")
    assert "team_feats" not in current_trust()
    with pytest.raises(ConfigError, match="not trusted"):
        check_dotted("team_feats:feat", where="w", kind="feature")


def test_trust_is_process_wide():
    """Set once (opening a workspace), seen by later notebook cells, tasks and threads alike."""
    import asyncio
    import threading

    async def open_workspace():
        set_trust(["cell_one_pkg"])

    asyncio.run(open_workspace())  # a task runs in a copy of the context: a context variable would be lost here
    seen = []
    t = threading.Thread(target=lambda: seen.append(current_trust()))
    t.start()
    t.join()
    assert seen == [("cell_one_pkg",)] and current_trust() == ("cell_one_pkg",)


@pytest.mark.parametrize("name", ["numpy", "os", "subprocess", "pandas.io", "torch", "sklearn", "medalist", "my pkg", "1abc"])
def test_trust_entries_are_own_modules(name):
    with pytest.raises(ValueError, match="module"):
        check_trust_entry(name)


def test_trust_lives_in_medalist_yaml_only(tmp_path):
    assert WorkspaceConfig.model_validate({**COMP, "trust": ["my_pkg", "team.features"]}).trust == ["my_pkg", "team.features"]
    (tmp_path / "medalist.yaml").write_text("competition: {name: c, task: binary, metric: auc, id: id, target: y}\ntrust: [pickle]\n")
    with pytest.raises(ConfigError, match="key 'trust'.*not 'pickle'"):
        load_workspace_config(tmp_path / "medalist.yaml")
    (tmp_path / "exp.yaml").write_text("model: {name: lightgbm}\ntrust: [my_pkg]\n")
    with pytest.raises(ConfigError, match="key 'trust'.*only in the workspace's medalist.yaml"):
        load_experiment(tmp_path / "exp.yaml")


def test_params_that_load_pickles_are_refused():
    assert check_params({"memory": None, "alpha": 1}, where="m") == {"memory": None, "alpha": 1}
    with pytest.raises(ConfigError, match=r"params\.steps__memory"):
        check_params({"steps__memory": "/tmp/cache"}, where="m")


def test_bases_stay_inside_the_workspace(tmp_path):
    ws = tmp_path / "ws"
    (ws / "configs" / "sub").mkdir(parents=True)
    (ws / "medalist.yaml").write_text("")
    (ws / "configs" / "common.yaml").write_text("model: {name: lightgbm}\n")
    (ws / "configs" / "sub" / "a.yaml").write_text("base: ../common.yaml\nnote: a\n")
    assert load_experiment(ws / "configs" / "sub" / "a.yaml")[0].model.name == "lightgbm"  # up, but still inside
    (tmp_path / "x.yaml").write_text("model: {name: lightgbm}\n")
    (ws / "configs" / "mid.yaml").write_text("base: ../../x.yaml\n")  # the escape is one base down the chain
    (ws / "configs" / "b.yaml").write_text("base: mid.yaml\n")
    with pytest.raises(ConfigError, match=r"mid.yaml: base: expected a YAML file inside the workspace"):
        load_experiment(ws / "configs" / "b.yaml")
    (tmp_path / "loose").mkdir()  # a config outside any workspace: bases stay in its folder
    (tmp_path / "loose" / "c.yaml").write_text("base: ../x.yaml\n")
    with pytest.raises(ConfigError, match="outside it"):
        load_experiment(tmp_path / "loose" / "c.yaml")


def test_config_dicts_from_elsewhere_are_checked_without_importing():
    from medalist.core.safety import check_config_paths

    ok = {"model": {"name": "sklearn:sklearn.linear_model.Ridge", "params": {"alpha": 1}},
          "features": [{"block": "custom", "function": "team_pkg:feat"}], "competition": {"metric": {"name": "sklearn.metrics.r2_score"}}}
    with trusted(["team_pkg"]):
        check_config_paths(ok, where="bundle/run/config.yaml")
    assert "team_pkg" not in sys.modules
    bad = [({**ok, "trust": ["x"]}, "key 'trust'"), ({"model": {"name": "sklearn:numpy.load"}}, "model.name.*numpy"),
           ({"model": {"name": "sklearn:sklearn.cluster.FeatureAgglomeration", "params": {"memory": "c"}}}, "params.memory"),
           ({"competition": {"metric": "evil_mod:score"}}, r"competition.metric.*trust: \[evil_mod\]"),
           (ok, r"features\[0\].function.*team_pkg")]
    for data, message in bad:
        with pytest.raises(ConfigError, match=message):
            check_config_paths(data, where="bundle/run/config.yaml")
