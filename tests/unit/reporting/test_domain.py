from services.reporting import domain
from services.reporting.domain import CaseStatus, case_status, summarise_filed, summarise_issued
from tests.support import examples


def test_a_case_is_dispatched_once_a_lead_responder_is_known_whatever_arrived_first():
    assert case_status({"lead_responder_id": "x", "filed_at": None}) == CaseStatus.DISPATCHED
    assert case_status({"lead_responder_id": "x", "filed_at": "t"}) == CaseStatus.DISPATCHED


def test_a_filed_case_without_orders_is_filed_and_an_empty_one_pending():
    assert case_status({"lead_responder_id": None, "filed_at": "t"}) == CaseStatus.FILED
    assert case_status({}) == CaseStatus.PENDING


def test_timeline_summaries_are_in_chinese_and_name_the_essentials():
    filed = examples.complaint_filed()
    assert filed.case_number in summarise_filed(filed)
    issued = examples.work_order_issued()
    assert issued.responder_name in summarise_issued(issued) and "主办" in summarise_issued(issued)


def test_every_step_dispatch_takes_on_a_case_has_words_on_the_timeline():
    from services.reporting.domain import DISPATCH_LABELS
    from services.reporting.handlers import HANDLERS
    from shared.events import REGISTRY, WorkOrderIssued
    from shared.topics import DISPATCH_EVENTS, topic_of

    dispatch_events = {
        c
        for c in REGISTRY.values()
        if topic_of(c) == DISPATCH_EVENTS and "complaint_id" in c.model_fields
    }
    missing = {c.event_type for c in dispatch_events - {WorkOrderIssued}} - set(DISPATCH_LABELS)
    assert not missing, f"no timeline words for {missing}"
    assert all(c in HANDLERS for c in dispatch_events)


def test_a_breach_and_a_return_read_as_sentences():
    import uuid
    from datetime import UTC, datetime

    from services.reporting.domain import summarise_dispatch
    from shared.events import ResponderRole, SlaBreached, WorkOrderReturned

    now = datetime.now(UTC)
    breached = SlaBreached(
        work_order_id=uuid.uuid4(),
        complaint_id=uuid.uuid4(),
        responder_id="street-yushan",
        responder_name="榆山街道办事处",
        role=ResponderRole.LEAD,
        clock="sign",
        due_at=now,
        breached_at=now,
    )
    assert summarise_dispatch(breached) == "超期（榆山街道办事处）：签收时限"
    returned = WorkOrderReturned(
        work_order_id=uuid.uuid4(),
        complaint_id=uuid.uuid4(),
        responder_id="property-meicheng",
        responder_name="玫城丽都物业服务中心",
        role=ResponderRole.LEAD,
        reason="非物业职责",
        suggested_responder_id=None,
        actor="x",
        returned_at=now,
    )
    assert summarise_dispatch(returned) == "退单（玫城丽都物业服务中心）：非物业职责"


def test_a_hops_trace_is_the_trace_id_of_a_well_formed_traceparent_only():
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert domain.trace_id(f"00-{trace}-00f067aa0ba902b7-01") == trace
    for malformed in (None, "", "00-xyz-00f067aa0ba902b7-01", f"00-{'0' * 32}-00f067aa0ba902b7-01"):
        assert domain.trace_id(malformed) is None
