"""schemathesis against /openapi.json of the example graph: no generated request gets a 5xx."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from reverie._private.host.host import Host
from reverie._private.http.server import HttpServer
from tests.http.services import Feed, Plain, Reader

schemathesis = pytest.importorskip("schemathesis")
hypothesis = pytest.importorskip("hypothesis")


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    """The graph on uvicorn in its own thread and loop (schemathesis calls synchronously)."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    url: list[str] = []

    async def main() -> None:
        host = Host(env={}, name="host")
        host.register(Feed, Reader, Plain)
        await host.start(Reader)
        await host.start(Plain)
        async with HttpServer(host, port=0, access_log=False, log_level="warning") as srv:
            url.append(srv.url)
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()
        await host.stop()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    yield url[0]
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(10)


def test_no_operation_answers_5xx(server_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{server_url}/openapi.json")
    # 500 or endless by design; count/ticks/via-client stream as many items as asked.
    skip = {
        "/Feed/slow",
        "/Feed/fail",
        "/Feed/forever",
        "/Feed/fail_later",
        "/Feed/count",
        "/Feed/ticks",
        "/Feed/endless",
        "/Reader/via-client",
    }
    failures: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path in skip:
            continue
        strategy = op.as_strategy()

        @hypothesis.settings(
            max_examples=8,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=strategy)
        def run(case: object) -> None:
            resp = case.call(base_url=server_url, timeout=5)  # type: ignore[attr-defined]
            if resp.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: "  # type: ignore[attr-defined]
                    f"{resp.status_code} {resp.text[:200]}"
                )

        run()
        checked += 1
    assert checked >= 15
    assert failures == []
