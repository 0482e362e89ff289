"""Dispatch's HTTP routes: the city model (admin), routing previews and work orders."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Query, Request

from services.dispatch import domain, store
from shared.envelope import Causation
from shared.events import CityModelLoaded
from shared.eventstore import ConcurrencyError
from shared.http import Problem, parse_document
from shared.runtime import ServiceRuntime

router = APIRouter()


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


@router.put(
    "/admin/city",
    tags=["城市模型 City model"],
    summary="载入城市模型与派单目录 Load a city model and dispatch catalogue (JSON or YAML)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": domain.CityFile.model_json_schema()},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
async def load_city(request: Request) -> dict[str, Any]:
    runtime = _runtime(request)
    city = parse_document(
        await request.body(), request.headers.get("content-type", ""), domain.CityFile, "城市模型"
    )
    async with runtime.pool.acquire() as conn, conn.transaction():
        latest = await store.latest_city(conn)
        if latest is not None and latest["checksum"] == city.checksum():
            return {
                "changed": False,
                "catalogue_version": latest["version"],
                "checksum": latest["checksum"],
            }
        version = await store.save_city(conn, city)
        history = await runtime.store.read_stream(conn, store.CITY_STREAM)
        event = CityModelLoaded(
            catalogue_version=version,
            checksum=city.checksum(),
            city_name=city.city,
            areas=len(city.areas),
            responders=len(city.responders),
            rules=len(city.catalogue),
            loaded_at=datetime.now(UTC),
        )
        try:
            await runtime.store.append(
                conn, store.CITY_STREAM, [event], Causation.start(), len(history)
            )
        except ConcurrencyError:
            raise Problem(
                409, "城市模型正被同时修改，请重试 Another load is in progress; retry"
            ) from None
    return {"changed": True, **event.model_dump(mode="json")}


@router.get("/admin/city", tags=["城市模型 City model"], summary="当前城市模型 Current city model")
async def current_city(request: Request) -> dict[str, Any]:
    async with _runtime(request).pool.acquire() as conn:
        latest = await store.latest_city(conn)
    if latest is None:
        raise Problem(404, "尚未载入城市模型 No city model loaded yet")
    return {
        "catalogue_version": latest["version"],
        "checksum": latest["checksum"],
        "loaded_at": latest["loaded_at"].isoformat(),
        "city": latest["body"],
    }


@router.get(
    "/routing",
    tags=["派单 Routing"],
    summary="派单预览：某类别某区域会派给谁 Where would a complaint be routed, and why",
)
async def preview_routing(
    request: Request,
    area_code: str = Query(pattern=domain.AREA_CODE, description="区划代码 Area code"),
    category: str | None = Query(None, description="类别代码 Category code"),
) -> dict[str, Any]:
    runtime = _runtime(request)
    cache: store.CityModelCache = runtime.state["city"]
    async with runtime.pool.acquire() as conn:
        model = await cache.current(conn)
    if model is None:
        raise Problem(404, "尚未载入城市模型 No city model loaded yet")
    decision = domain.route(model, category, area_code)
    return {
        "lead": {"id": decision.lead.id, "name": decision.lead.name, "kind": decision.lead.kind},
        "co": [{"id": r.id, "name": r.name, "kind": r.kind} for r in decision.co],
        "rule_id": decision.rule_id,
        "priority": decision.priority,
        "reason": decision.reason,
        "catalogue_version": model.version,
    }


@router.get(
    "/work-orders", tags=["工单 Work orders"], summary="某诉求的工单 Work orders of a complaint"
)
async def list_work_orders(request: Request, complaint_id: UUID) -> list[dict[str, Any]]:
    async with _runtime(request).pool.acquire() as conn:
        return await store.work_orders_of(conn, complaint_id)
