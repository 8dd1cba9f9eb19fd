"""Implementations bound by SID in the config tests' deployment files."""

from __future__ import annotations

from reverie import config, endpoint, service

from .svc_config_graph import CACHE_SID, WORKER_SID


@service(sid=CACHE_SID)
class RedisCache:
    """Bound to the cache SID with 'bind:'."""

    size: int = config(128)
    password: str = config("", secret=True)

    @endpoint()
    async def get(self, key: str) -> str:
        return key


@service(sid=WORKER_SID, name="FastWorker")
class FastWorker:
    """Another implementation of the worker SID."""

    model_path: str = config("/models/fast")

    @endpoint()
    async def generate(self, prompt: str) -> str:
        return prompt.upper()


@service
class NoSid:
    """Declares no SID: binding it to one is an error."""

    @endpoint()
    async def ping(self) -> None:
        return None


NOT_A_SERVICE = 42
