"""CloudEvents 1.0 envelope in Kafka binary mode: attributes in `ce_*` headers, JSON payload."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

from shared.events import Event, UndecodableEvent, parse_event_json

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
# W3C Trace Context's own header name, as OpenTelemetry's Kafka instrumentations use it (not
# CloudEvents' `ce_traceparent`: that extension names where an event was made, and readers of
# the bus's tracing look for this one).
TRACEPARENT = "traceparent"

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class Causation:
    """Which conversation a new event belongs to (correlation) and what directly caused it."""

    correlation_id: UUID
    causation_id: UUID | None = None
    # The W3C trace context the new events continue (a consumer span's, say); None: the
    # context current where they are appended.
    traceparent: str | None = None

    @classmethod
    def start(cls, correlation_id: UUID | None = None) -> Causation:
        """A new conversation, e.g. an HTTP request with no cause on the bus."""
        return cls(correlation_id=correlation_id or uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Envelope:
    event: Event
    id: UUID
    source: str
    time: datetime
    correlation_id: UUID
    causation_id: UUID | None = None
    # The event's position in its own stream (CloudEvents extension `streamposition`): a
    # consumer that keeps "the latest" of something compares these, never arrival order.
    sequence: int | None = None
    # The W3C trace context it travels with (Kafka header `traceparent`): on the bus, the
    # publishing relay's span; in a handler's hands, the consumer's span.
    traceparent: str | None = None

    @property
    def type(self) -> str:
        return self.event.event_type

    @property
    def version(self) -> int:
        return self.event.version

    @property
    def subject(self) -> str | None:
        return self.event.subject

    def follow(self) -> Causation:
        """Causation for events this one causes: same correlation, caused by this event, in
        the trace it travels in."""
        return Causation(self.correlation_id, self.id, self.traceparent)


@dataclass(frozen=True, slots=True)
class KafkaMessage:
    key: bytes | None
    value: bytes
    headers: Headers

    @property
    def traceparent(self) -> str | None:
        """The W3C trace context it carries (kafka_message puts it last)."""
        if not self.headers or self.headers[-1][0] != TRACEPARENT:
            return None
        return self.headers[-1][1].decode()


def encode_data(event: Event) -> bytes:
    """An event's JSON payload, as it is stored and as it travels."""
    return event.model_dump_json().encode()


def kafka_message(
    *,
    event_id: UUID,
    source: str,
    event_type: str,
    version: int,
    time: datetime,
    subject: str | None,
    correlation_id: UUID | str,
    causation_id: UUID | str | None,
    data: bytes,
    key: str | None = None,
    sequence: int | None = None,
    traceparent: str | None = None,
) -> KafkaMessage:
    """The binary-mode record; the key defaults to the subject so one complaint stays in order."""
    attributes = {
        "ce_specversion": SPEC_VERSION,
        "ce_id": str(event_id),
        "ce_source": source,
        "ce_type": event_type,
        "ce_time": time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "ce_eventversion": str(version),
        "ce_correlationid": str(correlation_id),
        "content-type": CONTENT_TYPE,
    }
    if subject is not None:
        attributes["ce_subject"] = subject
    if causation_id is not None:
        attributes["ce_causationid"] = str(causation_id)
    if sequence is not None:
        attributes["ce_streamposition"] = str(sequence)
    if traceparent:
        attributes[TRACEPARENT] = traceparent  # last (KafkaMessage.traceparent looks there)
    key = key if key is not None else subject
    return KafkaMessage(
        key=key.encode() if key is not None else None,
        value=data,
        headers=[(name, value.encode()) for name, value in attributes.items()],
    )


def to_kafka(envelope: Envelope, key: str | None = None) -> KafkaMessage:
    return kafka_message(
        event_id=envelope.id,
        source=envelope.source,
        event_type=envelope.type,
        version=envelope.version,
        time=envelope.time,
        subject=envelope.subject,
        correlation_id=envelope.correlation_id,
        causation_id=envelope.causation_id,
        data=encode_data(envelope.event),
        key=key,
        sequence=envelope.sequence,
        traceparent=envelope.traceparent,
    )


def read_attributes(headers: Headers | dict[str, bytes]) -> dict[str, str]:
    """Header bytes to strings; tolerant so that a broken record can still be described in the DLQ."""
    items = headers.items() if isinstance(headers, dict) else headers
    return {name: value.decode(errors="replace") for name, value in items if value is not None}


def from_kafka(headers: Headers | dict[str, bytes], value: bytes) -> Envelope:
    """Parse a binary-mode record. Raises UnknownEventType or UndecodableEvent."""
    attributes = read_attributes(headers)
    missing = [
        name for name in ("ce_id", "ce_type", "ce_source", "ce_time") if name not in attributes
    ]
    if missing:
        raise UndecodableEvent(f"not a CloudEvent: missing {', '.join(missing)}")
    if attributes.get("ce_specversion") != SPEC_VERSION:
        raise UndecodableEvent(f"unsupported specversion {attributes.get('ce_specversion')!r}")
    try:
        version = int(attributes.get("ce_eventversion", "1"))
        event_id = UUID(attributes["ce_id"])
        correlation_id = UUID(attributes.get("ce_correlationid") or attributes["ce_id"])
        causation = attributes.get("ce_causationid")
        time = datetime.fromisoformat(attributes["ce_time"].replace("Z", "+00:00"))
        position = attributes.get("ce_streamposition")
        sequence = int(position) if position else None
    except ValueError as error:
        raise UndecodableEvent(str(error)) from error
    return Envelope(
        event=parse_event_json(attributes["ce_type"], version, value),
        id=event_id,
        source=attributes["ce_source"],
        time=time,
        correlation_id=correlation_id,
        causation_id=UUID(causation) if causation else None,
        sequence=sequence,
        traceparent=attributes.get(TRACEPARENT),
    )
