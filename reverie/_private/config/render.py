"""Config as tables: each service's keys, values (secrets masked) and sources, then its
``ServiceArgs`` (``reverie config``, ``Host.explain_config``, logs)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .resolve import ResolvedConfig
from .service_args import ServiceArgs
from .values import mask_env, show_value

__all__ = ["config_renderable", "format_config"]


def _args_rows(args: ServiceArgs) -> list[tuple[str, str, str]]:
    rows = [
        ("workers", show_value(args.workers.value), args.workers.source),
        ("runtime.namespace", str(args.namespace.value), args.namespace.source),
        ("runtime.name", str(args.name.value), args.name.source),
    ]
    if args.process is not None:
        rows.append(("process", str(args.process.value), args.process.source))
    if args.path is not None:
        rows.append(("path", str(args.path.value), args.path.source))
    if args.url is not None:
        rows.append(("url", str(args.url.value), args.url.source))
    if args.expose is not None:
        rows.append(("expose", str(args.expose.value).lower(), args.expose.source))
    for k, v in args.resources.items():
        rows.append((f"resources.{k}", show_value(v.value), v.source))
    for k, v in args.env.items():
        rows.append((f"env.{k}", mask_env(k, v.value), v.source))
    return rows


def config_renderable(
    resolved: Sequence[ResolvedConfig],
    args: Iterable[ServiceArgs] | None = None,
    *,
    types: Mapping[str, Mapping[str, str]] | None = None,
) -> Any:
    """Rich tables, one per service: config key, value (secrets masked), source; then its
    ServiceArgs. ``types`` maps service -> key -> type name, for an optional type column."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    by_service = {a.service: a for a in (args or ())}
    parts: list[Any] = []
    for rc in resolved:
        table = Table(title=Text(f"{rc.service}: config"), title_justify="left", expand=False)
        table.add_column("key", style="bold")
        svc_types = (types or {}).get(rc.service)
        if svc_types is not None:
            table.add_column("type")
        table.add_column("value")
        table.add_column("source", style="dim")
        for key, rv in rc.items():
            row = [key]
            if svc_types is not None:
                row.append(svc_types.get(key, ""))
            row += [rv.display(), rv.source]
            table.add_row(*(Text(c) for c in row))  # Text: "list[str]" is not markup
        if not rc:
            table.add_row(*(["(no config keys)"] + [""] * (len(table.columns) - 1)))
        parts.append(table)
        sa = by_service.get(rc.service)
        if sa is not None:
            at = Table(title=Text(f"{rc.service}: ServiceArgs"), title_justify="left", expand=False)
            at.add_column("key", style="bold")
            at.add_column("value")
            at.add_column("source", style="dim")
            for row3 in _args_rows(sa):
                at.add_row(*(Text(c) for c in row3))
            parts.append(at)
    return Group(*parts)


def format_config(
    resolved: Sequence[ResolvedConfig] | ResolvedConfig,
    args: Iterable[ServiceArgs] | ServiceArgs | None = None,
    *,
    width: int = 120,
) -> str:
    """The tables of ``config_renderable`` as plain text (no colour), for logs and
    ``host.explain_config``."""
    import io

    from rich.console import Console

    if isinstance(resolved, ResolvedConfig):
        resolved = [resolved]
    if isinstance(args, ServiceArgs):
        args = [args]
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=width,
        color_system=None,
        force_terminal=False,
        no_color=True,
        highlight=False,
    )
    console.print(config_renderable(resolved, args))
    return buf.getvalue()
