"""CLI commands for the Kaggle platform, the CV–LB ledger, packages, bundles and reports.

``medalist lb`` / ``lb sync``, ``pick``, ``package``, ``export``, ``import``, ``report``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from medalist.cli import _shared as cli
from medalist.cli._shared import JsonOpt, print_json


def _competition(ws, competition: str | None) -> str:
    from medalist.core.errors import ConfigError
    from medalist.kaggle.api import kaggle_settings

    if competition:
        return competition
    s = kaggle_settings(ws)
    if s is None:
        raise ConfigError("medalist lb sync", expected="a Kaggle workspace (kaggle.yaml from `medalist init --from-kaggle`) or --competition SLUG",
                          found="neither", fix="pass --competition SLUG")
    return s.competition


lb_app = typer.Typer(help="The CV–LB ledger: every submission with its run, CV and leaderboard scores.", no_args_is_help=False)


@lb_app.callback(invoke_without_command=True)
def lb(
    ctx: typer.Context,
    plot: Annotated[Optional[Path], typer.Option(help="Where to write the CV–LB scatter plot (PNG).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the ledger (run, CV, public, private, date) with the Pearson/Spearman CV–LB correlation and a scatter plot."""
    if ctx.invoked_subcommand is not None:
        return
    from medalist.kaggle.ledger import correlation, ledger, scatter_png

    ws = cli.workspace()
    led = ledger(ws)
    corr = {s: correlation(led, score=s) for s in ("public", "private")}
    png = scatter_png(led, plot or ws.submissions_dir / "cv_lb.png")
    rows = led.select("time", "run", "model", "cv", "public", "private", "status", "local", "kaggle_ref", "message", "file").to_dicts()
    if as_json:
        print_json({"submissions": rows, "correlation": corr, "plot": str(png) if png else None})
        return
    from rich.table import Table

    table = Table(title=f"CV–LB ledger ({len(rows)} submissions)")
    for c in ("date", "run", "model", "CV", "public", "private", "status", "message"):
        table.add_column(c, justify="right" if c in ("CV", "public", "private") else "left")
    for r in rows:
        status = r["status"] or ("local" if r["local"] else "-")
        table.add_row(str(r["time"] or "")[:16], str(r["run"] or "-"), str(r["model"] or "-"), cli.fmt(r["cv"]),
                      cli.fmt(r["public"]), cli.fmt(r["private"]), status, (r["message"] or "")[:40])
    cli.console.print(table)
    for s, c in corr.items():
        if c["n"]:
            p = "-" if c["pearson"] is None else f"{c['pearson']:.3f}"
            sp = "-" if c["spearman"] is None else f"{c['spearman']:.3f}"
            cli.console.print(f"CV vs {s}: Pearson {p}, Spearman {sp} (n={c['n']})")
    w = corr["public"]["warning"]
    if w:
        cli.console.print(f"[yellow]warning:[/] {w}")
    if png:
        cli.console.print(f"scatter plot -> {png}")


@lb_app.command("sync")
def lb_sync(
    competition: Annotated[Optional[str], typer.Option(help="Kaggle competition slug (default: kaggle.yaml).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Pull the competition's submissions from Kaggle (public/private scores, status) and link each to its run."""
    from medalist.kaggle.ledger import sync

    ws = cli.workspace()
    res = sync(ws, _competition(ws, competition))
    if as_json:
        print_json(res)
        return
    cli.console.print(f"[green]synced[/] {res['remote']} submissions of {res['competition']}: {res['updated']} updated, "
                      f"{res['added']} added, {res['linked']} linked to runs. See `medalist lb`.")


def pick_cmd(
    tolerance: Annotated[Optional[float], typer.Option(help="How far below the best CV a diverse second may be (default: the best run's fold std).")] = None,
    max_corr: Annotated[float, typer.Option("--max-corr", help="OOF correlation above which a run is not 'diverse'.")] = 0.98,
    as_json: JsonOpt = False,
) -> None:
    """Propose the final two submissions: best CV first, a diverse second; warn when CV–LB correlation is weak or unknown."""
    from medalist.kaggle.ledger import pick

    res = pick(cli.workspace(), max_corr=max_corr, tolerance=tolerance)
    if as_json:
        print_json(res.to_dict())
        return
    for i, p in enumerate(res.picks, 1):
        cli.console.print(f"[bold]{i}. {p['run']}[/] ({p['model']})  CV={cli.fmt(p['cv'])}  public={cli.fmt(p['public'])}  — {p['reason']}")
    for w in res.warnings:
        cli.console.print(f"[yellow]warning:[/] {w}")


def package_cmd(
    runs: Annotated[list[str], typer.Argument(help="Run ids, then the output folder last: RUN… OUT/")],
    slug: Annotated[Optional[str], typer.Option(help="Kaggle dataset id USER/NAME (default: KAGGLE_USERNAME/medalist-<run>).")] = None,
    kernel: Annotated[Optional[str], typer.Option("--kernel", help="Notebook id OWNER/SLUG (default: from the dataset owner and title).")] = None,
    push: Annotated[bool, typer.Option("--push", help="Create (or version) the dataset, then push the notebook; "
                                       "`medalist submit RUN` then submits that notebook version.")] = False,
    verify: Annotated[bool, typer.Option("--verify", help="Install the package in a fresh venv offline and run its inference "
                                         "on the test rows and on unseen rows; fail unless it reproduces the runs.")] = False,
    verify_test: Annotated[Optional[Path], typer.Option("--verify-test", help="Unseen test rows for --verify (default: "
                                                        "a local competition's test rows under new ids, shuffled, subsampled).")] = None,
    python: Annotated[Optional[str], typer.Option("--python", help="Target Python of the wheels (default: Kaggle's image).")] = None,
    platform: Annotated[Optional[str], typer.Option("--platform", help="Target platform tag(s), comma-separated (default: Kaggle's image).")] = None,
    skip: Annotated[Optional[list[str]], typer.Option("--skip", help="Also leave out this distribution (the image has it); repeatable.")] = None,
    no_skip: Annotated[Optional[list[str]], typer.Option("--no-skip", help="Ship this distribution although Kaggle's image has it; repeatable.")] = None,
    gpu: Annotated[bool, typer.Option("--gpu", help="The notebook asks for a GPU.")] = False,
    test_rows: Annotated[Optional[int], typer.Option("--test-rows", help="Rows of the hidden test set, for the run-time estimate.")] = None,
    limit_hours: Annotated[float, typer.Option("--limit-hours", help="The competition's notebook time limit.")] = 9.0,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Package runs and every run they read predictions from (oof_feature runs, blend and stack members) for a
    code competition: models, folds, wheels for Kaggle's image, an offline inference.py and a notebook."""
    from medalist.core.errors import ConfigError
    from medalist.kaggle.package import build_package
    from medalist.kaggle.package.wheels import Target, skip_set

    if len(runs) < 2:
        raise ConfigError("medalist package", expected="RUN… OUT/", found=" ".join(runs) or "nothing", fix="e.g. medalist package lgbm-001 pkg/")
    ws = cli.workspace()
    run_ids, out = runs[:-1], Path(runs[-1])
    res = build_package(ws, run_ids, out, slug=slug, force=force, target=Target.parse(python, platform),
                        skip=skip_set(skip or (), no_skip or ()), kernel=kernel, gpu=gpu, test_rows=test_rows, limit_hours=limit_hours)
    if verify:
        from medalist.kaggle.package.verify import verify_package

        res["verify"] = verify_package(ws, out, test_file=verify_test)
    if push:
        res["push"] = _push_package(ws, run_ids, out, res)
    if as_json:
        print_json(res)
        return
    _print_package(res)


def _push_package(ws, run_ids: list[str], out: Path, res: dict) -> dict:
    from medalist.kaggle.api import push_dataset, push_kernel
    from medalist.kaggle.submit import record_kernel

    data = push_dataset(out, message=f"medalist package of {', '.join(run_ids)}")
    k = push_kernel(out)
    record_kernel(ws, run_ids, k["kernel"], k["version"], res["dataset"])
    return {"dataset": data, "kernel": k}


def _print_package(res: dict) -> None:
    b = res["budget"]
    cli.console.print(f"[green]package[/] {res['path']}  {res['bytes'] / 1e6:.1f} MB: "
                      + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in res["contents"].items()))
    cli.console.print(f"  runs (upstream first): {' -> '.join(res['order'])}")
    cli.console.print(f"  wheels: {len(res['wheels'])} for {res['target']['abi']} {res['target']['platforms'][0]}; "
                      f"from Kaggle's image: {', '.join(res['preinstalled']) or 'none'}")
    cli.console.print(f"  inference: {b['seconds_per_1000_rows']:.3f} s per 1,000 rows ({b['device']}); "
                      f"{b['test_rows']:,} rows ≈ {b['predicted_seconds'] / 60:.1f} min of a {b['limit_hours']:g} h limit")
    if b.get("warning"):
        cli.console.print(f"[yellow]warning:[/] {b['warning']}")
    if res.get("verify"):
        v = res["verify"]
        cli.console.print(f"[green]verified[/] offline in a fresh venv: {v.get('summary', v)}")
    if res.get("push"):
        k = res["push"]["kernel"]
        cli.console.print(f"[green]pushed[/] dataset {res['dataset']} and notebook {k['kernel']} (version {k['version']}); "
                          "submit with `medalist submit RUN` once the notebook version has run")
    else:
        cli.console.print(f"  dataset {res['dataset']}, notebook {res['kernel']}: `medalist package … --push` uploads both")


def export_cmd(
    runs: Annotated[list[str], typer.Argument(help="Run ids to export.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Bundle file (.tar.gz).")] = Path("bundle.tar.gz"),
    models: Annotated[bool, typer.Option("--models", help="Include the fitted models too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Export runs (config, OOF, test predictions, metrics, folds hash) as a bundle for a team-mate."""
    from medalist.kaggle.bundle import export_runs

    res = export_runs(cli.workspace(), runs, out, models=models)
    if as_json:
        print_json({k: v for k, v in res.items() if k != "files"} | {"n_files": len(res["files"])})
        return
    cli.console.print(f"[green]exported[/] {len(res['runs'])} runs (folds {res['folds_hash']}) -> {res['path']}")
    for s in res.get("skipped", []):
        cli.console.print(f"[yellow]left out[/] {s['run']}/models/{s['model']}: {s['reason']}")


def import_cmd(
    bundle: Annotated[Path, typer.Argument(help="Bundle from `medalist export`.")],
    force: Annotated[bool, typer.Option("--force", help="Replace runs with the same id.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a team-mate's runs; refuses other folds, path traversal, links and tampered files."""
    from medalist.kaggle.bundle import import_bundle

    res = import_bundle(cli.workspace(), bundle, force=force)
    if as_json:
        print_json(res)
        return
    cli.console.print(f"[green]imported[/] {', '.join(res['runs'])} (folds {res['folds_hash']}). See `medalist runs`.")


def report_cmd(
    runs: Annotated[Optional[list[str]], typer.Argument(help="Runs to report (default: all finished runs).")] = None,
    out: Annotated[Optional[Path], typer.Option("-o", "--out", help="HTML file (default: report.html in the workspace).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write one self-contained HTML report: leaderboard, folds, learning curves, confusion matrix, ROC/PR,
    calibration, importance, CV–LB scatter, submission timeline."""
    from medalist.report.html import build_report

    ws = cli.workspace()
    res = build_report(ws, runs or None, out or ws.root / "report.html")
    if as_json:
        print_json(res)
        return
    cli.console.print(f"[green]report[/] {res['path']}  ({len(res['runs'])} runs, {res['plots']} plots)")


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.add_typer(lb_app, name="lb")
    app.command("pick")(pick_cmd)
    app.command("package")(package_cmd)
    app.command("export")(export_cmd)
    app.command("import")(import_cmd)
    app.command("report")(report_cmd)
