"""Config loading: inheritance, overrides, unknown keys with did-you-mean."""

from __future__ import annotations

import pytest

from medalist.core.config import apply_overrides, load_experiment
from medalist.core.errors import ConfigError


def _write(path, text):
    path.write_text(text)
    return path


def test_base_inheritance_deep_merges_and_overrides_win(tmp_path):
    _write(tmp_path / "a.yaml", "model: {name: lightgbm, params: {num_leaves: 31, learning_rate: 0.1}}\nseeds: [1]\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\nmodel: {params: {learning_rate: 0.05}}\nnote: child\n")
    cfg, resolved = load_experiment(tmp_path / "b.yaml", ["model.params.learning_rate=0.03", "full_fit=true"])
    assert cfg.model.params == {"num_leaves": 31, "learning_rate": 0.03}
    assert cfg.seeds == [1] and cfg.note == "child" and cfg.full_fit is True
    assert resolved["model"]["early_stopping_rounds"] == 100  # defaults are part of the saved config
    assert "base" not in resolved


def test_base_cycle_is_an_error(tmp_path):
    _write(tmp_path / "a.yaml", "base: b.yaml\nmodel: {name: lightgbm}\n")
    _write(tmp_path / "b.yaml", "base: a.yaml\n")
    with pytest.raises(ConfigError, match="cycles"):
        load_experiment(tmp_path / "a.yaml")


def test_missing_base_names_the_file(tmp_path):
    _write(tmp_path / "a.yaml", "base: nope.yaml\nmodel: {name: lightgbm}\n")
    with pytest.raises(ConfigError, match="nope.yaml"):
        load_experiment(tmp_path / "a.yaml")


@pytest.mark.parametrize(
    "override,key,suggestion",
    # model.early_stopping (the section) is now the closest key to 'earlystopping' (was early_stopping_rounds)
    [("modle.name=x", "modle", "model"), ("model.earlystopping=3", "model.earlystopping", "early_stopping"),
     ("model.early_stoping_rounds=3", "model.early_stoping_rounds", "early_stopping_rounds"),
     ("columns.dorp=[a]", "columns.dorp", "drop")],
)
def test_unknown_keys_suggest_the_right_one(tmp_path, override, key, suggestion):
    _write(tmp_path / "a.yaml", "model: {name: lightgbm}\n")
    with pytest.raises(ConfigError) as e:
        load_experiment(tmp_path / "a.yaml", [override])
    msg = str(e.value)
    assert f"'{key}'" in msg and f"did you mean '{suggestion}'" in msg and "a.yaml" in msg


def test_wrong_type_names_key_and_value(tmp_path):
    _write(tmp_path / "a.yaml", "model: {name: lightgbm}\nseeds: abc\n")
    with pytest.raises(ConfigError, match=r"seeds.*'abc'"):
        load_experiment(tmp_path / "a.yaml")


def test_override_values_are_yaml_and_bad_syntax_is_explained():
    assert apply_overrides({}, ["a.b=[1, 2]", "c=true", "d=0.5", "e=text"]) == {"a": {"b": [1, 2]}, "c": True, "d": 0.5, "e": "text"}
    with pytest.raises(ConfigError, match="KEY.SUBKEY=VALUE"):
        apply_overrides({}, ["model.params.learning_rate"])
