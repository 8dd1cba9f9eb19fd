"""OpenTelemetry spans across Frontend -> Middle -> Backend at every distance: in-process, HTTP
(three hosts, each on its own uvicorn) and NATS (three hosts on a real nats-server). The tree has
exactly one shape everywhere: a CLIENT and a SERVER span per hop, each the parent of the next,
one trace, joined by W3C trace context."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from reverie import Host, depends, endpoint, get_meta, service
from reverie._private.call import tracing
from reverie._private.call.service_client import ServiceClient
from reverie.errors import RemoteError


@service(name="TBackend", namespace="trace")
class Backend:
    @endpoint()
    async def run(self, x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x + 1

    @endpoint()
    async def words(self, n: int) -> AsyncIterator[str]:
        for i in range(n):
            yield f"w{i}"

    @endpoint()
    async def broken(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise RuntimeError("ran dry")


@service(name="TMiddle", namespace="trace")
class Middle:
    backend = depends(Backend)

    @endpoint()
    async def run(self, x: int) -> int:
        return int(await self.backend.run(x)) * 2

    @endpoint()
    async def words(self, n: int) -> AsyncIterator[str]:
        async for w in self.backend.words(n):
            yield w.upper()


@service(name="TFrontend", namespace="trace")
class Frontend:
    middle = depends(Middle)

    @endpoint()
    async def run(self, x: int) -> int:
        return int(await self.middle.run(x)) + 100

    @endpoint()
    async def words(self, n: int) -> AsyncIterator[str]:
        async for w in self.middle.words(n):
            yield w


Entry = Callable[[], AbstractAsyncContextManager[ServiceClient]]


@asynccontextmanager
async def _inprocess() -> AsyncIterator[ServiceClient]:
    async with Host(env={}) as host:
        await host.start(Frontend)
        yield host.client(Frontend)


@asynccontextmanager
async def _http() -> AsyncIterator[ServiceClient]:
    from reverie._private.http.attach import attach_http
    from reverie._private.http.server import HttpServer
    from reverie._private.transports.http import HttpTransport

    async with AsyncExitStack() as stack:
        url: str | None = None
        below: str | None = None
        for cls in (Backend, Middle, Frontend):  # each service its own host and server
            host = Host(env={}, name=get_meta(cls).name)
            if url is not None and below is not None:
                attach_http(host, remote={below: url})
            await stack.enter_async_context(host)
            await host.start(cls)
            srv = HttpServer(host, port=0, access_log=False, log_level="warning")
            await stack.enter_async_context(srv)
            below, url = get_meta(cls).name, f"{srv.url}/{get_meta(cls).name}"
        assert url is not None
        client = ServiceClient(get_meta(Frontend), HttpTransport(url))
        try:
            yield client
        finally:
            await client.aclose()


@asynccontextmanager
async def _nats() -> AsyncIterator[ServiceClient]:
    """Each service in its own host with its own runtime connection to a real nats-server; the
    test calls through a fourth connection, so every hop crosses NATS."""
    from reverie import attach_runtime
    from reverie._private.host.graph import resolve_graph
    from reverie._private.runtime import DistributedRuntime
    from reverie._private.runtime.natsserver import NatsServer
    from reverie._private.transports.nats import NatsTransport

    server = NatsServer()
    await server.start()
    runtimes: list[DistributedRuntime] = []
    hosts: list[Host] = []
    try:
        for cls in resolve_graph(Frontend).order:  # leaves first
            rt = await DistributedRuntime.connect(server.url)
            runtimes.append(rt)
            host = Host(env={}, name=get_meta(cls).name)
            hosts.append(host)
            await attach_runtime(host, rt, dependency_timeout=5.0)
            await host.start(Frontend, local={get_meta(cls).name})
        caller = await DistributedRuntime.connect(server.url)
        runtimes.append(caller)
        meta = get_meta(Frontend)
        yield ServiceClient(meta, NatsTransport(caller, meta.namespace, meta.name))
    finally:
        for host in reversed(hosts):
            await host.stop()
        for rt in reversed(runtimes):
            await rt.close()
        await server.stop()
        server.cleanup()


DISTANCES: dict[str, Entry] = {"inprocess": _inprocess, "http": _http, "nats": _nats}


@pytest.fixture
def spans() -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable_tracing(provider)
    try:
        yield provider, exporter
    finally:
        tracing.disable_tracing()


def _chain(finished: list[ReadableSpan], root: ReadableSpan) -> list[tuple[str, SpanKind]]:
    """From the root down: each span must have exactly one child."""
    by_parent: dict[int, list[ReadableSpan]] = {}
    for s in finished:
        if s.parent is not None:
            by_parent.setdefault(s.parent.span_id, []).append(s)
    out: list[Any] = []
    node = root
    while True:
        kids = by_parent.get(node.context.span_id, [])
        assert len(kids) <= 1, f"{node.name} has {len(kids)} children"
        if not kids:
            return out
        node = kids[0]
        out.append((node.name, node.kind))


SHAPE = [
    (f"T{svc}.run", kind)
    for svc in ("Frontend", "Middle", "Backend")
    for kind in (SpanKind.CLIENT, SpanKind.SERVER)
]


@pytest.mark.parametrize("distance", sorted(DISTANCES))
async def test_span_tree_is_the_same_at_every_distance(distance: str, spans: Any) -> None:
    provider, exporter = spans
    async with DISTANCES[distance]() as client:
        with provider.get_tracer("test").start_as_current_span("test") as root:
            assert await client.run(1) == 104
        finished = [
            s
            for s in exporter.get_finished_spans()
            if s.context.trace_id == root.get_span_context().trace_id
        ]
        assert len(finished) == 7, [s.name for s in finished]  # the test's span and 6 more
        test_span = next(s for s in finished if s.name == "test")
        assert _chain(finished, test_span) == SHAPE
        for s in finished:
            if s.name != "test":
                assert s.attributes is not None
                assert s.attributes["rpc.system"] == "reverie"
                assert s.attributes["reverie.request_id"]
                assert s.status.status_code is not StatusCode.ERROR
        server = next(s for s in finished if s.name == "TBackend.run" and s.kind is SpanKind.SERVER)
        assert server.attributes is not None
        want = {"inprocess": "in-process", "http": "http", "nats": "nats"}[distance]
        assert server.attributes["reverie.transport"] == want

        exporter.clear()
        with (
            provider.get_tracer("test").start_as_current_span("test"),
            pytest.raises(RemoteError, match="negative"),
        ):
            await client.run(-1)
        failed = [s for s in exporter.get_finished_spans() if s.name == "TBackend.run"]
        assert {s.kind for s in failed} == {SpanKind.CLIENT, SpanKind.SERVER}
        for s in failed:
            assert s.status.status_code is StatusCode.ERROR
            assert s.attributes is not None and s.attributes["reverie.error.code"] in (
                "remote",
                "ValueError",
            )


async def test_stream_spans_count_items(spans: Any) -> None:
    provider, exporter = spans
    async with _inprocess() as client:
        with provider.get_tracer("test").start_as_current_span("test"):
            assert [w async for w in client.words(3)] == ["W0", "W1", "W2"]
    words = [s for s in exporter.get_finished_spans() if s.name.endswith(".words")]
    assert len(words) == 6
    assert all(
        s.attributes is not None and s.attributes["reverie.stream.items"] == 3 for s in words
    )


async def test_tracing_off_links_the_plain_callers() -> None:
    from reverie._private.call import client as c

    assert not tracing.ON
    async with Host(env={}) as host:
        await host.start(Frontend)
        mid = host.instance(Frontend).obj.middle
        assert type(mid._callers["run"]) is c._LocalUnaryCaller  # in-process, untraced
        assert mid.__dict__["run"] is mid._callers["run"].call  # its function, linked
        assert type(mid.__dict__["words"]) is c._StreamCaller


async def test_http_stream_server_span_records_items_and_a_mid_stream_error(spans: Any) -> None:
    from reverie._private.http.server import HttpServer
    from reverie._private.transports.http import HttpTransport

    _, exporter = spans
    async with Host(env={}) as host:
        await host.start(Backend)
        async with HttpServer(host, port=0, access_log=False, log_level="warning") as srv:
            client = ServiceClient(get_meta(Backend), HttpTransport(f"{srv.url}/TBackend"))
            got: list[int] = []
            with pytest.raises(RemoteError, match="ran dry"):
                async for i in client.broken(2):
                    got.append(i)
            await client.aclose()
    assert got == [0, 1]
    server = [
        s
        for s in exporter.get_finished_spans()
        if s.name == "TBackend.broken" and s.kind is SpanKind.SERVER
    ]
    assert len(server) == 1
    assert server[0].status.status_code is StatusCode.ERROR
    assert server[0].attributes is not None
    assert server[0].attributes["reverie.stream.items"] == 2
    assert server[0].attributes["reverie.error.code"] == "remote"
