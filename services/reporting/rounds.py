"""The grid's rounds in the read models: a case fixed on the spot (随手做) and the model
"patrols" (巡查: each patrol, and each matter found on it, where it was found). A place found
again and again on patrol is a recurring place even when no resident complained
(services/reporting/insights.py); the patrol measures count these rows (measures.py)."""

from __future__ import annotations

from typing import Any

from services.reporting import domain
from services.reporting.upsert import Upsert
from shared.envelope import Envelope
from shared.events import Event, FindingOutcome, OnSpotFixRecorded, PatrolRecorded

TABLES = ("patrols", "patrol_findings")


def on_spot_columns(e: OnSpotFixRecorded) -> dict[str, Any]:
    """A case's 随手做 columns: when, what was done (a staff member's words), by whom."""
    return {
        "on_spot_at": e.occurred_at,
        "on_spot_done": e.done,
        "on_spot_by": e.worker,
        "on_spot_photos": len(e.media_urls),
        "patrol_id": e.patrol_id,
    }


def _patrol(e: PatrolRecorded, env: Envelope) -> list[Upsert]:
    """A patrol where it was walked, and each finding where it was found (each row is this
    event's, written once)."""
    patrol = {
        **domain.place_columns(e.area_code),
        "patroller": e.patroller,
        "started_at": e.started_at,
        "ended_at": e.ended_at,
        "findings": len(e.findings),
        "fixed_on_spot": sum(f.outcome is FindingOutcome.FIXED_ON_SPOT for f in e.findings),
        "recorded_at": e.recorded_at,
    }
    writes = [Upsert("patrols", {"patrol_id": e.patrol_id}, once=patrol)]
    for finding in e.findings:
        found = {
            **domain.place_columns(finding.area_code),
            "patrol_id": e.patrol_id,
            "category": finding.category,
            "outcome": finding.outcome.value,
            "complaint_id": finding.complaint_id,
            "case_number": finding.case_number,
            "found_at": e.started_at,
        }
        writes.append(Upsert("patrol_findings", {"finding_id": finding.finding_id}, once=found))
    return writes


PATROLS: dict[type[Event], Any] = {PatrolRecorded: _patrol}
