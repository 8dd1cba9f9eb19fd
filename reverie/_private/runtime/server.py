"""The serving side: subscriptions for one endpoint, a Task per call, credit-based streaming.

A request arrives on ``rv.{ns}.{comp}.{ep}.{worker}`` (routed) or ``rv.{ns}.{comp}.{ep}``
(queue group, any worker). The handler runs in its own Task with the request context set; a
stream's producer sends at most the credit the caller granted, so a slow consumer holds it back.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    CallError,
    DeadlineExceededError,
    RemoteError,
    ValidationError,
    WorkerLostError,
)

from ..call import tracing as _tracing
from ..call.context import CURRENT, RequestContext
from ..call.failures import log_failure
from ..declare.types import describe, type_info
from ..transports.codec import msgpack_decode, msgpack_encode
from . import wire
from .direct import endpoint_key
from .produce import produce

if TYPE_CHECKING:
    from .addressing import Endpoint
    from .core import DistributedRuntime

__all__ = ["Served", "ServerCall"]

log = logging.getLogger("reverie.runtime")

_OK, _CANCELLED, _DEADLINE, _SHUTDOWN = 0, 1, 2, 3


class EndpointStats:
    """Counters for ``$SRV.STATS``."""

    __slots__ = ("last_error", "num_errors", "num_requests", "processing_time")

    def __init__(self) -> None:
        self.num_requests = 0
        self.num_errors = 0
        self.last_error = ""
        self.processing_time = 0  # ns


class ServerCall:
    """One call this process is serving; the runtime finds it by the caller's reply subject."""

    __slots__ = (
        "_credit_waiter",
        "credit",
        "credit_bytes",
        "direct",
        "key",
        "last_touch",
        "on_credit",
        "reason",
        "running",
        "send",
        "sent",
        "started",
        "task",
        "waiting_since",
    )

    def __init__(
        self,
        credit: int,
        key: Any,
        send: Callable[[bytes], Awaitable[None]],
        direct: bool,
        credit_bytes: int = wire.MAX_WINDOW_BYTES,
    ) -> None:
        #: the caller's reply subject (NATS) or (connection, call id) (direct plane)
        self.key = key
        #: ``await send(frame)``: a frame to the caller, over the path the request came by
        self.send = send
        self.direct = direct
        self.task: asyncio.Task[None] | None = None
        #: the call's Task has begun (a Task cancelled before that would never run the
        #: cleanup that answers and forgets the call: it is told by ``reason`` instead)
        self.running = False
        #: items and bytes of frames the caller lets this stream send before it hears more
        self.credit = credit
        self.credit_bytes = credit_bytes
        #: called (once) when credit arrives: the producer holds items while its generator waits
        self.on_credit: Callable[[], None] | None = None
        self._credit_waiter: asyncio.Future[None] | None = None
        self.reason = _OK
        self.sent = False
        self.started = self.last_touch = time.monotonic()
        self.waiting_since = 0.0

    def add_credit(self, n: int, nbytes: int) -> None:
        self.credit += n
        self.credit_bytes += nbytes
        hook = self.on_credit
        if hook is not None:
            self.on_credit = None
            hook()
        w = self._credit_waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def wait_credit(self) -> None:
        while self.credit <= 0 or self.credit_bytes <= 0:
            self._credit_waiter = asyncio.get_running_loop().create_future()
            self.waiting_since = time.monotonic()
            try:
                await self._credit_waiter
            finally:
                self._credit_waiter = None
                self.waiting_since = 0.0

    def _stop(self, reason: int) -> None:
        if self.reason == _OK:
            self.reason = reason
        if self.task is not None and self.running:
            self.task.cancel()

    def cancel(self) -> None:
        """The caller cancelled (or went away): stop without answering."""
        self._stop(_CANCELLED)

    def shutdown(self) -> None:
        """This process is closing: stop and tell the caller the worker is going."""
        self._stop(_SHUTDOWN)

    def expire(self) -> None:
        self._stop(_DEADLINE)

    def heartbeat_due(self, now: float) -> bool:
        """Called every heartbeat interval; also drops streams whose caller went silent."""
        if (
            self.waiting_since
            and now - max(self.last_touch, self.waiting_since) > wire.CALLER_TIMEOUT
        ):
            self.cancel()  # blocked on credit and the caller has gone silent
            return False
        if self.sent:
            self.sent = False
            return False
        return now - self.started > wire.HEARTBEAT_INTERVAL / 2


class Served:
    """An endpoint served by this process: its subscriptions, lease and stats."""

    def __init__(
        self,
        endpoint: Endpoint,
        handler: Callable[..., Any],
        *,
        streaming: bool,
        request_type: Any,
        response_type: Any,
        idempotent: bool,
        metadata: dict[str, Any],
    ) -> None:
        self.endpoint = endpoint
        self.rt: DistributedRuntime = endpoint.runtime
        self.handler = handler
        self.streaming = streaming
        self.request_info = type_info(request_type)
        self.response_type = response_type
        self.idempotent = idempotent
        self.metadata = metadata
        comp = endpoint.component
        self.ns = comp.namespace.name
        self.component = comp.name
        self.name = endpoint.name
        self.worker_id = self.rt.worker_id
        self.subject = endpoint.subject
        self.worker_subject = f"{self.subject}.{self.worker_id}"
        self.key = wire.worker_key(self.ns, self.component, self.name, self.worker_id)
        self.direct_key = endpoint_key(self.ns, self.component, self.name)
        self.stats = EndpointStats()
        self._subs: list[Any] = []
        self._validate = None if self.request_info.is_any else self.request_info.validate

    def registration(self) -> dict[str, Any]:
        """What the lease carries: enough for a caller to route and describe."""
        return {
            "worker": self.worker_id,
            "namespace": self.ns,
            "component": self.component,
            "endpoint": self.name,
            "subject": self.worker_subject,
            "streaming": self.streaming,
            "idempotent": self.idempotent,
            "request_type": self.request_info.name,
            "response_type": describe(self.response_type),
            "metadata": self.metadata,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            **({"direct": self.rt.direct.address} if self.rt.direct is not None else {}),
        }

    async def start(self) -> None:
        nc = self.rt.nc
        self._subs.append(await nc.subscribe(self.worker_subject, cb=self._on_request))
        self._subs.append(
            await nc.subscribe(self.subject, queue=wire.QUEUE_GROUP, cb=self._on_request)
        )
        from .micro import responder

        await responder(self.rt).add(self)
        if self.rt.direct is not None:
            self.rt.direct.add(self.direct_key, self)
        self.rt.add_served(self)
        await self.rt.leases.acquire(self.key, msgpack_encode(self.registration()))

    async def stop(self, *, deregister: bool = True) -> None:
        """Stop taking calls; with ``deregister``, remove the lease at once."""
        if deregister:
            await self.rt.leases.release(self.key)
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except Exception as exc:  # the connection is closed: the subscription with it
                log.debug("unsubscribing %s: %s", self.subject, exc)
        self._subs.clear()
        if self.rt.direct is not None:
            self.rt.direct.remove(self.direct_key)
        from .micro import responder

        responder(self.rt).remove(self)
        self.rt.remove_served(self)

    # -- requests --------------------------------------------------------------------------------

    async def _on_request(self, msg: Any) -> None:
        reply = msg.reply
        if not reply:
            log.info("dropped a request on %s without a reply subject", msg.subject)
            return
        publish = self.rt.nc.publish
        err = self.accept(reply, partial(publish, reply), msg.data, msg.subject)
        if err is not None:
            await publish(reply, err)

    def accept(
        self, key: Any, send: Callable[[bytes], Awaitable[None]], data: Any, where: str
    ) -> bytes | None:
        """Start serving one request (payload ``[ctx, body, window(, window_bytes)]``) whose
        frames go out by ``send``; returns an error frame to send at once when the request is
        refused. The handler runs in a Task of its own."""
        rt = self.rt
        try:
            ctx_w, body, window, *rest = msgpack_decode(data)
            ctx = RequestContext.from_wire(ctx_w)
            if type(window) is not int or not 0 <= window <= wire.MAX_WINDOW:
                raise ValueError(f"window must be an integer 0..{wire.MAX_WINDOW}")
            window_bytes = rest[0] if rest else wire.MAX_WINDOW_BYTES
            if type(window_bytes) is not int or not 0 < window_bytes <= wire.MAX_WINDOW_BYTES:
                raise ValueError(f"window_bytes must be an integer 1..{wire.MAX_WINDOW_BYTES}")
        except Exception as exc:
            err = ValidationError(
                f"malformed request on {where}: expected a msgpack array "
                f"[context, body, window, window_bytes] (see docs/runtime.md): "
                f"{str(exc)[:200]}",
                service=self.component,
                endpoint=self.name,
            )
            return msgpack_encode([wire.ERR, err.to_wire()])
        if bool(window) != self.streaming:
            how = "stream()" if self.streaming else "call()"
            err = ValidationError(
                f"{self.ns}/{self.component}/{self.name} is "
                f"{'a streaming' if self.streaming else 'a unary'} endpoint; call it with {how}",
                service=self.component,
                endpoint=self.name,
                request_id=ctx.request_id,
            )
            return msgpack_encode([wire.ERR, err.to_wire()])
        sc = ServerCall(window, key, send, type(key) is tuple, window_bytes)
        rt.serving.add(key, sc)
        # The handler runs in its own Task from its first step, so asyncio.timeout(),
        # current_task() and cancellation inside it concern the call, never the connection
        # or subscription that read the request (a unary handler's first step once ran inline
        # here, to save a Task: a handler's asyncio.timeout then cancelled the reader).
        run = self._run_stream if self.streaming else self._run_unary
        sc.task = asyncio.get_running_loop().create_task(run(body, ctx, sc))
        return None

    def _error_frame(self, exc: BaseException, ctx: RequestContext) -> bytes:
        log_failure(
            exc,
            self.component,
            self.name,
            ctx.request_id,
            "stream" if self.streaming else "handler",
        )
        if isinstance(exc, CallError):
            if exc.request_id is None:
                exc.request_id = ctx.request_id
            data = exc.to_wire()
        else:
            data = RemoteError(
                str(exc),
                remote_type=type(exc).__name__,
                request_id=ctx.request_id,
                service=self.component,
                endpoint=self.name,
            ).to_wire()
        stats = self.stats
        stats.num_errors += 1
        stats.last_error = f"{data.get('type') or data.get('code')}: {data.get('message')}"
        return msgpack_encode([wire.ERR, data])

    def _stopped_frame(self, sc: ServerCall, ctx: RequestContext) -> bytes | None:
        if sc.reason == _DEADLINE:
            return self._error_frame(
                DeadlineExceededError(
                    f"deadline passed while {self.worker_id} was running the call",
                    service=self.component,
                    endpoint=self.name,
                ),
                ctx,
            )
        if sc.reason == _SHUTDOWN:
            return self._error_frame(
                WorkerLostError(
                    f"worker {self.worker_id} shut down while running the call",
                    service=self.component,
                    endpoint=self.name,
                ),
                ctx,
            )
        return None

    def _arm_deadline(self, sc: ServerCall, ctx: RequestContext) -> asyncio.TimerHandle | None:
        if ctx.deadline is None:
            return None
        rem = ctx.deadline - time.monotonic()
        return asyncio.get_running_loop().call_later(max(rem, 0.0), sc.expire)

    def _begin(
        self, ctx: RequestContext, sc: ServerCall
    ) -> tuple[Any, RequestContext, int, asyncio.TimerHandle | None]:
        """A call starts: its server span (when tracing), its context made current, the start
        of its processing time, its deadline armed."""
        span = None
        if _tracing.ON:
            span, ctx = _tracing.server_span(ctx, self.component, self.name, "nats", self.worker_id)
        CURRENT.set(ctx)
        sc.running = True
        return span, ctx, time.perf_counter_ns(), self._arm_deadline(sc, ctx)

    async def _run_unary(self, body: Any, ctx: RequestContext, sc: ServerCall) -> None:
        span, ctx, t0, timer = self._begin(ctx, sc)
        payload: bytes | None
        error: BaseException | None = None
        try:
            if sc.reason != _OK:  # stopped before it began
                raise asyncio.CancelledError
            req = body if self._validate is None else self._validate(body, strict=False)
            result = await self.handler(req, ctx)
            payload = msgpack_encode([wire.DATA, 0, result])
        except asyncio.CancelledError as exc:
            error = exc
            payload = self._stopped_frame(sc, ctx)
        except Exception as exc:
            error = exc
            payload = self._error_frame(exc, ctx)
        finally:
            self._done(sc, timer, t0)
            if span is not None:
                _tracing.end(span, error)
        await self._send_last(sc, payload)

    async def _close_generator(self, agen: Any, ctx: RequestContext) -> None:
        """Run the generator's cleanup; a failure there is logged (the call's outcome is
        already decided), a cancellation propagates."""
        try:
            await agen.aclose()
        except Exception:
            log.exception(
                "%s/%s: the stream's generator failed while closing (request %s)",
                self.component,
                self.name,
                ctx.request_id,
            )

    def _done(self, sc: ServerCall, timer: asyncio.TimerHandle | None, t0: int) -> None:
        """A call ended: disarm its deadline, forget it, count it."""
        if timer is not None:
            timer.cancel()
        self.rt.serving.remove(sc.key)
        stats = self.stats
        stats.num_requests += 1
        stats.processing_time += time.perf_counter_ns() - t0

    async def _send_last(self, sc: ServerCall, payload: bytes | None) -> None:
        """The final frame (result, end, error or stopped), if the call still has a caller."""
        if payload is None:
            return
        try:
            await sc.send(payload)
        except Exception as exc:  # the connection is gone: the caller sees it lost
            log.info(
                "%s/%s: the last frame of a call could not be sent (%s)",
                self.component,
                self.name,
                exc,
            )

    async def _run_stream(self, body: Any, ctx: RequestContext, sc: ServerCall) -> None:
        span, ctx, t0, timer = self._begin(ctx, sc)
        agen: Any = None
        payload: bytes | None
        error: BaseException | None = None
        count: int | None = None
        try:
            if sc.reason != _OK:  # stopped before it began
                raise asyncio.CancelledError
            req = body if self._validate is None else self._validate(body, strict=False)
            agen = self.handler(req, ctx)
            if inspect.isawaitable(agen):
                agen = await agen
            count, ended = await produce(sc.send, agen, sc)
            payload = None if ended else msgpack_encode([wire.END, count])
        except asyncio.CancelledError as exc:
            error = exc
            payload = self._stopped_frame(sc, ctx)
        except Exception as exc:
            error = exc
            payload = self._error_frame(exc, ctx)
        finally:
            try:
                if agen is not None and hasattr(agen, "aclose"):
                    await self._close_generator(agen, ctx)
            finally:  # a second cancellation while closing still forgets and counts the call
                self._done(sc, timer, t0)
                if span is not None:
                    _tracing.end(span, error, count)
        await self._send_last(sc, payload)
