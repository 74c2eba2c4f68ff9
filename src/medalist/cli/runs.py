"""Commands about runs: ``medalist train``, ``features``, ``advval``, ``runs`` and ``show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from medalist.cli._shared import JsonOpt, console, print_json, train_with_progress
from medalist.cli._shared import fmt as _fmt
from medalist.cli._shared import print_frame as _print_frame
from medalist.cli._shared import workspace as _ws


def train(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (configs/lgbm.yaml).")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides: model.params.learning_rate=0.03")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Finish run RUN, keeping its finished folds.")] = None,
    note: Annotated[Optional[str], typer.Option("--note", "-m", help="A note stored with the run.")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Skip the tracker (MLflow or W&B, medalist.yaml tracking:) for this run.")] = False,
    executor: Annotated[Optional[str], typer.Option("--executor", help="Where folds run: local, ray or ray@ADDRESS (default: medalist.yaml executor:, else local).")] = None,
) -> None:
    """Run CV for an experiment config on the shared folds; write OOF, test predictions, metrics."""
    ws = _ws()
    run = train_with_progress(ws, config, overrides or [], resume=resume, note=note, tracking=not no_track, executor=executor)
    m = run.metrics
    console.print(f"[bold green]{run.id}[/]  CV {m['metric']} = {_fmt(m['oof'])}  (folds {_fmt(m['mean'])} ± {_fmt(m['std'])})  -> {run.path}")

def features(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with a features: list.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides, as for train.")] = None,
    run: Annotated[Optional[str], typer.Option(help="Run whose importance to show (default: the config's latest finished run).")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Print the optimized Polars plan of the static blocks and their cache hits.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Materialize an experiment's feature blocks on the data and summarize each new column
    (dtype, nulls, mean; split gain and its rank after a run). ``--explain``: the Polars query plan
    of the static blocks (one lazy query per run of consecutive blocks) and which blocks hit the cache."""
    from medalist.features import describe_features, explain_features

    if explain:
        got = explain_features(_ws(), config, overrides or [])
        if as_json:
            print_json({"config": str(config), **got})
            return
        for i, text in enumerate(got["queries"]):
            names = ", ".join(f"[{b['index']}] {b['block']}" for b in got["blocks"] if b["query"] == i)
            console.print(f"[bold]fused query {i}[/] computes {names}", highlight=False)
            console.print(text, highlight=False, markup=False, soft_wrap=True)
        table = Table(title=f"feature blocks of {config}")
        for c in ("#", "block", "scope", "cache", "query"):
            table.add_column(c)
        for b in got["blocks"]:
            table.add_row(str(b["index"]), b["block"], b["scope"], b["cache"] or "-", "-" if b["query"] is None else str(b["query"]))
        console.print(table)
        return
    summary = describe_features(_ws(), config, overrides or [], run=run)
    if as_json:
        print_json({"config": str(config), "features": summary.to_dicts()})
        return
    _print_frame(summary, f"features of {config}  ({summary.height} columns)")


def advval(
    config: Annotated[Optional[Path], typer.Argument(help="Experiment YAML whose columns/features to use (default: all features).")] = None,
    k: Annotated[int, typer.Option("--k", help="Number of CV folds of the train-vs-test classifier.")] = 5,
    drop: Annotated[Optional[list[str]], typer.Option("--drop", help="Feature to leave out (repeatable).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Adversarial validation: how well can LightGBM tell test rows from train rows, and by which features?"""
    from medalist.cv.advval import adversarial_validation

    res = adversarial_validation(_ws(), config, k=k, drop=drop or [])
    if as_json:
        print_json(res.summary())
        return
    table = Table(title=f"most shifted features (advval, {res.n_train} train vs {res.n_test} test rows)")
    for c in ("feature", "importance", "drift", "test", "p-value"):
        table.add_column(c, justify="left" if c in ("feature", "test") else "right")
    for r in res.importance.head(15).iter_rows(named=True):
        table.add_row(r["feature"], _fmt(r["gain_share"], 3), _fmt(r["drift_stat"], 3), r["drift"] or "-", _fmt(r["drift_p"], 3))
    console.print(table)
    color = "green" if res.verdict == "alike" else "yellow" if res.verdict == "mild shift" else "red"
    if res.left_out:
        console.print(f"left out (not in test, or list/nested values): {', '.join(res.left_out)}")
    console.print(f"train vs test AUC = [bold {color}]{res.auc:.4f}[/] ({res.verdict})  -> {res.path}")

def runs(as_json: JsonOpt = False) -> None:
    """List runs: id, model, CV, fold std, time, folds hash, note. A CV scored with another metric than
    medalist.yaml's is marked stale (`--json`: `"stale": true`); `medalist submit` re-scores it."""
    from medalist.runs.rescore import current_metric_name
    from medalist.runs.store import list_runs

    ws = _ws()
    current = current_metric_name(ws)
    rows = [r.summary(current) for r in list_runs(ws)]
    if as_json:
        print_json({"metric": current, "runs": rows})
        return
    table = Table(title="runs")
    for c in ("id", "model", "status", "metric", "CV", "mean", "std", "seconds", "folds hash", "note"):
        table.add_column(c, justify="right" if c in ("CV", "mean", "std", "seconds") else "left")
    for r in rows:
        metric = str(r["metric"] or "-") + (" [yellow](stale)[/]" if r["stale"] else "")
        table.add_row(r["id"], str(r["model"]), str(r["status"]), metric, _fmt(r["cv"]), _fmt(r["mean"]),
                      _fmt(r["std"]), _fmt(r["seconds"], 1), str(r["folds_hash"]), r["note"] or "")
    console.print(table)
    stale = [r["id"] for r in rows if r["stale"]]
    if stale:
        console.print(f"[yellow]stale CV[/]: {', '.join(stale)} scored with another metric than medalist.yaml's "
                      f"'{current}'; `medalist submit RUN` re-scores the OOF with '{current}'", highlight=False)


def show(run: Annotated[str, typer.Argument(help="Run id, e.g. lgbm-001.")], as_json: JsonOpt = False) -> None:
    """Show one run: config, per-fold scores, top features."""
    from medalist.runs.store import Run

    r = Run.open(_ws(), run)
    m, rec = r.metrics, r.record
    imp = r.importance()
    if as_json:
        print(json.dumps({"info": rec.to_json(), "metrics": m, "config": r.config,
                          "importance": imp.head(30).to_dicts() if imp is not None else None}, default=str))
        return
    tt = (rec.model_extra or {}).get("target_transform")
    console.print(f"[bold]{r.id}[/]  model={rec.model}  status={rec.status}  folds={rec.folds_hash}  seeds={rec.seeds}"
                  + (f"  target_transform={tt}" if tt else ""))
    if m:
        table = Table(title=f"{m['metric']} per fold")
        for c in ("repeat", "fold", "score", "best iters", "stopped on", "seconds", "n_valid"):
            table.add_column(c, justify="right")
        for f in m["folds"]:
            es = f.get("early_stopping") or {}
            stop = f"{es['split']}, {es['metric']}" if es.get("split") not in (None, "off") else ""
            table.add_row(str(f["repeat"]), str(f["fold"]), _fmt(f["score"]), str(f.get("best_iterations")), stop,
                          _fmt(f["seconds"], 1), str(f["n_valid"]))
        console.print(table)
        console.print(f"OOF {m['metric']} = {_fmt(m['oof'])}; mean ± std = {_fmt(m['mean'])} ± {_fmt(m['std'])}")
        if m.get("in_sample") is not None:  # a fitted blend or a selected stack: nested CV beside the in-sample score
            console.print(f"nested CV = {_fmt(m.get('nested', m['oof']))}  (in-sample best {_fmt(m['in_sample'])}, "
                          "chosen on the rows it scores: optimistic)")
        if m.get("cv_scope"):
            console.print(f"[yellow]{m['cv_scope']}[/]")
        if m.get("selection"):  # image/signal runs: the epoch each fold kept
            sel = m["selection"]
            opt = sel.get("optimism_mean")
            console.print(f"epoch selection: {sel['select']} on {sel['split']} rows, kept epochs {sel['selected_epochs']}"
                          + (f"; optimism of choosing on the scoring fold {opt:+.4g} (mean)" if opt is not None else ""))
    if imp is not None:
        _print_frame(imp.head(15), "feature importance (gain)")


def graph(runs: Annotated[list[str], typer.Argument(help="Run ids, e.g. blend-hill-climb-001.")], as_json: JsonOpt = False) -> None:
    """What the runs were made from, upstream first: oof_feature runs and blend/stack members (needed to
    re-predict), pseudo-label runs (training only), joined tables and per-fold blocks."""
    from medalist.runs.graph import build_graph

    g = build_graph(_ws().runs_dir, list(runs))
    if as_json:
        print_json(g.as_dict())
        return
    for rid in g.order:
        n = g.nodes[rid]
        line = f"[bold]{rid}[/] ({n.model}, {n.kind})"
        if n.predict_from:
            line += f"  <- predictions of {', '.join(n.predict_from)}"
        console.print(line)
        for label, items in (("trained with", n.trained_with), ("joins", n.tables), ("in-fold blocks", n.in_fold),
                             ("custom blocks", n.custom)):
            if items:
                console.print(f"    {label}: {', '.join(items)}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": False})(train)
    app.command("features")(features)
    app.command("advval")(advval)
    app.command("runs")(runs)
    app.command("show")(show)
    app.command("graph")(graph)
