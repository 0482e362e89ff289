"""The console's front page: who is signed in, what area they see, and the way to each page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.reporting.web.pages import render
from services.reporting.web.session import Anyone

router = APIRouter(include_in_schema=False)


@router.get("/console")
async def console_home(request: Request, key: Anyone) -> Response:
    return render(request, "console/home.html", key=key)
