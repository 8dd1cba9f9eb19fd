"""Helpers shared by the commands: loading ``MODULE:CLASS`` targets and failing clearly."""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer

from reverie.errors import ReverieError

from ..importer import Kind, import_ref

__all__ = ["fail", "load_target"]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def load_target(spec: str, kind: Kind = "any", *, entry: bool = False) -> Any:
    """Import ``MODULE:ATTR`` (the current directory is importable, as with ``python -m``);
    exit 2 with the importer's message when it cannot."""
    try:
        return import_ref(spec, kind=kind, entry=entry, sys_path=[os.getcwd()])
    except ReverieError as exc:
        fail(str(exc))
