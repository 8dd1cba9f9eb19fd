"""The HTTP kind: the graph runs in a Host served by a real uvicorn on an ephemeral port; the
test's clients call it through ``HttpTransport``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reverie._private.client import ServiceClient
from reverie._private.host import Host
from reverie._private.http.server import HttpServer
from reverie._private.transports.http import HttpTransport


class HttpDeployed:
    def __init__(self, host: Host, server: HttpServer) -> None:
        self.host = host
        self.server = server
        self.clients: list[ServiceClient] = []

    def client(self, service: str) -> ServiceClient:
        inst = self.host.instance(service)
        client = ServiceClient(inst.meta, HttpTransport(f"{self.server.url}/{inst.path}"))
        self.clients.append(client)
        return client


@asynccontextmanager
async def http_kind(entry: type) -> AsyncIterator[HttpDeployed]:
    host = Host(env={})
    host.register(entry)
    server = HttpServer(host, port=0, access_log=False, log_level="warning")
    await host.start(entry)
    try:
        async with server:
            deployed = HttpDeployed(host, server)
            try:
                yield deployed
            finally:
                for c in deployed.clients:
                    await c.aclose()
    finally:
        await host.stop()
