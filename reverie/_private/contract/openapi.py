"""An OpenAPI 3.1 document generated from blueprints (no instance needed).

Features appear under ``/<service-path>/<pattern>``; endpoints as ``POST /<service-path>/<name>``.
Feature patterns are expanded into plain OpenAPI paths: optional segments give one path per
length, ``*`` becomes a ``{_wN}`` parameter, the ``//*`` catch-all a ``{suffix}`` parameter, and
``*:`` (any verb) one operation per verb. Streaming answers are documented as
``text/event-stream`` and ``application/x-ndjson`` carrying one item per event or line.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..declare.pattern import Segment, parse_pattern
from .blueprint import Blueprint, EndpointInfo, FeatureInfo

__all__ = ["OPENAPI_VERSION", "openapi_document"]

OPENAPI_VERSION = "3.1.0"
ANY_VERBS = ("get", "put", "post", "delete", "patch")
_NO_BODY = frozenset({"get", "head", "delete", "options"})
ERROR_REF = {"$ref": "#/components/schemas/ReverieError"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The wire form of a Reverie call error (same on every transport).",
    "properties": {
        "code": {"type": "string", "description": "stable error code, e.g. invalid_argument"},
        "type": {"type": ["string", "null"], "description": "the remote exception type"},
        "message": {"type": "string"},
        "request_id": {"type": ["string", "null"]},
        "service": {"type": ["string", "null"]},
        "endpoint": {"type": ["string", "null"]},
        "details": {"description": "per-field problems for invalid_argument"},
        "status": {"type": "integer"},
    },
    "required": ["code", "message"],
}

Schema = dict[str, Any]

SECURITY_SCHEME = "hostKey"
#: What each access level means to a caller, as the documentation shows it.
ACCESS_NOTES = {
    "public": "Access: **public** (no key needed).",
    "internal": "Access: **internal**: send `Authorization: Bearer <internal key>` (the "
    "services of this host hold it).",
    "private": "Access: **private**: send `Authorization: Bearer <host API key>` "
    "(REVERIE_API_KEY).",
}


class _Components:
    """Collects ``$defs`` from every schema into ``components/schemas``, renaming on clashes."""

    def __init__(self) -> None:
        self.schemas: dict[str, Schema] = {"ReverieError": copy.deepcopy(ERROR_SCHEMA)}
        self._raw: dict[str, Schema] = {"ReverieError": ERROR_SCHEMA}

    def hoist(self, schema: Schema) -> Schema:
        schema = copy.deepcopy(schema)
        defs: dict[str, Schema] = {}
        _pop_defs(schema, defs)
        mapping: dict[str, str] = {}
        for name, raw in defs.items():
            target, n = name, 2
            while target in self._raw and self._raw[target] != raw:
                target, n = f"{name}{n}", n + 1
            mapping[name] = target
        for name, raw in defs.items():
            target = mapping[name]
            if target not in self.schemas:
                self._raw[target] = raw
                self.schemas[target] = _rewrite(copy.deepcopy(raw), mapping)
        _rewrite(schema, mapping)
        return schema

    def model(self, schema: Schema) -> Schema:
        """Like ``hoist``; a named object (a pydantic model, a dataclass) becomes a component
        of its own and the answer is a ``$ref`` to it, so each model is documented once."""
        schema = self.hoist(schema)
        title = schema.get("title")
        if not (
            isinstance(title, str) and schema.get("type") == "object" and "properties" in schema
        ):
            return schema
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", title)
        target, n = name, 2
        while target in self.schemas and self.schemas[target] != schema:
            target, n = f"{name}{n}", n + 1
        self.schemas[target] = schema
        self._raw.setdefault(target, schema)
        return {"$ref": f"#/components/schemas/{target}"}


def _non_null(schema: Schema) -> Schema:
    """A path segment is never null: drop the null branch of ``T | None``."""
    options = schema.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options:
        rest: list[Schema] = [o for o in options if o != {"type": "null"}]
        base = {k: v for k, v in schema.items() if k != "anyOf"}
        return base | rest[0] if len(rest) == 1 else base | {"anyOf": rest}
    return schema


def _pop_defs(node: Any, into: dict[str, Schema]) -> None:
    if isinstance(node, dict):
        defs = node.pop("$defs", None)
        if isinstance(defs, dict):
            for name, d in defs.items():
                _pop_defs(d, into)
                into.setdefault(name, d)
        for value in node.values():
            _pop_defs(value, into)
    elif isinstance(node, list):
        for item in node:
            _pop_defs(item, into)


def _rewrite(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.removeprefix("#/$defs/")
            node["$ref"] = f"#/components/schemas/{mapping.get(name, name)}"
        for value in node.values():
            _rewrite(value, mapping)
    elif isinstance(node, list):
        for item in node:
            _rewrite(item, mapping)
    return node


def _op_id(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", ".".join(p.strip("/") for p in parts if p))


def _content(schema: Schema, streaming: bool) -> dict[str, Any]:
    if streaming:
        return {
            "text/event-stream": {
                "schema": {"type": "string"},
                "x-reverie-item-schema": schema,
            },
            "application/x-ndjson": {"schema": schema},
        }
    return {"application/json": {"schema": schema}}


def _responses(schema: Schema, streaming: bool, has_input: bool) -> dict[str, Any]:
    ok = "A stream of items: one SSE event or one JSON line per item." if streaming else "OK"
    out: dict[str, Any] = {"200": {"description": ok, "content": _content(schema, streaming)}}
    if has_input:
        out["422"] = {
            "description": "An argument does not match its declared type.",
            "content": {"application/json": {"schema": ERROR_REF}},
        }
    out["default"] = {
        "description": "Error",
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    return out


def _endpoint_op(svc: str, bp: Blueprint, ep: EndpointInfo, comps: _Components) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": _op_id(svc, ep.name),
        "tags": [bp.name],
        "summary": ep.description or f"{bp.name}.{ep.name}",
        "description": f"Endpoint `{bp.name}.{ep.name}`"
        f"{' (streaming)' if ep.streaming else ''}. {ACCESS_NOTES['public']}",
        "x-reverie-endpoint": ep.name,
        "x-reverie-access": "public",
        "responses": _responses(comps.model(ep.response), ep.streaming, ep.request is not None),
    }
    if ep.request is not None:
        op["requestBody"] = {
            "required": ep.request_required,
            "content": {"application/json": {"schema": comps.model(ep.request)}},
        }
    return op


def _expansions(pattern_segments: tuple[Segment, ...], catch_all: bool) -> list[list[str]]:
    """Each concrete OpenAPI path (as segments) that a feature pattern matches."""
    required = sum(1 for s in pattern_segments if not s.optional)
    wild = 0
    parts: list[str] = []
    for seg in pattern_segments:
        if seg.kind == "wildcard":
            wild += 1
            parts.append(f"{{_w{wild}}}")
        elif seg.kind == "param":
            parts.append(f"{{{seg.value}}}")
        else:
            parts.append(seg.value)
    paths = [parts[:n] for n in range(required, len(parts) + 1)]
    if catch_all:
        paths.append([*parts, "{suffix}"])
    return paths


def _feature_ops(
    svc: str, bp: Blueprint, feat: FeatureInfo, comps: _Components
) -> list[tuple[str, str, dict[str, Any]]]:
    parsed = parse_pattern(f"{feat.verb}:{feat.pattern}")
    verbs = ANY_VERBS if feat.verb == "*" else (feat.verb.lower(),)
    by_name = {p.name: p for p in feat.params}
    response = comps.model(feat.response)
    out = []
    for segs in _expansions(parsed.segments, parsed.catch_all):
        path = "/" + "/".join([svc, *segs]) if svc else "/" + "/".join(segs)
        params: list[dict[str, Any]] = []
        for seg in segs:
            if not seg.startswith("{"):
                continue
            name = seg[1:-1]
            p = by_name.get(name)
            spec: dict[str, Any] = {"name": name, "in": "path", "required": True}
            if p is not None:
                spec["schema"] = _non_null(comps.hoist(p.schema))
                if p.description:
                    spec["description"] = p.description
            else:
                spec["schema"] = {"type": "string"}
                spec["description"] = (
                    "the rest of the path (may contain '/')"
                    if name == "suffix"
                    else "any one path segment"
                )
            params.append(spec)
        for p in feat.params:
            if p.source == "query":
                q: dict[str, Any] = {
                    "name": p.name,
                    "in": "query",
                    "required": p.required,
                    "schema": comps.hoist(p.schema),
                }
                if p.description:
                    q["description"] = p.description
                params.append(q)
        body = next((p for p in feat.params if p.source == "body"), None)
        for verb in verbs:
            op: dict[str, Any] = {
                "operationId": "",
                "tags": [bp.name],
                "summary": feat.description or f"{feat.verb}:{feat.pattern}",
                "description": f"Feature `{feat.verb}:{feat.pattern}` of {bp.name}. "
                f"{ACCESS_NOTES.get(feat.access, '')}",
                "x-reverie-feature": f"{feat.verb}:{feat.pattern}",
                "x-reverie-access": feat.access,
                "responses": _responses(response, feat.streaming, bool(params) or bool(body)),
            }
            if feat.access != "public":
                op["security"] = [{SECURITY_SCHEME: []}]
            if params:
                op["parameters"] = params
            if body is not None and verb not in _NO_BODY:
                op["requestBody"] = {
                    "required": body.required,
                    "content": {"application/json": {"schema": comps.model(body.schema)}},
                }
            out.append((path, verb, op))
    return out


def openapi_document(
    services: Mapping[str, Blueprint] | Iterable[tuple[str, Blueprint]],
    *,
    title: str = "Reverie services",
    version: str = "0",
    description: str | None = None,
    access: Iterable[str] = ("public", "internal"),
    servers: Iterable[str] = (),
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for services mounted at the given paths.

    ``services`` maps a mount path (``"worker"`` or ``"ns/worker"``) to a blueprint. Features
    whose access is not in ``access`` are left out (private ones by default).
    """
    items = list(services.items() if isinstance(services, Mapping) else services)
    allowed = set(access)
    comps = _Components()
    paths: dict[str, dict[str, Any]] = {}
    used_ids: set[str] = set()
    tags: list[dict[str, Any]] = []

    def add(path: str, verb: str, op: dict[str, Any], base_id: str) -> None:
        slot = paths.setdefault(path, {})
        if verb in slot:
            return  # a more specific feature (listed first) already documents it
        op_id, n = base_id, 2
        while op_id in used_ids:
            op_id, n = f"{base_id}_{n}", n + 1
        used_ids.add(op_id)
        op["operationId"] = op_id
        slot[verb] = op

    for mount, bp in items:
        svc = mount.strip("/")
        tag: dict[str, Any] = {"name": bp.name}
        if bp.description:
            tag["description"] = bp.description
        if bp.sids:
            tag["x-reverie-sids"] = list(bp.sids)
        if all(t["name"] != bp.name for t in tags):  # one class may be mounted twice
            tags.append(tag)
        for feat in bp.features:
            if feat.access not in allowed:
                continue
            for path, verb, op in _feature_ops(svc, bp, feat, comps):
                add(path, verb, op, _op_id(svc, feat.method, verb))
        for ep in bp.endpoints:
            path = f"/{svc}/{ep.name}" if svc else f"/{ep.name}"
            add(path, "post", _endpoint_op(svc, bp, ep, comps), _op_id(svc, ep.name))

    info: dict[str, Any] = {"title": title, "version": version}
    if description:
        info["description"] = description
    doc: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    server_list = [{"url": url} for url in servers]
    if server_list:
        doc["servers"] = server_list
    doc["tags"] = tags
    doc["paths"] = paths
    doc["components"] = {
        "schemas": comps.schemas,
        "securitySchemes": {
            SECURITY_SCHEME: {
                "type": "http",
                "scheme": "bearer",
                "description": "Internal features take the host's internal key (services of the"
                " host hold it); private ones the host API key (REVERIE_API_KEY).",
            }
        },
    }
    return doc
