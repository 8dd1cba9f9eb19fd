"""One test per claim of docs/security.md (the claim is quoted in each docstring)."""

from __future__ import annotations

import logging

import httpx
import pytest

from reverie._private.host.host import Host
from reverie._private.http.access import AccessPolicy
from reverie._private.http.server import HttpServer
from tests.faults.conftest import API_KEY, Served
from tests.faults.services import Guarded

WRONG = "wrong-key-that-must-never-be-echoed-42"


async def test_public_features_need_no_key(served: Served) -> None:
    """public: anyone who reaches the port."""
    assert (await served.http.get("/Guarded/open")).json() == "open"


async def test_internal_features_need_the_internal_or_api_key(served: Served) -> None:
    """internal: the host's internal key or the API key; 401 without a key, 403 with another."""
    internal = served.server.app.access.internal_key
    assert (await served.http.get("/Guarded/inner")).status_code == 401
    r = await served.http.get("/Guarded/inner", headers={"Authorization": f"Bearer {WRONG}"})
    assert r.status_code == 403
    for key in (internal, API_KEY):
        r = await served.http.get("/Guarded/inner", headers={"Authorization": f"Bearer {key}"})
        assert r.json() == "inner"


async def test_private_features_need_the_api_key_only(served: Served) -> None:
    """private: the API key only; the internal key does not grant it."""
    internal = served.server.app.access.internal_key
    for path in ("/Guarded/admin", "/@host/services"):
        r = await served.http.get(path, headers={"Authorization": f"Bearer {internal}"})
        assert r.status_code == 403, path
        r = await served.http.get(path, headers=served.auth)
        assert r.status_code == 200, path


async def test_without_an_api_key_private_features_are_refused() -> None:
    """With no API key configured, private features are refused (403), never opened."""
    host = Host(env={}, name="nokey")
    host.register(Guarded)
    await host.start(Guarded)
    try:
        async with (
            HttpServer(host, port=0, log_level="warning") as srv,
            httpx.AsyncClient(base_url=srv.url) as http,
        ):
            for path in ("/Guarded/admin", "/@host/services"):
                r = await http.get(path, headers={"Authorization": "Bearer anything"})
                assert r.status_code == 403
                assert "has no API key configured, so it is refused" in r.json()["message"]
    finally:
        await host.stop()


@pytest.mark.parametrize(
    "query",
    [
        f"api_key={API_KEY}",
        f"access_token={API_KEY}",
        f"key={API_KEY}",
        f"authorization=Bearer%20{API_KEY}",
    ],
)
async def test_a_key_in_the_url_grants_nothing(served: Served, query: str) -> None:
    """Keys travel only in the Authorization header; a key in the URL is ignored."""
    r = await served.http.get(f"/Guarded/admin?{query}")
    assert r.status_code == 401
    r = await served.http.get(f"/@host/services?{query}")
    assert r.status_code == 401


async def test_keys_are_never_in_error_bodies_or_logs(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    """A key sent is never echoed in an error body or written to a log line."""
    caplog.set_level(logging.DEBUG)
    bodies = []
    for path in ("/Guarded/admin", "/Guarded/inner", "/@host/services", "/Nope", "/Guarded/boom"):
        r = await served.http.get(path, headers={"Authorization": f"Bearer {WRONG}"})
        bodies.append(r.text)
    r = await served.http.get("/Guarded/admin", headers=served.auth)
    assert r.status_code == 200
    for text in bodies + [rec.getMessage() for rec in caplog.records]:
        assert WRONG not in text and API_KEY not in text


def test_the_policy_never_shows_its_keys() -> None:
    """repr of an AccessPolicy says whether a key is set, never the key."""
    p = AccessPolicy("the-api-key", "the-internal-key", env={})
    assert "the-api-key" not in repr(p) and "the-internal-key" not in repr(p)


async def test_secret_config_values_are_masked(served: Served) -> None:
    """Secret config values show as **** in @config."""
    r = await served.http.get("/Guarded/@config", headers=served.auth)
    assert r.json()["token"] == "****"
    assert "s3cr3t" not in r.text


async def test_a_handler_exception_shows_no_traceback(served: Served) -> None:
    """A handler's exception reaches the caller as its type and message, never a traceback."""
    r = await served.http.get("/Guarded/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["type"] == "RuntimeError" and body["message"] == "exploded"
    assert "Traceback" not in r.text and ".py" not in r.text


@pytest.mark.parametrize(
    "path",
    [
        "/Guarded/../@host/services",
        "/Guarded/%2e%2e/@host/services",
        "/Guarded/..%2F@host/services",
        "//@host/services/../",
        "/Ttl/../Guarded/admin",
        "/Guarded/./admin",
    ],
)
async def test_dot_segments_never_skip_an_access_check(served: Served, path: str) -> None:
    """A '..' or '.' in a request path never skips an access check: whatever the path resolves
    to is checked as that route (sent raw, as a hostile client would)."""
    import asyncio

    from tests.faults.test_bad_inputs import _raw

    req = f"GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".encode()
    out = await asyncio.to_thread(_raw, served.server.port, req)
    status = int(out.split(b" ", 2)[1])
    assert status in (400, 401, 404), (path, out[:300])


async def test_classes_are_never_imported_from_a_request(served: Served) -> None:
    """POST /@host/services starts only registered classes; it never imports a name sent."""
    r = await served.http.post(
        "/@host/services", headers=served.auth, json={"class": "os:system", "path": "x"}
    )
    assert r.status_code == 400
    assert "is not registered in this host" in r.json()["message"]


async def test_a_shared_internal_key_grants_internal_not_private(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hosts sharing REVERIE_INTERNAL_KEY accept each other's internal calls; private features
    still need the API key."""
    shared = "shared-internal-key-0123456789abcdef"
    env = {"REVERIE_INTERNAL_KEY": shared, "REVERIE_API_KEY": "host-b-api-key"}
    b = Host(env=env, name="b")
    b.register(Guarded)
    await b.start(Guarded)
    try:
        async with (
            HttpServer(b, port=0, log_level="warning") as srv,
            httpx.AsyncClient(
                base_url=srv.url, headers={"Authorization": f"Bearer {shared}"}
            ) as http,
        ):
            assert (await http.get("/Guarded/inner")).json() == "inner"
            assert (await http.get("/Guarded/@config")).status_code == 200
            assert (await http.get("/Guarded/admin")).status_code == 403
            assert (await http.put("/Guarded/@config", json={})).status_code == 403
            assert (await http.delete("/Guarded")).status_code == 403
            assert (await http.get("/@host/services")).status_code == 403
    finally:
        await b.stop()
