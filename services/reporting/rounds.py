"""The grid's rounds in the read models: a case fixed on the spot (随手做) and the model
"patrols" (巡查: each patrol, and each matter found on it, where it was found). A place found
again and again on patrol is a recurring place even when no resident complained
(services/reporting/insights.py); the patrol measures count these rows (measures.py, with
the counts declared here)."""

from __future__ import annotations

from typing import Any

from services.reporting import domain
from services.reporting.upsert import Upsert
from shared.envelope import Envelope
from shared.events import Event, FindingOutcome, OnSpotFixRecorded, PatrolRecorded

TABLES = ("patrols", "patrol_findings")

# The counts of the rounds in the measures' cube (services/reporting/measures.py): name, label,
# SQL over a row `c`, definition. 随手做 is counted over the cases, the patrols over this model.
FIXED_ON_SPOT = (
    "fixed_on_spot",
    "随手做量",
    "count(*) FILTER (WHERE c.on_spot_at IS NOT NULL)",
    "网格员/网格长当场解决、立案即办结、不派单的问题（随手做）",
)
PATROL_COUNTS = (
    ("patrols", "巡查次数", "count(*)", "网格员/网格长记录的巡查（每日巡）"),
    (
        "patrol_findings",
        "巡查发现问题数",
        "coalesce(sum(c.findings), 0)",
        "巡查中发现并记录的问题（及时记），含当场解决的",
    ),
    (
        "patrol_fixed",
        "巡查中当场解决数",
        "coalesce(sum(c.fixed_on_spot), 0)",
        "巡查发现、当场解决的问题（随手做）",
    ),
)
# A patrol read as a row of `cases` (alias c), so that the cube's dimensions and filters apply
# to it: where it was walked, the month it began in; the grid patrol's channel, no category,
# type or unit.
PATROLS_AS_CASES = (
    "(SELECT p.*, p.started_at AS filed_at, NULL::text AS category,"
    " NULL::text AS type, 'grid_patrol'::text AS channel, NULL::text AS lead_responder_id"
    " FROM patrols p)"
)


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
