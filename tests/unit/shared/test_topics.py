from pathlib import Path

from shared import topics

SERVICES = Path(__file__).resolve().parents[3] / "services"


def test_every_event_topic_has_a_dead_letter_topic_and_a_partition_count():
    names = {spec.name: spec.partitions for spec in topics.ALL_TOPICS}
    for topic in topics.EVENT_TOPICS:
        assert names[topic] >= 1
        assert names[topics.dlq(topic)] >= 1


def test_every_topic_constant_is_used_by_some_service():
    code = "\n".join(path.read_text() for path in SERVICES.rglob("*.py"))
    for constant in ("COMPLAINT_EVENTS", "DISPATCH_EVENTS", "NOTIFICATION_EVENTS"):
        assert constant in code, f"{constant} is defined but no service uses it"
