"""Placement: which node (machine) runs which service, from the deployment file.

```yaml
nodes:                      # every machine of the deployment, in order
  web: {default: true}      # services placed nowhere run here (else: on the first node)
  gpu-a: {gpus: 2, cpus: 8, memory: 64Gi, services: [Worker]}
  gpu-b: {gpus: [2, 3]}     # a list pins these device ids
  gpu-c: {direct_host: 10.0.0.7}  # where its processes take direct calls (default loopback)
Worker:
  ServiceArgs: {node: [gpu-a, gpu-b]}   # or one name; a service may run on several nodes
```

A service is placed either by ``nodes.X.services`` or by its ``ServiceArgs.node``, not both.
``check_placement`` rejects unknown nodes, a service placed twice and a node left without
services, naming the file and line, before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reverie.errors import DeploymentError

from ..suggest import did_you_mean

if TYPE_CHECKING:
    import yaml

    from .deployment import Deployment, Sourced

__all__ = [
    "NodeSection",
    "Placement",
    "check_placement",
    "parse_node_names",
    "parse_nodes",
]

NODE_KEYS = ("default", "services", "cpus", "gpus", "memory", "direct_host")
_NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass
class NodeSection:
    """One entry of ``nodes:``: its declared inventory (each value with its source) and the
    services it lists."""

    name: str
    line: int
    default: Sourced | None = None
    services: list[Sourced] = field(default_factory=list)
    cpus: Sourced | None = None
    gpus: Sourced | None = None  # an int (count) or a list of device ids
    memory: Sourced | None = None
    #: the address this node's processes take direct calls on (see ``config.directhost``)
    direct_host: Sourced | None = None


# -- parsing (called by deployment._Parser, whose helpers give file:line) ------------------------


def _name(parser: Any, value: Sourced, node: yaml.Node, key: str) -> str:
    if not isinstance(value.value, str) or not _NODE_NAME.match(value.value):
        raise parser.err(
            f"a node name is letters, digits, '_' and '-' (starting with a letter or digit), "
            f"got {value.value!r}",
            node,
            key,
        )
    return value.value


def parse_nodes(parser: Any, node: yaml.Node) -> dict[str, NodeSection]:
    """The ``nodes:`` section: node name -> ``NodeSection``."""
    import yaml

    from .deployment import Sourced

    out: dict[str, NodeSection] = {}
    for name, knode, vnode in parser.mapping(node, "nodes", "the nodes section"):
        line = knode.start_mark.line + 1
        _name(parser, Sourced(name, "", line), knode, f"nodes.{name}")
        sec = NodeSection(name, line)
        for key, inner, dotted in parser.known(vnode, f"nodes.{name}", NODE_KEYS, "key", "a node"):
            if key == "services":
                if not isinstance(inner, yaml.SequenceNode):
                    raise parser.err(
                        f"services must be a list of service names, got a {type(inner).__name__}",
                        inner,
                        dotted,
                        fix="write services: [Worker, Store]",
                    )
                for item in inner.value:
                    v = parser.src(item)
                    if not isinstance(v.value, str) or not v.value:
                        raise parser.err(f"a service name, got {v.value!r}", item, dotted)
                    sec.services.append(v)
                continue
            _node_value(parser, sec, key, inner, dotted)
        out[name] = sec
    return out


def _node_value(parser: Any, sec: NodeSection, key: str, inner: yaml.Node, dotted: str) -> None:
    """One scalar key of a node (``default``, ``cpus``, ``gpus``, ``direct_host``,
    ``memory``), checked and stored on ``sec``."""
    from .deployment import _check_resource, _is_int

    v = parser.src(inner)
    if key == "default":
        if not isinstance(v.value, bool):
            raise parser.err(f"default must be true or false, got {v.value!r}", inner, dotted)
        sec.default = v
    elif key == "cpus":
        if not _is_int(v.value) or v.value < 1:
            raise parser.err(f"cpus must be a whole number >= 1, got {v.value!r}", inner, dotted)
        sec.cpus = v
    elif key == "gpus":
        ok = _is_int(v.value) and v.value >= 0
        ok = ok or (
            isinstance(v.value, list)
            and all(_is_int(g) and g >= 0 for g in v.value)
            and len(set(v.value)) == len(v.value)
        )
        if not ok:
            raise parser.err(
                f"gpus must be a count (2) or a list of distinct device ids ([0, 3]), "
                f"got {v.value!r}",
                inner,
                dotted,
            )
        sec.gpus = v
    elif key == "direct_host":
        from .directhost import FIX, direct_host_problem

        problem = direct_host_problem(v.value)
        if problem:
            raise parser.err(problem, inner, dotted, fix=FIX)
        sec.direct_host = v
    else:
        problem = _check_resource("memory", v.value)
        if problem:
            raise parser.err(problem, inner, dotted)
        sec.memory = v


def parse_node_names(parser: Any, node: yaml.Node, key: str) -> Sourced:
    """``ServiceArgs.node``: one name or a list of names; the value becomes a list."""
    v: Sourced = parser.src(node)
    names = v.value if isinstance(v.value, list) else [v.value]
    if not names:
        raise parser.err(
            "node is an empty list",
            node,
            key,
            fix="name one node, or a list of nodes to run it on each",
        )
    for n in names:
        from .deployment import Sourced

        _name(parser, Sourced(n, v.source, v.line), node, key)
    seen = [n for i, n in enumerate(names) if n in names[:i]]
    if seen:
        raise parser.err(f"node {seen[0]!r} is listed twice", node, key)
    v.value = list(names)
    return v


# -- checking against the graph -------------------------------------------------------------------


@dataclass
class Placement:
    """Where each service runs: service -> node names (with the source of that decision)."""

    nodes: dict[str, NodeSection]
    where: dict[str, list[str]]
    source: dict[str, str]
    default_node: str | None

    def services_on(self, node: str) -> list[str]:
        return [s for s, ns in self.where.items() if node in ns]

    def to_json(self) -> dict[str, Any]:
        return {
            "default_node": self.default_node,
            "services": {
                s: {"nodes": ns, "source": self.source[s]} for s, ns in self.where.items()
            },
        }


def check_placement(
    dep: Deployment, services: Iterable[str], node: str | None = None
) -> Placement | None:
    """Resolve and check placement; None when the file has no ``nodes:`` section (and no
    ``ServiceArgs.node``). ``node`` (``--node``) must name a declared node."""
    names = list(services)
    placed_by_args = {s: sec for s, sec in dep.services.items() if sec.node is not None}
    if not dep.nodes:
        _check_no_nodes(dep, placed_by_args, node)
        return None
    declared = list(dep.nodes)
    defaults = [n for n in dep.nodes.values() if n.default is not None and n.default.value]
    if len(defaults) > 1:
        raise _err(
            dep,
            f"nodes {defaults[0].name!r} and {defaults[1].name!r} are both default: true",
            defaults[1].default.line if defaults[1].default else 0,
            f"nodes.{defaults[1].name}.default",
            fix="mark one node as the default",
        )
    if node is not None and node not in dep.nodes:
        raise _err(
            dep,
            f"--node {node!r} is not a node of this deployment"
            f"{did_you_mean(node, declared)}; nodes: {', '.join(declared)}",
            dep.nodes_line,
            "nodes",
        )
    where, source = _listed(dep, names)
    _add_placed_by_args(dep, placed_by_args, where, source)
    default = defaults[0].name if defaults else declared[0]
    why = (
        f"{dep.path}:{defaults[0].line} (nodes.{default}.default)"
        if defaults
        else f"default: the first node, {dep.path}:{dep.nodes[default].line}"
    )
    ordered: dict[str, list[str]] = {}
    for s in names:
        if s in where:
            ordered[s] = where[s]
        else:
            ordered[s] = [default]
            source[s] = why
    for n in dep.nodes.values():
        if not any(n.name in ns for ns in ordered.values()):
            raise _err(
                dep,
                f"node {n.name!r} runs no service (every service is placed elsewhere)",
                n.line,
                f"nodes.{n.name}",
                fix=f"place a service on it (ServiceArgs: {{node: {n.name}}}) or remove it",
            )
    return Placement(dict(dep.nodes), ordered, {s: source[s] for s in ordered}, default)


def _err(
    dep: Deployment, message: str, line: int, key: str | None, fix: str | None = None
) -> DeploymentError:
    return DeploymentError(message, file=dep.path, line=line or None, key=key, fix=fix)


def _check_no_nodes(dep: Deployment, placed_by_args: dict[str, Any], node: str | None) -> None:
    """Without a ``nodes:`` section, nothing may be placed on a node, nor ``--node`` given."""
    if placed_by_args:
        s, sec = next(iter(placed_by_args.items()))
        assert sec.node is not None
        raise _err(
            dep,
            f"{s} is placed on node {sec.node.value[0]!r} but the file has no nodes: section",
            sec.node.line,
            f"{s}.ServiceArgs.node",
            fix="declare the machines: nodes: {web: {}, gpu-a: {gpus: 1}}",
        )
    if node is not None:
        raise DeploymentError(
            f"--node {node}: the deployment file declares no nodes",
            file=dep.path,
            key="nodes",
            fix="add a nodes: section and place services on its nodes, or run without --node",
        )


def _listed(dep: Deployment, names: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Where the ``nodes:`` section's ``services:`` lists put each service, and the source."""
    where: dict[str, list[str]] = {}
    source: dict[str, str] = {}
    for n in dep.nodes.values():
        for sv in n.services:
            if sv.value not in names:
                raise _err(
                    dep,
                    f"node {n.name!r} lists {sv.value!r}, which is no service of "
                    f"this graph{did_you_mean(sv.value, names)}; services: "
                    f"{', '.join(names)}",
                    sv.line,
                    f"nodes.{n.name}.services",
                )
            if n.name in where.get(sv.value, []):
                raise _err(
                    dep,
                    f"{sv.value} is listed twice on node {n.name!r}",
                    sv.line,
                    f"nodes.{n.name}.services",
                )
            where.setdefault(sv.value, []).append(n.name)
            source[sv.value] = sv.source
    return where, source


def _add_placed_by_args(
    dep: Deployment,
    placed_by_args: dict[str, Any],
    where: dict[str, list[str]],
    source: dict[str, str],
) -> None:
    """Services placed by ``ServiceArgs.node``: declared nodes, and not placed twice."""
    declared = list(dep.nodes)
    for s, sec in placed_by_args.items():
        assert sec.node is not None
        key = f"{s}.ServiceArgs.node"
        for n in sec.node.value:
            if n not in dep.nodes:
                raise _err(
                    dep,
                    f"{s} is placed on node {n!r}, which the nodes: section does "
                    f"not declare{did_you_mean(n, declared)}; nodes: "
                    f"{', '.join(declared)}",
                    sec.node.line,
                    key,
                    fix=f"add {n} under nodes:, or fix the name",
                )
        if s in where:
            raise _err(
                dep,
                f"{s} is placed twice: by ServiceArgs.node and by "
                f"nodes.{where[s][0]}.services ({source[s]})",
                sec.node.line,
                key,
                fix="place each service in one of the two ways",
            )
        where[s] = list(sec.node.value)
        source[s] = sec.node.source
