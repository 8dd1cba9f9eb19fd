"""LLM graph: an OpenAI-compatible ``POST /v1/chat/completions`` (SSE streaming or one JSON answer)
→ Processor (chat template, tokenisation, detokenisation) → Worker (a tiny local causal LM that
streams token ids, one cached forward pass per token).

Run it: ``reverie serve examples.llm.graph:Frontend -f examples/llm/deploy.yaml``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reverie import (
    Request,
    config,
    current_context,
    depends,
    endpoint,
    feature,
    on_start,
    service,
)
from reverie.errors import CallError, ServiceError, UnavailableError

from ..openai_compat import envelope, error_response, invalid, parse_body, refuse_unsupported
from .tokenizer import ByteTokenizer, IncrementalDecoder

if TYPE_CHECKING:
    from .model import TinyLM

log = logging.getLogger("examples.llm")

MODEL_NAME = "reverie-tiny-llm"


# -- Worker: token ids in, token ids out ----------------------------------------------------------


class GenerateRequest(BaseModel):
    """What the Processor asks the Worker for."""

    token_ids: list[int]
    max_tokens: int = 64
    temperature: float = 0.0
    seed: int | None = None
    stop_ids: list[int] = Field(default_factory=list)
    suppress_ids: list[int] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """What the Worker runs, for ``GET /v1/models`` and the benchmark's report."""

    name: str
    parameters: int
    vocab_size: int
    hidden_size: int
    layers: int
    trained_steps: int
    device: str
    device_name: str


@service(sid="sid://reverie.dev/2026/examples/llm/worker", namespace="llm")
class Worker:
    """Runs the tiny model: prefill, then one forward pass per token with the KV cache."""

    hidden_size: int = config(64, "Model width")
    layers: int = config(2, "Transformer layers")
    seed: int = config(0, "Seed of the initial weights (and of sampling without a request seed)")
    train_steps: int = config(0, "Training steps on the bundled text at start (0: random weights)")
    device: str = config(
        "auto", "Torch device: auto (cuda when torch sees a GPU, else cpu), cpu, cuda"
    )
    threads: int = config(0, "torch CPU threads (0 keeps torch's default)")

    def __init__(self) -> None:
        self.lm: TinyLM | None = None
        self.tokens_out = 0

    @on_start
    async def load(self) -> None:
        """Build (and maybe briefly train) the model off the event loop."""
        from .model import ModelSpec, TinyLM

        spec = ModelSpec(
            hidden_size=self.hidden_size,
            layers=self.layers,
            seed=self.seed,
            train_steps=self.train_steps,
            device=self.device,
            threads=self.threads,
        )
        self.lm = await asyncio.to_thread(TinyLM, spec)
        log.info("worker ready: %d parameters on %s", self.lm.parameters, self.lm.device)

    def _model(self) -> TinyLM:
        if self.lm is None:
            raise UnavailableError("the worker's model is not loaded; start the worker first")
        return self.lm

    @endpoint()
    async def generate(self, request: GenerateRequest) -> AsyncIterator[int]:
        """Stream token ids. Steps run inline: each is well under a millisecond for this model,
        less than handing it to a thread would cost; a big model would batch in its own loop."""
        lm = self._model()
        try:
            steps = lm.steps(
                request.token_ids,
                request.max_tokens,
                temperature=request.temperature,
                seed=request.seed,
                stop_ids=request.stop_ids,
                suppress_ids=request.suppress_ids,
            )
            for token in steps:
                self.tokens_out += 1
                yield token
                await asyncio.sleep(0)  # let other streams and the server run between tokens
        except ValueError as exc:
            raise ServiceError(400, str(exc)) from None

    @endpoint()
    async def info(self) -> ModelInfo:
        lm = self._model()
        return ModelInfo(
            name=MODEL_NAME,
            parameters=lm.parameters,
            vocab_size=lm.tokenizer.vocab_size,
            hidden_size=lm.spec.hidden_size,
            layers=lm.spec.layers,
            trained_steps=lm.trained_steps,
            device=lm.device,
            device_name=lm.device_name,
        )


# -- Processor: messages in, text pieces out ------------------------------------------------------


class Message(BaseModel):
    """A chat message; ``content`` is text, or OpenAI's list of parts (text parts only here)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[dict[str, Any]]

    def text(self, index: int = 0) -> str:
        """The content as one string; a part that is not text is refused, naming it."""
        if isinstance(self.content, str):
            return self.content
        pieces = []
        for j, part in enumerate(self.content):
            where = f"messages[{index}].content[{j}]"
            if part.get("type") != "text":
                raise invalid(
                    f"{where}: content parts of type {part.get('type')!r} are not supported; "
                    f"this model reads text parts only",
                    param=f"{where}.type",
                )
            if not isinstance(part.get("text"), str):
                raise invalid(f"{where}: a text part needs 'text': a string", param=f"{where}.text")
            pieces.append(part["text"])
        return "".join(pieces)


class ChatRequest(BaseModel):
    """What the Frontend asks the Processor for."""

    messages: list[Message]
    max_tokens: int = 64
    temperature: float = 0.0
    seed: int | None = None
    stop: list[str] = Field(default_factory=list)


class Delta(BaseModel):
    """A piece of the answer; the last one carries ``finish_reason`` and the token counts."""

    text: str = ""
    finish_reason: Literal["stop", "length"] | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@service(sid="sid://reverie.dev/2026/examples/llm/processor", namespace="llm")
class Processor:
    """Applies the chat template, tokenises, streams the Worker's ids and detokenises them."""

    worker = depends(Worker)

    def __init__(self) -> None:
        self.tokenizer = ByteTokenizer()

    @endpoint()
    async def chat(self, request: ChatRequest) -> AsyncIterator[Delta]:
        tok = self.tokenizer
        prompt = tok.apply_chat_template(
            {"role": "system" if m.role == "developer" else m.role, "content": m.text(i)}
            for i, m in enumerate(request.messages)
        )
        decoder = IncrementalDecoder()
        stops = _StopScan(request.stop)
        count = 0
        finish: Literal["stop", "length"] = "length"
        gen = GenerateRequest(
            token_ids=prompt,
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            seed=request.seed,
            stop_ids=tok.stop_ids,
            suppress_ids=tok.suppress_ids,
        )
        async for token in self.worker.generate(gen):
            count += 1
            if token in tok.stop_ids:
                finish = "stop"
                break
            text, hit = stops.feed(decoder.feed(token))
            if text:
                yield Delta(text=text)
            if hit:  # a stop sequence: the answer ends before it (leaving closes the Worker)
                finish = "stop"
                break
        tail = stops.flush(decoder.flush()) if finish == "length" or not stops.hit else ""
        yield Delta(
            text=tail,
            finish_reason=finish,
            prompt_tokens=len(prompt),
            completion_tokens=count,
        )


class _StopScan:
    """Cuts the text at the first stop sequence. Text that may be the start of one is held back
    until the next piece shows whether it is, so no part of a stop sequence is ever sent."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.held = ""
        self.hit = False

    def feed(self, text: str) -> tuple[str, bool]:
        if not self.stops:
            return text, False
        buf = self.held + text
        cut = min((i for i in (buf.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            self.held, self.hit = "", True
            return buf[:cut], True
        keep = max(
            (n for s in self.stops for n in range(1, len(s)) if buf.endswith(s[:n])), default=0
        )
        self.held = buf[len(buf) - keep :] if keep else ""
        return buf[: len(buf) - keep], False

    def flush(self, text: str) -> str:
        out, _ = self.feed(text)
        if not self.hit:
            out, self.held = out + self.held, ""
        return out


# -- Frontend: the OpenAI wire format -------------------------------------------------------------


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions`` body: the subset of OpenAI's this example honours. Any other
    field (``tools``, ``logprobs``, ``response_format``, ...) is refused naming it, unless it is
    set to its neutral value (``top_p: 1``) or is bookkeeping (``user``, ``metadata``)."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_NAME
    messages: list[Message]
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    temperature: float | None = None
    seed: int | None = None
    n: int = 1
    stop: str | list[str] | None = None


_NEUTRAL: dict[str, Any] = {
    "top_p": 1,
    "frequency_penalty": 0,
    "presence_penalty": 0,
    "logprobs": False,
    "tools": [],
    "response_format": {"type": "text"},
    "logit_bias": {},
}
_IGNORED = frozenset({"user", "metadata", "store", "service_tier", "parallel_tool_calls"})


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChoiceMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: ChoiceMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "reverie"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _completion_id() -> str:
    ctx = current_context()
    return f"chatcmpl-{ctx.request_id if ctx is not None else int(time.time() * 1e6)}"


# Named "v1" so the host mounts it at /v1, where OpenAI clients look: /v1/chat/completions.
@service(name="v1", namespace="llm")
class Frontend:
    """OpenAI-compatible chat API: ``POST /v1/chat/completions`` and ``GET /v1/models``."""

    default_max_tokens: int = config(64, "max_tokens when a request gives none")
    max_tokens_limit: int = config(1024, "Largest max_tokens a request may ask for")
    processor = depends(Processor)

    def __init__(self) -> None:
        self._created = int(time.time())

    def _chat_request(self, req: ChatCompletionRequest) -> ChatRequest:
        if req.model != MODEL_NAME:
            raise invalid(
                f"model {req.model!r} is not served here; this server has {MODEL_NAME!r}",
                param="model",
                code="model_not_found",
                status=404,
            )
        refuse_unsupported(req, _NEUTRAL, _IGNORED)
        if not req.messages:
            raise invalid("messages is empty; send at least one message", param="messages")
        if req.n != 1:
            raise invalid(
                f"n={req.n} is not supported; this server gives one choice",
                param="n",
                code="unsupported_value",
            )
        param = "max_completion_tokens" if req.max_completion_tokens is not None else "max_tokens"
        given = (
            req.max_completion_tokens if req.max_completion_tokens is not None else (req.max_tokens)
        )
        max_tokens = self.default_max_tokens if given is None else given  # 0 is refused, not 64
        if not 1 <= max_tokens <= self.max_tokens_limit:
            raise invalid(
                f"max_tokens={max_tokens} is outside 1..{self.max_tokens_limit}; ask for "
                f"fewer tokens or raise v1.max_tokens_limit in the deployment file",
                param=param,
            )
        temperature = 0.0 if req.temperature is None else req.temperature
        if not 0.0 <= temperature <= 2.0:
            raise invalid(f"temperature={temperature} is outside 0..2", param="temperature")
        stop = [req.stop] if isinstance(req.stop, str) else list(req.stop or [])
        if len(stop) > 4:
            raise invalid(f"stop has {len(stop)} sequences; up to 4 are allowed", param="stop")
        messages = [Message(role=m.role, content=m.text(i)) for i, m in enumerate(req.messages)]
        return ChatRequest(
            messages=messages,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=req.seed,
            stop=stop,
        )

    @endpoint()
    async def complete(self, request: ChatCompletionRequest) -> ChatCompletion:
        """The whole answer at once (``stream: false``)."""
        chat = self._chat_request(request)
        parts: list[str] = []
        last = Delta()
        async for delta in self.processor.chat(chat):
            parts.append(delta.text)
            last = delta
        return ChatCompletion(
            id=_completion_id(),
            created=int(time.time()),
            model=MODEL_NAME,
            choices=[
                Choice(
                    message=ChoiceMessage(content="".join(parts)),
                    finish_reason=last.finish_reason or "length",
                )
            ],
            usage=_usage(last),
        )

    @endpoint()
    async def stream(self, request: ChatCompletionRequest) -> AsyncIterator[ChatCompletionChunk]:
        """The answer as ``chat.completion.chunk`` objects (``stream: true``)."""
        async for chunk in self._chunks(request, _completion_id()):
            yield chunk

    async def _chunks(
        self, request: ChatCompletionRequest, cid: str
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        chat = self._chat_request(request)
        created = int(time.time())

        def chunk(
            delta: ChunkDelta, finish: Any = None, usage: Usage | None = None, choices: bool = True
        ) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=cid,
                created=created,
                model=MODEL_NAME,
                usage=usage,
                choices=[ChunkChoice(delta=delta, finish_reason=finish)] if choices else [],
            )

        yield chunk(ChunkDelta(role="assistant", content=""))
        last = Delta()
        async for delta in self.processor.chat(chat):
            last = delta
            if delta.text:
                yield chunk(ChunkDelta(content=delta.text))
        yield chunk(ChunkDelta(), finish=last.finish_reason or "length")
        if request.stream_options is not None and request.stream_options.include_usage:
            yield chunk(ChunkDelta(), usage=_usage(last), choices=False)

    @feature("POST:chat/completions", "Chat completion, OpenAI-compatible; SSE when stream=true")
    async def chat_completions(self, raw: Request) -> Any:
        """Errors answer in OpenAI's envelope (``{"error": {message, type, param, code}}``), so
        the official client's exceptions carry them; the body is validated here for that."""
        from reverie import StreamingResponse

        try:
            request = parse_body(raw, ChatCompletionRequest)
            if not request.stream:
                return await self.complete(request)
            self._chat_request(request)  # refuse a bad request with a status before streaming
        except CallError as exc:
            return error_response(exc)
        # The id is taken now: the request context is current here, not while the body streams.
        return StreamingResponse(
            _sse(self._chunks(request, _completion_id())),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache"},
        )

    @feature("GET:models", "The models served here")
    async def models(self) -> ModelList:
        return ModelList(data=[ModelCard(id=MODEL_NAME, created=self._created)])


def _usage(last: Delta) -> Usage:
    return Usage(
        prompt_tokens=last.prompt_tokens,
        completion_tokens=last.completion_tokens,
        total_tokens=last.prompt_tokens + last.completion_tokens,
    )


async def _sse(chunks: AsyncGenerator[ChatCompletionChunk, None]) -> AsyncIterator[bytes]:
    """Server-sent events: one ``data: {json}`` per chunk, then ``data: [DONE]``.

    Closing this (the client went away) closes ``chunks``, which stops the Worker's loop.
    """
    try:
        async for chunk in chunks:
            yield b"data: " + chunk.model_dump_json().encode() + b"\n\n"
    except CallError as exc:  # mid-stream failure: the status line has gone, say it in-band
        yield b"data: " + _json(envelope(exc)) + b"\n\n"
    finally:
        await chunks.aclose()
    yield b"data: [DONE]\n\n"


def _json(value: Any) -> bytes:
    import json

    return json.dumps(value).encode()
