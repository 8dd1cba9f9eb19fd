"""Migration between two hosts on one NATS server: a dependent in the source host keeps its
in-process client, which now reaches the moved instance through the forwarder; a destination
that cannot start the class leaves the source serving."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from examples.counter.service import Counter, Front, Hit
from reverie import Host
from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.attach import attach_runtime
from reverie._private.runtime.natsserver import NatsServer
from reverie._private.state.migrate import attach_migration, request_migration


@pytest.fixture
async def nats_url() -> AsyncIterator[str]:
    server = NatsServer()
    await server.start()
    try:
        yield server.url
    finally:
        await server.stop()
        server.cleanup()


async def test_in_process_dependent_follows_the_instance(nats_url: str) -> None:
    rts = [await DistributedRuntime.connect(nats_url) for _ in range(3)]
    a, b = Host(name="a"), Host(name="b")
    try:
        a.register(Counter)
        await attach_runtime(a, rts[0])
        await attach_runtime(b, rts[1])
        await attach_migration(a, rts[0])
        await attach_migration(b, rts[1])
        await a.start(Front)  # Front and Counter in host a, linked in-process
        front = a.client(Front)
        assert await front.hit(Hit("k", by=2)) == 2

        answer = await request_migration(
            rts[2], "examples", "Counter", rts[0].worker_id, rts[1].worker_id
        )
        assert answer["to"] == rts[1].worker_id, answer
        assert b.instance("Counter").obj.counts == {"k": 2}  # restored in b
        forwarder = a.instance("Counter")
        assert forwarder.forward is not None and not forwarder.accepting
        assert forwarder.about()["moved_to"].endswith(f"worker {rts[1].worker_id}")
        assert "moved_to" not in b.instance("Counter").about()
        assert await front.hit(Hit("k")) == 3  # Front's in-process client, through b
        assert b.instance("Counter").obj.counts == {"k": 3}

        # Straight back to a, within the forwarder's grace: a's instance revives in place.
        back = await request_migration(
            rts[2], "examples", "Counter", rts[1].worker_id, rts[0].worker_id
        )
        assert back["to"] == rts[0].worker_id, back
        revived = a.instance("Counter")
        assert revived is forwarder and revived.forward is None and revived.accepting
        assert await front.hit(Hit("k")) == 4  # in-process again, with the state
        assert revived.obj.counts == {"k": 4}
        again = await request_migration(
            rts[2], "examples", "Counter", rts[0].worker_id, rts[1].worker_id
        )
        assert again["to"] == rts[1].worker_id, again
        assert await front.hit(Hit("k")) == 5

        # A destination that does not answer: refused, and the instance keeps serving in b.
        refused = await request_migration(
            rts[2], "examples", "Counter", rts[1].worker_id, "no-such-host"
        )
        assert "did not answer" in refused["error"] and "keeps serving here" in refused["error"]
        assert b.instance("Counter").accepting
        assert await front.hit(Hit("k")) == 6
    finally:
        await a.stop()
        await b.stop()
        for rt in rts:
            await rt.close()
