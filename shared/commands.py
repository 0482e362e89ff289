"""The write path of every service: load → decide → save, retried when a concurrent writer wins.

A command reads its aggregate's stream, decides on that state and appends with the position it
read at. When another writer appended first the store refuses (`ConcurrencyError`) and the
whole command runs again on the fresh state, a bounded number of times. A refusal of the
command itself (`IllegalTransition`) is final: the state it was decided on is the newest.

No HTTP and no driver here: domain modules import `IllegalTransition` from this module.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast
from uuid import UUID

from shared.envelope import Causation

ATTEMPTS = 5  # decisions of one command, at most, before a conflict is the caller's to retry

Loaded = TypeVar("Loaded")
Decided = TypeVar("Decided")
Result = TypeVar("Result")


class IllegalTransition(Exception):
    """The command does not apply to the aggregate as it stands (HTTP 409). Each service's
    domain raises its own subclass."""


class ConcurrencyError(Exception):
    """The stream moved on since it was read: reload, decide again, append again."""

    def __init__(self, stream: str, expected: int, actual: int | None) -> None:
        at = "has moved on" if actual is None else f"is at position {actual}"
        super().__init__(f"stream {stream!r} {at}, expected {expected}")
        self.stream = stream
        self.expected = expected
        self.actual = actual


def now() -> datetime:
    """The time a decision is made at (aware, UTC)."""
    return datetime.now(UTC)


class Recorded(Protocol):
    """What the causation rule reads of a stored event (shared.eventstore.RecordedEvent)."""

    @property
    def metadata(self) -> Mapping[str, Any]: ...


def causation_of(history: Sequence[Recorded], correlation: UUID | None = None) -> Causation:
    """The cause a person's command records: it joins the conversation of the stream it changes
    (its first event's correlation), so that everything about one complaint stays one
    conversation. Only a command that starts a stream starts a conversation: the one the caller
    names (`correlation`, from X-Correlation-ID), else a new one."""
    if history:
        return Causation(correlation_id=UUID(str(history[0].metadata["correlation_id"])))
    return Causation.start(correlation)


class Transactional(Protocol):
    """A connection that can open a (nested: savepoint) transaction."""

    def transaction(self) -> AbstractAsyncContextManager[Any]: ...


async def change(
    conn: Transactional,
    load: Callable[[], Awaitable[Loaded]],
    decide: Callable[[Loaded], Awaitable[Decided] | Decided],
    save: Callable[[Loaded, Decided], Awaitable[Result]],
    *,
    attempts: int = ATTEMPTS,
) -> Result:
    """Load, decide on what was loaded and save the decision, in one savepoint. A concurrent
    append (`ConcurrencyError`) rolls it back and runs all three again on the fresh state, at
    most `attempts` times; then the conflict is raised. Anything else, `IllegalTransition` first
    of all, is raised at once."""
    for attempt in range(1, attempts + 1):
        try:
            async with conn.transaction():
                loaded = await load()
                decision = decide(loaded)
                decided = await decision if inspect.isawaitable(decision) else decision
                return await save(loaded, cast(Decided, decided))
        except ConcurrencyError:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")
