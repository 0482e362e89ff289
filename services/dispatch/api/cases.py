"""Cases: the case with every order, clock and step, its event stream, and what supervisors
and streets do with it (supervise, whistle the departments in, arbitrate a returned case).

Supervisors of the area act on the case; a unit sees it while it has a part in it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.dispatch import store
from services.dispatch.api.deps import (
    CASES,
    REFUSALS,
    AnyCaller,
    answer,
    dispatch_of,
    hidden,
    register_command,
    runtime_of,
    seen_by,
    visible,
    visible_case,
)
from services.dispatch.api.schemas import (
    Arbitrate,
    ArbitrationQueue,
    Body,
    CallIn,
    CaseEvents,
    DispatchCase,
    Note,
    Whistle,
    case_json,
)
from services.dispatch.auth import Caller
from services.dispatch.domain import community, supervision
from services.dispatch.domain.agenda import committee_of
from services.dispatch.domain.case import Case
from services.dispatch.domain.rules import Rules
from shared.commands import now
from shared.events import Event
from shared.http import Answer, Call

router = APIRouter()


@router.get(
    "/cases/{complaint_id}",
    tags=[CASES],
    summary="派单案件 The case: every order, clock and step",
    response_model=DispatchCase,
    responses=REFUSALS,
)
async def get_case(complaint_id: UUID, request: Request, caller: AnyCaller) -> JSONResponse:
    case, rules = await visible_case(request, caller, complaint_id)
    return answer(case_json(case, rules))


@router.get(
    "/cases/{complaint_id}/events",
    tags=[CASES],
    summary="全程留痕 The case's event stream",
    response_model=CaseEvents,
    responses=REFUSALS,
)
async def case_events(complaint_id: UUID, request: Request, caller: AnyCaller) -> JSONResponse:
    await visible_case(request, caller, complaint_id)
    async with runtime_of(request).pool.acquire() as conn:
        history = await dispatch_of(request).events.read_stream(
            conn, store.case_stream(complaint_id)
        )
    return answer(
        {
            "complaint_id": str(complaint_id),
            "events": [
                {
                    "id": str(r.id),
                    "type": r.type,
                    "position": r.position,
                    "recorded_at": r.recorded_at.isoformat(),
                    "data": r.data,
                }
                for r in history
            ],
        }
    )


CaseDecision = Callable[[Case, Rules, Any, Caller], list[Event]]


def case_command(
    verb: str,
    summary: str,
    body: type[Body],
    sees: Callable[[Caller, Case, Rules], bool] = visible,
) -> Callable[[CaseDecision], CaseDecision]:
    """POST /cases/{complaint_id}/<verb> for the decorated decision `(case, rules, body,
    caller)` on a case the caller can see (`sees`); the answer is the case."""

    def register(decide: CaseDecision) -> CaseDecision:
        async def handle(call: Call[Caller, Any]) -> Answer:
            dispatch = dispatch_of(call.request)

            def checked(case: Case, rules: Rules) -> list[Event]:
                if not sees(call.caller, case, rules):
                    raise hidden("派单案件")
                return decide(case, rules, call.body, call.caller)

            case = await dispatch.change_case(call.conn, call.target, checked, call.correlation)
            return 200, case_json(case, await dispatch.rules(call.conn))

        register_command(
            router,
            f"/cases/{{complaint_id}}/{verb}",
            body,
            handle,
            name=decide.__name__,
            tags=[CASES],
            summary=summary,
            response_model=DispatchCase,
        )
        return decide

    return register


@case_command("supervise", "督办 Put the case under supervision", Note)
def supervise_case(case: Case, rules: Rules, command: Note, caller: Caller) -> list[Event]:
    supervision.must_supervise(caller, case, rules.model, "督办")
    return supervision.supervise(case, command.note, caller.actor, now())


@case_command("whistle", "吹哨报到 / 街呼县应: the street calls the departments in", Whistle)
def blow_whistle(case: Case, rules: Rules, command: Whistle, caller: Caller) -> list[Event]:
    street = supervision.whistler(caller, case, rules.model)
    return supervision.blow_whistle(
        case, street, command.departments, command.reason, caller.actor, now(), rules
    )


def _community_sees(caller: Caller, case: Case, rules: Rules) -> bool:
    """A community committee also sees the cases of its community, to call units in on them."""
    return visible(caller, case, rules) or committee_of(caller, case.area_code, rules.model)


@case_command(
    "call", "社区点单 The community calls units and 双报到 cadres in", CallIn, _community_sees
)
def call_in(case: Case, rules: Rules, command: CallIn, caller: Caller) -> list[Event]:
    committee = community.caller_committee(caller, case, rules.model)
    return community.call_in(
        case,
        committee,
        command.responder_ids,
        command.registration_ids,
        command.reason,
        caller.actor,
        now(),
        rules,
    )


@case_command("arbitrate", "街道裁定 Decide who leads a returned case", Arbitrate)
def arbitrate_case(case: Case, rules: Rules, command: Arbitrate, caller: Caller) -> list[Event]:
    arbitrator = supervision.arbitrator(caller, case, rules.model)
    return supervision.arbitrate(
        case, arbitrator, command.responder_id, command.reason, caller.actor, now(), rules
    )


@router.get(
    "/arbitration",
    tags=[CASES],
    summary="待裁定的案件 Cases waiting for arbitration",
    response_model=ArbitrationQueue,
    responses=REFUSALS,
)
async def arbitration_queue(request: Request, caller: AnyCaller) -> JSONResponse:
    arbitrator, patterns = seen_by(caller)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.pending_arbitrations(conn, arbitrator, patterns)
    return answer(
        {
            "cases": [
                {
                    "complaint_id": str(r["complaint_id"]),
                    "area_code": r["area_code"],
                    "category": r["category"],
                    "arbitrator_id": r["arbitrator_id"],
                    "updated_at": r["updated_at"].isoformat(),
                }
                for r in rows
            ]
        }
    )
