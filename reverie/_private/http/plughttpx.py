"""``HttpxTransport``: a ``PlugTransport`` over the network, on pooled httpx.

One ``httpx.AsyncClient`` per event loop (``shared_client``) carries every request that leaves
the process, whoever sends it (Plugs, the ``HttpTransport`` of dependencies), so connections are
reused across them. A transport given ``max_connections`` caps its own requests in flight (so
one busy dependency cannot take the whole pool); the pool itself holds up to 256 connections.
Every httpx or OS failure becomes a ``CallError`` here, by ``CallError.from_transport``.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from reverie.errors import CallError, DeadlineExceededError

from .plugtransport import GRACE, Headers, PlugRequest, PlugResponse, PlugTransport, context_headers

if TYPE_CHECKING:
    import httpx

__all__ = ["DEFAULT_TIMEOUT", "HttpxTransport", "close_shared_client", "network", "shared_client"]

#: The network wait of a request whose context has no deadline.
DEFAULT_TIMEOUT = 60.0
#: Connections of the per-loop pool (all origins together).
POOL_CONNECTIONS = 256

_pool: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def shared_client() -> httpx.AsyncClient:
    """The pooled ``httpx.AsyncClient`` of the running event loop."""
    import httpx

    loop = asyncio.get_running_loop()
    client = _pool.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            timeout=DEFAULT_TIMEOUT,
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=64),
        )
        _pool[loop] = client
    return client


async def close_shared_client() -> None:
    """Close this event loop's pooled client (tests and shutdown)."""
    client = _pool.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


class HttpxTransport(PlugTransport):
    """Requests over the network: ``client`` if given, else the event loop's shared pool;
    ``max_connections`` (optional) caps this transport's requests in flight."""

    def __init__(
        self, client: httpx.AsyncClient | None = None, *, max_connections: int | None = None
    ) -> None:
        self._client = client
        self._max = max_connections
        self._slots: asyncio.Semaphore | None = None

    def describe(self) -> str:
        return "httpx"

    async def send(self, request: PlugRequest, *, stream: bool = False) -> PlugResponse:
        import httpx

        ctx = request.context
        rem = None if ctx.deadline is None else ctx.deadline - time.monotonic()
        where = f"{request.method} {request.url}"
        if rem is not None and rem <= 0:
            raise DeadlineExceededError(
                f"{where}: the deadline passed before sending", request_id=ctx.request_id
            )
        wait = (DEFAULT_TIMEOUT if rem is None else rem) + GRACE
        client = self._client or shared_client()
        slots = self._slots
        if slots is None and self._max is not None:
            slots = self._slots = asyncio.Semaphore(self._max)
        if slots is not None:
            await slots.acquire()
        try:
            req = client.build_request(
                request.method,
                request.url,
                params=request.query or None,
                headers=context_headers(request),
                content=request.body or None,
                timeout=httpx.Timeout(wait),
            )
            resp = await client.send(req, stream=stream)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as exc:
            if slots is not None:
                slots.release()
            raise CallError.from_transport(exc, where, ctx.request_id, timeout=rem) from None
        except BaseException:
            if slots is not None:
                slots.release()
            raise
        url = request.url
        if not stream:
            if slots is not None:
                slots.release()
            return PlugResponse(resp.status_code, Headers(resp.headers.raw), resp.content, url=url)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in resp.aiter_raw():
                    yield chunk
            except httpx.HTTPError as exc:
                raise CallError.from_transport(exc, where, ctx.request_id, timeout=rem) from None

        async def close() -> None:
            try:
                await resp.aclose()
            finally:
                if slots is not None:
                    slots.release()

        return PlugResponse(resp.status_code, Headers(resp.headers.raw), None, chunks(), url, close)

    async def aclose(self) -> None:
        """A given client stays its owner's; the shared pool outlives every transport."""


_NETWORK = HttpxTransport()


def network() -> HttpxTransport:
    """The network transport with no cap of its own (the shared pool's)."""
    return _NETWORK
