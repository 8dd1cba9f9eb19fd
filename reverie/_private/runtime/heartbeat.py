"""The runtime's timer: liveness of the calls this process makes, heartbeats for the calls it
serves, keepalives for its open streams."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..transports.codec import msgpack_encode
from . import wire
from .tables import CallTable, ServingTable

__all__ = ["Heartbeat"]

log = logging.getLogger("reverie.runtime")


class Heartbeat:
    """One Task per runtime, ticking every ``wire.WATCHDOG_TICK`` seconds."""

    def __init__(
        self,
        calls: CallTable,
        serving: ServingTable,
        nats_up: Callable[[], bool],
        send_ctl: Callable[[str, list[Any]], Awaitable[None]],
    ) -> None:
        self._calls = calls
        self._serving = serving
        self._nats_up = nats_up
        self._send_ctl = send_ctl
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick = wire.WATCHDOG_TICK
        hb_every = max(1, round(wire.HEARTBEAT_INTERVAL / tick))
        ka_every = max(1, round(wire.KEEPALIVE_INTERVAL / tick))
        n = 0
        expected = loop.time() + tick
        while True:
            await asyncio.sleep(tick)
            n += 1
            lag = loop.time() - expected
            expected = loop.time() + tick
            try:
                await self._once(lag > tick, n % ka_every == 0, n % hb_every == 0)
            except Exception:  # never let one bad call stop every heartbeat of the process
                log.exception("runtime heartbeat tick failed")

    async def _once(self, stalled: bool, keepalive: bool, heartbeat: bool) -> None:
        now = time.monotonic()
        up = self._nats_up()
        calls = self._calls
        if calls:
            # stalled: our own loop stalled, so frames may sit unread; nobody is judged on it
            for call in calls.snapshot():
                call.check(now, stalled)
            if keepalive:
                for call in calls.snapshot(lambda c: c.is_stream):
                    if call.link is not None:
                        call.link.ctl([wire.KEEPALIVE, call.reply])
                    elif up:
                        await self._send_ctl(call.iid, [wire.KEEPALIVE, call.reply])
        if heartbeat and self._serving:
            for sc in self._serving.snapshot():
                if sc.heartbeat_due(now) and (up or sc.direct):
                    await sc.send(_HB)


_HB = msgpack_encode([wire.HB])
