"""A stream's producer on the serving side: items within the caller's credit, packed into
BATCH frames while the generator yields without waiting; and the step-by-step driver that lets a
unary handler start without a Task of its own."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..transports.codec import msgpack_encode

if TYPE_CHECKING:
    from .server import ServerCall

__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_ITEMS", "array_header", "continue_step", "produce"]

MAX_BATCH_ITEMS = 128
MAX_BATCH_BYTES = 256 * 1024


def array_header(n: int) -> bytes:
    if n < 16:
        return bytes((0x90 | n,))
    if n < 0x10000:
        return b"\xdc" + n.to_bytes(2, "big")
    return b"\xdd" + n.to_bytes(4, "big")


class _Resume:
    """Await the rest of a coroutine (or async-generator step) that was already started with
    ``send(None)`` and suspended on ``first``."""

    __slots__ = ("first", "step")

    def __init__(self, step: Any, first: Any) -> None:
        self.step = step
        self.first = first

    def __await__(self) -> Any:
        step, value = self.step, self.first
        while True:
            try:
                sent = yield value
            except BaseException as exc:  # thrown in by the Task (cancellation)
                try:
                    value = step.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = step.send(sent)
                except StopIteration as stop:
                    return stop.value


async def continue_step(step: Any, pending: Any) -> Any:
    return await _Resume(step, pending)


async def produce(send: Callable[[bytes], Awaitable[None]], agen: Any, sc: ServerCall) -> int:
    """Send the iterator's items within the caller's credit; returns how many were sent.

    Items the generator yields without suspending go out together in one BATCH frame; before
    the generator would wait for anything, what it already produced is sent, so batching never
    delays an item."""
    enc = msgpack_encode
    seq = 0
    batch: list[bytes] = []
    size = 0
    anext = agen.__anext__

    async def flush() -> None:
        nonlocal seq, size, batch
        n = len(batch)
        if n == 1:
            frame = b"\x93\x00" + enc(seq) + batch[0]
        else:
            frame = b"\x93\x04" + enc(seq) + array_header(n) + b"".join(batch)
        batch = []
        size = 0
        seq += n
        sc.credit -= n
        sc.sent = True
        await send(frame)

    while True:
        step = anext()
        if not hasattr(step, "send"):
            step = step.__await__()
        try:
            pending = step.send(None)
        except StopIteration as done:
            item = done.value
        except StopAsyncIteration:
            break
        except BaseException:
            if batch:  # what came before the error goes out first
                await flush()
            raise
        else:
            if batch:
                await flush()
            try:
                item = await _Resume(step, pending)
            except StopAsyncIteration:
                break
        data = enc(item)
        batch.append(data)
        size += len(data)
        if len(batch) >= sc.credit or len(batch) >= MAX_BATCH_ITEMS or size >= MAX_BATCH_BYTES:
            await flush()
            if sc.credit <= 0:
                await sc.wait_credit()
    if batch:
        await flush()
    return seq
