"""examples/llm: the served text is the model's raw generation, token for token; OpenAI's client
works against it streaming and not; SSE framing; cancellation; errors; ``reverie serve``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml

from examples.llm.graph import (
    ChatCompletionRequest,
    Frontend,
    GenerateRequest,
    Message,
    ModelInfo,
    StreamOptions,
    Worker,
)
from examples.llm.tokenizer import ByteTokenizer, IncrementalDecoder
from reverie import endpoint, service
from reverie.errors import ServiceError, UnavailableError
from reverie.testing import make_instance, run_graph

from .conftest import EXAMPLES, Served, ServeProcess, served

shared_loop = pytest.mark.asyncio(loop_scope="module")
CONFIG: dict[str | type, dict[str, Any]] = {
    "Worker": {"threads": 1, "device": "cpu", "train_steps": 0},
}
MODEL = "reverie-tiny-llm"
TOK = ByteTokenizer()


def chat(content: str = "Hello!", **kw: Any) -> ChatCompletionRequest:
    return ChatCompletionRequest(messages=[Message(role="user", content=content)], **kw)


def raw_text(s: Served, content: str, max_tokens: int, **kw: Any) -> tuple[str, list[int]]:
    """What the model's own loop produces for the same conversation: text and token ids."""
    lm = s.host.instance(Worker).obj.lm
    prompt = TOK.apply_chat_template([{"role": "user", "content": content}])
    ids = lm.generate(
        prompt, max_tokens, stop_ids=TOK.stop_ids, suppress_ids=TOK.suppress_ids, **kw
    )
    return TOK.decode(i for i in ids if i not in TOK.stop_ids), ids


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def llm() -> AsyncIterator[Served]:
    async with served(Frontend, config=CONFIG) as s:
        yield s


# -- in-process -----------------------------------------------------------------------------------


@shared_loop
async def test_answer_is_the_raw_generation(llm: Served) -> None:
    client = llm.host.client(Frontend)
    answer = await client.complete(chat("Tell me a story.", max_tokens=40))
    text, ids = raw_text(llm, "Tell me a story.", 40)
    assert answer.object == "chat.completion" and answer.model == MODEL
    assert answer.choices[0].message.content == text
    assert answer.choices[0].finish_reason == ("stop" if ids[-1] in TOK.stop_ids else "length")
    prompt_len = len(TOK.apply_chat_template([{"role": "user", "content": "Tell me a story."}]))
    assert answer.usage.model_dump() == {
        "prompt_tokens": prompt_len,
        "completion_tokens": len(ids),
        "total_tokens": prompt_len + len(ids),
    }


@shared_loop
async def test_stream_chunks_add_up_to_the_same_answer(llm: Served) -> None:
    client = llm.host.client(Frontend)
    req = chat("Hi", max_tokens=30, stream=True, stream_options=StreamOptions(include_usage=True))
    chunks = [c async for c in client.stream(req)]
    whole = await client.complete(chat("Hi", max_tokens=30))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == whole.choices[0].message.content
    assert chunks[-2].choices[0].finish_reason == whole.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage == whole.usage


@shared_loop
async def test_sampling_with_a_seed_repeats(llm: Served) -> None:
    client = llm.host.client(Frontend)
    a = await client.complete(chat("x", max_tokens=20, temperature=0.9, seed=11))
    b = await client.complete(chat("x", max_tokens=20, temperature=0.9, seed=11))
    text, _ = raw_text(llm, "x", 20, temperature=0.9, seed=11)
    assert a.choices[0].message.content == b.choices[0].message.content == text


@service(sid="sid://reverie.dev/2026/examples/llm/worker", name="Worker", namespace="llm")
class ScriptedWorker:
    """Stands in for the model: "é" split over two tokens, " ok", then end of turn."""

    @endpoint()
    async def generate(self, request: GenerateRequest) -> AsyncIterator[int]:
        for token in [*"é ok".encode(), TOK.end_id, ord("X")]:
            yield token

    @endpoint()
    async def info(self) -> ModelInfo:
        raise NotImplementedError


async def test_stop_token_ends_the_answer_and_split_characters_decode_whole() -> None:
    async with run_graph(Frontend, overrides={Worker: ScriptedWorker}) as g:
        answer = await g.call(Frontend, "complete", chat(max_tokens=50))
        chunks = await g.collect(Frontend, "stream", chat(max_tokens=50, stream=True))
    assert answer.choices[0].message.content == "é ok"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.completion_tokens == 6  # 2 + 3 bytes + the end-of-turn token
    pieces = [c.choices[0].delta.content for c in chunks[1:-1]]
    assert pieces == ["é", " ", "o", "k"]  # the half character never went out alone
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tokenizer() -> None:
    ids = TOK.apply_chat_template(
        [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hé"},
        ]
    )
    sp = TOK.special_ids
    assert ids == [
        sp["<|bos|>"],
        sp["<|system|>"],
        *b"be brief",
        sp["<|end|>"],
        sp["<|user|>"],
        *"hé".encode(),
        sp["<|end|>"],
        sp["<|assistant|>"],
    ]
    assert TOK.decode(ids) == "be briefhé"
    dec = IncrementalDecoder()
    assert [dec.feed(i) for i in "✓".encode()] == ["", "", "✓"]
    assert dec.feed(0xFF) + dec.feed(ord("a")) == "\ufffda"
    dec.feed(0xE2)
    assert dec.flush() == "\ufffd"
    with pytest.raises(ValueError, match=r"unknown chat role 'tool'; roles: system, user, "):
        TOK.apply_chat_template([{"role": "tool", "content": "x"}])


# -- over HTTP ------------------------------------------------------------------------------------


@shared_loop
async def test_openai_client_streaming_and_not(llm: Served) -> None:
    from openai import AsyncOpenAI

    messages: Any = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello there"},
    ]
    async with AsyncOpenAI(base_url=f"{llm.url}/v1", api_key="unused", max_retries=0) as oai:
        models = await oai.models.list()
        assert [m.id for m in models.data] == [MODEL]
        whole = await oai.chat.completions.create(model=MODEL, messages=messages, max_tokens=25)
        stream = await oai.chat.completions.create(
            model=MODEL,
            messages=messages,
            max_tokens=25,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
    assert whole.object == "chat.completion"
    local = await llm.host.client(Frontend).complete(
        ChatCompletionRequest(messages=[Message(**m) for m in messages], max_tokens=25)
    )
    assert whole.choices[0].message.content == local.choices[0].message.content
    assert whole.choices[0].message.role == "assistant"
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == whole.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def _oai(llm: Served) -> Any:
    from openai import AsyncOpenAI

    return AsyncOpenAI(base_url=f"{llm.url}/v1", api_key="unused", max_retries=0)


USER: Any = [{"role": "user", "content": "Hello there"}]


@shared_loop
async def test_openai_client_exceptions_carry_the_error_envelope(llm: Served) -> None:
    import openai

    async with _oai(llm) as oai:
        with pytest.raises(openai.NotFoundError) as nf:
            await oai.chat.completions.create(model="gpt-4o", messages=USER)
        assert (nf.value.code, nf.value.param, nf.value.type) == (
            "model_not_found",
            "model",
            "invalid_request_error",
        )
        assert "model 'gpt-4o' is not served here; this server has 'reverie-tiny-llm'" in (
            nf.value.message
        )
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.chat.completions.create(
                model=MODEL,
                messages=[{"role": "wizard", "content": "x"}],
            )
        assert bad.value.param == "messages[0].role" and bad.value.code == "invalid_value"


@shared_loop
@pytest.mark.parametrize("stream", [False, True])
async def test_max_tokens_zero_is_refused(llm: Served, stream: bool) -> None:
    import openai

    async with _oai(llm) as oai:
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.chat.completions.create(
                model=MODEL, messages=USER, max_tokens=0, stream=stream
            )
        assert bad.value.param == "max_tokens"
        assert "max_tokens=0 is outside 1..1024" in bad.value.message
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.chat.completions.create(
                model=MODEL, messages=USER, max_completion_tokens=0, stream=stream
            )
        assert bad.value.param == "max_completion_tokens"


@shared_loop
@pytest.mark.parametrize(
    ("extra", "param", "code"),
    [
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
            "tools",
            "unsupported_parameter",
        ),
        ({"logprobs": True}, "logprobs", "unsupported_parameter"),
        ({"response_format": {"type": "json_object"}}, "response_format", "unsupported_parameter"),
        ({"n": 2}, "n", "unsupported_value"),
        ({"top_p": 0.5}, "top_p", "unsupported_parameter"),
    ],
)
async def test_unsupported_fields_are_refused_naming_them(
    llm: Served, extra: dict[str, Any], param: str, code: str
) -> None:
    import openai

    async with _oai(llm) as oai:
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.chat.completions.create(model=MODEL, messages=USER, max_tokens=3, **extra)
    assert (bad.value.param, bad.value.code) == (param, code)


@shared_loop
async def test_neutral_values_and_bookkeeping_fields_are_accepted(llm: Served) -> None:
    async with _oai(llm) as oai:
        out = await oai.chat.completions.create(
            model=MODEL,
            messages=USER,
            max_tokens=3,
            top_p=1,
            logprobs=False,
            user="u1",
            response_format={"type": "text"},
            n=1,
        )
    assert out.choices[0].finish_reason in ("stop", "length")


@shared_loop
async def test_content_as_a_list_of_text_parts(llm: Served) -> None:
    import openai

    parts: Any = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}],
        }
    ]
    async with _oai(llm) as oai:
        plain = await oai.chat.completions.create(model=MODEL, messages=USER, max_tokens=10)
        joined = await oai.chat.completions.create(model=MODEL, messages=parts, max_tokens=10)
        assert joined.choices[0].message.content == plain.choices[0].message.content
        image: Any = [
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}}],
            }
        ]
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.chat.completions.create(model=MODEL, messages=image, max_tokens=3)
    assert bad.value.param == "messages[0].content[0].type"
    assert "content parts of type 'image_url' are not supported" in bad.value.message


@shared_loop
async def test_stop_sequences_end_the_answer_before_them(llm: Served) -> None:
    async with _oai(llm) as oai:
        whole = await oai.chat.completions.create(model=MODEL, messages=USER, max_tokens=40)
        text = whole.choices[0].message.content or ""
        assert len(text) > 10, text
        stop = text[6:8]
        expected = text[: text.find(stop)]
        cut = await oai.chat.completions.create(
            model=MODEL, messages=USER, max_tokens=40, stop=[stop, "never-appears-here"]
        )
        assert cut.choices[0].message.content == expected
        assert cut.choices[0].finish_reason == "stop"
        stream = await oai.chat.completions.create(
            model=MODEL, messages=USER, max_tokens=40, stop=stop, stream=True
        )
        chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


@shared_loop
async def test_sse_framing(llm: Served) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "stream": True,
    }
    async with (
        httpx.AsyncClient(base_url=llm.url, timeout=10) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in resp.aiter_lines()]
    events = [line for line in lines if line]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) <= 5


@service(sid="sid://reverie.dev/2026/examples/llm/worker", name="Worker", namespace="llm")
class SlowWorker:
    """Streams 'a' every 5 ms for up to 3 s; notes whether it was closed early or ran out."""

    produced = 0
    closed = False
    ran_out = False

    @endpoint()
    async def generate(self, request: GenerateRequest) -> AsyncIterator[int]:
        try:
            for _ in range(600):
                SlowWorker.produced += 1
                yield ord("a")
                await asyncio.sleep(0.005)
            SlowWorker.ran_out = True
        finally:
            SlowWorker.closed = True

    @endpoint()
    async def info(self) -> ModelInfo:
        raise NotImplementedError


async def test_closing_the_stream_stops_the_worker() -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "go"}],
        "max_tokens": 1024,
        "stream": True,
    }
    async with served(Frontend, overrides={Worker: SlowWorker}) as s:
        async with (
            httpx.AsyncClient(base_url=s.url, timeout=10) as http,
            http.stream("POST", "/v1/chat/completions", json=body) as resp,
        ):
            got = 0
            async for line in resp.aiter_lines():
                got += line.startswith("data: ")
                if got == 4:
                    break
        for _ in range(50):  # bounded: 50 x 20 ms, well before the stream would run out
            if SlowWorker.closed:
                break
            await asyncio.sleep(0.02)
        assert SlowWorker.closed, "the worker's stream was not closed after the client left"
        assert not SlowWorker.ran_out and SlowWorker.produced < 600


# -- error paths ----------------------------------------------------------------------------------


@shared_loop
@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        (
            {"model": "gpt-4o"},
            404,
            "model 'gpt-4o' is not served here; this server has 'reverie-tiny-llm'",
        ),
        ({"messages": []}, 400, "messages is empty; send at least one message"),
        ({"n": 2}, 400, "n=2 is not supported; this server gives one choice"),
        (
            {"max_tokens": 5000},
            400,
            "max_tokens=5000 is outside 1..1024; ask for fewer tokens or "
            "raise v1.max_tokens_limit in the deployment file",
        ),
        (
            {"max_completion_tokens": -1},
            400,
            "max_tokens=-1 is outside 1..1024; ask for fewer "
            "tokens or raise v1.max_tokens_limit in the "
            "deployment file",
        ),
        ({"temperature": 2.5}, 400, "temperature=2.5 is outside 0..2"),
        (
            {"messages": [{"role": "user", "content": "x" * 2100}]},
            400,
            "the prompt has 2104 tokens, the model's context is 2048; shorten the conversation",
        ),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_bad_requests(
    llm: Served, change: dict[str, Any], status: int, message: str, stream: bool
) -> None:
    body = {
        "model": MODEL,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "stream": stream,
        **change,
    }
    async with httpx.AsyncClient(base_url=llm.url, timeout=10) as http:
        resp = await http.post("/v1/chat/completions", json=body)
    if stream and "prompt has" in message:
        # Found by the Worker once streaming began: the status has gone out, the error goes in-band.
        assert resp.status_code == 200
        events = [e for e in resp.text.split("\n\n") if e]
        error = json.loads(events[-2].removeprefix("data: "))["error"]
        assert error["message"] == message and error["type"] == "invalid_request_error"
        assert events[-1] == "data: [DONE]"
        return
    assert resp.status_code == status
    assert resp.json()["error"]["message"] == message


@shared_loop
async def test_unknown_role_is_a_validation_error(llm: Served) -> None:
    async with httpx.AsyncClient(base_url=llm.url, timeout=10) as http:
        resp = await http.post(
            "/v1/chat/completions",
            json={
                "model": MODEL,
                "messages": [{"role": "wizard", "content": "hi"}],
            },
        )
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["param"] == "messages[0].role" and error["code"] == "invalid_value"
    assert error["message"].startswith("messages[0].role: Input should be 'system'")


async def test_worker_without_model_is_unavailable() -> None:
    worker = make_instance(Worker)
    with pytest.raises(UnavailableError) as info:
        await worker.info()
    assert info.value.message == "the worker's model is not loaded; start the worker first"
    with pytest.raises(UnavailableError):
        async for _ in worker.generate(GenerateRequest(token_ids=[1])):
            pass


async def test_empty_prompt_is_refused_by_the_worker() -> None:
    async with run_graph(Worker, config=CONFIG) as g:
        with pytest.raises(ServiceError) as info:
            await g.collect(Worker, "generate", GenerateRequest(token_ids=[]))
    assert info.value.message == "the prompt is empty; give at least one token id"
    assert info.value.status == 400


# -- reverie serve --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [[], ["--processes"]], ids=["embedded", "processes"])
def test_reverie_serve_with_the_openai_client(
    serve_process: type[ServeProcess], tmp_path: Path, mode: list[str]
) -> None:
    """One process, and each service in its own process joined over NATS (streams included)."""
    from openai import OpenAI

    # The example's deployment file, minus the start-up training (seconds the test can spare).
    deploy = yaml.safe_load((EXAMPLES / "llm" / "deploy.yaml").read_text())
    deploy["Worker"]["train_steps"] = 0
    deploy["Worker"]["threads"] = 1
    path = tmp_path / "deploy.yaml"
    path.write_text(yaml.safe_dump(deploy))
    proc = serve_process("examples.llm.graph:Frontend", str(path), *mode)
    proc.wait_ready("/v1/models", timeout=60)
    with OpenAI(base_url=f"{proc.url}/v1", api_key="unused", max_retries=0) as oai:
        whole = oai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "Hello!"}], max_tokens=12
        )
        parts = [
            c.choices[0].delta.content or ""
            for c in oai.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "Hello!"}],
                max_tokens=12,
                stream=True,
            )
            if c.choices
        ]
    assert whole.usage is not None and whole.usage.completion_tokens == 12
    assert "".join(parts) == whole.choices[0].message.content
