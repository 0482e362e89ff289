"""The read models themselves: their versions and last rebuild, for operators."""

from __future__ import annotations

from fastapi import APIRouter

from services.reporting import store
from services.reporting.api import schemas
from services.reporting.api.deps import Pool
from services.reporting.api.schemas import ReadModel
from services.reporting.auth import OPERATOR
from services.reporting.projections import MODELS

router = APIRouter(tags=["读模型 Read models"])


@router.get(
    "/read-models",
    response_model=list[ReadModel],
    summary="读模型及最近一次重建 The read models and their last rebuild",
    dependencies=[OPERATOR],
)
async def get_read_models(pool: Pool) -> list[ReadModel]:
    async with pool.acquire() as conn:
        built = await store.rebuilds(conn)
    return schemas.read_models(list(MODELS.values()), built)
