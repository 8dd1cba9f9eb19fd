"""From a decorated method's signature to its ``EndpointMeta``/``FeatureMeta``: parameter
types, descriptions from the docstring, the request model, where each feature parameter comes
from (path, query, body), the response type. Run by ``@service`` at class definition, so a bad
signature fails at import."""

from __future__ import annotations

import inspect
import typing
from typing import Any

from reverie.errors import MarkupError

from .config_key import REQUIRED
from .handlers import EndpointMeta, EndpointParam, FeatureMeta, FeatureParam, Param
from .pattern import FeaturePattern
from .types import TypeInfo, UnsupportedTypeError, stream_item_type, type_info

__all__ = ["endpoint_meta", "feature_meta", "type_hints"]


def type_hints(service: str, attr: str, func: Any, what: str = "type") -> dict[str, Any]:
    """The resolved annotations of ``func``; a MarkupError naming the member when one cannot
    be resolved."""
    try:
        return typing.get_type_hints(func)
    except NameError as exc:
        raise MarkupError(
            f"cannot resolve an annotation: {exc}",
            service=service,
            member=attr,
            fix=f"define or import the {what} before the class",
        ) from None


def _descriptions(func: Any) -> dict[str, str]:
    """``Param("...")`` descriptions from ``Annotated`` parameter annotations."""
    try:
        extras = typing.get_type_hints(func, include_extras=True)
    except Exception:
        return {}
    out: dict[str, str] = {}
    for pname, tp in extras.items():
        if typing.get_origin(tp) is typing.Annotated:
            for meta in tp.__metadata__:
                if isinstance(meta, Param):
                    out[pname] = meta.description
    return out


def _params(service: str, attr: str, func: Any) -> list[inspect.Parameter]:
    params = list(inspect.signature(func).parameters.values())
    if not params or params[0].name != "self":
        raise MarkupError(
            "must be an instance method whose first parameter is 'self'",
            service=service,
            member=attr,
        )
    for p in params[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise MarkupError(
                f"parameter {'*' if p.kind is p.VAR_POSITIONAL else '**'}{p.name} is not "
                f"supported; declare each parameter by name",
                service=service,
                member=attr,
            )
    return params[1:]


def _type_or_fail(service: str, attr: str, what: str, tp: Any) -> TypeInfo:
    try:
        return type_info(tp)
    except UnsupportedTypeError as exc:
        raise MarkupError(f"{what}: {exc}", service=service, member=attr) from None


def _response(service: str, attr: str, func: Any, hints: dict[str, Any]) -> tuple[bool, Any]:
    streaming = inspect.isasyncgenfunction(func)
    ret = hints.get("return", Any)
    is_stream_ann, item = stream_item_type(ret)
    if streaming and ret is not Any and not is_stream_ann:
        raise MarkupError(
            f"is an async generator but its return annotation is {ret!r}",
            service=service,
            member=attr,
            fix="annotate it as AsyncIterator[ItemType]",
        )
    if not streaming and is_stream_ann:
        raise MarkupError(
            "is annotated to return an async iterator but never yields; a coroutine "
            "returning an iterator is not a streaming endpoint",
            service=service,
            member=attr,
            fix="make it an async generator ('yield' items)",
        )
    resp = item if streaming else ret
    if resp is type(None):
        resp = type(None)
    _type_or_fail(service, attr, "response type", resp)
    return streaming, resp


def endpoint_meta(service: str, attr: str, func: Any, opts: dict[str, Any]) -> EndpointMeta:
    params = _params(service, attr, func)
    hints = type_hints(service, attr, func)
    docs = _descriptions(func)
    eparams: list[EndpointParam] = []
    for p in params:
        tp = hints.get(p.name, Any)
        what = f"request type of {p.name}" if len(params) == 1 else f"parameter {p.name}"
        _type_or_fail(service, attr, what, tp)
        default = REQUIRED if p.default is p.empty else p.default
        eparams.append(EndpointParam(p.name, tp, default, docs.get(p.name, "")))
    keywords = len(params) > 1
    req_name = None
    req_type: Any = type(None)
    if keywords:
        for p in params:
            if p.name == "timeout":
                raise MarkupError(
                    "parameter 'timeout' clashes with the client's per-call timeout keyword",
                    service=service,
                    member=attr,
                    fix="rename the parameter (for example 'timeout_s')",
                )
        req_name = ", ".join(p.name for p in params)
        req_type = _request_model(service, attr, opts["name"], eparams)
    elif params:
        p = params[0]
        if p.kind is p.KEYWORD_ONLY:
            raise MarkupError(
                f"the request argument {p.name} must not be keyword-only",
                service=service,
                member=attr,
            )
        req_name = p.name
        req_type = eparams[0].annotation
    streaming, resp = _response(service, attr, func, hints)
    return EndpointMeta(
        name=opts["name"],
        method=attr,
        streaming=streaming,
        request_param=req_name,
        request_type=req_type,
        response_type=resp,
        idempotent=opts["idempotent"],
        description=opts["description"] or (inspect.getdoc(func) or "").split("\n")[0],
        params=eparams,
        keywords=keywords,
        timeout=opts.get("timeout"),
    )


def _request_model(service: str, attr: str, name: str, params: list[EndpointParam]) -> Any:
    """The request type of a keyword endpoint: one field per parameter, defaults kept.

    A pydantic model when a parameter type mentions pydantic, else a msgspec Struct (faster, and
    it keeps ``import reverie`` light); each ``Param`` description goes into the field's schema.
    """
    from .types import _mentions_pydantic

    title = "".join(part[:1].upper() + part[1:] for part in name.split("_")) + "Request"
    if any(_mentions_pydantic(p.annotation) for p in params):
        import pydantic

        fields: dict[str, Any] = {}
        for p in params:
            info = pydantic.Field(
                default=... if p.required else p.default, description=p.description or None
            )
            fields[p.name] = (p.annotation, info)
        model: Any = pydantic.create_model(
            title, __config__=pydantic.ConfigDict(extra="forbid"), **fields
        )
        model.__doc__ = f"The request of {service}.{name}."
    else:
        import msgspec

        sfields: list[Any] = []
        for p in params:
            tp = p.annotation
            if p.description:
                tp = typing.Annotated[tp, msgspec.Meta(description=p.description)]
            sfields.append((p.name, tp) if p.required else (p.name, tp, p.default))
        try:
            model = msgspec.defstruct(title, sfields, kw_only=True, forbid_unknown_fields=True)
        except TypeError as exc:
            raise MarkupError(f"parameters: {exc}", service=service, member=attr) from None
    _type_or_fail(service, attr, "request", model)
    return model


_SCALARS = (str, int, float, bool)


def _is_scalar(tp: Any) -> bool:
    import enum
    import uuid
    from datetime import date, datetime

    if (
        tp in _SCALARS
        or tp in (datetime, date, uuid.UUID)
        or (isinstance(tp, type) and issubclass(tp, enum.Enum))
    ):
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return all(_is_scalar(a) or a is type(None) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return True
    if origin in (list, tuple, set, frozenset):
        return all(_is_scalar(a) for a in typing.get_args(tp) if a is not Ellipsis)
    return False


def _feature_source(
    service: str, attr: str, pattern: FeaturePattern, name: str, tp: Any, default: Any
) -> str:
    """Where a feature's parameter comes from: the request context or object, the path, the
    catch-all suffix, the query (scalars) or the body (structured types)."""
    from ..call.context import RequestContext

    if tp is RequestContext:
        return "context"
    if getattr(tp, "__reverie_request__", False):
        return "request"
    if name in pattern.params:
        optional_path = {s.value for s in pattern.segments if s.kind == "param" and s.optional}
        if name in optional_path and default is REQUIRED:
            raise MarkupError(
                f"path parameter {{{name}}} is optional in {pattern.text}, so parameter "
                f"{name!r} needs a default",
                service=service,
                member=attr,
                fix=f"write '{name}: ... = None'",
            )
        return "path"
    if name == "suffix" and pattern.catch_all:
        return "suffix"
    if _is_scalar(tp) or tp is Any:
        return "query"
    return "body"


def feature_meta(service: str, attr: str, func: Any, opts: dict[str, Any]) -> FeatureMeta:
    pattern: FeaturePattern = opts["pattern"]
    params = _params(service, attr, func)
    hints = type_hints(service, attr, func)
    docs = _descriptions(func)
    by_name = {p.name: p for p in params}
    for pname in pattern.params:
        if pname not in by_name:
            raise MarkupError(
                f"pattern {pattern.text} names {{{pname}}} but the method has no parameter "
                f"{pname!r}",
                service=service,
                member=attr,
                fix=f"add a parameter '{pname}: str' (or int, ...)",
            )
    out: list[FeatureParam] = []
    for p in params:
        tp = hints.get(p.name, Any if p.annotation is p.empty else p.annotation)
        default = REQUIRED if p.default is p.empty else p.default
        source = _feature_source(service, attr, pattern, p.name, tp, default)
        if source in ("context", "request"):
            out.append(FeatureParam(p.name, tp, source, default))
            continue
        info = _type_or_fail(service, attr, f"parameter {p.name}", tp)
        out.append(FeatureParam(p.name, tp, source, default, info, docs.get(p.name, "")))
    bodies = [fp.name for fp in out if fp.source == "body"]
    if len(bodies) > 1:
        raise MarkupError(
            f"parameters {', '.join(bodies)} would all come from the request body; a feature "
            f"takes at most one body parameter",
            service=service,
            member=attr,
            fix="wrap them in one model",
        )
    if bodies and pattern.verb in ("GET", "HEAD", "DELETE", "OPTIONS"):
        raise MarkupError(
            f"parameter {bodies[0]!r} has a structured type and would come from the body, but "
            f"{pattern.verb} requests carry no body",
            service=service,
            member=attr,
            fix="use scalar query parameters, or bind POST/PUT/PATCH",
        )
    streaming, resp = _response(service, attr, func, hints)
    return FeatureMeta(
        verb_path=pattern,
        method=attr,
        access=opts["access"],
        description=opts["description"] or (inspect.getdoc(func) or "").split("\n")[0],
        params=out,
        response_type=resp,
        streaming=streaming,
    )
