"""Reporting's HTTP routes: every read model with paging, filters and CSV export (`format=csv`).
The board (with the 随手做 fixed on the spot, and the patrols), measures, rankings, hot spots and
ballot results are public and hold no resident data; cases and agendas need a key and show its
area only (services/reporting/auth.py)."""

from __future__ import annotations

from services.reporting.api import (
    agenda,
    ballots,
    board,
    cases,
    insights,
    measures,
    meetings,
    models,
    rounds,
)

routers = [
    board.router,
    rounds.router,
    cases.router,
    measures.router,
    insights.router,
    agenda.router,
    meetings.router,
    ballots.router,
    models.router,
]
