"""The serve plan: which processes run, the services in each, their env, CPUs, GPUs and ports.

``build_plan`` resolves the graph from the entry class, checks the deployment file against it
(so a bad file fails before anything starts, naming file, line and key), reads each service's
``ServiceArgs`` and lays the services out on processes. ``--dry-run`` prints this plan; the
supervisor executes it. Nothing here starts anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from reverie.errors import ConfigError, GraphError

from ..config.deployment import Deployment, Sourced, known_sids
from ..config.problems import raise_problems
from ..config.resolve import ServiceArgs, expand_env_refs, mask_env, resolve_service_args
from ..declare.service import get_meta
from .resources import Allocation, Inventory, WorkerRequest, allocate, parse_cpu, parse_memory

if TYPE_CHECKING:
    from ..host.host import Host
    from ..runtime.natsserver import NatsCluster

__all__ = ["ProcessPlan", "ServePlan", "ServicePlan", "build_plan", "prepare_host"]

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
            "name": self.name, "services": self.services, "worker": self.index + 1,
            "workers": self.count, "env": self.shown_env(), "env_sources": self.env_sources,
            "cpus": self.alloc.cpus, "cpu": self.alloc.cpu, "gpus": self.alloc.gpus,
            "gpu": self.alloc.gpu, "memory": self.alloc.memory, "http": self.http,
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
            "target": self.target, "entry": self.entry, "deployment": self.deployment,
            "mode": self.mode, "reasons": self.reasons,
            "http": self.http_url if any(p.http for p in self.processes) else None,
            "nats": self.nats, "nats_replicas": self.nats_replicas,
            "nats_member": None if self.nats != "embedded" else {
                "listen": f"{self.nats_listen[0]}:{self.nats_listen[1]}",
                "server_name": self.nats_name,
                "cluster": asdict(self.nats_cluster) if self.nats_cluster else None},
            "node": self.node, "nodes": self.nodes,
            "inventory": {
                "cpus": len(inv.cpus), "cpu_source": inv.cpu_source, "gpus": len(inv.gpus),
                "gpu_source": inv.gpu_source, "memory": inv.memory,
            },
            "services": [
                {"name": s.name, "class": s.ref, "workers": s.workers,
                 "workers_source": s.args.workers.source, "depends_on": s.depends_on,
                 "required": s.required, "separate": s.separate,
                 "namespace": s.args.namespace.value, "component": s.args.name.value,
                 "nodes": s.nodes, "node_source": s.node_source, "local": s.local,
                 "image": s.image,
                 "remote_url": None if s.args.url is None else s.args.url.value,
                 "url": None if s.url_path is None else f"{self.http_url}/{s.url_path}"}
                for s in self.services
            ],
            "expects": [
                {"service": s.name, "nodes": s.nodes, "namespace": s.args.namespace.value,
                 "component": s.args.name.value} for s in self.remote
            ],
            "processes": [p.to_json() for p in self.processes],
        }


# -- building -------------------------------------------------------------------------------------


def _required(graph: Any) -> set[type]:
    """Services reachable from the entry over non-optional edges."""
    out: set[type] = set()
    todo = [graph.entry]
    while todo:
        cls = todo.pop()
        if cls in out:
            continue
        out.add(cls)
        for e in graph.edges.get(cls, []):
            if e.target is not None and not e.dependency.optional:
                todo.append(e.target)
    return out


def _num(sv: Sourced | None, parse: Any) -> tuple[Any, str]:
    if sv is None:
        return None, ""
    return parse(sv.value), sv.source


def _levels(procs: list[ProcessPlan], deps: dict[str, set[str]]) -> None:
    """Start level of each process; processes that depend on each other share a level."""
    names = [p.name for p in procs]
    reach: dict[str, set[str]] = {n: set(deps.get(n, ())) for n in names}
    for _ in names:  # transitive closure; graphs are small
        for n in names:
            for m in list(reach[n]):
                reach[n] |= reach.get(m, set())
    memo: dict[str, int] = {}

    def scc(n: str) -> set[str]:
        return {n} | {m for m in reach[n] if n in reach.get(m, set())}

    def level(n: str) -> int:
        if n in memo:
            return memo[n]
        group = scc(n)
        for m in group:
            memo[m] = 0  # provisional, breaks recursion inside the group
        lv = 0
        for m in group:
            for d in deps.get(m, ()):
                if d not in group:
                    lv = max(lv, level(d) + 1)
        for m in group:
            memo[m] = lv
        return lv

    for p in procs:
        p.level = level(p.name)


def _plan_exposure(
    services: list[ServicePlan], procs: list[ProcessPlan], entry_name: str
) -> None:
    """Which services are public and at which URL path; the same rule as ``expose_graph``. An
    exposed service must run in the process that serves HTTP (the entry's)."""
    from ..config.resolve import is_exposed

    http_services = {n for p in procs if p.http for n in p.services}
    for s in services:
        if not is_exposed(s.args, s.name == entry_name):
            continue
        s.url_path = str(s.args.path.value) if s.args.path is not None else s.name
        if s.local and procs and s.name not in http_services:
            src = s.args.expose.source if s.args.expose is not None else "default"
            raise ConfigError(
                f"{s.name} is exposed over HTTP ({src}) but runs in a process without HTTP; "
                f"only the entry's process ({entry_name}) serves HTTP",
                service=s.name, key="ServiceArgs.expose",
                fix=f"remove expose: true, or run {s.name} in the entry's process (no "
                f"process: separate, workers: 1)",
            )


def prepare_host(
    entry: type, deployment: Deployment | None, discover: list[str] | None = None, **kw: Any
) -> Host:
    """A host with the deployment applied, HTTP attached, and the services of ``--discover``
    directories registered (the entry's module registers itself in ``Host.graph``)."""
    from ..host.host import Host
    from ..http.attach import attach_http

    kw.setdefault("name", get_meta(entry).name)  # the name its pages and OpenAPI show
    host = Host(deployment=deployment, **kw)
    attach_http(host)  # the same HTTP surface and .plug in every mode
    host.register_module_of(entry)
    for directory in discover or []:
        try:
            report = host.discover(directory)
        except FileNotFoundError:
            raise ConfigError(f"--discover {directory}: no such directory", key="--discover",
                              fix="give a directory of service modules") from None
        if not report.ok:
            _where, tb = report.errors[0]
            raise ConfigError(f"--discover {directory}: {report.summary()}\n{tb}",
                              key="--discover",
                              fix="fix or remove the modules that fail to import")
    return host


def _check_by_markup(entry: type, deployment: Deployment) -> None:
    """Check the file against the services reachable by markup alone (graph resolution failed)."""
    from ..config.deployment import check_deployment, known_sids
    from ..host.graphview import GraphNode, walk
    from ..importer import import_ref

    metas: dict[str, Any] = {}

    def visit(node: GraphNode) -> None:
        if node.ref is not None and node.ref not in metas:
            try:
                metas[node.ref] = get_meta(import_ref(node.ref))
            except Exception:
                return
            for child in node.children:
                visit(child)

    visit(walk(entry))
    check_deployment(deployment, {m.name: m for m in metas.values()}, known_sids(metas.values()))


def _resolve_config(metas: Any, deployment: Deployment | None) -> None:
    """Resolve every service's config as ``serve`` will (file, environment, defaults), so the
    plan (and ``--dry-run``) fails on the same errors; ``ServiceArgs: env`` counts as the
    environment of the service's process."""
    from ..config.resolve import resolve_config

    problems: list[ConfigError] = []
    for meta in metas:
        env = dict(os.environ)
        env.update({k: str(v.value) for k, v in resolve_service_args(meta, deployment).env.items()})
        try:
            resolve_config(meta, deployment=deployment, env=env)
        except ConfigError as exc:
            problems.append(exc)
    raise_problems(problems, "services have config problems")


def build_plan(
    target: str,
    entry: type,
    deployment: Deployment | None,
    inventory: Inventory,
    *,
    processes: bool = False,
    http_host: str = "127.0.0.1",
    http_port: int = 8000,
    nats: str | None = None,
    node: str | None = None,
    environ: Mapping[str, str] | None = None,
    nats_cluster: NatsCluster | None = None,
    discover: list[str] | None = None,
) -> ServePlan:
    """Resolve, check and lay out the graph; raises ``ReverieError`` subclasses on any problem.

    ``node`` (``--node``): lay out only the services placed on that node of the file's
    ``nodes:`` section; the rest are expected from the other nodes over NATS. ``environ``
    (default ``os.environ``) fills ``${VAR}`` references in the deployment's env.
    """
    environ = os.environ if environ is None else environ
    from ..config.deployment import check_deployment
    from ..config.placement import check_placement

    host = prepare_host(entry, deployment, discover, env={})
    try:
        graph = host.graph(entry)
    except GraphError:
        if deployment is not None:
            _check_by_markup(entry, deployment)  # a file:line error beats a graph error
        raise
    metas = {get_meta(c).name: get_meta(c) for c in graph.order}
    if deployment is not None:
        check_deployment(deployment, metas, known_sids(metas.values()))
    _resolve_config(metas.values(), deployment)
    required = _required(graph)
    services: list[ServicePlan] = []
    for cls in graph.order:
        meta = get_meta(cls)
        args = resolve_service_args(meta, deployment)
        deps = [get_meta(e.target).name for e in graph.edges.get(cls, []) if e.target is not None]
        services.append(ServicePlan(meta.name, meta.qualname, args, deps, cls in required,
                                    image=meta.image))
    entry_name = get_meta(graph.entry).name

    reasons: list[str] = []
    placement = None
    if deployment is not None:
        placement = check_placement(deployment, [s.name for s in services], node)
    elif node is not None:
        raise ConfigError(f"--node {node}: there is no deployment file to place services",
                          key="node", source="--node", fix="give -f deploy.yaml with a nodes: "
                          "section, or run without --node")
    if placement is not None:
        for s in services:
            s.nodes, s.node_source = placement.where[s.name], placement.source[s.name]
            s.local = node is None or node in s.nodes
        if node is not None:
            inventory = node_inventory(inventory, placement.nodes[node])
            away = [s.name for s in services if not s.local]
            if away:
                reasons.append(f"--node {node}: {', '.join(away)} run(s) on other nodes, "
                               f"reached over NATS")
    all_services = services
    for s in services:
        if s.args.url is not None:
            reasons.append(f"{s.name} runs elsewhere, at {s.args.url.value} "
                           f"({s.args.url.source}); reached over HTTP")
    services = [s for s in services if s.local and s.args.url is None]
    for s in services:
        explicit_shared = s.args.process is not None and s.args.process.value == "shared"
        if s.workers > 1:
            s.separate = True
            reasons.append(f"{s.name} has workers={s.workers} ({s.args.workers.source})")
        elif s.args.process is not None and s.args.process.value == "separate":
            s.separate = True
            reasons.append(f"{s.name} has process: separate ({s.args.process.source})")
        elif processes and not explicit_shared:
            s.separate = True
    if processes:
        reasons.append("--processes")
    mode = PROCESSES if any(s.separate for s in services) else EMBEDDED
    if any(not s.local for s in all_services):
        mode = PROCESSES  # the rest of the graph is on other nodes: NATS and the supervisor
    if nats_cluster is not None:
        mode = PROCESSES  # the supervisor runs (and watches) the cluster member
        reasons.append(f"--nats-cluster {nats_cluster.name}: an embedded cluster member")

    procs: list[ProcessPlan] = []
    home: dict[str, list[str]] = {}
    shared = [s.name for s in services if not s.separate]
    if shared:
        procs.append(ProcessPlan(MAIN, shared))
        for n in shared:
            home[n] = [MAIN]
    for s in services:
        if not s.separate:
            continue
        for i in range(s.workers):
            pname = s.name if s.workers == 1 else f"{s.name}-{i + 1}"
            procs.append(ProcessPlan(pname, [s.name], i, s.workers))
            home.setdefault(s.name, []).append(pname)
    for p in procs:
        p.http = entry_name in p.services
    _plan_exposure(services, procs, entry_name)

    # env: the services' own values; two services sharing a process must agree.
    for p in procs:
        for sname in p.services:
            for key, sv in services[[x.name for x in services].index(sname)].args.env.items():
                written = str(sv.value)
                value = expand_env_refs(written, environ, service=sname,
                                        key=f"ServiceArgs.env.{key}", source=sv.source)
                if key in p.env and p.env[key] != value:
                    raise ConfigError(
                        f"env {key} is {p.env[key]!r} ({p.env_sources[key]}) and {value!r} "
                        f"({sv.source}) for services sharing process {p.name!r}",
                        service=sname, key=f"ServiceArgs.env.{key}", source=sv.source,
                        fix="give them one value, or run one of them with process: separate",
                    )
                p.env[key], p.env_sources[key] = value, sv.source
                p.env_shown[key] = mask_env(key, written)

    # resources: per worker; services sharing a process add up.
    requests: list[WorkerRequest] = []
    for p in procs:
        req = WorkerRequest(p.name, p.services[0])
        for sname in p.services:
            res = next(s for s in services if s.name == sname).args.resources
            for key, parse in (("cpu", parse_cpu), ("gpu", float), ("memory", parse_memory)):
                value, source = _num(res.get(key), parse)
                if value is None:
                    continue
                if getattr(req, key) is None:
                    req.service = sname
                setattr(req, key, (getattr(req, key) or 0) + value)
                setattr(req, f"{key}_source", source)
        requests.append(req)
    allocs = allocate(requests, inventory)
    for p in procs:
        p.alloc = allocs[p.name]
        if "CUDA_VISIBLE_DEVICES" not in p.env:
            # Explicit, never implicit: a worker sees exactly the GPUs it was given (maybe none).
            p.env["CUDA_VISIBLE_DEVICES"] = p.alloc.cuda_visible_devices()
            p.env_sources["CUDA_VISIBLE_DEVICES"] = "allocation"

    proc_deps: dict[str, set[str]] = {}
    for p in procs:
        for sname in p.services:
            for d in next(s for s in services if s.name == sname).depends_on:
                proc_deps.setdefault(p.name, set()).update(
                    h for h in home.get(d, []) if h != p.name)
    _levels(procs, proc_deps)
    procs.sort(key=lambda p: (p.level, p.name))

    nats_url = nats if mode == EMBEDDED else (nats or "embedded")
    return ServePlan(
        target=target, entry=entry_name,
        deployment=os.path.abspath(deployment.path) if deployment is not None else None,
        mode=mode, services=all_services, processes=procs, inventory=inventory,
        http_host=http_host, http_port=http_port, nats=nats_url, reasons=reasons, node=node,
        nodes={n: placement.services_on(n) for n in placement.nodes} if placement else {},
        nats_cluster=nats_cluster, discover=[os.path.abspath(d) for d in discover or []],
    )


def node_inventory(detected: Inventory, node: Any) -> Inventory:
    """The inventory of ``--node``: what its ``nodes:`` entry declares wins over detection,
    ``--cpus``/``--gpus`` win over both (the plan shows the source of each figure)."""
    from dataclasses import replace

    from .resources import parse_memory

    inv = replace(detected)
    if node.cpus is not None and detected.cpu_source != "--cpus":
        have = detected.cpus
        n = int(node.cpus.value)
        inv.cpus = have[:n] if len(have) >= n else list(range(n))
        inv.cpu_source = f"{node.cpus.source} (nodes.{node.name}.cpus)"
    if node.gpus is not None and detected.gpu_source != "--gpus":
        value = node.gpus.value
        inv.gpus = list(value) if isinstance(value, list) else list(range(int(value)))
        inv.gpu_source = f"{node.gpus.source} (nodes.{node.name}.gpus)"
    if node.memory is not None:
        inv.memory = parse_memory(node.memory.value)
        inv.memory_source = f"{node.memory.source} (nodes.{node.name}.memory)"
    return inv
