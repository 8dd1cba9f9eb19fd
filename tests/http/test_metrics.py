"""GET /metrics: Prometheus text with request counts, instance state and uptime."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from reverie import Host, endpoint, feature, service
from reverie._private.http.server import HttpServer


@service()
class Counted:
    @feature("GET:hi")
    async def hi(self) -> str:
        return "hi"

    @endpoint()
    async def ping(self) -> str:
        return "pong"


async def test_metrics_count_requests_and_show_state() -> None:
    async with Host(env={}) as host:
        host.register(Counted)
        await host.start(Counted)
        async with (
            HttpServer(host, port=0, access_log=False, log_level="warning") as srv,
            httpx.AsyncClient(base_url=srv.url) as http,
        ):
            for _ in range(3):
                assert (await http.get("/Counted/hi")).status_code == 200
            assert (await http.post("/Counted/ping", json=None)).json() == "pong"
            r = await http.get("/metrics")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
            families = {f.name: f for f in text_string_to_metric_families(r.text)}
            counts = {
                s.labels["endpoint"]: s.value
                for s in families["reverie_requests"].samples
                if s.name == "reverie_requests_total"
            }
            assert counts == {"GET:hi": 3.0, "ping": 1.0}  # features by binding
            (up,) = families["reverie_instance_up"].samples
            assert up.labels == {"service": "Counted", "path": "Counted", "state": "running"}
            assert up.value == 1.0
            assert (await http.post("/metrics")).status_code == 405


async def test_metrics_per_dependency_edge() -> None:
    """The hello graph over HTTP: Frontend -> Middle -> Backend, in-process edges, streams."""
    from examples.hello.graph import Frontend

    async with Host(env={}) as host:
        await host.start(Frontend)
        async with (
            HttpServer(host, port=0, access_log=False, log_level="warning") as srv,
            httpx.AsyncClient(base_url=srv.url) as http,
        ):
            for i in range(5):
                assert (await http.get(f"/Frontend/hello/w{i}")).status_code == 200
            r = await http.get("/metrics")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    calls = {
        (
            s.labels["caller"],
            s.labels["callee"],
            s.labels["endpoint"],
            s.labels["transport"],
            s.labels["outcome"],
        ): s.value
        for s in families["reverie_edge_calls"].samples
        if s.name.endswith("_total")
    }
    assert calls == {
        ("Frontend", "Middle", "generate", "in-process", "ok"): 5.0,
        ("Middle", "Backend", "generate", "in-process", "ok"): 5.0,
    }
    lat = families["reverie_edge_latency_seconds"].samples
    count = [s for s in lat if s.name.endswith("_count") and s.labels["callee"] == "Middle"]
    assert count[0].value == 5.0  # every stream is timed
    inf = [
        s
        for s in lat
        if s.name.endswith("_bucket")
        and s.labels["le"] == "+Inf"
        and s.labels["callee"] == "Backend"
    ]
    assert inf[0].value == 5.0
    flight = {s.labels["callee"]: s.value for s in families["reverie_edge_in_flight"].samples}
    assert flight == {"Middle": 0.0, "Backend": 0.0}
    assert {s.labels["callee"] for s in families["reverie_edge_stream_items"].samples} == {
        "Middle",
        "Backend",
    }
