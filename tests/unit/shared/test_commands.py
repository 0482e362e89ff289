"""The command loop: load → decide → save, retried on a concurrent append up to its bound; the
causation rule; every service's refusals are the shared IllegalTransition."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.dispatch.domain import rules as dispatch_rules
from services.intake.domain import decisions as intake_domain
from shared.commands import (
    ATTEMPTS,
    ConcurrencyError,
    IllegalTransition,
    causation_of,
    change,
    now,
)
from shared.envelope import Causation
from shared.eventstore import ConcurrencyError as StoreConcurrencyError


@dataclass
class FakeConnection:
    """Counts savepoints and how each ended (an exception leaving it rolls it back)."""

    committed: int = 0
    rolled_back: list[type[BaseException]] = field(default_factory=list)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        try:
            yield
        except BaseException as error:
            self.rolled_back.append(type(error))
            raise
        self.committed += 1


@dataclass
class Stream:
    """A stream another writer appends to `conflicts` times before this command's append."""

    conflicts: int
    version: int = 0
    decided_on: list[int] = field(default_factory=list)

    async def load(self) -> int:
        return self.version

    def decide(self, version: int) -> list[str]:
        self.decided_on.append(version)
        return [f"after {version}"]

    async def save(self, version: int, events: list[str]) -> str:
        if self.conflicts:
            self.conflicts -= 1
            self.version += 1  # the other writer's event
            raise ConcurrencyError("complaint-1", version, self.version)
        self.version += len(events)
        return events[0]


async def test_a_conflict_decides_again_on_the_fresh_state_in_a_new_savepoint():
    conn, stream = FakeConnection(), Stream(conflicts=2)

    saved = await change(conn, stream.load, stream.decide, stream.save)

    assert saved == "after 2"
    assert stream.decided_on == [0, 1, 2], "each attempt decides on what it loaded"
    assert conn.rolled_back == [ConcurrencyError, ConcurrencyError] and conn.committed == 1


async def test_conflicts_up_to_the_bound_are_retried_then_the_conflict_is_raised():
    conn, stream = FakeConnection(), Stream(conflicts=ATTEMPTS)

    with pytest.raises(ConcurrencyError):
        await change(conn, stream.load, stream.decide, stream.save)

    assert len(stream.decided_on) == ATTEMPTS
    assert conn.committed == 0

    last_chance = Stream(conflicts=ATTEMPTS - 1)
    assert await change(FakeConnection(), last_chance.load, last_chance.decide, last_chance.save)


async def test_the_bound_can_be_set_per_command():
    stream = Stream(conflicts=2)
    with pytest.raises(ConcurrencyError):
        await change(FakeConnection(), stream.load, stream.decide, stream.save, attempts=2)
    assert stream.decided_on == [0, 1]


async def test_a_refusal_passes_through_at_once_and_saves_nothing():
    conn, saves = FakeConnection(), []

    async def load() -> str:
        return "closed"

    def decide(status: str) -> list[str]:
        raise intake_domain.IllegalTransition(f"诉求已{status} Already {status}")

    async def save(status: str, events: list[str]) -> None:
        saves.append(events)

    with pytest.raises(IllegalTransition, match="Already closed"):
        await change(conn, load, decide, save)
    assert saves == [] and conn.rolled_back == [intake_domain.IllegalTransition]


async def test_an_asynchronous_decision_is_awaited():
    async def load() -> int:
        return 41

    async def decide(answer: int) -> int:
        return answer + 1

    async def save(answer: int, decided: int) -> tuple[int, int]:
        return answer, decided

    assert await change(FakeConnection(), load, decide, save) == (41, 42)


@dataclass(frozen=True)
class Recorded:
    metadata: dict[str, Any]


def test_a_command_on_a_stream_joins_the_conversation_of_its_first_event():
    filing, later = uuid.uuid4(), uuid.uuid4()
    history = [Recorded({"correlation_id": str(filing)}), Recorded({"correlation_id": str(later)})]

    assert causation_of(history) == Causation(correlation_id=filing)
    named = uuid.uuid4()
    assert causation_of(history, named) == Causation(correlation_id=filing), (
        "a conversation the caller names does not split the complaint's"
    )


def test_a_command_that_starts_a_stream_starts_the_conversation_the_caller_names_or_a_new_one():
    named = uuid.uuid4()
    assert causation_of([], named) == Causation(correlation_id=named)
    first, second = causation_of([]), causation_of([])
    assert first.causation_id is None and first.correlation_id != second.correlation_id


def test_every_service_refuses_with_the_shared_illegal_transition():
    assert issubclass(intake_domain.IllegalTransition, IllegalTransition)
    assert issubclass(dispatch_rules.IllegalTransition, IllegalTransition)
    assert StoreConcurrencyError is ConcurrencyError, "the store raises what the loop retries"


def test_the_clock_is_aware_and_in_utc():
    assert now().utcoffset() is not None and now().utcoffset().total_seconds() == 0
