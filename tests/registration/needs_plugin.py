"""An entry whose SID dependency lives only in ``plugins/`` (found by ``--discover``)."""

from __future__ import annotations

from reverie import depends, endpoint, service


@service()
class Host2:
    store = depends("sid://reverie.test/registration/store")

    @endpoint()
    async def ping(self) -> str:
        answer: str = await self.store.ping()
        return answer
