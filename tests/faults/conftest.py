"""A host serving the fault services on uvicorn at an ephemeral port, with tight limits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from reverie._private.host.host import Host
from reverie._private.http.limits import HttpLimits
from reverie._private.http.server import HttpServer
from tests.faults.services import Guarded, Slow, Ttl

API_KEY = "faults-api-key-0123456789abcdef"
LIMITS = HttpLimits(
    max_header_size=8 * 1024, header_timeout=1.0, body_timeout=1.0, max_concurrent=2
)


@dataclass
class Served:
    host: Host
    server: HttpServer
    http: httpx.AsyncClient

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    host = Host(env={}, name="faults")
    host.register(Ttl, Slow, Guarded)
    server = HttpServer(host, port=0, api_key=API_KEY, limits=LIMITS, log_level="warning")
    await host.start(Ttl)
    await host.start(Slow)
    await host.start(Guarded)
    try:
        async with server, httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield Served(host, server, http)
    finally:
        await host.stop()


# -- real processes: `reverie serve` as a subprocess (tests.serve's harness) ---------------------

from tests.serve.conftest import serve  # noqa: E402,F401  (the fixture, shared)
