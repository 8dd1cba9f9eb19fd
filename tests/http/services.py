"""Services the HTTP tests serve: features of every parameter source, streams, access levels."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from pydantic import BaseModel

from reverie import (
    URI,
    RequestContext,
    Response,
    StreamingResponse,
    config,
    depends,
    endpoint,
    feature,
    on_config,
    on_start,
    service,
)
from reverie._private.http.plug import Plug
from reverie._private.http.request import Request
from reverie.errors import ServiceError

# Set by producers when they end, for the cancellation tests (same process).
EVENTS: dict[str, asyncio.Event] = {}


def event(name: str) -> asyncio.Event:
    return EVENTS.setdefault(name, asyncio.Event())


class Item(BaseModel):
    name: str
    qty: int = 1


@dataclass
class Note:
    text: str


@service(sid="sid://reverie.dev/tests/http/feed", namespace="httptests")
class Feed:
    """A feed of items."""

    limit: int = config(10, "how many items a page holds")
    token: str = config("feed-secret-value", "a credential", secret=True)

    @feature("GET:hello", "Say hello")
    async def hello(self) -> str:
        return "hello"

    @feature("GET:items/{id}")
    async def item(self, id: int, verbose: bool = False) -> dict[str, object]:
        return {"id": id, "verbose": verbose}

    @feature("GET:items")
    async def items(
        self, tag: list[str] | None = None, limit: int | None = None
    ) -> dict[str, object]:
        return {"tags": tag or [], "limit": self.limit if limit is None else limit}

    @feature("POST:items")
    async def add(self, item: Item) -> Item:
        return Item(name=item.name.upper(), qty=item.qty)

    @feature("PUT:items/{id}")
    async def put_item(self, id: int, note: Note) -> dict[str, object]:
        return {"id": id, "text": note.text}

    @feature("GET:files//*")
    async def files(self, suffix: str) -> str:
        return suffix

    @feature("GET:pair/{a}/{b}?")
    async def pair(self, a: str, b: int | None = None) -> list[object]:
        return [a, b]

    @feature("*:echo")
    async def echo_request(self, request: Request) -> dict[str, object]:
        return {
            "method": request.method,
            "body": request.text,
            "q": request.query,
            "has_auth": "authorization" in request.headers,
        }

    @feature("GET:raw")
    async def raw(self) -> Response:
        return Response(b"\x89PNG", status=201, headers={"X-A": "b"}, media_type="image/png")

    @feature("GET:chunks")
    async def chunks(self) -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            for part in (b"a", b"b", b"c"):
                yield part

        return StreamingResponse(gen(), media_type="text/plain")

    @feature("GET:endless")
    async def endless(self, tag: str) -> StreamingResponse:
        async def gen() -> AsyncIterator[bytes]:
            try:
                while True:
                    yield b"tick\n"
                    await asyncio.sleep(0.005)
            finally:
                event(f"closed:{tag}").set()

        return StreamingResponse(gen(), media_type="text/plain")

    @feature("GET:ticks")
    async def ticks(self, n: int = 3) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @feature("GET:internal", access="internal")
    async def internal(self) -> str:
        return "internal ok"

    @feature("GET:private", access="private")
    async def private(self) -> str:
        return "private ok"

    @feature("GET:fail")
    async def fail(self) -> str:
        raise ValueError("feature broke")

    @feature("GET:teapot")
    async def teapot(self) -> str:
        raise ServiceError(418, "I am a teapot")

    @feature("GET:ctx")
    async def ctx(self, context: RequestContext) -> dict[str, object]:
        return {"request_id": context.request_id, "remaining": context.remaining()}

    @feature("GET:slow")
    async def slow(self, seconds: float = 5.0) -> str:
        event("feature-slow:started").set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            event("feature-slow:cancelled").set()
            raise
        return "done"

    @endpoint()
    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i

    @endpoint()
    async def double(self, n: int) -> int:
        return 2 * n

    @endpoint()
    async def forever(self, tag: str) -> AsyncIterator[int]:
        i = 0
        try:
            while True:
                yield i
                i += 1
                await asyncio.sleep(0.005)
        finally:
            event(f"closed:{tag}").set()

    @endpoint()
    async def fail_first(self, n: int) -> AsyncIterator[int]:
        raise ServiceError(409, f"cannot stream {n}")
        yield 0  # pragma: no cover

    @endpoint()
    async def fail_later(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i
        raise KeyError("ran dry")


@service(namespace="httptests")
class Reader:
    """Reads the feed through its client, its Plug and a URI config key."""

    feed = depends(Feed)
    feed_uri: URI = config(URI("local://host/Feed"), "where the feed lives")

    @feature("GET:via-client")
    async def via_client(self, n: int = 3) -> list[int]:
        return [i async for i in self.feed.count(n)]

    @feature("GET:via-plug")
    async def via_plug(self) -> dict[str, object]:
        hello = await self.feed.plug.at("hello").get()
        internal = await self.feed.plug.at("internal").get()
        return {"hello": hello.json(), "internal": internal.status}

    @feature("GET:via-uri")
    async def via_uri(self) -> object:
        resp = await Plug(self.feed_uri).at("items", 7).with_(verbose=True).get()
        return resp.json()


@service(sid="sid://reverie.dev/tests/http/tunable", namespace="httptests")
class Tunable:
    level: int = config(1)
    must_start: bool = config(True)

    def __init__(self) -> None:
        self.applied: list[dict[str, object]] = []

    @on_start
    async def check(self) -> None:
        if not self.must_start:
            raise RuntimeError("told not to start")

    @on_config
    async def reconfigure(self, values: dict[str, object]) -> None:
        if values["level"] == 13:
            raise ValueError("13 is unlucky")
        self.applied.append(values)

    @feature("GET:level")
    async def get_level(self) -> int:
        return self.level


@service(sid="sid://reverie.dev/tests/http/plain", namespace="httptests")
class Plain:
    """No on_config hook: PUT @config restarts it."""

    size: int = config(1)

    @feature("GET:size")
    async def get_size(self) -> int:
        return self.size
