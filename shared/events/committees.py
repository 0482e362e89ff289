"""Contracts of the community's own dispatching: the owners' committee dispatching by hand
(业委会派单) and the community calling units in (社区点单、部门响应). Dispatch owns them; they
travel on dispatch.events."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import Field

from shared.events.base import Event


class CaseHandDispatched(Event):
    """业委会派单: the committee chose who handles the case. Its queue order is done; the
    orders it chose follow as `WorkOrderIssued`, each with a reason naming the committee."""

    event_type = "CaseHandDispatched"
    version = 1

    complaint_id: UUID
    work_order_id: UUID = Field(description="派单人的派单工单 The committee's queue order")
    dispatcher_id: str
    dispatcher_name: str
    dispatcher_kind: str = Field(description="owners_committee 业委会 | community_committee 居委会")
    lead_id: str = Field(description="选定的主办单位 The lead it chose")
    co_ids: list[str] = Field(default_factory=list, description="协办单位 Co-responders")
    reason: str
    actor: str
    dispatched_at: datetime


class CommunityCalled(Event):
    """社区点单、部门响应: a community called units (and 双报到 cadres) in on a case; each
    gets an order it must sign (respond to) within the community-call limit."""

    event_type = "CommunityCalled"
    version = 1

    complaint_id: UUID
    committee_id: str = Field(description="点单的社区居委会 The community committee calling")
    community_code: str
    responder_ids: list[str] = Field(description="被点单的单位 Units called in")
    registration_ids: list[str] = Field(
        default_factory=list, description="被点单的双报到单位与干部 Registered units and cadres"
    )
    reason: str
    actor: str
    called_at: datetime
