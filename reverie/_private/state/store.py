"""Checkpoint stores: a local directory (one JSON file per key, replaced atomically) or a
JetStream KV bucket on the NATS runtime (nats-py), so a worker restarted on another node finds
its state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..runtime import DistributedRuntime

__all__ = ["DirectoryStore", "NatsKVStore", "Store"]


class Store(Protocol):
    """Where checkpoints live, by key (``<deployment name>/<mount path>``)."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes | None: ...

    def describe(self) -> str: ...


class DirectoryStore:
    """``<root>/<key>.json``; a write goes to a temporary file that then replaces the old one,
    so a crash mid-write leaves the previous checkpoint whole."""

    def __init__(self, root: str) -> None:
        self.root = root

    def describe(self) -> str:
        return f"directory {self.root}"

    def _file(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/")) + ".json"

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    def _put(self, key: str, data: bytes) -> None:
        target = self._file(key)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".ckpt-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes | None:
        try:
            with open(self._file(key), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None


class NatsKVStore:
    """A JetStream KV bucket (history 1) on the runtime's connection; keys use '/' and '.'
    as they are (both are valid KV key characters)."""

    def __init__(self, runtime: DistributedRuntime, bucket: str) -> None:
        self.runtime = runtime
        self.bucket = bucket
        self._kv: Any = None

    def describe(self) -> str:
        return f"NATS KV bucket {self.bucket} at {self.runtime.url}"

    async def _open(self) -> Any:
        if self._kv is None:
            import nats.js.errors

            js = self.runtime.nc.jetstream()
            try:
                self._kv = await js.key_value(self.bucket)
            except nats.js.errors.BucketNotFoundError:
                self._kv = await js.create_key_value(bucket=self.bucket, history=1)
        return self._kv

    async def put(self, key: str, data: bytes) -> None:
        kv = await self._open()
        await kv.put(key, data)

    async def get(self, key: str) -> bytes | None:
        import nats.js.errors

        kv = await self._open()
        try:
            entry = await kv.get(key)
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            return None
        value: bytes | None = entry.value
        return value
