"""Notifications of a complaint, what waits to be sent, the dead letters, and the live stream
of status changes (Server-Sent Events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Header, Query
from sse_starlette.sse import EventSourceResponse

from services.notify import app, store
from services.notify.api import schemas
from services.notify.api.deps import AdminKey, Events, Feed, OpsKey, Pool
from services.notify.api.schemas import Redrive
from shared.answers import problem
from shared.events.area import PATTERN as AREA_PATTERN
from shared.http import Offset, Problem

router = APIRouter(tags=["通知 Notifications"])
NOT_HERE = problem(404, "不在本密钥的区域 Not in this key's area")


@router.get(
    "/notifications",
    response_model=list[schemas.Notification],
    summary="某诉求的通知 Notifications of a complaint",
    responses=NOT_HERE,
)
async def list_notifications(
    complaint_id: UUID, pool: Pool, key: OpsKey
) -> list[schemas.Notification]:
    async with pool.acquire() as conn:
        if key.area is not None:
            facts = await store.facts_of(conn, {complaint_id})
            known = facts.get(complaint_id)
            if known is None or not key.covers(known.area_code):
                raise Problem(404, f"诉求 {complaint_id} 不在本密钥的区域 No such complaint here")
        return schemas.notifications(await store.deliveries_of(conn, complaint_id))


@router.get(
    "/backlog", response_model=schemas.Backlog, summary="待发送与死信数 What waits, by channel"
)
async def backlog(pool: Pool, _: OpsKey) -> schemas.Backlog:
    async with pool.acquire() as conn:
        return schemas.Backlog(channels=await store.backlog(conn))


@router.get("/dead-letters", response_model=schemas.DeadLetters, summary="死信 Abandoned messages")
async def list_dead_letters(
    pool: Pool,
    key: OpsKey,
    channel: Annotated[str | None, Query(pattern=r"^[a-z_]{2,20}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
) -> schemas.DeadLetters:
    async with pool.acquire() as conn:
        rows = await store.dead_letters(conn, channel, limit, offset, within=key.area)
    return schemas.dead_letters(rows, limit, offset)


@router.post(
    "/dead-letters/redrive",
    response_model=schemas.Redriven,
    summary="重发死信 Send abandoned messages again",
)
async def redrive(body: Redrive, pool: Pool, events: Events, key: AdminKey) -> schemas.Redriven:
    if not (body.notification_ids or body.channel or body.all):
        raise Problem(422, "请指定 notification_ids、channel 或 all Name what to redrive")
    async with pool.acquire() as conn, conn.transaction():
        count = await app.redrive(conn, events, body.notification_ids, body.channel, key.actor)
    return schemas.Redriven(redriven=count)


@router.get(
    "/stream",
    summary="实时状态流 Live status changes (Server-Sent Events), by area and type",
    response_class=EventSourceResponse,
    responses={**schemas.EVENT_STREAM, **NOT_HERE},
)
async def stream(
    pool: Pool,
    feed: Feed,
    key: OpsKey,
    area_code: Annotated[
        str | None, Query(pattern=AREA_PATTERN, description="区域（含下级）Area")
    ] = None,
    types: Annotated[
        str | None, Query(max_length=2000, description="事件类型，逗号分隔 Types")
    ] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> EventSourceResponse:
    if key.area is not None:  # a key for one area watches that area, or a part of it
        if area_code is None:
            area_code = key.area
        elif not key.covers(area_code):
            raise Problem(404, f"区域 {area_code} 不在本密钥的区域 Not this key's area")
    wanted = frozenset(t for t in (types or "").split(",") if t)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else None

    async def events() -> AsyncIterator[dict[str, str]]:
        async for entry in feed.stream(pool, area_code, wanted, after):
            yield schemas.stream_entry(entry)

    return EventSourceResponse(events(), ping=15)
