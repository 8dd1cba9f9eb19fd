"""Services used by the blueprint, registry, graph and CLI tests (markup only, no behaviour)."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TypedDict

import msgspec
import pydantic

from reverie import URI, RequestContext, api, config, depends, endpoint, feature, service

WORKER_SID = "sid://reverie.test/2026/worker"
WORKER_V2_SID = "sid://reverie.test/2026/worker/v2"
CACHE_SID = "sid://reverie.test/2026/cache"
CYCLE_A_SID = "sid://reverie.test/2026/cycle-a"
MISSING_SID = "sid://reverie.test/2026/missing"


@dataclass
class Prompt:
    text: str
    max_tokens: int = 16


class Token(msgspec.Struct):
    index: int
    text: str


class Stats(TypedDict):
    calls: int
    errors: int


class Item(pydantic.BaseModel):
    name: str
    price: float = 0.0


@service(
    sid=[WORKER_SID, WORKER_V2_SID],
    name="Worker",
    namespace="llm",
    version="2.1",
    description="Generates tokens.",
    copyright="(c) 2026 Reverie tests",
    info="https://example.org/docs/worker",
    workers=2,
    resources={"cpu": 2, "gpu": 1, "memory": "4Gi"},
    config={"model": "tiny"},
)
class Worker:
    """Docstring, overridden by description=."""

    model: str = config("base", "model to load")
    api_key: str = config(description="key for the model hub", secret=True)
    salt: str = config("s3cr3t", "hash salt", secret=True)
    temperature: float = config(0.7)
    feed_uri: URI = config("local://feed", "where items come from", name="feed.uri")
    tags: list[str] = config(description="required list")

    @endpoint()
    async def generate(self, prompt: Prompt) -> AsyncIterator[Token]:
        """Stream tokens for a prompt.

        More text that is not the summary.
        """
        yield Token(index=0, text=prompt.text)

    @endpoint(name="stats", idempotent=True, description="Counters so far")
    async def get_stats(self) -> Stats:
        return {"calls": 0, "errors": 0}

    @endpoint()
    async def price(self, item: Item) -> float:
        return item.price

    @feature("GET:items/{item_id}", "Fetch one item")
    async def get_item(self, item_id: int, verbose: bool = False) -> Item:
        return Item(name=str(item_id))

    @feature("PUT:items/{item_id}", access="internal")
    async def put_item(self, item_id: int, item: Item, ctx: RequestContext) -> None:
        return None

    @feature("GET:files/{kind}?//*")
    async def files(self, suffix: str, kind: str | None = None) -> str:
        return suffix

    @feature("*:any/*/ping", access="private")
    async def ping(self) -> str:
        return "pong"

    @feature("GET:events")
    async def events(self, limit: int = 3) -> AsyncIterator[Stats]:
        yield {"calls": limit, "errors": 0}

    @api
    async def echo(self, item: Item) -> Item:
        return item


@service(sid=CACHE_SID)
class Cache:
    @endpoint()
    async def get(self, key: str) -> str | None:
        return None


@service(name="Frontend")
class Frontend:
    worker = depends(Worker)
    worker_v2 = depends(WORKER_V2_SID)
    cache = depends(CACHE_SID, optional=True)
    missing = depends(MISSING_SID, optional=True)

    @endpoint()
    async def ask(self, prompt: Prompt) -> str:
        return prompt.text


@service(sid=CYCLE_A_SID)
class CycleA:
    other = depends("sid://reverie.test/2026/cycle-b")


@service(sid="sid://reverie.test/2026/cycle-b")
class CycleB:
    back = depends(CycleA)


class NotAService:
    """A plain class, for the 'not a service' errors."""


VALUE = 42
