"""Dispatch's HTTP routes for deliberation (议事): a case put on its community's agenda, the
agenda's five steps, and an item raised to the district's joint meeting (大党委联席会议)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import Field, model_validator

from services.dispatch import store
from services.dispatch.api.deps import (
    REFUSALS,
    AnyCaller,
    answer,
    dispatch_of,
    hidden,
    register_command,
    runtime_of,
    visible,
)
from services.dispatch.api.schemas import AgendaItem, AgendaPage, Body, CostShareIn, Reason
from services.dispatch.auth import Caller
from services.dispatch.domain import agenda, community
from services.dispatch.domain.case import Case
from services.dispatch.domain.city import ResponderKind
from services.dispatch.domain.rules import NotAllowed, Rules
from shared.commands import causation_of, now
from shared.deadlines import Duration
from shared.events import Event
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.area import like_patterns
from shared.http import Answer, Call, Offset, Problem
from shared.privacy import FreeText

router = APIRouter()
AGENDA = "议事 Deliberation"


class SendToDeliberation(Body):
    title: str | None = Field(
        None, max_length=200, description="议题名称 Title (default: the category)"
    )
    reason: FreeText = Field(min_length=2, max_length=1000)


class SetTopic(Body):
    topic: FreeText = Field(min_length=2, max_length=500, description="议题 The topic")
    parties: list[str] = Field(default_factory=list, max_length=50, description="参与议事的各方")


class HoldMeeting(Body):
    participants: list[str] = Field(min_length=1, max_length=100, description="参会人员/单位")
    minutes: FreeText = Field(min_length=2, max_length=8000, description="会议纪要 Minutes")
    settled: bool = Field(description="是否达成一致 Did the parties agree?")


class Duty(Body):
    responder_id: str | None = Field(None, description="承办单位 id The unit")
    registration_id: str | None = Field(
        None, description="双报到单位或干部（代替 responder_id） A registered unit or cadre instead"
    )
    task: FreeText = Field(
        min_length=2, max_length=1000, description="履职事项 What the unit must do"
    )
    within: Duration | None = Field(None, description="限期，如 30d、10wd Time allowed")

    @model_validator(mode="after")
    def _one_party(self) -> Duty:
        if (self.responder_id is None) == (self.registration_id is None):
            raise ValueError("responder_id 与 registration_id 须且只须给出一个 Give exactly one")
        return self


class Decide(Body):
    decision: FreeText = Field(min_length=2, max_length=4000, description="议定事项 The decision")
    assignments: list[Duty] = Field(
        default_factory=list, max_length=50, description="分流落实到各单位"
    )
    cost_shares: list[CostShareIn] = Field(
        default_factory=list, max_length=20, description="联合出资：谁出多少 Who pays what"
    )


class Review(Body):
    verdict: str = Field(min_length=2, max_length=4000, description="评审意见 The verdict")
    satisfied: bool


def _agenda_scope(caller: Caller, rules: Rules) -> list[str] | None:
    """LIKE patterns of the agendas a caller may read (None: all of them)."""
    if caller.is_admin:
        return None
    unit = caller.responder
    if unit is not None and unit.kind is ResponderKind.COMMUNITY_COMMITTEE:
        return [p for area in rules.model.served[unit.id] for p in like_patterns(area)]
    return caller.area_patterns()


async def send_to_deliberation(call: Call[Caller, SendToDeliberation]) -> Answer:
    """Open an agenda item for the case, and mark the case as in deliberation."""
    command, caller, dispatch = call.body, call.caller, dispatch_of(call.request)
    opened: list[Event] = []

    def decide(case: Case, rules: Rules) -> list[Event]:
        try:
            item_events, case_events = agenda.open_deliberation(
                case, caller, command.title, command.reason, now(), rules
            )
        except NotAllowed:
            # Refused to one who may not even see the case: it does not exist for them.
            if not visible(caller, case, rules):
                raise hidden("派单案件") from None
            raise
        opened[:] = item_events
        return case_events

    await dispatch.change_case(call.conn, call.target, decide, call.correlation)
    # The item is about the case: it joins the case's conversation.
    _, history = await store.load_case(call.conn, dispatch.events, call.target)
    item = await dispatch.save_item(call.conn, None, opened, causation_of(history))
    return 201, store.item_json(item)


register_command(
    router,
    "/cases/{complaint_id}/deliberation",
    SendToDeliberation,
    send_to_deliberation,
    name="send_to_deliberation",
    tags=[AGENDA],
    status_code=201,
    summary="提交社区议事 Put the case on its community's agenda (议事清单)",
    response_model=AgendaItem,
)


@router.get(
    "/agenda",
    tags=[AGENDA],
    summary="议事清单 Agenda items (community and district)",
    response_model=AgendaPage,
    responses=REFUSALS,
)
async def list_agenda(
    request: Request,
    caller: AnyCaller,
    level: Annotated[
        str | None,
        Query(pattern="^(community|district)$", description="社区议事会 / 区县大党委联席会议"),
    ] = None,
    area_code: Annotated[
        str | None, Query(pattern=AREA_PATTERN, description="区域（社区、街道、区县）Area")
    ] = None,
    stage: Annotated[
        str | None, Query(description="collected/topic_set/unsettled/deliberated/assigned/reviewed")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """Supervisors read the agendas of their areas, a community committee its community's."""
    patterns = like_patterns(area_code) if area_code else None
    async with runtime_of(request).pool.acquire() as conn:
        scope = _agenda_scope(caller, await dispatch_of(request).rules(conn))
        rows = await store.list_items(
            conn,
            level=level,
            area_patterns=patterns,
            scope_patterns=scope,
            stage=stage,
            limit=limit,
            offset=offset,
        )
    return answer({"items": rows, "limit": limit, "offset": offset})


@router.get(
    "/agenda/{item_id}",
    tags=[AGENDA],
    summary="议事项 One agenda item",
    response_model=AgendaItem,
    responses=REFUSALS,
)
async def get_agenda_item(item_id: UUID, request: Request, caller: AnyCaller) -> JSONResponse:
    dispatch = dispatch_of(request)
    async with runtime_of(request).pool.acquire() as conn:
        item = await store.load_item(conn, dispatch.events, item_id)
        rules = await dispatch.rules(conn)
        case, _ = (
            await store.load_case(conn, dispatch.events, item.complaint_id) if item else (None, [])
        )
    if item is None or case is None:
        raise Problem(404, f"议事项 {item_id} 不存在 No such agenda item")
    readable = (
        caller.supervises(rules.model, item.community_code)
        or (item.district_code is not None and caller.supervises(rules.model, item.district_code))
        or agenda.committee_of(caller, item.community_code, rules.model)
        or visible(caller, case, rules)
    )
    if not readable:
        raise Problem(
            404, f"议事项 {item_id} 不存在，或不在你的辖区 Not found, or not yours to see"
        )
    return answer(store.item_json(item))


ItemDecision = Callable[
    [agenda.AgendaItem, Case, Rules, Any, Caller], tuple[list[Event], list[Event]]
]


def item_command(
    verb: str, summary: str, body: type[Body], scope: str | None = None
) -> Callable[[ItemDecision], ItemDecision]:
    """POST /agenda/{item_id}/<verb> for the decorated decision `(item, case, rules, body,
    caller)` → (the item's events, the case's events), by those who run the item's agenda;
    the answer is the item."""

    def register(decide: ItemDecision) -> ItemDecision:
        async def handle(call: Call[Caller, Any]) -> Answer:
            def checked(
                item: agenda.AgendaItem, case: Case, rules: Rules
            ) -> tuple[list[Event], list[Event]]:
                agenda.must_run(call.caller, item, rules.model)
                return decide(item, case, rules, call.body, call.caller)

            item = await dispatch_of(call.request).change_item(call.conn, call.target, checked)
            return 200, store.item_json(item)

        register_command(
            router,
            f"/agenda/{{item_id}}/{verb}",
            body,
            handle,
            name=decide.__name__,
            scope=scope,
            tags=[AGENDA],
            summary=summary,
            response_model=AgendaItem,
        )
        return decide

    return register


Item = agenda.AgendaItem
Events = tuple[list[Event], list[Event]]


@item_command("topic", "确定议题 Set the topic and the parties", SetTopic)
def set_topic(item: Item, case: Case, rules: Rules, command: SetTopic, caller: Caller) -> Events:
    return agenda.set_topic(item, command.topic, command.parties, caller.actor, now()), []


@item_command("meetings", "协商议事 Record a meeting and whether it agreed", HoldMeeting, "meeting")
def hold_meeting(
    item: Item, case: Case, rules: Rules, command: HoldMeeting, caller: Caller
) -> Events:
    return agenda.hold(
        item, command.participants, command.minutes, command.settled, caller.actor, now()
    ), []


@item_command(
    "decision", "分流落实 Decide, and give each unit its work order (议事清单 → 履职清单)", Decide
)
def decide_item(item: Item, case: Case, rules: Rules, command: Decide, caller: Caller) -> Events:
    at = now()
    duties = []
    for duty in command.assignments:
        due = rules.due(at, duty.within) if duty.within else None
        if duty.registration_id is not None:  # 双报到: the duty goes to the cadre's home unit
            reg = community.registration(rules.model, duty.registration_id, case.area_code)
            home = rules.model.responders[reg.unit]
            duties.append(agenda.Duty(home, community.duty_of(reg, duty.task), due, reg))
            continue
        unit = rules.model.responders.get(duty.responder_id or "")
        if unit is None:
            raise Problem(
                422, f"单位 {duty.responder_id} 不存在 Unknown responder", field="assignments"
            )
        duties.append(agenda.Duty(unit, duty.task, due))
    shares = [share.contract() for share in command.cost_shares]
    return agenda.assign(item, case, command.decision, duties, caller.actor, at, rules, shares)


@item_command("review", "监督评审 Review what was done", Review)
def review_item(item: Item, case: Case, rules: Rules, command: Review, caller: Caller) -> Events:
    return agenda.review(item, command.verdict, command.satisfied, caller.actor, now()), []


@item_command(
    "raise",
    "提交区县大党委联席会议 Raise an unsettled item to the district's joint meeting",
    Reason,
)
def raise_item(item: Item, case: Case, rules: Rules, command: Reason, caller: Caller) -> Events:
    district = agenda.district_of(item, rules.model)
    return agenda.raise_to_district(item, district, command.reason, caller.actor, now()), []
