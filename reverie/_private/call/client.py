"""The callers behind a dependency client's endpoints (``service_client.ServiceClient``): one
per endpoint, unary or streaming, local or over a wire.

``self.worker.generate(req)`` is awaitable for a unary endpoint and an async iterator for a
streaming one, whatever the transport. The caller owns the semantics every transport keeps:
the request is checked against the declared type, the request context (id, deadline) is built
from the caller's, a per-call ``timeout`` becomes a deadline, results arriving as plain data are
converted back to the declared type, and closing a stream cancels its producer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from reverie.errors import (
    CallError,
    DeadlineExceededError,
    InvalidResultError,
    ValidationError,
)

from ..declare.service import REQUIRED, EndpointMeta, ServiceMeta
from ..markers import NOT_GIVEN
from ..suggest import did_you_mean
from ..transports.base import Transport
from .context import CURRENT, RequestContext, fresh_context, new_context
from .edges import SAMPLE, EdgeStats, transport_kind
from .failures import log_failure

if TYPE_CHECKING:
    from ..host.instance import Instance

__all__ = ["result_check"]

assert SAMPLE == 64, "the unary caller tests n & 63"
#: Set by the tracing layer (``reverie._private.call.tracing``) while tracing is on: the (unary,
#: streaming) caller classes clients link instead of the plain ones.
traced_callers: tuple[type[_Caller], type[_Caller]] | None = None


def _stamp(err: CallError, meta: ServiceMeta, ep: EndpointMeta, ctx: RequestContext) -> None:
    if err.service is None:
        err.service = meta.name
    if err.endpoint is None:
        err.endpoint = ep.name
    if err.request_id is None:
        err.request_id = ctx.request_id


def result_check(meta: ServiceMeta, ep: EndpointMeta) -> Callable[[Any], Any] | None:
    """The declared-result rule of an endpoint as one callable (None when the result is
    untyped): the value as the declared type, else ``InvalidResultError``. The client runs it
    where a result arrives; a host's HTTP application before it serializes one."""
    return None if ep.response_info.is_any else _result_check(meta, ep)


def _result_check(meta: ServiceMeta, ep: EndpointMeta) -> Any:
    """Convert a wire result to the declared type; a mismatch names the endpoint and the field
    and says it is the result (not an argument) that is wrong."""
    validate = ep.response_info.validate
    what = "stream item" if ep.streaming else "result"

    def convert(value: Any) -> Any:
        try:
            return validate(value)
        except ValidationError as err:
            text = str(err).removeprefix("invalid argument: ")
            raise InvalidResultError(
                f"invalid {what}: {text} (the handler returned something that does not match "
                f"its declared {ep.response_info.name})",
                details=err.details,
                service=meta.name,
                endpoint=ep.name,
            ) from None

    return convert


class _Caller:
    """The callable behind ``client.<endpoint>``; one per endpoint, built at link time."""

    __slots__ = ("_check", "_convert", "_ep", "_exact", "_meta", "_stats", "_transport")

    def __init__(self, meta: ServiceMeta, ep: EndpointMeta, transport: Transport) -> None:
        self._meta = meta
        self._ep = ep
        self._transport = transport
        # Counted even when nobody reads it (a client made outside any host): no branch on
        # the hot path. A host's link swaps in the edge's registered stats (track_edges).
        kind = transport_kind(transport)
        self._stats = EdgeStats(
            "-", meta.name, ep.name, kind, ep.streaming, every_call=kind != "in-process"
        )
        info = ep.request_info
        self._check = None if info.is_any else info.validate
        # One rule on every transport: the result is checked where it arrives. Plain data from a
        # wire is converted to the declared type; an in-process value of the declared class
        # passes by one isinstance check (containers such as list[int] are walked: declare a
        # class to keep it cheap). A mismatch is InvalidResultError, the service's fault (500).
        rinfo = ep.response_info
        self._convert = None if rinfo.is_any else _result_check(meta, ep)
        # In-process, a value of exactly the declared class needs no more than `type(v) is C`.
        self._exact = None if transport.wire else rinfo.exact_class

    def _context(self, timeout: float | None) -> RequestContext:
        """The call's context: the caller's own, or a new one when ``timeout`` is given or the
        endpoint's default deadline applies (the caller has no deadline of its own)."""
        parent = CURRENT.get()
        if (
            timeout is None
            and self._ep.timeout is not None
            and (parent is None or parent.deadline is None)
        ):
            timeout = self._ep.timeout  # the endpoint's default deadline
        return parent if timeout is None and parent is not None else new_context(timeout)

    def _plain_context(self, timeout: float | None) -> RequestContext:
        """The call's context without the endpoint's default deadline (wire and traced callers):
        the caller's own, or a new one when there is none or ``timeout`` is given."""
        parent = CURRENT.get()
        return parent if timeout is None and parent is not None else new_context(timeout)

    def _request(self, request: Any, fields: dict[str, Any] | None = None) -> Any:
        ep = self._ep
        if fields:
            request = self._from_keywords(request, fields)
        if ep.request_param is None:
            if request is not NOT_GIVEN:
                raise TypeError(f"{self._meta.name}.{ep.name}() takes no request argument")
            return None
        if request is NOT_GIVEN:
            request = ep.missing_request()
            if request is REQUIRED:
                raise TypeError(
                    f"{self._meta.name}.{ep.name}() needs a request argument "
                    f"({ep.request_info.name})"
                )
        if self._check is not None:
            try:
                return self._check(request)
            except CallError as err:
                err.service, err.endpoint = self._meta.name, ep.name
                raise
        return request

    def _from_keywords(self, request: Any, fields: dict[str, Any]) -> Any:
        """``search(q="x", limit=5)``: the request object of a keyword endpoint, or the single
        parameter of a one-argument endpoint passed by name."""
        ep = self._ep
        where = f"{self._meta.name}.{ep.name}()"
        if request is not NOT_GIVEN:
            raise TypeError(f"{where} takes either one request value or keyword arguments")
        names = [p.name for p in ep.params]
        unknown = [k for k in fields if k not in names]
        if unknown:
            raise TypeError(
                f"{where} got an unexpected keyword argument {unknown[0]!r}"
                f"{did_you_mean(unknown[0], names)}; parameters: {', '.join(names) or 'none'}"
            )
        if ep.keywords:
            return fields
        return fields[names[0]]

    def __repr__(self) -> str:
        kind = "streaming" if self._ep.streaming else "unary"
        return (
            f"<{kind} endpoint {self._meta.name}.{self._ep.name} via {self._transport.describe()}>"
        )


class _UnaryCaller(_Caller):
    __slots__ = ()

    async def __call__(
        self, request: Any = NOT_GIVEN, /, *, timeout: float | None = None, **fields: Any
    ) -> Any:
        req = self._request(request, fields)
        # self._context(timeout) inlined: a call layer here is paid by every in-process call.
        parent = CURRENT.get()
        if (
            timeout is None
            and self._ep.timeout is not None
            and (parent is None or parent.deadline is None)
        ):
            timeout = self._ep.timeout  # the endpoint's default deadline
        ctx = parent if timeout is None and parent is not None else new_context(timeout)
        st = self._stats
        n = st.calls = st.calls + 1  # the one counter every call pays (see edges.py)
        if not n & 63:  # one call in SAMPLE (64) is timed; a literal: no lookup
            result = await self._timed(st, req, ctx)
        else:  # _timed inlined minus the clock: a call/await layer here is paid by every call
            try:
                if ctx.deadline is None:
                    result = await self._transport.call(self._ep, req, ctx)
                else:
                    result = await _with_deadline(self._transport.call(self._ep, req, ctx), ctx)
            except CallError as err:
                _stamp(err, self._meta, self._ep, ctx)
                st.failed(err.code)
                raise
            except BaseException:  # cancelled by the caller
                st.failed("cancelled")
                raise
        if self._convert is not None and type(result) is not self._exact:
            result = self._convert(result)
        return result

    async def _timed(self, st: EdgeStats, req: Any, ctx: RequestContext) -> Any:
        st.timed_in_flight += 1
        t0 = perf_counter()
        try:
            if ctx.deadline is None:
                result = await self._transport.call(self._ep, req, ctx)
            else:
                result = await _with_deadline(self._transport.call(self._ep, req, ctx), ctx)
        except CallError as err:
            _stamp(err, self._meta, self._ep, ctx)
            st.failed(err.code)
            raise
        except BaseException:
            st.failed("cancelled")
            raise
        finally:
            st.timed_in_flight -= 1
            st.observe(perf_counter() - t0)
        return result


class _LocalUnaryCaller(_UnaryCaller):
    """A unary endpoint of an instance in this process (not serialized, no default deadline):
    the client exposes ``self.call``, a function built once here (a plain function call is
    ~60 ns cheaper than an object's ``__call__``, and what never changes is read from its
    closure). It calls the handler directly, one coroutine less per call, and a request of
    exactly the declared class passes by one type test. Anything else (a deadline, a held or
    stopped instance, keyword arguments, the one call in 64 that is timed) takes the general
    path, ``_UnaryCaller.__call__``."""

    __slots__ = ("call",)

    def __init__(self, meta: ServiceMeta, ep: EndpointMeta, transport: Transport) -> None:
        super().__init__(meta, ep, transport)
        assert ep.timeout is None, "an endpoint with a default deadline takes _UnaryCaller"
        self.call = _local_call(self, transport.instance)  # type: ignore[attr-defined]

    async def __call__(
        self, request: Any = NOT_GIVEN, /, *, timeout: float | None = None, **fields: Any
    ) -> Any:
        return await self.call(request, timeout=timeout, **fields)


# long: the in-process unary hot path, one function so that a call pays one frame (bench_inprocess)
def _local_call(me: _LocalUnaryCaller, inst: Instance) -> Callable[..., Awaitable[Any]]:
    """The function behind ``client.<endpoint>`` for ``me`` (see ``_LocalUnaryCaller``)."""
    meta, ep = me._meta, me._ep
    name = ep.name
    takes = ep.request_param is not None
    req_class = ep.request_info.exact_class if takes else None
    convert, exact = me._convert, me._exact
    general = _UnaryCaller.__call__
    get, set_, reset = CURRENT.get, CURRENT.set, CURRENT.reset

    async def call(
        request: Any = NOT_GIVEN, /, *, timeout: float | None = None, **fields: Any
    ) -> Any:
        ctx = get()
        st = me._stats
        n = st.calls + 1
        if (
            fields
            or timeout is not None
            or not n & 63
            or not inst.accepting
            or (ctx is not None and ctx.deadline is not None)
        ):
            return await general(me, request, timeout=timeout, **fields)
        # A request of exactly the declared class is valid as it is.
        req = request if type(request) is req_class else me._request(request)
        st.calls = n  # the one counter every call pays (see edges.py)
        if ctx is None:  # a call from outside any handler: a context of its own, current
            ctx = fresh_context()  # while the handler runs
            token = set_(ctx)
        else:
            token = None  # the caller's context (no deadline to keep, none to add) is current
        inst.active += 1
        try:
            result = await (inst.handlers[name](req) if takes else inst.handlers[name]())
        except CallError as err:
            log_failure(err, meta.name, name, ctx.request_id)
            out = CallError.from_handler(err, ctx.request_id)
            _stamp(out, meta, ep, ctx)
            st.failed(out.code)
            raise out from None
        except Exception as exc:
            log_failure(exc, meta.name, name, ctx.request_id)
            out = CallError.from_handler(exc, ctx.request_id)
            _stamp(out, meta, ep, ctx)
            st.failed(out.code)
            raise out from exc
        except BaseException:  # cancelled by the caller
            st.failed("cancelled")
            raise
        finally:
            if token is not None:
                reset(token)
            inst.active -= 1
        if convert is not None and type(result) is not exact:
            result = convert(result)
        return result

    # Its repr says what and where, as a caller object's does: <function Clock.now (unary
    # endpoint via in-process) at 0x…>.
    call.__name__ = name
    call.__qualname__ = f"{meta.name}.{name} (unary endpoint via {me._transport.describe()})"
    return call


class _WireUnaryCaller(_UnaryCaller):
    """A unary endpoint over a wire (HTTP, NATS): every call is timed, next to the network."""

    __slots__ = ()

    async def __call__(
        self, request: Any = NOT_GIVEN, /, *, timeout: float | None = None, **fields: Any
    ) -> Any:
        req = self._request(request, fields)
        ctx = self._plain_context(timeout)
        st = self._stats
        st.calls += 1
        result = await self._timed(st, req, ctx)
        if self._convert is not None and type(result) is not self._exact:
            result = self._convert(result)
        return result


class _StreamCaller(_Caller):
    __slots__ = ()

    def __call__(
        self, request: Any = NOT_GIVEN, /, *, timeout: float | None = None, **fields: Any
    ) -> AsyncIterator[Any]:
        return self._iterate(self._request(request, fields), self._context(timeout))

    # long: the in-process stream's only per-item layer, one frame per item (bench_inprocess)
    async def _iterate(self, req: Any, ctx: RequestContext) -> AsyncIterator[Any]:
        # The only per-item layer on the in-process path: it sets the request context for the
        # producer, converts wire items, translates errors and closes the producer on exit.
        st = self._stats  # per stream, not per item: every stream is counted and timed
        st.calls += 1
        st.timed_in_flight += 1
        t0 = perf_counter()
        outcome = ""
        inner = self._transport.stream(self._ep, req, ctx)
        # An in-process target counts its streams in flight here, once per call, so a capture
        # or swap can wait for them (reverie._private.state.gate) without a per-item layer.
        target = getattr(self._transport, "instance", None)
        if target is not None:
            if target.accepting:
                target.active += 1
            else:
                target = None  # a held stream counts itself once it is let through
        convert = self._convert
        token = CURRENT.set(ctx)
        try:
            if ctx.deadline is not None or st.mask == 0:
                # Deadline or wire: a step at a time, items counted (the per-item cost is
                # noise next to a wire; the bare in-process loop below stays uncounted).
                step = inner.__anext__
                while True:
                    try:
                        item = await (
                            step() if ctx.deadline is None else _with_deadline(step(), ctx)
                        )
                    except StopAsyncIteration:
                        break
                    st.items += 1
                    yield item if convert is None else convert(item)
            elif convert is None:
                async for item in inner:
                    yield item
            elif not self._transport.wire:
                # In-process without a codec, items pass as the producer made them: a per-item
                # check measured ~12 ns/item (1.85x -> 2.05x a bare generator, past the 2.0x
                # target). Results and serialized/wire items are checked; run_graph serializes.
                async for item in inner:
                    yield item
            else:
                async for item in inner:
                    yield convert(item)
        except CallError as err:
            _stamp(err, self._meta, self._ep, ctx)
            outcome = err.code
            raise
        except GeneratorExit:  # the consumer closed the stream early: not an error
            raise
        except Exception as exc:
            # Transports raise CallErrors; anything else escaped the handler itself.
            log_failure(exc, self._meta.name, self._ep.name, ctx.request_id, "stream")
            translated = CallError.from_handler(exc, ctx.request_id)
            _stamp(translated, self._meta, self._ep, ctx)
            outcome = translated.code
            raise translated from exc
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            st.timed_in_flight -= 1
            if outcome:
                st.failed(outcome)
            st.observe(perf_counter() - t0)
            try:
                CURRENT.reset(token)
            except ValueError:
                pass  # finalised from another context (an abandoned stream)
            aclose = getattr(inner, "aclose", None)
            try:
                if aclose is not None:
                    await aclose()
            finally:
                if target is not None:
                    target.active -= 1


async def _with_deadline(awaitable: Any, ctx: RequestContext) -> Any:
    """Await under the context's deadline; a passed deadline is ``DeadlineExceededError``."""
    deadline = ctx.deadline
    assert deadline is not None
    if time.monotonic() >= deadline:
        awaitable.close()
        raise DeadlineExceededError(
            "deadline exceeded before the call started", request_id=ctx.request_id
        )
    try:
        async with asyncio.timeout_at(deadline) as cm:
            return await awaitable
    except TimeoutError:
        if cm.expired():
            raise DeadlineExceededError("deadline exceeded", request_id=ctx.request_id) from None
        raise
