"""The catalogue as intake follows it from dispatch's city model (which only dispatch loads)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.intake.api import schemas
from services.intake.api.deps import NO_CATALOGUE, ChannelKey, answer, catalogue_of

router = APIRouter()


@router.get(
    "/admin/catalogue",
    tags=["城市目录 Catalogue"],
    summary="当前目录 The current catalogue, as followed from dispatch's city model",
    response_model=schemas.CurrentCatalogue,
    responses=NO_CATALOGUE,
)
async def current_catalogue(request: Request, _: ChannelKey) -> JSONResponse:
    return answer(schemas.current_catalogue(await catalogue_of(request)))
