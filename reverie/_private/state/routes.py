"""The HTTP side of state: ``GET /<path>/@state`` (private) answers a capture;
``PUT /@host/services/<path>`` swaps the implementation live; ``POST /@host/migrate`` moves an
instance to another host of the runtime. ``POST /@host/services`` takes a ``state`` field
(handled where that route lives, in ``http.management``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    EndpointNotFoundError,
    ServiceError,
    StateError,
    SwapError,
)

from ..http.send import Send, send_json, send_problem
from .ops import capture

if TYPE_CHECKING:
    from ..host.instance import Instance
    from ..http.head import Head
    from ..http.management import Management

__all__ = ["read_json", "send_state", "swap_route"]

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def send_state(send: Send, inst: Instance) -> None:
    """``GET @state``: the instance's state document, taken between requests."""
    if inst.meta.state is None:
        await send_problem(
            send,
            EndpointNotFoundError(
                f"{inst.meta.name} (at /{inst.path}) declares no state",
                service=inst.meta.name,
                endpoint="@state",
            ),
        )
        return
    try:
        doc = await capture(inst)
    except StateError as exc:
        await send_problem(send, ServiceError(409, str(exc)))
        return
    await send_json(send, doc.to_dict())


async def read_json(mgmt: Management, receive: Receive, head: Head, what: str) -> dict[str, Any]:
    """The JSON object body of a management request, or a 400/413 ``CallError``."""
    spec = await mgmt.app.read_json(receive, head, empty={})
    if not isinstance(spec, dict):
        raise ServiceError(400, f"{what} takes a JSON object, not {type(spec).__name__}")
    return spec


async def swap_route(mgmt: Management, receive: Receive, send: Send, head: Head, path: str) -> None:
    """``PUT /@host/services/<path>`` with ``{"class" | "sid": ..., "config": {...}}``."""
    spec = await read_json(mgmt, receive, head, f"PUT /@host/services/{path}")
    target = spec.get("class") or spec.get("sid")
    unknown = set(spec) - {"class", "sid", "config"}
    if unknown or not isinstance(target, str):
        raise ServiceError(
            400,
            f"PUT /@host/services/{path} swaps the implementation: it takes "
            f'{{"class": "module:Class" | "sid": "sid://...", "config": {{...}}}}'
            + (f"; unknown fields {', '.join(sorted(unknown))}" if unknown else ""),
        )
    config = spec.get("config") or {}
    if not isinstance(config, dict):
        raise ServiceError(400, "'config' must be a JSON object of config keys")
    host = mgmt.host
    if path not in host.instances:
        raise EndpointNotFoundError(f"no instance at path {path!r}")
    before = host.instances[path].meta.name
    try:
        inst = await host.swap(path, target, config=config)
    except SwapError as exc:
        raise ServiceError(409, str(exc)) from None
    await send_json(send, {**inst.about(), "swapped": {"from": before, "to": inst.meta.name}})
