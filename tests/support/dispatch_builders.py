"""Builders for dispatch's unit tests: the demo city as rules, and cases a few steps along."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.dispatch.domain import orders
from services.dispatch.domain.case import Case, fold
from services.dispatch.domain.city import CityFile, CityModel
from services.dispatch.domain.rules import Rules
from shared.deadlines import CalendarYear, WorkCalendar
from shared.events import Event

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "deploy" / "local" / "demo_city.yaml"
CALENDAR_2026 = REPO / "services" / "dispatch" / "data" / "calendar-2026.yaml"
AREA = "370124001001-G01-B02-U1"  # 玫城丽都2号楼1单元
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in China


@cache
def demo_city() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return loaded


def calendar() -> WorkCalendar:
    year = CalendarYear.model_validate(yaml.safe_load(CALENDAR_2026.read_text(encoding="utf-8")))
    return WorkCalendar.of([year])


def rules_for(escalate: dict[str, str] | None = None, days: str = "calendar") -> Rules:
    """The demo city (optionally with rules escalating to a department) and the 2026 calendar."""
    body = dict(demo_city())
    body["catalogue"] = [
        rule
        | ({"escalate_to": escalate[rule["id"]]} if escalate and rule["id"] in escalate else {})
        for rule in body["catalogue"]
    ]
    body["time_limits"] = {"days": days}
    return Rules(CityModel(CityFile.model_validate(body), version=1), calendar())


def apply(case: Case | None, events: list[Event]) -> Case:
    after = fold(events, case)
    assert after is not None
    return after


def dispatched(
    category: str = "roof-leak",
    area: str = AREA,
    rules: Rules | None = None,
    at: datetime = NOW,
) -> Case:
    rules = rules or rules_for()
    complaint_id = uuid.uuid4()
    return apply(None, orders.first_dispatch(None, complaint_id, category, area, rules, at))
