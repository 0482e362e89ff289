"""The API-key cache: a key seen moments ago is answered from memory, without a connection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from shared.apikeys import KeyCache, hash_key


async def test_a_key_seen_within_the_ttl_is_remembered_and_a_stale_one_is_looked_up_again():
    looked_up: list[str] = []
    connections: list[str] = []

    async def lookup(conn: Any, digest: str) -> str | None:
        looked_up.append(digest)
        return "staff" if conn == "db" and digest == hash_key("secret") else None

    database = {"answers": "db"}

    @contextlib.asynccontextmanager
    async def acquire() -> AsyncIterator[str]:
        connections.append("taken")
        yield database["answers"]

    keys: KeyCache[str] = KeyCache(lookup, ttl_s=60.0)
    assert keys.remembered("secret") == (False, None)
    assert await keys.find("secret", acquire) == "staff"
    assert keys.remembered("secret") == (True, "staff")
    assert await keys.find("secret", acquire) == "staff"
    assert len(connections) == 1, "a remembered key needs no connection"
    assert await keys.find("unknown", acquire) is None
    assert keys.remembered("unknown") == (True, None)  # a refusal is remembered too
    assert await keys.find("unknown", acquire) is None
    assert len(looked_up) == 2 and len(connections) == 2
    keys.ttl_s = 0.0  # stale: a revocation takes effect
    assert keys.remembered("secret") == (False, None)
    database["answers"] = "revoked"
    assert await keys.find("secret", acquire) is None
    assert len(looked_up) == 3 and len(connections) == 3
