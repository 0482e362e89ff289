"""What units and staff type is masked at the door, as residents' text is."""

from __future__ import annotations

from services.dispatch.api.agenda import Decide, HoldMeeting
from services.dispatch.api.schemas import Note, Report, ReturnOrder
from services.intake.domain import commands, decisions
from shared.privacy import redact_values
from tests.support import examples

PHONE = "13812345678"
SHOWN = "138****5678"


def test_unit_reports_notes_reasons_and_minutes_are_masked():
    typed = f"已联系业主（电话 {PHONE}），更换灯泡"
    bodies = [
        Report(report=typed).report,
        Note(note=typed).note,
        ReturnOrder(reason=typed).reason,
        HoldMeeting(participants=["业委会"], minutes=typed, settled=True).minutes,
        Decide(decision=typed).decision,
    ]
    assert all(PHONE not in body and SHOWN in body for body in bodies)


def test_staff_comments_reasons_and_answers_are_masked():
    typed = f"居民说再打 {PHONE} 找他"
    bodies = [
        commands.CallBack(contacted=True, resolved=True, satisfied=True, comment=typed).comment,
        commands.Reason(reason=typed).reason,
        commands.AnswerOnSpot(answer=typed).answer,
    ]
    assert all(body and PHONE not in body and SHOWN in body for body in bodies)


def test_answers_to_a_categorys_questions_are_masked_however_nested():
    answers = {"details": f"联系 {PHONE}", "rooms": ["卧室", f"{PHONE}"], "floor": 6}
    assert redact_values(answers) == {
        "details": f"联系 {SHOWN}",
        "rooms": ["卧室", SHOWN],
        "floor": 6,
    }


def test_the_residents_own_name_typed_into_the_text_is_masked():
    command = commands.FileComplaint.model_validate(
        examples.complaint_request(
            0,
            text="我是欧阳秀兰，顶楼漏水，找欧阳 秀兰或打 13812345678",
            attributes={"floor": 6, "leak_location": "roof", "details": "欧阳秀兰家卧室"},
            contact={"name": "欧阳秀兰", "phone": "13812345678"},
        )
    )
    [filed, *_] = decisions.file_complaint(command, examples.filing())
    dumped = filed.model_dump_json()
    assert "欧阳秀兰" not in dumped and "欧阳 秀兰" not in dumped
    assert "我是欧***" in filed.text and SHOWN in filed.text  # type: ignore[attr-defined]
    assert filed.attributes["details"] == "欧***家卧室"  # type: ignore[attr-defined]
