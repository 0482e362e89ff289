"""Events owned by dispatch, published on `dispatch.events`.

A case (派单案件) is one complaint as dispatch follows it: all its work orders, clocks,
returns, escalations and deliberations are events of one stream, so they stay in order.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.events.ballots import CostShare
from shared.events.base import Event


class ResponderRole(StrEnum):
    LEAD = "lead"  # 主办 (首接负责)
    CO = (
        "co"  # 协办: co-responders, whistled departments, units a deliberation assigns, supervisors
    )


class OrderClock(BaseModel):
    """One of a work order's clocks: when it runs out and when it warns."""

    model_config = ConfigDict(frozen=True)
    name: str = Field(description="sign 签收 | contact 联系诉求人 | feedback 办理反馈")
    due_at: datetime
    warn_at: datetime


class CityChange(BaseModel):
    """One item of the city model put or removed."""

    model_config = ConfigDict(frozen=True)
    section: str = Field(description="areas | responders | categories | catalogue | settings")
    op: str = Field(description="put | remove")
    key: str
    value: Any = None


class CityModelChanged(Event):
    """Part of a new version of the city model: the items it puts or removes.

    A version may take several parts (a large city does not fit one message); the
    `CityModelLoaded` that follows them says the version is complete.
    """

    event_type = "CityModelChanged"
    version = 1

    catalogue_version: int
    part: int
    parts: int
    changes: list[CityChange]
    actor: str
    reason: str
    changed_at: datetime


class CityModelLoaded(Event):
    """A version of the city's areas, responders and dispatch catalogue (派单目录) is complete."""

    event_type = "CityModelLoaded"
    version = 1

    catalogue_version: int
    checksum: str
    city_name: str
    areas: int
    responders: int
    rules: int
    loaded_at: datetime
    changes: int | None = None
    actor: str | None = None
    reason: str | None = None


class CalendarLoaded(Event):
    """A year's public holidays and make-up workdays (调休) were loaded for working-day limits."""

    event_type = "CalendarLoaded"
    version = 1

    year: int
    holidays: list[dict[str, Any]]
    workdays: list[dict[str, Any]]
    source: str | None
    actor: str
    loaded_at: datetime


class WorkOrderIssued(Event):
    """A work order (工单) was sent to a responder, with the reason it was routed there."""

    event_type = "WorkOrderIssued"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    responder_name: str
    responder_kind: str
    role: ResponderRole
    category: str | None
    area_code: str
    rule_id: str | None
    catalogue_version: int
    reason: str
    priority: str
    due_at: datetime  # the feedback deadline (办理时限)
    issued_at: datetime
    # dispatch 派单 | redo 重办 | reroute 改派 | arbitration 裁定 | escalation 升级督办 |
    # whistle 吹哨报到 | deliberation 议事分流
    purpose: str = "dispatch"
    clocks: list[OrderClock] = Field(default_factory=list)
    round: int = 1
    task: str | None = None  # what a deliberation decision asks of the unit
    category_name: str | None = None  # the category as people call it (房屋漏水)
    registration_id: str | None = None  # 双报到: the registered unit or cadre taking the duty
    cadre: str | None = None  # the cadre's name (staff, as 责任人 is; never a phone number)


class WorkOrderSigned(Event):
    """The responder signed for the work order (签收)."""

    event_type = "WorkOrderSigned"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    responder_name: str
    role: ResponderRole
    signed_at: datetime
    actor: str | None = None
    note: str | None = None


class WorkOrderContacted(Event):
    """The responder contacted the resident (联系诉求人)."""

    event_type = "WorkOrderContacted"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    note: str
    actor: str
    contacted_at: datetime
    role: ResponderRole | None = None
    responder_name: str | None = None


class WorkOrderStarted(Event):
    """The responder is handling the demand on site (办理中)."""

    event_type = "WorkOrderStarted"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    note: str
    actor: str
    started_at: datetime


class ExtensionRequested(Event):
    """The responder asked for more time (申请延期)."""

    event_type = "ExtensionRequested"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    current_due_at: datetime
    requested_due_at: datetime
    reason: str
    actor: str
    requested_at: datetime


class ExtensionApproved(Event):
    """A supervisor granted the extension: the feedback clock runs to the new deadline."""

    event_type = "ExtensionApproved"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    previous_due_at: datetime
    clock: OrderClock
    reason: str
    actor: str
    approved_at: datetime


class ExtensionRefused(Event):
    """A supervisor refused the extension: the deadline stands."""

    event_type = "ExtensionRefused"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    reason: str
    actor: str
    refused_at: datetime


class WorkOrderResolved(Event):
    """The responder reported back (反馈) on its part of the case."""

    event_type = "WorkOrderResolved"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    responder_name: str
    role: ResponderRole
    report: str
    actor: str
    resolved_at: datetime


class WorkOrderReturned(Event):
    """The responder returned the order as not its business (退单), with the reason."""

    event_type = "WorkOrderReturned"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    responder_name: str
    role: ResponderRole
    reason: str
    suggested_responder_id: str | None
    actor: str
    returned_at: datetime
    supervisor_ids: list[str] = Field(default_factory=list)


class WorkOrderCancelled(Event):
    """The order no longer applies (withdrawn, merged, reclassified, case finished)."""

    event_type = "WorkOrderCancelled"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    reason: str
    cancelled_at: datetime


class CaseResolved(Event):
    """The lead reported back (反馈) and every co-responder finished: the case is handled."""

    event_type = "CaseResolved"
    version = 1

    complaint_id: UUID
    lead_work_order_id: UUID
    lead_responder_id: str
    report: str
    resolved_at: datetime


class CaseReclassified(Event):
    """Intake changed what the complaint is about: its routing starts afresh (the old
    category's returns, arbitration and escalation no longer apply)."""

    event_type = "CaseReclassified"
    version = 1

    complaint_id: UUID
    category: str | None
    previous_category: str | None
    area_code: str
    reason: str
    reclassified_at: datetime


class CaseCancelled(Event):
    """The complaint was withdrawn or merged: nothing more is asked of anyone (until it reopens)."""

    event_type = "CaseCancelled"
    version = 1

    complaint_id: UUID
    reason: str
    cancelled_at: datetime


class ArbitrationRequested(Event):
    """Nobody the catalogue names will take the case: the street must decide who does (裁定)."""

    event_type = "ArbitrationRequested"
    version = 1

    complaint_id: UUID
    arbitrator_id: str
    arbitrator_name: str
    returned_work_order_id: UUID
    reason: str
    requested_at: datetime


class ArbitrationDecided(Event):
    """The street decided who leads the case; that unit may not return it again."""

    event_type = "ArbitrationDecided"
    version = 1

    complaint_id: UUID
    arbitrator_id: str
    responder_id: str
    reason: str
    actor: str
    decided_at: datetime


class SlaWarned(Event):
    """A work order's clock is close to running out (预警)."""

    event_type = "SlaWarned"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    responder_name: str
    role: ResponderRole
    clock: str
    due_at: datetime
    warned_at: datetime


class SlaBreached(Event):
    """A work order's clock ran out before the step was done (超期)."""

    event_type = "SlaBreached"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    responder_name: str
    role: ResponderRole
    clock: str
    due_at: datetime
    breached_at: datetime
    # Who should hear of it: the street office and the district government over the area.
    supervisor_ids: list[str] = Field(default_factory=list)


class CaseEscalated(Event):
    """A breach moved the case one rung up the ladder (社区 → 街道 → 区县部门 → 区县政府)."""

    event_type = "CaseEscalated"
    version = 1

    complaint_id: UUID
    from_level: str
    to_level: str
    responder_id: str
    responder_name: str
    work_order_id: UUID
    cause_work_order_id: UUID
    clock: str
    escalated_at: datetime
    from_responder_id: str | None = None  # the unit whose breach climbed the ladder


class WhistleBlown(Event):
    """The street blew the whistle (吹哨报到 / 街呼县应): the named departments must report."""

    event_type = "WhistleBlown"
    version = 1

    complaint_id: UUID
    street_id: str
    department_ids: list[str]
    reason: str
    actor: str
    blown_at: datetime


class WorkOrderUrged(Event):
    """A supervisor urged the unit on (催办)."""

    event_type = "WorkOrderUrged"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    note: str
    actor: str
    urged_at: datetime


class CaseSupervised(Event):
    """A supervisor put the case under formal supervision (督办)."""

    event_type = "CaseSupervised"
    version = 1

    complaint_id: UUID
    note: str
    actor: str
    supervised_at: datetime


class DeliberationRequested(Event):
    """The case went on the community's agenda (议事); the lead's feedback clock waits for it."""

    event_type = "DeliberationRequested"
    version = 1

    complaint_id: UUID
    item_id: UUID
    community_code: str
    reason: str
    actor: str
    sent_at: datetime


class DeliberationConcluded(Event):
    """The agenda decided on the case; the lead's feedback clock runs again from now."""

    event_type = "DeliberationConcluded"
    version = 1

    complaint_id: UUID
    item_id: UUID
    decision: str
    lead_work_order_id: UUID | None
    clock: OrderClock | None
    concluded_at: datetime


# --- the deliberation agenda (议事清单): one stream per agenda item --------------------------


class AgendaAssignment(BaseModel):
    """A duty a decision gives a unit: it becomes a work order (议事清单 → 履职清单)."""

    model_config = ConfigDict(frozen=True)
    responder_id: str
    responder_name: str
    task: str
    due_at: datetime
    work_order_id: UUID


class AgendaItemOpened(Event):
    """收集问题: a matter was put on a community's agenda."""

    event_type = "AgendaItemOpened"
    version = 1

    item_id: UUID
    complaint_id: UUID
    community_code: str
    community_name: str
    title: str
    reason: str
    actor: str
    opened_at: datetime


class AgendaTopicSet(Event):
    """确定议题: the matter became a topic, with the parties to be heard."""

    event_type = "AgendaTopicSet"
    version = 1

    item_id: UUID
    complaint_id: UUID
    level: str
    topic: str
    parties: list[str]
    actor: str
    set_at: datetime


class DeliberationHeld(Event):
    """协商议事: the parties met; the minutes say whether they agreed."""

    event_type = "DeliberationHeld"
    version = 1

    item_id: UUID
    complaint_id: UUID
    level: str
    participants: list[str]
    minutes: str
    settled: bool
    actor: str
    held_at: datetime
    ballot_id: UUID | None = Field(
        None, description="由表决得出的结论：该表决 The ballot whose result this is"
    )


class AgendaDecided(Event):
    """分流落实: the decision, and the work orders it gives to each unit."""

    event_type = "AgendaDecided"
    version = 1

    item_id: UUID
    complaint_id: UUID
    level: str
    decision: str
    assignments: list[AgendaAssignment]
    actor: str
    decided_at: datetime
    cost_shares: list[CostShare] = Field(
        default_factory=list, description="联合出资：谁出多少 Who pays what"
    )


class AgendaReviewed(Event):
    """监督评审: the residents' and supervisors' verdict on what was done."""

    event_type = "AgendaReviewed"
    version = 1

    item_id: UUID
    complaint_id: UUID
    level: str
    verdict: str
    satisfied: bool
    actor: str
    reviewed_at: datetime


class AgendaItemRaised(Event):
    """Not settled in the community: raised to the district's joint meeting (大党委联席会议)."""

    event_type = "AgendaItemRaised"
    version = 1

    item_id: UUID
    complaint_id: UUID
    from_level: str
    to_level: str
    district_code: str
    reason: str
    actor: str
    raised_at: datetime


# --- committee ---
# 业委会派单 and 社区点单 are dispatch's too, on the same topic: shared/events/committees.py.


# --- ballot ---
# Consultations and ballots (征求意见、表决) and cost sharing (联合出资) are dispatch's too, on
# the same topic: their contracts are in shared/events/ballots.py (this module is long enough).


# --- rota ---
# The residents' WeChat group on a duty rota (seed 002: 居民微信群安排“两委”班子成员24小时轮班
# 值守…1小时内在群内公开回复群众诉求). The 政务事项 on the 督办墙 are in shared/events/matters.py.


class GroupReplyPosted(Event):
    """The member on duty replied in public in the residents' WeChat group (群内公开回复):
    their group-reply order is done; the case goes on with whoever handles the demand."""

    event_type = "GroupReplyPosted"
    version = 1

    work_order_id: UUID
    complaint_id: UUID
    responder_id: str
    responder_name: str
    community_code: str = Field(description="微信群所属社区 The group's community")
    reply: str = Field(description="群内公开回复的内容 The reply as posted in the group")
    actor: str
    replied_at: datetime
