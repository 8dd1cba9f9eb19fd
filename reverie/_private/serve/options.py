"""``ServeOptions``: everything ``reverie serve`` takes besides the target, and ``serve()``.

The CLI fills one ``ServeOptions`` from its flags; a program builds one itself and calls
``serve(Entry, ServeOptions(port=0))``. Both then run the same steps: check the options, load
the entry, build the plan, open the HTTP socket, run the plan embedded or supervised.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reverie.errors import ConfigError

if TYPE_CHECKING:
    from ..runtime.natsserver import NatsCluster
    from .plan_types import ServePlan
    from .supervisor import RestartPolicy

__all__ = ["ServeOptions", "open_http", "plan_serve", "run_plan", "serve"]

_LOG_FORMATS = ("text", "json")
_LOG_LEVELS = ("debug", "info", "warning", "error")
_TRACE = ("console", "otlp", "none")


@dataclass
class ServeOptions:
    """How to serve a graph: deployment file, NATS, processes, HTTP, resources, shutdown,
    restarts, logging and HTTP limits. Defaults are those of ``reverie serve``."""

    #: the deployment YAML file (``-f``)
    file: str | Path | None = None
    #: NATS URL(s) to use instead of an embedded nats-server (comma-separated for a cluster)
    nats: str | None = None
    nats_replicas: int = 1
    nats_listen: str = "127.0.0.1:0"
    nats_cluster: str | None = None
    nats_cluster_listen: str = "0.0.0.0:6222"
    nats_routes: str | None = None
    nats_name: str | None = None
    #: the address this machine's processes take direct calls from other machines on (None:
    #: the node's ``direct_host`` in the file, else ``$REVERIE_DIRECT_HOST``, else loopback)
    direct_host: str | None = None
    #: directories whose services are registered, so SID dependencies resolve to them
    discover: list[str] = field(default_factory=list)
    #: run only this node's share of the deployment's ``nodes:`` section
    node: str | None = None
    #: every service in its own process(es), joined over NATS
    processes: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    #: CPUs/GPUs this machine offers (None: detected)
    cpus: int | None = None
    gpus: int | None = None
    drain_timeout: float = 10.0
    grace: float = 5.0
    start_timeout: float = 60.0
    max_restarts: int = 5
    restart_window: float = 60.0
    log_format: str = "text"
    log_level: str = "info"
    access_log: bool = True
    #: OpenTelemetry exporter: console, otlp or none (None: ``OTEL_TRACES_EXPORTER``)
    trace: str | None = None
    max_header_size: int = 64 * 1024
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    #: HTTP requests one instance runs at once; 0 for no limit
    max_concurrent: int = 0

    def check(self) -> None:
        """Raise ``ConfigError`` naming the flag and the values it takes, for the first option
        that is out of range; normalises ``log_level`` to lower case."""
        if self.log_format not in _LOG_FORMATS:
            raise ConfigError(f"--log-format {self.log_format!r}: use text or json")
        if self.log_level.lower() not in _LOG_LEVELS:
            raise ConfigError(f"--log-level {self.log_level!r}: use debug, info, warning or error")
        self.log_level = self.log_level.lower()
        if self.trace is not None and self.trace not in _TRACE:
            raise ConfigError(f"--trace {self.trace!r}: use console, otlp or none")
        if not 0 <= self.port <= 65535:
            raise ConfigError(
                f"--port {self.port}: a port is a number from 0 to 65535 (0: any free port)"
            )

    def http_limits(self) -> dict[str, Any]:
        """The per-request HTTP limits every process applies."""
        return {
            "max_header_size": self.max_header_size,
            "header_timeout": self.header_timeout,
            "body_timeout": self.body_timeout,
            "max_concurrent": self.max_concurrent or None,
        }

    def export_trace(self) -> None:
        """``trace`` into ``OTEL_TRACES_EXPORTER``, which every process of the run reads."""
        if self.trace is not None:
            os.environ["OTEL_TRACES_EXPORTER"] = self.trace

    def restart_policy(self) -> RestartPolicy:
        from .supervisor import RestartPolicy

        return RestartPolicy(max_restarts=self.max_restarts, window=self.restart_window)

    def cluster(self) -> NatsCluster | None:
        """The embedded server's cluster membership from ``nats_cluster`` and friends."""
        from ..runtime.natsserver import NatsCluster, parse_hostport

        if self.nats_cluster is None:
            if self.nats_routes:
                raise ConfigError(
                    "--nats-routes needs --nats-cluster NAME",
                    key="nats-routes",
                    fix="name the cluster the embedded nats-server joins",
                )
            return None
        if self.nats:
            raise ConfigError(
                "--nats names an existing server, --nats-cluster starts one; give one",
                key="nats-cluster",
                fix="drop --nats to run an embedded member, or drop "
                "--nats-cluster to use the servers given with --nats",
            )
        host, port = parse_hostport(self.nats_cluster_listen, 6222, "--nats-cluster-listen")
        routes = [r.strip() for r in (self.nats_routes or "").split(",") if r.strip()]
        return NatsCluster(name=self.nats_cluster, listen=f"{host}:{port}", routes=routes)


def _ref(entry: type) -> str:
    """``module:Qualname`` of a class, which worker processes import."""
    return f"{entry.__module__}:{entry.__qualname__}"


def plan_serve(target: str, entry: type, options: ServeOptions) -> ServePlan:
    """Read the deployment file, detect resources and build the plan (nothing starts);
    raises ``ReverieError`` subclasses naming the problem."""
    from ..config.deployment import load_deployment
    from ..config.directhost import resolve_direct_host
    from ..runtime.natsserver import parse_hostport
    from .plan import build_plan
    from .resources import detect_inventory

    member = options.cluster()
    dep = load_deployment(options.file) if options.file is not None else None
    inventory = detect_inventory(options.cpus, options.gpus)
    plan = build_plan(
        target,
        entry,
        dep,
        inventory,
        processes=options.processes,
        http_host=options.host,
        http_port=options.port,
        nats=options.nats,
        node=options.node,
        nats_cluster=member,
        discover=[str(d) for d in options.discover],
    )
    plan.direct_host = resolve_direct_host(options.direct_host, dep, options.node, os.environ)
    plan.nats_listen = parse_hostport(options.nats_listen, 0, "--nats-listen")
    plan.nats_replicas = options.nats_replicas
    if member is not None:
        plan.nats_name = options.nats_name or options.node or socket.gethostname()
    if not 1 <= options.nats_replicas <= 5:
        raise ConfigError(f"--nats-replicas {options.nats_replicas}: JetStream keeps 1 to 5 copies")
    return plan


def open_http(plan: ServePlan) -> socket.socket | None:
    """The listening socket, when a process of this machine serves HTTP (not when the entry
    runs on another node); the plan learns the real port (``port=0``). First, when processes
    call each other directly, that their TCP address is one of this machine's."""
    from .httpd import listening_socket

    if plan.nats is not None:
        from ..config.directhost import check_listenable
        from ..runtime.direct import direct_setting

        if direct_setting(None):
            check_listenable(plan.direct_host)

    if not any(p.http for p in plan.processes):
        return None
    sock = listening_socket(plan.http_host, plan.http_port)
    plan.http_port = sock.getsockname()[1]
    return sock


def run_plan(
    plan: ServePlan, entry: type, options: ServeOptions, sock: socket.socket | None
) -> int:
    """Run the plan until stopped (SIGINT/SIGTERM), embedded or supervised; the exit code."""
    from .logs import setup_logging
    from .output import Output
    from .plan_types import EMBEDDED

    out = Output(options.log_format)
    coro: Any
    if plan.mode == EMBEDDED:
        from .embedded import run_embedded

        coro = run_embedded(
            plan,
            entry,
            out,
            sock=sock,
            drain_timeout=options.drain_timeout,
            log_format=options.log_format,
            access_log=options.access_log,
            http_limits=options.http_limits(),
        )
    else:
        from .supervisor import Supervisor

        coro = Supervisor(
            plan,
            out,
            sock=sock,
            drain_timeout=options.drain_timeout,
            grace=options.grace,
            start_timeout=options.start_timeout,
            policy=options.restart_policy(),
            log_format=options.log_format,
            log_level=options.log_level,
            access_log=options.access_log,
            http_limits=options.http_limits(),
        ).run()
    setup_logging(options.log_format, options.log_level, options.access_log)
    try:
        import uvloop

        result: int = uvloop.run(coro)
    except ImportError:
        result = asyncio.run(coro)
    return result


def serve(entry: type | str, options: ServeOptions | None = None) -> int:
    """Serve the graph of ``entry`` (a service class, or ``"MODULE:CLASS"``) as ``reverie
    serve`` does, until SIGINT/SIGTERM; returns the exit code (0 after a clean stop).

    Raises ``ReverieError`` subclasses for anything found before start: bad options, target,
    deployment file or plan. Worker processes import the entry by ``module:Qualname``, so
    with ``processes`` (or workers > 1) it must live in an importable module.
    """
    from ..importer import import_ref

    options = options or ServeOptions()
    options.check()
    options.export_trace()
    if isinstance(entry, str):
        target = entry
        entry = import_ref(target, kind="service", entry=True, sys_path=[os.getcwd()])
    else:
        target = _ref(entry)
    assert isinstance(entry, type)
    plan = plan_serve(target, entry, options)
    return run_plan(plan, entry, options, open_http(plan))
