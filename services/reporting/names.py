"""What reports call things: areas, units and categories by the city model's names, else by
what their work orders carried (a unit or category the model does not list yet)."""

from __future__ import annotations

from collections.abc import Iterable

from shared.db import Connection


async def _lookup(conn: Connection, sql: str, keys: Iterable[str]) -> dict[str, str]:
    wanted = sorted({k for k in keys if k})
    if not wanted:
        return {}
    return {r[0]: r[1] for r in await conn.fetch(sql, wanted)}


async def areas(conn: Connection, codes: Iterable[str]) -> dict[str, str]:
    return await _lookup(conn, "SELECT code, name FROM areas WHERE code = ANY($1::text[])", codes)


async def responders(conn: Connection, ids: Iterable[str]) -> dict[str, str]:
    ids = set(ids)
    names = await _lookup(conn, "SELECT id, name FROM responders WHERE id = ANY($1::text[])", ids)
    names.update(
        await _lookup(
            conn,
            "SELECT DISTINCT ON (responder_id) responder_id, responder_name FROM case_work_orders "
            "WHERE responder_id = ANY($1::text[]) AND responder_name IS NOT NULL",
            ids - names.keys(),
        )
    )
    return names


async def categories(conn: Connection, codes: Iterable[str]) -> dict[str, str]:
    codes = set(codes)
    names = await _lookup(
        conn, "SELECT code, name FROM categories WHERE code = ANY($1::text[])", codes
    )
    names.update(
        await _lookup(
            conn,
            "SELECT DISTINCT ON (category) category, category_name FROM cases "
            "WHERE category = ANY($1::text[]) AND category_name IS NOT NULL "
            "ORDER BY category, lead_seq DESC",
            codes - names.keys(),
        )
    )
    return names
