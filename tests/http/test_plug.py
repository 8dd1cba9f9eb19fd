"""Plug: immutable builder, in-process dispatch identical to the network path, failure rule,
dependency clients' .plug, and remote dependencies through attach_http(host, remote=...)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from reverie._private.host.host import Host
from reverie._private.http.app import app_for
from reverie._private.http.attach import attach_http
from reverie._private.http.plug import Plug, close_shared_client
from reverie._private.http.server import HttpServer
from reverie.errors import DeadlineExceededError, ServiceError, TransportError
from tests.http.conftest import API_KEY, Served
from tests.http.services import Feed, Reader


@pytest.fixture(autouse=True)
async def _pool() -> object:
    yield None
    await close_shared_client()


def test_builder_is_immutable_and_encodes_segments() -> None:
    base = Plug("http://127.0.0.1:9/feed")
    p = base.at("items", "a/b").with_(limit=10, flag=True, skip=None).with_header("X-A", "b")
    assert base.uri == "http://127.0.0.1:9/feed"
    assert p.uri == "http://127.0.0.1:9/feed/items/a%2Fb?limit=10&flag=true"
    assert p.with_timeout(5) is not p


def test_a_relative_uri_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="a Plug needs an absolute URI such as"):
        Plug("/feed")


def _same(a: object, b: object) -> None:
    assert a.status == b.status  # type: ignore[attr-defined]
    assert dict(a.headers) == dict(b.headers)  # type: ignore[attr-defined]
    assert a.content == b.content  # type: ignore[attr-defined]


async def test_local_and_remote_give_identical_responses(served: Served) -> None:
    local = served.server.app.plug("local://host/Feed").with_header("X-Request-Id", "same-id")
    # A Plug made from a string outside any host goes through the socket.
    remote = Plug(f"{served.url}/Feed").with_header("X-Request-Id", "same-id")
    assert local.transport.describe() == "host host" and remote.transport.describe() == "httpx"
    for build in (
        lambda p: p.at("hello").get(),
        lambda p: p.at("items", 3).with_(verbose="yes").get(),
        lambda p: p.at("items").post(json={"name": "a", "qty": 2}),
        lambda p: p.at("raw").get(),
        lambda p: p.at("nope").get(),
        lambda p: p.at("hello").delete(),
        lambda p: p.at("items").options(),
    ):
        _same(await build(local), await build(remote))


async def test_local_dispatch_never_touches_a_socket() -> None:
    host = Host(env={}, name="nosock")
    host.register(Feed)
    await host.start(Feed)
    try:
        app = app_for(host)
        app.add_alias("http://127.0.0.1:1")  # nothing listens there
        r = await app.plug("http://127.0.0.1:1/Feed").at("items", 9).get()
        assert r.status == 200 and r.json() == {"id": 9, "verbose": False}
        r = await app.plug("local://nosock/Feed/hello").get()
        assert r.text == '"hello"'
    finally:
        app_for(host).close()
        await host.stop()


async def test_aliases_belong_to_their_host_not_the_process() -> None:
    """No process-wide registry: a local:// URI is reached only through its own host, and a
    closed application's bound aliases go back to the network."""
    host = Host(env={}, name="owned")
    host.register(Feed)
    await host.start(Feed)
    other = Host(env={}, name="stranger")
    try:
        app = app_for(host)
        with pytest.raises(
            TransportError,
            match=r"local://owned/Feed/hello: a local:// URI is "
            r"reached only through the host named in it",
        ):
            await Plug("local://owned/Feed/hello").get()
        # Another host's transport does not know this host's local:// origin.
        stranger = app_for(other).plug("local://owned/Feed/hello")
        with pytest.raises(TransportError, match=r"GET local://owned/Feed/hello: "):
            await stranger.get()
        app.add_alias("http://127.0.0.1:1")
        assert (await app.plug("http://127.0.0.1:1/Feed/hello").get()).status == 200
        app.close()
        with pytest.raises(
            TransportError,
            match=r"GET http://127.0.0.1:1/Feed/hello: "
            r"ConnectError",
        ):
            await app.plug("http://127.0.0.1:1/Feed/hello").with_timeout(5).get()
    finally:
        await host.stop()


async def test_streams_through_plug_locally_and_remotely(served: Served) -> None:
    for base in (served.server.app.plug("local://host/Feed"), Plug(f"{served.url}/Feed")):
        async with base.at("count").stream("POST", json=3) as resp:
            events = [e async for e in resp.aiter_events()]
        assert [e["data"] for e in events] == ["0", "1", "2", "null"]
        assert events[-1]["event"] == "end"
        async with base.at("count").stream("POST", json=2, accept="application/x-ndjson") as resp:
            assert [line async for line in resp.aiter_lines()] == ["0", "1"]


async def test_http_errors_return_a_response_and_raise_on_request(served: Served) -> None:
    r = await Plug(f"{served.url}/Feed/teapot").get()
    assert r.status == 418 and not r.is_success
    with pytest.raises(ServiceError, match="I am a teapot"):
        r.raise_for_status()


async def test_connection_refused_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransportError, match=rf"GET http://127.0.0.1:{port}/x: ConnectError"):
        await Plug(f"http://127.0.0.1:{port}/x").with_timeout(5).get()


async def test_unresolvable_name_is_a_transport_error() -> None:
    with pytest.raises(TransportError, match=r"GET http://no-such-host\.invalid/x"):
        await asyncio.wait_for(Plug("http://no-such-host.invalid/x").with_timeout(5).get(), 10)


async def test_an_enforced_deadline_is_a_504_response_local_and_remote(served: Served) -> None:
    for base in (served.server.app.plug("local://host"), Plug(served.url)):
        r = await asyncio.wait_for(base.at("Feed", "slow").with_timeout(0.2).get(), 5)
        assert r.status == 504 and r.json()["code"] == "deadline_exceeded"


async def test_no_answer_at_all_is_deadline_exceeded_not_a_hang() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1000)  # read the request, never answer
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # The time left when the request went out: 0.2 s, or a hair less on a loaded machine.
        with pytest.raises(
            DeadlineExceededError,
            match=r"GET http://127\.0\.0\.1:\d+/x: no answer within 0\.(2|1\d*) s",
        ):
            await asyncio.wait_for(Plug(f"http://127.0.0.1:{port}/x").with_timeout(0.2).get(), 5)
    finally:
        server.close()


async def test_dependency_client_plug_is_local_and_internal(served: Served) -> None:
    r = await served.http.get("/Reader/via-plug")
    assert r.json() == {"hello": "hello", "internal": 200}
    r = await served.http.get("/Reader/via-uri")
    assert r.json() == {"id": 7, "verbose": True}


async def test_remote_dependency_and_uri_config_work_unchanged(served: Served) -> None:
    """Reader in a second host reaches Feed in the first over HTTP; the code does not change."""
    other = Host(env={}, name="other")
    other.register(Reader)
    attach_http(other, remote={"Feed": f"{served.url}/Feed"})
    await other.start(Reader, config={"Reader": {"feed_uri": f"{served.url}/Feed"}})
    try:
        assert "Feed" not in other.instances
        client = other.instance("Reader").obj.feed
        assert client.transport.describe() == f"{served.url}/Feed"
        async with HttpServer(other, port=0, access_log=False, api_key=API_KEY) as srv:
            reader = Plug(f"{srv.url}/Reader")
            assert (await reader.at("via-client").with_(n=4).get()).json() == [0, 1, 2, 3]
            assert (await reader.at("via-uri").get()).json() == {"id": 7, "verbose": True}
            # A remote target's internal features need the remote host's key: refused here.
            assert (await reader.at("via-plug").get()).json() == {"hello": "hello", "internal": 401}
    finally:
        await other.stop()
