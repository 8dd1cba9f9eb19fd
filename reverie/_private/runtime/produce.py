"""A stream's producer on the serving side: items within the caller's credit, packed into
BATCH frames while the generator yields without waiting; and the step-by-step driver that
finishes, in a Task made only then, a send the transport pushed back."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..call.resume import Resume
from ..transports.codec import msgpack_encode
from . import wire

if TYPE_CHECKING:
    from .server import ServerCall

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_ITEMS", "continue_step", "produce"]

MAX_BATCH_ITEMS = 128
MAX_BATCH_BYTES = 256 * 1024
_DATA, _BATCH, _LAST = wire.DATA, wire.BATCH, wire.LAST
_enc = msgpack_encode


async def continue_step(step: Any, pending: Any) -> Any:
    return await Resume(step, pending)


def _frames(items: list[Any], seq: int, last: bool = False) -> list[bytes]:
    """``items`` (from ``seq`` on) as DATA/BATCH frames (the final one LAST when ``last``): one
    msgpack call for the whole batch; a batch over ``MAX_BATCH_BYTES`` is split in halves. An
    item that cannot be encoded raises ``_Unencodable`` carrying the frames of the items before
    it (they are sent, then the error)."""
    try:
        if last:
            frame = _enc((_LAST, seq, items))
        else:
            frame = _enc((_DATA, seq, items[0]) if len(items) == 1 else (_BATCH, seq, items))
    except Exception as exc:
        if len(items) == 1:
            raise _Unencodable([], exc) from exc
        frame = b""
    else:
        if len(frame) <= MAX_BATCH_BYTES or len(items) == 1:
            return [frame]
    half = len(items) // 2
    head = _frames(items[:half], seq)  # raises with the frames before the bad item
    try:
        return head + _frames(items[half:], seq + half, last)
    except _Unencodable as bad:
        bad.frames[:0] = head
        raise


class _Unencodable(Exception):
    def __init__(self, frames: list[bytes], error: Exception) -> None:
        super().__init__(str(error))
        self.frames = frames
        self.error = error


# The per-item loop and the callbacks sending its batches share closure cells: an item costs one
# append and two compares (an object's attributes would cost more per item, bench_nats).
# long: a hot loop with its callbacks, sharing closure cells (see above)
async def produce(
    send: Callable[[bytes], Awaitable[None]], agen: Any, sc: ServerCall
) -> tuple[int, bool]:
    """Send the iterator's items within the caller's credit; returns how many were sent, and
    whether the end went with the last of them (a LAST frame; else the caller sends END).

    Items the generator yields without suspending go out together in one BATCH frame (one
    msgpack call for the batch). The generator is driven by a plain ``async for`` (its cheapest
    step); a callback armed when a batch starts runs as soon as the generator waits for
    anything and hands what it yielded to the transport then, so batching never delays an item.
    Per item: one generator step, one append, two compares.

    Credit: a batch never holds more items than the caller's item credit; its frames start
    only within the caller's window of bytes (encoded frames past it are held here, with the
    next item in hand, until credit comes)."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    seq = 0
    batch: list[Any] = []
    #: encoded frames waiting for byte credit
    held: deque[bytes] = deque()
    limit = min(sc.credit, MAX_BATCH_ITEMS)
    armed: asyncio.Handle | None = None
    #: sends the transport could not take at once (it pushes back): awaited before going on
    backlog: list[asyncio.Future[Any]] = []
    #: what encoding or sending a batch raised in a callback (the producer raises it; the
    #: callback cancels the Task so that a waiting generator stops)
    failure: BaseException | None = None
    stopped = False

    def start(frame: bytes) -> None:
        """Hand a frame to the transport now; what is left when it pushes back finishes in
        a Task, made only then."""
        coro: Any = send(frame)
        try:
            waiting = coro.send(None)
        except StopIteration:
            return
        fut = loop.create_task(continue_step(coro, waiting))
        fut.add_done_callback(sent)
        backlog.append(fut)

    def sent(fut: asyncio.Future[Any]) -> None:
        """A send the transport pushed back finished: what is in hand may go (a failed send
        is raised by ``settle``)."""
        if not fut.cancelled() and fut.exception() is None:
            resume()

    def release() -> None:
        """Held frames to the transport while the caller's window of bytes allows."""
        while held and sc.credit_bytes > 0:
            frame = held.popleft()
            sc.credit_bytes -= len(frame)
            start(frame)

    def post(last: bool = False) -> None:
        """Encode the batch and send what the window allows, synchronously (order kept)."""
        nonlocal seq, batch, limit
        items, batch = batch, []
        try:
            frames = _frames(items, seq, last)
        except _Unencodable as bad:  # the items before it go out, then the error
            held.extend(bad.frames)
            release()
            raise bad.error from None
        n = len(items)
        seq += n
        sc.credit -= n
        sc.sent = True
        held.extend(frames)
        release()
        # frames held for byte credit: the next item in hand waits for it (in full())
        limit = 0 if held else min(sc.credit, MAX_BATCH_ITEMS)

    def on_wait() -> None:
        """The producer's Task let the loop run: the generator waits for something."""
        nonlocal armed
        armed = None
        resume()

    def resume() -> None:
        """Send what is in hand unless the transport or the window holds it back (then the
        backlog's end, or the caller's credit, calls this again)."""
        nonlocal failure, stopped
        if failure is not None or any(not f.done() for f in backlog):
            return
        try:
            release()
            if batch and not held:
                post()
        except BaseException as exc:  # the generator is waiting: stop it, raise this instead
            failure = exc
            if task is not None:
                stopped = True
                task.cancel()
            return
        if held or batch:
            sc.on_credit = resume

    async def settle() -> None:
        """Wait out the transport's push-back; a send that failed fails the stream."""
        nonlocal backlog
        done, backlog = backlog, []
        for fut in done:
            await fut

    async def send_all(last: bool = False) -> None:
        """The batch and every held frame out, as the transport and the window allow."""
        if backlog:
            await settle()
        if batch:
            post(last)
        while held or backlog:
            if backlog:
                await settle()
            if held:
                if sc.credit_bytes <= 0:
                    await sc.wait_credit()
                release()

    async def full() -> None:
        """The batch is as big as the credit or a frame allows (or frames wait for byte
        credit): send it, then wait until the transport and the caller let the producer on."""
        nonlocal armed, limit
        if armed is not None:
            armed.cancel()
            armed = None
        await send_all()
        if sc.credit <= 0 or sc.credit_bytes <= 0:
            await sc.wait_credit()
        limit = min(sc.credit, MAX_BATCH_ITEMS)

    try:
        async for item in agen:
            batch.append(item)
            if len(batch) >= limit:
                await full()
            elif armed is None:  # a batch starts: send it once the generator waits
                armed = loop.call_soon(on_wait)
    except BaseException as exc:
        if stopped and isinstance(exc, asyncio.CancelledError):
            stopped = False
            if task is not None and task.uncancel() == 0 and failure is not None:
                raise failure from None  # the cancellation was ours alone: raise what failed
        if failure is None:  # what came before the error goes out first, credit or not
            if batch:
                post()
            while held:
                start(held.popleft())
        raise
    finally:
        sc.on_credit = None
        if armed is not None:
            armed.cancel()
    if failure is not None:  # the generator ended on its own after the callback failed
        if stopped and task is not None:
            task.uncancel()
        raise failure
    ended = bool(batch)  # the generator is done: its last items carry the end
    await send_all(ended)
    return seq, ended
