"""Per-edge statistics kept by dependency clients: exact counts and errors in-process (latency
sampled), everything exact over a wire (HTTP here), stream items counted over the wire."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reverie import Host, depends, endpoint, service
from reverie._private.call.edges import SAMPLE
from reverie._private.http.attach import attach_http
from reverie._private.http.server import HttpServer
from reverie.errors import RemoteError


@service(name="EdgeBack")
class Back:
    @endpoint()
    async def echo(self, x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x

    @endpoint()
    async def count(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


@service(name="EdgeFront")
class Front:
    back = depends(Back)

    @endpoint()
    async def run(self, n: int) -> int:
        total = 0
        for i in range(n):
            total += await self.back.echo(i)
        with pytest.raises(RemoteError):
            await self.back.echo(-1)
        async for i in self.back.count(4):
            total += i
        return total


def _stats(host: Host) -> dict[str, dict[str, object]]:
    return {f"{s.caller}>{s.callee}.{s.endpoint}": s.snapshot() for s in host.edges}


async def test_in_process_edges_count_every_call_and_time_a_sample() -> None:
    async with Host(env={}) as host:
        await host.start(Front)
        assert await host.client(Front).run(SAMPLE * 2) == sum(range(SAMPLE * 2)) + 6
        stats = _stats(host)
    echo = stats["EdgeFront>EdgeBack.echo"]
    assert echo["transport"] == "in-process"
    assert echo["calls"] == SAMPLE * 2 + 1 and echo["errors"] == 1 and echo["ok"] == SAMPLE * 2
    assert echo["outcomes"] == {"remote": 1}
    assert echo["timed"] == 2 and echo["in_flight"] == 0  # one in SAMPLE, the 64th and 128th
    count = stats["EdgeFront>EdgeBack.count"]
    assert count["calls"] == 1 and count["ok"] == 1 and count["timed"] == 1
    assert count["items"] == 0  # in-process items are not counted (the per-item hot path)


async def test_wire_edges_time_every_call_and_count_items() -> None:
    async with Host(env={}, name="back") as back:
        await back.start(Back)
        async with HttpServer(back, port=0, access_log=False, log_level="warning") as srv:
            front = Host(env={}, name="front")
            attach_http(front, remote={"EdgeBack": f"{srv.url}/EdgeBack"})
            async with front:
                await front.start(Front)
                assert await front.client(Front).run(3) == 3 + 6
                stats = _stats(front)
    echo = stats["EdgeFront>EdgeBack.echo"]
    assert echo["transport"] == "http"
    assert echo["calls"] == 4 and echo["errors"] == 1 and echo["timed"] == 4
    assert echo["outcomes"] == {"remote": 1}
    count = stats["EdgeFront>EdgeBack.count"]
    assert count["items"] == 4 and count["ok"] == 1 and count["in_flight"] == 0
