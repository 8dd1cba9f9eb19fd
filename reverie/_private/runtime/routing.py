"""Routers: which live instance takes the next call.

A router sees the live instance ids (sorted, suspects removed) and the caller's own in-flight
counts; it never talks to the network.
"""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence

from reverie.errors import ConfigError, NoInstancesError

__all__ = ["DirectRouter", "LeastInflightRouter", "RandomRouter", "RoundRobinRouter", "Router",
           "make_router"]


class Router:
    """Picks one instance id from a non-empty list."""

    name = "router"

    def choose(self, instances: Sequence[str], inflight: Mapping[str, int]) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class RoundRobinRouter(Router):
    name = "round_robin"

    def __init__(self) -> None:
        self._n = 0

    def choose(self, instances: Sequence[str], inflight: Mapping[str, int]) -> str:
        n = self._n
        self._n = n + 1
        return instances[n % len(instances)]


class RandomRouter(Router):
    name = "random"

    def choose(self, instances: Sequence[str], inflight: Mapping[str, int]) -> str:
        return _random.choice(instances)


class DirectRouter(Router):
    """Always the one named instance; NoInstancesError when it is not live."""

    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.name = f"direct({instance_id})"

    def choose(self, instances: Sequence[str], inflight: Mapping[str, int]) -> str:
        if self.instance_id not in instances:
            raise NoInstancesError(
                f"instance {self.instance_id!r} is not live (live: {', '.join(instances)}); "
                f"the direct router sends only to it"
            )
        return self.instance_id


class LeastInflightRouter(Router):
    """The instance with the fewest calls this caller has in flight; ties go round robin."""

    name = "least_inflight"

    def __init__(self) -> None:
        self._n = 0

    def choose(self, instances: Sequence[str], inflight: Mapping[str, int]) -> str:
        self._n += 1
        k = len(instances)
        best = instances[self._n % k]
        low = inflight.get(best, 0)
        if low == 0:
            return best
        for i in range(k):
            iid = instances[(self._n + i) % k]
            n = inflight.get(iid, 0)
            if n < low:
                best, low = iid, n
                if n == 0:
                    break
        return best


def direct(instance_id: str) -> DirectRouter:
    return DirectRouter(instance_id)


ROUTERS = ("round_robin", "random", "least_inflight", "direct:<instance id>")


def make_router(spec: str | Router) -> Router:
    """A router from its name (``round_robin``, ``random``, ``least_inflight``,
    ``direct:<id>``) or a ``Router`` object."""
    if isinstance(spec, Router):
        return spec
    if spec == "round_robin":
        return RoundRobinRouter()
    if spec == "random":
        return RandomRouter()
    if spec == "least_inflight":
        return LeastInflightRouter()
    if isinstance(spec, str) and spec.startswith("direct:") and len(spec) > 7:
        return DirectRouter(spec[7:])
    raise ConfigError(
        f"unknown router {spec!r}; routers: {', '.join(ROUTERS)}",
        key="router",
        value=spec,
        fix="pass one of the router names, or a Router object such as direct('<instance id>')",
    )
