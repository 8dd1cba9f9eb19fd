"""Building the serve plan (``plan_types``): which processes run, the services in each, their
env, CPUs, GPUs and ports.

``build_plan`` resolves the graph from the entry class, checks the deployment file against it
(so a bad file fails before anything starts, naming file, line and key), reads each service's
``ServiceArgs`` and lays the services out on processes (``processes``). ``--dry-run`` prints
this plan; the supervisor executes it. Nothing here starts anything.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from reverie.errors import ConfigError, GraphError

from ..config.check import known_sids
from ..config.deployment import Deployment
from ..config.problems import raise_problems
from ..config.service_args import resolve_service_args
from ..declare.service import get_meta
from .plan_types import EMBEDDED, PROCESSES, ProcessPlan, ServePlan, ServicePlan
from .processes import lay_out, levels, plan_env, plan_exposure, plan_resources, process_deps
from .resources import Inventory

if TYPE_CHECKING:
    from ..host.host import Host
    from ..runtime.natsserver import NatsCluster

__all__ = [
    "EMBEDDED",
    "PROCESSES",
    "ProcessPlan",
    "ServePlan",
    "ServicePlan",
    "build_plan",
    "prepare_host",
]


# -- building -------------------------------------------------------------------------------------


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
            raise ConfigError(
                f"--discover {directory}: no such directory",
                key="--discover",
                fix="give a directory of service modules",
            ) from None
        if not report.ok:
            _where, tb = report.errors[0]
            raise ConfigError(
                f"--discover {directory}: {report.summary()}\n{tb}",
                key="--discover",
                fix="fix or remove the modules that fail to import",
            )
    return host


def _check_by_markup(entry: type, deployment: Deployment) -> None:
    """Check the file against the services reachable by markup alone (graph resolution failed)."""
    from ..config.check import check_deployment
    from ..host.graph import resolve_graph

    metas = {m.name: m for m in resolve_graph(entry, lenient=True).metas()}
    check_deployment(deployment, metas, known_sids(metas.values()))


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
    graph = _checked_graph(entry, deployment, discover)
    all_services = _service_plans(graph, deployment)
    entry_name = get_meta(graph.entry).name
    reasons: list[str] = []
    placement, inventory = _place(all_services, deployment, node, inventory, reasons)
    services = _here(all_services, reasons)
    mode = _mode(services, all_services, processes, nats_cluster, reasons)
    procs, home = lay_out(services, entry_name)
    plan_exposure(services, procs, entry_name)
    plan_env(procs, services, environ)
    plan_resources(procs, services, inventory)
    levels(procs, process_deps(procs, services, home))
    procs.sort(key=lambda p: (p.level, p.name))
    return ServePlan(
        target=target,
        entry=entry_name,
        deployment=os.path.abspath(deployment.path) if deployment is not None else None,
        mode=mode,
        services=all_services,
        processes=procs,
        inventory=inventory,
        http_host=http_host,
        http_port=http_port,
        nats=nats if mode == EMBEDDED else (nats or "embedded"),
        reasons=reasons,
        node=node,
        nodes={n: placement.services_on(n) for n in placement.nodes} if placement else {},
        nats_cluster=nats_cluster,
        discover=[os.path.abspath(d) for d in discover or []],
    )


def _checked_graph(entry: type, deployment: Deployment | None, discover: list[str] | None) -> Any:
    """The graph from ``entry``, with the deployment file checked against it and every
    service's config resolved as ``serve`` will."""
    from ..config.check import check_deployment

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
    return graph


def _service_plans(graph: Any, deployment: Deployment | None) -> list[ServicePlan]:
    """One ``ServicePlan`` per service of the graph, in start order, with its ServiceArgs."""
    required = graph.required()
    services: list[ServicePlan] = []
    for cls in graph.order:
        meta = get_meta(cls)
        args = resolve_service_args(meta, deployment)
        deps = [get_meta(e.target).name for e in graph.edges.get(cls, []) if e.target is not None]
        services.append(
            ServicePlan(meta.name, meta.qualname, args, deps, cls in required, image=meta.image)
        )
    return services


def _place(
    services: list[ServicePlan],
    deployment: Deployment | None,
    node: str | None,
    inventory: Inventory,
    reasons: list[str],
) -> tuple[Any, Inventory]:
    """The file's ``nodes:`` placement (or None) and the inventory of this machine: with
    ``--node``, what that node's entry declares. Marks the services that run elsewhere."""
    from ..config.placement import check_placement

    if deployment is None:
        if node is not None:
            raise ConfigError(
                f"--node {node}: there is no deployment file to place services",
                key="node",
                source="--node",
                fix="give -f deploy.yaml with a nodes: section, or run without --node",
            )
        return None, inventory
    placement = check_placement(deployment, [s.name for s in services], node)
    if placement is None:
        return None, inventory
    for s in services:
        s.nodes, s.node_source = placement.where[s.name], placement.source[s.name]
        s.local = node is None or node in s.nodes
    if node is not None:
        inventory = node_inventory(inventory, placement.nodes[node])
        away = [s.name for s in services if not s.local]
        if away:
            reasons.append(
                f"--node {node}: {', '.join(away)} run(s) on other nodes, reached over NATS"
            )
    return placement, inventory


def _here(services: list[ServicePlan], reasons: list[str]) -> list[ServicePlan]:
    """The services this machine runs: not on another node, not at a remote ``url``."""
    for s in services:
        if s.args.url is not None:
            reasons.append(
                f"{s.name} runs elsewhere, at {s.args.url.value} "
                f"({s.args.url.source}); reached over HTTP"
            )
    return [s for s in services if s.local and s.args.url is None]


def _mode(
    services: list[ServicePlan],
    all_services: list[ServicePlan],
    processes: bool,
    nats_cluster: NatsCluster | None,
    reasons: list[str],
) -> str:
    """Mark the services that get processes of their own; embedded unless one does, the
    graph spans nodes, or this machine runs a NATS cluster member."""
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
    return mode


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
