"""Layered config resolution that remembers where every value came from.

Per service, highest first: code overrides (``run_graph(config=...)``), the deployment file (the
service's section, then ``Common``), environment variables ``REVERIE_<SERVICE>__<KEY>``,
``@service(config=...)``, the class default. Each winning value is validated against the key's
declared type; all problems of one call are reported together in one ``ConfigError``.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from reverie.errors import ConfigError, DeploymentError, ValidationError

from ..declare.service import ConfigKey, ServiceMeta
from .deployment import Deployment, Sourced, did_you_mean, dynamo_fix, unknown_key_message
from .problems import raise_problems

__all__ = [
    "CLASS_DEFAULT",
    "DECORATOR",
    "MASK",
    "ResolvedConfig",
    "ResolvedValue",
    "ServiceArgs",
    "config_renderable",
    "env_var_name",
    "expand_env_refs",
    "format_config",
    "looks_secret",
    "mask_env",
    "resolve_config",
    "resolve_graph_config",
    "resolve_service_args",
    "show_value",
    "validate_file_value",
]

MASK = "****"
ENV_PREFIX = "REVERIE_"
DECORATOR = "@service(config=...)"
CLASS_DEFAULT = "class default"
SERVICE_DEFAULT = "@service default"
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]")
_ENV_REF = re.compile(r"(?<!\$)\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_ENV_REF_SUB = re.compile(r"(\$\$\{)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SECRET_ENV = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|API_?KEY|PRIVATE", re.I)


def _env_part(text: str) -> str:
    return _NON_ALNUM.sub("_", text).upper()


def env_var_name(service: str, key: str) -> str:
    """``REVERIE_<SERVICE>__<KEY>``, upper-cased, every non-alphanumeric character as ``_``."""
    return f"{ENV_PREFIX}{_env_part(service)}__{_env_part(key)}"


def mask_env(name: str, value: Any) -> str:
    """An env value for output: ``****`` when its name looks secret (TOKEN, PASSWORD, ...),
    except a ``${VAR}`` reference as written, which holds no secret itself."""
    if isinstance(value, str) and _ENV_REF.search(value):
        return show_value(value)
    return MASK if looks_secret(name) else show_value(value)


def looks_secret(name: str) -> bool:
    """Whether an env or config name looks like it holds a credential."""
    return _SECRET_ENV.search(name) is not None


def expand_env_refs(
    value: str, environ: Mapping[str, str], *, service: str, key: str, source: str
) -> str:
    """``${NAME}`` in a deployment env value, replaced by the supervisor's own ``$NAME``, so
    the file never holds the secret. ``$${`` is a literal ``${``. A missing variable fails."""
    def sub(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return "${"
        name = m.group(2)
        if name not in environ:
            raise ConfigError(
                f"refers to ${{{name}}}, which is not set in the environment of reverie serve",
                service=service, key=key, source=source,
                fix=f"export {name}=... before running reverie serve, or write the value",
            )
        return environ[name]

    return _ENV_REF_SUB.sub(sub, value)


def show_value(value: Any, limit: int = 80) -> str:
    """A value as one short line for tables and messages."""
    text = value if isinstance(value, str) else repr(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedValue:
    """One resolved config value and the layer it came from (``deploy.yaml:12``, ``env ...``)."""

    key: str
    value: Any
    source: str
    secret: bool = False
    attr: str = ""

    def display(self) -> str:
        """The value for output: ``****`` for a secret."""
        return MASK if self.secret else show_value(self.value)


class ResolvedConfig(Mapping[str, ResolvedValue]):
    """A service's resolved config, keyed by external key name (``"feed.uri"``)."""

    def __init__(self, service: str, items: Mapping[str, ResolvedValue]) -> None:
        self.service = service
        self._items = dict(items)

    def __getitem__(self, key: str) -> ResolvedValue:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def as_dict(self) -> dict[str, Any]:
        """Plain ``{key: value}``; ``values()`` is ``Mapping.values`` (the ``ResolvedValue``s)."""
        return {k: v.value for k, v in self._items.items()}

    def by_attr(self) -> dict[str, Any]:
        """``{python attribute: value}``: what the host writes into the instance."""
        return {v.attr or k: v.value for k, v in self._items.items()}

    def sources(self) -> dict[str, str]:
        return {k: v.source for k, v in self._items.items()}

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v.display()!r} ({v.source})" for k, v in self._items.items())
        return f"ResolvedConfig({self.service}: {body})"


@dataclass
class ServiceArgs:
    """Deployment values of one service, each with its source (decorator default or file)."""

    service: str
    workers: Sourced
    namespace: Sourced
    name: Sourced
    resources: dict[str, Sourced] = field(default_factory=dict)
    env: dict[str, Sourced] = field(default_factory=dict)
    process: Sourced | None = None
    path: Sourced | None = None
    expose: Sourced | None = None
    url: Sourced | None = None


# -- validation -----------------------------------------------------------------------------------


def _got(value: Any, secret: bool, limit: int = 80) -> str:
    """What a wrong value was, type first: ``str '5'``, ``int 5``, ``list [1, 2]``."""
    kind = "null" if value is None else type(value).__name__
    if secret:
        return f"{kind} '{MASK}'"
    if value is None:
        return kind
    return f"{kind} {show_value(value, limit)!r}" if isinstance(value, str) else (
        f"{kind} {show_value(value, limit)}"
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
        _problem(ck, value, exc), service=meta.name, key=ck.name, source=source,
        expected=ck.info.name, value=MASK if ck.secret else value, fix=fix,
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
            _problem(ck, sv.value, exc) + where, file=sv.file or None, line=sv.line or None,
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


def _check_uri(meta: ServiceMeta, ck: ConfigKey, value: Any, source: str) -> None:
    problem = uri_problem(value)
    if problem is not None:
        raise ConfigError(
            problem, service=meta.name, key=ck.name, source=source, expected="URI",
            value=MASK if ck.secret else value,
            fix=f"give {ck.name} the URL of the service it names",
        )


def _from_file_checked(meta: ServiceMeta, ck: ConfigKey, sv: Sourced) -> Any:
    value = _from_file(meta, ck, sv)
    if ck.uri:
        problem = uri_problem(value)
        if problem is not None:
            err = DeploymentError(
                problem, file=sv.file or None, line=sv.line or None, key=f"{meta.name}.{ck.name}",
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


# -- resolution -----------------------------------------------------------------------------------


def _how_to_set(meta: ServiceMeta, ck: ConfigKey) -> str:
    return (
        f"set it in the deployment file ('{meta.name}:' then '  {ck.name}: ...'), or with the "
        f"environment variable {env_var_name(meta.name, ck.name)}"
    )


def _find_key(meta: ServiceMeta, key: str) -> ConfigKey | None:
    """A key by external name, or by Python attribute name."""
    ck = meta.config_keys.get(key)
    if ck is None:
        ck = next((c for c in meta.config_keys.values() if c.attr == key), None)
    return ck


def _resolve(
    meta: ServiceMeta,
    deployment: Deployment | None,
    env: Mapping[str, str],
    overrides: Mapping[str, Any],
    overrides_source: str,
    problems: list[ConfigError],
) -> ResolvedConfig:
    declared = list(meta.config_keys)
    code: dict[str, Any] = {}
    for key, value in overrides.items():
        ck = _find_key(meta, key)
        if ck is None:
            problems.append(ConfigError(
                f"unknown config key{did_you_mean(key, declared)}; {meta.name} declares "
                f"{', '.join(declared) or 'no config keys'}",
                service=meta.name, key=key, source=overrides_source,
            ))
        else:
            code[ck.name] = value

    section = deployment.section(meta.name) if deployment else None
    file_values: dict[str, Sourced] = {}
    extra: dict[str, Sourced] = {}
    if section is not None and deployment is not None:
        if section.dynamo and meta.dialect != "dynamo":
            problems.append(DeploymentError(
                unknown_key_message(meta, "dynamo"), file=deployment.path,
                line=section.dynamo_line or None, key=f"{meta.name}.dynamo",
                fix=dynamo_fix("dynamo"),
            ))
        for key, sv in section.config.items():
            if key in meta.config_keys:
                file_values[key] = sv
            elif meta.dialect == "dynamo":
                extra[key] = sv  # Dynamo SDK: an undeclared value becomes a plain attribute
            else:
                problems.append(DeploymentError(
                    unknown_key_message(meta, key), file=deployment.path,
                    line=sv.line or None, key=f"{meta.name}.{key}", fix=dynamo_fix(key, meta),
                ))
    common = deployment.common if deployment else {}

    env_names = {env_var_name(meta.name, k): k for k in meta.config_keys}
    prefix = f"{ENV_PREFIX}{_env_part(meta.name)}__"
    for var in env:
        if var.startswith(prefix) and var not in env_names:
            problems.append(ConfigError(
                f"environment variable {var} matches no config key of {meta.name}"
                f"{did_you_mean(var, env_names)}; its keys read "
                f"{', '.join(env_names) or 'nothing (it declares no config keys)'}",
                service=meta.name, source=f"env {var}", fix=f"rename or unset {var}",
            ))

    out: dict[str, ResolvedValue] = {}
    for name, ck in meta.config_keys.items():
        var = env_var_name(meta.name, name)
        try:
            if name in code:
                source = overrides_source
                value = _validate(meta, ck, code[name], source, None)
            elif name in file_values or name in common:
                sv = file_values.get(name) or common[name]
                source = sv.source
                value = _from_file(meta, ck, sv)
            elif var in env:
                source = f"env {var}"
                value = _from_env(meta, ck, var, env[var])
            elif name in meta.config_values:
                source = DECORATOR
                value = _validate(meta, ck, meta.config_values[name], source, None)
            elif not ck.required:
                source = CLASS_DEFAULT
                value = _validate(
                    meta, ck, ck.default, source,
                    f"fix the default in config(...) or annotate {ck.attr} with its real type",
                )
            else:
                problems.append(ConfigError(
                    "required config key is not set in any layer",
                    service=meta.name, key=name, fix=_how_to_set(meta, ck),
                ))
                continue
            if ck.uri:
                _check_uri(meta, ck, value, source)
        except ConfigError as exc:
            problems.append(exc)
            continue
        out[name] = ResolvedValue(name, value, source, ck.secret, ck.attr)
    for key, sv in extra.items():
        out[key] = ResolvedValue(key, sv.value, f"{sv.source} (undeclared)", False, key)
    return ResolvedConfig(meta.name, out)


def resolve_config(
    meta: ServiceMeta,
    *,
    deployment: Deployment | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    overrides_source: str = "code",
) -> ResolvedConfig:
    """Resolve one service's config; raises one ``ConfigError`` listing every problem found.

    ``overrides`` (keyed by external name or attribute name) win over every other layer and
    are labelled ``overrides_source``. ``env`` defaults to ``os.environ``.
    """
    problems: list[ConfigError] = []
    resolved = _resolve(
        meta, deployment, os.environ if env is None else env, overrides or {},
        overrides_source, problems,
    )
    raise_problems(problems, f"config problems in {meta.name}", service=meta.name)
    return resolved


def resolve_graph_config(
    metas: Iterable[ServiceMeta],
    *,
    deployment: Deployment | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    overrides_source: str = "code",
) -> dict[str, ResolvedConfig]:
    """Resolve every service's config; ``overrides`` is keyed by service name. One error lists
    the problems of all services."""
    metas = list(metas)
    environ = os.environ if env is None else env
    overrides = overrides or {}
    problems: list[ConfigError] = []
    names = [m.name for m in metas]
    for sname in overrides:
        if sname not in names:
            problems.append(ConfigError(
                f"config overrides name service {sname!r}, which is not in the graph"
                f"{did_you_mean(sname, names)}; services: {', '.join(names) or 'none'}",
                source=overrides_source,
            ))
    out = {
        m.name: _resolve(m, deployment, environ, overrides.get(m.name, {}), overrides_source,
                         problems)
        for m in metas
    }
    raise_problems(problems, "config problems in the graph")
    return out


def service_address(meta: ServiceMeta, deployment: Deployment | None) -> tuple[str, str]:
    """(namespace, component) of a service: the deployment's ``runtime:`` section, else markup."""
    if deployment is None:
        return meta.namespace, meta.name
    args = resolve_service_args(meta, deployment)
    return str(args.namespace.value), str(args.name.value)


def is_exposed(args: ServiceArgs, entry: bool) -> bool:
    """Whether a service is served publicly over HTTP: ``ServiceArgs: expose``, else only the
    entry service. The rule is the same embedded and under ``--processes``."""
    return bool(args.expose.value) if args.expose is not None else entry


def resolve_service_args(meta: ServiceMeta, deployment: Deployment | None) -> ServiceArgs:
    """Workers, resources, env, process and runtime namespace/name: the file's value per key,
    else the ``@service(...)`` default."""
    section = deployment.section(meta.name) if deployment else None
    args = ServiceArgs(
        service=meta.name,
        workers=Sourced(meta.workers, SERVICE_DEFAULT),
        namespace=Sourced(meta.namespace, SERVICE_DEFAULT),
        name=Sourced(meta.name, SERVICE_DEFAULT),
        resources={k: Sourced(v, SERVICE_DEFAULT) for k, v in meta.resources.items()},
        env={k: Sourced(v, SERVICE_DEFAULT) for k, v in meta.env.items()},
    )
    if deployment is not None:
        args.url = deployment.url_for(meta.name, meta.sids)
    if section is None:
        return args
    if section.workers is not None:
        args.workers = section.workers
    args.resources.update(section.resources)
    args.env.update(section.env)
    args.process = section.process
    args.path = section.path
    args.expose = section.expose
    if meta.dialect == "dynamo":  # the Dynamo SDK's section; runtime: wins when both are set
        for key in ("namespace", "name"):
            if key in section.dynamo and key not in section.runtime:
                setattr(args, key, section.dynamo[key])
    if "namespace" in section.runtime:
        args.namespace = section.runtime["namespace"]
    if "name" in section.runtime:
        args.name = section.runtime["name"]
    return args


# -- output ---------------------------------------------------------------------------------------


def _args_rows(args: ServiceArgs) -> list[tuple[str, str, str]]:
    rows = [
        ("workers", show_value(args.workers.value), args.workers.source),
        ("runtime.namespace", str(args.namespace.value), args.namespace.source),
        ("runtime.name", str(args.name.value), args.name.source),
    ]
    if args.process is not None:
        rows.append(("process", str(args.process.value), args.process.source))
    if args.path is not None:
        rows.append(("path", str(args.path.value), args.path.source))
    if args.url is not None:
        rows.append(("url", str(args.url.value), args.url.source))
    if args.expose is not None:
        rows.append(("expose", str(args.expose.value).lower(), args.expose.source))
    for k, v in args.resources.items():
        rows.append((f"resources.{k}", show_value(v.value), v.source))
    for k, v in args.env.items():
        rows.append((f"env.{k}", mask_env(k, v.value), v.source))
    return rows


def config_renderable(
    resolved: Sequence[ResolvedConfig],
    args: Iterable[ServiceArgs] | None = None,
    *,
    types: Mapping[str, Mapping[str, str]] | None = None,
) -> Any:
    """Rich tables, one per service: config key, value (secrets masked), source; then its
    ServiceArgs. ``types`` maps service -> key -> type name, for an optional type column."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    by_service = {a.service: a for a in (args or ())}
    parts: list[Any] = []
    for rc in resolved:
        table = Table(title=Text(f"{rc.service}: config"), title_justify="left", expand=False)
        table.add_column("key", style="bold")
        svc_types = (types or {}).get(rc.service)
        if svc_types is not None:
            table.add_column("type")
        table.add_column("value")
        table.add_column("source", style="dim")
        for key, rv in rc.items():
            row = [key]
            if svc_types is not None:
                row.append(svc_types.get(key, ""))
            row += [rv.display(), rv.source]
            table.add_row(*(Text(c) for c in row))  # Text: "list[str]" is not markup
        if not rc:
            table.add_row(*(["(no config keys)"] + [""] * (len(table.columns) - 1)))
        parts.append(table)
        sa = by_service.get(rc.service)
        if sa is not None:
            at = Table(
                title=Text(f"{rc.service}: ServiceArgs"), title_justify="left", expand=False
            )
            at.add_column("key", style="bold")
            at.add_column("value")
            at.add_column("source", style="dim")
            for row3 in _args_rows(sa):
                at.add_row(*(Text(c) for c in row3))
            parts.append(at)
    return Group(*parts)


def format_config(
    resolved: Sequence[ResolvedConfig] | ResolvedConfig,
    args: Iterable[ServiceArgs] | ServiceArgs | None = None,
    *,
    width: int = 120,
) -> str:
    """The tables of ``config_renderable`` as plain text (no colour), for logs and
    ``host.explain_config``."""
    import io

    from rich.console import Console

    if isinstance(resolved, ResolvedConfig):
        resolved = [resolved]
    if isinstance(args, ServiceArgs):
        args = [args]
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False,
                      no_color=True, highlight=False)
    console.print(config_renderable(resolved, args))
    return buf.getvalue()
