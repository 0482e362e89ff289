"""随手做 and 巡查 through the real intake: a grid worker files a matter already fixed on the
spot (numbered, closed at once, no resident behind it), and records a patrol with what it found;
dispatch, told the very events intake recorded over a real broker, routes none of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from services.intake import store
from shared.events import NO_RESIDENT, ComplaintStatus, Event, parse_event
from shared.topics import COMPLAINT_EVENTS
from tests.integration.conftest import DispatchServer, IntakeServer, until
from tests.integration.kafka_helpers import publish_events
from tests.support import examples

pytestmark = pytest.mark.integration

GRID_PATROL = {"X-API-Key": "dev-key-grid_patrol"}
MEICHENG_2 = "370124001001-G01-B02"  # 玫城丽都2号楼
GRID_1 = "370124001001-G01"  # 会仙山社区第一网格（玫城丽都小区）


def fix(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "text": "玫城丽都2号楼1单元楼道内堆放纸箱杂物，有电动车在楼道充电",
        "done": "已当场清理楼道杂物，劝离楼道充电的电动车并提醒住户到集中充电桩充电",
        "category": "ebike-charging",
        "type": "report",
        "area_code": MEICHENG_2,
        "address": "平阴县榆山街道玫城丽都小区2号楼1单元楼道",
        "media_urls": [
            "https://example.org/onspot/before.jpg",
            "https://example.org/onspot/after.jpg",
        ],
        "worker": "李网格",
    }
    body.update(overrides)
    return body


async def recorded_events(intake: IntakeServer, stream: str) -> list[Event]:
    async with intake.runtime.pool.acquire() as conn:
        history = await intake.runtime.store.read_stream(conn, stream)
    return [parse_event(r.type, r.version, r.data) for r in history]


async def test_a_grid_worker_files_a_matter_fixed_on_the_spot_and_it_is_closed_at_once(
    intake_server: IntakeServer,
):
    async with intake_server.client(**GRID_PATROL) as client:
        response = await client.post("/onspot", json=fix())
        assert response.status_code == 201, response.text
        case = response.json()
        progress = (await client.get(f"/complaints/{case['case_number']}")).json()
        again = await client.post(
            f"/complaints/{case['case_number']}/close", json={"reason": "再次办结"}
        )
    assert case["case_number"].startswith("JS-")
    assert case["status"] == "closed" and case["status_label"] == "已办结"
    assert case["channel"] == "grid_patrol" and case["category"] == "ebike-charging"
    assert case["resident_ref"] == NO_RESIDENT and case["masked_phone"] is None
    assert case["media_urls"] == fix()["media_urls"]
    assert "李网格随手做" in case["status_note"] and "集中充电桩" in case["status_note"]
    assert [u["status"] for u in progress["progress"]] == ["filed", "filed", "closed"]
    assert again.status_code == 403  # the patrol channel's key closes nothing by hand

    events = await recorded_events(intake_server, store.stream_of(uuid.UUID(case["complaint_id"])))
    assert [e.event_type for e in events] == [
        "ComplaintFiled",
        "ComplaintClassified",
        "OnSpotFixRecorded",
    ]
    filed, classified, fixed = events
    # Nobody's words to seal: the finding stays readable as the grid worker wrote it.
    assert filed.sealed is None and "楼道" in filed.text  # type: ignore[attr-defined]
    assert classified.status is ComplaintStatus.FILED, "classified, yet nothing waits for dispatch"
    assert fixed.status is ComplaintStatus.CLOSED and fixed.worker == "李网格"  # type: ignore[attr-defined]
    async with intake_server.runtime.pool.acquire() as conn:
        contacts = await conn.fetchval(
            "SELECT count(*) FROM resident_keys WHERE resident_ref = $1", NO_RESIDENT
        )
    assert contacts == 0, "no contact is kept for a matter no resident filed"


async def test_only_the_grid_patrol_channel_or_staff_file_on_spot(intake_server: IntakeServer):
    async with intake_server.client(**examples.STAFF_KEY) as client:
        by_staff = await client.post("/onspot", json=fix(worker="王网格长"))
        unknown_category = await client.post("/onspot", json=fix(category="moon-dust"))
        unknown_area = await client.post("/onspot", json=fix(area_code="370124009009"))
        nothing_done = await client.post("/onspot", json=fix(done=""))
    async with intake_server.client(**{"X-API-Key": "dev-key-hotline"}) as client:
        by_hotline = await client.post("/onspot", json=fix())
    assert by_staff.status_code == 201 and by_staff.json()["status"] == "closed"
    assert unknown_category.status_code == 422 and unknown_area.status_code == 422
    assert nothing_done.status_code == 422
    assert by_hotline.status_code == 403 and "网格巡查" in by_hotline.json()["detail"]


async def test_a_retried_filing_with_the_same_idempotency_key_is_one_case(
    intake_server: IntakeServer,
):
    key = {"Idempotency-Key": f"onspot-{uuid.uuid4()}"}
    async with intake_server.client(**GRID_PATROL, **key) as client:
        first = await client.post("/onspot", json=fix())
        second = await client.post("/onspot", json=fix())
    assert first.status_code == second.status_code == 201
    assert first.json()["case_number"] == second.json()["case_number"]


def patrol(reported_case: str) -> dict[str, object]:
    started = datetime.now(UTC) - timedelta(hours=2)
    return {
        "area_code": GRID_1,
        "patroller": "李网格",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(hours=1)).isoformat(),
        "note": "每日巡：玫城丽都小区1号楼、2号楼及周边",
        "findings": [
            {
                "text": "2号楼东侧路灯不亮",
                "area_code": MEICHENG_2,
                "address": "玫城丽都小区2号楼东侧",
                "category": "street-lights",
            },
            {
                "text": "1号楼单元门口垃圾未清运",
                "area_code": "370124001001-G01-B01",
                "address": "玫城丽都小区1号楼单元门口",
                "category": "sanitation",
                "type": "report",
                "done": "已联系保洁当场清运",
            },
            {
                "text": "2号楼顶楼漏水，需物业维修",
                "area_code": MEICHENG_2,
                "address": "玫城丽都小区2号楼顶楼",
                "category": "roof-leak",
                "case_number": reported_case,
            },
        ],
    }


async def test_a_patrol_records_what_it_found_and_each_fix_becomes_a_closed_case(
    intake_server: IntakeServer,
):
    reported = await intake_server.file(0, channel="grid_patrol", area_code=MEICHENG_2)
    async with intake_server.client(**GRID_PATROL) as client:
        response = await client.post("/patrols", json=patrol(str(reported["case_number"])))
        assert response.status_code == 201, response.text
        walked = response.json()
        fixed_case = walked["findings"][1]["case_number"]
        fixed = (await client.get(f"/complaints/{fixed_case}")).json()
        outside = patrol(str(reported["case_number"]))
        outside["findings"][0]["area_code"] = "370124001002-G01-B01"  # type: ignore[index]
        refused = await client.post("/patrols", json=outside)
        no_such_case = patrol("JS-20200101-999999")
        missing = await client.post("/patrols", json=no_such_case)
    assert [f["outcome"] for f in walked["findings"]] == ["noted", "fixed_on_spot", "reported"]
    assert [f["outcome_label"] for f in walked["findings"]] == [
        "已记录待跟进",
        "随手做（当场解决）",
        "已上报办理",
    ]
    assert walked["fixed_on_spot"] == 1 and walked["patroller"] == "李网格"
    assert walked["findings"][0]["case_number"] is None
    assert walked["findings"][2]["case_number"] == reported["case_number"]
    assert fixed["status"] == "closed" and fixed["category"] == "sanitation"
    assert refused.status_code == 422 and "不在巡查区域" in refused.json()["detail"]
    assert missing.status_code == 422

    [recorded] = await recorded_events(
        intake_server, store.patrol_stream(uuid.UUID(walked["patrol_id"]))
    )
    assert recorded.event_type == "PatrolRecorded"
    assert [f.outcome.value for f in recorded.findings] == [  # type: ignore[attr-defined]
        "noted",
        "fixed_on_spot",
        "reported",
    ]
    fixed_events = await recorded_events(
        intake_server, store.stream_of(uuid.UUID(walked["findings"][1]["complaint_id"]))
    )
    assert fixed_events[-1].patrol_id == recorded.patrol_id  # type: ignore[attr-defined]


async def test_dispatch_issues_no_work_order_for_a_matter_fixed_on_the_spot(
    intake_server: IntakeServer, dispatch_server: DispatchServer
):
    """The events intake recorded for a 随手做, told to dispatch over its broker as intake's
    relay would, beside an ordinary classified complaint: the complaint is routed, the 随手做
    is seen by dispatch's consumer (its classification lands in the inbox) and never routed."""
    async with intake_server.client(**GRID_PATROL) as client:
        on_spot = (await client.post("/onspot", json=fix())).json()
    ordinary = await intake_server.file(0, channel="hotline")
    events = [
        *await recorded_events(intake_server, store.stream_of(uuid.UUID(on_spot["complaint_id"]))),
        *await recorded_events(
            intake_server, store.stream_of(uuid.UUID(str(ordinary["complaint_id"])))
        ),
    ]
    ids = await publish_events(
        dispatch_server.bootstrap, COMPLAINT_EVENTS, events, source="/jiesu/intake"
    )
    classified_id = ids[1]  # the 随手做's ComplaintClassified: what would route it
    await dispatch_server.wait_for_case(uuid.UUID(str(ordinary["complaint_id"])))

    async def seen() -> bool:
        conn = await asyncpg.connect(dispatch_server.database_url)
        try:
            return bool(
                await conn.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", classified_id)
            )
        finally:
            await conn.close()

    await until(seen, what="dispatch's consumer handled the 随手做's classification")
    async with dispatch_server.client() as client:
        case = await client.get(f"/cases/{on_spot['complaint_id']}")
        orders = await client.get("/work-orders", params={"complaint_id": on_spot["complaint_id"]})
        routed = await client.get("/work-orders", params={"complaint_id": ordinary["complaint_id"]})
    assert case.status_code == 404, "no case for a matter fixed on the spot"
    assert orders.status_code == 200 and orders.json()["work_orders"] == [], "and no work order"
    assert routed.json()["work_orders"], "while the ordinary complaint beside it was routed"
