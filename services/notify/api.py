"""Notify's HTTP routes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request

from services.notify import store
from shared.runtime import ServiceRuntime

router = APIRouter(tags=["通知 Notifications"])


@router.get("/notifications", summary="某诉求的通知 Notifications of a complaint")
async def list_notifications(request: Request, complaint_id: UUID) -> list[dict[str, Any]]:
    runtime: ServiceRuntime = request.app.state.runtime
    async with runtime.pool.acquire() as conn:
        return await store.deliveries_of(conn, complaint_id)
