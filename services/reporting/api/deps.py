"""What reporting's routes take: their shared query parameters, the database pool and the
measures configuration, and the answers every keyed route may give."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

import asyncpg
from fastapi import Depends, Query, Request

from services.reporting.app import ReportingRuntime
from services.reporting.measures import MeasuresConfig
from shared.events.area import PATTERN as AREA_PATTERN
from shared.http import Problem

Format = Annotated[
    Literal["json", "csv"],
    Query(description="json，或 csv 导出全部符合条件的行 csv exports every matching row"),
]
Limit = Annotated[
    int | None,
    Query(ge=1, le=100_000, description="每页条数（JSON 默认 50） Page size (JSON default 50)"),
]
AsOf = Annotated[
    datetime | None,
    Query(
        description="计算时点（默认现在），用于判断超期 The moment time left and overdue are judged at"
    ),
]
AreaCode = Annotated[
    str | None,
    Query(
        pattern=AREA_PATTERN,
        description="区域代码，任意层级（区县/街道/社区/网格/楼栋） An area at any level",
    ),
]
MONTH = r"^(19[7-9]\d|2[01]\d\d)-(0[1-9]|1[0-2])$"  # 1970-01 … 2199-12
Month = Annotated[str, Query(pattern=MONTH, description="月份 YYYY-MM")]


def _runtime(request: Request) -> ReportingRuntime:
    runtime: ReportingRuntime = request.app.state.runtime
    return runtime


def _pool(request: Request) -> asyncpg.Pool:
    return _runtime(request).pool


def _measures(request: Request) -> MeasuresConfig:
    return _runtime(request).app.measures


Pool = Annotated[asyncpg.Pool, Depends(_pool)]
Runtime = Annotated[ReportingRuntime, Depends(_runtime)]
Config = Annotated[MeasuresConfig, Depends(_measures)]


def moment(as_of: datetime | None) -> datetime:
    """The moment a route judges time left at: `as_of`, or now."""
    if as_of is None:
        return datetime.now(UTC)
    if not 1970 <= as_of.year <= 2199:
        raise Problem(422, "as_of 须在 1970 至 2199 年之间 as_of must lie between 1970 and 2199")
    return as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC)


def page_size(fmt: str, limit: int | None) -> int | None:
    """CSV takes every matching row unless a limit is given; JSON pages by 50."""
    if fmt == "csv":
        return limit
    return limit or 50
