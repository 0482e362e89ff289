"""Intake's HTTP routes."""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.intake import domain, store
from services.intake.settings import IntakeSettings
from shared.envelope import Causation
from shared.http import Problem
from shared.runtime import ServiceRuntime

router = APIRouter(tags=["诉求受理 Complaints"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="重试同一请求时使用相同的键 Same key on retry → same complaint",
    ),
]


class ComplaintAccepted(BaseModel):
    complaint_id: uuid.UUID
    case_number: str
    status: str
    filed_at: datetime
    resident_ref: str
    masked_phone: str | None


def _request_hash(command: domain.FileComplaint) -> str:
    canonical = json.dumps(command.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _created(body: dict[str, Any], replayed: bool = False) -> JSONResponse:
    headers = {"Location": f"/complaints/{body['complaint_id']}"}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=201, headers=headers)


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintAccepted,
    summary="受理诉求 File a complaint",
    responses={422: {"description": "请求参数有误 Invalid request (problem+json)"}},
)
async def file_complaint(
    command: domain.FileComplaint,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    runtime: ServiceRuntime = request.app.state.runtime
    settings: IntakeSettings = runtime.settings  # type: ignore[assignment]
    correlation = request.headers.get("X-Correlation-ID")
    try:
        causation = Causation.start(uuid.UUID(correlation) if correlation else None)
    except ValueError:
        raise Problem(
            422, "X-Correlation-ID 须为 UUID must be a UUID", field="X-Correlation-ID"
        ) from None
    async with runtime.pool.acquire() as conn, conn.transaction():
        if idempotency_key is not None:
            request_hash = _request_hash(command)
            earlier = await store.claim_idempotency_key(conn, idempotency_key, request_hash)
            if earlier is not None:
                if earlier.request_hash != request_hash:
                    raise Problem(
                        422,
                        "该 Idempotency-Key 已用于另一请求 This Idempotency-Key was used for a different request",
                        field="Idempotency-Key",
                    )
                return _created(earlier.response, replayed=True)
        complaint_id = uuid.uuid4()
        filed_at = datetime.now(UTC)
        number = domain.case_number(await store.next_case_sequence(conn), filed_at)
        resident = domain.resident_ref(command.contact.phone, settings.resident_pepper)
        events = domain.file_complaint(
            command, complaint_id=complaint_id, number=number, resident=resident, filed_at=filed_at
        )
        await store.store_contact(
            conn, settings.master_key_bytes, resident, complaint_id, command.contact
        )
        await runtime.store.append(conn, f"complaint-{complaint_id}", events, causation, 0)
        body = ComplaintAccepted(
            complaint_id=complaint_id,
            case_number=number,
            status="filed",
            filed_at=filed_at,
            resident_ref=resident,
            masked_phone=events[0].masked_phone,
        ).model_dump(mode="json")
        if idempotency_key is not None:
            await store.record_response(conn, idempotency_key, 201, body)
    # Only now, after the commit, is the complaint acknowledged: a 201 is never lost.
    return _created(body)


@router.get(
    "/complaints/{complaint_id}",
    summary="查询诉求（受理方视图）Complaint as intake holds it",
    responses={404: {"description": "未找到 Not found"}},
)
async def get_complaint(complaint_id: uuid.UUID, request: Request) -> dict[str, Any]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        history = await runtime.store.read_stream(conn, f"complaint-{complaint_id}")
    if not history:
        raise Problem(404, f"诉求 {complaint_id} 不存在 No such complaint")
    return {
        "complaint_id": str(complaint_id),
        "events": [
            {
                "type": recorded.type,
                "position": recorded.position,
                "recorded_at": recorded.recorded_at.isoformat(),
                "data": recorded.data,
            }
            for recorded in history
        ],
    }
