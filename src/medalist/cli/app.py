"""The `medalist` command line: thin over the library, printing with rich.

Every command is a library call a notebook can make too. Known errors print as one readable
message and exit 2; ``--debug`` shows the traceback. The commands live in one module per group
(``workspace``, ``runs``, ``submission``, ...), each adding its own with ``register(app)``.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from medalist.cli._shared import err_console
from medalist.cli._shared import state as _state
from medalist.core.errors import MedalistError

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


# Command groups in their own modules, each with ``register(app)``; `medalist --help` lists the commands
# in this order (the first five hold the everyday loop: init … demo).
MODULES = ("workspace", "runs", "submission", "catalog", "demo", "ensemble", "twentyq", "recsys", "vision", "kaggle", "signal")


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
