"""The subscriber: reads the topics as its own consumer group, checks each record against the
contract the AsyncAPI document gives for its (`ce_type`, `ce_eventversion`), handles it once
(deduplicated by `ce_id`), and commits the partition's offset after what it read was handled.

A record it cannot use (not a CloudEvent, a type or version the document does not describe,
or one that breaks its contract) is reported and passed over: one bad record never stops a
partition. A newer version means this subscriber's document is behind: fetch it again."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError

from .contracts import Contracts
from .inbox import Inbox

log = logging.getLogger("kafka_subscriber")


@dataclass(frozen=True)
class Outcome:
    """What became of one record: one line of output."""

    outcome: str  # handled | duplicate | skipped | invalid
    topic: str
    partition: int
    offset: int
    key: str | None = None  # the partition key: the complaint id, or a stream's name
    ce_id: str | None = None
    type: str | None = None
    version: str | None = None
    subject: str | None = None
    position: int | None = None  # ce_streamposition
    schema: str | None = None  # the document's message it was validated against
    case_number: str | None = None
    area_code: str | None = None
    status: str | None = None
    reason: str | None = None

    def as_text(self) -> str:
        where = f"{self.topic}/{self.partition}@{self.offset}"
        what = f"{self.type or '?'} v{self.version or '?'}"
        if self.outcome == "handled":
            details = [
                self.case_number or self.subject or f"key={self.key}",
                f"area={self.area_code}" if self.area_code else "",
                f"status={self.status}" if self.status else "",
            ]
        elif self.outcome == "duplicate":
            details = [f"ce_id={self.ce_id} handled before: not handled again"]
        else:
            details = [self.reason or ""]
        return " ".join(part for part in (f"{self.outcome:<9}", where, what, *details) if part)

    def as_json(self) -> str:
        fields = {name: value for name, value in asdict(self).items() if value is not None}
        return json.dumps(fields, ensure_ascii=False)


def handle_record(record: ConsumerRecord[Any, Any], contracts: Contracts, inbox: Inbox) -> Outcome:
    """Check one record against its contract and handle it unless it was handled before."""
    headers = {
        name: value.decode(errors="replace") for name, value in record.headers if value is not None
    }
    event_type, ce_id = headers.get("ce_type"), headers.get("ce_id")
    # `ce_eventversion` absent reads as 1 (the platform's rule for records before it existed).
    version = headers.get("ce_eventversion", "1")
    position = headers.get("ce_streamposition")
    seen = Outcome(
        "skipped",
        record.topic,
        record.partition,
        record.offset,
        key=record.key.decode(errors="replace") if record.key is not None else None,
        ce_id=ce_id,
        type=event_type,
        version=version,
        subject=headers.get("ce_subject"),
        position=int(position) if position and position.isdigit() else None,
    )
    if event_type is None or ce_id is None:
        return replace(seen, reason="not a CloudEvent (no ce_type or ce_id header)")
    contract = contracts.find(event_type, version)
    if contract is None:
        return replace(seen, reason=_not_described(contracts, event_type, version))
    seen = replace(seen, schema=contract.message)
    try:
        payload = json.loads(record.value)
    except (TypeError, ValueError) as error:
        return replace(seen, outcome="invalid", reason=f"payload is not JSON: {error}")
    problems = contract.problems(headers, payload)
    if record.topic not in contract.channels:
        problems.append(f"{contract.message} does not travel on {record.topic}")
    if problems:
        return replace(seen, outcome="invalid", reason="; ".join(problems))
    case = inbox.handle(
        ce_id=ce_id,
        ce_type=event_type,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        complaint_id=seen.subject or payload.get("complaint_id"),
        position=seen.position,
        payload=payload,
    )
    if case is None:
        return replace(seen, outcome="duplicate")
    return replace(
        seen,
        outcome="handled",
        case_number=case.case_number,
        area_code=payload.get("area_code") or case.area_code,
        status=payload.get("status") or case.status,
    )


def _not_described(contracts: Contracts, event_type: str, version: str) -> str:
    newest = contracts.newest.get(event_type)
    if newest is None:
        return "unknown type: the document does not describe it"
    if version.isdigit() and int(version) > newest:
        return f"newer than v{newest}, the newest the document describes: fetch it again"
    return "unknown version of a known type"


async def subscribe(
    *,
    bootstrap_servers: str,
    group: str,
    topics: tuple[str, ...],
    start: str,
    contracts: Contracts,
    inbox: Inbox,
    report: Callable[[Outcome], None],
    stop: asyncio.Event,
) -> None:
    """Consume until `stop` is set. Offsets are committed per partition after its records were
    handled (each recorded in the inbox first): a crash in between redelivers them, and the
    inbox recognises them by `ce_id`. At least once from the broker, once in effect."""
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset=start,  # where a group with no committed offset begins
    )
    await consumer.start()
    log.info("subscribed to %s as group %s (from %s)", ", ".join(topics), group, start)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=1000)
            for partition, records in batches.items():
                for record in records:
                    report(handle_record(record, contracts, inbox))
                await _commit(consumer, partition, records[-1].offset + 1)
    finally:
        await consumer.stop()


async def _commit(consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int) -> None:
    try:
        await consumer.commit({partition: offset})
    except CommitFailedError as error:
        # The group rebalanced meanwhile: the partition's new owner reads these records again,
        # and an owner sharing this inbox passes them over as duplicates.
        log.warning("offset %d of %s not committed: %s", offset, partition, error)
