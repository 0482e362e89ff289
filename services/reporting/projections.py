"""Every read model as a projection: an event in, commuting upserts out (no reads, no order).

`MODELS` names each read model's tables and its projection per event type (the meetings' in
council.py); the live consumer (handlers.py) and the rebuild (rebuild.py) run the same
functions, so a rebuilt model cannot drift from the live one."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from services.reporting import council, domain, rounds
from services.reporting.ballots import BALLOT_TABLES, BALLOTS
from services.reporting.matters import MATTERS
from services.reporting.model import SCHEMA_DIR as SCHEMA_DIR  # re-exported
from services.reporting.model import Model as Model  # re-exported
from services.reporting.upsert import NO_SEQUENCE, Upsert
from shared.envelope import Envelope
from shared.events import (
    REGISTRY,
    AgendaDecided,
    AgendaItemOpened,
    AgendaItemRaised,
    AgendaReviewed,
    AgendaTopicSet,
    CaseCancelled,
    CaseEscalated,
    CaseReclassified,
    CaseResolved,
    CaseSupervised,
    CityModelChanged,
    ComplaintAnswered,
    ComplaintCallbackRecorded,
    ComplaintClassified,
    ComplaintClosed,
    ComplaintFiled,
    ComplaintReclassified,
    ComplaintRedacted,
    ComplaintRedoRequested,
    DeliberationConcluded,
    DeliberationHeld,
    DeliberationRequested,
    Event,
    ExtensionApproved,
    GroupReplyPosted,
    NotificationAbandoned,
    NotificationDelivered,
    NotificationFailed,
    NotificationOutcome,
    NotificationRedriven,
    NotificationsRecorded,
    OnSpotFixRecorded,
    OrderClock,
    SlaBreached,
    WorkOrderCancelled,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderResolved,
    WorkOrderReturned,
    WorkOrderSigned,
    WorkOrderStarted,
    WorkOrderUrged,
)

Project = Callable[[Any, Envelope], list[Upsert]]


def _seq(envelope: Envelope) -> int:
    return envelope.sequence if envelope.sequence is not None else NO_SEQUENCE


def _case(complaint_id: UUID, **policies: Any) -> Upsert:
    return Upsert("cases", {"complaint_id": complaint_id}, **policies)


def _order(work_order_id: UUID, **policies: Any) -> Upsert:
    return Upsert("case_work_orders", {"work_order_id": work_order_id}, **policies)


# --- model "cases": complaints and work orders ---------------------------------------------


def _filed(e: ComplaintFiled, env: Envelope) -> list[Upsert]:
    s = _seq(env)
    registers: dict[str, tuple[int, Mapping[str, Any]]] = {
        "area_seq": (s, domain.place_columns(e.area_code)),
        "status_seq": (s, {"status": e.status.value, "status_at": e.filed_at}),
    }
    if e.category:
        registers["category_seq"] = (s, {"category": e.category})
    registers["personal_seq"] = (
        s,
        {
            "text": e.text,
            "address": e.address,
            "latitude": e.latitude,
            "longitude": e.longitude,
            "masked_phone": e.masked_phone,
        },
    )
    once = {"case_number": e.case_number, "channel": e.channel.value, "filed_at": e.filed_at}
    return [_case(e.complaint_id, once=once, registers=registers)]


def _redacted(e: ComplaintRedacted, env: Envelope) -> list[Upsert]:
    """The resident's erasure: what they said and where exactly go (a later event of the
    same stream than the filing, so its register wins whatever the arrival order)."""
    personal = {
        "text": None,
        "address": e.public_place,
        "latitude": None,
        "longitude": None,
        "masked_phone": None,
    }
    registers = {
        "personal_seq": (_seq(env), personal),
        "rating_comment_seq": (_seq(env), {"rating_comment": None}),
    }
    return [_case(e.complaint_id, registers=registers)]


def _lifecycle(e: Any, env: Envelope) -> list[Upsert]:
    """Every intake step after the filing: the status, and what the step itself decides."""
    s = _seq(env)
    registers: dict[str, tuple[int, Mapping[str, Any]]] = {
        "status_seq": (s, {"status": e.status.value, "status_at": e.occurred_at})
    }
    once: dict[str, Any] = {}
    greatest: dict[str, Any] = {}
    if type(e) in (ComplaintClassified, ComplaintReclassified, ComplaintRedoRequested):
        if e.type is not None:
            registers["type_seq"] = (s, {"type": e.type.value})
        if e.category is not None:
            registers["category_seq"] = (s, {"category": e.category})
        registers["area_seq"] = (s, domain.place_columns(e.area_code))
    if type(e) is ComplaintRedoRequested:
        greatest["redo_count"] = e.redo_count
    elif type(e) is ComplaintAnswered:
        once["answered_at"] = e.occurred_at
    elif type(e) is ComplaintClosed:
        greatest["closed_at"] = e.occurred_at
    elif type(e) is OnSpotFixRecorded:
        greatest["closed_at"] = e.occurred_at
        once.update(rounds.on_spot_columns(e))
    elif type(e) is ComplaintCallbackRecorded and e.contacted:
        rating = {
            "rated_at": e.occurred_at,
            "rated_resolved": e.resolved,
            "rated_satisfied": e.satisfied,
            "rated_satisfaction": e.satisfaction.value if e.satisfaction else None,
            "rated_via": e.rated_via.value if e.rated_via else None,
        }
        registers["rating_seq"] = (s, rating)
        # What the resident (or staff, of them) said: gone with their erasure, a later event.
        registers["rating_comment_seq"] = (s, {"rating_comment": e.comment})
    return [_case(e.complaint_id, once=once, greatest=greatest, registers=registers)]


_CLOCK_COLUMNS = {"sign": "sign_due_at", "contact": "contact_due_at", "feedback": "due_at"}


def _clock(clock: OrderClock, s: int) -> dict[str, tuple[int, Mapping[str, Any]]]:
    """A clock's deadline as its own register (an unknown clock sets nothing)."""
    column = _CLOCK_COLUMNS.get(clock.name)
    return {f"{clock.name}_seq": (s, {column: clock.due_at})} if column else {}


def _issued(e: WorkOrderIssued, env: Envelope) -> list[Upsert]:
    s = _seq(env)
    registers: dict[str, tuple[int, Mapping[str, Any]]] = {
        "feedback_seq": (s, {"due_at": e.due_at})
    }
    for clock in e.clocks:
        registers.update(_clock(clock, s))
    once = {
        "complaint_id": e.complaint_id,
        "responder_id": e.responder_id,
        "responder_name": e.responder_name,
        "responder_kind": e.responder_kind,
        "role": e.role.value,
        "purpose": e.purpose,
        "round": e.round,
        "priority": e.priority,
        "category": e.category,
        "area_code": e.area_code,
        "rule_id": e.rule_id,
        **e.model_dump(include={"reason", "task", "issued_at", "registration_id", "cadre"}),
    }
    writes = [_order(e.work_order_id, once=once, registers=registers)]
    if e.role == "lead":
        lead = {
            "lead_work_order_id": e.work_order_id,
            "lead_responder_id": e.responder_id,
            "lead_responder_name": e.responder_name,
            "lead_responder_kind": e.responder_kind,
            "category_name": e.category_name,
        }
        state = {"dispatch_state": "open", "dispatch_state_at": e.issued_at}
        writes.append(
            _case(
                e.complaint_id,
                least={"dispatched_at": e.issued_at},
                registers={"lead_seq": (s, lead), "dispatch_state_seq": (s, state)},
            )
        )
    return writes


def _step(column: str, at: str, **extra: str) -> Project:
    """A work order's step: the event sets its own columns once."""

    def project(e: Any, env: Envelope) -> list[Upsert]:
        once = {"complaint_id": e.complaint_id, column: getattr(e, at)}
        once.update({target: getattr(e, source) for target, source in extra.items()})
        return [_order(e.work_order_id, once=once)]

    return project


def _extended(e: ExtensionApproved, env: Envelope) -> list[Upsert]:
    once = {"complaint_id": e.complaint_id, "extended": True}
    return [_order(e.work_order_id, once=once, registers=_clock(e.clock, _seq(env)))]


def _breached(e: SlaBreached, env: Envelope) -> list[Upsert]:
    return [
        _order(
            e.work_order_id,
            once={"complaint_id": e.complaint_id},
            least={"first_breached_at": e.breached_at},
        )
    ]


def _urged(e: WorkOrderUrged, env: Envelope) -> list[Upsert]:
    return [
        _order(
            e.work_order_id,
            once={"complaint_id": e.complaint_id},
            greatest={"urged_at": e.urged_at},
        ),
        _case(e.complaint_id, greatest={"last_urged_at": e.urged_at}),
    ]


def _case_state(state: str, at: str, report: str | None = None) -> Project:
    def project(e: Any, env: Envelope) -> list[Upsert]:
        when: datetime = getattr(e, at)
        columns: dict[str, Any] = {"dispatch_state": state, "dispatch_state_at": when}
        registers: dict[str, tuple[int, Mapping[str, Any]]] = {
            "dispatch_state_seq": (_seq(env), columns)
        }
        greatest: dict[str, Any] = {}
        if report:
            greatest["resolved_at"] = when
            registers["resolved_seq"] = (_seq(env), {"resolution_report": getattr(e, report)})
        if type(e) is CaseReclassified:  # a new category starts a new ladder
            registers["escalation_seq"] = (
                _seq(env),
                {"escalation_level": None, "escalated_to": None},
            )
        return [_case(e.complaint_id, greatest=greatest, registers=registers)]

    return project


def _escalated(e: CaseEscalated, env: Envelope) -> list[Upsert]:
    ladder = {"escalation_level": e.to_level, "escalated_to": e.responder_name}
    return [_case(e.complaint_id, registers={"escalation_seq": (_seq(env), ladder)})]


def _supervised(e: CaseSupervised, env: Envelope) -> list[Upsert]:
    return [_case(e.complaint_id, greatest={"last_supervised_at": e.supervised_at})]


def _deliberation(e: DeliberationRequested | DeliberationConcluded, env: Envelope) -> list[Upsert]:
    on_agenda = type(e) is DeliberationRequested
    columns = {"deliberating": on_agenda, "agenda_item_id": e.item_id}
    writes = [_case(e.complaint_id, registers={"deliberation_seq": (_seq(env), columns)})]
    if type(e) is DeliberationConcluded and e.clock and e.lead_work_order_id:
        once = {"complaint_id": e.complaint_id}
        writes.append(_order(e.lead_work_order_id, once=once, registers=_clock(e.clock, _seq(env))))
    return writes


CASES: dict[type[Event], Project] = {
    ComplaintFiled: _filed,
    ComplaintRedacted: _redacted,
    **dict.fromkeys(domain.LIFECYCLE, _lifecycle),
    WorkOrderIssued: _issued,
    WorkOrderSigned: _step("signed_at", "signed_at", signed_by="actor"),
    WorkOrderContacted: _step("contacted_at", "contacted_at"),
    WorkOrderStarted: _step("started_at", "started_at"),
    WorkOrderResolved: _step("resolved_at", "resolved_at", report="report"),
    WorkOrderReturned: _step("returned_at", "returned_at", return_reason="reason"),
    WorkOrderCancelled: _step("cancelled_at", "cancelled_at"),
    # The member on duty's public reply in the residents' WeChat group ends the group-reply order.
    GroupReplyPosted: _step("resolved_at", "replied_at", report="reply"),
    ExtensionApproved: _extended,
    SlaBreached: _breached,
    WorkOrderUrged: _urged,
    CaseResolved: _case_state("resolved", "resolved_at", report="report"),
    CaseCancelled: _case_state("cancelled", "cancelled_at"),
    CaseReclassified: _case_state("open", "reclassified_at"),
    CaseEscalated: _escalated,
    CaseSupervised: _supervised,
    REGISTRY["CaseHandDispatched"]: _step("resolved_at", "dispatched_at", report="reason"),
    DeliberationRequested: _deliberation,
    DeliberationConcluded: _deliberation,
}


# --- model "timeline": every step in words, and each notification's state -----------------


def _said(complaint_id: UUID, env: Envelope, event_type: str, summary: str) -> dict[str, Any]:
    """A timeline line's columns: the step in words, and the trace of the hop that carried it
    (the envelope's W3C traceparent, where the platform traces)."""
    return {
        "complaint_id": complaint_id,
        "type": event_type,
        "occurred_at": env.time,
        "source": env.source,
        "summary": summary,
        "trace_id": domain.trace_id(getattr(env, "traceparent", None)),
    }


def _line(e: Any, env: Envelope, summary: str) -> Upsert:
    once = _said(e.complaint_id, env, env.type, summary)
    explain = domain.DECISIONS.get(type(e))
    if explain is not None:
        decision = explain(e)
        once.update(
            reason=decision.reason, rule_id=decision.rule_id, rule_version=decision.rule_version
        )
    return Upsert("case_timeline", {"event_id": env.id}, once=once)


def _words(summarise: Callable[[Any], str]) -> Project:
    return lambda e, env: [_line(e, env, summarise(e))]


# The outcomes in a complaint's stream come after any its message had in a stream of its own
# (the per-message events before `NotificationsRecorded`), whatever their positions.
AFTER_PER_MESSAGE = 1 << 30
# A timeline line per message outcome, named as the per-message events were.
OUTCOME_TYPES = {
    "delivered": NotificationDelivered.event_type,
    "failed": NotificationFailed.event_type,
    "abandoned": NotificationAbandoned.event_type,
    "redriven": NotificationRedriven.event_type,
}


def _outcome(
    complaint_id: UUID, o: NotificationOutcome, seq: int, line: UUID, env: Envelope
) -> list[Upsert]:
    failed = "retrying" if o.retry_at else "abandoned"  # a failure with no retry gave up
    status = failed if o.outcome == "failed" else o.outcome
    once: dict[str, Any] = {"complaint_id": complaint_id, "channel": o.channel}
    greatest: dict[str, Any] = {"updated_at": o.at}
    if o.outcome != "redriven":
        once.update(audience=o.audience.value, recipient=o.recipient, template=o.template)
        greatest["attempts"] = o.attempt
    error = None if o.outcome in ("delivered", "redriven") else o.error
    row = Upsert(
        "case_notifications",
        {"notification_id": o.notification_id},
        once=once,
        greatest=greatest,
        registers={"outcome_seq": (seq, {"status": status, "last_error": error})},
    )
    said = _said(complaint_id, env, OUTCOME_TYPES[o.outcome], domain.summarise_notification(o))
    return [row, Upsert("case_timeline", {"event_id": line}, once=said)]


def _notification(e: Any, env: Envelope) -> list[Upsert]:
    return _outcome(e.complaint_id, domain.as_outcome(e), _seq(env), env.id, env)


def _notifications(e: NotificationsRecorded, env: Envelope) -> list[Upsert]:
    seq = AFTER_PER_MESSAGE + _seq(env)
    return [
        upsert
        for o in e.outcomes
        for upsert in _outcome(
            e.complaint_id, o, seq, uuid.uuid5(env.id, str(o.notification_id)), env
        )
    ]


TIMELINE: dict[type[Event], Project] = {
    ComplaintFiled: _words(domain.summarise_filed),
    WorkOrderIssued: _words(domain.summarise_issued),
    **dict.fromkeys(
        domain.LIFECYCLE, _words(lambda e: domain.summarise_lifecycle(e.event_type, e.status.value))
    ),
    **{REGISTRY[name]: _words(domain.summarise_dispatch) for name in domain.DISPATCH_LABELS},
    **dict.fromkeys(
        (NotificationDelivered, NotificationFailed, NotificationAbandoned, NotificationRedriven),
        _notification,
    ),
    NotificationsRecorded: _notifications,
}


# --- model "agenda": 议事清单 and the district's joint meeting ------------------------------


def _item(item_id: UUID, complaint_id: UUID, **policies: Any) -> Upsert:
    once = {"complaint_id": complaint_id, **policies.pop("once", {})}
    return Upsert("agenda_items", {"item_id": item_id}, once=once, **policies)


def _stage(
    stage: str, level: str, at: datetime, s: int
) -> dict[str, tuple[int, Mapping[str, Any]]]:
    return {"stage_seq": (s, {"stage": stage, "level": level, "stage_at": at})}


def _agenda(e: Any, env: Envelope) -> list[Upsert]:
    s = _seq(env)
    if type(e) is AgendaItemOpened:
        once = {
            "community_code": e.community_code,
            "community_name": e.community_name,
            "title": e.title,
            "reason": e.reason,
            "opened_by": e.actor,
            "opened_at": e.opened_at,
        }
        return [
            _item(
                e.item_id,
                e.complaint_id,
                once=once,
                registers=_stage("collected", "community", e.opened_at, s),
            )
        ]
    if type(e) is AgendaTopicSet:
        registers = _stage("topic_set", e.level, e.set_at, s)
        registers["topic_seq"] = (s, {"topic": e.topic, "parties": e.parties})
    elif type(e) is DeliberationHeld:
        registers = _stage("deliberated" if e.settled else "unsettled", e.level, e.held_at, s)
        held = {"minutes": e.minutes, "settled": e.settled, "participants": e.participants}
        held |= {"held_at": e.held_at, "held_ballot_id": e.ballot_id}
        registers["held_seq"] = (s, held)
    elif type(e) is AgendaDecided:
        registers = _stage("assigned", e.level, e.decided_at, s)
        assignments = [a.model_dump(mode="json") for a in e.assignments]
        decided = {"decision": e.decision, "assignments": assignments, "decided_at": e.decided_at}
        decided["cost_shares"] = [c.model_dump(mode="json") for c in e.cost_shares]
        registers["decided_seq"] = (s, decided)
    elif type(e) is AgendaReviewed:
        registers = _stage("reviewed", e.level, e.reviewed_at, s)
        reviewed = {
            "verdict": e.verdict,
            "review_satisfied": e.satisfied,
            "reviewed_at": e.reviewed_at,
        }
        registers["reviewed_seq"] = (s, reviewed)
    else:  # AgendaItemRaised: the district takes it from the first step, its topic open again
        registers = _stage("collected", e.to_level, e.raised_at, s)
        registers["topic_seq"] = (s, {"topic": None, "parties": None})
        once = {
            "district_code": e.district_code,
            "raised_at": e.raised_at,
            "raise_reason": e.reason,
        }
        return [_item(e.item_id, e.complaint_id, once=once, registers=registers)]
    return [_item(e.item_id, e.complaint_id, registers=registers)]


AGENDA: dict[type[Event], Project] = dict.fromkeys(
    (
        AgendaItemOpened,
        AgendaTopicSet,
        DeliberationHeld,
        AgendaDecided,
        AgendaReviewed,
        AgendaItemRaised,
    ),
    _agenda,
)


# --- model "city": names of areas and units -------------------------------------------------

_CITY_SECTIONS = {
    "areas": ("areas", "code"),
    "responders": ("responders", "id"),
    "categories": ("categories", "code"),
}
_PARTS = 1_000_000  # changes per event, at most: orders one event's changes after the last


def _city(e: CityModelChanged, env: Envelope) -> list[Upsert]:
    writes = []
    for index, change in enumerate(e.changes):
        if change.section not in _CITY_SECTIONS or change.op == "order":
            continue  # (a section's new order names no item: the read models keep none)
        table, key = _CITY_SECTIONS[change.section]
        value = change.value if isinstance(change.value, dict) else {}
        seq = max(_seq(env), 0) * _PARTS + index
        # Whether it is in the model, and what it is called, are registers of their own: a
        # removal keeps the name that reports of its old matters still use.
        registers: dict[str, tuple[int, Mapping[str, Any]]] = {
            "removed_seq": (seq, {"removed": change.op == "remove"})
        }
        if change.op != "remove":
            registers["change_seq"] = (seq, _city_columns(table, value))
        writes.append(Upsert(table, {key: change.key}, registers=registers))
    return writes


def _city_columns(table: str, value: dict[str, Any]) -> dict[str, Any]:
    if table == "areas":
        return {
            "name": value.get("name"),
            "level": value.get("level"),
            "parent": value.get("parent"),
        }
    if table == "categories":
        return {
            "name": value.get("name"),
            "category_group": value.get("group"),
            "priority": value.get("priority"),
        }
    return {
        "name": value.get("name"),
        "kind": value.get("kind"),
        "person": value.get("person"),
        "areas": value.get("areas") or [],
    }


CITY: dict[type[Event], Project] = {CityModelChanged: _city}


MODELS: dict[str, Model] = {
    model.name: model
    for model in (
        Model(
            "cases",
            "案件与工单（督办墙、统计指标、排名、热点）",
            6,  # v6: 随手做 (fixed on the spot: when, what was done, by whom, on which patrol)
            ("cases", "case_work_orders"),
            CASES,
        ),
        Model(
            "timeline",
            "全程时间线与通知",
            3,  # v3: each decision's reason (and rule, version), each hop's trace
            ("case_timeline", "case_notifications"),
            TIMELINE,
            appended=("case_timeline",),
        ),
        Model("agenda", "议事清单", 2, ("agenda_items",), AGENDA),  # v2: ballot, 联合出资
        Model("ballots", "征求意见与表决", 1, BALLOT_TABLES, BALLOTS, appended=BALLOT_TABLES[1:]),
        Model("matters", "政务事项（督办墙）", 1, ("service_matters",), MATTERS),
        Model("city", "区域、承办单位与类别名称", 2, ("areas", "responders", "categories"), CITY),
        Model("meetings", "社区大党委与联席会议", 1, council.TABLES, council.MEETINGS),
        Model(
            "patrols", "网格巡查与发现", 1, rounds.TABLES, rounds.PATROLS, appended=rounds.TABLES
        ),
    )
}


def project(envelope: Envelope, models: Mapping[str, Model] = MODELS) -> list[Upsert]:
    writes: list[Upsert] = []
    for model in models.values():
        projection = model.projections.get(type(envelope.event))
        if projection is not None:
            writes += projection(envelope.event, envelope)
    return writes
