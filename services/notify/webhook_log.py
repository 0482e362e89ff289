"""Notify's SQL for what subscribers can ask of their webhooks afterwards: the log of
subscribable events' public bodies, the replays that send them again, and a subscription's
delivery log (live deliveries and replayed ones together)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from shared.db import Connection, columns
from shared.events.area import like_patterns

REPLAY_CHANNEL = "jiesu_replays"
# Positions are drawn from a sequence and visible at commit: a replay's end is read up to a
# Horizon over this table (shared/eventstore.py), and each insert has its transaction's id first.
HORIZON = ("webhook_events", "position")


@dataclass(frozen=True, slots=True)
class Logged:
    """One subscribable event as a webhook carries it."""

    event_id: UUID
    event_type: str
    complaint_id: UUID
    area_code: str | None
    at: datetime
    body: str  # JSON (made once, by the Rust serialiser: see webhook_body_json)


async def append(conn: Connection, logged: list[Logged]) -> None:
    """A batch's events in the given order, in one statement (a redelivered one is skipped)."""
    if not logged:
        return
    await conn.execute(
        """
        WITH t AS (SELECT pg_current_xact_id() AS xid)
        INSERT INTO webhook_events (event_id, event_type, complaint_id, area_code, at, body)
        SELECT e, ty, c, a, at, b::jsonb
        FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::timestamptz[],
                    $6::text[]) WITH ORDINALITY AS u(e, ty, c, a, at, b, n), t
        WHERE t.xid IS NOT NULL
        ORDER BY n
        ON CONFLICT (event_id) DO NOTHING
        """,
        *columns(
            [(x.event_id, x.event_type, x.complaint_id, x.area_code, x.at, x.body) for x in logged]
        ),
    )


async def prune(conn: Connection, retention_days: float) -> datetime | None:
    """Forget what is older than the retention window: logged events, finished replays and
    what they sent, and the finished webhook deliveries of deleted subscriptions (a finished
    replay of a deleted one at once: no one can read it). When the oldest left runs out."""
    window = retention_days * 86400
    await conn.execute(
        "DELETE FROM webhook_events WHERE logged_at < now() - make_interval(secs => $1)", window
    )
    await conn.execute(
        """
        WITH gone AS (
            DELETE FROM replays r WHERE status <> 'running'
              AND (finished_at < now() - make_interval(secs => $1)
                   OR NOT EXISTS (SELECT 1 FROM subscriptions s
                                  WHERE s.subscription_id = r.subscription_id))
            RETURNING replay_id
        )
        DELETE FROM replay_sends WHERE replay_id IN (SELECT replay_id FROM gone)
        """,
        window,
    )
    await conn.execute(
        """
        DELETE FROM deliveries d
        WHERE channel = 'webhook' AND status NOT IN ('pending', 'sending')
          AND updated_at < now() - make_interval(secs => $1)
          AND NOT EXISTS (SELECT 1 FROM subscriptions s WHERE s.subscription_id = d.endpoint)
        """,
        window,
    )
    oldest: datetime | None = await conn.fetchval(
        """
        SELECT least((SELECT min(logged_at) FROM webhook_events),
                     (SELECT min(finished_at) FROM replays WHERE status <> 'running'))
               + make_interval(secs => $1)
        """,
        window,
    )
    return oldest


def _matches(n: int) -> str:
    """A subscription's filters as SQL over webhook_events, its types (none: all) as
    parameter $n and its area's LIKE patterns as $n+1 (both from `_filters`)."""
    return (
        f"(cardinality(${n}::text[]) = 0 OR event_type = ANY(${n}::text[])) "
        f"AND (${n + 1}::text[] IS NULL OR area_code LIKE ANY(${n + 1}::text[]))"
    )


def _filters(subscription: dict[str, Any]) -> tuple[list[str], list[str] | None]:
    area = subscription["area_code"]
    return list(subscription["event_types"]), like_patterns(area) if area else None


async def position_of(conn: Connection, event_id: UUID, subscription: dict[str, Any]) -> int | None:
    """Where an event the subscription would have received stands in the log (None: it is
    not there, or not one of the subscription's)."""
    position: int | None = await conn.fetchval(
        f"SELECT position FROM webhook_events WHERE event_id = $1 AND {_matches(2)}",
        event_id,
        *_filters(subscription),
    )
    return position


async def start_replay(
    conn: Connection,
    replay_id: UUID,
    subscription: dict[str, Any],
    since: datetime | None,
    after_event_id: UUID | None,
    after_position: int,
    upto_position: int,
) -> dict[str, Any] | None:
    """A replay of what matches the subscription in (after_position, upto_position], events
    at or after `since`; None if one is already running for the subscription (the caller
    looks first, under `lock_replays`: this only guards a replay started without it)."""
    total = await conn.fetchval(
        f"SELECT count(*) FROM webhook_events WHERE position > $3 AND position <= $4 "
        f"AND ($5::timestamptz IS NULL OR at >= $5) AND {_matches(1)}",
        *_filters(subscription),
        after_position,
        upto_position,
        since,
    )
    row = await conn.fetchrow(
        """
        INSERT INTO replays (replay_id, subscription_id, since, after_event_id, after_position,
                             upto_position, sent_position, total)
        VALUES ($1, $2, $3, $4, $5, $6, $5, $7)
        ON CONFLICT (subscription_id) WHERE status = 'running' DO NOTHING
        RETURNING *
        """,
        replay_id,
        subscription["subscription_id"],
        since,
        after_event_id,
        after_position,
        upto_position,
        total,
    )
    if row is not None:
        await conn.execute("SELECT pg_notify($1, '')", REPLAY_CHANNEL)
    return dict(row) if row else None


async def lock_replays(conn: Connection, owner: str) -> None:
    """Serialise, until the transaction ends, the replays started for one owner key (or for
    one subscription of an admin's), so that two requests cannot both pass the cap."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"replays:{owner}")


async def running_replays(
    conn: Connection, subscription_id: str, owner: str | None
) -> list[dict[str, Any]]:
    """The running replays of a subscription, or of any subscription of `owner` (a subscriber
    key's id), oldest first."""
    rows = await conn.fetch(
        """
        SELECT r.replay_id, r.subscription_id FROM replays r
        JOIN subscriptions s USING (subscription_id)
        WHERE r.status = 'running'
          AND (r.subscription_id = $1 OR ($2::text IS NOT NULL AND s.owner_key_id = $2))
        ORDER BY r.created_at
        """,
        subscription_id,
        owner,
    )
    return [dict(row) for row in rows]


CANCELLED = "cancelled:"  # a notification's payload naming replays that end (comma-separated)


async def cancel_replays(
    conn: Connection, subscription_id: str, reason: str, replay_id: UUID | None = None
) -> list[dict[str, Any]]:
    """End a subscription's running replay (the one named, or any) as `cancelled`; whoever
    drives it is told through REPLAY_CHANNEL (at commit) and stops at once."""
    rows = await conn.fetch(
        """
        UPDATE replays SET status = 'cancelled', last_error = $3, lease_until = NULL,
                           finished_at = now(), updated_at = now()
        WHERE subscription_id = $1 AND status = 'running' AND ($2::uuid IS NULL OR replay_id = $2)
        RETURNING *
        """,
        subscription_id,
        replay_id,
        reason,
    )
    if rows:
        ended = ",".join(str(row["replay_id"]) for row in rows)
        await conn.execute("SELECT pg_notify($1, $2)", REPLAY_CHANNEL, CANCELLED + ended)
    return [dict(row) for row in rows]


def cancelled_in(payload: str) -> list[UUID]:
    """The replays a REPLAY_CHANNEL notification says were cancelled."""
    if not payload.startswith(CANCELLED):
        return []
    return [UUID(part) for part in payload.removeprefix(CANCELLED).split(",") if part]


async def not_running(conn: Connection, replay_ids: list[UUID]) -> list[UUID]:
    """Those of these replays that ended meanwhile (a notification of it may have been lost)."""
    rows = await conn.fetch(
        "SELECT replay_id FROM replays WHERE replay_id = ANY($1::uuid[]) AND status <> 'running'",
        replay_ids,
    )
    return [row["replay_id"] for row in rows]


async def release_replays(conn: Connection, held: dict[UUID, int]) -> None:
    """Give up the leases of the replays this process drives (replay id: lease epoch), as it
    stops: whichever process runs next takes them over at once, not once the leases end."""
    await conn.execute(
        """
        UPDATE replays r SET lease_until = NULL, updated_at = now()
        FROM unnest($1::uuid[], $2::int[]) AS h(replay_id, epoch)
        WHERE r.replay_id = h.replay_id AND r.lease_epoch = h.epoch AND r.status = 'running'
        """,
        list(held),
        list(held.values()),
    )
    await conn.execute("SELECT pg_notify($1, '')", REPLAY_CHANNEL)


async def replay(conn: Connection, replay_id: UUID, subscription_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT * FROM replays WHERE replay_id = $1 AND subscription_id = $2",
        replay_id,
        subscription_id,
    )
    return dict(row) if row else None


async def take_replays(
    conn: Connection, lease_s: float, holding: list[UUID]
) -> list[dict[str, Any]]:
    """Running replays no one holds (new, or whose holder's lease ran out), now held by the
    caller for `lease_s` under a new `lease_epoch` (what a former holder still records is
    refused); those it already drives (`holding`) are left alone."""
    rows = await conn.fetch(
        """
        UPDATE replays SET lease_until = now() + make_interval(secs => $1),
                           lease_epoch = lease_epoch + 1, updated_at = now()
        WHERE replay_id IN (
            SELECT replay_id FROM replays
            WHERE status = 'running' AND (lease_until IS NULL OR lease_until < now())
              AND NOT replay_id = ANY($2::uuid[])
            FOR UPDATE SKIP LOCKED
        )
        RETURNING *
        """,
        lease_s,
        holding,
    )
    return [dict(row) for row in rows]


async def next_lease_end(conn: Connection, holding: list[UUID]) -> datetime | None:
    """When the soonest lease of a running replay held by another runs out (then the caller
    may take it over)."""
    end: datetime | None = await conn.fetchval(
        "SELECT min(lease_until) FROM replays WHERE status = 'running' "
        "AND NOT replay_id = ANY($1::uuid[])",
        holding,
    )
    return end


async def to_send(
    conn: Connection, replay: dict[str, Any], subscription: dict[str, Any], limit: int
) -> list[asyncpg.Record]:
    """The replay's next events after what it sent, in log order."""
    return await conn.fetch(
        f"SELECT position, event_id, event_type, body FROM webhook_events "
        f"WHERE position > $3 AND position <= $4 AND ($5::timestamptz IS NULL OR at >= $5) "
        f"AND {_matches(1)} ORDER BY position LIMIT $6",
        *_filters(subscription),
        replay["sent_position"],
        replay["upto_position"],
        replay["since"],
        limit,
    )


async def record_send(
    conn: Connection,
    replay: dict[str, Any],
    event: asyncpg.Record,
    webhook_id: UUID,
    status: str,
    error: str | None,
    lease_s: float,
) -> str | None:
    """What came of sending one event: (delivered) the replay's progress, which never goes
    back, its lease renewed while it runs, and its line in the delivery log. Fenced on the
    lease: a driver whose replay was taken over records nothing (None). Returns the replay's
    status (None: gone, or no longer this driver's)."""
    delivered = status == "delivered"
    now: str | None = await conn.fetchval(
        """
        UPDATE replays SET
            sent_position = CASE WHEN $2 THEN greatest(sent_position, $3) ELSE sent_position END,
            sent = sent + CASE WHEN $2 AND $3 > sent_position THEN 1 ELSE 0 END,
            last_error = $4, updated_at = now(),
            lease_until = CASE WHEN status = 'running'
                               THEN now() + make_interval(secs => $5) END
        WHERE replay_id = $1 AND lease_epoch = $6 RETURNING status
        """,
        replay["replay_id"],
        delivered,
        event["position"],
        error,
        lease_s,
        replay["lease_epoch"],
    )
    if now is None:
        return None
    await conn.execute(
        """
        INSERT INTO replay_sends (replay_id, position, subscription_id, event_id, event_type,
                                  webhook_id, status, last_error, delivered_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                CASE WHEN $7 = 'delivered' THEN now() END)
        ON CONFLICT (replay_id, position) DO UPDATE SET
            status = excluded.status, last_error = excluded.last_error,
            attempts = replay_sends.attempts + 1, updated_at = now(),
            delivered_at = excluded.delivered_at
        """,
        replay["replay_id"],
        event["position"],
        replay["subscription_id"],
        event["event_id"],
        event["event_type"],
        webhook_id,
        status,
        error,
    )
    return now


async def finish_replay(
    conn: Connection, replay: dict[str, Any], status: str, error: str | None = None
) -> None:
    """A running replay ended by its driver (fenced on its lease, as `record_send` is)."""
    await conn.execute(
        "UPDATE replays SET status = $2, last_error = coalesce($3, last_error), "
        "lease_until = NULL, finished_at = now(), updated_at = now() "
        "WHERE replay_id = $1 AND lease_epoch = $4 AND status = 'running'",
        replay["replay_id"],
        status,
        error,
        replay["lease_epoch"],
    )


async def deliveries(
    conn: Connection, subscription_id: str, limit: int, offset: int
) -> list[dict[str, Any]]:
    """A subscription's webhook deliveries, live and replayed, newest first."""
    rows = await conn.fetch(
        """
        SELECT * FROM (
            SELECT notification_id AS webhook_id, event_id, payload->>'type' AS event_type,
                   status, attempts, last_error, created_at, updated_at,
                   CASE WHEN status = 'delivered' THEN updated_at END AS delivered_at,
                   NULL::uuid AS replay_id
            FROM deliveries WHERE channel = 'webhook' AND endpoint = $1
            UNION ALL
            SELECT webhook_id, event_id, event_type, status, attempts, last_error,
                   created_at, updated_at, delivered_at, replay_id
            FROM replay_sends WHERE subscription_id = $1
        ) d
        ORDER BY created_at DESC, webhook_id LIMIT $2 OFFSET $3
        """,
        subscription_id,
        limit,
        offset,
    )
    return [dict(row) for row in rows]
