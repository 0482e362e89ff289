"""Dispatch's HTTP routes: work orders, cases and supervision, the deliberation agenda, and the
city model's administration. Each module's router is mounted in this order."""

from __future__ import annotations

from services.dispatch.api import admin, agenda, cases, community, meetings, orders

routers = [
    orders.router,
    cases.router,
    agenda.router,
    meetings.router,
    community.router,
    admin.router,
]
