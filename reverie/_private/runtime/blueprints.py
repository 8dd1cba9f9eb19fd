"""Blueprints in the runtime's KV bucket: hosts that know a component only remotely build their
clients from what its host published here."""

from __future__ import annotations

import logging
from typing import Any

from . import wire

__all__ = ["BlueprintStore"]

log = logging.getLogger("reverie.runtime")


class BlueprintStore:
    """``rv_blueprints``: key ``{ns}.{component}``, value the blueprint's JSON text."""

    def __init__(self, kv: Any) -> None:
        self._kv = kv

    def use(self, kv: Any) -> None:
        """The bucket handle, opened again (after a reconnect)."""
        self._kv = kv

    @staticmethod
    def _key(ns: str, component: str) -> str:
        return f"{wire.check_token('namespace', ns)}.{wire.check_token('component', component)}"

    async def put(self, ns: str, component: str, blueprint_json: str) -> None:
        from .connection import js_retry

        key = self._key(ns, component)
        value = blueprint_json.encode()
        await js_retry(lambda: self._kv.put(key, value), f"publish blueprint {key}")

    async def get(self, ns: str, component: str) -> str | None:
        import nats.js.errors

        key = self._key(ns, component)
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:
            log.debug("no blueprint published under %s", key)
            return None
        if not entry.value:
            return None
        return bytes(entry.value).decode()

    async def delete(self, ns: str, component: str) -> None:
        key = f"{ns}.{component}"
        try:
            await self._kv.purge(key)
        except Exception as exc:  # best effort: the next publish replaces it anyway
            log.info("could not delete the blueprint %s: %s", key, exc)
