"""Dispatch's HTTP routes for the community 大党委 and its joint meetings: the membership, the
quarterly cadence (which community is due), meetings scheduled with their agenda prepared from
dispatch's record, edited, held, and decided into duties (work orders with limits)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AwareDatetime, Field

from services.dispatch import meeting_store, store
from services.dispatch.api.deps import (
    REFUSALS,
    AnyCaller,
    answer,
    dispatch_of,
    register_command,
    runtime_of,
)
from services.dispatch.api.schemas import Body, Described
from services.dispatch.auth import Caller
from services.dispatch.domain import meetings
from services.dispatch.domain.case import Case
from services.dispatch.domain.rules import IllegalTransition, NotAllowed, Rules
from shared.commands import now
from shared.deadlines import Duration
from shared.events import AgendaAssignment, CouncilMeetingItem, CouncilMember, Event
from shared.events.area import PATTERN as AREA_PATTERN
from shared.http import Answer, Call, Problem
from shared.privacy import FreeText

router = APIRouter()
COUNCIL = "社区大党委 Community council (联席会议)"
CommunityCode = Annotated[str, Path(pattern=r"^[0-9]{12}$", description="社区代码")]


def _sane(moment: datetime) -> datetime:
    if not 1970 <= moment.year <= 2199:
        raise ValueError("时间须在 1970 至 2199 年之间 must lie between 1970 and 2199")
    return moment


# A time with its offset (2026-08-24T09:00:00+08:00), within the years anyone plans for.
Moment = Annotated[AwareDatetime, AfterValidator(_sane)]


# --- requests ---------------------------------------------------------------------------------


class Member(Body):
    name: str = Field(min_length=2, max_length=200, description="成员单位或职务 Unit or post")
    kind: Literal[
        "leader",
        "department",
        "resident_unit",
        "dual_registered",
        "police",
        "owners_committee",
        "property_company",
        "community",
    ] = Field(description="成员类别 What kind of member")
    responder_id: str | None = Field(
        None, max_length=100, description="城市模型中的单位（可接工单） Unit id, if any"
    )
    person: str | None = Field(None, max_length=50, description="具名人员 The named person")
    post: str | None = Field(None, max_length=100, description="职务 The post")


class Constitute(Body):
    members: list[Member] = Field(min_length=1, max_length=200, description="成员 Members")
    cadence_months: int = Field(3, ge=1, le=12, description="例会间隔（月） Months apart")


class Schedule(Body):
    kind: Literal["quarterly", "ad_hoc"] = Field(description="季度例会 / 临时会议")
    scheduled_for: Moment = Field(description="召开时间 When it meets")
    title: str | None = Field(None, min_length=2, max_length=200, description="会议名称")


class NewItem(Body):
    source: Literal["case", "patrol", "collected"] = Field(
        description="case 诉求 | patrol 巡查发现 | collected 征集（居民建议）"
    )
    title: FreeText = Field(min_length=2, max_length=200, description="事项 The matter")
    detail: FreeText = Field("", max_length=2000, description="说明 Details")
    complaint_id: UUID | None = Field(None, description="诉求（来源为 case 时） The case")
    area_code: str | None = Field(None, pattern=AREA_PATTERN, description="地点 Where")


class EditAgenda(Body):
    add: list[NewItem] = Field(default_factory=list, max_length=50, description="增加的事项")
    remove: list[str] = Field(default_factory=list, max_length=50, description="移除的事项键")


class Prepare(Body):
    """会前重新梳理 Prepare the agenda again from the record (what was added by hand stays)."""


class Held(Body):
    held_at: Moment = Field(description="召开时间 When it met")
    attendance: list[str] = Field(min_length=1, max_length=200, description="出席 Who attended")
    absent: list[str] = Field(default_factory=list, max_length=200, description="缺席 Absent")
    minutes: FreeText = Field(min_length=2, max_length=20000, description="会议纪要 Minutes")


class DutyIn(Body):
    responder_id: str = Field(description="成员单位 The member unit")
    task: FreeText = Field(min_length=2, max_length=1000, description="履职事项 What it must do")
    within: Duration | None = Field(None, description="限期，如 30d、10wd Time allowed")
    months: int | None = Field(None, ge=1, le=36, description="限期（月），如 3 Months allowed")


class Decide(Body):
    item_key: str = Field(min_length=3, max_length=200, description="议程事项键 The matter")
    decision: FreeText = Field(min_length=2, max_length=4000, description="议定事项 Decision")
    duties: list[DutyIn] = Field(min_length=1, max_length=50, description="交办 The duties")


# --- answers ----------------------------------------------------------------------------------


class CouncilMemberView(Described):
    name: str
    kind: str
    kind_label: str
    responder_id: str | None
    person: str | None
    post: str | None


class CouncilView(Described):
    """A community's 大党委, and whether its regular meeting is due (原则上每季度召开一次)."""

    community_code: str
    community_name: str
    members: list[CouncilMemberView]
    cadence_months: int
    constituted_at: str
    last_held_at: str | None
    next_due_at: str
    next_scheduled_for: str | None
    overdue: bool = Field(description="例会已逾期未开 The regular meeting is overdue")


class CouncilPage(Described):
    items: list[CouncilView]


class MeetingItemView(Described):
    key: str
    source: str
    source_label: str
    title: str
    detail: str
    case_id: UUID | None
    agenda_item_id: UUID | None
    area_code: str | None


class DecisionView(Described):
    decision_id: UUID
    item_key: str
    case_id: UUID
    opened_case: bool
    decision: str
    duties: list[AgendaAssignment]
    actor: str
    decided_at: str


class MeetingView(Described):
    meeting_id: UUID
    community_code: str
    community_name: str
    kind: str
    kind_label: str
    title: str
    status: str
    status_label: str
    scheduled_for: str
    items: list[MeetingItemView]
    prepared_at: str | None
    held_at: str | None
    attendance: list[str]
    absent: list[str]
    minutes: str | None
    decisions: list[DecisionView]
    updated_at: str | None


class MeetingPage(Described):
    items: list[MeetingView]


# --- the council ------------------------------------------------------------------------------


def _due(row: dict[str, Any], at: datetime) -> dict[str, Any]:
    data = dict(row["data"])
    constituted = datetime.fromisoformat(data["constituted_at"])
    last = row["last_held"]
    due = meetings.add_months(last or constituted, data["cadence_months"])
    scheduled = row["next_scheduled"]
    return data | {
        "last_held_at": last.isoformat() if last else None,
        "next_due_at": due.isoformat(),
        "next_scheduled_for": scheduled.isoformat() if scheduled else None,
        "overdue": due < at,
    }


async def _readable(request: Request, caller: Caller, community_code: str) -> Rules:
    dispatch = dispatch_of(request)
    async with runtime_of(request).pool.acquire() as conn:
        rules = await dispatch.rules(conn)
    try:
        meetings.must_run(caller, community_code, rules.model)
    except NotAllowed:
        raise Problem(404, "不存在，或不在你的辖区 Not found, or not yours to see") from None
    return rules


@router.put(
    "/councils/{community_code}",
    tags=[COUNCIL],
    summary="组建或调整社区大党委 Constitute a community's council (its whole membership)",
    response_model=CouncilView,
    responses=REFUSALS,
)
async def constitute(
    community_code: CommunityCode, command: Constitute, request: Request, caller: AnyCaller
) -> JSONResponse:
    dispatch = dispatch_of(request)

    def decide(_: meetings.Council | None, rules: Rules) -> list[Event]:
        meetings.must_run(caller, community_code, rules.model)
        members = [CouncilMember(**m.model_dump()) for m in command.members]
        return meetings.constitute(
            community_code, members, command.cadence_months, caller.actor, now(), rules.model
        )

    async with runtime_of(request).pool.acquire() as conn, conn.transaction():
        await dispatch.change_council(conn, community_code, decide)
        rows = await meeting_store.councils(conn, [community_code])
    return answer(_due(rows[0], now()))


@router.get(
    "/councils",
    tags=[COUNCIL],
    summary="各社区大党委，及例会是否逾期 Councils, and whose regular meeting is overdue",
    response_model=CouncilPage,
    responses=REFUSALS,
)
async def list_councils(
    request: Request,
    caller: AnyCaller,
    overdue: Annotated[bool | None, Query(description="只看例会逾期的 Only the overdue")] = None,
) -> JSONResponse:
    dispatch = dispatch_of(request)
    async with runtime_of(request).pool.acquire() as conn:
        rules = await dispatch.rules(conn)
        rows = await meeting_store.councils(conn, None)
    at = now()
    items = [
        _due(row, at) for row in rows if _may_run(caller, row["data"]["community_code"], rules)
    ]
    if overdue is not None:
        items = [i for i in items if i["overdue"] is overdue]
    return answer({"items": items})


def _may_run(caller: Caller, community_code: str, rules: Rules) -> bool:
    try:
        meetings.must_run(caller, community_code, rules.model)
    except NotAllowed:
        return False
    return True


@router.get(
    "/councils/{community_code}",
    tags=[COUNCIL],
    summary="社区大党委 A community's council and when it is next due to meet",
    response_model=CouncilView,
    responses=REFUSALS,
)
async def get_council(
    community_code: CommunityCode, request: Request, caller: AnyCaller
) -> JSONResponse:
    await _readable(request, caller, community_code)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await meeting_store.councils(conn, [community_code])
    if not rows:
        raise Problem(404, f"社区 {community_code} 尚未组建大党委 No council here")
    return answer(_due(rows[0], now()))


@router.get(
    "/councils/{community_code}/meetings",
    tags=[COUNCIL],
    summary="社区大党委的联席会议 A council's meetings, newest first",
    response_model=MeetingPage,
    responses=REFUSALS,
)
async def list_meetings(
    community_code: CommunityCode, request: Request, caller: AnyCaller
) -> JSONResponse:
    await _readable(request, caller, community_code)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await meeting_store.meetings_of(conn, community_code)
    return answer({"items": rows})


@router.get(
    "/meetings/{meeting_id}",
    tags=[COUNCIL],
    summary="一次联席会议 One meeting",
    response_model=MeetingView,
    responses=REFUSALS,
)
async def get_meeting(meeting_id: UUID, request: Request, caller: AnyCaller) -> JSONResponse:
    dispatch = dispatch_of(request)
    async with runtime_of(request).pool.acquire() as conn:
        meeting, _ = await meeting_store.load_meeting(conn, dispatch.events, meeting_id)
    if meeting is None:
        raise Problem(404, f"会议 {meeting_id} 不存在 No such meeting")
    await _readable(request, caller, meeting.community_code)
    return answer(meeting_store.meeting_json(meeting))


# --- meetings ---------------------------------------------------------------------------------


async def _found(
    call: Call[Caller, Any], community_code: str, rules: Rules
) -> list[CouncilMeetingItem]:
    """The agenda as dispatch's record of the community finds it now."""
    at = now()
    return meetings.found_items(
        await meeting_store.unsettled_items(call.conn, community_code),
        await meeting_store.open_cases(call.conn, community_code),
        await meeting_store.recent_cases(call.conn, community_code, at),
        rules.model,
        at,
    )


async def schedule(call: Call[Caller, Schedule]) -> Answer:
    """Schedule a meeting; its agenda is prepared at once from the record."""
    community_code, command = call.target, call.body

    async def decide(
        _: meetings.Meeting | None,
        council: meetings.Council | None,
        __: Case | None,
        rules: Rules,
    ) -> tuple[list[Event], list[Event]]:
        meetings.must_run(call.caller, community_code, rules.model)
        at = now()
        scheduled = meetings.schedule(
            council,
            meetings.MeetingKind(command.kind),
            command.title,
            command.scheduled_for,
            call.caller.actor,
            at,
        )
        meeting = meetings.fold_meeting(scheduled)
        assert meeting is not None
        found = await _found(call, community_code, rules)
        return scheduled + meetings.prepare(meeting, found, call.caller.actor, at), []

    meeting = await dispatch_of(call.request).change_meeting(
        call.conn, None, community_code, decide
    )
    return 201, meeting_store.meeting_json(meeting)


register_command(
    router,
    "/councils/{community_code}/meetings",
    Schedule,
    schedule,
    name="schedule_council_meeting",
    target=str,
    tags=[COUNCIL],
    status_code=201,
    summary="安排联席会议（季度例会或临时会议），议程自动梳理 Schedule a meeting; its agenda is "
    "prepared from the record",
    response_model=MeetingView,
)


def meeting_command(verb: str, summary: str, body: type[Body], case_of: Any = None) -> Any:
    """POST /meetings/{meeting_id}/<verb> for the decorated async decision
    `(meeting, council, case, rules, call)` → (meeting events, case events)."""

    def register(decide: Any) -> Any:
        async def handle(call: Call[Caller, Any]) -> Answer:
            async def checked(
                meeting: meetings.Meeting | None,
                council: meetings.Council | None,
                case: Case | None,
                rules: Rules,
            ) -> tuple[list[Event], list[Event]]:
                assert meeting is not None
                meetings.must_run(call.caller, meeting.community_code, rules.model)
                if council is None:
                    raise IllegalTransition("该社区尚未组建大党委 No council in this community")
                result: tuple[list[Event], list[Event]] = await decide(
                    meeting, council, case, rules, call
                )
                return result

            def target(meeting: meetings.Meeting | None) -> UUID | None:
                return case_of(meeting, call.body) if case_of and meeting else None

            meeting = await dispatch_of(call.request).change_meeting(
                call.conn, call.target, None, checked, target
            )
            return 200, meeting_store.meeting_json(meeting)

        register_command(
            router,
            f"/meetings/{{meeting_id}}/{verb}",
            body,
            handle,
            name=f"council_{decide.__name__}",
            tags=[COUNCIL],
            summary=summary,
            response_model=MeetingView,
        )
        return decide

    return register


Events = tuple[list[Event], list[Event]]


@meeting_command("prepare", "会前重新梳理议程 Prepare the agenda again from the record", Prepare)
async def prepare(
    meeting: meetings.Meeting,
    council: meetings.Council,
    case: Case | None,
    rules: Rules,
    call: Call[Caller, Prepare],
) -> Events:
    found = await _found(call, meeting.community_code, rules)
    return meetings.prepare(meeting, found, call.caller.actor, now()), []


@meeting_command(
    "agenda", "修改议程：增加（诉求、巡查、征集）或移除事项 Edit the agenda", EditAgenda
)
async def edit_agenda(
    meeting: meetings.Meeting,
    council: meetings.Council,
    case: Case | None,
    rules: Rules,
    call: Call[Caller, EditAgenda],
) -> Events:
    dispatch = dispatch_of(call.request)
    added = []
    for item in call.body.add:
        of_case = None
        if item.complaint_id is not None:
            of_case, _ = await store.load_case(call.conn, dispatch.events, item.complaint_id)
            if of_case is None or not rules.model.within(of_case.area_code, meeting.community_code):
                raise Problem(
                    422,
                    f"诉求 {item.complaint_id} 不在{meeting.community_name} Not this community's",
                    field="add",
                )
        elif item.source == "case":
            raise Problem(422, "来源为诉求的事项须给出 complaint_id", field="add")
        if item.area_code and not rules.model.within(item.area_code, meeting.community_code):
            raise Problem(422, f"{item.area_code} 不在{meeting.community_name}", field="add")
        added.append(
            meetings.hand_item(item.source, item.title, item.detail, of_case, item.area_code)
        )
    return meetings.edit(meeting, added, call.body.remove, call.caller.actor, now()), []


@meeting_command("held", "记录会议召开：出席、缺席与纪要 Record the meeting held", Held)
async def held(
    meeting: meetings.Meeting,
    council: meetings.Council,
    case: Case | None,
    rules: Rules,
    call: Call[Caller, Held],
) -> Events:
    body = call.body
    return meetings.hold(
        meeting, body.attendance, body.absent, body.minutes, body.held_at, call.caller.actor, now()
    ), []


def _case_of_item(meeting: meetings.Meeting, body: Decide) -> UUID | None:
    item = meeting.item(body.item_key)
    return item.case_id if item else None


@meeting_command(
    "decisions",
    "会议决定交办：成员单位领受工单与限期 Decide a matter; each duty a work order with a limit",
    Decide,
    _case_of_item,
)
async def decide(
    meeting: meetings.Meeting,
    council: meetings.Council,
    case: Case | None,
    rules: Rules,
    call: Call[Caller, Decide],
) -> Events:
    at = now()
    duties = []
    for duty in call.body.duties:
        unit = rules.model.responders.get(duty.responder_id)
        if unit is None:
            raise Problem(422, f"单位 {duty.responder_id} 不存在 Unknown responder", field="duties")
        if (duty.within is None) == (duty.months is None):
            raise Problem(422, "限期须给出 within 或 months 之一 Give one limit", field="duties")
        due = (
            meetings.add_months(at, duty.months)
            if duty.months
            else rules.due(at, duty.within or "")
        )
        duties.append(meetings.Duty(unit, duty.task, due))
    return meetings.decide(
        meeting,
        council,
        call.body.item_key,
        call.body.decision,
        duties,
        case,
        call.caller.actor,
        at,
        rules,
    )
