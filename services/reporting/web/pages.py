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


def time_left(seconds: float | None) -> str:
    """Time left (negative: overdue) in the board's words: 剩 3天4小时 / 超期 2小时."""
    if seconds is None:
        return "—"
    late = seconds < 0
    total = int(abs(seconds)) // 60
    days, rest = divmod(total, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        text = f"{days}天{hours}小时"
    elif hours:
        text = f"{hours}小时{minutes}分"
    else:
        text = f"{minutes}分钟"
    return f"超期 {text}" if late else f"剩 {text}"


TEMPLATES.env.filters["local_time"] = local_time
TEMPLATES.env.filters["time_left"] = time_left


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)
