"""The caller's handle on one endpoint: routing over live workers, unary calls and streams.

Requests that NATS reports had no responder were never delivered and go to another worker;
a worker lost mid-call raises ``WorkerLostError``, or is retried once elsewhere when the
endpoint is idempotent.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    DeadlineExceededError,
    NoWorkersError,
    TransportError,
    WorkerLostError,
)

from ..call.context import RequestContext, new_context
from ..declare.types import type_info
from ..transports.codec import msgpack_encode
from . import wire
from .calls import NoResponders, StreamCall, UnaryCall
from .direct import DirectLink, endpoint_key, key_field
from .routing import Router, make_router

if TYPE_CHECKING:
    from .addressing import Endpoint

__all__ = ["EndpointRuntimeClient"]


class EndpointRuntimeClient:
    """Calls one endpoint on whichever live worker the router picks."""

    def __init__(
        self,
        endpoint: Endpoint,
        router: str | Router,
        *,
        idempotent: bool,
        response_type: Any,
        window: int,
        window_bytes: int = wire.DEFAULT_WINDOW_BYTES,
    ) -> None:
        rt = endpoint.runtime
        comp = endpoint.component
        self.runtime = rt
        self.endpoint = endpoint
        self.path = endpoint.path
        self.component = comp.name
        self.name = endpoint.name
        self.prefix = endpoint.subject + "."
        ns = comp.namespace.name
        self.direct_key = key_field(endpoint_key(ns, comp.name, endpoint.name))
        self._plane = rt.direct
        self.router = make_router(router)
        self.idempotent = idempotent
        info = type_info(response_type)
        #: checks a result against ``response_type`` (None: any)
        self.validate = None if info.is_any else info.validate
        if window < 2:
            raise ValueError(f"window={window}: a stream window is at least 2 items")
        if window > wire.MAX_WINDOW or not 1 <= window_bytes <= wire.MAX_WINDOW_BYTES:
            raise ValueError(
                f"window={window}, window_bytes={window_bytes}: at most {wire.MAX_WINDOW} "
                f"items and 1 to {wire.MAX_WINDOW_BYTES} bytes"
            )
        self.window = window
        self.window_bytes = window_bytes
        self.watcher = rt.watcher(
            f"{comp.namespace.name}.{comp.name}.{endpoint.name}.*", endpoint.path
        )

    # -- discovery -------------------------------------------------------------------------------

    def workers(self) -> list[str]:
        """Live worker ids, sorted (those this process suspects are dead left out)."""
        return self.runtime.live(self.watcher.ids)

    async def wait_for_workers(self, n: int = 1, timeout: float | None = 10.0) -> list[str]:
        """Wait until ``n`` workers are live; NoWorkersError naming the count on timeout."""
        return await self.watcher.wait_for(n, timeout, self.workers)

    def registrations(self) -> list[dict[str, Any]]:
        """What each live worker registered (streaming, idempotent, host, pid, ...)."""
        live = set(self.workers())
        entries = sorted(self.watcher.entries.items())  # keyed ns.comp.endpoint.<worker id>
        return [e for key, e in entries if key.rsplit(".", 1)[-1] in live]

    def idempotent_now(self) -> bool:
        if self.idempotent:
            return True
        return any(e.get("idempotent") for e in self.watcher.entries.values())

    def pick(self, exclude: set[str] | None = None) -> str:
        ids = self.watcher.ids
        if self.runtime.has_suspects():
            ids = self.runtime.live(ids)
        if exclude:
            ids = [i for i in ids if i not in exclude]
        if not ids:
            tried = f" (tried {', '.join(sorted(exclude))})" if exclude else ""
            raise NoWorkersError(
                f"no live worker serves {self.path} on NATS at {self.runtime.url}{tried}; fix: "
                f"start a process serving {self.endpoint.component.path}, or wait with "
                f"client.wait_for_workers()",
                service=self.component,
                endpoint=self.name,
            )
        return self.router.choose(ids, self.runtime.calls.inflight)

    async def link(self, iid: str) -> DirectLink | None:
        """The direct connection to ``iid``, or None: call it over NATS."""
        plane = self._plane
        if plane is None:
            return None
        link = plane.links.get(iid)
        if link is None and plane.worth_trying(iid):
            link = await plane.open(iid, self.watcher.info)
        return link

    def deadline_error(self, iid: str, ctx: RequestContext) -> DeadlineExceededError:
        return DeadlineExceededError(
            f"deadline passed before the call to worker {iid} was sent",
            request_id=ctx.request_id,
            service=self.component,
            endpoint=self.name,
        )

    # -- calls -----------------------------------------------------------------------------------

    async def call(self, request: Any, ctx: RequestContext | None = None) -> Any:
        """Call the unary endpoint; returns the result as plain data (or ``response_type``)."""
        if not self.watcher.is_ready:
            await self.watcher.ready()
        if ctx is None:
            ctx = new_context()
        payload = msgpack_encode([ctx.to_wire(), request, 0])
        tried: set[str] | None = None
        retried = False
        while True:
            iid = self.pick(tried)
            try:
                result = await self._unary(iid, payload, ctx)
            except NoResponders:
                self.runtime.suspect(iid)
            except WorkerLostError:
                if retried or not self.idempotent_now():
                    raise
                retried = True
            else:
                return result if self.validate is None else self.validate(result, strict=False)
            if tried is None:
                tried = set()
            tried.add(iid)

    async def _unary(self, iid: str, payload: bytes, ctx: RequestContext) -> Any:
        rt = self.runtime
        plane = self._plane
        link = None
        if plane is not None:
            link = plane.links.get(iid)
            if link is None and plane.worth_trying(iid):
                link = await plane.open(iid, self.watcher.info)
        if link is None and not rt.nc.is_connected:
            await rt.wait_connected(ctx, self.path)
        loop = asyncio.get_running_loop()
        timer = None
        deadline = ctx.deadline
        if deadline is not None and deadline <= time.monotonic():
            raise self.deadline_error(iid, ctx)
        reply: Any = rt.calls.next_id() if link is not None else rt.next_reply()
        fut = loop.create_future()
        call = UnaryCall(self, ctx, fut, iid, reply)
        call.link = link
        table = rt.calls
        table.add(reply, call)
        try:
            try:
                await self.send(link, iid, reply, payload)
            except Exception as exc:
                raise TransportError(
                    f"{self.path}: could not send the request to worker {iid}: "
                    f"{exc or type(exc).__name__}",
                    request_id=ctx.request_id,
                    service=self.component,
                    endpoint=self.name,
                ) from None
            if deadline is not None:
                timer = loop.call_later(deadline - time.monotonic(), call.expire)
            return await fut
        except asyncio.CancelledError:
            if fut.cancelled():  # the caller was cancelled: stop the handler too
                call.ctl_soon([wire.CANCEL, reply])
            raise
        finally:
            table.remove(reply)
            if timer is not None:
                timer.cancel()

    async def send(self, link: DirectLink | None, iid: str, reply: Any, payload: bytes) -> None:
        """Send a call's request frame to worker ``iid``: over the direct ``link`` when there
        is one, else on NATS with ``reply`` as its reply subject."""
        if link is not None:
            link.request(reply, self.direct_key, payload)
            if link.paused:
                await link.drain()
        else:
            await self.runtime.nc.publish(self.prefix + iid, payload, reply=reply)

    def stream(self, request: Any, ctx: RequestContext | None = None) -> StreamCall:
        """Call the streaming endpoint; iterate the result, ``aclose()`` to cancel."""
        return StreamCall(self, request, ctx if ctx is not None else new_context())

    def __repr__(self) -> str:
        return f"EndpointRuntimeClient({self.path}, router={self.router!r})"
