"""The Dynamo SDK example of seeds/000_bee7afb86216b8e5.txt §8.1, as written there, with one
changed line: the import (``from dynamo.sdk import ...`` -> ``from reverie.compat.dynamo import``).

The seed leaves ``create_engine`` undefined; the block above the copied code supplies a small
CPU stand-in for vLLM (not part of the seed): its ``generate`` streams the prompt's words back
with the model path, so a test can see that the YAML's ``model_path`` reached the engine.
"""
# ruff: noqa

from collections.abc import AsyncIterator
from typing import Any


# -- not part of the seed: the engine it leaves undefined ------------------------------------------
class _Engine:
    def __init__(self, model_path: str) -> None:
        self.model_path = model_path

    async def generate(self, request: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        for word in str(request.get("prompt", "")).split():
            yield {"token": word, "model": self.model_path}


async def create_engine(model_path: str) -> _Engine:
    return _Engine(model_path)


# -- seeds/000_bee7afb86216b8e5.txt §8.1, verbatim but for the import line ----------------------------
from reverie.compat.dynamo import service, dynamo_endpoint, async_on_start, depends


@service(
    dynamo={"enabled": True, "namespace": "dynamo"},
    resources={"gpu": 1},
)
class VllmWorker:
    """vLLM Worker 服务"""

    # 配置属性（可被 YAML 覆盖）
    model_path: str = "/models/default"

    def __init__(self):
        self.engine = None

    @async_on_start
    async def async_init(self):
        """异步初始化"""
        self.engine = await create_engine(self.model_path)

    @dynamo_endpoint()
    async def generate(self, request: dict):
        """生成端点"""
        async for token in self.engine.generate(request):
            yield token


@service(dynamo={"enabled": True, "namespace": "dynamo"})
class Processor:
    """处理器服务"""

    # 依赖注入
    worker = depends(VllmWorker)

    @async_on_start
    async def async_init(self):
        self.client = await self.worker.get_endpoint("generate")

    @dynamo_endpoint()
    async def process(self, request: dict):
        async for resp in self.client.generate(request):
            yield resp
