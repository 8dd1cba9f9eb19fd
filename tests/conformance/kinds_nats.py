"""The NATS kind: the leaf service in one host, its dependent in another, the caller in a third,
each with its own runtime connection to a real nats-server — every hop crosses NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reverie import Host, attach_runtime
from reverie._private.client import ServiceClient
from reverie._private.graph import resolve_graph
from reverie._private.natsserver import NatsServer
from reverie._private.runtime import DistributedRuntime
from reverie._private.transports.nats import NatsTransport


class _Deployed:
    def __init__(self, runtime: DistributedRuntime, metas: dict[str, object]) -> None:
        self._runtime = runtime
        self._metas = metas

    def client(self, service: str) -> ServiceClient:
        meta = self._metas[service]
        return ServiceClient(meta, NatsTransport(self._runtime, meta.namespace, meta.name))  # type: ignore[attr-defined]


@asynccontextmanager
async def nats_kind(entry: type) -> AsyncIterator[_Deployed]:
    from reverie import get_meta

    server = NatsServer()
    await server.start()
    runtimes: list[DistributedRuntime] = []
    hosts: list[Host] = []
    try:
        graph = resolve_graph(entry)
        for cls in graph.order:  # one host (and runtime) per service, dependencies first
            rt = await DistributedRuntime.connect(server.url)
            runtimes.append(rt)
            host = Host(env={})
            hosts.append(host)
            await attach_runtime(host, rt, dependency_timeout=5.0)
            await host.start(entry, local={get_meta(cls).name})
        caller = await DistributedRuntime.connect(server.url)
        runtimes.append(caller)
        yield _Deployed(caller, {get_meta(c).name: get_meta(c) for c in graph.order})
    finally:
        for host in reversed(hosts):
            await host.stop()
        for rt in reversed(runtimes):
            await rt.close()
        await server.stop()
        server.cleanup()
