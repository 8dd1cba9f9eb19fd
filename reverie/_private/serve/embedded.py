"""Embedded mode: the whole graph in this process, in-process calls, HTTP on one port.

The same runner as a worker process (``worker.run_process``), driven from the CLI: signals set
the stop event, the start-up table is printed once the host is ready, and the exit code says
whether the start failed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from .child import SAME_SIGNAL_WINDOW
from .output import Output
from .plan_types import ServePlan
from .status import INSTANCE, ChildState
from .worker import EXIT_START_FAILED, WorkerSpec, run_process

__all__ = ["run_embedded"]


async def run_embedded(
    plan: ServePlan,
    entry: type,
    output: Output,
    *,
    sock: Any = None,
    drain_timeout: float = 10.0,
    log_format: str = "text",
    access_log: bool = True,
    http_limits: dict[str, Any] | None = None,
) -> int:
    """Serve the plan in this process until SIGINT/SIGTERM; returns the exit code."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    on_signal = _signal_handler(output, stop, drain_timeout)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)
    proc = plan.processes[0]
    for key, value in proc.env.items():  # the deployment's env, and CUDA_VISIBLE_DEVICES
        os.environ[key] = value
    output.register(["main"])
    fd = sock.detach() if sock is not None else None
    spec = WorkerSpec(
        target=plan.target,
        deployment=plan.deployment,
        discover=plan.discover,
        nats=plan.nats,
        http_fd=fd,
        nats_replicas=plan.nats_replicas,
        direct_host=plan.direct_host.value,
        http_host=plan.http_host,
        http_port=plan.http_port,
        drain_timeout=drain_timeout,
        log_format=log_format,
        access_log=access_log,
        http_limits=dict(http_limits or {}),
    )
    status = _status_printer(plan, output, time.monotonic())
    try:
        code = await run_process(spec, stop=stop, status=status, entry=entry)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    if code == EXIT_START_FAILED:
        return 1
    output.info("stopped cleanly")
    return code


def _signal_handler(
    output: Output, stop: asyncio.Event, drain_timeout: float
) -> Callable[[int], None]:
    """The first SIGINT/SIGTERM sets ``stop`` (a drain); a second one exits at once."""
    signals = 0
    first = 0.0

    def on_signal(sig: int) -> None:
        nonlocal signals, first
        now = time.monotonic()
        if signals and now - first < SAME_SIGNAL_WINDOW:
            return  # the same request, sent to us and to our process group
        signals += 1
        first = first or now
        if signals > 1:
            output.info(f"{signal.Signals(sig).name} again: exiting now")
            os._exit(1)
        output.info(
            f"{signal.Signals(sig).name}: shutting down (drain timeout "
            f"{drain_timeout:g} s; send it again to exit at once)"
        )
        stop.set()

    return on_signal


def _status_printer(plan: ServePlan, output: Output, t0: float) -> Callable[[dict[str, Any]], None]:
    """What the embedded run prints for each status event: the start-up table once ready, the
    failure, a progress line while each instance starts."""

    def status(event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == ChildState.READY:
            rows = [
                {
                    "service": s.name,
                    "processes": ["main"],
                    "pids": [os.getpid()],
                    "state": ChildState.READY,
                    "url": f"{event.get('url')}/{s.url_path}" if s.url_path else None,
                }
                for s in plan.services
            ]
            output.startup_table(rows, time.monotonic() - t0)
        elif kind == ChildState.FAILED:
            output.error(f"start failed: {event.get('error')}")
        elif kind == INSTANCE:  # a progress line while each instance starts
            name, state = event.get("service"), event.get("state")
            if state == "starting":
                output.info(f"starting {name} ...", event="instance", service=name, state=state)
            else:
                output.info(
                    f"{name} is {state} after {event.get('seconds')} s",
                    event="instance",
                    service=name,
                    state=state,
                    seconds=event.get("seconds"),
                )

    return status
