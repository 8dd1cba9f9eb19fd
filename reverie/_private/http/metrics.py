"""``GET /metrics``: the host's instances in the Prometheus text format (prometheus-client).

A collector reads the counters the request paths already keep (``Instance.requests``) at scrape
time, so serving requests pays nothing extra for metrics.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..host import Host

__all__ = ["render_metrics"]


class _HostCollector:
    def __init__(self, host: Host) -> None:
        self.host = host

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        requests = CounterMetricFamily(
            "reverie_requests", "Calls an instance served over HTTP and NATS, by endpoint or "
            "feature.", labels=["service", "path", "endpoint"],
        )
        up = GaugeMetricFamily(
            "reverie_instance_up", "1 while the instance is running, else 0.",
            labels=["service", "path", "state"],
        )
        uptime = GaugeMetricFamily(
            "reverie_instance_uptime_seconds", "Seconds since the instance started running.",
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


def render_metrics(host: Host) -> tuple[bytes, bytes]:
    """(body, content type) of the host's metrics in the Prometheus text exposition format."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_HostCollector(host))
    return generate_latest(registry), CONTENT_TYPE_LATEST.encode()
