"""Checking a deployment file against a graph's services, every problem at once: sections
name services, config keys are declared and their values typed, ``bind:`` entries name a known
SID and an importable service class that declares it. ``reverie serve`` (and ``--dry-run``),
``Host.start`` and ``reverie config`` all check through here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from reverie.errors import ConfigError, DeploymentError

from ..suggest import did_you_mean
from .deployment import BIND, COMMON, Deployment
from .layers import FileLayer, validate_file_value
from .problems import raise_problems

if TYPE_CHECKING:
    from ..declare.service import ServiceMeta

__all__ = ["check_deployment", "known_sids"]


def known_sids(services: Iterable[ServiceMeta], also: Iterable[str] = ()) -> set[str]:
    """What a ``bind:`` entry may name: every SID the services declare or depend on, and
    ``also`` (a registry's SIDs)."""
    sids = set(also)
    for meta in services:
        sids.update(meta.sids)
        sids.update(d.target for d in meta.dependencies.values() if isinstance(d.target, str))
    return sids


def check_deployment(
    dep: Deployment, services: Mapping[str, ServiceMeta], known_sids: Iterable[str]
) -> None:
    """Check the file against the graph's services; raises one ``DeploymentError`` listing
    every problem (or the only one)."""
    problems = [
        *_section_problems(dep, services),
        *_common_problems(dep, services),
        *_sid_url_problems(dep, services, set(known_sids)),
        *_bind_problems(dep, set(known_sids)),
    ]
    raise_problems(
        problems, f"problems in the deployment file {dep.path}", kind=DeploymentError, file=dep.path
    )


def _error(
    dep: Deployment, message: str, line: int, key: str, fix: str | None = None
) -> DeploymentError:
    return DeploymentError(message, file=dep.path, line=line or None, key=key, fix=fix)


def _section_problems(dep: Deployment, services: Mapping[str, ServiceMeta]) -> list[ConfigError]:
    """Each service section: a service of the graph, its keys declared (the file layer's own
    check), its values of the declared type."""
    problems: list[ConfigError] = []
    names = list(services)
    for sname, sec in dep.services.items():
        meta = services.get(sname)
        if meta is None:
            problems.append(
                _error(
                    dep,
                    f"section {sname!r} names no service of this graph"
                    f"{did_you_mean(sname, [*names, COMMON, BIND])}; services: "
                    f"{', '.join(names) or 'none'}",
                    sec.line,
                    sname,
                    fix="name a section after its service (@service(name=...), else the class "
                    "name)",
                )
            )
            continue
        layer = FileLayer(meta, dep)
        problems.extend(layer.problems)
        for key, value in layer.values.items():
            try:
                validate_file_value(meta, meta.config_keys[key], value)
            except DeploymentError as err:
                problems.append(err)
    return problems


def _common_problems(dep: Deployment, services: Mapping[str, ServiceMeta]) -> list[ConfigError]:
    """Each ``Common`` key: declared by some service, of its type wherever it is used."""
    problems: list[ConfigError] = []
    for key, value in dep.common.items():
        users = [m for m in services.values() if key in m.config_keys]
        if not users:
            every = sorted({k for m in services.values() for k in m.config_keys})
            problems.append(
                _error(
                    dep,
                    f"{COMMON} sets {key!r} but no service of this graph declares it"
                    f"{did_you_mean(key, every)}",
                    value.line,
                    f"{COMMON}.{key}",
                )
            )
            continue
        for meta in users:
            own = dep.section(meta.name)
            if own is not None and key in own.config:
                continue  # the service's own value wins; Common's is never used for it
            try:
                validate_file_value(meta, meta.config_keys[key], value)
            except DeploymentError as err:
                problems.append(err)
    return problems


def _sid_url_problems(
    dep: Deployment, services: Mapping[str, ServiceMeta], known: set[str]
) -> list[ConfigError]:
    """Each section keyed by a SID: a SID a service provides, whose url is not given twice."""
    problems: list[ConfigError] = []
    for sid, url in dep.sid_urls.items():
        providers = [m for m in services.values() if sid in m.sids]
        if not providers:
            problems.append(
                _error(
                    dep,
                    f"section {sid!r} names a SID that no service of this graph provides"
                    f"{did_you_mean(sid, known)}",
                    url.line,
                    sid,
                    fix="key the section by a SID a service declares (@service(sid=...)), or by "
                    "the service's name",
                )
            )
        for meta in providers:
            own = dep.section(meta.name)
            if own is not None and own.url is not None:
                problems.append(
                    _error(
                        dep,
                        f"{meta.name}'s url is given twice: in its section ({own.url.source}) "
                        f"and in the section of its SID {sid} ({url.source})",
                        url.line,
                        sid,
                        fix="keep one of them",
                    )
                )
    return problems


def _bind_problems(dep: Deployment, known: set[str]) -> list[ConfigError]:
    """Each ``bind:`` entry: a SID of the graph, bound to a service class that declares it."""
    problems: list[ConfigError] = []
    for sid, target in dep.bind.items():
        if sid not in known:
            problems.append(
                _error(
                    dep,
                    f"bind names SID {sid!r}, which no service of this graph declares or "
                    f"depends on{did_you_mean(sid, known)}",
                    target.line,
                    f"{BIND}.{sid}",
                )
            )
            continue
        message = _check_bind_target(sid, str(target.value))
        if message:
            problems.append(_error(dep, message, target.line, f"{BIND}.{sid}"))
    return problems


def _check_bind_target(sid: str, target: str) -> str | None:
    from ..declare.service import get_meta
    from ..importer import import_ref

    try:
        cls = import_ref(target, kind="service")
    except ConfigError as exc:
        return f"bind target {target!r}: {exc.message}"
    if sid not in get_meta(cls).sids:
        declared = ", ".join(get_meta(cls).sids) or "none"
        return f"bind target {target!r} does not declare {sid} (it declares: {declared})"
    return None
