"""One trace across append → relay → broker → consumer → append → relay → consumer, on a real
Postgres and a real broker; and the consumer's log lines name the trace and the conversation."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from shared import telemetry
from shared.consumer import BatchConsumer, HandlerContext, IdempotentConsumer
from shared.envelope import Causation
from shared.events import ComplaintFiled, WorkOrderIssued
from shared.eventstore import EventStore
from shared.relay import OutboxRelay
from tests.integration.kafka_helpers import new_topic, settings_for
from tests.support import examples

pytestmark = pytest.mark.integration

log = logging.getLogger("tests.tracing.handler")


@pytest.fixture
def log_lines() -> AsyncIterator[io.StringIO]:
    """What the handler logs, as the services write it (JSON lines with the log context)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(telemetry.LogContext("test"))
    handler.setFormatter(telemetry.JsonLines())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        log.removeHandler(handler)


async def test_a_chain_of_hops_is_one_trace_and_every_span_has_its_parent_in_it(
    pool, database_url, kafka_bootstrap, spans, log_lines
):
    topic = await new_topic(kafka_bootstrap)
    store = EventStore("/jiesu/test")
    settings = settings_for(database_url, kafka_bootstrap)
    seen: asyncio.Queue[WorkOrderIssued] = asyncio.Queue()

    async def issue(event: ComplaintFiled, ctx: HandlerContext) -> None:
        log.info("派单 issuing a work order")
        order = examples.work_order_issued(event.complaint_id)
        await ctx.append(f"workorder-{order.work_order_id}", [order], 0)

    async def note(event: WorkOrderIssued, ctx: HandlerContext) -> None:
        seen.put_nowait(event)

    consumer = IdempotentConsumer(
        name=f"trace-{uuid.uuid4().hex[:8]}",
        pool=pool,
        store=store,
        handlers={ComplaintFiled: issue, WorkOrderIssued: note},
        dead_letters=None,  # type: ignore[arg-type]  # nothing fails here
    )
    relay = OutboxRelay(name="trace-relay", pool=pool, store=store, topic=topic, settings=settings)
    batches = BatchConsumer(consumer, [topic], settings, group_id=f"g-{uuid.uuid4().hex[:8]}")
    filed = examples.complaint_filed()
    conversation = uuid.uuid4()
    await batches.start()
    relaying = asyncio.create_task(relay.run())
    try:
        with telemetry.spanning("POST /complaints") as request:
            async with pool.acquire() as conn, conn.transaction():
                await store.append(
                    conn, f"complaint-{filed.complaint_id}", [filed], Causation(conversation), 0
                )
        assert request is not None
        await asyncio.wait_for(seen.get(), 30)
        # The last consumer span ends just after its handler returned.
        deadline = time.monotonic() + 10
        while sum(s.kind.name == "CONSUMER" for s in spans.get_finished_spans()) < 2:
            assert time.monotonic() < deadline, "the consumer spans did not end"
            await asyncio.sleep(0.05)
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
        await batches.stop()

    trace_id = request.get_span_context().trace_id
    mine = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_id = {s.context.span_id: s for s in mine}
    roots = [s for s in mine if s.parent is None]
    assert [r.name for r in roots] == ["POST /complaints"]
    assert all(s.parent.span_id in by_id for s in mine if s.parent is not None)

    def chain(span):
        names = []
        while span is not None:
            names.append(span.name)
            span = by_id.get(span.parent.span_id) if span.parent else None
        return list(reversed(names))

    [last] = [
        s
        for s in mine
        if s.kind.name == "CONSUMER" and s.attributes["jiesu.event.type"] == "WorkOrderIssued"
    ]
    assert chain(last) == [
        "POST /complaints",
        "events append",
        f"{topic} publish",
        f"{topic} process",  # ComplaintFiled, whose handler appended the work order
        f"{topic} publish",
        f"{topic} process",
    ]

    [line] = [json.loads(text) for text in log_lines.getvalue().splitlines()]
    [first] = [
        s
        for s in mine
        if s.kind.name == "CONSUMER" and s.attributes["jiesu.event.type"] == "ComplaintFiled"
    ]
    assert line["message"] == "派单 issuing a work order"
    assert line["trace_id"] == f"{trace_id:032x}"
    assert line["span_id"] == f"{first.context.span_id:016x}"
    assert line["correlation_id"] == str(conversation)
    assert line["complaint_id"] == str(filed.complaint_id)
