"""Dead-letter queue CLI: list what failed, and send it back to its topic once the cause is fixed.

  python -m shared.dlq list complaint.events
  python -m shared.dlq redrive complaint.events --offset 3     # one record
  python -m shared.dlq redrive complaint.events --all          # every record not redriven yet

Redriving is safe for consumers that did handle a record: their inboxes skip it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from shared.consumer import DLQ_HEADERS
from shared.topics import EVENT_TOPICS, dlq

REDRIVE_GROUP = "jiesu-dlq-redrive"


@dataclass(frozen=True, slots=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def attributes(self) -> dict[str, str]:
        return {name: value.decode(errors="replace") for name, value in self.headers}

    def summary(self) -> dict[str, Any]:
        a = self.attributes
        return {
            "dlq_offset": self.offset,
            "type": a.get("ce_type"),
            "id": a.get("ce_id"),
            "subject": a.get("ce_subject"),
            "from": f"{a.get('dlq_original_topic')}[{a.get('dlq_original_partition')}]@{a.get('dlq_original_offset')}",
            "consumer": a.get("dlq_consumer"),
            "attempts": a.get("dlq_attempts"),
            "failed_at": a.get("dlq_failed_at"),
            "error": a.get("dlq_error"),
        }


async def read_dead_letters(
    bootstrap: str, topic: str, *, from_committed: bool = False
) -> tuple[list[DeadLetter], AIOKafkaConsumer]:
    """Everything in `<topic>.dlq` (or only what the redrive group has not passed yet)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=REDRIVE_GROUP if from_committed else None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    partitions = [
        TopicPartition(dlq(topic), p) for p in consumer.partitions_for_topic(dlq(topic)) or {0}
    ]
    consumer.assign(partitions)
    letters: list[DeadLetter] = []
    for tp in partitions:
        if not from_committed:
            await consumer.seek_to_beginning(tp)
        while True:
            batch = await consumer.getmany(tp, timeout_ms=1000)
            records = batch.get(tp, [])
            letters += [
                DeadLetter(tp.partition, r.offset, r.key, r.value, list(r.headers)) for r in records
            ]
            # Read until a quiet second rather than to the end offset: the embedded broker
            # under-reports end offsets after multi-record batches.
            if not records:
                break
    return letters, consumer


async def redrive(bootstrap: str, letters: list[DeadLetter]) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for letter in letters:
            original = letter.attributes["dlq_original_topic"]
            headers = [(k, v) for k, v in letter.headers if k not in DLQ_HEADERS]
            headers.append(("dlq_redriven_from", f"{dlq(original)}@{letter.offset}".encode()))
            await producer.send_and_wait(original, letter.value, key=letter.key, headers=headers)
    finally:
        await producer.stop()
    return len(letters)


async def main_async(args: argparse.Namespace) -> int:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if args.command == "list":
        letters, consumer = await read_dead_letters(bootstrap, args.topic)
        await consumer.stop()
        for letter in letters:
            print(json.dumps(letter.summary(), ensure_ascii=False))
        print(f"{len(letters)} 条死信 dead letters in {dlq(args.topic)}")
        return 0
    letters, consumer = await read_dead_letters(bootstrap, args.topic, from_committed=args.all)
    try:
        chosen = letters if args.all else [dead for dead in letters if dead.offset == args.offset]
        if not chosen:
            print("没有可重投的死信 Nothing to redrive.")
            return 1 if not args.all else 0
        count = await redrive(bootstrap, chosen)
        if args.all:
            last: dict[int, int] = {}
            for letter in chosen:
                last[letter.partition] = max(last.get(letter.partition, -1), letter.offset)
            await consumer.commit(
                {
                    TopicPartition(dlq(args.topic), p): OffsetAndMetadata(o + 1, "")
                    for p, o in last.items()
                }
            )
        print(f"已重投 {count} 条 Redrove {count} record(s) to {args.topic}")
        return 0
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m shared.dlq",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="list the dead letters of a topic")
    listing.add_argument("topic", choices=EVENT_TOPICS)
    again = commands.add_parser("redrive", help="send dead letters back to their topic")
    again.add_argument("topic", choices=EVENT_TOPICS)
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--offset", type=int, help="the DLQ offset of one record")
    which.add_argument("--all", action="store_true", help="every record not redriven before")
    raise SystemExit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
