"""The API-key cache: a key seen moments ago is answered from memory, without a connection."""

from __future__ import annotations

from typing import Any

from shared.apikeys import KeyCache, hash_key


async def test_a_key_seen_within_the_ttl_is_remembered_and_a_stale_one_is_looked_up_again():
    looked_up: list[str] = []

    async def lookup(conn: Any, digest: str) -> str | None:
        looked_up.append(digest)
        return "staff" if conn == "db" and digest == hash_key("secret") else None

    keys: KeyCache[str] = KeyCache(lookup, ttl_s=60.0)
    assert keys.remembered("secret") == (False, None)
    assert await keys.find("db", "secret") == "staff"
    assert keys.remembered("secret") == (True, "staff")
    assert await keys.find("no connection needed", "secret") == "staff"
    assert await keys.find("db", "unknown") is None
    assert keys.remembered("unknown") == (True, None)  # a refusal is remembered too
    assert len(looked_up) == 2
    keys.ttl_s = 0.0  # stale: a revocation takes effect
    assert keys.remembered("secret") == (False, None)
    assert await keys.find("revoked", "secret") is None
    assert len(looked_up) == 3
