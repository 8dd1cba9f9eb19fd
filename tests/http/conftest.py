"""A Host serving Feed, Reader, Tunable and Plain on a real uvicorn at an ephemeral port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from reverie._private.host.host import Host
from reverie._private.http.server import HttpServer
from tests.http.services import Feed, Plain, Reader, Tunable

API_KEY = "test-api-key-9f8e7d6c5b4a"


@dataclass
class Served:
    host: Host
    server: HttpServer
    http: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def internal_key(self) -> str:
        return self.server.app.access.internal_key

    def auth(self, key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    host = Host(env={}, name="host")
    host.register(Feed, Reader, Tunable, Plain)
    server = HttpServer(host, port=0, api_key=API_KEY, max_body_size=64 * 1024, log_level="info")
    await host.start(Reader)
    await host.start(Tunable)
    await host.start(Plain)
    try:
        async with server, httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield Served(host, server, http)
    finally:
        await host.stop()
