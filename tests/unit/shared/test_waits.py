"""A loop that waits for a wake-up or its poll stops when cancelled, even when the wake-up
comes in the same moment; and no production module waits with `asyncio.wait_for`, which on
this Python loses such a cancellation (a service's stop then waited for ever)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from shared.waits import woken

REPO = Path(__file__).resolve().parents[3]
Wait = Callable[[asyncio.Event, float], Awaitable[object]]


async def with_wait_for(event: asyncio.Event, timeout: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


async def worker(wait: Wait, wake: asyncio.Event, rounds: list[int]) -> None:
    """A worker loop as the services run them: look, then wait for a wake-up or the poll."""
    while True:
        wake.clear()
        rounds.append(len(rounds))
        await wait(wake, 0.2)


async def stops_when_woken_as_it_is_cancelled(wait: Wait, turns: int) -> bool:
    """Whether the worker stops when woken `turns` turns of the loop before its cancellation
    (a sender finishing, a NOTIFY arriving, as the service stops)."""
    wake, rounds = asyncio.Event(), []
    task = asyncio.create_task(worker(wait, wake, rounds))
    while not rounds:
        await asyncio.sleep(0)  # until it has looked and waits
    wake.set()
    for _ in range(turns):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=1)
    if task.done():
        return task.cancelled()
    task.cancel()  # it went round again and waits once more: this cancel is not lost
    await asyncio.wait({task}, timeout=1)
    return False


@pytest.mark.parametrize("turns", range(4))
async def test_a_worker_woken_as_it_is_cancelled_stops(turns: int) -> None:
    assert await stops_when_woken_as_it_is_cancelled(woken, turns)


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12 rebuilt wait_for on timeouts")
async def test_on_this_python_asyncio_wait_for_loses_that_cancellation() -> None:
    """Why `woken` exists (CPython gh-86296): with `wait_for` the worker goes round again."""
    stopped = [await stops_when_woken_as_it_is_cancelled(with_wait_for, t) for t in range(4)]
    assert not all(stopped), stopped


async def test_woken_says_whether_the_event_came_before_the_deadline() -> None:
    event = asyncio.Event()
    assert await woken(event, 0.01) is False
    asyncio.get_running_loop().call_soon(event.set)
    assert await woken(event, 30) is True
    assert await woken(event, None) is True  # already set: no deadline needed


def test_no_production_module_waits_with_asyncio_wait_for() -> None:
    found = [
        f"{path.relative_to(REPO)}:{n}"
        for root in ("services", "shared", "deploy")
        for path in sorted((REPO / root).glob("**/*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bawait asyncio\.wait_for\(", line)
    ]
    assert not found, "use shared.waits.woken (see its docstring)"
