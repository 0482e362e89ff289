"""Idempotency-Key for HTTP writes: the same key gives the same answer, stored with the change itself."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from shared.db import Connection
from shared.http import Problem

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


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(conn: Connection, key: str, digest: str) -> StoredResponse | None:
    """Claim `key` inside the caller's transaction; return the earlier answer if it was used.

    A concurrent request with the same key blocks on the primary key until the first commits,
    then sees its answer: one effect, however many retries.
    """
    claimed = await conn.fetchval(
        "INSERT INTO idempotency_keys (key, request_hash, status_code, response) "
        "VALUES ($1, $2, 0, '{}') ON CONFLICT (key) DO NOTHING RETURNING true",
        key,
        digest,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "SELECT request_hash, status_code, response FROM idempotency_keys WHERE key = $1", key
    )
    assert row is not None  # the conflicting row committed before our insert gave up
    return StoredResponse(row["request_hash"], row["status_code"], row["response"])


async def record(conn: Connection, key: str, status_code: int, response: dict[str, Any]) -> None:
    await conn.execute(
        "UPDATE idempotency_keys SET status_code = $2, response = $3 WHERE key = $1",
        key,
        status_code,
        response,
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
        if earlier.request_hash != digest:
            raise Problem(
                422,
                "该 Idempotency-Key 已用于另一请求 This Idempotency-Key was used for a different request",
                field="Idempotency-Key",
            )
        return JSONResponse(
            earlier.response,
            status_code=earlier.status_code,
            headers={"Idempotent-Replayed": "true"},
        )
    status, body = await produce()
    await record(conn, scoped_key, status, body)
    return JSONResponse(body, status_code=status)
