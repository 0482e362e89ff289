"""Dispatch's SQL: city model versions and the work-order table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from services.dispatch.domain import CityFile, CityModel
from shared.db import Connection
from shared.events import WorkOrderIssued

CITY_STREAM = "city-model"


class CityModelCache:
    """The newest city model, re-read only when its version changes (several workers may load)."""

    def __init__(self) -> None:
        self._model: CityModel | None = None

    async def current(self, conn: Connection) -> CityModel | None:
        version = await conn.fetchval("SELECT max(version) FROM city_models")
        if version is None:
            return None
        if self._model is None or self._model.version != version:
            body = await conn.fetchval("SELECT body FROM city_models WHERE version = $1", version)
            self._model = CityModel(CityFile.model_validate(body), version)
        return self._model


async def latest_city(conn: Connection) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT version, checksum, loaded_at, body FROM city_models ORDER BY version DESC LIMIT 1"
    )


async def save_city(conn: Connection, city: CityFile) -> int:
    version: int = await conn.fetchval(
        "INSERT INTO city_models (checksum, body) VALUES ($1, $2) RETURNING version",
        city.checksum(),
        city.model_dump(mode="json"),
    )
    return version


async def insert_work_order(conn: Connection, order: WorkOrderIssued) -> None:
    await conn.execute(
        """
        INSERT INTO work_orders (work_order_id, complaint_id, responder_id, role, status,
                                 priority, rule_id, catalogue_version, due_at, issued_at)
        VALUES ($1, $2, $3, $4, 'issued', $5, $6, $7, $8, $9)
        """,
        order.work_order_id,
        order.complaint_id,
        order.responder_id,
        order.role.value,
        order.priority,
        order.rule_id,
        order.catalogue_version,
        order.due_at,
        order.issued_at,
    )


async def work_orders_of(conn: Connection, complaint_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT * FROM work_orders WHERE complaint_id = $1 ORDER BY role DESC, issued_at",
        complaint_id,
    )
    return [dict(row) for row in rows]
