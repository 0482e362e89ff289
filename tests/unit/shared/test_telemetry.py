import io
import json
import logging
import uuid
from datetime import UTC, datetime

import httpx
from fastapi import FastAPI
from opentelemetry.trace import SpanKind

from shared import telemetry, tracefile
from shared.envelope import Envelope, from_kafka, to_kafka
from tests.support import examples

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _envelope(traceparent: str | None = PARENT) -> Envelope:
    return Envelope(
        event=examples.complaint_filed(),
        id=uuid.uuid4(),
        source="/jiesu/intake",
        time=datetime.now(UTC),
        correlation_id=uuid.uuid4(),
        traceparent=traceparent,
    )


def test_a_traceparent_reads_as_a_remote_span_context():
    context = telemetry.span_context(PARENT)
    assert context is not None and context.is_remote and context.trace_flags.sampled
    assert f"{context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{context.span_id:016x}" == "b7ad6b7169203331"


def test_a_malformed_or_zero_traceparent_reads_as_none():
    for bad in (
        None,
        "",
        "garbage",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
        "00-0af7651916cd43dd8448eb211c80319x-b7ad6b7169203331-01",
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ):
        assert telemetry.span_context(bad) is None, bad


def test_the_traceparent_travels_in_its_own_kafka_header_and_back():
    envelope = _envelope()
    message = to_kafka(envelope)
    assert dict(message.headers)["traceparent"] == PARENT.encode()
    assert "ce_traceparent" not in dict(message.headers)
    assert message.traceparent == PARENT
    assert from_kafka(message.headers, message.value).traceparent == PARENT
    untraced = to_kafka(_envelope(None))
    assert untraced.traceparent is None and "traceparent" not in dict(untraced.headers)


def test_follow_carries_the_trace_into_the_events_a_handler_causes():
    envelope = _envelope()
    assert envelope.follow().traceparent == PARENT


def test_tracing_off_costs_no_span_and_leaves_messages_and_envelopes_as_they_are():
    envelope = _envelope()
    assert telemetry.consuming("complaint.events", envelope) == (None, envelope)
    message = to_kafka(envelope)
    assert telemetry.producing("complaint.events", [message]) == ([], [message])
    assert telemetry.current_traceparent() is None
    with telemetry.spanning("nothing") as span:
        assert span is None


def test_a_consumer_span_is_a_child_of_the_record_and_the_handler_continues_it(spans):
    span, handled = telemetry.consuming("complaint.events", _envelope())
    assert span is not None
    span.end()
    [finished] = spans.get_finished_spans()
    assert finished.kind is SpanKind.CONSUMER
    assert f"{finished.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{finished.parent.span_id:016x}" == "b7ad6b7169203331"
    assert handled.traceparent == telemetry.traceparent_of(span)
    assert handled.follow().traceparent == telemetry.traceparent_of(span)


def test_a_record_without_a_trace_starts_a_new_one_not_the_current_one(spans):
    with telemetry.spanning("elsewhere") as elsewhere:
        span, _ = telemetry.consuming("complaint.events", _envelope(None))
    assert span is not None and elsewhere is not None
    span.end()
    assert span.parent is None
    assert span.get_span_context().trace_id != elsewhere.get_span_context().trace_id


def test_a_relay_batch_gets_one_producer_span_per_trace_and_records_carry_its_context(spans):
    other = "00-11111111111111111111111111111111-2222222222222222-01"
    messages = [
        to_kafka(_envelope(PARENT)),
        to_kafka(_envelope(PARENT)),
        to_kafka(_envelope(other)),
        to_kafka(_envelope(None)),
    ]
    started, sent = telemetry.producing("complaint.events", messages)
    for span in started:
        span.end()
    assert len(started) == 2
    by_trace = {f"{s.context.trace_id:032x}": s for s in spans.get_finished_spans()}
    first = by_trace["0af7651916cd43dd8448eb211c80319c"]
    assert first.kind is SpanKind.PRODUCER and first.parent.span_id == 0xB7AD6B7169203331
    assert sent[0].traceparent == sent[1].traceparent == telemetry.traceparent_of(first)
    assert sent[2].traceparent == telemetry.traceparent_of(
        by_trace["11111111111111111111111111111111"]
    )
    assert sent[3].traceparent is None


def _line(record_logger: logging.Logger, handler: logging.Handler, stream: io.StringIO) -> dict:
    stream.seek(0)
    stream.truncate()
    record_logger.info("已派单 dispatched")
    return json.loads(stream.getvalue())


def test_a_json_log_line_names_the_trace_the_conversation_and_the_complaint(spans):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(telemetry.LogContext("dispatch"))
    handler.setFormatter(telemetry.JsonLines())
    logger = logging.getLogger("test.telemetry.json")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        plain = _line(logger, handler, stream)
        assert plain["message"] == "已派单 dispatched"  # not escaped
        assert plain["level"] == "INFO" and plain["logger"] == "test.telemetry.json"
        assert plain["service"] == "dispatch" and "time" in plain
        assert not {"trace_id", "span_id", "correlation_id", "complaint_id"} & set(plain)
        envelope = _envelope()
        span, handled = telemetry.consuming("complaint.events", envelope)
        assert span is not None
        with telemetry.within(handled):
            line = _line(logger, handler, stream)
        span.end()
        assert line["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
        assert line["span_id"] == f"{span.get_span_context().span_id:016x}"
        assert line["correlation_id"] == str(envelope.correlation_id)
        assert line["complaint_id"] == envelope.subject
        assert "complaint_id" not in _line(logger, handler, stream)  # only inside the block
    finally:
        logger.removeHandler(handler)


async def test_a_request_gets_a_server_span_named_by_its_route_under_the_callers_trace(spans):
    app = FastAPI(telemetry=telemetry.FASTAPI_TELEMETRY_OFF)

    @app.get("/complaints/{complaint_id}")
    async def read(complaint_id: str) -> dict[str, str | None]:
        telemetry.bind(complaint=complaint_id)
        return {
            "current": telemetry.current_traceparent(),
            "complaint": telemetry.complaint_id.get(),
        }

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    app.add_middleware(telemetry.TraceRequests)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = (await client.get("/complaints/c-1", headers={"traceparent": PARENT})).json()
        await client.get("/readyz")  # probes are not traced
        await client.get("/complaints/c-2")
    [called, fresh] = spans.get_finished_spans()
    assert called.kind is SpanKind.SERVER and called.name == "GET /complaints/{complaint_id}"
    assert called.attributes["http.response.status_code"] == 200
    assert called.parent.span_id == 0xB7AD6B7169203331
    assert answer == {"current": telemetry.traceparent_of(called), "complaint": "c-1"}
    assert fresh.parent is None and fresh.context.trace_id != called.context.trace_id


def test_spans_are_written_as_otlp_json_lines(spans, tmp_path):
    with (
        telemetry.spanning("outer", attributes={"jiesu.n": 3, "ok": True}) as outer,
        telemetry.spanning("inner", SpanKind.CLIENT),
    ):
        pass
    assert outer is not None
    exporter = tracefile.JsonLinesExporter(tmp_path / "traces" / "x.jsonl")
    exporter.export(spans.get_finished_spans())
    read = {span["name"]: span for span in tracefile.read_spans(tmp_path / "traces" / "x.jsonl")}
    assert read["inner"]["parentSpanId"] == read["outer"]["spanId"]
    assert read["inner"]["traceId"] == read["outer"]["traceId"]
    assert read["inner"]["kind"] == 3 and "parentSpanId" not in read["outer"]
    assert {"key": "jiesu.n", "value": {"intValue": "3"}} in read["outer"]["attributes"]


def test_a_batchs_consumer_spans_end_together_and_as_errors_if_it_fails(spans):
    with telemetry.consumer_spans():
        first = telemetry.consumed("complaint.events", _envelope())
        second = telemetry.consumed("complaint.events", _envelope(None))
        assert not spans.get_finished_spans()  # still handling
    assert {telemetry.traceparent_of(s) for s in spans.get_finished_spans()} == {
        first.traceparent,
        second.traceparent,
    }
    spans.clear()
    try:
        with telemetry.consumer_spans():
            telemetry.consumed("complaint.events", _envelope())
            raise RuntimeError("the batch failed")
    except RuntimeError:
        pass
    [failed] = spans.get_finished_spans()
    assert failed.status.status_code.name == "ERROR"


def test_a_batchs_records_of_one_hop_share_one_consumer_span(spans):
    """Records published under one producer span (one complaint's appends of one transaction)
    are one consumer span in a batch, counted; records of other hops, or of none, get their own."""
    other = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"
    with telemetry.consumer_spans():
        one = [telemetry.consumed("complaint.events", _envelope()) for _ in range(3)]
        two = telemetry.consumed("complaint.events", _envelope(other))
        loose = [telemetry.consumed("complaint.events", _envelope(None)) for _ in range(2)]
    assert len({e.traceparent for e in one}) == 1
    finished = {telemetry.traceparent_of(s): s for s in spans.get_finished_spans()}
    assert set(finished) == {one[0].traceparent, two.traceparent, *(e.traceparent for e in loose)}
    assert len(finished) == 4
    assert finished[one[0].traceparent].attributes["messaging.batch.message_count"] == 3
    assert "messaging.batch.message_count" not in finished[two.traceparent].attributes
