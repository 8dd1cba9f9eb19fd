"""Reverie: write each service once as a plain Python class; run it in a unit test, in one
process, in many processes and across machines with the same call semantics.

Declare with ``@service``, ``@endpoint``, ``@feature``, ``config()`` and ``depends()``; run with a
``Host`` (or ``reverie serve``); test with ``reverie.testing.run_graph``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from . import errors, state
from ._private.call.context import RequestContext, current_context
from ._private.declare.service import (
    REQUIRED,
    Param,
    api,
    config,
    depends,
    endpoint,
    feature,
    get_meta,
    is_service,
    on_config,
    on_shutdown,
    on_start,
    service,
)
from ._private.declare.uri import URI

if TYPE_CHECKING:
    from ._private.call.service_client import EndpointClient, ServiceClient
    from ._private.call.tracing import disable_tracing, enable_tracing
    from ._private.contract.blueprint import Blueprint, blueprint
    from ._private.host.host import Host, Instance
    from ._private.http.attach import attach_http
    from ._private.http.plug import Plug, PlugResponse
    from ._private.http.request import Request
    from ._private.http.response import Response, StreamingResponse
    from ._private.runtime import DistributedRuntime
    from ._private.runtime.attach import attach_runtime
    from ._private.serve.options import ServeOptions, serve

__version__ = "0.1.0"

# A library logs, the application decides where: no output unless logging is configured.
logging.getLogger("reverie").addHandler(logging.NullHandler())

__all__ = [
    "REQUIRED",
    "URI",
    "Blueprint",
    "DistributedRuntime",
    "EndpointClient",
    "Host",
    "Instance",
    "Param",
    "Plug",
    "PlugResponse",
    "Request",
    "RequestContext",
    "Response",
    "ServeOptions",
    "ServiceClient",
    "StreamingResponse",
    "__version__",
    "api",
    "attach_http",
    "attach_runtime",
    "blueprint",
    "config",
    "current_context",
    "depends",
    "disable_tracing",
    "enable_tracing",
    "endpoint",
    "errors",
    "feature",
    "get_meta",
    "is_service",
    "on_config",
    "on_shutdown",
    "on_start",
    "serve",
    "service",
    "state",
]

# Heavy parts load only when first used, so `import reverie` stays fast.
_LAZY = {
    "Blueprint": "._private.contract.blueprint",
    "blueprint": "._private.contract.blueprint",
    "EndpointClient": "._private.call.service_client",
    "ServiceClient": "._private.call.service_client",
    "Host": "._private.host.host",
    "Instance": "._private.host.host",
    "Plug": "._private.http.plug",
    "PlugResponse": "._private.http.plug",
    "Request": "._private.http.request",
    "Response": "._private.http.response",
    "StreamingResponse": "._private.http.response",
    "DistributedRuntime": "._private.runtime",
    "ServeOptions": "._private.serve.options",
    "serve": "._private.serve.options",
    "attach_http": "._private.http.attach",
    "attach_runtime": "._private.runtime.attach",
    "enable_tracing": "._private.call.tracing",
    "disable_tracing": "._private.call.tracing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'reverie' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
