"""Views of a dependency graph for people: a text tree and a Mermaid ``graph TD``.

The tree is drawn from a lenient ``resolve_graph`` walk (``graph.py``) using markup alone
(nothing is instantiated): SID targets are resolved through a ``Registry`` when one is given,
else shown as the SID; unresolved targets, cycles and repeats are marked, not raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..contract.blueprint import class_ref
from ..declare.service import get_meta
from .graph import resolve_graph

if TYPE_CHECKING:
    from .registry import Registry

__all__ = ["GraphNode", "dependency_tree", "render_mermaid", "render_text"]


@dataclass
class GraphNode:
    """One service in the walk; ``note`` says why it has no children (cycle, repeat, unresolved)."""

    label: str
    ref: str | None = None
    sids: list[str] = field(default_factory=list)
    attribute: str | None = None
    optional: bool = False
    note: str = ""
    children: list[GraphNode] = field(default_factory=list)
    uri: bool = False  # a URI config key (reached by URL), not a depends() edge

    @property
    def key(self) -> str:
        """Identity of the service: its class reference, else its SID."""
        return self.ref or self.label


def dependency_tree(entry: type, registry: Registry | None = None) -> GraphNode:
    """The dependency tree under ``entry``. Each class is expanded once; later uses say so."""
    graph = resolve_graph(entry, registry.resolve if registry is not None else None, lenient=True)
    expanded: set[str] = set()

    def node_of(
        cls: type, attribute: str | None, optional: bool, path: tuple[str, ...]
    ) -> GraphNode:
        meta = get_meta(cls)
        node = GraphNode(meta.name, class_ref(cls), list(meta.sids), attribute, optional)
        if node.key in path:
            node.note = "cycle"
            return node
        if node.key in expanded:
            node.note = "see above" if meta.dependencies else ""
            return node
        expanded.add(node.key)
        for key in meta.config_keys.values():
            if key.uri:  # a URI config key names a service too: an edge, reached by URL
                default = None if key.required else key.default
                node.children.append(
                    GraphNode(
                        f"URI {meta.name}.{key.name}",
                        None,
                        [],
                        key.name,
                        not key.required,
                        f"config key; default {default}"
                        if default
                        else "config key, set per deployment",
                        uri=True,
                    )
                )
        for edge in graph.edges[cls]:
            dep = edge.dependency
            if edge.target is None:  # a SID nothing resolved
                sid = dep.target_name
                node.children.append(
                    GraphNode(sid, None, [sid], dep.name, dep.optional, edge.note or "")
                )
            elif not edge.followed:  # a class that is not a service
                node.children.append(
                    GraphNode(
                        edge.target.__name__,
                        class_ref(edge.target),
                        [],
                        dep.name,
                        dep.optional,
                        edge.note or "",
                    )
                )
            else:
                node.children.append(
                    node_of(edge.target, dep.name, dep.optional, (*path, node.key))
                )
        return node

    return node_of(entry, None, False, ())


def _describe(node: GraphNode) -> str:
    text = node.label
    if node.ref:
        text += f" ({node.ref})"
    if node.sids and node.ref:
        text += " [" + ", ".join(node.sids) + "]"
    if node.attribute is not None:
        text = f"{node.attribute} -> {text}"
    extras = [x for x in ("optional" if node.optional else "", node.note) if x]
    if extras:
        text += " (" + "; ".join(extras) + ")"
    return text


def render_text(root: GraphNode) -> str:
    """An indented tree, one service per line."""
    lines = [_describe(root)]

    def add(node: GraphNode, prefix: str) -> None:
        for i, child in enumerate(node.children):
            last = i == len(node.children) - 1
            lines.append(prefix + ("└── " if last else "├── ") + _describe(child))
            add(child, prefix + ("    " if last else "│   "))

    add(root, "")
    return "\n".join(lines)


def _mermaid_label(text: str) -> str:
    return text.replace('"', "#quot;")


def render_mermaid(root: GraphNode) -> str:
    """Mermaid ``graph TD``: one node per service, dashed edges for optional dependencies."""
    ids: dict[str, str] = {}
    lines = ["graph TD"]

    def node_id(node: GraphNode) -> str:
        if node.key not in ids:
            ids[node.key] = f"n{len(ids)}"
            label = node.label
            if node.note and not node.ref:
                label += f" ({node.note})"
            text = _mermaid_label(label)
            shape = f'["{text}"]' if node.ref else f'(["{text}"])'  # stadium: a bare SID
            lines.append(f"    {ids[node.key]}{shape}")
        return ids[node.key]

    seen: set[tuple[str, str, str, str]] = set()

    def add(node: GraphNode) -> None:
        src = node_id(node)
        for child in node.children:
            dst = node_id(child)
            arrow = "-.->" if child.optional else "-->"
            edge = (src, arrow, child.attribute or "", dst)
            if edge not in seen:
                seen.add(edge)
                lines.append(f"    {src} {arrow}|{_mermaid_label(child.attribute or '')}| {dst}")
            add(child)

    add(root)
    return "\n".join(lines)
