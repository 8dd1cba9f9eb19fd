"""The layers of a service's config, each an object that answers "value and source for this
key": code overrides, the deployment file (the service's section, then ``Common``), environment
variables, ``@service(config=...)``, the class default. Resolution asks them highest first, so
a value's source is the layer that answered; each layer also reports what it holds that no key
reads (an unknown key, a stray environment variable).

Each layer validates what it answers against the key's type, its own way: a YAML value
strictly (an unquoted scalar given to a ``str`` key as written), an environment string leniently
(lists, mappings and models as JSON), code and decorator values strictly.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any

import msgspec

from reverie.errors import ConfigError, DeploymentError, ValidationError

from ..declare.service import ConfigKey, ServiceMeta
from .deployment import DYNAMO, Deployment, Sourced, did_you_mean
from .values import CLASS_DEFAULT, DECORATOR, MASK, env_prefix, env_var_name, show_value

__all__ = [
    "CodeLayer",
    "DecoratorLayer",
    "DefaultLayer",
    "EnvLayer",
    "FileLayer",
    "Layer",
    "check_uri",
    "config_layers",
    "dynamo_fix",
    "find_key",
    "unknown_key_message",
    "uri_problem",
    "validate_file_value",
]

# -- validation -----------------------------------------------------------------------------------


def _got(value: Any, secret: bool, limit: int = 80) -> str:
    """What a wrong value was, type first: ``str '5'``, ``int 5``, ``list [1, 2]``."""
    kind = "null" if value is None else type(value).__name__
    if secret:
        return f"{kind} '{MASK}'"
    if value is None:
        return kind
    return (
        f"{kind} {show_value(value, limit)!r}"
        if isinstance(value, str)
        else (f"{kind} {show_value(value, limit)}")
    )


def _problem(ck: ConfigKey, value: Any, exc: ValidationError) -> str:
    """``expected int, got str 'abc'``, with the nested place for containers; secrets masked."""
    detail = ""
    details = exc.details if isinstance(exc.details, list) else []
    if details and details[0].get("loc"):
        d = details[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in d["loc"]).lstrip(".")
        inside = (
            _inner(value, d["loc"]) if isinstance(value, (dict, list, tuple)) else d.get("input")
        )
        inner = _got(inside, ck.secret, 40)
        detail = f" (at {where}: expected {d.get('expected') or d.get('msg')}, got {inner})"
    return f"expected {ck.info.name}, got {_got(value, ck.secret)}{detail}"


def _inner(value: Any, loc: list[Any]) -> Any:
    """The value at ``loc`` inside ``value`` (the error's copy of it may be a repr)."""
    for key in loc:
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _bad(
    meta: ServiceMeta, ck: ConfigKey, value: Any, source: str, exc: ValidationError, fix: str | None
) -> ConfigError:
    return ConfigError(
        _problem(ck, value, exc),
        service=meta.name,
        key=ck.name,
        source=source,
        expected=ck.info.name,
        value=MASK if ck.secret else value,
        fix=fix,
    )


def _validate(meta: ServiceMeta, ck: ConfigKey, value: Any, source: str, fix: str | None) -> Any:
    try:
        return ck.info.validate(value, strict=True)
    except ValidationError as exc:
        raise _bad(meta, ck, value, source, exc, fix) from None


def _from_file(meta: ServiceMeta, ck: ConfigKey, sv: Sourced) -> Any:
    """A YAML value, strict; an unquoted scalar given to a str-typed key is taken as written.

    Raises ``DeploymentError`` naming the file and line (and the service, key, expected type).
    """
    try:
        return ck.info.validate(sv.value, strict=True)
    except ValidationError as exc:
        if sv.raw is not None and not isinstance(sv.value, str):
            try:
                return ck.info.validate(sv.raw, strict=True)
            except ValidationError:
                pass
        where = " (the value from Common)" if sv.source.endswith("(Common)") else ""
        err = DeploymentError(
            _problem(ck, sv.value, exc) + where,
            file=sv.file or None,
            line=sv.line or None,
            key=f"{meta.name}.{ck.name}",
            fix=f"give {ck.name} a {ck.info.name} value in the deployment file",
        )
        err.service, err.key, err.expected = meta.name, ck.name, ck.info.name
        err.value = MASK if ck.secret else sv.value
        raise err from None


URI_SCHEMES = ("http", "https", "local", "nats")


def uri_problem(value: Any) -> str | None:
    """Why ``value`` is not a service URI (``http://host:port/path``, ``local://Feed``), or None."""
    if value is None:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(str(value))
    if parts.scheme not in URI_SCHEMES or not parts.netloc:
        return (
            f"expected a URI such as 'http://127.0.0.1:8000/Feed' or 'local://Feed' "
            f"(scheme {', '.join(URI_SCHEMES)}), got {_got(value, False)}"
        )
    return None


def check_uri(meta: ServiceMeta, ck: ConfigKey, value: Any, source: str) -> None:
    problem = uri_problem(value)
    if problem is not None:
        raise ConfigError(
            problem,
            service=meta.name,
            key=ck.name,
            source=source,
            expected="URI",
            value=MASK if ck.secret else value,
            fix=f"give {ck.name} the URL of the service it names",
        )


def _from_file_checked(meta: ServiceMeta, ck: ConfigKey, sv: Sourced) -> Any:
    value = _from_file(meta, ck, sv)
    if ck.uri:
        problem = uri_problem(value)
        if problem is not None:
            err = DeploymentError(
                problem,
                file=sv.file or None,
                line=sv.line or None,
                key=f"{meta.name}.{ck.name}",
                fix=f"give {ck.name} the URL of the service it names",
            )
            err.service, err.key = meta.name, ck.name
            raise err
    return value


#: Public name, used by ``check_deployment``.
validate_file_value = _from_file_checked


def _from_env(meta: ServiceMeta, ck: ConfigKey, var: str, text: str) -> Any:
    """An env string, parsed leniently; lists, mappings and models are JSON."""
    source = f"env {var}"
    fix = f"set {var} to a valid {ck.info.name}"
    try:
        return ck.info.validate(text, strict=False)
    except ValidationError as exc:
        first = exc
    if text.strip()[:1] in ("[", "{", '"'):
        try:
            decoded = msgspec.json.decode(text)
        except msgspec.DecodeError:
            fix += " (it does not parse as JSON)"
            raise _bad(meta, ck, text, source, first, fix) from None
        try:
            return ck.info.validate(decoded, strict=False)
        except ValidationError as exc:
            raise _bad(meta, ck, text, source, exc, fix) from None
    if not _is_scalar(ck.annotation):
        fix += "; lists, mappings and models are written as JSON, e.g. '[1, 2]'"
    raise _bad(meta, ck, text, source, first, fix) from None


def _is_scalar(tp: Any) -> bool:
    """str/int/float/bool (or a union of them and None): no JSON hint for these."""
    union = typing.get_origin(tp) in (typing.Union, types.UnionType)
    args = typing.get_args(tp) if union else (tp,)
    return all(a in (str, int, float, bool, type(None)) for a in args)


# -- layers ---------------------------------------------------------------------------------------


def find_key(meta: ServiceMeta, key: str) -> ConfigKey | None:
    """A key by external name, or by Python attribute name."""
    ck = meta.config_keys.get(key)
    if ck is None:
        ck = next((c for c in meta.config_keys.values() if c.attr == key), None)
    return ck


class Layer:
    """One source of config values for one service."""

    def __init__(self, meta: ServiceMeta) -> None:
        self.meta = meta
        #: what this layer holds that no key reads, found when it was made
        self.problems: list[ConfigError] = []

    def value(self, ck: ConfigKey) -> tuple[Any, str] | None:
        """The key's validated value and its source, or None when this layer does not set it;
        raises ``ConfigError`` for a value of the wrong type."""
        raise NotImplementedError


class CodeLayer(Layer):
    """Overrides given in code (``run_graph(config=...)``), keyed by key or attribute name."""

    def __init__(self, meta: ServiceMeta, overrides: Mapping[str, Any], source: str) -> None:
        super().__init__(meta)
        self.source = source
        self.values: dict[str, Any] = {}
        declared = list(meta.config_keys)
        for key, value in overrides.items():
            ck = find_key(meta, key)
            if ck is None:
                self.problems.append(
                    ConfigError(
                        f"unknown config key{did_you_mean(key, declared)}; {meta.name} declares "
                        f"{', '.join(declared) or 'no config keys'}",
                        service=meta.name,
                        key=key,
                        source=source,
                    )
                )
            else:
                self.values[ck.name] = value

    def value(self, ck: ConfigKey) -> tuple[Any, str] | None:
        if ck.name not in self.values:
            return None
        return _validate(self.meta, ck, self.values[ck.name], self.source, None), self.source


class FileLayer(Layer):
    """The deployment file: the service's own section, then ``Common``. A Dynamo SDK service's
    undeclared values are kept in ``undeclared`` (they become plain attributes)."""

    def __init__(self, meta: ServiceMeta, deployment: Deployment | None) -> None:
        super().__init__(meta)
        self.values: dict[str, Sourced] = {}
        self.undeclared: dict[str, Sourced] = {}
        self.common = deployment.common if deployment else {}
        section = deployment.section(meta.name) if deployment else None
        if section is None or deployment is None:
            return
        if section.dynamo and meta.dialect != "dynamo":
            self.problems.append(
                DeploymentError(
                    unknown_key_message(meta, "dynamo"),
                    file=deployment.path,
                    line=section.dynamo_line or None,
                    key=f"{meta.name}.dynamo",
                    fix=dynamo_fix("dynamo"),
                )
            )
        for key, sv in section.config.items():
            if key in meta.config_keys:
                self.values[key] = sv
            elif meta.dialect == "dynamo":
                self.undeclared[key] = sv
            else:
                self.problems.append(
                    DeploymentError(
                        unknown_key_message(meta, key),
                        file=deployment.path,
                        line=sv.line or None,
                        key=f"{meta.name}.{key}",
                        fix=dynamo_fix(key, meta),
                    )
                )

    def value(self, ck: ConfigKey) -> tuple[Any, str] | None:
        sv = self.values.get(ck.name) or self.common.get(ck.name)
        if sv is None:
            return None
        return _from_file(self.meta, ck, sv), sv.source


class EnvLayer(Layer):
    """Environment variables ``REVERIE_<SERVICE>__<KEY>``; one that names no key is a problem."""

    def __init__(self, meta: ServiceMeta, env: Mapping[str, str]) -> None:
        super().__init__(meta)
        self.env = env
        names = {env_var_name(meta.name, k): k for k in meta.config_keys}
        prefix = env_prefix(meta.name)
        for var in env:
            if var.startswith(prefix) and var not in names:
                self.problems.append(
                    ConfigError(
                        f"environment variable {var} matches no config key of {meta.name}"
                        f"{did_you_mean(var, names)}; its keys read "
                        f"{', '.join(names) or 'nothing (it declares no config keys)'}",
                        service=meta.name,
                        source=f"env {var}",
                        fix=f"rename or unset {var}",
                    )
                )

    def value(self, ck: ConfigKey) -> tuple[Any, str] | None:
        var = env_var_name(self.meta.name, ck.name)
        if var not in self.env:
            return None
        return _from_env(self.meta, ck, var, self.env[var]), f"env {var}"


class DecoratorLayer(Layer):
    """``@service(config={...})``."""

    def value(self, ck: ConfigKey) -> tuple[Any, str] | None:
        if ck.name not in self.meta.config_values:
            return None
        value = self.meta.config_values[ck.name]
        return _validate(self.meta, ck, value, DECORATOR, None), DECORATOR


class DefaultLayer(Layer):
    """The default given to ``config(...)``; a required key has none."""

    def value(self, ck: ConfigKey) -> tuple[Any, str] | None:
        if ck.required:
            return None
        fix = f"fix the default in config(...) or annotate {ck.attr} with its real type"
        return _validate(self.meta, ck, ck.default, CLASS_DEFAULT, fix), CLASS_DEFAULT


def config_layers(
    meta: ServiceMeta,
    deployment: Deployment | None,
    env: Mapping[str, str],
    overrides: Mapping[str, Any],
    overrides_source: str,
) -> list[Layer]:
    """A service's layers, highest first."""
    return [
        CodeLayer(meta, overrides, overrides_source),
        FileLayer(meta, deployment),
        EnvLayer(meta, env),
        DecoratorLayer(meta),
        DefaultLayer(meta),
    ]


# -- messages -------------------------------------------------------------------------------------


def unknown_key_message(meta: ServiceMeta, key: str) -> str:
    """``unknown config key 'x'; did you mean ...; Svc declares a, b``."""
    declared = list(meta.config_keys)
    return (
        f"unknown config key {key!r}{did_you_mean(key, declared)}; {meta.name} declares "
        f"{', '.join(declared) or 'no config keys'}"
    )


def dynamo_fix(key: str, meta: ServiceMeta | None = None) -> str | None:
    """The Reverie way to say what a Dynamo SDK deployment key says, or None."""
    if key == DYNAMO:
        return (
            "this is a Dynamo SDK section; in Reverie write 'runtime: {namespace: ..., name: ...}' "
            "in the service's section (or declare the service with reverie.compat.dynamo)"
        )
    if meta is None:
        return None
    hints = getattr(meta.cls, "__annotations__", {})
    if key in hints and key in vars(meta.cls):
        default = vars(meta.cls)[key]
        tp = (
            hints[key]
            if isinstance(hints[key], str)
            else getattr(hints[key], "__name__", str(hints[key]))
        )
        return (
            f"{meta.name}.{key} is a plain class attribute (Dynamo SDK style), not a config key; "
            f"declare it as '{key}: {tp} = config({default!r})' (or declare the service with "
            f"reverie.compat.dynamo)"
        )
    return None
