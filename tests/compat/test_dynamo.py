"""The Dynamo SDK example (seed §8.1 + configs/agg.yaml) runs on Reverie with one changed import:
in run_graph, and served by ``reverie serve`` (two VllmWorker processes over NATS)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from reverie import blueprint, get_meta
from reverie._private.config.deployment import load_deployment, parse_deployment
from reverie.compat.dynamo import async_on_start, dynamo_endpoint, service
from reverie.errors import ConfigError, DeadlineExceededError, DeploymentError, MarkupError
from reverie.testing import run_graph
from tests.compat.seed_graph import Processor, VllmWorker

HERE = Path(__file__).resolve().parent
AGG = str(HERE / "agg.yaml")
WORDS = {"prompt": "hello dynamo world"}
EXPECTED = [{"token": w, "model": "/models/llama-7b"} for w in ("hello", "dynamo", "world")]


async def test_seed_graph_streams_in_run_graph() -> None:
    async with run_graph(Processor, deployment=load_deployment(AGG)) as g:
        assert await g.collect("Processor", "process", WORDS) == EXPECTED
        worker = g.instance("VllmWorker")
        assert worker.about()["namespace"] == "production"  # the YAML's dynamo: section
        config = worker.config
        assert config is not None
        assert config["model_path"].source.endswith("agg.yaml:5")
        assert config["tensor_parallel_size"].value == 1
        assert config["tensor_parallel_size"].source.endswith("agg.yaml:6 (undeclared)")
        assert g.obj("VllmWorker").tensor_parallel_size == 1


async def test_without_yaml_the_class_defaults_and_decorator_namespace_apply() -> None:
    async with run_graph(Processor) as g:
        out = await g.collect("Processor", "process", {"prompt": "a"})
        assert out == [{"token": "a", "model": "/models/default"}]
        assert g.instance("VllmWorker").about()["namespace"] == "dynamo"


def test_markup_translates_into_the_core() -> None:
    meta = get_meta(VllmWorker)
    assert meta.namespace == "dynamo" and meta.resources == {"gpu": 1}
    assert list(meta.config_keys) == ["model_path"]
    assert meta.config_keys["model_path"].default == "/models/default"
    assert meta.hooks["on_start"] == ["async_init"]
    ep = meta.endpoints["generate"]
    assert ep.streaming and ep.request_type is dict
    bp = blueprint(VllmWorker)
    assert [c.name for c in bp.config] == ["model_path"]
    assert bp.config[0].default == "/models/default"


@service(
    dynamo={"enabled": True, "namespace": "dynamo", "name": "slow"},
    traffic={"timeout": 0.2},
    envs=[{"name": "HF_HUB_OFFLINE", "value": "1"}],
    image="nvcr.io/nvidia/dynamo:latest",
    workers=1,
)
class Slow:
    label: str = "x"
    size: int = 3

    def __init__(self) -> None:
        # configured values are visible in __init__ (written before __init__ runs)
        self.seen_in_init = (self.label, self.size)

    @async_on_start
    async def boot(self) -> None:
        pass

    @dynamo_endpoint()
    async def wait(self, seconds: float) -> str:
        import asyncio

        await asyncio.sleep(seconds)
        return "done"


async def test_traffic_timeout_is_the_default_deadline() -> None:
    assert get_meta(Slow).name == "slow"
    async with run_graph(Slow) as g:
        assert await g.call("slow", "wait", 0.0) == "done"
        with pytest.raises(DeadlineExceededError):
            await g.call("slow", "wait", 5.0)
        assert await g.call("slow", "wait", 0.3, timeout=5.0) == "done"


async def test_configured_values_are_visible_in_init() -> None:
    async with run_graph(Slow, config={"slow": {"label": "y", "size": 7}}) as g:
        assert g.obj("slow").seen_in_init == ("y", 7)


def test_envs_and_image_reach_the_plan() -> None:
    from reverie._private.serve.plan import build_plan
    from reverie._private.serve.resources import Inventory

    dep = parse_deployment("slow:\n  ServiceArgs:\n    env:\n      EXTRA: '2'\n", "d.yaml")
    plan = build_plan("x:Slow", Slow, dep, Inventory([0, 1], [], None, "t", "t"))
    doc = plan.to_json()
    assert doc["services"][0]["image"] == "nvcr.io/nvidia/dynamo:latest"
    (proc,) = doc["processes"]
    assert proc["env"]["HF_HUB_OFFLINE"] == "1" and proc["env"]["EXTRA"] == "2"


def test_unknown_dynamo_and_traffic_keys_are_named() -> None:
    with pytest.raises(
        MarkupError,
        match=r"@service\(dynamo=...\): unknown key 'namespce'; did "
        r"you mean 'namespace'\?; Reverie reads enabled, namespace, name",
    ):
        service(dynamo={"namespce": "x"})
    with pytest.raises(MarkupError, match=r"@service\(traffic=...\): unknown key 'timout'"):
        service(traffic={"timout": 3})


def test_a_core_service_with_a_dynamo_section_gets_a_hint() -> None:
    from reverie import config, endpoint
    from reverie import service as core_service

    @core_service()
    class Worker:
        batch: int = config(1)
        model_path: str = "/models/default"

        @endpoint()
        async def run(self) -> None: ...

    from reverie._private.config.check import check_deployment

    dep = parse_deployment(
        "Worker:\n  dynamo:\n    namespace: prod\n  model_path: /m\n", "deploy.yaml"
    )
    with pytest.raises(DeploymentError) as info:
        check_deployment(dep, {"Worker": get_meta(Worker)}, [])
    msg = str(info.value)
    assert (
        "Worker.dynamo (from deploy.yaml:2): unknown config key 'dynamo'; Worker declares batch "
        "(fix: this is a Dynamo SDK section; in Reverie write 'runtime: {namespace: ..., name: "
        "...}' in the service's section (or declare the service with reverie.compat.dynamo))"
    ) in msg
    assert (
        "Worker.model_path (from deploy.yaml:4): unknown config key 'model_path'; Worker declares "
        "batch (fix: Worker.model_path is a plain class attribute (Dynamo SDK style), not a "
        "config key; declare it as 'model_path: str = config('/models/default')' (or declare the "
        "service with reverie.compat.dynamo))"
    ) in msg


async def test_the_same_hint_when_the_host_resolves_config() -> None:
    from reverie import endpoint
    from reverie import service as core_service

    @core_service()
    class Plain:
        @endpoint()
        async def run(self) -> None: ...

    dep = parse_deployment("Plain:\n  dynamo:\n    namespace: prod\n", "deploy.yaml")
    with pytest.raises(
        ConfigError,
        match=r"this is a Dynamo SDK section; in Reverie write "
        r"'runtime: \{namespace: ..., name: ...\}'",
    ):
        async with run_graph(Plain, deployment=dep):
            pass


def test_seed_graph_served_by_reverie_serve(serve: Any) -> None:
    # agg.yaml asks for 2 VllmWorker workers x (1 GPU, 10 CPUs); the machine is stated.
    run = serve("tests.compat.seed_graph:Processor", "-f", AGG, "--gpus", "2", "--cpus", "20")
    rows = run.rows()
    assert set(rows) == {"Processor", "VllmWorker"}
    assert len(rows["VllmWorker"]["pids"]) == 2
    with httpx.Client(timeout=30.0) as client:
        r = client.post(
            f"{run.url}/Processor/process", json=WORDS, headers={"accept": "application/x-ndjson"}
        )
        assert r.status_code == 200, r.text
        assert [json.loads(line) for line in r.text.splitlines() if line.strip()] == EXPECTED


def test_image_reaches_the_k8s_manifests() -> None:
    from reverie._private.config.k8s import K8sOptions, manifests

    dep = parse_deployment("slow:\n  label: z\n", "d.yaml")
    docs = manifests(
        "tests.compat.test_dynamo:Slow", Slow, dep, "slow:\n  label: z\n", "d.yaml", K8sOptions()
    )
    (deploy,) = [d for d, _ in docs if d["kind"] == "Deployment"]
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nvcr.io/nvidia/dynamo:latest"
    docs = manifests(
        "tests.compat.test_dynamo:Slow", Slow, dep, "", "d.yaml", K8sOptions(image="mine:1")
    )
    (deploy,) = [d for d, _ in docs if d["kind"] == "Deployment"]
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"] == "mine:1"
