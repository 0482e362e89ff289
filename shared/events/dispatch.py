"""Events owned by dispatch, published on `dispatch.events`."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from uuid import UUID

from shared.events.base import Event


class ResponderRole(StrEnum):
    LEAD = "lead"  # 主办 (首接负责)
    CO = "co"  # 协办


class CityModelLoaded(Event):
    """A city's areas, responders and dispatch catalogue (派单目录) were loaded or replaced."""

    event_type = "CityModelLoaded"
    version = 1

    catalogue_version: int
    checksum: str
    city_name: str
    areas: int
    responders: int
    rules: int
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
    due_at: datetime
    issued_at: datetime


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


class CaseResolved(Event):
    """The lead reported back (反馈) and every co-responder finished: the case is handled."""

    event_type = "CaseResolved"
    version = 1

    complaint_id: UUID
    lead_work_order_id: UUID
    lead_responder_id: str
    report: str
    resolved_at: datetime
