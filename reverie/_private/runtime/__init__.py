"""The distributed runtime: services as many processes on many machines, joined through NATS.

Addresses are namespace / component / endpoint, with one worker id per process;
discovery uses leases in a JetStream KV bucket; calls travel over NATS subjects with
credit-based streaming. See docs/runtime.md for the wire protocol.
"""

from __future__ import annotations

from .addressing import Component, Endpoint, Namespace
from .client import EndpointRuntimeClient
from .core import DistributedRuntime
from .routing import (
    DirectRouter,
    LeastInflightRouter,
    RandomRouter,
    RoundRobinRouter,
    Router,
    direct,
    make_router,
)
from .server import Served

__all__ = [
    "Component",
    "DirectRouter",
    "DistributedRuntime",
    "Endpoint",
    "EndpointRuntimeClient",
    "LeastInflightRouter",
    "Namespace",
    "RandomRouter",
    "RoundRobinRouter",
    "Router",
    "Served",
    "direct",
    "make_router",
]
