"""CLI commands for ensembles and tuning: blend, stack, tune, compare, auto.

Thin over ``medalist.ensemble``, ``medalist.tuning.tune``, ``medalist.cv.compare`` and ``medalist.ensemble.auto``; heavy
libraries (optuna, torch) are imported inside the command bodies so ``medalist --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from medalist.cli import _shared as cli
from medalist.cli._shared import JsonOpt, print_json

Runs = Annotated[list[str], typer.Argument(help="Finished run ids on the same folds, e.g. lgbm-001 xgb-001.")]
NameOpt = Annotated[Optional[str], typer.Option("--name", help="Stem of the new run id (default: blend-METHOD / stack-META).")]
NoteOpt = Annotated[str, typer.Option("--note", "-m", help="A note stored with the run.")]
NoTrackOpt = Annotated[bool, typer.Option("--no-track", help="Skip the tracker (MLflow or W&B, medalist.yaml tracking:) for this run.")]


def _tracking_warning(run) -> None:
    """A tracker that was down did not fail the run; say so on stderr (the record keeps it too)."""
    if run.record.tracking_error:
        from rich.markup import escape

        cli.err_console.print(f"[bold yellow]warning:[/] {escape(run.record.tracking_error)}", highlight=False, soft_wrap=True)


def _weights_line(weights: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.3f}" for k, v in weights.items() if v)


def blend_cmd(
    runs: Runs,
    method: Annotated[str, typer.Option("--method", help="mean, rank, power, weighted (SciPy) or hill-climb (Caruana); rank and power: classification only (rank not multiclass).")] = "hill-climb",
    power: Annotated[float, typer.Option("--power", help="Exponent of --method power.")] = 2.0,
    name: NameOpt = None,
    note: NoteOpt = "",
    no_track: NoTrackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Blend finished runs; fitted weights are scored nested (fitted on the other folds) beside in-sample."""
    from medalist.ensemble import blend

    run = blend(cli.workspace(), runs, method, power=power, name=name, note=note, tracking=not no_track)
    _tracking_warning(run)
    m = run.metrics
    res = {"run": run.id, "method": method, "metric": m["metric"], "cv": m["oof"], "nested": m["nested"],
           "in_sample": m["in_sample"], "weights": m["weights"], "fold_weights": m["fold_weights"], "path": str(run.path)}
    if as_json:
        print_json(res)
        return
    honest = "nested CV" if m["fold_weights"] else "CV"
    cli.console.print(f"[bold green]{run.id}[/]  {honest} {m['metric']} = {cli.fmt(m['nested'])}  "
                    f"(in-sample {cli.fmt(m['in_sample'])}; folds {cli.fmt(m['mean'])} ± {cli.fmt(m['std'])})")
    cli.console.print(f"weights: {_weights_line(m['weights'])}  -> {run.path}")


def stack_cmd(
    runs: Runs,
    meta: Annotated[Optional[str], typer.Option("--meta", help="logistic, ridge, lightgbm or conv1x3 (torch); default: ridge for regression, logistic otherwise.")] = None,
    with_features: Annotated[bool, typer.Option("--with-features", help="Give the meta model the raw features too.")] = False,
    select: Annotated[Optional[str], typer.Option("--select", help="'optuna': let Optuna choose which runs enter the stack and the meta model's hyperparameters (nested: the CV is scored on folds the choice never saw).")] = None,
    trials: Annotated[int, typer.Option("--trials", help="Optuna trials of --select optuna.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the meta model and of the selection.")] = 42,
    threads: Annotated[int, typer.Option("--threads", help="Threads of the meta model.")] = 1,
    name: NameOpt = None,
    note: NoteOpt = "",
    no_track: NoTrackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Stack finished runs: a meta model trained with the same folds on their OOF predictions."""
    from medalist.ensemble import stack

    run = stack(cli.workspace(), runs, meta, with_features=with_features, select=select, trials=trials, seed=seed,
                threads=threads, name=name, note=note, tracking=not no_track)
    _tracking_warning(run)
    m = run.metrics
    res = {"run": run.id, "meta": (m.get("stack") or {}).get("meta", meta), "metric": m["metric"], "cv": m["oof"], "mean": m["mean"], "std": m["std"],
           "members": run.record.members, "stack": m.get("stack"), "in_sample": m.get("in_sample"),
           "scored_folds": m.get("scored_folds"), "path": str(run.path)}
    if as_json:
        print_json(res)
        return
    honest = "nested CV" if m.get("nested") is not None else "CV"
    cli.console.print(f"[bold green]{run.id}[/]  {honest} {m['metric']} = {cli.fmt(m['oof'])}  (folds {cli.fmt(m['mean'])} ± {cli.fmt(m['std'])})"
                    f"  members: {', '.join(run.record.members or [])}  -> {run.path}")
    if m.get("in_sample") is not None:
        cli.console.print(f"in-sample best of the selection: {cli.fmt(m['in_sample'])} (optimistic: chosen on the rows it scores)")
    if m.get("cv_scope"):
        cli.console.print(f"[yellow]{m['cv_scope']}[/]")


def tune_cmd(
    config: Annotated[Optional[Path], typer.Argument(help="Experiment YAML with a tune: block.")] = None,
    trials: Annotated[int, typer.Option("--trials", help="Trials of the study (all workers together).")] = 20,
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Stop this process after S seconds.")] = None,
    storage: Annotated[Optional[str], typer.Option("--storage", help="Optuna storage URL (default: sqlite optuna.db in the workspace); postgresql://... to share a study across machines.")] = None,
    study: Annotated[Optional[str], typer.Option("--study", help="Study name (default: the config's name).")] = None,
    worker: Annotated[bool, typer.Option("--worker", help="Join the study as one more worker; the best config is written by the process that is not a worker.")] = False,
    dashboard: Annotated[bool, typer.Option("--dashboard", help="Print the optuna-dashboard command for the storage and exit.")] = False,
    parallel: Annotated[int, typer.Option("--parallel", help="Trials at once in this process (with --executor ray, their folds run on the cluster).")] = 1,
    executor: Annotated[Optional[str], typer.Option("--executor", help="Where trials' folds run: local, ray or ray@ADDRESS (default: medalist.yaml executor:).")] = None,
    no_track: NoTrackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Optuna search over the config's tune: space; every trial is a run, pruned on per-fold scores."""
    from medalist.core.errors import ConfigError
    from medalist.tuning.tune import dashboard_command, tune

    ws = cli.workspace()
    if dashboard:
        cmd = dashboard_command(ws, storage)
        print(json.dumps({"command": cmd}) if as_json else cmd)
        return
    if config is None:
        raise ConfigError("medalist tune", expected="a CONFIG argument", found="nothing", fix="medalist tune configs/lgbm.yaml --trials 50")

    def progress(t: dict) -> None:
        if not as_json:
            cli.err_console.print(f"trial {t['number']}: {t['state']}  value={cli.fmt(t.get('value'))}  run={t.get('run')}")

    res = tune(ws, config, n_trials=trials, timeout=timeout, storage=storage, study_name=study, worker=worker,
               tracking=not no_track, on_trial=progress, parallel=parallel, executor=executor)
    if as_json:
        print_json(res.summary())
        return
    s = res.summary()
    cli.console.print(f"study [bold]{s['study']}[/] ({s['storage']}): {s['complete']} complete, {s['pruned']} pruned, {s['failed']} failed")
    if s["best_value"] is not None:
        cli.console.print(f"best {s['metric']} = {cli.fmt(s['best_value'])}  run {s['best_run']}  params {s['best_params']}")
    if s.get("best_config"):
        cli.console.print(f"best config -> {s['best_config']}  (medalist train {s['best_config']})")


def compare_cmd(
    a: Annotated[str, typer.Argument(help="Baseline run id.")],
    b: Annotated[str, typer.Argument(help="Candidate run id.")],
    seeds: Annotated[int, typer.Option("--seeds", help="Retrain A's config with this many extra seeds to measure the noise (0: use runs from --noise or earlier replicas).")] = 2,
    noise: Annotated[Optional[list[str]], typer.Option("--noise", help="Run that repeats A with another seed (repeatable).")] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Level of the corrected t-test and of the repeats-needed estimate.")] = 0.05,
    as_json: JsonOpt = False,
) -> None:
    """Is B better than A beyond seed noise? Paired fold differences (Nadeau–Bengio corrected t-test) and A's seed spread."""
    from rich.table import Table

    from medalist.cv.compare import compare

    res = compare(cli.workspace(), a, b, seeds=seeds, noise_runs=noise or [], alpha=alpha)
    if as_json:
        print_json(res.summary())
        return
    s = res.summary()
    table = Table(title=f"{b} vs {a} ({s['metric']}, + = better)")
    for col in ("fold", a, b, "diff"):
        table.add_column(str(col), justify="right")
    for f in s["folds"]:
        table.add_row(str(f["fold"]), cli.fmt(f["a"]), cli.fmt(f["b"]), cli.fmt(f["diff"]))
    cli.console.print(table)
    cli.console.print(f"CV {a} = {cli.fmt(s['cv_a'])}, {b} = {cli.fmt(s['cv_b'])}; gain {cli.fmt(s['gain'])}; "
                    f"corrected t = {cli.fmt(s['t'], 3)} (df {s['df']}) p = {cli.fmt(s['p'], 4)} (naive p = {cli.fmt(s['p_naive'], 4)}); "
                    f"seed spread (std over {s['n_seeds']} seeds) = {cli.fmt(s['seed_std'])}")
    color = "green" if s["beyond_noise"] else "yellow"
    cli.console.print(f"[bold {color}]{s['verdict']}[/]")


def auto_cmd(
    budget: Annotated[float, typer.Option("--budget", help="Time budget in seconds for the whole plan (kept within 5%).")] = 600,
    models: Annotated[Optional[list[str]], typer.Option("--model", help="Family (repeatable): lightgbm, xgboost, catboost, linear; default: all.")] = None,
    threads: Annotated[Optional[int], typer.Option("--threads", help="Threads per model (default: the cores free now: CPU affinity minus the load average).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted plan: finished runs are reused, runs stopped by the budget are resumed.")] = False,
    no_tune: Annotated[bool, typer.Option("--no-tune", help="Skip the Optuna tuning stage.")] = False,
    no_features: Annotated[bool, typer.Option("--no-features", help="Skip the feature candidates.")] = False,
    trials: Annotated[Optional[int], typer.Option("--trials", help="At most this many Optuna trials per family (default: as many as the budget allows).")] = None,
    executor: Annotated[Optional[str], typer.Option("--executor", help="Where each run's folds train: local, ray or ray@ADDRESS (default: medalist.yaml executor:, else local).")] = None,
    no_track: NoTrackOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Time-aware plan on the workspace folds: baselines, CV-checked features, Optuna tuning, seed bags, blend + stack."""
    from rich.table import Table

    from medalist.ensemble.auto import auto

    def step(msg: str) -> None:
        if not as_json:
            cli.err_console.print(f"[cyan]»[/] {msg}", highlight=False)

    res = auto(cli.workspace(), budget=budget, models=models or None, threads=threads, tracking=not no_track,
               tune=not no_tune, features=not no_features, resume=resume, trials=trials, step=step,
               executor=executor)
    s = res.summary()
    if as_json:
        print_json(s)
        return
    table = Table(title=f"medalist auto ({s['metric']}, budget {budget:.0f}s, used {s['seconds']:.0f}s, {s['threads']} threads)")
    for col in ("stage", "run", "model", "CV", "seconds", "note"):
        table.add_column(col, justify="right" if col in ("CV", "seconds") else "left")
    for r in s["steps"]:
        mark = "[bold green]" if r["run"] and r["run"] == s["best"] else ""
        table.add_row(r["stage"], f"{mark}{r['run'] or '-'}", r["model"] or r["family"], cli.fmt(r["cv"]),
                      cli.fmt(r["seconds"], 1), r["note"])
    cli.console.print(table)
    for c, why in s["id_like"].items():
        cli.console.print(f"[yellow]left out[/] id-like column {c}: {why}")
    for name, verdict in s["features"].items():
        cli.console.print(f"feature candidate {name}: {verdict}")
    for sk in s["skipped"]:
        cli.console.print(f"[yellow]skipped[/] {sk}")
    if s["plan_exhausted"]:
        cli.console.print(f"plan exhausted after {s['seconds']:.0f}s of the {budget:.0f}s budget")
    if s["best"]:
        cli.console.print(f"final pick: [bold green]{s['best']}[/] CV {cli.fmt(s['best_cv'])}  (submit with `medalist submit {s['best']}`)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("blend")(blend_cmd)
    app.command("stack")(stack_cmd)
    app.command("tune")(tune_cmd)
    app.command("compare")(compare_cmd)
    app.command("auto")(auto_cmd)
