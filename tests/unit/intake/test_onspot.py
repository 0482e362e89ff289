"""随手做 and 巡查 as pure decisions: a fix on the spot is filed, classified and closed in one
breath with nobody behind it to seal for, tell or dispatch to; a patrol keeps its findings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.intake.domain import commands, model, onspot, words
from services.notify import domain as notify
from services.reporting import projections, rounds
from shared.envelope import Envelope
from shared.events import (
    NO_RESIDENT,
    Channel,
    ComplaintFiled,
    ComplaintStatus,
    ComplaintType,
    FindingOutcome,
    OnSpotFixRecorded,
    PatrolFinding,
)
from shared.sealing import needs_sealing

NOW = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
MEICHENG_2 = "370124001001-G01-B02"


def fix(**overrides: object) -> commands.FixOnSpot:
    body: dict[str, object] = {
        "text": "2号楼1单元楼道堆放杂物，联系电话 138 1234 5678",
        "done": "已当场清理楼道杂物",
        "area_code": MEICHENG_2,
        "address": "玫城丽都小区2号楼1单元",
        "worker": "李网格",
        "media_urls": ["https://example.org/after.jpg"],
    }
    body.update(overrides)
    return commands.FixOnSpot.model_validate(body)


def filing(patrol_id: uuid.UUID | None = None) -> onspot.OnSpotFiling:
    return onspot.OnSpotFiling(
        complaint_id=uuid.uuid4(),
        case_number="JS-20261124-000042",
        filed_at=NOW,
        type=ComplaintType.REPORT,
        category="sanitation",
        classified_by="channel",
        actor="channel:grid_patrol",
        patrol_id=patrol_id,
    )


def test_a_fix_on_the_spot_is_filed_classified_and_closed_with_no_resident_behind_it():
    filed, classified, fixed = onspot.fix_on_spot(fix(), filing())
    assert isinstance(filed, ComplaintFiled) and isinstance(fixed, OnSpotFixRecorded)
    assert filed.channel is Channel.GRID_PATROL and filed.resident_ref == NO_RESIDENT
    assert filed.masked_phone is None and "138 1234 5678" not in filed.text
    # Classified, but not "classified": that is the status dispatch routes on.
    assert classified.status is ComplaintStatus.FILED and not classified.needs_triage
    assert fixed.status is ComplaintStatus.CLOSED and fixed.worker == "李网格"
    state = model.fold([filed, classified, fixed])
    assert state is not None and state.status is ComplaintStatus.CLOSED
    assert state.media_urls == ("https://example.org/after.jpg",)
    assert words.describe(filed) == "网格员巡查发现，编号 JS-20261124-000042"
    assert words.describe(classified) == "已分类为「举报」，无需派单"
    assert words.describe(fixed) == "李网格随手做，已当场解决并办结：已当场清理楼道杂物"


def test_nothing_of_a_fix_is_sealed_and_nobody_is_sent_a_receipt():
    filed, _, _ = onspot.fix_on_spot(fix(), filing())
    assert not needs_sealing(filed), "no resident's words, no resident's key"
    facts = notify.learn(None, filed)
    assert facts is not None and notify.messages_for(filed, facts) == []


def test_a_fix_needs_what_was_done():
    with pytest.raises(ValidationError):
        fix(done="")


def test_a_finding_is_fixed_on_the_spot_or_reported_not_both():
    with pytest.raises(ValidationError):
        commands.Finding.model_validate(
            {
                "text": "路灯不亮",
                "area_code": MEICHENG_2,
                "address": "2号楼东侧",
                "done": "已报修",
                "case_number": "JS-20261124-000001",
            }
        )


def test_a_patrol_ends_after_it_began_and_names_its_time_zone():
    start = NOW.isoformat()
    body = {"area_code": "370124001001-G01", "patroller": "李网格", "started_at": start}
    with pytest.raises(ValidationError):
        commands.RecordPatrol.model_validate(
            {**body, "ended_at": (NOW - timedelta(hours=1)).isoformat()}
        )
    with pytest.raises(ValidationError):
        commands.RecordPatrol.model_validate({**body, "started_at": "2026-11-24T09:00:00"})
    walked = commands.RecordPatrol.model_validate(body)
    patrol = onspot.record_patrol(uuid.uuid4(), walked, [], "channel:grid_patrol", NOW)
    assert patrol.ended_at == NOW and patrol.findings == []


def test_reporting_reads_a_fix_into_its_case_and_a_patrol_into_its_findings():
    patrol_id = uuid.uuid4()
    _, _, fixed = onspot.fix_on_spot(fix(), filing(patrol_id))
    env = Envelope(fixed, uuid.uuid4(), "/jiesu/intake", NOW, uuid.uuid4(), sequence=2)
    written = projections.project(env)
    [case] = [w for w in written if w.table == "cases"]
    assert case.once == rounds.on_spot_columns(fixed) and case.greatest == {"closed_at": NOW}
    assert case.once["on_spot_done"] == "已当场清理楼道杂物" and case.once["patrol_id"] == patrol_id
    [line] = [w for w in written if w.table == "case_timeline"]
    assert line.once["summary"].startswith("随手做")
    walked = commands.RecordPatrol.model_validate(
        {"area_code": "370124001001-G01", "patroller": "李网格", "started_at": NOW.isoformat()}
    )
    found = [
        PatrolFinding(
            finding_id=uuid.uuid4(),
            area_code=MEICHENG_2,
            category="street-lights",
            text="2号楼东侧路灯不亮",
            outcome=FindingOutcome.NOTED,
        ),
        PatrolFinding(
            finding_id=uuid.uuid4(),
            area_code=MEICHENG_2,
            category="sanitation",
            text="楼道杂物",
            outcome=FindingOutcome.FIXED_ON_SPOT,
            complaint_id=fixed.complaint_id,
            case_number="JS-20261124-000042",
        ),
    ]
    patrol = onspot.record_patrol(patrol_id, walked, found, "channel:grid_patrol", NOW)
    env = Envelope(patrol, uuid.uuid4(), "/jiesu/intake", NOW, uuid.uuid4(), sequence=0)
    writes = projections.project(env)
    assert [w.table for w in writes] == ["patrols", "patrol_findings", "patrol_findings"]
    assert writes[1].key == {"finding_id": found[0].finding_id}
