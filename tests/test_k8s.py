"""``reverie k8s``: manifests from the deployment file, validated offline against the
Kubernetes schemas (kubernetes-validate, strict: unknown fields fail)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from reverie._private.cli.k8s_cmd import validate

ROOT = Path(__file__).resolve().parents[1]
GRAPH = "tests.serve.svc_graph:Api"

PLACED = """\
nodes:
  web: {default: true}
  gpu-a: {gpus: 2, services: [Store]}
Store:
  ServiceArgs:
    workers: 2
    resources: {gpu: 1, cpu: 2, memory: 4Gi}
    env: {MODEL: tiny, HF_TOKEN: "${HF_TOKEN}"}
Logic:
  ServiceArgs: {resources: {gpu: 0.5}}
"""


def _k8s(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reverie.cli", "k8s", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_one_deployment_per_node_valid_against_the_schemas(tmp_path: Path) -> None:
    dep = tmp_path / "deploy.yaml"
    dep.write_text(PLACED)
    res = _k8s(
        GRAPH,
        "-f",
        str(dep),
        "--check",
        "--nats",
        "nats://a:4222,nats://b:4222",
        "--image",
        "registry.example/app:1",
    )
    assert res.returncode == 0, res.stderr
    docs = _docs(res.stdout)
    version = kubernetes_validate.latest_version()
    for d in docs:  # validated here too, not only by --check
        kubernetes_validate.validate(d, version, strict=True)
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [
        ("ConfigMap", "api-deployment"),
        ("Deployment", "api-web"),
        ("Service", "api-web"),
        ("Deployment", "api-gpu-a"),
    ]
    assert docs[0]["data"]["deploy.yaml"] == PLACED
    web, gpu = docs[1], docs[3]
    c_web = web["spec"]["template"]["spec"]["containers"][0]
    c_gpu = gpu["spec"]["template"]["spec"]["containers"][0]
    assert c_gpu["image"] == "registry.example/app:1"
    assert c_gpu["args"][:4] == ["serve", GRAPH, "--node", "gpu-a"]
    # resources: 2 Store workers x (gpu 1, cpu 2, 4Gi) on gpu-a; Logic's half GPU on web
    assert c_gpu["resources"]["limits"] == {"cpu": "4000m", "memory": "8Gi", "nvidia.com/gpu": "2"}
    assert c_web["resources"]["limits"] == {"nvidia.com/gpu": "1"}
    # the NATS URL from the command line; probes only where HTTP is served (the entry)
    env = {e["name"]: e for e in c_gpu["env"]}
    assert env["REVERIE_NATS"]["value"] == "nats://a:4222,nats://b:4222"
    # each pod takes direct calls on its own IP
    for c in (c_web, c_gpu):
        direct = next(e for e in c["env"] if e["name"] == "REVERIE_DIRECT_HOST")
        assert direct["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert env["MODEL"]["value"] == "tiny"
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "api-secrets",
        "key": "HF_TOKEN",
        "optional": False,
    }
    assert c_web["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert c_web["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert "livenessProbe" not in c_gpu
    assert "HF_TOKEN" not in {e["name"] for e in c_web["env"]}  # only where a service uses it
    # env sources as comments
    assert f"- name: MODEL  # {dep}:8" in res.stdout
    assert "- name: REVERIE_NATS  # --nats" in res.stdout
    assert "- name: REVERIE_DIRECT_HOST  # the pod's IP: other pods call" in res.stdout
    assert "create Secret api-secrets with key HF_TOKEN" in res.stdout


def test_without_nodes_one_deployment_for_the_graph(tmp_path: Path) -> None:
    dep = tmp_path / "deploy.yaml"
    dep.write_text("Store:\n  ServiceArgs: {workers: 2}\n")
    out = tmp_path / "k8s.yaml"
    res = _k8s(GRAPH, "-f", str(dep), "--check", "-o", str(out), "--namespace", "prod")
    assert res.returncode == 0, res.stderr
    docs = _docs(out.read_text())
    assert [d["kind"] for d in docs] == ["ConfigMap", "Deployment", "Service"]
    assert all(d["metadata"]["namespace"] == "prod" for d in docs)
    args = docs[1]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--node" not in args and args[args.index("--nats-replicas") + 1] == "3"


def test_validation_catches_a_bad_manifest() -> None:
    bad: dict[str, object] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "two", "selector": {}, "template": {}, "bogus": 1},
    }
    problems = validate([bad], None)
    assert problems and problems[0].startswith("Deployment x: ")


def test_bad_deployment_fails_naming_file_and_line(tmp_path: Path) -> None:
    dep = tmp_path / "deploy.yaml"
    dep.write_text("nodes:\n  a: {}\n  b: {}\n")
    res = _k8s(GRAPH, "-f", str(dep))
    assert res.returncode == 2
    assert f"{dep}:3" in res.stderr and "node 'b' runs no service" in res.stderr


def test_kube_version_option(tmp_path: Path) -> None:
    dep = tmp_path / "deploy.yaml"
    dep.write_text(PLACED)
    res = _k8s(
        GRAPH, "-f", str(dep), "--check", "--kube-version", kubernetes_validate.latest_version()
    )
    assert res.returncode == 0, res.stderr
    res = _k8s(GRAPH, "-f", str(dep), "--check", "--kube-version", "0.1.0")
    assert res.returncode == 2 and "the manifests do not validate" in res.stderr
