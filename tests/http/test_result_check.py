"""The wrong-result rule for plain HTTP callers: a host checks an endpoint's result (and each
stream item) against its declared type before it serializes it, so curl gets the same
``InvalidResultError`` (500, ``invalid result: ...``) that a Reverie client raises."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from reverie import endpoint, service
from reverie._private.host.host import Host
from reverie._private.http.server import HttpServer


@dataclass
class Point:
    x: int
    y: int


@service(namespace="httptests")
class Shapes:
    @endpoint()
    async def wrong(self) -> int:
        return "not an int"  # type: ignore[return-value]

    @endpoint()
    async def right(self) -> Point:
        return Point(1, 2)

    @endpoint()
    async def converted(self) -> Point:
        return {"x": 3, "y": 4}  # type: ignore[return-value]

    @endpoint()
    async def items(self, bad_at: int) -> AsyncIterator[int]:
        for i in range(3):
            yield "oops" if i == bad_at else i  # type: ignore[misc]


@pytest.fixture
async def shapes() -> AsyncIterator[httpx.AsyncClient]:
    host = Host(env={}, name="shapes")
    await host.start(Shapes)
    try:
        async with (
            HttpServer(host, port=0, access_log=False) as srv,
            httpx.AsyncClient(base_url=srv.url, timeout=10) as http,
        ):
            yield http
    finally:
        await host.stop()


async def test_a_wrong_result_is_a_500_naming_the_result(shapes: httpx.AsyncClient) -> None:
    r = await shapes.post("/Shapes/wrong")
    assert r.status_code == 500
    body = r.json()
    assert body["code"] == "invalid_result"
    assert body["message"].startswith("invalid result: ")
    assert "does not match its declared int" in body["message"]
    assert body["service"] == "Shapes" and body["endpoint"] == "wrong"


async def test_a_right_result_is_answered_as_declared(shapes: httpx.AsyncClient) -> None:
    assert (await shapes.post("/Shapes/right")).json() == {"x": 1, "y": 2}
    assert (await shapes.post("/Shapes/converted")).json() == {"x": 3, "y": 4}


async def test_a_wrong_stream_item_ends_the_stream_with_the_error(
    shapes: httpx.AsyncClient,
) -> None:
    r = await shapes.post("/Shapes/items", json=1, headers={"accept": "text/event-stream"})
    assert r.status_code == 200
    assert "data: 0\n\nevent: error\ndata: {" in r.text
    error = json.loads(r.text.split("event: error\ndata: ", 1)[1].split("\n", 1)[0])
    assert error["code"] == "invalid_result"
    assert error["message"].startswith("invalid stream item: ")
    r = await shapes.post("/Shapes/items", json=0, headers={"accept": "text/event-stream"})
    assert r.status_code == 500 and r.json()["code"] == "invalid_result"
