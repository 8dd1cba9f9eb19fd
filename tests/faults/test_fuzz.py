"""Property-based fuzz: every operation of /openapi.json (none excluded) of the example graphs,
with random X-Reverie-Timeout headers, and random frames on the NATS request and control
subjects. Zero 5xx, zero hangs (every call answers within its client timeout), zero crashes
(the server still answers a good call afterwards). Bounded: a few examples per operation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from examples.atom.graph import FEED_SID, AtomService, FeedStore
from examples.hello.graph import Backend, Frontend
from reverie._private.host.host import Host
from reverie._private.http.server import HttpServer
from reverie._private.runtime import DistributedRuntime, wire
from reverie._private.runtime.attach import attach_runtime
from reverie._private.runtime.natsserver import NatsServer

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

ROOT = Path(__file__).resolve().parents[2]
KEY = "fuzz-api-key-0123456789"
HEADER = st.one_of(
    st.none(),
    st.sampled_from(["nan", "inf", "-1", "1e999", "0", "5", ""]),
    st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=12),
)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The hello and atom graphs on uvicorn, in a thread (schemathesis calls synchronously)."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    url: list[str] = []

    async def main() -> None:
        host = Host(env={}, name="fuzz")
        host.bind(FEED_SID, FeedStore)
        await host.start(AtomService)
        await host.start(Frontend)
        async with HttpServer(
            host, port=0, api_key=KEY, access_log=False, log_level="warning"
        ) as srv:
            url.append(srv.url)
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()
        await host.stop()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20), "server did not start"
    yield url[0]
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)


def test_every_operation_answers_without_5xx_or_hang(server_url: str) -> None:
    import httpx

    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    failures: list[str] = []
    ops = [r.ok() for r in schema.get_all_operations()]
    assert len(ops) >= 6, [op.path for op in ops]

    for op in ops:  # every operation, none excluded

        @hypothesis.settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=op.as_strategy(), timeout=HEADER)
        def run(case: Any, timeout: str | None) -> None:
            headers = {"Authorization": f"Bearer {KEY}"}
            if timeout is not None:
                headers["X-Reverie-Timeout"] = timeout
            try:
                resp = case.call(base_url=server_url, headers=headers, timeout=10)
            except httpx.TimeoutException:
                failures.append(f"{case.method} {case.formatted_path}: no answer in 10 s")
                return
            if resp.status_code == 504 and _expired(timeout):
                return  # the caller's own deadline, already passed: 504 is the contract
            if resp.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path} (timeout {timeout!r}): "
                    f"{resp.status_code} {resp.text[:200]}"
                )

        run()
    assert failures == []
    assert httpx.get(f"{server_url}/health/ready").status_code == 200


def _expired(timeout: str | None) -> bool:
    try:
        return timeout is not None and float(timeout) < 1.0
    except ValueError:
        return False


# -- NATS wire frames -------------------------------------------------------------------------

ANY = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**63), 2**64 - 1),
        st.floats(allow_nan=True),
        st.text(max_size=20),
        st.binary(max_size=20),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
CTX = st.one_of(
    ANY,
    st.fixed_dictionaries(
        {}, optional={"id": ANY, "timeout": st.one_of(st.floats(allow_nan=True), ANY), "trace": ANY}
    ),
)
REQUEST = st.one_of(
    st.binary(max_size=64).map(lambda b: ("raw", b)),
    st.tuples(CTX, ANY, st.one_of(st.integers(-5, 2**40), ANY)).map(lambda t: ("req", list(t))),
    st.lists(ANY, max_size=5).map(lambda v: ("req", v)),
)
CONTROL = st.one_of(
    st.binary(max_size=32).map(lambda b: ("raw", b)),
    st.tuples(st.integers(-1, 4), ANY, ANY).map(lambda t: ("req", list(t))),
    st.lists(ANY, max_size=4).map(lambda v: ("req", v)),
)


async def test_random_nats_frames_get_an_error_frame_and_crash_nothing() -> None:
    import nats

    server = NatsServer()
    await server.start()
    host = Host(env={}, name="natsfuzz")
    rt = await DistributedRuntime.connect(server.url)
    nc = await nats.connect(server.url)
    try:
        await attach_runtime(host, rt)
        await host.start(Backend)
        subject = wire.endpoint_subject("hello", "Backend", "generate")
        inst = rt.served()[0].worker_id
        ctl = wire.ctl_subject(inst)
        answered = 0

        def encode(frame: tuple[str, Any]) -> bytes:
            kind, value = frame
            return value if kind == "raw" else msgspec.msgpack.encode(value)

        @hypothesis.settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(req=REQUEST, ctl_frame=CONTROL)
        def frames(req: tuple[str, Any], ctl_frame: tuple[str, Any]) -> None:
            drawn.append((req, ctl_frame))

        drawn: list[tuple[tuple[str, Any], tuple[str, Any]]] = []
        frames()
        for req, ctl_frame in drawn:
            try:
                data, control = encode(req), encode(ctl_frame)
            except (OverflowError, TypeError):
                continue
            await nc.publish(ctl, control)
            # Every request gets a first frame (an ERR for a malformed one) within 10 s.
            inbox = nc.new_inbox()
            sub = await nc.subscribe(inbox)
            await nc.publish(subject, data, reply=inbox)
            msg = await sub.next_msg(timeout=10)
            first = msgspec.msgpack.decode(msg.data)
            assert isinstance(first, list) and first[0] in (
                wire.DATA,
                wire.ERR,
                wire.HB,
                wire.BATCH,
                wire.END,
            ), first
            await sub.unsubscribe()
            if first[0] == wire.DATA or first[0] == wire.BATCH:
                answered += 1
        # Still serving: a good call answers.
        good = rt.namespace("hello").component("Backend").endpoint("generate").client()
        await good.wait_for_workers(1, 5)
        items = [w async for w in good.stream("a b")]
        assert items == ["a!", "b!"]
        assert answered >= 0
    finally:
        await nc.close()
        await host.stop()
        await rt.close()
        await server.stop()
        server.cleanup()
