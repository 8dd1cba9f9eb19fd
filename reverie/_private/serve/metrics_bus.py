"""One ``/metrics`` for a graph served as several processes (``reverie serve --processes``).

Every serving process answers requests on the ``rvmetrics`` NATS subject with its own metrics
(Prometheus text) and who it is: process name, pid, node, restarts. The process that serves HTTP
asks them all when ``/metrics`` is scraped and merges the answers, each sample labelled with its
``process`` and ``node``, so one scrape of the entry port covers the whole graph; it adds
``reverie_process_restarts`` and ``reverie_process_up``. NATS is already how the processes talk;
no extra port or file is needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = [
    "SUBJECT",
    "dashboard_source",
    "gather_metrics",
    "merge_metrics",
    "metrics_source",
    "serve_metrics",
]

SUBJECT = "rvmetrics"
log = logging.getLogger("reverie.serve")


async def serve_metrics(
    nc: Any, host: Any, process: str, restarts: int, node: str | None = None
) -> Any:
    """Answer ``rvmetrics`` requests with this process's metrics; returns the subscription."""
    from ..http.metrics import render_metrics

    who = {
        "process": process,
        "pid": os.getpid(),
        "node": node or socket.gethostname(),
        "restarts": restarts,
    }

    async def answer(msg: Any) -> None:
        try:
            if msg.data == b"dashboard":  # the live graph page asks for this process's view
                from ..http.dashboard import dashboard_data

                await msg.respond(
                    json.dumps({**who, "dashboard": dashboard_data(host)}, default=str).encode()
                )
                return
            body, _ = render_metrics(host)
            await msg.respond(json.dumps({**who, "text": body.decode()}).encode())
        except Exception:  # pragma: no cover - a scrape must never take the process down
            log.exception("answering a metrics request")

    return await nc.subscribe(SUBJECT, cb=answer)


async def gather_metrics(
    nc: Any, expected: int, timeout: float = 2.0, ask: bytes = b""
) -> list[dict[str, Any]]:
    """Every process's answer: stops at ``expected`` answers or after ``timeout`` seconds."""
    inbox = nc.new_inbox()
    got: list[dict[str, Any]] = []
    done = asyncio.get_running_loop().create_future()

    async def collect(msg: Any) -> None:
        try:
            got.append(json.loads(msg.data))
        except ValueError:
            return
        if len(got) >= expected and not done.done():
            done.set_result(None)

    sub = await nc.subscribe(inbox, cb=collect)
    try:
        await nc.publish(SUBJECT, ask, reply=inbox)
        await nc.flush()
        try:
            await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            pass
    finally:
        await sub.unsubscribe()
    return got


def merge_metrics(answers: list[dict[str, Any]]) -> bytes:
    """The answers as one Prometheus text: every sample gains ``process`` and ``node``."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily, Metric
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.samples import Sample

    families: dict[str, Metric] = {}
    restarts = GaugeMetricFamily(
        "reverie_process_restarts",
        "Times the supervisor restarted this worker process.",
        labels=["process", "node"],
    )
    up = GaugeMetricFamily(
        "reverie_process_up",
        "1 for each process that answered this scrape, with its pid.",
        labels=["process", "node", "pid"],
    )
    for ans in sorted(answers, key=lambda a: str(a.get("process"))):
        extra = {"process": str(ans.get("process")), "node": str(ans.get("node"))}
        restarts.add_metric([extra["process"], extra["node"]], float(ans.get("restarts") or 0))
        up.add_metric([extra["process"], extra["node"], str(ans.get("pid"))], 1.0)
        for fam in text_string_to_metric_families(str(ans.get("text", ""))):
            into = families.get(fam.name)
            if into is None:
                into = families[fam.name] = Metric(fam.name, fam.documentation, fam.type)
            for s in fam.samples:
                into.samples.append(
                    Sample(s.name, {**s.labels, **extra}, s.value, s.timestamp, s.exemplar)
                )

    class _Merged:
        def collect(self) -> list[Metric]:
            return [*families.values(), restarts, up]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return generate_latest(registry)


def dashboard_source(nc: Any, expected: int) -> Callable[[], Awaitable[list[dict[str, Any]]]]:
    """What the entry's dashboard data calls in ``--processes`` mode: every process's view."""

    async def gather() -> list[dict[str, Any]]:
        return await gather_metrics(nc, expected, ask=b"dashboard")

    return gather


def metrics_source(nc: Any, expected: int) -> Callable[[], Awaitable[bytes]]:
    """What the entry's ``/metrics`` calls in ``--processes`` mode."""

    async def scrape() -> bytes:
        t0 = time.monotonic()
        answers = await gather_metrics(nc, expected)
        if len(answers) < expected:
            log.warning(
                "metrics: %d of %d processes answered within %.1f s",
                len(answers),
                expected,
                time.monotonic() - t0,
            )
        return merge_metrics(answers)

    return scrape
