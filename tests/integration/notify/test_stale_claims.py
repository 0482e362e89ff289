"""A sender that outlived its lease (a stalled or stopping notify worker) while another worker
claimed the message again: only the current claim's outcome is recorded, so a message sent by
two workers under one idempotency key is recorded delivered once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from services.notify import store
from services.notify.main import SCHEMA
from services.notify.workers import Outcome, Recorder
from shared.db import apply_schema
from shared.events import Audience, NotificationOutcome
from shared.eventstore import EventStore


def delivered(notification_id: uuid.UUID, complaint_id: uuid.UUID, attempt: int) -> Outcome:
    return Outcome(
        complaint_id,
        uuid.uuid4(),
        "delivered",
        None,
        None,
        NotificationOutcome(
            notification_id=notification_id,
            outcome="delivered",
            audience=Audience.RESPONDER,
            recipient="property-meicheng",
            channel="sms",
            template="work_order_issued",
            attempt=attempt,
            at=datetime.now(UTC),
        ),
    )


async def test_only_the_current_claim_of_a_message_records_its_outcome(pool):
    await apply_schema(pool, SCHEMA)
    notification_id, complaint_id = uuid.uuid4(), uuid.uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO deliveries (notification_id, event_id, complaint_id, audience, "
            "recipient, channel, template, payload) "
            "VALUES ($1, $2, $3, 'responder', 'property-meicheng', 'sms', 'work_order_issued', $4)",
            notification_id,
            uuid.uuid4(),
            complaint_id,
            json.dumps({}),
        )
        # Worker A claims it with a lease that has run out at once; worker B claims it again.
        [first] = await store.claim(conn, "sms", 10, 10, lease_s=0.0)
        [second] = await store.claim(conn, "sms", 10, 10, lease_s=60.0)
    assert (first["attempts"], second["attempts"]) == (1, 2)

    recorder = Recorder(SimpleNamespace(pool=pool, store=EventStore("/jiesu/notify")))  # type: ignore[arg-type]
    await recorder.record([delivered(notification_id, complaint_id, attempt=1)])  # A, late
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
        assert (
            await conn.fetchval(
                "SELECT status FROM deliveries WHERE notification_id = $1", notification_id
            )
            == "sending"
        )

    # B's outcome, and A's once more in the same batch (one process held both claims).
    await recorder.record(
        [
            delivered(notification_id, complaint_id, attempt=1),
            delivered(notification_id, complaint_id, attempt=2),
        ]
    )
    await recorder.record([delivered(notification_id, complaint_id, attempt=2)])  # B, again
    async with pool.acquire() as conn:
        outcomes = await conn.fetch(
            "SELECT o FROM events, jsonb_array_elements(data->'outcomes') o "
            "WHERE type = 'NotificationsRecorded'"
        )
        status = await conn.fetchval(
            "SELECT status FROM deliveries WHERE notification_id = $1", notification_id
        )
    assert status == "delivered"
    assert len(outcomes) == 1
    assert outcomes[0]["o"]["attempt"] == 2
