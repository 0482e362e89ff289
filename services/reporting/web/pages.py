"""Rendering a page: one Jinja2 environment for the board and the console, autoescaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))
CST = timedelta(hours=8)  # the pages show Beijing time


def local_time(value: datetime | str | None, fmt: str = "%m-%d %H:%M") -> str:
    """A moment as Beijing time (the pages' readers are in China)."""
    if value is None or value == "":
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment.astimezone(UTC) + CST).strftime(fmt)


def duration(seconds: float | None) -> str:
    """A length of time in the pages' words: 3天4小时, 2小时5分, 7分钟."""
    if seconds is None:
        return "—"
    total = int(abs(seconds)) // 60
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    if hours:
        return f"{hours}小时{minutes}分"
    return f"{minutes}分钟"


def time_left(seconds: float | None) -> str:
    """Time left (negative: overdue) in the board's words: 剩 3天4小时 / 超期 2小时."""
    if seconds is None:
        return "—"
    return f"超期 {duration(seconds)}" if seconds < 0 else f"剩 {duration(seconds)}"


TEMPLATES.env.filters["local_time"] = local_time
TEMPLATES.env.filters["time_left"] = time_left
TEMPLATES.env.filters["duration"] = duration


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
