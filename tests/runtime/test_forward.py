"""The HTTP host answering for a service in another process (``forward_graph``): same exposure
and access rules, bodies both ways, streams piece by piece, a client that leaves cancels the
handler over the runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from reverie import Host, attach_runtime
from reverie._private.config.deployment import parse_deployment
from reverie._private.http.attach import expose_graph
from reverie._private.http.server import HttpServer
from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.features import forward_graph
from reverie._private.runtime.natsserver import NatsServer
from tests.http.services import Reader, event

KEY = {"Authorization": "Bearer shared-internal-key"}
EXPOSED = "Feed:\n  ServiceArgs:\n    expose: true\n"
ENV = {"REVERIE_INTERNAL_KEY": "shared-internal-key"}  # one key per serve run, as the supervisor


@pytest.fixture
async def server() -> AsyncIterator[NatsServer]:
    s = NatsServer()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()
        s.cleanup()


@asynccontextmanager
async def _served(
    server: NatsServer, deploy_text: str, tmp: Path
) -> AsyncIterator[httpx.AsyncClient]:
    deploy = parse_deployment(deploy_text, str(tmp / "deploy.yaml"))
    async with (
        await DistributedRuntime.connect(server.url) as rt1,
        await DistributedRuntime.connect(server.url) as rt2,
    ):
        far = Host(env=ENV, name="far", deployment=deploy)
        near = Host(env=ENV, name="near", deployment=deploy)
        await attach_runtime(far, rt1)
        await attach_runtime(near, rt2)
        await far.start(Reader, local={"Feed"})
        await near.start(Reader, local={"Reader"})
        expose_graph(far, Reader)
        expose_graph(near, Reader)
        shown = forward_graph(near, Reader, rt2)
        assert shown == ({"Feed": "Feed"} if "expose" in deploy_text else {})
        try:
            async with (
                HttpServer(near, port=0, access_log=False) as srv,
                httpx.AsyncClient(base_url=srv.url, timeout=10) as http,
            ):
                yield http
        finally:
            await near.stop()
            await far.stop()


async def test_unexposed_is_404_without_a_key_and_reached_with_one(
    server: NatsServer, tmp_path: Path
) -> None:
    async with _served(server, "Feed: {}\n", tmp_path) as http:
        gone = await http.get("/Feed/hello")
        assert gone.status_code == 404
        assert gone.json()["message"] == "no service is mounted at /Feed; mounted: /Reader"
        ok = await http.get("/Feed/hello", headers=KEY)
        assert (ok.status_code, ok.json()) == (200, "hello")


async def test_exposed_answers_as_if_it_were_here(server: NatsServer, tmp_path: Path) -> None:
    async with _served(server, EXPOSED, tmp_path) as http:
        r = await http.get("/Feed/items/7", params={"verbose": "true"})
        assert (r.status_code, r.json()) == (200, {"id": 7, "verbose": True})
        added = await http.post("/Feed/items", json={"name": "pen", "qty": 2})
        assert (added.status_code, added.json()) == (200, {"name": "PEN", "qty": 2})
        bad = await http.post("/Feed/items", json={"name": "pen", "qty": "x"})
        assert bad.status_code == 422 and "qty" in bad.json()["message"]
        raw = await http.get("/Feed/raw")
        assert (raw.status_code, raw.headers["x-a"], raw.content) == (201, "b", b"\x89PNG")
        assert (await http.get("/Feed/internal")).status_code == 401  # the caller's standing
        assert (await http.get("/Feed/internal", headers=KEY)).status_code == 200
        async with http.stream("GET", "/Feed/ticks", params={"n": 3}) as resp:
            body = b"".join([c async for c in resp.aiter_bytes()])
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert body.count(b"data:") == 4
        big = await http.post("/Feed/items", content=b"x" * (2 << 20))
        assert big.status_code == 413
        assert "what one runtime message carries to the process serving it" in big.text


async def test_a_client_that_leaves_cancels_the_stream(server: NatsServer, tmp_path: Path) -> None:
    closed = event("closed:forwarded")
    closed.clear()
    async with _served(server, EXPOSED, tmp_path) as http:
        async with http.stream("GET", "/Feed/endless", params={"tag": "forwarded"}) as resp:
            async for line in resp.aiter_lines():
                assert line == "tick"
                break
        await asyncio.wait_for(closed.wait(), 10)
