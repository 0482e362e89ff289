from services.reporting.domain import CaseStatus, case_status, summarise_filed, summarise_issued
from tests import examples


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
