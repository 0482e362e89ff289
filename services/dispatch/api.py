"""Dispatch's HTTP routes for the units and supervisors: work orders, cases, the agenda.

A unit sees and acts on its own work orders only (another unit's order is a 404); a street
office, the district government and supervisor keys also act on the cases in their areas.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.dispatch import domain, orders, store, supervision
from services.dispatch.auth import Caller, Role, require
from services.dispatch.city import ResponderKind
from services.dispatch.service import Dispatch
from shared.commands import now
from shared.deadlines import Duration
from shared.events import Event
from shared.http import Answer, Call, Offset, Problem, command_route
from shared.privacy import FreeText
from shared.runtime import ServiceRuntime

router = APIRouter()
ORDERS = "工单 Work orders"
CASES = "案件与督办 Cases and supervision"
AGENDA = "议事 Deliberation"

AnyCaller = Annotated[Caller, require(Role.RESPONDER, Role.SUPERVISOR)]
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "缺少或无效的 API Key (problem+json)"},
    403: {"description": "无权执行 Not allowed for this key (problem+json)"},
    404: {"description": "不存在或无权查看 Not found, or not yours to see (problem+json)"},
    409: {"description": "当前状态不允许 Not allowed in the current state (problem+json)"},
    422: {"description": "请求参数有误 Invalid request (problem+json)"},
    429: {"description": "请求过于频繁 Rate limited (problem+json)"},
}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Note(Body):
    note: FreeText = Field(min_length=1, max_length=1000, description="说明 What was done or said")


class OptionalNote(Body):
    note: FreeText | None = Field(None, max_length=1000, description="说明 Note")


class Reason(Body):
    reason: FreeText = Field(min_length=1, max_length=1000, description="理由 Reason")


class Report(Body):
    report: FreeText = Field(
        min_length=2, max_length=4000, description="办理结果 What was done (反馈)"
    )


class ReturnOrder(Body):
    reason: FreeText = Field(
        min_length=2, max_length=1000, description="退单理由 Why it is not yours"
    )
    suggested_responder_id: str | None = Field(None, description="建议承办单位 Who should take it")


class RequestExtension(Body):
    extend_by: Duration = Field(description="延长多久 How much longer, e.g. 3d, 2wd, 12h")
    reason: FreeText = Field(min_length=2, max_length=1000)


class Whistle(Body):
    departments: list[str] = Field(min_length=1, max_length=20, description="被吹哨的部门 id")
    reason: FreeText = Field(min_length=2, max_length=1000)


class Arbitrate(Body):
    responder_id: str = Field(description="裁定的主办单位 The unit that must lead")
    reason: FreeText = Field(min_length=2, max_length=1000)


def dispatch_of(request: Request) -> Dispatch:
    dispatch: Dispatch = request.app.state.runtime.state["dispatch"]
    return dispatch


def runtime_of(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


def _key_id(caller: Caller) -> str:
    return caller.key.key_id


# POST /<resource>/{id}/<verb> on a router of dispatch's, by any caller with a key; each key's
# Idempotency-Keys are its own.
register_command = functools.partial(
    command_route, caller=AnyCaller, key_id=_key_id, responses=REFUSALS
)


def live(order: dict[str, Any], at: datetime) -> dict[str, Any]:
    """A stored order view with what changes by the minute: time left on each clock."""
    clocks = []
    for clock in order["clocks"]:
        running = clock["stopped_at"] is None and not clock["suspended"]
        left = (datetime.fromisoformat(clock["due_at"]) - at).total_seconds()
        clocks.append(
            clock | {"running": running, "seconds_left": round(left) if running else None}
        )
    return order | {
        "clocks": clocks,
        "overdue": any(
            c["breached"] or (c["running"] and (c["seconds_left"] or 0) < 0) for c in clocks
        ),
    }


def _order_view(case: domain.Case, work_order_id: UUID) -> dict[str, Any]:
    order = case.order(work_order_id)
    assert order is not None
    return live(store.order_json(order, case), now())


def case_json(case: domain.Case, rules: domain.Rules) -> dict[str, Any]:
    model = rules.model
    at = now()
    return {
        "complaint_id": str(case.complaint_id),
        "status": case.status,
        "status_label": domain.CASE_LABELS[case.status],
        "area_code": case.area_code,
        "area_name": model.area_names.get(case.area_code),
        "category": case.category,
        "priority": case.priority,
        "round": case.round,
        "level": case.level.name.lower(),
        "level_label": case.level.label,
        "lead_work_order_id": str(case.lead_id) if case.lead_id else None,
        "returned_by": sorted(case.returned_by),
        "arbitration": (
            {
                "arbitrator_id": case.arbitration.arbitrator_id,
                "arbitrator_name": case.arbitration.arbitrator_name,
                "reason": case.arbitration.reason,
                "requested_at": case.arbitration.requested_at.isoformat(),
            }
            if case.arbitration
            else None
        ),
        "deliberation_item_id": str(case.deliberation) if case.deliberation else None,
        "supervised": case.supervised,
        "resolved_at": case.resolved_at.isoformat() if case.resolved_at else None,
        "cancelled": case.cancelled,
        "work_orders": [live(store.order_json(o, case), at) for o in case.orders],
        "updated_at": case.updated_at.isoformat() if case.updated_at else None,
        "version": case.version,
    }


# A unit that returned its order, or whose order was withdrawn, is no longer part of the case.
_GONE = frozenset({domain.OrderStatus.RETURNED, domain.OrderStatus.CANCELLED})


def visible(caller: Caller, case: domain.Case, rules: domain.Rules) -> bool:
    """Supervisors of the area see the case; units see it while they have a part in it."""
    return caller.supervises(rules.model, case.area_code) or any(
        caller.holds(o.responder.id) and o.status not in _GONE for o in case.orders
    )


def hidden(what: str) -> Problem:
    return Problem(404, f"{what}不存在，或不属于你单位 Not found, or not yours to see")


def _order_of(case: domain.Case, work_order_id: UUID) -> domain.WorkOrder:
    order = case.order(work_order_id)
    if order is None:
        raise hidden("工单")
    return order


# --- the unit's own orders -----------------------------------------------------------------


def _holder(
    caller: Caller, case: domain.Case, order: domain.WorkOrder, rules: domain.Rules
) -> None:
    if caller.holds(order.responder.id):
        return
    if visible(caller, case, rules):
        raise Problem(
            403,
            f"该工单由{order.responder.name}承办，只有承办单位可以操作 Only {order.responder.name} acts on it",
        )
    raise hidden("工单")


def _supervisor(
    caller: Caller, case: domain.Case, order: domain.WorkOrder, rules: domain.Rules
) -> None:
    if (
        caller.responder is not None
        and caller.responder.id == order.responder.id
        and not caller.is_admin
    ):
        raise Problem(403, "不能审批或督办本单位自己的工单 A unit cannot supervise its own order")
    if caller.supervises(rules.model, case.area_code):
        return
    if visible(caller, case, rules):
        raise Problem(403, "只有属地街道、区县政府或督办人员可以操作 Supervisors of the area only")
    raise hidden("工单")


def _urger(caller: Caller, case: domain.Case, order: domain.WorkOrder, rules: domain.Rules) -> None:
    """A supervisor of the area, or the unit the case was escalated to (升级督办)."""
    escalated_to = any(
        o.purpose is domain.Purpose.ESCALATION and o.is_open and caller.holds(o.responder.id)
        for o in case.orders
    )
    if not escalated_to:
        _supervisor(caller, case, order, rules)


OrderDecision = Callable[[domain.Case, domain.WorkOrder, domain.Rules, Any, Caller], list[Event]]


def order_command(
    verb: str, summary: str, body: type[Body], allowed: Callable[..., None]
) -> Callable[[OrderDecision], OrderDecision]:
    """POST /work-orders/{work_order_id}/<verb> for the decorated decision `(case, order, rules,
    body, caller)`, once `allowed` lets the caller act on the order; the answer is the order."""

    def register(decide: OrderDecision) -> OrderDecision:
        async def handle(call: Call[Caller, Any]) -> Answer:
            work_order_id: UUID = call.target
            row = await store.find_order(call.conn, work_order_id)
            if row is None:
                raise hidden("工单")

            def checked(case: domain.Case, rules: domain.Rules) -> list[Event]:
                order = _order_of(case, work_order_id)
                allowed(call.caller, case, order, rules)
                return decide(case, order, rules, call.body, call.caller)

            case = await dispatch_of(call.request).change_case(
                call.conn, row["complaint_id"], checked, call.correlation
            )
            return 200, _order_view(case, work_order_id)

        register_command(
            router,
            f"/work-orders/{{work_order_id}}/{verb}",
            body,
            handle,
            name=decide.__name__,
            tags=[ORDERS],
            summary=summary,
        )
        return decide

    return register


Order = domain.WorkOrder
Case = domain.Case
Rules = domain.Rules


@order_command("sign", "签收 Sign for the order", OptionalNote, _holder)
def sign_order(
    case: Case, order: Order, rules: Rules, command: OptionalNote, caller: Caller
) -> list[Event]:
    return orders.sign(case, order, caller.actor, command.note, now())


@order_command("contact", "联系诉求人 Record contacting the resident", Note, _holder)
def contact_resident(
    case: Case, order: Order, rules: Rules, command: Note, caller: Caller
) -> list[Event]:
    return orders.contact(case, order, caller.actor, command.note, now())


@order_command("start", "开始办理 Start the work on site", Note, _holder)
def start_work(
    case: Case, order: Order, rules: Rules, command: Note, caller: Caller
) -> list[Event]:
    return orders.start(case, order, caller.actor, command.note, now())


@order_command("extension", "申请延期 Ask for more time", RequestExtension, _holder)
def request_extension(
    case: Case, order: Order, rules: Rules, command: RequestExtension, caller: Caller
) -> list[Event]:
    return orders.request_extension(
        case, order, command.extend_by, command.reason, caller.actor, now(), rules
    )


@order_command("resolve", "办理反馈 Report back", Report, _holder)
def resolve_order(
    case: Case, order: Order, rules: Rules, command: Report, caller: Caller
) -> list[Event]:
    return orders.resolve(case, order, command.report, caller.actor, now())


@order_command("return", "退单 Return: not this unit's business", ReturnOrder, _holder)
def return_order(
    case: Case, order: Order, rules: Rules, command: ReturnOrder, caller: Caller
) -> list[Event]:
    return orders.return_order(
        case, order, command.reason, command.suggested_responder_id, caller.actor, now(), rules
    )


@order_command("extension/approve", "批准延期 Approve the extension", Reason, _supervisor)
def approve_extension(
    case: Case, order: Order, rules: Rules, command: Reason, caller: Caller
) -> list[Event]:
    return supervision.approve_extension(case, order, command.reason, caller.actor, now(), rules)


@order_command("extension/refuse", "驳回延期 Refuse the extension", Reason, _supervisor)
def refuse_extension(
    case: Case, order: Order, rules: Rules, command: Reason, caller: Caller
) -> list[Event]:
    return supervision.refuse_extension(case, order, command.reason, caller.actor, now())


@order_command("urge", "催办 Urge the unit on", Note, _urger)
def urge_order(
    case: Case, order: Order, rules: Rules, command: Note, caller: Caller
) -> list[Event]:
    return supervision.urge(case, order, command.note, caller.actor, now())


@router.get(
    "/work-orders",
    tags=[ORDERS],
    summary="工单列表 The orders this key may see",
    responses=REFUSALS,
)
async def list_work_orders(
    request: Request,
    caller: AnyCaller,
    status: Annotated[
        str | None,
        Query(description="状态 issued/signed/contacted/in_progress/resolved/returned/cancelled"),
    ] = None,
    complaint_id: UUID | None = None,
    purpose: Annotated[
        str | None,
        Query(description="dispatch/redo/reroute/arbitration/escalation/whistle/deliberation"),
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="只看（或排除）超期工单 Only (or no) breached orders")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> dict[str, Any]:
    """A unit sees its own orders; supervisors see every order in their areas."""
    responder_id, patterns = _seen_by(caller)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.list_orders(
            conn,
            responder_id=responder_id,
            area_patterns=patterns,
            status=status,
            complaint_id=complaint_id,
            purpose=purpose,
            overdue=overdue,
            limit=limit,
            offset=offset,
        )
    at = now()
    return {"work_orders": [live(row, at) for row in rows], "limit": limit, "offset": offset}


def _seen_by(caller: Caller) -> tuple[str | None, list[str] | None]:
    """(unit, area patterns) a caller's lists cover; (None, None) is everything."""
    if caller.is_admin:
        return None, None
    if caller.responder is None:
        return None, caller.area_patterns()  # a supervisor: its scope, or the city
    return caller.responder.id, caller.area_patterns() or None  # a unit, and a street's areas


async def _visible_case(
    request: Request, caller: Caller, complaint_id: UUID
) -> tuple[domain.Case, domain.Rules]:
    dispatch = dispatch_of(request)
    async with runtime_of(request).pool.acquire() as conn:
        case, _ = await store.load_case(conn, dispatch.events, complaint_id)
        rules = await dispatch.rules(conn)
    if case is None or not visible(caller, case, rules):
        raise hidden("派单案件")
    return case, rules


@router.get(
    "/work-orders/{work_order_id}",
    tags=[ORDERS],
    summary="工单详情 One work order",
    responses=REFUSALS,
)
async def get_work_order(
    work_order_id: UUID, request: Request, caller: AnyCaller
) -> dict[str, Any]:
    async with runtime_of(request).pool.acquire() as conn:
        row = await store.find_order(conn, work_order_id)
    if row is None:
        raise hidden("工单")
    case, rules = await _visible_case(request, caller, row["complaint_id"])
    order = _order_of(case, work_order_id)
    if not (caller.holds(order.responder.id) or caller.supervises(rules.model, case.area_code)):
        raise hidden("工单")
    return _order_view(case, work_order_id)


@router.get(
    "/work-orders/{work_order_id}/explanation",
    tags=[ORDERS],
    summary="派单依据 Why the order went to this unit: the rule as it stood in that catalogue version",
    responses=REFUSALS,
)
async def explain_work_order(
    work_order_id: UUID, request: Request, caller: AnyCaller
) -> dict[str, Any]:
    view = await get_work_order(work_order_id, request, caller)
    routing = view["routing"]
    async with runtime_of(request).pool.acquire() as conn:
        body = await dispatch_of(request).city_at(conn, routing["catalogue_version"])
    rule = next(
        (r for r in (body or {}).get("catalogue", []) if r["id"] == routing["rule_id"]), None
    )
    return {
        "work_order_id": str(work_order_id),
        "responder": view["responder"],
        "purpose": view["purpose"],
        **routing,
        "rule": rule,
        "city": (body or {}).get("city"),
    }


# --- cases: supervision, the whistle, arbitration, deliberation --------------------------------


@router.get(
    "/cases/{complaint_id}",
    tags=[CASES],
    summary="派单案件 The case: every order, clock and step",
    responses=REFUSALS,
)
async def get_case(complaint_id: UUID, request: Request, caller: AnyCaller) -> dict[str, Any]:
    case, rules = await _visible_case(request, caller, complaint_id)
    return case_json(case, rules)


@router.get(
    "/cases/{complaint_id}/events",
    tags=[CASES],
    summary="全程留痕 The case's event stream",
    responses=REFUSALS,
)
async def case_events(complaint_id: UUID, request: Request, caller: AnyCaller) -> dict[str, Any]:
    await _visible_case(request, caller, complaint_id)
    async with runtime_of(request).pool.acquire() as conn:
        history = await dispatch_of(request).events.read_stream(
            conn, store.case_stream(complaint_id)
        )
    return {
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


CaseDecision = Callable[[domain.Case, domain.Rules, Any, Caller], list[Event]]


def case_command(
    verb: str, summary: str, body: type[Body]
) -> Callable[[CaseDecision], CaseDecision]:
    """POST /cases/{complaint_id}/<verb> for the decorated decision `(case, rules, body,
    caller)` on a case the caller can see; the answer is the case."""

    def register(decide: CaseDecision) -> CaseDecision:
        async def handle(call: Call[Caller, Any]) -> Answer:
            dispatch = dispatch_of(call.request)

            def checked(case: domain.Case, rules: domain.Rules) -> list[Event]:
                if not visible(call.caller, case, rules):
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
        )
        return decide

    return register


def _must_supervise(caller: Caller, case: domain.Case, rules: domain.Rules, what: str) -> None:
    if not caller.supervises(rules.model, case.area_code):
        raise Problem(
            403, f"只有属地街道、区县政府或督办人员可以{what} Supervisors of the area only"
        )


@case_command("supervise", "督办 Put the case under supervision", Note)
def supervise_case(case: Case, rules: Rules, command: Note, caller: Caller) -> list[Event]:
    _must_supervise(caller, case, rules, "督办")
    return supervision.supervise(case, command.note, caller.actor, now())


@case_command("whistle", "吹哨报到 / 街呼县应: the street calls the departments in", Whistle)
def blow_whistle(case: Case, rules: Rules, command: Whistle, caller: Caller) -> list[Event]:
    model = rules.model
    street = caller.responder
    if street is None or street.kind is not ResponderKind.STREET_OFFICE:
        _must_supervise(caller, case, rules, "吹哨")
        street = model.nearest(case.area_code, ResponderKind.STREET_OFFICE)
        if street is None:
            raise Problem(409, "该区域没有街道办事处，无法吹哨 No street office for this area")
    elif not caller.supervises(model, case.area_code):
        raise Problem(
            403, f"{street.name}只能为本街道的案件吹哨 A street whistles for its own cases"
        )
    return supervision.blow_whistle(
        case, street, command.departments, command.reason, caller.actor, now(), rules
    )


@case_command("arbitrate", "街道裁定 Decide who leads a returned case", Arbitrate)
def arbitrate_case(case: Case, rules: Rules, command: Arbitrate, caller: Caller) -> list[Event]:
    pending = case.arbitration
    unit = caller.responder
    named = pending is not None and unit is not None and unit.id == pending.arbitrator_id
    # A unit that returned the case does not rule on it, even if it supervises the area
    # (a street that returned it leaves the ruling to the district).
    if not named and (unit is not None and unit.id in case.returned_by):
        raise Problem(
            403, f"{unit.name}已退单，由{pending.arbitrator_name if pending else '上级'}裁定"
        )
    if not named and not (
        caller.is_admin or (unit is None or unit.kind is ResponderKind.DISTRICT_GOVERNMENT)
    ):
        raise Problem(403, "只有被提请裁定的单位、区县政府或督办人员可以裁定 Not this key's ruling")
    if not named:
        _must_supervise(caller, case, rules, "裁定")
    arbitrator = (
        rules.model.responders.get(pending.arbitrator_id) if pending else None
    ) or rules.model.government(case.area_code)
    return supervision.arbitrate(
        case, arbitrator, command.responder_id, command.reason, caller.actor, now(), rules
    )


@router.get(
    "/arbitration",
    tags=[CASES],
    summary="待裁定的案件 Cases waiting for arbitration",
    responses=REFUSALS,
)
async def arbitration_queue(request: Request, caller: AnyCaller) -> dict[str, Any]:
    arbitrator, patterns = _seen_by(caller)
    async with runtime_of(request).pool.acquire() as conn:
        rows = await store.pending_arbitrations(conn, arbitrator, patterns)
    return {
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
