"""Traces (OpenTelemetry, W3C `traceparent`) and JSON logs: what a service process sets up once.

One complaint's hops make one trace: the HTTP request (a server span), each append (its events
keep the context in their metadata), each relay's publication (a producer span, the record's
`traceparent` header), each consumer's handling (a consumer span, whose context the events it
appends keep in turn) and each gateway call (a client span, from the context kept with the
delivery). Spans go to an OTLP collector (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), else to a JSON-lines file (TRACES_FILE), else to the
console if asked (TRACES_CONSOLE). OTEL_SDK_DISABLED=true turns tracing off: then every
helper here returns at its first line, and nothing is stored or sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry import context as context_api
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from pythonjsonlogger.json import JsonFormatter

from shared.envelope import TRACEPARENT, Envelope, KafkaMessage
from shared.tracefile import JsonLinesExporter

if TYPE_CHECKING:
    from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


# The process's tracer, once tracing is on; None (the default) makes every helper a no-op.
_tracer: trace.Tracer | None = None

# What a log line says about the conversation it belongs to (spans carry the trace ids).
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
complaint_id: ContextVar[str | None] = ContextVar("complaint_id", default=None)


# --- set-up -------------------------------------------------------------------------------------


def configure(settings: ServiceSettings) -> None:
    """Logs and traces of a service process, from its settings and the OTEL_* variables."""
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return
    exporter = _exporter(settings)
    if exporter is None:
        return
    provider = _provider(settings.service_name)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # for any library's own instrumentation too
    install(provider)


def _exporter(settings: ServiceSettings) -> SpanExporter | None:
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    ):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # reads the endpoint, headers and timeout from OTEL_*
    if settings.traces_file:
        return JsonLinesExporter(Path(settings.traces_file))
    if settings.traces_console:
        return JsonLinesExporter(None)
    return None


def _provider(service: str) -> TracerProvider:
    # The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (default: parent
    # based, always on), further resource attributes from OTEL_RESOURCE_ATTRIBUTES.
    return TracerProvider(resource=Resource.create({"service.name": f"jiesu-{service}"}))


def install(provider: TracerProvider) -> None:
    """Trace into `provider` (tests install theirs; not OpenTelemetry's global one, which a
    process can set only once)."""
    global _tracer
    _tracer = provider.get_tracer("jiesu")


def uninstall() -> None:
    """Stop tracing (tests: what traced a test stops with it)."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    return _tracer is not None


def shutdown() -> None:
    """Export what is still buffered (at the end of a process)."""
    provider = trace.get_tracer_provider()
    flush = getattr(provider, "shutdown", None)
    if flush is not None:
        flush()


# --- the W3C context ----------------------------------------------------------------------------


def traceparent_of(span: Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"


def current_traceparent() -> str | None:
    """The current span's context as a `traceparent`, None outside any span."""
    if _tracer is None:
        return None
    span = trace.get_current_span()
    return traceparent_of(span) if span.get_span_context().is_valid else None


def span_context(traceparent: str | None) -> SpanContext | None:
    """A `traceparent` (version 00) as a remote span context; None if absent or malformed."""
    if not traceparent or len(traceparent) != 55:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4:
        return None
    version, trace_id, span_id, flags = parts
    try:
        ids = int(trace_id, 16), int(span_id, 16), int(flags, 16)
    except ValueError:
        return None
    if version != "00" or not ids[0] or not ids[1]:
        return None
    return SpanContext(ids[0], ids[1], is_remote=True, trace_flags=TraceFlags(ids[2]))


def _parent(traceparent: str | None) -> context_api.Context | None:
    """The context to start a span in: the given remote parent, else a new trace."""
    remote = span_context(traceparent)
    if remote is None:
        return context_api.Context()  # a root: not whatever happens to be current
    return trace.set_span_in_context(NonRecordingSpan(remote))


def link_to(traceparent: str | None) -> list[Link]:
    remote = span_context(traceparent)
    return [Link(remote)] if remote is not None else []


def start(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    *,
    parent: str | None = None,
    root: bool = False,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[Link] = (),
) -> Span | None:
    """A started span (None while tracing is off): child of `parent` when given, a new trace
    when `root`, else of the current span."""
    if _tracer is None:
        return None
    context = _parent(parent) if parent is not None or root else None
    return _tracer.start_span(name, context, kind, attributes, links)


def end(span: Span | None, error: BaseException | None = None) -> None:
    if span is None:
        return
    if error is not None:
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:200]))
    span.end()


@contextlib.contextmanager
def current(span: Span | None) -> Iterator[None]:
    """`span` is the current span inside the block (what appends and log lines see)."""
    if span is None:
        yield
        return
    token = context_api.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        context_api.detach(token)


@contextlib.contextmanager
def spanning(
    name: str, kind: SpanKind = SpanKind.INTERNAL, *, nested: bool = False, **options: Any
) -> Iterator[Span | None]:
    """A span (`start`'s options) around the block, current inside it, its status an error if
    the block raises. `nested`: only inside a current span (never a trace of its own)."""
    if nested and _tracer is not None and not trace.get_current_span().get_span_context().is_valid:
        yield None
        return
    span = start(name, kind, **options)
    try:
        with current(span):
            yield span
    except BaseException as error:
        end(span, error)
        raise
    end(span)


# --- the bus ------------------------------------------------------------------------------------


def consuming(topic: str, envelope: Envelope) -> tuple[Span | None, Envelope]:
    """A consumer span for one record, child of the context it carries, and the envelope as its
    handler gets it: carrying the consumer span's context, so what it appends (`follow()`)
    continues the trace."""
    if _tracer is None:
        return None, envelope
    span = _tracer.start_span(
        f"{topic} process",
        _parent(envelope.traceparent),
        SpanKind.CONSUMER,
        # Few attributes: each costs about a microsecond, on every record of every consumer.
        # (The group is the service: jiesu-<service>, in the span's resource.)
        {
            "messaging.message.id": str(envelope.id),
            "jiesu.event.type": envelope.type,
            "jiesu.complaint_id": envelope.subject or "",
        },
    )
    return span, replace(envelope, traceparent=traceparent_of(span))


# A batch's consumer spans, by the context their records arrived with: records of one hop
# (a relay publishes a complaint's appends of one transaction under one producer span) share
# one consumer span, as the relay shares one producer span among them. Measured: a span costs
# 25–45 µs to make and export, a record of reporting's ~21 per complaint shares one with 2–4.
_batch_spans: ContextVar[dict[str, list[Any]] | None] = ContextVar("batch_spans", default=None)


@contextlib.contextmanager
def consumer_spans() -> Iterator[None]:
    """The consumer spans started inside the block (`consumed`) end with it, as errors if it
    raises: a batch's spans end once its transaction has committed."""
    if _tracer is None:
        yield
        return
    spans: dict[str, list[Any]] = {}
    token = _batch_spans.set(spans)
    try:
        yield
    except BaseException as error:
        for span, _, _ in spans.values():
            end(span, error)
        raise
    finally:
        _batch_spans.reset(token)
    for span, _, count in spans.values():
        if count > 1:
            span.set_attribute("messaging.batch.message_count", count)
        span.end()


def consumed(topic: str, envelope: Envelope) -> Envelope:
    """The envelope as its handler gets it (see `consuming`); the consumer span ends with the
    enclosing `consumer_spans` block, and the batch's records that arrived with the same context
    share it. A handler runs `within` its envelope; a batch handler given several runs in no
    record's span (its log lines name the consumer only)."""
    spans = _batch_spans.get()
    arrived = envelope.traceparent
    if spans is not None and arrived is not None:
        shared = spans.get(arrived)
        if shared is not None:
            shared[2] += 1
            return replace(envelope, traceparent=shared[1])
    span, traced = consuming(topic, envelope)
    if span is not None:
        if spans is None:
            span.end()  # outside a block nothing else would
        elif arrived is not None:
            spans[arrived] = [span, traced.traceparent, 1]
        else:
            spans[f"#{id(span)}"] = [span, traced.traceparent, 1]
    return traced


def producing(
    topic: str, messages: Sequence[KafkaMessage]
) -> tuple[list[Span], list[KafkaMessage]]:
    """Producer spans for a relay's batch: one per trace in it (a complaint's appends in one
    transaction share one context), each child of the stored context, and the records carrying
    their producer span's context. Events stored without a context go on as they are."""
    if _tracer is None:
        return [], list(messages)
    spans: dict[str, tuple[Span, tuple[str, bytes]]] = {}
    for message in messages:
        stored = message.traceparent
        if stored is None:
            continue
        found = spans.get(stored)
        if found is None:
            span = _tracer.start_span(f"{topic} publish", _parent(stored), SpanKind.PRODUCER)
            found = spans[stored] = (span, (TRACEPARENT, traceparent_of(span).encode()))
        # In place: the batch's messages were just read for this publication alone (a new
        # message each would cost more than the span).
        message.headers[-1] = found[1]
    return [span for span, _ in spans.values()], list(messages)


# --- logs ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def about(correlation: object | None = None, complaint: object | None = None) -> Iterator[None]:
    """Log lines inside the block name this conversation and complaint."""
    tokens = (
        correlation_id.set(str(correlation) if correlation is not None else None),
        complaint_id.set(str(complaint) if complaint is not None else None),
    )
    try:
        yield
    finally:
        complaint_id.reset(tokens[1])
        correlation_id.reset(tokens[0])


@contextlib.contextmanager
def within(envelope: Envelope | None) -> Iterator[None]:
    """Inside the block, new spans and log lines belong to the envelope's trace (its handler's
    consumer span), conversation and complaint. None: the block as it is."""
    if envelope is None:
        yield
        return
    remote = span_context(envelope.traceparent) if _tracer is not None else None
    token = (
        context_api.attach(trace.set_span_in_context(NonRecordingSpan(remote)))
        if remote is not None
        else None
    )
    try:
        with about(envelope.correlation_id, envelope.subject):
            yield
    finally:
        if token is not None:
            context_api.detach(token)


def bind(correlation: object | None = None, complaint: object | None = None) -> None:
    """Name the conversation or complaint for the rest of an HTTP request (outside one, and
    where a consumer's record named them already, nothing changes)."""
    if not _in_request.get():
        return
    if correlation is not None and correlation_id.get() is None:
        correlation_id.set(str(correlation))
    if complaint is not None and complaint_id.get() is None:
        complaint_id.set(str(complaint))


_in_request: ContextVar[bool] = ContextVar("in_request", default=False)


# FastAPI(telemetry=...): FastAPI's own spans (3-4 a request, once a tracer provider is set)
# and OpenTelemetry metrics off. They cost twice TraceRequests' span (measured in the commit
# message); the metrics are Prometheus'.
FASTAPI_TELEMETRY_OFF: Any = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


# Probes and scrapes: a trace each, every few seconds, would bury the complaints' traces;
# so would the pages' static files.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNTRACED_PREFIX = "/static/"


class TraceRequests:
    """A server span per HTTP request (pure ASGI: no per-request objects beyond the span),
    child of the caller's `traceparent` if it sends one, named by the route's template once
    routing found it. What the request logs may name its conversation and complaint (`bind`).

    Chosen over opentelemetry-instrumentation-fastapi: that adds a span for every ASGI
    receive and send message besides the request's (measured in the commit message)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        requested = _in_request.set(True)
        try:
            path = scope["path"]
            if _tracer is None or path in UNTRACED_PATHS or path.startswith(UNTRACED_PREFIX):
                await self.app(scope, receive, send)
            else:
                await self._traced(_tracer, scope, receive, send)
        finally:
            _in_request.reset(requested)

    async def _traced(self, tracer: trace.Tracer, scope: Any, receive: Any, send: Any) -> None:
        parent = None
        for name, value in scope["headers"]:
            if name == b"traceparent":
                parent = value.decode("latin-1")
                break
        method = scope["method"]
        span = tracer.start_span(
            method,
            _parent(parent),
            SpanKind.SERVER,
            {"http.request.method": method, "url.path": scope["path"]},
        )
        status = 500

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        token = context_api.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, sending)
        except BaseException as error:
            end(span, error)
            raise
        finally:
            context_api.detach(token)
        route = getattr(scope.get("route"), "path", None)
        if route is not None:
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()


class LogContext(logging.Filter):
    """Adds the service, the current span's ids and the bound conversation to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else None
        record.span_id = f"{ctx.span_id:016x}" if ctx.is_valid else None
        record.correlation_id = correlation_id.get()
        record.complaint_id = complaint_id.get()
        return True


LOG_FIELDS = ("service", "trace_id", "span_id", "correlation_id", "complaint_id")


class JsonLines(JsonFormatter):
    """One JSON object a line: time, level, logger, message, the LogContext fields (those
    known), the exception; Chinese as it is, not escaped."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in LOG_FIELDS:
            if log_data.get(name) is None:
                log_data.pop(name, None)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        from datetime import UTC, datetime

        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(service: str, level: str, log_format: str = "json") -> None:
    """The root logger writes JSON lines (or, LOG_FORMAT=text, plain lines) to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LogContext(service))
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request at INFO: the console's sampler asks three services each 5 s.
    for noisy in ("faust", "mode", "aiokafka", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
