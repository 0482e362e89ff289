"""Dispatch's HTTP routes: work orders, cases and supervision, the deliberation agenda, its
consultations and ballots, and the city model's administration. Each module's router is mounted in this order."""

from __future__ import annotations

from services.dispatch.api import (
    admin,
    agenda,
    ballots,
    cases,
    community,
    matters,
    meetings,
    orders,
)

routers = [
    orders.router,
    cases.router,
    agenda.router,
    meetings.router,
    ballots.router,
    community.router,
    matters.router,
    admin.router,
]
