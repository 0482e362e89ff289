"""The console's measures 统计: 三率 and the other rates by street, unit, category or month
(charts and a table), the monthly rankings, hot spots, 未诉先办 candidates and 每月一题
suggestions; the same queries as reporting's measures and insights routes, within the key's
area where a query takes one (the rankings and the month's topics are the city's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from services.reporting import insights, measures, store
from services.reporting.api.deps import MONTH, Config, Pool
from services.reporting.web.pages import render
from services.reporting.web.session import Anyone

router = APIRouter(include_in_schema=False)
GROUPS = {
    "street": "街道 Street",
    "responder": "承办单位 Unit",
    "category": "类别 Category",
    "month": "月份 Month",
}
THREE_RATES = ("response_rate", "resolution_rate", "satisfaction_rate")  # 三率
TREND_MONTHS = 12
LISTED = 10


def _month_shift(month: str, shift: int) -> str:
    year, number = map(int, month.split("-"))
    index = year * 12 + number - 1 + shift
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _label(row: dict[str, Any], group: str, names: dict[str, str]) -> str:
    key = row["key"]
    code = key.get(group)
    return str(key.get(f"{group}_name") or names.get(code or "") or code or "未定 none")


@router.get("/console/measures")
async def measures_page(
    request: Request,
    key: Anyone,
    pool: Pool,
    config: Config,
    group: Annotated[Literal["street", "responder", "category", "month"], Query()] = "street",
    month: Annotated[str | None, Query(pattern=MONTH)] = None,
) -> Response:
    now = datetime.now(UTC)
    month = month or now.astimezone(ZoneInfo(config.timezone)).strftime("%Y-%m")
    first = _month_shift(month, 1 - TREND_MONTHS)
    in_month = measures.CubeFilter(month_from=month, month_to=month, area_code=key.area)
    over_year = measures.CubeFilter(month_from=first, month_to=month, area_code=key.area)
    async with pool.acquire() as conn:
        rows = await measures.cube(
            conn, config, [group], over_year if group == "month" else in_month, now
        )
        trend = await measures.cube(conn, config, ["month"], over_year, now)
        rankings = [
            await measures.ranking(conn, config, name, month, now)
            for name in config.rankings.groups()
        ]
        hotspots = await insights.hotspots(conn, config, "community", now, None, key.area, None)
        recurring = await insights.recurring(conn, config, now, key.area, None)
        topics = await insights.monthly_topics(conn, config, month)
        categories = await store.category_names(
            conn, (r["key"]["category"] for r in rows if group == "category")
        )
    names = {name: m.name for name, m in config.measures.items()}  # the rates' Chinese names
    charts = {
        "rates": [names[r] for r in THREE_RATES],
        "by_group": {
            "labels": [_label(r, group, categories) for r in rows],
            "volume": [r["values"].get("volume") for r in rows],
            "series": {names[r]: [row["values"].get(r) for row in rows] for r in THREE_RATES},
        },
        "trend": {
            "labels": [str(r["key"]["month"]) for r in trend],
            "volume": [r["values"].get("volume") for r in trend],
            "series": {names[r]: [row["values"].get(r) for row in trend] for r in THREE_RATES},
        },
    }
    return render(
        request,
        "console/measures.html",
        key=key,
        group=group,
        groups=GROUPS,
        month=month,
        config=config,
        rows=[(_label(r, group, categories), r) for r in rows],
        rankings=rankings,
        hotspots=hotspots[:LISTED],
        recurring=recurring[:LISTED],
        topics=topics,
        charts=charts,
    )
