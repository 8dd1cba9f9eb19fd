"""The rules of ``docs/semantics.md``, one function each, run against a ``Deployed`` graph.

A rule raises ``AssertionError`` (saying what differed) when the transport breaks it. The graph
is ``Relay -> Echo``; calls to Relay check the service→service hop on the same transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

from reverie.errors import (
    CallError,
    DeadlineExceededError,
    InvalidResultError,
    RemoteError,
    ServiceError,
    UnavailableError,
    ValidationError,
)

from .kinds import Deployed
from .services import Count, Point, event

__all__ = ["RULES", "Rule"]

Rule = Callable[[Deployed], Awaitable[None]]
RULES: dict[str, Rule] = {}
_WAIT = 10.0  # seconds an event may take to arrive: a bound against hangs, not a timing claim


def rule(fn: Rule) -> Rule:
    RULES[fn.__name__] = fn
    return fn


async def _raises(cls: type[BaseException], call: Awaitable[Any], match: str = "") -> Any:
    try:
        value = await call
    except cls as exc:
        if match and not re.search(match, str(exc)):
            raise AssertionError(
                f"{type(exc).__name__} {str(exc)!r} does not match {match!r}"
            ) from exc
        return exc
    raise AssertionError(f"expected {cls.__name__}, got the value {value!r}")


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(what)


@rule
async def unary_roundtrip_returns_declared_type(d: Deployed) -> None:
    result = await d.client("Echo").echo(Point(x=2, y=3))
    _check(result == Point(x=4, y=3) and type(result) is Point, f"got {result!r}")


@rule
async def unary_without_request(d: Deployed) -> None:
    _check(await d.client("Echo").ping() == "pong", "ping did not answer pong")


@rule
async def request_given_as_plain_data_is_converted(d: Deployed) -> None:
    _check(await d.client("Echo").echo({"x": 5}) == Point(x=10, y=0), "dict not converted")


@rule
async def value_of_the_declared_type_passes_untouched(d: Deployed) -> None:
    p = Point(x=1, y=2)
    back = await d.client("Echo").same(p)
    _check(back == p and type(back) is Point, f"got {back!r}")


@rule
async def a_handler_runs_in_one_task_and_may_use_asyncio_timeout(d: Deployed) -> None:
    echo = d.client("Echo")
    result = await asyncio.wait_for(echo.own_timeout(), _WAIT)
    _check(result == "same task", f"the handler {result}")
    _check(await echo.ping() == "pong", "the transport stopped serving after a handler's timeout")


@rule
async def bad_request_is_a_validation_error_naming_the_field(d: Deployed) -> None:
    err = await _raises(ValidationError, d.client("Echo").echo({"x": "nope"}))
    _check("x" in str(err) and "nope" in str(err), f"message {err}")
    _check(err.details[0]["loc"] == ["x"], f"details {err.details}")
    _check((err.service, err.endpoint) == ("Echo", "echo"), "service/endpoint not named")


@rule
async def missing_request_argument_names_the_type(d: Deployed) -> None:
    call = d.client("Echo").echo
    await _raises(TypeError, _later(call), r"Echo.echo\(\) needs a request argument \(Point\)")


async def _later(fn: Callable[[], Awaitable[Any]]) -> Any:
    return await fn()


@rule
async def unknown_endpoint_attribute_suggests(d: Deployed) -> None:
    try:
        d.client("Echo").ecko  # noqa: B018
    except AttributeError as exc:
        _check(bool(re.search(r"no endpoint 'ecko'.*did you mean 'echo'", str(exc))), str(exc))
    else:
        raise AssertionError("no AttributeError for a mistyped endpoint")


@rule
async def stream_yields_every_item_in_order(d: Deployed) -> None:
    items = [i async for i in d.client("Echo").count(Count(n=50))]
    _check(items == list(range(50)), f"got {items}")


@rule
async def streams_through_a_middle_service(d: Deployed) -> None:
    items = [i async for i in d.client("Relay").relay_count(20)]
    _check(items == list(range(20)), f"got {items}")


@rule
async def handler_error_is_remote_error_with_type_message_and_request_id(d: Deployed) -> None:
    err = await _raises(RemoteError, d.client("Echo").boom("kaput"))
    _check(err.remote_type == "ValueError" and err.message == "kaput", f"got {err!r}")
    _check(bool(err.request_id), "no request id")
    _check((err.service, err.endpoint) == ("Echo", "boom"), "service/endpoint not named")
    _check("Echo.boom: kaput [ValueError] (request " in str(err), str(err))


@rule
async def every_call_error_crosses_unchanged(d: Deployed) -> None:
    for code, cls in sorted(CallError._by_code.items()):
        for caller in (d.client("Echo").fail_with, _via_relay(d)):
            err = await _raises(CallError, caller(code))
            _check(type(err) is cls, f"{code}: got {type(err).__name__}, raised {cls.__name__}")
            _check(err.message == f"raised {code}" and err.status == cls.status, repr(err))
            _check(err.details == {"code": code}, f"{code}: details {err.details!r}")


def _via_relay(d: Deployed) -> Callable[[str], Awaitable[Any]]:
    relay = d.client("Relay")
    return lambda code: relay.relay_fail(code)


@rule
async def error_mid_stream_arrives_after_the_items(d: Deployed) -> None:
    got: list[int] = []

    async def run() -> None:
        async for i in d.client("Echo").boom_stream(3):
            got.append(i)

    err = await _raises(RemoteError, run())
    _check(got == [0, 1, 2] and err.remote_type == "KeyError", f"{got} {err!r}")


@rule
async def service_error_keeps_status_and_message(d: Deployed) -> None:
    err = await _raises(ServiceError, d.client("Echo").not_found("feed 7"))
    _check(err.status == 404 and err.message == "feed 7 does not exist", repr(err))


@rule
async def result_of_the_wrong_type_is_an_invalid_result(d: Deployed) -> None:
    for client in (d.client("Echo"), d.client("Relay")):
        err = await _raises(InvalidResultError, client.bad_result(), r"invalid result: ")
        _check("invalid argument" not in str(err) and err.status == 500, str(err))
        _check((err.service, err.endpoint) == ("Echo", "bad_result"), repr(err))


@rule
async def timeout_is_deadline_exceeded_and_cancels_the_handler(d: Deployed) -> None:
    event("slow:started").clear()
    event("slow:cancelled").clear()
    await _raises(
        DeadlineExceededError, d.client("Echo").slow(5.0, timeout=0.3), "deadline exceeded"
    )
    # A handler that started is cancelled, not left running. (On a loaded machine a request may
    # reach the far side after its deadline; the host then refuses to start the handler.)
    if event("slow:started").is_set():
        await asyncio.wait_for(event("slow:cancelled").wait(), _WAIT)


@rule
async def deadline_travels_to_the_handler(d: Deployed) -> None:
    seen = await d.client("Echo").context(timeout=5.0)
    _check(isinstance(seen["remaining"], float) and 0 < seen["remaining"] <= 5.0, repr(seen))


@rule
async def tighter_deadline_is_carried_downstream(d: Deployed) -> None:
    seen = await d.client("Relay").context_tight(0.8, timeout=30.0)
    down = seen["downstream"]["remaining"]
    _check(0 < down <= 0.8 < seen["mine"], f"downstream {down}, caller {seen['mine']}")
    seen = await d.client("Relay").context_tight(20.0, timeout=2.0)
    down = seen["downstream"]["remaining"]
    _check(0 < down <= 2.0, f"a looser downstream timeout outlived the caller's: {down}")


@rule
async def request_id_is_passed_to_downstream_calls(d: Deployed) -> None:
    seen = await d.client("Relay").context_chain()
    _check(seen["mine"] == seen["downstream"]["request_id"], repr(seen))


@rule
async def stream_deadline(d: Deployed) -> None:
    got: list[int] = []

    async def run() -> None:
        async for i in d.client("Echo").count(Count(n=1000, delay=0.01), timeout=0.3):
            got.append(i)

    await _raises(DeadlineExceededError, run())
    _check(len(got) < 1000, f"got all {len(got)} items past the deadline")


@rule
async def leaving_a_stream_with_break_closes_its_producer(d: Deployed) -> None:
    for client, ep in ((d.client("Echo"), "forever"), (d.client("Relay"), "relay_forever")):
        tag = f"break-{id(client)}"
        event(f"closed:{tag}").clear()
        stream = getattr(client, ep)(tag)
        async for i in stream:
            if i == 3:
                break
        await stream.aclose()
        await asyncio.wait_for(event(f"closed:{tag}").wait(), _WAIT)


@rule
async def cancelling_the_caller_cancels_a_unary_handler(d: Deployed) -> None:
    for client, ep in ((d.client("Echo"), "slow"), (d.client("Relay"), "relay_slow")):
        event("slow:started").clear()
        event("slow:cancelled").clear()
        call = asyncio.ensure_future(getattr(client, ep)(60.0))
        await asyncio.wait_for(event("slow:started").wait(), _WAIT)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        _check(call.cancelled(), f"{ep}: the caller was not cancelled")
        await asyncio.wait_for(event("slow:cancelled").wait(), _WAIT)


@rule
async def cancelling_the_caller_closes_a_stream_producer(d: Deployed) -> None:
    for client, ep in ((d.client("Echo"), "forever"), (d.client("Relay"), "relay_forever")):
        tag = f"cancel-{id(client)}"
        event(f"started:{tag}").clear()
        event(f"closed:{tag}").clear()

        async def consume(client: Any = client, ep: str = ep, tag: str = tag) -> None:
            async for _ in getattr(client, ep)(tag):
                pass

        call = asyncio.ensure_future(consume())
        await asyncio.wait_for(event(f"started:{tag}").wait(), _WAIT)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        await asyncio.wait_for(event(f"closed:{tag}").wait(), _WAIT)


@rule
async def a_stopped_instance_is_unavailable(d: Deployed) -> None:
    """Last: it stops Echo. The caller and the dependent both see ``UnavailableError`` (on the
    runtime its subclass ``NoWorkersError``)."""
    echo, relay = d.client("Echo"), d.client("Relay")
    await d.stop("Echo")
    err = await _raises(UnavailableError, echo.ping())
    _check(err.status == 503, repr(err))
    err = await _raises(UnavailableError, relay.relay_slow(0.0))
    _check(err.status == 503, repr(err))
