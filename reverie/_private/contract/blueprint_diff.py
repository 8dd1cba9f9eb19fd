"""``reverie blueprint diff``: what changed between two blueprints of a contract, and whether a
caller or deployment written against the old one still works with the new one.

Each change is *breaking* (an endpoint or feature removed, a request field added without a
default, a type narrowed, a required config key added, a SID dropped, ...) or *compatible* (a new
endpoint, a field added with a default, a type widened, ...). Breaking changes are acceptable
only under a new version: a changed ``version`` or a new SID; ``needs_new_version`` says whether
the diff should fail a CI job.

Written by hand: JSON Schema diff libraries answer "is schema A a subset of B" in general or
not at all; a contract check needs the few questions below, with messages naming the field.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .blueprint import Blueprint, EndpointInfo, FeatureInfo, ParamInfo
from .schema_types import compare_types, object_fields, show_types

__all__ = ["BREAKING", "COMPATIBLE", "Change", "Diff", "diff_blueprints"]

BREAKING = "breaking"
COMPATIBLE = "compatible"
_ACCESS = {"public": 0, "internal": 1, "private": 2}


@dataclass(frozen=True)
class Change:
    """One difference: ``kind`` is ``breaking`` or ``compatible``; ``where`` names the part."""

    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        label = "BREAKING  " if self.kind == BREAKING else "compatible"
        return f"{label} {self.where}: {self.message}"


@dataclass
class Diff:
    """All changes between ``old`` and ``new``."""

    old: Blueprint
    new: Blueprint
    changes: list[Change]

    @property
    def breaking(self) -> list[Change]:
        return [c for c in self.changes if c.kind == BREAKING]

    @property
    def versioned(self) -> bool:
        """Whether the new blueprint is a new version: ``version`` changed or a SID is new."""
        return self.old.version != self.new.version or bool(set(self.new.sids) - set(self.old.sids))

    @property
    def needs_new_version(self) -> bool:
        """Breaking changes under the same SIDs and version: a CI failure."""
        return bool(self.breaking) and not self.versioned

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old.name,
            "new": self.new.name,
            "versioned": self.versioned,
            "needs_new_version": self.needs_new_version,
            "changes": [
                {"kind": c.kind, "where": c.where, "message": c.message} for c in self.changes
            ],
        }


def diff_blueprints(old: Blueprint, new: Blueprint) -> Diff:
    """Compare two blueprints of one contract."""
    out: list[Change] = []
    add = out.append
    for sid in old.sids:
        if sid not in new.sids:
            add(
                Change(
                    BREAKING,
                    "sids",
                    f"SID {sid} dropped; dependents that name it no longer find this service",
                )
            )
    for sid in new.sids:
        if sid not in old.sids:
            add(Change(COMPATIBLE, "sids", f"SID {sid} added"))
    if old.version != new.version:
        add(Change(COMPATIBLE, "version", f"{old.version!r} -> {new.version!r}"))
    _config(old, new, add)
    _endpoints(old, new, add)
    _features(old, new, add)
    _dependencies(old, new, add)
    return Diff(old, new, out)


def _fields(where: str, old: Any, new: Any, add: Any, *, request: bool) -> None:
    """Compare a request (``request=True``) or response schema, field by field for objects."""
    old_root = old if isinstance(old, dict) else {}
    new_root = new if isinstance(new, dict) else {}
    o, n = object_fields(old, old_root), object_fields(new, new_root)
    if o is None or n is None:
        how = compare_types(old, new, old_root, new_root)
        if how is not None:
            _typed(where, how, show_types(old, old_root), show_types(new, new_root), add, request)
        return
    (oprops, oreq), (nprops, nreq) = o, n
    for name in oprops:
        if name not in nprops:
            kind = COMPATIBLE if request else BREAKING
            why = "callers still sending it" if request else "callers reading it"
            add(Change(kind, f"{where}.{name}", f"field removed ({why})"))
    for name, schema in nprops.items():
        if name not in oprops:
            if request and name in nreq:
                add(
                    Change(
                        BREAKING,
                        f"{where}.{name}",
                        "required field added (old callers do not send it)",
                    )
                )
            else:
                add(
                    Change(
                        COMPATIBLE,
                        f"{where}.{name}",
                        "field added" + (" with a default" if request else ""),
                    )
                )
            continue
        how = compare_types(oprops[name], schema, old_root, new_root)
        if how is not None:
            _typed(
                f"{where}.{name}",
                how,
                show_types(oprops[name], old_root),
                show_types(schema, new_root),
                add,
                request,
            )
        if request and name in nreq and name not in oreq:
            add(Change(BREAKING, f"{where}.{name}", "field became required"))
        elif request and name in oreq and name not in nreq:
            add(Change(COMPATIBLE, f"{where}.{name}", "field became optional"))
        elif not request and name in oreq and name not in nreq:
            add(Change(BREAKING, f"{where}.{name}", "field may now be absent"))


def _typed(where: str, how: str, old: str, new: str, add: Any, request: bool) -> None:
    """Narrowing an input breaks callers; widening an output breaks readers."""
    if how == "changed":
        kind = BREAKING
    elif request:
        kind = BREAKING if how == "narrowed" else COMPATIBLE
    else:
        kind = BREAKING if how == "widened" else COMPATIBLE
    add(Change(kind, where, f"type {how}: {old} -> {new}"))


# -- parts ----------------------------------------------------------------------------------------


def _config(old: Blueprint, new: Blueprint, add: Any) -> None:
    before = {k.name: k for k in old.config}
    after = {k.name: k for k in new.config}
    for name in before:
        if name not in after:
            add(
                Change(
                    BREAKING,
                    f"config.{name}",
                    "config key removed (deployment files that set it are refused)",
                )
            )
    for name, key in after.items():
        where = f"config.{name}"
        if name not in before:
            if key.required:
                add(
                    Change(
                        BREAKING,
                        where,
                        "required config key added (existing deployments do not set it)",
                    )
                )
            else:
                add(Change(COMPATIBLE, where, "config key added with a default"))
            continue
        prev = before[name]
        how = compare_types(prev.type, key.type, prev.type, key.type)
        if how is not None:
            _typed(where, how, prev.type_name, key.type_name, add, request=True)
        if key.required and not prev.required:
            add(Change(BREAKING, where, "config key became required"))
        elif prev.required and not key.required:
            add(Change(COMPATIBLE, where, "config key became optional"))


_T = TypeVar("_T")


def _keyed(
    section: str,
    noun: str,
    before: dict[str, _T],
    after: dict[str, _T],
    add: Any,
    compare: Callable[[str, _T, _T, Any], None],
) -> None:
    """Entries removed (breaking), added (compatible), then each kept one compared."""
    for key in before:
        if key not in after:
            add(Change(BREAKING, f"{section}.{key}", f"{noun} removed"))
    for key in after:
        if key not in before:
            add(Change(COMPATIBLE, f"{section}.{key}", f"{noun} added"))
    for key, item in after.items():
        if key in before:
            compare(f"{section}.{key}", before[key], item, add)


def _endpoints(old: Blueprint, new: Blueprint, add: Any) -> None:
    _keyed(
        "endpoints",
        "endpoint",
        {e.name: e for e in old.endpoints},
        {e.name: e for e in new.endpoints},
        add,
        _endpoint,
    )


def _endpoint(where: str, old: EndpointInfo, new: EndpointInfo, add: Any) -> None:
    if old.streaming != new.streaming:
        add(Change(BREAKING, where, "now " + ("streams" if new.streaming else "answers once")))
    if old.request is None and new.request is not None:
        if new.request_required:
            add(Change(BREAKING, f"{where}.request", "now needs a request argument"))
        else:
            add(Change(COMPATIBLE, f"{where}.request", "takes an optional request argument"))
    elif old.request is not None and new.request is None:
        add(Change(BREAKING, f"{where}.request", "takes no request argument any more"))
    elif old.request is not None and new.request is not None:
        if old.params and new.params and _keywords(old) and _keywords(new):
            _params(f"{where}.request", old.params, new.params, add, forbid_unknown=True)
        else:
            _fields(f"{where}.request", old.request, new.request, add, request=True)
        if new.request_required and not old.request_required:
            add(Change(BREAKING, f"{where}.request", "the request argument became required"))
    _fields(f"{where}.response", old.response, new.response, add, request=False)


def _keywords(ep: EndpointInfo) -> bool:
    return all(p.source == "field" for p in ep.params)


def _params(
    where: str, old: list[ParamInfo], new: list[ParamInfo], add: Any, *, forbid_unknown: bool
) -> None:
    before = {p.name: p for p in old}
    after = {p.name: p for p in new}
    for name, p in before.items():
        if name not in after:
            if forbid_unknown or p.source == "path":
                add(
                    Change(
                        BREAKING,
                        f"{where}.{name}",
                        "parameter removed (callers passing it are refused)",
                    )
                )
            else:
                add(Change(COMPATIBLE, f"{where}.{name}", "parameter removed"))
    for name, p in after.items():
        pw = f"{where}.{name}"
        if name not in before:
            if p.required:
                add(Change(BREAKING, pw, "required parameter added (old callers do not pass it)"))
            else:
                add(Change(COMPATIBLE, pw, "parameter added with a default"))
            continue
        prev = before[name]
        how = compare_types(prev.schema, p.schema, prev.schema, p.schema)
        if how is not None:
            _typed(pw, how, prev.type_name, p.type_name, add, request=True)
        if prev.source != p.source:
            add(Change(BREAKING, pw, f"now read from the {p.source}, not the {prev.source}"))
        if p.required and not prev.required:
            add(Change(BREAKING, pw, "parameter became required"))
        elif prev.required and not p.required:
            add(Change(COMPATIBLE, pw, "parameter became optional"))


def _features(old: Blueprint, new: Blueprint, add: Any) -> None:
    _keyed(
        "features",
        "feature",
        {f"{f.verb}:{f.pattern}": f for f in old.features},
        {f"{f.verb}:{f.pattern}": f for f in new.features},
        add,
        _feature,
    )


def _feature(where: str, old: FeatureInfo, new: FeatureInfo, add: Any) -> None:
    if _ACCESS.get(new.access, 0) > _ACCESS.get(old.access, 0):
        add(Change(BREAKING, where, f"access narrowed: {old.access} -> {new.access}"))
    elif new.access != old.access:
        add(Change(COMPATIBLE, where, f"access widened: {old.access} -> {new.access}"))
    if old.streaming != new.streaming:
        add(Change(BREAKING, where, "now " + ("streams" if new.streaming else "answers once")))
    body_old = next((p for p in old.params if p.source == "body"), None)
    body_new = next((p for p in new.params if p.source == "body"), None)
    _params(
        where,
        [p for p in old.params if p.source != "body"],
        [p for p in new.params if p.source != "body"],
        add,
        forbid_unknown=False,
    )
    if body_old is not None and body_new is not None:
        _fields(f"{where}.body", body_old.schema, body_new.schema, add, request=True)
    elif body_new is not None and body_new.required:
        add(Change(BREAKING, f"{where}.body", "now needs a request body"))
    _fields(f"{where}.response", old.response, new.response, add, request=False)


def _dependencies(old: Blueprint, new: Blueprint, add: Any) -> None:
    before = {d.attribute: d for d in old.dependencies}
    for dep in new.dependencies:
        prev = before.get(dep.attribute)
        if prev is None and not dep.optional:
            add(
                Change(
                    BREAKING,
                    f"dependencies.{dep.attribute}",
                    f"new required dependency on {dep.target} (deployments must provide it)",
                )
            )
        elif prev is None:
            add(
                Change(
                    COMPATIBLE,
                    f"dependencies.{dep.attribute}",
                    f"new optional dependency on {dep.target}",
                )
            )
        elif prev.optional and not dep.optional:
            add(Change(BREAKING, f"dependencies.{dep.attribute}", "dependency became required"))
