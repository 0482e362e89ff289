"""The console's work in flight 在办: intake's triage queue (oldest first), the SLA clocks due
and late, notify's backlog by channel, the cases at risk (escalated, breached, warned), the
cases waiting for arbitration and the agendas by stage. The other services are read through
their APIs: one that does not answer is named on the page, and the rest still shows."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.reporting import operations
from services.reporting.adapters.upstream import Upstream, UpstreamError
from services.reporting.api.deps import Pool
from services.reporting.api.schemas import AGENDA_STAGES
from services.reporting.auth import ApiKey
from services.reporting.web.pages import render
from services.reporting.web.session import Anyone
from shared.events import labels
from shared.events.area import within

router = APIRouter(include_in_schema=False)
DUE_WITHIN = timedelta(hours=24)  # "due" on this page: a clock running out within a day
LISTED = 50
TRIAGE_READ = 200  # intake's largest page: the oldest this many, then the key's area of them
LEVELS = {"community": "社区", "district": "区县联席会议"}
RISKS = {"escalated": "升级督办", "breached": "已超期", "warned": "临期预警"}


async def _triage(upstream: Upstream, key: ApiKey, now: datetime) -> dict[str, Any]:
    page = await upstream.get("intake", "/triage", limit=TRIAGE_READ)
    items = [i for i in page["items"] if within(i.get("area_code"), key.area)]
    for item in items:
        item["age_s"] = (now - datetime.fromisoformat(item["filed_at"])).total_seconds()
    return {"items": items[:LISTED], "shown": len(items), "total": page["total"]}


async def _backlog(upstream: Upstream) -> dict[str, dict[str, int]]:
    answer: dict[str, dict[str, int]] = (await upstream.get("notify", "/backlog"))["channels"]
    return answer


async def _arbitration(upstream: Upstream, key: ApiKey, pool: Any) -> list[dict[str, Any]]:
    waiting = [
        c
        for c in (await upstream.get("dispatch", "/arbitration"))["cases"]
        if within(c.get("area_code"), key.area)
    ]
    async with pool.acquire() as conn:
        known = await operations.case_numbers(conn, (UUID(c["complaint_id"]) for c in waiting))
    for case in waiting:
        case["case_number"] = (known.get(UUID(case["complaint_id"])) or {}).get("case_number")
    waiting.sort(key=lambda c: c["updated_at"])
    return waiting


async def _answer(service: str, call: Callable[[], Awaitable[Any]], failed: dict[str, str]) -> Any:
    """The section's data, or None with the service's failure noted."""
    try:
        return await call()
    except UpstreamError as error:
        failed[service] = error.detail
        return None


@router.get("/console/flight")
async def work_in_flight(request: Request, key: Anyone, pool: Pool) -> Response:
    upstream: Upstream = request.app.state.runtime.app.upstream
    now = datetime.now(UTC)
    failed: dict[str, str] = {}
    triage, backlog, arbitration = await asyncio.gather(
        _answer("intake", lambda: _triage(upstream, key, now), failed),
        _answer("notify", lambda: _backlog(upstream), failed),
        _answer("dispatch", lambda: _arbitration(upstream, key, pool), failed),
    )
    async with pool.acquire() as conn:
        clock_counts, clocks = await operations.clocks_due(
            conn, key.area, now, DUE_WITHIN.total_seconds(), LISTED
        )
        risk_counts, at_risk = await operations.cases_at_risk(conn, key.area, LISTED)
        stages = await operations.agenda_stages(conn, key.area)
    return render(
        request,
        "console/flight.html",
        key=key,
        failed=failed,
        triage=triage,
        backlog=backlog,
        arbitration=arbitration,
        clock_counts=clock_counts,
        clocks=clocks,
        clock_names=labels.CLOCK,
        risk_counts=risk_counts,
        at_risk=at_risk,
        risks=RISKS,
        stages=stages,
        stage_names=AGENDA_STAGES,
        levels=LEVELS,
        due_within_h=int(DUE_WITHIN.total_seconds() // 3600),
    )
