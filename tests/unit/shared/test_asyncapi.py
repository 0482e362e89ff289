"""The AsyncAPI documents: generated from the code, committed as generated, valid by the
AsyncAPI initiative's own parser (an independent validator, run with Node.js), complete (every
contract on its topic, with an example the contract accepts), and served by each service."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient

from shared import asyncapi
from shared.asyncapi_page import page
from shared.asyncapi_schemas import Schemas
from shared.events import REGISTRY
from shared.events.public import PUBLIC_PAYLOADS, webhook_body_model
from shared.events.snapshots import SNAPSHOTS
from shared.topics import CONSUMES, PUBLISHES, dlq, topic_of
from tests.unit.shared.test_skeleton import SERVICES as SETTINGS

# The platform's contracts (other tests register contracts of their own).
CONTRACTS = [cls for cls in REGISTRY.values() if cls.__module__.startswith("shared.events.")]

VALIDATOR = Path(__file__).resolve().parents[2] / "contracts" / "asyncapi"


def validate(*files: Path) -> tuple[int, list[dict[str, Any]]]:
    """The parser's verdict on `files`: its exit code and its diagnostics."""
    if shutil.which("node") is None or not (VALIDATOR / "node_modules").is_dir():
        pytest.fail("the AsyncAPI parser is not installed: run `make test-tools`")
    done = subprocess.run(
        ["node", str(VALIDATOR / "validate.mjs"), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return done.returncode, lines


def test_the_committed_documents_are_what_the_code_generates() -> None:
    assert asyncapi.stale() == [], "docs/asyncapi/ is stale: run `make schemas`"


def test_every_document_is_valid_asyncapi_3_by_the_initiatives_own_parser() -> None:
    files = sorted(asyncapi.FOLDER.glob("*.json"))
    assert len(files) == len(asyncapi.names())
    code, diagnostics = validate(*files)
    errors = [d for d in diagnostics if d["severity"] == 0]
    assert (code, errors) == (0, [])
    # what is left are hints (the parser suggests AsyncAPI 3.1; the issue asks for 3.0)
    assert {d["code"] for d in diagnostics} <= {"asyncapi-latest-version"}
    # each YAML file is the same document as its JSON (so valid alike)
    for path in files:
        yaml_text = path.with_suffix(".yaml").read_text(encoding="utf-8")
        assert yaml.safe_load(yaml_text) == json.loads(path.read_text(encoding="utf-8"))


def test_the_validator_refuses_a_broken_document(tmp_path: Path) -> None:
    """So that a pass above means something: a document with an AsyncAPI 2 word in it, and
    one whose operation names a channel it does not have, are refused. (The parser does not
    hold examples against payloads: the test below does, with jsonschema.)"""
    doc = json.loads(asyncapi.as_json(asyncapi.document("intake")))
    doc["operations"]["publishComplaintEvents"]["action"] = "publish"
    wrong_word = tmp_path / "wrong-word.json"
    wrong_word.write_text(json.dumps(doc))
    doc = json.loads(asyncapi.as_json(asyncapi.document("intake")))
    doc["operations"]["publishComplaintEvents"]["channel"] = {"$ref": "#/channels/nowhere"}
    dangling = tmp_path / "dangling.json"
    dangling.write_text(json.dumps(doc))
    code, diagnostics = validate(wrong_word, dangling)
    assert code == 1
    refused = {d["file"] for d in diagnostics if d["severity"] == 0}
    assert refused == {str(wrong_word), str(dangling)}, diagnostics


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_a_service_document_has_every_contract_it_publishes_and_consumes(service: str) -> None:
    doc = asyncapi.document(service)
    topics = ([PUBLISHES[service]] if service in PUBLISHES else []) + list(CONSUMES[service])
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(topics) | {dlq(t) for t in CONSUMES[service]}
    for cls in CONTRACTS:
        key = asyncapi.message_key(cls.event_type, cls.version)
        channel = asyncapi.channel_id(topic_of(cls))
        if topic_of(cls) in topics:
            assert key in doc["channels"][channel]["messages"], key
            assert doc["components"]["messages"][key]["name"] == cls.event_type
        else:
            assert key not in doc["components"]["messages"]
    actions = {(op["action"], op["channel"]["$ref"]) for op in doc["operations"].values()}
    for topic in topics:
        action = "send" if PUBLISHES.get(service) == topic else "receive"
        assert (action, f"#/channels/{asyncapi.channel_id(topic)}") in actions


def _resolved(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with the document's components beside it, for jsonschema to follow refs."""
    return {**schema, "components": doc["components"]}


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_every_example_is_valid_for_its_message_and_accepted_by_its_contract(
    service: str,
) -> None:
    doc = asyncapi.document(service)
    for key, message in doc["components"]["messages"].items():
        for example in message.get("examples", []):
            jsonschema.validate(example["payload"], _resolved(doc, message["payload"]))
            jsonschema.validate(example["headers"], _resolved(doc, message["headers"]))
            contract = REGISTRY[message["name"]]
            contract.model_validate(example["payload"])
            assert example["headers"]["ce_type"] == message["name"], key


def test_the_schema_of_each_message_is_its_contracts_snapshot() -> None:
    """What a subscriber validates against is what the compatibility gate guards."""
    doc = asyncapi.document("reporting")  # consumes every topic
    for cls in CONTRACTS:
        key = asyncapi.message_key(cls.event_type, cls.version)
        snapshot = json.loads((SNAPSHOTS / f"{key}.json").read_text(encoding="utf-8"))
        component = doc["components"]["schemas"][key]
        assert component["properties"].keys() == snapshot["properties"].keys()
        assert component.get("required") == snapshot.get("required")


def test_an_earlier_version_is_published_beside_the_current_one(tmp_path: Path) -> None:
    """A contract at v2 with v1's snapshot committed: both messages, v1's definitions hoisted
    under names of their own where they differ from v2's."""
    schemas = Schemas()
    v2 = {
        "type": "object",
        "properties": {"level": {"$ref": "#/$defs/Level"}},
        "$defs": {"Level": {"enum": ["street", "district", "city"]}},
    }
    v1 = {
        "type": "object",
        "properties": {"level": {"$ref": "#/$defs/Level"}},
        "$defs": {"Level": {"enum": ["street", "district"]}},
    }
    assert schemas.add("Escalated.v2", v2) == {"$ref": "#/components/schemas/Escalated.v2"}
    schemas.add("Escalated.v1", v1)
    assert schemas.components["Escalated.v2"]["properties"]["level"] == {
        "$ref": "#/components/schemas/Level"
    }
    assert schemas.components["Escalated.v1"]["properties"]["level"] == {
        "$ref": "#/components/schemas/Escalated.v1.Level"
    }
    assert schemas.components["Escalated.v1.Level"] == {"enum": ["street", "district"]}
    schemas.add("Again.v1", {"type": "object", "$defs": {"Level": v2["$defs"]["Level"]}})
    assert "Again.v1.Level" not in schemas.components  # equal definitions are shared


def test_documented_counts() -> None:
    """The size of what is documented (the closing note quotes it)."""
    channels = {
        c["address"] for n in asyncapi.SERVICES for c in asyncapi.document(n)["channels"].values()
    }
    messages = {
        key for n in asyncapi.SERVICES for key in asyncapi.document(n)["components"]["messages"]
    }
    assert len(channels) == 6
    # every version of every contract with a committed schema (an earlier one is still read,
    # upcast), and the dead letter
    assert messages == {path.stem for path in SNAPSHOTS.glob("*.json")} | {"DeadLetter"}


@pytest.mark.parametrize("service", asyncapi.SERVICES)
def test_each_service_serves_its_document_as_json_yaml_and_a_page(service: str) -> None:
    main = importlib.import_module(f"services.{service}.main")
    app = main.create_app(SETTINGS[service](database_url="postgresql://unused@127.0.0.1/unused"))
    committed = (asyncapi.FOLDER / f"{service}.json").read_text(encoding="utf-8")
    client = TestClient(app)  # no lifespan: the documents need no database
    assert client.get("/asyncapi.json").text == committed
    served_yaml = client.get("/asyncapi.yaml")
    assert served_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(served_yaml.text) == json.loads(committed)
    html = client.get("/asyncapi")
    assert html.headers["content-type"].startswith("text/html")
    for key, message in json.loads(committed)["components"]["messages"].items():
        assert f'id="message-{key}"' in html.text
        assert message["name"] in html.text
    assert html.text == page(service, "/asyncapi")


def test_the_webhooks_document_has_one_message_per_public_shape_with_a_valid_example() -> None:
    doc = asyncapi.document(asyncapi.WEBHOOKS)
    messages = doc["components"]["messages"]
    assert {m["name"] for m in messages.values()} == set(PUBLIC_PAYLOADS)
    for message in messages.values():
        (example,) = message["examples"]
        jsonschema.validate(example["payload"], _resolved(doc, message["payload"]))
        webhook_body_model(message["name"]).model_validate(example["payload"])
        assert example["payload"]["dataversion"] == message["x-event-version"]
    channel = doc["channels"]["subscriberEndpoint"]
    assert channel["address"] is None  # each subscription's own URL
    assert doc["operations"]["deliverWebhook"]["bindings"]["http"]["method"] == "POST"


def test_notify_serves_the_webhooks_document_beside_its_own() -> None:
    from services.notify.main import create_app
    from services.notify.settings import NotifySettings

    client = TestClient(create_app(NotifySettings(database_url="postgresql://unused@h/unused")))
    committed = (asyncapi.FOLDER / "webhooks.json").read_text(encoding="utf-8")
    assert client.get("/asyncapi/webhooks.json").text == committed
    assert "subscriber URL" in client.get("/asyncapi/webhooks").text
