"""model_selection_by: column-known (ISIC's hospital train/serve skew): two variants per fold, each row
predicted by the full model when its category was seen in the fit's train rows, by the reduced one otherwise."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from medalist.core.errors import ConfigError
from medalist.cv.runner import train
from medalist.workspace.folds import build_folds

BASE = """\
model:
  name: lightgbm
  params: {learning_rate: 0.1, num_leaves: 15, min_child_samples: 20, verbosity: -1, deterministic: true}
  early_stopping_rounds: 20
  num_boost_round: 200
threads: 1
seeds: [42]
"""
FEATURES = "features:\n  - {block: group_agg, columns: [age], by: [[clinic_name]], stats: [mean]}\n"


def write(ws, name: str, text: str):
    path = ws.root / "configs" / name
    path.write_text(text)
    return path


@pytest.fixture
def clinic_ws(covid_ws):
    # folds grouped by clinic: every validation row's clinic is unseen by its fold model
    # (the "unknown hospital" case); test clinics are mostly seen in train
    build_folds(covid_ws, scheme="group", k=3, group="clinic_name", force=True)
    return covid_ws


def test_rows_take_the_full_model_when_known_and_the_reduced_one_otherwise(covid_ws):
    ws = covid_ws
    full = train(ws, write(ws, "full.yaml", BASE + FEATURES))
    reduced = train(ws, write(ws, "red.yaml", BASE + FEATURES.replace("clinic_name", "demo_group")
                              + "columns: {drop: [clinic_name]}\n"))
    sel = train(ws, write(ws, "sel.yaml", BASE + FEATURES.replace("clinic_name", "demo_group")
                          + "model_selection_by: {column_known: clinic_name, drop: [clinic_name]}\n"))
    # the reduced variant of 'sel' is exactly run 'reduced'; 'sel's full variant keeps clinic_name
    oof_r = reduced.oof()["pred"].to_numpy()
    oof_s = sel.oof()["pred"].to_numpy()
    train_df = pl.read_csv(ws.train_path)
    known = np.zeros(len(oof_s), dtype=bool)
    fold = sel.oof()["fold"].to_numpy()
    clinics = train_df["clinic_name"].to_numpy()
    for f in np.unique(fold):
        seen = set(clinics[fold != f])
        known[fold == f] = [c in seen for c in clinics[fold == f]]
    assert 0 < (~known).sum() < len(known)  # both paths are exercised
    np.testing.assert_allclose(oof_s[~known], oof_r[~known])
    assert not np.allclose(oof_s[known], oof_r[known])
    m = json.loads((sel.path / "metrics.json").read_text())["model_selection_by"]
    assert m["column_known"] == "clinic_name" and 0 < m["valid_known_share"] < 1
    assert (sel.path / "models" / "r0_f0_s42_unknown").is_dir()
    del full


def test_default_drop_is_the_column_and_features_made_from_it(clinic_ws):
    ws = clinic_ws
    run = train(ws, write(ws, "sel.yaml", BASE + FEATURES + "model_selection_by: {column_known: clinic_name}\nfull_fit: true\n"))
    m = json.loads((run.path / "metrics.json").read_text())
    assert m["model_selection_by"]["valid_known_share"] == 0.0  # clinic folds: never known in CV
    assert m["model_selection_by"]["test_known_share"] > 0.5
    # with clinic folds, OOF comes from the reduced model only: it equals a run without clinic features
    red = train(ws, write(ws, "red.yaml", BASE + "columns: {drop: [clinic_name]}\n"))
    np.testing.assert_allclose(run.oof()["pred"].to_numpy(), red.oof()["pred"].to_numpy())
    assert (run.path / "models" / "full_s42_unknown").is_dir()


@pytest.mark.parametrize("extra, match", [
    ("model_selection_by: {column_known: clinic_nam}\n", r"column_known.*no column 'clinic_nam'.*did you mean 'clinic_name'"),
    ("model_selection_by: {column_known: clinic_name, drop: [agee]}\n", r"drop.*'agee'.*did you mean 'age'"),
    ("columns: {drop: [clinic_name]}\nmodel_selection_by: {column_known: subject_id}\n", r"no feature is 'subject_id'"),
])
def test_bad_selection_is_refused_before_anything_is_written(covid_ws, extra, match):
    with pytest.raises(ConfigError, match=match):
        train(covid_ws, write(covid_ws, "bad.yaml", BASE + extra))
    assert not any(covid_ws.runs_dir.glob("bad-*"))
