"""The JSON Schemas of the AsyncAPI documents (shared/asyncapi.py): the contracts' schemas as
components, their definitions hoisted and described, and the headers' schemas (CloudEvents in
Kafka binary mode, dead letters)."""

from __future__ import annotations

import copy
import json
from typing import Any

from shared.consumer import DLQ_HEADERS
from shared.envelope import CONTENT_TYPE, SPEC_VERSION, TRACEPARENT
from shared.events import glossary

# --- schemas: one component per contract version, its definitions hoisted beside it ------------


def _refs_renamed(node: Any, names: dict[str, str]) -> Any:
    """`node` with each `#/$defs/X` reference pointing at its component `names[X]`."""
    if isinstance(node, dict):
        return {
            key: (
                f"#/components/schemas/{names[value.rsplit('/', 1)[-1]]}"
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/")
                else _refs_renamed(value, names)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_refs_renamed(item, names) for item in node]
    return node


def _described(schema: dict[str, Any], name: str) -> dict[str, Any]:
    """`schema` with the glossary's words where it has none of its own: on each property, and
    on an enum (its values with the words people see)."""
    words = glossary.enum(name.rsplit(".", 1)[-1]) if "enum" in schema else None
    if words:
        schema = {**schema, "description": f"{schema.get('description', '')} {words}".strip()}
    properties = schema.get("properties")
    if properties:
        schema = {
            **schema,
            "properties": {
                key: (
                    spec
                    if "description" in spec or glossary.field(key) is None
                    else {**spec, "description": glossary.field(key)}
                )
                for key, spec in properties.items()
            },
        }
    return schema


class Schemas:
    """The document's `components.schemas`: self-contained JSON Schemas (a contract's, with its
    `$defs`) added under a name, their definitions shared where equal and renamed where not."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def add(self, name: str, schema: dict[str, Any]) -> dict[str, str]:
        schema = copy.deepcopy(schema)
        definitions = schema.pop("$defs", {})
        names = {d: self._free_name(d, definitions[d], name) for d in definitions}
        for definition, component in names.items():
            self.components[component] = _refs_renamed(definitions[definition], names)
        self.components[name] = _refs_renamed(schema, names)
        return {"$ref": f"#/components/schemas/{name}"}

    def described(self) -> dict[str, Any]:
        """The components, sorted, with the glossary's words added."""
        return {name: _described(self.components[name], name) for name in sorted(self.components)}

    def _free_name(self, definition: str, schema: dict[str, Any], owner: str) -> str:
        """A definition's component name: its own when free or holding the same schema."""
        taken = self.components.get(definition)
        if taken is None or json.dumps(taken, sort_keys=True) == json.dumps(schema, sort_keys=True):
            return definition
        return f"{owner}.{definition}"


# --- the CloudEvents envelope, as Kafka headers --------------------------------------------------

_UUID = {"type": "string", "format": "uuid"}


def envelope_headers() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": (
            "CloudEvents 1.0 属性，Kafka 二进制模式（每个属性一个 ce_* 头，值为 UTF-8 文本）。"
            " CloudEvents 1.0 attributes in Kafka binary mode: one `ce_*` header each, UTF-8 text."
        ),
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_time",
            "ce_eventversion",
            "ce_correlationid",
        ],
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
            "ce_id": {
                **_UUID,
                "description": "事件编号，去重依据 The event's id: deduplicate on it",
            },
            "ce_source": {
                **text,
                "description": "发布服务 The publishing service, /jiesu/<service>",
            },
            "ce_type": {**text, "description": "事件类型 The contract's wire type"},
            "ce_time": {
                **text,
                "format": "date-time",
                "description": "记录时间 When it was recorded",
            },
            "ce_eventversion": {
                **text,
                "pattern": "^[1-9][0-9]*$",
                "description": "契约版本 The contract's version (see the compatibility policy)",
            },
            "ce_subject": {**_UUID, "description": "所涉诉求 The complaint it is about, if any"},
            "ce_correlationid": {
                **_UUID,
                "description": "同一办理过程 The conversation it belongs to",
            },
            "ce_causationid": {**_UUID, "description": "起因事件 The event that caused it"},
            "ce_streamposition": {
                **text,
                "pattern": "^[0-9]+$",
                "description": "在其流中的序号 Its position within its stream (one complaint's history)",
            },
            "content-type": {"type": "string", "const": CONTENT_TYPE},
            TRACEPARENT: {**text, "description": "W3C Trace Context, when traced"},
        },
    }


def dead_letter_headers() -> dict[str, Any]:
    described = {
        "dlq_original_topic": "原主题 The topic the record was read from",
        "dlq_original_partition": "原分区 Its partition",
        "dlq_original_offset": "原偏移 Its offset",
        "dlq_error": "失败原因 Why it could not be handled (at most 2,000 characters)",
        "dlq_attempts": "尝试次数 How many times it was tried",
        "dlq_consumer": "消费组 The consumer group that gave up on it",
        "dlq_failed_at": "失败时间 When (ISO 8601)",
    }
    assert set(described) == set(DLQ_HEADERS)
    return {
        "type": "object",
        "description": (
            "原记录的头（如有）加上死信头。 The original record's headers, where it had any, "
            "and these."
        ),
        "required": list(DLQ_HEADERS),
        "properties": {name: {"type": "string", "description": d} for name, d in described.items()},
    }
