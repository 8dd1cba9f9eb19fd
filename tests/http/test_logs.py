"""What the operator's log shows for failed calls, and what the caller gets instead.

Real uvicorn on an ephemeral port; the log is read through pytest's ``caplog``. Every failure
leaves a traceback naming the service, endpoint and request id; the caller always gets a problem
body (never ``text/plain``, never a traceback).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from reverie import depends, endpoint, feature, on_shutdown, on_start, service
from reverie._private.host.host import Host
from reverie._private.http.attach import attach_http
from reverie._private.http.server import HttpServer
from reverie.errors import StartError


class Opaque:
    """Not JSON."""


@service(name="LogBackend")
class Backend:
    @endpoint()
    async def ping(self) -> str:
        return "pong"


@service(name="Crashy")
class Crashy:
    backend = depends(Backend)

    @feature("GET:crash")
    async def crash(self) -> str:
        empty: dict[str, str] = {}
        return empty["missing"]

    @feature("GET:opaque")
    async def opaque(self) -> dict[str, object]:
        return {"value": Opaque()}

    @endpoint()
    async def words(self, n: int) -> AsyncIterator[str]:
        for i in range(n):
            yield f"w{i}"
        raise RuntimeError("ran out of words")

    @endpoint()
    async def relay(self) -> str:
        return str(await self.backend.ping())


@service(name="BadStart")
class BadStart:
    @on_start
    async def boot(self) -> None:
        raise ValueError("model file /nope is missing")


@service(name="BadStop")
class BadStop:
    @endpoint()
    async def ping(self) -> str:
        return "pong"

    @on_shutdown
    async def bye(self) -> None:
        raise OSError("flush failed")


def _records(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if text in r.getMessage()]


@pytest.fixture
async def crashy() -> AsyncIterator[tuple[Host, HttpServer, httpx.AsyncClient]]:
    host = Host(env={}, name="logs")
    # The backend lives "elsewhere" at a port nothing listens on: calls to it are a 502.
    with __import__("socket").socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    attach_http(host, remote={"LogBackend": f"http://127.0.0.1:{dead}"})
    await host.start(Crashy)
    server = HttpServer(host, port=0, log_level="info")
    try:
        async with server, httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield host, server, http
    finally:
        await host.stop()


async def test_a_handler_exception_logs_its_traceback_and_answers_a_problem(
    crashy: tuple[Host, HttpServer, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, http = crashy
    caplog.set_level(logging.INFO)
    r = await http.get("/Crashy/crash", headers={"X-Request-Id": "req-crash-1"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "KeyError" and body["request_id"] == "req-crash-1"
    assert "Traceback" not in r.text
    [rec] = _records(caplog, "handler Crashy.crash raised KeyError (request req-crash-1)")
    assert rec.exc_info is not None
    text = logging.Formatter().formatException(rec.exc_info)
    assert "Traceback" in text and 'return empty["missing"]' in text
    assert rec.__dict__["service"] == "Crashy" and rec.__dict__["request_id"] == "req-crash-1"


async def test_an_unserializable_result_is_a_problem_body_and_a_logged_traceback(
    crashy: tuple[Host, HttpServer, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, http = crashy
    r = await http.get("/Crashy/opaque", headers={"X-Request-Id": "req-opaque"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/problem+json"
    assert "cannot be sent as JSON" in r.json()["message"]
    [rec] = _records(caplog, "serialization of Crashy.opaque raised TypeError (request req-opaque)")
    assert rec.exc_info is not None and "Opaque" in rec.getMessage()


async def test_an_error_in_the_middle_of_a_stream_is_logged_with_its_traceback(
    crashy: tuple[Host, HttpServer, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, http = crashy
    r = await http.post("/Crashy/words", json=2, headers={"X-Request-Id": "req-stream"})
    assert r.status_code == 200
    assert "event: error" in r.text and "ran out of words" in r.text
    assert "Traceback" not in r.text
    [rec] = _records(caplog, "stream Crashy.words raised RuntimeError (request req-stream)")
    assert rec.exc_info is not None
    assert "ran out of words" in logging.Formatter().formatException(rec.exc_info)


async def test_a_dead_dependency_is_logged_where_it_surfaces(
    crashy: tuple[Host, HttpServer, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, http = crashy
    r = await http.post("/Crashy/relay", headers={"X-Request-Id": "req-dead"})
    assert r.status_code >= 500 and r.headers["content-type"] == "application/problem+json"
    [rec] = _records(caplog, "handler Crashy.relay failed (request req-dead)")
    assert f"{r.status_code} " in rec.getMessage()


async def test_the_access_log_has_method_path_status_duration_and_request_id(
    crashy: tuple[Host, HttpServer, httpx.AsyncClient], caplog: pytest.LogCaptureFixture
) -> None:
    _, _, http = crashy
    caplog.set_level(logging.INFO, logger="reverie.access")
    await http.get("/health/live", headers={"X-Request-Id": "req-access"})
    await http.get("/Crashy/nowhere")
    [rec] = _records(caplog, "request_id=req-access")
    assert rec.name == "reverie.access"
    assert " GET /health/live 200 " in rec.getMessage()
    assert rec.__dict__["status"] == 200 and rec.__dict__["duration_ms"] >= 0
    [missing] = [r for r in caplog.records if "GET /Crashy/nowhere 404" in r.getMessage()]
    assert missing.__dict__["request_id"]  # one is made when the caller sends none


async def test_on_start_failure_logs_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    host = Host(env={}, name="badstart")
    with pytest.raises(StartError, match="model file /nope is missing"):
        await host.start(BadStart)
    [rec] = _records(caplog, "instance BadStart (BadStart) failed while starting: ValueError")
    assert rec.exc_info is not None
    assert "raise ValueError" in logging.Formatter().formatException(rec.exc_info)


async def test_on_shutdown_failure_logs_the_traceback(caplog: pytest.LogCaptureFixture) -> None:
    host = Host(env={}, name="badstop")
    await host.start(BadStop)
    await host.stop()
    [rec] = _records(caplog, "on_shutdown of BadStop (BadStop) failed: OSError: flush failed")
    assert rec.exc_info is not None
