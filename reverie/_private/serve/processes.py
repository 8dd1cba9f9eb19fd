"""How a plan's services are laid out on processes: which processes run which services (and
which serves HTTP), each process's env, CPUs, GPUs and memory, and its start level."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reverie.errors import ConfigError

from ..config.deployment import Sourced
from ..config.values import expand_env_refs, mask_env
from .plan_types import MAIN, ProcessPlan, ServicePlan
from .resources import Inventory, WorkerRequest, allocate, parse_cpu, parse_memory

__all__ = ["lay_out", "levels", "plan_env", "plan_exposure", "plan_resources", "process_deps"]


def num(sv: Sourced | None, parse: Any) -> tuple[Any, str]:
    if sv is None:
        return None, ""
    return parse(sv.value), sv.source


def levels(procs: list[ProcessPlan], deps: dict[str, set[str]]) -> None:
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


def plan_exposure(services: list[ServicePlan], procs: list[ProcessPlan], entry_name: str) -> None:
    """Which services are public and at which URL path; the same rule as ``expose_graph``. A
    service in a process without HTTP is served at the same URL by the HTTP process, which
    carries its requests over the runtime (``forward_graph``)."""
    from ..config.service_args import is_exposed

    for s in services:
        if is_exposed(s.args, s.name == entry_name):
            s.url_path = str(s.args.path.value) if s.args.path is not None else s.name


def lay_out(
    services: list[ServicePlan], entry_name: str
) -> tuple[list[ProcessPlan], dict[str, list[str]]]:
    """The processes (``main`` for the shared services, one per worker of a separate one) and
    each service's processes."""
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
    return procs, home


def plan_env(
    procs: list[ProcessPlan], services: list[ServicePlan], environ: Mapping[str, str]
) -> None:
    """Each process's env: its services' own values; two services sharing a process must
    agree. ``${VAR}`` references are filled from ``environ`` and shown as written."""
    by_name = {s.name: s for s in services}
    for p in procs:
        for sname in p.services:
            for key, sv in by_name[sname].args.env.items():
                written = str(sv.value)
                value = expand_env_refs(
                    written, environ, service=sname, key=f"ServiceArgs.env.{key}", source=sv.source
                )
                if key in p.env and p.env[key] != value:
                    raise ConfigError(
                        f"env {key} is {p.env[key]!r} ({p.env_sources[key]}) and {value!r} "
                        f"({sv.source}) for services sharing process {p.name!r}",
                        service=sname,
                        key=f"ServiceArgs.env.{key}",
                        source=sv.source,
                        fix="give them one value, or run one of them with process: separate",
                    )
                p.env[key], p.env_sources[key] = value, sv.source
                p.env_shown[key] = mask_env(key, written)


def plan_resources(
    procs: list[ProcessPlan], services: list[ServicePlan], inventory: Inventory
) -> None:
    """CPUs, GPUs and memory per worker (services sharing a process add up), allocated from
    ``inventory``; ``CUDA_VISIBLE_DEVICES`` says exactly which GPUs a worker sees."""
    by_name = {s.name: s for s in services}
    requests: list[WorkerRequest] = []
    for p in procs:
        req = WorkerRequest(p.name, p.services[0])
        for sname in p.services:
            res = by_name[sname].args.resources
            for key, parse in (("cpu", parse_cpu), ("gpu", float), ("memory", parse_memory)):
                value, source = num(res.get(key), parse)
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


def process_deps(
    procs: list[ProcessPlan], services: list[ServicePlan], home: dict[str, list[str]]
) -> dict[str, set[str]]:
    """The processes each process depends on (through its services' dependencies)."""
    by_name = {s.name: s for s in services}
    proc_deps: dict[str, set[str]] = {}
    for p in procs:
        for sname in p.services:
            for d in by_name[sname].depends_on:
                proc_deps.setdefault(p.name, set()).update(
                    h for h in home.get(d, []) if h != p.name
                )
    return proc_deps
