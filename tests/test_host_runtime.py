"""A host attached to a NATS runtime: serving, remote dependencies, readiness, addressing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from reverie import Host, attach_runtime, depends, endpoint, service
from reverie._private.config.deployment import parse_deployment
from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.natsserver import NatsServer
from reverie.errors import NoWorkersError, StartError


@service(namespace="hr")
class Leaf:
    @endpoint()
    async def double(self, x: int) -> int:
        return 2 * x


@service(namespace="hr")
class Top:
    leaf = depends(Leaf)

    @endpoint()
    async def quad(self, x: int) -> int:
        return await self.leaf.double(await self.leaf.double(x))


@pytest.fixture
async def server() -> AsyncIterator[NatsServer]:
    s = NatsServer()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        s.cleanup()


async def test_dependency_in_another_host_is_reached_over_nats(server: NatsServer) -> None:
    async with (
        await DistributedRuntime.connect(server.url) as rt1,
        await DistributedRuntime.connect(server.url) as rt2,
    ):
        leaf_host, top_host = Host(env={}), Host(env={})
        await attach_runtime(leaf_host, rt1)
        await attach_runtime(top_host, rt2)
        await leaf_host.start(Leaf)
        await top_host.start(Top, local={"Top"})
        try:
            assert "Leaf" not in top_host.instances
            assert top_host.instance(Top).obj.leaf.transport.describe() != "in-process"
            assert await top_host.client(Top).quad(3) == 12
            assert leaf_host.instance(Leaf).requests["double"] == 2
        finally:
            await top_host.stop()
            await leaf_host.stop()


async def test_start_waits_for_a_remote_dependency_then_names_it(server: NatsServer) -> None:
    async with await DistributedRuntime.connect(server.url) as rt:
        host = Host(env={})
        await attach_runtime(host, rt, dependency_timeout=0.3)
        with pytest.raises(StartError) as info:
            await host.start(Top, local={"Top"})
        assert info.value.state == "linking"
        assert isinstance(info.value.cause, NoWorkersError)
        assert "dependency Top.leaf -> Leaf has no live worker at hr/Leaf after 0.3 s" in str(
            info.value
        )
        assert not host.instances


async def test_runtime_section_renames_the_address(server: NatsServer) -> None:
    dep = parse_deployment("Leaf:\n  runtime: {namespace: other, name: leafy}\n", "d.yaml")
    async with (
        await DistributedRuntime.connect(server.url) as rt1,
        await DistributedRuntime.connect(server.url) as rt2,
    ):
        leaf_host, top_host = Host(env={}, deployment=dep), Host(env={}, deployment=dep)
        await attach_runtime(leaf_host, rt1)
        await attach_runtime(top_host, rt2)
        await leaf_host.start(Leaf)
        await top_host.start(Top, local={"Top"})
        try:
            assert await rt2.get_blueprint("other", "leafy") is not None
            assert await top_host.client(Top).quad(1) == 4
        finally:
            await top_host.stop()
            await leaf_host.stop()
