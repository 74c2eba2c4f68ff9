"""The ISIC-shaped local competition: its split, images, hidden answers and configs are what the docstring says,
and its metadata carries the patient-relative signal it was built with."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import polars as pl
import pytest
import yaml

from medalist.core.config import ExperimentConfig, validate
from medalist.core.errors import ConfigError
from medalist.datasets.fashion import FASHION_DIR, load_fashion_mnist
from medalist.datasets.isic import (
    HOSPITALS,
    NEGATIVE_CLASS,
    POSITIVE_CLASS,
    TEST_ONLY_HOSPITALS,
    isic_configs,
    make_isic_workspace,
)

pytestmark = pytest.mark.skipif(not (FASHION_DIR / "train-images-idx3-ubyte.gz").is_file(),
                                reason="Fashion-MNIST missing: apt-get install -y dataset-fashion-mnist")

COLUMNS = ["isic_id", "patient_id", "age_approx", "sex", "anatom_site", "clin_size_long_diam_mm",
           "tbp_lv_deltaLBnorm", "tbp_lv_norm_border", "attribution", "target"]


@pytest.fixture(scope="module")
def isic(tmp_path_factory):
    ws = make_isic_workspace(tmp_path_factory.mktemp("isic") / "isic", n_train=900, n_test=300, seed=3)
    return ws, pl.read_csv(ws.train_path), pl.read_csv(ws.test_path)


def test_split_sizes_columns_and_hidden_answers(isic):
    ws, train, test = isic
    assert train.columns == COLUMNS and test.columns == COLUMNS[:-1]
    assert (train.height, test.height) == (900, 300)
    assert set(train["attribution"]) == set(HOSPITALS) - set(TEST_ONLY_HOSPITALS)
    assert set(test["attribution"]) == set(HOSPITALS)
    assert test["attribution"].is_in(list(TEST_ONLY_HOSPITALS)).sum() == 120  # 40% of test
    assert not set(train["patient_id"]) & set(test["patient_id"])  # test patients are new patients
    assert train.group_by("patient_id").len()["len"].mean() > 3
    assert 0.10 <= train["target"].mean() <= 0.20
    answers = pl.read_parquet(ws.answers_path)
    assert answers["isic_id"].to_list() == test["isic_id"].to_list()
    assert set(answers["usage"]) == {"Public", "Private"} and answers["target"].is_in([0, 1]).all()
    assert pl.read_csv(ws.path(ws.competition.data.sample_submission))["isic_id"].to_list() == test["isic_id"].to_list()
    assert (ws.competition.task, ws.competition.metric, ws.competition.id) == ("binary", "pauc", "isic_id")


def test_folds_are_grouped_by_patient(isic):
    ws, train, _ = isic
    folds = pl.read_parquet(ws.folds_path).join(train.select("isic_id", "patient_id"), on="isic_id")
    assert folds.height == train.height and folds["fold"].n_unique() == 3
    assert folds.group_by("patient_id").agg(pl.col("fold").n_unique())["fold"].max() == 1


def test_positive_rows_show_shirts_and_negative_rows_tshirts(isic):
    from PIL import Image

    ws, train, _ = isic
    x, y = load_fashion_mnist("train")

    def digest(a: np.ndarray) -> str:
        return hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()

    by_class = {c: {digest(img) for img in x[y == c]} for c in (POSITIVE_CLASS, NEGATIVE_CLASS)}
    answers = pl.read_parquet(ws.answers_path)
    rows = pl.concat([train.select("isic_id", "target"), answers.select("isic_id", "target")])
    seen = set()
    for rid, target in rows.iter_rows():
        img = np.asarray(Image.open(io.BytesIO((ws.root / "data" / "images" / f"{rid}.png").read_bytes())))
        h = digest(img)
        assert h in by_class[POSITIVE_CLASS if target else NEGATIVE_CLASS], rid
        seen.add(h)
    assert len(seen) == rows.height  # every row its own image


def test_lesions_stand_out_against_their_patients_other_lesions(isic):
    from sklearn.metrics import roc_auc_score

    _, train, test = isic
    both = pl.concat([train.drop("target"), test])
    dev = both.with_columns((pl.col("clin_size_long_diam_mm") - pl.col("clin_size_long_diam_mm").mean().over("patient_id")).alias("dev"))
    t = train.join(dev.select("isic_id", "dev"), on="isic_id")
    raw_auc = roc_auc_score(t["target"], t["clin_size_long_diam_mm"])
    dev_auc = roc_auc_score(t["target"], t["dev"])
    # measured (seed 3): AUC of the raw size 0.714, of the size relative to the patient's mean 0.892
    assert dev_auc > raw_auc + 0.12, (raw_auc, dev_auc)
    assert roc_auc_score(t["target"], t["age_approx"]) > 0.58  # older patients carry more risk (0.630)
    assert abs(roc_auc_score(t["target"], t["sex"] == "male") - 0.5) < 0.05  # sex carries none (0.499)


def test_same_seed_same_competition(tmp_path):
    a = make_isic_workspace(tmp_path / "a", n_train=120, n_test=40, seed=5)
    b = make_isic_workspace(tmp_path / "b", n_train=120, n_test=40, seed=5)
    c = make_isic_workspace(tmp_path / "c", n_train=120, n_test=40, seed=6)
    assert a.train_path.read_bytes() == b.train_path.read_bytes() != c.train_path.read_bytes()
    png = "data/images/" + pl.read_csv(a.train_path)["isic_id"][0] + ".png"
    assert (a.root / png).read_bytes() == (b.root / png).read_bytes()


def test_chain_configs_are_valid_experiments_wired_to_the_image_run():
    cfgs = {k: validate(ExperimentConfig, yaml.safe_load(v), k) for k, v in isic_configs("image-042").items()}
    assert cfgs["image.yaml"].model.name == "timm_image" and cfgs["image.yaml"].model.params["pretrained"] is False
    lgbm, xgb = cfgs["lgbm.yaml"], cfgs["xgb.yaml"]
    for cfg in (lgbm, xgb):
        oof = [f for f in cfg.features if f["block"] == "oof_feature"]
        assert oof == [{"block": "oof_feature", "run": "image-042", "name": "image_rank", "rank": True}]
    assert lgbm.model_selection_by.column_known == "attribution"
    assert {f["block"] for f in lgbm.features} >= {"target_encode", "group_agg", "oof_feature"}
    assert xgb.model.name == "xgboost" and xgb.columns.drop == ["attribution"] and "attribution" not in str(xgb.features)


@pytest.mark.parametrize("n_train, n_test", [(60, 40), (300, 5)])
def test_too_few_rows_is_a_config_error(tmp_path, n_train, n_test):
    with pytest.raises(ConfigError, match="n_train >= 90"):
        make_isic_workspace(tmp_path / "x", n_train=n_train, n_test=n_test)
    assert not (tmp_path / "x").exists()
