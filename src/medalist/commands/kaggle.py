"""CLI commands for the Kaggle platform, the CV–LB ledger, packages, bundles and reports (filled in by its issue)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app."""
