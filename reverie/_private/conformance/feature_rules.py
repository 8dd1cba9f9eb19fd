"""The feature rules: a client's ``.plug`` reaches the service's HTTP features with the same
status, headers and body on every transport, problem bodies and streamed bodies included, and
so does a service's Plug to its dependency (``Relay`` → ``Echo``, the second hop).

A kind's clients must offer ``.plug`` (its features over the transport under test).
"""

from __future__ import annotations

from typing import Any

from reverie.errors import ServiceError

from ..transports.codec import json_decode
from .kinds import Deployed
from .rules import _check, rule

__all__: list[str] = []

_PROBLEM = "application/problem+json"


def _plug(d: Deployed, service: str) -> Any:
    try:
        return d.client(service).plug
    except AttributeError as exc:
        raise AssertionError(f"a client of {service} has no Plug: {exc}") from None


@rule
async def feature_status_headers_and_body(d: Deployed) -> None:
    plug = _plug(d, "Echo")
    raw = await plug.at("raw").get()
    _check(raw.status == 201, f"status {raw.status}, expected 201")
    _check(raw.headers.get("x-conformance") == "yes", f"headers {dict(raw.headers)}")
    _check(
        raw.headers.get("content-type") == "application/octet-stream",
        f"content-type {raw.headers.get('content-type')!r}",
    )
    _check(raw.content == b"raw \x00 body", f"body {raw.content!r}")
    hello = await plug.at("hello").with_(name="a b/c").get()
    _check(
        hello.status == 200 and hello.json() == {"hello": "a b/c"},
        f"{hello.status} {hello.content!r}",
    )
    _check(
        hello.headers.get("content-type") == "application/json",
        f"content-type {hello.headers.get('content-type')!r}",
    )


@rule
async def feature_request_body_and_validation_problem(d: Deployed) -> None:
    plug = _plug(d, "Echo")
    ok = await plug.at("points").post(json={"x": 2, "y": 1})
    _check(ok.status == 200 and ok.json() == {"x": 4, "y": 1}, f"{ok.status} {ok.content!r}")
    bad = await plug.at("points").post(json={"x": "many"})
    _check(bad.status == 422, f"status {bad.status}, expected 422: {bad.content!r}")
    _check(
        bad.headers.get("content-type", "").startswith(_PROBLEM),
        f"content-type {bad.headers.get('content-type')!r}",
    )
    body = bad.json()
    _check(
        body.get("code") == "invalid_argument" and "x" in body.get("message", ""),
        f"problem body {body}",
    )


@rule
async def feature_error_is_a_problem_body(d: Deployed) -> None:
    plug = _plug(d, "Echo")
    resp = await plug.at("teapot").get()
    _check(resp.status == 418, f"status {resp.status}, expected 418")
    _check(
        resp.headers.get("content-type", "").startswith(_PROBLEM),
        f"content-type {resp.headers.get('content-type')!r}",
    )
    err = resp.error()
    _check(
        isinstance(err, ServiceError) and err.status == 418 and err.message == "I am a teapot",
        f"error {err!r}",
    )
    missing = await plug.at("nowhere").get()
    _check(
        missing.status == 404 and missing.json().get("code") == "not_found",
        f"{missing.status} {missing.content!r}",
    )


_TICKS = [["message", "0"], ["message", "1"], ["message", "2"], ["end", "null"]]


@rule
async def feature_streamed_body_arrives_as_events(d: Deployed) -> None:
    plug = _plug(d, "Echo")
    async with plug.at("ticks").with_(n=3).stream() as resp:
        _check(resp.status == 200, f"status {resp.status}")
        kind = resp.headers.get("content-type", "")
        _check(kind.startswith("text/event-stream"), f"content-type {kind!r}")
        events = [[e["event"], e["data"]] async for e in resp.aiter_events()]
    _check(events == _TICKS, f"events {events}")


@rule
async def feature_through_a_dependency_plug(d: Deployed) -> None:
    """Relay reads Echo's features through its own dependency Plug (the second hop)."""
    plug = _plug(d, "Relay")

    async def via(what: str) -> dict[str, Any]:
        resp = await plug.at("via", what).get()
        _check(resp.status == 200, f"via/{what}: {resp.status} {resp.content!r}")
        out: dict[str, Any] = json_decode(resp.content)
        return out

    hello = await via("hello")
    _check(
        hello["status"] == 200 and json_decode(hello["body"]) == {"hello": "relay"},
        f"via/hello {hello}",
    )
    raw = await via("raw")
    _check(
        (raw["status"], raw["header"], raw["body"]) == (201, "yes", "raw \x00 body"),
        f"via/raw {raw}",
    )
    teapot = await via("teapot")
    _check(
        teapot["status"] == 418
        and teapot["type"].startswith(_PROBLEM)
        and json_decode(teapot["body"])["message"] == "I am a teapot",
        f"via/teapot {teapot}",
    )
    ticks = await via("ticks")
    _check(ticks["status"] == 200 and ticks["events"] == _TICKS, f"via/ticks {ticks}")
