"""Call semantics every transport keeps: same results, errors, cancellation and deadlines."""

from __future__ import annotations

import asyncio

import pytest

from reverie.errors import (
    DeadlineExceededError,
    RemoteError,
    ServiceError,
    ValidationError,
)
from tests.conformance.conftest import Deployed
from tests.conformance.services import Count, Point, event


async def test_unary_roundtrip_returns_declared_type(deployed: Deployed) -> None:
    result = await deployed.client("Echo").echo(Point(x=2, y=3))
    assert result == Point(x=4, y=3)
    assert isinstance(result, Point)


async def test_unary_without_request(deployed: Deployed) -> None:
    assert await deployed.client("Echo").ping() == "pong"


async def test_request_given_as_plain_data_is_converted(deployed: Deployed) -> None:
    assert await deployed.client("Echo").echo({"x": 5}) == Point(x=10, y=0)


async def test_bad_request_is_a_validation_error_naming_the_field(deployed: Deployed) -> None:
    with pytest.raises(ValidationError) as info:
        await deployed.client("Echo").echo({"x": "nope"})
    err = info.value
    assert "x" in str(err) and "nope" in str(err)
    assert err.details[0]["loc"] == ["x"]
    assert err.service == "Echo" and err.endpoint == "echo"


async def test_missing_request_argument_names_the_type(deployed: Deployed) -> None:
    with pytest.raises(TypeError, match=r"Echo.echo\(\) needs a request argument \(Point\)"):
        await deployed.client("Echo").echo()


async def test_unknown_endpoint_attribute_suggests(deployed: Deployed) -> None:
    with pytest.raises(AttributeError, match=r"no endpoint 'ecko'.*did you mean 'echo'"):
        deployed.client("Echo").ecko  # noqa: B018


async def test_stream_yields_every_item_in_order(deployed: Deployed) -> None:
    items = [i async for i in deployed.client("Echo").count(Count(n=50))]
    assert items == list(range(50))


async def test_handler_error_is_remote_error_with_type_message_and_request_id(
    deployed: Deployed,
) -> None:
    with pytest.raises(RemoteError) as info:
        await deployed.client("Echo").boom("kaput")
    err = info.value
    assert err.remote_type == "ValueError"
    assert err.message == "kaput"
    assert err.request_id
    assert err.service == "Echo" and err.endpoint == "boom"
    assert "Echo.boom: kaput [ValueError] (request " in str(err)


async def test_error_mid_stream_arrives_after_the_items(deployed: Deployed) -> None:
    got: list[int] = []
    with pytest.raises(RemoteError) as info:
        async for i in deployed.client("Echo").boom_stream(3):
            got.append(i)
    assert got == [0, 1, 2]
    assert info.value.remote_type == "KeyError"


async def test_service_error_keeps_status_and_message(deployed: Deployed) -> None:
    with pytest.raises(ServiceError) as info:
        await deployed.client("Echo").not_found("feed 7")
    assert info.value.status == 404
    assert info.value.message == "feed 7 does not exist"


async def test_timeout_is_deadline_exceeded_and_cancels_the_handler(deployed: Deployed) -> None:
    event("slow:started").clear()
    event("slow:cancelled").clear()
    with pytest.raises(DeadlineExceededError, match="deadline exceeded"):
        await deployed.client("Echo").slow(5.0, timeout=0.3)
    # A handler that started is cancelled, not left running. (On a loaded machine the request
    # may reach the far side after its deadline; the host then refuses to start the handler.)
    if event("slow:started").is_set():
        await asyncio.wait_for(event("slow:cancelled").wait(), 5.0)


async def test_deadline_travels_to_the_handler(deployed: Deployed) -> None:
    seen = await deployed.client("Echo").context(timeout=5.0)
    assert isinstance(seen["remaining"], float)
    assert 0 < seen["remaining"] <= 5.0


async def test_request_id_is_passed_to_downstream_calls(deployed: Deployed) -> None:
    seen = await deployed.client("Relay").context_chain()
    assert seen["mine"] == seen["downstream"]["request_id"]  # type: ignore[index]


async def test_breaking_out_of_a_stream_cancels_the_producer(deployed: Deployed) -> None:
    tag = f"break-{id(deployed)}"
    event(f"closed:{tag}").clear()
    stream = deployed.client("Echo").forever(tag)
    async for i in stream:
        if i == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.wait_for(event(f"closed:{tag}").wait(), 1.0)


async def test_streams_through_a_middle_service(deployed: Deployed) -> None:
    items = [i async for i in deployed.client("Relay").relay_count(20)]
    assert items == list(range(20))


async def test_stream_deadline(deployed: Deployed) -> None:
    got = []
    with pytest.raises(DeadlineExceededError):
        async for i in deployed.client("Echo").count(Count(n=1000, delay=0.01), timeout=0.1):
            got.append(i)
    assert 0 < len(got) < 1000


async def test_cancelling_the_caller_cancels_a_unary_handler(deployed: Deployed) -> None:
    event("slow:started").clear()
    event("slow:cancelled").clear()
    call = asyncio.ensure_future(deployed.client("Echo").slow(30.0))
    await asyncio.wait_for(event("slow:started").wait(), 10.0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.wait_for(event("slow:cancelled").wait(), 10.0)


async def test_cancelling_the_caller_closes_a_stream_producer(deployed: Deployed) -> None:
    tag = f"cancel-{id(deployed)}"
    event(f"started:{tag}").clear()
    event(f"closed:{tag}").clear()

    async def consume() -> None:
        async for _ in deployed.client("Echo").forever(tag):
            pass

    call = asyncio.ensure_future(consume())
    await asyncio.wait_for(event(f"started:{tag}").wait(), 10.0)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.wait_for(event(f"closed:{tag}").wait(), 10.0)
