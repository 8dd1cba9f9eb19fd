"""``under_deadline``: a handler run to its first wait by hand, the timer armed only if it waits;
the same outcomes as awaiting it under a timer from the start."""

from __future__ import annotations

import asyncio
import time

import pytest

from reverie._private.call.context import RequestContext
from reverie._private.http.streams import under_deadline
from reverie.errors import DeadlineExceededError


def ctx(seconds: float) -> RequestContext:
    return RequestContext("rid-1", time.monotonic() + seconds)


async def test_a_handler_that_does_not_wait_answers() -> None:
    async def quick() -> int:
        return 7

    assert await under_deadline(quick(), ctx(60)) == 7


async def test_a_handler_that_raises_before_waiting_raises_its_error() -> None:
    async def broken() -> int:
        raise ValueError("no such thing")

    with pytest.raises(ValueError, match="no such thing"):
        await under_deadline(broken(), ctx(60))


async def test_a_handler_that_waits_past_the_deadline_is_cut_short() -> None:
    cancelled = asyncio.Event()

    async def slow() -> int:
        try:
            await asyncio.Event().wait()  # never set: only the deadline ends it
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1

    with pytest.raises(DeadlineExceededError, match="deadline exceeded") as err:
        await under_deadline(slow(), ctx(0.05))
    assert err.value.request_id == "rid-1"
    assert cancelled.is_set()


async def test_a_handler_that_waits_gets_each_value_it_waits_for() -> None:
    async def waits() -> list[int]:
        got = []
        for i in range(3):
            fut = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(fut.set_result, i)
            got.append(await fut)
        await asyncio.sleep(0)  # a bare yield to the loop
        return got

    assert await under_deadline(waits(), ctx(60)) == [0, 1, 2]


async def test_cancelling_the_caller_cancels_a_waiting_handler() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return 1

    call = asyncio.ensure_future(under_deadline(slow(), ctx(60)))
    await started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert cancelled.is_set()


async def test_a_handler_may_catch_the_cancellation_and_answer() -> None:
    started = asyncio.Event()

    async def stubborn() -> str:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return "cleaned up"
        return "never"

    call = asyncio.ensure_future(under_deadline(stubborn(), ctx(60)))
    await started.wait()
    call.cancel()
    assert await call == "cleaned up"
