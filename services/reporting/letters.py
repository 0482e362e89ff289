"""Dead letters in one view: the Kafka DLQs (`<topic>.dlq`, read and redriven with shared.dlq)
and notify's abandoned deliveries (through notify's API). An operator redrives or parks them;
each action is a row of dead_letter_actions with who and why, and a letter acted on after it
failed leaves the open list. A redriven letter that fails again comes back as a new letter
(Kafka: a new DLQ record; notify: abandoned again, later than the action)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from services.reporting import operations
from services.reporting.adapters.broker import Broker, dead_letters_of
from services.reporting.adapters.upstream import Upstream, UpstreamError
from shared.db import Connection
from shared.dlq import DeadLetter
from shared.topics import EVENT_TOPICS, dlq

NOTIFY_LIMIT = 500  # abandoned deliveries read per look (notify's page size at most)
ACTIONS = ("redrive", "park")


@dataclass(frozen=True, slots=True)
class Letter:
    id: str  # kafka:<dlq topic>:<partition>:<offset> | notify:<notification id>
    source: str  # kafka | notify
    topic: str  # the original topic, or notify:<channel>
    consumer: str
    event_type: str
    subject: str | None  # the complaint
    error: str
    failed_at: datetime | None
    attempts: str
    payload: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Filter:
    topic: str | None = None
    consumer: str | None = None
    event_type: str | None = None
    error: str | None = None  # a part of the error's text, any case
    since: datetime | None = None
    until: datetime | None = None

    def matches(self, letter: Letter) -> bool:
        return (
            (not self.topic or letter.topic == self.topic)
            and (not self.consumer or letter.consumer == self.consumer)
            and (not self.event_type or letter.event_type == self.event_type)
            and (not self.error or self.error.lower() in letter.error.lower())
            and (
                not self.since or (letter.failed_at is not None and letter.failed_at >= self.since)
            )
            and (
                not self.until or (letter.failed_at is not None and letter.failed_at <= self.until)
            )
        )


def moment(text: str | None, zone: tzinfo = UTC) -> datetime | None:
    """An ISO moment (in `zone` if it names none); None if empty or not a moment."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def _pretty(value: bytes | str) -> str:
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except ValueError:
        return text


def from_kafka(topic: str, dead: DeadLetter) -> Letter:
    a = dead.attributes
    return Letter(
        id=f"kafka:{dlq(topic)}:{dead.partition}:{dead.offset}",
        source="kafka",
        topic=a.get("dlq_original_topic", topic),
        consumer=a.get("dlq_consumer", "?"),
        event_type=a.get("ce_type", "?"),
        subject=a.get("ce_subject"),
        error=a.get("dlq_error", ""),
        failed_at=moment(a.get("dlq_failed_at")),
        attempts=a.get("dlq_attempts", "?"),
        payload=_pretty(dead.value),
        headers=a,
    )


def from_notify(row: dict[str, Any]) -> Letter:
    return Letter(
        id=f"notify:{row['notification_id']}",
        source="notify",
        topic=f"notify:{row['channel']}",
        consumer="notify",
        event_type=row["template"],
        subject=str(row["complaint_id"]),
        error=row.get("last_error") or "",
        failed_at=moment(row.get("updated_at")),
        attempts=str(row.get("attempts", "?")),
        payload=json.dumps(row, ensure_ascii=False, indent=2),
        headers={
            k: str(row[k]) for k in ("audience", "recipient", "channel", "endpoint", "event_id")
        },
    )


@dataclass
class DeadLetterBox:
    """The Kafka DLQs as last read (the sampler rereads one when its end offset moves) and the
    way to notify's; `open` is what no operator has acted on since it failed."""

    broker: Broker
    upstream: Upstream
    topics: tuple[str, ...] = EVENT_TOPICS
    kafka: dict[str, list[DeadLetter]] = field(default_factory=dict)
    read_ends: dict[str, int] = field(default_factory=dict)
    read_at: datetime | None = None

    async def refresh(self, ends: dict[str, int] | None = None) -> None:
        """Reread the DLQs whose end offset (by original topic) is not the one last read; all
        of them when `ends` is None."""
        stale = [t for t in self.topics if ends is None or ends.get(t) != self.read_ends.get(t)]
        if stale:
            self.kafka.update(await dead_letters_of(self.broker, stale))
            for topic in stale:
                self.read_ends[topic] = (ends or {}).get(topic, -1)
        self.read_at = datetime.now(UTC)

    async def notify_letters(self) -> list[Letter]:
        answer = await self.upstream.get("notify", "/dead-letters", limit=NOTIFY_LIMIT)
        return [from_notify(row) for row in answer["dead_letters"]]

    def kafka_letters(self) -> list[Letter]:
        return [from_kafka(t, dead) for t in self.topics for dead in self.kafka.get(t, [])]

    async def open(
        self, conn: Connection, wanted: Filter = Filter(), *, with_notify: bool = True
    ) -> tuple[list[Letter], list[str]]:
        """The open letters that match, newest first, and what could not be read (notify down)."""
        letters = self.kafka_letters()
        problems: list[str] = []
        if with_notify:
            try:
                letters += await self.notify_letters()
            except UpstreamError as error:
                problems.append(f"通知服务 notify: {error.detail}")
        acted = await operations.last_letter_actions(conn, [letter.id for letter in letters])
        still = [
            letter
            for letter in letters
            if wanted.matches(letter)
            and not (
                letter.id in acted
                and (letter.failed_at is None or acted[letter.id] >= letter.failed_at)
            )
        ]
        still.sort(
            key=lambda letter: letter.failed_at or datetime.min.replace(tzinfo=UTC), reverse=True
        )
        return still, problems

    async def depth(self, conn: Connection) -> dict[str, int]:
        """Open letters per Kafka DLQ (by original topic): jiesu_dlq_depth."""
        letters, _ = await self.open(conn, with_notify=False)
        depth = dict.fromkeys(self.topics, 0)
        for letter in letters:
            depth[letter.topic] = depth.get(letter.topic, 0) + 1
        return depth

    async def act(
        self, conn: Connection, letters: Iterable[Letter], action: str, actor: str, reason: str
    ) -> int:
        """Redrive or park `letters`, recording each with `actor` and `reason`. A redrive is
        recorded once sent: one that fails half-way leaves the rest open to try again (the
        consumers' inboxes skip what they already handled)."""
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action}")
        chosen = list(letters)
        if action == "redrive":
            by_id = {
                f"kafka:{dlq(t)}:{dead.partition}:{dead.offset}": dead
                for t in self.topics
                for dead in self.kafka.get(t, [])
            }
            kafka = [by_id[letter.id] for letter in chosen if letter.id in by_id]
            if kafka:
                await self.broker.redrive(kafka)
            notify = [
                letter.id.removeprefix("notify:") for letter in chosen if letter.source == "notify"
            ]
            if notify:
                await self.upstream.post(
                    "notify", "/dead-letters/redrive", {"notification_ids": notify}
                )
        await operations.record_letter_actions(
            conn, action, actor, reason, [(one.id, one.topic, one.event_type) for one in chosen]
        )
        return len(chosen)
