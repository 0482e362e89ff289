"""The resident's own rating: reading SMS replies, signed links, and the decision to record it."""

import hashlib
import uuid
from datetime import timedelta

import pytest

from services.intake.adapters import wechat
from services.intake.domain import commands, decisions, mirrors, ratings, words
from services.intake.domain.decisions import IllegalTransition
from shared.events import (
    ComplaintCallbackRecorded,
    ComplaintRedoRequested,
    ComplaintStatus,
    RatedVia,
    Satisfaction,
)
from tests.unit.intake.test_lifecycle import (
    NOW,
    apply,
    called_back,
    case_resolved,
    dispatched,
    filed,
    resolved,
)

S = ComplaintStatus
SECRET = "a-rating-link-secret"


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("1", Satisfaction.SATISFIED),
        ("２", Satisfaction.BASICALLY_SATISFIED),  # full-width, as phones often send
        (" ３。", Satisfaction.UNSATISFIED),
        ("满意", Satisfaction.SATISFIED),
        ("基本满意！", Satisfaction.BASICALLY_SATISFIED),
        ("不满意", Satisfaction.UNSATISFIED),
        ("不太满意", None),
        ("12", None),
        ("好的收到", None),
        # a digit or word that runs on into other words is not a rating: an address, a noun
        ("1号楼路灯还是不亮", None),
        ("2楼漏水没修好", None),
        ("满意度很差", None),
        ("3，路灯还是不亮", Satisfaction.UNSATISFIED),
        ("满意 谢谢", Satisfaction.SATISFIED),
        ("", None),
    ],
)
def test_a_reply_is_read_as_a_rating_only_when_it_begins_with_one(text, level):
    assert ratings.parse_reply(text).satisfaction is level


def test_a_reply_may_name_its_case_and_say_more():
    said = ratings.parse_reply(
        "ＪＳ－２０２６１１２４－０００００７ 3，路灯还是不亮，电话13812345678"
    )
    assert said.satisfaction is Satisfaction.UNSATISFIED
    assert said.case_number == "JS-20261124-000007"
    assert said.comment == "路灯还是不亮，电话138****5678"  # numbers masked, as in every text
    assert ratings.parse_reply("满意 js20261124000007").case_number == "JS-20261124-000007"


def grant(**changes) -> ratings.RatingGrant:
    fields = {
        "complaint_id": uuid.uuid4(),
        "resolution_round": 0,
        "expires_at": NOW + timedelta(days=7),
    }
    return ratings.RatingGrant(**{**fields, **changes})


def test_a_signed_token_carries_its_grant_back():
    given = grant(resolution_round=2)
    token = ratings.sign(given, SECRET)
    assert ratings.verify(token, SECRET, NOW) == given


def test_a_forged_or_altered_token_is_refused():
    token = ratings.sign(grant(), SECRET)
    complaint, _, expires, mac = token.split(".")
    for forged in (
        ratings.sign(grant(), "another-secret"),
        f"{complaint}.1.{expires}.{mac}",  # the round changed
        f"{complaint}.0.{int(expires) + 86400}.{mac}",  # the expiry moved
        f"{uuid.uuid4().hex}.0.{expires}.{mac}",  # another complaint
        "not-a-token",
        "",
    ):
        with pytest.raises(ratings.TokenRefused):
            ratings.verify(forged, SECRET, NOW)


def test_an_expired_token_is_refused_as_expired():
    token = ratings.sign(grant(expires_at=NOW - timedelta(seconds=1)), SECRET)
    with pytest.raises(ratings.TokenExpired):
        ratings.verify(token, SECRET, NOW)


def test_a_residents_rating_is_recorded_once_per_round():
    state = resolved()
    [recorded] = decisions.rate(state, Satisfaction.BASICALLY_SATISFIED, RatedVia.SMS, None, NOW)
    assert isinstance(recorded, ComplaintCallbackRecorded)
    assert recorded.satisfaction is Satisfaction.BASICALLY_SATISFIED
    assert recorded.rated_via is RatedVia.SMS and recorded.actor == "resident:sms"
    # 满意率 counts 满意 only ("rated satisfied ÷ rated"): 基本满意 is rated, not satisfied.
    assert recorded.contacted and recorded.satisfied is False
    state = apply(state, [recorded])
    assert state.status is S.CALLED_BACK
    with pytest.raises(IllegalTransition, match="已评价"):
        decisions.rate(state, Satisfaction.SATISFIED, RatedVia.LINK, None, NOW)


def test_an_unsatisfied_rating_sends_the_demand_back_at_once():
    state = resolved()
    events = decisions.rate(state, Satisfaction.UNSATISFIED, RatedVia.LINK, "仍漏水", NOW, 0)
    assert [type(e) for e in events] == [ComplaintCallbackRecorded, ComplaintRedoRequested]
    assert events[0].satisfied is False and events[0].comment == "仍漏水"
    redo = events[1]
    assert redo.status is S.REDO and redo.redo_count == 1 and redo.category == "roof-leak"
    assert apply(state, events).status is S.REDO


def test_a_rating_for_another_round_or_before_the_result_is_refused():
    state = resolved()
    with pytest.raises(IllegalTransition, match="上一轮"):
        decisions.rate(state, Satisfaction.SATISFIED, RatedVia.LINK, None, NOW, resolution_round=1)
    with pytest.raises(IllegalTransition):
        decisions.rate(called_back(True), Satisfaction.SATISFIED, RatedVia.SMS, None, NOW)


def test_staff_record_the_three_levels_and_satisfied_follows_them():
    basically = commands.CallBack(
        contacted=True, resolved=True, satisfaction=Satisfaction.BASICALLY_SATISFIED
    )
    assert basically.satisfied is False
    [recorded] = decisions.call_back(resolved(), basically, "staff:王", NOW)
    assert recorded.satisfaction is Satisfaction.BASICALLY_SATISFIED
    assert recorded.rated_via is RatedVia.CALLBACK
    assert "基本满意" in words.describe(recorded)
    with pytest.raises(ValueError, match="不一致"):
        commands.CallBack(
            contacted=True, resolved=True, satisfied=True, satisfaction=Satisfaction.UNSATISFIED
        )


def test_a_wechat_push_is_read_and_one_with_a_dtd_is_refused_before_parsing():
    message = wechat.parse_message(
        b"<xml><ToUserName><![CDATA[gh_jiesu]]></ToUserName>"
        b"<FromUserName><![CDATA[oResident]]></FromUserName><MsgType>text</MsgType>"
        b"<Content><![CDATA[JS-20261124-000001 5678 1]]></Content><MsgId>42</MsgId></xml>"
    )
    assert (message.from_user, message.content, message.msg_id) == (
        "oResident",
        "JS-20261124-000001 5678 1",
        "42",
    )
    reply = wechat.text_reply(message, "感谢<您>", NOW)
    assert "<ToUserName>oResident</ToUserName>" in reply and "感谢&lt;您&gt;" in reply
    with pytest.raises(ValueError):
        wechat.parse_message(b'<!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Content>&a;</Content></xml>')
    # the same in UTF-16, where no byte sequence `<!` shows: refused too (it was parsed, and
    # its entity expanded)
    utf16 = '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>'
    for body in (utf16.encode("utf-16"), utf16.replace("UTF-16", "latin-1").encode()):
        with pytest.raises(ValueError):
            wechat.parse_message(body)


def test_wechat_signs_the_sorted_token_timestamp_and_nonce():
    # sha1 over the three strings sorted and joined: here "1372623149" < "1409659813" < "token".
    assert (
        wechat.signature("token", "1409659813", "1372623149")
        == hashlib.sha1(b"13726231491409659813token").hexdigest()
    )


def test_a_merged_duplicates_resident_rates_the_result_it_follows_on_their_own_complaint():
    survivor, duplicate = dispatched(), filed()
    [merged] = decisions.merge(duplicate, survivor, 0, "同一楼顶漏水", "staff:王", NOW)
    duplicate = apply(duplicate, [merged])
    assert not decisions.awaits_rating(duplicate, survivor)  # not handled yet
    survivor = apply(survivor, mirrors.mirror_resolved(survivor, case_resolved(survivor)))
    assert decisions.awaits_rating(duplicate, survivor)
    later = NOW + timedelta(hours=1)
    events = decisions.rate(
        duplicate, Satisfaction.UNSATISFIED, RatedVia.SMS, None, later, 0, survivor
    )
    # Recorded on the duplicate, which stays merged; no redo of a case another resident owns.
    assert [(type(e), e.status) for e in events] == [(ComplaintCallbackRecorded, S.MERGED)]
    duplicate = apply(duplicate, events)
    assert not decisions.awaits_rating(duplicate, survivor)
    with pytest.raises(IllegalTransition, match="已评价"):
        decisions.rate(duplicate, Satisfaction.SATISFIED, RatedVia.LINK, None, later, 0, survivor)
