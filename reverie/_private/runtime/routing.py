"""Routers: which live worker takes the next call.

A router sees the live worker ids (sorted, suspects removed) and the caller's own in-flight
counts; it never talks to the network.
"""

from __future__ import annotations

import random as _random
from collections.abc import Mapping, Sequence

from reverie.errors import ConfigError, NoWorkersError

__all__ = [
    "DirectRouter",
    "LeastInflightRouter",
    "RandomRouter",
    "RoundRobinRouter",
    "Router",
    "make_router",
]


class Router:
    """Picks one worker id from a non-empty list."""

    name = "router"

    def choose(self, workers: Sequence[str], inflight: Mapping[str, int]) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class RoundRobinRouter(Router):
    name = "round_robin"

    def __init__(self) -> None:
        self._n = 0

    def choose(self, workers: Sequence[str], inflight: Mapping[str, int]) -> str:
        n = self._n
        self._n = n + 1
        return workers[n % len(workers)]


class RandomRouter(Router):
    name = "random"

    def choose(self, workers: Sequence[str], inflight: Mapping[str, int]) -> str:
        return _random.choice(workers)


class DirectRouter(Router):
    """Always the one named worker; NoWorkersError when it is not live."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.name = f"direct({worker_id})"

    def choose(self, workers: Sequence[str], inflight: Mapping[str, int]) -> str:
        if self.worker_id not in workers:
            raise NoWorkersError(
                f"worker {self.worker_id!r} is not live (live: {', '.join(workers)}); "
                f"the direct router sends only to it"
            )
        return self.worker_id


class LeastInflightRouter(Router):
    """The worker with the fewest calls this caller has in flight; ties go round robin."""

    name = "least_inflight"

    def __init__(self) -> None:
        self._n = 0

    def choose(self, workers: Sequence[str], inflight: Mapping[str, int]) -> str:
        self._n += 1
        k = len(workers)
        best = workers[self._n % k]
        low = inflight.get(best, 0)
        if low == 0:
            return best
        for i in range(k):
            iid = workers[(self._n + i) % k]
            n = inflight.get(iid, 0)
            if n < low:
                best, low = iid, n
                if n == 0:
                    break
        return best


def direct(worker_id: str) -> DirectRouter:
    return DirectRouter(worker_id)


ROUTERS = ("round_robin", "random", "least_inflight", "direct:<worker id>")


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
        fix="pass one of the router names, or a Router object such as direct('<worker id>')",
    )
