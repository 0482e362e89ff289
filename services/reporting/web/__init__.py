"""Reporting's pages: the public board 督办墙 and the operations console 运维控制台, rendered on
the server (Jinja2), with their scripts and styles served from the platform itself (no CDN: the
machines may have no internet). The console's pages read reporting's own read models, the other
services through their HTTP APIs (adapters/upstream.py) and the broker through its admin API."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.reporting.web import cases, flight, home, letters, measures, session, streams, wall

STATIC = Path(__file__).with_name("static")

routers = [
    session.router,
    home.router,
    wall.router,
    streams.router,
    letters.router,
    flight.router,
    cases.router,
    measures.router,
]


def mount_static(app: FastAPI) -> None:
    """/static: the pages' scripts, styles and the vendored ECharts (public, cacheable)."""
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
