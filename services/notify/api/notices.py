"""Area notices (区域通知): staff of an area post a notice (a planned outage, a meeting, a
consultation) to the residents who consented to notices for a home there, and follow how its
messages went."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.notify import app, notice_store
from services.notify.api import schemas
from services.notify.api.deps import Events, NoticeReader, Pool, StaffKey
from services.notify.auth import ApiKey, Role
from shared.answers import problem
from shared.db import Connection
from shared.http import Answer, Correlation, Offset, Problem, once
from shared.idempotency import IdempotencyKey

router = APIRouter(tags=["区域通知 Notices"])
NOT_HERE = problem(404, "没有该通知，或不在本密钥的区域 No such notice here")


@router.post(
    "/notices",
    status_code=201,
    response_model=schemas.NoticeView,
    summary="向区域居民发布通知 Post a notice to an area's residents",
    description=(
        "社区居委会、街道或小区物业向本区域（社区、小区、楼栋、单元）内已同意接收通知的居民发布"
        "停水停电、会议、征求意见等通知：每位居民只收到一次（按其选择的方式），发送与重试同其他"
        "消息。 Staff post a notice to every resident who consented to notices for a home within"
        " the area, each resident once, by their own channels, sent and retried as every message"
        " is. An `Idempotency-Key` makes a retried post the same notice."
    ),
    responses=problem(404, "不在本密钥的区域 Not in this key's area"),
)
async def post_notice(
    body: schemas.PostNotice,
    request: Request,
    events: Events,
    key: StaffKey,
    correlation: Correlation,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    if not key.covers(body.area_code):
        raise Problem(404, f"区域 {body.area_code} 不在本密钥的区域 Not this key's area")
    draft = app.NoticeDraft(
        area_code=body.area_code,
        kind=body.kind,
        title=body.title,
        body=body.body,
        sender_name=body.sender_name or key.name,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        send_at=body.send_at,
    )

    async def produce(conn: Connection) -> Answer:
        notice = await app.post_notice(conn, events, draft, key.actor, key.key_id, correlation)
        row = await notice_store.notice(conn, notice.notice_id)
        assert row is not None
        return 201, schemas.notice_view(row).model_dump(mode="json")

    return await once(
        request, key.key_id, "notice", idempotency_key, body.model_dump(mode="json"), produce
    )


def _may_read(key: ApiKey, row: dict[str, object]) -> bool:
    """Its sender, or a key whose area holds the notice's (admin: any)."""
    return row["key_id"] == key.key_id or key.covers(str(row["area_code"]))


@router.get(
    "/notices",
    response_model=schemas.Notices,
    summary="区域通知 Notices posted in this key's area, newest first",
)
async def list_notices(
    pool: Pool,
    key: NoticeReader,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Offset = 0,
) -> schemas.Notices:
    async with pool.acquire() as conn:
        rows = await notice_store.notices(
            conn, key.area, key.key_id if key.role is not Role.ADMIN else None, limit, offset
        )
    return schemas.Notices(
        notices=[schemas.notice_view(r) for r in rows], limit=limit, offset=offset
    )


@router.get(
    "/notices/{notice_id}",
    response_model=schemas.NoticeStatus,
    summary="通知送达情况 How a notice's delivery stands",
    description=(
        "按状态统计的消息数、已送达的居民数，以及每条消息（收件人脱敏）。"
        " Messages by status, residents reached, and each message with its recipient masked."
    ),
    responses=NOT_HERE,
)
async def notice_status(notice_id: UUID, pool: Pool, key: NoticeReader) -> schemas.NoticeStatus:
    async with pool.acquire() as conn:
        row = await notice_store.notice(conn, notice_id)
        if row is None or not _may_read(key, row):
            raise Problem(404, f"通知 {notice_id} 不存在 No such notice")
        deliveries = await notice_store.notice_deliveries(conn, notice_id)
    return schemas.notice_status(row, deliveries)
