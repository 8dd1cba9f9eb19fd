"""Services the fault tests serve in-process: one that refuses bad config at start, a slow one,
one with a typed query parameter."""

from __future__ import annotations

import asyncio

from reverie import config, endpoint, feature, on_start, service

#: Set by Slow.wait when it starts running; tests wait on it instead of sleeping.
STARTED: dict[str, asyncio.Event] = {}


@service(namespace="faults")
class Ttl:
    """Like the atom example's default-ttl: the service itself refuses a non-positive value."""

    ttl: float = config(60.0, "seconds an entry lives (must be > 0)", name="default-ttl")

    @on_start
    async def check(self) -> None:
        if self.ttl <= 0:
            raise ValueError(f"default-ttl={self.ttl} must be a positive number of seconds")

    @feature("GET:ttl")
    async def get_ttl(self) -> float:
        return self.ttl


@service(namespace="faults")
class Slow:
    @endpoint()
    async def wait(self, tag: str) -> str:
        STARTED.setdefault(tag, asyncio.Event()).set()
        await asyncio.Event().wait()  # until cancelled
        return tag

    @feature("GET:page")
    async def page(self, limit: int = 10) -> int:
        return limit

    @endpoint()
    async def echo(self, text: str) -> str:
        return text


@service(namespace="faults")
class Guarded:
    """One feature per access level, a secret config value, a handler that raises."""

    token: str = config("s3cr3t-config-value", "a credential", secret=True)

    @feature("GET:open")
    async def open_(self) -> str:
        return "open"

    @feature("GET:inner", access="internal")
    async def inner(self) -> str:
        return "inner"

    @feature("GET:admin", access="private")
    async def admin(self) -> str:
        return "admin"

    @feature("GET:boom")
    async def boom(self) -> str:
        raise RuntimeError("exploded")
