"""Answering a request once it is routed: reading its body, calling an endpoint or a feature,
and writing the result, a problem body or a stream (NDJSON or SSE)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    CallError,
    ServiceError,
)

from ..call import tracing as _tracing
from ..call.client import result_check
from ..call.context import CURRENT, RequestContext
from ..call.failures import log_failure
from ..declare.config_key import REQUIRED
from ..transports.codec import json_decode, json_encode
from .disconnect import DisconnectWatch
from .head import BodyTimeoutError, Head, TooLarge
from .limits import HttpLimits
from .params import bad_json, build_kwargs
from .request import Request
from .response import Response, StreamingResponse
from .routes import Match, Route
from .send import Send, send_problem, sse
from .streams import pump_items, pump_raw, under_deadline, until_disconnect

if TYPE_CHECKING:
    from ..host.instance import Instance

__all__ = ["PLAIN", "Answering", "Receive", "Scope"]

log = logging.getLogger("reverie.http")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]

PLAIN = frozenset({str, int, float, bool, dict, list, type(None)})
_JSON_HEADERS = b"application/json"
_NDJSON = b"application/x-ndjson"
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_NDJSON_HEADERS = [(b"content-type", _NDJSON), (b"cache-control", b"no-cache")]


class Answering:
    """The part of ``HostApp`` that answers a routed request (a base class: the app holds the
    state it reads, set in ``HostApp.__init__``)."""

    max_body_size: int
    watch: DisconnectWatch
    _limits: HttpLimits
    _checks: dict[int, tuple[Any, Callable[[Any], Any] | None]]

    async def read_json(
        self, receive: Receive, head: Head, *, empty: Any = None, what: str = "the request body"
    ) -> Any:
        """The body as JSON (``empty`` when there is none): a 413 ``ServiceError`` when it is
        too large, a 400 when it is not JSON; other call errors (the body timeout) as they are."""
        try:
            body = await self.read_body(receive, head)
            return json_decode(body) if body.strip() else empty
        except TooLarge:
            raise ServiceError(413, f"{what} is too large") from None
        except CallError:
            raise
        except Exception as exc:
            raise ServiceError(400, f"{what} is not valid JSON: {exc}") from None

    async def read_body(self, receive: Receive, head: Head) -> bytes:
        """The whole body, within ``max_body_size`` (``TooLarge``) and ``body_timeout``
        (``BodyTimeoutError``)."""
        seconds = self._limits.body_timeout
        if seconds is None:
            return await self._read_body(receive, head)
        try:
            async with asyncio.timeout(seconds):
                return await self._read_body(receive, head)
        except TimeoutError:
            raise BodyTimeoutError(seconds) from None

    async def _read_body(self, receive: Receive, head: Head) -> bytes:
        limit = self.max_body_size
        if head.length is not None:
            try:
                if int(head.length) > limit:
                    raise TooLarge
            except ValueError:
                pass
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":
                break
            chunk = msg.get("body", b"")
            if chunk:
                size += len(chunk)
                if size > limit:
                    raise TooLarge
                chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    # -- endpoints and features ------------------------------------------------------------------

    async def _endpoint(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        inst: Instance,
        route: Route,
        head: Head,
        ctx: RequestContext,
        body: bytes,
    ) -> None:
        ep = route.endpoint
        assert ep is not None
        fn = inst.handlers[ep.name]
        if ctx.deadline is None and ep.timeout is not None:
            ctx.deadline = time.monotonic() + ep.timeout  # the endpoint's default deadline
        args: tuple[Any, ...] = ()
        if ep.request_param is not None:
            try:
                value = json_decode(body) if body.strip() else ep.missing_request()
            except Exception as exc:
                raise bad_json(exc) from None
            if value is REQUIRED:
                value = None  # validation names the type the request needs
            args = (ep.request_info.validate(value),)
        found = self._checks.get(id(ep))
        if found is None or found[0] is not ep:
            found = self._checks[id(ep)] = (ep, result_check(inst.meta, ep))
        check = found[1]
        if ep.streaming:
            await self._stream(
                receive, send, head, ctx, fn, args, {}, inst.meta.name, ep.name, check
            )
        else:
            await self._unary(
                receive, send, ctx, fn, args, {}, False, inst.meta.name, ep.name, check
            )

    async def _feature(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        inst: Instance,
        found: Match,
        head: Head,
        ctx: RequestContext,
        body: bytes,
    ) -> None:
        route = found.route
        args = route.args
        assert args is not None
        kwargs: dict[str, Any] = {}
        if args.params:
            extra: dict[str, Any] = {"context": ctx}
            if args.needs_request:
                headers = {
                    k.decode("latin-1"): v.decode("latin-1")
                    for k, v in scope["headers"]
                    if k != b"authorization"
                }
                extra["request"] = Request(
                    scope["method"], scope["path"], scope.get("query_string", b""), headers, body
                )
            try:
                kwargs = build_kwargs(
                    args, found.params, found.suffix, scope.get("query_string", b""), body, extra
                )
            except CallError as err:
                err.service, err.endpoint = inst.meta.name, route.method
                raise
        fn = getattr(inst.obj, route.method)
        if route.streaming:
            await self._stream(
                receive, send, head, ctx, fn, (), kwargs, inst.meta.name, route.method
            )
        else:
            await self._unary(
                receive,
                send,
                ctx,
                fn,
                (),
                kwargs,
                scope["method"] == "HEAD",
                inst.meta.name,
                route.method,
            )

    async def _unary(
        self,
        receive: Receive,
        send: Send,
        ctx: RequestContext,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        head_only: bool = False,
        svc: str | None = None,
        name: str | None = None,
        check: Callable[[Any], Any] | None = None,
    ) -> None:
        """Run a unary handler and answer; ``check`` (endpoints) is the declared-result rule."""
        span = None
        if _tracing.ON:
            span, ctx = _tracing.server_span(ctx, svc, name, "http", svc)
        token = CURRENT.set(ctx)
        watch = self.watch.enter(receive)
        try:
            if ctx.deadline is None:
                result = await fn(*args, **kwargs)
            else:
                result = await under_deadline(fn(*args, **kwargs), ctx)
            if check is not None:
                result = check(result)
        except asyncio.CancelledError:
            if self.watch.gone(watch):
                return  # the client left: the handler is cancelled, nobody to answer
            raise
        except Exception as exc:
            if span is not None:
                _tracing.end(span, exc)
                span = None
            log_failure(exc, svc, name, ctx.request_id)
            await send_problem(send, CallError.from_handler(exc, ctx.request_id))
            return
        finally:
            self.watch.leave(watch)
            CURRENT.reset(token)
            if span is not None:
                _tracing.end(span)
        if type(result) in PLAIN and not head_only:
            try:
                body = json_encode(result)
            except TypeError:  # a value inside the dict or list: answered by _answer below
                pass
            else:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", _JSON_HEADERS),
                            (b"content-length", str(len(body)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self._answer(receive, send, result, ctx, head_only, svc, name)

    async def _answer(
        self,
        receive: Receive,
        send: Send,
        result: Any,
        ctx: RequestContext,
        head_only: bool,
        svc: str | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(result, Response):
            await send(
                {
                    "type": "http.response.start",
                    "status": result.status,
                    "headers": result.raw_headers(),
                }
            )
            await send({"type": "http.response.body", "body": b"" if head_only else result.body})
            return
        if isinstance(result, StreamingResponse):
            await send(
                {
                    "type": "http.response.start",
                    "status": result.status,
                    "headers": result.raw_headers(),
                }
            )
            if head_only:
                await send({"type": "http.response.body", "body": b""})
                return
            await until_disconnect(receive, pump_raw(send, result))
            return
        try:
            body = json_encode(result)
        except TypeError as exc:
            err = TypeError(
                f"the result of {svc}.{name} cannot be sent as JSON "
                f"({type(result).__name__}): {exc}"
            )
            err.__traceback__ = exc.__traceback__
            log_failure(err, svc, name, ctx.request_id, "serialization of")
            await send_problem(send, CallError.from_handler(err, ctx.request_id))
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", _JSON_HEADERS),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if head_only else body})

    async def _stream(
        self,
        receive: Receive,
        send: Send,
        head: Head,
        ctx: RequestContext,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        svc: str | None = None,
        name: str | None = None,
        check: Callable[[Any], Any] | None = None,
    ) -> None:
        """An async generator's items as SSE (default) or NDJSON (``Accept: application/x-ndjson``).

        An error before the first item is an HTTP status with a problem body; after it, an
        ``error`` event (SSE) or ``{"@error": …}`` line (NDJSON) ends the stream. A client
        disconnect cancels the producer.
        """
        ndjson = _NDJSON in head.accept
        span = None
        if _tracing.ON:
            span, ctx = _tracing.server_span(ctx, svc, name, "http", svc)
        token = CURRENT.set(ctx)
        gen: Any = None
        try:
            gen = fn(*args, **kwargs)
            step = gen.__anext__
            watch = self.watch.enter(receive)
            try:
                first: Any = await (step() if ctx.deadline is None else under_deadline(step(), ctx))
                if check is not None:
                    first = check(first)
                empty = False
            except StopAsyncIteration:
                empty = True
            except asyncio.CancelledError:
                if self.watch.gone(watch):
                    return  # the client left before the first item; the producer is closed
                raise
            except Exception as exc:
                if span is not None:
                    _tracing.end(span, exc)
                    span = None
                log_failure(exc, svc, name, ctx.request_id, "stream")
                await send_problem(send, CallError.from_handler(exc, ctx.request_id))
                return
            finally:
                self.watch.leave(watch)
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": _NDJSON_HEADERS if ndjson else _SSE_HEADERS,
                }
            )
            if not empty:
                sent, failed = await pump_items(
                    receive, send, ctx, first, step, ndjson, svc, name, check
                )
                if span is not None:  # the stream's server span: its items, how it ended
                    _tracing.end(span, failed, sent)
                    span = None
            else:
                await send(
                    {"type": "http.response.body", "body": b"" if ndjson else sse(b"null", b"end")}
                )
        finally:
            if gen is not None:
                try:
                    await gen.aclose()
                except Exception:  # pragma: no cover - a producer failing while closing
                    log.exception("closing a stream producer")
            CURRENT.reset(token)
            if span is not None:
                _tracing.end(span)
