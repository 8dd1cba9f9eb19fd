"""Kubernetes manifests from the deployment file (``reverie k8s``).

One Deployment per node group: each node of the file's ``nodes:`` section becomes a Deployment
whose pod runs ``reverie serve --node NAME`` (so what runs where stays in the deployment file);
a file without ``nodes:`` gives one Deployment for the whole graph. A ConfigMap carries the
deployment file itself, mounted at ``/etc/reverie/deploy.yaml``. Resources are the node's plan
summed over its workers (``nvidia.com/gpu`` for GPUs, whole devices), env values keep their
source as a YAML comment, the entry's pod gets HTTP probes on ``/health/live`` and
``/health/ready`` and a Service, every pod reads the NATS URL from ``$REVERIE_NATS`` and takes
direct calls on its own IP (``$REVERIE_DIRECT_HOST`` from ``status.podIP``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..serve.plan import ServePlan, build_plan
from ..serve.resources import Inventory
from .directhost import ENV as DIRECT_HOST

__all__ = ["K8sOptions", "manifests", "render"]

MOUNT = "/etc/reverie"
HTTP_PORT = 8000
_DNS = re.compile(r"[^a-z0-9-]+")


@dataclass
class K8sOptions:
    image: str = "reverie-app:latest"
    namespace: str | None = None
    nats: str = "nats://nats:4222"
    nats_source: str = "default: the Service of the official nats Helm chart"
    replicas: int = 1  # --nats-replicas for the runtime's buckets (3 with a 3-member cluster)
    name: str | None = None


@dataclass
class _Env:
    name: str
    value: str
    source: str


@dataclass
class _Group:
    node: str | None
    plan: ServePlan
    env: list[_Env] = field(default_factory=list)
    #: ``${NAME}`` references of this group's services, filled from a Secret in the pod
    secrets: set[str] = field(default_factory=set)


def dns_name(text: str) -> str:
    """A Kubernetes object name (RFC 1123 label) from ``text``."""
    name = _DNS.sub("-", text.lower()).strip("-")
    return (name or "reverie")[:63].rstrip("-")


def _inventory() -> Inventory:
    # The pod's limits are what the plan asks for, so plan against an unbounded machine; a
    # node's own cpus/gpus/memory in the file still apply (and are checked).
    return Inventory(
        list(range(1024)),
        list(range(64)),
        None,
        "kubernetes (the pod's limits)",
        "kubernetes (the pod's limits)",
        "kubernetes",
    )


class _Refs(Mapping[str, str]):
    """The environment ``${NAME}`` references are filled from while planning: every name is
    "set" (to a marker), and the names asked for are remembered. In the pod, ``reverie serve``
    fills them from its own environment, which a Secret provides."""

    MARK = "\x00ref\x00"

    def __init__(self) -> None:
        self.names: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.names.add(name)
        return self.MARK

    def __contains__(self, name: object) -> bool:
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _groups(target: str, entry: type, dep: Any) -> list[_Group]:
    nodes = list(dep.nodes) if dep is not None and dep.nodes else [None]
    out = []
    for node in nodes:
        refs = _Refs()
        plan = build_plan(
            target,
            entry,
            dep,
            _inventory(),
            node=node,
            nats="$(REVERIE_NATS)",
            http_host="0.0.0.0",
            http_port=HTTP_PORT,
            environ=refs,
        )
        group = _Group(node, plan)
        seen: dict[str, str] = {}
        for p in plan.processes:
            for key, value in sorted(p.env.items()):
                if key == "CUDA_VISIBLE_DEVICES" or key in seen or _Refs.MARK in value:
                    continue  # set per worker by the supervisor / filled from a Secret
                seen[key] = value
                group.env.append(_Env(key, value, p.env_sources.get(key, "")))
        group.secrets = refs.names
        out.append(group)
    return out


def _image(group: _Group, opts: K8sOptions) -> str:
    """``--image`` when given; else the one image the group's services declare
    (``reverie.compat.dynamo``'s ``image=``), else the default."""
    if opts.image != K8sOptions.image:
        return opts.image
    declared = sorted({s.image for s in group.plan.services if s.local and s.image})
    if len(declared) > 1:
        from reverie.errors import ConfigError

        where = f"node {group.node!r}" if group.node else "the graph"
        raise ConfigError(
            f"the services of {where} declare different images ({', '.join(declared)}) but "
            f"share one pod",
            fix="give --image, or place them on different nodes",
        )
    return declared[0] if declared else opts.image


def _quantity(n: int) -> str:
    for unit, size in (("Gi", 1024**3), ("Mi", 1024**2), ("Ki", 1024)):
        if n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def _resources(plan: ServePlan) -> dict[str, Any]:
    cpu = sum(p.alloc.cpu or 0 for p in plan.processes)
    gpu = sum(p.alloc.gpu or 0 for p in plan.processes)
    mem = sum(p.alloc.memory or 0 for p in plan.processes)
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    if cpu:
        requests["cpu"] = limits["cpu"] = f"{round(cpu * 1000)}m"
    if mem:
        requests["memory"] = limits["memory"] = _quantity(mem)
    if gpu:
        # Devices are whole in Kubernetes: shares of one GPU on this node round up.
        limits["nvidia.com/gpu"] = str(math.ceil(gpu))
    out: dict[str, Any] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def manifests(
    target: str, entry: type, dep: Any, deployment_text: str, deployment_name: str, opts: K8sOptions
) -> list[tuple[dict[str, Any], dict[str, str]]]:
    """Every manifest, each with the comments for its env values (name -> source): the
    ConfigMap with the deployment file, then per node group a Deployment (and a Service when
    it serves HTTP)."""
    from ..declare.service import get_meta

    app = dns_name(opts.name or get_meta(entry).name)
    meta_ns = {"namespace": opts.namespace} if opts.namespace else {}
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/managed-by": "reverie"}
    config_name = f"{app}-deployment"
    out: list[tuple[dict[str, Any], dict[str, str]]] = [
        (
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": config_name, **meta_ns, "labels": labels},
                "data": {"deploy.yaml": deployment_text},
            },
            {},
        )
    ]
    for g in _groups(target, entry, dep):
        part = dns_name(g.node) if g.node else "all"
        name = f"{app}-{part}"
        sel = {**labels, "reverie.dev/node": part}
        container, comments = _container(target, g, app, opts)
        out.append((_deployment(name, meta_ns, sel, container, config_name), comments))
        if "ports" in container:
            out.append((_service(name, meta_ns, sel), {}))
    return out


def _deployment(
    name: str,
    meta_ns: dict[str, str],
    sel: dict[str, str],
    container: dict[str, Any],
    config_name: str,
) -> dict[str, Any]:
    """One node group's Deployment: a pod of ``container`` with the deployment file mounted."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, **meta_ns, "labels": sel},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": sel},
            "template": {
                "metadata": {"labels": sel},
                "spec": {
                    # drain (10 s) + grace (5 s) of `reverie serve`, and a margin
                    "terminationGracePeriodSeconds": 20,
                    "containers": [container],
                    "volumes": [{"name": "deployment", "configMap": {"name": config_name}}],
                },
            },
        },
    }


def _service(name: str, meta_ns: dict[str, str], sel: dict[str, str]) -> dict[str, Any]:
    """The Service in front of a node group that serves HTTP."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, **meta_ns, "labels": sel},
        "spec": {
            "selector": sel,
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}],
        },
    }


def _env(g: Any, app: str, opts: K8sOptions) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """A node group's container env (NATS URL, direct-call address, the deployment's values,
    secrets) and the comment naming each one's source."""
    env: list[dict[str, Any]] = [{"name": "REVERIE_NATS", "value": opts.nats}]
    comments = {"REVERIE_NATS": opts.nats_source}
    if all(e.name != DIRECT_HOST for e in g.env):
        # pods are machines to the direct plane: each takes direct calls on its own IP
        env.append({"name": DIRECT_HOST, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}})
        comments[DIRECT_HOST] = (
            "the pod's IP: other pods call its processes directly there "
            "(a node's direct_host in the deployment file wins)"
        )
    for e in g.env:
        env.append({"name": e.name, "value": e.value})
        comments[e.name] = e.source
    for ref in sorted(g.secrets):
        env.append(
            {
                "name": ref,
                "valueFrom": {
                    "secretKeyRef": {"name": f"{app}-secrets", "key": ref, "optional": False}
                },
            }
        )
        comments[ref] = (
            f"the deployment file refers to ${{{ref}}}: create Secret {app}-secrets with key {ref}"
        )
    return env, comments


def _container(
    target: str, g: Any, app: str, opts: K8sOptions
) -> tuple[dict[str, Any], dict[str, str]]:
    """One node group's container: ``reverie serve`` for its share, its env (secrets from a
    Secret), resources, and the HTTP port and probes when it serves HTTP; with env comments."""
    args = [
        "serve",
        target,
        "-f",
        f"{MOUNT}/deploy.yaml",
        "--nats",
        "$(REVERIE_NATS)",
        "--nats-replicas",
        str(opts.replicas),
        "--host",
        "0.0.0.0",
        "--port",
        str(HTTP_PORT),
        "--log-format",
        "json",
    ]
    if g.node:
        args[2:2] = ["--node", g.node]
    env, comments = _env(g, app, opts)
    container: dict[str, Any] = {
        "name": "reverie",
        "image": _image(g, opts),
        "command": ["reverie"],
        "args": args,
        "env": env,
        "volumeMounts": [{"name": "deployment", "mountPath": MOUNT, "readOnly": True}],
    }
    resources = _resources(g.plan)
    if resources:
        container["resources"] = resources
    if any(p.http for p in g.plan.processes):
        container["ports"] = [{"name": "http", "containerPort": HTTP_PORT}]
        container["livenessProbe"] = {
            "httpGet": {"path": "/health/live", "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
        }
        container["readinessProbe"] = {
            "httpGet": {"path": "/health/ready", "port": "http"},
            "periodSeconds": 5,
            "failureThreshold": 2,
        }
    return container, comments


class _Dumper(yaml.SafeDumper):
    """No anchors/aliases (each object spelled out, as kubectl users expect); multi-line
    strings (the deployment file in the ConfigMap) as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def render(docs: list[tuple[dict[str, Any], dict[str, str]]], header: str) -> str:
    """YAML documents; each env entry ends with ``# <source>``."""
    parts = [header.rstrip("\n")]
    for data, comments in docs:
        text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=120)
        lines = []
        for line in text.splitlines():
            m = re.match(r"^\s*- name: (\S+)$", line)
            if m and m.group(1) in comments and comments[m.group(1)]:
                line += f"  # {comments[m.group(1)]}"
            lines.append(line)
        parts.append("---\n" + "\n".join(lines))
    return "\n".join(parts) + "\n"


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
