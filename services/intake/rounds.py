"""The grid's rounds (网格巡查) on intake's application: a matter a grid worker or head fixed on
the spot (随手做) is numbered, classified and closed in one append, never dispatched; a patrol
(巡查) is recorded with what became of each finding, each fix becoming a 随手做 case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from services.intake import store
from services.intake.app import Intake, Saved, catalogue_classifier
from services.intake.domain import onspot
from services.intake.domain.catalogue import Catalogue
from services.intake.domain.commands import FixOnSpot, RecordPatrol
from services.intake.domain.model import fold
from services.intake.domain.words import case_number, describe
from shared import commands
from shared.db import Connection
from shared.envelope import Causation
from shared.events import ComplaintType, FindingOutcome, PatrolFinding, PatrolRecorded
from shared.events.area import within
from shared.http import Problem


async def fix_on_spot(
    intake: Intake,
    conn: Connection,
    command: FixOnSpot,
    actor: str,
    causation: Causation,
    patrol_id: UUID | None = None,
) -> Saved:
    """Record a matter fixed on the spot (随手做): numbered, classified, closed at once, in
    the caller's transaction; nothing is dispatched (Problem 422 for an unknown area or
    category)."""
    catalogue = await intake.catalogue(conn)
    _check_known(catalogue, command.area_code, command.category)
    complaint_type, category, classified_by = _classify(
        catalogue, command.text, command.type, command.category
    )
    sequence = await store.next_case_sequence(conn)
    now = datetime.now(UTC)
    filing = onspot.OnSpotFiling(
        complaint_id=uuid.uuid4(),
        case_number=case_number(sequence, now),
        filed_at=now,
        type=complaint_type,
        category=category,
        classified_by=classified_by,
        actor=actor,
        patrol_id=patrol_id,
    )
    new_events = onspot.fix_on_spot(command, filing)
    stream = store.stream_of(filing.complaint_id)
    recorded = await intake.events.append(conn, stream, new_events, causation, 0)
    state = fold(new_events)
    assert state is not None
    notes = [describe(event) for event in new_events]
    place = (
        catalogue.place(command.area_code, "grid"),
        catalogue.place(command.area_code, "building"),
    )
    [view] = await store.save_new_views(conn, [(state, notes[-1], *place)])
    await store.add_updates(conn, filing.complaint_id, recorded, notes)
    return Saved(state, view)


async def record_patrol(
    intake: Intake, conn: Connection, command: RecordPatrol, actor: str, causation: Causation
) -> tuple[PatrolRecorded, list[Saved]]:
    """Record a patrol (巡查) in the caller's transaction: each finding fixed on the spot
    becomes a 随手做 case, a reported one names the case filed for it, the rest are noted.
    Returns the patrol and the 随手做 cases it made (Problem 422 for a finding outside the
    patrol's area, an unknown area, category or case number)."""
    catalogue = await intake.catalogue(conn)
    _check_known(catalogue, command.area_code, None)
    for index, finding in enumerate(command.findings):
        at = f"findings[{index}]."
        _check_known(catalogue, finding.area_code, finding.category, at)
        if not within(finding.area_code, command.area_code):
            raise Problem(
                422,
                f"发现地点 {finding.area_code} 不在巡查区域 {command.area_code} 内"
                " The finding lies outside the patrol's area",
                field=f"{at}area_code",
            )
    patrol_id = uuid.uuid4()
    findings: list[PatrolFinding] = []
    fixed: list[Saved] = []
    for index, finding in enumerate(command.findings):
        complaint_id: UUID | None = None
        number: str | None = None
        category = finding.category
        if finding.done is not None:
            fix = FixOnSpot(
                text=finding.text,
                done=finding.done,
                type=finding.type,
                category=finding.category,
                area_code=finding.area_code,
                address=finding.address,
                media_urls=finding.media_urls,
                worker=command.patroller,
            )
            saved = await fix_on_spot(intake, conn, fix, actor, causation, patrol_id)
            fixed.append(saved)
            outcome = FindingOutcome.FIXED_ON_SPOT
            complaint_id, number = saved.state.complaint_id, saved.state.case_number
            category = saved.state.category
        elif finding.case_number is not None:
            view = await store.find_view(conn, case_number=finding.case_number)
            if view is None:
                raise Problem(
                    422,
                    f"诉求 {finding.case_number} 不存在 No such case",
                    field=f"findings[{index}].case_number",
                )
            outcome = FindingOutcome.REPORTED
            complaint_id, number = view["complaint_id"], finding.case_number
            category = category or view["category"]
        else:
            outcome = FindingOutcome.NOTED
            if category is None:
                category = _classify(catalogue, finding.text, finding.type, None)[1]
        findings.append(
            PatrolFinding(
                finding_id=uuid.uuid4(),
                area_code=finding.area_code,
                category=category,
                text=finding.text,
                outcome=outcome,
                complaint_id=complaint_id,
                case_number=number,
            )
        )
    patrol = onspot.record_patrol(patrol_id, command, findings, actor, commands.now())
    await intake.events.append(conn, store.patrol_stream(patrol_id), [patrol], causation, 0)
    return patrol, fixed


def _classify(
    catalogue: Catalogue,
    text: str,
    complaint_type: ComplaintType | None,
    category: str | None,
) -> tuple[ComplaintType, str, str]:
    """Type, category and who decided them: as given, else the classifier's best guess."""
    if complaint_type is not None and category is not None:
        return complaint_type, category, "channel"
    guess = catalogue_classifier(catalogue).classify(text)
    return (
        complaint_type or guess.type,
        category or guess.category,
        "channel" if category else "auto",
    )


def _check_known(catalogue: Catalogue, area_code: str, category: str | None, at: str = "") -> None:
    """Problem 422 unless the area (and the category, if one is named) is the catalogue's."""
    if area_code not in catalogue.areas:
        raise Problem(422, f"未知的区划代码 {area_code} Unknown area code", field=f"{at}area_code")
    if category is not None and category not in catalogue.categories:
        raise Problem(422, f"未知的诉求类别 {category} Unknown category", field=f"{at}category")
