"""One serving process: the child entry (``python -m reverie._private.serve.worker NAME``) and
the runner the embedded mode shares with it.

A child reads its ``WorkerSpec`` (JSON) from ``$REVERIE_WORKER_SPEC``, asks the kernel to signal
it when the supervisor dies (``prctl(PR_SET_PDEATHSIG)`` on Linux), watches the control pipe (EOF
means the supervisor is gone: the portable fallback), pins itself to its CPUs, imports the graph,
then waits for ``go`` before starting its services, so imports overlap while starts stay in
dependency order. It reports ``loaded``/``ready``/``failed``/``stopped`` as JSON lines on the
status pipe. SIGTERM drains: stop accepting HTTP, finish in-flight requests (bounded), withdraw
from NATS, run ``on_shutdown`` hooks, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from .logs import setup_logging
from .status import INSTANCE, ChildState

__all__ = ["SPEC_ENV", "WorkerSpec", "load_entry", "main", "run_process"]

SPEC_ENV = "REVERIE_WORKER_SPEC"
EXIT_START_FAILED = 3
EXIT_PARENT_GONE = 70
ORPHAN_GRACE = 3.0  # seconds an orphaned worker gets for its on_shutdown hooks
log = logging.getLogger("reverie.serve")

Status = Callable[[dict[str, Any]], None]


@dataclass
class WorkerSpec:
    """What one process runs; the supervisor writes it, the child reads it."""

    target: str
    process: str = "main"
    services: list[str] | None = None  # None: every service of the graph
    deployment: str | None = None
    discover: list[str] = field(default_factory=list)
    sys_path: list[str] = field(default_factory=list)
    index: int = 0
    count: int = 1
    nats: str | None = None
    nats_replicas: int = 1
    http_fd: int | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http: bool = True
    #: the direct plane's TCP address (``ServePlan.direct_host``; None: the runtime's default)
    direct_host: str | None = None
    control_fd: int | None = None
    status_fd: int | None = None
    cpus: list[int] = field(default_factory=list)
    drain_timeout: float = 10.0
    log_format: str = "text"
    log_level: str = "info"
    access_log: bool = True
    restarts: int = 0  # times the supervisor restarted this worker
    process_total: int = 1  # processes of the serve run (they answer /metrics together)
    parent_pid: int = 0
    #: ``HttpLimits`` fields (``reverie serve --max-header-size`` and friends).
    http_limits: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        return cls(**json.loads(text))


def load_entry(target: str, sys_path: list[str] | None = None) -> type:
    """Import ``MODULE:CLASS``, or ``MODULE`` whose ``entry`` attribute names the entry class."""
    from ..importer import import_ref

    cls: type = import_ref(target, kind="service", entry=True, sys_path=sys_path)
    return cls


#: The HTTP servers of this process (one at most), for the supervisor's ``rebalance`` line.
_SERVING: list[Any] = []


class _Http:
    """The HTTP side of a process, started after its services, stopped before them."""

    def __init__(self) -> None:
        self.handle: Any = None

    async def start(self, host: Any, spec: WorkerSpec) -> str:
        from .httpd import start_http

        self.handle = await start_http(
            host,
            fd=spec.http_fd,
            bind_host=spec.http_host,
            port=spec.http_port,
            drain_timeout=spec.drain_timeout,
            access_log=spec.access_log,
            limits=spec.http_limits,
        )
        _SERVING.append(self.handle)
        return str(self.handle.url)

    async def stop(self) -> None:
        if self.handle is not None:
            with contextlib.suppress(ValueError):
                _SERVING.remove(self.handle)
            await self.handle.stop()
            self.handle = None


async def _rebalance(workers: int) -> None:
    """Another entry worker came back: shed our share of keep-alive clients (they reconnect
    after their next response, and the kernel spreads them over every entry worker)."""
    for server in list(_SERVING):
        log.info(
            "a peer entry worker is back: shedding keep-alive connections down to our "
            "share of %d workers",
            workers,
        )
        n = await server.rebalance(workers)
        log.info("%d keep-alive connection(s) were asked to reconnect", n)


async def run_process(
    spec: WorkerSpec,
    *,
    stop: asyncio.Event,
    status: Status,
    go: asyncio.Event | None = None,
    entry: type | None = None,
) -> int:
    """Load, (wait for ``go``,) start, serve until ``stop``, drain and stop. Returns the exit
    code: 0 after a clean stop, 3 when the start failed (the status says why)."""
    from ..config.deployment import load_deployment
    from .plan import prepare_host

    t0 = time.monotonic()
    runtime: Any = None
    http = _Http()
    host: Any = None
    try:
        cls = entry or load_entry(spec.target, spec.sys_path)
        from ..call.tracing import configure

        # Before any client is linked: with tracing on they are the traced kind.
        configure(service_name=spec.process if spec.process != "main" else cls.__name__)
        dep = load_deployment(spec.deployment) if spec.deployment else None
        host = prepare_host(cls, dep, spec.discover)
        _report_instances(host, status)
        if spec.nats:
            runtime = await _attach_runtime(host, spec.nats, spec.nats_replicas, spec.direct_host)
        from ..state.attach import attach_state  # checkpoints, migration

        await attach_state(host, dep, runtime, index=spec.index, count=spec.count)
        status({"event": ChildState.LOADED, "seconds": round(time.monotonic() - t0, 3)})
        if go is not None:
            await _first(go, stop)
            if stop.is_set():
                await _shutdown(host, http, runtime)
                return 0
        local = set(spec.services) if spec.services is not None else None
        await host.start(cls, local=local)
        if runtime is not None and spec.process_total > 1:
            await _serve_bus_metrics(host, runtime, spec)
        exposed = _expose(host, cls, runtime, spec)
        url = await http.start(host, spec) if spec.http else None
    except Exception as exc:
        from reverie.errors import StartError

        if not isinstance(exc, StartError):  # a StartError's traceback is logged by the host
            log.error("start failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
        status({"event": ChildState.FAILED, "error": f"{type(exc).__name__}: {exc}"})
        await _shutdown(host, http, runtime)
        return EXIT_START_FAILED
    status(_ready_event(host, url, exposed, t0))
    await stop.wait()
    status({"event": ChildState.STOPPING})
    await _shutdown(host, http, runtime)
    status({"event": ChildState.STOPPED})
    return 0


async def _serve_bus_metrics(host: Any, runtime: Any, spec: WorkerSpec) -> None:
    """Publish this process's metrics on the runtime; the entry also gathers every process's."""
    from .metrics_bus import dashboard_source, metrics_source, serve_metrics

    await serve_metrics(runtime.nc, host, spec.process, spec.restarts)
    if spec.http:
        host.metrics_source = metrics_source(runtime.nc, spec.process_total)
        host.dashboard_source = dashboard_source(runtime.nc, spec.process_total)


def _expose(host: Any, cls: type, runtime: Any, spec: WorkerSpec) -> dict[str, str]:
    """Expose the graph over HTTP (and other processes' services, when served over a runtime)."""
    from ..http.attach import expose_graph

    exposed = expose_graph(host, cls)  # the same public surface in every mode
    if runtime is not None and spec.http:
        from ..runtime.features import forward_graph

        # Services of other processes answer here too, carried over the runtime.
        exposed.update(forward_graph(host, cls, runtime))
    return exposed


def _ready_event(host: Any, url: str | None, exposed: dict[str, str], t0: float) -> dict[str, Any]:
    """The ``ready`` status event: pid, URL, exposed paths, services and seconds since ``t0``."""
    return {
        "event": ChildState.READY,
        "pid": os.getpid(),
        "url": url,
        "exposed": exposed,
        "services": sorted(host.instances),
        "seconds": round(time.monotonic() - t0, 3),
    }


def _report_instances(host: Any, status: Status) -> None:
    """Status events as each instance starts and runs, for a progress line while a slow
    ``on_start`` runs (the supervisor and the embedded mode print them)."""
    started: dict[str, float] = {}

    async def starting(inst: Any) -> None:
        started[inst.path] = time.monotonic()
        status(
            {"event": INSTANCE, "service": inst.meta.name, "path": inst.path, "state": "starting"}
        )

    async def running(inst: Any) -> None:
        t = started.pop(inst.path, None)
        status(
            {
                "event": INSTANCE,
                "service": inst.meta.name,
                "path": inst.path,
                "state": "running",
                "seconds": None if t is None else round(time.monotonic() - t, 3),
            }
        )

    host.on_instance_starting.append(starting)
    host.on_instance_running.append(running)


async def _first(*events: asyncio.Event) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def _attach_runtime(
    host: Any, url: str, replicas: int = 1, direct_host: str | None = None
) -> Any:
    from ..runtime import DistributedRuntime

    try:
        from ..runtime.attach import attach_runtime  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise RuntimeError(
            f"this build cannot serve over NATS yet (reverie._private.runtime.attach: {exc}); "
            f"run with every service at workers: 1 and no process: separate"
        ) from None
    rt = await DistributedRuntime.connect(url, replicas=replicas, direct_host=direct_host)
    try:
        await attach_runtime(host, rt)
    except BaseException:
        await rt.close()
        raise
    return rt


async def _shutdown(host: Any, http: _Http, runtime: Any) -> None:
    """Stop accepting and drain HTTP, stop instances (withdraws them, runs on_shutdown hooks),
    then close the NATS connection. Each step runs even when the one before failed."""
    try:
        await http.stop()
    except Exception:
        log.exception("stopping HTTP")
    if host is not None:
        try:
            await host.stop()
        except Exception:
            log.exception("stopping the services")
    if runtime is not None:
        try:
            await runtime.close()
        except Exception:
            log.exception("closing the NATS runtime")


# -- the child ------------------------------------------------------------------------------------


def _set_pdeathsig() -> None:
    """Linux: have the kernel send SIGTERM to this process when its parent dies."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):  # pragma: no cover - exotic libc
        pass


def _hard_exit_later(seconds: float, code: int) -> None:
    t = threading.Timer(seconds, os._exit, args=(code,))
    t.daemon = True
    t.start()


def _watch_control(
    fd: int, loop: asyncio.AbstractEventLoop, go: asyncio.Event, stop: asyncio.Event, grace: float
) -> None:
    """Thread: 'go' starts the services, 'rebalance' closes keep-alive connections at their
    next response; EOF means the supervisor is gone."""
    buf = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            chunk = b""
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip() == b"go":
                loop.call_soon_threadsafe(go.set)
            elif line.startswith(b"rebalance "):
                with contextlib.suppress(ValueError):
                    workers = int(line.split()[1])
                    asyncio.run_coroutine_threadsafe(_rebalance(workers), loop)
    # The supervisor died (or closed the pipe): stop, and make sure we really go.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(stop.set)
    _hard_exit_later(grace, EXIT_PARENT_GONE)


def _status_writer(fd: int | None) -> Status:
    def write(event: dict[str, Any]) -> None:
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(fd, (json.dumps(event) + "\n").encode())

    return write


async def _child(spec: WorkerSpec) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    go = asyncio.Event()
    grace = spec.drain_timeout + 5.0
    stopping = False

    def on_signal() -> None:
        nonlocal stopping
        if stopping:
            os._exit(1)  # second signal: no more waiting
        stopping = True
        stop.set()
        orphaned = bool(spec.parent_pid) and os.getppid() != spec.parent_pid
        # Orphaned (PR_SET_PDEATHSIG): nobody waits for a drain; run hooks briefly and go.
        _hard_exit_later(ORPHAN_GRACE if orphaned else grace, EXIT_PARENT_GONE if orphaned else 1)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    if spec.control_fd is not None:
        threading.Thread(
            target=_watch_control,
            args=(spec.control_fd, loop, go, stop, ORPHAN_GRACE),
            daemon=True,
            name="reverie-control",
        ).start()
    else:
        go.set()
    return await run_process(spec, stop=stop, status=_status_writer(spec.status_fd), go=go)


def main(argv: list[str] | None = None) -> int:
    """Child entry: ``python -m reverie._private.serve.worker NAME`` with the spec in the env."""
    text = os.environ.pop(SPEC_ENV, None)
    if not text:
        print(
            f"error: {SPEC_ENV} is not set; this module is started by 'reverie serve'",
            file=sys.stderr,
        )
        return 2
    spec = WorkerSpec.from_json(text)
    _set_pdeathsig()
    if spec.parent_pid and os.getppid() != spec.parent_pid:
        return EXIT_PARENT_GONE  # the supervisor died before prctl took effect
    if spec.cpus and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, spec.cpus)
        except OSError as exc:
            print(f"warning: cannot pin to CPUs {spec.cpus}: {exc}", file=sys.stderr)
    setup_logging(spec.log_format, spec.log_level, spec.access_log)
    return asyncio.run(_child(spec))


if __name__ == "__main__":
    sys.exit(main())
