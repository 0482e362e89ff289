"""The contracts, taken from an AsyncAPI 3.0 document alone: for each message, a validator of its
headers and one of its payload, chosen by the pair (`ce_type`, `ce_eventversion`)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError
from referencing import Registry
from referencing.jsonschema import DRAFT7

# The name the document is registered under: every `#/components/...` reference inside it
# resolves against this, so schemas are used where they are, never copied.
DOCUMENT_URI = "urn:example:asyncapi"

# `uuid` is checked by jsonschema itself; `date-time` needs an extra package there, so it is
# checked here with the standard library (RFC 3339: a date, a time and an offset or Z).
FORMATS = FormatChecker()


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return "T" in value.upper() and datetime.fromisoformat(value).tzinfo is not None


@dataclass(frozen=True)
class Contract:
    """One message of the document: a wire type at one version."""

    message: str  # its key in components.messages, e.g. "ComplaintFiled.v1"
    event_type: str  # `name`: what `ce_type` says
    version: str  # `x-event-version`, as `ce_eventversion` says it
    channels: frozenset[str]  # the topics it travels on
    headers: Draft7Validator
    payload: Draft7Validator

    def problems(self, headers: Mapping[str, str], payload: Any) -> list[str]:
        """What is wrong with a record of this message; empty when it is valid."""
        return [
            f"{part}{_where(error)}: {error.message}"
            for part, validator, instance in (
                ("headers", self.headers, dict(headers)),
                ("payload", self.payload, payload),
            )
            for error in validator.iter_errors(instance)
        ]


@dataclass(frozen=True)
class Contracts:
    by_wire_name: dict[tuple[str, str], Contract]
    newest: dict[str, int]  # wire type → the newest version the document describes
    topics: tuple[str, ...]  # the event topics (every channel but the dead-letter ones)
    servers: tuple[str, ...]  # the document's Kafka servers (host:port)

    def find(self, event_type: str, version: str) -> Contract | None:
        return self.by_wire_name.get((event_type, version))


def load_document(source: str) -> dict[str, Any]:
    """The document at a path or an http(s) URL, JSON or (by its suffix) YAML."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=10) as response:
            text = response.read().decode()
    else:
        text = Path(source).read_text(encoding="utf-8")
    document: dict[str, Any] = (
        yaml.safe_load(text) if source.endswith((".yaml", ".yml")) else json.loads(text)
    )
    if not str(document.get("asyncapi", "")).startswith("3."):
        raise ValueError(f"{source} is not an AsyncAPI 3 document")
    return document


def contracts_of(document: dict[str, Any]) -> Contracts:
    """Every versioned message of the document (those with `x-event-version`: the dead-letter
    record is the platform's own), with validators that resolve references inside it."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, DRAFT7.create_resource(document)
    )

    def validator(pointer: str) -> Draft7Validator:
        return Draft7Validator(
            {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=registry, format_checker=FORMATS
        )

    channels_of: dict[str, set[str]] = {}
    for channel in document["channels"].values():
        for ref in channel.get("messages", {}).values():
            key = ref["$ref"].rsplit("/", 1)[-1]
            channels_of.setdefault(key, set()).add(channel["address"])
    by_wire_name: dict[tuple[str, str], Contract] = {}
    newest: dict[str, int] = {}
    for key, message in document["components"]["messages"].items():
        version = message.get("x-event-version")
        if version is None:
            continue
        pointer = f"/components/messages/{_escaped(key)}"
        contract = Contract(
            message=key,
            event_type=message["name"],
            version=str(version),
            channels=frozenset(channels_of.get(key, ())),
            headers=validator(f"{pointer}/headers"),
            payload=validator(f"{pointer}/payload"),
        )
        by_wire_name[(contract.event_type, contract.version)] = contract
        newest[contract.event_type] = max(newest.get(contract.event_type, 0), int(version))
    topics = tuple(
        channel["address"]
        for channel in document["channels"].values()
        if not channel["address"].endswith(".dlq")
    )
    servers = tuple(
        server["host"]
        for server in document.get("servers", {}).values()
        if server.get("protocol") == "kafka"
    )
    return Contracts(by_wire_name, newest, topics, servers)


def _escaped(key: str) -> str:
    """A key as one JSON Pointer segment."""
    return key.replace("~", "~0").replace("/", "~1")


def _where(error: ValidationError) -> str:
    return "".join(f"[{part!r}]" for part in error.absolute_path)
