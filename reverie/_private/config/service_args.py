"""``ServiceArgs``: how a service is deployed (workers, resources, env, process, runtime name,
exposure, remote URL), each value with its source: the deployment file, else ``@service(...)``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .deployment import Deployment, Sourced
from .values import SERVICE_DEFAULT

if TYPE_CHECKING:
    from ..declare.service import ServiceMeta

__all__ = ["ServiceArgs", "is_exposed", "resolve_service_args", "service_address"]


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
