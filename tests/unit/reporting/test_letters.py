"""A Kafka dead letter as the console lists it, and the filters over the list."""

from __future__ import annotations

from datetime import UTC, datetime

from services.reporting.letters import Filter, from_kafka, from_notify
from shared.dlq import DeadLetter

HEADERS = [
    ("ce_type", b"ComplaintFiled"),
    ("ce_subject", b"c-1"),
    ("dlq_original_topic", b"complaint.events"),
    ("dlq_original_partition", b"3"),
    ("dlq_original_offset", b"41"),
    ("dlq_error", b"UniqueViolationError: duplicate key"),
    ("dlq_attempts", b"5"),
    ("dlq_consumer", b"dispatch"),
    ("dlq_failed_at", b"2026-05-06T07:08:09+00:00"),
]


def test_a_kafka_dead_letter_names_its_place_consumer_type_and_error() -> None:
    letter = from_kafka("complaint.events", DeadLetter(0, 12, b"c-1", b'{"a": 1}', HEADERS))
    assert letter.id == "kafka:complaint.events.dlq:0:12"
    assert (letter.topic, letter.consumer, letter.event_type) == (
        "complaint.events",
        "dispatch",
        "ComplaintFiled",
    )
    assert letter.failed_at == datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert letter.payload == '{\n  "a": 1\n}'
    assert letter.headers["dlq_original_offset"] == "41"


def test_filters_match_topic_consumer_type_error_text_and_time() -> None:
    letter = from_kafka("complaint.events", DeadLetter(0, 12, None, b"not json", HEADERS))
    assert letter.payload == "not json"
    assert Filter().matches(letter)
    assert Filter(
        topic="complaint.events", consumer="dispatch", event_type="ComplaintFiled"
    ).matches(letter)
    assert Filter(error="uniqueviolation").matches(letter)
    assert not Filter(error="timeout").matches(letter)
    assert not Filter(consumer="notify").matches(letter)
    assert Filter(since=datetime(2026, 5, 6, tzinfo=UTC)).matches(letter)
    assert not Filter(until=datetime(2026, 5, 6, tzinfo=UTC)).matches(letter)


def test_an_abandoned_delivery_is_a_letter_of_notify() -> None:
    letter = from_notify(
        {
            "notification_id": "n-1",
            "event_id": "e-1",
            "complaint_id": "c-1",
            "audience": "resident",
            "recipient": "138****0000",
            "channel": "sms",
            "endpoint": "sms://138****0000",
            "template": "complaint_received",
            "attempts": 6,
            "last_error": "gateway 503",
            "updated_at": "2026-05-06T07:08:09Z",
        }
    )
    assert (letter.id, letter.topic, letter.consumer) == ("notify:n-1", "notify:sms", "notify")
    assert Filter(topic="notify:sms", error="503").matches(letter)
