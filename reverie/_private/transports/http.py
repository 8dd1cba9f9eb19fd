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
    RemoteError,
)

from ..codec import json_decode, json_encode
from ..context import RequestContext
from ..declare import EndpointMeta
from .base import Transport

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
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(
                trust_env=False, timeout=60.0,
                limits=httpx.Limits(max_connections=self._max, max_keepalive_connections=self._max),
            )
        return self._client

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

    @staticmethod
    def _error(status: int, body: bytes, ctx: RequestContext) -> CallError:
        try:
            data = json_decode(body)
        except Exception:
            data = None
        if isinstance(data, dict) and "code" in data and "message" in data:
            return CallError.from_wire(data)
        return RemoteError(f"HTTP {status}: {body[:200]!r}", status=status,
                           request_id=ctx.request_id)

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
            raise self._error(resp.status_code, resp.content, ctx)
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
                raise self._error(resp.status_code, await resp.aread(), ctx)
            event = b"message"
            try:
                async for line in _lines(resp.aiter_raw()):
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
        if self._own and self._client is not None:
            await self._client.aclose()
            self._client = None


async def _lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    buf = b""
    async for chunk in chunks:
        buf += chunk
        while True:
            i = buf.find(b"\n")
            if i < 0:
                break
            line, buf = buf[:i], buf[i + 1:]
            yield line


