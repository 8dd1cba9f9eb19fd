"""One suite, every transport: each kind starts Echo and Relay and hands out clients.

A kind is an async context manager factory ``(entry) -> Deployed`` where ``Deployed.client(name)``
returns a ``ServiceClient`` whose transport is that kind. Transports register their kind in
``KINDS``; the suite runs once per kind.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import pytest

from reverie._private.client import ServiceClient
from reverie.testing import run_graph


class Deployed(Protocol):
    def client(self, service: str) -> ServiceClient: ...


Kind = Callable[[type], AbstractAsyncContextManager[Deployed]]


@asynccontextmanager
async def _inprocess(entry: type) -> AsyncIterator[Deployed]:
    async with run_graph(entry, serialize=False) as g:
        yield g


@asynccontextmanager
async def _serialized(entry: type) -> AsyncIterator[Deployed]:
    async with run_graph(entry, serialize=True) as g:
        yield g


KINDS: dict[str, Kind] = {"inprocess": _inprocess, "serialized": _serialized}

try:
    from tests.conformance.kinds_http import http_kind

    KINDS["http"] = http_kind
except ImportError:
    pass
try:
    from tests.conformance.kinds_nats import nats_kind

    KINDS["nats"] = nats_kind
except ImportError:
    pass


@pytest.fixture(params=sorted(KINDS))
def kind(request: Any) -> str:
    return str(request.param)


@pytest.fixture
async def deployed(kind: str) -> AsyncIterator[Deployed]:
    from tests.conformance.services import Relay

    async with KINDS[kind](Relay) as d:
        yield d
