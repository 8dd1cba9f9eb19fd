"""Access levels and keys: 401 without, 403 wrong, keys only in headers and never in logs."""

from __future__ import annotations

import logging

import httpx
import pytest

from reverie._private.host.host import Host
from reverie._private.http.access import AccessPolicy
from reverie._private.http.server import HttpServer
from tests.http.conftest import API_KEY, Served
from tests.http.services import Feed


async def test_internal_feature_needs_a_key(served: Served) -> None:
    r = await served.http.get("/Feed/internal")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["code"] == "access_denied"
    assert "this feature is internal: send the host's internal key" in r.json()["message"]


async def test_internal_feature_refuses_a_wrong_key(served: Served) -> None:
    r = await served.http.get("/Feed/internal", headers=served.auth("wrong"))
    assert r.status_code == 403
    assert "the key sent does not grant it" in r.json()["message"]


async def test_internal_feature_takes_the_internal_or_api_key(served: Served) -> None:
    for key in (served.internal_key, API_KEY):
        r = await served.http.get("/Feed/internal", headers=served.auth(key))
        assert r.status_code == 200 and r.json() == "internal ok"


async def test_private_feature_takes_only_the_api_key(served: Served) -> None:
    r = await served.http.get("/Feed/private", headers=served.auth(served.internal_key))
    assert r.status_code == 403
    r = await served.http.get("/Feed/private", headers=served.auth(API_KEY))
    assert r.status_code == 200


async def test_a_key_in_the_query_string_is_ignored(served: Served) -> None:
    r = await served.http.get("/Feed/private", params={"api_key": API_KEY})
    assert r.status_code == 401


async def test_malformed_authorization_is_401(served: Served) -> None:
    r = await served.http.get("/Feed/private", headers={"Authorization": API_KEY})
    assert r.status_code == 401 and "must be 'Bearer <key>'" in r.json()["message"]


async def test_without_an_api_key_private_features_are_refused() -> None:
    host = Host(env={}, name="nokey")
    host.register(Feed)
    await host.start(Feed)
    try:
        async with HttpServer(host, port=0, access_log=False) as srv, httpx.AsyncClient() as c:
            r = await c.get(f"{srv.url}/Feed/private", headers={"Authorization": "Bearer x"})
            assert r.status_code == 403
            assert (
                "the host has no API key configured, so it is refused; set "
                "REVERIE_API_KEY" in r.json()["message"]
            )
            r = await c.get(f"{srv.url}/@host/services")
            assert r.status_code == 403
    finally:
        await host.stop()


def test_api_key_comes_from_the_environment() -> None:
    policy = AccessPolicy(env={"REVERIE_API_KEY": "from-env"})
    assert policy.check("private", b"Bearer from-env") is None
    assert "from-env" not in repr(policy)


async def test_keys_never_appear_in_log_lines(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for key in (API_KEY, served.internal_key, "wrong-key-abcdef"):
        h = served.auth(key)
        await served.http.get("/Feed/private", headers=h)
        await served.http.get("/Feed/internal", headers=h)
        await served.http.get("/Feed/fail", headers=h)
        await served.http.get("/@host/services", headers=h)
    access_lines = [r for r in caplog.records if r.name == "reverie.access"]
    assert len(access_lines) >= 12  # the access log is on and captured
    text = "\n".join(r.getMessage() for r in caplog.records)
    for key in (API_KEY, served.internal_key, "wrong-key-abcdef"):
        assert key not in text
