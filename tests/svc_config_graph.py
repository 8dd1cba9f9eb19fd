"""Services for the config tests: a small graph with typed, secret, required and URI keys."""

from __future__ import annotations

from reverie import URI, config, depends, endpoint, service

WORKER_SID = "sid://example.org/2026/config-worker"
CACHE_SID = "sid://example.org/2026/config-cache"


@service(sid=WORKER_SID, workers=2, resources={"gpu": 1, "cpu": 2})
class Worker:
    """Needs a model path; has a secret token."""

    model_path: str = config(description="where the weights are")
    batch: int = config(8, "batch size")
    temperature: float = config(0.7)
    tags: list[str] = config([], "labels")
    limits: dict[str, int] = config({}, "per-tenant limits")
    token: str = config("", secret=True)
    verbose: bool = config(False)

    @endpoint()
    async def generate(self, prompt: str) -> str:
        return prompt


@service(name="AtomService", namespace="feeds")
class Atom:
    """A key with an external name that is not a Python identifier."""

    feed_uri: URI = config("http://127.0.0.1:1/feed", name="feed.uri")
    model_path: str = config("/models/atom")

    @endpoint()
    async def feed(self) -> str:
        return str(self.feed_uri)


@service(config={"port": 9000})
class Frontend:
    """The entry: depends on a class, another class and a SID."""

    port: int = config(8000)
    greeting: str = config("hello")
    worker = depends(Worker)
    atom = depends(Atom)
    cache = depends(CACHE_SID, optional=True)

    @endpoint()
    async def ask(self, prompt: str) -> str:
        return prompt


@service
class Bare:
    """No config keys at all."""

    @endpoint()
    async def ping(self) -> None:
        return None


@service
class BadDefault:
    """A class default that does not match its annotation."""

    port: int = config("eighty")

    @endpoint()
    async def ping(self) -> None:
        return None
