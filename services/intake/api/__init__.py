"""Intake's HTTP routes: a complaint's filing, reading, life and lookup; the staff's work lists;
residents' personal data; the catalogue; the residents' own ratings; and the grid workers' 随手做 and patrols. Each module's router
is mounted in this order (the Open311 and WeChat doors are services/intake/adapters')."""

from __future__ import annotations

from services.intake.api import admin, complaints, onspot, ratings, residents, triage

routers = [
    complaints.router,
    onspot.router,
    triage.router,
    residents.router,
    admin.router,
    ratings.router,
]
