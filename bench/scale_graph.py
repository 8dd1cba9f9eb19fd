"""The service ``bench_scale.py`` serves: ``Shard`` with ``$REVERIE_BENCH_ENDPOINTS`` unary
endpoints (``ep000``, ``ep001``, ...), each answering its own number. Built in a loop because a
hundred hand-written methods say nothing more."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any

from reverie import endpoint, service

COUNT = int(os.environ.get("REVERIE_BENCH_ENDPOINTS", "100"))


def _make(i: int) -> Callable[[Any], Awaitable[int]]:
    async def handler(self: Any) -> int:
        return i

    handler.__name__ = handler.__qualname__ = f"ep{i:03d}"
    return endpoint()(handler)


Shard = service(namespace="scale")(
    type("Shard", (), {"__module__": __name__, **{f"ep{i:03d}": _make(i) for i in range(COUNT)}})
)
entry = Shard
