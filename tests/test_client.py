"""Client details beyond the conformance suite: argument shape, deadlines already passed,
reprs, Plug availability, and the host's lookup errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from reverie import Host, current_context, depends, endpoint, service
from reverie._private.call.service_client import ServiceClient
from reverie._private.transports.inprocess import InProcessTransport
from reverie.errors import DeadlineExceededError, RemoteError


@service()
class Clock:
    @endpoint()
    async def now(self) -> float:
        return 1.0

    @endpoint()
    async def ticks(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i


@service()
class Caller:
    clock = depends(Clock)

    @endpoint()
    async def late(self) -> float:
        ctx = current_context()
        assert ctx is not None
        ctx.deadline = 0.0  # already passed: the downstream call must not even start
        return await self.clock.now()


@pytest.fixture
async def host() -> AsyncIterator[Host]:
    h = Host(env={})
    h.register(Caller, Clock)
    await h.start(Caller)
    try:
        yield h
    finally:
        await h.stop()


async def test_an_endpoint_without_request_refuses_one(host: Host) -> None:
    with pytest.raises(TypeError, match=r"Clock.now\(\) takes no request argument"):
        await host.client(Clock).now(5)


async def test_a_passed_deadline_fails_before_the_call_starts(host: Host) -> None:
    with pytest.raises(DeadlineExceededError, match="deadline exceeded before the call started"):
        await host.client(Caller).late(timeout=10)


async def test_stream_deadline_passes_when_the_stream_is_quick(host: Host) -> None:
    assert [i async for i in host.client(Clock).ticks(3, timeout=5)] == [0, 1, 2]


async def test_reprs_say_what_and_where(host: Host) -> None:
    client = host.client(Clock)
    assert repr(client) == "<client of Clock via in-process>"
    # A local unary endpoint is a plain function (the fastest call), named to say the same.
    assert repr(client.now).startswith("<function Clock.now (unary endpoint via in-process) at ")
    assert repr(client._callers["now"]) == "<unary endpoint Clock.now via in-process>"
    assert repr(client.ticks) == "<streaming endpoint Clock.ticks via in-process>"
    ep = await client.get_endpoint("ticks")
    assert repr(ep) == "EndpointClient(Clock.ticks)" and ep.name == "ticks"
    transport = InProcessTransport(host.instance(Clock), serialize=True)
    serialized = ServiceClient(client.meta, transport)
    assert repr(serialized) == "<client of Clock via in-process (serialized)>"


async def test_a_client_without_http_has_no_plug() -> None:
    async with Host(env={}) as h:
        h.register(Caller, Clock)
        await h.start(Caller)
        client = ServiceClient(h.client(Clock).meta, h.client(Clock).transport)
        with pytest.raises(AttributeError, match="client of Clock has no Plug"):
            client.plug  # noqa: B018


async def test_host_lookups_name_what_exists(host: Host) -> None:
    with pytest.raises(LookupError, match=r"no instance 'Nope' in host 'host'; instances: Clock, "):
        host.instance("Nope")
    with pytest.raises(LookupError, match=r"no instance at path 'nope'"):
        await host.stop_instance("nope")
    assert host.instance("Clock") is host.instance(Clock)


async def test_cancelling_the_caller_cancels_the_handler() -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    @service()
    class Slow:
        @endpoint()
        async def wait(self) -> None:
            started.set()
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                cancelled.set()
                raise

    async with Host(env={}) as h:
        h.register(Slow)
        await h.start(Slow)
        task = asyncio.create_task(h.client(Slow).wait())
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(cancelled.wait(), 5)


@service()
class Ids:
    @endpoint()
    async def mine(self) -> str:
        ctx = current_context()
        assert ctx is not None
        return ctx.request_id

    @endpoint()
    async def fail(self) -> str:
        ctx = current_context()
        assert ctx is not None
        raise ValueError(f"failed in {ctx.request_id}")


async def test_calls_from_outside_any_handler_each_get_a_context_of_their_own() -> None:
    """The in-process unary fast path (a function made at link time): every call from outside
    any handler gets a fresh context, current while its handler runs and gone after it, on the
    fast path and on the general one (one call in 64 is timed there), and on failure."""
    async with Host(env={}) as h:
        h.register(Ids)
        await h.start(Ids)
        client = h.client(Ids)
        ids = [await client.mine() for _ in range(130)]
        assert len(set(ids)) == 130 and current_context() is None
        with pytest.raises(RemoteError) as info:
            await client.fail()
        err = info.value
        assert err.remote_type == "ValueError" and err.request_id is not None
        assert err.message == f"failed in {err.request_id}"
        assert (err.service, err.endpoint) == ("Ids", "fail")
        assert current_context() is None
        assert h.instance(Ids).active == 0
