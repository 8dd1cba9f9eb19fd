"""Embeddings graph: an OpenAI-compatible ``POST /v1/embeddings`` frontend → a MiniLM encoder that
batches concurrent requests dynamically.

Run it: ``reverie serve examples.embeddings.graph:Frontend -f examples/embeddings/deploy.yaml``.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import struct
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from reverie import Request, config, depends, endpoint, feature, on_shutdown, on_start, service
from reverie.errors import CallError, ServiceError, UnavailableError

from ..openai_compat import error_response, invalid, parse_body, refuse_unsupported
from .model import MODEL_NAME  # model.py imports torch only when a model is built

if TYPE_CHECKING:
    from .model import MiniLM

log = logging.getLogger("examples.embeddings")


# -- the wire shapes (OpenAI's) -------------------------------------------------------------------


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings`` body, as the OpenAI API defines it."""

    model_config = ConfigDict(extra="allow")  # anything else is refused, naming it

    input: str | list[str]
    model: str = MODEL_NAME
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str  # a base64 string of float32s when encoding_format="base64"


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class Encoded(BaseModel):
    """What the encoder returns for a list of texts: one vector and token count per text."""

    vectors: list[list[float]]
    tokens: list[int]


class EncoderStats(BaseModel):
    """The encoder's counters: how many forward passes served how many texts."""

    model_calls: int
    items: int
    largest_batch: int
    max_batch_size: int
    max_wait_ms: float
    device: str
    device_name: str


# -- the worker -----------------------------------------------------------------------------------


class _Pending:
    """One text waiting for the batching loop, and the future its caller awaits."""

    __slots__ = ("future", "text")

    def __init__(self, text: str, future: asyncio.Future[tuple[list[float], int]]) -> None:
        self.text = text
        self.future = future


@service(sid="sid://reverie.dev/2026/examples/embeddings/encoder", namespace="embeddings")
class Encoder:
    """Encodes texts with MiniLM. One batching loop gathers the texts of concurrent calls into
    batches of up to ``max_batch_size``, waiting at most ``max_wait_ms`` for a batch to fill."""

    max_batch_size: int = config(32, "Most texts in one forward pass")
    max_wait_ms: float = config(5.0, "Longest wait for a batch to fill once a text is queued")
    device: str = config(
        "auto", "Torch device: auto (cuda when torch sees a GPU, else cpu), cpu, cuda, cuda:1, ..."
    )
    threads: int = config(0, "torch CPU threads (0 keeps torch's default)")

    def __init__(self) -> None:
        self._queue: deque[_Pending] = deque()
        self._arrived = asyncio.Event()
        self._model: MiniLM | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False
        self.model_calls = 0
        self.items = 0
        self.largest_batch = 0

    @on_start
    async def load(self) -> None:
        """Load the model off the event loop, then start the one batching loop."""
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        from .model import MiniLM

        self._model = await asyncio.to_thread(MiniLM, self.device, self.threads)
        self._loop_task = asyncio.create_task(self._batching_loop(), name="encoder-batching")
        log.info("encoder ready on %s", self._model.device)

    @on_shutdown
    async def close(self) -> None:
        """Stop the loop; callers still waiting get an UnavailableError."""
        self._closing = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            try:
                await self._loop_task
            except asyncio.CancelledError:
                pass
        while self._queue:
            item = self._queue.popleft()
            if not item.future.done():
                item.future.set_exception(
                    UnavailableError("the encoder stopped before this text was encoded")
                )

    @endpoint()
    async def encode(self, texts: list[str]) -> Encoded:
        """Encode texts; each joins whatever batch the loop is gathering."""
        if self._closing or self._loop_task is None:
            raise UnavailableError("the encoder is not running; start it in a host first")
        loop = asyncio.get_running_loop()
        futures = []
        for text in texts:
            fut: asyncio.Future[tuple[list[float], int]] = loop.create_future()
            self._queue.append(_Pending(text, fut))
            futures.append(fut)
        self._arrived.set()
        results = await asyncio.gather(*futures)
        return Encoded(vectors=[r[0] for r in results], tokens=[r[1] for r in results])

    @endpoint()
    async def stats(self) -> EncoderStats:
        """Counters: forward passes, texts served, the largest batch so far."""
        model = self._model
        return EncoderStats(
            model_calls=self.model_calls,
            items=self.items,
            largest_batch=self.largest_batch,
            max_batch_size=self.max_batch_size,
            max_wait_ms=self.max_wait_ms,
            device=model.device if model else "not loaded",
            device_name=model.device_name if model else "not loaded",
        )

    @feature("GET:stats", "The encoder's batching counters")
    async def get_stats(self) -> EncoderStats:
        return await self.stats()

    async def _batching_loop(self) -> None:
        queue = self._queue
        while True:
            if not queue:
                self._arrived.clear()
                await self._arrived.wait()
            # Give the batch up to max_wait_ms to fill, without a task or a timer per request.
            deadline = time.monotonic() + self.max_wait_ms / 1000
            while len(queue) < self.max_batch_size:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.clear()
                try:
                    async with asyncio.timeout(remaining):
                        await self._arrived.wait()
                except TimeoutError:
                    break
            batch: list[_Pending] = []
            while queue and len(batch) < self.max_batch_size:
                item = queue.popleft()
                if not item.future.done():  # its caller may have been cancelled meanwhile
                    batch.append(item)
            if batch:
                await self._run(batch)

    async def _run(self, batch: list[_Pending]) -> None:
        assert self._model is not None
        try:
            vectors, tokens = await asyncio.to_thread(self._model.encode, [b.text for b in batch])
        except Exception as exc:
            log.exception("encoding a batch of %d failed", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(
                        ServiceError(500, f"the encoder failed on a batch: {exc}")
                    )
            return
        self.model_calls += 1
        self.items += len(batch)
        self.largest_batch = max(self.largest_batch, len(batch))
        for item, vec, n in zip(batch, vectors, tokens, strict=True):
            if not item.future.done():
                item.future.set_result((vec, n))


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "reverie"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- the frontend ---------------------------------------------------------------------------------


def _float32_base64(vector: list[float]) -> str:
    """The ``encoding_format="base64"`` form: little-endian float32s, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


# Named "v1" so the host mounts it at /v1, where OpenAI clients look: POST /v1/embeddings.
@service(name="v1", namespace="embeddings")
class Frontend:
    """OpenAI-compatible embeddings API: ``POST /v1/embeddings``."""

    max_inputs: int = config(256, "Most texts one request may carry")
    encoder = depends(Encoder)

    def __init__(self) -> None:
        self._created = int(time.time())

    # The RPC endpoint is "embed": an endpoint named "embeddings" would answer POST /v1/embeddings
    # too, where the OpenAI-compatible feature lives (a markup error).
    @feature("POST:embeddings", "Create embeddings (OpenAI-compatible)")
    async def embeddings(self, raw: Request) -> Any:
        """Errors answer in OpenAI's envelope, so the official client's exceptions carry them."""
        try:
            return await self.embed(parse_body(raw, EmbeddingRequest))
        except CallError as exc:
            return error_response(exc)

    @feature("GET:models", "The models served here")
    async def models(self) -> ModelList:
        return ModelList(data=[ModelCard(id=MODEL_NAME, created=self._created)])

    @endpoint()
    async def embed(self, request: EmbeddingRequest) -> EmbeddingResponse:
        texts = [request.input] if isinstance(request.input, str) else list(request.input)
        _check(request, texts, self.max_inputs)
        encoded: Encoded = await self.encoder.encode(texts)
        data: list[Embedding] = []
        for i, vec in enumerate(encoded.vectors):
            value: Any = _float32_base64(vec) if request.encoding_format == "base64" else vec
            data.append(Embedding(index=i, embedding=value))
        total = sum(encoded.tokens)
        return EmbeddingResponse(
            data=data, model=MODEL_NAME, usage=Usage(prompt_tokens=total, total_tokens=total)
        )


def _check(request: EmbeddingRequest, texts: list[str], max_inputs: int) -> None:
    """Refuse what OpenAI refuses, with a message naming the field and the fix."""
    if request.model != MODEL_NAME:
        raise invalid(
            f"model {request.model!r} is not served here; this server has {MODEL_NAME!r}",
            param="model",
            code="model_not_found",
            status=404,
        )
    refuse_unsupported(request, {}, frozenset())
    if not texts:
        raise invalid("input is empty; send a string or a non-empty list of strings", param="input")
    if len(texts) > max_inputs:
        raise invalid(
            f"input has {len(texts)} texts, more than max_inputs={max_inputs}; "
            f"split the request or raise v1.max_inputs in the deployment file",
            param="input",
        )
    if any(not t for t in texts):
        raise invalid("input contains an empty string; every text needs content", param="input")
    if request.dimensions is not None and request.dimensions != 384:
        raise invalid(
            f"dimensions={request.dimensions} is not supported; {MODEL_NAME} gives 384",
            param="dimensions",
            code="unsupported_value",
        )
