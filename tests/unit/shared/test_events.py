from datetime import UTC, datetime
from typing import Any, ClassVar
from uuid import uuid4

import pytest

from shared.consumer import ConsumedRecord, IdempotentConsumer
from shared.envelope import kafka_message
from shared.events import REGISTRY, Event, UndecodableEvent, UnknownEventType, parse_event, upcaster
from shared.events.compatibility import breaking_changes
from tests.support import examples


def test_every_event_wire_type_equals_its_class_name():
    assert REGISTRY
    for wire_type, event_class in REGISTRY.items():
        assert wire_type == event_class.__name__ == event_class.event_type


def test_events_are_named_in_the_past_tense():
    for wire_type in REGISTRY:
        assert wire_type.endswith(("ed", "Withdrawn", "Blown", "Held", "Set", "Redriven")), (
            wire_type
        )


def test_events_are_immutable():
    event = examples.complaint_filed()
    with pytest.raises(ValueError):
        event.text = "changed"  # type: ignore[misc]


def test_an_event_without_an_explicit_wire_type_is_refused():
    with pytest.raises(TypeError):

        class Forgotten(Event):
            pass


def test_a_wire_type_registered_twice_is_refused():
    with pytest.raises(TypeError):

        class ComplaintFiledAgain(Event):
            event_type = "ComplaintFiled"


class SampleThingRenamed(Event):
    """A contract at version 3, reached from v1 through two upcasters."""

    event_type: ClassVar[str] = "SampleThingRenamed"
    version: ClassVar[int] = 3
    title: str
    priority: int


@upcaster(SampleThingRenamed, from_version=1)
def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {"title": data["name"], "priority": data.get("urgent", False)}


@upcaster(SampleThingRenamed, from_version=2)
def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "priority": 1 if data["priority"] else 0}


def test_parse_applies_every_upcaster_in_turn_so_consumers_see_only_the_newest_shape():
    event = parse_event("SampleThingRenamed", 1, {"name": "井盖缺失", "urgent": True})
    assert event == SampleThingRenamed(title="井盖缺失", priority=1)
    assert parse_event("SampleThingRenamed", 3, {"title": "x", "priority": 0}).priority == 0


class SampleThingMoved(Event):
    """A contract renamed from `SampleThingShifted` (v1), whose history it reads."""

    event_type: ClassVar[str] = "SampleThingMoved"
    version: ClassVar[int] = 2
    formerly: ClassVar[tuple[str, ...]] = ("SampleThingShifted",)
    place: str


@upcaster(SampleThingMoved, from_version=1)
def _shifted_to_moved(data: dict[str, Any]) -> dict[str, Any]:
    return {"place": data["to"]}


def test_a_renamed_contract_reads_the_history_of_its_former_wire_type():
    assert parse_event("SampleThingShifted", 1, {"to": "东城区"}) == SampleThingMoved(
        place="东城区"
    )
    assert parse_event("SampleThingMoved", 2, {"place": "西城区"}).place == "西城区"


def test_a_consumer_of_a_renamed_contract_takes_records_of_its_former_wire_type():
    async def handle(context: Any, event: Event) -> None: ...

    consumer = IdempotentConsumer(
        name="sample",
        pool=None,  # type: ignore[arg-type]
        store=None,  # type: ignore[arg-type]
        handlers={SampleThingMoved: handle},
        dead_letters=None,  # type: ignore[arg-type]
    )
    old = kafka_message(
        event_id=uuid4(),
        source="sample",
        event_type="SampleThingShifted",
        version=1,
        time=datetime.now(UTC),
        subject=None,
        correlation_id=uuid4(),
        causation_id=None,
        data='{"to": "朝阳区"}'.encode(),
    )
    record = ConsumedRecord("sample.events", 0, 0, old.key, old.value, old.headers)
    routed = consumer._route(record)
    assert routed is not None
    assert routed[0].event == SampleThingMoved(place="朝阳区")
    assert routed[1] is handle


def test_a_former_wire_type_cannot_be_registered_again():
    with pytest.raises(TypeError, match="SampleThingShifted"):

        class SampleThingShifted(Event):
            event_type: ClassVar[str] = "SampleThingShifted"


def test_a_version_newer_than_the_build_knows_is_undecodable():
    with pytest.raises(UndecodableEvent, match="newer"):
        parse_event("SampleThingRenamed", 4, {"title": "x", "priority": 0})


def test_an_unknown_wire_type_is_reported_as_such():
    with pytest.raises(UnknownEventType):
        parse_event("NothingLikeThisHappened", 1, {})


def test_invalid_data_is_undecodable_with_the_reason():
    with pytest.raises(UndecodableEvent, match="complaint_id"):
        parse_event("ComplaintFiled", 1, {"case_number": "x"})


def test_an_upcaster_for_a_version_that_does_not_exist_yet_is_refused():
    with pytest.raises(ValueError):
        upcaster(SampleThingRenamed, from_version=3)


def test_added_fields_from_a_newer_producer_are_ignored():
    data = examples.complaint_filed().model_dump(mode="json") | {"new_optional": 1}
    assert parse_event("ComplaintFiled", 1, data).case_number == "JS-20261124-000001"


def test_a_removed_or_retyped_or_newly_required_field_counts_as_breaking():
    old = {"properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"]}
    assert breaking_changes(old, old) == []
    added_optional = {
        "properties": {**old["properties"], "c": {"type": "string"}},
        "required": ["a"],
    }
    assert breaking_changes(old, added_optional) == []
    assert breaking_changes(old, {"properties": {"a": {"type": "string"}}, "required": ["a"]})
    retyped = {
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a"],
    }
    assert breaking_changes(old, retyped)
    assert breaking_changes(old, {**old, "required": ["a", "b"]})
