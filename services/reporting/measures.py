"""The measures cube 统计指标 and the monthly ranking 月度排名.

Counts are SQL over the "cases" model's facts (COUNTS below, each with its definition);
which counts make which rate, and the composite score's weights, are configuration
(measures.yaml). Every measure of a matter counts in the month it was filed (China time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.reporting import rounds, store
from services.reporting.governance import governance_counts
from services.reporting.store import sql_within
from shared.db import Connection
from shared.events.area import AreaLevel
from shared.events.labels import AREA_LEVEL

# --- the counts -------------------------------------------------------------------------------

# A matter outside every denominator: a consultation, a merged duplicate, a withdrawal, or a
# case dispatch stopped.
_EXCLUDED = (
    "(coalesce(c.type, '') = 'consultation' OR coalesce(c.status, '') IN ('merged', 'withdrawn') "
    "OR coalesce(c.dispatch_state, '') = 'cancelled')"
)
_KEPT = "(NOT " + _EXCLUDED + ")"
# Whose rating counts: a merged duplicate's resident is called back on their own complaint once
# the survivor is handled, so each resident's rating is counted once, on their own complaint.
_RATED = (
    "(NOT (coalesce(c.type, '') = 'consultation' OR coalesce(c.status, '') = 'withdrawn' "
    "OR coalesce(c.dispatch_state, '') = 'cancelled'))"
)

# An order counts unless dispatch withdrew it before the unit signed (reclassified, withdrawn).
_ORDER = "(NOT (o.cancelled_at IS NOT NULL AND o.signed_at IS NULL AND o.returned_at IS NULL))"
_KEPT_ORDER = f"({_ORDER} AND o.returned_at IS NULL)"
# Whether it was signed in time is known once it is signed or returned, or its time is up.
_SIGNING_SETTLED = (
    "(o.signed_at IS NOT NULL OR o.returned_at IS NOT NULL OR o.sign_due_at IS NULL"
    " OR o.sign_due_at <= $1)"
)
# Whether the lead responded in time is known once it contacted, or either time is up.
_RESPONSE_SETTLED = (
    "(o.contacted_at IS NOT NULL OR o.sign_due_at <= $1 OR o.contact_due_at <= $1"
    " OR o.contact_due_at IS NULL)"
)
_SIGNED_ON_TIME = (
    "(o.signed_at IS NOT NULL AND (o.sign_due_at IS NULL OR o.signed_at <= o.sign_due_at))"
)
_CONTACTED_ON_TIME = "(o.contacted_at IS NOT NULL AND (o.contact_due_at IS NULL OR o.contacted_at <= o.contact_due_at))"
_OPEN_ORDER = "(o.resolved_at IS NULL AND o.cancelled_at IS NULL)"
# A lead that speaks to the resident: not a committee's queue order (业委会派单).
_LEAD = "(o.role = 'lead' AND o.purpose IS DISTINCT FROM 'committee')"
_LATE = (
    f"((o.signed_at > o.sign_due_at) OR (o.signed_at IS NULL AND {_OPEN_ORDER} AND o.sign_due_at < $1)"
    " OR (o.role = 'lead' AND ((o.contacted_at > o.contact_due_at)"
    f"     OR (o.contacted_at IS NULL AND {_OPEN_ORDER} AND o.contact_due_at < $1)))"
    " OR (o.resolved_at > o.due_at)"
    f" OR ({_OPEN_ORDER} AND o.due_at < $1 AND NOT coalesce(c.deliberating, false)))"
)
_DUE = (
    f"({_KEPT_ORDER} AND o.cancelled_at IS NULL AND (o.resolved_at IS NOT NULL OR o.due_at <= $1))"
)
# A resident's message in the community's WeChat group, answered by the member on duty.
_HANDLED = f"({_KEPT} AND c.resolved_at IS NOT NULL AND c.dispatched_at IS NOT NULL)"


# 琐事不出楼、小事不出门、要事不出社区: the level of the unit whose lead order settled a matter.
# Heads and 楼管员 work in the building, grid heads and workers in the grid; street offices and
# everything above are outside the community; every other unit (居委会、业委会、物业…) is in it.
SETTLED_IN = {
    "building": ("unit_head", "building_head", "building_manager"),
    "grid": ("grid_head", "grid_worker"),
    "above": ("street_office", "department", "utility", "district_government"),
}


def _settled_in(level: str) -> str:
    kinds = ", ".join(f"'{kind}'" for kind in SETTLED_IN[level])
    return f"({_KEPT} AND c.resolved_at IS NOT NULL AND c.lead_responder_kind IN ({kinds}))"


_SETTLED_IN_COMMUNITY = (
    f"({_KEPT} AND c.resolved_at IS NOT NULL AND c.lead_responder_kind IS NOT NULL"
    " AND c.lead_responder_kind NOT IN ("
    + ", ".join(f"'{kind}'" for level in SETTLED_IN.values() for kind in level)
    + "))"
)


@dataclass(frozen=True, slots=True)
class Count:
    name: str
    label: str
    sql: str
    definition: str


CASE_COUNTS = (
    Count("filed", "受理量", "count(*)", "诉求总数（含咨询与无效） every matter filed"),
    Count(
        "valid",
        "有效诉求量",
        f"count(*) FILTER (WHERE {_KEPT})",
        "除咨询、并案、撤回、终止派单外的诉求",
    ),
    Count(
        "consultations", "咨询量", "count(*) FILTER (WHERE c.type = 'consultation')", "类型为咨询"
    ),
    Count(
        "invalid",
        "无效量",
        f"count(*) FILTER (WHERE {_EXCLUDED} AND coalesce(c.type, '') <> 'consultation')",
        "并案、撤回或终止派单",
    ),
    Count(
        "rated",
        "回访评价量（解决）",
        f"count(*) FILTER (WHERE {_RATED} AND c.rated_resolved IS NOT NULL)",
        "回访接通且回答了是否解决（取最近一次）",
    ),
    Count(
        "rated_resolved",
        "评价已解决",
        f"count(*) FILTER (WHERE {_RATED} AND c.rated_resolved)",
        "最近一次回访认为已解决",
    ),
    Count(
        "rated_satisfaction",
        "回访评价量（满意）",
        f"count(*) FILTER (WHERE {_RATED} AND c.rated_satisfied IS NOT NULL)",
        "回访接通或居民自评（短信、链接），给出了满意度",
    ),
    Count(
        "rated_satisfied",
        "评价满意",
        f"count(*) FILTER (WHERE {_RATED} AND c.rated_satisfied)",
        "最近一次评价为「满意」（基本满意不计入）",
    ),
    Count(
        "rated_basically_satisfied",
        "评价基本满意",
        f"count(*) FILTER (WHERE {_RATED} AND c.rated_satisfaction = 'basically_satisfied')",
        "最近一次评价为「基本满意」：计入评价量，不计入满意",
    ),
    Count(
        "rated_content",
        "评价满意或基本满意",
        f"count(*) FILTER (WHERE {_RATED} AND (c.rated_satisfied "
        "OR c.rated_satisfaction = 'basically_satisfied'))",
        "口径将基本满意计为满意的城市可作满意率分子",
    ),
    Count(
        "resolved_cases",
        "已办结反馈量",
        f"count(*) FILTER (WHERE {_KEPT} AND c.resolved_at IS NOT NULL)",
        "各承办单位均已反馈（CaseResolved）",
    ),
    Count(
        "settled_in_building",
        "楼栋办结量",
        f"count(*) FILTER (WHERE {_settled_in('building')})",
        "已办结且主办为单元长、楼栋长或楼管员（琐事不出楼）",
    ),
    Count(
        "settled_in_grid",
        "网格办结量",
        f"count(*) FILTER (WHERE {_settled_in('grid')})",
        "已办结且主办为网格长或网格员（小事不出门）",
    ),
    Count(
        "settled_in_community",
        "社区办结量",
        f"count(*) FILTER (WHERE {_SETTLED_IN_COMMUNITY})",
        "已办结且主办为居委会、业委会、物业等社区一级单位（要事不出社区）",
    ),
    Count(
        "settled_within_community",
        "社区内办结量",
        f"count(*) FILTER (WHERE {_settled_in('building')} OR {_settled_in('grid')}"
        f" OR {_SETTLED_IN_COMMUNITY})",
        "已办结且主办在社区以内（楼栋、网格或社区一级）",
    ),
    Count(
        "redone", "重办量", f"count(*) FILTER (WHERE {_KEPT} AND c.redo_count > 0)", "至少重办一次"
    ),
    Count(
        "handling_hours",
        "办理总时长（小时）",
        f"coalesce(sum(extract(epoch FROM c.resolved_at - c.dispatched_at) / 3600.0) FILTER (WHERE {_HANDLED}), 0)",
        "首次派单至最近一次办结反馈",
    ),
    Count(
        "handled", "计时件数", f"count(*) FILTER (WHERE {_HANDLED})", "有派单和办结反馈时间的诉求"
    ),
    Count(*rounds.FIXED_ON_SPOT),
)
ORDER_COUNTS: tuple[Count, ...] = (
    Count(
        "orders",
        "工单量",
        f"count(*) FILTER (WHERE {_ORDER})",
        "派出的工单（升级督办单除外；签收前被系统撤销的不计）",
    ),
    Count(
        "orders_to_sign",
        "应签收工单量",
        f"count(*) FILTER (WHERE {_ORDER} AND {_SIGNING_SETTLED})",
        "已签收、已退回或签收时限已到的工单（时限未到且未签收的尚不计入）",
    ),
    Count(
        "signed_on_time",
        "按时签收",
        f"count(*) FILTER (WHERE {_ORDER} AND {_SIGNED_ON_TIME})",
        "在签收时限内签收",
    ),
    Count(
        "returned",
        "退单量",
        f"count(*) FILTER (WHERE {_ORDER} AND o.returned_at IS NOT NULL)",
        "被承办单位退回",
    ),
    Count(
        "lead_orders",
        "主办工单量",
        f"count(*) FILTER (WHERE {_KEPT_ORDER} AND {_LEAD} AND {_RESPONSE_SETTLED})",
        "未退回、已联系诉求人或签收/联系时限已到的主办工单",
    ),
    Count(
        "responded",
        "及时响应",
        f"count(*) FILTER (WHERE {_KEPT_ORDER} AND {_LEAD} AND {_SIGNED_ON_TIME} AND {_CONTACTED_ON_TIME})",
        "主办工单按时签收且按时联系诉求人",
    ),
    Count("orders_kept", "未退回工单量", f"count(*) FILTER (WHERE {_KEPT_ORDER})", "未退回的工单"),
    Count(
        "orders_due",
        "应办结工单量",
        f"count(*) FILTER (WHERE {_DUE})",
        "已反馈或办理时限已到的未退回工单",
    ),
    Count(
        "completed_on_time",
        "按期办结",
        f"count(*) FILTER (WHERE {_DUE} AND o.resolved_at <= o.due_at)",
        "在办理时限内反馈",
    ),
    Count(
        "overdue_orders",
        "超期工单",
        f"count(*) FILTER (WHERE {_KEPT_ORDER} AND {_LATE})",
        "签收、联系或反馈任一时限超期（议事期间暂停）",
    ),
)
ORDER_COUNTS += tuple(Count(*count) for count in governance_counts(_ORDER))  # 社区治理
PATROL_COUNTS = tuple(Count(*count) for count in rounds.PATROL_COUNTS)
COUNTS = {count.name: count for count in (*CASE_COUNTS, *ORDER_COUNTS, *PATROL_COUNTS)}


# --- configuration ----------------------------------------------------------------------------


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    en: str
    count: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    average: bool = False
    lower_is_better: bool = False

    @model_validator(mode="after")
    def _known_counts(self) -> Measure:
        used = [c for c in (self.count, self.numerator, self.denominator) if c]
        if self.count is None and not (self.numerator and self.denominator):
            raise ValueError("a measure is a count, or a numerator over a denominator")
        unknown = [c for c in used if c not in COUNTS]
        if unknown:
            raise ValueError(f"unknown counts {unknown}; known: {sorted(COUNTS)}")
        return self


class Composite(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "综合得分"
    scale: float = 100
    weights: dict[str, float]


class RankingGroup(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    by: str  # street | responder
    kinds: list[str] | None = None


class Rankings(BaseModel):
    model_config = ConfigDict(extra="allow")
    min_volume: int = 1
    governance_bottom: int = 3
    list_size: int = 5

    def groups(self) -> dict[str, RankingGroup]:
        extra = self.model_extra or {}
        return {name: RankingGroup.model_validate(value) for name, value in extra.items()}


class Recurring(BaseModel):
    min_cases: int = 3
    min_periods: int = 2
    lookback_days: int = 730
    seasons: dict[str, list[int]] = Field(default_factory=dict)


class MonthlyTopic(BaseModel):
    min_cases: int = 3
    baseline_months: int = 3
    suggestions: int = 5


class Insights(BaseModel):
    hotspot_weeks: int = 8
    recurring: Recurring = Recurring()
    monthly_topic: MonthlyTopic = MonthlyTopic()


class MeasuresConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timezone: str = "Asia/Shanghai"
    measures: dict[str, Measure]
    composite: Composite
    rankings: Rankings
    insights: Insights = Insights()

    @model_validator(mode="after")
    def _weights_name_measures(self) -> MeasuresConfig:
        unknown = [m for m in self.composite.weights if m not in self.measures]
        if unknown:
            raise ValueError(f"composite weights name unknown measures {unknown}")
        for name, group in self.rankings.groups().items():
            if group.by not in ("street", "responder", "district", "community", "grid"):
                raise ValueError(f"ranking {name}: by must be an area level or responder")
        return self


def load_config(path: Path) -> MeasuresConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(
            f"统计口径文件无法读取 cannot read measures file {path}: {error}"
        ) from error
    return MeasuresConfig.model_validate(data)


# --- the cube ---------------------------------------------------------------------------------


# The area levels a case keeps a column for: what the cube and hot spots group by. (A comment,
# not a docstring: the docstring would become the hot-spot query's schema description.)
class Level(StrEnum):
    DISTRICT = AreaLevel.DISTRICT
    STREET = AreaLevel.STREET
    COMMUNITY = AreaLevel.COMMUNITY
    GRID = AreaLevel.GRID


DIMENSIONS = {
    # name: (cases' column, orders' column, label)
    "district": ("c.district_code", "c.district_code", AREA_LEVEL[AreaLevel.DISTRICT]),
    "street": ("c.street_code", "c.street_code", AREA_LEVEL[AreaLevel.STREET]),
    "community": ("c.community_code", "c.community_code", AREA_LEVEL[AreaLevel.COMMUNITY]),
    "grid": ("c.grid_code", "c.grid_code", AREA_LEVEL[AreaLevel.GRID]),
    "responder": ("c.lead_responder_id", "o.responder_id", "承办单位"),
    "category": ("c.category", "c.category", "类别"),
    "type": ("c.type", "c.type", "类型"),
    "channel": ("c.channel", "c.channel", "渠道"),
    "month": ("{month}", "{month}", "月份"),
}
AREA_DIMENSIONS = tuple(Level)


@dataclass(frozen=True, slots=True)
class CubeFilter:
    month_from: str | None = None  # YYYY-MM, inclusive
    month_to: str | None = None  # YYYY-MM, inclusive
    area_code: str | None = None
    category: str | None = None
    type: str | None = None
    channel: str | None = None
    responder_id: str | None = None
    responder_kinds: tuple[str, ...] | None = None


def _cube_sql(group_by: list[str], where: CubeFilter, tz_param: str) -> tuple[str, list[Any]]:
    """$1 is the moment overdue is judged at; $2 the time zone; filters follow."""
    month = f"to_char(c.filed_at AT TIME ZONE {tz_param}, 'YYYY-MM')"
    args: list[Any] = []
    # (the time zone is named even when no month is, so that every query takes the same $2)
    common: list[str] = ["c.filed_at IS NOT NULL", f"{tz_param}::text IS NOT NULL"]
    case_only: list[str] = []
    order_only: list[str] = ["o.issued_at IS NOT NULL", "o.purpose IS DISTINCT FROM 'escalation'"]

    def param(value: Any) -> str:
        args.append(value)
        return f"${len(args) + 2}"

    if where.month_from:
        common.append(f"{month} >= {param(where.month_from)}")
    if where.month_to:
        common.append(f"{month} <= {param(where.month_to)}")
    if where.area_code:
        common.append(sql_within(param(where.area_code)))
    for column in ("category", "type", "channel"):
        value = getattr(where, column)
        if value:
            common.append(f"c.{column} = {param(value)}")
    if where.responder_id:
        p = param(where.responder_id)
        case_only.append(f"c.lead_responder_id = {p}")
        order_only.append(f"o.responder_id = {p}")
    if where.responder_kinds:
        p = param(list(where.responder_kinds))
        case_only.append(f"c.lead_responder_kind = ANY({p}::text[])")
        order_only.append(f"o.responder_kind = ANY({p}::text[])")

    def keys(which: int) -> list[str]:
        return [DIMENSIONS[d][which].format(month=month) + f" AS {d}" for d in group_by]

    def counted(own: tuple[Count, ...]) -> list[str]:
        """Each count's column in a part: its own counts, zero for the others'."""
        return [
            f"{c.sql} AS {c.name}" if c in own else f"0 AS {c.name}"
            for c in (*CASE_COUNTS, *ORDER_COUNTS, *PATROL_COUNTS)
        ]

    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(group_by)))}" if group_by else ""
    case_part = (
        f"SELECT {', '.join([*keys(0), *counted(CASE_COUNTS)])} FROM cases c "
        f"WHERE {' AND '.join(common + case_only)}{group}"
    )
    order_part = (
        f"SELECT {', '.join([*keys(1), *counted(ORDER_COUNTS)])} "
        f"FROM case_work_orders o JOIN cases c USING (complaint_id) "
        f"WHERE {' AND '.join(common + order_only)}{group}"
    )
    # (a unit's filter leaves the patrols out: nobody's unit walked them)
    patrol_only = ["false"] if case_only else []
    patrol_part = (
        f"SELECT {', '.join([*keys(0), *counted(PATROL_COUNTS)])} FROM {rounds.PATROLS_AS_CASES} c "
        f"WHERE {' AND '.join(common + patrol_only)}{group}"
    )
    totals = ", ".join(f"sum({c}) AS {c}" for c in COUNTS)
    outer_keys = ", ".join(group_by)
    sql = (
        f"SELECT {outer_keys + ', ' if outer_keys else ''}{totals} "
        f"FROM ({case_part} UNION ALL {order_part} UNION ALL {patrol_part}) parts"
        + (f" GROUP BY {outer_keys} ORDER BY {outer_keys}" if outer_keys else "")
    )
    return sql, args


def rates(counts: dict[str, Any], config: MeasuresConfig) -> dict[str, float | int | None]:
    values: dict[str, float | int | None] = {}
    for name, measure in config.measures.items():
        if measure.count:
            values[name] = int(counts.get(measure.count) or 0)
            continue
        numerator = float(counts.get(measure.numerator or "") or 0)
        denominator = float(counts.get(measure.denominator or "") or 0)
        values[name] = round(numerator / denominator, 4) if denominator else None
    return values


def composite(values: dict[str, float | int | None], config: MeasuresConfig) -> float | None:
    weighted = [
        (weight, value if not config.measures[name].lower_is_better else 1 - value)
        for name, weight in config.composite.weights.items()
        if isinstance(value := values.get(name), float | int) and value is not None
    ]
    total_weight = sum(weight for weight, _ in weighted)
    if not weighted or not total_weight:
        return None
    score = sum(weight * float(value) for weight, value in weighted) / total_weight
    return round(config.composite.scale * score, 2)


async def cube(
    conn: Connection,
    config: MeasuresConfig,
    group_by: list[str],
    where: CubeFilter,
    as_of: datetime,
) -> list[dict[str, Any]]:
    sql, args = _cube_sql(group_by, where, "$2")
    rows = await conn.fetch(sql, as_of, config.timezone, *args)
    names = await _names(conn, group_by, rows)
    out = []
    for row in rows:
        # (an empty selection still gives one row when nothing is grouped: its sums are NULL)
        counts = {
            c: float(row[c] or 0) if c.endswith("_hours") else int(row[c] or 0) for c in COUNTS
        }
        key: dict[str, str | None] = {}
        for dim in group_by:
            key[dim] = row[dim]
            if dim in AREA_DIMENSIONS or dim == "responder":
                key[f"{dim}_name"] = names.get(row[dim]) if row[dim] else None
        values = rates(counts, config)
        out.append(
            {
                "key": key,
                "values": values,
                "composite_score": composite(values, config),
                "counts": counts,
            }
        )
    return out


async def _names(conn: Connection, group_by: list[str], rows: list[Any]) -> dict[str, str]:
    codes = [row[d] for d in group_by if d in AREA_DIMENSIONS for row in rows]
    found = await store.area_names(conn, codes)
    if "responder" in group_by:
        found.update(await store.responder_names(conn, (row["responder"] for row in rows)))
    return found


# --- the monthly ranking ----------------------------------------------------------------------


async def ranking(
    conn: Connection, config: MeasuresConfig, group: str, month: str, as_of: datetime
) -> dict[str, Any]:
    spec = config.rankings.groups()[group]
    where = CubeFilter(
        month_from=month,
        month_to=month,
        responder_kinds=tuple(spec.kinds) if spec.kinds else None,
    )
    rows = await cube(conn, config, [spec.by], where, as_of)
    rules = config.rankings
    units = [r for r in rows if r["key"][spec.by]]
    ranked = [
        r
        for r in units
        if r["counts"]["valid"] >= rules.min_volume and r["composite_score"] is not None
    ]
    ranked.sort(
        key=lambda r: (
            -r["composite_score"],
            -(r["values"].get("response_rate") or 0),
            str(r["key"][spec.by]),
        )
    )
    size = len(ranked)
    # With few units the lists would cover everyone: each takes at most half of them.
    listed = min(rules.list_size, size // 2)
    governance = min(rules.governance_bottom, size // 2)

    def unit(row: dict[str, Any]) -> dict[str, Any]:
        code = row["key"][spec.by]
        name = row["key"].get(f"{spec.by}_name") or code
        return {"unit": code, "unit_name": name}

    entries = [
        {
            "rank": position,
            **unit(row),
            "composite_score": row["composite_score"],
            "values": row["values"],
            "counts": row["counts"],
            "governance": position > size - governance,
            "red_list": position <= listed,
            "black_list": position > size - listed,
        }
        for position, row in enumerate(ranked, start=1)
    ]
    unranked = [{**unit(r), "valid": r["counts"]["valid"]} for r in units if r not in ranked]
    return {
        "group": group,
        "group_name": spec.name,
        "month": month,
        "weights": config.composite.weights,
        "entries": entries,
        "unranked": unranked,
    }
