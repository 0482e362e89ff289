"""Replays: a subscriber's "send me again everything since", driven one message after another.

A replay lives in Postgres (`replays`): whoever drives it holds a lease, renewed with every
message, and records how far it got with each one delivered (fenced on the lease: a driver
whose replay was taken over records nothing more). A process that dies leaves its lease to
run out; one that stops gives its leases up. Then any notify process takes the replay over
from there, sending the message that was in flight again under the same `webhook-id` (the
subscriber deduplicates). A replay cancelled (by its subscriber, or as its subscription is
paused, enabled again or deleted) is stopped at once by whoever drives it: the cancel's
NOTIFY names it; a lost one is noticed at the driver's next look, within its poll interval.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg

from services.notify import domain, store, webhook_log
from services.notify.adapters.channels import (
    Gone,
    Outbound,
    Retry,
    Undeliverable,
    WebhookChannel,
    webhook_targets,
)
from services.notify.app import NotifyRuntime
from services.notify.settings import NotifySettings
from services.notify.workers import next_attempt, webhook_session
from shared.db import connect
from shared.events import Audience
from shared.waits import woken

log = logging.getLogger(__name__)
PAGE = 100  # events read from the log at a time


def webhook_id(subscription_id: str, event_id: UUID) -> UUID:
    """The `webhook-id` of an event sent to a subscription: the live delivery's notification
    id, so that a replayed event carries the same one as when it was first sent."""
    return domain.notification_id(event_id, f"subscription:{subscription_id}", "webhook")


class Replay:
    """One replay driven to its end: its events in log order, each until delivered (retried as
    the schedule says), no faster than the rate cap."""

    def __init__(
        self,
        runtime: NotifyRuntime,
        settings: NotifySettings,
        channel: WebhookChannel,
        row: dict[str, Any],
    ) -> None:
        self.runtime, self.settings, self.channel, self.row = runtime, settings, channel, row
        self.gap_s = 1 / settings.replay_rate_per_s
        self.last_sent = -math.inf

    async def run(self) -> None:
        pool, sid = self.runtime.pool, self.row["subscription_id"]
        while True:
            async with pool.acquire() as conn:
                subscription = await store.subscription(conn, sid)
                events = (
                    await webhook_log.to_send(conn, self.row, subscription, PAGE)
                    if subscription is not None
                    else []
                )
                if subscription is None or not events:
                    gone = (
                        "订阅已删除 The subscription was deleted" if subscription is None else None
                    )
                    await webhook_log.finish_replay(
                        conn, self.row, "failed" if gone else "done", gone
                    )
                    return
            for event in events:
                if not await self.send(event):
                    return
                self.row["sent_position"] = event["position"]

    async def send(self, event: asyncpg.Record) -> bool:
        """Send one event until it is delivered (True), or the replay ends (False)."""
        sid, settings = self.row["subscription_id"], self.settings
        body: dict[str, Any] = event["body"]
        message = Outbound(
            notification_id=webhook_id(sid, event["event_id"]),
            complaint_id=UUID(body["subject"]),
            audience=Audience.SUBSCRIBER,
            recipient=f"subscription:{sid}",
            template="event",
            data=body,
            endpoint=sid,
            attempt=0,
        )
        for attempt in range(1, len(settings.retry_delays_s) + 2):
            # The rate cap: one message per gap, whatever came of the last one.
            await asyncio.sleep(max(0.0, self.last_sent + self.gap_s - time.monotonic()))
            self.last_sent = time.monotonic()
            status, error, retry_at, gone = "delivered", None, None, False
            try:
                await self.channel.send(self.runtime.pool, message)
            except Undeliverable as refusal:
                status, error = "abandoned", str(refusal)[:500]
            except Exception as failure:
                error = (
                    str(failure)
                    if isinstance(failure, Retry | Gone)
                    else f"{type(failure).__name__}: {failure}"
                )[:500]
                gone = isinstance(failure, Gone)
                asked = failure.after_s if isinstance(failure, Retry) else None
                retry_at = None if gone else next_attempt(settings, attempt, asked)
                status = "pending" if retry_at else "abandoned"
            wait_s = (retry_at - datetime.now(UTC)).total_seconds() if retry_at else 0.0
            async with self.runtime.pool.acquire() as conn, conn.transaction():
                now = await webhook_log.record_send(
                    conn,
                    self.row,
                    event,
                    message.notification_id,
                    status,
                    error,
                    settings.delivery_lease_s + max(0.0, wait_s),
                )
                if gone:
                    await store.set_subscription_status(conn, sid, "disabled", error)
                if status == "abandoned":
                    reason = f"{event['event_id']}: {error}"
                    await webhook_log.finish_replay(conn, self.row, "failed", reason)
            if now != "running" or status != "pending":
                return status == "delivered" and now == "running"
            log.warning("replay %s: %s (attempt %d)", self.row["replay_id"], error, attempt)
            await asyncio.sleep(max(0.0, wait_s))
        return False


async def run_replays(runtime: NotifyRuntime, settings: NotifySettings) -> None:
    """Drives the running replays no one holds, each in a task of its own; woken by a new
    replay (NOTIFY), by one ending, and when another process's lease runs out (it may have
    died); a cancelled one's task is cancelled as its NOTIFY arrives. Also forgets what is
    past the retention window, when the oldest of it runs out."""
    listener = await connect(settings.database_url)
    wake = asyncio.Event()
    driving: dict[UUID, asyncio.Task[None]] = {}
    epochs: dict[UUID, int] = {}  # the lease epoch of each replay driven

    def heard(_conn: object, _pid: int, _channel: str, payload: object) -> None:
        for replay_id in webhook_log.cancelled_in(str(payload or "")):
            stop(replay_id)
        wake.set()

    def stop(replay_id: UUID) -> None:
        task = driving.get(replay_id)
        if task is not None:
            log.info("replay %s cancelled", replay_id)
            task.cancel()

    await listener.add_listener(webhook_log.REPLAY_CHANNEL, heard)
    prune_at = -math.inf
    timeout = aiohttp.ClientTimeout(total=settings.gateway_timeout_s)

    def ended(task: asyncio.Task[None]) -> None:
        replay_id = next(r for r, t in driving.items() if t is task)
        driving.pop(replay_id)
        epochs.pop(replay_id, None)
        wake.set()
        if not task.cancelled() and task.exception() is not None:
            # its lease runs out and it is taken over (by this process too) from where it got
            log.error("replay %s stopped: %r", replay_id, task.exception())

    async with webhook_session(settings, timeout) as session:
        channel = WebhookChannel(session, webhook_targets(settings))
        try:
            while True:
                wake.clear()
                async with runtime.pool.acquire() as conn:
                    if time.monotonic() >= prune_at:
                        oldest_ends = await webhook_log.prune(conn, settings.replay_retention_days)
                        ahead = settings.replay_retention_days * 86400
                        if oldest_ends is not None:
                            ahead = (oldest_ends - datetime.now(UTC)).total_seconds()
                        prune_at = time.monotonic() + max(60.0, ahead)  # in batches, not per row
                    for replay_id in await webhook_log.not_running(conn, list(driving)):
                        stop(replay_id)  # its cancel's NOTIFY was lost
                    taken = await webhook_log.take_replays(
                        conn, settings.delivery_lease_s, list(driving)
                    )
                    lease_ends = await webhook_log.next_lease_end(conn, list(driving))
                for row in taken:
                    task = asyncio.create_task(Replay(runtime, settings, channel, row).run())
                    driving[row["replay_id"]] = task
                    epochs[row["replay_id"]] = row["lease_epoch"]
                    task.add_done_callback(ended)
                wait = min(settings.delivery_poll_interval_s, prune_at - time.monotonic())
                if lease_ends is not None:
                    wait = min(wait, (lease_ends - datetime.now(UTC)).total_seconds() + 0.05)
                await woken(wake, max(0.01, wait))
        finally:
            # stopped: the replays' tasks end before the session closes, and their leases are
            # given up, so that whoever runs next takes them over at once
            held = dict(epochs)
            tasks = list(driving.values())
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            try:
                if held:
                    async with asyncio.timeout(5):
                        await webhook_log.release_replays(listener, held)
            except Exception as error:  # their leases run out instead
                log.warning("replays' leases not given up: %r", error)
            finally:
                await listener.close()
