"""A running (or stopped, or failed) instance of a service inside a host."""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..declare.service import EndpointMeta, ServiceMeta
from .lifecycle import State, check_transition

if TYPE_CHECKING:
    from ..config.resolve import ResolvedConfig
    from ..http.routes import RouteTable
    from ..state.document import StateDocument
    from ..transports.base import Transport
    from .graph import Edge
    from .host import Host

__all__ = ["RESERVED_PATHS", "Instance", "Mounts", "mount_path_problem"]

#: First path segments the host answers itself; no instance may be mounted there.
RESERVED_PATHS = frozenset({"@host", "health", "openapi.json", "docs", "metrics"})
#: The HTTP layer finds a mount by its first four segments at most.
MAX_MOUNT_DEPTH = 4
_SEGMENT = re.compile(r"^[A-Za-z0-9_.~-]+$")


def mount_path_problem(path: str) -> str | None:
    """Why ``path`` (already stripped of outer '/') cannot be a mount path, or None.

    Segments are letters, digits and '_.~-', never '.' or '..' (a client or proxy normalises
    those away, so such a mount would shadow another route), never starting with '@'."""
    if not path:
        return "the path is empty"
    parts = path.split("/")
    if len(parts) > MAX_MOUNT_DEPTH:
        return f"the path has {len(parts)} segments; at most {MAX_MOUNT_DEPTH} are allowed"
    for seg in parts:
        if seg in (".", ".."):
            return f"the segment {seg!r} is not allowed in a mount path"
        if not _SEGMENT.match(seg):
            return (
                f"segments must be letters, digits and '_.~-' (no empty segment), got {seg[:40]!r}"
            )
    if parts[0] in RESERVED_PATHS:
        return f"/{parts[0]} is reserved by the host"
    return None


class Instance:
    """One instance of a service class, mounted at ``path`` in a host.

    ``obj`` is the user's plain object; ``handlers`` maps endpoint names to its bound methods.
    """

    def __init__(self, host: Host, cls: type, meta: ServiceMeta, path: str) -> None:
        self.host = host
        self.cls = cls
        self.meta = meta
        self.path = path
        self.state = State.CREATED
        self.accepting = False  # == (state is RUNNING); a plain attribute for the hot path
        self.obj: Any = None
        self.config: ResolvedConfig | None = None
        self.clients: dict[str, Any] = {}
        self.handlers: dict[str, Callable[..., Any]] = {}
        self.error: BaseException | None = None
        self.failed_in: str | None = None
        self.started_at: float | None = None
        self.restarts = 0  # restarts in place (PUT @config, restart_instance)
        #: Requests served, by route or endpoint name (a plain dict: a Counter's `+= 1` costs
        #: twice a dict's on the HTTP hot path).
        self.requests: dict[str, int] = {}
        self.inflight = 0  # HTTP requests running now (the max_concurrent limit)
        self.linked = False  # the host has turned its dependencies into clients
        self.routes: RouteTable | None = None  # cached by the HTTP layer
        self.edges: list[Edge] = []  # its dependencies, kept for a restart in place
        # In-process and NATS calls in flight (HTTP ones are ``inflight``) and the gate of a
        # capture/swap/migration (reverie._private.state): while ``hold`` is set, new calls
        # wait on it; ``forward`` carries calls once the instance has moved to another
        # process; ``restore_from`` is the state to start from.
        self.active = 0
        self.hold: asyncio.Future[None] | None = None
        self.forward: Transport | None = None
        self.restore_from: StateDocument | None = None

    @property
    def name(self) -> str:
        return self.meta.name

    def transition(self, target: State) -> None:
        check_transition(self.path, self.state, target)
        self.state = target
        self.accepting = target is State.RUNNING
        if target is State.RUNNING:
            self.started_at = time.monotonic()

    def uptime(self) -> float:
        if self.started_at is None or self.state is not State.RUNNING:
            return 0.0
        return time.monotonic() - self.started_at

    def collect_handlers(self) -> None:
        """The endpoint methods of the service object, by endpoint name, ready to call."""
        obj = self.obj
        self.handlers = {
            name: _keywords(getattr(obj, ep.method), ep) if ep.keywords else getattr(obj, ep.method)
            for name, ep in self.meta.endpoints.items()
        }

    async def run_hooks(self, kind: str, *args: Any) -> None:
        for name in self.meta.hooks.get(kind, []):
            result = getattr(self.obj, name)(*args)
            if inspect.isawaitable(result):
                await result

    def namespace(self) -> str:
        """The runtime namespace: the deployment's ``runtime:`` section, else the markup's."""
        from ..config.service_args import service_address

        return service_address(self.meta, self.host.deployment)[0]

    def blueprint(self) -> Any:
        """The class's blueprint with the namespace this instance really runs in."""
        from ..contract.blueprint import blueprint

        bp = blueprint(self.cls)
        ns = self.namespace()
        if ns == bp.namespace:
            return bp
        import msgspec

        return msgspec.structs.replace(bp, namespace=ns)

    def about(self) -> dict[str, Any]:
        """What ``GET @about`` and ``reverie ls`` show (``moved_to`` once it was migrated)."""
        out = {
            "name": self.meta.name,
            "path": self.path,
            "namespace": self.namespace(),
            "sids": list(self.meta.sids),
            "class": self.meta.qualname,
            "state": self.state.value,
            "uptime": round(self.uptime(), 3),
            "requests": dict(self.requests),
            "error": None if self.error is None else f"{type(self.error).__name__}: {self.error}",
            "failed_in": self.failed_in,
        }
        if self.forward is not None:
            out["moved_to"] = self.forward.describe()
        return out

    def __repr__(self) -> str:
        return f"<Instance {self.path} ({self.meta.name}) {self.state}>"


def construct(cls: type, values: dict[str, Any]) -> Any:
    """A new object of a service class whose ``__init__`` already sees its configured values.

    The class is still built with no arguments (the rule that keeps services plain): the object
    is allocated, the resolved config is written into its ``__dict__``, then ``__init__()`` runs.
    """
    klass: Any = cls
    obj = object.__new__(klass) if klass.__new__ is object.__new__ else klass.__new__(klass)
    obj.__dict__.update(values)
    init = klass.__init__
    if init is not object.__init__:
        init(obj)
    return obj


def _keywords(method: Callable[..., Any], ep: EndpointMeta) -> Callable[[Any], Any]:
    """A handler taking the request object of a keyword endpoint and calling the method with
    one keyword argument per field, so every transport passes one request value as before."""
    names = tuple(p.name for p in ep.params)

    def call(request: Any) -> Any:
        if isinstance(request, dict):
            return method(**request)
        return method(**{n: getattr(request, n) for n in names})

    call.__name__ = getattr(method, "__name__", ep.method)
    return call


class Mounts(dict[str, Instance]):
    """A host's instances by mount path; knows which first segments have deeper mounts, so the
    HTTP layer finds the instance of ``/a/b/...`` with one lookup in the common case."""

    def __init__(self) -> None:
        super().__init__()
        self.nested: frozenset[str] = frozenset()
        #: Caches derived from the mounts (the HTTP layer's resolved paths): cleared on change.
        self.caches: list[dict[Any, Any]] = []

    def _changed(self) -> None:
        self.nested = frozenset(p.partition("/")[0] for p in self if "/" in p)
        for cache in self.caches:
            cache.clear()

    def __setitem__(self, path: str, inst: Instance) -> None:
        super().__setitem__(path, inst)
        self._changed()

    def __delitem__(self, path: str) -> None:
        super().__delitem__(path)
        self._changed()

    def pop(self, path: str, *default: Any) -> Any:
        out = super().pop(path, *default)
        self._changed()
        return out

    def clear(self) -> None:
        super().clear()
        self._changed()
