"""The community 大党委 and its joint meetings (联席会议): who sits on it, the quarterly cadence,
the agenda prepared from dispatch's own record of the community, the meeting held, and its
decisions turned into duties (work orders with limits) on the member units.

Seed 004: "原则上每季度召开一次，另外根据工作需要，可随时召开"; "会仙山社区在联席会议召开前夕，
梳理出了社区需要解决事项的清单". A decision on a matter that came with a case gives that case
its orders; one on a matter without a case (a patrol's finding, residents' suggestions 征集, a
recurring place) opens a case of its own, with a new id, to carry them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID, uuid4

from services.dispatch.domain.agenda import assignment, committee_of
from services.dispatch.domain.case import CO, LEAD, Case, Purpose, occurred_at
from services.dispatch.domain.city import CityModel, Responder
from services.dispatch.domain.rules import (
    Acting,
    IllegalTransition,
    NotAllowed,
    Rules,
    issue,
    issue_on,
    open_case,
)
from shared.deadlines import PriorityTier
from shared.events import (
    CommunityCouncilConstituted,
    CouncilAgendaEdited,
    CouncilAgendaPrepared,
    CouncilMatterDecided,
    CouncilMeetingHeld,
    CouncilMeetingItem,
    CouncilMeetingScheduled,
    CouncilMember,
    Event,
    WorkOrderIssued,
)
from shared.events.area import AreaLevel, no_finer_than_building


class MeetingKind(StrEnum):
    QUARTERLY = "quarterly"  # 季度例会
    AD_HOC = "ad_hoc"  # 临时会议（根据工作需要，可随时召开）


KIND_LABELS = {MeetingKind.QUARTERLY: "季度例会", MeetingKind.AD_HOC: "临时会议"}

MEMBER_KINDS = {
    "leader": "包挂领导",
    "department": "职能部门",
    "resident_unit": "驻区单位党组织",
    "dual_registered": "双报到单位",
    "police": "下沉民警",
    "owners_committee": "业委会",
    "property_company": "物业公司",
    "community": "社区两委",
}

SOURCE_LABELS = {
    "unsettled": "协商未果",
    "recurring": "多发点位",
    "escalated": "已升级督办",
    "overdue": "已超期",
    "monthly_topic": "每月一题候选",
    "case": "诉求",
    "patrol": "巡查发现",
    "collected": "征集",
}
# What the community may put on an agenda by hand (the rest are found in dispatch's record).
ADDED_BY_HAND = frozenset({"case", "patrol", "collected"})

# A place with this many cases in the last RECENT_DAYS is a recurring place (多发点位); the
# community's most frequent category, with as many in the last TOPIC_DAYS, a 每月一题 candidate.
RECURRING_CASES = 3
RECENT_DAYS = 90
TOPIC_DAYS = 30


# ---------------------------------------------------------------------------------------------
# The council (大党委) of a community
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Council:
    community_code: str
    community_name: str
    members: tuple[CouncilMember, ...]
    cadence_months: int
    constituted_at: datetime
    version: int = 0

    @property
    def units(self) -> frozenset[str]:
        """The member units that can take duties (those in the city model)."""
        return frozenset(m.responder_id for m in self.members if m.responder_id)


def fold_council(events: Iterable[Event], council: Council | None = None) -> Council | None:
    for e in events:
        assert isinstance(e, CommunityCouncilConstituted)
        council = Council(
            e.community_code,
            e.community_name,
            tuple(e.members),
            e.cadence_months,
            council.constituted_at if council else e.constituted_at,
            (council.version if council else 0) + 1,
        )
    return council


def constitute(
    community_code: str,
    members: list[CouncilMember],
    cadence_months: int,
    actor: str,
    now: datetime,
    model: CityModel,
) -> list[Event]:
    """组建或调整社区大党委: the whole membership, each unit checked against the city model."""
    name = model.area_names.get(community_code)
    if name is None or model.enclosing(community_code, AreaLevel.COMMUNITY) != community_code:
        raise IllegalTransition(f"{community_code} 不是社区 Not a community of the city model")
    for member in members:
        if member.responder_id and member.responder_id not in model.responders:
            raise IllegalTransition(
                f"成员单位 {member.responder_id} 不在城市模型中 Unknown responder"
            )
        if member.kind not in MEMBER_KINDS:
            raise IllegalTransition(f"成员类别「{member.kind}」未知 Unknown member kind")
    return [
        CommunityCouncilConstituted(
            community_code=community_code,
            community_name=name,
            members=members,
            cadence_months=cadence_months,
            actor=actor,
            constituted_at=now,
        )
    ]


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` `months` calendar months later (the 31st becomes the month's last day)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    days = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30]
    days += [31, 31, 30, 31, 30, 31]
    return moment.replace(year=year, month=month, day=min(moment.day, days[month - 1]))


def next_due(council: Council, last_held: datetime | None) -> datetime:
    """When the next regular meeting is due: a cadence after the last one held (or after the
    council was set up, if it never met)."""
    return add_months(last_held or council.constituted_at, council.cadence_months)


# ---------------------------------------------------------------------------------------------
# A meeting
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Meeting:
    meeting_id: UUID
    community_code: str
    community_name: str
    kind: MeetingKind
    title: str
    scheduled_for: datetime
    scheduled_at: datetime
    items: tuple[CouncilMeetingItem, ...] = ()
    prepared_at: datetime | None = None
    held_at: datetime | None = None
    attendance: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    minutes: str | None = None
    decisions: tuple[CouncilMatterDecided, ...] = ()
    updated_at: datetime | None = None
    version: int = 0

    @property
    def status(self) -> str:
        return "held" if self.held_at else "scheduled"

    def item(self, key: str) -> CouncilMeetingItem | None:
        return next((i for i in self.items if i.key == key), None)


STATUS_LABELS = {"scheduled": "待召开", "held": "已召开"}


def _scheduled(_: Meeting | None, e: CouncilMeetingScheduled) -> Meeting:
    return Meeting(
        e.meeting_id,
        e.community_code,
        e.community_name,
        MeetingKind(e.kind),
        e.title,
        e.scheduled_for,
        e.scheduled_at,
    )


_EVOLVE: dict[type[Event], Callable[[Any, Any], Meeting]] = {
    CouncilMeetingScheduled: _scheduled,
    CouncilAgendaPrepared: lambda m, e: replace(m, items=tuple(e.items), prepared_at=e.prepared_at),
    CouncilAgendaEdited: lambda m, e: replace(m, items=tuple(e.items)),
    CouncilMeetingHeld: lambda m, e: replace(
        m,
        held_at=e.held_at,
        attendance=tuple(e.attendance),
        absent=tuple(e.absent),
        minutes=e.minutes,
    ),
    CouncilMatterDecided: lambda m, e: replace(m, decisions=(*m.decisions, e)),
}
MEETING_EVENTS = tuple(_EVOLVE)


def fold_meeting(events: Iterable[Event], meeting: Meeting | None = None) -> Meeting | None:
    for event in events:
        if meeting is None and not isinstance(event, CouncilMeetingScheduled):
            raise ValueError(f"a meeting starts with CouncilMeetingScheduled, not {event}")
        after = _EVOLVE[type(event)](meeting, event)
        meeting = replace(
            after,
            updated_at=occurred_at(event),
            version=(meeting.version if meeting else 0) + 1,
        )
    return meeting


def schedule(
    council: Council | None,
    kind: MeetingKind,
    title: str | None,
    scheduled_for: datetime,
    actor: str,
    now: datetime,
) -> list[Event]:
    if council is None:
        raise IllegalTransition("该社区尚未组建大党委 No council in this community yet")
    return [
        CouncilMeetingScheduled(
            meeting_id=uuid4(),
            community_code=council.community_code,
            community_name=council.community_name,
            kind=kind.value,
            title=title or f"{council.community_name}“大党委”联席会议（{KIND_LABELS[kind]}）",
            scheduled_for=scheduled_for,
            actor=actor,
            scheduled_at=now,
        )
    ]


def _not_held(meeting: Meeting, action: str) -> None:
    if meeting.held_at:
        raise IllegalTransition(f"会议「{meeting.title}」已召开，不能{action} Already held")


def prepare(
    meeting: Meeting, items: list[CouncilMeetingItem], actor: str, now: datetime
) -> list[Event]:
    """会前梳理事项清单: the found items, and whatever was added by hand and not found again."""
    _not_held(meeting, "重新梳理议程")
    found = {i.key for i in items}
    kept = [i for i in meeting.items if i.source in ADDED_BY_HAND and i.key not in found]
    return [
        CouncilAgendaPrepared(
            meeting_id=meeting.meeting_id,
            community_code=meeting.community_code,
            items=[*items, *kept],
            actor=actor,
            prepared_at=now,
        )
    ]


def edit(
    meeting: Meeting,
    added: list[CouncilMeetingItem],
    removed: list[str],
    actor: str,
    now: datetime,
) -> list[Event]:
    _not_held(meeting, "修改议程")
    keys = {i.key for i in meeting.items}
    unknown = [k for k in removed if k not in keys]
    if unknown:
        raise IllegalTransition(f"议程中没有事项 {', '.join(unknown)} Not on the agenda")
    again = [i.key for i in added if i.key in keys and i.key not in removed]
    if again:
        raise IllegalTransition(f"事项 {', '.join(again)} 已在议程中 Already on the agenda")
    items = [i for i in meeting.items if i.key not in removed] + added
    return [
        CouncilAgendaEdited(
            meeting_id=meeting.meeting_id,
            community_code=meeting.community_code,
            added=added,
            removed=removed,
            items=items,
            actor=actor,
            edited_at=now,
        )
    ]


def hand_item(
    source: str, title: str, detail: str, case: Case | None, area_code: str | None
) -> CouncilMeetingItem:
    """An item the community adds: about a case, a patrol's finding or collected suggestions."""
    if source not in ADDED_BY_HAND:
        raise IllegalTransition(f"来源「{source}」不能手工添加 Not a source to add by hand")
    if source == "case" and case is None:
        raise IllegalTransition("来源为诉求的事项须指明诉求 A case item names its case")
    key = f"case:{case.complaint_id}" if case else f"{source}:{uuid4()}"
    return CouncilMeetingItem(
        key=key,
        source=source,
        title=title,
        detail=detail,
        case_id=case.complaint_id if case else None,
        area_code=case.area_code if case else area_code,
    )


def hold(
    meeting: Meeting,
    attendance: list[str],
    absent: list[str],
    minutes: str,
    held_at: datetime,
    actor: str,
    now: datetime,
) -> list[Event]:
    _not_held(meeting, "再次记录召开")
    if held_at > now:
        raise IllegalTransition("召开时间不能晚于现在 A meeting is recorded once it met")
    return [
        CouncilMeetingHeld(
            meeting_id=meeting.meeting_id,
            community_code=meeting.community_code,
            attendance=attendance,
            absent=absent,
            minutes=minutes,
            actor=actor,
            held_at=held_at,
        )
    ]


@dataclass(frozen=True, slots=True)
class Duty:
    """What a decision asks of one member unit, and by when."""

    responder: Responder
    task: str
    due_at: datetime


def decide(
    meeting: Meeting,
    council: Council,
    item_key: str,
    decision: str,
    duties: list[Duty],
    case: Case | None,
    actor: str,
    now: datetime,
    rules: Rules,
) -> tuple[list[Event], list[Event]]:
    """会议议定事项 → 履职清单: each duty a work order on a member unit (the meeting's events,
    the case's). The matter's own case carries them; a matter without one gets a new case,
    its first duty the lead (首接负责), the others co-operating."""
    if meeting.held_at is None:
        raise IllegalTransition("会议尚未召开，不能形成决定 The meeting has not met yet")
    item = meeting.item(item_key)
    if item is None:
        raise IllegalTransition(f"议程中没有事项 {item_key} Not on the agenda")
    if not duties:
        raise IllegalTransition("决定须交办至少一个成员单位 A decision gives at least one duty")
    outsiders = [d.responder.name for d in duties if d.responder.id not in council.units]
    if outsiders:
        raise IllegalTransition(
            f"{'、'.join(outsiders)} 不是{council.community_name}大党委成员单位 Not a member"
        )
    reason = f"{meeting.community_name}大党委联席会议决定：{decision} Decided by the joint meeting"
    orders: list[WorkOrderIssued]
    if item.case_id is not None:
        if case is None or case.complaint_id != item.case_id:
            raise IllegalTransition(f"诉求 {item.case_id} 没有派单记录 No dispatch case for it")
        open_case(case, "交办大党委决定")
        orders = [
            issue_on(
                case,
                rules,
                responder=duty.responder,
                role=CO,
                purpose=Purpose.DELIBERATION,
                reason=reason,
                now=now,
                task=duty.task,
                feedback_due=duty.due_at,
            )
            for duty in duties
        ]
        case_id, opened = item.case_id, False
    else:
        case_id, opened = uuid4(), True
        orders = [
            issue(
                rules,
                complaint_id=case_id,
                responder=duty.responder,
                role=LEAD if index == 0 else CO,
                purpose=Purpose.DELIBERATION,
                category=None,
                area_code=item.area_code or meeting.community_code,
                priority=PriorityTier.GENERAL,
                reason=reason,
                now=now,
                round=1,
                task=duty.task,
                feedback_due=duty.due_at,
            )
            for index, duty in enumerate(duties)
        ]
    made = CouncilMatterDecided(
        meeting_id=meeting.meeting_id,
        decision_id=uuid4(),
        community_code=meeting.community_code,
        item_key=item_key,
        case_id=case_id,
        opened_case=opened,
        decision=decision,
        duties=[assignment(o) for o in orders],
        actor=actor,
        decided_at=now,
    )
    return [made], list(orders)


# ---------------------------------------------------------------------------------------------
# The agenda prepared from dispatch's record of the community
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OpenCase:
    """An open case of the community, as the record shows it."""

    complaint_id: UUID
    area_code: str
    category: str | None
    escalated: bool  # a supervising order (升级督办) is open on it
    overdue: bool  # one of its open orders breached a limit


@dataclass(frozen=True, slots=True)
class RecentCase:
    """A case the community's record shows dispatched in the last RECENT_DAYS."""

    complaint_id: UUID
    area_code: str
    category: str | None
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class Unsettled:
    item_id: UUID
    complaint_id: UUID
    title: str


def found_items(
    unsettled: list[Unsettled],
    open_cases: list[OpenCase],
    recent: list[RecentCase],
    model: CityModel,
    now: datetime,
) -> list[CouncilMeetingItem]:
    """协商未果的议事项, escalated and overdue cases, recurring places and the 每月一题
    candidate, each once: a case already on the agenda through its item is not listed again."""
    items = [
        CouncilMeetingItem(
            key=f"agenda:{u.item_id}",
            source="unsettled",
            title=u.title,
            detail="社区议事协商未果 Not settled by the community's deliberation",
            case_id=u.complaint_id,
            agenda_item_id=u.item_id,
        )
        for u in unsettled
    ]
    listed = {u.complaint_id for u in unsettled}

    def name(category: str | None) -> str:
        known = model.categories.get(category or "")
        return known.name if known else "其他诉求"

    for case in open_cases:
        if case.complaint_id in listed or not (case.escalated or case.overdue):
            continue
        why = [w for w, yes in (("已升级督办", case.escalated), ("已超期", case.overdue)) if yes]
        place = model.area_names.get(case.area_code, case.area_code)
        items.append(
            CouncilMeetingItem(
                key=f"case:{case.complaint_id}",
                source="escalated" if case.escalated else "overdue",
                title=f"{place}{name(case.category)}",
                detail="、".join(why),
                case_id=case.complaint_id,
                area_code=case.area_code,
            )
        )
    places = Counter(no_finer_than_building(r.area_code) for r in recent)
    for place, count in sorted(places.items(), key=lambda p: (-p[1], p[0])):
        if count >= RECURRING_CASES:
            items.append(
                CouncilMeetingItem(
                    key=f"place:{place}",
                    source="recurring",
                    title=f"{model.area_names.get(place, place)}诉求多发",
                    detail=f"近{RECENT_DAYS}天{count}件 {count} cases in {RECENT_DAYS} days",
                    area_code=place,
                )
            )
    month = Counter(
        r.category for r in recent if r.category and (now - r.issued_at).days < TOPIC_DAYS
    )
    if month:
        category, count = month.most_common(1)[0]
        if count >= RECURRING_CASES:
            items.append(
                CouncilMeetingItem(
                    key=f"topic:{category}",
                    source="monthly_topic",
                    title=f"{name(category)}（每月一题候选）",
                    detail=f"近{TOPIC_DAYS}天{count}件 {count} cases in {TOPIC_DAYS} days",
                )
            )
    return items


# ---------------------------------------------------------------------------------------------
# Who may run a council
# ---------------------------------------------------------------------------------------------


def must_run(acting: Acting, community_code: str, model: CityModel) -> None:
    """The community's committee runs its 大党委's meetings; supervisors of the area too."""
    if acting.supervises(model, community_code) or committee_of(acting, community_code, model):
        return
    raise NotAllowed(
        f"只有{model.area_names.get(community_code, community_code)}居委会、属地街道或督办人员"
        "可以操作该社区大党委 Not this key's community"
    )
