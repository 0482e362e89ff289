"""What keeps guessing and replays out of the residents' own doors: the wrong phone tails
counted per case (the lookup, WeChat ratings), and each signed WeChat push taken once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shared.db import Connection


async def tail_matches(
    conn: Connection, view: Mapping[str, Any] | None, tail: str, most_misses: int
) -> bool:
    """Whether `tail` is the phone tail of the complaint `view` shows, counting each wrong one
    for its case (in its own statement: a miss stays counted whatever the caller's transaction
    does next); a case past `most_misses` wrong tails matches none any more."""
    if view is None:
        return False
    if view["tail_misses"] < most_misses and (view["masked_phone"] or "").endswith(tail):
        return True
    if view["tail_misses"] < most_misses:
        await conn.execute(
            "UPDATE complaints SET tail_misses = tail_misses + 1 WHERE complaint_id = $1",
            view["complaint_id"],
        )
    return False


async def first_push(
    conn: Connection, nonce: str, signed_at: int, msg_id: str, keep_s: int
) -> bool:
    """Whether this signed WeChat push (its nonce and timestamp) is seen for the first time, or
    again with the same message (WeChat's own retry); pushes older than `keep_s` are dropped."""
    await conn.execute(
        "DELETE FROM wechat_pushes WHERE signed_at < extract(epoch FROM now())::bigint - $1", keep_s
    )
    seen = await conn.fetchval(
        "WITH added AS (INSERT INTO wechat_pushes (nonce, signed_at, msg_id) VALUES ($1, $2, $3) "
        "ON CONFLICT DO NOTHING RETURNING msg_id) "
        "SELECT coalesce((SELECT msg_id FROM added), "
        "(SELECT msg_id FROM wechat_pushes WHERE nonce = $1 AND signed_at = $2))",
        nonce,
        signed_at,
        msg_id,
    )
    return bool(seen == msg_id)
