"""The example subscriber's parts without a broker: its contracts come from the AsyncAPI
documents alone, it knows nothing of the platform's code, its inbox recognises an event handled
before, and it passes over records it cannot use with a reason."""

from __future__ import annotations

import ast
import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord

from examples.kafka_subscriber.__main__ import parse_args
from examples.kafka_subscriber.contracts import Contracts, contracts_of, load_document
from examples.kafka_subscriber.inbox import Inbox
from examples.kafka_subscriber.subscriber import handle_record

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "kafka_subscriber"
DOCUMENTS = REPO / "docs" / "asyncapi"
PLATFORM = {"shared", "services", "deploy", "tests"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return load_document(str(DOCUMENTS / "reporting.json"))


@pytest.fixture(scope="module")
def contracts(document: dict[str, Any]) -> Contracts:
    return contracts_of(document)


def filed_example(document: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    example = document["components"]["messages"]["ComplaintFiled.v1"]["examples"][0]
    return dict(example["headers"]), copy.deepcopy(example["payload"])


def record(
    headers: dict[str, str], payload: Any, topic: str = "complaint.events", offset: int = 7
) -> ConsumerRecord[bytes, bytes]:
    value = json.dumps(payload).encode()
    return ConsumerRecord(
        topic=topic,
        partition=3,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=headers.get("ce_subject", "").encode(),
        value=value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=len(value),
        headers=[(name, text.encode()) for name, text in headers.items()],
    )


def test_the_example_imports_nothing_of_the_platform() -> None:
    imported = set()
    for path in EXAMPLE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    assert {"aiokafka", "jsonschema", "referencing"} <= imported
    assert not imported & PLATFORM


@pytest.mark.parametrize("service", ["intake", "dispatch", "notify", "reporting"])
def test_every_example_in_each_document_passes_its_own_contract(service: str) -> None:
    document = load_document(str(DOCUMENTS / f"{service}.json"))
    contracts = contracts_of(document)
    checked = 0
    for key, message in document["components"]["messages"].items():
        if "x-event-version" not in message:
            continue
        contract = contracts.find(message["name"], str(message["x-event-version"]))
        assert contract is not None and contract.message == key
        for example in message.get("examples", []):
            assert contract.problems(example["headers"], example["payload"]) == [], key
            checked += 1
    assert checked > 0


def test_the_yaml_document_gives_the_same_contracts(contracts: Contracts) -> None:
    from_yaml = contracts_of(load_document(str(DOCUMENTS / "reporting.yaml")))
    assert from_yaml.by_wire_name.keys() == contracts.by_wire_name.keys()
    assert (
        from_yaml.topics
        == contracts.topics
        == (
            "complaint.events",
            "dispatch.events",
            "notification.events",
        )
    )


def test_a_record_that_breaks_its_contract_is_told_where(
    document: dict[str, Any], contracts: Contracts
) -> None:
    headers, payload = filed_example(document)
    headers["ce_id"] = "not-a-uuid"
    del payload["case_number"]
    payload["filed_at"] = "yesterday"
    payload["status"] = "lost"
    problems = contracts.find("ComplaintFiled", "1").problems(headers, payload)  # type: ignore[union-attr]
    assert problems == [
        "headers['ce_id']: 'not-a-uuid' is not a 'uuid'",
        "payload['filed_at']: 'yesterday' is not a 'date-time'",
        f"payload['status']: 'lost' is not one of {document['components']['schemas']['ComplaintStatus']['enum']}",
        "payload: 'case_number' is a required property",
    ]


def test_an_event_is_handled_once_even_after_the_inbox_is_reopened(
    tmp_path: Path, document: dict[str, Any], contracts: Contracts
) -> None:
    headers, payload = filed_example(document)
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    first = handle_record(record(headers, payload), contracts, inbox)
    inbox.close()
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    again = handle_record(record(headers, payload, offset=9), contracts, inbox)
    assert (first.outcome, first.case_number, first.status) == (
        "handled",
        payload["case_number"],
        "filed",
    )
    assert (again.outcome, again.ce_id) == ("duplicate", headers["ce_id"])


def test_a_status_from_an_earlier_stream_position_does_not_replace_a_later_one(
    tmp_path: Path,
) -> None:
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    complaint = str(uuid.uuid4())

    def handle(position: int, payload: dict[str, Any]) -> Any:
        return inbox.handle(
            ce_id=str(uuid.uuid4()),
            ce_type="Any",
            topic="complaint.events",
            partition=0,
            offset=position,
            complaint_id=complaint,
            position=position,
            payload=payload,
        )

    handle(1, {"case_number": "JS-1", "status": "filed", "area_code": "A"})
    handle(3, {"status": "dispatched"})
    late = handle(2, {"status": "classified", "area_code": "B"})  # redelivered late
    assert (late.case_number, late.status, late.area_code) == ("JS-1", "dispatched", "A")


@pytest.mark.parametrize(
    ("change", "outcome", "reason"),
    [
        ({"ce_type": "ComplaintTeleported"}, "skipped", "unknown type"),
        ({"ce_eventversion": "99"}, "skipped", "newer than v1"),
        ({"ce_id": None}, "skipped", "not a CloudEvent"),
        ({"topic": "dispatch.events"}, "invalid", "does not travel on dispatch.events"),
    ],
)
def test_a_record_it_cannot_use_is_passed_over_with_a_reason(
    tmp_path: Path,
    document: dict[str, Any],
    contracts: Contracts,
    change: dict[str, Any],
    outcome: str,
    reason: str,
) -> None:
    headers, payload = filed_example(document)
    topic = change.pop("topic", "complaint.events")
    headers = {n: v for n, v in {**headers, **change}.items() if v is not None}
    inbox = Inbox(tmp_path / "inbox.sqlite3")
    seen = handle_record(record(headers, payload, topic=topic), contracts, inbox)
    assert seen.outcome == outcome and reason in (seen.reason or ""), seen
    assert "ComplaintFiled" not in (seen.as_text().split()[0])


def test_the_platform_s_own_consumer_groups_are_refused() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--group", "jiesu-reporting"])
    assert parse_args(["--group", "ext-district-dashboard"]).group == "ext-district-dashboard"
