"""Notify's SQL: delivery records claimed by channel workers, what it knows of complaints,
subscriptions, the directory, the live stream and the dead-letter list (area notices':
notice_store)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from services.notify import domain
from shared.db import Connection, columns
from shared.events.area import like_patterns

WAKE_CHANNEL = "jiesu_deliveries"
LIVE_CHANNEL = "jiesu_live"
# Live updates are numbered by a sequence, which is drawn at insert and visible at commit: the
# same trap as the event store's positions (see shared/eventstore.py), met the same way: the
# tailer reads up to a Horizon over this table, and each insert has its transaction's id first.
LIVE_HORIZON = ("live_updates", "id")


@dataclass(frozen=True, slots=True)
class Planned:
    """One message on one channel, to be inserted as a delivery."""

    message: domain.Message
    channel: str
    endpoint: str = ""


# --- what notify knows of a complaint ----------------------------------------------------------


def outcome_stream(complaint_id: UUID) -> str:
    """Where the outcomes of a complaint's messages are recorded, in order."""
    return f"notifications-{complaint_id}"


def _facts(row: asyncpg.Record) -> domain.Facts:
    return domain.Facts(
        complaint_id=row["complaint_id"],
        case_number=row["case_number"],
        area_code=row["area_code"],
        intake_channel=row["intake_channel"],
        lead_work_order_id=row["lead_work_order_id"],
        lead_responder_id=row["lead_responder_id"],
        followers=tuple(row["followers"]),
    )


async def facts_of(conn: Connection, complaint_ids: Iterable[UUID]) -> dict[UUID, domain.Facts]:
    """What is known of each of these complaints, in one query (those unknown are left out)."""
    rows = await conn.fetch(
        "SELECT * FROM complaint_facts WHERE complaint_id = ANY($1::uuid[])", list(complaint_ids)
    )
    return {row["complaint_id"]: _facts(row) for row in rows}


async def save_all_facts(conn: Connection, changed: Iterable[domain.Facts]) -> None:
    """Each complaint's facts (each complaint at most once), in one statement."""
    rows = [
        (
            facts.complaint_id,
            facts.case_number,
            facts.area_code,
            facts.intake_channel,
            facts.lead_work_order_id,
            facts.lead_responder_id,
            # unnest cannot take an array of arrays of any length: each list as one text
            ",".join(str(f) for f in facts.followers),
        )
        for facts in changed
    ]
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO complaint_facts (complaint_id, case_number, area_code, intake_channel,
                                     lead_work_order_id, lead_responder_id, followers)
        SELECT c, n, a, i, w, r, coalesce(string_to_array(nullif(f, ''), ','), '{}')::uuid[]
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[],
                    $7::text[]) AS u(c, n, a, i, w, r, f)
        ON CONFLICT (complaint_id) DO UPDATE SET
            case_number = excluded.case_number, area_code = excluded.area_code,
            intake_channel = excluded.intake_channel,
            lead_work_order_id = excluded.lead_work_order_id,
            lead_responder_id = excluded.lead_responder_id, followers = excluded.followers,
            updated_at = now()
        """,
        *columns(rows),
    )


# --- deliveries -------------------------------------------------------------------------------


async def add_deliveries_for(
    conn: Connection,
    event_id: UUID,
    correlation_id: UUID | None,
    planned: list[Planned],
    traceparent: str | None = None,
) -> int:
    return len(
        await add_all_deliveries(
            conn, [(event_id, correlation_id, p) for p in planned], traces={event_id: traceparent}
        )
    )


async def add_all_deliveries(
    conn: Connection,
    planned: list[tuple[UUID, UUID | None, Planned]],
    taken: Sequence[bool] | None = None,
    lease_s: float = 0.0,
    traces: Mapping[UUID, str | None] | None = None,
) -> list[asyncpg.Record]:
    """Deliveries of several events in one insert: (cause's event id, correlation id, message
    on a channel) each, with the trace each cause travelled in (`traces`, by event id). Those
    `taken` are claimed at birth, for `lease_s` seconds, by the caller's senders (as `claim`
    would claim them); the rest wait for the channel workers, woken once. Returns the rows
    that were new (a redelivered event's are not)."""
    if not planned:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO deliveries (notification_id, event_id, correlation_id, complaint_id,
                                audience, recipient, channel, endpoint, template, payload,
                                status, attempts, next_attempt_at, traceparent)
        SELECT n, e, c, cid, a, r, ch, ep, t, p,
               CASE WHEN taken THEN 'sending' ELSE 'pending' END,
               CASE WHEN taken THEN 1 ELSE 0 END,
               -- a lease from this statement on (the transaction may have begun long before)
               CASE WHEN taken THEN clock_timestamp() + make_interval(secs => $12) ELSE now() END,
               tp
        FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[],
                    $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::bool[], $13::text[])
             AS u(n, e, c, cid, a, r, ch, ep, t, p, taken, tp)
        ON CONFLICT (event_id, recipient, channel) DO NOTHING
        RETURNING *
        """,
        [domain.notification_id(e, p.message.recipient, p.channel) for e, _, p in planned],
        [e for e, _, _ in planned],
        [c for _, c, _ in planned],
        [p.message.complaint_id for _, _, p in planned],
        [p.message.audience.value for _, _, p in planned],
        [p.message.recipient for _, _, p in planned],
        [p.channel for _, _, p in planned],
        [p.endpoint for _, _, p in planned],
        [p.message.template for _, _, p in planned],
        [p.message.data for _, _, p in planned],
        list(taken) if taken is not None else [False] * len(planned),
        lease_s,
        [(traces or {}).get(e) for e, _, _ in planned],
    )
    waiting = sorted({row["channel"] for row in rows if row["status"] == "pending"})
    if waiting:
        await conn.execute("SELECT pg_notify($1, $2)", WAKE_CHANNEL, ",".join(waiting))
    return rows


async def claim(
    conn: Connection, channel: str, limit: int, per_endpoint: int, lease_s: float
) -> list[asyncpg.Record]:
    """Take due deliveries of one channel for `lease_s` seconds (a crashed worker's claims
    simply expire), leaving alone endpoints that already have `per_endpoint` in flight."""
    return await conn.fetch(
        """
        WITH busy AS (
            SELECT endpoint FROM deliveries
            WHERE channel = $1 AND status = 'sending' AND next_attempt_at > now() AND endpoint <> ''
            GROUP BY endpoint HAVING count(*) >= $3
        ), due AS (
            SELECT notification_id FROM deliveries
            WHERE channel = $1
              AND status IN ('pending', 'sending')  -- a sending one is due when its lease ends
              AND next_attempt_at <= now()
              AND endpoint NOT IN (SELECT endpoint FROM busy)
            ORDER BY next_attempt_at
            LIMIT $2
            FOR UPDATE SKIP LOCKED
        )
        UPDATE deliveries d
        SET status = 'sending', next_attempt_at = now() + make_interval(secs => $4),
            attempts = d.attempts + 1, updated_at = now()
        FROM due WHERE d.notification_id = due.notification_id
        RETURNING d.*
        """,
        channel,
        limit,
        per_endpoint,
        lease_s,
    )


async def next_due(conn: Connection, channel: str) -> datetime | None:
    """When the soonest open delivery of a channel is due (a retry's time, a lease's end)."""
    due: datetime | None = await conn.fetchval(
        "SELECT min(next_attempt_at) FROM deliveries "
        "WHERE channel = $1 AND status IN ('pending', 'sending')",
        channel,
    )
    return due


async def record_outcomes(
    conn: Connection, outcomes: list[tuple[UUID, str, str | None, datetime | None]]
) -> None:
    """Many outcomes in one statement: (notification id, status, error, retry at)."""
    await conn.execute(
        """
        UPDATE deliveries d
        SET status = o.status, last_error = o.error,
            next_attempt_at = coalesce(o.retry_at, d.next_attempt_at), updated_at = now()
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
             AS o(notification_id, status, error, retry_at)
        WHERE d.notification_id = o.notification_id
        """,
        [o[0] for o in outcomes],
        [o[1] for o in outcomes],
        [o[2] for o in outcomes],
        [o[3] for o in outcomes],
    )


async def record_sent(
    conn: Connection, outcomes: list[tuple[UUID, int, str, str | None, datetime | None]]
) -> set[tuple[UUID, int]]:
    """The outcomes of sends, each (notification id, the claim's attempt, status, error, retry
    at), recorded only where that claim still holds the row: still `sending`, at that attempt.
    Returns the (id, attempt) pairs recorded (one process may hold a stale claim's outcome
    and the current one's of the same message in one batch).

    Why: a claim is a lease. A sender that outlives its lease (a stalled or stopping worker)
    finds the row claimed again by another worker, which sends it again under the same
    idempotency key and records what came of it; the stale claim's outcome is dropped, so each
    delivery is recorded once however many workers sent it."""
    rows = await conn.fetch(
        """
        UPDATE deliveries d
        SET status = o.status, last_error = o.error,
            next_attempt_at = coalesce(o.retry_at, d.next_attempt_at), updated_at = now()
        FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::timestamptz[])
             AS o(notification_id, attempt, status, error, retry_at)
        WHERE d.notification_id = o.notification_id
          AND d.status = 'sending' AND d.attempts = o.attempt
        RETURNING d.notification_id, d.attempts
        """,
        [o[0] for o in outcomes],
        [o[1] for o in outcomes],
        [o[2] for o in outcomes],
        [o[3] for o in outcomes],
        [o[4] for o in outcomes],
    )
    return {(row["notification_id"], row["attempts"]) for row in rows}


async def deliveries_of(conn: Connection, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT notification_id, audience, recipient, channel, endpoint, template, status, "
        "attempts, last_error, created_at, updated_at FROM deliveries WHERE complaint_id = $1 "
        "ORDER BY created_at, channel, recipient",
        complaint_id,
    )
    return [dict(row) for row in rows]


async def backlog(conn: Connection) -> dict[str, dict[str, int]]:
    """What is not delivered, by channel and status. The statuses are named (rather than
    `<> 'delivered'`) so the open and abandoned partial indexes answer, not a scan of every
    message ever sent: each scrape of /metrics asks."""
    rows = await conn.fetch(
        "SELECT channel, status, count(*) AS n FROM deliveries "
        "WHERE status IN ('pending', 'sending', 'abandoned') GROUP BY channel, status"
    )
    out: dict[str, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["channel"], {})[row["status"]] = row["n"]
    return out


# --- the dead-letter list ---------------------------------------------------------------------


async def dead_letters(
    conn: Connection, channel: str | None, limit: int, offset: int, within: str | None = None
) -> list[dict[str, Any]]:
    """Abandoned messages, newest first; only of complaints in the area `within` if given."""
    rows = await conn.fetch(
        "SELECT d.notification_id, d.event_id, d.complaint_id, d.audience, d.recipient, "
        "d.channel, d.endpoint, d.template, d.attempts, d.last_error, d.updated_at "
        "FROM deliveries d LEFT JOIN complaint_facts f USING (complaint_id) "
        "WHERE d.status = 'abandoned' AND ($1::text IS NULL OR d.channel = $1) "
        "AND ($4::text[] IS NULL OR f.area_code LIKE ANY($4::text[])) "
        "ORDER BY d.updated_at DESC LIMIT $2 OFFSET $3",
        channel,
        limit,
        offset,
        like_patterns(within) if within else None,
    )
    return [dict(row) for row in rows]


async def take_dead_letters(
    conn: Connection, notification_ids: list[UUID] | None, channel: str | None
) -> list[asyncpg.Record]:
    """Abandoned deliveries to send again (all of a channel, or the ones named), locked."""
    return await conn.fetch(
        "SELECT * FROM deliveries WHERE status = 'abandoned' "
        "AND ($1::uuid[] IS NULL OR notification_id = ANY($1)) "
        "AND ($2::text IS NULL OR channel = $2) FOR UPDATE",
        notification_ids,
        channel,
    )


async def requeue(conn: Connection, notification_id: UUID) -> None:
    await conn.execute(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), "
        "last_error = NULL, updated_at = now() WHERE notification_id = $1",
        notification_id,
    )
    await conn.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


# --- subscriptions ---------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


async def put_subscription(
    conn: Connection,
    subscription_id: str,
    url: str,
    secret: str,
    event_types: list[str],
    area_code: str | None,
    description: str,
    owner_key_id: str | None = None,
) -> dict[str, Any]:
    """A new subscription, or one replaced under its id (its owner stays as it was)."""
    row = await conn.fetchrow(
        """
        INSERT INTO subscriptions (subscription_id, url, secret, event_types, area_code,
                                   description, owner_key_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (subscription_id) DO UPDATE SET
            url = excluded.url, secret = excluded.secret, event_types = excluded.event_types,
            area_code = excluded.area_code, description = excluded.description,
            status = 'active', disabled_reason = NULL, updated_at = now()
        RETURNING *
        """,
        subscription_id,
        url,
        secret,
        event_types,
        area_code,
        description,
        owner_key_id,
    )
    assert row is not None
    return dict(row)


async def lock_owner(conn: Connection, owner: str) -> None:
    """Serialise, until the transaction ends, the subscriptions made by one subscriber key."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"subscriptions:{owner}"
    )


async def owned_subscriptions(conn: Connection, owner: str) -> int:
    held: int = await conn.fetchval(
        "SELECT count(*) FROM subscriptions WHERE owner_key_id = $1", owner
    )
    return held


# `owner`: a subscriber key's id, to see and change only its own subscriptions (None: all).
_OWNED = "($2::text IS NULL OR owner_key_id = $2)"


async def subscription(
    conn: Connection, subscription_id: str, owner: str | None = None
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT * FROM subscriptions WHERE subscription_id = $1 AND {_OWNED}",
        subscription_id,
        owner,
    )
    return dict(row) if row else None


async def sendable_subscription(conn: Connection, subscription_id: str) -> dict[str, Any] | None:
    """A subscription to POST to now, with `revoked` saying whether its subscriber key was
    revoked since (then it receives nothing: no retry, no replay)."""
    row = await conn.fetchrow(
        "SELECT s.*, k.revoked_at IS NOT NULL AS revoked FROM subscriptions s "
        "LEFT JOIN api_keys k ON k.key_id = s.owner_key_id WHERE s.subscription_id = $1",
        subscription_id,
    )
    return dict(row) if row else None


async def subscriptions(conn: Connection, owner: str | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM subscriptions WHERE $1::text IS NULL OR owner_key_id = $1 "
        "ORDER BY created_at",
        owner,
    )
    return [dict(row) for row in rows]


async def delete_subscription(
    conn: Connection, subscription_id: str, owner: str | None = None
) -> bool:
    done = await conn.execute(
        f"DELETE FROM subscriptions WHERE subscription_id = $1 AND {_OWNED}",
        subscription_id,
        owner,
    )
    return done.endswith("1")


async def set_subscription_status(
    conn: Connection,
    subscription_id: str,
    status: str,
    reason: str | None,
    owner: str | None = None,
) -> bool:
    done = await conn.execute(
        "UPDATE subscriptions SET status = $3, disabled_reason = $4, updated_at = now() "
        f"WHERE subscription_id = $1 AND {_OWNED}",
        subscription_id,
        owner,
        status,
        reason,
    )
    return done.endswith("1")


async def active_subscriptions(conn: Connection) -> list[asyncpg.Record]:
    """Active subscriptions, but those of a revoked subscriber key: they receive nothing."""
    return await conn.fetch(
        "SELECT s.subscription_id, s.event_types, s.area_code FROM subscriptions s "
        "LEFT JOIN api_keys k ON k.key_id = s.owner_key_id "
        "WHERE s.status = 'active' AND (s.owner_key_id IS NULL OR k.revoked_at IS NULL)"
    )


def matching(active: list[asyncpg.Record], event_type: str, area_code: str | None) -> list[str]:
    return [
        row["subscription_id"]
        for row in active
        if domain.matches(list(row["event_types"]), row["area_code"], event_type, area_code)
    ]


# --- the directory (通讯录) --------------------------------------------------------------------


async def address(conn: Connection, recipient: str) -> domain.Address | None:
    return (await addresses(conn, [recipient])).get(recipient)


async def addresses(conn: Connection, recipients: Iterable[str]) -> dict[str, domain.Address]:
    """The directory entries of these recipients, in one query (those without one left out)."""
    rows = await conn.fetch(
        "SELECT recipient_id, sms, email, wechat_openid FROM directory "
        "WHERE recipient_id = ANY($1::text[])",
        list(recipients),
    )
    return {
        row["recipient_id"]: domain.Address(
            sms=row["sms"], email=row["email"], wechat_openid=row["wechat_openid"]
        )
        for row in rows
    }


async def put_address(
    conn: Connection,
    recipient: str,
    name: str,
    sms: str | None,
    email: str | None,
    wechat_openid: str | None,
    area_code: str | None = None,
    duty: domain.Duty | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO directory (recipient_id, name, sms, email, wechat_openid, area_code, duty)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (recipient_id) DO UPDATE SET
            name = excluded.name, sms = excluded.sms, email = excluded.email,
            wechat_openid = excluded.wechat_openid, area_code = excluded.area_code,
            duty = excluded.duty, updated_at = now()
        """,
        recipient,
        name,
        sms,
        email,
        wechat_openid,
        area_code,
        duty.value if duty else None,
    )


async def roster(conn: Connection) -> list[domain.OnDuty]:
    """The directory's entries that are on duty for an area."""
    rows = await conn.fetch(
        "SELECT recipient_id, area_code, duty FROM directory "
        "WHERE duty IS NOT NULL AND area_code IS NOT NULL"
    )
    return [
        domain.OnDuty(row["recipient_id"], row["area_code"], domain.Duty(row["duty"]))
        for row in rows
    ]


async def directory(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch("SELECT * FROM directory ORDER BY recipient_id")
    return [dict(row) for row in rows]


async def delete_address(conn: Connection, recipient: str) -> bool:
    done = await conn.execute("DELETE FROM directory WHERE recipient_id = $1", recipient)
    return done.endswith("1")


# --- the live stream ------------------------------------------------------------------------


async def add_live_updates(
    conn: Connection, entries: list[tuple[dict[str, Any], datetime]]
) -> None:
    """Entries in the given order, with one wake-up (delivered at commit)."""
    if not entries:
        return
    await conn.execute(
        """
        WITH t AS (SELECT pg_current_xact_id() AS xid, pg_notify($6, '') AS woken)
        INSERT INTO live_updates (complaint_id, area_code, type, data, at)
        SELECT complaint_id, area_code, type, data, at
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::timestamptz[])
            WITH ORDINALITY AS e(complaint_id, area_code, type, data, at, n), t
        WHERE t.xid IS NOT NULL
        ORDER BY n
        """,
        [UUID(entry["complaint_id"]) for entry, _ in entries],
        [entry.get("area_code") or "" for entry, _ in entries],
        [entry["type"] for entry, _ in entries],
        [entry for entry, _ in entries],
        [at for _, at in entries],
        LIVE_CHANNEL,
    )


async def live_since(conn: Connection, after: int, until: int, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, area_code, type, data, at FROM live_updates WHERE id > $1 AND id <= $2 "
        "ORDER BY id LIMIT $3",
        after,
        until,
        limit,
    )
