"""What dispatch's routes read and answer: the command bodies, and a case or work order
shaped as the API shows it, with the time left on each clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from services.dispatch import domain, store
from shared.commands import now
from shared.deadlines import Duration
from shared.privacy import FreeText


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


def order_view(case: domain.Case, work_order_id: UUID) -> dict[str, Any]:
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
