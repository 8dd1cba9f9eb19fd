"""Reading a YAML file's nodes with their place: every value as a ``Sourced`` (the value and
``file:line``), and checked helpers whose errors point at the line (a mapping's keys, known
keys, a value's kind). The deployment file's parser and its ``nodes:`` section build on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

from reverie.errors import DeploymentError

from ..suggest import did_you_mean

__all__ = ["Sourced", "YamlReader", "describe_node"]


@dataclass
class Sourced:
    """A value and where it came from (``deploy.yaml:12``).

    ``raw`` is the text as written for an unquoted YAML scalar, so a plain ``8000`` given to a
    ``str`` key can be taken as the string ``"8000"``.
    """

    value: Any
    source: str
    line: int = 0
    raw: str | None = None
    file: str = ""


class YamlReader:
    """One YAML text and its path; errors are ``DeploymentError`` naming file, line and key."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.loader = yaml.SafeLoader(text)

    def err(
        self, message: str, node: yaml.Node | None, key: str | None, fix: str | None = None
    ) -> DeploymentError:
        line = node.start_mark.line + 1 if node is not None else None
        return DeploymentError(message, file=self.path, line=line, key=key, fix=fix)

    def src(self, node: yaml.Node) -> Sourced:
        line = node.start_mark.line + 1
        raw = None
        if isinstance(node, yaml.ScalarNode) and node.style is None:
            raw = str(node.value)
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.err(f"cannot read this value: {exc}", node, None) from None
        return Sourced(value, f"{self.path}:{line}", line, raw, self.path)

    def checked(
        self, node: yaml.Node, key: str, ok: Callable[[Any], bool], expected: str
    ) -> Sourced:
        """The value at ``node``, or an error "<expected>, got <value>" pointing at it."""
        v = self.src(node)
        if not ok(v.value):
            raise self.err(f"{expected}, got {v.value!r}", node, key)
        return v

    def known(
        self, node: yaml.Node, where: str, allowed: tuple[str, ...], noun: str, owner: str
    ) -> list[tuple[str, yaml.Node, str]]:
        """(name, value node, dotted key) of a mapping whose keys must be among ``allowed``."""
        out = []
        for key, knode, vnode in self.mapping(node, where, where):
            dotted = f"{where}.{key}"
            if key not in allowed:
                raise self.err(
                    f"unknown {noun} {key!r}{did_you_mean(key, allowed)}; {owner} takes "
                    f"{', '.join(allowed)}",
                    knode,
                    dotted,
                )
            out.append((key, vnode, dotted))
        return out

    def mapping(
        self, node: yaml.Node, key: str, what: str
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The (name, key node, value node) entries of a mapping; null counts as empty."""
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, yaml.MappingNode):
            raise self.err(
                f"{what} must be a mapping (key: value lines), got {describe_node(node)}", node, key
            )
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            raise self.err(f"bad merge ('<<'): {exc}", node, key) from None
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, int] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode) or not isinstance(knode.value, str):
                raise self.err(f"keys in {what} must be plain strings", knode, key)
            name = str(self.loader.construct_object(knode))
            dotted = f"{key}.{name}" if key else name
            if name in seen:
                raise self.err(
                    f"duplicate key {name!r} (first set on line {seen[name]})",
                    knode,
                    dotted,
                    fix="keep one of them",
                )
            seen[name] = knode.start_mark.line + 1
            out.append((name, knode, vnode))
        return out


def describe_node(node: yaml.Node) -> str:
    """What a node is, for a message: a mapping, a list, nothing (null), the scalar x."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == "tag:yaml.org,2002:null":
        return "nothing (null)"
    return f"the scalar {node.value!r}"
