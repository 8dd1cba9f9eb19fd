"""Outgoing calls: the caller's half of one unary call or one stream.

The runtime's reply-inbox callback hands each frame to ``on_frame`` directly (a future is
resolved, or an item is appended to the stream's buffer), so no Task is made per message. The
runtime's timer calls ``check`` to notice a worker that stopped sending heartbeats.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    CallError,
    DeadlineExceededError,
    TransportError,
    WorkerLostError,
)

from ..call.context import RequestContext
from ..transports.codec import msgpack_encode
from . import wire
from .core import lost_error

if TYPE_CHECKING:
    from .client import EndpointRuntimeClient
    from .core import DistributedRuntime
    from .direct import DirectLink

__all__ = ["NoResponders", "OutgoingCall", "StreamCall", "UnaryCall"]

_DATA, _END, _ERR, _HB, _BATCH, _LAST = (
    wire.DATA,
    wire.END,
    wire.ERR,
    wire.HB,
    wire.BATCH,
    wire.LAST,
)


class NoResponders(Exception):
    """NATS said nobody subscribes to the worker's subject: the request was never delivered,
    so trying another worker is always safe."""


class OutgoingCall:
    """What the runtime needs from a call in flight."""

    __slots__ = ("alive", "client", "ctx", "iid", "last", "link", "reply", "rt")
    is_stream = False

    def __init__(self, client: EndpointRuntimeClient, ctx: RequestContext) -> None:
        self.client = client
        self.rt: DistributedRuntime = client.runtime
        self.ctx = ctx
        self.iid = ""
        #: the key the runtime finds the call by: a reply subject (NATS) or a call id (direct)
        self.reply: Any = ""
        #: the direct connection the call runs on, None when it runs over NATS
        self.link: DirectLink | None = None
        self.alive = False
        self.last = 0.0

    def ctl_soon(self, frame: list[Any]) -> None:
        """A control frame to the serving worker, from synchronous code."""
        link = self.link
        if link is not None:
            link.ctl(frame)
        else:
            self.rt.send_ctl_soon(self.iid, frame)

    def on_frame(self, frame: list[Any], size: int) -> None:
        """A frame for this call, decoded from ``size`` bytes."""
        raise NotImplementedError

    def fail(self, exc: BaseException) -> None:
        raise NotImplementedError

    def no_responders(self) -> None:
        self.fail(NoResponders(self.iid))

    def fail_transport(self, reason: str) -> None:
        self.fail(
            TransportError(
                f"{self.client.path}: call to worker {self.iid} failed: {reason}",
                request_id=self.ctx.request_id,
                service=self.client.component,
                endpoint=self.client.name,
            )
        )

    def lost(self, reason: str) -> None:
        """The worker went away: stop routing to it, fail the call, tell it to stop."""
        self.rt.suspect(self.iid)
        self.ctl_soon([wire.CANCEL, self.reply])
        self.fail(lost_error(self.client.path, self.iid, reason, self.ctx.request_id))

    def expire(self) -> None:
        self.ctl_soon([wire.CANCEL, self.reply])
        self.fail(
            DeadlineExceededError(
                f"deadline passed waiting for worker {self.iid}",
                request_id=self.ctx.request_id,
                service=self.client.component,
                endpoint=self.client.name,
            )
        )

    def check(self, now: float, stalled: bool) -> None:
        """Timer tick: a call that heard nothing for the liveness timeout has lost its worker."""
        if self.alive or stalled:
            self.alive = False
            self.last = now
        elif now - self.last > wire.LIVENESS_TIMEOUT:
            self.lost(f"no heartbeat for {wire.LIVENESS_TIMEOUT} s")


class UnaryCall(OutgoingCall):
    """A unary call: one future, resolved by the first DATA or ERR frame."""

    __slots__ = ("fut",)

    def __init__(
        self,
        client: EndpointRuntimeClient,
        ctx: RequestContext,
        fut: asyncio.Future[Any],
        iid: str,
        reply: Any,
    ) -> None:
        super().__init__(client, ctx)
        self.fut = fut
        self.iid = iid
        self.reply = reply
        self.last = time.monotonic()

    def on_frame(self, frame: list[Any], size: int) -> None:
        fut = self.fut
        if fut.done():
            return
        kind = frame[0]
        if kind == _DATA:
            fut.set_result(frame[2])
        elif kind == _HB:
            self.alive = True
        elif kind == _ERR:
            fut.set_exception(CallError.from_wire(frame[1]))
        else:
            self.fail_transport(f"unexpected frame kind {kind!r} for a unary call")

    def fail(self, exc: BaseException) -> None:
        if not self.fut.done():
            self.fut.set_exception(exc)


_NEW, _OPEN, _ENDED, _CLOSED = 0, 1, 2, 3
_NEVER = 1 << 62


class StreamCall(OutgoingCall):
    """A streaming call, as an async iterator. ``aclose()`` cancels the producer.

    The caller grants credit as it consumes, in items and in bytes (a frame's bytes once its
    last item is taken; half a window at a time), so at most ``window`` items and about
    ``window_bytes`` (plus one frame) are ever buffered here, and the producer waits when the
    consumer is slow. Per item the consumer pays one pop, one count and one compare."""

    __slots__ = (
        "_buf",
        "_check_at",
        "_ends",
        "_error",
        "_freed_bytes",
        "_granted_at",
        "_half",
        "_half_bytes",
        "_next_seq",
        "_request",
        "_retried",
        "_state",
        "_taken",
        "_timer",
        "_tried",
        "_validate",
        "_waiter",
    )
    is_stream = True

    def __init__(self, client: EndpointRuntimeClient, request: Any, ctx: RequestContext) -> None:
        super().__init__(client, ctx)
        self._request = request
        self._buf: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._state = _NEW
        self._error: BaseException | None = None
        self._half = max(1, client.window // 2)
        self._half_bytes = max(1, client.window_bytes // 2)
        self._validate = client.validate
        self._timer: asyncio.TimerHandle | None = None
        self._tried: set[str] | None = None
        self._retried = False
        self._reset()

    def _reset(self) -> None:
        #: items received (the next frame's first sequence number) and items taken
        self._next_seq = 0
        self._taken = 0
        #: items taken when credit was last granted, and bytes freed since
        self._granted_at = 0
        self._freed_bytes = 0
        #: (sequence number after its last item, bytes) of each frame not wholly taken
        self._ends: deque[tuple[int, int]] = deque()
        #: the next ``_taken`` at which credit is due or a frame is wholly taken
        self._check_at = self._half

    def __aiter__(self) -> AsyncIterator[Any]:
        """``async for`` runs this generator: one resumption per item, no coroutine made per
        item as ``__anext__`` must (the two may be mixed: they share the buffer and counts)."""
        return self._items()

    async def _items(self) -> AsyncIterator[Any]:
        buf = self._buf
        take = buf.popleft
        validate = self._validate
        while True:
            if buf:
                item = take()
                taken = self._taken = self._taken + 1
                if taken >= self._check_at:
                    credit = self._credit(taken)
                    if credit is not None:
                        await self.rt.send_ctl(self.iid, credit)
                yield item if validate is None else validate(item, strict=False)
            else:
                try:
                    item = await self._wait_next()
                except StopAsyncIteration:
                    return
                yield item

    async def __anext__(self) -> Any:
        buf = self._buf
        if buf:  # the common case: an item is here
            item = buf.popleft()
            taken = self._taken = self._taken + 1
            if taken >= self._check_at:
                credit = self._credit(taken)
                if credit is not None:
                    await self.rt.send_ctl(self.iid, credit)
            validate = self._validate
            return item if validate is None else validate(item, strict=False)
        return await self._wait_next()

    def _credit(self, taken: int) -> list[Any] | None:
        """Frames wholly taken free their bytes; half a window of items or bytes freed is
        granted back (on the direct link at once; returned when it must go over NATS)."""
        if self._state != _OPEN:  # the producer is done: no more credit
            self._check_at = _NEVER
            return None
        ends = self._ends
        while ends and ends[0][0] <= taken:
            self._freed_bytes += ends.popleft()[1]
        items = taken - self._granted_at
        frame = None
        if items >= self._half or self._freed_bytes >= self._half_bytes:
            frame = [wire.CREDIT, self.reply, items, self._freed_bytes]
            self._granted_at = taken
            self._freed_bytes = 0
            link = self.link
            if link is not None:
                link.ctl(frame)
                frame = None
        due = self._granted_at + self._half
        self._check_at = min(due, ends[0][0]) if ends else due
        return frame

    async def _wait_next(self) -> Any:
        """The buffer is empty: open the call, wait for frames, or end."""
        while True:
            if self._buf:
                return await self.__anext__()
            state = self._state
            if state == _OPEN:
                fut = self._waiter = asyncio.get_running_loop().create_future()
                try:
                    await fut
                except asyncio.CancelledError:
                    await self.aclose()
                    raise
                finally:
                    self._waiter = None
                continue
            if state == _NEW:
                try:
                    await self._open()
                except BaseException:
                    self._finish()
                    raise
                continue
            err = self._error
            if err is None or state == _CLOSED:
                self._finish()
                raise StopAsyncIteration
            if self._next_seq == 0 and self._may_retry(err):
                self._state = _NEW
                self._error = None
                continue
            self._error = None
            self._state = _CLOSED
            self._finish()
            raise err

    def _may_retry(self, err: BaseException) -> bool:
        if isinstance(err, NoResponders):
            self.rt.suspect(self.iid)
        elif (
            isinstance(err, WorkerLostError) and not self._retried and self.client.idempotent_now()
        ):
            self._retried = True
        else:
            return False
        if self._tried is None:
            self._tried = set()
        self._tried.add(self.iid)
        return True

    async def _open(self) -> None:
        client = self.client
        rt = self.rt
        watcher = client.watcher
        if not watcher.is_ready:
            await watcher.ready()
        iid = client.pick(self._tried)
        link = await client.link(iid)
        if link is None and not rt.nc.is_connected:
            await rt.wait_connected(self.ctx, client.path)
        ctx = self.ctx
        if ctx.deadline is not None:
            rem = ctx.deadline - time.monotonic()
            if rem <= 0:
                raise client.deadline_error(iid, ctx)
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(rem, self.expire)
        reply: Any = rt.calls.next_id() if link is not None else rt.next_reply()
        self.iid = iid
        self.reply = reply
        self.link = link
        self._state = _OPEN
        self._reset()
        self.alive = False
        self.last = time.monotonic()
        rt.calls.add(reply, self)
        payload = msgpack_encode([ctx.to_wire(), self._request, client.window, client.window_bytes])
        try:
            await client.send(link, iid, reply, payload)
        except Exception as exc:
            self._end(
                TransportError(
                    f"{client.path}: could not send the request: {exc}", request_id=ctx.request_id
                )
            )

    def _end(self, err: BaseException | None) -> None:
        if self._state != _OPEN:
            return
        self._state = _ENDED
        self._error = err
        rt = self.rt
        rt.calls.remove(self.reply)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._state == _OPEN:
            self._end(None)

    def on_frame(self, frame: list[Any], size: int) -> None:
        if self._state != _OPEN:
            return
        self.alive = True
        kind = frame[0]
        if kind == _DATA:
            if frame[1] != self._next_seq:
                self._gap(frame[1])
                return
            seq = self._next_seq = self._next_seq + 1
            self._buf.append(frame[2])
            self._ended(seq, size)
        elif kind in (_BATCH, _LAST):
            if frame[1] != self._next_seq:
                self._gap(frame[1])
                return
            items = frame[2]
            seq = self._next_seq = self._next_seq + len(items)
            self._buf.extend(items)
            self._ended(seq, size)
            if kind == _LAST:
                self._end(None)  # wakes the consumer
                return
        elif kind == _HB:
            return
        elif kind == _END:
            if frame[1] != self._next_seq:
                self._gap(frame[1])
                return
            self._end(None)
            return
        elif kind == _ERR:
            self._end(CallError.from_wire(frame[1]))
            return
        else:
            self.fail_transport(f"unexpected frame kind {kind!r} in a stream")
            return
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _ended(self, end: int, size: int) -> None:
        """A frame of ``size`` bytes arrived whose last item is ``end - 1``."""
        ends = self._ends
        if not ends and end < self._check_at:
            self._check_at = end
        ends.append((end, size))

    def _gap(self, got: Any) -> None:
        self.ctl_soon([wire.CANCEL, self.reply])
        self.fail_transport(f"stream frames were lost (expected item {self._next_seq}, got {got})")

    def fail(self, exc: BaseException) -> None:
        self._end(exc)

    async def aclose(self) -> None:
        """Stop the stream; the producer's generator is cancelled on the serving side."""
        if self._state == _OPEN:
            iid, reply, link = self.iid, self.reply, self.link
            self._end(None)
            if link is not None:
                link.ctl([wire.CANCEL, reply])
            else:
                await self.rt.send_ctl(iid, [wire.CANCEL, reply])
        self._state = _CLOSED
        self._error = None
        self._buf.clear()
        self._finish()
