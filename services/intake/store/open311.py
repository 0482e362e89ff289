"""What Open311's public feed reads: service requests (complaints' view rows) and the updates
residents read of each step, a page at a time (services/intake/adapters/open311)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.db import Connection

_COLUMNS = (
    "case_number, status, type, category, area_code, address, latitude, longitude, text, media_urls, "
    "lead_responder, due_at, status_note, filed_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class Page:
    """The `number`th page (from 1) of `size` rows."""

    number: int
    size: int


def _paged(filters: Sequence[tuple[str, Any]], order: str, page: Page) -> tuple[str, list[Any]]:
    """WHERE … ORDER BY … LIMIT … OFFSET … for the filters given (a condition whose value is
    None or [] is left out; `?` is its value), and the page asked for."""
    conditions, args = [], []
    for condition, value in filters:
        if value not in (None, []):
            args.append(value)
            conditions.append(condition.replace("?", f"${len(args)}"))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    args += [page.size, (page.number - 1) * page.size]
    return f"{where} ORDER BY {order} LIMIT ${len(args) - 1} OFFSET ${len(args)}", args


async def service_requests(
    conn: Connection,
    page: Page,
    *,
    case_numbers: Sequence[str] = (),
    categories: Sequence[str] = (),
    status_in: Sequence[str] | None = None,
    status_not_in: Sequence[str] | None = None,
    filed_from: datetime | None = None,
    filed_before: datetime | None = None,
    updated_from: datetime | None = None,
    updated_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """The complaints' rows the filters given select, newest filing first."""
    where, args = _paged(
        [
            ("case_number = ANY(?::text[])", list(case_numbers)),
            ("category = ANY(?::text[])", list(categories)),
            ("status = ANY(?::text[])", status_in),
            ("status <> ALL(?::text[])", status_not_in),
            ("filed_at >= ?", filed_from),
            ("filed_at < ?", filed_before),
            ("updated_at >= ?", updated_from),
            ("updated_at < ?", updated_before),
        ],
        "filed_at DESC, case_number DESC",
        page,
    )
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM complaints{where}", *args)
    return [dict(row) for row in rows]


async def service_request(conn: Connection, case_number: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM complaints WHERE case_number = $1", case_number
    )
    return dict(row) if row else None


async def request_updates(
    conn: Connection,
    page: Page,
    *,
    since: datetime | None = None,
    before: datetime | None = None,
    case_numbers: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Every step a person can read about (of the complaints named, if any), oldest first."""
    where, args = _paged(
        [
            ("u.updated_at >= ?", since),
            ("u.updated_at < ?", before),
            ("c.case_number = ANY(?::text[])", list(case_numbers)),
        ],
        "u.updated_at, u.update_id",
        page,
    )
    rows = await conn.fetch(
        "SELECT u.update_id, c.case_number, u.status, u.description, u.updated_at "
        f"FROM complaint_updates u JOIN complaints c USING (complaint_id){where}",
        *args,
    )
    return [dict(row) for row in rows]
