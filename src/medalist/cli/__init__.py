"""The ``medalist`` command line: the Typer app and one module per command group."""
