"""Consultations and ballots (征求意见、表决): household registers, opening, voting links, votes on
paper and door to door, the public voting endpoint, and closing (the timer loop closes the rest).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime, Field

from services.dispatch import store, store_ballots
from services.dispatch.api.deps import REFUSALS, AnyCaller, answer, dispatch_of, register_command
from services.dispatch.api.schemas import (
    BallotView,
    Body,
    CostShareIn,
    HouseholdRegister,
    VoteAccepted,
    VotingLinks,
)
from services.dispatch.auth import Caller
from services.dispatch.domain import agenda, ballots
from services.dispatch.domain.rules import IllegalTransition, NotAllowed, Rules
from shared.apikeys import PUBLIC, hash_key
from shared.commands import causation_of, now
from shared.db import Connection
from shared.deadlines import Duration
from shared.events import Event
from shared.events.area import PATTERN as AREA_PATTERN
from shared.events.area import AreaLevel, like_patterns
from shared.http import Answer, Call, Offset, Problem, once
from shared.idempotency import IdempotencyKey
from shared.privacy import FreeText

router = APIRouter()
BALLOTS = "征求意见与表决 Consultations and ballots"
FRACTION = r"^[0-9]{1,4}/[1-9][0-9]{0,3}$"


class RegisterHouseholds(Body):
    csv: str = Field(
        min_length=10,
        max_length=500_000,
        description="CSV，列 unit_code,door（单元编码、门牌号；不含姓名） Columns unit_code,door",
    )


class OpenBallot(Body):
    kind: Literal["consultation", "ballot"] = Field(
        "ballot", description="consultation 征求意见 | ballot 表决"
    )
    area_code: str = Field(pattern=AREA_PATTERN, description="小区/网格、楼栋或单元 The area")
    title: FreeText = Field(min_length=2, max_length=200)
    proposal: FreeText = Field(min_length=2, max_length=4000, description="表决事项")
    options: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=lambda: ["同意", "不同意"], min_length=2, max_length=20
    )
    quorum: str = Field("2/3", pattern=FRACTION, description="参与率下限 At least this share votes")
    majority: str = Field("1/2", pattern=FRACTION, description="多数 The share an option needs")
    majority_of: Literal["cast", "households"] = Field(
        "cast", description="cast 投票户数 | households 全体户数"
    )
    majority_at_least: bool = Field(
        False, description="true: 达到即可（三分之二以上）; false: 须超过（过半数）"
    )
    opens_at: AwareDatetime | None = Field(None, description="开始（默认现在） Opens")
    closes_at: AwareDatetime | None = Field(None, description="截止 Closes")
    within: Duration | None = Field(None, description="或：期限，如 7d Or: how long it runs")
    item_id: UUID | None = Field(None, description="议事项：结果即其协商结论 The agenda item")
    cost_shares: list[CostShareIn] = Field(default_factory=list, max_length=20)


class IssueLinks(Body):
    households: list[Annotated[str, Field(max_length=80)]] | None = Field(
        None, max_length=5000, description="户号（默认：户册中尚未投票的每一户）"
    )


class EnterVote(Body):
    household_id: str = Field(min_length=3, max_length=80, description="户号 unit_code/door")
    choice: str = Field(min_length=1, max_length=100)
    method: Literal["paper", "door_to_door"] = Field(
        description="paper 纸质选票（居委会/业委会录入）| door_to_door 入户（服务该楼的工作人员）"
    )


class VoteByLink(Body):
    token: str = Field(min_length=16, max_length=100, description="链接中的投票凭证")
    choice: str = Field(min_length=1, max_length=100)


class CloseBallot(Body):
    pass


# --- the household register ---------------------------------------------------------------------


@router.put(
    "/households/{area_code}",
    tags=[BALLOTS],
    summary="载入户册（CSV：单元编码、门牌号） Load an area's household register",
    response_model=HouseholdRegister,
    responses=REFUSALS,
)
async def register_households(
    area_code: Annotated[str, Path(pattern=AREA_PATTERN)],
    command: RegisterHouseholds,
    request: Request,
    caller: AnyCaller,
) -> JSONResponse:
    """The community committee or the area's supervisors; replaces the area's last register."""
    dispatch = dispatch_of(request)
    async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
        rules = await dispatch.rules(conn)
        _known(rules, area_code)
        _may_run(caller, area_code, rules)
        try:
            households = ballots.read_register(area_code, command.csv)
        except ValueError as error:
            raise Problem(422, str(error), field="csv") from None
        await dispatch.register_households(conn, area_code, households, caller.actor)
        count, at = await store_ballots.register_of(conn, area_code)
    return answer({"area_code": area_code, "households": count, "registered_at": _iso(at)})


@router.get(
    "/households/{area_code}",
    tags=[BALLOTS],
    summary="户册户数 How many households an area has registered",
    response_model=HouseholdRegister,
    responses=REFUSALS,
)
async def get_register(
    area_code: Annotated[str, Path(pattern=AREA_PATTERN)], request: Request, caller: AnyCaller
) -> JSONResponse:
    dispatch = dispatch_of(request)
    async with request.app.state.runtime.pool.acquire() as conn:
        rules = await dispatch.rules(conn)
        _known(rules, area_code)
        _may_run(caller, area_code, rules)
        count, at = await store_ballots.register_of(conn, area_code)
    return answer({"area_code": area_code, "households": count, "registered_at": _iso(at)})


# --- opening, reading ---------------------------------------------------------------------------


@router.post(
    "/ballots",
    status_code=201,
    tags=[BALLOTS],
    summary="发起征求意见或表决 Open a consultation or ballot for an area's households",
    response_model=BallotView,
    responses=REFUSALS,
)
async def open_ballot(
    command: OpenBallot,
    request: Request,
    caller: AnyCaller,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The community committee or the area's supervisors (for an agenda item: those who run
    it). The roll is the area's registered households as they are now. An `Idempotency-Key`
    makes a retried opening the same ballot."""
    dispatch = dispatch_of(request)
    at = now()

    async def produce(conn: Connection) -> Answer:
        rules = await dispatch.rules(conn)
        _known(rules, command.area_code)
        _may_run(caller, command.area_code, rules)
        community = rules.model.enclosing(command.area_code, AreaLevel.COMMUNITY)
        if community is None:
            raise Problem(422, "该区域不属于任何社区 Not within a community", field="area_code")
        item = None
        if command.item_id is not None:
            item = await store.load_item(conn, dispatch.events, command.item_id)
            if item is None:
                raise Problem(404, f"议事项 {command.item_id} 不存在 No such agenda item")
            try:
                agenda.must_run(caller, item, rules.model)
            except NotAllowed as refusal:
                raise Problem(403, str(refusal)) from None
        opens_at = command.opens_at or at
        if (command.closes_at is None) == (command.within is None):
            raise Problem(422, "请给出 closes_at 或 within 之一 Give closes_at or within")
        closes_at = command.closes_at or rules.due(opens_at, command.within or "")
        try:
            events = ballots.open_ballot(
                uuid4(),
                ballots.Kind(command.kind),
                command.area_code,
                community,
                command.title,
                command.proposal,
                command.options,
                ballots.Rule(
                    command.quorum,
                    command.majority,
                    ballots.MajorityOf(command.majority_of),
                    command.majority_at_least,
                ),
                await store_ballots.households_within(conn, command.area_code),
                opens_at,
                closes_at,
                caller.actor,
                item,
                [c.contract() for c in command.cost_shares],
            )
        except (IllegalTransition, ValueError) as refusal:
            raise Problem(409, str(refusal)) from None
        causation = causation_of([], None)
        if item is not None:  # about the item's case: it joins the case's conversation
            _, history = await store.load_case(conn, dispatch.events, item.complaint_id)
            causation = causation_of(history)
        ballot = await dispatch.save_ballot(conn, None, events, causation)
        return 201, store_ballots.ballot_json(ballot)

    return await once(
        request,
        caller.key.key_id,
        "ballot",
        idempotency_key,
        command.model_dump(mode="json"),
        produce,
    )


@router.get(
    "/ballots",
    tags=[BALLOTS],
    summary="征求意见与表决列表 Ballots of the caller's areas",
    response_model=list[BallotView],
    responses=REFUSALS,
)
async def list_ballots(
    request: Request,
    caller: AnyCaller,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JSONResponse:
    dispatch = dispatch_of(request)
    async with request.app.state.runtime.pool.acquire() as conn:
        rules = await dispatch.rules(conn)
        scope = _scope(caller, rules)
        rows = await store_ballots.list_ballots(conn, scope, status, limit, offset)
    return answer(rows)


@router.get(
    "/ballots/{ballot_id}",
    tags=[BALLOTS],
    summary="一次征求意见或表决 One ballot, with its result once closed",
    response_model=BallotView,
    responses=REFUSALS,
)
async def get_ballot(ballot_id: UUID, request: Request, caller: AnyCaller) -> JSONResponse:
    dispatch = dispatch_of(request)
    async with request.app.state.runtime.pool.acquire() as conn:
        rules = await dispatch.rules(conn)
        ballot = await store_ballots.load_ballot(conn, dispatch.events, ballot_id)
    if ballot is None or not _readable(caller, ballot.opened.area_code, rules):
        raise Problem(404, f"表决 {ballot_id} 不存在，或不在你的辖区 Not found, or not yours")
    return answer(store_ballots.ballot_json(ballot))


# --- voting -------------------------------------------------------------------------------------


@router.post(
    "/ballots/{ballot_id}/links",
    tags=[BALLOTS],
    summary="生成投票链接凭证（每户一个，只显示一次） Issue voting links, one secret per household",
    response_model=VotingLinks,
    responses=REFUSALS,
)
async def issue_links(
    ballot_id: UUID, command: IssueLinks, request: Request, caller: AnyCaller
) -> JSONResponse:
    """Each household's token is shown once and only its hash is kept; a household's new token
    replaces its old one. (Not an idempotent command: a retry would have to keep the secrets.)"""
    dispatch = dispatch_of(request)
    issued: list[str] = []

    async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
        wanted = None
        if command.households is not None:  # doors → references (an unknown one is refused)
            refs = await store_ballots.refs_of(conn, command.households)
            wanted = [refs.get(h, h) for h in command.households]

        def decide(ballot: ballots.Ballot, rules: Rules) -> list[Event]:
            ballots.must_run(caller, ballot.opened.area_code, rules.model)
            events = ballots.issue_tokens(ballot, wanted, caller.actor, now())
            issued[:] = [h for e in events for h in getattr(e, "households", [])]
            return events

        await dispatch.change_ballot(conn, ballot_id, decide)
        links = [(ref, secrets.token_urlsafe(24)) for ref in issued]
        await store_ballots.save_tokens(
            conn, ballot_id, [(ref, hash_key(t)) for ref, t in links], now()
        )
        doors = await store_ballots.doors_of(conn, issued)
    return answer(
        {
            "ballot_id": str(ballot_id),
            "links": [{"household_id": doors.get(ref, ref), "token": t} for ref, t in links],
        }
    )


@router.post(
    "/vote",
    dependencies=[PUBLIC],
    tags=[BALLOTS],
    summary="凭链接投票（微信/短信） Vote by a household's link",
    response_model=VoteAccepted,
    responses=REFUSALS,
)
async def vote_by_link(command: VoteByLink, request: Request) -> JSONResponse:
    """No key: the token is the secret. One vote per household; a second is refused."""
    dispatch = dispatch_of(request)
    at = now()
    async with request.app.state.runtime.pool.acquire() as conn, conn.transaction():
        holder = await store_ballots.token_holder(conn, hash_key(command.token))
        if holder is None:
            raise Problem(404, "投票链接无效或已被新链接取代 Unknown or replaced voting link")
        ballot_id, household = holder
        ballot = await dispatch.change_ballot(
            conn,
            ballot_id,
            lambda b, _: ballots.cast(
                b, household, command.choice, ballots.Method.LINK, "resident:link", at
            ),
        )
    return answer(
        {
            "ballot_id": str(ballot_id),
            "title": ballot.opened.title,
            "choice": command.choice,
            "cast_at": at.isoformat(),
        }
    )


async def enter_vote(call: Call[Caller, EnterVote]) -> Answer:
    """A paper ballot entered by a committee, or a vote a head collected at the door."""
    command, caller = call.body, call.caller
    method = ballots.Method(command.method)
    door = command.household_id
    ref = (await store_ballots.refs_of(call.conn, [door])).get(door)

    def decide(ballot: ballots.Ballot, rules: Rules) -> list[Event]:
        if not may_enter_at(caller, ballot.opened.area_code, door, rules):
            raise Problem(404, f"表决 {call.target} 不存在，或不在你的辖区 Not found, or not yours")
        ballots.may_enter(caller, door, method, rules.model)
        if ref is None:
            raise IllegalTransition(f"{door} 不在户册中 Not on the roll")
        return ballots.cast(ballot, ref, command.choice, method, caller.actor, now())

    ballot = await dispatch_of(call.request).change_ballot(call.conn, call.target, decide)
    return 200, store_ballots.ballot_json(ballot)


register_command(
    router,
    "/ballots/{ballot_id}/votes",
    EnterVote,
    enter_vote,
    name="enter_vote",
    tags=[BALLOTS],
    summary="录入纸质选票或入户投票 Enter a paper vote or one collected door to door",
    response_model=BallotView,
)


async def close_ballot(call: Call[Caller, CloseBallot]) -> Answer:
    """Close now (before its closing time, e.g. when every household has voted)."""
    caller = call.caller

    def decide(ballot: ballots.Ballot, rules: Rules) -> list[Event]:
        ballots.must_run(caller, ballot.opened.area_code, rules.model)
        return ballots.close(ballot, caller.actor, now())

    ballot = await dispatch_of(call.request).change_ballot(call.conn, call.target, decide)
    return 200, store_ballots.ballot_json(ballot)


register_command(
    router,
    "/ballots/{ballot_id}/close",
    CloseBallot,
    close_ballot,
    name="close_ballot",
    tags=[BALLOTS],
    summary="结束表决并计票 Close the ballot and count",
    response_model=BallotView,
)


# --- who may ------------------------------------------------------------------------------------


def _known(rules: Rules, area_code: str) -> None:
    if area_code not in rules.model.area_names:
        raise Problem(404, f"区域 {area_code} 不在城市模型中 Unknown area")


def _may_run(caller: Caller, area_code: str, rules: Rules) -> None:
    try:
        ballots.must_run(caller, area_code, rules.model)
    except NotAllowed as refusal:
        raise Problem(403, str(refusal)) from None


def _readable(caller: Caller, area_code: str, rules: Rules) -> bool:
    """Supervisors of the area and the units serving it (the committees, the heads)."""
    return caller.supervises(rules.model, area_code) or ballots.serves(
        caller, area_code, rules.model
    )


def may_enter_at(caller: Caller, area_code: str, household: str, rules: Rules) -> bool:
    """Who may bring a vote to a ballot of `area_code`: those who read it, and the units of the
    household's own building (a 楼栋长 or 单元长 at the door, in a compound's ballot)."""
    return _readable(caller, area_code, rules) or ballots.serves(
        caller, ballots.unit_of(household), rules.model
    )


def _scope(caller: Caller, rules: Rules) -> list[str] | None:
    if caller.is_admin:
        return None
    unit = caller.responder
    if unit is not None:
        return [p for area in rules.model.served[unit.id] for p in like_patterns(area)]
    return caller.area_patterns()


def _iso(at: Any) -> str | None:
    return at.isoformat() if at is not None else None
