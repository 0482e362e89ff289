"""Reporting's SQL: upserts that commute, and the case queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from shared.db import Connection
from shared.events import ComplaintFiled, NotificationDelivered, NotificationFailed, WorkOrderIssued


async def add_timeline(
    conn: Connection,
    event_id: UUID,
    complaint_id: UUID,
    event_type: str,
    occurred_at: datetime,
    source: str,
    summary: str,
) -> None:
    await conn.execute(
        "INSERT INTO case_timeline (event_id, complaint_id, type, occurred_at, source, summary) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        event_id,
        complaint_id,
        event_type,
        occurred_at,
        source,
        summary,
    )


async def record_filed(conn: Connection, event: ComplaintFiled) -> None:
    await conn.execute(
        """
        INSERT INTO cases (complaint_id, case_number, channel, category, area_code, address,
                           masked_phone, filed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        ON CONFLICT (complaint_id) DO UPDATE SET
            case_number = EXCLUDED.case_number, channel = EXCLUDED.channel,
            category = EXCLUDED.category, area_code = EXCLUDED.area_code,
            address = EXCLUDED.address, masked_phone = EXCLUDED.masked_phone,
            filed_at = EXCLUDED.filed_at, updated_at = now()
        """,
        event.complaint_id,
        event.case_number,
        event.channel.value,
        event.category,
        event.area_code,
        event.address,
        event.masked_phone,
        event.filed_at,
    )


async def record_work_order(conn: Connection, event: WorkOrderIssued) -> None:
    await conn.execute(
        """
        INSERT INTO case_work_orders (work_order_id, complaint_id, responder_id, responder_name,
            responder_kind, role, priority, rule_id, reason, due_at, issued_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (work_order_id) DO NOTHING
        """,
        event.work_order_id,
        event.complaint_id,
        event.responder_id,
        event.responder_name,
        event.responder_kind,
        event.role.value,
        event.priority,
        event.rule_id,
        event.reason,
        event.due_at,
        event.issued_at,
    )
    if event.role == "lead":
        await conn.execute(
            """
            INSERT INTO cases (complaint_id, lead_responder_id, lead_responder_name, dispatched_at)
            VALUES ($1, $2, $3, $4)
            ON CONFLICT (complaint_id) DO UPDATE SET
                lead_responder_id = EXCLUDED.lead_responder_id,
                lead_responder_name = EXCLUDED.lead_responder_name,
                dispatched_at = EXCLUDED.dispatched_at, updated_at = now()
            """,
            event.complaint_id,
            event.responder_id,
            event.responder_name,
            event.issued_at,
        )


async def record_notification(
    conn: Connection, event: NotificationDelivered | NotificationFailed
) -> None:
    if isinstance(event, NotificationDelivered):
        status, error, at = "delivered", None, event.delivered_at
    else:
        status = "retrying" if event.retry_at else "abandoned"
        error, at = event.error, event.failed_at
    # A delivered notification stays delivered, whatever attempt is replayed after it.
    await conn.execute(
        """
        INSERT INTO case_notifications (notification_id, complaint_id, audience, recipient,
            channel, template, status, attempts, last_error, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (notification_id) DO UPDATE SET
            status = CASE WHEN case_notifications.status = 'delivered' THEN 'delivered'
                          WHEN EXCLUDED.attempts >= case_notifications.attempts THEN EXCLUDED.status
                          ELSE case_notifications.status END,
            last_error = CASE WHEN EXCLUDED.attempts >= case_notifications.attempts
                              THEN EXCLUDED.last_error ELSE case_notifications.last_error END,
            attempts = greatest(case_notifications.attempts, EXCLUDED.attempts),
            updated_at = greatest(case_notifications.updated_at, EXCLUDED.updated_at)
        """,
        event.notification_id,
        event.complaint_id,
        event.audience.value,
        event.recipient,
        event.channel,
        event.template,
        status,
        event.attempt,
        error,
        at,
    )
    # Make sure the case exists even if its filing has not arrived yet.
    await conn.execute(
        "INSERT INTO cases (complaint_id) VALUES ($1) ON CONFLICT DO NOTHING", event.complaint_id
    )


@dataclass(frozen=True, slots=True)
class CaseFilter:
    status: str | None = None
    area_code: str | None = None
    category: str | None = None
    channel: str | None = None
    responder_id: str | None = None
    filed_from: datetime | None = None
    filed_to: datetime | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.format(f"${len(args)}"))

        if self.status == "dispatched":
            clauses.append("lead_responder_id IS NOT NULL")
        elif self.status == "filed":
            clauses.append("lead_responder_id IS NULL AND filed_at IS NOT NULL")
        elif self.status == "pending":
            clauses.append("lead_responder_id IS NULL AND filed_at IS NULL")
        if self.area_code:
            add("area_code LIKE {} || '%'", self.area_code)
        if self.category:
            add("category = {}", self.category)
        if self.channel:
            add("channel = {}", self.channel)
        if self.responder_id:
            add("lead_responder_id = {}", self.responder_id)
        if self.filed_from:
            add("filed_at >= {}", self.filed_from)
        if self.filed_to:
            add("filed_at < {}", self.filed_to)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


async def find_cases(
    conn: Connection, case_filter: CaseFilter, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    where, args = case_filter.where()
    total: int = await conn.fetchval(f"SELECT count(*) FROM cases{where}", *args)
    rows = await conn.fetch(
        f"SELECT * FROM cases{where} ORDER BY filed_at DESC NULLS LAST, complaint_id "
        f"LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}",
        *args,
        limit,
        offset,
    )
    return total, [dict(row) for row in rows]


async def get_case(conn: Connection, complaint_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM cases WHERE complaint_id = $1", complaint_id)
    if row is None:
        return None
    case = dict(row)
    case["work_orders"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT * FROM case_work_orders WHERE complaint_id = $1 "
            "ORDER BY role DESC, issued_at, work_order_id",
            complaint_id,
        )
    ]
    case["notifications"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT * FROM case_notifications WHERE complaint_id = $1 "
            "ORDER BY updated_at, notification_id",
            complaint_id,
        )
    ]
    case["timeline"] = [
        dict(r)
        for r in await conn.fetch(
            "SELECT event_id, type, occurred_at, projected_at, source, summary FROM case_timeline "
            "WHERE complaint_id = $1 ORDER BY occurred_at, event_id",
            complaint_id,
        )
    ]
    return case
