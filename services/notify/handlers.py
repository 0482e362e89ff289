"""Notify's reactions: each event becomes delivery records (and a live update), committed with
the inbox row. One handler serves every complaint and dispatch event: what differs is decided
in `domain` (who hears what) and by the subscriptions (who asked for what)."""

from __future__ import annotations

from typing import Any

from services.notify import domain, store
from shared.consumer import Handler, HandlerContext
from shared.events import REGISTRY, Audience, Event

# What a dashboard follows live: the complaint's status changes and dispatch's steps.
LIVE_SOURCES = ("shared.events.complaint", "shared.events.dispatch")


def _subscriber_payload(event: Event, ctx: HandlerContext) -> dict[str, Any]:
    """The event as a downstream system receives it (CloudEvents attributes and its data)."""
    envelope = ctx.envelope
    return {
        "specversion": "1.0",
        "id": str(envelope.id),
        "source": envelope.source,
        "type": envelope.type,
        "subject": envelope.subject,
        "time": envelope.time.isoformat(),
        "datacontenttype": "application/json",
        "correlationid": str(envelope.correlation_id),
        "data": event.model_dump(mode="json"),
    }


async def on_event(event: Event, ctx: HandlerContext) -> None:
    complaint_id = getattr(event, "complaint_id", None)
    if complaint_id is None:
        return
    conn = ctx.conn
    before = await store.facts(conn, complaint_id)
    facts = domain.learn(before, event)
    assert facts is not None
    if facts != before:
        await store.save_facts(conn, facts)
    planned: list[store.Planned] = []
    for message in domain.messages_for(event, facts):
        address = (
            None
            if message.audience is Audience.RESIDENT
            else await store.address(conn, message.recipient)
        )
        planned += [store.Planned(message, c) for c in domain.channels_for(message, facts, address)]
    area = getattr(event, "area_code", None) or facts.area_code
    subscribers = await store.matching_subscriptions(conn, event.event_type, area)
    if subscribers:
        payload = _subscriber_payload(event, ctx)
        for subscription_id in subscribers:
            message = domain.Message(
                complaint_id,
                Audience.SUBSCRIBER,
                f"subscription:{subscription_id}",
                "event",
                payload,
            )
            planned.append(store.Planned(message, "webhook", subscription_id))
    await store.add_deliveries(conn, ctx.envelope, planned)
    await store.add_live_update(conn, domain.live_entry(event, facts), ctx.envelope.time)


HANDLERS: dict[type[Event], Handler] = {
    event_class: on_event
    for event_class in REGISTRY.values()
    if event_class.__module__ in LIVE_SOURCES
}
