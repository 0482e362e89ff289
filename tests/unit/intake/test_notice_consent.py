"""A resident's consent to area notices: recorded once, withdrawn only when given, and only for
a home (a building or a unit) by channels the contact can reach."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.intake.domain import decisions
from services.intake.domain.commands import ConsentToNotices, WithdrawNoticeConsent
from shared.events import NoticeChannel, NoticeConsentRecorded, NoticeConsentWithdrawn

HOME = "370124001001-G01-B02-U1"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def command(**fields: object) -> ConsentToNotices:
    return ConsentToNotices.model_validate(
        {"contact": {"phone": "13905310001"}, "area_code": HOME, **fields}
    )


def test_a_new_consent_is_recorded_with_the_masked_phone_and_sms_by_default():
    [event] = decisions.consent_to_notices({}, "R-1", "139****0001", command(), NOW)
    assert event == NoticeConsentRecorded(
        resident_ref="R-1",
        area_code=HOME,
        channels=[NoticeChannel.SMS],
        masked_phone="139****0001",
        given_at=NOW,
    )
    assert event.subject == "R-1"  # one resident's consents stay in order on the bus


def test_the_same_consent_again_records_nothing_and_new_channels_record_anew():
    homes = {HOME: ["sms"]}
    assert decisions.consent_to_notices(homes, "R-1", "m", command(), NOW) == []
    wider = command(
        channels=["sms", "wechat", "sms"],
        contact={"phone": "13905310001", "wechat_openid": "oRESIDENT01"},
    )
    [event] = decisions.consent_to_notices(homes, "R-1", "m", wider, NOW)
    assert event.channels == [NoticeChannel.SMS, NoticeChannel.WECHAT]


def test_a_withdrawal_names_a_home_given_or_every_home_and_nothing_else():
    homes = {HOME: ["sms"]}
    assert decisions.withdraw_notice_consent({}, "R-1", None, NOW) == []
    assert decisions.withdraw_notice_consent(homes, "R-1", "370124001001-G01-B01", NOW) == []
    [one] = decisions.withdraw_notice_consent(homes, "R-1", HOME, NOW)
    [every] = decisions.withdraw_notice_consent(homes, "R-1", None, NOW)
    assert one == NoticeConsentWithdrawn(resident_ref="R-1", area_code=HOME, withdrawn_at=NOW)
    assert every.area_code is None


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"channels": ["wechat"]}, "wechat_openid"),
        ({"channels": ["email"]}, "email"),
        ({"area_code": "370124001001-G01"}, "楼栋或单元"),
        ({"area_code": "370124001001"}, "楼栋或单元"),
        ({"channels": []}, "at least 1"),
    ],
)
def test_a_consent_needs_a_home_and_a_contact_for_each_channel(fields, words):
    with pytest.raises(ValidationError, match=words):
        command(**fields)


def test_a_withdrawal_names_the_resident_one_way():
    with pytest.raises(ValidationError, match="phone 或 resident_ref"):
        WithdrawNoticeConsent.model_validate({})
    with pytest.raises(ValidationError, match="phone 或 resident_ref"):
        WithdrawNoticeConsent.model_validate(
            {"phone": "13905310001", "resident_ref": "R-0123456789abcdef0123"}
        )
