"""Feature arguments from path, query and body, validated against the handler's signature.

Path and query values are strings, validated with ``strict=False`` (``"5"`` becomes ``5``); the
body is JSON, validated strictly. Every bad or missing field is reported at once in one
``ValidationError`` (422) naming the field, the expected type and the value sent.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from reverie.errors import ValidationError

from ..declare.service import FeatureMeta
from ..declare.types import _validation_error, describe
from ..transports.codec import json_decode

__all__ = ["FeatureArg", "FeatureArgs", "bad_json", "build_kwargs", "feature_args"]


@dataclass(slots=True)
class FeatureArg:
    """One parameter of a feature handler and where its value is read from."""

    name: str
    source: str  # path | query | body | suffix | context | request
    info: Any  # TypeInfo or None
    default: Any
    required: bool
    many: bool  # a list-like query parameter: every value of a repeated name


@dataclass(slots=True)
class FeatureArgs:
    """How to read a feature's arguments from a request, worked out once per route."""

    params: list[FeatureArg]
    needs_query: bool
    needs_body: bool
    needs_request: bool


def feature_args(feat: FeatureMeta) -> FeatureArgs:
    specs = []
    for p in feat.params:
        many = p.source == "query" and _is_list(p.annotation)
        specs.append(FeatureArg(p.name, p.source, p.info, p.default, p.required, many))
    return FeatureArgs(
        specs,
        needs_query=any(s.source in ("query", "path") for s in specs),
        needs_body=any(s.source == "body" for s in specs),
        needs_request=any(s.source == "request" for s in specs),
    )


_LISTS = (list, tuple, set, frozenset)


def _is_list(tp: Any) -> bool:
    """``list[str]``, ``set[int] | None``: a query parameter collecting repeated values."""
    if typing.get_origin(tp) in _LISTS:
        return True
    return any(typing.get_origin(a) in _LISTS for a in typing.get_args(tp))


def bad_json(exc: Exception) -> ValidationError:
    return ValidationError(
        f"the request body is not valid JSON: {exc}",
        details=[{"loc": ["body"], "msg": str(exc), "expected": "JSON", "input": None}],
        status=400,
    )


def _missing(loc: str, spec: FeatureArg) -> dict[str, Any]:
    return {
        "loc": [loc, spec.name],
        "msg": f"missing required {loc} parameter {spec.name!r}",
        "expected": describe(spec.info.annotation) if spec.info is not None else None,
        "input": None,
    }


def build_kwargs(
    args: FeatureArgs,
    path_params: dict[str, str],
    suffix: str | None,
    query_string: bytes,
    body: bytes,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """Keyword arguments for the handler; ``extra`` maps 'context'/'request' to their values."""
    query: dict[str, list[str]] = {}
    if args.needs_query and query_string:
        for k, v in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            query.setdefault(k, []).append(v)
    kwargs: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for spec in args.params:
        src = spec.source
        if src in ("context", "request"):
            kwargs[spec.name] = extra[src]
            continue
        if src == "suffix":
            kwargs[spec.name] = suffix or ""
            continue
        raw: Any
        loc = src
        if src == "path":
            raw = path_params.get(spec.name)
            if raw is None and spec.name in query:  # an absent optional segment: the query fills
                raw, loc = query[spec.name][-1], "query"
        elif src == "query":
            values = query.get(spec.name)
            raw = None if values is None else (values if spec.many else values[-1])
        else:  # body
            if not body.strip():
                raw = None
            else:
                try:
                    raw = json_decode(body)
                except Exception as exc:
                    raise bad_json(exc) from None
        if raw is None:
            if not spec.required:
                kwargs[spec.name] = spec.default
            elif src == "body" and spec.info is not None and _accepts_none(spec.info):
                kwargs[spec.name] = None
            else:
                problems.append(_missing(loc, spec))
            continue
        if spec.info is None:
            kwargs[spec.name] = raw
            continue
        try:
            kwargs[spec.name] = spec.info.validate(raw, strict=src == "body", loc=(loc, spec.name))
        except ValidationError as err:
            problems.extend(err.details or [])
    if problems:
        raise _validation_error([_redacted(p) for p in problems])
    return kwargs


def _redacted(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem about a URL value says what kind of value came, never the value: URLs end up
    in logs and histories, and a key pasted into a query string must not travel further."""
    loc = problem.get("loc") or []
    raw = problem.get("input")
    if loc and loc[0] in ("path", "query") and raw is not None:
        size = f" of {len(raw)} characters" if isinstance(raw, str) else ""
        problem = {**problem, "input": f"<{type(raw).__name__}{size}, not shown>"}
    return problem


def _accepts_none(info: Any) -> bool:
    ann = info.annotation
    return ann is type(None) or type(None) in typing.get_args(ann)
