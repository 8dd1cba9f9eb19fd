"""OpenTelemetry spans for every call: client side and server side, joined by W3C trace context.

A layer, attached from outside the core: ``enable_tracing()`` (or ``reverie serve --trace
console|otlp``, or the standard ``OTEL_TRACES_EXPORTER``/``OTEL_EXPORTER_OTLP_*`` variables with
the ``otel`` extra installed) hands the core client its traced caller classes. Off, nothing on
the call path changes: clients link the plain callers and servers test one module flag. On, a
client call makes a CLIENT span named ``<service>.<endpoint>``, the serving side a SERVER span of
the same name (in-process: both, in the caller), and the server's span is the parent of every
call its handler makes. The parent travels as ``traceparent`` in the request context
(``RequestContext.trace``): an HTTP header, a field of the NATS request, an attribute
in-process. Only ``opentelemetry-api`` loads with this module; the SDK and exporters load in
``configure`` when chosen. Clients linked before tracing is switched on stay untraced.
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from ..markers import NOT_GIVEN
from ..transports.base import Transport
from .client import _StreamCaller, _WireUnaryCaller
from .context import RequestContext

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer

    from ..declare.service import EndpointMeta, ServiceMeta
    from .edges import EdgeStats

__all__ = [
    "ON",
    "TracedStreamCaller",
    "TracedUnaryCaller",
    "configure",
    "disable_tracing",
    "enable_tracing",
    "end",
    "server_span",
    "start_client",
]

#: True while tracing is on; read by servers per call, by clients when they are linked.
ON = False
_tracer: Tracer | None = None


def enable_tracing(provider: Any = None) -> None:
    """Trace every call from now on, through ``provider`` (default: the global one, which an
    OpenTelemetry SDK set-up configures). Clients linked before this stay untraced."""
    global ON, _tracer
    from opentelemetry import trace

    from reverie import __version__

    from . import client

    _tracer = (provider or trace.get_tracer_provider()).get_tracer("reverie", __version__)
    client.traced_callers = (TracedUnaryCaller, TracedStreamCaller)
    ON = True


def disable_tracing() -> None:
    global ON, _tracer
    from . import client

    client.traced_callers = None
    ON = False
    _tracer = None


def configure(mode: str | None = None, service_name: str = "reverie") -> str | None:
    """Set up the OpenTelemetry SDK for ``reverie serve``: ``mode`` is ``console``, ``otlp`` or
    ``none``; without one, ``OTEL_TRACES_EXPORTER`` decides (and ``OTEL_SDK_DISABLED``). Returns
    the exporter used, or None when tracing stays off. Needs the ``otel`` extra."""
    from reverie.errors import ConfigError

    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    mode = (mode or os.environ.get("OTEL_TRACES_EXPORTER") or "none").split(",")[0].strip()
    if mode in ("", "none"):
        return None
    if mode not in ("console", "otlp"):
        raise ConfigError(
            f"trace exporter {mode!r} is not supported",
            key="--trace",
            fix="use console or otlp (or none)",
        )
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        raise ConfigError(
            "tracing needs the OpenTelemetry SDK", key="--trace", fix="pip install 'reverie[otel]'"
        ) from None
    resource = Resource.create(
        {"service.name": os.environ.get("OTEL_SERVICE_NAME") or service_name}
    )
    provider = TracerProvider(resource=resource)
    if mode == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise ConfigError(
                "the OTLP exporter is not installed",
                key="--trace",
                fix="pip install 'reverie[otel]'",
            ) from None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_EXPORTER_*
    trace.set_tracer_provider(provider)
    enable_tracing(provider)
    return mode


class _Carrier(dict[str, str]):
    """W3C headers (``traceparent``…) that also hold the span they came from, so a hop inside
    this process finds its parent without parsing them. On a wire it is a plain dict."""

    __slots__ = ("span",)
    span: Any


def _parent(ctx: RequestContext | None) -> Any:
    """The OpenTelemetry context a new span hangs under: the request's span (this process) or
    ``traceparent`` (from a wire), else the caller's current span (a test's, a script's)."""
    from opentelemetry import context as otel_context
    from opentelemetry import trace

    if ctx is not None and ctx.trace:
        span = getattr(ctx.trace, "span", None)
        if span is not None:
            return trace.set_span_in_context(span)
        from opentelemetry.propagate import extract

        return extract(ctx.trace)
    return otel_context.get_current()


def _carrier(span: Span) -> dict[str, str]:
    from opentelemetry import trace
    from opentelemetry.propagate import inject

    carrier = _Carrier()
    inject(carrier, context=trace.set_span_in_context(span))
    carrier.span = span
    return carrier


def _attrs(
    service: str, endpoint: str, transport: str, instance: str | None, ctx: RequestContext
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "rpc.system": "reverie",
        "rpc.service": service,
        "rpc.method": endpoint,
        "reverie.transport": transport,
        "reverie.request_id": ctx.request_id,
    }
    if instance:
        out["reverie.instance"] = instance
    return out


def start_client(
    ctx: RequestContext, service: str, endpoint: str, transport: str, instance: str | None
) -> tuple[Span, RequestContext]:
    """A CLIENT span for a call, and the request context to send (its ``traceparent``)."""
    from opentelemetry.trace import SpanKind

    assert _tracer is not None
    span = _tracer.start_span(
        f"{service}.{endpoint}",
        context=_parent(ctx),
        kind=SpanKind.CLIENT,
        attributes=_attrs(service, endpoint, transport, instance, ctx),
    )
    return span, RequestContext(ctx.request_id, ctx.deadline, _carrier(span), ctx.headers)


def server_span(
    ctx: RequestContext,
    service: str | None,
    endpoint: str | None,
    transport: str,
    instance: str | None,
) -> tuple[Span, RequestContext]:
    """A SERVER span for a call being handled, and the context the handler runs with (its
    calls become children of this span)."""
    from opentelemetry.trace import SpanKind

    assert _tracer is not None
    svc, ep = service or "?", endpoint or "?"
    span = _tracer.start_span(
        f"{svc}.{ep}",
        context=_parent(ctx),
        kind=SpanKind.SERVER,
        attributes=_attrs(svc, ep, transport, instance, ctx),
    )
    return span, RequestContext(ctx.request_id, ctx.deadline, _carrier(span), ctx.headers)


def end(span: Span, error: BaseException | None = None, items: int | None = None) -> None:
    """Finish a span: the error's code and message as its status, a stream's item count."""
    from opentelemetry.trace import Status, StatusCode

    from reverie.errors import CallError

    if items is not None:
        span.set_attribute("reverie.stream.items", items)
    if error is not None:
        code = error.code if isinstance(error, CallError) else type(error).__name__
        span.set_attribute("reverie.error.code", code)
        span.set_status(Status(StatusCode.ERROR, f"{code}: {error}"))
    span.end()


class TracedUnaryCaller(_WireUnaryCaller):
    """A unary endpoint with tracing on: a CLIENT span (and, in-process, the SERVER span too,
    since no server sees the call), every call timed."""

    __slots__ = ()

    def __init__(self, meta: ServiceMeta, ep: EndpointMeta, transport: Transport) -> None:
        super().__init__(meta, ep, transport)
        self._exact = None  # every result is converted, in-process too

    async def _timed(self, st: EdgeStats, req: Any, ctx: RequestContext) -> Any:
        """The timed call (``_UnaryCaller._timed``) inside the call's spans."""
        spans, out = _open_spans(self, ctx)
        error: BaseException | None = None
        try:
            return await super()._timed(st, req, out)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _close_spans(spans, error)


class TracedStreamCaller(_StreamCaller):
    """A streaming endpoint with tracing on: spans cover the whole stream, with its items."""

    __slots__ = ()

    def __call__(
        self, request: Any = NOT_GIVEN, /, *, timeout: float | None = None, **fields: Any
    ) -> AsyncIterator[Any]:
        req = self._request(request, fields)
        ctx = self._plain_context(timeout)
        return self._traced(req, ctx)

    async def _traced(self, req: Any, ctx: RequestContext) -> AsyncIterator[Any]:
        spans, out = _open_spans(self, ctx)
        items = 0
        error: BaseException | None = None
        inner = cast("AsyncGenerator[Any, None]", self._iterate(req, out))
        try:
            async for item in inner:
                items += 1
                yield item
        except GeneratorExit:
            raise
        except BaseException as exc:
            error = exc
            raise
        finally:
            await inner.aclose()
            _close_spans(spans, error, items)


def _open_spans(caller: Any, ctx: RequestContext) -> tuple[list[Span], RequestContext]:
    """The CLIENT span of a call and, in-process, its SERVER span too (no server sees the
    call); the context the call carries on."""
    kind = caller._stats.transport
    span, out = start_client(
        ctx, caller._meta.name, caller._ep.name, kind, caller._transport.describe()
    )
    if kind != "in-process":
        return [span], out
    server, out = server_span(
        out, caller._meta.name, caller._ep.name, kind, _target_path(caller._transport)
    )
    return [server, span], out


def _close_spans(spans: list[Span], error: BaseException | None, items: int | None = None) -> None:
    for span in spans:  # the server's first: it ends inside the client's
        end(span, error, items)


def _target_path(transport: Transport) -> str | None:
    inst = getattr(transport, "instance", None)
    return getattr(inst, "path", None)
