"""Intake's HTTP routes: a complaint's filing, reading, life and lookup; the staff's work lists;
residents' personal data; the catalogue; and the residents' own ratings. Each module's router
is mounted in this order (the Open311 and WeChat doors are services/intake/adapters')."""

from __future__ import annotations

from services.intake.api import admin, complaints, ratings, residents, triage

routers = [complaints.router, triage.router, residents.router, admin.router, ratings.router]
