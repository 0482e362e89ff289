"""Notify's background loops: the delivery workers and the live feed's tailer.

Per channel, a bounded pool claims due messages and sends them. Each channel has its own
workers, so a slow or failing gateway holds up only its own channel; what waits, waits in
Postgres (claimed a few at a time), never in memory. What came of every attempt is recorded:
the outcomes of a complaint's messages that finish together are one `NotificationsRecorded`
event in the complaint's outcome stream.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge

from services.notify import domain, store
from services.notify.adapters.channels import (
    Channel,
    Contacts,
    EmailChannel,
    Gone,
    GuardedResolver,
    Outbound,
    Retry,
    SmsChannel,
    SmtpConnections,
    UnaddressedChannel,
    Undeliverable,
    WebhookChannel,
    WechatChannel,
    webhook_targets,
)
from services.notify.app import UNLISTED, Handoff, NotifyRuntime, recorded
from services.notify.live import LiveFeed, as_entry
from services.notify.settings import NotifySettings
from shared.db import Connection, connect
from shared.events import Audience, NotificationOutcome
from shared.telemetry import current, end, start, traceparent_of
from shared.waits import woken

log = logging.getLogger(__name__)
ATTEMPTS = Counter(
    "jiesu_notify_attempts_total",
    "Delivery attempts by channel and outcome",
    ["channel", "outcome"],
)
RECORD_ATTEMPTS = 6  # about 6 s of retries before a batch is left to its leases
IN_FLIGHT = Gauge("jiesu_notify_in_flight", "Messages being sent now, by channel", ["channel"])
BACKLOG = Gauge(
    "jiesu_notify_backlog",
    "Messages not delivered, by channel and state (pending, sending, abandoned)",
    ["channel", "state"],
)
_BACKLOG_SHOWN: set[tuple[str, str]] = set()


async def sample_backlog(conn: Connection) -> None:
    """The backlog gauge from the store's backlog query, at scrape time (shared.runtime.Sampler);
    a channel and state that emptied since the last scrape show 0."""
    counts = {
        (channel, state): n
        for channel, states in (await store.backlog(conn)).items()
        for state, n in states.items()
    }
    for channel, state in _BACKLOG_SHOWN | counts.keys():
        BACKLOG.labels(channel, state).set(counts.get((channel, state), 0))
    _BACKLOG_SHOWN.update(counts)


def webhook_session(
    settings: NotifySettings, timeout: aiohttp.ClientTimeout
) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(webhook_targets(settings)))
    return aiohttp.ClientSession(timeout=timeout, trust_env=proxied(), connector=connector)


def build_channels(
    session: aiohttp.ClientSession,
    webhooks: aiohttp.ClientSession,
    smtp: SmtpConnections,
    settings: NotifySettings,
    contacts: Contacts | None = None,
) -> dict[str, Channel]:
    """`session` reaches the gateways the operator configured; `webhooks` (made by
    `webhook_session`) reaches subscribers, outside addresses only."""
    contacts = contacts or Contacts(session, settings)
    channels: list[Channel] = [
        WebhookChannel(webhooks, webhook_targets(settings)),
        SmsChannel(session, settings, contacts),
        WechatChannel(session, settings, contacts),
        EmailChannel(settings, contacts, smtp),
        UnaddressedChannel(),
    ]
    return {channel.name: channel for channel in channels}


def proxied() -> bool:
    """Whether the environment names a proxy. Only then does the client trust the environment:
    with trust_env, aiohttp looks up proxies and reads ~/.netrc in a thread for every request,
    which py-spy found in a fifth of notify's busy samples under load."""
    return bool(urllib.request.getproxies())


def next_attempt(settings: NotifySettings, attempt: int, asked_s: float | None) -> datetime | None:
    """When attempt `attempt + 1` is due, or None when the schedule is used up. An endpoint's
    Retry-After is honoured when it asks for longer than the schedule."""
    delays = settings.retry_delays_s
    if attempt > len(delays):
        return None
    wait = max(delays[attempt - 1], asked_s or 0.0)
    return datetime.now(UTC) + timedelta(seconds=wait)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to, to be recorded with the others that finished meanwhile."""

    complaint_id: UUID
    correlation_id: UUID  # the conversation of the event that asked for the message
    status: str  # the delivery row's: delivered | pending (to retry) | abandoned
    error: str | None  # as the delivery row keeps it
    disable: str | None  # an endpoint that answered 410
    recorded: NotificationOutcome  # as the event says it (naming the event that asked)
    traceparent: str | None = None  # the gateway call's trace: the recorded event continues it
    notice: bool = False  # an area notice's message (`complaint_id` is the notice's id)


@dataclass(frozen=True, slots=True)
class Known:
    """What was looked up for a claimed batch at once: residents' contacts (or why there is
    none) by complaint, units' directory entries by recipient."""

    residents: Mapping[UUID | str, dict[str, Any] | str]  # (an area notice's: by reference)
    units: Mapping[str, domain.Address]


NOTHING_KNOWN = Known({}, {})


async def units_of(conn: Connection, claimed: list[asyncpg.Record]) -> dict[str, domain.Address]:
    """The directory entries of a claimed batch's units, on the claim's connection."""
    units = {r["recipient"] for r in claimed if r["audience"] not in UNLISTED}
    return await store.addresses(conn, units) if units else {}


class GatheredLookups:
    """Residents' contacts asked for by every channel's senders, gathered: while one request
    to intake is under way, what is asked meanwhile waits for the next, which carries all of
    it. One request at a time, however many rounds of senders ask.

    Why: a channel's worker used to wait for its round's lookup before it looked for more
    work; under load a lookup took ≈ 21 ms (intake is busy too), so the SMS senders ran short
    of work while new messages piled up (measured at 80/s: 6 messages per round, ≈ 285/s at
    most, against ≈ 300/s arriving)."""

    def __init__(self, contacts: Contacts) -> None:
        self.contacts = contacts
        self.asked: set[UUID | str] = set()
        self.answer: asyncio.Future[dict[UUID | str, dict[str, Any] | str]] | None = None
        self.one_at_a_time = asyncio.Lock()
        self.asking: set[asyncio.Task[None]] = set()  # a running task must be referenced

    async def residents(
        self, complaint_ids: Sequence[UUID | str]
    ) -> dict[UUID | str, dict[str, Any] | str]:
        """The contacts of these complaints' residents, or of these residents (an area notice's,
        by reference), or why there is none; {} for all of them if the request fails (then each
        message asks on its own, and retries as it would)."""
        if self.answer is None:
            self.answer = asyncio.get_running_loop().create_future()
            task = asyncio.create_task(self._ask())
            self.asking.add(task)
            task.add_done_callback(self.asking.discard)
        answer = self.answer
        self.asked.update(complaint_ids)
        found = await asyncio.shield(answer)
        return {cid: found[cid] for cid in complaint_ids if cid in found}

    async def close(self) -> None:
        """Stop asking: the request under way is cancelled, and so is whoever waits for it."""
        if self.answer is not None:
            self.answer.cancel()
        for task in list(self.asking):
            task.cancel()
        await asyncio.gather(*self.asking, return_exceptions=True)

    async def _ask(self) -> None:
        async with self.one_at_a_time:
            answer, asked = self.answer, self.asked
            self.answer, self.asked = None, set()
            assert answer is not None
            try:
                complaints = [key for key in asked if isinstance(key, UUID)]
                refs = [key for key in asked if isinstance(key, str)]
                found: dict[UUID | str, dict[str, Any] | str] = {}
                if complaints:
                    found.update((await self.contacts.residents(complaints)).items())
                if refs:
                    found.update((await self.contacts.neighbours(refs)).items())
                answer.set_result(found)
            except Exception as error:
                log.warning("looking up %d contacts failed (%s); one by one", len(asked), error)
                answer.set_result({})
            except asyncio.CancelledError:
                answer.cancel()  # stopped: so are the senders waiting for it
                raise


async def send_when_known(
    runtime: NotifyRuntime,
    channels: Mapping[str, Channel],
    row: asyncpg.Record,
    units: Mapping[str, domain.Address],
    residents: asyncio.Task[dict[UUID | str, dict[str, Any] | str]] | None,
) -> Outcome:
    """Send one message once its round's residents' contacts are known."""
    known = Known(await residents if residents is not None else {}, units)
    return await send_one(runtime, channels, row, known)


# Channels that address people (by contact or directory).
ADDRESSED = frozenset({"sms", "wechat", "email"})


async def send_one(
    runtime: NotifyRuntime,
    channels: Mapping[str, Channel],
    row: asyncpg.Record,
    known: Known = NOTHING_KNOWN,
) -> Outcome:
    """Send one claimed message and say what came of it (recorded by the `Recorder`)."""
    settings = runtime.settings
    channel = channels[row["channel"]]
    message = Outbound(
        notification_id=row["notification_id"],
        complaint_id=row["complaint_id"],
        audience=Audience(row["audience"]),
        recipient=row["recipient"],
        template=row["template"],
        data=row["payload"],
        endpoint=row["endpoint"],
        attempt=row["attempts"],
        contact=known.residents.get(
            domain.resident_ref_of(row["recipient"]) or row["complaint_id"]
        ),
        address=known.units.get(row["recipient"]),
    )
    common: dict[str, Any] = {
        "notification_id": message.notification_id,
        "audience": message.audience,
        "recipient": message.recipient,
        "channel": channel.name,
        "template": message.template,
        "attempt": message.attempt,
        "requested_by": row["event_id"],
    }
    now = datetime.now(UTC)
    disable: str | None = None
    retry_at: datetime | None = None
    reason: str | None = None  # why it was abandoned, as the outcome says it
    # The gateway call continues the trace of the event that asked for the message.
    span = start(
        f"{channel.name} send",
        SpanKind.CLIENT,
        parent=row.get("traceparent"),
        attributes={
            "jiesu.channel": channel.name,
            "jiesu.notification_id": str(message.notification_id),
            "jiesu.complaint_id": str(message.complaint_id),
            "jiesu.attempt": message.attempt,
        },
    )
    try:
        IN_FLIGHT.labels(channel.name).inc()
        try:
            with current(span):
                await channel.send(runtime.pool, message)
        finally:
            IN_FLIGHT.labels(channel.name).dec()
        end(span)
        outcome, error = "delivered", None
    except Undeliverable as refusal:  # nothing to try again: straight to the dead letters
        end(span, refusal)
        outcome, error = "abandoned", str(refusal)[:500]
    except Exception as failure:
        end(span, failure)
        error = (
            str(failure)
            if isinstance(failure, Retry | Gone)
            else f"{type(failure).__name__}: {failure}"
        )[:500]
        if isinstance(failure, Gone):
            disable = message.endpoint
        else:
            asked = failure.after_s if isinstance(failure, Retry) else None
            retry_at = next_attempt(settings, message.attempt, asked)
        log.warning(
            "notification %s (%s) attempt %d failed: %s",
            message.notification_id,
            channel.name,
            message.attempt,
            error,
        )
        outcome = "failed" if retry_at else "abandoned"
        if retry_at is None:
            reason = (
                f"{message.attempt} 次尝试后放弃 Gave up after {message.attempt} attempts: {error}"
            )[:500]
    status = {"delivered": "delivered", "failed": "pending", "abandoned": "abandoned"}[outcome]
    ATTEMPTS.labels(channel.name, outcome).inc()
    # The outcome follows the event that asked for the message: same conversation, caused by it.
    return Outcome(
        message.complaint_id,
        row["correlation_id"] or row["event_id"],
        status,
        error,
        disable,
        NotificationOutcome(
            **common, outcome=outcome, error=reason or error, retry_at=retry_at, at=now
        ),
        traceparent_of(span) if span is not None else row.get("traceparent"),
        row.get("notice_id") is not None,
    )


class Recorder:
    """Records outcomes as they finish, every channel's together: what finished while the last
    transaction committed goes into the next one (one update of the rows, one append of all the
    outcome events), so a busy second costs a few commits, not one per message.

    A message stays `sending` until its outcome commits; if the process dies first, its lease
    runs out and it is sent again with the same idempotency key (as before batching)."""

    retry_base_s = 0.1

    def __init__(
        self,
        runtime: NotifyRuntime,
        batch_size: int = 500,
        wakes: Mapping[str, asyncio.Event] | None = None,
        gather_s: float = 0.0,
    ) -> None:
        self.runtime = runtime
        self.batch_size = batch_size
        self.gather_s = gather_s
        self.queue: asyncio.Queue[Outcome] = asyncio.Queue()
        # A recorded retry is due sooner than the lease its claimer may be sleeping until: the
        # channel is woken and told to read its soonest due time again.
        self.wakes = wakes or {}
        self.retried: set[str] = set()

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            if self.gather_s:
                # A complaint's messages (a unit's SMS and mail, the lead's and the co-units')
                # finish within moments of each other: waiting that long records them as one
                # event, not one each.
                await asyncio.sleep(self.gather_s)
            while len(batch) < self.batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            for attempt in range(1, RECORD_ATTEMPTS + 1):
                try:
                    await self.record(batch)
                    for channel in {o.recorded.channel for o in batch if o.status == "pending"}:
                        self.retried.add(channel)
                        if channel in self.wakes:
                            self.wakes[channel].set()
                    break
                except Exception as error:
                    if attempt == RECORD_ATTEMPTS:
                        # Left `sending`: when their leases run out they are claimed and sent
                        # again, under the same idempotency keys.
                        log.error("%d outcomes not recorded: %r", len(batch), error)
                        break
                    log.warning("recording %d outcomes failed (%r); retrying", len(batch), error)
                    await asyncio.sleep(self.retry_base_s * 2**attempt)

    async def record(self, batch: list[Outcome]) -> None:
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            sent = [(o.recorded, o.status, o.error) for o in batch]
            held = await store.record_sent(
                conn, [(r.notification_id, r.attempt, st, e, r.retry_at) for r, st, e in sent]
            )
            # A claim that outlived its lease: the row's new claimer records it instead.
            batch = [o for o in batch if (o.recorded.notification_id, o.recorded.attempt) in held]
            if not batch:
                return
            for outcome in batch:
                if outcome.disable:
                    await store.set_subscription_status(
                        conn, outcome.disable, "disabled", outcome.error
                    )
            await self.runtime.store.append_streams(
                conn,
                recorded(
                    [(o.complaint_id, o.correlation_id, o.recorded) for o in batch],
                    {o.recorded.notification_id: o.traceparent for o in batch},
                    {o.complaint_id for o in batch if o.notice},
                ),
            )


async def run_channel(
    runtime: NotifyRuntime,
    channels: Mapping[str, Channel],
    name: str,
    wake: asyncio.Event,
    recorder: Recorder,
    lookups: GatheredLookups,
    handoff: Handoff,
) -> None:
    """One worker per channel with at most `channel_concurrency` senders: it sends what the
    consumer handed over, claims due messages from the table in one query when there may be
    some (new pending ones, a recorded retry, a lease or retry time come), sends each in its
    own task, hands what came of it to the recorder, and looks again when a sender finishes,
    when a delivery for this channel arrives, or at the poll."""
    settings = runtime.settings
    sending: set[asyncio.Task[Outcome]] = set()
    # When the soonest open delivery is due (monotonic), as last read; read again once it has
    # come or a retry was recorded, not after every empty claim.
    due_at = -math.inf
    handoff.pending.add(name)  # at start the table may hold anything: a crash's leftovers

    def finished(task: asyncio.Task[Outcome]) -> None:
        sending.discard(task)
        wake.set()  # a sender is free: look for more
        if task.cancelled():
            return
        if task.exception() is not None:
            log.error("delivery of a %s message failed: %r", name, task.exception())
        else:
            recorder.queue.put_nowait(task.result())

    def due() -> bool:
        """Whether a retry or a lease's end may have come due in the table."""
        return time.monotonic() >= due_at or name in recorder.retried

    async def claim(most: int, units: dict[str, domain.Address]) -> list[asyncpg.Record]:
        """Up to `most` due deliveries from the table, their units' addresses into `units`."""
        nonlocal due_at
        came_due = due()
        handoff.pending.discard(name)
        async with runtime.pool.acquire() as conn:
            rows = await store.claim(
                conn, name, most, settings.endpoint_concurrency, settings.delivery_lease_s
            )
            if rows and name in ADDRESSED:
                units.update(await units_of(conn, rows))
            elif not rows and came_due:
                # Nothing due now: sleep until the soonest open delivery is (a retry, a
                # lease's end), or until a new one, a recorded retry or a free sender wakes us.
                recorder.retried.discard(name)
                upcoming = await store.next_due(conn, name)
                ahead = settings.delivery_poll_interval_s
                if upcoming is not None:
                    ahead = min(ahead, (upcoming - datetime.now(UTC)).total_seconds())
                due_at = time.monotonic() + ahead
        if len(rows) == most:
            handoff.pending.add(name)  # there may be more in the table
        return rows

    # While both hold work, the table (an overflow, a retry, a crash's leftovers) and what was
    # handed over take turns, round by round: neither waits for the other to empty. (With the
    # table always first, an overload left handed-over messages waiting past half their lease,
    # and then for the lease to run out: a minute.)
    table_turn = True
    try:
        while True:
            wake.clear()  # before looking: a wake-up while we look is not lost
            free = settings.channel_concurrency - len(sending)
            wait = settings.delivery_poll_interval_s
            if free > 0:
                units: dict[str, domain.Address] = {}
                may_claim = due() or name in handoff.pending
                claim_first = may_claim and (table_turn or not handoff.queues.get(name))
                rows = await claim(free, units) if claim_first else []
                handed = handoff.take(name, free - len(rows))
                rows += [row for row, _ in handed]
                units.update((row["recipient"], a) for row, a in handed if a is not None)
                if may_claim and not claim_first and len(rows) < free:
                    rows += await claim(free - len(rows), units)
                table_turn = not table_turn
                if not rows:
                    wait = min(wait, max(0.01, due_at - time.monotonic()))
                # The senders wait for the round's residents' contacts; the worker does not,
                # and looks for more work as soon as a sender is free.
                asked = [
                    domain.resident_ref_of(r["recipient"]) or r["complaint_id"]
                    for r in rows
                    if r["audience"] == Audience.RESIDENT.value and name in ADDRESSED
                ]
                residents = asyncio.create_task(lookups.residents(asked)) if asked else None
                for row in rows:
                    task = asyncio.create_task(
                        send_when_known(runtime, channels, row, units, residents)
                    )
                    sending.add(task)
                    task.add_done_callback(finished)
                if rows and len(rows) == free:
                    continue  # there may be more due: look again as soon as a sender is free
            await woken(wake, wait)
    finally:
        # Stopped: no sender outlives its worker (nor the session and pool it sends with).
        for task in sending:
            task.cancel()
        await asyncio.gather(*sending, return_exceptions=True)


async def run_deliveries(
    runtime: NotifyRuntime, settings: NotifySettings, handoff: Handoff
) -> None:
    """Every channel's worker, woken by deliveries handed over by the consumer, by new ones in
    the table (LISTEN/NOTIFY, the payload names the channels) and by a poll, and the recorder
    of their outcomes."""
    listener = await connect(settings.database_url)
    # aiohttp rather than httpx: under load, py-spy found httpx's client (its connection pool's
    # checks and anyio wrappers included) in about a quarter of notify's samples.
    timeout = aiohttp.ClientTimeout(total=settings.gateway_timeout_s)
    smtp = SmtpConnections(settings)
    async with (
        aiohttp.ClientSession(timeout=timeout, trust_env=proxied()) as session,
        webhook_session(settings, timeout) as webhooks,
    ):
        contacts = Contacts(session, settings)
        channels = build_channels(session, webhooks, smtp, settings, contacts)
        lookups = GatheredLookups(contacts)
        wakes = {name: asyncio.Event() for name in channels}
        recorder = Recorder(runtime, wakes=wakes, gather_s=settings.record_gather_s)

        def wake(_conn: object, _pid: int, _channel: str, payload: object) -> None:
            for name in str(payload).split(",") if payload else wakes:
                if name in wakes:
                    handoff.pending.add(name)
                    wakes[name].set()

        await listener.add_listener(store.WAKE_CHANNEL, wake)
        handoff.wakes = wakes  # from now on the consumer hands new deliveries over
        try:
            # A task group, not gather: cancelled, or one of them failing, it stops every
            # worker and waits until they have all stopped before the sessions close.
            async with asyncio.TaskGroup() as workers:
                workers.create_task(recorder.run())
                for name in channels:
                    workers.create_task(
                        run_channel(
                            runtime, channels, name, wakes[name], recorder, lookups, handoff
                        )
                    )
        finally:
            handoff.wakes = {}
            await lookups.close()
            await listener.close()
            await smtp.close()


async def run_live_feed(
    feed: LiveFeed, pool: asyncpg.Pool, database_url: str, poll_s: float
) -> None:
    """The live feed's tailer: reads `live_updates` up to the horizon, in id order, and hands
    each entry to the clients that want it; woken by each commit's NOTIFY, or at the poll."""
    wake = asyncio.Event()
    connection = await connect(database_url)
    await connection.add_listener(store.LIVE_CHANNEL, lambda *_: wake.set())
    try:
        async with pool.acquire() as conn:
            last_id = await feed.horizon.reach(conn)
        while True:
            wake.clear()
            async with pool.acquire() as conn:
                settled = await feed.horizon.advance(conn)
                rows = await store.live_since(conn, last_id, settled, 500)
            for row in rows:
                feed.hand_out(as_entry(row))
                last_id = row["id"]
            if len(rows) < 500:
                await woken(wake, feed.horizon.next_look(poll_s))
    finally:
        await connection.close()
