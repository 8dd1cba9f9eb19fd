"""``reverie serve MODULE:CLASS [-f deploy.yaml]``: plan, then run embedded or supervised.

Exit codes: 0 after a clean stop (or a dry run), 1 when the run failed (a start failed, a
required worker crash-looped), 2 when nothing started (bad target, deployment file, plan).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import fail, load_target

if TYPE_CHECKING:
    from reverie._private.serve.options import ServeOptions
    from reverie._private.serve.plan_types import ServePlan

__all__ = ["register"]


def _load(target: str) -> type:
    """The entry class of ``MODULE:CLASS`` (or ``MODULE`` naming an ``entry``); exit 2 if not."""
    cls: type = load_target(target, "service", entry=True)
    return cls


def serve_cmd(
    target: Annotated[
        str,
        typer.Argument(
            help="The entry service, as MODULE:CLASS (or a MODULE whose 'entry' names it)."
        ),
    ],
    file: Annotated[
        Path | None, typer.Option("-f", "--file", help="The deployment YAML file.")
    ] = None,
    nats: Annotated[
        str | None,
        typer.Option(
            help="NATS URL to use instead of starting an embedded nats-server; several members of "
            "a cluster: comma-separated."
        ),
    ] = None,
    nats_replicas: Annotated[
        int,
        typer.Option(
            help="Copies JetStream keeps of the runtime's KV buckets (3 in a 3-member cluster)."
        ),
    ] = 1,
    nats_listen: Annotated[
        str,
        typer.Option(
            help="HOST:PORT the embedded nats-server listens on for clients (port 0: a free one)."
        ),
    ] = "127.0.0.1:0",
    nats_cluster: Annotated[
        str | None,
        typer.Option(
            help="Start the embedded nats-server as a member of the NATS cluster of this name."
        ),
    ] = None,
    nats_cluster_listen: Annotated[
        str, typer.Option(help="With --nats-cluster: HOST:PORT this member listens on for routes.")
    ] = "0.0.0.0:6222",
    nats_routes: Annotated[
        str | None,
        typer.Option(
            help="With --nats-cluster: the other members' route URLs, comma-separated "
            "(nats://10.0.0.2:6222,...; this member's own is ignored)."
        ),
    ] = None,
    nats_name: Annotated[
        str | None,
        typer.Option(
            help="With --nats-cluster: this member's server name (default: the --node name, else "
            "the host name)."
        ),
    ] = None,
    direct_host: Annotated[
        str | None,
        typer.Option(
            help="The address other machines reach this one at, on which its processes take "
            "direct calls (default: the node's direct_host in the deployment file, else "
            "$REVERIE_DIRECT_HOST, else 127.0.0.1)."
        ),
    ] = None,
    discover: Annotated[
        list[Path] | None,
        typer.Option(
            "--discover",
            help="Register the services found in this directory (repeatable), so "
            "SID dependencies resolve to them.",
        ),
    ] = None,
    node: Annotated[
        str | None,
        typer.Option(
            help="Run only this node's share of the deployment's nodes: section; the other "
            "services are reached over NATS."
        ),
    ] = None,
    processes: Annotated[
        bool,
        typer.Option(
            "--processes", help="Run every service in its own process(es), joined over NATS."
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="HTTP listen address.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(help="HTTP port of the entry service (0: any free port).")
    ] = 8000,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print the plan (processes, env, CPUs/GPUs, ports) and exit."
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --dry-run: print JSON.")] = False,
    cpus: Annotated[
        int | None,
        typer.Option(
            help="CPUs this machine offers (default: detected with os.sched_getaffinity)."
        ),
    ] = None,
    gpus: Annotated[
        int | None,
        typer.Option(
            help="GPUs this machine offers (default: counted with nvidia-smi -L, else 0)."
        ),
    ] = None,
    drain_timeout: Annotated[
        float, typer.Option(help="Seconds in-flight requests get to finish on shutdown.")
    ] = 10.0,
    grace: Annotated[
        float, typer.Option(help="Seconds past the drain timeout before a child is killed.")
    ] = 5.0,
    start_timeout: Annotated[
        float, typer.Option(help="Seconds each start level gets to become ready.")
    ] = 60.0,
    max_restarts: Annotated[
        int,
        typer.Option(
            help="Crashes allowed within --restart-window before a worker is marked failed."
        ),
    ] = 5,
    restart_window: Annotated[float, typer.Option(help="Seconds; see --max-restarts.")] = 60.0,
    log_format: Annotated[str, typer.Option(help="text or json.")] = "text",
    trace: Annotated[
        str | None,
        typer.Option(
            help="OpenTelemetry spans for every call: console (printed), otlp (OTEL_EXPORTER_OTLP_*"
            " say where) or none. Default: OTEL_TRACES_EXPORTER, else none. Needs the otel "
            "extra."
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error: the least severe log line printed.")
    ] = "info",
    access_log: Annotated[
        bool,
        typer.Option(
            "--access-log/--no-access-log",
            help="One line per HTTP request: method, path, status, duration, request id.",
        ),
    ] = True,
    max_header_size: Annotated[
        int,
        typer.Option(
            help="Bytes of request line and headers an HTTP request may have (431 beyond)."
        ),
    ] = 64 * 1024,
    header_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds from a request's first byte to the end of its headers (408 beyond)."
        ),
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(help="Seconds to read a request body (408 beyond).")
    ] = 30.0,
    max_concurrent: Annotated[
        int,
        typer.Option(
            help="HTTP requests one instance runs at once, 0 for no limit (503 + Retry-After "
            "beyond); a service's ServiceArgs: max_concurrent wins."
        ),
    ] = 0,
    reload: Annotated[
        bool,
        typer.Option(
            "--reload",
            help="Restart when a .py or .yaml file under the current directory "
            "changes (development).",
        ),
    ] = False,
) -> None:
    """Run a service graph: in this process by default, as supervised workers when the
    deployment asks for workers > 1 or separate processes."""
    from reverie._private.serve.options import ServeOptions

    options = ServeOptions(
        file=file,
        nats=nats,
        nats_replicas=nats_replicas,
        nats_listen=nats_listen,
        nats_cluster=nats_cluster,
        nats_cluster_listen=nats_cluster_listen,
        nats_routes=nats_routes,
        nats_name=nats_name,
        direct_host=direct_host,
        discover=[str(d) for d in discover or []],
        node=node,
        processes=processes,
        host=host,
        port=port,
        cpus=cpus,
        gpus=gpus,
        drain_timeout=drain_timeout,
        grace=grace,
        start_timeout=start_timeout,
        max_restarts=max_restarts,
        restart_window=restart_window,
        log_format=log_format,
        log_level=log_level,
        access_log=access_log,
        trace=trace,
        max_header_size=max_header_size,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        max_concurrent=max_concurrent,
    )
    _serve(target, options, dry_run=dry_run, as_json=as_json, reload=reload)


def _serve(
    target: str, options: ServeOptions, *, dry_run: bool, as_json: bool, reload: bool
) -> None:
    """The steps of ``serve``: check the options, reload or load the entry, plan, then print
    the plan (``--dry-run``) or open HTTP and run it. Exit 2 when nothing started."""
    from reverie._private.serve.options import open_http, plan_serve, run_plan
    from reverie.errors import ReverieError

    try:
        options.check()
    except ReverieError as exc:
        fail(str(exc))
    options.export_trace()
    if reload and not dry_run:
        from reverie._private.serve.reload import run_with_reload

        argv = [a for a in sys.argv[1:] if a != "--reload"]
        raise typer.Exit(run_with_reload(argv, Path.cwd()))
    entry = _load(target)
    try:
        plan = plan_serve(target, entry, options)
    except ReverieError as exc:
        fail(str(exc))
    if dry_run:
        _print_plan(plan, as_json)
        return
    try:
        sock = open_http(plan)
    except ReverieError as exc:
        fail(str(exc))
    raise typer.Exit(run_plan(plan, entry, options, sock))


def _print_plan(plan: ServePlan, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(plan.to_json(), indent=2))
        return
    from rich.console import Console

    from reverie._private.serve.output import plan_renderable

    Console(highlight=False, width=max(160, Console().width)).print(plan_renderable(plan))


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve_cmd)
