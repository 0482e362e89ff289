"""Who hears what, by which channels, in which words; and the Standard Webhooks signature."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notify import domain
from services.notify.adapters.channels import retry_after, sign
from shared.events import (
    ArbitrationRequested,
    Audience,
    CaseEscalated,
    Channel,
    ComplaintClosed,
    ComplaintDispatched,
    ComplaintMerged,
    ComplaintResolved,
    ComplaintStatus,
    ComplaintWithdrawn,
    DeliberationConcluded,
    DeliberationRequested,
    ExtensionApproved,
    OrderClock,
    ResponderRole,
    SlaBreached,
    SlaWarned,
    TriageBreached,
    TriageWarned,
    WorkOrderContacted,
    WorkOrderReturned,
)
from tests.support import examples

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def facts_after(*events):
    facts = None
    for event in events:
        facts = domain.learn(facts, event)
    return facts


def test_the_receipt_goes_to_the_resident_of_that_complaint_only():
    filed = examples.complaint_filed()
    [message] = domain.messages_for(filed, facts_after(filed))
    assert message.audience is Audience.RESIDENT
    assert message.recipient == f"resident:{filed.complaint_id}"
    assert message.data == {"case_number": filed.case_number}
    assert filed.text not in json.dumps(message.data, ensure_ascii=False)
    assert "已受理" in domain.render(message.template, "zh-CN", message.data)


def test_the_receipt_carries_the_promise_when_intake_made_one():
    filed = examples.complaint_filed(
        promised_due_at=datetime(2026, 12, 2, 10, 30, tzinfo=UTC), time_limit="7d"
    )
    [message] = domain.messages_for(filed, facts_after(filed))
    zh = domain.render(message.template, "zh-CN", message.data)
    en = domain.render(message.template, "en", message.data)
    assert "办理时限 7天" in zh and "2026-12-02 18:30 前办理并反馈" in zh  # Beijing time
    assert "within 7 days, by 2026-12-02 18:30" in en


def test_the_resident_hears_of_dispatch_signing_contact_resolution_and_redo():
    filed = examples.complaint_filed()
    order = examples.work_order_issued(filed.complaint_id)
    facts = facts_after(filed, order)
    dispatched = ComplaintDispatched(
        complaint_id=filed.complaint_id,
        status=ComplaintStatus.DISPATCHED,
        work_order_id=order.work_order_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        due_at=order.due_at,
        occurred_at=NOW,
    )
    contacted = WorkOrderContacted(
        work_order_id=order.work_order_id,
        complaint_id=filed.complaint_id,
        responder_id=order.responder_id,
        note="电话联系",
        actor="x",
        contacted_at=NOW,
    )
    resolved = ComplaintResolved(
        complaint_id=filed.complaint_id,
        status=ComplaintStatus.RESOLVED,
        report="屋面已修复",
        occurred_at=NOW,
    )
    texts = {}
    for event in (dispatched, contacted, resolved):
        [message] = domain.messages_for(event, facts)
        assert message.recipient == domain.resident(filed.complaint_id)
        texts[message.template] = domain.render(message.template, "zh-CN", message.data)
    assert order.responder_name in texts["complaint_dispatched"]
    assert (
        "请您对办理结果进行评价" in texts["complaint_resolved"]
        and "屋面已修复" in texts["complaint_resolved"]
    )
    # How to rate, in the numbers intake's SMS uplink reads (services/intake/domain/ratings.py).
    assert "1 满意，2 基本满意，3 不满意" in texts["complaint_resolved"]
    assert "查询页" in texts["complaint_resolved"]
    assert filed.case_number in texts["complaint_contacted"]
    co_contact = contacted.model_copy(
        update={"work_order_id": uuid.uuid4(), "role": ResponderRole.CO}
    )
    assert domain.messages_for(co_contact, facts) == [], "only the lead speaks for the case"


def test_units_hear_of_orders_warnings_breaches_and_escalation_supervisors_of_breaches_returns_and_rulings():
    filed = examples.complaint_filed()
    order = examples.work_order_issued(filed.complaint_id)
    facts = facts_after(filed, order)
    common = {
        "work_order_id": order.work_order_id,
        "complaint_id": filed.complaint_id,
        "responder_id": "property-meicheng",
        "responder_name": "玫城丽都物业服务中心",
        "role": ResponderRole.LEAD,
        "clock": "sign",
        "due_at": NOW,
    }
    warned = SlaWarned(**common, warned_at=NOW)
    breached = SlaBreached(
        **common, breached_at=NOW, supervisor_ids=["street-yushan", "gov-pingyin"]
    )
    escalated = CaseEscalated(
        complaint_id=filed.complaint_id,
        from_level="community",
        to_level="street",
        responder_id="street-yushan",
        responder_name="榆山街道办事处",
        work_order_id=uuid.uuid4(),
        cause_work_order_id=order.work_order_id,
        clock="sign",
        escalated_at=NOW,
        from_responder_id="property-meicheng",
    )
    returned = WorkOrderReturned(
        work_order_id=order.work_order_id,
        complaint_id=filed.complaint_id,
        responder_id="property-meicheng",
        responder_name="玫城丽都物业服务中心",
        role=ResponderRole.LEAD,
        reason="非物业职责",
        suggested_responder_id=None,
        actor="x",
        returned_at=NOW,
        supervisor_ids=["street-yushan"],
    )
    arbitration = ArbitrationRequested(
        complaint_id=filed.complaint_id,
        arbitrator_id="street-yushan",
        arbitrator_name="榆山街道办事处",
        returned_work_order_id=order.work_order_id,
        reason="多次退单",
        requested_at=NOW,
    )
    heard = {
        event.event_type: [
            (m.audience, m.recipient, m.template) for m in domain.messages_for(event, facts)
        ]
        for event in (order, warned, breached, escalated, returned, arbitration)
    }
    assert heard["WorkOrderIssued"] == [
        (Audience.RESPONDER, "property-meicheng", "work_order_issued")
    ]
    assert heard["SlaWarned"] == [(Audience.RESPONDER, "property-meicheng", "deadline_warning")]
    assert heard["SlaBreached"] == [
        (Audience.RESPONDER, "property-meicheng", "deadline_breached"),
        (Audience.SUPERVISOR, "street-yushan", "breach_for_supervisor"),
        (Audience.SUPERVISOR, "gov-pingyin", "breach_for_supervisor"),
    ]
    assert heard["CaseEscalated"] == [
        (Audience.RESIDENT, domain.resident(filed.complaint_id), "complaint_escalated"),
        (Audience.RESPONDER, "property-meicheng", "escalated"),
    ]
    assert heard["WorkOrderReturned"] == [(Audience.SUPERVISOR, "street-yushan", "order_returned")]
    assert heard["ArbitrationRequested"] == [
        (Audience.SUPERVISOR, "street-yushan", "arbitration_needed")
    ]


def test_the_resident_hears_of_a_merge_withdrawal_closing_extension_and_deliberation():
    filed = examples.complaint_filed()
    order = examples.work_order_issued(filed.complaint_id)
    facts = facts_after(filed, order)
    later = NOW + timedelta(days=5)
    at = {"complaint_id": filed.complaint_id, "actor": "staff:x", "occurred_at": NOW}
    events = [
        ComplaintMerged(
            **at,
            status=ComplaintStatus.MERGED,
            into_complaint_id=uuid.uuid4(),
            into_case_number="JS-20261123-000007",
            previous_status=ComplaintStatus.DISPATCHED,
            reason="同一楼栋同一问题",
        ),
        ComplaintWithdrawn(**at, status=ComplaintStatus.WITHDRAWN, reason="居民已自行解决"),
        ComplaintClosed(**at, status=ComplaintStatus.CLOSED, reason="回访满意"),
        ExtensionApproved(
            work_order_id=order.work_order_id,
            complaint_id=filed.complaint_id,
            responder_id=order.responder_id,
            previous_due_at=order.due_at,
            clock=OrderClock(name="feedback", due_at=later, warn_at=later),
            reason="需协调供水公司",
            actor="x",
            approved_at=NOW,
        ),
        DeliberationRequested(
            complaint_id=filed.complaint_id,
            item_id=uuid.uuid4(),
            community_code="370124001001",
            reason="涉及全体业主",
            actor="x",
            sent_at=NOW,
        ),
        DeliberationConcluded(
            complaint_id=filed.complaint_id,
            item_id=uuid.uuid4(),
            decision="由业委会牵头更换",
            lead_work_order_id=order.work_order_id,
            clock=None,
            concluded_at=NOW,
        ),
    ]
    texts = {}
    for event in events:
        [message] = domain.messages_for(event, facts)
        assert message.audience is Audience.RESIDENT
        assert message.recipient == domain.resident(filed.complaint_id)
        texts[event.event_type] = domain.render(message.template, "zh-CN", message.data)
    assert "并案" in texts["ComplaintMerged"] and "JS-20261123-000007" in texts["ComplaintMerged"]
    assert "撤回" in texts["ComplaintWithdrawn"] and "居民已自行解决" in texts["ComplaintWithdrawn"]
    assert "办结" in texts["ComplaintClosed"]
    assert "2026-11-28 09:00" in texts["ExtensionApproved"]  # 01:00 UTC + 5 days, Beijing time
    assert "暂停" in texts["DeliberationRequested"]
    assert "由业委会牵头更换" in texts["DeliberationConcluded"]
    assert all(filed.case_number in text for text in texts.values())
    co_extension = events[3].model_copy(update={"work_order_id": uuid.uuid4()})
    assert domain.messages_for(co_extension, facts) == [], "a co-unit's extension is not theirs"


def test_a_whistled_department_is_told_to_report_within_its_sign_limit():
    order = examples.work_order_issued(
        responder_id="dept-urban",
        responder_name="平阴县城市管理局",
        role=ResponderRole.CO,
        purpose="whistle",
        reason="榆山街道办事处吹哨：北门违建",
        clocks=[OrderClock(name="sign", due_at=NOW + timedelta(minutes=30), warn_at=NOW)],
    )
    [message] = domain.messages_for(order, facts_after(order))
    text = domain.render(message.template, "zh-CN", message.data)
    assert message.template == "whistle_order" and "吹哨报到" in text and "09:30" in text


def test_a_committee_is_told_to_dispatch_and_a_called_unit_to_respond_by_their_sign_limits():
    sign = [OrderClock(name="sign", due_at=NOW + timedelta(hours=2), warn_at=NOW)]
    queue = examples.work_order_issued(
        responder_id="owners-meicheng",
        responder_name="玫城丽都小区业主委员会",
        purpose="committee",
        clocks=sign,
    )
    called = examples.work_order_issued(
        responder_id="dept-housing",
        responder_name="平阴县住房和城乡建设局",
        role=ResponderRole.CO,
        purpose="community_call",
        reason="会仙山社区居委会点单：小区路面破损",
        clocks=sign,
    )
    texts = {}
    for order in (queue, called):
        [message] = domain.messages_for(order, facts_after(order))
        assert message.recipient == order.responder_id
        texts[message.template] = domain.render(message.template, "zh-CN", message.data)
    assert "业委会派单" in texts["committee_order"] and "11:00" in texts["committee_order"]
    assert "小区路面破损" in texts["community_call_order"]


def test_residents_get_sms_and_wechat_when_they_came_by_wechat_and_units_their_directory_channels():
    filed = examples.complaint_filed(channel=Channel.WECHAT)
    [receipt] = domain.messages_for(filed, facts_after(filed))
    assert domain.channels_for(receipt, facts_after(filed), None) == ["sms", "wechat"]
    hotline = examples.complaint_filed()
    assert domain.channels_for(receipt, facts_after(hotline), None) == ["sms"]
    unit = domain.Message(filed.complaint_id, Audience.RESPONDER, "dept-urban", "work_order_issued")
    address = domain.Address(sms="13905310004", email="urban@example.cn")
    assert domain.channels_for(unit, facts_after(filed), address) == ["sms", "email"]
    assert domain.channels_for(unit, facts_after(filed), None) == [domain.UNADDRESSED]


def test_a_notification_is_the_same_whenever_its_event_is_seen_again():
    event_id = uuid.uuid4()
    assert domain.notification_id(event_id, "dept-urban", "sms") == domain.notification_id(
        event_id, "dept-urban", "sms"
    )
    assert domain.notification_id(event_id, "dept-urban", "sms") != domain.notification_id(
        event_id, "dept-urban", "email"
    )


def test_templates_render_in_chinese_and_english_and_tolerate_a_missing_field():
    data = {"case_number": "JS-20261124-000001"}
    assert "已受理" in domain.render("complaint_receipt", "zh-CN", data)
    assert "received" in domain.render("complaint_receipt", "en", data)
    assert domain.render("complaint_receipt", "fr", data) == domain.render(
        "complaint_receipt", "zh-CN", data
    )
    assert "编号 。" in domain.render("complaint_receipt", "zh-CN", {}), (
        "unknown yet: empty, not an error"
    )
    for name, template in domain.templates().items():
        assert {"zh-CN", "en"} <= set(template["text"]) and {"zh-CN", "en"} <= set(
            template["subject"]
        ), name


@pytest.mark.parametrize(
    ("types", "scope", "event_type", "area", "expected"),
    [
        ([], None, "CaseResolved", None, True),
        (["CaseResolved"], None, "SlaBreached", "370124001001", False),
        ([], "370124001000", "CaseResolved", "370124001001-G01-B02", True),
        ([], "370124001000", "CaseResolved", "370124002001", False),
        ([], "370124001001-G01", "CaseResolved", "370124001001-G01-B02", True),
        ([], "370124001001-G01", "CaseResolved", "370124001001-G010", False),
        ([], "370124000000", "CaseResolved", None, False),
    ],
)
def test_a_subscription_s_filters(types, scope, event_type, area, expected):
    assert domain.matches(types, scope, event_type, area) is expected


def test_signatures_match_the_standard_webhooks_reference_vector():
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_an_independent_standard_webhooks_implementation_accepts_our_signatures():
    secret = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes!!!!").decode()
    body = json.dumps(
        {"type": "CaseResolved", "data": {"报告": "已修复"}}, ensure_ascii=False
    ).encode()
    now = int(time.time())
    headers = {
        "webhook-id": "3f2a",
        "webhook-timestamp": str(now),
        "webhook-signature": sign(secret, "3f2a", now, body),
    }
    assert Webhook(secret).verify(body, headers)["data"]["报告"] == "已修复"
    tampered = body.replace("已修复".encode(), "未修复".encode())
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_signatures_verify_with_a_plain_hmac():
    key = b"another key"
    secret = "whsec_" + base64.b64encode(key).decode()
    signature = sign(secret, "id-1", 1700000000, b"{}")
    expected = hmac.new(key, b"id-1.1700000000.{}", hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(expected).decode()


def test_retry_after_reads_seconds_and_dates():
    assert retry_after("120") == 120
    assert retry_after(None) is None and retry_after("soon") is None
    later = (datetime.now(UTC) + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 80 <= (retry_after(later) or 0) <= 91


ROSTER = [
    domain.OnDuty("desk-yushan", "370124001000", domain.Duty.STAFF),
    domain.OnDuty("desk-pingyin", "370124000000", domain.Duty.STAFF),
    domain.OnDuty("desk-meicheng", "370124001001", domain.Duty.STAFF),
    domain.OnDuty("desk-other-street", "370124002000", domain.Duty.STAFF),
    domain.OnDuty("street-yushan", "370124001000", domain.Duty.SUPERVISOR),
    domain.OnDuty("gov-pingyin", "370124000000", domain.Duty.SUPERVISOR),
]


def test_a_triage_warning_goes_to_the_desk_on_duty_nearest_the_complaint_and_a_breach_to_its_supervisor_too():
    filed = examples.complaint_filed()  # in 370124001001 (a community of 榆山街道)
    facts = facts_after(filed)
    due = NOW + timedelta(hours=2)
    clock = {
        "complaint_id": filed.complaint_id,
        "status": ComplaintStatus.TRIAGE,
        "due_at": due,
        "occurred_at": NOW,
        "area_code": filed.area_code,
    }
    warned, breached = TriageWarned(**clock), TriageBreached(**clock)

    told = [
        (m.audience, m.recipient, m.template) for m in domain.messages_for(warned, facts, ROSTER)
    ]
    assert told == [(Audience.RESPONDER, "desk-meicheng", "triage_warning")]
    told = [
        (m.audience, m.recipient, m.template) for m in domain.messages_for(breached, facts, ROSTER)
    ]
    assert told == [
        (Audience.RESPONDER, "desk-meicheng", "triage_breached"),
        (Audience.SUPERVISOR, "street-yushan", "triage_breach_for_supervisor"),
    ]
    [to_desk] = domain.messages_for(warned, facts, ROSTER)
    text = domain.render(to_desk.template, "zh-CN", to_desk.data)
    assert filed.case_number in text and "受理时限" in text and "2026-11-23 11:00" in text
    assert filed.text not in json.dumps(to_desk.data, ensure_ascii=False)
    assert domain.messages_for(warned, facts, []) == [], "nobody on duty: nobody to tell"


def test_a_triage_breach_reaches_the_district_where_the_street_has_nobody_on_duty():
    filed = examples.complaint_filed(area_code="370124003002")
    breached = TriageBreached(
        complaint_id=filed.complaint_id,
        status=ComplaintStatus.TRIAGE,
        due_at=NOW,
        occurred_at=NOW,
    )  # an event from before the field: the area comes from the filing
    told = [
        (m.recipient, m.template)
        for m in domain.messages_for(breached, facts_after(filed, breached), ROSTER)
    ]
    assert told == [
        ("desk-pingyin", "triage_breached"),
        ("gov-pingyin", "triage_breach_for_supervisor"),
    ]


def test_each_triage_message_is_the_same_notification_whenever_its_event_is_seen_again():
    filed = examples.complaint_filed()
    breached = TriageBreached(
        complaint_id=filed.complaint_id, status=ComplaintStatus.TRIAGE, due_at=NOW, occurred_at=NOW
    )
    event_id = uuid.uuid4()
    first, again = (
        [
            domain.notification_id(event_id, m.recipient, "sms")
            for m in domain.messages_for(breached, facts_after(filed), ROSTER)
        ]
        for _ in range(2)
    )
    assert first == again and len(set(first)) == len(first) == 2


def test_a_merged_complaint_s_resident_follows_the_survivor_s_progress_until_the_merge_is_undone():
    survivor = examples.complaint_filed(case_number="JS-20261124-000001")
    duplicate = examples.complaint_filed(case_number="JS-20261124-000002", channel=Channel.WECHAT)
    at = {"actor": "staff:王", "occurred_at": NOW}
    merged = examples.complaint_merged(duplicate, survivor, NOW)
    facts = domain.follow(facts_after(survivor), merged)
    assert facts.followers == (duplicate.complaint_id,)
    assert domain.follow(facts, merged) == facts, "a merge seen twice follows once"
    followers = {duplicate.complaint_id: facts_after(duplicate)}
    order = examples.work_order_issued(survivor.complaint_id)
    facts = domain.learn(facts, order)
    resolved = ComplaintResolved(
        complaint_id=survivor.complaint_id,
        status=ComplaintStatus.RESOLVED,
        report="屋面已修复",
        occurred_at=NOW,
    )
    closed = ComplaintClosed(
        **at, complaint_id=survivor.complaint_id, status=ComplaintStatus.CLOSED, reason="回访满意"
    )
    for event, template in ((resolved, "complaint_resolved"), (closed, "complaint_closed")):
        own = domain.messages_for(event, facts)
        [told] = domain.to_followers(own, facts, followers)
        assert told.recipient == domain.resident(duplicate.complaint_id)
        assert told.complaint_id == duplicate.complaint_id, "their contact, their notices"
        assert told.template == template and told.data["case_number"] == duplicate.case_number
        assert survivor.case_number not in str(told.data)
    [told] = domain.to_followers(domain.messages_for(resolved, facts), facts, followers)
    text = domain.render(told.template, "zh-CN", told.data)
    # what the unit wrote of the survivor's case (its flat, its resident) is not theirs to read
    assert "屋面已修复" not in text and "与您反映的同一事项已由承办单位办理" in text
    contacted = domain.messages_for(examples.work_order_step("contacted", order), facts)
    assert [m.template for m in contacted] == ["complaint_contacted"]
    assert domain.to_followers(contacted, facts, followers) == [], "nobody contacted them"
    assert domain.channels_for(told, followers[duplicate.complaint_id], None) == ["sms", "wechat"]
    assert domain.to_followers(domain.messages_for(order, facts), facts, followers) == [], (
        "only what the survivor's resident hears"
    )
    withdrawn = ComplaintWithdrawn(
        **at,
        complaint_id=survivor.complaint_id,
        status=ComplaintStatus.WITHDRAWN,
        reason="已自行解决",
    )
    assert domain.to_followers(domain.messages_for(withdrawn, facts), facts, followers) == []

    unmerged = examples.complaint_unmerged(duplicate, survivor, NOW)
    facts = domain.follow(facts, unmerged)
    assert facts.followers == ()
    assert domain.to_followers(domain.messages_for(resolved, facts), facts, followers) == []
