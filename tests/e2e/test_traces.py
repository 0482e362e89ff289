"""End to end: one complaint's hops across the four services are one trace, from intake's HTTP
request to notify's gateway call and reporting's read model, every span linked to its parent."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from deploy.local.runner import SERVICES
from shared.tracefile import read_spans
from tests.e2e.conftest import RunningStack, until
from tests.e2e.test_skeleton_chain import file_complaints, wait_for_cases

pytestmark = pytest.mark.e2e

SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    # Export spans every 0.2 s instead of 5 s, so the files fill while the test waits.
    return {"OTEL_BSP_SCHEDULE_DELAY": "200"}


def _attribute(span: dict[str, Any], key: str) -> Any:
    for attribute in span["attributes"]:
        if attribute["key"] == key:
            return next(iter(attribute["value"].values()))
    return None


def _spans(state_dir: Path) -> list[dict[str, Any]]:
    return [
        span
        for service in SERVICES
        for span in read_spans(state_dir / "traces" / f"{service}.jsonl")
    ]


def _covered(trace: list[dict[str, Any]]) -> set[tuple[str, int]]:
    return {(span["service"], span["kind"]) for span in trace}


WANTED = {
    ("jiesu-intake", SERVER),  # the filing request
    ("jiesu-intake", PRODUCER),  # intake's relay
    ("jiesu-dispatch", CONSUMER),
    ("jiesu-dispatch", PRODUCER),  # dispatch's relay
    ("jiesu-notify", CONSUMER),
    ("jiesu-notify", CLIENT),  # a gateway call
    ("jiesu-reporting", CONSUMER),
}


async def test_one_complaint_is_one_trace_from_the_request_to_the_gateway_and_the_read_model(
    stack: RunningStack,
):
    [filed] = await file_complaints(stack, 1, f"trace-{uuid.uuid4().hex[:6]}")
    complaint_id = filed["complaint_id"]
    await wait_for_cases(stack, [complaint_id], timeout=60)

    async def whole_trace() -> list[dict[str, Any]] | None:
        spans = _spans(stack.state_dir)
        traces = {
            span["traceId"]
            for span in spans
            if span["service"] == "jiesu-dispatch"
            and span["kind"] == CONSUMER
            and _attribute(span, "jiesu.complaint_id") == complaint_id
        }
        for trace_id in traces:
            trace = [span for span in spans if span["traceId"] == trace_id]
            ids = {span["spanId"] for span in trace}
            linked = all(span.get("parentSpanId", "") in ids | {""} for span in trace)
            if _covered(trace) >= WANTED and linked:
                return trace
        return None

    started = time.monotonic()
    trace = await until(whole_trace, 30, "one trace covering every hop, linked")
    assert len({span["traceId"] for span in trace}) == 1
    roots = [span for span in trace if "parentSpanId" not in span]
    assert [(r["service"], r["kind"], r["name"]) for r in roots] == [
        ("jiesu-intake", SERVER, "POST /complaints")
    ]
    gateway_calls = [s for s in trace if s["kind"] == CLIENT]
    assert all(_attribute(s, "jiesu.complaint_id") == complaint_id for s in gateway_calls)
    assert time.monotonic() - started < 30


async def test_every_service_logs_json_lines_naming_itself(stack: RunningStack):
    # Every service logs (INFO) that it started, and what it publishes and consumes.
    [filed] = await file_complaints(stack, 1, f"logs-{uuid.uuid4().hex[:6]}")
    await wait_for_cases(stack, [filed["complaint_id"]], timeout=60)
    lines = {
        service: (stack.state_dir / "logs" / f"{service}.log").read_text().splitlines()
        for service in SERVICES
    }
    assert all(lines.values()), {service: len(written) for service, written in lines.items()}
    for service, written in lines.items():
        for line in written:
            entry = json.loads(line)
            assert entry["service"] == service, line
            assert {"time", "level", "logger", "message"} <= set(entry), line
