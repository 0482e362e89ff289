import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.intake.domain import commands, decisions, mirrors, model, privacy, words
from shared.events import CaseEscalated, ComplaintStatus, ExtensionApproved, OrderClock
from shared.privacy import REDACTED_TEXT
from tests.support import examples


def test_a_mobile_number_is_masked_to_its_first_three_and_last_four_digits():
    assert privacy.mask_phone("13812345678") == "138****5678"
    assert privacy.mask_phone("+86 138-1234-5678") == "138****5678"


def test_other_numbers_keep_only_their_last_four_digits():
    assert privacy.mask_phone("0531-87654321") == "****4321"


def test_the_resident_reference_is_stable_per_phone_and_reveals_nothing():
    first = privacy.resident_ref("13812345678", "pepper")
    assert first == privacy.resident_ref("+86 138 1234 5678", "pepper")
    assert first != privacy.resident_ref("13812345679", "pepper")
    assert first != privacy.resident_ref("13812345678", "other pepper")
    assert "5678" not in first


def test_case_numbers_use_the_date_in_china():
    late_evening_utc = datetime(2026, 11, 23, 20, 30, tzinfo=UTC)
    assert words.case_number(42, late_evening_utc) == "JS-20261124-000042"


def test_filing_carries_no_plain_phone_number_even_one_typed_into_the_text():
    command = commands.FileComplaint.model_validate(
        examples.complaint_request(0, text="楼顶漏水，请联系我 138 1234 5678 或 0531-87654321")
    )
    events = decisions.file_complaint(command, examples.filing())
    dumped = "".join(e.model_dump_json() for e in events)
    assert command.contact.phone not in dumped
    assert "138 1234 5678" not in dumped and "87654321" not in dumped
    assert "138****5678" in dumped


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": ""}, "text"),
        ({"area_code": "3701"}, "area_code"),
        ({"channel": "fax"}, "channel"),
        ({"latitude": 36.28}, None),
        ({"latitude": 91, "longitude": 116.4}, "latitude"),
        ({"contact": {"phone": "call me"}}, "contact.phone"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_demands_are_refused_naming_the_field(change, field):
    with pytest.raises(ValidationError) as error:
        commands.FileComplaint.model_validate(examples.complaint_request(0) | change)
    if field is not None:
        locations = [".".join(str(p) for p in e["loc"]) for e in error.value.errors()]
        assert field in locations


def test_area_codes_go_down_to_the_unit():
    body = examples.complaint_request(0, area_code="370124001001-G01-B02-U1")
    assert commands.FileComplaint.model_validate(body).area_code.endswith("-U1")


@pytest.mark.parametrize("phone", ["-----", "+ - - -", "12-34  -", "--- 1234"])
def test_a_phone_with_too_few_digits_is_refused(phone):
    with pytest.raises(ValidationError, match="five digits"):
        commands.Contact(phone=phone)
    assert commands.Contact(phone="0531-8765 4321").phone == "0531-8765 4321"


def test_a_redacted_complaint_keeps_where_and_what_but_not_the_residents_words():
    command = commands.FileComplaint.model_validate(
        examples.complaint_request(
            0, text="顶楼漏水，我是欧阳秀兰", attributes={"floor": 6, "leak_location": "roof"}
        )
    )
    state = None
    for event in decisions.file_complaint(command, examples.filing()):
        state = model.evolve(state, event)
    assert state is not None
    now = datetime(2026, 11, 24, tzinfo=UTC)
    [redacted] = decisions.redact(state, "玫城丽都2号楼", now)
    after = model.evolve(state, redacted)
    assert after.text == REDACTED_TEXT and "欧阳秀兰" not in repr(after)
    assert after.address == "玫城丽都2号楼" and after.latitude is None and after.attributes == {}
    assert (after.category, after.area_code, after.status) == (
        state.category,
        state.area_code,
        state.status,
    )
    assert decisions.redact(after, "玫城丽都2号楼", now) == []  # once is enough


def test_only_the_leads_extension_and_an_open_case_move_the_residents_view():
    command = commands.FileComplaint.model_validate(examples.complaint_request(1))
    state = None
    for event in decisions.file_complaint(command, examples.filing()):
        state = model.evolve(state, event)
    order = examples.work_order_issued(state.complaint_id)
    for event in mirrors.mirror_issued(state, order):
        state = model.evolve(state, event)
    later = order.due_at.replace(year=order.due_at.year + 1)
    extension = ExtensionApproved(
        work_order_id=order.work_order_id,
        complaint_id=state.complaint_id,
        responder_id=order.responder_id,
        previous_due_at=order.due_at,
        clock=OrderClock(name="feedback", due_at=later, warn_at=later),
        reason="x",
        actor="x",
        approved_at=order.issued_at,
    )
    co_unit = extension.model_copy(update={"work_order_id": uuid.uuid4()})
    escalated = CaseEscalated(
        complaint_id=state.complaint_id,
        from_level="community",
        to_level="street",
        responder_id="street-yushan",
        responder_name="榆山街道办事处",
        work_order_id=uuid.uuid4(),
        cause_work_order_id=order.work_order_id,
        clock="feedback",
        escalated_at=order.issued_at,
    )
    assert mirrors.mirror_extended(state, co_unit) == []
    [moved] = mirrors.mirror_extended(state, extension)
    assert model.evolve(state, moved).due_at == later
    [told] = mirrors.mirror_escalated(state, escalated)
    assert "榆山街道办事处" in words.describe(told) and told.due_at == state.due_at
    closed = model.evolve(state, moved)
    assert mirrors.mirror_extended(replace(closed, status=ComplaintStatus.CLOSED), extension) == []
