"""``reverie serve`` logs: the access log (on by default, ``--no-access-log``), ``--log-level``,
progress lines while instances start, and a start failure's traceback. Real subprocesses."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.serve.conftest import GRAPH, ServeRun


def test_embedded_serve_logs_progress_and_each_request(serve: Callable[..., ServeRun]) -> None:
    run = serve(GRAPH)
    starting = run.wait_for(
        lambda e: (
            e.get("event") == "instance"
            and e.get("state") == "starting"
            and e.get("service") == "Store"
        )
    )
    assert starting["message"] == "starting Store ..."
    running = run.wait_for(
        lambda e: (
            e.get("event") == "instance"
            and e.get("state") == "running"
            and e.get("service") == "Api"
        )
    )
    assert running["message"].startswith("Api is running after ")
    run.ready()
    r = httpx.get(f"{run.url}/Api/pids", headers={"X-Request-Id": "req-serve-1"}, timeout=10)
    assert r.status_code == 200
    line = run.wait_for(
        lambda e: e.get("request_id") == "req-serve-1" and e.get("logger") == "reverie.access"
    )
    assert line["method"] == "GET" and line["path"] == "/Api/pids" and line["status"] == 200
    assert line["duration_ms"] >= 0
    assert "GET /Api/pids 200" in line["message"]


def test_no_access_log_and_a_quieter_level(serve: Callable[..., ServeRun]) -> None:
    run = serve(GRAPH, "--no-access-log", "--log-level", "warning")
    run.ready()
    r = httpx.get(f"{run.url}/Api/pids", headers={"X-Request-Id": "req-quiet"}, timeout=10)
    assert r.status_code == 200
    run.signal()
    assert run.wait() == 0
    assert "req-quiet" not in run.output()
    assert "reverie.access" not in run.output()
    assert "uvicorn" not in run.output()


def test_a_bad_log_level_is_refused(serve: Callable[..., ServeRun]) -> None:
    run = serve(GRAPH, "--log-level", "loud")
    assert run.wait() == 2
    assert "--log-level 'loud': use debug, info, warning or error" in run.output()


def test_a_failed_on_start_logs_its_traceback(serve: Callable[..., ServeRun]) -> None:
    run = serve(GRAPH, env={"REVERIE_TEST_FAIL_START": "1"})
    line = run.wait_for(lambda e: "failed while starting" in str(e.get("message")))
    assert "store cannot open its data (test)" in line["message"]
    assert "Traceback (most recent call last)" in line["exc"]
    assert "raise RuntimeError" in line["exc"]
    assert run.wait() == 1


def test_trace_console_prints_the_spans_of_a_call(serve: Callable[..., ServeRun]) -> None:
    run = serve("examples.hello.graph:Frontend", "--trace", "console", "--no-access-log")
    run.ready()
    r = httpx.get(f"{run.url}/Frontend/hello/world", timeout=10)
    assert r.status_code == 200
    run.wait_for(lambda e: '"name": "Backend.generate"' in str(e.get("message")))
    run.wait_for(lambda e: '"kind": "SpanKind.SERVER"' in str(e.get("message")))
    run.signal()
    assert run.wait() == 0


def test_a_bad_trace_exporter_is_refused(serve: Callable[..., ServeRun]) -> None:
    run = serve(GRAPH, "--trace", "zipkin")
    assert run.wait() == 2
    assert "--trace 'zipkin': use console, otlp or none" in run.output()
