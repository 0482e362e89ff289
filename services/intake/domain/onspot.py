"""What is decided on a grid's round (网格巡查): a matter a grid worker or head fixed on the spot
(随手做) is filed, classified and closed in one breath with nobody behind it; a patrol (巡查)
keeps what became of each finding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from services.intake.domain.commands import FixOnSpot, RecordPatrol
from shared.events import (
    NO_RESIDENT,
    Channel,
    ComplaintClassified,
    ComplaintFiled,
    ComplaintStatus,
    ComplaintType,
    Event,
    OnSpotFixRecorded,
    PatrolFinding,
    PatrolRecorded,
)

S = ComplaintStatus


@dataclass(frozen=True, slots=True)
class OnSpotFiling:
    """What intake knows when a matter fixed on the spot is filed, besides the command."""

    complaint_id: UUID
    case_number: str
    filed_at: datetime
    type: ComplaintType
    category: str
    classified_by: str
    actor: str
    patrol_id: UUID | None = None


def fix_on_spot(command: FixOnSpot, filing: OnSpotFiling) -> list[Event]:
    """A matter a grid worker fixed on the spot (随手做): filed by the grid's patrol channel with
    no resident behind it, classified, and closed by the fix in the same breath. Its
    classification leaves it "filed", not "classified": nothing waits for a dispatch."""
    return [
        ComplaintFiled(
            complaint_id=filing.complaint_id,
            case_number=filing.case_number,
            channel=Channel.GRID_PATROL,
            text=command.text,
            category=filing.category,
            area_code=command.area_code,
            address=command.address,
            resident_ref=NO_RESIDENT,
            masked_phone=None,
            filed_at=filing.filed_at,
        ),
        ComplaintClassified(
            complaint_id=filing.complaint_id,
            status=S.FILED,
            type=filing.type,
            category=filing.category,
            confidence=1.0,
            type_confidence=1.0,
            classified_by=filing.classified_by,
            needs_triage=False,
            area_code=command.area_code,
            occurred_at=filing.filed_at,
        ),
        OnSpotFixRecorded(
            complaint_id=filing.complaint_id,
            status=S.CLOSED,
            done=command.done,
            media_urls=command.media_urls,
            worker=command.worker,
            patrol_id=filing.patrol_id,
            actor=filing.actor,
            occurred_at=filing.filed_at,
        ),
    ]


def record_patrol(
    patrol_id: UUID,
    command: RecordPatrol,
    findings: list[PatrolFinding],
    actor: str,
    now: datetime,
) -> PatrolRecorded:
    """The patrol as it was walked; `findings` say what became of each matter found."""
    return PatrolRecorded(
        patrol_id=patrol_id,
        area_code=command.area_code,
        patroller=command.patroller,
        started_at=command.started_at,
        ended_at=command.ended_at or now,
        note=command.note,
        findings=findings,
        actor=actor,
        recorded_at=now,
    )
