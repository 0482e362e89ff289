"""Hot spots 热点, recurring problems as 未诉先办 candidates, and 每月一题 suggestions."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.reporting.measures import _EXCLUDED, DIMENSIONS, MeasuresConfig
from services.reporting.store import Where, area_names, category_names, sql_within
from shared.db import Connection

_VALID = f"c.filed_at IS NOT NULL AND c.category IS NOT NULL AND NOT {_EXCLUDED}"


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _slope(series: list[int]) -> float:
    """Least-squares change per week."""
    n = len(series)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(series) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(series))
    den = sum((x - mean_x) ** 2 for x in range(n))
    return round(num / den, 3)


async def hotspots(
    conn: Connection,
    config: MeasuresConfig,
    level: str,
    as_of: datetime,
    weeks: int | None = None,
    area: str | None = None,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """Category × area counts for each of the last `weeks` weeks (Monday to Sunday, China time)."""
    weeks = weeks or config.insights.hotspot_weeks
    tz = ZoneInfo(config.timezone)
    last_monday = _monday(as_of.astimezone(tz).date())
    first_monday = last_monday - timedelta(weeks=weeks - 1)
    start = datetime.combine(first_monday, datetime.min.time(), tz)
    column = DIMENSIONS[level][0]
    where = Where(
        _VALID,
        "c.filed_at >= $2",
        "c.filed_at <= $3",
        f"{column} IS NOT NULL",
        args=[config.timezone, start, as_of],
    )
    where.within(area)
    where.add("c.category = {}", category)
    rows = await conn.fetch(
        f"""
        SELECT {column} AS area, c.category,
               date_trunc('week', c.filed_at AT TIME ZONE $1)::date AS week, count(*) AS n
        FROM cases c{where.sql} GROUP BY 1, 2, 3
        """,
        *where.args,
    )
    series: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * weeks)
    for row in rows:
        index = (row["week"] - first_monday).days // 7
        if 0 <= index < weeks:
            series[(row["area"], row["category"])][index] += row["n"]
    names = await area_names(conn, {a for a, _ in series})
    categories = await category_names(conn, {c for _, c in series})
    out: list[dict[str, Any]] = []
    for (code, cat), counts in series.items():
        previous = counts[:-1]
        baseline = sum(previous) / len(previous) if previous else 0.0
        out.append(
            {
                "area": code,
                "area_name": names.get(code),
                "level": level,
                "category": cat,
                "category_name": categories.get(cat),
                "total": sum(counts),
                "this_week": counts[-1],
                "weekly": counts,
                "weeks_from": first_monday.isoformat(),
                "trend": _slope(counts),
                "change_vs_average": round(counts[-1] - baseline, 2),
            }
        )
    out.sort(key=lambda h: (-h["total"], -h["trend"], h["area"], h["category"]))
    return out


def _season_year(day: date, months: list[int]) -> int:
    """A season that runs over New Year (供暖季 Nov–Mar) belongs to the year it began in."""
    first = months[0]
    wraps = any(m < first for m in months)
    return day.year - 1 if wraps and day.month < first else day.year


async def recurring(
    conn: Connection,
    config: MeasuresConfig,
    as_of: datetime,
    area: str | None = None,
    category: str | None = None,
) -> list[dict[str, Any]]:
    """Places (a building, else a grid) where the same category comes back: again and again,
    or in the same season of different years, in residents' matters or on grid workers'
    patrols. Each comes with its evidence."""
    rules = config.insights.recurring
    tz = ZoneInfo(config.timezone)
    where = Where(
        _VALID,
        "c.place_code IS NOT NULL",
        "c.filed_at >= $1",
        "c.filed_at <= $2",
        args=[as_of - timedelta(days=rules.lookback_days), as_of],
    )
    # What patrols found and only noted (a finding fixed or reported is a case already)
    # counts too: a place found again and again recurs even when no resident complained.
    found = Where(
        "f.outcome = 'noted'",
        "f.place_code IS NOT NULL",
        "f.category IS NOT NULL",
        "f.found_at >= $1",
        "f.found_at <= $2",
    )
    if area:
        at = where.param(area)
        where.clauses.append(sql_within(at))
        found.clauses.append(sql_within(at, "f"))
    if category:
        at = where.param(category)
        where.clauses.append(f"c.category = {at}")
        found.clauses.append(f"f.category = {at}")
    rows = await conn.fetch(
        f"""
        SELECT place_code, category, complaint_id, case_number, filed_at, area_code,
               street_code, community_code, on_patrol
        FROM (
            SELECT m.*, count(*) OVER (PARTITION BY m.place_code, m.category) AS n
            FROM (
                SELECT c.place_code, c.category, c.complaint_id, c.case_number, c.filed_at,
                       c.area_code, c.street_code, c.community_code,
                       c.patrol_id IS NOT NULL AS on_patrol
                FROM cases c{where.sql}
                UNION ALL
                SELECT f.place_code, f.category, NULL, NULL, f.found_at, f.area_code,
                       f.street_code, f.community_code, true
                FROM patrol_findings f{found.sql}
            ) m
        ) c WHERE n >= 2 ORDER BY place_code, category, filed_at
        """,
        *where.args,
    )
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in rows:
        groups[(row["place_code"], row["category"])].append(row)
    names = await area_names(
        conn, {p for p, _ in groups} | {r["community_code"] for r in rows if r["community_code"]}
    )
    categories = await category_names(conn, {c for _, c in groups})
    out = []
    for (place, cat), cases in groups.items():
        local_days = [r["filed_at"].astimezone(tz).date() for r in cases]
        months = sorted({d.strftime("%Y-%m") for d in local_days})
        reasons = []
        if len(cases) >= rules.min_cases and len(months) >= rules.min_periods:
            reasons.append(f"{len(months)} 个月内反复出现 {len(cases)} 次")
        for season, season_months in rules.seasons.items():
            years = sorted(
                {_season_year(d, season_months) for d in local_days if d.month in season_months}
            )
            if len(years) >= 2:
                reasons.append(f"连续{len(years)}年{season}出现（{'、'.join(map(str, years))}）")
        if not reasons:
            continue
        out.append(
            {
                "place": place,
                "place_name": names.get(place),
                "community_name": names.get(cases[0]["community_code"]),
                "category": cat,
                "category_name": categories.get(cat),
                "cases": len(cases),
                "found_on_patrol": sum(r["on_patrol"] for r in cases),
                "months": months,
                "first_at": cases[0]["filed_at"],
                "last_at": cases[-1]["filed_at"],
                "reasons": reasons,
                "suggestion": f"建议未诉先办：在{names.get(place) or place}主动排查{categories.get(cat) or cat}问题",
                "evidence": [
                    {
                        "case_number": r["case_number"],
                        "complaint_id": r["complaint_id"],
                        "filed_at": r["filed_at"],
                        "on_patrol": r["on_patrol"],
                    }
                    for r in cases[-20:]
                ],
            }
        )
    out.sort(key=lambda r: (-r["cases"], r["place"], r["category"]))
    return out


def _month_start(month: str, tz: ZoneInfo, shift: int = 0) -> datetime:
    year, number = map(int, month.split("-"))
    index = year * 12 + number - 1 + shift
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=tz)


async def monthly_topics(
    conn: Connection, config: MeasuresConfig, month: str
) -> list[dict[str, Any]]:
    """每月一题 suggestions: the month's fastest-rising categories against the months before."""
    rules = config.insights.monthly_topic
    tz = ZoneInfo(config.timezone)
    start, end = _month_start(month, tz), _month_start(month, tz, 1)
    base_start = _month_start(month, tz, -rules.baseline_months)
    rows = await conn.fetch(
        f"""
        SELECT c.category, count(*) FILTER (WHERE c.filed_at >= $2) AS this_month,
               count(*) FILTER (WHERE c.filed_at < $2) AS before,
               count(DISTINCT c.street_code) FILTER (WHERE c.filed_at >= $2) AS streets
        FROM cases c WHERE {_VALID} AND c.filed_at >= $1 AND c.filed_at < $3
        GROUP BY c.category
        """,
        base_start.astimezone(UTC),
        start.astimezone(UTC),
        end.astimezone(UTC),
    )
    categories = await category_names(conn, {r["category"] for r in rows})
    out = []
    for row in rows:
        baseline = row["before"] / rules.baseline_months
        rise = row["this_month"] - baseline
        if row["this_month"] < rules.min_cases or rise <= 0:
            continue
        out.append(
            {
                "category": row["category"],
                "category_name": categories.get(row["category"]),
                "month": month,
                "cases": row["this_month"],
                "baseline": round(baseline, 2),
                "rise": round(rise, 2),
                "growth": round(rise / baseline, 3) if baseline else None,
                "streets": row["streets"],
            }
        )
    out.sort(key=lambda t: (-t["rise"], -t["cases"], t["category"]))
    top = out[: rules.suggestions]
    for topic in top:
        topic["areas"] = await _top_areas(conn, topic["category"], start, end)
    return top


async def _top_areas(
    conn: Connection, category: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""
        SELECT c.street_code AS code, count(*) AS n FROM cases c
        WHERE {_VALID} AND c.category = $1 AND c.filed_at >= $2 AND c.filed_at < $3
          AND c.street_code IS NOT NULL
        GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 3
        """,
        category,
        start,
        end,
    )
    names = await area_names(conn, {r["code"] for r in rows})
    return [
        {"street": r["code"], "street_name": names.get(r["code"]), "cases": r["n"]} for r in rows
    ]
