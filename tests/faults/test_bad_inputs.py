"""The bad inputs of issue 16, each answered with a 4xx naming the problem, never a 500, never a
lost service: a config the service refuses (1), a NaN timeout (4), '..' mount paths (5), a short
body and a huge header (8), error bodies that echo URL values or internals (9)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from reverie._private.host.instance import mount_path_problem
from tests.faults.conftest import LIMITS, Served
from tests.faults.services import STARTED

ROOT = Path(__file__).resolve().parents[2]

# -- 1: a config change the service refuses ---------------------------------------------------


async def test_refused_config_is_400_and_the_service_keeps_running(served: Served) -> None:
    r = await served.http.put("/Ttl/@config", json={"default-ttl": -1}, headers=served.auth)
    assert r.status_code == 400, r.text
    msg = r.json()["message"]
    assert "instance 'Ttl' refused the new config" in msg
    assert "default-ttl=-1 must be a positive number of seconds" in msg
    assert "it runs again with its previous config" in msg
    assert (await served.http.get("/Ttl/ttl")).json() == 60.0
    assert (await served.http.get("/health/ready")).status_code == 200
    # and a later PUT still works
    r = await served.http.put("/Ttl/@config", json={"default-ttl": 5}, headers=served.auth)
    assert r.status_code == 200, r.text
    assert (await served.http.get("/Ttl/ttl")).json() == 5.0


# -- 4: X-Reverie-Timeout that is not a finite number -------------------------------------------


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999", "abc", "", "1e300"])
async def test_bad_timeout_header_is_400_naming_it(served: Served, value: str) -> None:
    r = await served.http.get("/Slow/page", headers={"X-Reverie-Timeout": value})
    assert r.status_code == 400, r.text
    assert "header X-Reverie-Timeout must be a finite number of seconds" in r.json()["message"]
    r = await served.http.post("/Slow/wait", json="x", headers={"X-Reverie-Timeout": value})
    assert r.status_code == 400, r.text


async def test_good_and_expired_timeouts_still_work(served: Served) -> None:
    assert (await served.http.get("/Slow/page", headers={"X-Reverie-Timeout": "5"})).json() == 10
    r = await served.http.post("/Slow/wait", json="t", headers={"X-Reverie-Timeout": "-1"})
    assert r.status_code == 504 and r.json()["code"] == "deadline_exceeded"


# -- 5: mount paths with '..' --------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "../../@host",
        "a/../b",
        "./x",
        "a//b",
        "..",
        "a/./b",
        "health",
        "@host",
        "a b",
        "a/b/c/d/e",
        "x%2F..",
    ],
)
async def test_dot_dot_and_odd_mount_paths_are_400(served: Served, path: str) -> None:
    r = await served.http.post(
        "/@host/services", headers=served.auth, json={"class": "Ttl", "path": path}
    )
    assert r.status_code == 400, r.text
    assert "cannot be a mount path" in r.json()["message"]
    assert set(served.host.instances) == {"Ttl", "Slow", "Guarded"}


async def test_a_good_nested_path_is_mounted(served: Served) -> None:
    r = await served.http.post(
        "/@host/services", headers=served.auth, json={"class": "Ttl", "path": "v1/ttl-2"}
    )
    assert r.status_code == 201, r.text
    assert (await served.http.get("/v1/ttl-2/ttl")).json() == 60.0


def test_mount_path_rules() -> None:
    assert mount_path_problem("api/v1") is None
    assert mount_path_problem("a/../b") == "the segment '..' is not allowed in a mount path"
    assert mount_path_problem("metrics/x") == "/metrics is reserved by the host"


# -- 8: a body shorter than its Content-Length; a header too large --------------------------------


def _raw(port: int, data: bytes) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


async def test_short_body_is_408_and_the_connection_closed(served: Served) -> None:
    req = (
        b"POST /Slow/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
        b'content-length: 100\r\n\r\n"only a part'
    )
    out = await asyncio.to_thread(_raw, served.server.port, req)
    assert out.startswith(b"HTTP/1.1 408 "), out[:200]
    assert b"connection: close" in out.lower()
    assert b"did not arrive within 1 s (this host's body_timeout)" in out


async def test_huge_header_is_431_and_the_connection_closed(served: Served) -> None:
    assert LIMITS.max_header_size is not None
    big = b"x" * (LIMITS.max_header_size + 10)
    req = b"GET /Slow/page HTTP/1.1\r\nhost: x\r\nx-big: " + big + b"\r\n\r\n"
    out = await asyncio.to_thread(_raw, served.server.port, req)
    assert out.startswith(b"HTTP/1.1 431 "), out[:200]
    assert b"exceed this host's limit of 8192 bytes" in out


async def test_slow_headers_are_408(served: Served) -> None:
    out = await asyncio.to_thread(_raw, served.server.port, b"GET /Slow/page HTTP/1.1\r\nho")
    assert out.startswith(b"HTTP/1.1 408 "), out[:200]
    assert b"request headers did not arrive within 1 s" in out


async def test_headers_and_body_below_the_limits_pass(served: Served) -> None:
    r = await served.http.get("/Slow/page", headers={"x-pad": "y" * 4000})
    assert r.status_code == 200
    r = await served.http.post("/Slow/echo", json="z" * 100_000)
    assert r.status_code == 200 and len(r.json()) == 100_000


# -- max_concurrent: 503 with Retry-After beyond it ----------------------------------------------


async def test_requests_beyond_max_concurrent_are_503_with_retry_after(served: Served) -> None:
    calls = [asyncio.ensure_future(served.http.post("/Slow/wait", json=f"c{i}")) for i in range(2)]
    for i in range(2):
        await STARTED.setdefault(f"c{i}", asyncio.Event()).wait()
    r = await served.http.post("/Slow/wait", json="third")
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "1"
    assert "is running 2 requests, its limit (max_concurrent)" in r.json()["message"]
    assert (await served.http.get("/Ttl/ttl")).status_code == 200  # per instance: others run
    assert (await served.http.get("/health/ready")).status_code == 200
    for c in calls:
        c.cancel()
    for c in calls:
        with pytest.raises(asyncio.CancelledError):
            await c
    STARTED.clear()


# -- 9: error bodies echo neither URL values nor internals; framework errors have a type ---------


async def test_a_query_value_is_not_echoed(served: Served) -> None:
    r = await served.http.get("/Slow/page", params={"limit": "sk-live-0123456789"})
    assert r.status_code == 422
    assert "sk-live" not in r.text
    assert r.json()["details"][0]["input"] == "<str of 18 characters, not shown>"


async def test_framework_errors_carry_a_problem_type(served: Served) -> None:
    for r in (
        await served.http.get("/Nope"),
        await served.http.get("/Slow/page?limit=x"),
        await served.http.delete("/Slow/page"),
    ):
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "about:blank", r.text


async def test_the_atom_405_names_no_file_path() -> None:
    from examples.atom.seeded import SeededFeedStore
    from reverie._private.host.host import Host
    from reverie._private.http.server import HttpServer

    host = Host(env={}, name="atom")
    host.register(SeededFeedStore)
    await host.start(SeededFeedStore)
    try:
        async with HttpServer(host, port=0, log_level="warning") as srv:
            import httpx

            async with httpx.AsyncClient(base_url=srv.url) as http:
                r = await http.post("/FeedStore/entries", json={"title": "t", "link": "http://x"})
    finally:
        await host.stop()
    assert r.status_code == 405, r.text
    root = str(ROOT)
    assert root not in r.text and "the file entries.json" in r.json()["message"]
