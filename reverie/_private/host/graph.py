"""The one walk of ``depends()``: from an entry service to everything it needs.

``resolve_graph`` gives the services in start order (dependencies first) and what each
dependency resolved to. The host walks strictly (a cycle, a missing SID or a class that is not a
service is an error); views and checks that work from markup alone walk leniently, where such an
edge is kept with a note saying why it is not followed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reverie.errors import (
    DependencyCycleError,
    DuplicateSIDError,
    GraphError,
    MissingDependencyError,
    UnknownSIDError,
)

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
    #: Lenient walks only: why the edge is not followed ("not registered", "ambiguous: ...",
    #: "not a service"; "" for a SID with nothing to resolve it). None: followed or absent.
    note: str | None = None

    @property
    def attribute(self) -> str:
        return self.dependency.name

    @property
    def followed(self) -> bool:
        """Whether the walk went on into the target service."""
        return self.target is not None and self.note is None


@dataclass
class Graph:
    """Services reachable from the entry, dependencies before dependents."""

    entry: type
    order: list[type]
    edges: dict[type, list[Edge]] = field(default_factory=dict)
    #: The same services in the order the walk found them: the entry first.
    reached: list[type] = field(default_factory=list)

    def metas(self) -> list[ServiceMeta]:
        return [get_meta(c) for c in self.order]

    def required(self) -> set[type]:
        """Services reachable from the entry over non-optional edges."""
        out: set[type] = set()
        todo = [self.entry]
        while todo:
            cls = todo.pop()
            if cls in out:
                continue
            out.add(cls)
            todo += [
                e.target
                for e in self.edges.get(cls, [])
                if e.followed and e.target is not None and not e.dependency.optional
            ]
        return out


def _name(cls: type) -> str:
    return get_meta(cls).name if is_service(cls) else cls.__name__


def _why(exc: GraphError) -> str:
    """The short note a lenient walk keeps for a SID it could not resolve."""
    if isinstance(exc, UnknownSIDError):
        return "not registered"
    if isinstance(exc, DuplicateSIDError):  # entries read "module:Class (origin)"
        return "ambiguous: " + ", ".join(c.partition(" (")[0] for c in exc.classes)
    return str(exc)


def resolve_graph(
    entry: type,
    resolve_sid: SidResolver | None = None,
    overrides: Mapping[type | str, Any] | None = None,
    *,
    lenient: bool = False,
) -> Graph:
    """Walk ``depends()`` from ``entry``. Overrides map a class or SID to a replacement class or to
    a stand-in object used as the client itself. ``lenient``: cycles, unresolved SIDs and
    non-service targets are kept as notes on the edges instead of raised."""
    overrides = dict(overrides or {})
    entry = overrides.get(entry, entry)
    get_meta(entry)  # raises a clear error if the entry is not a service
    order: list[type] = []
    reached: list[type] = []
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
            if lenient and not is_service(key):
                return Edge(dep, key, note="not a service")
            get_meta(key)
            return Edge(dep, key)
        if resolve_sid is None:
            if lenient:
                return Edge(dep, note="")
            if dep.optional:
                return Edge(dep)
            raise MissingDependencyError(key, needed_by=f"{_name(cls)}.{dep.name}")
        try:
            found = resolve_sid(key, f"{_name(cls)}.{dep.name}")
        except GraphError as exc:
            if lenient:
                return Edge(dep, note=_why(exc))
            if dep.optional and isinstance(exc, UnknownSIDError):
                return Edge(dep)
            raise
        return Edge(dep, overrides.get(found, found))

    def visit(cls: type) -> None:
        if cls in done:
            return
        if cls in visiting:
            if lenient:
                return
            cycle = [*visiting[visiting.index(cls) :], cls]
            raise DependencyCycleError([_name(c) for c in cycle])
        visiting.append(cls)
        reached.append(cls)
        meta = get_meta(cls)
        es = [target_of(cls, dep) for dep in meta.dependencies.values()]
        edges[cls] = es
        for e in es:
            if e.followed and e.target is not None:
                visit(e.target)
        visiting.pop()
        done.add(cls)
        order.append(cls)

    visit(entry)
    return Graph(entry, order, edges, reached)
