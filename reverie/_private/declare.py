"""The declaration API: decorators that only record data on a plain class.

``@service`` gathers what ``@endpoint``, ``@feature``, ``config()``, ``depends()`` and the lifecycle
hooks recorded into one ``ServiceMeta`` at class-definition time, and checks it there, so bad markup
fails at import. Binding, configuring and linking are the host's job (nameko's split).
"""

from __future__ import annotations

import difflib
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

from reverie.errors import MarkupError

from .binding import Binding, BindingSyntaxError, parse_binding
from .types import TypeInfo, UnsupportedTypeError, stream_item_type, type_info

__all__ = [
    "REQUIRED",
    "ConfigKey",
    "Dependency",
    "EndpointMeta",
    "FeatureMeta",
    "FeatureParam",
    "ServiceMeta",
    "api",
    "config",
    "depends",
    "endpoint",
    "feature",
    "get_meta",
    "is_service",
    "on_config",
    "on_shutdown",
    "on_start",
    "service",
]

T = TypeVar("T")
C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


class _Required:
    """Marks a config key with no default: the deployment must set it."""

    _inst: _Required | None = None

    def __new__(cls) -> _Required:
        if cls._inst is None:
            cls._inst = super().__new__(cls)
        return cls._inst

    def __repr__(self) -> str:
        return "REQUIRED"

    def __reduce__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

ACCESS_LEVELS = ("public", "internal", "private")
SID_SCHEME = "sid://"


# -- config keys ----------------------------------------------------------------------------------


class ConfigKey:
    """A typed config key declared as ``name: T = config(default, "description")``.

    Until the host configures the instance, reading the attribute gives the default (or raises
    for a required key); the host writes the resolved value into the instance's ``__dict__``.
    """

    __slots__ = ("annotation", "attr", "default", "description", "name", "owner", "secret", "uri")

    def __init__(self, default: Any, description: str, secret: bool, name: str | None) -> None:
        self.default = default
        self.description = description
        self.secret = secret
        self.name = name or ""
        self.attr = ""
        self.owner = ""
        self.annotation: Any = Any
        self.uri = False

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def info(self) -> TypeInfo:
        return type_info(self.annotation)

    def __set_name__(self, owner: type, name: str) -> None:
        self.attr = name
        self.name = self.name or name
        self.owner = owner.__name__

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> ConfigKey: ...
    @overload
    def __get__(self, obj: object, objtype: type | None = None) -> Any: ...
    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        if self.default is REQUIRED:
            raise AttributeError(
                f"config key {self.owner}.{self.name} is required and this instance has not been "
                f"configured; run it in a host (or reverie.testing.run_graph) or set it explicitly"
            )
        return self.default

    def __repr__(self) -> str:
        return f"ConfigKey({self.owner}.{self.name}: {type_info(self.annotation).name})"


def config(
    default: Any = REQUIRED, description: str = "", *, secret: bool = False, name: str | None = None
) -> Any:
    """Declare a config key; its type comes from the class annotation.

    ``name`` sets the key's external name when it is not a Python identifier (``"feed.uri"``).
    """
    if name is not None and (not isinstance(name, str) or not name or " " in name):
        raise MarkupError(f"config(name={name!r}): a key name is a non-empty string without spaces")
    return ConfigKey(default, description, secret, name)


# -- dependencies ---------------------------------------------------------------------------------


class Dependency:
    """``worker = depends(Worker)``: becomes a client when the host links the instance."""

    __slots__ = ("name", "optional", "owner", "target")

    def __init__(self, target: type | str, optional: bool) -> None:
        self.target = target
        self.optional = optional
        self.name = ""
        self.owner = ""

    @property
    def target_name(self) -> str:
        """A SID, or the class name of a class target."""
        if isinstance(self.target, str):
            return self.target
        return self.target.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.owner = owner.__name__

    def __get__(self, obj: object | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        raise AttributeError(
            f"dependency {self.owner}.{self.name} -> {self.target_name} is not linked yet; "
            f"clients exist once the host links the instance (from on_start on), or use "
            f"reverie.testing.run_graph in tests"
        )

    def __repr__(self) -> str:
        return f"depends({self.target_name!r}{', optional=True' if self.optional else ''})"


def depends(target: type | str, *, optional: bool = False) -> Any:
    """Declare a dependency on a service class or a SID."""
    if isinstance(target, str):
        if not target.startswith(SID_SCHEME):
            raise MarkupError(
                f"depends({target!r}): a string target must be a SID starting with 'sid://'",
                fix="pass the service class, or its SID such as 'sid://example.org/2026/worker'",
            )
    elif not isinstance(target, type):
        raise MarkupError(
            f"depends({target!r}): the target must be a service class or a SID string"
        )
    return Dependency(target, optional)


# -- endpoints and features -----------------------------------------------------------------------


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
            + _did_you_mean(access, ACCESS_LEVELS)
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


# -- the service ----------------------------------------------------------------------------------


@dataclass
class ServiceMeta:
    """Everything the markup of one service class says. Derived once, at class definition."""

    cls: type
    name: str
    namespace: str
    sids: list[str]
    version: str | None
    description: str
    copyright: str | None
    info: str | None
    workers: int
    resources: dict[str, Any]
    config_values: dict[str, Any]
    config_keys: dict[str, ConfigKey]
    endpoints: dict[str, EndpointMeta]
    features: list[FeatureMeta]
    dependencies: dict[str, Dependency]
    hooks: dict[str, list[str]]

    # Introspection in the seed's DynamoService terms.
    @property
    def component_name(self) -> str:
        return self.name

    @property
    def namespace_name(self) -> str:
        return self.namespace

    def list_endpoints(self) -> list[str]:
        return list(self.endpoints)

    def has_endpoint(self, name: str) -> bool:
        return name in self.endpoints

    def get_endpoint(self, name: str) -> EndpointMeta:
        try:
            return self.endpoints[name]
        except KeyError:
            raise MarkupError(
                f"no endpoint {name!r}; endpoints: {', '.join(self.endpoints) or 'none'}"
                + _did_you_mean(name, self.endpoints),
                service=self.name,
            ) from None

    @property
    def qualname(self) -> str:
        return f"{self.cls.__module__}:{self.cls.__qualname__}"


_SERVICE_KW = (
    "sid",
    "name",
    "namespace",
    "version",
    "description",
    "copyright",
    "info",
    "workers",
    "resources",
    "config",
)


def _did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def service(cls: C | None = None, /, **kwargs: Any) -> Any:
    """Declare a service class. Keywords: sid, name, namespace, version, description, copyright,
    info, workers, resources (deployment defaults), config (decorator-level config values)."""
    for key in kwargs:
        if key not in _SERVICE_KW:
            raise TypeError(
                f"@service() got an unknown keyword {key!r}{_did_you_mean(key, _SERVICE_KW)}; "
                f"accepted: {', '.join(_SERVICE_KW)}"
            )
    if cls is not None:
        return _build(cls, kwargs)

    def wrap(c: C) -> C:
        return typing.cast(C, _build(c, kwargs))

    return wrap


def _build(cls: Any, kw: dict[str, Any]) -> Any:
    if not isinstance(cls, type):
        raise MarkupError(f"@service must decorate a class, not {cls!r}")
    name = kw.get("name") or cls.__name__
    sids = kw.get("sid") or []
    if not isinstance(sids, (list, tuple)):
        sids = [sids]
    for sid in sids:
        if (
            not isinstance(sid, str)
            or not sid.startswith(SID_SCHEME)
            or len(sid) <= len(SID_SCHEME)
        ):
            raise MarkupError(
                f"SID {sid!r} is not a sid:// URI",
                service=name,
                fix="write it like 'sid://example.org/2026/worker'",
            )
    workers = kw.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise MarkupError(f"workers={workers!r} must be an integer >= 1", service=name)
    resources = dict(kw.get("resources") or {})
    for rkey in resources:
        if rkey not in ("cpu", "gpu", "memory"):
            raise MarkupError(
                f"unknown resource {rkey!r}{_did_you_mean(rkey, ('cpu', 'gpu', 'memory'))}; "
                f"resources are cpu, gpu and memory",
                service=name,
            )
    namespace = kw.get("namespace", "default")
    for label, value in (("name", name), ("namespace", namespace)):
        if not isinstance(value, str) or not value or any(c in value for c in " ./*>$"):
            raise MarkupError(
                f"{label} {value!r} must be a non-empty string without spaces, '.', '/', '*', "
                f"'>' or '$' (it becomes part of NATS subjects and URL paths)",
                service=cls.__name__,
            )

    try:
        hints = typing.get_type_hints(cls)
    except NameError as exc:
        raise MarkupError(
            f"cannot resolve an annotation: {exc}",
            service=name,
            fix="define or import the type before the class",
        ) from None

    config_keys: dict[str, ConfigKey] = {}
    dependencies: dict[str, Dependency] = {}
    endpoints: dict[str, EndpointMeta] = {}
    features: list[FeatureMeta] = []
    hooks: dict[str, list[str]] = {"on_start": [], "on_shutdown": [], "on_config": []}

    for klass in reversed(cls.__mro__):
        for attr, value in vars(klass).items():
            if isinstance(value, ConfigKey):
                value.annotation = hints.get(attr, Any)
                try:
                    value.info  # noqa: B018 - fail at import for an unsupported type
                except UnsupportedTypeError as exc:
                    raise MarkupError(f"config key {attr}: {exc}", service=name) from None
                value.uri = _is_uri_type(value.annotation)
                config_keys[attr] = value
            elif isinstance(value, Dependency):
                dependencies[attr] = value
    for attr in list(config_keys):
        if not isinstance(inspect.getattr_static(cls, attr), ConfigKey):
            del config_keys[attr]  # overridden by a plain attribute in a subclass
    # Keyed by the external name ("feed.uri"), which may differ from the attribute (feed_uri).
    config_keys = {k.name: k for k in config_keys.values()}

    for attr in dir(cls):
        func = inspect.getattr_static(cls, attr, None)
        marks: list[_Pending] = getattr(func, "__reverie_marks__", None) or []
        for mark in marks:
            if mark.kind == "endpoint":
                ep = _endpoint_meta(name, attr, func, mark.options)
                if ep.name in endpoints:
                    raise MarkupError(
                        f"two methods declare endpoint {ep.name!r}: {endpoints[ep.name].method} "
                        f"and {attr}",
                        service=name,
                        fix="give one of them @endpoint(name=...)",
                    )
                endpoints[ep.name] = ep
            elif mark.kind == "feature":
                features.append(_feature_meta(name, attr, func, mark.options))
            else:
                hooks[mark.options["kind"]].append(attr)

    seen: dict[str, str] = {}
    for feat in features:
        key = str(feat.binding)
        if key in seen:
            raise MarkupError(
                f"two methods bind {key}: {seen[key]} and {feat.method}", service=name
            )
        seen[key] = feat.method

    try:
        required = [
            p.name
            for p in inspect.signature(cls).parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    except (TypeError, ValueError):
        required = []
    if required:
        raise MarkupError(
            f"a service must be constructible with no arguments, but __init__ requires "
            f"{', '.join(required)}",
            service=name,
            fix="take settings through config() keys instead",
        )

    decorator_config = dict(kw.get("config") or {})
    for key in decorator_config:
        if key not in config_keys:
            raise MarkupError(
                f"@service(config=...) sets unknown config key {key!r}"
                f"{_did_you_mean(key, config_keys)}; declared keys: "
                f"{', '.join(config_keys) or 'none'}",
                service=name,
            )

    meta = ServiceMeta(
        cls=cls,
        name=name,
        namespace=namespace,
        sids=list(sids),
        version=kw.get("version"),
        description=kw.get("description") or inspect.getdoc(cls) or "",
        copyright=kw.get("copyright"),
        info=kw.get("info"),
        workers=workers,
        resources=resources,
        config_values=decorator_config,
        config_keys=config_keys,
        endpoints=endpoints,
        features=sorted(features, key=lambda f: f.binding.specificity()),
        dependencies=dependencies,
        hooks=hooks,
    )
    setattr(cls, "__reverie_service__", meta)  # noqa: B010 - a dunder mypy cannot see
    return cls


def _is_uri_type(tp: Any) -> bool:
    from .uri import URI

    return tp is URI or URI in typing.get_args(tp)


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


# -- lookups --------------------------------------------------------------------------------------


def is_service(obj: Any) -> bool:
    """True for a class decorated with ``@service`` (not a subclass that was not)."""
    return isinstance(obj, type) and "__reverie_service__" in obj.__dict__


def get_meta(cls: Any) -> ServiceMeta:
    """The ``ServiceMeta`` of a service class or instance."""
    klass = cls if isinstance(cls, type) else type(cls)
    meta = klass.__dict__.get("__reverie_service__")
    if meta is None:
        raise MarkupError(
            f"{getattr(klass, '__qualname__', klass)!r} is not a service",
            fix="decorate the class with @reverie.service(...)",
        )
    return typing.cast(ServiceMeta, meta)
