from __future__ import annotations

from reverie import endpoint, service


@service(sid="sid://reverie.test/registration/store")
class Store:
    @endpoint()
    async def ping(self) -> str:
        return "store"
