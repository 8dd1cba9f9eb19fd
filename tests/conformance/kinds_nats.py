"""The NATS kind: the leaf service in one host, its dependent in another, the caller in a third,
each with its own runtime connection to a real nats-server — every hop crosses NATS.

With ``$REVERIE_CONFORMANCE_NATS`` set to comma-separated URLs of the members of a NATS cluster
(the multi-machine tests run this suite inside one network namespace with the URLs of three
machines' members), the caller connects to the first and the hosts to the following ones in
turn: every request and reply then crosses the network between machines.
"""

from __future__ import annotations

import os
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

    members = [u for u in os.environ.get("REVERIE_CONFORMANCE_NATS", "").split(",") if u]
    server = None if members else NatsServer()
    if server is not None:
        await server.start()
        members = [server.url]
    runtimes: list[DistributedRuntime] = []
    hosts: list[Host] = []
    try:
        graph = resolve_graph(entry)
        for i, cls in enumerate(graph.order):  # one host (and runtime) per service, leaves first
            rt = await DistributedRuntime.connect(members[(i + 1) % len(members)])
            runtimes.append(rt)
            host = Host(env={})
            hosts.append(host)
            await attach_runtime(host, rt, dependency_timeout=5.0)
            await host.start(entry, local={get_meta(cls).name})
        caller = await DistributedRuntime.connect(members[0])
        runtimes.append(caller)
        for cls in graph.order:  # readiness, as a dependent host waits for its dependencies;
            meta = get_meta(cls)   # each endpoint's watcher is made now, not inside a deadline
            component = caller.namespace(meta.namespace).component(meta.name)
            for name in meta.endpoints:
                await component.endpoint(name).client().wait_for_instances(1, 10.0)
        yield _Deployed(caller, {get_meta(c).name: get_meta(c) for c in graph.order})
    finally:
        for host in reversed(hosts):
            await host.stop()
        for rt in reversed(runtimes):
            await rt.close()
        if server is not None:
            await server.stop()
            server.cleanup()
