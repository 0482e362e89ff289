"""AsyncAPI 3.0 documents of what travels between the platform and the systems downstream,
generated from the code: the event contracts (shared/events), the topics (shared/topics.py),
the envelope (shared/envelope.py) and the public webhook bodies (shared/events/public/).

One document per service: the topic it publishes, the topics it consumes (with its consumer
group) and the dead-letter topics its consumers write; and one for the webhooks notify POSTs to
subscribers. `make schemas` writes them to docs/asyncapi/ (JSON and YAML); a test fails when
what is committed differs from what the code generates. Each service serves its own at
`/asyncapi.json`, `/asyncapi.yaml` and, readable, `/asyncapi` (notify the webhooks' too).

    python -m shared.asyncapi --write     # docs/asyncapi/*.json, *.yaml
    python -m shared.asyncapi --check     # exit 1 when docs/asyncapi/ is stale
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from pydantic import BaseModel

from shared.asyncapi_schemas import Schemas, dead_letter_headers, envelope_headers
from shared.envelope import CONTENT_TYPE, SPEC_VERSION
from shared.events import REGISTRY, Event
from shared.events.examples import example_of
from shared.events.public import PUBLIC_PAYLOADS, webhook_body, webhook_body_model
from shared.events.snapshots import SNAPSHOTS
from shared.topics import CONSUMES, EVENT_PARTITIONS, PUBLISHES, consumer_group, dlq, topic_of

# libyaml's emitter where it is built in (ten times faster), the same text either way.
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

ASYNCAPI_VERSION = "3.0.0"
PLATFORM_VERSION = "0.1.0"
KAFKA_BINDING = "0.5.0"
HTTP_BINDING = "0.3.0"
FOLDER = Path(__file__).resolve().parent.parent / "docs" / "asyncapi"
SERVICES = ("intake", "dispatch", "notify", "reporting")
WEBHOOKS = "webhooks"
POLICY = "docs/contracts.md"

_TITLES = {
    "intake": "受理 Intake",
    "dispatch": "派单 Dispatch",
    "notify": "通知 Notify",
    "reporting": "统计 Reporting",
    WEBHOOKS: "订阅推送 Webhooks",
}
_ROLES = {
    "intake": "受理诉求，发布诉求事件。 Takes residents' demands in and publishes complaint events.",
    "dispatch": (
        "派单、签收、办理时限与督办，发布派单事件。 Routes complaints to the units that act, "
        "keeps their time limits and escalations, and publishes dispatch events."
    ),
    "notify": (
        "向居民、承办单位和订阅方推送进展，发布通知结果事件。 Tells residents, units and "
        "subscribers, and publishes what became of each message."
    ),
    "reporting": (
        "从事件流建立读模型（公示、三率、排名）；只消费，不发布。 Builds the read side from "
        "the event stream (board, rates, rankings); it consumes and publishes nothing."
    ),
}


# --- messages ------------------------------------------------------------------------------------


def _summary(model: type[BaseModel]) -> str:
    return (model.__doc__ or model.__name__).strip().split("\n\n")[0].replace("\n", " ")


def _older_snapshots(event_class: type[Event]) -> Iterator[tuple[int, dict[str, Any]]]:
    """The committed schemas of a contract's earlier versions, still readable by upcasting."""
    for version in range(1, event_class.version):
        path = SNAPSHOTS / f"{event_class.event_type}.v{version}.json"
        if path.exists():
            yield version, json.loads(path.read_text())


def message_key(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _event_message(
    event_class: type[Event], version: int, payload: dict[str, str], example: dict[str, Any] | None
) -> dict[str, Any]:
    current = version == event_class.version
    message: dict[str, Any] = {
        "name": event_class.event_type,
        "title": f"{event_class.event_type} v{version}",
        "summary": _summary(event_class),
        "contentType": CONTENT_TYPE,
        "headers": {
            "allOf": [
                {"$ref": "#/components/schemas/CloudEventsHeaders"},
                {
                    "type": "object",
                    "properties": {
                        "ce_type": {"const": event_class.event_type},
                        "ce_eventversion": {"const": str(version)},
                    },
                },
            ]
        },
        "payload": payload,
        "correlationId": {"$ref": "#/components/correlationIds/conversation"},
        "bindings": {"kafka": {"key": {"$ref": "#/components/schemas/PartitionKey"}}},
        "x-event-version": version,
        "x-current": current,
    }
    if not current:
        message["description"] = (
            f"旧版本：读取时经升级转换为 v{event_class.version}。 An earlier version, still read "
            f"(upcast to v{event_class.version}); no longer published."
        )
    if example is not None:
        message["examples"] = [example]
    return message


def _kafka_example(event_class: type[Event]) -> dict[str, Any]:
    data = example_of(event_class)
    subject = data.get("complaint_id")
    headers = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": "0b6a1c1e-4d7e-4f51-9a63-3f0c2a7d5e10",
        "ce_source": f"/jiesu/{_publisher_of(topic_of(event_class))}",
        "ce_type": event_class.event_type,
        "ce_time": "2026-11-24T01:30:00Z",
        "ce_eventversion": str(event_class.version),
        "ce_correlationid": "5d0f7c3a-1f2b-4c8e-8a8d-2b6f1e9c4a77",
        "content-type": CONTENT_TYPE,
    }
    if subject is not None:
        headers["ce_subject"] = subject
    return {"name": "example", "summary": "示例 An example", "headers": headers, "payload": data}


def _publisher_of(topic: str | None) -> str:
    return next(service for service, published in PUBLISHES.items() if published == topic)


def _events_on(topic: str) -> list[type[Event]]:
    return [cls for cls in REGISTRY.values() if topic_of(cls) == topic]


# --- channels and operations ---------------------------------------------------------------------


def channel_id(topic: str) -> str:
    head, *rest = re.split(r"[._-]", topic)
    return head + "".join(part.capitalize() for part in rest)


def _event_channel(topic: str, messages: Iterable[str]) -> dict[str, Any]:
    publisher = _publisher_of(topic)
    return {
        "address": topic,
        "title": topic,
        "description": (
            f"{_TITLES[publisher]} 的事件。按诉求编号分区：同一诉求的事件有序。 The events "
            f"{publisher} publishes, keyed (and so ordered) by complaint: every fact about one "
            "complaint is on one partition, in the order it happened; facts about no one complaint "
            "(the city model, the calendar, the agenda) are keyed by their stream."
        ),
        "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in messages},
        "bindings": {
            "kafka": {
                "topic": topic,
                "partitions": EVENT_PARTITIONS,
                "topicConfiguration": {"cleanup.policy": ["delete"]},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _dead_letter_channel(topic: str) -> dict[str, Any]:
    return {
        "address": dlq(topic),
        "title": dlq(topic),
        "description": (
            f"{topic} 的死信：消费者多次处理失败的记录，原样保存，可重投。 Records of {topic} that a "
            "consumer failed on repeatedly, kept unchanged with why, to be redriven."
        ),
        "messages": {"DeadLetter": {"$ref": "#/components/messages/DeadLetter"}},
        "bindings": {
            "kafka": {"topic": dlq(topic), "partitions": 1, "bindingVersion": KAFKA_BINDING}
        },
    }


def _operation(action: str, topic: str, channel: dict[str, Any], **extra: Any) -> dict[str, Any]:
    name = channel_id(topic)
    return {
        "action": action,
        "channel": {"$ref": f"#/channels/{name}"},
        "messages": [{"$ref": f"#/channels/{name}/messages/{key}"} for key in channel["messages"]],
        **extra,
    }


def _info(heading: str, description: str) -> dict[str, Any]:
    return {
        "title": heading,
        "version": PLATFORM_VERSION,
        "description": description,
        "license": {"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"},
    }


_SERVICE_NOTE = (
    "\n\n每条事件的头是 CloudEvents 属性（ce_*），正文是该类型该版本的 JSON。按 ce_id 去重；"
    "按 ce_type 与 ce_eventversion 选择模式。 Each record's headers are CloudEvents attributes "
    "(`ce_*`), its value the JSON of that type at that version. Deduplicate on `ce_id`; choose "
    "the schema by `ce_type` and `ce_eventversion`; one complaint's events are in order on one "
    "partition (the key), with no order across complaints or topics."
    "\n\n兼容策略 Compatibility policy: an additive change (a new optional property, a "
    "description) keeps the version; anything else (a property removed, retyped or made "
    "required, an enum value added or removed, a type renamed) publishes a new version, and the "
    "platform reads the older ones by upcasting them, so they stay in this document beside the "
    "current one. Ignore properties you do not know; skip (do not fail on) a type or a version "
    f"you do not know. The whole policy: {POLICY}."
)


def service_document(service: str) -> dict[str, Any]:
    """What `service` publishes and consumes on the bus."""
    schemas = Schemas()
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    published = [PUBLISHES[service]] if service in PUBLISHES else []
    consumed = list(CONSUMES.get(service, ()))
    topics = published + consumed
    # the current versions first, so that their definitions keep their own names
    for cls in (cls for topic in topics for cls in _events_on(topic)):
        key = message_key(cls.event_type, cls.version)
        payload = schemas.add(key, cls.model_json_schema(mode="serialization"))
        messages[key] = _event_message(cls, cls.version, payload, _kafka_example(cls))
    for cls in (cls for topic in topics for cls in _events_on(topic)):
        for version, snapshot in _older_snapshots(cls):
            key = message_key(cls.event_type, version)
            messages[key] = _event_message(cls, version, schemas.add(key, snapshot), None)
    for topic in topics:
        keys = [
            message_key(cls.event_type, version)
            for cls in _events_on(topic)
            for version in (*(v for v, _ in _older_snapshots(cls)), cls.version)
        ]
        channels[channel_id(topic)] = _event_channel(topic, keys)
    for topic in published:
        operations[f"publish{channel_id(topic)[0].upper()}{channel_id(topic)[1:]}"] = _operation(
            "send",
            topic,
            channels[channel_id(topic)],
            summary=f"{service} 发布 {topic} Publishes {topic}",
        )
    group = consumer_group(service)
    for topic in consumed:
        name = channel_id(topic)
        operations[f"consume{name[0].upper()}{name[1:]}"] = _operation(
            "receive",
            topic,
            channels[name],
            summary=f"{service} 消费 {topic}（消费组 {group}） Consumes {topic} as group {group}",
            bindings={
                "kafka": {
                    "groupId": {"type": "string", "enum": [group]},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        )
        channels[channel_id(dlq(topic))] = _dead_letter_channel(topic)
        operations[f"deadLetter{name[0].upper()}{name[1:]}"] = _operation(
            "send",
            dlq(topic),
            channels[channel_id(dlq(topic))],
            summary=f"{service} 的死信 What {service} could not handle in {topic}",
        )
    if consumed:
        messages["DeadLetter"] = {
            "name": "DeadLetter",
            "title": "死信 Dead letter",
            "summary": "处理失败的原记录 A record its consumer failed on, unchanged",
            "contentType": CONTENT_TYPE,
            "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
            "payload": {"description": "原记录的值，原样 The original record's value, unchanged"},
        }
        schemas.components["DeadLetterHeaders"] = dead_letter_headers()
    schemas.components["CloudEventsHeaders"] = envelope_headers()
    schemas.components["PartitionKey"] = {
        "type": "string",
        "description": (
            "分区键：诉求编号（无关单一诉求的事实用其流名）。 The complaint id (a fact about no "
            "one complaint: its stream's name); one complaint's events share a partition."
        ),
    }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": f"urn:jiesu:{service}",
        "info": _info(title(service), _ROLES[service] + _SERVICE_NOTE),
        "defaultContentType": CONTENT_TYPE,
        "servers": {
            "local": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": (
                    "本机内嵌代理（make up）；生产环境见 KAFKA_BOOTSTRAP_SERVERS。 The embedded "
                    "broker of `make up`; elsewhere, what KAFKA_BOOTSTRAP_SERVERS names."
                ),
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas.described(),
            "messages": dict(sorted(messages.items())),
            "correlationIds": {
                "conversation": {
                    "description": "同一办理过程的事件共享 The events of one conversation share it",
                    "location": "$message.header#/ce_correlationid",
                }
            },
        },
    }


def _webhook_example(event_type: str) -> dict[str, Any]:
    """What a subscriber receives for the example of `event_type`."""
    event = REGISTRY[event_type].model_validate(example_of(REGISTRY[event_type]))
    body = webhook_body(
        event,
        UUID("0b6a1c1e-4d7e-4f51-9a63-3f0c2a7d5e10"),
        f"/jiesu/{_publisher_of(topic_of(type(event)))}",
        datetime(2026, 11, 24, 1, 30, tzinfo=UTC),
    )
    return body.model_dump(mode="json")


def webhooks_document() -> dict[str, Any]:
    """What notify POSTs to a subscription's URL: Standard Webhooks, one public body per type."""
    schemas = Schemas()
    messages: dict[str, Any] = {}
    for event_type, model in PUBLIC_PAYLOADS.items():
        key = message_key(event_type, model.version)
        body = webhook_body_model(event_type)
        messages[key] = {
            "name": event_type,
            "title": f"{event_type} v{model.version}",
            "summary": _summary(model),
            "contentType": CONTENT_TYPE,
            "headers": {"$ref": "#/components/schemas/StandardWebhooksHeaders"},
            "payload": schemas.add(key, body.model_json_schema(mode="serialization")),
            "bindings": {"http": {"bindingVersion": HTTP_BINDING}},
            "examples": [
                {
                    "name": "example",
                    "summary": "示例 An example",
                    "payload": _webhook_example(event_type),
                }
            ],
            "x-event-version": model.version,
        }
    schemas.components["StandardWebhooksHeaders"] = {
        "type": "object",
        "description": (
            "Standard Webhooks 签名头：用订阅的密钥校验 HMAC-SHA256(id.timestamp.body)。 Verify "
            "the signature with the subscription's secret before trusting the body."
        ),
        "required": ["webhook-id", "webhook-timestamp", "webhook-signature"],
        "properties": {
            "webhook-id": {
                "type": "string",
                "description": (
                    "投递编号：同一订阅同一事件，实时与重放相同。 The same for one event to one "
                    "subscription, live or replayed: deduplicate on it (or on the body's id)."
                ),
            },
            "webhook-timestamp": {"type": "string", "pattern": "^[0-9]+$"},
            "webhook-signature": {"type": "string", "pattern": "^v1,"},
        },
    }
    keys = list(messages)
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:jiesu:webhooks",
        "info": _info(
            _TITLES[WEBHOOKS],
            "通知服务向订阅方的地址推送公开形态的事件（不含居民信息与自由文本）。订阅、投递记录与"
            "重放见通知服务的 OpenAPI。 What notify POSTs to each subscription's URL: each event "
            "in its public shape (no resident data, no free text beyond the public board), "
            "signed as Standard Webhooks say. Subscriptions, the delivery log and replay are in "
            "notify's OpenAPI document (/subscriptions).",
        ),
        "defaultContentType": CONTENT_TYPE,
        "channels": {
            "subscriberEndpoint": {
                "address": None,
                "title": "订阅方地址 The subscriber's URL",
                "description": (
                    "订阅时给出的 HTTPS 地址；2xx 表示收到，410 停止订阅，其余按退避重试。 The "
                    "URL given when subscribing. 2xx acknowledges; 410 Gone disables the "
                    "subscription; anything else is retried with back-off, then abandoned."
                ),
                "messages": {key: {"$ref": f"#/components/messages/{key}"} for key in keys},
            }
        },
        "operations": {
            "deliverWebhook": {
                "action": "send",
                "channel": {"$ref": "#/channels/subscriberEndpoint"},
                "summary": "通知服务推送 Notify POSTs one event",
                "bindings": {"http": {"method": "POST", "bindingVersion": HTTP_BINDING}},
                "messages": [
                    {"$ref": f"#/channels/subscriberEndpoint/messages/{key}"} for key in keys
                ],
            }
        },
        "components": {
            "schemas": schemas.described(),
            "messages": dict(sorted(messages.items())),
        },
    }


@cache
def document(name: str) -> dict[str, Any]:
    """A service's document, or the webhooks' (`name` = "webhooks")."""
    return webhooks_document() if name == WEBHOOKS else service_document(name)


def title(name: str) -> str:
    return f"Jiesu 接诉 · {_TITLES[name]}"


def names() -> tuple[str, ...]:
    return (*SERVICES, WEBHOOKS)


def as_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def as_yaml(doc: dict[str, Any]) -> str:
    return yaml.dump(doc, Dumper=_YAML_DUMPER, allow_unicode=True, sort_keys=False, width=100)


def rendered() -> dict[Path, str]:
    """Every file of docs/asyncapi/ as the code makes it."""
    files = {}
    for name in names():
        files[FOLDER / f"{name}.json"] = as_json(document(name))
        files[FOLDER / f"{name}.yaml"] = as_yaml(document(name))
    return files


def stale() -> list[Path]:
    """The committed files that differ from what the code makes (or are missing)."""
    return [
        path
        for path, text in rendered().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write docs/asyncapi/")
    parser.add_argument("--check", action="store_true", help="fail when docs/asyncapi/ is stale")
    args = parser.parse_args()
    if args.write:
        FOLDER.mkdir(parents=True, exist_ok=True)
        for path, text in rendered().items():
            path.write_text(text, encoding="utf-8")
            print(path.relative_to(FOLDER.parent.parent))
    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"{path.relative_to(FOLDER.parent.parent)} is stale: run `make schemas`")
        raise SystemExit(1 if outdated else 0)


if __name__ == "__main__":
    main()
