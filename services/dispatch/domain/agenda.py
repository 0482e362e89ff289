"""Deliberation (议事): an agenda item's pure decisions, through "四方五步" —
收集问题 → 确定议题 → 协商议事 → 分流落实 → 监督评审 — in the community, and, when the community
cannot settle it, again at the district's joint meeting (大党委联席会议); and who may put a case
on an agenda and run it.

A decision that changes the item and the case returns both: (the item's events, the case's).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from services.dispatch.domain.case import CO, Case, Purpose, occurred_at, then
from services.dispatch.domain.city import CityModel, Responder, ResponderKind
from services.dispatch.domain.governance import RegistrationIn
from services.dispatch.domain.orders import completion
from services.dispatch.domain.rules import (
    Acting,
    IllegalTransition,
    NotAllowed,
    Rules,
    issue_on,
    open_case,
)
from shared.deadlines import ClockName, PriorityTier
from shared.events import (
    AgendaAssignment,
    AgendaDecided,
    AgendaItemOpened,
    AgendaItemRaised,
    AgendaReviewed,
    AgendaTopicSet,
    CostShare,
    DeliberationConcluded,
    DeliberationHeld,
    DeliberationRequested,
    Event,
    WorkOrderIssued,
)
from shared.events.area import AreaLevel


class Stage(StrEnum):
    COLLECTED = "collected"  # 收集问题
    TOPIC_SET = "topic_set"  # 确定议题
    UNSETTLED = "unsettled"  # 协商未果
    DELIBERATED = "deliberated"  # 协商议事（达成一致）
    ASSIGNED = "assigned"  # 分流落实
    REVIEWED = "reviewed"  # 监督评审（结束）


STAGE_LABELS = {
    Stage.COLLECTED: "收集问题",
    Stage.TOPIC_SET: "确定议题",
    Stage.UNSETTLED: "协商未果",
    Stage.DELIBERATED: "协商议事",
    Stage.ASSIGNED: "分流落实",
    Stage.REVIEWED: "监督评审",
}


class AgendaLevel(StrEnum):
    COMMUNITY = "community"  # 社区议事会
    DISTRICT = "district"  # 区县"大党委"联席会议


LEVEL_LABELS = {AgendaLevel.COMMUNITY: "社区议事会", AgendaLevel.DISTRICT: "区县大党委联席会议"}


@dataclass(frozen=True, slots=True)
class AgendaItem:
    item_id: UUID
    complaint_id: UUID
    community_code: str
    community_name: str
    title: str
    reason: str
    level: AgendaLevel
    stage: Stage
    opened_at: datetime
    updated_at: datetime
    district_code: str | None = None
    topic: str | None = None
    parties: tuple[str, ...] = ()
    meetings: tuple[DeliberationHeld, ...] = ()
    decision: str | None = None
    assignments: tuple[AgendaAssignment, ...] = ()
    cost_shares: tuple[CostShare, ...] = ()  # 联合出资
    verdict: str | None = None
    satisfied: bool | None = None
    history: tuple[tuple[str, str, datetime], ...] = ()  # (level, stage, when)
    version: int = 0


def _opened(_: AgendaItem | None, e: AgendaItemOpened) -> AgendaItem:
    return AgendaItem(
        item_id=e.item_id,
        complaint_id=e.complaint_id,
        community_code=e.community_code,
        community_name=e.community_name,
        title=e.title,
        reason=e.reason,
        level=AgendaLevel.COMMUNITY,
        stage=Stage.COLLECTED,
        opened_at=e.opened_at,
        updated_at=e.opened_at,
    )


def _held(item: AgendaItem, e: DeliberationHeld) -> AgendaItem:
    return replace(
        item,
        stage=Stage.DELIBERATED if e.settled else Stage.UNSETTLED,
        meetings=(*item.meetings, e),
    )


def _raised(item: AgendaItem, e: AgendaItemRaised) -> AgendaItem:
    return replace(
        item,
        level=AgendaLevel(e.to_level),
        stage=Stage.COLLECTED,
        district_code=e.district_code,
        topic=None,
        parties=(),
    )


_EVOLVE: dict[type[Event], Callable[[Any, Any], AgendaItem]] = {
    AgendaItemOpened: _opened,
    AgendaTopicSet: lambda i, e: replace(
        i, stage=Stage.TOPIC_SET, topic=e.topic, parties=tuple(e.parties)
    ),
    DeliberationHeld: _held,
    AgendaDecided: lambda i, e: replace(
        i,
        stage=Stage.ASSIGNED,
        decision=e.decision,
        assignments=tuple(e.assignments),
        cost_shares=tuple(e.cost_shares),
    ),
    AgendaReviewed: lambda i, e: replace(
        i, stage=Stage.REVIEWED, verdict=e.verdict, satisfied=e.satisfied
    ),
    AgendaItemRaised: _raised,
}
AGENDA_EVENTS = tuple(_EVOLVE)


def evolve(item: AgendaItem | None, event: Event) -> AgendaItem:
    if item is None and not isinstance(event, AgendaItemOpened):
        raise ValueError(f"an agenda stream starts with AgendaItemOpened, not {event.event_type}")
    after = _EVOLVE[type(event)](item, event)
    at = occurred_at(event)
    return replace(
        after,
        updated_at=at,
        history=(*after.history, (after.level.value, after.stage.value, at)),
        version=(item.version if item else 0) + 1,
    )


def fold(events: Iterable[Event]) -> AgendaItem | None:
    item: AgendaItem | None = None
    for event in events:
        item = evolve(item, event)
    return item


def _require(item: AgendaItem, allowed: set[Stage], action: str) -> None:
    if item.stage not in allowed:
        raise IllegalTransition(
            f"议事项「{item.title}」当前在「{LEVEL_LABELS[item.level]} · {STAGE_LABELS[item.stage]}」阶段，"
            f"不能{action}。"
        )


def open_item(
    item_id: UUID,
    complaint_id: UUID,
    community_code: str,
    community_name: str,
    title: str,
    reason: str,
    actor: str,
    now: datetime,
) -> list[Event]:
    return [
        AgendaItemOpened(
            item_id=item_id,
            complaint_id=complaint_id,
            community_code=community_code,
            community_name=community_name,
            title=title,
            reason=reason,
            actor=actor,
            opened_at=now,
        )
    ]


def set_topic(
    item: AgendaItem, topic: str, parties: list[str], actor: str, now: datetime
) -> list[Event]:
    _require(item, {Stage.COLLECTED, Stage.TOPIC_SET, Stage.UNSETTLED}, "确定议题")
    return [
        AgendaTopicSet(
            item_id=item.item_id,
            complaint_id=item.complaint_id,
            level=item.level.value,
            topic=topic,
            parties=parties,
            actor=actor,
            set_at=now,
        )
    ]


def hold(
    item: AgendaItem,
    participants: list[str],
    minutes: str,
    settled: bool,
    actor: str,
    now: datetime,
) -> list[Event]:
    _require(item, {Stage.TOPIC_SET, Stage.UNSETTLED}, "协商议事")
    return [
        DeliberationHeld(
            item_id=item.item_id,
            complaint_id=item.complaint_id,
            level=item.level.value,
            participants=participants,
            minutes=minutes,
            settled=settled,
            actor=actor,
            held_at=now,
        )
    ]


def decide(
    item: AgendaItem,
    decision: str,
    assignments: list[AgendaAssignment],
    actor: str,
    now: datetime,
    cost_shares: list[CostShare] | None = None,
) -> list[Event]:
    _require(item, {Stage.DELIBERATED}, "分流落实")
    return [
        AgendaDecided(
            item_id=item.item_id,
            complaint_id=item.complaint_id,
            level=item.level.value,
            decision=decision,
            assignments=assignments,
            actor=actor,
            decided_at=now,
            cost_shares=cost_shares or [],
        )
    ]


def review(
    item: AgendaItem, verdict: str, satisfied: bool, actor: str, now: datetime
) -> list[Event]:
    _require(item, {Stage.ASSIGNED}, "监督评审")
    return [
        AgendaReviewed(
            item_id=item.item_id,
            complaint_id=item.complaint_id,
            level=item.level.value,
            verdict=verdict,
            satisfied=satisfied,
            actor=actor,
            reviewed_at=now,
        )
    ]


def district_of(item: AgendaItem, model: CityModel) -> str:
    """The district whose joint meeting takes an item its community could not settle."""
    district = model.enclosing(item.community_code, AreaLevel.DISTRICT)
    if district is None:
        raise IllegalTransition("找不到该社区所属区县 No district above this community")
    return district


def raise_to_district(
    item: AgendaItem, district_code: str, reason: str, actor: str, now: datetime
) -> list[Event]:
    if item.level is AgendaLevel.DISTRICT:
        raise IllegalTransition(
            f"议事项「{item.title}」已在区县大党委联席会议议程上 Already on the district agenda"
        )
    _require(item, {Stage.COLLECTED, Stage.TOPIC_SET, Stage.UNSETTLED}, "提交区县大党委联席会议")
    return [
        AgendaItemRaised(
            item_id=item.item_id,
            complaint_id=item.complaint_id,
            from_level=item.level.value,
            to_level=AgendaLevel.DISTRICT.value,
            district_code=district_code,
            reason=reason,
            actor=actor,
            raised_at=now,
        )
    ]


# ---------------------------------------------------------------------------------------------
# Deliberation (议事) as the case sees it
# ---------------------------------------------------------------------------------------------


def send_to_deliberation(
    case: Case, item_id: UUID, community_code: str, reason: str, actor: str, now: datetime
) -> list[Event]:
    open_case(case, "提交议事")
    if case.deliberation is not None:
        raise IllegalTransition(f"诉求 {case.complaint_id} 已在议事中 Already on an agenda")
    return [
        DeliberationRequested(
            complaint_id=case.complaint_id,
            item_id=item_id,
            community_code=community_code,
            reason=reason,
            actor=actor,
            sent_at=now,
        )
    ]


def open_deliberation(
    case: Case, acting: Acting, title: str | None, reason: str, now: datetime, rules: Rules
) -> tuple[list[Event], list[Event]]:
    """提交社区议事: an item opened on the agenda of the case's community, and the case sent to
    it. The lead, the community's committee or a supervisor of the area may."""
    model = rules.model
    community = model.enclosing(case.area_code, AreaLevel.COMMUNITY)
    if community is None:
        raise IllegalTransition("该诉求所在区域不属于任何社区，无法提交社区议事 No community here")
    lead = case.lead
    is_lead = lead is not None and lead.is_open and acting.holds(lead.responder.id)
    if not (
        is_lead
        or committee_of(acting, case.area_code, model)
        or acting.supervises(model, case.area_code)
    ):
        raise NotAllowed("只有主办单位、社区居委会或督办人员可以提交议事 Not allowed")
    known = model.categories.get(case.category or "")
    item_id = uuid4()
    opened = open_item(
        item_id,
        case.complaint_id,
        community,
        model.area_names[community],
        title or (known.name if known else "社区议题"),
        reason,
        acting.actor,
        now,
    )
    return opened, send_to_deliberation(case, item_id, community, reason, acting.actor, now)


@dataclass(frozen=True, slots=True)
class Duty:
    """What a deliberation decision asks of one unit."""

    responder: Responder
    task: str
    due_at: datetime | None = None
    registration: RegistrationIn | None = None  # 双报到: the registered cadre or unit


def conclude_deliberation(
    case: Case, item_id: UUID, decision: str, duties: list[Duty], now: datetime, rules: Rules
) -> list[Event]:
    """议事清单 → 履职清单: each duty becomes a work order; the lead's clock runs again."""
    if case.deliberation != item_id:
        raise IllegalTransition(f"诉求 {case.complaint_id} 不在该议事项中 Not on this agenda item")
    orders: list[Event] = [
        issue_on(
            case,
            rules,
            responder=duty.responder,
            role=CO,
            purpose=Purpose.DELIBERATION,
            reason=f"议事决定：{decision} Assigned by the deliberation",
            now=now,
            task=duty.task,
            feedback_due=duty.due_at,
            registration=duty.registration,
        )
        for duty in duties
    ]
    lead = case.lead if case.lead and case.lead.is_open else None
    feedback = None
    if lead is not None:
        steps = rules.model.time_limits.for_order(
            PriorityTier(case.priority), case.category, lead.purpose.value
        )
        if steps.feedback:
            feedback = rules.clock(ClockName.FEEDBACK, now, steps.feedback)
    concluded = DeliberationConcluded(
        complaint_id=case.complaint_id,
        item_id=item_id,
        decision=decision,
        lead_work_order_id=lead.work_order_id if lead else None,
        clock=feedback,
        concluded_at=now,
    )
    events = [*orders, concluded]
    return events + completion(then(case, events), now)


def assignment(order: WorkOrderIssued) -> AgendaAssignment:
    """A duty as its decision records it: the unit, the task and the order it became."""
    return AgendaAssignment(
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        task=order.task or "",
        due_at=order.due_at,
        work_order_id=order.work_order_id,
    )


def assign(
    item: AgendaItem,
    case: Case,
    decision: str,
    duties: list[Duty],
    actor: str,
    now: datetime,
    rules: Rules,
    cost_shares: list[CostShare] | None = None,
) -> tuple[list[Event], list[Event]]:
    """分流落实: the item's decision, naming the work order each duty became, and who pays
    what (联合出资)."""
    decide(item, decision, [], actor, now)  # the stage check, before any order
    case_events = conclude_deliberation(case, item.item_id, decision, duties, now, rules)
    assignments = [assignment(e) for e in case_events if isinstance(e, WorkOrderIssued)]
    return decide(item, decision, assignments, actor, now, cost_shares), case_events


# ---------------------------------------------------------------------------------------------
# Who may run an agenda
# ---------------------------------------------------------------------------------------------


def committee_of(acting: Acting, area_code: str, model: CityModel) -> bool:
    """Whether `acting` is the community committee (居委会) serving `area_code`."""
    unit = acting.responder
    return (
        unit is not None
        and unit.kind is ResponderKind.COMMUNITY_COMMITTEE
        and any(model.within(area_code, a) for a in model.served[unit.id])
    )


def must_run(acting: Acting, item: AgendaItem, model: CityModel) -> None:
    """The community's committee runs its agenda, the district government the district's;
    supervisors of the area run both."""
    place = (
        item.community_code if item.level is AgendaLevel.COMMUNITY else (item.district_code or "")
    )
    if acting.supervises(model, place):
        return
    if item.level is AgendaLevel.COMMUNITY and committee_of(acting, item.community_code, model):
        return
    raise NotAllowed(
        f"只有{item.community_name}居委会、属地街道或督办人员可以推进该议事项 Not this key's agenda"
    )
