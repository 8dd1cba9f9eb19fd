"""``reverie serve MODULE:CLASS [-f deploy.yaml]``: plan, then run embedded or supervised.

Exit codes: 0 after a clean stop (or a dry run), 1 when the run failed (a start failed, a
required worker crash-looped), 2 when nothing started (bad target, deployment file, plan).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import fail

__all__ = ["register"]


def _load(target: str) -> type:
    from reverie._private.serve.worker import load_entry
    from reverie.errors import ReverieError

    try:
        return load_entry(target, [os.getcwd()])
    except ReverieError as exc:
        fail(str(exc))
    except ModuleNotFoundError as exc:
        from reverie._private.suggest import target_hint

        fail(f"cannot import {target.partition(':')[0]!r}: {exc}" + target_hint(target))
    except Exception as exc:
        fail(f"importing {target.partition(':')[0]} failed: {type(exc).__name__}: {exc}")


def serve_cmd(
    target: Annotated[str, typer.Argument(
        help="The entry service, as MODULE:CLASS (or a MODULE whose 'entry' names it).")],
    file: Annotated[Path | None, typer.Option(
        "-f", "--file", help="The deployment YAML file.")] = None,
    nats: Annotated[str | None, typer.Option(
        help="NATS URL to use instead of starting an embedded nats-server; several members of "
        "a cluster: comma-separated.")] = None,
    nats_replicas: Annotated[int, typer.Option(
        help="Copies JetStream keeps of the runtime's KV buckets (3 in a 3-member cluster).")
    ] = 1,
    nats_listen: Annotated[str, typer.Option(
        help="HOST:PORT the embedded nats-server listens on for clients (port 0: a free one).")
    ] = "127.0.0.1:0",
    nats_cluster: Annotated[str | None, typer.Option(
        help="Start the embedded nats-server as a member of the NATS cluster of this name.")
    ] = None,
    nats_cluster_listen: Annotated[str, typer.Option(
        help="With --nats-cluster: HOST:PORT this member listens on for routes.")
    ] = "0.0.0.0:6222",
    nats_routes: Annotated[str | None, typer.Option(
        help="With --nats-cluster: the other members' route URLs, comma-separated "
        "(nats://10.0.0.2:6222,...; this member's own is ignored).")] = None,
    nats_name: Annotated[str | None, typer.Option(
        help="With --nats-cluster: this member's server name (default: the --node name, else "
        "the host name).")] = None,
    discover: Annotated[list[Path] | None, typer.Option(
        "--discover", help="Register the services found in this directory (repeatable), so "
        "SID dependencies resolve to them.")] = None,
    node: Annotated[str | None, typer.Option(
        help="Run only this node's share of the deployment's nodes: section; the other "
        "services are reached over NATS.")] = None,
    processes: Annotated[bool, typer.Option(
        "--processes", help="Run every service in its own process(es), joined over NATS.")
    ] = False,
    host: Annotated[str, typer.Option(help="HTTP listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(
        help="HTTP port of the entry service (0: any free port).")] = 8000,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Print the plan (processes, env, CPUs/GPUs, ports) and exit.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="With --dry-run: print JSON.")] = False,
    cpus: Annotated[int | None, typer.Option(
        help="CPUs this machine offers (default: detected with os.sched_getaffinity).")
    ] = None,
    gpus: Annotated[int | None, typer.Option(
        help="GPUs this machine offers (default: counted with nvidia-smi -L, else 0).")
    ] = None,
    drain_timeout: Annotated[float, typer.Option(
        help="Seconds in-flight requests get to finish on shutdown.")] = 10.0,
    grace: Annotated[float, typer.Option(
        help="Seconds past the drain timeout before a child is killed.")] = 5.0,
    start_timeout: Annotated[float, typer.Option(
        help="Seconds each start level gets to become ready.")] = 60.0,
    max_restarts: Annotated[int, typer.Option(
        help="Crashes allowed within --restart-window before a worker is marked failed.")
    ] = 5,
    restart_window: Annotated[float, typer.Option(help="Seconds; see --max-restarts.")] = 60.0,
    log_format: Annotated[str, typer.Option(help="text or json.")] = "text",
    trace: Annotated[str | None, typer.Option(
        help="OpenTelemetry spans for every call: console (printed), otlp (OTEL_EXPORTER_OTLP_* "
             "say where) or none. Default: OTEL_TRACES_EXPORTER, else none. Needs the otel "
             "extra.")] = None,
    log_level: Annotated[str, typer.Option(
        help="debug, info, warning or error: the least severe log line printed.")] = "info",
    access_log: Annotated[bool, typer.Option(
        "--access-log/--no-access-log",
        help="One line per HTTP request: method, path, status, duration, request id.")] = True,
    max_header_size: Annotated[int, typer.Option(
        help="Bytes of request line and headers an HTTP request may have (431 beyond).")
    ] = 64 * 1024,
    header_timeout: Annotated[float, typer.Option(
        help="Seconds from a request's first byte to the end of its headers (408 beyond).")
    ] = 10.0,
    body_timeout: Annotated[float, typer.Option(
        help="Seconds to read a request body (408 beyond).")] = 30.0,
    max_concurrent: Annotated[int, typer.Option(
        help="HTTP requests one instance runs at once, 0 for no limit (503 + Retry-After "
        "beyond); a service's ServiceArgs: max_concurrent wins.")] = 0,
    reload: Annotated[bool, typer.Option(
        "--reload", help="Restart when a .py or .yaml file under the current directory "
        "changes (development).")] = False,
) -> None:
    """Run a service graph: in this process by default, as supervised workers when the
    deployment asks for workers > 1 or separate processes."""
    from reverie._private.config.deployment import load_deployment
    from reverie._private.serve.output import Output, plan_renderable
    from reverie._private.serve.plan import EMBEDDED, build_plan
    from reverie._private.serve.resources import detect_inventory
    from reverie.errors import ReverieError

    if log_format not in ("text", "json"):
        fail(f"--log-format {log_format!r}: use text or json")
    if log_level.lower() not in ("debug", "info", "warning", "error"):
        fail(f"--log-level {log_level!r}: use debug, info, warning or error")
    log_level = log_level.lower()
    if trace is not None:
        if trace not in ("console", "otlp", "none"):
            fail(f"--trace {trace!r}: use console, otlp or none")
        os.environ["OTEL_TRACES_EXPORTER"] = trace  # every process of the run reads it
    if not 0 <= port <= 65535:
        fail(f"--port {port}: a port is a number from 0 to 65535 (0: any free port)")
    if reload and not dry_run:
        from reverie._private.serve.reload import run_with_reload

        argv = [a for a in sys.argv[1:] if a != "--reload"]
        raise typer.Exit(run_with_reload(argv, Path.cwd()))
    entry = _load(target)
    try:
        member = _cluster(nats, nats_cluster, nats_cluster_listen, nats_routes)
        dep = load_deployment(file) if file is not None else None
        inventory = detect_inventory(cpus, gpus)
        plan = build_plan(target, entry, dep, inventory, processes=processes, http_host=host,
                          http_port=port, nats=nats, node=node, nats_cluster=member,
                          discover=[str(d) for d in discover or []])
        from reverie._private.runtime.natsserver import parse_hostport

        plan.nats_listen = parse_hostport(nats_listen, 0, "--nats-listen")
        plan.nats_replicas = nats_replicas
        if member is not None:
            import socket

            plan.nats_name = nats_name or node or socket.gethostname()
    except ReverieError as exc:
        fail(str(exc))
    if nats_replicas < 1 or nats_replicas > 5:
        fail(f"--nats-replicas {nats_replicas}: JetStream keeps 1 to 5 copies")
    if dry_run:
        if as_json:
            typer.echo(json.dumps(plan.to_json(), indent=2))
        else:
            from rich.console import Console

            Console(highlight=False, width=max(160, Console().width)).print(plan_renderable(plan))
        return
    from reverie._private.serve.httpd import bind_socket

    sock = None
    if any(p.http for p in plan.processes):  # not when the entry runs on another node
        try:
            sock = bind_socket(host, port)
        except ReverieError as exc:
            fail(str(exc))
        plan.http_port = sock.getsockname()[1]  # the real one when --port 0
    out = Output(log_format)
    limits = {"max_header_size": max_header_size, "header_timeout": header_timeout,
              "body_timeout": body_timeout, "max_concurrent": max_concurrent or None}
    if plan.mode == EMBEDDED:
        from reverie._private.serve.embedded import run_embedded

        code = _run(run_embedded(plan, entry, out, sock=sock, drain_timeout=drain_timeout,
                                 log_format=log_format, access_log=access_log,
                                 http_limits=limits),
                    log_format, log_level, access_log)
    else:
        from reverie._private.serve.supervisor import RestartPolicy, Supervisor

        policy = RestartPolicy(max_restarts=max_restarts, window=restart_window)
        sup = Supervisor(plan, out, sock=sock, drain_timeout=drain_timeout, grace=grace,
                         start_timeout=start_timeout, policy=policy, log_format=log_format,
                         log_level=log_level, access_log=access_log, http_limits=limits)
        code = _run(sup.run(), log_format, log_level, access_log)
    raise typer.Exit(code)


def _cluster(nats: str | None, name: str | None, listen: str, routes: str | None) -> Any:
    """The embedded server's cluster membership from ``--nats-cluster`` and friends."""
    from reverie._private.runtime.natsserver import NatsCluster, parse_hostport
    from reverie.errors import ConfigError

    if name is None:
        if routes:
            raise ConfigError("--nats-routes needs --nats-cluster NAME", key="nats-routes",
                              fix="name the cluster the embedded nats-server joins")
        return None
    if nats:
        raise ConfigError("--nats names an existing server, --nats-cluster starts one; give one",
                          key="nats-cluster", fix="drop --nats to run an embedded member, or "
                          "drop --nats-cluster to use the servers given with --nats")
    host, port = parse_hostport(listen, 6222, "--nats-cluster-listen")
    return NatsCluster(name=name, listen=f"{host}:{port}",
                       routes=[r.strip() for r in (routes or "").split(",") if r.strip()])


def _run(coro: Any, log_format: str, log_level: str, access_log: bool) -> int:
    from reverie._private.serve.worker import setup_logging

    setup_logging(log_format, log_level, access_log)
    try:
        import uvloop

        result: int = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    return result


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command("serve")(serve_cmd)
