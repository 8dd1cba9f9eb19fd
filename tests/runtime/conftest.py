"""Fixtures: a real nats-server per test on an ephemeral loopback port, and runtimes on it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from reverie._private.natsserver import NatsServer
from reverie._private.runtime import DistributedRuntime


@pytest.fixture
async def nats_server() -> AsyncIterator[NatsServer]:
    server = NatsServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
        server.cleanup()


RuntimeFactory = Callable[..., Awaitable[DistributedRuntime]]


@pytest.fixture
async def make_runtime(nats_server: NatsServer) -> AsyncIterator[RuntimeFactory]:
    made: list[DistributedRuntime] = []

    async def make(**kw: Any) -> DistributedRuntime:
        rt = await DistributedRuntime.connect(nats_server.url, **kw)
        made.append(rt)
        return rt

    yield make
    for rt in reversed(made):
        await rt.close()


@pytest.fixture
async def runtime(make_runtime: RuntimeFactory) -> DistributedRuntime:
    return await make_runtime()
