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

from ..suggest import did_you_mean
from .config_key import REQUIRED
from .names import NAME_RULE, is_name, safe_name
from .pattern import FeaturePattern, PatternSyntaxError, parse_pattern
from .types import TypeInfo, UnsupportedTypeError, stream_item_type, type_info

__all__ = [
    "ACCESS_LEVELS",
    "EndpointMeta",
    "EndpointParam",
    "FeatureMeta",
    "FeatureParam",
    "Param",
    "api",
    "endpoint",
    "feature",
    "on_config",
    "on_shutdown",
    "on_start",
]

F = TypeVar("F", bound=Callable[..., Any])

ACCESS_LEVELS = ("public", "internal", "private")


class Param:
    """Documents one parameter of a feature or endpoint:
    ``limit: Annotated[int, Param("how many to return")] = 10``. Shown in blueprint and OpenAPI."""

    __slots__ = ("description",)

    def __init__(self, description: str) -> None:
        if not isinstance(description, str):
            raise MarkupError(f"Param({description!r}): the description must be a string")
        self.description = description

    def __repr__(self) -> str:
        return f"Param({self.description!r})"


@dataclass
class EndpointParam:
    """One named parameter of an endpoint method."""

    name: str
    annotation: Any
    default: Any = REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class EndpointMeta:
    """An RPC endpoint: unary (``async def``) or streaming (async generator).

    With one parameter the request is that value; with several (``keywords``) the request is an
    object whose fields are the parameters (``request_type`` is made from the signature) and the
    method is called with keyword arguments.
    """

    name: str
    method: str
    streaming: bool
    request_param: str | None
    request_type: Any
    response_type: Any
    idempotent: bool = False
    description: str = ""
    params: list[EndpointParam] = field(default_factory=list)
    keywords: bool = False
    timeout: float | None = None
    request_info: TypeInfo = field(init=False, repr=False)
    response_info: TypeInfo = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.request_info = type_info(self.request_type)
        self.response_info = type_info(self.response_type)

    @property
    def request_required(self) -> bool:
        """Whether a caller must pass a request (a single parameter without a default)."""
        if self.request_param is None or self.keywords:
            return False
        return self.params[0].required if self.params else True

    def missing_request(self) -> Any:
        """The request used when the caller passes none: the parameter's default, ``{}`` for a
        keyword endpoint (validation then names any required field), ``REQUIRED`` if needed."""
        if self.keywords:
            return {}
        if self.params and not self.params[0].required:
            return self.params[0].default
        return REQUIRED


@dataclass
class FeatureParam:
    """A feature parameter and where it comes from: path, query, body, suffix or context."""

    name: str
    annotation: Any
    source: str
    default: Any = REQUIRED
    info: TypeInfo | None = field(default=None, repr=False)
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class FeatureMeta:
    """An HTTP feature bound to ``VERB:path``."""

    verb_path: FeaturePattern
    method: str
    access: str
    description: str
    params: list[FeatureParam]
    response_type: Any
    streaming: bool

    @property
    def verb(self) -> str:
        return self.verb_path.verb

    @property
    def pattern(self) -> str:
        return self.verb_path.pattern


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
    name: str | None = None,
    *,
    idempotent: bool = False,
    description: str = "",
    timeout: float | None = None,
) -> Callable[[F], F]:
    """Mark an RPC endpoint: ``async def`` is unary, an async generator is streaming.

    ``timeout`` (seconds) is the deadline of a call that arrives without one."""
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise MarkupError(f"@endpoint(timeout={timeout!r}): a timeout is a number of seconds > 0")
    if callable(name):
        raise MarkupError(
            "use @endpoint() with parentheses", member=getattr(name, "__qualname__", None)
        )
    if name is not None and not is_name(name):
        raise MarkupError(
            f"@endpoint(name={name!r}): an endpoint name must be {NAME_RULE} (it becomes a "
            f"NATS subject token and part of URL paths)",
            fix=f"@endpoint(name={safe_name(name)!r})",
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
                    "timeout": timeout,
                },
            )
        )
        return func

    return mark


def feature(pattern: str, description: str = "", *, access: str = "public") -> Callable[[F], F]:
    """Mark an HTTP feature bound to a ``VERB:path`` pattern."""
    try:
        parsed = parse_pattern(pattern)
    except PatternSyntaxError as exc:
        raise MarkupError(str(exc)) from None
    if access not in ACCESS_LEVELS:
        raise MarkupError(
            f"@feature({pattern!r}): access {access!r} is not one of {', '.join(ACCESS_LEVELS)}"
            + did_you_mean(access, ACCESS_LEVELS)
        )

    def mark(func: F) -> F:
        _check_async(func, f"@feature({pattern!r})")
        _pending(func).append(
            _Pending("feature", {"pattern": parsed, "access": access, "description": description})
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


def _endpoint_meta(service: str, attr: str, func: Any, opts: dict[str, Any]) -> EndpointMeta:
    params = _params(service, attr, func)
    hints = _hints(service, attr, func)
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


def _feature_meta(service: str, attr: str, func: Any, opts: dict[str, Any]) -> FeatureMeta:
    from ..call.context import RequestContext

    pattern: FeaturePattern = opts["pattern"]
    params = _params(service, attr, func)
    hints = _hints(service, attr, func)
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
    optional_path = {s.value for s in pattern.segments if s.kind == "param" and s.optional}
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
        if p.name in pattern.params:
            source = "path"
            if p.name in optional_path and default is REQUIRED:
                raise MarkupError(
                    f"path parameter {{{p.name}}} is optional in {pattern.text}, so parameter "
                    f"{p.name!r} needs a default",
                    service=service,
                    member=attr,
                    fix=f"write '{p.name}: ... = None'",
                )
        elif p.name == "suffix" and pattern.catch_all:
            source = "suffix"
        elif _is_scalar(tp) or tp is Any:
            source = "query"
        else:
            source = "body"
            bodies.append(p.name)
        info = _type_or_fail(service, attr, f"parameter {p.name}", tp)
        out.append(FeatureParam(p.name, tp, source, default, info, docs.get(p.name, "")))
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
