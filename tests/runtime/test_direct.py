"""The direct data plane: calls between runtimes over a Unix socket (same machine) or TCP, NATS
only for discovery; falling back to NATS when a peer cannot be reached directly."""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any

import pytest

from reverie._private.runtime import DistributedRuntime
from reverie.errors import ConfigError, NoWorkersError

from .conftest import RuntimeFactory


async def _serve_echo(rt: DistributedRuntime) -> Any:
    async def echo(req: Any, ctx: Any) -> Any:
        return {"req": req, "instance": rt.worker_id}

    async def count(req: int, ctx: Any) -> Any:
        for i in range(req):
            yield i

    comp = rt.namespace("d").component("svc")
    served = await comp.endpoint("echo").serve(echo, streaming=False)
    await comp.endpoint("count").serve(count, streaming=True)
    return served


def _client(rt: DistributedRuntime, name: str = "echo") -> Any:
    return rt.namespace("d").component("svc").endpoint(name).client()


async def test_same_machine_calls_go_over_a_unix_socket(make_runtime: RuntimeFactory) -> None:
    server = await make_runtime()
    caller = await make_runtime()
    await _serve_echo(server)
    c = _client(caller)
    await c.wait_for_workers(1, 10)
    reg = c.registrations()[0]
    assert reg["direct"]["uds"] == f"reverie-{server.worker_id}"
    assert reg["direct"]["tcp"][0] == "127.0.0.1"
    assert await c.call("hi") == {"req": "hi", "instance": server.worker_id}
    assert caller.direct is not None
    assert caller.direct.links[server.worker_id].where.startswith("unix:@reverie-")
    assert [i async for i in _client(caller, "count").stream(300)] == list(range(300))


async def test_another_machine_is_reached_over_tcp(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await make_runtime()
    monkeypatch.setenv("REVERIE_HOST_ID", "another-machine")
    caller = await make_runtime()
    await _serve_echo(server)
    c = _client(caller)
    await c.wait_for_workers(1, 10)
    assert await c.call(1) == {"req": 1, "instance": server.worker_id}
    assert caller.direct is not None
    port = c.registrations()[0]["direct"]["tcp"][1]
    assert caller.direct.links[server.worker_id].where == f"tcp:127.0.0.1:{port}"


async def test_an_unreachable_peer_is_called_over_nats(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_runtime()
    assert server.direct is not None
    for listener in server.direct._servers:  # nothing accepts direct connections any more
        listener.close()
    monkeypatch.setenv("REVERIE_HOST_ID", "another-machine")
    caller = await make_runtime()
    await _serve_echo(server)
    c = _client(caller)
    await c.wait_for_workers(1, 10)
    with caplog.at_level(logging.WARNING, "reverie.runtime"):
        assert await c.call("via nats") == {"req": "via nats", "instance": server.worker_id}
    assert f"worker {server.worker_id} cannot be reached directly" in caplog.text
    assert "calling it over NATS" in caplog.text
    assert caller.direct is not None and not caller.direct.links
    assert [i async for i in _client(caller, "count").stream(3)] == [0, 1, 2]


async def test_direct_off_everything_over_nats(
    make_runtime: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVERIE_DIRECT", "0")
    server = await make_runtime()
    caller = await make_runtime(direct=True)  # the argument wins over the environment
    assert server.direct is None and caller.direct is not None
    await _serve_echo(server)
    c = _client(caller)
    await c.wait_for_workers(1, 10)
    assert "direct" not in c.registrations()[0]
    assert await c.call(2) == {"req": 2, "instance": server.worker_id}
    assert not caller.direct.links


async def test_bad_settings_fail_naming_the_fix(
    nats_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVERIE_DIRECT", "maybe")
    with pytest.raises(ConfigError) as info:
        await DistributedRuntime.connect(nats_server.url)
    assert "$REVERIE_DIRECT='maybe' is not a switch" in str(info.value)
    with pytest.raises(ConfigError) as info:
        await DistributedRuntime.connect(nats_server.url, direct=True, direct_host="0.0.0.0")
    assert "'0.0.0.0' is a wildcard" in str(info.value)


async def test_an_endpoint_no_longer_served_is_never_run_there(
    make_runtime: RuntimeFactory,
) -> None:
    server = await make_runtime()
    caller = await make_runtime()
    served = await _serve_echo(server)
    c = _client(caller)
    await c.wait_for_workers(1, 10)
    await c.call(0)  # the link is open
    await served.stop(deregister=False)  # still registered, no longer served
    with pytest.raises(NoWorkersError) as info:
        await c.call(1)
    assert f"(tried {server.worker_id})" in str(info.value)


async def test_a_corrupt_frame_closes_the_connection(
    make_runtime: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = await make_runtime()
    assert server.direct is not None
    host, port = server.direct.address["tcp"]
    reader, writer = await asyncio.open_connection(host, port)
    with caplog.at_level(logging.WARNING, "reverie.runtime"):
        writer.write(struct.pack(">I", 0xFFFFFFFF) + b"junk")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    assert "closing a connection: a frame of 4294967295 bytes" in caplog.text
    writer.close()
    reader, writer = await asyncio.open_connection(host, port)
    hello = b"someone-else"
    writer.write(struct.pack(">IB", len(hello) + 1, 1) + hello)
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert "a caller wanted worker 'someone-else'" in caplog.text
    writer.close()


async def test_a_caller_going_away_cancels_its_stream(make_runtime: RuntimeFactory) -> None:
    server = await make_runtime()
    caller = await make_runtime()
    stopped = asyncio.Event()

    async def forever(req: Any, ctx: Any) -> Any:
        try:
            yield 0
            await asyncio.Event().wait()  # until the call is cancelled
        finally:
            stopped.set()

    await server.namespace("d").component("svc").endpoint("forever").serve(forever, streaming=True)
    c = _client(caller, "forever")
    await c.wait_for_workers(1, 10)
    it = c.stream(None)
    assert await it.__anext__() == 0
    assert caller.direct is not None
    caller.direct.links[server.worker_id].close()  # the caller's side of the link goes
    await asyncio.wait_for(stopped.wait(), 10)


async def test_closing_a_connection_sends_what_is_queued_first() -> None:
    """Frames queued in this loop turn (a stream's last items, its END) go out before the
    close: a transport closed first would drop them, and the caller would see the worker lost."""
    import socket

    from reverie._private.runtime.links import Conn

    here, there = socket.socketpair()
    loop = asyncio.get_running_loop()
    _, conn = await loop.create_unix_connection(Conn, sock=here)
    reader, writer = await asyncio.open_unix_connection(sock=there)
    conn.write(b"last items")
    conn.write(b" and END")
    conn.close()
    assert await asyncio.wait_for(reader.read(), 5) == b"last items and END"
    writer.close()
