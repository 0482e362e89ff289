"""Intake's background loops: the acceptance clock of complaints waiting for a person.

A complaint the classifier was not sure of waits in triage for a person to accept it (受理),
within INTAKE_TRIAGE_ACCEPT_WITHIN_H (2 h by default): it is warned once at
INTAKE_TRIAGE_WARN_AT of that time and breached once at the end, each an event of its stream
(TriageWarned, TriageBreached). The loop sleeps until the next step is due (at most
INTAKE_TRIAGE_POLL_INTERVAL_S, so a new complaint is seen); several intake processes may run
it: each step is decided on the complaint's newest state, so it happens once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from services.intake import app, store
from services.intake.app import IntakeRuntime
from services.intake.domain import decisions
from shared import commands
from shared.http import Problem

log = logging.getLogger(__name__)
BATCH = 100


async def triage_clock_pass(runtime: IntakeRuntime, now: datetime | None = None) -> int:
    """Take every step now due; returns how many complaints moved."""
    settings = runtime.settings
    within = timedelta(hours=settings.triage_accept_within_h)
    warn_at = settings.triage_warn_at
    now = now or commands.now()
    moved = 0
    while True:
        async with runtime.pool.acquire() as conn:
            due = await store.triage_due(conn, now - within * warn_at, now - within, BATCH)
        stepped = 0
        for complaint_id in due:
            async with runtime.pool.acquire() as conn, conn.transaction():
                try:
                    await app.change(
                        conn,
                        runtime.store,
                        complaint_id,
                        lambda state: decisions.triage_clock(state, within, warn_at, now),
                    )
                except Problem:  # accepted, withdrawn or changed meanwhile: nothing due
                    continue
            stepped += 1
        moved += stepped
        if len(due) < BATCH or stepped == 0:
            return moved


async def run_triage_clock(runtime: IntakeRuntime) -> None:
    settings = runtime.settings
    within = timedelta(hours=settings.triage_accept_within_h)
    while True:
        await triage_clock_pass(runtime)
        async with runtime.pool.acquire() as conn:
            due = await store.next_triage_step(conn, within * settings.triage_warn_at, within)
        wait = settings.triage_poll_interval_s
        if due is not None:
            wait = min(wait, max(0.5, (due - commands.now()).total_seconds()))
        await asyncio.sleep(wait)
