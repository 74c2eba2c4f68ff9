"""`medalist report`: one self-contained HTML file; opened in headless Chromium, plots rendered, no console errors."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from medalist.cli.app import app
from medalist.kaggle.submit import submit
from medalist.report.curves import curve_reading
from medalist.runs.store import list_runs
from tests.report import browser

runner = CliRunner()
ARTIFACTS = None


def _report(trained_ws):
    for r in list_runs(trained_ws):
        submit(trained_ws, r.id, message=f"try {r.id}", local=True)
    res = runner.invoke(app, ["report", "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_report_is_self_contained(trained_ws):
    info = _report(trained_ws)
    html = (trained_ws.root / "report.html").read_text()
    assert info["plots"] >= 10
    # nothing loaded from outside the file
    assert not re.search(r'<(script|link|img|iframe)[^>]+(src|href)="(https?:)?//', html)
    assert "cdn" not in html.lower()
    for plot in ("folds", "curves-fast-001", "confusion-fast-001", "roc-pr-fast-001", "calibration-fast-001",
                 "importance-fast-001", "cv-lb", "timeline", "confusion-lin-001"):
        assert f'data-plot="{plot}"' in html, plot
    assert 'data-verdict="' in html and "train curve: recomputed" in html
    # ids stay unique across the inline SVGs
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))


@pytest.mark.skipif(browser.find() is None, reason="Chromium + chromedriver not installed (apt-get install -y chromium chromium-driver)")
def test_report_renders_in_headless_chromium(trained_ws, tmp_path):
    pytest.importorskip("selenium", reason="pip install selenium")
    _report(trained_ws)
    page = trained_ws.root / "report.html"
    with browser.chromium() as drv:
        drv.get(page.as_uri())
        n_fig = drv.execute_script("return document.querySelectorAll('figure.plot').length")
        sizes = drv.execute_script("""
            return Array.from(document.querySelectorAll('figure.plot svg')).map(s => {
              const r = s.getBoundingClientRect();
              return [s.closest('figure').dataset.plot, r.width, r.height, s.querySelectorAll('path,use,line,rect,text').length];
            });""")
        sections = drv.execute_script("return Array.from(document.querySelectorAll('section')).map(s => s.id)")
        verdict = drv.execute_script("return document.querySelector('.reading').dataset.verdict")
        logs = drv.get_log("browser")
        shot = tmp_path / "report.png"
        drv.save_screenshot(str(shot))
    assert n_fig >= 10 and len(sizes) == n_fig
    for name, w, h, shapes in sizes:
        assert w > 100 and h > 80 and shapes > 5, (name, w, h, shapes)
    assert sections == ["leaderboard", "folds", "runs", "lb"]
    assert verdict in ("overfitting", "good fit", "underfitting")
    errors = [l for l in logs if l["level"] in ("SEVERE", "ERROR")]
    assert not errors, errors
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000
    keep = trained_ws.root.parent.parent / "report-screenshot.png"
    shutil.copy(shot, keep)


def test_curve_reading_rules():
    s = np.arange(1, 201)
    over = curve_reading(1 / s, 0.5 + (s - 60) ** 2 / 1e4, s, lower_is_better=True)
    assert over["verdict"] == "overfitting" and over["best_step"] == 60
    good = curve_reading(1 - 1 / s, 0.8 - 0.3 / s, s, lower_is_better=False)  # AUC-like, both rising
    assert good["verdict"] == "good fit"
    flat = curve_reading(np.full(200, 0.693), np.full(200, 0.693), s, lower_is_better=True)
    assert flat["verdict"] == "underfitting" and "bug" in flat["text"]
