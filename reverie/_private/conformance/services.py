"""Services the conformance suite runs on every transport (Echo, and Relay in front of it)."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import BaseModel

from reverie import Response, current_context, depends, endpoint, feature, service
from reverie.errors import CallError, ServiceError


class Point(BaseModel):
    x: int
    y: int = 0


@dataclass
class Count:
    n: int
    delay: float = 0.0


# Where producers report how they ended, for the cancellation tests (same process only). One set
# per event loop: each test runs in its own loop, and an Event is bound to the loop it waits in.
EVENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Event]] = (
    weakref.WeakKeyDictionary()
)


def event(name: str) -> asyncio.Event:
    events = EVENTS.setdefault(asyncio.get_running_loop(), {})
    if name not in events:
        events[name] = asyncio.Event()
    return events[name]


@service(sid="sid://reverie.dev/tests/conformance/echo", namespace="conformance")
class Echo:
    @endpoint()
    async def echo(self, p: Point) -> Point:
        return Point(x=p.x * 2, y=p.y)

    @endpoint()
    async def ping(self) -> str:
        return "pong"

    @endpoint()
    async def own_timeout(self) -> str:
        """Opens ``asyncio.timeout`` before its first wait: it must cancel this handler only."""
        task = asyncio.current_task()
        try:
            async with asyncio.timeout(0.05):
                await asyncio.sleep(0)
                await asyncio.Event().wait()
        except TimeoutError:
            pass
        return "same task" if asyncio.current_task() is task else "moved to another task"

    @endpoint()
    async def count(self, c: Count) -> AsyncIterator[int]:
        for i in range(c.n):
            if c.delay:
                await asyncio.sleep(c.delay)
            yield i

    @endpoint()
    async def forever(self, tag: str) -> AsyncIterator[int]:
        i = 0
        event(f"started:{tag}").set()
        try:
            while True:
                yield i
                i += 1
                await asyncio.sleep(0.001)
        finally:
            event(f"closed:{tag}").set()

    @endpoint()
    async def boom(self, msg: str) -> str:
        raise ValueError(msg)

    @endpoint()
    async def boom_stream(self, after: int) -> AsyncIterator[int]:
        for i in range(after):
            yield i
        raise KeyError("stream broke")

    @endpoint()
    async def not_found(self, what: str) -> str:
        raise ServiceError(404, f"{what} does not exist")

    @endpoint()
    async def slow(self, seconds: float) -> str:
        event("slow:started").set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            event("slow:cancelled").set()
            raise
        return "done"

    @endpoint()
    async def context(self) -> dict[str, object]:
        ctx = current_context()
        assert ctx is not None
        return {"request_id": ctx.request_id, "remaining": ctx.remaining()}

    @endpoint()
    async def bad_result(self) -> int:
        return "not an int"  # type: ignore[return-value]

    @endpoint()
    async def fail_with(self, code: str) -> str:
        """Raise the ``CallError`` subclass whose wire code is ``code``."""
        cls = CallError._by_code[code]
        err = cls.__new__(cls)
        CallError.__init__(err, f"raised {code}", details={"code": code}, status=cls.status)
        raise err

    @endpoint()
    async def same(self, p: Point) -> Point:
        """Hands its argument back; in-process without a codec it must be the caller's object."""
        return p

    # -- features (HTTP, through a client's .plug) ---------------------------------------------

    @feature("GET:hello")
    async def hello(self, name: str) -> dict[str, str]:
        return {"hello": name}

    @feature("GET:raw")
    async def raw(self) -> Response:
        return Response(
            b"raw \x00 body",
            status=201,
            headers={"X-Conformance": "yes"},
            media_type="application/octet-stream",
        )

    @feature("POST:points")
    async def double_point(self, p: Point) -> Point:
        return Point(x=p.x * 2, y=p.y)

    @feature("GET:teapot")
    async def teapot(self) -> str:
        raise ServiceError(418, "I am a teapot")

    @feature("GET:ticks")
    async def ticks(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


@service(namespace="conformance")
class Relay:
    echo = depends(Echo)

    @endpoint()
    async def context_chain(self) -> dict[str, object]:
        ctx = current_context()
        assert ctx is not None
        downstream = await self.echo.context()
        return {"mine": ctx.request_id, "downstream": downstream}

    @endpoint()
    async def context_tight(self, seconds: float) -> dict[str, object]:
        """Calls Echo.context with a tighter timeout than its own deadline."""
        ctx = current_context()
        assert ctx is not None
        downstream = await self.echo.context(timeout=seconds)
        return {"mine": ctx.remaining(), "downstream": downstream}

    @endpoint()
    async def relay_fail(self, code: str) -> str:
        answer: str = await self.echo.fail_with(code)
        return answer

    @endpoint()
    async def bad_result(self) -> int:
        answer: int = await self.echo.bad_result()
        return answer

    @endpoint()
    async def relay_slow(self, seconds: float) -> str:
        answer: str = await self.echo.slow(seconds)
        return answer

    @endpoint()
    async def relay_forever(self, tag: str) -> AsyncIterator[int]:
        async for i in self.echo.forever(tag):
            yield i

    @endpoint()
    async def relay_count(self, n: int) -> AsyncIterator[int]:
        async for i in self.echo.count(Count(n=n)):
            yield i

    @feature("GET:via/{what}")
    async def via(self, what: str) -> dict[str, object]:
        """Echo's feature ``what`` through this service's dependency Plug: the hop under test."""
        plug = self.echo.plug
        if what == "ticks":
            async with plug.at("ticks").with_(n=3).stream() as resp:
                events = [[e["event"], e["data"]] async for e in resp.aiter_events()]
            return {"status": resp.status, "type": resp.headers["content-type"], "events": events}
        resp = await (
            plug.at("hello").with_(name="relay") if what == "hello" else plug.at(what)
        ).get()
        return {
            "status": resp.status,
            "type": resp.headers["content-type"],
            "body": resp.content.decode("latin-1"),
            "header": resp.headers.get("x-conformance"),
        }
