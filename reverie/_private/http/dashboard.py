"""``/@host/dashboard``: the live graph page, and ``/@host/dashboard/data``, the JSON it polls.

The data is the host's graph as it runs: every service (local instances, and the dependencies
reached over a wire, shown as remote), every dependency edge with its call counters and latency
histogram (``edges.EdgeStats``), each instance's state, restarts and uptime, its config with the
layer that set each value (secrets masked), and its blueprint. The page (``assets/dashboard.*``)
computes rates and percentiles between two polls, so the host keeps only counters.
"""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

from ..call.edges import BOUNDS
from ..config.values import MASK

if TYPE_CHECKING:
    from ..host.host import Host
    from ..host.instance import Instance

__all__ = ["dashboard_data", "merge_views"]


def _config(inst: Instance) -> list[dict[str, Any]]:
    out = []
    for key, rv in (inst.config or {}).items():
        out.append(
            {
                "key": key,
                "value": MASK if rv.secret else rv.value,
                "source": rv.source,
                "secret": rv.secret,
            }
        )
    return out


def _transport_of(client: Any) -> str:
    transport = getattr(client, "transport", None)
    describe = getattr(transport, "describe", None)
    return str(describe()) if callable(describe) else "-"


def dashboard_data(host: Host) -> dict[str, Any]:
    """A JSON-ready snapshot of the host's graph, instances and edge counters."""
    node = socket.gethostname()
    services, edges = _local(host, node)
    _add_remote(host, services)
    _add_counters(host, edges)
    return {
        "host": host.name,
        "node": node,
        "process": os.getpid(),
        "time": time.time(),
        "bounds": list(BOUNDS),
        "services": list(services.values()),
        "edges": list(edges.values()),
    }


def _edge_row(
    caller: str, callee: str, attribute: str | None, transport: str | None
) -> dict[str, Any]:
    return {
        "from": caller,
        "to": callee,
        "attribute": attribute,
        "transport": transport,
        "calls": 0,
        "ok": 0,
        "errors": 0,
        "in_flight": 0,
        "items": 0,
        "buckets": [0] * (len(BOUNDS) + 1),
        "timed": 0,
        "endpoints": [],
    }


def _local(
    host: Host, node: str
) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], dict[str, Any]]]:
    """The host's own instances, and an edge row for each of their dependencies."""
    from ..contract.blueprint import blueprint
    from ..declare.service import get_meta

    services: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for inst in list(host.instances.values()):
        name = inst.meta.name
        services[name] = {
            "name": name,
            "path": inst.path,
            "class": inst.meta.qualname,
            "sids": list(inst.meta.sids),
            "state": inst.state.value,
            "where": "local",
            "process": os.getpid(),
            "node": node,
            "uptime": round(inst.uptime(), 3),
            "restarts": inst.restarts,
            "requests": dict(inst.requests),
            "error": None if inst.error is None else f"{type(inst.error).__name__}: {inst.error}",
            "config": _config(inst),
            "blueprint": blueprint(inst.cls).to_dict(),
        }
        for edge in inst.edges:
            if edge.target is None:
                continue
            callee = (
                get_meta(edge.target).name
                if edge.stand_in is None
                else type(edge.stand_in).__name__
            )
            edges[(name, callee)] = _edge_row(
                name, callee, edge.attribute, _transport_of(inst.clients.get(edge.attribute))
            )
    return services, edges


def _add_remote(host: Host, services: dict[str, dict[str, Any]]) -> None:
    """The services the instances reach elsewhere (over HTTP or NATS)."""
    from ..contract.blueprint import blueprint
    from ..declare.service import get_meta

    for inst in list(host.instances.values()):
        for edge in inst.edges:
            if edge.target is None or edge.stand_in is not None:
                continue
            meta = get_meta(edge.target)
            if meta.name not in services:
                client = inst.clients.get(edge.attribute)
                services[meta.name] = {
                    "name": meta.name,
                    "path": None,
                    "class": meta.qualname,
                    "sids": list(meta.sids),
                    "state": "remote",
                    "where": _transport_of(client),
                    "process": None,
                    "node": None,
                    "uptime": None,
                    "restarts": None,
                    "requests": {},
                    "error": None,
                    "config": [],
                    "blueprint": blueprint(edge.target).to_dict(),
                }


def _add_counters(host: Host, edges: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Each edge's call counters, summed over its endpoints."""
    stats = getattr(host, "edges", None)
    for st in stats if stats is not None else ():
        row = edges.get((st.caller, st.callee))
        if row is None:
            row = edges[(st.caller, st.callee)] = _edge_row(
                st.caller, st.callee, None, st.transport
            )
        snap = st.snapshot()
        for key in ("calls", "ok", "errors", "in_flight", "items", "timed"):
            row[key] += snap[key]
        row["buckets"] = [a + b for a, b in zip(row["buckets"], snap["buckets"], strict=True)]
        row["endpoints"].append(snap)


def merge_views(mine: dict[str, Any], views: list[dict[str, Any]]) -> dict[str, Any]:
    """``--processes``: the entry's view completed by every process's own (from the metrics
    bus): a service shown remote here is shown as it runs there (state, process, node, uptime,
    restarts including the process's, config); the workers of one service are summed; every
    process's edges join, summed by caller and callee."""
    services: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str], dict[str, Any]] = {}
    for view in views:
        data = view.get("dashboard") or {}
        for svc in data.get("services", []):
            if svc.get("where") != "local":
                continue
            svc = {
                **svc,
                "process": f"{view.get('process')} (pid {svc.get('process')})",
                "restarts": (svc.get("restarts") or 0) + int(view.get("restarts") or 0),
            }
            have = services.get(svc["name"])
            if have is None:
                services[svc["name"]] = svc
                continue
            have["process"] = f"{have['process']}, {svc['process']}"
            have["restarts"] = (have.get("restarts") or 0) + svc["restarts"]
            have["uptime"] = min(have.get("uptime") or 0.0, svc.get("uptime") or 0.0)
            for key, n in svc.get("requests", {}).items():
                have["requests"][key] = have["requests"].get(key, 0) + n
            if svc.get("state") != "running":
                have["state"] = svc["state"]
        for edge in data.get("edges", []):
            key = (edge["from"], edge["to"])
            have_e = edges.get(key)
            if have_e is None:
                edges[key] = {**edge, "buckets": list(edge["buckets"])}
                continue
            for k in ("calls", "ok", "errors", "in_flight", "items", "timed"):
                have_e[k] += edge.get(k, 0)
            have_e["buckets"] = [
                a + b for a, b in zip(have_e["buckets"], edge["buckets"], strict=True)
            ]
            have_e["endpoints"] = [*have_e.get("endpoints", []), *edge.get("endpoints", [])]
    if not services:
        return mine
    for svc in mine.get("services", []):
        services.setdefault(svc["name"], svc)
    for edge in mine.get("edges", []):
        edges.setdefault((edge["from"], edge["to"]), edge)
    return {**mine, "services": list(services.values()), "edges": list(edges.values())}
