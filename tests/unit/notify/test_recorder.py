"""The outcome recorder: what finished meanwhile goes into one transaction; a failed one is
tried again, and a batch that keeps failing is left to its leases, never holding up the next."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from services.notify.app import recorded
from services.notify.workers import RECORD_ATTEMPTS, Outcome, Recorder, proxied
from shared.envelope import Causation
from shared.events import Audience, NotificationOutcome


def sent(
    recipient: str = "property-meicheng", requested_by: uuid.UUID | None = None
) -> NotificationOutcome:
    return NotificationOutcome(
        notification_id=uuid.uuid4(),
        outcome="delivered",
        audience=Audience.RESPONDER,
        recipient=recipient,
        channel="sms",
        template="work_order_issued",
        attempt=1,
        at=datetime.now(UTC),
        requested_by=requested_by or uuid.uuid4(),
    )


def outcome() -> Outcome:
    return Outcome(uuid.uuid4(), uuid.uuid4(), "delivered", None, None, sent())


class FlakyRecorder(Recorder):
    retry_base_s = 0.0

    def __init__(self, failures: int) -> None:
        super().__init__(runtime=None)  # type: ignore[arg-type]
        self.failures = failures
        self.tries: list[int] = []
        self.recorded: list[list[Outcome]] = []

    async def record(self, batch: list[Outcome]) -> None:
        self.tries.append(len(batch))
        if self.failures:
            self.failures -= 1
            raise OSError("the database went away")
        self.recorded.append(batch)


async def run_until(recorder: FlakyRecorder, tries: int, *outcomes: Outcome) -> None:
    """Queue `outcomes` at once, run the recorder until it has made `tries` transactions."""
    for o in outcomes:
        recorder.queue.put_nowait(o)
    task = asyncio.create_task(recorder.run())
    async with asyncio.timeout(5):
        while len(recorder.tries) < tries:
            await asyncio.sleep(0)
    task.cancel()


async def test_what_finished_meanwhile_is_recorded_in_one_transaction():
    recorder = FlakyRecorder(failures=0)
    three = [outcome() for _ in range(3)]
    await run_until(recorder, 1, *three)
    assert recorder.recorded == [three]


async def test_a_failed_transaction_is_tried_again_with_the_same_batch():
    recorder = FlakyRecorder(failures=2)
    two = [outcome(), outcome()]
    await run_until(recorder, 3, *two)
    assert recorder.tries == [2, 2, 2] and recorder.recorded == [two]


async def test_a_batch_that_keeps_failing_is_left_to_its_leases_and_the_next_goes_on():
    recorder = FlakyRecorder(failures=RECORD_ATTEMPTS)
    first = outcome()
    await run_until(recorder, RECORD_ATTEMPTS, first)
    later = outcome()
    await run_until(recorder, RECORD_ATTEMPTS + 1, later)
    assert len(recorder.tries) == RECORD_ATTEMPTS + 1 and recorder.recorded == [[later]]


def test_a_complaints_outcomes_are_one_event_in_its_stream_each_naming_its_cause():
    complaint, other = uuid.uuid4(), uuid.uuid4()
    conversation, elsewhere_conversation = uuid.uuid4(), uuid.uuid4()
    issued, filed, elsewhere_cause = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lead, co = sent(requested_by=issued), sent("committee-huixianshan", requested_by=issued)
    receipt, elsewhere = sent("R-1", requested_by=filed), sent(requested_by=elsewhere_cause)
    appends = recorded(
        [
            (complaint, conversation, lead),
            (other, elsewhere_conversation, elsewhere),
            (complaint, conversation, receipt),
            (complaint, conversation, co),
        ]
    )
    assert [(stream, len(events), cause) for stream, events, cause in appends] == [
        (f"notifications-{complaint}", 1, Causation(conversation, None)),
        (f"notifications-{other}", 1, Causation(elsewhere_conversation, elsewhere_cause)),
    ], "one event per complaint; a cause on the envelope only when all its outcomes share it"
    assert appends[0][1][0].outcomes == [lead, receipt, co], "in the order they finished"
    assert appends[1][1][0].outcomes == [elsewhere]
    # One complaint's outcomes that all answer one event name it on the envelope too.
    [(_, _, cause)] = recorded([(complaint, conversation, lead), (complaint, conversation, co)])
    assert cause == Causation(conversation, issued)


def test_the_http_client_trusts_the_environment_only_when_it_names_a_proxy(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ALL_PROXY", raising=False)
    assert not proxied()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert proxied()
