"""Routing inside one instance: features (the full ``VERB:path`` pattern syntax), endpoints and
built-ins.

Written by hand rather than with Starlette's router: a dict lookup for constant paths and a short
specificity-ordered scan for patterns costs well under a microsecond, where Starlette's
regex-per-route router spends several, more than the hello-world budget allows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..declare.pattern import FeaturePattern
from ..declare.service import EndpointMeta, FeatureMeta, ServiceMeta
from .params import FeatureArgs, feature_args

__all__ = ["BUILTINS", "Match", "Route", "RouteTable", "routes_for"]

#: Built-in features on every instance: (verb, path under the instance) -> (name, access).
BUILTINS: dict[tuple[str, str], tuple[str, str]] = {
    ("GET", "@about"): ("@about", "public"),
    ("GET", "@blueprint"): ("@blueprint", "public"),
    ("GET", "@config"): ("@config", "internal"),
    ("PUT", "@config"): ("@config:put", "private"),
    ("GET", "@state"): ("@state", "private"),
    ("DELETE", ""): ("@stop", "private"),
}


@dataclass(slots=True)
class Route:
    """What one (verb, path shape) of an instance runs."""

    kind: str  # "feature" | "endpoint" | "builtin"
    verb: str
    name: str  # the key counted in Instance.requests
    access: str
    method: str = ""  # attribute of the user's object
    pattern: FeaturePattern | None = None
    feature: FeatureMeta | None = None
    endpoint: EndpointMeta | None = None
    args: FeatureArgs | None = None
    streaming: bool = False
    #: A feature with no parameters that answers one value: the fast path.
    plain: bool = False
    exact: Match | None = None  # the shared Match of a constant path (no params to bind)


@dataclass(slots=True)
class Match:
    route: Route
    params: dict[str, str] = field(default_factory=dict)
    suffix: str | None = None


class RouteTable:
    """The routes of one service class; built once per class and shared by its instances."""

    def __init__(self, meta: ServiceMeta) -> None:
        self.exact: dict[str, dict[str, Route]] = {}
        self.patterns: list[Route] = []
        for feat in meta.features:  # already sorted by specificity
            b = feat.verb_path
            route = Route(
                "feature",
                b.verb,
                str(b),
                feat.access,
                feat.method,
                b,
                feat,
                args=feature_args(feat),
                streaming=feat.streaming,
            )
            simple = not b.catch_all and all(
                s.kind == "const" and not s.optional for s in b.segments
            )
            if simple:
                self.exact.setdefault("/".join(s.value for s in b.segments), {}).setdefault(
                    b.verb, route
                )
            else:
                self.patterns.append(route)
        for ep in meta.endpoints.values():
            slot = self.exact.setdefault(ep.name, {})
            if "POST" not in slot:
                slot["POST"] = Route(
                    "endpoint",
                    "POST",
                    ep.name,
                    "public",
                    ep.method,
                    endpoint=ep,
                    streaming=ep.streaming,
                )
        for (verb, path), (name, access) in BUILTINS.items():
            self.exact.setdefault(path, {})[verb] = Route("builtin", verb, name, access)
        for slot in self.exact.values():
            for route in slot.values():
                route.exact = Match(route)
                route.plain = (
                    route.kind == "feature"
                    and not route.streaming
                    and route.args is not None
                    and not route.args.params
                )

    def match(self, verb: str, rest: str) -> Match | set[str]:
        """The route for ``verb`` at ``rest`` (the path below the instance), or the verbs that
        path does answer (empty: unknown path)."""
        slot = self.exact.get(rest)
        if slot is not None:
            route = slot.get(verb) or slot.get("*")
            if route is not None:
                return route.exact or Match(route)
        allowed: set[str] = set(slot) if slot is not None else set()
        if self.patterns:
            parts = rest.split("/") if rest else []
            for route in self.patterns:
                b = route.pattern
                assert b is not None
                m = b.match(parts)
                if m is None:
                    continue
                if b.verb == verb or b.verb == "*":
                    return Match(route, m[0], m[1])
                allowed.add(b.verb)
        if verb == "HEAD" and ("GET" in allowed or "*" in allowed):
            found = self.match("GET", rest)
            if isinstance(found, Match):
                return found
        return allowed


_tables: dict[int, tuple[ServiceMeta, RouteTable]] = {}


def routes_for(meta: ServiceMeta) -> RouteTable:
    """The (cached) route table of a service."""
    hit = _tables.get(id(meta))
    if hit is not None and hit[0] is meta:
        return hit[1]
    table = RouteTable(meta)
    _tables[id(meta)] = (meta, table)
    return table


def allow_header(verbs: set[str]) -> str:
    """The ``Allow`` header for a set of verbs (``*`` expands to every verb)."""
    if "*" in verbs:
        return "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    out = set(verbs) | {"OPTIONS"}
    if "GET" in out:
        out.add("HEAD")
    return ", ".join(sorted(out))
