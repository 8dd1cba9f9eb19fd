"""The declaration API: decorators that only record data on a plain class.

``@service`` gathers what ``@endpoint``, ``@feature``, ``config()``, ``depends()`` and the lifecycle
hooks recorded (see ``config_key``, ``dependency`` and ``handlers``) into one ``ServiceMeta`` at
class-definition time, and checks it there, so bad markup fails at import. Binding, configuring
and linking are the host's job.
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reverie.errors import MarkupError

from ..state.markup import StateMeta, state_meta
from ..suggest import did_you_mean
from .config_key import REQUIRED, ConfigKey, config
from .dependency import SID_SCHEME, Dependency, depends
from .handlers import (
    ACCESS_LEVELS,
    EndpointMeta,
    EndpointParam,
    FeatureMeta,
    FeatureParam,
    Param,
    _Pending,
    api,
    endpoint,
    feature,
    on_config,
    on_shutdown,
    on_start,
)
from .names import name_problem, safe_name
from .signatures import endpoint_meta, feature_meta
from .types import UnsupportedTypeError

__all__ = [
    "ACCESS_LEVELS",
    "REQUIRED",
    "ConfigKey",
    "Dependency",
    "EndpointMeta",
    "EndpointParam",
    "FeatureMeta",
    "FeatureParam",
    "Param",
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

C = TypeVar("C", bound=type)


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
    state: StateMeta | None = None  # declared state (reverie.state markup), if any
    #: Set by a compatibility layer (``"dynamo"``): its deployment sections may carry that
    #: framework's keys (``dynamo: {namespace, name}``) and undeclared plain values.
    dialect: str | None = None
    #: Environment of the service's worker processes, before the deployment's ``env:``.
    env: dict[str, str] = field(default_factory=dict)
    #: Container image, recorded in the serve plan (deployment tooling reads it from there).
    image: str | None = None

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
                + did_you_mean(name, self.endpoints),
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


def service(cls: C | None = None, /, **kwargs: Any) -> Any:
    """Declare a service class. Keywords: sid, name, namespace, version, description, copyright,
    info, workers, resources (deployment defaults), config (decorator-level config values)."""
    for key in kwargs:
        if key not in _SERVICE_KW:
            raise TypeError(
                f"@service() got an unknown keyword {key!r}{did_you_mean(key, _SERVICE_KW)}; "
                f"accepted: {', '.join(_SERVICE_KW)}"
            )
    if cls is not None:
        return _build(cls, kwargs)

    def wrap(c: C) -> C:
        return typing.cast(C, _build(c, kwargs))

    return wrap


def _build(cls: Any, kw: dict[str, Any]) -> Any:
    """Check the class's markup and record it as its ``ServiceMeta``; raises ``MarkupError``."""
    if not isinstance(cls, type):
        raise MarkupError(f"@service must decorate a class, not {cls!r}")
    name = kw.get("name") or cls.__name__
    sids = _sids(name, kw.get("sid"))
    workers, resources = _deployment_defaults(name, kw)
    namespace = kw.get("namespace", "default")
    for label, value in (("name", name), ("namespace", namespace)):
        problem = name_problem(label, value)
        if problem is not None:
            raise MarkupError(
                problem, service=cls.__name__, fix=f"@service({label}={safe_name(value)!r})"
            )
    config_keys, dependencies = _members(cls, name)
    endpoints, features, hooks, state_marks = _handlers(cls, name)
    _check_features(name, features, endpoints)
    _check_constructible(cls, name)
    meta = ServiceMeta(
        cls=cls,
        name=name,
        namespace=namespace,
        sids=sids,
        version=kw.get("version"),
        description=kw.get("description") or inspect.getdoc(cls) or "",
        copyright=kw.get("copyright"),
        info=kw.get("info"),
        workers=workers,
        resources=resources,
        config_values=_decorator_config(name, kw, config_keys),
        config_keys=config_keys,
        endpoints=endpoints,
        features=sorted(features, key=lambda f: f.verb_path.specificity()),
        dependencies=dependencies,
        hooks=hooks,
        state=state_meta(name, cls, state_marks),
    )
    setattr(cls, "__reverie_service__", meta)  # noqa: B010 - a dunder mypy cannot see
    return cls


def _sids(name: str, given: Any) -> list[str]:
    """``sid=`` as a list; each must be a ``sid://`` URI."""
    sids = given or []
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
    return list(sids)


def _deployment_defaults(name: str, kw: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``workers=`` and ``resources=``: the defaults a deployment file may override."""
    workers = kw.get("workers", 1)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise MarkupError(f"workers={workers!r} must be an integer >= 1", service=name)
    resources = dict(kw.get("resources") or {})
    for rkey in resources:
        if rkey not in ("cpu", "gpu", "memory"):
            raise MarkupError(
                f"unknown resource {rkey!r}{did_you_mean(rkey, ('cpu', 'gpu', 'memory'))}; "
                f"resources are cpu, gpu and memory",
                service=name,
            )
    return workers, resources


def _members(cls: type, name: str) -> tuple[dict[str, ConfigKey], dict[str, Dependency]]:
    """The class's ``config()`` keys (by external name) and ``depends()`` dependencies, base
    classes first; a key a subclass overrides with a plain attribute is dropped."""
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
    return {k.name: k for k in config_keys.values()}, dependencies


_Handlers = tuple[
    dict[str, EndpointMeta],
    list[FeatureMeta],
    dict[str, list[str]],
    list[tuple[str, Any, dict[str, Any]]],
]


def _handlers(cls: type, name: str) -> _Handlers:
    """What the methods' decorators recorded: endpoints (by name), features, lifecycle hooks
    and state marks."""
    endpoints: dict[str, EndpointMeta] = {}
    features: list[FeatureMeta] = []
    hooks: dict[str, list[str]] = {"on_start": [], "on_shutdown": [], "on_config": []}
    state_marks: list[tuple[str, Any, dict[str, Any]]] = []
    for attr in dir(cls):
        func = inspect.getattr_static(cls, attr, None)
        marks: list[_Pending] = getattr(func, "__reverie_marks__", None) or []
        for mark in marks:
            if mark.kind == "endpoint":
                ep = endpoint_meta(name, attr, func, mark.options)
                if ep.name in endpoints:
                    raise MarkupError(
                        f"two methods declare endpoint {ep.name!r}: {endpoints[ep.name].method} "
                        f"and {attr}",
                        service=name,
                        fix="give one of them @endpoint(name=...)",
                    )
                endpoints[ep.name] = ep
            elif mark.kind == "feature":
                features.append(feature_meta(name, attr, func, mark.options))
            elif mark.kind == "state":
                state_marks.append((attr, func, mark.options))
            else:
                hooks[mark.options["kind"]].append(attr)
    return endpoints, features, hooks, state_marks


def _check_features(
    name: str, features: list[FeatureMeta], endpoints: dict[str, EndpointMeta]
) -> None:
    """No two features bind one ``VERB:path``, and no feature hides an endpoint's POST."""
    seen: dict[str, str] = {}
    for feat in features:
        key = str(feat.verb_path)
        if key in seen:
            raise MarkupError(
                f"two methods bind {key}: {seen[key]} and {feat.method}", service=name
            )
        seen[key] = feat.method

    for feat in features:
        b = feat.verb_path
        if (
            b.verb not in ("POST", "*")
            or b.catch_all
            or any(s.kind != "const" or s.optional for s in b.segments)
        ):
            continue
        path = "/".join(s.value for s in b.segments)
        hidden = endpoints.get(path)
        if hidden is not None:
            raise MarkupError(
                f"feature {b} of {feat.method} and endpoint {hidden.name!r} of {hidden.method} "
                f"both answer POST /{path}; one would hide the other",
                service=name,
                member=feat.method,
                fix=f"bind the feature elsewhere (e.g. '{b.verb}:{path}-http') or rename the "
                f"endpoint with @endpoint(name=...)",
            )


def _check_constructible(cls: type, name: str) -> None:
    """The host makes instances with no arguments: settings come through config keys."""
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


def _decorator_config(
    name: str, kw: dict[str, Any], config_keys: dict[str, ConfigKey]
) -> dict[str, Any]:
    """``@service(config=...)``: values for declared keys only."""
    decorator_config = dict(kw.get("config") or {})
    for key in decorator_config:
        if key not in config_keys:
            raise MarkupError(
                f"@service(config=...) sets unknown config key {key!r}"
                f"{did_you_mean(key, config_keys)}; declared keys: "
                f"{', '.join(config_keys) or 'none'}",
                service=name,
            )
    return decorator_config


def _is_uri_type(tp: Any) -> bool:
    from .uri import URI

    return tp is URI or URI in typing.get_args(tp)


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
