"""Run NVIDIA Dynamo SDK services on Reverie: change ``from dynamo.sdk import ...`` to
``from reverie.compat.dynamo import ...`` and the rest of the code stays as written.

Everything here translates into the core API (``reverie.service``, ``endpoint``, ``config``,
``on_start``); nothing new happens at run time:

- ``@service(dynamo={"enabled", "namespace", "name"}, resources=, workers=, traffic=, envs=,
  image=)``: ``namespace``/``name`` are the runtime address, ``traffic={"timeout": s}`` the default
  deadline of every endpoint, ``envs`` the worker processes' environment, ``image`` is recorded
  in the serve plan;
- ``@dynamo_endpoint()`` is ``@endpoint()``; ``@async_on_start`` / ``@async_on_shutdown`` are the
  lifecycle hooks; ``depends`` is Reverie's;
- a plain annotated class attribute with a default (``model_path: str = "/models/default"``) is
  a config key, settable from the deployment file and the environment like any other;
- in the deployment file, a service's ``dynamo: {namespace, name}`` section sets its runtime
  address (Reverie's own spelling is ``runtime:``), and a value the class does not declare is
  set as a plain attribute, as the Dynamo SDK does; ``reverie config`` marks it "undeclared".
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar

from reverie._private.declare.config_key import ConfigKey, config
from reverie._private.declare.dependency import Dependency, depends
from reverie._private.declare.handlers import endpoint, on_shutdown, on_start
from reverie._private.declare.service import get_meta
from reverie._private.declare.service import service as _core_service
from reverie._private.suggest import did_you_mean
from reverie.errors import MarkupError

__all__ = [
    "async_on_shutdown",
    "async_on_start",
    "depends",
    "dynamo_endpoint",
    "service",
]

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])

_DYNAMO_KEYS = ("enabled", "namespace", "name")
_TRAFFIC_KEYS = ("timeout",)

#: ``@async_on_start``: run this (async) method once the instance is configured and linked.
async_on_start = on_start
#: ``@async_on_shutdown``: run this (async) method when the instance stops.
async_on_shutdown = on_shutdown


def dynamo_endpoint(name: str | None = None, **kwargs: Any) -> Callable[[F], F]:
    """``@dynamo_endpoint()``: Reverie's ``@endpoint()`` (an async generator streams)."""
    return endpoint(name, **kwargs)


def service(
    cls: C | None = None,
    /,
    *,
    dynamo: dict[str, Any] | None = None,
    resources: dict[str, Any] | None = None,
    workers: int | None = None,
    traffic: dict[str, Any] | None = None,
    envs: list[dict[str, str]] | dict[str, str] | None = None,
    image: str | None = None,
    **kwargs: Any,
) -> Any:
    """The Dynamo SDK's ``@service``, translated to ``reverie.service`` (see the module doc).

    Other keywords (``sid``, ``version``, ``description``, ...) are Reverie's own.
    """
    core: dict[str, Any] = dict(kwargs)
    dyn = _checked("dynamo", dynamo, _DYNAMO_KEYS)
    if "namespace" in dyn:
        core.setdefault("namespace", dyn["namespace"])
    if "name" in dyn:
        core.setdefault("name", dyn["name"])
    if resources is not None:
        core["resources"] = resources
    if workers is not None:
        core["workers"] = workers
    timeout = _checked("traffic", traffic, _TRAFFIC_KEYS).get("timeout")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise MarkupError(f"traffic={{'timeout': {timeout!r}}}: a timeout is seconds > 0")
    env = _env(envs)
    if image is not None and (not isinstance(image, str) or not image):
        raise MarkupError(f"image={image!r}: an image is a non-empty string")

    def wrap(c: C) -> C:
        _attributes_as_config(c)
        out: C = _core_service(c, **core)
        meta = get_meta(out)
        meta.dialect = "dynamo"
        meta.env = env
        meta.image = image
        if timeout is not None:
            for ep in meta.endpoints.values():
                if ep.timeout is None:
                    ep.timeout = float(timeout)
        return out

    return wrap(cls) if cls is not None else wrap


def _checked(what: str, value: dict[str, Any] | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise MarkupError(
            f"@service({what}={value!r}): expected a dict with keys {', '.join(allowed)}"
        )
    for key in value:
        if key not in allowed:
            raise MarkupError(
                f"@service({what}=...): unknown key {key!r}{did_you_mean(key, allowed)}; "
                f"Reverie reads {', '.join(allowed)}"
            )
    return value


def _env(envs: list[dict[str, str]] | dict[str, str] | None) -> dict[str, str]:
    """``[{"name": "X", "value": "1"}]`` (the SDK's form) or ``{"X": "1"}``."""
    if envs is None:
        return {}
    if isinstance(envs, dict):
        return {str(k): str(v) for k, v in envs.items()}
    out: dict[str, str] = {}
    for item in envs:
        if not isinstance(item, dict) or "name" not in item:
            raise MarkupError(f"envs: {item!r} is not {{'name': ..., 'value': ...}}")
        out[str(item["name"])] = str(item.get("value", ""))
    return out


def _attributes_as_config(cls: type) -> None:
    """Turn ``name: T = default`` class attributes into ``config(default)`` keys, as the SDK's
    YAML sets them. Methods, descriptors, ``ClassVar``s and private names are left alone."""
    annotations = inspect.get_annotations(cls)
    for attr, ann in annotations.items():
        if attr.startswith("_") or attr not in cls.__dict__:
            continue
        value = cls.__dict__[attr]
        if (
            isinstance(value, (ConfigKey, Dependency))
            or callable(value)
            or hasattr(value, "__get__")
        ):
            continue
        if _is_classvar(ann):
            continue
        key: ConfigKey = config(value)
        key.__set_name__(cls, attr)
        setattr(cls, attr, key)


def _is_classvar(ann: Any) -> bool:
    if isinstance(ann, str):
        return ann.startswith(("ClassVar", "typing.ClassVar"))
    return ann is typing.ClassVar or typing.get_origin(ann) is typing.ClassVar
