"""Who an area notice goes to, and in which words: each consenting resident within the area
once, by every channel their homes there name."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from services.notify import domain
from services.notify.app import recorded
from shared.events import (
    Audience,
    NoticeDeliveriesRecorded,
    NoticeKind,
    NoticePosted,
    NotificationOutcome,
    NotificationsRecorded,
)

B02 = "370124001001-G01-B02"


def consent(ref: str, home: str, *channels: str, masked: str | None = None) -> domain.Consent:
    return domain.Consent(ref, home, tuple(channels or ("sms",)), masked)


def notice(area: str = B02, **fields: object) -> NoticePosted:
    return NoticePosted(
        notice_id=uuid.uuid4(),
        area_code=area,
        kind=fields.pop("kind", NoticeKind.OUTAGE),
        title="2号楼停水通知",
        body="明日8:00至18:00停水，请提前储水。",
        sender_name="会仙山社区居委会",
        actor="staff:会仙山社区居委会",
        recipients=1,
        posted_at=datetime.now(UTC),
        **fields,
    )


def test_a_resident_with_two_homes_in_the_area_is_one_recipient_with_both_homes_channels():
    recipients = domain.notice_recipients(
        [
            consent("R-1", f"{B02}-U1", "sms", masked="139****0001"),
            consent("R-1", f"{B02}-U2", "wechat"),
            consent("R-2", B02, "email"),
        ],
        B02,
    )
    assert [(r.resident_ref, r.channels, r.masked_phone) for r in recipients] == [
        ("R-1", ("sms", "wechat"), "139****0001"),
        ("R-2", ("email",), None),
    ]


def test_homes_outside_the_area_are_not_recipients_even_when_their_code_starts_alike():
    consents = [
        consent("R-1", f"{B02}-U1"),
        consent("R-3", "370124001001-G01-B01"),
        consent("R-4", "370124001001-G01-B021"),  # another building, not a unit of B02
    ]
    assert [r.resident_ref for r in domain.notice_recipients(consents, B02)] == ["R-1"]
    everyone = domain.notice_recipients(consents, "370124001001")
    assert [r.resident_ref for r in everyone] == ["R-1", "R-3", "R-4"]


def test_each_recipient_gets_the_notice_addressed_by_their_reference_not_a_complaint():
    posted = notice(
        starts_at=datetime(2026, 11, 26, 0, tzinfo=UTC),
        ends_at=datetime(2026, 11, 26, 10, tzinfo=UTC),
    )
    [message] = domain.notice_messages(posted, [consent("R-1", f"{B02}-U1")])
    assert message.audience is Audience.RESIDENT and message.complaint_id == posted.notice_id
    assert domain.resident_ref_of(message.recipient) == "R-1"
    assert domain.resident_ref_of(f"resident:{uuid.uuid4()}") is None
    text = domain.render(message.template, "zh-CN", message.data)
    assert text == (
        "【会仙山社区居委会】停水停电：2号楼停水通知。明日8:00至18:00停水，请提前储水。"
        "（时间：2026-11-26 08:00 至 2026-11-26 18:00）"
    )
    english = domain.render(message.template, "en", message.data)
    assert english.startswith("[会仙山社区居委会] Planned outage: 2号楼停水通知.")
    assert english.endswith("(When: 2026-11-26 08:00 to 2026-11-26 18:00)")


def test_a_notice_without_a_time_says_none():
    [message] = domain.notice_messages(notice(kind=NoticeKind.CONSULTATION), [consent("R", B02)])
    assert domain.render(message.template, "zh-CN", message.data).endswith("请提前储水。")
    assert domain.render(message.template, "zh-CN", message.data, "subject") == (
        "征求意见：2号楼停水通知"
    )


def test_a_notices_outcomes_are_recorded_in_its_own_stream_not_as_a_complaints():
    notice_id, complaint, conversation, posted = (uuid.uuid4() for _ in range(4))
    outcome = NotificationOutcome(
        notification_id=uuid.uuid4(),
        outcome="delivered",
        audience=Audience.RESIDENT,
        recipient=domain.neighbour("R-1"),
        channel="sms",
        template=domain.NOTICE_TEMPLATE,
        attempt=1,
        at=datetime.now(UTC),
        requested_by=posted,
    )
    appends = recorded(
        [(notice_id, conversation, outcome), (complaint, conversation, outcome)],
        notices={notice_id},
    )
    [(stream, [event], cause), (other, [about_complaint], _)] = appends
    assert stream == f"notice-outcomes-{notice_id}" and cause.causation_id == posted
    assert event == NoticeDeliveriesRecorded(notice_id=notice_id, outcomes=[outcome])
    assert other == f"notifications-{complaint}"
    assert isinstance(about_complaint, NotificationsRecorded)
