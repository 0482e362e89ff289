import uuid
from datetime import UTC, datetime

import pytest
from cloudevents.v1.kafka import KafkaMessage as SdkMessage
from cloudevents.v1.kafka import from_binary

from shared.envelope import Causation, Envelope, from_kafka, to_kafka
from shared.events import UndecodableEvent, UnknownEventType
from tests.support import examples


def _envelope(**overrides):
    fields = {
        "event": examples.complaint_filed(),
        "id": uuid.uuid4(),
        "source": "/jiesu/intake",
        "time": datetime.now(UTC),
        "correlation_id": uuid.uuid4(),
        "causation_id": uuid.uuid4(),
    }
    fields.update(overrides)
    return Envelope(**fields)


def test_envelope_round_trips_through_kafka_binary_mode():
    envelope = _envelope()
    message = to_kafka(envelope)
    assert from_kafka(message.headers, message.value) == envelope


def test_attributes_travel_in_ce_headers_and_the_payload_is_plain_json():
    envelope = _envelope()
    message = to_kafka(envelope)
    headers = dict(message.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"ComplaintFiled"
    assert headers["ce_subject"] == str(envelope.event.complaint_id).encode()
    assert headers["ce_correlationid"] == str(envelope.correlation_id).encode()
    assert headers["content-type"] == b"application/json"
    assert message.key == str(envelope.event.complaint_id).encode()
    assert b'"case_number"' in message.value and "漏雨".encode() in message.value


def test_an_independent_cloudevents_implementation_reads_our_records():
    envelope = _envelope()
    message = to_kafka(envelope)
    event = from_binary(
        SdkMessage(headers=dict(message.headers), key=message.key, value=message.value)
    )
    assert event["id"] == str(envelope.id)
    assert event["type"] == "ComplaintFiled"
    assert event["source"] == "/jiesu/intake"
    assert event["subject"] == str(envelope.event.complaint_id)
    assert event["correlationid"] == str(envelope.correlation_id)
    assert event.data["case_number"] == envelope.event.case_number


def test_follow_keeps_the_correlation_and_names_the_cause():
    envelope = _envelope()
    assert envelope.follow() == Causation(envelope.correlation_id, envelope.id)


def test_a_new_conversation_starts_its_own_correlation():
    first, second = Causation.start(), Causation.start()
    assert first.correlation_id != second.correlation_id
    assert first.causation_id is None


def test_records_that_are_not_cloudevents_are_undecodable():
    message = to_kafka(_envelope())
    headers = [(k, v) for k, v in message.headers if k != "ce_id"]
    with pytest.raises(UndecodableEvent, match="ce_id"):
        from_kafka(headers, message.value)
    with pytest.raises(UndecodableEvent):
        from_kafka(message.headers, b"{not json")
    with pytest.raises(UndecodableEvent):
        from_kafka(message.headers, b"[1, 2]")


def test_an_unknown_type_is_distinguished_from_a_broken_record():
    message = to_kafka(_envelope())
    headers = [(k, b"SomethingElseHappened" if k == "ce_type" else v) for k, v in message.headers]
    with pytest.raises(UnknownEventType):
        from_kafka(headers, message.value)
