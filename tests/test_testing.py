"""reverie.testing: run_graph, overrides, serialize mode, make_instance, fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from reverie import Host, config, depends, endpoint, service
from reverie.errors import RemoteError
from reverie.testing import GraphHandle, make_instance, run_graph


@dataclass
class Box:
    items: list[int]


@service(sid="sid://reverie.dev/tests/testing/worker")
class Worker:
    scale: int = config(1, "Multiplier")

    @endpoint()
    async def generate(self, n: int) -> AsyncIterator[int]:
        for i in range(n):
            yield i * self.scale

    @endpoint()
    async def mutate(self, box: Box) -> None:
        box.items.append(99)  # only "works" when caller and callee share the object

    @endpoint()
    async def leak(self) -> dict[str, object]:
        return {"handle": object()}  # not serialisable: fails on any wire


@service(sid="sid://reverie.dev/tests/testing/fast")
class FakeWorker:
    @endpoint()
    async def generate(self, n: int) -> AsyncIterator[int]:
        yield -1


@service()
class Front:
    worker = depends(Worker)

    @endpoint()
    async def total(self, n: int) -> int:
        return sum([i async for i in self.worker.generate(n)])

    @endpoint()
    async def shared_mutation(self) -> list[int]:
        box = Box(items=[])
        await self.worker.mutate(box)
        return box.items


async def test_run_graph_calls_and_config() -> None:
    async with run_graph(Front, config={"Worker": {"scale": 10}}) as g:
        assert await g.call("Front", "total", 4) == 60
        assert await g.collect(Worker, "generate", 3) == [0, 10, 20]
        assert g.obj(Worker).scale == 10


async def test_override_with_another_service_class() -> None:
    async with run_graph(Front, overrides={Worker: FakeWorker}) as g:
        assert await g.call("Front", "total", 4) == -1


async def test_override_with_a_plain_fake_object() -> None:
    class Fake:
        async def generate(self, n: int) -> AsyncIterator[int]:
            yield 7

    async with run_graph(Front, overrides={Worker: Fake()}) as g:
        assert await g.call("Front", "total", 4) == 7


async def test_serialize_mode_catches_code_that_only_works_co_located() -> None:
    async with run_graph(Front, serialize=False) as g:
        assert await g.call("Front", "shared_mutation") == [99]  # silently relies on sharing
    async with run_graph(Front) as g:  # serialize=True is the default in tests
        assert await g.call("Front", "shared_mutation") == []
        with pytest.raises(
            RemoteError, match=r"Worker.leak: cannot serialise a value of type object.*\[TypeError"
        ):
            await g.call(Worker, "leak")


def test_make_instance_with_fakes() -> None:
    class Fake:
        async def generate(self, n: int) -> AsyncIterator[int]:
            yield 1

    obj = make_instance(Front, worker=Fake())
    assert isinstance(obj.worker, Fake)
    bare = make_instance(Front)
    with pytest.raises(AttributeError, match=r"Front.worker -> Worker was not given"):
        bare.worker.generate  # noqa: B018
    with pytest.raises(TypeError, match=r"make_instance\(Front\): wroker is not a dependency"):
        make_instance(Front, wroker=Fake())
    assert make_instance(Worker, config={"scale": 3}).scale == 3


async def test_fixtures(reverie_host: Host, graph_runner: object) -> None:
    reverie_host.register(Front, Worker)
    await reverie_host.start(Front)
    assert reverie_host.ready()
    async with graph_runner(Front) as g:  # type: ignore[operator]
        assert isinstance(g, GraphHandle)
