"""The bad-input table: every mistake below exits 2 with one `error:` line that names the file,
column or key and says what was expected, what was found and how to fix it; no traceback; the
workspace is left byte-for-byte as it was (no run folder, no partial or temp file).

docs/errors.md lists the same cases (a test keeps the two in sync; regenerate it with
``python -m tests.reliability.test_bad_input_table > docs/errors.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.cli.test_bad_inputs import Result, check_error, snapshot
from tests.conftest import run_medalist

ID, TARGET, GROUP = "rownames", "target", "subject_id"
TRAIN, TEST = Path("data/train.csv"), Path("data/test.csv")
FAST = Path("configs/fast.yaml")
GOOD = "model: {name: lightgbm, params: {verbosity: -1}, num_boost_round: 20}\nthreads: 1\n"


@dataclass
class Case:
    id: str
    area: str
    what: str  # the mistake, as docs/errors.md lists it
    argv: list[str]
    names: tuple[str, ...]  # what the message must name
    setup: Callable[[Path], None] | None = None
    parts: tuple[str, ...] = ("expected", "found", "Fix:")


def cfg(text: str, name: str = "bad.yaml") -> Callable[[Path], None]:
    def write(root: Path) -> None:
        (root / "configs" / name).write_text(text)
    return write


def edit_yaml(file: str, **updates) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / file
        data = yaml.safe_load(path.read_text()) or {}
        for key, value in updates.items():
            *parents, last = key.split(".")
            node = data
            for p in parents:
                node = node.setdefault(p, {})
            node[last] = value
        path.write_text(yaml.safe_dump(data, sort_keys=False))
    return apply


def edit_csv(file: Path, fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        df = pl.read_csv(root / file, infer_schema_length=None)
        fn(df).write_csv(root / file)
    return apply


def first_row(col: str, value) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda df: df.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(pl.lit(value)).otherwise(pl.col(col)).alias(col))


def write_file(rel: str, content: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content)
    return apply


def both(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        for f in fns:
            f(root)
    return apply


def feat(block: str) -> Callable[[Path], None]:
    return cfg(GOOD + f"features:\n  - {block}\n")


def submission(fn: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        sample = pl.read_csv(root / "data" / "sample_submission.csv")
        fn(sample).write_csv(root / "sub.csv")
    return apply


TRAIN_BAD = ["train", "configs/bad.yaml"]

CASES = [
    # ---------------------------------------------------------------- experiment config
    Case("cfg-unknown-key", "config", "misspelt key in an experiment YAML", TRAIN_BAD, ("modle", "did you mean 'model'"),
         cfg("modle: {name: lightgbm}\n")),
    Case("cfg-unknown-model", "config", "unknown model name", TRAIN_BAD, ("lightgbn", "lightgbm"), cfg("model: {name: lightgbn}\n")),
    Case("cfg-seeds-type", "config", "seeds is not a list of integers", TRAIN_BAD, ("seeds",), cfg(GOOD + "seeds: abc\n")),
    Case("cfg-seeds-empty", "config", "empty seeds list", TRAIN_BAD, ("seeds",), cfg(GOOD + "seeds: []\n")),
    Case("cfg-yaml-syntax", "config", "YAML syntax error", TRAIN_BAD, ("bad.yaml", "valid YAML"), cfg("model: {name: lightgbm\n")),
    Case("cfg-yaml-python-tag", "config", "YAML with a python object tag", TRAIN_BAD, ("bad.yaml", "valid YAML"),
         cfg("model: !!python/object/apply:os.system ['true']\n")),
    Case("cfg-base-missing", "config", "base: names a missing file", TRAIN_BAD, ("base", "nope.yaml"), cfg("base: nope.yaml\n")),
    Case("cfg-base-cycle", "config", "base: inheritance cycle", TRAIN_BAD, ("base", "cycles"),
         both(cfg("base: b.yaml\n" + GOOD), cfg("base: bad.yaml\n", "b.yaml")), parts=("expected", "found")),
    Case("cfg-base-type", "config", "base: is not a file name", TRAIN_BAD, ("base", "False"), cfg("base: false\n")),
    Case("cfg-missing-file", "config", "experiment file does not exist", ["train", "configs/fsat.yaml"], ("configs/fsat.yaml", "no such file")),
    Case("cfg-override-no-equals", "config", "override without '='", ["train", "configs/fast.yaml", "model.params.lr"],
         ("model.params.lr", "KEY.SUBKEY=VALUE")),
    Case("cfg-override-into-scalar", "config", "override below a scalar", ["train", "configs/fast.yaml", "model.name.x=1"],
         ("model.name", "mapping")),
    Case("cfg-override-unknown-key", "config", "override of an unknown key", ["train", "configs/fast.yaml", "model.parms.x=1"],
         ("parms", "params")),
    Case("cfg-chunk-rows", "config", "predict.chunk_rows is not a positive integer", TRAIN_BAD, ("chunk_rows",),
         cfg(GOOD + "predict: {chunk_rows: -5}\n")),
    Case("cfg-transform-classification", "config", "target_transform on a classification task", TRAIN_BAD,
         ("target_transform", "'log1p' on a binary task"), cfg(GOOD + "target_transform: log1p\n")),
    Case("cfg-selection-column", "config", "model_selection_by names a missing column", TRAIN_BAD, ("column_known", "clinic_nam"),
         cfg(GOOD + "model_selection_by: {column_known: clinic_nam}\n")),
    # ---------------------------------------------------------------- competition config
    Case("comp-unknown-metric", "competition", "unknown metric in medalist.yaml", ["train", "configs/fast.yaml"],
         ("competition.metric", "acu", "auc"), edit_yaml("medalist.yaml", **{"competition.metric": "acu"})),
    Case("comp-dangerous-metric", "competition", "metric function pointing at os.system", ["train", "configs/fast.yaml"],
         ("os.system", "can run commands"), edit_yaml("medalist.yaml", **{"competition.metric": {"name": "os.system"}})),
    Case("comp-misspelt-id", "competition", "misspelt id column", ["train", "configs/fast.yaml"], ("rowname", "rownames"),
         edit_yaml("medalist.yaml", **{"competition.id": "rowname"})),
    Case("comp-misspelt-target", "competition", "misspelt target column", ["train", "configs/fast.yaml"], ("targte", "target"),
         edit_yaml("medalist.yaml", **{"competition.target": "targte"})),
    Case("comp-unknown-key", "competition", "misspelt key in medalist.yaml", ["train", "configs/fast.yaml"], ("metrc", "metric"),
         edit_yaml("medalist.yaml", **{"competition.metrc": "auc"})),
    Case("comp-regression-string-target", "competition", "regression task on a text target", ["train", "configs/fast.yaml"],
         ("target", "numeric"), both(edit_yaml("medalist.yaml", **{"competition.task": "regression", "competition.metric": "rmse"}),
                                      edit_csv(TRAIN, lambda d: d.with_columns(pl.col(TARGET).cast(pl.String) + "x")))),
    Case("comp-binary-three-classes", "competition", "binary task with three classes", ["train", "configs/fast.yaml"],
         ("target", "exactly 2 classes"), edit_csv(TRAIN, first_row(TARGET, 2))),
    # ---------------------------------------------------------------- data
    Case("data-train-missing", "data", "train file missing", ["train", "configs/fast.yaml"], ("train.csv", "no such file"),
         lambda r: (r / TRAIN).unlink()),
    Case("data-train-empty", "data", "train file of 0 bytes", ["train", "configs/fast.yaml"], ("train.csv", "empty file"),
         write_file("data/train.csv", "")),
    Case("data-train-header-only", "data", "train file with a header only", ["train", "configs/fast.yaml"], ("train.csv", "0 rows"),
         lambda r: (r / TRAIN).write_text((r / TRAIN).read_text().splitlines()[0] + "\n")),
    Case("data-duplicate-ids", "data", "duplicated ids in train", ["train", "configs/fast.yaml"], (ID, "unique ids"),
         edit_csv(TRAIN, lambda d: d.with_columns(pl.when(pl.int_range(pl.len()) == 1).then(pl.col(ID).first()).otherwise(pl.col(ID)).alias(ID)))),
    Case("data-target-missing-values", "data", "missing target values", ["train", "configs/fast.yaml"], (TARGET, "missing"),
         edit_csv(TRAIN, first_row(TARGET, None))),
    Case("data-test-lacks-feature", "data", "test file lacks a train feature", ["train", "configs/fast.yaml"], ("test.csv", "age"),
         edit_csv(TEST, lambda d: d.drop("age"))),
    Case("data-bad-extension", "data", "train file of an unsupported type", ["train", "configs/fast.yaml"], ("train.xlsx", ".csv"),
         both(write_file("data/train.xlsx", "x"), edit_yaml("medalist.yaml", **{"competition.data.train": "data/train.xlsx"}))),
    Case("data-use-missing-column", "data", "columns.use names a missing column", TRAIN_BAD, ("agee", "did you mean 'age'"),
         cfg(GOOD + "columns: {use: [agee]}\n")),
    Case("data-drop-missing-column", "data", "columns.drop names a missing column", TRAIN_BAD, ("pan_dayy", "pan_day"),
         cfg(GOOD + "columns: {drop: [pan_dayy]}\n")),
    Case("data-negative-weight", "data", "weight column with negative values", TRAIN_BAD, ("weight", "non-negative"),
         both(cfg(GOOD + "weight: age\n"), edit_csv(TRAIN, first_row("age", -3.0)))),
    # ---------------------------------------------------------------- folds
    Case("folds-missing", "folds", "train before folds exist", ["train", "configs/fast.yaml"], ("folds.parquet", "medalist folds"),
         lambda r: (r / "folds.parquet").unlink()),
    Case("folds-data-drift", "folds", "train target changed after the folds were made", ["train", "configs/fast.yaml"],
         ("train hash", "medalist folds --force"), edit_csv(TRAIN, lambda d: d.with_columns(
             pl.when(pl.int_range(pl.len()) == 0).then(1 - pl.col(TARGET)).otherwise(pl.col(TARGET)).alias(TARGET)))),
    Case("folds-other-ids", "folds", "train ids changed after the folds were made", ["train", "configs/fast.yaml"],
         (ID, "medalist folds --force"), edit_csv(TRAIN, first_row(ID, 10**7))),
    Case("folds-exist", "folds", "rebuilding folds without --force", ["folds", "--k", "5"], ("folds.parquet", "--force")),
    Case("folds-group-misspelt", "folds", "group column misspelt", ["folds", "--scheme", "group", "--group", "subjectid", "--force"],
         ("subjectid", "subject_id")),
    Case("folds-k-one", "folds", "fewer than 2 folds", ["folds", "--k", "1", "--force"], ("number of folds", "between 2")),
    Case("folds-unknown-scheme", "folds", "unknown folds scheme", ["folds", "--scheme", "stratifed", "--force"], ("stratifed", "stratified")),
    # ---------------------------------------------------------------- models
    Case("model-sklearn-unknown-class", "models", "unknown sklearn estimator name", TRAIN_BAD, ("RandomForest", "did you mean"),
         cfg("model: {name: 'sklearn:RandomForest'}\n")),
    Case("model-sklearn-no-module", "models", "sklearn path to a missing module", TRAIN_BAD, ("sklearn.linear_modle", "linear_model"),
         cfg("model: {name: 'sklearn:sklearn.linear_modle.Ridge'}\n")),
    Case("model-sklearn-os-system", "models", "sklearn path to os.system", TRAIN_BAD, ("os:system", "can run commands"),
         cfg("model: {name: 'sklearn:os:system', params: {command: 'true'}}\n")),
    # ---------------------------------------------------------------- features
    Case("feat-unknown-block", "features", "unknown feature block", TRAIN_BAD, ("features[0]", "group_ag", "group_agg"),
         feat("{block: group_ag, columns: [age], by: [clinic_name]}")),
    Case("feat-unknown-param", "features", "unknown block parameter", TRAIN_BAD, ("features[0].colums", "columns"),
         feat("{block: count_encode, colums: [age]}")),
    Case("feat-missing-column", "features", "block names a missing column", TRAIN_BAD, ("features[0]", "agee", "age"),
         feat("{block: group_agg, columns: [agee], by: [clinic_name]}")),
    Case("feat-target-in-static-block", "features", "target used by a static block", TRAIN_BAD, ("features[0]", "target_encode"),
         feat("{block: group_agg, columns: [target], by: [clinic_name]}")),
    Case("feat-lag-without-time", "features", "lag block without a time column", TRAIN_BAD, ("features[0]", "time"),
         feat("{block: lag, columns: [age], by: [subject_id]}")),
    Case("feat-oof-unknown-run", "features", "oof_feature of a run that does not exist", TRAIN_BAD, ("features[0].run", "lgbm-009"),
         feat("{block: oof_feature, run: lgbm-009}")),
    Case("feat-bad-sql", "features", "expr block with invalid SQL", TRAIN_BAD, ("features[0].sql",),
         feat("{block: expr, name: e, sql: 'age +* 2'}"), parts=("expected", "found")),
    Case("feat-custom-not-importable", "features", "custom block function not importable", TRAIN_BAD, ("features[0].function", "nowhere"),
         feat("{block: custom, function: 'nowhere.mod:fn'}")),
    Case("feat-custom-os-system", "features", "custom block pointing at os.system", TRAIN_BAD, ("features[0].function", "can run commands"),
         feat("{block: custom, function: 'os:system'}")),
    # ---------------------------------------------------------------- submission
    Case("sub-unknown-run", "submission", "submit a run that does not exist", ["submit", "fast-009", "--local"], ("fast-009",)),
    Case("sub-file-missing", "submission", "submission file does not exist", ["submit", "--file", "nope.csv", "--local"], ("nope.csv", "no such file")),
    Case("sub-wrong-columns", "submission", "submission with wrong columns", ["submit", "--file", "sub.csv", "--local"], ("sub.csv", "columns"),
         submission(lambda s: s.rename({s.columns[1]: "prediction"}))),
    Case("sub-missing-rows", "submission", "submission with missing rows", ["submit", "--file", "sub.csv", "--local"], ("sub.csv", "rows"),
         submission(lambda s: s.head(10))),
    Case("sub-nan", "submission", "submission with NaN predictions", ["submit", "--file", "sub.csv", "--local"], ("sub.csv", "NaN"),
         submission(lambda s: s.with_columns(pl.lit(float("nan")).alias(s.columns[1])))),
    Case("sub-out-of-range", "submission", "probabilities outside [0, 1]", ["submit", "--file", "sub.csv", "--local"], ("sub.csv", "[0, 1]"),
         submission(lambda s: s.with_columns(pl.lit(3.0).alias(s.columns[1])))),
    # ---------------------------------------------------------------- CLI arguments
    Case("cli-show-unknown-run", "cli", "show a run that does not exist", ["show", "fast-01"], ("fast-01",)),
    Case("cli-resume-unknown-run", "cli", "resume a run that does not exist", ["train", "configs/fast.yaml", "--resume", "fast-007"], ("fast-007",)),
    Case("cli-features-missing-config", "cli", "features of a missing config", ["features", "configs/nope.yaml"], ("configs/nope.yaml", "no such file")),
    Case("cli-list-unknown-kind", "cli", "list an unknown kind", ["list", "modles"], ("modles", "models")),
]


@pytest.fixture
def run_cli(monkeypatch, capsys):
    def run(*args: str) -> Result:
        return Result(*run_medalist(monkeypatch, capsys, *args))
    return run


def test_the_table_is_large_and_covers_every_area():
    assert len(CASES) >= 40
    assert {c.area for c in CASES} == {"config", "competition", "data", "folds", "models", "features", "submission", "cli"}
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, covid_ws, run_cli):
    root = covid_ws.root
    if case.setup:
        case.setup(root)
    before = snapshot(root)
    res = run_cli(*case.argv)
    check_error(res, *case.names, parts=case.parts)
    after = snapshot(root)
    assert not [p for p in after if p.endswith(".tmp")], "temp file left behind"
    assert after == before, f"workspace changed: {sorted(set(after.items()) ^ set(before.items()))}"


def render_docs() -> str:
    lines = ["# Errors medalist reports", "",
             "Every case below is a row of `tests/reliability/test_bad_input_table.py`: the CLI exits 2 with one",
             "`error:` line naming the file, column or key, what was expected, what was found and the fix; no",
             "traceback (`medalist --debug …` shows one) and nothing written.", ""]
    for area in dict.fromkeys(c.area for c in CASES):
        lines += [f"## {area}", "", "| case | mistake | command | the message names |", "|---|---|---|---|"]
        for c in (c for c in CASES if c.area == area):
            names = ", ".join(f"`{n}`" for n in c.names)
            lines.append(f"| `{c.id}` | {c.what} | `medalist {' '.join(c.argv)}` | {names} |")
        lines.append("")
    return "\n".join(lines)


def test_docs_errors_md_lists_every_case():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "errors.md").read_text()
    assert doc.strip() == render_docs().strip(), "docs/errors.md is stale: python -m tests.reliability.test_bad_input_table > docs/errors.md"


if __name__ == "__main__":
    print(render_docs())
