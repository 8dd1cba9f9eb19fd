"""HTTP requests that reach an instance while it is held or after it moved: they wait at the
gate (bounded), then run on the instance (whose implementation may have been swapped) or, for
endpoints of a migrated instance, travel on through ``inst.forward``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from reverie.errors import CallError, UnavailableError

from ..http.send import Send, send_problem
from ..transports.codec import json_decode
from .gate import admit

if TYPE_CHECKING:
    from ..host.instance import Instance
    from ..http.app import HostApp
    from ..http.head import Head
    from ..http.routes import Route

__all__ = ["held_request"]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def held_request(
    app: HostApp,
    scope: Scope,
    receive: Receive,
    send: Send,
    inst: Instance,
    route: Route,
    head: Head,
) -> None:
    try:
        if await admit(inst, route.name):
            inst.requests[route.name] -= 1  # counted again by the dispatch below
            await app(scope, receive, send)  # routes again: the handlers may be new ones
            return
    except CallError as err:
        await send_problem(send, err)
        return
    forward = inst.forward
    assert forward is not None
    if route.kind != "endpoint" or route.endpoint is None:
        await send_problem(
            send,
            UnavailableError(
                f"instance {inst.path!r} moved to {forward.describe()}; its features are served "
                f"there",
                service=inst.meta.name,
                endpoint=route.name,
            ),
        )
        return
    ep = route.endpoint
    ctx = scope.get("reverie.context") or head.context()
    try:
        body = await app.read_body(receive, head)
        args: tuple[Any, ...] = ()
        if ep.request_param is not None:
            args = (ep.request_info.validate(json_decode(body) if body.strip() else None),)
    except CallError as err:
        await send_problem(send, err)
        return
    except Exception as exc:
        await send_problem(send, UnavailableError(f"cannot forward the request: {exc}"))
        return
    request = args[0] if args else None
    if ep.streaming:
        await app._stream(
            receive, send, head, ctx, lambda: forward.stream(ep, request, ctx), (), {}
        )
    else:
        await app._unary(receive, send, ctx, lambda: forward.call(ep, request, ctx), (), {})
