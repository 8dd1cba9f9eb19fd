"""The NATS services protocol ($SRV.PING / INFO / STATS), so standard NATS tooling
(``nats micro ls``, ``nats micro info``, ``nats micro stats``) lists Reverie services.

Each component a process serves appears as one micro service: name = component, id = the
runtime's worker id, one micro endpoint per Reverie endpoint (its queue-group subject).
"""

from __future__ import annotations

import contextlib
import json
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from reverie import __version__

if TYPE_CHECKING:
    from .core import DistributedRuntime
    from .server import Served

__all__ = ["MicroResponder", "responder"]

log = logging.getLogger("reverie.runtime")

PREFIX = "$SRV"
_TYPES = {
    "PING": "io.nats.micro.v1.ping_response",
    "INFO": "io.nats.micro.v1.info_response",
    "STATS": "io.nats.micro.v1.stats_response",
}


class _Service:
    def __init__(self, ns: str, name: str) -> None:
        self.ns = ns
        self.name = name
        self.version = "0.0.0"
        self.description = ""
        self.metadata: dict[str, str] = {}
        self.endpoints: list[Served] = []
        self.started = datetime.now(UTC)
        self.subs: list[Any] = []


class MicroResponder:
    """Answers $SRV requests for every component this runtime serves."""

    def __init__(self, rt: DistributedRuntime) -> None:
        self.rt = rt
        self.services: dict[tuple[str, str], _Service] = {}
        self._root_sub: Any = None

    def set_info(
        self,
        ns: str,
        name: str,
        *,
        version: str | None,
        description: str | None,
        metadata: dict[str, str] | None,
    ) -> None:
        svc = self.services.get((ns, name)) or self.services.setdefault(
            (ns, name), _Service(ns, name)
        )
        if version is not None:
            svc.version = version
        if description is not None:
            svc.description = description
        if metadata is not None:
            svc.metadata = dict(metadata)

    async def add(self, served: Served) -> None:
        nc = self.rt.nc
        if self._root_sub is None:
            self._root_sub = await nc.subscribe(f"{PREFIX}.*", cb=self._on_request)
        key = (served.ns, served.component)
        svc = self.services.get(key)
        if svc is None:
            svc = self.services[key] = _Service(*key)
        if not svc.subs:
            iid = self.rt.worker_id
            for pattern in (f"{PREFIX}.*.{svc.name}", f"{PREFIX}.*.{svc.name}.{iid}"):
                svc.subs.append(await nc.subscribe(pattern, cb=self._on_request))
        svc.endpoints.append(served)

    def remove(self, served: Served) -> None:
        svc = self.services.get((served.ns, served.component))
        if svc is None:
            return
        with contextlib.suppress(ValueError):
            svc.endpoints.remove(served)
        if not svc.endpoints:
            for sub in svc.subs:
                self.rt.spawn(sub.unsubscribe())
            svc.subs.clear()

    async def _on_request(self, msg: Any) -> None:
        if not msg.reply:
            return
        parts = msg.subject.split(".")
        verb = parts[1] if len(parts) > 1 else ""
        if verb not in _TYPES:
            return
        name = parts[2] if len(parts) > 2 else None
        iid = parts[3] if len(parts) > 3 else None
        if iid is not None and iid != self.rt.worker_id:
            return
        for svc in list(self.services.values()):
            if not svc.endpoints or (name is not None and svc.name != name):
                continue
            body = self._answer(verb, svc)
            try:
                await self.rt.nc.publish(msg.reply, json.dumps(body).encode())
            except Exception as exc:
                log.info("could not answer %s: %s", msg.subject, exc)

    def _answer(self, verb: str, svc: _Service) -> dict[str, Any]:
        meta = {"reverie.namespace": svc.ns, "reverie.version": __version__, **svc.metadata}
        out: dict[str, Any] = {
            "type": _TYPES[verb],
            "name": svc.name,
            "id": self.rt.worker_id,
            "version": svc.version,
            "metadata": meta,
        }
        if verb == "INFO":
            out["description"] = svc.description
            out["endpoints"] = [
                {
                    "name": s.name,
                    "subject": s.subject,
                    "queue_group": "rv",
                    "metadata": {
                        "streaming": str(s.streaming).lower(),
                        "idempotent": str(s.idempotent).lower(),
                        "request_type": s.request_info.name,
                        **{k: str(v) for k, v in s.metadata.items()},
                    },
                }
                for s in svc.endpoints
            ]
        elif verb == "STATS":
            out["started"] = svc.started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            eps = []
            for s in svc.endpoints:
                st = s.stats
                eps.append(
                    {
                        "name": s.name,
                        "subject": s.subject,
                        "queue_group": "rv",
                        "num_requests": st.num_requests,
                        "num_errors": st.num_errors,
                        "last_error": st.last_error,
                        "processing_time": st.processing_time,
                        "average_processing_time": st.processing_time // st.num_requests
                        if st.num_requests
                        else 0,
                        "data": None,
                    }
                )
            out["endpoints"] = eps
        return out


def responder(rt: DistributedRuntime) -> MicroResponder:
    if rt.micro is None:
        rt.micro = MicroResponder(rt)
    return rt.micro
