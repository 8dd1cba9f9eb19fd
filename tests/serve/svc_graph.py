"""A three-service graph for the serve tests: Api -> Logic -> Store (Store runs 2 workers).

``REVERIE_TEST_MARKS`` names a directory where each process's on_shutdown hook drops a file;
``REVERIE_TEST_CRASH=1`` makes Store exit hard shortly after it starts (crash loop);
``REVERIE_TEST_FAIL_START=1`` makes Store's on_start raise;
``REVERIE_TEST_CRASH_RESTARTS_OF=<process>:<dir>`` makes every restart of that one process die.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel

from reverie import depends, endpoint, feature, on_shutdown, on_start, service


class CountReq(BaseModel):
    n: int = 3
    delay: float = 0.0


def _crash_on_restart() -> None:
    marks = os.environ.get("REVERIE_TEST_CRASH_RESTARTS_OF")  # "<process>:<dir>"
    if marks and marks.split(":", 1)[0] == sys.argv[-1]:
        seen = os.path.join(marks.split(":", 1)[1], "started")
        if os.path.exists(seen):
            os._exit(9)  # every restart of this one worker dies while starting
        open(seen, "w").close()


async def _slow(who: str, seconds: float, downstream: Any = None) -> float:
    """Mark the start, wait (downstream, or a sleep), mark a cancellation: the fault tests
    wait for these files instead of timing anything."""
    _mark(f"slow-started-{who}")
    try:
        if downstream is not None:
            return float(await downstream(seconds))
        await asyncio.sleep(seconds)
        return seconds
    except asyncio.CancelledError:
        _mark(f"slow-cancelled-{who}")
        raise


def _mark(what: str) -> None:
    marks = os.environ.get("REVERIE_TEST_MARKS")
    if marks:
        with open(os.path.join(marks, f"{what}-{os.getpid()}"), "w") as fh:
            fh.write(what)


@service(namespace="svtest")
class Store:
    """The backend: answers with its pid, streams numbers."""

    @on_start
    async def boot(self) -> None:
        if os.environ.get("REVERIE_TEST_FAIL_START") == "1":
            raise RuntimeError("store cannot open its data (test)")
        if os.environ.get("REVERIE_TEST_CRASH") == "1":
            asyncio.get_running_loop().call_later(0.3, os._exit, 9)
        _crash_on_restart()

    @endpoint()
    async def whoami(self) -> int:
        return os.getpid()

    @endpoint()
    async def count(self, req: CountReq) -> AsyncIterator[int]:
        for i in range(req.n):
            if req.delay:
                await asyncio.sleep(req.delay)
            yield i

    @endpoint()
    async def slow(self, seconds: float) -> float:
        return await _slow("Store", seconds)

    @on_shutdown
    async def bye(self) -> None:
        _mark("Store")


@service(namespace="svtest")
class Logic:
    store = depends(Store)

    @endpoint()
    async def whoami(self) -> int:
        return int(await self.store.whoami())

    @endpoint()
    async def count(self, req: CountReq) -> AsyncIterator[int]:
        async for i in self.store.count(req):
            yield i

    @endpoint()
    async def slow(self, seconds: float) -> float:
        return await _slow("Logic", seconds, self.store.slow)

    @on_shutdown
    async def bye(self) -> None:
        _mark("Logic")


@service(namespace="svtest")
class Api:
    logic = depends(Logic)

    @feature("GET:pids")
    async def pids(self) -> dict[str, int]:
        return {"api": os.getpid(), "store": await self.logic.whoami()}

    @endpoint()
    async def count(self, req: CountReq) -> AsyncIterator[int]:
        async for i in self.logic.count(req):
            yield i

    @endpoint()
    async def slow(self, seconds: float) -> float:
        return await _slow("Api", seconds, self.logic.slow)

    @on_shutdown
    async def bye(self) -> None:
        _mark("Api")


entry = Api  # `reverie serve tests.serve.svc_graph` serves this graph
