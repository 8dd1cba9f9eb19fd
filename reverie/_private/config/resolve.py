"""Layered config resolution that remembers where every value came from.

Per service, highest first: code overrides (``run_graph(config=...)``), the deployment file (the
service's section, then ``Common``), environment variables ``REVERIE_<SERVICE>__<KEY>``,
``@service(config=...)``, the class default (``layers``). Each key's value is the first layer's
answer, already validated against the key's declared type, and its source is that layer's; all
problems of one call are reported together in one ``ConfigError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from reverie.errors import ConfigError

from ..declare.service import ConfigKey, ServiceMeta
from .deployment import Deployment, did_you_mean
from .layers import FileLayer, check_uri, config_layers
from .problems import raise_problems
from .values import MASK, env_var_name, show_value

__all__ = ["ResolvedConfig", "ResolvedValue", "resolve_config", "resolve_graph_config"]


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


# -- resolution -----------------------------------------------------------------------------------


def _how_to_set(meta: ServiceMeta, ck: ConfigKey) -> str:
    return (
        f"set it in the deployment file ('{meta.name}:' then '  {ck.name}: ...'), or with the "
        f"environment variable {env_var_name(meta.name, ck.name)}"
    )


def _resolve(
    meta: ServiceMeta,
    deployment: Deployment | None,
    env: Mapping[str, str],
    overrides: Mapping[str, Any],
    overrides_source: str,
    problems: list[ConfigError],
) -> ResolvedConfig:
    """Each key's value from the first layer that sets it; problems are appended."""
    layers = config_layers(meta, deployment, env, overrides, overrides_source)
    for layer in layers:
        problems.extend(layer.problems)
    out: dict[str, ResolvedValue] = {}
    for name, ck in meta.config_keys.items():
        try:
            found = next((f for layer in layers if (f := layer.value(ck)) is not None), None)
            if found is None:
                problems.append(
                    ConfigError(
                        "required config key is not set in any layer",
                        service=meta.name,
                        key=name,
                        fix=_how_to_set(meta, ck),
                    )
                )
                continue
            value, source = found
            if ck.uri:
                check_uri(meta, ck, value, source)
        except ConfigError as exc:
            problems.append(exc)
            continue
        out[name] = ResolvedValue(name, value, source, ck.secret, ck.attr)
    file_layer = next(x for x in layers if isinstance(x, FileLayer))
    for key, sv in file_layer.undeclared.items():  # Dynamo SDK: plain attributes
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
        meta,
        deployment,
        os.environ if env is None else env,
        overrides or {},
        overrides_source,
        problems,
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
            problems.append(
                ConfigError(
                    f"config overrides name service {sname!r}, which is not in the graph"
                    f"{did_you_mean(sname, names)}; services: {', '.join(names) or 'none'}",
                    source=overrides_source,
                )
            )
    out = {
        m.name: _resolve(
            m, deployment, environ, overrides.get(m.name, {}), overrides_source, problems
        )
        for m in metas
    }
    raise_problems(problems, "config problems in the graph")
    return out
