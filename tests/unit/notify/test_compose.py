"""A composed mail reads back, with the standard parser, as what was put in."""

from __future__ import annotations

import uuid
from email import message_from_bytes
from email.policy import default

from services.notify.adapters.channels import compose


def test_a_composed_mail_parses_back_to_its_chinese_subject_sender_and_text():
    complaint = uuid.uuid4()
    text = "您好，玫城丽都物业：\n诉求 JS-20261203-000123（小区楼顶漏水）已派至贵单位。\n.\n请在 2 小时内签收。"
    raw = compose(
        sender="接诉即办 <noreply@jiesu.local>",
        to="wuye@example.cn",
        subject="【接诉即办】工单即将超期：JS-20261203-000123 请尽快签收，超期将通报" * 2,
        message_id="<n-1@jiesu.local>",
        complaint_id=complaint,
        text=text,
    )
    assert raw.isascii() and all(len(line) <= 998 for line in raw.split(b"\r\n"))
    mail = message_from_bytes(raw, policy=default)
    assert mail["From"].addresses[0].display_name == "接诉即办"
    assert mail["From"].addresses[0].addr_spec == "noreply@jiesu.local"
    assert mail["To"] == "wuye@example.cn"
    assert (
        mail["Subject"] == "【接诉即办】工单即将超期：JS-20261203-000123 请尽快签收，超期将通报" * 2
    )
    assert mail["Message-ID"] == "<n-1@jiesu.local>"
    assert mail["X-Jiesu-Complaint"] == str(complaint)
    assert mail["Date"].datetime is not None
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content() == text
