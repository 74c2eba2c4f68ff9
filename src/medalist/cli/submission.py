"""Commands around a submission: ``medalist submit`` and ``medalist ui`` (the MLflow UI)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from medalist.cli._shared import JsonOpt, console, print_json
from medalist.cli._shared import fmt as _fmt
from medalist.cli._shared import workspace as _ws


def submit(
    run: Annotated[Optional[str], typer.Argument(help="Run whose test predictions to submit.")] = None,
    message: Annotated[str, typer.Option("--message", "-m", help="What this submission tries.")] = "",
    file: Annotated[Optional[Path], typer.Option(help="Validate and record an existing CSV instead of a run.")] = None,
    run_opt: Annotated[Optional[str], typer.Option("--run", help="With --file: the run the file was made from (the ledger records its id and CV).")] = None,
    local: Annotated[bool, typer.Option("--local", help="Score on the local competition's hidden public/private answers.")] = False,
    upload: Annotated[Optional[bool], typer.Option("--upload/--no-upload", help="Upload to Kaggle (default: yes in a --from-kaggle workspace).")] = None,
    kernel: Annotated[Optional[str], typer.Option("--kernel", help="Code competition: submit notebook OWNER/NOTEBOOK ...")] = None,
    version: Annotated[Optional[int], typer.Option("--version", help="... at this notebook version.")] = None,
    pushed: Annotated[Optional[bool], typer.Option(
        "--pushed-kernel/--no-pushed-kernel",
        help="Code competition: submit the notebook version RUN was pushed as (recorded in .medalist/kernels.json by "
             "`medalist package RUN --push`); --version N picks another version. Default: yes when kaggle.yaml says "
             "`code: true` and RUN was pushed, unless --kernel is given.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the submission in the sample submission's format, validate it, record it (and upload it to Kaggle).

    The format (probabilities per class, a label, a ranked list, RLE, regression values) is medalist.yaml's
    `submission:` as `init` detected it; `--file F --run RUN` records RUN's id and CV with a file you wrote.

    Code competitions score a notebook, not a file: `--kernel OWNER/NOTEBOOK --version N` names one, `--pushed-kernel`
    takes the one RUN was pushed as. The ledger records the run and `OWNER/NOTEBOOK@N`.
    """
    from medalist.core.errors import SubmissionError
    from medalist.kaggle.submit import submit as do_submit

    if run is not None and run_opt is not None and run != run_opt:
        raise SubmissionError("submit RUN --run RUN", expected="one run", found=f"'{run}' and '{run_opt}'", fix="name the run once")
    run = run or run_opt
    s = do_submit(_ws(), run, file=file, message=message, local=local, upload=upload, kernel=kernel, version=version,
                  use_pushed=pushed)
    if as_json:
        fmt = {"format": s.format.kind, "columns": s.format.columns, "mapping": s.format.mapping, "k": s.format.k} if s.format else None
        print_json({**s.record, "format": fmt, "notes": s.notes or [], "cv_note": s.cv_note})
        return
    if s.cv_note:
        console.print(f"[yellow]{s.cv_note}[/]", highlight=False)
    if s.format is not None:
        console.print(f"format {s.format.describe()}" + "".join(f"; {n}" for n in s.notes or []))
    console.print(f"[green]valid submission[/] {s.file}  run={s.run or '-'}  CV={_fmt(s.cv)}" + (f"  public={_fmt(s.public)}  private={_fmt(s.private)}" if local else ""))
    if s.record.get("kaggle_ref") is not None or s.record.get("competition"):
        via = f" as notebook {s.record['kernel']}" if s.record.get("kernel") else ""
        console.print(f"uploaded to Kaggle {s.record['competition']}{via} (ref {s.record.get('kaggle_ref')}): {s.record['description']}"
                      "  — scores: `medalist lb sync`")


def ui(port: Annotated[int, typer.Option(help="Port of the MLflow UI.")] = 5000, host: Annotated[str, typer.Option(help="Host to bind.")] = "127.0.0.1") -> None:
    """Start the MLflow UI on this workspace's tracking store."""
    import subprocess

    from medalist.core.errors import ConfigError

    ws = _ws()
    uri = ws.tracking_uri
    if uri is None and ws.tracking_backend not in (None, "mlflow"):
        raise ConfigError("medalist.yaml: tracking.backend", expected="mlflow (the UI serves an MLflow store)",
                          found=f"'{ws.tracking_backend}'",
                          fix="open the runs in W&B's web app (`wandb sync` uploads offline runs), or use `backend: mlflow`")
    if uri is None:
        raise ConfigError("medalist.yaml: tracking", expected="a tracking store", found="'none'", fix="remove `tracking: none`")
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        from medalist.core.errors import MissingDependencyError

        raise MissingDependencyError("mlflow", "tracking", purpose="the UI")
    console.print(f"MLflow UI on http://{host}:{port}  (store {uri})")
    raise typer.Exit(subprocess.call([sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)], cwd=ws.root))


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
    app.command("submit")(submit)
    app.command("ui")(ui)
