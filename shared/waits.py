"""Waiting for a wake-up or a deadline, whichever comes first, in loops that run until cancelled.

Not `asyncio.wait_for(event.wait(), timeout)`: before Python 3.12 it returns normally, and the
cancellation is lost, when its task is cancelled once the event has been set but before the
task has run again (CPython gh-86296; 3.12 rebuilt `wait_for` on `asyncio.timeout`). A worker
loop waiting that way and woken in the same moment as its service stops goes round again and
is never stopped, and the service's stop waits for it for ever.
"""

from __future__ import annotations

import asyncio


async def woken(event: asyncio.Event, timeout: float | None) -> bool:
    """Whether `event` was set within `timeout` seconds (None: no deadline); a cancellation of
    the waiting task always propagates."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
