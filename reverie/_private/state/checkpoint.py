"""Checkpoints: each stateful instance's state is saved to the deployment's store every
``interval`` seconds (when it changed) and on graceful shutdown, and an instance starting in a
process restarted after a crash begins from its last checkpoint (and logs that it did).

A checkpoint is a capture, so it is taken between requests; calls arriving meanwhile wait. What
happened after the last checkpoint before a crash is lost: the interval bounds that window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import msgspec

from ..host.lifecycle import State
from .document import StateDocument, read_document
from .ops import capture
from .settings import StateSettings, settings_for
from .store import DirectoryStore, NatsKVStore, Store

if TYPE_CHECKING:
    from ..config.deployment import Deployment
    from ..host.host import Host
    from ..host.instance import Instance

__all__ = ["Checkpointer", "attach_checkpoints"]

log = logging.getLogger("reverie.state")


class Checkpointer:
    """Saves and loads the checkpoints of one host's stateful instances."""

    def __init__(
        self, host: Host, store: Store, name: str, interval: float, suffix: str = ""
    ) -> None:
        self.host = host
        self.store = store
        self.name = name
        self.interval = interval
        self.suffix = suffix
        self._last: dict[str, bytes] = {}
        self._task: asyncio.Task[None] | None = None

    def key(self, inst: Instance) -> str:
        return f"{self.name}/{inst.path}{self.suffix}"

    def attach(self) -> None:
        host: Any = self.host
        host.state_loader = self.load
        host.checkpointer = self
        self.host.on_instance_running.append(self._on_running)
        self.host.on_instance_stopping.append(self._on_stopping)

    async def load(self, inst: Instance) -> StateDocument | None:
        """The last checkpoint of ``inst``, if there is one."""
        key = self.key(inst)
        raw = await self.store.get(key)
        if raw is None:
            return None
        doc = read_document(raw)
        self._last[key] = msgspec.json.encode(doc.data)
        return doc

    async def save(self, inst: Instance, why: str) -> bool:
        """Capture and store ``inst``'s state unless it is unchanged since the last save."""
        doc = await capture(inst)
        key = self.key(inst)
        data = msgspec.json.encode(doc.data)
        if self._last.get(key) == data:
            return False
        await self.store.put(key, doc.to_json())
        self._last[key] = data
        log.info(
            "checkpoint of %s saved to %s (%s, key %s)", inst.path, self.store.describe(), why, key
        )
        return True

    async def _on_running(self, inst: Instance) -> None:
        if inst.meta.state is not None and self.interval > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._periodic())

    async def _on_stopping(self, inst: Instance) -> None:
        if inst.meta.state is None or inst.forward is not None:
            return  # stateless, or moved away: the state lives (and is saved) elsewhere
        try:
            await self.save(inst, "shutdown")
        except Exception:
            log.exception("checkpoint of %s at shutdown failed", inst.path)
        if not self._stateful_running() and self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None

    def _stateful_running(self) -> list[Instance]:
        return [
            i
            for i in self.host.instances.values()
            if i.meta.state is not None and i.state is State.RUNNING and i.forward is None
        ]

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            for inst in self._stateful_running():
                try:
                    await self.save(inst, f"every {self.interval:g} s")
                except Exception as exc:
                    log.warning("periodic checkpoint of %s skipped: %s", inst.path, exc)


async def attach_checkpoints(
    host: Host,
    deployment: Deployment | None,
    runtime: Any = None,
    *,
    index: int = 0,
    count: int = 1,
) -> Checkpointer | None:
    """Checkpoint ``host``'s stateful instances as the deployment says (``state:``); the
    worker ``index`` keeps the keys of several workers of one service apart."""
    settings: StateSettings | None = settings_for(deployment)
    if settings is None:
        return None
    store: Store
    if settings.store == "nats":
        if runtime is None:
            from reverie.errors import ConfigError

            raise ConfigError(
                "checkpoints go to a NATS KV bucket (state: store: nats), but this process has "
                "no NATS runtime",
                source=settings.source,
                fix="serve with --nats or with processes, or use store: directory",
            )
        store = NatsKVStore(runtime, settings.bucket)
    else:
        store = DirectoryStore(settings.path)
    suffix = f".{index}" if count > 1 else ""
    cp = Checkpointer(host, store, settings.name, settings.interval, suffix)
    cp.attach()
    return cp
