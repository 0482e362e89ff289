"""Every transition of the complaint aggregate, legal and illegal, as pure decide/evolve."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain import commands, decisions, mirrors, model, words
from services.intake.domain.decisions import IllegalTransition
from shared.events import (
    CaseResolved,
    ComplaintStatus,
    ComplaintType,
    DuplicateCandidate,
    ResponderRole,
    WorkOrderSigned,
)
from tests.support import examples

S = ComplaintStatus
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def filed(**filing: object) -> model.Complaint:
    command = commands.FileComplaint.model_validate(examples.complaint_request(0))
    state = model.fold(decisions.file_complaint(command, examples.filing(**filing)))
    assert state is not None
    return state


def apply(state: model.Complaint, events: list) -> model.Complaint:
    for event in events:
        state = model.evolve(state, event)
    return state


def dispatched() -> model.Complaint:
    state = filed()
    order = examples.work_order_issued(state.complaint_id)
    return apply(state, mirrors.mirror_issued(state, order))


def resolved() -> model.Complaint:
    state = dispatched()
    return apply(state, mirrors.mirror_resolved(state, case_resolved(state)))


def case_resolved(state: model.Complaint) -> CaseResolved:
    assert state.lead_work_order_id is not None
    return CaseResolved(
        complaint_id=state.complaint_id,
        lead_work_order_id=state.lead_work_order_id,
        lead_responder_id="property-meicheng",
        report="已修复楼顶防水层",
        resolved_at=NOW,
    )


def called_back(satisfied: bool) -> model.Complaint:
    state = resolved()
    callback = commands.CallBack(contacted=True, resolved=satisfied, satisfied=satisfied)
    return apply(state, decisions.call_back(state, callback, "staff:王", NOW))


def test_a_confident_classification_is_ready_for_dispatch():
    state = filed()
    assert state.status is S.CLASSIFIED
    assert state.type is ComplaintType.HELP and state.category == "roof-leak"
    assert state.version == 2  # filed + classified


def test_low_confidence_sends_the_complaint_to_triage():
    assert filed(needs_triage=True, confidence=0.3).status is S.TRIAGE


def test_a_consultation_waits_for_a_person_to_answer_it():
    state = filed(type=ComplaintType.CONSULTATION)
    assert state.status is S.TRIAGE
    answered = apply(
        state,
        decisions.answer_on_spot(
            state, commands.AnswerOnSpot(answer="可到社区服务站办理"), "staff:王", NOW
        ),
    )
    assert answered.status is S.ANSWERED


def test_only_consultations_can_be_answered_on_the_spot():
    state = filed()
    with pytest.raises(IllegalTransition, match="只有咨询类诉求"):
        decisions.answer_on_spot(state, commands.AnswerOnSpot(answer="好的"), "staff:王", NOW)


def test_staff_classify_from_triage_and_the_complaint_becomes_dispatchable():
    state = filed(needs_triage=True, confidence=0.2)
    command = commands.Reclassify(
        type=ComplaintType.COMPLAINT, category="parking", reason="人工判断"
    )
    [event] = decisions.reclassify(state, command, "staff:王", NOW)
    assert event.status is S.CLASSIFIED and event.previous_category == "roof-leak"
    assert apply(state, [event]).category == "parking"


def test_reclassifying_as_a_consultation_keeps_it_with_the_operator():
    state = filed(needs_triage=True)
    command = commands.Reclassify(type=ComplaintType.CONSULTATION, category="other")
    assert decisions.reclassify(state, command, "staff:王", NOW)[0].status is S.TRIAGE


def test_reclassifying_after_dispatch_keeps_the_status():
    state = dispatched()
    command = commands.Reclassify(type=ComplaintType.COMPLAINT, category="elevator")
    assert decisions.reclassify(state, command, "staff:王", NOW)[0].status is S.DISPATCHED


def test_the_lead_work_order_dispatches_the_complaint_and_a_co_order_does_not():
    state = filed()
    co = examples.work_order_issued(state.complaint_id, role=ResponderRole.CO)
    assert mirrors.mirror_issued(state, co) == []
    after = dispatched()
    assert after.status is S.DISPATCHED and after.lead_responder == "玫城丽都物业服务中心"
    assert after.due_at is not None


def test_a_new_lead_after_a_return_moves_the_complaint_to_the_new_unit_once():
    state = dispatched()
    rerouted = examples.work_order_issued(
        state.complaint_id,
        responder_id="street-yushan",
        responder_name="榆山街道办事处",
        purpose="reroute",
    )
    after = apply(state, mirrors.mirror_issued(state, rerouted))
    assert after.status is S.DISPATCHED and after.lead_responder == "榆山街道办事处"
    assert after.lead_work_order_id == rerouted.work_order_id
    assert mirrors.mirror_issued(after, rerouted) == []


def test_signing_by_the_lead_unit_is_mirrored_and_a_stray_signature_is_not():
    state = dispatched()
    assert state.lead_work_order_id is not None
    signed = WorkOrderSigned(
        work_order_id=state.lead_work_order_id,
        complaint_id=state.complaint_id,
        responder_id="property-meicheng",
        responder_name="玫城丽都物业服务中心",
        role=ResponderRole.LEAD,
        signed_at=NOW,
    )
    assert apply(state, mirrors.mirror_signed(state, signed)).status is S.SIGNED
    stray = signed.model_copy(update={"work_order_id": uuid.uuid4()})
    assert mirrors.mirror_signed(state, stray) == []


def test_facts_from_dispatch_about_a_withdrawn_complaint_change_nothing():
    state = filed()
    state = apply(state, decisions.withdraw(state, "问题已自行解决", "channel:app", NOW))
    assert state.status is S.WITHDRAWN
    assert mirrors.mirror_issued(state, examples.work_order_issued(state.complaint_id)) == []


def test_resolution_then_callback_then_close():
    state = called_back(satisfied=True)
    assert state.status is S.CALLED_BACK
    closed = apply(state, decisions.close(state, "回访满意", "staff:王", NOW))
    assert closed.status is S.CLOSED


def test_a_failed_callback_attempt_keeps_the_status_and_then_allows_closing():
    state = resolved()
    attempt = commands.CallBack(contacted=False)
    with pytest.raises(IllegalTransition, match="办结前须先回访"):
        decisions.close(state, "x", "staff:王", NOW)
    state = apply(state, decisions.call_back(state, attempt, "staff:王", NOW))
    assert state.status is S.RESOLVED and state.callback_attempts == 1
    assert decisions.close(state, "三次回访未接通", "staff:王", NOW)[0].status is S.CLOSED


def test_an_unsatisfied_resident_gets_the_demand_redone_and_dispatch_sees_it():
    state = called_back(satisfied=False)
    [redo] = decisions.request_redo(state, "漏水仍未修好", "staff:王", NOW)
    assert redo.status is S.REDO and redo.redo_count == 1 and redo.category == "roof-leak"
    state = apply(state, [redo])
    order = examples.work_order_issued(state.complaint_id)
    assert apply(state, mirrors.mirror_issued(state, order)).status is S.DISPATCHED


def test_a_satisfied_resident_cannot_be_redone():
    state = called_back(satisfied=True)
    with pytest.raises(IllegalTransition, match="满意"):
        decisions.request_redo(state, "x", "staff:王", NOW)


def test_merge_and_unmerge_restore_the_earlier_status():
    target, duplicate = dispatched(), filed()
    [merged] = decisions.merge(duplicate, target, 0, "同一楼顶漏水", "staff:王", NOW)
    state = apply(duplicate, [merged])
    assert state.status is S.MERGED and state.merged_into == target.complaint_id
    [unmerged] = decisions.unmerge(state, "不是同一问题", "staff:王", NOW)
    assert apply(state, [unmerged]).status is S.CLASSIFIED


def test_a_merged_duplicate_s_resident_is_called_back_on_their_own_complaint_once_the_survivor_is_handled():
    survivor, duplicate = dispatched(), filed()
    duplicate = apply(
        duplicate, decisions.merge(duplicate, survivor, 0, "同一楼顶漏水", "staff:王", NOW)
    )
    reached = commands.CallBack(contacted=True, resolved=True, satisfied=True)
    with pytest.raises(IllegalTransition, match="尚未办理反馈"):
        decisions.call_back(duplicate, reached, "staff:王", NOW, survivor=survivor)
    with pytest.raises(IllegalTransition, match="尚未办理反馈"):
        decisions.call_back(duplicate, reached, "staff:王", NOW)  # the survivor unknown
    survivor = apply(survivor, mirrors.mirror_resolved(survivor, case_resolved(survivor)))
    [recorded] = decisions.call_back(duplicate, reached, "staff:王", NOW, survivor=survivor)
    assert recorded.complaint_id == duplicate.complaint_id and recorded.satisfied
    after = apply(duplicate, [recorded])
    assert after.status is S.MERGED and after.reached_at == NOW, "it stays merged, now reached"
    unreached = commands.CallBack(contacted=False)
    for _ in range(5):  # the survivor's rule of closing after callbacks reaching nobody is not its
        events = decisions.call_back(after, unreached, "staff:王", NOW, 3, survivor=survivor)
        assert [type(e).__name__ for e in events] == ["ComplaintCallbackRecorded"]
        after = apply(after, events)
    assert after.status is S.MERGED


def test_merging_into_itself_into_a_closed_complaint_or_into_a_merged_chain_is_refused():
    state, other = filed(), filed()
    with pytest.raises(IllegalTransition, match="自身"):
        decisions.merge(state, state, 0, "x", "staff", NOW)
    gone = apply(other, decisions.withdraw(other, "撤回", "staff", NOW))
    with pytest.raises(IllegalTransition, match="不能再并入"):
        decisions.merge(state, gone, 0, "x", "staff", NOW)
    with pytest.raises(IllegalTransition, match="已有 2 件诉求并入"):
        decisions.merge(state, other, 2, "x", "staff", NOW)


def test_a_suspected_duplicate_is_kept_separately_only_once():
    candidate = DuplicateCandidate(
        complaint_id=uuid.uuid4(), case_number="JS-20261124-000009", reason="same_building"
    )
    state = filed(duplicates=(candidate,))
    assert state.duplicate_pending
    state = apply(state, decisions.keep_separate(state, "不同住户", "staff", NOW))
    assert not state.duplicate_pending
    with pytest.raises(IllegalTransition, match="没有待确认"):
        decisions.keep_separate(state, "again", "staff", NOW)


ILLEGAL = [
    ("withdraw a closed complaint", lambda: decisions.withdraw(closed(), "x", "a", NOW), "已办结"),
    (
        "reclassify a resolved one",
        lambda: decisions.reclassify(
            resolved(), commands.Reclassify(type=ComplaintType.HELP, category="other"), "a", NOW
        ),
        "已办理反馈",
    ),
    (
        "call back before resolution",
        lambda: decisions.call_back(dispatched(), commands.CallBack(contacted=False), "a", NOW),
        "已派单",
    ),
    (
        "redo before a callback",
        lambda: decisions.request_redo(resolved(), "x", "a", NOW),
        "已办理反馈",
    ),
    ("close a dispatched one", lambda: decisions.close(dispatched(), "x", "a", NOW), "已派单"),
    (
        "unmerge what was never merged",
        lambda: decisions.unmerge(filed(), "x", "a", NOW),
        "已分类，待派单",
    ),
    (
        "merge a resolved one",
        lambda: decisions.merge(resolved(), filed(), 0, "x", "a", NOW),
        "已办理反馈",
    ),
    (
        "answer a withdrawn one",
        lambda: decisions.answer_on_spot(
            withdrawn(), commands.AnswerOnSpot(answer="好的"), "a", NOW
        ),
        "已撤回",
    ),
]


def closed() -> model.Complaint:
    state = called_back(satisfied=True)
    return apply(state, decisions.close(state, "满意", "a", NOW))


def withdrawn() -> model.Complaint:
    state = filed()
    return apply(state, decisions.withdraw(state, "x", "a", NOW))


@pytest.mark.parametrize(("name", "attempt", "status_words"), ILLEGAL, ids=[i[0] for i in ILLEGAL])
def test_illegal_transitions_are_refused_with_the_case_number_and_status(
    name, attempt, status_words
):
    with pytest.raises(IllegalTransition) as refusal:
        attempt()
    message = str(refusal.value)
    assert "JS-20261124-000001" in message and status_words in message


def test_every_event_is_described_for_people():
    state = resolved()
    callback = commands.CallBack(contacted=True, resolved=False, satisfied=False)
    [recorded] = decisions.call_back(state, callback, "staff:王", NOW)
    assert "不满意" in words.describe(recorded)
    due = datetime(2026, 11, 24, 1, 0, tzinfo=UTC) + timedelta(days=7)
    order = examples.work_order_issued(state.complaint_id, due_at=due)
    [event] = mirrors.mirror_issued(filed(), order)
    assert "2026-12-01 09:00" in words.describe(event)  # shown in China time
