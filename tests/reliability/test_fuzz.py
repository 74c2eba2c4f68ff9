"""Fuzzing the inputs users type: experiment YAML, dotted overrides, submission files.

Whatever the input, the only exception allowed out is a MedalistError (which the CLI prints as one
line and exits 2). The default run is derandomized and bounded (a few hundred examples per target);
``-m slow`` runs many more with fresh randomness.
"""

from __future__ import annotations

import string
from pathlib import Path

import polars as pl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medalist.core.config import apply_overrides, load_experiment
from medalist.core.errors import MedalistError
from medalist.kaggle.submit import validate_submission
from medalist.metrics.registry import get_metric
from medalist.workspace.data import read_table

FAST = settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
LONG = settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))

KEYS = ["model", "name", "params", "columns", "use", "drop", "categorical", "seeds", "full_fit", "threads",
        "features", "block", "predict", "chunk_rows", "base", "weight", "note", "model_selection_by",
        "column_known", "num_boost_round", "early_stopping_rounds", "options", "lightgbm", "xgboost", "auto"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(KEYS))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)),
                      max_leaves=12)
configs = st.dictionaries(st.sampled_from(KEYS), values, max_size=6)


def _write(tmp: Path, text: str) -> Path:
    p = tmp / "exp.yaml"
    p.write_text(text)
    return p


def check_config_text(tmp: Path, text: str, overrides: list[str]) -> None:
    try:
        load_experiment(_write(tmp, text), overrides)
    except MedalistError:
        pass


@FAST
@given(cfg=configs, overrides=st.lists(st.text(max_size=30), max_size=3))
def test_config_loader_structured(tmp_path_factory, cfg, overrides):
    check_config_text(tmp_path_factory.mktemp("f"), yaml.safe_dump(cfg, allow_unicode=True), overrides)


@FAST
@given(text=st.text(alphabet=string.printable, max_size=200))
def test_config_loader_raw_text(tmp_path_factory, text):
    check_config_text(tmp_path_factory.mktemp("f"), text, [])


override_text = st.builds(lambda k, v: f"{k}={v}", st.lists(st.sampled_from(KEYS) | st.text(max_size=5), min_size=0, max_size=4).map(".".join),
                          st.text(max_size=20)) | st.text(max_size=30)


@FAST
@given(base=configs, overrides=st.lists(override_text, max_size=4))
def test_override_parser(base, overrides):
    try:
        apply_overrides(base, overrides)
    except MedalistError:
        pass


SAMPLE = pl.DataFrame({"id": [1, 2, 3, 4], "target": [0.5, 0.5, 0.5, 0.5]})
cells = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5), st.text(max_size=4))


@st.composite
def submissions(draw):
    cols = draw(st.lists(st.sampled_from(["id", "target", "pred", "", "ID"]), min_size=0, max_size=3, unique=True))
    n = draw(st.integers(0, 6))
    data = {c: draw(st.lists(cells, min_size=n, max_size=n)) for c in cols}
    try:
        return pl.DataFrame(data, strict=False)
    except Exception:
        return pl.DataFrame({c: [None if v is None else str(v) for v in vs] for c, vs in data.items()})


@FAST
@given(sub=submissions())
def test_submission_validator(sub):
    for metric in ("auc", "rmse", "accuracy"):
        try:
            validate_submission(sub, SAMPLE, id_col="id", task="binary", metric=get_metric(metric))
        except MedalistError:
            pass


@FAST
@given(raw=st.binary(max_size=300))
def test_submission_file_reader(tmp_path_factory, raw):
    p = tmp_path_factory.mktemp("s") / "sub.csv"
    p.write_bytes(raw)
    try:
        sub = read_table(p, what="submission")
        validate_submission(sub, SAMPLE, id_col="id", task="binary", metric=get_metric("auc"))
    except MedalistError:
        pass


@pytest.mark.slow
@LONG
@given(cfg=configs, overrides=st.lists(override_text, max_size=4), sub=submissions())
def test_long_fuzz_all_targets(tmp_path_factory, cfg, overrides, sub):
    check_config_text(tmp_path_factory.mktemp("f"), yaml.safe_dump(cfg, allow_unicode=True), overrides)
    try:
        validate_submission(sub, SAMPLE, id_col="id", task="binary", metric=get_metric("auc"))
    except MedalistError:
        pass


@pytest.mark.parametrize("override", ["A=", "Model=1", "TrackingConfig.x=1"])
def test_found_by_fuzzing_capitalised_unknown_keys(tmp_path, override):
    # a top-level key starting with a capital letter was mistaken for a pydantic union tag (IndexError)
    with pytest.raises(MedalistError, match="unknown key"):
        load_experiment(_write(tmp_path, "model: {name: lightgbm}\n"), [override])
