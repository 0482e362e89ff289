"""What notify's entry points share below them: the hand-over of new deliveries from the
consumer to the senders, and the record of what came of messages (the outcomes of attempts,
an operator's redrive), as `NotificationsRecorded` events in each complaint's stream; and the
posting of area notices (区域通知) with their deliveries."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from services.notify import domain, notice_store, store
from services.notify.domain import UNADDRESSED
from services.notify.live import LiveFeed
from services.notify.settings import NotifySettings
from shared.db import Connection
from shared.envelope import Causation
from shared.events import (
    Audience,
    Event,
    NoticeDeliveriesRecorded,
    NoticeKind,
    NoticePosted,
    NotificationOutcome,
    NotificationsRecorded,
)
from shared.eventstore import EventStore
from shared.runtime import ServiceRuntime

# Audiences not in the directory.
UNLISTED = frozenset({Audience.RESIDENT.value, Audience.SUBSCRIBER.value})


def recorded(
    outcomes: Sequence[tuple[UUID, UUID, NotificationOutcome]],
    traces: Mapping[UUID, str | None] | None = None,
    notices: Set[UUID] = frozenset(),
) -> list[tuple[str, list[Event], Causation]]:
    """(complaint, conversation, outcome) as the appends that record them: one event per
    complaint (and conversation), in the complaint's stream. Each outcome names the event that
    asked for its message; the envelope's causation does too when they all answer one. The
    event continues the trace of its first outcome's gateway call (`traces`, by notification).
    The ids in `notices` are area notices': theirs are `NoticeDeliveriesRecorded`, in the
    notice's outcome stream."""
    groups: dict[tuple[UUID, UUID], list[NotificationOutcome]] = {}
    for complaint_id, correlation_id, outcome in outcomes:
        groups.setdefault((complaint_id, correlation_id), []).append(outcome)
    appends: list[tuple[str, list[Event], Causation]] = []
    for (complaint_id, correlation_id), items in groups.items():
        causes = {o.requested_by for o in items}
        cause = causes.pop() if len(causes) == 1 else None
        event: Event
        if complaint_id in notices:
            event = NoticeDeliveriesRecorded(notice_id=complaint_id, outcomes=items)
            stream = f"notice-outcomes-{complaint_id}"
        else:
            event = NotificationsRecorded(complaint_id=complaint_id, outcomes=items)
            stream = store.outcome_stream(complaint_id)
        trace = next((t for o in items if (t := (traces or {}).get(o.notification_id))), None)
        appends.append((stream, [event], Causation(correlation_id, cause, trace)))
    return appends


class Handoff:
    """New deliveries handed from the consumer to their channel's senders in memory: the
    consumer inserts them already claimed (`sending`, with a lease) and gives them here once
    its transaction has committed, so a message's first attempt costs no claim. The table
    stays the truth: what a crash loses from here, or what waits here longer than half its
    lease, is claimed again from the table when the lease runs out, like any other claim.

    Only deliveries to a channel's gateway are handed over; a subscriber's endpoint keeps its
    per-endpoint cap through the claim. Each channel holds at most `room` at a time; what does
    not fit waits in the table as before; while the table may hold due deliveries, the senders
    take from it and from what was handed over in turns.

    Taking new deliveries even while the table holds some is what keeps the table out of the
    way: when new ones joined the table instead (as before), one overflow put the channel on
    claims for good under steady load, each new message waiting there until a sender claimed
    it (measured at 80/s with 16 senders: 71 % of the new messages inserted, claimed and
    updated again, the claim ≈ 2 ms and half of notify's statement time)."""

    def __init__(self, room: int, lease_s: float) -> None:
        self.room = room
        self.lease_s = lease_s
        self.queues: dict[str, deque[tuple[float, asyncpg.Record, domain.Address | None]]] = (
            defaultdict(deque)
        )
        self.wakes: Mapping[str, asyncio.Event] = {}
        # Channels whose table may hold due deliveries (new pending ones, a redrive): their
        # senders claim from the table, in turns with what was handed over.
        self.pending: set[str] = set()

    def takes(self, planned: Sequence[store.Planned]) -> list[bool]:
        """Which of these new deliveries the senders take at birth."""
        free = {channel: self.room - len(queue) for channel, queue in self.queues.items()}
        taken = []
        for p in planned:
            left = free.get(p.channel, self.room)
            take = p.endpoint == "" and p.channel in self.wakes and left > 0
            free[p.channel] = left - take
            taken.append(take)
        return taken

    def give(
        self, rows: Sequence[asyncpg.Record], units: Mapping[str, domain.Address], leased_at: float
    ) -> None:
        """Hand over rows whose leases began no earlier than `leased_at` (monotonic, taken
        before the insert that leased them: a slow batch's commit does not stretch them)."""
        for row in rows:
            address = None if row["audience"] in UNLISTED else units.get(row["recipient"])
            self.queues[row["channel"]].append((leased_at, row, address))
        for channel in {row["channel"] for row in rows}:
            self.wakes[channel].set()

    def take(self, channel: str, most: int) -> list[tuple[asyncpg.Record, domain.Address | None]]:
        """Up to `most` of a channel's handed-over deliveries, oldest first; any that waited
        past half their lease are left to the table (their lease runs out, then they are
        claimed), so that a message is never in two senders' hands."""
        queue = self.queues.get(channel)
        taken: list[tuple[asyncpg.Record, domain.Address | None]] = []
        stale = time.monotonic() - self.lease_s / 2
        while queue and len(taken) < most:
            given_at, row, address = queue.popleft()
            if given_at >= stale:
                taken.append((row, address))
        return taken


async def redrive(
    conn: Connection,
    events: EventStore,
    notification_ids: list[UUID] | None,
    channel: str | None,
    actor: str,
) -> int:
    """Send abandoned messages again (an operator's call, recorded as a `redriven` outcome).

    A message kept because its unit had no address goes out by the channels the directory
    names now (new deliveries of the same event); the kept one is closed.
    """
    taken = await store.take_dead_letters(conn, notification_ids, channel)
    now = datetime.now(UTC)
    outcomes: list[tuple[UUID, UUID, NotificationOutcome]] = []
    for row in taken:
        if row["channel"] == UNADDRESSED:
            address = await store.address(conn, row["recipient"])
            if address is None:
                continue  # still nowhere to send it
            message = domain.Message(
                row["complaint_id"],
                Audience(row["audience"]),
                row["recipient"],
                row["template"],
                row["payload"],
            )
            facts = domain.Facts(row["complaint_id"])
            planned = [
                store.Planned(message, c) for c in domain.channels_for(message, facts, address)
            ]
            await store.add_deliveries_for(
                conn, row["event_id"], row["correlation_id"], planned, row.get("traceparent")
            )
            await store.record_outcomes(conn, [(row["notification_id"], "redriven", None, None)])
        else:
            await store.requeue(conn, row["notification_id"])
        outcome = NotificationOutcome(
            notification_id=row["notification_id"],
            outcome="redriven",
            audience=Audience(row["audience"]),
            recipient=row["recipient"],
            channel=row["channel"],
            template=row["template"],
            attempt=row["attempts"],
            actor=actor,
            at=now,
            requested_by=row["event_id"],
        )
        outcomes.append((row["complaint_id"], row["correlation_id"] or row["event_id"], outcome))
    notices = {row["notice_id"] for row in taken if row["notice_id"] is not None}
    await events.append_streams(conn, recorded(outcomes, notices=notices))
    return len(taken)


@dataclass(frozen=True, slots=True)
class NoticeDraft:
    """What staff ask to post (区域通知), checked by the route."""

    area_code: str
    kind: NoticeKind
    title: str
    body: str
    sender_name: str
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    send_at: datetime | None = None


async def post_notice(
    conn: Connection,
    events: EventStore,
    draft: NoticeDraft,
    actor: str,
    key_id: str,
    correlation: UUID | None,
) -> NoticePosted:
    """Post a notice: the residents who consented to notices for a home within its area, each
    once, are its recipients; the event and one delivery per recipient and channel (due at
    `send_at`, else now) commit together, so what was posted is what is sent."""
    recipients = domain.notice_recipients(
        await notice_store.consents_within(conn, draft.area_code), draft.area_code
    )
    notice = NoticePosted(
        notice_id=uuid.uuid4(),
        area_code=draft.area_code,
        kind=draft.kind,
        title=draft.title,
        body=draft.body,
        sender_name=draft.sender_name,
        actor=actor,
        starts_at=draft.starts_at,
        ends_at=draft.ends_at,
        send_at=draft.send_at,
        recipients=len(recipients),
        posted_at=datetime.now(UTC),
    )
    causation = Causation.start(correlation)
    [posted] = await events.append(
        conn, f"notice-{notice.notice_id}", [notice], causation, expected_position=0
    )
    await notice_store.save_notice(conn, notice, key_id)
    messages = domain.notice_messages(notice, recipients)
    planned = [
        (store.Planned(message, channel), recipient.masked_phone)
        for recipient, message in zip(recipients, messages, strict=True)
        for channel in recipient.channels
    ]
    await notice_store.add_notice_deliveries(
        conn, notice.notice_id, posted.id, causation.correlation_id, planned, draft.send_at
    )
    return notice


@dataclass(frozen=True)
class Notify:
    """What notify's routes, handlers and workers share: the hand-over to the senders and the
    live feed's clients."""

    handoff: Handoff
    live: LiveFeed


# What notify's entry points are given: its settings, and `app`, the Notify.
NotifyRuntime = ServiceRuntime[NotifySettings, Notify]
