import base64
import hashlib
import hmac

from services.notify import domain
from services.notify.delivery import sign
from tests import examples


def test_the_receipt_tells_the_resident_only_about_their_own_case():
    event = examples.complaint_filed()
    [message] = domain.receipt_for_resident(event)
    assert message.recipient == event.resident_ref
    assert message.data == {"case_number": event.case_number, "masked_phone": event.masked_phone}
    assert event.text not in str(message.data)


def test_the_responder_notice_names_the_order_and_its_deadline():
    event = examples.work_order_issued()
    [message] = domain.notice_for_responder(event)
    assert message.recipient == event.responder_id
    text = domain.render(message.template, "zh-CN", message.data)
    assert event.responder_name in text and "主办" in text


def test_templates_render_in_chinese_and_english():
    data = {"case_number": "JS-20261124-000001", "masked_phone": None}
    assert "已受理" in domain.render("complaint_receipt", "zh-CN", data)
    assert "received" in domain.render("complaint_receipt", "en", data)
    assert domain.render("complaint_receipt", "fr", data) == domain.render(
        "complaint_receipt", "zh-CN", data
    )


def test_signatures_match_the_standard_webhooks_reference_vector():
    # The example from the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signatures_verify_with_a_plain_hmac():
    key = b"another key"
    secret = "whsec_" + base64.b64encode(key).decode()
    signature = sign(secret, "id-1", 1700000000, b"{}")
    expected = hmac.new(key, b"id-1.1700000000.{}", hashlib.sha256).digest()
    assert signature == "v1," + base64.b64encode(expected).decode()
