"""Notify's reactions: each event becomes delivery records (and a live update), committed with
the inbox row. One handler serves every complaint and dispatch event: what differs is decided
in `domain` (who hears what) and by the subscriptions (who asked for what). Residents'
consents to area notices, from intake, keep the table a notice's recipients come from."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from services.notify import domain, notice_store, store, webhook_log
from services.notify.app import Handoff
from shared.consumer import BatchContext, Handler, HandlerContext
from shared.db import Connection
from shared.envelope import Envelope
from shared.events import (
    Audience,
    ComplaintMerged,
    ComplaintUnmerged,
    Event,
    NoticeConsentRecorded,
    NoticeConsentWithdrawn,
    ResidentErased,
    complaint_of,
    events_about_complaints,
)
from shared.events.public import PUBLIC_PAYLOADS, webhook_body_json

# Each event, the facts of its complaint once it was seen, and the messages it asks for.
Learned = list[tuple[Envelope, domain.Facts, list[domain.Message]]]


def _logged(event: Event, envelope: Envelope, facts: domain.Facts) -> webhook_log.Logged | None:
    """The event as a subscriber receives it (its public shape in a CloudEvents body), for the
    log replays read; None for an event no subscriber may receive."""
    if event.event_type not in PUBLIC_PAYLOADS:
        return None
    body = webhook_body_json(event, envelope.id, envelope.source, envelope.time)
    return webhook_log.Logged(
        envelope.id,
        event.event_type,
        facts.complaint_id,
        getattr(event, "area_code", None) or facts.area_code,
        envelope.time,
        body,
    )


async def on_batch(
    envelopes: Sequence[Envelope], ctx: BatchContext, handoff: Handoff | None = None
) -> None:
    """A batch's events in stream order, with a fixed number of statements for the whole batch:
    the facts of its complaints, the directory entries and the subscriptions read once each, the
    facts written back, the deliveries and the live updates inserted in one statement each.

    With a `handoff` and a consumer that runs callbacks after its commit, new deliveries are
    inserted already claimed and given to the senders once the batch has committed."""
    conn = ctx.conn
    consents = [e.event for e in envelopes if isinstance(e.event, CONSENTS)]
    if consents:
        await notice_store.follow_consents(conn, consents)
    concerning = [(e, c) for e in envelopes if (c := complaint_of(e.event)) is not None]
    if not concerning:
        return
    relevant = [e for e, _ in concerning]
    survivors = {s for e in relevant if (s := domain.survivor_of(e.event)) is not None}
    complaints = {c for _, c in concerning}
    known = await store.facts_of(conn, complaints | survivors)
    changed: dict[UUID, domain.Facts] = {}
    learned: Learned = []
    # Who is on duty where: read only for a batch with an event that goes by it.
    roster = (
        await store.roster(conn)
        if any(type(e.event) in domain.DUTY_DECISIONS for e in relevant)
        else []
    )
    for envelope, complaint_id in concerning:
        before = known.get(complaint_id)
        facts = domain.learn(before, envelope.event)
        assert facts is not None
        if facts != before:
            known[complaint_id] = changed[complaint_id] = facts
        survivor_id = domain.survivor_of(envelope.event)
        if survivor_id is not None:
            assert isinstance(envelope.event, ComplaintMerged | ComplaintUnmerged)
            survivor = domain.follow(known.get(survivor_id), envelope.event)
            known[survivor_id] = changed[survivor_id] = survivor
        learned.append((envelope, facts, domain.messages_for(envelope.event, facts, roster)))
    if changed:
        await store.save_all_facts(conn, changed.values())
    learned = await _told_to_followers(conn, learned, known)
    units = {
        m.recipient
        for _, _, messages in learned
        for m in messages
        if m.audience is not Audience.RESIDENT
    }
    directory = await store.addresses(conn, units) if units else {}
    active = await store.active_subscriptions(conn)
    planned: list[tuple[UUID, UUID | None, store.Planned]] = []
    live: list[tuple[dict[str, Any], datetime]] = []
    logged: list[webhook_log.Logged] = []
    for envelope, facts, messages in learned:
        event, cause = envelope.event, (envelope.id, envelope.correlation_id)
        for message in messages:
            address = (
                None if message.audience is Audience.RESIDENT else directory.get(message.recipient)
            )
            # a follower's resident is reached by the channel they came in by
            about = (
                facts
                if message.complaint_id == facts.complaint_id
                else known.get(message.complaint_id, facts)
            )
            planned += [
                (*cause, store.Planned(message, channel))
                for channel in domain.channels_for(message, about, address)
            ]
        public = _logged(event, envelope, facts)
        if public is not None:
            logged.append(public)
            subscribers = store.matching(active, event.event_type, public.area_code)
            body = json.loads(public.body) if subscribers else {}
            for subscription_id in subscribers:
                message = domain.Message(
                    facts.complaint_id,
                    Audience.SUBSCRIBER,
                    f"subscription:{subscription_id}",
                    "event",
                    body,
                )
                planned.append((*cause, store.Planned(message, "webhook", subscription_id)))
        live.append((domain.live_entry(event, facts), envelope.time))
    traces = {envelope.id: envelope.traceparent for envelope in relevant}
    if handoff is not None and ctx.after_commit is not None:
        taken = handoff.takes([p for _, _, p in planned])
        leased_at = time.monotonic()
        rows = await store.add_all_deliveries(conn, planned, taken, handoff.lease_s, traces)
        mine = [row for row in rows if row["status"] == "sending"]
        if mine:
            ctx.after_commit.append(lambda: handoff.give(mine, directory, leased_at))
    else:
        await store.add_all_deliveries(conn, planned, traces=traces)
    await store.add_live_updates(conn, live)
    await webhook_log.append(conn, logged)


async def _told_to_followers(
    conn: Connection, learned: Learned, known: dict[UUID, domain.Facts]
) -> Learned:
    """Each event's messages with what the survivor's resident hears told to its followers'
    residents too; their facts (case number, channel) read in one query, only if any."""
    wanted = {f for _, facts, _ in learned for f in facts.followers} - known.keys()
    if wanted:
        known.update(await store.facts_of(conn, wanted))
    if not any(facts.followers for _, facts, _ in learned):
        return learned
    return [
        (envelope, facts, messages + domain.to_followers(messages, facts, known))
        for envelope, facts, messages in learned
    ]


async def on_event(event: Event, ctx: HandlerContext) -> None:
    await on_batch([ctx.envelope], BatchContext(ctx.conn, ctx.store))


# Every fact about a complaint, from intake and dispatch, goes the same way (notify consumes
# only their topics); what each one means is decided in `domain`.
# Residents' consents to area notices (and their erasure, which ends them) keep the table a
# notice's recipients are read from.
CONSENTS = (NoticeConsentRecorded, NoticeConsentWithdrawn, ResidentErased)
HANDLERS: dict[type[Event], Handler] = dict.fromkeys(
    [*events_about_complaints(), *CONSENTS], on_event
)
