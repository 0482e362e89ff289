"""Time limits (办理时限): durations, the working-day calendar with holidays and 调休, and deadlines.

Pure: no I/O. Day boundaries are China's (Asia/Shanghai) wherever the platform runs.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

CHINA = ZoneInfo("Asia/Shanghai")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d|wd|cd)$")


def _check_duration(text: str) -> str:
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"时长「{text}」格式有误：数字加单位 s/m/h（秒/分/时）、d（天，按城市设定）、"
            "wd（工作日）、cd（自然日），如 30m、2h、7d、5wd "
            "Use a number and a unit: s, m, h, d, wd or cd"
        )
    amount, unit = float(match.group(1)), match.group(2)
    if unit in ("d", "wd", "cd") and not amount.is_integer():
        raise ValueError(f"时长「{text}」：天数须为整数 Days must be whole")
    if amount <= 0:
        raise ValueError(f"时长「{text}」须大于零 must be positive")
    if amount * _SECONDS[unit] > _LONGEST_S:
        raise ValueError(f"时长「{text}」超过 5 年 is longer than five years")
    return text


# Working days are a little under five a week; a limit is at most five years in any unit.
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "cd": 86400, "wd": 86400 * 7 / 5}
_LONGEST_S = 5 * 366 * 86400


Duration = Annotated[str, AfterValidator(_check_duration)]


class PriorityTier(StrEnum):
    """How urgent a demand is; each tier has its own time limits."""

    EMERGENCY = "emergency"  # 紧急：危及生命财产
    UTILITY = "utility"  # 水电气热
    GENERAL = "general"  # 一般诉求
    COMPLEX = "complex"  # 复杂诉求


class ClockName(StrEnum):
    """A work order's separate clocks, and the one clock of a 政务事项."""

    SIGN = "sign"  # 签收
    CONTACT = "contact"  # 联系诉求人
    FEEDBACK = "feedback"  # 办理反馈
    GROUP_REPLY = "group_reply"  # 居民微信群内公开回复 (seed 002: 1小时内在群内公开回复)
    MATTER = "matter"  # 政务事项限时办理 (低保申请、尊老金发放…)


# The clocks a work order's steps run (a group reply and a 政务事项 have one clock each).
STEP_CLOCKS = (ClockName.SIGN, ClockName.CONTACT, ClockName.FEEDBACK)


class StepLimits(BaseModel):
    """How long each step may take; a missing step has no clock."""

    model_config = ConfigDict(extra="forbid")
    sign: Duration | None = None
    contact: Duration | None = None
    feedback: Duration | None = None

    def limit(self, clock: ClockName) -> str | None:
        value: str | None = getattr(self, clock.value, None)
        return value

    def over(self, base: StepLimits) -> StepLimits:
        """These limits where set, `base` elsewhere."""
        return StepLimits(**(base.model_dump() | self.model_dump(exclude_none=True)))


# Feedback limits are Beijing's (2 h / 24 h / 7 d / 15 d); signing and contacting are shorter.
DEFAULT_TIERS = {
    PriorityTier.EMERGENCY: StepLimits(sign="15m", contact="30m", feedback="2h"),
    PriorityTier.UTILITY: StepLimits(sign="1h", contact="4h", feedback="24h"),
    PriorityTier.GENERAL: StepLimits(sign="2h", contact="24h", feedback="7d"),
    PriorityTier.COMPLEX: StepLimits(sign="2h", contact="48h", feedback="15d"),
}


_SPECIAL_DEFAULTS = {
    "whistle": StepLimits(sign="30m", feedback="24h"),
    "escalation": StepLimits(sign="2h", feedback="24h"),
    "deliberation": StepLimits(sign="1d", feedback="15d"),
    "committee_dispatch": StepLimits(sign="4h", feedback="24h"),
    "community_call": StepLimits(sign="2h", feedback="3d"),
}


# 政务事项 (seed 002: 低保申请、尊老金发放、独生子女费申领…明确专人限时办理; 政务代办站).
DEFAULT_MATTER_LIMITS = {
    "subsistence_allowance": "20wd",  # 低保申请
    "elderly_allowance": "10wd",  # 尊老金发放
    "only_child_allowance": "10wd",  # 独生子女费申领
    "proxy": "5wd",  # 代办
    "other": "10wd",
}


class TimeLimits(BaseModel):
    """A city's time limits (configuration, part of the city model)."""

    model_config = ConfigDict(extra="forbid")
    days: Literal["calendar", "working"] = Field(
        "calendar",
        description="「d」按自然日还是工作日计 Whether 'd' counts calendar or working days",
    )
    warn_at: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="时限过去多少比例时预警 Warn when this share of a clock has run",
    )
    tiers: dict[PriorityTier, StepLimits] = Field(default_factory=lambda: dict(DEFAULT_TIERS))
    categories: dict[str, StepLimits] = Field(
        default_factory=dict, description="按类别覆盖 Per-category overrides of the tier"
    )
    # 吹哨报到: the departments named must report (sign) within 30 minutes.
    whistle: StepLimits = _SPECIAL_DEFAULTS["whistle"]
    # The unit a breach escalates to must take the case in hand (sign) and report on it.
    escalation: StepLimits = _SPECIAL_DEFAULTS["escalation"]
    # Work orders a deliberation (议事) decision assigns, unless the decision gives a deadline.
    deliberation: StepLimits = _SPECIAL_DEFAULTS["deliberation"]
    # 业委会派单: a case the catalogue leaves to the owners' committee (or the community
    # committee) waits in its queue; the committee signs and dispatches it (feedback) in time.
    committee_dispatch: StepLimits = _SPECIAL_DEFAULTS["committee_dispatch"]
    # 社区点单、部门响应: each department a community calls in signs (responds) and reports back.
    community_call: StepLimits = _SPECIAL_DEFAULTS["community_call"]
    # Returns (退单) in one round before the street arbitrates instead of the catalogue.
    returns_before_arbitration: int = Field(2, ge=1, le=10)
    group_reply: Duration = Field(
        "1h",
        description=(
            "居民微信群诉求的公开回复时限（值班的两委成员）Public reply to a message in a "
            "community's residents' WeChat group, by the member on duty"
        ),
    )
    matters: dict[str, Duration] = Field(
        default_factory=lambda: dict(DEFAULT_MATTER_LIMITS),
        description=(
            "政务事项按类别的办理时限（未列出的类别用 other）Time limit of each kind of "
            "administrative matter handled for residents (other: any kind not listed)"
        ),
    )

    @model_validator(mode="after")
    def _every_tier(self) -> TimeLimits:
        for name, default in _SPECIAL_DEFAULTS.items():
            setattr(self, name, getattr(self, name).over(default))
        self.matters = DEFAULT_MATTER_LIMITS | self.matters
        for tier in PriorityTier:
            given = self.tiers.get(tier)
            self.tiers[tier] = given.over(DEFAULT_TIERS[tier]) if given else DEFAULT_TIERS[tier]
        return self

    def for_matter(self, kind: str) -> str:
        """The time limit of a 政务事项 of this kind."""
        return self.matters.get(kind) or self.matters["other"]

    def for_order(self, tier: PriorityTier, category: str | None, purpose: str) -> StepLimits:
        """The limits of one work order: by what it is for, then category, then tier."""
        special = {
            "whistle": self.whistle,
            "escalation": self.escalation,
            "committee": self.committee_dispatch,
            "community_call": self.community_call,
        }
        if purpose in special:
            return special[purpose]
        if purpose == "deliberation":
            return self.deliberation
        base = self.tiers[tier]
        override = self.categories.get(category or "")
        return override.over(base) if override else base


# ---------------------------------------------------------------------------------------------
# The working-day calendar
# ---------------------------------------------------------------------------------------------


class HolidayIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field(min_length=1, description="节日 Holiday, e.g. 国庆节")
    first: date = Field(alias="from", description="放假首日 First day off")
    last: date = Field(alias="to", description="放假末日 Last day off")


class WorkdayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date: date
    name: str = Field("调休上班", min_length=1)


class CalendarYear(BaseModel):
    """One year's public holidays and make-up workdays (调休上班), as the State Council publishes them."""

    model_config = ConfigDict(extra="forbid")
    year: int = Field(ge=2000, le=2100)
    holidays: list[HolidayIn] = Field(default_factory=list)
    workdays: list[WorkdayIn] = Field(default_factory=list)
    source: str | None = Field(None, description="出处 Where the schedule comes from")

    @model_validator(mode="after")
    def _consistent(self) -> CalendarYear:
        problems = []
        off = set()
        for holiday in self.holidays:
            if holiday.last < holiday.first:
                problems.append(f"{holiday.name}: 结束早于开始 ends before it starts")
            days = _days(holiday.first, holiday.last)
            off |= set(days)
            if any(d.year != self.year for d in days):
                problems.append(f"{holiday.name}: 不在 {self.year} 年内 outside the year")
        for workday in self.workdays:
            if workday.date.year != self.year:
                problems.append(f"{workday.date}: 不在 {self.year} 年内 outside the year")
            if workday.date.weekday() < 5:
                problems.append(
                    f"{workday.date}: 调休上班日须为周末 a make-up workday is a weekend"
                )
            if workday.date in off:
                problems.append(f"{workday.date}: 既是假日又是上班日 both off and on")
        if problems:
            raise ValueError("；".join(problems))
        return self

    @classmethod
    def from_csv(cls, text: str, year: int | None = None) -> CalendarYear:
        """Rows of date,kind,name; kind is holiday/休 or workday/班."""
        try:
            reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
            rows = [r for r in reader if any(r.values())]
        except csv.Error as error:
            raise ValueError(f"CSV 格式有误 Malformed CSV: {error}") from None
        holidays: list[HolidayIn] = []
        workdays: list[WorkdayIn] = []
        for row in rows:
            day = date.fromisoformat((row.get("date") or "").strip())
            kind = (row.get("kind") or "").strip()
            name = (row.get("name") or "").strip() or (
                "调休上班" if kind in ("workday", "班") else "假日"
            )
            if kind in ("holiday", "休"):
                holidays.append(HolidayIn(name=name, first=day, last=day))
            elif kind in ("workday", "班"):
                workdays.append(WorkdayIn(date=day, name=name))
            else:
                raise ValueError(f"{day}: kind 须为 holiday/休 或 workday/班，而非「{kind}」")
        found = {d.first.year for d in holidays} | {w.date.year for w in workdays}
        if year is None and len(found) != 1:
            raise ValueError("一个日历文件只含一年 A calendar file holds exactly one year")
        return cls(
            year=year if year is not None else found.pop(), holidays=holidays, workdays=workdays
        )


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True, slots=True)
class WorkCalendar:
    """Which days are working days: weekdays, less holidays, plus make-up workdays.

    A year nobody loaded counts weekdays only; `missing_years` tells which, so a deadline
    computed across it can say it assumed so.
    """

    off: dict[date, str] = field(default_factory=dict)
    on: dict[date, str] = field(default_factory=dict)
    years: frozenset[int] = frozenset()

    @classmethod
    def of(cls, years: list[CalendarYear]) -> WorkCalendar:
        off: dict[date, str] = {}
        on: dict[date, str] = {}
        for year in years:
            for holiday in year.holidays:
                off |= dict.fromkeys(_days(holiday.first, holiday.last), holiday.name)
            on |= {w.date: w.name for w in year.workdays}
        return cls(off, on, frozenset(y.year for y in years))

    def is_working_day(self, day: date) -> bool:
        if day in self.on:
            return True
        return day not in self.off and day.weekday() < 5

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """`days` working days after `start`, at its time of day (China time).

        Counting starts the day after `start`; a start on a rest day counts from 00:00 of the
        next working day, so a demand filed on Saturday with one working day is due Tuesday 00:00
        (the end of Monday), and one filed on 30 September 2026 with three is due on Saturday
        10 October, the make-up workday after the National Day week.
        """
        local = start.astimezone(CHINA)
        day = local.date()
        if not self.is_working_day(day):
            day = self._next_working_day(day)
            local = datetime.combine(day, time(0), tzinfo=CHINA)
        for _ in range(days):
            day = self._next_working_day(day)
        return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)

    def _next_working_day(self, day: date) -> date:
        for _ in range(60):  # the longest run of rest days in any schedule is far shorter
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within 60 days after {day}")

    def missing_years(self, start: datetime, end: datetime) -> list[int]:
        first, last = start.astimezone(CHINA).year, end.astimezone(CHINA).year
        return [y for y in range(first, last + 1) if y not in self.years]


def deadline(
    start: datetime, limit: str, calendar: WorkCalendar, days: str = "calendar"
) -> datetime:
    """When a clock of `limit` (e.g. "2h", "7d", "5wd") started at `start` runs out."""
    amount_text, unit = _DURATION.match(limit).groups()  # type: ignore[union-attr]
    amount = float(amount_text)
    if unit in ("s", "m", "h"):
        return start + timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours"}[unit]: amount})
    if unit == "wd" or (unit == "d" and days == "working"):
        return calendar.add_working_days(start, int(amount))
    return start + timedelta(days=amount)


def warn_time(start: datetime, due: datetime, warn_at: float) -> datetime:
    return start + (due - start) * warn_at


_UNIT_WORDS = {
    "zh-CN": {"s": "秒", "m": "分钟", "h": "小时", "d": "天", "wd": "个工作日", "cd": "个自然日"},
    "en": {"s": " s", "m": " min", "h": " h", "d": " days", "wd": " working days", "cd": " days"},
}


def limit_words(limit: str, locale: str = "zh-CN") -> str:
    """A limit as a resident reads it: "7wd" → 7个工作日 / 7 working days."""
    match = _DURATION.match(limit)
    if match is None:
        return limit
    amount, unit = match.groups()
    amount = amount.removesuffix(".0")
    return f"{amount}{_UNIT_WORDS.get(locale, _UNIT_WORDS['zh-CN'])[unit]}"
