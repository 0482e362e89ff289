"""The lead unit's steps a resident sees (contacted, started, arbitration) mirrored on the
complaint: the lead's only, each once however often dispatch's fact arrives, and the deadline
that applies after each step."""

import uuid
from datetime import UTC, datetime, timedelta

from services.intake import handlers
from services.intake.domain import commands, decisions, mirrors, model, words
from services.notify import domain as notify
from services.reporting import projections
from shared.events import (
    ArbitrationDecided,
    ArbitrationRequested,
    ComplaintProgressed,
    ComplaintStatus,
    WorkOrderContacted,
    WorkOrderStarted,
)
from tests.support import examples
from tests.unit.intake.test_lifecycle import apply, case_resolved

S = ComplaintStatus
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DUE = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 2026-12-01 09:00 in China


def dispatched() -> model.Complaint:
    command = commands.FileComplaint.model_validate(examples.complaint_request(0))
    state = model.fold(decisions.file_complaint(command, examples.filing()))
    assert state is not None
    order = examples.work_order_issued(state.complaint_id, due_at=DUE)
    return apply(state, mirrors.mirror_issued(state, order))


def lead_step(step: str, state: model.Complaint, work_order_id: uuid.UUID | None, at: datetime):
    """The step of the complaint's lead order (or of another order, `work_order_id`)."""
    order = examples.work_order_issued(state.complaint_id)
    fact = examples.work_order_step(step, order, at)
    return fact.model_copy(update={"work_order_id": work_order_id or state.lead_work_order_id})


def contacted(state: model.Complaint, work_order_id: uuid.UUID | None = None):
    return lead_step("contacted", state, work_order_id, NOW)


def started(state: model.Complaint, work_order_id: uuid.UUID | None = None):
    return lead_step("started", state, work_order_id, NOW + timedelta(hours=1))


def arbitration(state: model.Complaint, returned: uuid.UUID | None = None) -> ArbitrationRequested:
    return ArbitrationRequested(
        complaint_id=state.complaint_id,
        arbitrator_id="street-yushan",
        arbitrator_name="榆山街道办事处",
        returned_work_order_id=returned or state.lead_work_order_id,
        reason="多次退单，提请榆山街道办事处裁定",
        requested_at=NOW + timedelta(hours=2),
    )


def decided(state: model.Complaint) -> ArbitrationDecided:
    return ArbitrationDecided(
        complaint_id=state.complaint_id,
        arbitrator_id="street-yushan",
        responder_id="community-meicheng",
        reason="楼顶防水属小区公共部位，由社区居委会牵头办理",
        actor="staff:街道",
        decided_at=NOW + timedelta(hours=3),
    )


def test_the_lead_units_contact_is_shown_once_with_the_deadline_and_a_co_units_is_not():
    state = dispatched()
    assert mirrors.mirror_contacted(state, contacted(state, uuid.uuid4())) == []
    [step] = mirrors.mirror_contacted(state, contacted(state))
    assert isinstance(step, ComplaintProgressed) and step.step == "contacted"
    after = model.evolve(state, step)
    assert after.status is S.DISPATCHED and after.due_at == DUE
    note = words.describe(step)
    assert note == "玫城丽都物业服务中心已与您联系，了解诉求详情，办理时限 2026-12-01 09:00"
    assert contacted(state).note not in note  # the unit's own words stay with dispatch
    assert mirrors.mirror_contacted(after, contacted(state)) == []  # the same fact again


def test_the_lead_units_start_is_shown_once_and_a_co_units_is_not():
    state = dispatched()
    assert mirrors.mirror_started(state, started(state, uuid.uuid4())) == []
    [step] = mirrors.mirror_started(state, started(state))
    after = model.evolve(state, step)
    assert step.step == "started" and after.due_at == DUE
    assert words.describe(step) == "玫城丽都物业服务中心已开始办理，办理时限 2026-12-01 09:00"
    assert started(state).note not in words.describe(step)
    assert mirrors.mirror_started(after, started(state)) == []


def test_arbitration_pauses_the_deadline_until_the_named_unit_gets_its_own():
    state = dispatched()
    first_lead = state.lead_work_order_id
    state = apply(state, mirrors.mirror_contacted(state, contacted(state)))
    assert mirrors.mirror_arbitrating(state, arbitration(state, uuid.uuid4())) == []
    assert mirrors.mirror_arbitrated(state, decided(state)) == []  # nothing was asked
    [asked] = mirrors.mirror_arbitrating(state, arbitration(state))
    state = model.evolve(state, asked)
    assert asked.step == "arbitrating" and state.due_at is None
    assert "榆山街道办事处裁定" in words.describe(asked) and "暂停" in words.describe(asked)
    assert mirrors.mirror_arbitrating(state, arbitration(state)) == []  # asked once
    [named] = mirrors.mirror_arbitrated(state, decided(state))
    state = model.evolve(state, named)
    assert named.step == "arbitrated" and state.due_at is None
    assert "由社区居委会牵头办理" in words.describe(named)
    assert mirrors.mirror_arbitrated(state, decided(state)) == []  # decided once
    # dispatch's new lead order, issued with the decision, brings the deadline that applies now
    new_due = DUE + timedelta(days=3)
    order = examples.work_order_issued(
        state.complaint_id,
        responder_id="community-meicheng",
        responder_name="玫城丽都社区居委会",
        responder_kind="community",
        purpose="arbitration",
        due_at=new_due,
    )
    [issued] = mirrors.mirror_issued(state, order)
    state = model.evolve(state, issued)
    assert state.lead_work_order_id == order.work_order_id != first_lead
    assert state.due_at == new_due and "玫城丽都社区居委会" in words.describe(issued)
    # the new lead's own contact is news to the resident again
    [again] = mirrors.mirror_contacted(state, contacted(state))
    assert again.due_at == new_due


def test_steps_after_the_unit_reported_change_nothing():
    state = dispatched()
    state = apply(state, mirrors.mirror_resolved(state, case_resolved(state)))
    assert state.status is S.RESOLVED
    assert mirrors.mirror_contacted(state, contacted(state)) == []
    assert mirrors.mirror_started(state, started(state)) == []


def test_intake_consumes_each_new_step_of_dispatchs():
    for fact in (WorkOrderContacted, WorkOrderStarted, ArbitrationRequested, ArbitrationDecided):
        assert fact in handlers.DECISIONS and fact in handlers.HANDLERS


def test_a_mirrored_step_is_neither_a_second_notice_nor_a_second_timeline_line():
    """Notify tells the resident of the contact from dispatch's own fact; reporting's timeline
    names dispatch's steps. Neither also reacts to the mirror, so nothing shows twice."""
    state = dispatched()
    facts = notify.Facts(state.complaint_id, lead_work_order_id=state.lead_work_order_id)
    [step] = mirrors.mirror_contacted(state, contacted(state))
    assert len(notify.messages_for(contacted(state), facts)) == 1
    assert notify.messages_for(step, facts) == []
    assert WorkOrderContacted in projections.TIMELINE
    assert ComplaintProgressed not in projections.TIMELINE
