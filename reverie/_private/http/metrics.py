"""``GET /metrics``: the host's instances in the Prometheus text format (prometheus-client).

A collector reads the counters the request paths already keep (``Instance.requests``) at scrape
time, so serving requests pays nothing extra for metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..host.host import Host

__all__ = ["render_metrics"]


class _HostCollector:
    def __init__(self, host: Host) -> None:
        self.host = host

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        requests = CounterMetricFamily(
            "reverie_requests",
            "Calls an instance served over HTTP and NATS, by endpoint or feature.",
            labels=["service", "path", "endpoint"],
        )
        up = GaugeMetricFamily(
            "reverie_instance_up",
            "1 while the instance is running, else 0.",
            labels=["service", "path", "state"],
        )
        uptime = GaugeMetricFamily(
            "reverie_instance_uptime_seconds",
            "Seconds since the instance started running.",
            labels=["service", "path"],
        )
        for inst in list(self.host.instances.values()):
            name, path = inst.meta.name, inst.path
            for endpoint, count in sorted(inst.requests.items()):
                requests.add_metric([name, path, endpoint], count)
            up.add_metric([name, path, inst.state.value], 1.0 if inst.accepting else 0.0)
            uptime.add_metric([name, path], inst.uptime())
        yield requests
        yield up
        yield uptime
        yield from _edge_families(self.host)


def _edge_families(host: Host) -> Iterator[Any]:
    """Per dependency edge: caller service -> callee service and endpoint, over a transport."""
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    from ..call.edges import BOUNDS

    labels = ["caller", "callee", "endpoint", "transport"]
    calls = CounterMetricFamily(
        "reverie_edge_calls",
        "Calls a service made to a dependency's endpoint, by outcome (ok, or the error code).",
        labels=[*labels, "outcome"],
    )
    errors = CounterMetricFamily(
        "reverie_edge_errors", "Calls to a dependency's endpoint that failed.", labels=labels
    )
    latency = HistogramMetricFamily(
        "reverie_edge_latency_seconds",
        "Latency of calls to a dependency's endpoint (a stream: "
        "until its end). In-process unary calls: one in 64 is timed.",
        labels=labels,
    )
    in_flight = GaugeMetricFamily(
        "reverie_edge_in_flight",
        "Calls to a dependency's endpoint now in flight (in-process "
        "unary: estimated from the timed calls).",
        labels=labels,
    )
    items = CounterMetricFamily(
        "reverie_edge_stream_items",
        "Items received from a dependency's streaming endpoint (counted over HTTP and NATS).",
        labels=labels,
    )
    for st in host.edges:
        key = [st.caller, st.callee, st.endpoint, st.transport]
        calls.add_metric([*key, "ok"], st.ok)
        for code, n in sorted(st.outcomes.items()):
            calls.add_metric([*key, code], n)
        errors.add_metric(key, st.errors)
        cumulative, buckets = 0, []
        for bound, n in zip((*map(str, BOUNDS), "+Inf"), st.buckets, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        latency.add_metric(key, buckets, st.total)
        in_flight.add_metric(key, st.in_flight)
        if st.streaming:
            items.add_metric(key, st.items)
    yield calls
    yield errors
    yield latency
    yield in_flight
    yield items


def render_metrics(host: Host) -> tuple[bytes, bytes]:
    """(body, content type) of the host's metrics in the Prometheus text exposition format."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_HostCollector(host))
    return generate_latest(registry), CONTENT_TYPE_LATEST.encode()
