"""Idempotency-Key for HTTP writes: the same key gives the same answer, stored with the change itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

from fastapi import Header
from fastapi.responses import JSONResponse

from shared import http  # the module, not its names: shared.http imports this one too
from shared.db import Connection

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="重试同一请求时使用相同的键 Same key on retry → same result",
    ),
]


@dataclass(frozen=True, slots=True)
class StoredResponse:
    request_hash: str
    status_code: int
    response: dict[str, Any]


def scoped(caller: str, action: str, idempotency_key: str | None) -> str | None:
    """An Idempotency-Key as stored: one caller's keys never meet another's, nor one action's
    another's."""
    return f"{caller}:{action}:{idempotency_key}" if idempotency_key else None


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(conn: Connection, key: str, digest: str) -> StoredResponse | None:
    """Claim `key` inside the caller's transaction; return the earlier answer if it was used.

    A concurrent request with the same key blocks on the primary key until the first commits,
    then sees its answer: one effect, however many retries.
    """
    return (await claim_all(conn, {key: digest})).get(key)


async def claim_all(conn: Connection, digests: Mapping[str, str]) -> dict[str, StoredResponse]:
    """Claim several keys (each with its request's digest) at once, as `claim` claims one;
    returns the earlier answers of those that were used."""
    # In one order for every group: two groups claiming the same new keys never wait on each
    # other crosswise (a deadlock would send both down the one-by-one path).
    keys = sorted(digests)
    if not keys:
        return {}
    claimed = await conn.fetchval(
        "WITH added AS (INSERT INTO idempotency_keys (key, request_hash, status_code, response) "
        "SELECT key, request_hash, 0, '{}' FROM unnest($1::text[], $2::text[]) AS t(key, request_hash) "
        "ON CONFLICT (key) DO NOTHING RETURNING key) SELECT array_agg(key) FROM added",
        keys,
        [digests[key] for key in keys],
    )
    used = sorted(set(keys) - set(claimed or ()))
    if not used:
        return {}
    # The conflicting rows committed before the insert gave up: a new statement sees them.
    rows = await conn.fetch(
        "SELECT key, request_hash, status_code, response FROM idempotency_keys "
        "WHERE key = ANY($1::text[])",
        used,
    )
    assert len(rows) == len(used)
    return {
        row["key"]: StoredResponse(row["request_hash"], row["status_code"], row["response"])
        for row in rows
    }


async def release_all(conn: Connection, keys: Sequence[str]) -> None:
    """Give back keys claimed in this transaction for requests that were refused after all."""
    await conn.execute("DELETE FROM idempotency_keys WHERE key = ANY($1::text[])", list(keys))


async def record(conn: Connection, key: str, status_code: int, response: dict[str, Any]) -> None:
    await record_all(conn, [(key, status_code, response)])


async def record_all(conn: Connection, answers: Sequence[tuple[str, int, dict[str, Any]]]) -> None:
    """Store the answers (key, status, body) of claimed keys."""
    if not answers:
        return
    await conn.execute(
        "UPDATE idempotency_keys k SET status_code = a.status_code, response = a.response::jsonb "
        "FROM unnest($1::text[], $2::int[], $3::text[]) AS a(key, status_code, response) "
        "WHERE k.key = a.key",
        [key for key, _, _ in answers],
        [status for _, status, _ in answers],
        [json.dumps(body, ensure_ascii=False) for _, _, body in answers],
    )


def replay(earlier: StoredResponse, digest: str) -> JSONResponse:
    """The earlier answer to a request made again with its key, or 422 if the key was used for
    a different request."""
    if earlier.request_hash != digest:
        raise http.Problem(
            422,
            "该 Idempotency-Key 已用于另一请求 This Idempotency-Key was used for a different request",
            field="Idempotency-Key",
        )
    return JSONResponse(
        earlier.response,
        status_code=earlier.status_code,
        headers={"Idempotent-Replayed": "true"},
    )


async def idempotent(
    conn: Connection,
    scoped_key: str | None,
    payload: Any,
    produce: Callable[[], Awaitable[tuple[int, dict[str, Any]]]],
) -> JSONResponse:
    """Run `produce` once per scoped key (caller, action, Idempotency-Key); a retry gets the first answer.

    Runs inside the caller's transaction, so the stored answer commits with the change itself.
    """
    if scoped_key is None:
        status, body = await produce()
        return JSONResponse(body, status_code=status)
    digest = request_hash(payload)
    earlier = await claim(conn, scoped_key, digest)
    if earlier is not None:
        return replay(earlier, digest)
    status, body = await produce()
    await record(conn, scoped_key, status, body)
    return JSONResponse(body, status_code=status)


async def forget_answers_about(conn: Connection, complaint_ids: list[UUID]) -> None:
    """Blank the kept answers that show these complaints (a resident's erasure): a retried
    write with the same key then gets the blank answer, never the erased text."""
    if complaint_ids:
        await conn.execute(
            "UPDATE idempotency_keys SET response = jsonb_build_object("
            "'complaint_id', response->>'complaint_id', 'erased', true) "
            "WHERE response->>'complaint_id' = ANY($1::text[])",
            [str(c) for c in complaint_ids],
        )
