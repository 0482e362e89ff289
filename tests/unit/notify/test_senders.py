"""What feeds a channel's senders: new deliveries handed over while there is room, residents'
contacts asked for together while a request to intake is under way."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from services.notify import domain, store
from services.notify.delivery import GatheredLookups, Handoff
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
    """Also while the table holds due ones: the senders take those first, and what is new
    does not have to join them (one overflow used to keep a channel on claims for good)."""
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
