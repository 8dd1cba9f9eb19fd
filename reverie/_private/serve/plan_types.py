"""The serve plan as data: which processes run, the services in each, their env, CPUs, GPUs
and ports. ``plan.build_plan`` makes one; ``--dry-run`` prints it; the supervisor runs it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..config.directhost import DEFAULT, DirectHost
from ..config.service_args import ServiceArgs
from ..config.values import mask_env
from .resources import Allocation, Inventory

if TYPE_CHECKING:
    from ..runtime.natsserver import NatsCluster

__all__ = ["EMBEDDED", "MAIN", "PROCESSES", "ProcessPlan", "ServePlan", "ServicePlan"]

EMBEDDED = "embedded"
PROCESSES = "processes"
MAIN = "main"


@dataclass
class ServicePlan:
    """One service of the graph and its deployment values."""

    name: str
    ref: str
    args: ServiceArgs
    depends_on: list[str]
    required: bool
    separate: bool = False
    #: the nodes it runs on (``nodes:`` placement); empty when the file places nothing
    nodes: list[str] = field(default_factory=list)
    node_source: str = ""
    #: False when it runs on another node (``--node``): reached over NATS, not started here
    local: bool = True
    #: the container image the service declares (``reverie.compat.dynamo``'s ``image=``)
    image: str | None = None
    #: where it is served publicly over HTTP (``ServiceArgs: expose``/``path``), or None
    url_path: str | None = None

    @property
    def workers(self) -> int:
        return int(self.args.workers.value)


@dataclass
class ProcessPlan:
    """One OS process: the services it runs, its env (with sources) and its resources."""

    name: str
    services: list[str]
    index: int = 0
    count: int = 1
    env: dict[str, str] = field(default_factory=dict)
    env_sources: dict[str, str] = field(default_factory=dict)
    #: ``env`` for output: credentials masked, ``${VAR}`` references as written.
    env_shown: dict[str, str] = field(default_factory=dict)
    alloc: Allocation = field(default_factory=Allocation)
    http: bool = False
    level: int = 0

    def shown_env(self) -> dict[str, str]:
        """The env as the plan shows it: never a credential in clear."""
        return {k: self.env_shown.get(k, mask_env(k, v)) for k, v in self.env.items()}

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "services": self.services,
            "worker": self.index + 1,
            "workers": self.count,
            "env": self.shown_env(),
            "env_sources": self.env_sources,
            "cpus": self.alloc.cpus,
            "cpu": self.alloc.cpu,
            "gpus": self.alloc.gpus,
            "gpu": self.alloc.gpu,
            "memory": self.alloc.memory,
            "http": self.http,
            "start_level": self.level,
        }


@dataclass
class ServePlan:
    """Everything ``reverie serve`` will do, before it does any of it."""

    target: str
    entry: str
    deployment: str | None
    mode: str
    services: list[ServicePlan]
    processes: list[ProcessPlan]
    inventory: Inventory
    http_host: str
    http_port: int
    nats: str | None
    reasons: list[str] = field(default_factory=list)
    #: ``--node``: this machine runs only that node's share of the graph
    node: str | None = None
    #: the nodes of the deployment file (name -> services), when it has a nodes: section
    nodes: dict[str, list[str]] = field(default_factory=dict)
    #: the embedded nats-server: client listen address, cluster membership, server name
    nats_listen: tuple[str, int] = ("127.0.0.1", 0)
    nats_cluster: NatsCluster | None = None
    nats_name: str | None = None
    #: ``--discover`` directories, registered in every process's host
    discover: list[str] = field(default_factory=list)
    #: copies of the runtime's KV buckets (``--nats-replicas``)
    nats_replicas: int = 1
    #: the direct plane's TCP address for this machine's processes, and the layer that set it
    direct_host: DirectHost = field(default_factory=lambda: DirectHost(DEFAULT, "default", ""))

    @property
    def http_url(self) -> str:
        return f"http://{self.http_host}:{self.http_port}"

    def service(self, name: str) -> ServicePlan:
        return next(s for s in self.services if s.name == name)

    @property
    def remote(self) -> list[ServicePlan]:
        """Services this node expects from the other nodes (over NATS)."""
        return [s for s in self.services if not s.local]

    def levels(self) -> list[list[ProcessPlan]]:
        """Processes grouped by start level: each level starts once the one before is ready."""
        out: dict[int, list[ProcessPlan]] = {}
        for p in self.processes:
            out.setdefault(p.level, []).append(p)
        return [out[k] for k in sorted(out)]

    def to_json(self) -> dict[str, Any]:
        inv = self.inventory
        return {
            "target": self.target,
            "entry": self.entry,
            "deployment": self.deployment,
            "mode": self.mode,
            "reasons": self.reasons,
            "http": self.http_url if any(p.http for p in self.processes) else None,
            "nats": self.nats,
            "nats_replicas": self.nats_replicas,
            "direct_host": None
            if self.nats is None
            else {"value": self.direct_host.value, "source": self.direct_host.source},
            "nats_member": None
            if self.nats != "embedded"
            else {
                "listen": f"{self.nats_listen[0]}:{self.nats_listen[1]}",
                "server_name": self.nats_name,
                "cluster": asdict(self.nats_cluster) if self.nats_cluster else None,
            },
            "node": self.node,
            "nodes": self.nodes,
            "inventory": {
                "cpus": len(inv.cpus),
                "cpu_source": inv.cpu_source,
                "gpus": len(inv.gpus),
                "gpu_source": inv.gpu_source,
                "memory": inv.memory,
            },
            "services": [
                {
                    "name": s.name,
                    "class": s.ref,
                    "workers": s.workers,
                    "workers_source": s.args.workers.source,
                    "depends_on": s.depends_on,
                    "required": s.required,
                    "separate": s.separate,
                    "namespace": s.args.namespace.value,
                    "component": s.args.name.value,
                    "nodes": s.nodes,
                    "node_source": s.node_source,
                    "local": s.local,
                    "image": s.image,
                    "remote_url": None if s.args.url is None else s.args.url.value,
                    "url": None if s.url_path is None else f"{self.http_url}/{s.url_path}",
                }
                for s in self.services
            ],
            "expects": [
                {
                    "service": s.name,
                    "nodes": s.nodes,
                    "namespace": s.args.namespace.value,
                    "component": s.args.name.value,
                }
                for s in self.remote
            ],
            "processes": [p.to_json() for p in self.processes],
        }
