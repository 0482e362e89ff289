from pathlib import Path

from shared import topics
from shared.events import REGISTRY

SERVICES = Path(__file__).resolve().parents[3] / "services"


def test_every_event_topic_has_a_dead_letter_topic_and_a_partition_count():
    names = {spec.name: spec.partitions for spec in topics.ALL_TOPICS}
    for topic in topics.EVENT_TOPICS:
        assert names[topic] >= 1
        assert names[topics.dlq(topic)] >= 1


def test_every_event_topic_has_one_publisher_whose_runtime_names_it():
    assert sorted(topics.PUBLISHES.values()) == sorted(topics.EVENT_TOPICS)
    for service in topics.PUBLISHES:
        main = (SERVICES / service / "main.py").read_text()
        assert f'publishes=PUBLISHES["{service}"]' in main, service


def test_every_contract_travels_on_its_owners_topic():
    for cls in REGISTRY.values():
        if cls.__module__.startswith("shared.events."):
            assert topics.topic_of(cls) in topics.EVENT_TOPICS
