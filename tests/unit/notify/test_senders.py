"""What feeds a channel's senders: new deliveries handed over while there is room, residents'
contacts asked for together while a request to intake is under way."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from services.notify import domain, store
from services.notify import workers as workers_module
from services.notify.app import Handoff
from services.notify.settings import NotifySettings
from services.notify.workers import GatheredLookups, Recorder, run_channel
from shared.events import Audience


class SlowIntake:
    """Intake's contact lookup, answering when told to; records what each request asked."""

    def __init__(self, fail: bool = False) -> None:
        self.requests: list[set[uuid.UUID]] = []
        self.go = asyncio.Event()
        self.fail = fail

    async def residents(self, complaint_ids: Any) -> dict[uuid.UUID, dict[str, Any] | str]:
        asked = set(complaint_ids)
        self.requests.append(asked)
        await self.go.wait()
        if self.fail:
            raise OSError("intake went away")
        return {cid: {"phone": f"139{cid.int % 10**8:08d}"} for cid in asked}


async def test_lookups_asked_while_one_is_under_way_go_together_in_the_next_request():
    intake = SlowIntake()
    lookups = GatheredLookups(intake)  # type: ignore[arg-type]
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    one = asyncio.create_task(lookups.residents([first]))
    await asyncio.sleep(0.01)  # the first request is under way
    two = asyncio.create_task(lookups.residents([second]))
    three = asyncio.create_task(lookups.residents([third, first]))
    await asyncio.sleep(0.01)
    assert intake.requests == [{first}]  # one request at a time
    intake.go.set()
    async with asyncio.timeout(5):
        answers = await asyncio.gather(one, two, three)
    assert intake.requests == [{first}, {second, third, first}]
    assert [set(answer) for answer in answers] == [{first}, {second}, {third, first}]


async def test_a_failed_lookup_leaves_each_message_to_ask_on_its_own():
    intake = SlowIntake(fail=True)
    intake.go.set()
    lookups = GatheredLookups(intake)  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        assert await lookups.residents([uuid.uuid4()]) == {}
        assert await lookups.residents([uuid.uuid4()]) == {}  # and the next one asks again
    assert len(intake.requests) == 2


def planned(channel: str = "sms", endpoint: str = "") -> store.Planned:
    message = domain.Message(uuid.uuid4(), Audience.RESIDENT, "resident", "received", {})
    return store.Planned(message, channel, endpoint)


@pytest.mark.parametrize("table_has_some", [False, True])
def test_new_deliveries_are_handed_over_while_there_is_room(table_has_some: bool):
    """Also while the table holds due ones: the senders take from both in turns, and what is
    new does not have to join them (one overflow used to keep a channel on claims for good)."""
    handoff = Handoff(room=3, lease_s=60.0)
    handoff.wakes = {"sms": asyncio.Event(), "email": asyncio.Event()}
    if table_has_some:
        handoff.pending.add("sms")
    assert handoff.takes([planned() for _ in range(4)] + [planned("email")]) == [
        True,
        True,
        True,
        False,  # no room left: it waits in the table
        True,
    ]
    assert handoff.takes([planned(endpoint="https://hooks.example.cn/a")]) == [False]
    assert handoff.takes([planned("wechat")]) == [False]  # no senders for it (yet)


class Table:
    """Notify's table as a channel's worker sees it: due deliveries, claimed oldest first."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def claim(self, conn: Any, channel: str, most: int, *_: Any) -> list[dict[str, Any]]:
        taken, self.rows = self.rows[:most], self.rows[most:]
        return taken

    async def next_due(self, conn: Any, channel: str) -> None:
        return None


class Pool:
    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        yield None


class Gateway:
    name = "sms"

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send(self, pool: Any, message: Any) -> None:
        await asyncio.sleep(0.001)
        self.sent.append(message.recipient)


def delivery(recipient: str) -> dict[str, Any]:
    return {
        "notification_id": uuid.uuid4(),
        "event_id": uuid.uuid4(),
        "correlation_id": None,
        "complaint_id": uuid.uuid4(),
        "audience": Audience.RESPONDER.value,
        "recipient": recipient,
        "channel": "sms",
        "endpoint": "",
        "template": "work_order_issued",
        "payload": {},
        "attempts": 1,
    }


async def test_the_table_and_the_hand_over_take_turns_so_neither_waits_for_the_other(
    monkeypatch: pytest.MonkeyPatch,
):
    """An overflow left messages in the table while newer ones were handed over: the senders
    take from both in turns. (With the table always first, under a steady overload the
    handed-over ones waited past half their lease and then for the lease to run out.)"""
    table = Table([delivery(f"table-{i}") for i in range(6)])
    monkeypatch.setattr(store, "claim", table.claim)
    monkeypatch.setattr(store, "next_due", table.next_due)
    monkeypatch.setattr(workers_module, "units_of", lambda conn, rows: _nothing())
    settings = NotifySettings(channel_concurrency=2)
    runtime = SimpleNamespace(settings=settings, pool=Pool())
    gateway = Gateway()
    handoff = Handoff(room=8, lease_s=60.0)
    wake = asyncio.Event()
    handoff.wakes = {"sms": wake}
    handoff.give([delivery(f"handed-{i}") for i in range(6)], {}, time.monotonic())  # type: ignore[arg-type]
    recorder = Recorder(runtime)  # type: ignore[arg-type]
    worker = asyncio.create_task(
        run_channel(
            runtime,  # type: ignore[arg-type]
            {"sms": gateway},  # type: ignore[dict-item]
            "sms",
            wake,
            recorder,
            GatheredLookups(SlowIntake()),  # type: ignore[arg-type]
            handoff,
        )
    )
    try:
        async with asyncio.timeout(5):
            # Each message sent and its outcome queued for the record: a sender queues it a
            # step after the gateway's answer, so waiting for the twelfth answer alone and
            # counting the queue at once failed when the machine was busy (10 of 12 queued).
            while len(gateway.sent) < 12 or recorder.queue.qsize() < 12:
                await asyncio.sleep(0.005)
    finally:
        worker.cancel()
    assert sorted(gateway.sent) == sorted(
        [f"table-{i}" for i in range(6)] + [f"handed-{i}" for i in range(6)]
    )
    first_half = gateway.sent[:6]
    assert sum(r.startswith("table") for r in first_half) >= 2, gateway.sent
    assert sum(r.startswith("handed") for r in first_half) >= 2, gateway.sent
    assert recorder.queue.qsize() == 12  # each sent once, each outcome on its way to the record


async def _nothing() -> dict[str, Any]:
    return {}
