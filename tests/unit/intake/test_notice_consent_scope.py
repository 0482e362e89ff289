"""A staff key registers and withdraws area-notice consents in its own area, and a phone number
does not tell it where the resident lives elsewhere (review of issue 17)."""

from __future__ import annotations

import pytest

from services.intake.api.residents import homes_seen_by, may_handle_consent
from services.intake.auth import ApiKey, Role
from shared.events import Channel
from shared.http import Problem

YUSHAN = "370124001000"  # 榆山街道
MEICHENG_B02 = "370124001001-G01-B02"  # a building in 榆山街道
JINSHUI_B01 = "370124002002-G01-B01"  # a building in 锦水街道

STREET_STAFF = ApiKey("k1", "榆山街道", Role.STAFF, 60, scope=YUSHAN)
CITY_STAFF = ApiKey("k2", "12345", Role.STAFF, 60)
CHANNEL = ApiKey("k3", "公众号", Role.CHANNEL, 60, channel=Channel.WECHAT)


def test_a_street_key_registers_consents_for_homes_in_its_street_only() -> None:
    may_handle_consent(STREET_STAFF, MEICHENG_B02)
    with pytest.raises(Problem) as refused:
        may_handle_consent(STREET_STAFF, JINSHUI_B01)
    assert refused.value.status == 403
    with pytest.raises(Problem):  # withdrawing every home, wherever: not a street's to do
        may_handle_consent(STREET_STAFF, None)
    for key in (CITY_STAFF, CHANNEL):
        may_handle_consent(key, JINSHUI_B01)
        may_handle_consent(key, None)


def test_a_street_key_is_told_of_the_residents_homes_in_its_street_only() -> None:
    homes = {MEICHENG_B02: ["sms"], JINSHUI_B01: ["sms", "email"]}
    assert homes_seen_by(STREET_STAFF, homes) == {MEICHENG_B02: ["sms"]}
    assert homes_seen_by(CHANNEL, homes) == homes
