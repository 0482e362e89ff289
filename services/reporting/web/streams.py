"""The console's Streams page: topics, consumer groups' lag, relays and alarms, as the sampler
(workers.sample_streams) last saw them, kept up to date by Server-Sent Events, one per look."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sse_starlette.sse import EventSourceResponse

from services.reporting.api.deps import Runtime
from services.reporting.web.pages import render
from services.reporting.web.session import CityWide

router = APIRouter(include_in_schema=False)

KEEPALIVE_S = 30.0  # the same look again when nothing new came (keeps proxies from closing)


@router.get("/console/streams")
async def streams_page(request: Request, key: CityWide, runtime: Runtime) -> Response:
    return render(
        request,
        "console/streams.html",
        key=key,
        snapshot=runtime.app.streams.snapshot(),
        alarm_after_min=runtime.settings.streams_alarm_after_s / 60,
    )


@router.get("/console/streams.json")
async def streams_json(_: CityWide, runtime: Runtime) -> JSONResponse:
    return JSONResponse(runtime.app.streams.snapshot())


@router.get("/console/streams/live")
async def streams_live(_: CityWide, runtime: Runtime) -> EventSourceResponse:
    monitor = runtime.app.streams

    async def looks() -> AsyncIterator[dict[str, str]]:
        seen = -1
        while True:
            seen = await monitor.changed(seen, KEEPALIVE_S)
            yield {"data": json.dumps(monitor.snapshot(), ensure_ascii=False)}

    return EventSourceResponse(looks())
