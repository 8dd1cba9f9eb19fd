"""Endpoints over HTTP: unary JSON, streams as SSE or NDJSON, errors before/after the first item,
and a client disconnect cancelling the producer."""

from __future__ import annotations

import asyncio
import json

from tests.http.conftest import Served
from tests.http.services import event


async def test_unary_endpoint_answers_the_json_result(served: Served) -> None:
    r = await served.http.post("/Feed/double", json=21)
    assert r.status_code == 200 and r.json() == 42


async def test_endpoint_request_is_validated(served: Served) -> None:
    r = await served.http.post("/Feed/double", json="lots")
    assert r.status_code == 422
    assert r.json()["details"][0]["input"] == "lots"


async def test_endpoint_is_post_only(served: Served) -> None:
    r = await served.http.get("/Feed/double")
    assert r.status_code == 405 and r.headers["allow"] == "OPTIONS, POST"


async def test_stream_is_sse_by_default(served: Served) -> None:
    r = await served.http.post("/Feed/count", json=3)
    assert r.headers["content-type"] == "text/event-stream"
    assert r.text == "data: 0\n\ndata: 1\n\ndata: 2\n\nevent: end\ndata: null\n\n"


async def test_stream_is_ndjson_when_asked(served: Served) -> None:
    r = await served.http.post("/Feed/count", json=3, headers={"Accept": "application/x-ndjson"})
    assert r.headers["content-type"] == "application/x-ndjson"
    assert r.text == "0\n1\n2\n"


async def test_streaming_feature_is_sse_too(served: Served) -> None:
    r = await served.http.get("/Feed/ticks", params={"n": 2})
    assert r.text == "data: 0\n\ndata: 1\n\nevent: end\ndata: null\n\n"


async def test_error_before_the_first_item_is_a_status_with_problem(served: Served) -> None:
    r = await served.http.post("/Feed/fail_first", json=5)
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["message"] == "cannot stream 5"


async def test_error_after_the_first_item_is_an_error_event(served: Served) -> None:
    r = await served.http.post("/Feed/fail_later", json=2)
    assert r.status_code == 200
    events = r.text.strip().split("\n\n")
    assert events[:2] == ["data: 0", "data: 1"]
    name, data = events[2].split("\n")
    assert name == "event: error"
    err = json.loads(data.removeprefix("data: "))
    assert err["type"] == "KeyError" and err["message"] == "'ran dry'"


async def test_error_after_the_first_item_in_ndjson(served: Served) -> None:
    r = await served.http.post(
        "/Feed/fail_later", json=1, headers={"Accept": "application/x-ndjson"}
    )
    lines = r.text.strip().split("\n")
    assert lines[0] == "0"
    assert json.loads(lines[1])["@error"]["type"] == "KeyError"


async def test_client_disconnect_cancels_the_producer(served: Served) -> None:
    tag = "disconnect"
    event(f"closed:{tag}").clear()
    async with served.http.stream("POST", "/Feed/forever", json=tag) as r:
        seen = 0
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                seen += 1
                if seen == 3:
                    break
    # Leaving the block closes the connection; the generator's finally runs promptly.
    await asyncio.wait_for(event(f"closed:{tag}").wait(), 2.0)


async def test_client_disconnect_closes_a_streaming_response(served: Served) -> None:
    tag = "raw-disconnect"
    event(f"closed:{tag}").clear()
    async with served.http.stream("GET", "/Feed/endless", params={"tag": tag}) as r:
        seen = 0
        async for _ in r.aiter_lines():
            seen += 1
            if seen == 3:
                break
    await asyncio.wait_for(event(f"closed:{tag}").wait(), 2.0)
