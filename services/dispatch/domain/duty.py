"""A community's duty rota (值班表) for its residents' WeChat group: who is on duty when.

Seed 002: 居民微信群安排“两委”班子成员24小时轮班值守. Pure: a shift and whether it covers a moment.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, time, timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.deadlines import CHINA
from shared.events.area import PATTERN as AREA_PATTERN

_CLOCK_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


class DutyShiftIn(BaseModel):
    """One shift of a community's duty rota (值班表): who answers the residents' WeChat group
    on which weekdays between which hours (China time). An end at or before the start runs past
    midnight into the next day (夜班 18:00–08:00); equal start and end make a 24-hour shift."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1, max_length=60)
    community: str = Field(pattern=AREA_PATTERN, description="社区区划代码 The community")
    responder: str = Field(
        description="值班人员（服务该社区的承办人员编号）The person on duty: a responder id"
    )
    weekdays: list[int] = Field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6, 7],
        min_length=1,
        description="班次开始的星期（1=周一…7=周日）Weekdays the shift starts on, 1 = Monday",
    )
    start: str = Field(pattern=_CLOCK_TIME, description="开始时间 HH:MM")
    end: str = Field(pattern=_CLOCK_TIME, description="结束时间 HH:MM（不晚于开始即跨夜）")

    @model_validator(mode="after")
    def _weekdays(self) -> DutyShiftIn:
        if any(not 1 <= int(day) <= 7 for day in self.weekdays):
            raise ValueError(f"shift {self.id}: weekdays are 1 (Monday) to 7 (Sunday)")
        return self

    def covers(self, at: datetime) -> bool:
        """Whether the shift is on at `at` (any time zone; the rota is in China's time)."""
        local = at.astimezone(CHINA)
        start, end, now = _clock(self.start), _clock(self.end), local.time()
        days = {int(day) for day in self.weekdays}
        if start < end:
            return local.isoweekday() in days and start <= now < end
        started_today = local.isoweekday() in days and now >= start
        yesterday = (local - timedelta(days=1)).isoweekday()
        return started_today or (yesterday in days and now < end)


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def rota_problems(
    shifts: Iterable[DutyShiftIn], areas: set[str], serving: Mapping[str, list[str]]
) -> list[str]:
    """What is wrong with a rota, given the city's area codes and each responder's areas."""
    problems = []
    for shift in shifts:
        if shift.community not in areas:
            problems.append(f"duty_rota {shift.id}: unknown community {shift.community}")
        if shift.responder not in serving:
            problems.append(f"duty_rota {shift.id}: unknown responder {shift.responder}")
        elif shift.community not in serving[shift.responder]:
            problems.append(
                f"duty_rota {shift.id}: {shift.responder} does not serve {shift.community}"
            )
    return problems


class Rota:
    """The rota of every community, indexed for the question: who is on duty there now."""

    def __init__(self, shifts: Iterable[DutyShiftIn]) -> None:
        self.by_community: dict[str, list[DutyShiftIn]] = {}
        for shift in shifts:
            self.by_community.setdefault(shift.community, []).append(shift)

    def on_duty(self, community: str | None, at: datetime) -> DutyShiftIn | None:
        """The first shift listed for the community that covers `at`, or None."""
        shifts = self.by_community.get(community or "", ())
        return next((shift for shift in shifts if shift.covers(at)), None)
