"""The graph the multi-machine tests place on nodes: Front (n1) -> Worker (n2 and n3)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from reverie import depends, endpoint, service


def _node() -> str:
    return os.environ.get("REVERIE_TEST_NODE", "?")


@service(namespace="mn")
class Worker:
    """Answers with the node and pid it runs on; ``ticks`` streams until cancelled."""

    @endpoint()
    async def whoami(self) -> dict[str, object]:
        return {"node": _node(), "pid": os.getpid()}

    @endpoint()
    async def ticks(self, every: float) -> AsyncIterator[str]:
        while True:
            yield _node()
            await asyncio.sleep(every)


@service(namespace="mn")
class Front:
    worker = depends(Worker)

    @endpoint()
    async def where(self) -> dict[str, object]:
        """Two hops: the caller -> Front (n1) -> a Worker (n2 or n3)."""
        inner = await self.worker.whoami()
        return {"front": _node(), "worker": inner}


entry = Front
