"""Submissions: exact sample format, validation, local public/private scoring, the ledger."""

from __future__ import annotations

import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from medalist.core.errors import SubmissionError
from medalist.cv.runner import train
from medalist.kaggle.submit import read_ledger, submit, validate_submission
from medalist.metrics.registry import get_metric


@pytest.fixture(scope="module")
def trained(covid_template, tmp_path_factory):
    import shutil

    from medalist.workspace.paths import Workspace

    root = tmp_path_factory.mktemp("sub") / "covid"
    shutil.copytree(covid_template, root)
    ws = Workspace.open(root)
    run = train(ws, root / "configs" / "fast.yaml", tracking=False)
    return ws, run


def test_submission_matches_sample_and_scores_on_hidden_key(trained):
    ws, run = trained
    s = submit(ws, run.id, message="fast lgbm", local=True)
    sub, sample = pl.read_csv(s.file), pl.read_csv(ws.sample_submission_path)
    assert sub.columns == sample.columns and sub.height == sample.height
    assert sub.get_column("rownames").to_list() == sample.get_column("rownames").to_list()
    answers = pl.read_parquet(ws.answers_path).join(sub, on="rownames", suffix="_p")
    for usage, got in (("Public", s.public), ("Private", s.private)):
        part = answers.filter(pl.col("usage") == usage)
        assert got == pytest.approx(roc_auc_score(part["target"], part["target_p"]))
    assert 0.2 < answers.filter(pl.col("usage") == "Public").height / answers.height < 0.4
    assert s.public > 0.7 and s.private > 0.7  # the CV generalises to unseen patients
    ledger = read_ledger(ws)
    row = ledger.row(-1, named=True)
    assert row["run"] == run.id and row["cv"] == pytest.approx(run.cv) and row["message"] == "fast lgbm"


def test_external_file_is_validated_and_recorded(trained, tmp_path):
    ws, run = trained
    sample = pl.read_csv(ws.sample_submission_path)
    good = tmp_path / "mine.csv"
    sample.with_columns(pl.lit(0.1).alias("target")).write_csv(good)
    before = read_ledger(ws).height
    s = submit(ws, file=good, local=True)
    assert s.public == pytest.approx(0.5) and read_ledger(ws).height == before + 1


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda s: s.head(10), "rows"),
        (lambda s: s.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("target")).alias("target")), "missing"),
        (lambda s: s.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(float("nan")).otherwise(pl.col("target")).alias("target")), "NaN"),
        (lambda s: s.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(-5).otherwise(pl.col("rownames")).alias("rownames")), "unknown ids"),
        (lambda s: s.with_columns(pl.lit(1.5).alias("target")), r"\[0, 1\]"),
        (lambda s: s.select("target", "rownames"), "columns"),
        (lambda s: s.reverse(), "order"),
    ],
)
def test_validation_catches_bad_submissions(trained, mutate, match):
    ws, _ = trained
    sample = pl.read_csv(ws.sample_submission_path).with_columns(pl.lit(0.3).alias("target"))
    with pytest.raises(SubmissionError, match=match):
        validate_submission(mutate(sample), sample, id_col="rownames", task="binary", metric=get_metric("auc"))
