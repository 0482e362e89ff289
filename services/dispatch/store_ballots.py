"""Dispatch's SQL for consultations and ballots (征求意见、表决): household registers, the ballots'
views and closing times, and the voting links' hashes. (Beside store.py, which is long enough.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from services.dispatch.domain import ballots
from services.dispatch.store import TIMERS_CHANNEL, ballot_stream
from shared.db import Connection
from shared.events.area import like_patterns
from shared.eventstore import EventStore


async def save_register(
    conn: Connection, area_code: str, households: list[str], at: datetime
) -> list[str]:
    """The area's register becomes `households`: every household in the area not listed leaves
    (one loaded before under a narrower register too); answers each household's reference, in
    order: a household keeps the one it had, so a ballot's roll still knows it after a reload."""
    rows = await conn.fetch(
        """
        INSERT INTO households (household_id, area_code, unit_code, registered_at, ref)
        SELECT h, $2, split_part(h, '/', 1), $3, r
        FROM unnest($1::text[], $4::text[]) AS t(h, r)
        ON CONFLICT (household_id) DO UPDATE SET
            area_code = excluded.area_code, registered_at = excluded.registered_at,
            ref = coalesce(households.ref, excluded.ref)
        RETURNING household_id, ref
        """,
        households,
        area_code,
        at,
        [ballots.new_ref(h) for h in households],
    )
    await conn.execute(
        "DELETE FROM households WHERE unit_code LIKE ANY ($1::text[]) "
        "AND NOT (household_id = ANY ($2::text[]))",
        like_patterns(area_code),
        households,
    )
    refs = {row["household_id"]: row["ref"] for row in rows}
    return [refs[h] for h in households]


async def households_within(conn: Connection, area_code: str) -> list[str]:
    """The reference of every registered household whose unit lies in `area_code`, in a stable
    order."""
    rows = await conn.fetch(
        "SELECT ref FROM households WHERE unit_code LIKE ANY ($1::text[]) ORDER BY household_id",
        like_patterns(area_code),
    )
    return [row["ref"] for row in rows]


async def refs_of(conn: Connection, households: list[str]) -> dict[str, str]:
    """Household (`<unit code>/<door>`) → its reference, for those registered."""
    rows = await conn.fetch(
        "SELECT household_id, ref FROM households WHERE household_id = ANY ($1::text[])",
        households,
    )
    return {row["household_id"]: row["ref"] for row in rows}


async def doors_of(conn: Connection, refs: list[str]) -> dict[str, str]:
    """A household's reference → the household (`<unit code>/<door>`), for staff's answers."""
    rows = await conn.fetch(
        "SELECT household_id, ref FROM households WHERE ref = ANY ($1::text[])", refs
    )
    return {row["ref"]: row["household_id"] for row in rows}


async def register_of(conn: Connection, area_code: str) -> tuple[int, datetime | None]:
    row = await conn.fetchrow(
        "SELECT count(*) AS n, max(registered_at) AS at FROM households "
        "WHERE unit_code LIKE ANY ($1::text[])",
        like_patterns(area_code),
    )
    assert row is not None
    return row["n"], row["at"]


async def load_ballot(
    conn: Connection, events: EventStore, ballot_id: UUID
) -> ballots.Ballot | None:
    history = await events.read_stream(conn, ballot_stream(ballot_id))
    return ballots.fold(r.to_envelope().event for r in history)


def ballot_json(ballot: ballots.Ballot) -> dict[str, Any]:
    opened, closed = ballot.opened, ballot.closed
    by_method = {m.value: 0 for m in ballots.Method}
    for vote in ballot.votes.values():
        by_method[vote.method.value] += 1
    return {
        "ballot_id": str(opened.ballot_id),
        "kind": opened.kind,
        "kind_label": ballots.KIND_LABELS[ballots.Kind(opened.kind)],
        "item_id": str(opened.item_id) if opened.item_id else None,
        "area_code": opened.area_code,
        "community_code": opened.community_code,
        "title": opened.title,
        "proposal": opened.proposal,
        "options": opened.options,
        "quorum": opened.quorum,
        "majority": opened.majority,
        "majority_of": opened.majority_of,
        "majority_at_least": opened.majority_at_least,
        "cost_shares": [c.model_dump(mode="json") for c in opened.cost_shares],
        "opens_at": opened.opens_at.isoformat(),
        "closes_at": opened.closes_at.isoformat(),
        "status": "open" if closed is None else "closed",
        "eligible": len(opened.roll),
        "cast": len(ballot.votes),
        "by_method": by_method,
        "links_issued": len(ballot.tokens_issued),
        "tally": [t.model_dump() for t in closed.tally] if closed else None,
        "quorum_met": closed.quorum_met if closed else None,
        "carried": closed.carried if closed else None,
        "outcome": closed.outcome if closed else None,
        "closed_at": closed.closed_at.isoformat() if closed else None,
        "closed_by": closed.closed_by if closed else None,
    }


async def save_ballot_view(conn: Connection, ballot: ballots.Ballot) -> None:
    opened = ballot.opened
    at = ballot.closed.closed_at if ballot.closed else opened.opens_at
    await conn.execute(
        """
        INSERT INTO ballots (ballot_id, item_id, area_code, community_code, status, closes_at,
                             updated_at, data)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (ballot_id) DO UPDATE SET
            status = excluded.status, updated_at = excluded.updated_at, data = excluded.data
        """,
        opened.ballot_id,
        opened.item_id,
        opened.area_code,
        opened.community_code,
        "open" if ballot.is_open else "closed",
        opened.closes_at,
        at,
        ballot_json(ballot),
    )
    if ballot.is_open:
        # The timer loop sleeping past the closing time wakes for it (see sync_timers).
        await conn.execute(
            "SELECT pg_notify($1, extract(epoch FROM $2::timestamptz)::text)",
            TIMERS_CHANNEL,
            opened.closes_at,
        )


async def list_ballots(
    conn: Connection, scope_patterns: list[str] | None, status: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        SELECT data FROM ballots
        WHERE ($1::text[] IS NULL OR area_code LIKE ANY ($1::text[]))
          AND ($2::text IS NULL OR status = $2)
        ORDER BY closes_at DESC LIMIT $3 OFFSET $4
        """,
        scope_patterns,
        status,
        limit,
        offset,
    )
    return [row["data"] for row in rows]


async def claim_due_ballots(conn: Connection, now: datetime, limit: int) -> list[UUID]:
    """Open ballots past their closing time that no other worker holds (until the caller's
    transaction ends)."""
    rows = await conn.fetch(
        "SELECT ballot_id FROM ballots WHERE status = 'open' AND closes_at <= $1 "
        "ORDER BY closes_at LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [row["ballot_id"] for row in rows]


async def next_ballot_closing(conn: Connection) -> datetime | None:
    closing: datetime | None = await conn.fetchval(
        "SELECT min(closes_at) FROM ballots WHERE status = 'open'"
    )
    return closing


async def save_tokens(
    conn: Connection, ballot_id: UUID, tokens: list[tuple[str, str]], at: datetime
) -> None:
    """(household, token hash) pairs; a household's new link replaces its old one."""
    await conn.execute(
        """
        INSERT INTO ballot_tokens (token_hash, ballot_id, household_id, issued_at)
        SELECT t.hash, $1, t.household, $4
        FROM unnest($2::text[], $3::text[]) AS t(household, hash)
        ON CONFLICT (ballot_id, household_id) DO UPDATE SET
            token_hash = excluded.token_hash, issued_at = excluded.issued_at
        """,
        ballot_id,
        [h for h, _ in tokens],
        [digest for _, digest in tokens],
        at,
    )


async def token_holder(conn: Connection, token_hash: str) -> tuple[UUID, str] | None:
    row = await conn.fetchrow(
        "SELECT ballot_id, household_id FROM ballot_tokens WHERE token_hash = $1", token_hash
    )
    return (row["ballot_id"], row["household_id"]) if row else None
