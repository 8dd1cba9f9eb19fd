"""The plan and the resource allocator, in-process: levels, packing, parsing, messages."""

from __future__ import annotations

import io

import pytest

from reverie import depends, endpoint, service
from reverie._private.config.deployment import parse_deployment
from reverie._private.serve.output import Output, plan_renderable
from reverie._private.serve.plan import build_plan
from reverie._private.serve.resources import (
    Inventory,
    WorkerRequest,
    allocate,
    detect_inventory,
    format_bytes,
    parse_cpu,
    parse_memory,
)
from reverie.errors import ConfigError

from .svc_graph import Api


def inv(cpus: int = 4, gpus: int = 0, memory: int | None = 64 * 1024**3) -> Inventory:
    return Inventory(list(range(cpus)), list(range(gpus)), memory, "test", "test")


def test_parse_amounts() -> None:
    assert parse_cpu(2) == 2.0 and parse_cpu("1.5") == 1.5 and parse_cpu("500m") == 0.5
    assert parse_memory("8Gi") == 8 * 1024**3 and parse_memory("2G") == 2 * 10**9
    assert parse_memory(1024) == 1024
    with pytest.raises(ValueError, match="not a memory size: 'lots'"):
        parse_memory("lots")
    assert format_bytes(1024**3) == "1Gi" and format_bytes(1536) == "1.5Ki"


def test_inventory_override_and_errors() -> None:
    got = detect_inventory(cpus=1, gpus=2)
    assert len(got.cpus) == 1 and got.gpus == [0, 1]
    assert got.cpu_source == "--cpus" and got.gpu_source == "--gpus"
    assert "2 GPUs (--gpus)" in got.describe()
    with pytest.raises(ConfigError, match="--cpus 0 must be at least 1"):
        detect_inventory(cpus=0)
    with pytest.raises(ConfigError, match="--gpus -1 must be 0 or more"):
        detect_inventory(gpus=-1)
    assert detect_inventory().gpu_source  # says how it was found (or why not)


def test_allocate_pins_whole_cpus_and_packs_gpu_fractions() -> None:
    reqs = [
        WorkerRequest("A-1", "A", cpu=2, gpu=1),
        WorkerRequest("A-2", "A", cpu=1, gpu=1),
        WorkerRequest("B", "B", cpu=0.5, gpu=0.5),
        WorkerRequest("C", "C", gpu=0.5),
        WorkerRequest("D", "D"),
    ]
    out = allocate(reqs, inv(cpus=4, gpus=3))
    assert out["A-1"].cpus == [0, 1] and out["A-2"].cpus == [2]
    assert out["B"].cpus == []  # fractions float
    assert out["A-1"].gpus == [0] and out["A-2"].gpus == [1]
    assert out["B"].gpus == out["C"].gpus == [2]  # two halves share one GPU
    assert out["D"].cuda_visible_devices() == ""


def test_allocate_memory_over() -> None:
    with pytest.raises(ConfigError) as info:
        allocate(
            [WorkerRequest("A", "A", memory=2 * 1024**3, memory_source="d.yaml:3")],
            inv(memory=1024**3),
        )
    assert "A.resources.memory (from d.yaml:3)" in str(info.value)
    assert "needs 2Gi of memory but the machine has 1Gi" in str(info.value)


def test_plan_layout_levels_and_processes_flag() -> None:
    plan = build_plan("t:Api", Api, None, inv(), processes=True)
    assert plan.mode == "processes" and plan.nats == "embedded"
    assert [(p.name, p.level) for p in plan.processes] == [("Store", 0), ("Logic", 1), ("Api", 2)]
    assert [p.http for p in plan.processes] == [False, False, True]
    plan = build_plan("t:Api", Api, None, inv(), nats="nats://127.0.0.1:4222")
    assert plan.mode == "embedded" and plan.nats == "nats://127.0.0.1:4222"


@service(namespace="cyc")
class Leaf:
    @endpoint()
    async def ping(self) -> int:
        return 1


@service(namespace="cyc")
class Mid:
    leaf = depends(Leaf)

    @endpoint()
    async def ping(self) -> int:
        return 1


@service(namespace="cyc")
class Top:
    mid = depends(Mid)

    @endpoint()
    async def ping(self) -> int:
        return 1


def test_processes_that_need_each_other_share_a_level() -> None:
    # Top and Leaf share 'main'; Mid runs apart, between them: main -> Mid -> main.
    dep = parse_deployment("Mid:\n  ServiceArgs:\n    process: separate\n", "d.yaml")
    plan = build_plan("t:Top", Top, dep, inv())
    levels = {p.name: p.level for p in plan.processes}
    assert levels == {"main": 0, "Mid": 0}
    assert plan.reasons == ["Mid has process: separate (d.yaml:3)"]


def test_explicit_shared_stays_in_main_with_processes_flag() -> None:
    dep = parse_deployment("Leaf:\n  ServiceArgs:\n    process: shared\n", "d.yaml")
    plan = build_plan("t:Top", Top, dep, inv(), processes=True)
    assert {p.name: p.services for p in plan.processes} == {
        "main": ["Leaf"],
        "Mid": ["Mid"],
        "Top": ["Top"],
    }


def test_text_outputs() -> None:
    plan = build_plan("t:Api", Api, None, inv())
    buf = io.StringIO()
    out = Output("text", file=buf, force_terminal=False)
    out.console.print(plan_renderable(plan))
    out.register(["main", "Store-1"])
    out.line("Store-1", "hello", "stderr")
    out.error("boom")
    text = buf.getvalue()
    assert "mode: embedded" in text and "Store-1  | hello" in text and "serve    | boom" in text
    jbuf = io.StringIO()
    jout = Output("json", file=jbuf)
    jout.line("main", '{"level": "warning", "message": "m", "logger": "x"}', "stderr")
    assert '"process": "main"' in jbuf.getvalue() and '"level": "warning"' in jbuf.getvalue()
