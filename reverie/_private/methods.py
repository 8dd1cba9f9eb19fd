"""Method-level markup: ``@endpoint``, ``@feature``, ``@api`` and the lifecycle hooks.

The decorators only record options on the function; ``@service`` turns them into
``EndpointMeta``/``FeatureMeta`` with the signature checks below, so a bad signature fails when
the class is defined.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reverie.errors import MarkupError

from .binding import Binding, BindingSyntaxError, parse_binding
from .members import REQUIRED
from .suggest import did_you_mean
from .types import TypeInfo, UnsupportedTypeError, stream_item_type, type_info

__all__ = [
    "ACCESS_LEVELS",
    "EndpointMeta",
    "FeatureMeta",
    "FeatureParam",
    "api",
    "endpoint",
    "feature",
    "on_config",
    "on_shutdown",
    "on_start",
]

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_LEVELS = ("public", "internal", "private")


@dataclass
class EndpointMeta:
    """An RPC endpoint: unary (``async def``) or streaming (async generator)."""

    name: str
    method: str
    streaming: bool
    request_param: str | None
    request_type: Any
    response_type: Any
    idempotent: bool = False
    description: str = ""
    request_info: TypeInfo = field(init=False, repr=False)
    response_info: TypeInfo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.request_info = type_info(self.request_type)
        self.response_info = type_info(self.response_type)


@dataclass
class FeatureParam:
    """A feature parameter and where it comes from: path, query, body, suffix or context."""

    name: str
    annotation: Any
    source: str
    default: Any = REQUIRED
    info: TypeInfo | None = field(default=None, repr=False)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class FeatureMeta:
    """An HTTP feature bound to ``VERB:path``."""

    binding: Binding
    method: str
    access: str
    description: str
    params: list[FeatureParam]
    response_type: Any
    streaming: bool

    @property
    def verb(self) -> str:
        return self.binding.verb

    @property
    def pattern(self) -> str:
        return self.binding.pattern


@dataclass
class _Pending:
    """What a method decorator recorded; ``@service`` turns it into metadata."""

    kind: str  # "endpoint" | "feature" | "hook"
    options: dict[str, Any]


def _pending(func: Any) -> list[_Pending]:
    marks: list[_Pending] | None = getattr(func, "__reverie_marks__", None)
    if marks is None:
        marks = []
        try:
            func.__reverie_marks__ = marks
        except AttributeError:
            raise MarkupError(
                f"{func!r} cannot carry Reverie markup; decorate a plain 'async def' method"
            ) from None
    return marks


def _check_async(func: Any, what: str) -> None:
    if not callable(func) or isinstance(func, (staticmethod, classmethod)):
        raise MarkupError(
            f"{what} must decorate an instance method defined with 'async def'",
            member=getattr(func, "__qualname__", repr(func)),
        )
    if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
        raise MarkupError(
            f"{what} needs an 'async def' method (a coroutine or an async generator), but this "
            f"is a plain function",
            member=getattr(func, "__qualname__", repr(func)),
            fix=f"write 'async def {getattr(func, '__name__', 'name')}(...)'",
        )


def endpoint(
    name: str | None = None, *, idempotent: bool = False, description: str = ""
) -> Callable[[F], F]:
    """Mark an RPC endpoint: ``async def`` is unary, an async generator is streaming."""
    if callable(name):
        raise MarkupError(
            "use @endpoint() with parentheses", member=getattr(name, "__qualname__", None)
        )
    if name is not None and (
        not isinstance(name, str) or not name or any(c in name for c in " ./*>$")
    ):
        raise MarkupError(
            f"@endpoint(name={name!r}): an endpoint name must be a non-empty string without "
            f"spaces, '.', '/', '*', '>' or '$' (it becomes part of NATS subjects and URL paths)"
        )

    def mark(func: F) -> F:
        _check_async(func, "@endpoint")
        _pending(func).append(
            _Pending(
                "endpoint",
                {
                    "name": name or func.__name__,
                    "idempotent": idempotent,
                    "description": description,
                },
            )
        )
        return func

    return mark


def feature(binding: str, description: str = "", *, access: str = "public") -> Callable[[F], F]:
    """Mark an HTTP feature bound to a Dream-style ``VERB:path``."""
    try:
        parsed = parse_binding(binding)
    except BindingSyntaxError as exc:
        raise MarkupError(str(exc)) from None
    if access not in ACCESS_LEVELS:
        raise MarkupError(
            f"@feature({binding!r}): access {access!r} is not one of {', '.join(ACCESS_LEVELS)}"
            + did_you_mean(access, ACCESS_LEVELS)
        )

    def mark(func: F) -> F:
        _check_async(func, f"@feature({binding!r})")
        _pending(func).append(
            _Pending("feature", {"binding": parsed, "access": access, "description": description})
        )
        return func

    return mark


def api(func: F | None = None, *, access: str = "public", description: str = "") -> Any:
    """Shorthand for ``@feature("POST:<method name>")``."""

    def mark(f: F) -> F:
        return feature(f"POST:{f.__name__}", description, access=access)(f)

    if func is not None:
        return mark(func)
    return mark


def _hook(kind: str) -> Callable[[F], F]:
    def mark(func: F) -> F:
        if not callable(func):
            raise MarkupError(f"@{kind} must decorate a method")
        _pending(func).append(_Pending("hook", {"kind": kind}))
        return func

    mark.__name__ = kind
    mark.__doc__ = f"Run this method at {kind.removeprefix('on_')} (sync or async)."
    return mark


on_start = _hook("on_start")
on_shutdown = _hook("on_shutdown")
on_config = _hook("on_config")


def _hints(service: str, attr: str, func: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func)
    except NameError as exc:
        raise MarkupError(
            f"cannot resolve an annotation: {exc}",
            service=service,
            member=attr,
            fix="define or import the type before the class",
        ) from None


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


def _endpoint_meta(service: str, attr: str, func: Any, opts: dict[str, Any]) -> EndpointMeta:
    params = _params(service, attr, func)
    hints = _hints(service, attr, func)
    if len(params) > 1:
        raise MarkupError(
            f"an endpoint takes at most one request argument, this one takes "
            f"{len(params)} ({', '.join(p.name for p in params)})",
            service=service,
            member=attr,
            fix="wrap the values in one model (pydantic, dataclass, TypedDict or Struct)",
        )
    req_name = None
    req_type: Any = type(None)
    if params:
        p = params[0]
        if p.kind is p.KEYWORD_ONLY:
            raise MarkupError(
                f"the request argument {p.name} must not be keyword-only",
                service=service,
                member=attr,
            )
        req_name = p.name
        req_type = hints.get(p.name, Any)
        _type_or_fail(service, attr, f"request type of {p.name}", req_type)
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
    )


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


def _feature_meta(service: str, attr: str, func: Any, opts: dict[str, Any]) -> FeatureMeta:
    from .context import RequestContext

    binding: Binding = opts["binding"]
    params = _params(service, attr, func)
    hints = _hints(service, attr, func)
    by_name = {p.name: p for p in params}
    for pname in binding.params:
        if pname not in by_name:
            raise MarkupError(
                f"binding {binding.text} names {{{pname}}} but the method has no parameter "
                f"{pname!r}",
                service=service,
                member=attr,
                fix=f"add a parameter '{pname}: str' (or int, ...)",
            )
    optional_path = {s.value for s in binding.segments if s.kind == "param" and s.optional}
    out: list[FeatureParam] = []
    bodies = []
    for p in params:
        tp = hints.get(p.name, Any if p.annotation is p.empty else p.annotation)
        default = REQUIRED if p.default is p.empty else p.default
        if tp is RequestContext:
            out.append(FeatureParam(p.name, tp, "context", default))
            continue
        if getattr(tp, "__reverie_request__", False):
            out.append(FeatureParam(p.name, tp, "request", default))
            continue
        if p.name in binding.params:
            source = "path"
            if p.name in optional_path and default is REQUIRED:
                raise MarkupError(
                    f"path parameter {{{p.name}}} is optional in {binding.text}, so parameter "
                    f"{p.name!r} needs a default",
                    service=service,
                    member=attr,
                    fix=f"write '{p.name}: ... = None'",
                )
        elif p.name == "suffix" and binding.catch_all:
            source = "suffix"
        elif _is_scalar(tp) or tp is Any:
            source = "query"
        else:
            source = "body"
            bodies.append(p.name)
        info = _type_or_fail(service, attr, f"parameter {p.name}", tp)
        out.append(FeatureParam(p.name, tp, source, default, info))
    if len(bodies) > 1:
        raise MarkupError(
            f"parameters {', '.join(bodies)} would all come from the request body; a feature "
            f"takes at most one body parameter",
            service=service,
            member=attr,
            fix="wrap them in one model",
        )
    if bodies and binding.verb in ("GET", "HEAD", "DELETE", "OPTIONS"):
        raise MarkupError(
            f"parameter {bodies[0]!r} has a structured type and would come from the body, but "
            f"{binding.verb} requests carry no body",
            service=service,
            member=attr,
            fix="use scalar query parameters, or bind POST/PUT/PATCH",
        )
    streaming, resp = _response(service, attr, func, hints)
    return FeatureMeta(
        binding=binding,
        method=attr,
        access=opts["access"],
        description=opts["description"] or (inspect.getdoc(func) or "").split("\n")[0],
        params=out,
        response_type=resp,
        streaming=streaming,
    )
