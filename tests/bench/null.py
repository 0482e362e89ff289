"""The null pipeline: the platform's topology with handlers that do no domain work.

Four service processes as the real ones run (uvicorn, each its own database, event store, outbox
relay, consumer group and inbox, one transaction per consumed batch: `shared.runtime`), on the
runner's durable embedded Postgres and Tansu broker. They publish, per complaint and topic, as
many events of the real classes as the real platform does for the bench's complaints in the
demo city, and claim inbox rows for the records the real consumers handle:

- intake: POST /complaints appends the filing's events (filed, classified and, where a complaint
  of the category was filed at the place before, a likely duplicate) in one transaction and
  answers 201 with how many events the complaint leads to; each lead work order is mirrored
  as ComplaintDispatched;
- dispatch: each ComplaintClassified becomes the work orders the demo catalogue issues;
- notify: the resident's receipt and dispatch notices and each unit's notices by the channels
  the demo directory names, recorded in the batch's transaction (no gateway is called);
- reporting: one upsert per batch counting each complaint's events and when the last arrived.

Run one: python -m tests.bench.null serve intake (the bench starts all four: NullStack).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import yaml
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from deploy.local.processes import Child
from deploy.local.runner import DEMO_CITY, DEMO_DIRECTORY, SERVICES, Stack, StackConfig
from services.dispatch.settings import DispatchSettings
from services.intake.settings import IntakeSettings
from services.notify.settings import NotifySettings
from services.reporting.settings import ReportingSettings
from shared.apikeys import PUBLIC
from shared.consumer import BatchContext, BatchHandler, Handler, HandlerContext
from shared.envelope import Causation, Envelope
from shared.events import (
    REGISTRY,
    Audience,
    ComplaintClassified,
    ComplaintDispatched,
    ComplaintFiled,
    ComplaintStatus,
    ComplaintType,
    DuplicateCandidate,
    DuplicateSuspected,
    Event,
    NotificationOutcome,
    NotificationsRecorded,
    OrderClock,
    ResponderRole,
    WorkOrderIssued,
)
from shared.runtime import ServiceRuntime, Worker, configure_logging, create_service_app, serve
from shared.settings import ServiceSettings
from shared.topics import (
    COMPLAINT_EVENTS,
    DISPATCH_EVENTS,
    EVENT_TOPICS,
    NOTIFICATION_EVENTS,
    topic_of,
)
from tests.support import examples

REPO = Path(__file__).resolve().parents[2]

# The units the demo catalogue gives work orders to for each of the bench's complaints
# (tests.support.examples.SITUATIONS), the lead first.
ROUTES: dict[str, tuple[str, ...]] = {
    "roof-leak": ("property-meicheng", "committee-huixianshan"),
    "ebike-charging": ("property-cuiping", "dept-fire"),
    "parking": ("property-meicheng", "police-yushan"),
    "property-certificate": ("dept-property-registry", "dept-housing"),
    "road-damage": ("dept-municipal",),
    "sanitation": ("dept-urban", "committee-dongguan"),
    "street-lights": ("dept-municipal",),
    "neighbour-dispute": ("committee-jinshuiyuan", "grid-jinshuiyuan-1"),
    "gas-leak": ("util-gas", "dept-fire"),
    "other": ("street-jinshui",),
}
UNROUTED = ("gov-pingyin",)  # a category the table does not name
RULES = {category: f"R{number:02d}" for number, category in enumerate(ROUTES, 1)}
# How each channel is addressed in a directory entry; a unit with none is kept for an operator.
UNIT_CHANNELS = (("sms", "sms"), ("email", "email"), ("wechat", "wechat_openid"))
UNADDRESSED = "unaddressed"
NULL_CASES = """
CREATE TABLE IF NOT EXISTS null_cases (
    complaint_id  uuid PRIMARY KEY,
    events        integer     NOT NULL,
    last_event_at timestamptz NOT NULL
)
"""
COUNT_EVENTS = """
INSERT INTO null_cases (complaint_id, events, last_event_at)
SELECT complaint_id, events, clock_timestamp()
FROM unnest($1::uuid[], $2::int[]) AS t(complaint_id, events)
ON CONFLICT (complaint_id) DO UPDATE
SET events = null_cases.events + EXCLUDED.events, last_event_at = EXCLUDED.last_event_at
"""
# A complaint is complete once every event it leads to has arrived; it was shown when the last did.
COMPLETE_NULL_CASES = """
SELECT c.complaint_id, c.last_event_at AS shown_at
FROM null_cases c
JOIN unnest($1::uuid[], $2::int[]) AS w(complaint_id, events) ON w.complaint_id = c.complaint_id
WHERE c.events >= w.events
"""


# --- the demo city: names, kinds and channels ------------------------------------------------


@cache
def city() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
    return {
        "responders": {r["id"]: r for r in loaded["responders"]},
        "categories": {c["code"]: c for c in loaded["categories"]},
    }


@cache
def directory() -> dict[str, dict[str, Any]]:
    entries = yaml.safe_load(DEMO_DIRECTORY.read_text(encoding="utf-8"))
    return {entry["id"]: entry for entry in entries}


def routes(category: str) -> tuple[str, ...]:
    return ROUTES.get(category, UNROUTED)


def resident_channels(intake_channel: str) -> list[str]:
    return ["sms", "wechat"] if intake_channel == "wechat" else ["sms"]


def unit_channels(responder_id: str) -> list[str]:
    entry = directory().get(responder_id, {})
    return [name for name, key in UNIT_CHANNELS if entry.get(key)] or [UNADDRESSED]


def events_of(*topics: str) -> list[type[Event]]:
    """Every event class published on the topics."""
    return [cls for cls in REGISTRY.values() if topic_of(cls) in topics]


# --- intake ----------------------------------------------------------------------------------


class Filings:
    """What a filing needs besides its body: case numbers and the complaints filed at each place
    (the likely duplicates), kept in memory."""

    def __init__(self) -> None:
        self.numbers = itertools.count(1)
        self.places: dict[tuple[str, str], deque[DuplicateCandidate]] = {}

    def file(self, body: Mapping[str, Any]) -> tuple[UUID, list[Event]]:
        complaint_id, now = uuid.uuid4(), datetime.now(UTC)
        case_number = f"JS-{now:%Y%m%d}-{next(self.numbers):06d}"
        category, area_code = body.get("category") or "other", body["area_code"]
        phone = str(body.get("contact", {}).get("phone", ""))
        events: list[Event] = [
            ComplaintFiled(
                complaint_id=complaint_id,
                case_number=case_number,
                channel=body["channel"],
                text=body["text"],
                category=category,
                area_code=area_code,
                address=body["address"],
                resident_ref=f"R-{hashlib.sha256(phone.encode()).hexdigest()[:20]}",
                masked_phone=f"{phone[:3]}****{phone[-4:]}",
                attributes=body.get("attributes", {}),
                filed_at=now,
            ),
            examples.complaint_classified(
                complaint_id,
                category,
                area_code,
                type=ComplaintType(body.get("type", "help")),
                confidence=1.0,
                type_confidence=1.0,
                classified_by="channel",
                occurred_at=now,
            ),
        ]
        # A place is a grid or what lies in it; a community or street is not one.
        if "-" in area_code:
            earlier = self.places.setdefault((category, area_code), deque(maxlen=5))
            if earlier:
                events.append(
                    DuplicateSuspected(
                        complaint_id=complaint_id,
                        status=ComplaintStatus.CLASSIFIED,
                        candidates=list(reversed(earlier)),
                        occurred_at=now,
                    )
                )
            reason = "same_building" if "-B" in area_code else "same_grid"
            earlier.append(
                DuplicateCandidate(
                    complaint_id=complaint_id, case_number=case_number, reason=reason
                )
            )
        return complaint_id, events


def events_per_complaint(body: Mapping[str, Any], filed: int) -> int:
    """Every event a complaint leads to on the three topics: the `filed` events of its filing,
    the dispatch mirrored, its work orders, and the outcomes of the messages each of the
    resident's two notices and each order asks for (one event per asking event)."""
    units = routes(body.get("category") or "other")
    residents = 1 if resident_channels(body["channel"]) else 0
    return filed + 1 + len(units) + 2 * residents + sum(1 for u in units if unit_channels(u))


def intake_routers() -> list[APIRouter]:
    router = APIRouter(dependencies=[PUBLIC])  # the null door checks no key
    filings = Filings()

    @router.post("/complaints")
    async def file_complaint(body: dict[str, Any], request: Request) -> JSONResponse:
        runtime: ServiceRuntime[Any, None] = request.app.state.runtime
        complaint_id, events = filings.file(body)
        async with runtime.pool.acquire() as conn, conn.transaction():
            await runtime.store.append(
                conn, f"complaint-{complaint_id}", events, Causation.start(), 0
            )
        answer = {
            "complaint_id": str(complaint_id),
            "status": ComplaintStatus.CLASSIFIED.value,
            "events": events_per_complaint(body, len(events)),
        }
        return JSONResponse(answer, status_code=201)

    return [router]


# What the complaint takes over from its lead work order when it is dispatched.
MIRRORED = {"complaint_id", "work_order_id", "responder_id", "responder_name", "due_at"}


async def mirror_lead_orders(envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
    """Each lead work order as ComplaintDispatched, appended where the complaint's stream was
    read (as every append to a complaint is: with its expected position)."""
    leads: list[tuple[Envelope, WorkOrderIssued]] = []
    for envelope in envelopes:
        order: WorkOrderIssued = envelope.event  # type: ignore[assignment]
        if order.role is ResponderRole.LEAD:
            leads.append((envelope, order))
    if not leads:
        return
    streams = [f"complaint-{order.complaint_id}" for _, order in leads]
    heads = {
        stream: len(events)
        for stream, events in (await ctx.store.read_streams(ctx.conn, streams)).items()
    }
    appends: list[tuple[str, Sequence[Event], Causation]] = []
    for stream, (envelope, order) in zip(streams, leads, strict=True):
        if stream in heads:  # else not a complaint of ours
            dispatched = ComplaintDispatched(
                status=ComplaintStatus.DISPATCHED,
                occurred_at=order.issued_at,
                **order.model_dump(include=MIRRORED),
            )
            appends.append((stream, [dispatched], envelope.follow()))
    await ctx.store.append_streams(ctx.conn, appends, expected=heads)


# --- dispatch --------------------------------------------------------------------------------


def work_orders(classified: ComplaintClassified) -> list[WorkOrderIssued]:
    now = datetime.now(UTC)
    category = city()["categories"].get(classified.category, {})
    rule = RULES.get(classified.category, "R00")
    name = category.get("name", classified.category)
    clocks = [
        OrderClock(name=clock, due_at=now + due, warn_at=now + due * 0.8)
        for clock, due in (
            ("sign", timedelta(hours=2)),
            ("contact", timedelta(days=1)),
            ("feedback", timedelta(days=11)),
        )
    ]
    orders = []
    for index, responder_id in enumerate(routes(classified.category)):
        responder = city()["responders"][responder_id]
        orders.append(
            examples.work_order_issued(
                classified.complaint_id,
                responder_id=responder_id,
                responder_name=responder["name"],
                responder_kind=responder["kind"],
                role=ResponderRole.CO if index else ResponderRole.LEAD,
                category=classified.category,
                category_name=name,
                area_code=classified.area_code,
                rule_id=rule,
                reason=f"派单目录规则 {rule}（{name} @ 平阴县），目录版本 1 Catalogue rule {rule}, version 1",
                priority=category.get("priority", "general"),
                due_at=clocks[-1].due_at,
                issued_at=now,
                clocks=clocks,
            )
        )
    return orders


async def issue_work_orders(envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
    appends: list[tuple[str, Sequence[Event], Causation]] = []
    for envelope in envelopes:
        classified: ComplaintClassified = envelope.event  # type: ignore[assignment]
        stream = f"case-{classified.complaint_id}"
        appends.append((stream, work_orders(classified), envelope.follow()))
    await ctx.store.append_streams(ctx.conn, appends)


# --- notify ----------------------------------------------------------------------------------


def notice(audience: Audience, recipient: str, channel: str, template: str) -> NotificationOutcome:
    """A delivered message, or one abandoned where the real platform abandons it: a unit with
    no directory entry has no channel, a resident of the demo has no WeChat openid."""
    if channel == UNADDRESSED:
        outcome, error = "abandoned", f"通讯录中没有 {recipient} No directory entry for {recipient}"
    elif audience is Audience.RESIDENT and channel == "wechat":
        outcome, error = (
            "abandoned",
            f"{recipient} 没有 wechat_openid No wechat_openid for {recipient}",
        )
    else:
        outcome, error = "delivered", None
    return NotificationOutcome(
        notification_id=uuid.uuid4(),
        outcome=outcome,
        audience=audience,
        recipient=recipient,
        channel=channel,
        template=template,
        attempt=1,
        error=error,
        at=datetime.now(UTC),
    )


Notices = Callable[[Any, dict[UUID, str]], list[NotificationOutcome]]


def _resident(template: str, remember: bool) -> Notices:
    def notices(event: Any, intake_channels: dict[UUID, str]) -> list[NotificationOutcome]:
        if remember:
            intake_channels[event.complaint_id] = event.channel
        recipient = f"resident:{event.complaint_id}"
        return [
            notice(Audience.RESIDENT, recipient, channel, template)
            for channel in resident_channels(intake_channels.get(event.complaint_id, "sms"))
        ]

    return notices


def _units(order: WorkOrderIssued, _: dict[UUID, str]) -> list[NotificationOutcome]:
    return [
        notice(Audience.RESPONDER, order.responder_id, channel, "work_order_issued")
        for channel in unit_channels(order.responder_id)
    ]


NOTICES: dict[type[Event], Notices] = {
    ComplaintFiled: _resident("complaint_receipt", remember=True),
    ComplaintDispatched: _resident("complaint_dispatched", remember=False),
    WorkOrderIssued: _units,
}


class Notifier:
    """Notify's batch handler: every message a batch's events ask for, recorded at once. The
    resident's channel is remembered from the filing for the dispatch notice (one process)."""

    def __init__(self) -> None:
        self.intake_channels: dict[UUID, str] = {}

    async def __call__(self, envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
        appends: list[tuple[str, Sequence[Event], Causation]] = []
        for envelope in envelopes:
            compose = NOTICES.get(type(envelope.event))
            outcomes = compose(envelope.event, self.intake_channels) if compose else []
            if outcomes:  # the outcomes of one event's messages, recorded together
                complaint_id = envelope.event.complaint_id  # type: ignore[attr-defined]
                recorded = NotificationsRecorded(complaint_id=complaint_id, outcomes=outcomes)
                stream = f"notifications-{complaint_id}"
                appends.append((stream, [recorded], envelope.follow()))
        await ctx.store.append_streams(ctx.conn, appends)


# --- reporting -------------------------------------------------------------------------------


async def count_events(envelopes: Sequence[Envelope], ctx: BatchContext) -> None:
    counts = Counter(
        complaint_id
        for e in envelopes
        if (complaint_id := getattr(e.event, "complaint_id", None)) is not None
    )
    if counts:
        await ctx.conn.execute(COUNT_EVENTS, list(counts), list(counts.values()))


async def create_null_cases(runtime: ServiceRuntime[Any, None]) -> None:
    async with runtime.pool.acquire() as conn:
        await conn.execute(NULL_CASES)


# --- the services ----------------------------------------------------------------------------


def one_by_one(batch: BatchHandler) -> Handler:
    """A handler per event doing what the batch handler does: the consumer routes records by
    these (a type with none is skipped unparsed) and, having a batch handler, calls that."""

    async def handle(event: Any, ctx: HandlerContext) -> None:
        await batch([ctx.envelope], BatchContext(ctx.conn, ctx.store))

    return handle


# The topology, as the real services have it.
PUBLISHES = {"intake": COMPLAINT_EVENTS, "dispatch": DISPATCH_EVENTS, "notify": NOTIFICATION_EVENTS}
CONSUMES = {
    "intake": [DISPATCH_EVENTS],
    "dispatch": [COMPLAINT_EVENTS],
    "notify": [COMPLAINT_EVENTS, DISPATCH_EVENTS],
    "reporting": list(EVENT_TOPICS),
}


@dataclass(frozen=True)
class NullService:
    """A null service: the real one's settings, topics and handled events (inbox rows), with a
    batch handler that does no domain work."""

    settings: type[ServiceSettings]
    batch: Callable[[], BatchHandler]  # one per process
    handled: Sequence[type[Event]] | None = None  # None: every event of the topics consumed
    routers: Callable[[], list[APIRouter]] = list
    on_start: Sequence[Worker] = ()

    def runtime(self, name: str) -> ServiceRuntime[Any, None]:
        batch = self.batch()
        handled = self.handled if self.handled is not None else events_of(*CONSUMES[name])
        return ServiceRuntime(
            self.settings(),
            publishes=PUBLISHES.get(name),
            consumes=CONSUMES[name],
            handlers=dict.fromkeys(handled, one_by_one(batch)),
            batch_handler=batch,
            on_start=self.on_start,
        )


NULL_SERVICES = {
    "intake": NullService(
        IntakeSettings, lambda: mirror_lead_orders, [WorkOrderIssued], intake_routers
    ),
    "dispatch": NullService(DispatchSettings, lambda: issue_work_orders, [ComplaintClassified]),
    "notify": NullService(NotifySettings, Notifier),
    "reporting": NullService(ReportingSettings, lambda: count_events, on_start=[create_null_cases]),
}


class NullStack(Stack):
    """The null pipeline on the runner's Postgres and broker, started and stopped by the bench
    itself (no runner process, no gateways), so that the bench's process is the root of the
    processes it measures."""

    label = "null"

    def __init__(self, state_dir: Path, ports: Mapping[str, int]) -> None:
        self.state_dir = state_dir
        self.db_prefix = f"null_{uuid.uuid4().hex[:6]}"
        self.root_pid = os.getpid()
        super().__init__(
            StackConfig.from_environment(
                state_dir=state_dir, db_prefix=self.db_prefix, seed=False, **ports
            )
        )

    async def up(self) -> dict[str, Any]:
        await self.start()
        state: dict[str, Any] = json.loads(self.config.state_file.read_text())
        return state

    async def down(self) -> None:
        await self.stop()

    async def complete(
        self, conn: asyncpg.Connection, waiting: Mapping[str, int | None]
    ) -> list[asyncpg.Record]:
        """The waiting complaints (id → events expected) whose events have all arrived, and
        when the last did."""
        ids = list(waiting)
        return await conn.fetch(
            COMPLETE_NULL_CASES, [UUID(i) for i in ids], [waiting[i] or 0 for i in ids]
        )

    def _start_sink(self) -> None:
        """Nothing is sent out: no gateway stand-in."""

    def _service_child(self, service: str) -> Child:
        return Child(
            service,
            [sys.executable, "-m", "tests.bench.null", "serve", service],
            self.logs / f"{service}.log",
            env=self._service_env(service),
            cwd=REPO,
        )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.null", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("serve", help="run one null service (settings as the real one's)")
    one.add_argument("service", choices=SERVICES)
    args = parser.parse_args()
    service = NULL_SERVICES[args.service]
    runtime = service.runtime(args.service)
    settings = runtime.settings
    configure_logging(settings)
    app = create_service_app(
        runtime,
        title=f"Jiesu 接诉 · null {args.service}",
        description=__doc__ or "",
        routers=service.routers(),
    )
    serve(app)  # as the real services are served


if __name__ == "__main__":
    main()
