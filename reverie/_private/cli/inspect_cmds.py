"""Inspection commands: ``reverie blueprint``, ``reverie graph`` (and ``reverie config``)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import fail, load_target

__all__ = ["register"]


def _load_service(spec: str) -> type:
    """Import ``MODULE:CLASS`` and check it is a service class; exit 2 with a message if not."""
    cls: type = load_target(spec, "service")
    return cls


def blueprint_cmd(
    target: Annotated[
        str,
        typer.Argument(
            help="The service class, as MODULE:CLASS; or 'diff' followed by OLD and NEW."
        ),
    ],
    sides: Annotated[
        list[str] | None,
        typer.Argument(
            help="With 'diff': OLD and NEW, each a blueprint JSON file or MODULE:CLASS.",
            show_default=False,
        ),
    ] = None,
    indent: Annotated[int, typer.Option(help="JSON indentation; 0 prints one line.")] = 2,
    openapi: Annotated[
        bool, typer.Option("--openapi", help="Print the service's OpenAPI 3.1 document instead.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With 'diff': print JSON.")] = False,
) -> None:
    """Print the blueprint (the public contract) of a service class as JSON.

    'reverie blueprint diff OLD NEW' lists each change as breaking or compatible and exits 1 on
    a breaking change under the same SIDs and version."""
    from reverie._private.contract.blueprint import blueprint

    if target == "diff":
        _diff(sides or [], as_json)
        return
    if sides:
        fail(f"unexpected argument {sides[0]!r}; did you mean 'reverie blueprint diff OLD NEW'?")
    cls = _load_service(target)
    bp = blueprint(cls)
    if openapi:
        from reverie._private.contract.openapi import openapi_document

        doc = openapi_document({bp.name: bp}, title=bp.name, version=bp.version or "0")
        typer.echo(json.dumps(doc, indent=indent or None))
        return
    typer.echo(bp.to_json(indent=indent or None))


def _side(spec: str) -> Any:
    """A blueprint from a JSON file (what 'reverie blueprint' wrote) or from MODULE:CLASS."""
    from reverie._private.contract.blueprint import Blueprint, blueprint
    from reverie.errors import BlueprintFormatError

    path = Path(spec)
    if path.is_file():
        try:
            return Blueprint.from_json(path.read_bytes())
        except BlueprintFormatError as exc:
            fail(f"{spec}: {exc}")
    if ":" not in spec:
        fail(f"{spec!r} is neither a file nor MODULE:CLASS")
    return blueprint(_load_service(spec))


def _diff(sides: list[str], as_json: bool) -> None:
    from reverie._private.contract.blueprint_diff import diff_blueprints

    if len(sides) != 2:
        fail("usage: reverie blueprint diff OLD NEW (each a blueprint JSON file or MODULE:CLASS)")
    old, new = _side(sides[0]), _side(sides[1])
    result = diff_blueprints(old, new)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        for change in result.changes:
            typer.echo(str(change))
        n = len(result.breaking)
        summary = (
            f"{len(result.changes)} change(s), {n} breaking" if result.changes else "no changes"
        )
        if n and result.versioned:
            summary += " (allowed: the new blueprint is a new version or SID)"
        elif n:
            summary += (
                f"; {', '.join(new.sids) or new.name} keeps its SIDs and version: give "
                f"it a new version (@service(version=...)) or a new SID"
            )
        typer.echo(summary)
    if result.needs_new_version:
        raise typer.Exit(1)


def graph_cmd(
    target: Annotated[str, typer.Argument(help="The entry service class, as MODULE:CLASS.")],
    mermaid: Annotated[
        bool, typer.Option("--mermaid", help="Print a Mermaid 'graph TD' instead of a tree.")
    ] = False,
    discover: Annotated[
        list[Path] | None,
        typer.Option(
            help="Directory to discover services in, to resolve SID dependencies. Repeatable."
        ),
    ] = None,
    entry_points: Annotated[
        bool,
        typer.Option("--entry-points", help="Also discover the 'reverie.services' entry points."),
    ] = False,
) -> None:
    """Print the dependency graph under an entry service class."""
    from reverie._private.host.graphview import dependency_tree, render_mermaid, render_text
    from reverie._private.host.registry import Registry

    # SID targets resolve against what --discover finds plus the entry's own module; discovery
    # comes first so that the target may live in a discovered directory.
    registry = Registry()
    logging.getLogger("reverie.registry").setLevel(logging.CRITICAL)  # reported below instead
    for directory in discover or []:
        if not directory.is_dir():
            fail(f"--discover {directory}: no such directory")
        report = registry.discover(directory)
        for where, tb in report.errors:
            last = tb.strip().splitlines()[-1] if tb.strip() else ""
            typer.echo(
                f"warning: {where} failed to import ({last}); its services are left out", err=True
            )
    if entry_points:
        for where, tb in registry.discover_entry_points().errors:
            typer.echo(f"warning: {where} failed: {tb.strip().splitlines()[-1]}", err=True)
    cls = _load_service(target)
    registry.register_module(sys.modules[cls.__module__])
    registry.register(cls)
    root = dependency_tree(cls, registry)
    typer.echo(render_mermaid(root) if mermaid else render_text(root))


# -- reverie config ---------------------------------------------------------------------------

NOT_BOUND = "not bound in the deployment file's 'bind:'"


def _config_services(entry: type, bind: dict[str, str]) -> tuple[list[Any], list[str], set[str]]:
    """The services reachable from ``entry`` (SIDs through the deployment's ``bind:``), notes on
    what was skipped, and every SID the graph declares or depends on."""
    from reverie._private.config.check import known_sids
    from reverie._private.declare.service import get_meta
    from reverie._private.host.graph import resolve_graph
    from reverie._private.host.registry import Registry

    registry = Registry()
    for sid, target in bind.items():
        registry.bind(sid, target)
    graph = resolve_graph(entry, registry.resolve, lenient=True)
    metas = [get_meta(cls) for cls in graph.reached]
    notes = [
        f"{meta.name}.{edge.attribute} -> {edge.dependency.target_name}: "
        f"{edge.note if edge.note and edge.note != 'not registered' else NOT_BOUND}; skipped"
        for cls, meta in zip(graph.reached, metas, strict=True)
        for edge in graph.edges[cls]
        if edge.target is None  # a SID nothing resolved (a non-service class is left out)
    ]
    return metas, notes, known_sids(metas)


def config_cmd(
    target: Annotated[str, typer.Argument(help="The entry service class, as MODULE:CLASS.")],
    file: Annotated[
        Path | None, typer.Option("-f", "--file", help="The deployment YAML file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of tables (secrets masked).")
    ] = False,
) -> None:
    """Print the resolved config of every service in the graph: value and the layer that set
    it (deployment file, env var, @service(config=...), class default), plus ServiceArgs."""
    from reverie._private.config.check import check_deployment
    from reverie._private.config.deployment import load_deployment
    from reverie._private.config.render import config_renderable
    from reverie._private.config.resolve import resolve_graph_config
    from reverie._private.config.service_args import resolve_service_args
    from reverie.errors import ConfigError

    cls = _load_service(target)
    try:
        dep = load_deployment(file) if file is not None else None
    except ConfigError as exc:
        fail(str(exc), code=1)
    bind = {sid: str(v.value) for sid, v in dep.bind.items()} if dep else {}
    metas, notes, sids = _config_services(cls, bind)
    try:
        if dep is not None:
            check_deployment(dep, {m.name: m for m in metas}, sids)
        resolved = resolve_graph_config(metas, deployment=dep)
    except ConfigError as exc:
        fail(str(exc), code=1)
    args = [resolve_service_args(m, dep) for m in metas]
    if as_json:
        typer.echo(json.dumps(_config_json(list(resolved.values()), args, notes), indent=2))
        return
    from rich.console import Console

    types = {m.name: {k: ck.info.name for k, ck in m.config_keys.items()} for m in metas}
    console = Console(highlight=False)
    console.print(config_renderable(list(resolved.values()), args, types=types))
    for note in notes:
        console.print(f"note: {note}", markup=False)


def _config_json(resolved: list[Any], args: list[Any], notes: list[str]) -> dict[str, Any]:
    from reverie._private.config.values import MASK, mask_env, show_value
    from reverie._private.declare.types import to_builtins

    def plain(value: Any) -> Any:
        try:
            return to_builtins(value)
        except TypeError:
            return show_value(value)

    def sourced(sv: Any) -> dict[str, Any]:
        return {"value": plain(sv.value), "source": sv.source}

    services = []
    for rc, sa in zip(resolved, args, strict=True):
        services.append(
            {
                "service": rc.service,
                "config": [
                    {
                        "key": k,
                        "value": MASK if rv.secret else plain(rv.value),
                        "source": rv.source,
                        "secret": rv.secret,
                    }
                    for k, rv in rc.items()
                ],
                "args": {
                    "workers": sourced(sa.workers),
                    "namespace": sourced(sa.namespace),
                    "name": sourced(sa.name),
                    "process": sourced(sa.process) if sa.process else None,
                    "resources": {k: sourced(v) for k, v in sa.resources.items()},
                    "env": {
                        k: {"value": mask_env(k, v.value), "source": v.source}
                        for k, v in sa.env.items()
                    },
                },
            }
        )
    return {"services": services, "notes": notes}


def register(app: typer.Typer) -> None:
    """Add the inspection commands to ``app``."""
    app.command("blueprint")(blueprint_cmd)
    app.command("graph")(graph_cmd)
    app.command("config")(config_cmd)
