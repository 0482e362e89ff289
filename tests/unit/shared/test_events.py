import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from shared.events import REGISTRY, Event, UndecodableEvent, UnknownEventType, parse_event, upcaster
from shared.events.snapshots import breaking_changes, current_schema, snapshot_path
from tests.support import examples

REPO = Path(__file__).resolve().parents[3]


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


@pytest.mark.parametrize(
    "event_class", [c for c in REGISTRY.values() if not c.event_type.startswith("Sample")]
)
def test_every_contract_matches_its_committed_schema_snapshot(event_class):
    path = snapshot_path(event_class)
    assert path.exists(), f"no snapshot for {event_class.event_type}: run `make schemas`"
    problems = breaking_changes(json.loads(path.read_text()), current_schema(event_class))
    assert not problems, f"breaking change without a version bump: {problems}"


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
