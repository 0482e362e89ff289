"""Dispatch's facts mirrored on the complaint: its lead work order's issue, signature and
report, and the steps a resident is shown as they happen (contact, start, extension,
deliberation, escalation, arbitration). A fact that no longer applies (the resident withdrew
meanwhile, a co-unit's step, a redelivery) produces nothing: never an error."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.intake.domain.model import Complaint
from services.intake.domain.words import in_china
from shared.events import (
    ArbitrationDecided,
    ArbitrationRequested,
    CaseEscalated,
    CaseResolved,
    ComplaintDispatched,
    ComplaintProgressed,
    ComplaintResolved,
    ComplaintSigned,
    ComplaintStatus,
    DeliberationConcluded,
    DeliberationRequested,
    Event,
    ExtensionApproved,
    ResponderRole,
    WorkOrderContacted,
    WorkOrderIssued,
    WorkOrderSigned,
    WorkOrderStarted,
)

S = ComplaintStatus


def mirror_issued(state: Complaint, order: WorkOrderIssued) -> list[Event]:
    """A new lead: the first dispatch, a redo, or a re-route (after a return, an arbitration
    or a reclassification) while the complaint is already dispatched."""
    waiting = {S.CLASSIFIED, S.REDO, S.TRIAGE, S.DISPATCHED, S.SIGNED}
    if order.role is not ResponderRole.LEAD or state.status not in waiting:
        return []
    if order.work_order_id == state.lead_work_order_id:
        return []
    return [
        ComplaintDispatched(
            complaint_id=state.complaint_id,
            status=S.DISPATCHED,
            work_order_id=order.work_order_id,
            responder_id=order.responder_id,
            responder_name=order.responder_name,
            due_at=order.due_at,
            occurred_at=order.issued_at,
        )
    ]


def mirror_signed(state: Complaint, signed: WorkOrderSigned) -> list[Event]:
    if state.status is not S.DISPATCHED or signed.work_order_id != state.lead_work_order_id:
        return []
    return [
        ComplaintSigned(
            complaint_id=state.complaint_id,
            status=S.SIGNED,
            work_order_id=signed.work_order_id,
            responder_name=signed.responder_name,
            occurred_at=signed.signed_at,
        )
    ]


def _progressed(
    state: Complaint, step: str, due_at: datetime | None, note: str, at: datetime
) -> list[Event]:
    if state.status not in {S.DISPATCHED, S.SIGNED}:
        return []
    return [
        ComplaintProgressed(
            complaint_id=state.complaint_id,
            status=state.status,
            step=step,
            due_at=due_at,
            note=note,
            occurred_at=at,
        )
    ]


def mirror_extended(state: Complaint, e: ExtensionApproved) -> list[Event]:
    """The lead's deadline moved: the resident's view shows the new one (a co-unit's is not it)."""
    if e.work_order_id != state.lead_work_order_id or e.clock.name != "feedback":
        return []
    note = f"经批准延期办理，新的办理时限 {in_china(e.clock.due_at)}"
    return _progressed(state, "extended", e.clock.due_at, note, e.approved_at)


def mirror_deliberating(state: Complaint, e: DeliberationRequested) -> list[Event]:
    note = "已提交社区议事协商，议事期间办理时限暂停"
    return _progressed(state, "deliberating", None, note, e.sent_at)


def mirror_deliberated(state: Complaint, e: DeliberationConcluded) -> list[Event]:
    due = e.clock.due_at if e.clock else state.due_at
    note = f"议事已议定：{e.decision}" + (f"，办理时限 {in_china(due)}" if due else "")
    return _progressed(state, "deliberated", due, note, e.concluded_at)


def mirror_escalated(state: Complaint, e: CaseEscalated) -> list[Event]:
    note = f"未按时办理，已升级由{e.responder_name}督办"
    return _progressed(state, "escalated", state.due_at, note, e.escalated_at)


def _once_for_lead(state: Complaint, work_order_id: UUID, step: str) -> bool:
    """A step of the lead's the resident has not been shown yet (a co-unit's is not theirs)."""
    return work_order_id == state.lead_work_order_id and step not in state.lead_steps


def mirror_contacted(state: Complaint, e: WorkOrderContacted) -> list[Event]:
    """The lead unit reached the resident (联系诉求人); the deadline stays the lead's."""
    if not _once_for_lead(state, e.work_order_id, "contacted"):
        return []
    unit = e.responder_name or state.lead_responder or "承办单位"
    note = f"{unit}已与您联系，了解诉求详情" + (
        f"，办理时限 {in_china(state.due_at)}" if state.due_at else ""
    )
    return _progressed(state, "contacted", state.due_at, note, e.contacted_at)


def mirror_started(state: Complaint, e: WorkOrderStarted) -> list[Event]:
    """The lead unit began the work (开始办理)."""
    if not _once_for_lead(state, e.work_order_id, "started"):
        return []
    unit = state.lead_responder or "承办单位"
    note = f"{unit}已开始办理" + (f"，办理时限 {in_china(state.due_at)}" if state.due_at else "")
    return _progressed(state, "started", state.due_at, note, e.started_at)


def mirror_arbitrating(state: Complaint, e: ArbitrationRequested) -> list[Event]:
    """The lead unit returned the case and nobody else is due to take it: a street (or the
    district) decides who will (裁定). No deadline runs until a unit is named."""
    if not _once_for_lead(state, e.returned_work_order_id, "arbitrating"):
        return []
    note = f"承办单位认为不属于其职责，已提请{e.arbitrator_name}裁定承办单位，裁定前办理时限暂停"
    return _progressed(state, "arbitrating", None, note, e.requested_at)


def mirror_arbitrated(state: Complaint, e: ArbitrationDecided) -> list[Event]:
    """The arbitrator named the unit. The decision carries no deadline: dispatch issues that
    unit a new lead order in the same append, and its mirror (a ComplaintDispatched) brings the
    unit's name and the new deadline; until then none runs."""
    if "arbitrating" not in state.lead_steps or "arbitrated" in state.lead_steps:
        return []
    note = f"已裁定承办单位（{e.reason}），重新派单后按新的办理时限办理"
    return _progressed(state, "arbitrated", None, note, e.decided_at)


def mirror_resolved(state: Complaint, resolved: CaseResolved) -> list[Event]:
    if state.status not in {S.DISPATCHED, S.SIGNED}:
        return []
    return [
        ComplaintResolved(
            complaint_id=state.complaint_id,
            status=S.RESOLVED,
            report=resolved.report,
            occurred_at=resolved.resolved_at,
        )
    ]
