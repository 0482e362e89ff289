"""The promise at filing and the acceptance clock of what waits for a person. The 201, the event the receipt is sent from and Open311's notice
carry the time limit that applies and when it runs out, computed from the time limits and
calendar dispatch publishes (no copy of them in intake's settings)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

from deploy.local.processes import free_ports, tansu_broker, wait_for_port_open
from deploy.local.runner import DEMO_CITY
from services.intake.main import create_app
from services.intake.settings import IntakeSettings
from services.intake.workers import triage_clock_pass
from shared.db import drop_database, with_database
from shared.deadlines import CalendarYear, TimeLimits, WorkCalendar, deadline
from shared.events import CalendarLoaded, CityChange, CityModelChanged
from shared.topics import DISPATCH_EVENTS
from tests.integration.conftest import BROKER_STOP_S, FAST, load_demo_catalogue, serving
from tests.integration.kafka_helpers import publish_events
from tests.support import examples

pytestmark = pytest.mark.integration

CALENDAR = CalendarYear.model_validate(
    {
        "year": 2026,
        "holidays": [{"name": "国庆节、中秋节", "from": "2026-10-01", "to": "2026-10-07"}],
        "workdays": [{"date": "2026-10-10", "name": "国庆节调休"}],
    }
)


@pytest.fixture(scope="module")
async def intake(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Any]]:
    """An intake of its own that has heard dispatch's time limits and calendar."""
    broker_port, port = free_ports(2)
    broker = tansu_broker(broker_port, tmp_path_factory.mktemp("promise-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(broker_port)
    bootstrap = f"127.0.0.1:{broker_port}"
    database_url = with_database(pg_server_url, f"t_promise_{uuid.uuid4().hex[:8]}")
    settings = IntakeSettings(
        database_url=database_url, kafka_bootstrap_servers=bootstrap, port=port, **FAST
    )
    app = create_app(settings)
    limits = yaml.safe_load(DEMO_CITY.read_text())["time_limits"]
    async with serving(app, port) as url:
        await load_demo_catalogue(url, bootstrap)
        now = datetime.now(UTC)
        await publish_events(
            bootstrap,
            DISPATCH_EVENTS,
            [
                CityModelChanged(
                    catalogue_version=1,
                    part=1,
                    parts=1,
                    changes=[
                        CityChange(section="settings", op="put", key="time_limits", value=limits)
                    ],
                    actor="admin:x",
                    reason="demo",
                    changed_at=now,
                ),
                CalendarLoaded(
                    year=2026,
                    holidays=[h.model_dump(mode="json", by_alias=True) for h in CALENDAR.holidays],
                    workdays=[w.model_dump(mode="json") for w in CALENDAR.workdays],
                    source=None,
                    actor="system",
                    loaded_at=now,
                ),
            ],
            source="/jiesu/dispatch",
        )
        runtime = app.state.runtime
        for _ in range(300):
            async with runtime.pool.acquire() as conn:
                heard = await conn.fetchval(
                    "SELECT (SELECT count(*) FROM dispatch_time_limits)"
                    " + (SELECT count(*) FROM dispatch_calendar)"
                )
            if heard == 2:
                break
            await asyncio.sleep(0.1)
        assert heard == 2, "intake did not follow dispatch's time limits and calendar"
        # The promise cache reads them now, not at the end of its life (5 s).
        cache = runtime.app.promises
        life, cache.ttl_s = cache.ttl_s, 0.0
        async with runtime.pool.acquire() as conn:
            assert await cache.current(conn) is not None
        cache.ttl_s = life
        yield {"url": url, "runtime": runtime, "limits": TimeLimits.model_validate(limits)}
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(database_url)


async def test_a_filing_is_promised_the_limit_of_its_tier_in_working_days(intake):
    async with httpx.AsyncClient(base_url=intake["url"], headers=examples.STAFF_KEY) as client:
        general = (await client.post("/complaints", json=examples.complaint_request(0))).json()
        dispute = (
            await client.post(
                "/complaints",
                json=examples.complaint_request(
                    0, category="neighbour-dispute", type="complaint", attributes={}
                ),
            )
        ).json()
    filed_at = datetime.fromisoformat(general["filed_at"])
    calendar = WorkCalendar.of([CALENDAR])
    assert general["due_at"] == deadline(filed_at, "7d", calendar, "working").isoformat()
    async with httpx.AsyncClient(base_url=intake["url"], headers=examples.STAFF_KEY) as client:
        shown = (await client.get(f"/complaints/{general['complaint_id']}")).json()
    assert "前办理反馈" in shown["progress"][0]["description"]  # the resident's first line
    # a category's own limit overrides its tier's (neighbour disputes: 5 working days)
    assert (
        dispute["due_at"]
        == deadline(
            datetime.fromisoformat(dispute["filed_at"]), "5d", calendar, "working"
        ).isoformat()
    )
    async with intake["runtime"].pool.acquire() as conn:
        data = await conn.fetchval(
            "SELECT data FROM events WHERE type = 'ComplaintFiled' AND data->>'complaint_id' = $1",
            general["complaint_id"],
        )
    assert data["time_limit"] == "7d" and data["promised_due_at"]


async def test_open311_tells_the_client_when_the_limit_runs_out(intake):
    fields = {
        "api_key": "dev-key-open311",
        "service_code": "roof-leak",
        "address_string": "玫城丽都2号楼",
        "description": examples.complaint_request(0)["text"],
        "phone": "13912345670",
        "attribute[floor]": "6",
        "attribute[leak_location]": "roof",
    }
    async with httpx.AsyncClient(base_url=intake["url"]) as client:
        created = (await client.post("/open311/v2/requests.json", data=fields)).json()
    assert "前办理反馈" in created[0]["service_notice"], created


async def test_a_complaint_waiting_for_a_person_is_warned_then_breached_once_each(intake):
    async with httpx.AsyncClient(base_url=intake["url"], headers=examples.STAFF_KEY) as client:
        waiting = (
            await client.post(
                "/complaints", json=examples.complaint_request(2, type="consultation")
            )
        ).json()
    assert waiting["status"] == "triage" and waiting["due_at"] is None  # no promise for it
    filed_at = datetime.fromisoformat(waiting["filed_at"])
    runtime = intake["runtime"]
    moved = [
        await triage_clock_pass(runtime, filed_at + timedelta(minutes=minutes))
        for minutes in (60, 100, 101, 121, 180)  # 2 h to accept, warned at 80 %
    ]
    async with runtime.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT type, data->>'area_code' AS area FROM events WHERE data->>'complaint_id' = $1 "
            "ORDER BY global_position",
            waiting["complaint_id"],
        )
    steps = [r["type"] for r in rows]
    clock_areas = {r["area"] for r in rows if r["type"].startswith("Triage")}
    async with httpx.AsyncClient(base_url=intake["url"], headers=examples.STAFF_KEY) as client:
        queue = (await client.get("/triage", params={"limit": 200})).json()
    assert [m > 0 for m in moved] == [False, True, False, True, False]  # (others wait too)
    assert steps.count("TriageWarned") == 1 and steps.count("TriageBreached") == 1
    assert clock_areas == {waiting["area_code"]}, "who is on duty there can be told"
    item = next(i for i in queue["items"] if i["complaint_id"] == waiting["complaint_id"])
    assert item["status"] == "triage" and item["accept_due_at"]
    assert "超过受理时限" in item["status_note"]
