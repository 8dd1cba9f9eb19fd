"""An entry with a SID dependency implemented beside it, and a cycle through SIDs."""

from __future__ import annotations

from reverie import depends, endpoint, service


@service(sid="sid://reverie.test/registration/leaf")
class Leaf:
    @endpoint()
    async def ping(self) -> str:
        return "leaf"


@service()
class Top:
    leaf = depends("sid://reverie.test/registration/leaf")

    @endpoint()
    async def ping(self) -> str:
        answer: str = await self.leaf.ping()
        return f"top>{answer}"


@service(sid="sid://reverie.test/registration/a")
class CycA:
    b = depends("sid://reverie.test/registration/b")


@service(sid="sid://reverie.test/registration/b")
class CycB:
    a = depends("sid://reverie.test/registration/a")
