"""What waits for staff: the triage queue (low-confidence classifications, consultations and
suspected duplicates) with a trial classification, and the callback worklist."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from services.intake import app, store
from services.intake.api import schemas
from services.intake.api.deps import (
    NO_CATALOGUE,
    STAFF,
    StaffKey,
    answer,
    catalogue_of,
    intake_of,
    runtime_of,
)
from shared import commands
from shared.http import Offset

router = APIRouter()
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get(
    "/callbacks",
    tags=[STAFF],
    summary="回访工作清单：已反馈待回访的诉求，等得最久的在前 The callback worklist",
    description=(
        "并案的诉求（已并入另一诉求）在主诉求办理反馈后也列入，由其本人回访、记在其本诉求上"
        "（`follows_case_number` 为主诉求编号）。"
        " A duplicate merged into a complaint that has been handled is listed too, for its own"
        " resident's callback, recorded on its own complaint (`follows_case_number`: the survivor)."
    ),
    response_model=schemas.CallbackWorklist,
)
async def callbacks(
    request: Request, key: StaffKey, limit: Limit = 50, offset: Offset = 0
) -> JSONResponse:
    within = timedelta(hours=intake_of(request).settings.callback_within_h)
    now = commands.now()
    async with runtime_of(request).pool.acquire() as conn:
        total, rows = await store.callback_worklist(conn, limit, offset, within=key.scope)
    items = [schemas.callback_item(row, within, now) for row in rows]
    return answer(schemas.page(total, limit, offset, items))


@router.get(
    "/triage",
    tags=[STAFF],
    summary="待人工处理队列：低置信度分类、咨询与疑似重复 Triage queue",
    response_model=schemas.TriageQueue,
)
async def triage(
    request: Request, key: StaffKey, limit: Limit = 50, offset: Offset = 0
) -> JSONResponse:
    async with runtime_of(request).pool.acquire() as conn:
        total, rows = await store.triage_queue(conn, limit, offset, within=key.scope)
    accept_within = timedelta(hours=intake_of(request).settings.triage_accept_within_h)
    now = commands.now()
    items = [schemas.triage_item(row, accept_within, now) for row in rows]
    return answer(schemas.page(total, limit, offset, items))


@router.post(
    "/classify",
    tags=[STAFF],
    summary="试分类（不受理）Classify a text without filing it",
    response_model=schemas.Classification,
    responses=NO_CATALOGUE,
)
async def classify(command: schemas.ClassifyText, request: Request, _: StaffKey) -> JSONResponse:
    settings = intake_of(request).settings
    catalogue = await catalogue_of(request)
    result = app.catalogue_classifier(catalogue).classify(command.text)
    thresholds = (settings.classify_threshold, settings.type_threshold)
    return answer(schemas.classification(result, catalogue, thresholds))
