"""Feature patterns: ``VERB:path`` parsed once, matched against request paths.

Syntax: constants, ``{name}`` (one segment, typed from the handler's signature), ``*`` (any one
segment, not bound), a trailing ``?`` on a segment (it and those after it may be absent), a final
``//*`` (catch-all: the rest of the path, bound to a ``suffix`` parameter if the handler has one),
and ``*:`` for any verb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["VERBS", "FeaturePattern", "PatternSyntaxError", "Segment", "parse_pattern"]

VERBS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "*"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_CONST = re.compile(r"^[A-Za-z0-9_.~@!$&'()+,;=:-]+$")


class PatternSyntaxError(ValueError):
    """A ``VERB:path`` string is malformed; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Segment:
    """One path segment: ``kind`` is ``const``, ``param`` or ``wildcard``."""

    kind: str
    value: str
    optional: bool = False

    def __str__(self) -> str:
        text = {"const": self.value, "param": f"{{{self.value}}}", "wildcard": "*"}[self.kind]
        return text + ("?" if self.optional else "")


@dataclass(frozen=True, slots=True)
class FeaturePattern:
    """A parsed ``VERB:path``."""

    verb: str
    segments: tuple[Segment, ...]
    catch_all: bool = False
    text: str = ""
    params: tuple[str, ...] = field(default=())

    @property
    def pattern(self) -> str:
        path = "/".join(str(s) for s in self.segments)
        return path + ("//*" if self.catch_all else "")

    @property
    def min_segments(self) -> int:
        return sum(1 for s in self.segments if not s.optional)

    def match(self, parts: list[str]) -> tuple[dict[str, str], str | None] | None:
        """Match path segments; returns (path params, catch-all suffix) or None."""
        segs = self.segments
        n = len(parts)
        if n < self.min_segments:
            return None
        if n > len(segs) and not self.catch_all:
            return None
        params: dict[str, str] = {}
        for i, seg in enumerate(segs):
            if i >= n:
                break  # the rest are optional (checked by min_segments)
            part = parts[i]
            if seg.kind == "const":
                if part != seg.value:
                    return None
            elif seg.kind == "param":
                params[seg.value] = part
        suffix = None
        if self.catch_all:
            suffix = "" if n < len(segs) else "/".join(parts[len(segs) :])
        return params, suffix

    def specificity(self) -> tuple[int, ...]:
        """Sort key: constants beat params beat wildcards; more segments beat fewer."""
        rank = {"const": 0, "param": 1, "wildcard": 2}
        return (
            1 if self.catch_all else 0,
            -len(self.segments),
            *(rank[s.kind] for s in self.segments),
            1 if self.verb == "*" else 0,
        )

    def __str__(self) -> str:
        return f"{self.verb}:{self.pattern}"


def _segment(text: str, raw: str, names: list[str]) -> Segment:
    """One path segment: a constant, ``{param}`` (added to ``names``), or ``*``; ``?`` at the
    end makes it optional."""
    optional = raw.endswith("?")
    body = raw[:-1] if optional else raw
    if not body:
        raise PatternSyntaxError(f"feature pattern {text!r}: empty path segment")
    if body == "*":
        return Segment("wildcard", "*", optional)
    if body.startswith("{") and body.endswith("}"):
        name = body[1:-1]
        if not _NAME.match(name):
            raise PatternSyntaxError(
                f"feature pattern {text!r}: {{{name}}} is not a valid parameter name"
            )
        if name in names:
            raise PatternSyntaxError(f"feature pattern {text!r}: {{{name}}} appears twice")
        names.append(name)
        return Segment("param", name, optional)
    if "{" in body or "}" in body or "*" in body:
        raise PatternSyntaxError(
            f"feature pattern {text!r}: segment {raw!r} mixes text with {{}} or *; a "
            f"parameter or wildcard must be a whole segment"
        )
    if not _CONST.match(body):
        raise PatternSyntaxError(
            f"feature pattern {text!r}: segment {raw!r} has characters not allowed in a path"
        )
    return Segment("const", body, optional)


def parse_pattern(text: str) -> FeaturePattern:
    """Parse ``VERB:path``; raises ``PatternSyntaxError`` naming the bad part."""
    if ":" not in text:
        raise PatternSyntaxError(
            f"feature pattern {text!r} has no verb; write it as 'GET:path' "
            f"(or '*:path' for any verb)"
        )
    verb, _, path = text.partition(":")
    verb = verb.strip().upper()
    if verb not in VERBS:
        raise PatternSyntaxError(
            f"feature pattern {text!r}: unknown verb {verb!r}; use one of "
            f"{', '.join(sorted(VERBS - {'*'}))} or '*'"
        )
    path = path.strip()
    catch_all = path.endswith("//*")
    if catch_all:
        path = path[:-3]
    path = path.lstrip("/")
    if "//" in path:
        raise PatternSyntaxError(
            f"feature pattern {text!r}: '//' is only allowed as the final catch-all '//*'"
        )
    segments: list[Segment] = []
    names: list[str] = []
    seen_optional = False
    for raw in path.split("/") if path else []:
        seg = _segment(text, raw, names)
        optional = seg.optional
        if seen_optional and not optional:
            raise PatternSyntaxError(
                f"feature pattern {text!r}: segment {raw!r} follows an optional segment, so it "
                f"must be optional too (end it with '?')"
            )
        seen_optional = seen_optional or optional
        segments.append(seg)
    text = f"{verb}:{path}" + ("//*" if catch_all else "")
    return FeaturePattern(verb, tuple(segments), catch_all, text, tuple(names))
