"""Work orders: a unit's own orders and what it does with them (sign, contact, start, ask for
more time, report back, return), the supervisors' answers (approve or refuse an extension, urge),
and why an order went to its unit.

A unit sees and acts on its own work orders only (another unit's order is a 404); a street
office, the district government and supervisor keys also act on the orders in their areas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.dispatch import store
from services.dispatch.api.deps import (
    ORDERS,
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
    Body,
    Explanation,
    GroupReply,
    HandDispatch,
    Note,
    OptionalNote,
    Reason,
    Report,
    RequestExtension,
    ReturnOrder,
    WorkOrder,
    WorkOrderPage,
    live,
    order_view,
)
from services.dispatch.auth import Caller
from services.dispatch.domain import community, orders, rota, supervision
from services.dispatch.domain.case import Case, Purpose
from services.dispatch.domain.case import WorkOrder as Order
from services.dispatch.domain.rules import NotAllowed, Rules
from shared.commands import now
from shared.events import Event
from shared.http import Answer, Call, Offset, Problem

router = APIRouter()


def order_of(case: Case, work_order_id: UUID) -> Order:
    order = case.order(work_order_id)
    if order is None:
        raise hidden("工单")
    return order


# --- the unit's own orders -----------------------------------------------------------------


def _holder(caller: Caller, case: Case, order: Order, rules: Rules) -> None:
    if caller.holds(order.responder.id):
        return
    if visible(caller, case, rules):
        raise Problem(
            403,
            f"该工单由{order.responder.name}承办，只有承办单位可以操作 Only {order.responder.name} acts on it",
        )
    raise hidden("工单")


def _supervisor(caller: Caller, case: Case, order: Order, rules: Rules) -> None:
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


def _urger(caller: Caller, case: Case, order: Order, rules: Rules) -> None:
    """A supervisor of the area, or the unit the case was escalated to (升级督办)."""
    escalated_to = any(
        o.purpose is Purpose.ESCALATION and o.is_open and caller.holds(o.responder.id)
        for o in case.orders
    )
    if not escalated_to:
        _supervisor(caller, case, order, rules)


OrderDecision = Callable[[Case, Order, Rules, Any, Caller], list[Event]]


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

            def checked(case: Case, rules: Rules) -> list[Event]:
                order = order_of(case, work_order_id)
                allowed(call.caller, case, order, rules)
                return decide(case, order, rules, call.body, call.caller)

            case = await dispatch_of(call.request).change_case(
                call.conn, row["complaint_id"], checked, call.correlation
            )
            return 200, order_view(case, work_order_id)

        register_command(
            router,
            f"/work-orders/{{work_order_id}}/{verb}",
            body,
            handle,
            name=decide.__name__,
            tags=[ORDERS],
            summary=summary,
            response_model=WorkOrder,
        )
        return decide

    return register


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


@order_command(
    "reply",
    "群内公开回复 Record the public reply in the residents' WeChat group",
    GroupReply,
    _holder,
)
def reply_in_group(
    case: Case, order: Order, rules: Rules, command: GroupReply, caller: Caller
) -> list[Event]:
    return rota.post_reply(case, order, command.reply, caller.actor, now(), rules)


@order_command("return", "退单 Return: not this unit's business", ReturnOrder, _holder)
def return_order(
    case: Case, order: Order, rules: Rules, command: ReturnOrder, caller: Caller
) -> list[Event]:
    return orders.return_order(
        case, order, command.reason, command.suggested_responder_id, caller.actor, now(), rules
    )


def _dispatcher(caller: Caller, case: Case, order: Order, rules: Rules) -> None:
    try:
        community.must_dispatch(caller, case, order, rules.model)
    except NotAllowed as refusal:
        if not visible(caller, case, rules):
            raise hidden("工单") from None
        raise Problem(403, str(refusal)) from None


@order_command(
    "dispatch",
    "业委会派单 The committee chooses the lead and co-responders (居民下单、业委会派单、多方接单)",
    HandDispatch,
    _dispatcher,
)
def dispatch_by_hand(
    case: Case, order: Order, rules: Rules, command: HandDispatch, caller: Caller
) -> list[Event]:
    return community.dispatch_by_hand(
        case, order, command.lead, command.co, command.reason, caller.actor, now(), rules
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
    response_model=WorkOrderPage,
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
        Query(
            description="dispatch/redo/reroute/arbitration/escalation/whistle/deliberation/"
            "committee/community_call"
        ),
    ] = None,
    overdue: Annotated[
        bool | None, Query(description="只看（或排除）超期工单 Only (or no) breached orders")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> JSONResponse:
    """A unit sees its own orders; supervisors see every order in their areas."""
    responder_id, patterns = seen_by(caller)
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
    return answer(
        {"work_orders": [live(row, at) for row in rows], "limit": limit, "offset": offset}
    )


@router.get(
    "/work-orders/{work_order_id}",
    tags=[ORDERS],
    summary="工单详情 One work order",
    response_model=WorkOrder,
    responses=REFUSALS,
)
async def get_work_order(work_order_id: UUID, request: Request, caller: AnyCaller) -> JSONResponse:
    return answer(await _seen_order(work_order_id, request, caller))


async def _seen_order(work_order_id: UUID, request: Request, caller: Caller) -> dict[str, Any]:
    """The order, if the caller holds it or supervises its area."""
    async with runtime_of(request).pool.acquire() as conn:
        row = await store.find_order(conn, work_order_id)
    if row is None:
        raise hidden("工单")
    case, rules = await visible_case(request, caller, row["complaint_id"])
    order = order_of(case, work_order_id)
    if not (caller.holds(order.responder.id) or caller.supervises(rules.model, case.area_code)):
        raise hidden("工单")
    return order_view(case, work_order_id)


@router.get(
    "/work-orders/{work_order_id}/explanation",
    tags=[ORDERS],
    summary="派单依据 Why the order went to this unit: the rule as it stood in that catalogue version",
    response_model=Explanation,
    responses=REFUSALS,
)
async def explain_work_order(
    work_order_id: UUID, request: Request, caller: AnyCaller
) -> JSONResponse:
    view = await _seen_order(work_order_id, request, caller)
    routing = view["routing"]
    async with runtime_of(request).pool.acquire() as conn:
        body = await dispatch_of(request).city_at(conn, routing["catalogue_version"])
    rule = next(
        (r for r in (body or {}).get("catalogue", []) if r["id"] == routing["rule_id"]), None
    )
    return answer(
        {
            "work_order_id": str(work_order_id),
            "responder": view["responder"],
            "purpose": view["purpose"],
            **routing,
            "rule": rule,
            "city": (body or {}).get("city"),
        }
    )
