"""The transports the conformance suite runs on, each a *kind*: ``kind(entry)`` is an async
context manager giving a ``Deployed`` whose clients and service→service calls all use that
transport (a graph spread over one host per service where the transport crosses hosts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol

from ..declare.service import get_meta
from ..host.graph import resolve_graph

if TYPE_CHECKING:
    from ..call.service_client import ServiceClient
    from ..host.host import Host

__all__ = ["KINDS", "Deployed", "Kind"]


class Deployed(Protocol):
    """A running graph as the suite sees it."""

    def client(self, service: str) -> ServiceClient:
        """A client of ``service`` over the transport under test."""
        ...

    async def stop(self, service: str) -> None:
        """Stop ``service``'s instance (its host keeps running)."""
        ...


Kind = Callable[[type], AbstractAsyncContextManager[Deployed]]


class _Spread:
    """One host per service; clients made by ``make(meta, host)``."""

    def __init__(self, make: Callable[[Any, Host], ServiceClient]) -> None:
        self.make = make
        self.hosts: dict[str, Host] = {}
        self.metas: dict[str, Any] = {}
        self.clients: list[ServiceClient] = []

    def client(self, service: str) -> ServiceClient:
        client = self.make(self.metas[service], self.hosts[service])
        self.clients.append(client)
        return client

    async def stop(self, service: str) -> None:
        await self.hosts[service].stop_instance(self.hosts[service].instance(service).path)

    async def close(self) -> None:
        for c in self.clients:
            await c.aclose()
        for host in reversed(list(self.hosts.values())):
            await host.stop()


class _OneHost:
    def __init__(self, host: Host) -> None:
        self.host = host

    def client(self, service: str) -> ServiceClient:
        return self.host.client(service)

    async def stop(self, service: str) -> None:
        await self.host.stop_instance(self.host.instance(service).path)


def _in_one_host(serialize: bool) -> Kind:
    @asynccontextmanager
    async def kind(entry: type) -> AsyncIterator[Deployed]:
        from reverie.testing import run_graph

        async with run_graph(entry, serialize=serialize) as g:
            yield _OneHost(g.host)

    return kind


@asynccontextmanager
async def http_kind(entry: type) -> AsyncIterator[Deployed]:
    """Each service in its own host behind its own uvicorn; a dependent reaches its dependency
    through ``attach_http(host, remote=...)``, the test through ``HttpTransport``."""
    from ..call.service_client import ServiceClient
    from ..host.host import Host
    from ..http.attach import attach_http
    from ..http.server import HttpServer
    from ..transports.http import HttpTransport

    urls: dict[str, str] = {}
    servers: list[HttpServer] = []

    def make(meta: Any, host: Host) -> ServiceClient:
        transport = HttpTransport(urls[meta.name])
        return ServiceClient(meta, transport, plug=transport.plug)

    spread = _Spread(make)
    try:
        for cls in resolve_graph(entry).order:  # dependencies first
            meta = get_meta(cls)
            host = Host(env={}, name=f"conformance-{meta.name}")
            spread.hosts[meta.name], spread.metas[meta.name] = host, meta
            attach_http(host, remote=dict(urls))
            server = HttpServer(host, port=0, access_log=False, log_level="warning")
            await host.start(entry, local={meta.name})
            await server.start()
            servers.append(server)
            urls[meta.name] = f"{server.url}/{host.instance(meta.name).path}"
        yield spread
    finally:
        for server in reversed(servers):
            await server.stop()
        await spread.close()


def _runtime_kind(direct: bool) -> Kind:
    @asynccontextmanager
    async def kind(entry: type) -> AsyncIterator[Deployed]:
        async with _over_runtime(entry, direct) as deployed:
            yield deployed

    return kind


@asynccontextmanager
async def _over_runtime(entry: type, direct: bool) -> AsyncIterator[Deployed]:
    """Each service in its own host with its own runtime connection to a real nats-server; the
    test calls through a third connection, so every hop crosses NATS.

    With ``$REVERIE_CONFORMANCE_NATS`` set to comma-separated URLs of the members of a NATS
    cluster (the multi-machine tests), the caller connects to the first and the hosts to the
    following ones in turn: every request and reply then crosses the network between machines.

    ``direct``: calls between the runtimes go over the direct data plane (a Unix socket here,
    since they share a machine; NATS remains the control plane); off, every call crosses NATS.
    """
    import os

    from ..call.service_client import ServiceClient
    from ..host.host import Host
    from ..runtime import DistributedRuntime
    from ..runtime.attach import attach_runtime
    from ..runtime.features import FEATURES_ENDPOINT, runtime_plug
    from ..runtime.natsserver import NatsServer
    from ..transports.nats import NatsTransport

    members = [u for u in os.environ.get("REVERIE_CONFORMANCE_NATS", "").split(",") if u]
    server = None if members else NatsServer()
    if server is not None:
        await server.start()
        members = [server.url]
    runtimes: list[DistributedRuntime] = []
    spread: _Spread | None = None
    try:
        caller = await DistributedRuntime.connect(members[0], direct=direct)
        runtimes.append(caller)
        spread = _Spread(
            lambda meta, host: ServiceClient(
                meta,
                NatsTransport(caller, meta.namespace, meta.name),
                plug=runtime_plug(caller, meta.namespace, meta.name),
            )
        )
        graph = resolve_graph(entry)
        order = graph.order
        own: dict[type, DistributedRuntime] = {}
        for i, cls in enumerate(order):  # one host (and runtime) per service, leaves first
            meta = get_meta(cls)
            rt = await DistributedRuntime.connect(members[(i + 1) % len(members)], direct=direct)
            runtimes.append(rt)
            own[cls] = rt
            host = Host(env={}, name=f"conformance-{meta.name}")
            spread.hosts[meta.name], spread.metas[meta.name] = host, meta
            await attach_runtime(host, rt, dependency_timeout=5.0)
            await host.start(entry, local={meta.name})
        # Readiness, as a dependent host waits for its dependencies: seen from the caller's
        # runtime and from each dependent's own (in a cluster they talk to different members),
        # so every endpoint's watcher is made now, not inside a rule's deadline.
        for cls in order:
            meta = get_meta(cls)
            seen_by = [caller] + [
                own[d] for d, es in graph.edges.items() if any(e.target is cls for e in es)
            ]
            for rt in seen_by:
                component = rt.namespace(meta.namespace).component(meta.name)
                for name in [*meta.endpoints, FEATURES_ENDPOINT]:
                    await component.endpoint(name).client().wait_for_workers(1, 10.0)
        yield spread
    finally:
        if spread is not None:
            await spread.close()
        for rt in reversed(runtimes):
            await rt.close()
        if server is not None:
            await server.stop()
            server.cleanup()


KINDS: dict[str, Kind] = {
    "inprocess": _in_one_host(False),
    "serialized": _in_one_host(True),
    "http": http_kind,
    "nats": _runtime_kind(direct=False),
    "direct": _runtime_kind(direct=True),
}
