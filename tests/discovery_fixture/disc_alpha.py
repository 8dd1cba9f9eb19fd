"""A good module: one service with a SID, one without, and a helper that is not a service."""

from reverie import endpoint, service

ALPHA_SID = "sid://reverie.test/disc/alpha"


@service(sid=ALPHA_SID)
class Alpha:
    @endpoint()
    async def hello(self, name: str) -> str:
        return f"hello {name}"


@service
class Nameless:
    """Kept under name:Nameless."""


class Helper:
    pass
