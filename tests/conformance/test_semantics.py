"""Call semantics every transport keeps, at every hop (caller→service and service→service on
the transport under test): the rules live in ``reverie._private.conformance.rules``."""

from __future__ import annotations

from typing import Any

import pytest

from reverie._private.conformance import KINDS, RULES
from reverie._private.conformance.services import Relay
from reverie.testing import check_transport

EXPECTED_KINDS = {"inprocess", "serialized", "http", "nats", "direct"}


def test_every_kind_is_registered() -> None:
    assert set(KINDS) == EXPECTED_KINDS


@pytest.mark.parametrize("kind", sorted(EXPECTED_KINDS))
@pytest.mark.parametrize("rule", list(RULES))
async def test_rule(kind: str, rule: str) -> None:
    async with KINDS[kind](Relay) as deployed:
        await RULES[rule](deployed)


async def test_check_transport_reports_a_broken_rule() -> None:
    """``check_transport`` must fail a transport that breaks a rule: a kind whose clients drop
    every request id."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def forgetful(entry: type) -> Any:
        async with KINDS["inprocess"](entry) as d:
            real = d.client

            class Forgetful:
                def client(self, service: str) -> Any:
                    c = real(service)
                    if service == "Relay":

                        async def chain() -> dict[str, object]:
                            return {"mine": "a", "downstream": {"request_id": "b"}}

                        c.__dict__["context_chain"] = chain
                    return c

                async def stop(self, service: str) -> None:
                    await d.stop(service)

            yield Forgetful()

    failed = await check_transport(
        forgetful, ["request_id_is_passed_to_downstream_calls", "unary_without_request"]
    )
    assert list(failed) == ["request_id_is_passed_to_downstream_calls"]
    assert "AssertionError" in failed["request_id_is_passed_to_downstream_calls"]
