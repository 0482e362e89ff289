"""The SLA clocks' poller: due timers become warnings and breaches, each exactly once.

Timer rows are derived from the cases (`domain.deadlines.timers`) and written with every case change.
A poller claims due rows with FOR UPDATE SKIP LOCKED, so several dispatch workers share the
work without waiting on each other; for each case it decides on the newest state, appends the
events and deletes the rows in one transaction. A worker killed half way rolls back and its
rows are claimed again; a row whose clock stopped meanwhile decides nothing and is dropped.
The case's expected position makes a concurrent command and a firing exclude each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import defaultdict
from datetime import datetime
from uuid import UUID

from prometheus_client import Counter, Gauge

from services.dispatch import matter_app, matter_store, store, store_ballots
from services.dispatch.app import Dispatch, DispatchRuntime, NoCityModel
from services.dispatch.domain import ballots, service_matters
from services.dispatch.domain.case import then
from services.dispatch.domain.deadlines import Timer, fire, timers
from services.dispatch.domain.rules import Rules
from services.dispatch.settings import DispatchSettings
from shared.commands import ConcurrencyError, now
from shared.db import Connection, connect
from shared.deadlines import ClockName
from shared.envelope import Causation
from shared.events import Event
from shared.eventstore import RecordedEvent
from shared.telemetry import about, link_to, spanning
from shared.waits import woken

log = logging.getLogger(__name__)
RETRY_S = 60
TIMER_FAILURES = Counter("jiesu_dispatch_timer_failures_total", "Cases whose due timers failed")
TIMERS_FIRED = Counter(
    "jiesu_dispatch_timer_events_total",
    "Warnings, breaches and escalations the clocks fired",
    ["type"],
)

TIMERS_DUE = Gauge(
    "jiesu_timers_due", "Timers due now and not fired, as the poller last looked", ["clock"]
)
TIMERS_LATE = Gauge(
    "jiesu_timers_late_seconds", "How late the oldest due timer is (0 when none is due)"
)


class Lateness:
    """When the oldest due timer was due, as the poller last looked; its lateness is read at
    each scrape, so it grows while no round looks (a stuck poller shows as late timers)."""

    def __init__(self) -> None:
        self.due_since: float | None = None

    def seconds(self) -> float:
        return 0.0 if self.due_since is None else max(0.0, time.time() - self.due_since)


LATENESS = Lateness()
TIMERS_LATE.set_function(LATENESS.seconds)


def show_outlook(first: datetime | None, due: dict[str, int]) -> None:
    """The gauges from what the poller read after a round (every clock, 0 where none is due)."""
    for clock in ClockName:
        TIMERS_DUE.labels(clock.value).set(due.get(clock.value, 0))
    LATENESS.due_since = first.timestamp() if first is not None and due else None


def _issued(history: list[RecordedEvent], work_order_id: UUID) -> RecordedEvent | None:
    """The WorkOrderIssued that started an order's clocks."""
    for recorded in history:
        if recorded.type == "WorkOrderIssued" and recorded.data["work_order_id"] == str(
            work_order_id
        ):
            return recorded
    return None


def _cause(issued: RecordedEvent | None) -> Causation:
    """A clock's events follow the WorkOrderIssued that started it (same conversation)."""
    if issued is None:
        return Causation.start()
    return Causation(UUID(issued.metadata["correlation_id"]), issued.id)


async def fire_due(conn: Connection, dispatch: Dispatch, batch: int = 100) -> int:
    """Fire what is due now; returns how many timer rows were settled."""
    settled = 0
    async with conn.transaction():
        claimed = await store.claim_due_timers(conn, now(), batch)
        if not claimed:
            return 0
        by_case: dict[UUID, list[Timer]] = defaultdict(list)
        for timer in claimed:
            by_case[timer.complaint_id].append(timer)
        rules = await dispatch.rules(conn)
        for complaint_id, due in by_case.items():
            # Claims lock timer rows, so two pollers can hold different clocks of one case;
            # appending to it in turn, each waiting for the other's case, they would deadlock.
            # One poller fires a case; the other leaves its rows of it to the next round.
            if not await store.own_case_for_now(conn, complaint_id):
                continue
            try:
                async with conn.transaction():  # a savepoint per case
                    fire_one = _fire_matter if _of_matter(due) else _fire_case
                    settled += await fire_one(conn, dispatch, rules, complaint_id, due)
            except ConcurrencyError:
                # A command changed the case meanwhile; its rows wait for the next round.
                log.info("timers: case %s changed while firing; retrying later", complaint_id)
            except Exception:
                # One case that cannot be decided must not hold up every other clock: its rows
                # are put off (and it is logged each time) while the others fire.
                log.exception("timers: case %s failed; trying again in %ss", complaint_id, RETRY_S)
                TIMER_FAILURES.inc()
                await store.postpone_timers(conn, due, RETRY_S)
    log.info("timers: settled %d of %d due timers", settled, len(claimed))
    return settled


async def _fire_case(
    conn: Connection,
    dispatch: Dispatch,
    rules: Rules,
    complaint_id: UUID,
    due: list[Timer],
) -> int:
    case, history = await store.load_case(conn, dispatch.events, complaint_id)
    moment = now()
    state = case
    # One append per order: its warnings, breaches and escalation follow the same cause.
    for work_order_id in dict.fromkeys(
        t.work_order_id for t in sorted(due, key=lambda t: t.fire_at)
    ):
        fired: list[Event] = []
        for timer in sorted(
            (t for t in due if t.work_order_id == work_order_id), key=lambda t: t.fire_at
        ):
            if state is None:
                break
            events = fire(then(state, fired) if fired else state, timer, moment, rules)
            fired += events
        if fired and state is not None:
            issued = _issued(history, work_order_id)
            cause = _cause(issued)
            # A trace of its own, linked to the issuing's: a clock fires hours or days after
            # the hops that set it, which one trace would stretch over.
            with (
                spanning(
                    "dispatch timers fire",
                    root=True,
                    links=link_to(issued.metadata.get("traceparent") if issued else None),
                    attributes={
                        "jiesu.complaint_id": str(complaint_id),
                        "jiesu.work_order_id": str(work_order_id),
                    },
                ),
                about(cause.correlation_id, complaint_id),
            ):
                state = await dispatch.save_case(conn, state, fired, cause)
            for event in fired:
                TIMERS_FIRED.labels(event.event_type).inc()
    # What was claimed and is no longer wanted (fired, or stale) goes now; the rest stays.
    await store.drop_timers(conn, [t for t in due if t not in timers(state)])
    return len(due)


async def close_due_ballots(conn: Connection, dispatch: Dispatch, batch: int = 100) -> int:
    """Close the ballots past their closing time (征求意见、表决到期): each closing, and the
    agenda item it decides, commit once, whichever worker claims the ballot."""
    closed = 0
    async with conn.transaction():
        for ballot_id in await store_ballots.claim_due_ballots(conn, now(), batch):
            try:
                async with conn.transaction():  # a savepoint per ballot
                    await dispatch.change_ballot(
                        conn,
                        ballot_id,
                        lambda b, _: ballots.close(b, "timer", now()) if b.is_open else [],
                    )
                closed += 1
            except Exception:
                # One ballot that cannot close must not hold up the others; it is tried again
                # at the next poll.
                log.exception("timers: ballot %s could not close", ballot_id)
                TIMER_FAILURES.inc()
    return closed


def _of_matter(due: list[Timer]) -> bool:
    """A 政务事项's timers (its id stands for case and order): its stream is a matter's."""
    return all(t.clock is ClockName.MATTER for t in due)


async def _fire_matter(
    conn: Connection, dispatch: Dispatch, rules: Rules, matter_id: UUID, due: list[Timer]
) -> int:
    matter, history = await matter_store.load_matter(conn, dispatch.events, matter_id)
    moment = now()
    fired: list[Event] = []
    for timer in sorted(due, key=lambda t: t.fire_at):
        if matter is not None:
            fired += service_matters.fire(
                service_matters.fold(fired, matter) or matter, timer, moment, rules
            )
    if fired and matter is not None:
        opened = history[0] if history else None
        cause = _cause(opened)
        matter = await matter_app.save_matter(dispatch, conn, matter, fired, cause)
        for event in fired:
            TIMERS_FIRED.labels(event.event_type).inc()
    await store.drop_timers(conn, [t for t in due if t not in service_matters.timers(matter)])
    return len(due)


class TimerAlarm:
    """The earliest fire time announced on store.TIMERS_CHANNEL since the loop last looked:
    a row added (by any worker, committed) that is due before the loop meant to wake."""

    def __init__(self) -> None:
        self.earliest: float | None = None  # seconds since the epoch
        self.rang = asyncio.Event()

    def heard(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        with contextlib.suppress(ValueError):
            fire_at = float(str(payload))
            if self.earliest is None or fire_at < self.earliest:
                self.earliest = fire_at
                self.rang.set()

    def reset(self) -> None:
        """Before the loop looks at the table: what is announced from here on wakes it."""
        self.earliest = None
        self.rang.clear()

    async def sleep(self, until: float) -> None:
        """Until `until` (seconds since the epoch) or an announced earlier fire time."""
        while True:
            wake = until if self.earliest is None else min(until, self.earliest)
            left = wake - time.time()
            if left <= 0:
                return
            self.rang.clear()
            await woken(self.rang, left)


async def run_timers(runtime: DispatchRuntime, settings: DispatchSettings) -> None:
    """The worker loop: fire what is due, then sleep until the next row is due. A row added
    meanwhile that is due sooner wakes it (LISTEN/NOTIFY); the poll (DISPATCH_TIMER_POLL_-
    INTERVAL_S) is the longest it sleeps, what a lost notification could delay a timer by."""
    dispatch = runtime.app
    poll_s = settings.timer_poll_interval_s
    batch = settings.timer_batch_size
    alarm = TimerAlarm()
    listener = await connect(settings.database_url)
    try:
        await listener.add_listener(store.TIMERS_CHANNEL, alarm.heard)
        looked = -math.inf
        while True:
            alarm.reset()
            async with runtime.pool.acquire() as conn:
                try:
                    settled = await fire_due(conn, dispatch, batch)
                    settled += await close_due_ballots(conn, dispatch, batch)
                except NoCityModel:
                    settled = 0
                busy = settled >= batch  # more may be due right now
                if busy and time.monotonic() - looked < poll_s:
                    continue  # the gauges are read once a poll while a backlog drains
                upcoming, due = await store.timer_outlook(conn, now())
                looked = time.monotonic()
                show_outlook(upcoming, due)
                closing = await store_ballots.next_ballot_closing(conn)
                if closing is not None and closing > now():
                    upcoming = closing if upcoming is None else min(upcoming, closing)
                if busy:
                    continue
            wait = poll_s
            if upcoming is not None:
                wait = min(poll_s, max(0.01, (upcoming - now()).total_seconds()))
            await alarm.sleep(time.time() + wait)
    finally:
        await listener.close()
