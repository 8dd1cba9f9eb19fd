"""Inspection commands: ``reverie blueprint``, ``reverie graph`` (and ``reverie config``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import fail, load_target

__all__ = ["register"]


def _load_service(spec: str) -> type:
    """Import ``MODULE:CLASS`` and check it is a service class; exit 2 with a message if not."""
    from reverie._private.declare import is_service

    try:
        obj: Any = load_target(spec)
    except typer.Exit:
        raise
    except Exception as exc:  # the module raised while importing: say so, without a traceback
        fail(f"importing {spec.partition(':')[0]} failed: {type(exc).__name__}: {exc}")
    if not is_service(obj):
        fail(f"{spec} is {obj!r}, not a service class (decorate it with @reverie.service)")
    cls: type = obj
    return cls


def blueprint_cmd(
    target: Annotated[str, typer.Argument(help="The service class, as MODULE:CLASS.")],
    indent: Annotated[int, typer.Option(help="JSON indentation; 0 prints one line.")] = 2,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the service's OpenAPI 3.1 document instead.")
    ] = False,
) -> None:
    """Print the blueprint (the public contract) of a service class as JSON."""
    from reverie._private.blueprint import blueprint

    cls = _load_service(target)
    bp = blueprint(cls)
    if openapi:
        from reverie._private.openapi import openapi_document

        doc = openapi_document({bp.name: bp}, title=bp.name, version=bp.version or "0")
        typer.echo(json.dumps(doc, indent=indent or None))
        return
    typer.echo(bp.to_json(indent=indent or None))


def graph_cmd(
    target: Annotated[str, typer.Argument(help="The entry service class, as MODULE:CLASS.")],
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print a Mermaid 'graph TD' instead of a tree.")
    ] = False,
    discover: Annotated[
        list[Path] | None,
        typer.Option(help="Directory to discover services in, to resolve SID dependencies. "
                     "Repeatable."),
    ] = None,
    entry_points: Annotated[
        bool, typer.Option("--entry-points", help="Also discover the 'reverie.services' "
                           "entry points.")
    ] = False,
) -> None:
    """Print the dependency graph under an entry service class."""
    from reverie._private.graphview import render_mermaid, render_text, walk
    from reverie._private.registry import Registry

    cls = _load_service(target)
    registry: Registry | None = None
    if discover or entry_points:
        registry = Registry()
        for directory in discover or []:
            if not directory.is_dir():
                fail(f"--discover {directory}: no such directory")
            report = registry.discover(directory)
            for where, _tb in report.errors:
                typer.echo(f"warning: {where} failed to import; its services are left out",
                           err=True)
        if entry_points:
            registry.discover_entry_points()
        registry.register(cls)
    root = walk(cls, registry)
    typer.echo(render_mermaid(root) if mermaid else render_text(root))


def register(app: typer.Typer) -> None:
    """Add the inspection commands to ``app``."""
    app.command("blueprint")(blueprint_cmd)
    app.command("graph")(graph_cmd)
