"""Blueprints: a service's public contract, derived from its markup alone (no instance).

A ``Blueprint`` lists what a class declares (SIDs, config keys, endpoints, features,
dependencies) as plain data with JSON Schemas, in a stable, versioned JSON form
(``reverie.blueprint/1``) that tools, other hosts and other languages can read.
"""

from __future__ import annotations

import weakref
from typing import Any

import msgspec

from reverie.errors import BlueprintFormatError

from ..declare.service import (
    REQUIRED,
    ConfigKey,
    Dependency,
    EndpointMeta,
    FeatureMeta,
    get_meta,
    is_service,
)
from ..declare.types import TypeInfo, to_builtins, type_info

__all__ = [
    "SCHEMA",
    "Blueprint",
    "BlueprintFormatError",
    "ConfigKeyInfo",
    "DependencyInfo",
    "EndpointInfo",
    "FeatureInfo",
    "ParamInfo",
    "StateInfo",
    "blueprint",
    "class_ref",
]

#: The version tag every blueprint carries; bumped only on incompatible changes.
SCHEMA = "reverie.blueprint/1"

JSONSchema = dict[str, Any]


class ConfigKeyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One config key. ``default`` is the ``@service(config=...)`` value, else the class default;
    it is absent for a required key and hidden for a secret one."""

    name: str
    type: JSONSchema
    type_name: str
    required: bool
    default: Any = msgspec.UNSET
    description: str = ""
    secret: bool = False
    uri: bool = False


class ParamInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A parameter and where its value comes from: for a feature path, query, body or suffix;
    for an endpoint ``request`` (the one argument) or ``field`` (one of several)."""

    name: str
    schema: JSONSchema
    type_name: str
    source: str
    required: bool
    default: Any = msgspec.UNSET
    description: str = ""


class EndpointInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One RPC endpoint; ``request`` is ``None`` when the method takes no argument, and
    ``request_required`` is false when it may be left out (it has a default)."""

    name: str
    method: str
    streaming: bool
    idempotent: bool = False
    request: JSONSchema | None = None
    response: JSONSchema = {}
    description: str = ""
    params: list[ParamInfo] = []
    request_required: bool = True


class FeatureInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One HTTP feature: ``verb`` and ``pattern`` as written in ``@feature("VERB:pattern")``."""

    verb: str
    pattern: str
    method: str
    access: str = "public"
    description: str = ""
    streaming: bool = False
    params: list[ParamInfo] = []
    response: JSONSchema = {}


class DependencyInfo(msgspec.Struct, frozen=True, kw_only=True):
    """``attribute = depends(target)``: ``target`` is a SID or ``module:Class``.

    For a class target, ``sids`` lists the SIDs that class declares (so a registry can match it).
    """

    attribute: str
    target: str
    optional: bool = False
    sids: list[str] = []


class StateInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Declared state: its name (the identity captures carry), version and JSON Schema;
    ``migrates`` says whether older versions are accepted through a migrate hook."""

    name: str
    version: int
    type: JSONSchema
    type_name: str
    migrates: bool = False


class Blueprint(msgspec.Struct, frozen=True, kw_only=True):
    """The contract of one service class, as plain data. Treat it as read-only."""

    schema: str = SCHEMA
    sids: list[str] = []
    name: str
    namespace: str = "default"
    version: str | None = None
    description: str = ""
    copyright: str | None = None
    info: str | None = None
    implementation: str | None = None
    workers: int = 1
    resources: dict[str, Any] = {}
    config: list[ConfigKeyInfo] = []
    endpoints: list[EndpointInfo] = []
    features: list[FeatureInfo] = []
    dependencies: list[DependencyInfo] = []
    state: StateInfo | msgspec.UnsetType = msgspec.UNSET

    def to_dict(self) -> dict[str, Any]:
        """The blueprint as plain JSON-able data (absent defaults are left out)."""
        data: dict[str, Any] = msgspec.to_builtins(self)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """Stable JSON: same class, same text. ``indent=None`` gives one compact line."""
        raw = msgspec.json.encode(self)
        if indent is None:
            return raw.decode()
        return msgspec.json.format(raw, indent=indent).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Blueprint:
        """Read a blueprint written by ``to_json`` (unknown fields are ignored)."""
        try:
            bp = msgspec.json.decode(text, type=cls)
        except msgspec.DecodeError as exc:
            raise BlueprintFormatError(
                f"not a valid blueprint document: {exc}",
                fix="pass the text that Blueprint.to_json() or 'reverie blueprint' wrote",
            ) from None
        return _check_schema(bp)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Blueprint:
        """Read a blueprint from plain data such as ``to_dict()`` returns."""
        try:
            bp = msgspec.convert(data, type=cls)
        except msgspec.ValidationError as exc:
            raise BlueprintFormatError(f"not a valid blueprint: {exc}") from None
        return _check_schema(bp)

    def endpoint(self, name: str) -> EndpointInfo:
        """The endpoint called ``name``; ``KeyError`` lists the ones there are."""
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(
            f"blueprint {self.name} has no endpoint {name!r}; endpoints: "
            f"{', '.join(e.name for e in self.endpoints) or 'none'}"
        )


def _check_schema(bp: Blueprint) -> Blueprint:
    if bp.schema != SCHEMA:
        raise BlueprintFormatError(
            f"blueprint {bp.name!r} has schema {bp.schema!r}, but this Reverie reads {SCHEMA!r}",
            fix="regenerate it with this version of Reverie ('reverie blueprint MODULE:CLASS')",
        )
    return bp


# -- deriving a blueprint from markup -------------------------------------------------------------


def class_ref(cls: type) -> str:
    """``module:Qualname``, the form deployment files and bindings use to name a class."""
    return f"{cls.__module__}:{cls.__qualname__}"


def _schema(info: TypeInfo) -> JSONSchema:
    try:
        return info.json_schema()
    except (TypeError, ValueError):
        # A type the host passes through but cannot describe (for example a Response class).
        return {"description": f"{info.name} (no JSON Schema)"}


def _plain(value: Any) -> Any:
    try:
        return to_builtins(value)
    except (TypeError, ValueError):
        return repr(value)


def _config_info(key: ConfigKey, preset: dict[str, Any]) -> ConfigKeyInfo:
    """``preset`` holds ``@service(config=...)`` values: they replace the class default."""
    info = key.info
    value = preset.get(key.name, key.default)
    required = value is REQUIRED
    default = msgspec.UNSET if required or key.secret else _plain(value)
    return ConfigKeyInfo(
        name=key.name,
        type=_schema(info),
        type_name=info.name,
        required=required,
        default=default,
        description=key.description,
        secret=key.secret,
        uri=key.uri,
    )


def _endpoint_info(ep: EndpointMeta) -> EndpointInfo:
    params = []
    for p in ep.params:
        info = type_info(p.annotation)
        params.append(
            ParamInfo(
                name=p.name,
                schema=_schema(info),
                type_name=info.name,
                source="field" if ep.keywords else "request",
                required=p.required,
                default=msgspec.UNSET if p.required else _plain(p.default),
                description=p.description,
            )
        )
    return EndpointInfo(
        name=ep.name,
        method=ep.method,
        streaming=ep.streaming,
        idempotent=ep.idempotent,
        request=_schema(ep.request_info) if ep.request_param is not None else None,
        response=_schema(ep.response_info),
        description=ep.description,
        params=params,
        request_required=ep.request_required
        or (ep.keywords and any(p.required for p in ep.params)),
    )


def _feature_info(feat: FeatureMeta) -> FeatureInfo:
    params = []
    for p in feat.params:
        if p.source not in ("path", "query", "body", "suffix"):
            continue  # the request context and raw request objects are not part of the contract
        info = p.info or type_info(p.annotation)
        params.append(
            ParamInfo(
                name=p.name,
                schema=_schema(info),
                type_name=info.name,
                source=p.source,
                required=p.required,
                default=msgspec.UNSET if p.required else _plain(p.default),
                description=p.description,
            )
        )
    return FeatureInfo(
        verb=feat.verb,
        pattern=feat.pattern,
        method=feat.method,
        access=feat.access,
        description=feat.description,
        streaming=feat.streaming,
        params=params,
        response=_schema(type_info(feat.response_type)),
    )


def _dependency_info(attr: str, dep: Dependency) -> DependencyInfo:
    target = dep.target
    if isinstance(target, str):
        return DependencyInfo(attribute=attr, target=target, optional=dep.optional)
    sids = list(get_meta(target).sids) if is_service(target) else []
    return DependencyInfo(
        attribute=attr, target=class_ref(target), optional=dep.optional, sids=sids
    )


def _derive(cls: type) -> Blueprint:
    meta = get_meta(cls)
    return Blueprint(
        sids=list(meta.sids),
        name=meta.name,
        namespace=meta.namespace,
        version=meta.version,
        description=meta.description,
        copyright=meta.copyright,
        info=meta.info,
        implementation=class_ref(cls),
        workers=meta.workers,
        resources=_plain(meta.resources),
        config=[_config_info(k, meta.config_values) for k in meta.config_keys.values()],
        endpoints=[_endpoint_info(e) for e in meta.endpoints.values()],
        features=[_feature_info(f) for f in meta.features],
        dependencies=[_dependency_info(a, d) for a, d in meta.dependencies.items()],
        state=msgspec.UNSET
        if meta.state is None
        else StateInfo(
            name=meta.state.name,
            version=meta.state.version,
            type=_schema(meta.state.info),
            type_name=meta.state.info.name,
            migrates=meta.state.migrate is not None,
        ),
    )


_cache: weakref.WeakKeyDictionary[type, Blueprint] = weakref.WeakKeyDictionary()


def blueprint(cls: Any) -> Blueprint:
    """The blueprint of a service class (or of an instance's class), derived once per class.

    Raises ``MarkupError`` for a class that is not decorated with ``@service``.
    """
    klass: type = cls if isinstance(cls, type) else type(cls)
    bp = _cache.get(klass)
    if bp is None:
        bp = _cache[klass] = _derive(klass)
    return bp
