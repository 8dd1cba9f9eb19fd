"""Resolve the dependency graph of an entry service: order, cycles, missing SIDs, overrides."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reverie.errors import DependencyCycleError, MissingDependencyError, UnknownSIDError

from ..declare.service import Dependency, ServiceMeta, get_meta, is_service

__all__ = ["Edge", "Graph", "resolve_graph"]

#: Turns a SID into a class; raises UnknownSIDError (the host passes its registry's resolve).
SidResolver = Callable[[str, str], type]


@dataclass
class Edge:
    """One ``depends()`` attribute and what it resolved to: a service class, a stand-in object
    (a test override), or None for an optional dependency that nothing provides."""

    dependency: Dependency
    target: type | None = None
    stand_in: Any = None

    @property
    def attribute(self) -> str:
        return self.dependency.name


@dataclass
class Graph:
    """Services reachable from the entry, dependencies before dependents."""

    entry: type
    order: list[type]
    edges: dict[type, list[Edge]] = field(default_factory=dict)

    def metas(self) -> list[ServiceMeta]:
        return [get_meta(c) for c in self.order]



def _name(cls: type) -> str:
    return get_meta(cls).name if is_service(cls) else cls.__name__


def resolve_graph(
    entry: type,
    resolve_sid: SidResolver | None = None,
    overrides: Mapping[type | str, Any] | None = None,
) -> Graph:
    """Walk ``depends()`` from ``entry``. Overrides map a class or SID to a replacement class or to
    a stand-in object used as the client itself."""
    overrides = dict(overrides or {})
    entry = overrides.get(entry, entry)
    get_meta(entry)  # raises a clear error if the entry is not a service
    order: list[type] = []
    edges: dict[type, list[Edge]] = {}
    visiting: list[type] = []
    done: set[type] = set()

    def target_of(cls: type, dep: Dependency) -> Edge:
        key: Any = dep.target
        if key in overrides:
            repl = overrides[key]
            if isinstance(repl, type):
                get_meta(repl)
                return Edge(dep, repl)
            return Edge(dep, None, repl)
        if isinstance(key, type):
            get_meta(key)
            return Edge(dep, key)
        if resolve_sid is None:
            if dep.optional:
                return Edge(dep)
            raise MissingDependencyError(key, needed_by=f"{_name(cls)}.{dep.name}")
        try:
            found = resolve_sid(key, f"{_name(cls)}.{dep.name}")
        except UnknownSIDError:
            if dep.optional:
                return Edge(dep)
            raise
        return Edge(dep, overrides.get(found, found))

    def visit(cls: type) -> None:
        if cls in done:
            return
        if cls in visiting:
            cycle = [*visiting[visiting.index(cls) :], cls]
            raise DependencyCycleError([_name(c) for c in cycle])
        visiting.append(cls)
        meta = get_meta(cls)
        es = [target_of(cls, dep) for dep in meta.dependencies.values()]
        edges[cls] = es
        for e in es:
            if e.target is not None:
                visit(e.target)
        visiting.pop()
        done.add(cls)
        order.append(cls)

    visit(entry)
    return Graph(entry, order, edges)
