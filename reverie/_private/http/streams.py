"""Answering a request over time: a handler awaited under the request's deadline (one timer
handle, not ``asyncio.timeout``), stream items sent as NDJSON or SSE events (an error ends the
stream as an error event), raw streaming bodies, and a client disconnect cancelling the work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from types import CoroutineType
from typing import Any

from reverie.errors import CallError, DeadlineExceededError

from ..call.context import RequestContext
from ..call.failures import log_failure
from ..call.resume import Resume
from ..transports.codec import json_encode
from .response import StreamingResponse
from .send import Send, sse

__all__ = ["pump_items", "pump_raw", "under_deadline", "until_disconnect"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


def _expire(task: asyncio.Task[Any], fired: list[bool]) -> None:
    fired.append(True)
    task.cancel()


async def under_deadline(awaitable: Any, ctx: RequestContext) -> Any:
    """Await under the context's deadline. A bare timer handle, not ``asyncio.timeout``: this
    runs on every call that carries a deadline and the handle costs a fraction as much. A
    handler coroutine is first run to its first wait; one that answers without waiting (the
    deadline can only cut a wait short) needs no timer at all."""
    deadline = ctx.deadline
    assert deadline is not None
    left = deadline - time.monotonic()
    if left <= 0:
        awaitable.close()
        raise DeadlineExceededError(
            "deadline exceeded before the handler ran", request_id=ctx.request_id
        )
    if type(awaitable) is CoroutineType:
        try:
            waits_on = awaitable.send(None)
        except StopIteration as done:
            return done.value
        awaitable = Resume(awaitable, waits_on)
        left = deadline - time.monotonic()
    task = asyncio.current_task()
    assert task is not None
    fired: list[bool] = []
    handle = asyncio.get_running_loop().call_later(max(left, 0.0), _expire, task, fired)
    try:
        return await awaitable
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            raise DeadlineExceededError("deadline exceeded", request_id=ctx.request_id) from None
        raise
    finally:
        handle.cancel()


async def pump_items(
    receive: Receive,
    send: Send,
    ctx: RequestContext,
    first: Any,
    step: Callable[[], Awaitable[Any]],
    ndjson: bool,
    svc: str | None = None,
    name: str | None = None,
    check: Callable[[Any], Any] | None = None,
) -> tuple[int, CallError | None]:
    """Send the items (each through ``check`` when given); returns how many went out and the
    error that ended the stream."""
    sent = 0
    failed: CallError | None = None

    async def items() -> AsyncIterator[Any]:
        yield first
        while True:
            try:
                item = await step()
            except StopAsyncIteration:
                return
            yield item if check is None else check(item)

    async def body() -> None:
        nonlocal sent, failed
        try:
            async with asyncio.timeout_at(ctx.deadline):
                async for item in items():
                    data = json_encode(item)
                    await send(
                        {
                            "type": "http.response.body",
                            "more_body": True,
                            "body": data + b"\n" if ndjson else sse(data),
                        }
                    )
                    sent += 1
        except TimeoutError:
            err: CallError = DeadlineExceededError("deadline exceeded", request_id=ctx.request_id)
        except Exception as exc:
            log_failure(exc, svc, name, ctx.request_id, "stream")
            err = CallError.from_handler(exc, ctx.request_id)
        else:
            await send(
                {"type": "http.response.body", "body": b"" if ndjson else sse(b"null", b"end")}
            )
            return
        failed = err
        wire = json_encode(err.to_wire())
        await send(
            {
                "type": "http.response.body",
                "body": b'{"@error":' + wire + b"}\n" if ndjson else sse(wire, b"error"),
            }
        )

    await until_disconnect(receive, body())
    return sent, failed


async def pump_raw(send: Send, result: StreamingResponse) -> None:
    content = result.content
    try:
        async for chunk in content:
            data = chunk.encode() if isinstance(chunk, str) else chunk
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        aclose = getattr(content, "aclose", None)
        if aclose is not None:
            await aclose()


async def until_disconnect(receive: Receive, work: Awaitable[None]) -> None:
    """Run ``work`` in this task; a client disconnect cancels it (and so its producer)."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        while True:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                gone = True
                task.cancel()
                return

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        await work
    except asyncio.CancelledError:
        if not gone:
            raise
        task.uncancel()
    finally:
        watcher.cancel()
