"""End to end: the example subscriber (examples/kafka_subscriber), which knows the platform only
through the AsyncAPI document the platform serves, reads a filed complaint's events off the live
topics, each validated against its message, in order per complaint; passes over a redelivered
record as a duplicate; and skips records it cannot use without stopping the partition."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from tests.e2e.conftest import REPO, RunningStack, until
from tests.support import examples

pytestmark = pytest.mark.e2e


class Subscriber:
    """The example running as its own process, with the lines it has printed so far."""

    def __init__(self, process: asyncio.subprocess.Process, errors: Path) -> None:
        self.process = process
        self.errors = errors
        self.lines: list[dict[str, Any]] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def about(self, complaint_id: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line.get("subject") == complaint_id]

    async def wait_for(self, what: str, check: Any, timeout: float = 30) -> Any:
        async def found() -> Any:
            assert self.process.returncode is None, self.errors.read_text()
            return check()

        return await until(found, timeout, what)

    async def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(self.process.wait(), 20)
        await self._reader
        return code


@pytest.fixture(scope="module")
async def subscriber(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Subscriber]:
    folder = tmp_path_factory.mktemp("subscriber")
    errors = folder / "stderr.log"
    with errors.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "examples.kafka_subscriber",
            "--asyncapi",
            stack.url("reporting") + "/asyncapi.json",
            "--bootstrap-servers",
            stack.state()["kafka_bootstrap_servers"],
            "--group",
            f"ext-test-{uuid.uuid4().hex[:8]}",
            "--state",
            str(folder / "inbox.sqlite3"),
            "--json",
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
        )
    running = Subscriber(process, errors)
    try:
        yield running
    finally:
        if process.returncode is None:
            code = await running.stop()
            assert code == 0, errors.read_text()


@pytest.fixture(scope="module")
async def filed(stack: RunningStack, subscriber: Subscriber) -> dict[str, Any]:
    """One complaint filed over HTTP, once the subscriber has seen it filed and dispatched."""
    body = examples.complaint_request(0)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            stack.url("intake") + "/complaints",
            json=body,
            headers={"Idempotency-Key": uuid.uuid4().hex, **examples.STAFF_KEY},
        )
    assert response.status_code == 201, response.text
    complaint_id: str = response.json()["complaint_id"]
    wanted = {"ComplaintFiled", "ComplaintDispatched", "WorkOrderIssued"}
    await subscriber.wait_for(
        f"the subscriber handled {sorted(wanted)} of {complaint_id}",
        lambda: (
            wanted
            <= {
                line["type"]
                for line in subscriber.about(complaint_id)
                if line["outcome"] == "handled"
            }
        ),
    )
    line = next(
        line
        for line in subscriber.about(complaint_id)
        if line["type"] == "ComplaintFiled" and line["outcome"] == "handled"
    )
    record = await record_at(stack.state()["kafka_bootstrap_servers"], line)
    # the subscriber's line of the filing, and the record it is about, as on the topic
    return {**response.json(), "request": body, "line": line, "record": record}


async def record_at(bootstrap: str, line: dict[str, Any]) -> ConsumerRecord[bytes, bytes]:
    """The record a subscriber's line is about, read from its topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(line["topic"], line["partition"])
        consumer.assign([partition])
        consumer.seek(partition, line["offset"])
        record: ConsumerRecord[bytes, bytes] = await asyncio.wait_for(consumer.getone(), 10)
        return record
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def producer(bootstrap: str) -> AsyncIterator[AIOKafkaProducer]:
    client = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await client.start()
    try:
        yield client
    finally:
        await client.stop()


async def test_a_filed_complaint_reaches_the_subscriber_validated_and_in_order_per_topic(
    stack: RunningStack, subscriber: Subscriber, filed: dict[str, Any]
) -> None:
    complaint_id = filed["complaint_id"]

    def handled() -> list[dict[str, Any]]:
        return [line for line in subscriber.about(complaint_id) if line["outcome"] == "handled"]

    # Every work order the platform itself shows for the case reached the subscriber.
    async def orders_seen() -> bool:
        async with httpx.AsyncClient(timeout=10, headers=examples.READER) as client:
            response = await client.get(f"{stack.url('reporting')}/cases/{complaint_id}")
        orders = response.json()["work_orders"] if response.status_code == 200 else []
        issued = [line for line in handled() if line["type"] == "WorkOrderIssued"]
        return bool(orders) and len(issued) == len(orders)

    await until(orders_seen, 30, "the subscriber saw every work order reporting shows")
    lines = handled()
    first = filed["line"]
    assert first["schema"] == "ComplaintFiled.v1"
    assert first["case_number"] == filed["case_number"]
    assert first["area_code"] == filed["request"]["area_code"]
    assert first["status"] == "filed"
    # Every handled line was checked against the document's message for its type and version.
    assert all(line["schema"] == f"{line['type']}.v{line['version']}" for line in lines)
    # A dispatch event carries no case number: the subscriber knows it from the filing once it
    # has read the filing, which can come before or after (topics are not ordered together).
    assert {line["topic"] for line in lines if line["type"] == "WorkOrderIssued"} == {
        "dispatch.events"
    }
    before, after = lines[: lines.index(first)], lines[lines.index(first) + 1 :]
    assert all(line["case_number"] == filed["case_number"] for line in after)
    assert all("case_number" not in line for line in before)
    for topic in {line["topic"] for line in lines}:
        on_topic = [line for line in lines if line["topic"] == topic]
        # One complaint's events on one topic: one partition (the key), read in stream order.
        assert len({line["partition"] for line in on_topic}) == 1, on_topic
        positions = [line["position"] for line in on_topic]
        offsets = [line["offset"] for line in on_topic]
        assert positions == sorted(positions) and len(set(positions)) == len(positions), on_topic
        assert offsets == sorted(offsets), on_topic
    # What a reader of the topic gets of the filing: neither the phone nor the resident's words.
    record = filed["record"]
    assert filed["request"]["contact"]["phone"].encode() not in record.value
    assert filed["request"]["text"].encode() not in record.value
    assert json.loads(record.value)["sealed"] is not None


async def test_a_redelivered_record_is_reported_as_a_duplicate_and_handled_once(
    stack: RunningStack, subscriber: Subscriber, filed: dict[str, Any]
) -> None:
    bootstrap = stack.state()["kafka_bootstrap_servers"]
    first, record = filed["line"], filed["record"]
    async with producer(bootstrap) as client:
        await client.send_and_wait(
            record.topic, record.value, key=record.key, headers=list(record.headers)
        )
    duplicate = await subscriber.wait_for(
        "the redelivery reported",
        lambda: next(
            (
                line
                for line in subscriber.lines
                if line["outcome"] == "duplicate" and line["ce_id"] == first["ce_id"]
            ),
            None,
        ),
    )
    assert duplicate["offset"] > first["offset"]
    assert duplicate["partition"] == first["partition"]  # same key, same partition
    handled = [
        line
        for line in subscriber.lines
        if line["ce_id"] == first["ce_id"] and line["outcome"] == "handled"
    ]
    assert len(handled) == 1


async def test_records_it_cannot_use_are_skipped_and_the_partition_goes_on(
    stack: RunningStack, subscriber: Subscriber, filed: dict[str, Any]
) -> None:
    bootstrap = stack.state()["kafka_bootstrap_servers"]
    record = filed["record"]

    def headers(**changes: str) -> list[tuple[str, bytes]]:
        """The filing's headers with a new `ce_id` and `changes`."""
        fresh = {"ce_id": str(uuid.uuid4()), **changes}
        return [*{**dict(record.headers), **{n: v.encode() for n, v in fresh.items()}}.items()]

    broken = json.loads(record.value)
    del broken["case_number"]
    sent = [
        (headers(ce_type="ComplaintTeleported"), record.value, ("skipped", "unknown type")),
        (headers(ce_eventversion="99"), record.value, ("skipped", "newer than v1")),
        (headers(), json.dumps(broken).encode(), ("invalid", "'case_number' is a required")),
        # and then a redelivery of the filing: the partition went on past them
        (list(record.headers), record.value, ("duplicate", "")),
    ]
    expected: dict[tuple[int, int], tuple[str, str]] = {}
    async with producer(bootstrap) as client:
        for record_headers, value, outcome in sent:
            metadata = await client.send_and_wait(
                record.topic, value, key=record.key, headers=record_headers
            )
            expected[(metadata.partition, metadata.offset)] = outcome

    def reported() -> dict[tuple[int, int], dict[str, Any]]:
        return {
            (line["partition"], line["offset"]): line
            for line in subscriber.lines
            if line["topic"] == record.topic and (line["partition"], line["offset"]) in expected
        }

    await subscriber.wait_for("the four records reported", lambda: len(reported()) == len(expected))
    for place, line in reported().items():
        outcome, reason = expected[place]
        assert line["outcome"] == outcome, line
        assert reason in line.get("reason", ""), line
    assert subscriber.process.returncode is None
