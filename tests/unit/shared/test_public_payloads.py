"""The public webhook payloads: one per subscribable event, documented, snapshotted, and
carrying nothing personal or free-text, by field name and by what real events put in them."""

from __future__ import annotations

import json
import re
import types
import typing
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar
from unittest.mock import patch

import pytest
from pydantic import BaseModel, ConfigDict, create_model

from services.notify.api.schemas import SUBSCRIBABLE
from shared.events import REGISTRY, Event, events_about_complaints
from shared.events.area import no_finer_than_building
from shared.events.public import (
    PUBLIC_PAYLOADS,
    PublicPayload,
    WebhookBody,
    public_payload,
    webhook_body,
    webhook_body_json,
    webhook_body_model,
)
from shared.events.public.base import (
    AreaCode,
    MaybeAreaCode,
    PublicAssignment,
    PublicCandidate,
    PublicClock,
)
from shared.events.snapshots import Contract, check, families, public_family, with_contract
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS, topic_of
from tests.support import examples

# Names of fields that hold a person's data or free text; none may reach a subscriber.
PERSONAL = {
    "text", "address", "latitude", "longitude", "resident_ref", "masked_phone", "phone",
    "contact", "contacts", "name_of_resident", "answer", "report", "note", "comment",
    "minutes", "topic", "title", "task", "actor", "sealed", "attributes", "media_urls",
    "source_datum", "participants", "parties", "decision", "verdict", "classified_by",
    "public_place", "reason", "signed_by", "key_id",
}  # fmt: skip
# A candidate's `reason` is a code (same_building | same_grid | nearby), not a person's words.
CODES = {("PublicCandidate", "reason")}
# The public fields of the models events nest (an agenda's assignments, a duplicate's
# candidates, a work order's clocks), by the event side's model.
NESTED_PUBLIC = {
    "AgendaAssignment": set(PublicAssignment.model_fields),
    "DuplicateCandidate": set(PublicCandidate.model_fields),
    "OrderClock": set(PublicClock.model_fields),
}
SECRET = "李君 13812345678 玫城丽都3号楼2单元501 屋顶漏水三天了"
# A stairwell (玫城丽都2号楼1单元), in every field of an event that holds an area code; the
# public learns its building only.
UNIT, BUILDING = "370124001001-G01-B02-U1", "370124001001-G01-B02"


def test_every_complaint_event_of_intake_and_dispatch_has_a_public_payload():
    about_complaints = {
        e.event_type
        for e in events_about_complaints()
        if topic_of(e) in (COMPLAINT_EVENTS, DISPATCH_EVENTS)
    }
    assert set(PUBLIC_PAYLOADS) == about_complaints
    assert sorted(PUBLIC_PAYLOADS) == SUBSCRIBABLE
    for wire_type, payload in PUBLIC_PAYLOADS.items():
        assert payload.event_type == wire_type and payload.version >= 1
        assert payload.__name__ == f"{wire_type}Payload"


def _schema(payload: type[PublicPayload]) -> dict[str, Any]:
    return payload.model_json_schema(mode="serialization")


def _properties(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(model, field, spec) of a schema's properties and its definitions' properties."""
    found = [(schema["title"], n, s) for n, s in schema.get("properties", {}).items()]
    for definition in schema.get("$defs", {}).values():
        found += [(definition["title"], n, s) for n, s in definition.get("properties", {}).items()]
    return found


def test_no_public_payload_has_a_field_of_a_personal_or_free_text_kind():
    for payload in PUBLIC_PAYLOADS.values():
        for model, field, _ in _properties(_schema(payload)):
            assert field not in PERSONAL or (model, field) in CODES, f"{model}.{field}"


def test_every_public_payload_and_field_is_documented_in_chinese_and_english():
    for payload in PUBLIC_PAYLOADS.values():
        schema = _schema(payload)
        assert payload.__doc__ and any("\u4e00" <= c <= "\u9fff" for c in payload.__doc__)
        for model, field, spec in _properties(schema):
            description = spec.get("description", "")
            if model in ("PublicCandidate",) and field == "reason":
                continue
            assert any("\u4e00" <= c <= "\u9fff" for c in description), f"{model}.{field}"
            assert any(c.isascii() and c.isalpha() for c in description), f"{model}.{field}"


def test_public_payloads_pass_the_compatibility_gate_as_a_family_of_their_own():
    family = public_family()
    assert family in families() and family.folder.name == "public_schemas"
    assert {c.name for c in family.contracts} == set(PUBLIC_PAYLOADS)
    assert check(family) == []
    # a field removed from a committed payload is a break the gate refuses at the same version
    filed = PUBLIC_PAYLOADS["ComplaintFiled"]
    fewer = create_model(filed.__name__, complaint_id=(uuid.UUID, ...), case_number=(str, ...))
    broken = with_contract(family, Contract.of(fewer, filed.event_type, filed.version))
    assert any("channel" in str(p) for p in check(broken))


def _value(annotation: Any, field: str, public: set[str]) -> Any:
    """A value of `annotation`: the personal text wherever a string is not public."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return _value(
            next(a for a in typing.get_args(annotation) if a is not type(None)), field, public
        )
    if origin is list:
        return [_value(typing.get_args(annotation)[0], field, public)]
    if origin is dict:
        return {"phone": SECRET, "name": SECRET}
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _filled(annotation, NESTED_PUBLIC.get(annotation.__name__, set()))
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    if annotation is str:
        if field not in public:
            return SECRET
        return UNIT if field.endswith("_code") else f"code-{field}"
    return {uuid.UUID: uuid.uuid4(), datetime: datetime.now(UTC), bool: True, int: 2,
            float: 1.5, Decimal: Decimal("0.5")}[annotation]  # fmt: skip


def _filled(model: type[BaseModel], public: set[str]) -> Any:
    """`model` with every field given: codes where the public shape has the field, the
    personal text in every other string."""
    hints = typing.get_type_hints(model)
    return model(**{name: _value(hints[name], name, public) for name in model.model_fields})


def test_events_full_of_personal_data_give_payloads_without_any_of_it():
    carried = 0
    for wire_type, payload_class in PUBLIC_PAYLOADS.items():
        event: Event = _filled(REGISTRY[wire_type], set(payload_class.model_fields))
        carried += SECRET in event.model_dump_json()
        event_id, at = uuid.uuid4(), datetime.now(UTC)
        sent = webhook_body_json(event, event_id, "/jiesu/test", at)
        assert "李君" not in sent and "13812345678" not in sent and "漏水" not in sent, (
            f"{wire_type}: {sent}"
        )
    assert carried >= 30, "most events have a personal or free-text field to leave out"


def test_the_body_notify_sends_equals_the_documented_model_for_every_type():
    for wire_type, payload_class in PUBLIC_PAYLOADS.items():
        event: Event = _filled(REGISTRY[wire_type], set(payload_class.model_fields))
        event_id, at = uuid.uuid4(), datetime.now(UTC)
        typed = webhook_body_model(wire_type)
        sent = typed.model_validate_json(webhook_body_json(event, event_id, "/jiesu/test", at))
        documented = typed.model_validate_json(
            webhook_body(event, event_id, "/jiesu/test", at).model_dump_json()
        )
        assert sent == documented, wire_type
        assert set(json.loads(webhook_body_json(event, event_id, "/x", at))["data"]) == set(
            payload_class.model_fields
        ), wire_type


def test_a_filing_s_webhook_body_is_cloudevents_with_the_public_shape_only():
    filed = examples.complaint_filed(text=SECRET, address="玫城丽都3号楼2单元501")
    event_id, at = uuid.uuid4(), datetime.now(UTC)
    sent = json.loads(webhook_body_json(filed, event_id, "/jiesu/intake", at))
    assert sent["specversion"] == "1.0" and sent["id"] == str(event_id)
    assert sent["type"] == "ComplaintFiled" and sent["subject"] == str(filed.complaint_id)
    assert sent["dataversion"] == 1 and sent["datacontenttype"] == "application/json"
    assert sent["data"]["case_number"] == filed.case_number
    assert filed.area_code == UNIT and sent["data"]["area_code"] == BUILDING
    for personal in (SECRET, filed.address, filed.resident_ref, filed.masked_phone):
        assert personal not in json.dumps(sent, ensure_ascii=False)
    # the body validates as the typed message of its type, and as no other type's
    assert webhook_body_model("ComplaintFiled").model_validate(sent).data.case_number  # type: ignore[attr-defined]
    assert WebhookBody.model_validate(sent).id == event_id


def test_the_typed_body_of_a_type_names_it_and_its_payload():
    schema = webhook_body_model("SlaBreached").model_json_schema()
    assert schema["properties"]["type"]["const"] == "SlaBreached"
    assert schema["properties"]["dataversion"]["const"] == 1
    assert "SlaBreachedPayload" in json.dumps(schema)
    assert public_payload(examples.complaint_filed()).event_type == "ComplaintFiled"


def _unit_codes(value: Any) -> list[str]:
    """Every string in a JSON value that names a unit (单元): a code of three local segments."""
    if isinstance(value, dict):
        return [code for item in value.values() for code in _unit_codes(item)]
    if isinstance(value, list):
        return [code for item in value for code in _unit_codes(item)]
    return [value] if isinstance(value, str) and re.fullmatch(r"[0-9]{12}(-\w+){3}", value) else []


def test_no_payload_names_a_place_finer_than_the_building_on_either_path():
    cut = 0
    for wire_type, payload_class in PUBLIC_PAYLOADS.items():
        event: Event = _filled(REGISTRY[wire_type], set(payload_class.model_fields))
        event_id, at = uuid.uuid4(), datetime.now(UTC)
        sent = json.loads(webhook_body_json(event, event_id, "/jiesu/test", at))
        documented = json.loads(webhook_body(event, event_id, "/jiesu/test", at).model_dump_json())
        assert _unit_codes(sent) == [] and _unit_codes(documented) == [], wire_type
        areas = {n for n in payload_class.model_fields if n.endswith("_code")}
        documented_as_areas = {
            n for n, f in payload_class.model_fields.items() if "细至楼栋" in (f.description or "")
        }
        assert areas == documented_as_areas, wire_type  # (so `_filled` gave each a unit)
        assert all(sent["data"][n] == documented["data"][n] == BUILDING for n in areas), wire_type
        cut += len(areas)
    assert cut >= 11, "filings, classifications, work orders, triage clocks, agenda items…"


class _Place(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)
    area_code: AreaCode


class _Places(PublicPayload):
    """地点 Places a complaint names (a payload for this test only: `_` keeps it unlisted)."""

    event_type = "PlacesNamed"
    area_code: MaybeAreaCode = None
    main: _Place | None
    others: list[_Place]


class _EventPlace(BaseModel):
    area_code: str
    address: str


class _PlacesNamed(BaseModel):
    event_type: ClassVar[str] = "PlacesNamed"
    complaint_id: uuid.UUID
    area_code: str | None
    main: _EventPlace | None
    others: list[_EventPlace]


def _named(*codes: str | None) -> Any:
    first, *rest = codes
    return _PlacesNamed(
        complaint_id=uuid.uuid4(),
        area_code=first,
        main=_EventPlace(area_code=rest[0], address=SECRET) if rest[0] else None,
        others=[_EventPlace(area_code=code, address=SECRET) for code in rest[1:] if code],
    )


@pytest.mark.parametrize(
    "codes",
    [
        (UNIT, UNIT, UNIT, "370124001002-G01-B01-U2", BUILDING),  # top level, nested, repeated
        (None, None, "370124001001-G01", UNIT),
        (BUILDING, "370124001001", None),
        ("370124001001-g01-b02-u1", UNIT),  # not of the pattern: the payload model cuts it
    ],
)
def test_area_codes_in_nested_payload_models_and_lists_are_cut_alike_on_both_paths(codes):
    event, event_id, at = _named(*codes), uuid.uuid4(), datetime.now(UTC)
    with patch.dict(PUBLIC_PAYLOADS, {"PlacesNamed": _Places}):
        sent = json.loads(webhook_body_json(event, event_id, "/jiesu/test", at))
        documented = json.loads(webhook_body(event, event_id, "/jiesu/test", at).model_dump_json())
    assert sent["data"] == documented["data"] and _unit_codes(sent) == []
    assert WebhookBody.model_validate(sent) == WebhookBody.model_validate(documented)
    expected = [no_finer_than_building(code) for code in codes if code]
    named = [sent["data"]["area_code"], sent["data"]["main"] and sent["data"]["main"]["area_code"]]
    assert [c for c in named if c] + [p["area_code"] for p in sent["data"]["others"]] == expected
    assert "李君" not in json.dumps(sent, ensure_ascii=False)
