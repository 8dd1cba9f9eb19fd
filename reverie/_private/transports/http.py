"""HTTP transport: the client side of endpoints, ``POST <base>/<endpoint>`` over pooled httpx.

The request body is the JSON request value; the request context travels in ``X-Request-Id``,
``X-Reverie-Timeout`` (remaining seconds) and ``traceparent``. A unary answer is the JSON result;
a streaming one Server-Sent Events (items as ``data:``, then ``end`` or ``error``). Non-2xx
answers carry the wire error, rebuilt here as the same ``CallError`` class.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    CallError,
    InstanceLostError,
)

from ..call.context import RequestContext
from ..declare.service import EndpointMeta
from ..http.problem import lines
from .base import Transport
from .codec import json_decode, json_encode

if TYPE_CHECKING:
    import httpx

    from ..http.plug import Plug

__all__ = ["HttpTransport"]

_JSON = "application/json"


class HttpTransport(Transport):
    """Calls the endpoints of one remote instance at ``base_url`` (``http://h:p/<path>``)."""

    wire = True

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        client: httpx.AsyncClient | None = None,
        max_connections: int = 100,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = dict(headers or {})
        self._own = client is None
        self._client = client
        self._max = max_connections

    def describe(self) -> str:
        return self.base_url

    @property
    def plug(self) -> Plug:
        """A Plug rooted at the same instance's features."""
        from ..http.plug import Plug

        plug = Plug(self.base_url)
        for k, v in self._headers.items():
            plug = plug.with_header(k, v)
        return plug

    def _http(self) -> httpx.AsyncClient:
        """The given client, else the event loop's one pool that Plugs use too."""
        if self._client is not None:
            return self._client
        from ..http.plug import shared_client

        return shared_client()

    def _request_headers(self, ctx: RequestContext, accept: str) -> dict[str, str]:
        headers = {"content-type": _JSON, "accept": accept, "x-request-id": ctx.request_id,
                   **self._headers}
        rem = ctx.remaining()
        if rem is not None:
            headers["x-reverie-timeout"] = f"{max(rem, 0.0):.6f}"
        if ctx.trace and "traceparent" in ctx.trace:
            headers["traceparent"] = ctx.trace["traceparent"]
        return headers

    def _timeout(self, ctx: RequestContext) -> Any:
        import httpx

        rem = ctx.remaining()
        # The client enforces the deadline itself; this bound only keeps a dead peer from hanging.
        return httpx.Timeout(60.0 if rem is None else max(rem, 0.0) + 5.0)

    def _failure(self, exc: Exception, ep: EndpointMeta, ctx: RequestContext) -> CallError:
        return CallError.from_transport(exc, f"POST {self.base_url}/{ep.name}", ctx.request_id)

    def _error(self, status: int, body: bytes, ep: EndpointMeta, ctx: RequestContext
               ) -> CallError:
        from ..http.problem import problem_error

        return problem_error(status, body, f"POST {self.base_url}/{ep.name}", ctx.request_id)

    async def call(self, endpoint: EndpointMeta, request: Any, ctx: RequestContext) -> Any:
        import httpx

        body = b"" if endpoint.request_param is None else json_encode(request)
        try:
            resp = await self._http().post(
                f"{self.base_url}/{endpoint.name}", content=body,
                headers=self._request_headers(ctx, _JSON), timeout=self._timeout(ctx),
            )
        except (httpx.HTTPError, OSError) as exc:
            raise self._failure(exc, endpoint, ctx) from None
        if resp.status_code != 200:
            raise self._error(resp.status_code, resp.content, endpoint, ctx)
        return json_decode(resp.content)

    async def stream(
        self, endpoint: EndpointMeta, request: Any, ctx: RequestContext
    ) -> AsyncIterator[Any]:
        import httpx

        body = b"" if endpoint.request_param is None else json_encode(request)
        client = self._http()
        req = client.build_request(
            "POST", f"{self.base_url}/{endpoint.name}", content=body,
            headers=self._request_headers(ctx, "text/event-stream"), timeout=self._timeout(ctx),
        )
        try:
            resp = await client.send(req, stream=True)
        except (httpx.HTTPError, OSError) as exc:
            raise self._failure(exc, endpoint, ctx) from None
        try:
            if resp.status_code != 200:
                raise self._error(resp.status_code, await resp.aread(), endpoint, ctx)
            event = b"message"
            try:
                async for line in lines(resp.aiter_raw()):
                    if line.startswith(b"data:"):
                        data = line[5:].strip()
                        if event == b"message":
                            yield json_decode(data)
                        elif event == b"error":
                            raise CallError.from_wire(json_decode(data))
                        elif event == b"end":
                            return
                        event = b"message"
                    elif line.startswith(b"event:"):
                        event = line[6:].strip()
            except httpx.HTTPError as exc:
                raise InstanceLostError(
                    f"the stream from {self.base_url}/{endpoint.name} broke: {exc}",
                    request_id=ctx.request_id,
                ) from None
            raise InstanceLostError(
                f"the stream from {self.base_url}/{endpoint.name} ended without its end event",
                request_id=ctx.request_id,
            )
        finally:
            await resp.aclose()

    async def aclose(self) -> None:
        self._client = None if self._own else self._client  # the shared pool outlives us
