"""A NATS cluster instead of one server (loopback): three members with routes, the runtime's
buckets at R3, clients given several URLs that reconnect to any member, and one member killed
without losing a lease or a blueprint."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest

from reverie._private.runtime import DistributedRuntime
from reverie._private.runtime.natsserver import NatsCluster, NatsServer, parse_hostport
from reverie.errors import ConfigError, NatsServerError, TransportError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def cluster() -> AsyncIterator[list[NatsServer]]:
    ports = [_free_port() for _ in range(3)]
    routes = [f"nats://127.0.0.1:{p}" for p in ports]
    members = [
        NatsServer(server_name=f"m{i}", cluster=NatsCluster("rvtest", f"127.0.0.1:{p}", routes))
        for i, p in enumerate(ports)
    ]
    try:
        await asyncio.gather(*(m.start() for m in members))
        yield members
    finally:
        for m in members:
            await m.stop()
            m.cleanup()


async def _until(pred: Any, what: str, timeout: float = 20.0) -> None:
    """Wait for a state (polled), failing with ``what`` if it never comes."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await pred():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


async def test_r3_buckets_calls_across_members_and_a_member_killed(
    cluster: list[NatsServer],
) -> None:
    urls = ",".join(m.url for m in cluster)
    made: list[DistributedRuntime] = []
    try:
        # the server connects to member 0 first, the caller to member 2: every call is routed
        server = await DistributedRuntime.connect(urls, replicas=3, dont_randomize=True)
        made.append(server)
        caller = await DistributedRuntime.connect(
            ",".join(m.url for m in reversed(cluster)), replicas=3, dont_randomize=True
        )
        made.append(caller)
        assert server.nc.connected_url.port == cluster[0].port
        assert caller.nc.connected_url.port == cluster[2].port

        async def echo(req: Any, ctx: Any) -> Any:
            return ["echo", req]

        await server.namespace("ns").component("svc").endpoint("echo").serve(echo, streaming=False)
        await server.put_blueprint("ns", "svc", '{"sid": "x"}')
        info = await server.js.stream_info("KV_rv_workers")
        assert info.config.num_replicas == 3
        assert len(info.cluster.replicas or []) == 2  # a leader and two followers
        client = caller.namespace("ns").component("svc").endpoint("echo").client()
        await client.wait_for_workers(1, timeout=10)
        assert await client.call(1) == ["echo", 1]
        before = (await server.js.stream_info("KV_rv_workers")).state.last_seq

        # kill the member the server is connected to (and maybe the buckets' leader)
        cluster[0].kill()
        await _until(
            lambda: _connected_elsewhere(server, cluster[0].port),
            "the serving runtime reconnected to another member",
        )
        await _until(lambda: _call_ok(client), "calls succeed again after the member died")
        # nothing lost: the lease and the blueprint are still there, read via another member
        # (once the buckets' streams have a leader again), and the stream kept its history
        # (a stream rebuilt from nothing would restart its sequence numbers)
        await _until(lambda: _has_echo(caller), "the lease is readable after the member died")
        await _until(lambda: _has_blueprint(caller), "the blueprint is readable")
        infos: list[Any] = []
        await _until(lambda: _info(caller, infos), "the instances stream answers stream_info")
        after = infos[-1]
        assert after.state.last_seq >= before
        assert after.config.num_replicas == 3
    finally:
        for rt in reversed(made):
            await rt.close()


async def _connected_elsewhere(rt: DistributedRuntime, dead_port: int) -> bool:
    return bool(rt.nc.is_connected and rt.nc.connected_url.port != dead_port)


async def _has_echo(rt: DistributedRuntime) -> bool:
    try:
        return [r["endpoint"] for r in await rt.registrations()] == ["echo"]
    except TransportError:  # nats: timeout while the stream elects a leader
        return False


async def _info(rt: DistributedRuntime, out: list[Any]) -> bool:
    try:
        out.append(await rt.js.stream_info("KV_rv_workers"))
        return True
    except Exception:  # nats: timeout while the stream elects a leader
        return False


async def _has_blueprint(rt: DistributedRuntime) -> bool:
    try:
        return await rt.get_blueprint("ns", "svc") == '{"sid": "x"}'
    except Exception:  # nats: timeout while the stream elects a leader
        return False


async def _call_ok(client: Any) -> bool:
    try:
        return bool(await client.call(2) == ["echo", 2])
    except Exception:
        return False


async def test_more_replicas_than_members_fails_clearly() -> None:
    async with NatsServer() as server:
        with pytest.raises(TransportError) as info:
            await DistributedRuntime.connect(server.url, replicas=3)
    text = str(info.value)
    assert "replicas 3" in text and "no more replicas than the cluster has members" in text


async def test_replicas_out_of_range_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="replicas must be 1 to 5"):
        await DistributedRuntime.connect("nats://127.0.0.1:1", replicas=7)


def test_hostport_parsing() -> None:
    assert parse_hostport("10.0.0.1:4222", 0, "x") == ("10.0.0.1", 4222)
    assert parse_hostport(":7", 0, "x") == ("127.0.0.1", 7)
    with pytest.raises(NatsServerError, match="the port 'abc' is not a number"):
        parse_hostport("h:abc", 0, "--nats-listen")
