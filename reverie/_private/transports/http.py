"""HTTP transport: the client side of endpoints, ``POST <base>/<endpoint>``, on the Plug stack.

Each call is a ``PlugRequest`` sent through a ``PlugTransport`` (``http/plugtransport.py``) —
by default the pooled network one, capped at ``max_connections`` requests in flight to this
instance; a host's own ``HostTransport`` when the base URL is one of its aliases (then no
socket). The request body is the JSON request value; the context travels as the transport
carries it (headers ``X-Request-Id``, ``X-Reverie-Timeout``, ``traceparent`` on the network).
A unary answer is the JSON result; a streaming one Server-Sent Events (items as ``data:``, then
``end`` or ``error``), read by the one SSE reader. A non-2xx answer is read by the one
problem-body parser back into the same ``CallError`` class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from reverie.errors import CallError, TransportError, WorkerLostError

from ..call.context import RequestContext
from ..declare.service import EndpointMeta
from ..http.plugtransport import PlugRequest, PlugTransport
from ..http.problem import problem_error, sse_events
from .base import Transport
from .codec import json_decode, json_encode

if TYPE_CHECKING:
    import httpx

    from ..http.plug import Plug

__all__ = ["HttpTransport"]

_JSON = b"application/json"
_SSE = b"text/event-stream"


class HttpTransport(Transport):
    """Calls the endpoints of one remote instance at ``base_url`` (``http://h:p/<path>``).

    ``via``: the Plug transport to send through (default: the network, see the module doc);
    ``client``: an ``httpx.AsyncClient`` to use instead of the shared pool.
    """

    wire = True

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        max_connections: int = 100,
        via: PlugTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}".lower()
        self._path = parts.path
        self._headers = dict(headers or {})
        self._raw = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self._headers.items()
        ]
        if via is None:
            from ..http.plughttpx import HttpxTransport

            via = HttpxTransport(client, max_connections=max_connections)
        self.via = via

    def describe(self) -> str:
        return self.base_url

    @property
    def plug(self) -> Plug:
        """A Plug rooted at the same instance's features, on the same transport."""
        from ..http.plug import Plug

        plug = Plug(self.base_url, transport=self.via)
        for k, v in self._headers.items():
            plug = plug.with_header(k, v)
        return plug

    def _request(
        self, ep: EndpointMeta, request: Any, ctx: RequestContext, accept: bytes
    ) -> PlugRequest:
        body = b"" if ep.request_param is None else json_encode(request)
        headers = [(b"content-type", _JSON), (b"accept", accept), *self._raw]
        # A copy: a host answering in-process sets its endpoint deadline and transport on the
        # context it is given, and ``ctx`` may be the calling handler's own.
        return PlugRequest(
            "POST", self._origin, f"{self._path}/{ep.name}", (), headers, body, ctx.child(None)
        )

    async def call(self, endpoint: EndpointMeta, request: Any, ctx: RequestContext) -> Any:
        resp = await self.via.send(self._request(endpoint, request, ctx, _JSON))
        if resp.status != 200:
            raise problem_error(resp.status, resp.content, f"POST {resp.url}", ctx.request_id)
        return json_decode(resp.content)

    async def stream(
        self, endpoint: EndpointMeta, request: Any, ctx: RequestContext
    ) -> AsyncIterator[Any]:
        resp = await self.via.send(self._request(endpoint, request, ctx, _SSE), stream=True)
        try:
            if resp.status != 200:
                raise problem_error(
                    resp.status, await resp.aread(), f"POST {resp.url}", ctx.request_id
                )
            failed: CallError | None = None
            try:
                async for event in sse_events(resp.aiter_bytes()):
                    kind = event.get(b"event", b"message")
                    if kind == b"message":
                        yield json_decode(event[b"data"])
                    elif kind == b"error":
                        failed = CallError.from_wire(json_decode(event[b"data"]))
                        break
                    elif kind == b"end":
                        return
            except TransportError as exc:  # the body broke off (reset, peer gone)
                raise WorkerLostError(
                    f"the stream from {self.base_url}/{endpoint.name} broke: {exc.message}",
                    request_id=ctx.request_id,
                ) from None
            if failed is not None:
                raise failed
            raise WorkerLostError(
                f"the stream from {self.base_url}/{endpoint.name} ended without its end event",
                request_id=ctx.request_id,
            )
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        await self.via.aclose()  # the shared pool outlives us; a given client stays its owner's
