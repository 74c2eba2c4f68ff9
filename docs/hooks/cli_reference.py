"""MkDocs hook: the CLI reference page, generated from the Typer app at build time.

``reference/cli.md`` is not a file in the repository: every build walks the click command that
``typer.main.get_command(medalist.cli.app.app)`` returns (the same object ``medalist --help`` prints)
and writes one section per command, with its help text, usage line, arguments and options. A command
or option added to the CLI appears in the site with no edit here, so the page cannot drift from
``--help``. ``cli_markdown()`` is plain Python, so tests check its output without MkDocs.

Typer ships its own copy of click (``typer._click``), so the objects are read through their click API
(``get_help_record``, ``collect_usage_pieces``, ``list_commands``), never checked with ``isinstance``
against ``click``: each option's row is the record ``--help`` prints (flags, type, default, required).
"""

from __future__ import annotations

import html
from typing import Any

PAGE = "reference/cli.md"


def _root_command() -> Any:
    import typer

    from medalist.cli.app import app

    return typer.main.get_command(app)


def _cell(text: str) -> str:
    """Text for a Markdown table cell: HTML-escaped, on one line, pipes as an entity (not a cell border)."""
    return html.escape(" ".join(text.split()), quote=False).replace("|", "&#124;")


def _param_row(param: Any, ctx: Any) -> str:
    """One table row from the parameter's own ``--help`` record: (flags and type, help with default)."""
    record = param.get_help_record(ctx)
    if record is None:  # plain click arguments have none: their name is all there is
        record = (param.name.upper(), "")
    names, help_text = record
    return f"| <code>{_cell(names)}</code> | {_cell(help_text)} |"


def _help_text(command: Any) -> str:
    text = (command.help or "").split("\f")[0]
    paragraphs = [" ".join(p.split()) for p in text.strip().split("\n\n") if p.strip()]
    return "\n\n".join(html.escape(p, quote=False) for p in paragraphs)


def _section(command: Any, ctx: Any, depth: int) -> list[str]:
    path = ctx.command_path
    lines = [f"{'#' * min(depth, 6)} `{path}`", ""]
    if command.help:
        lines += [_help_text(command), ""]
    pieces = " ".join(command.collect_usage_pieces(ctx))
    lines += ["```text", f"{path} {pieces}".rstrip(), "```", ""]
    params = [p for p in command.get_params(ctx) if not getattr(p, "hidden", False) and p.name != "help"]
    if params:
        lines += ["| argument / option | help |", "|---|---|"]
        lines += [_param_row(p, ctx) for p in params]
        lines.append("")
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            lines += _section(sub, sub.context_class(sub, info_name=name, parent=ctx), depth + 1)
    return lines


def cli_markdown(command: Any = None, prog: str = "medalist") -> str:
    """The CLI reference as Markdown: one section per command and sub-command, in ``--help`` order.

    Each section has the command's help text, its usage line and a table of its arguments and
    options as ``--help`` lists them (flags and type, help with the default), read from the command itself.
    """
    command = command if command is not None else _root_command()
    ctx = command.context_class(command, info_name=prog)
    head = [
        "# Command line reference",
        "",
        f"Generated from the Typer app at build time (the same source as `{prog} --help`). "
        f"Every command that reports figures takes `--json`; errors exit with status 2 "
        f"(`{prog} --debug …` shows the traceback).",
        "",
    ]
    return "\n".join(head + _section(command, ctx, 2))


def on_files(files: Any, config: Any) -> Any:
    """MkDocs event: add the generated page to the site's files (before the nav is built)."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=cli_markdown()))
    return files
