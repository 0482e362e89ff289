"""随手做 and 巡查 in reporting, live: the events the real intake recorded for a grid worker's
fixes and patrols, published as intake's relay publishes them to a running reporting, come out
on the public 随手做 list, in the case view, in the measures (by grid and month) and, for a place
found again and again on patrol, among the recurring places."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from deploy.local.processes import free_ports, tansu_broker, wait_for_port_open
from services.intake import store as intake_store
from services.reporting.main import create_app
from services.reporting.settings import ReportingSettings
from shared.db import drop_database, with_database
from shared.topics import COMPLAINT_EVENTS, DISPATCH_EVENTS
from tests.integration.conftest import (
    BROKER_STOP_S,
    FAST,
    IntakeServer,
    demo_city_changed,
    serving,
    until,
)
from tests.integration.kafka_helpers import publish_events
from tests.support.examples import READER

pytestmark = pytest.mark.integration

GRID_PATROL = {"X-API-Key": "dev-key-grid_patrol"}
HUIXIANSHAN = "370124001001"  # 会仙山社区
GRID_1 = "370124001001-G01"  # 会仙山社区第一网格（玫城丽都小区）
MEICHENG_1 = "370124001001-G01-B01"  # 玫城丽都1号楼
MEICHENG_2 = "370124001001-G01-B02"  # 玫城丽都2号楼


@dataclass
class Live:
    url: str
    bootstrap: str


@pytest.fixture(scope="module")
async def reporting(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Live]:
    """Reporting on a broker of its own, the demo city's names published to it."""
    broker_port, port = free_ports(2)
    broker = tansu_broker(broker_port, tmp_path_factory.mktemp("onspot-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(broker_port)
    bootstrap = f"127.0.0.1:{broker_port}"
    database_url = with_database(pg_server_url, f"t_reporting_onspot_{uuid.uuid4().hex[:8]}")
    settings = ReportingSettings(
        database_url=database_url, kafka_bootstrap_servers=bootstrap, port=port, **FAST
    )
    async with serving(create_app(settings), settings.port) as url:
        await publish_events(bootstrap, DISPATCH_EVENTS, [demo_city_changed()])
        yield Live(url, bootstrap)
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(database_url)


async def relay(intake: IntakeServer, bootstrap: str, streams: list[str]) -> None:
    """What intake recorded in `streams`, published as its relay publishes it (each event with
    its stream position, keyed by its complaint)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        async with intake.runtime.pool.acquire() as conn:
            for stream in streams:
                for recorded in await intake.runtime.store.read_stream(conn, stream):
                    message = recorded.to_kafka()
                    await producer.send_and_wait(
                        COMPLAINT_EVENTS, message.value, key=message.key, headers=message.headers
                    )
    finally:
        await producer.stop()


def walked(days_ago: int, done: str | None = None) -> dict[str, Any]:
    """A patrol of the 玫城丽都 grid `days_ago` days ago: the lamp east of building 2 found out
    again (noted only), and, when `done` is given, rubbish at building 1 cleared on the spot."""
    started = datetime.now(UTC) - timedelta(days=days_ago, hours=1)
    findings: list[dict[str, Any]] = [
        {
            "text": "2号楼东侧路灯不亮，夜间居民出行不便",
            "area_code": MEICHENG_2,
            "address": "玫城丽都小区2号楼东侧",
            "category": "street-lights",
        }
    ]
    if done:
        findings.append(
            {
                "text": "1号楼单元门口垃圾堆放未清运",
                "area_code": MEICHENG_1,
                "address": "玫城丽都小区1号楼单元门口",
                "category": "sanitation",
                "type": "report",
                "done": done,
            }
        )
    return {
        "area_code": GRID_1,
        "patroller": "李网格",
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=50)).isoformat(),
        "findings": findings,
    }


async def test_fixes_and_patrols_are_shown_counted_and_found_again_live(
    intake_server: IntakeServer, reporting: Live
):
    async with intake_server.client(**GRID_PATROL) as client:
        fixed = await client.post(
            "/onspot",
            json={
                "text": "2号楼1单元楼道有电动车充电，飞线从窗户拉下",
                "done": "已劝离楼道充电的电动车，拆除飞线，提醒住户到集中充电桩充电",
                "category": "ebike-charging",
                "type": "report",
                "area_code": "370124001001-G01-B02-U1",
                "address": "玫城丽都小区2号楼1单元602门口",
                "media_urls": ["https://example.org/onspot/after.jpg"],
                "worker": "李网格",
            },
        )
        assert fixed.status_code == 201, fixed.text
        patrols = []
        for days_ago, done in ((70, None), (35, None), (0, "已联系保洁当场清运")):
            response = await client.post("/patrols", json=walked(days_ago, done))
            assert response.status_code == 201, response.text
            patrols.append(response.json())
    on_spot = fixed.json()
    from_patrol = patrols[-1]["findings"][1]
    streams = [
        intake_store.stream_of(uuid.UUID(on_spot["complaint_id"])),
        intake_store.stream_of(uuid.UUID(from_patrol["complaint_id"])),
        *(intake_store.patrol_stream(uuid.UUID(p["patrol_id"])) for p in patrols),
    ]
    await relay(intake_server, reporting.bootstrap, streams)

    async with httpx.AsyncClient(base_url=reporting.url, timeout=30) as client:

        async def listed() -> dict[str, Any] | None:
            page = (await client.get("/board/onspot", params={"area_code": HUIXIANSHAN})).json()
            return page if page["total"] == 2 else None

        public = await until(listed, 60, "both 随手做 on the public list")

        async def measured() -> list[dict[str, Any]] | None:
            rows = (
                await client.get("/measures", params={"group_by": "grid", "area_code": HUIXIANSHAN})
            ).json()["items"]
            grid = next((r for r in rows if r["key"]["grid"] == GRID_1), None)
            return rows if grid and grid["counts"]["patrols"] == 3 else None

        rows = await until(measured, 60, "the three patrols counted")
        monthly = (
            await client.get("/measures", params={"group_by": "grid,month", "area_code": GRID_1})
        ).json()["items"]
        recurring = (
            await client.get("/proactive/recurring", params={"area_code": HUIXIANSHAN})
        ).json()["items"]
        case = await client.get(f"/cases/{on_spot['complaint_id']}", headers=READER)
        board = (await client.get("/board", params={"area_code": HUIXIANSHAN})).json()
        exported = await client.get(
            "/board/onspot", params={"area_code": HUIXIANSHAN, "format": "csv"}
        )
        definitions = (await client.get("/measures/definitions")).json()
        walks = (await client.get("/patrols", params={"area_code": GRID_1})).json()

    # The public list: what was done and by whom, the place to the building, no resident.
    assert {i["case_number"] for i in public["items"]} == {
        on_spot["case_number"],
        from_patrol["case_number"],
    }
    by_number = {i["case_number"]: i for i in public["items"]}
    mine = by_number[on_spot["case_number"]]
    assert mine["area_code"] == MEICHENG_2, "no finer than the building"
    assert mine["place_name"] == "玫城丽都2号楼" and mine["community_name"] == "会仙山社区"
    assert "拆除飞线" in mine["done"] and mine["worker"] == "李网格"
    assert mine["on_patrol"] is False and by_number[from_patrol["case_number"]]["on_patrol"]
    assert "602" not in str(public) and "text" not in mine and "address" not in mine
    assert exported.status_code == 200 and "拆除飞线" in exported.content.decode("utf-8-sig")

    # The measures: 随手做 and patrols by grid, and by month.
    grid = next(r for r in rows if r["key"]["grid"] == GRID_1)
    assert grid["values"]["on_spot"] == 2
    assert grid["values"]["patrols"] == 3 and grid["values"]["patrol_findings"] == 4
    assert grid["counts"]["patrol_fixed"] == 1
    by_month = {r["key"]["month"]: r["counts"]["patrols"] for r in monthly}
    assert sum(by_month.values()) == 3 and len(by_month) >= 2, "70, 35 and 0 days ago"
    assert "on_spot" in {d["name"] for d in definitions["measures"]}

    # The patrols, the latest first: who walked, how much was found and fixed.
    assert walks["total"] == 3
    assert [w["patrol_id"] for w in walks["items"]] == [p["patrol_id"] for p in reversed(patrols)]
    latest = walks["items"][0]
    assert (latest["patroller"], latest["findings"], latest["fixed_on_spot"]) == ("李网格", 2, 1)
    assert latest["area_name"] == "会仙山社区第一网格（玫城丽都小区）"

    # The lamp found out on three patrols in two months or more: a recurring place with no
    # resident's complaint behind it.
    lamp = next(
        r for r in recurring if (r["place"], r["category"]) == (MEICHENG_2, "street-lights")
    )
    assert lamp["cases"] == 3 and lamp["found_on_patrol"] == 3
    assert all(e["on_patrol"] and e["case_number"] is None for e in lamp["evidence"])

    # The case view shows it as 随手做; it was never dispatched and is not on the board.
    assert case.status_code == 200, case.text
    shown = case.json()
    assert shown["status"] == "closed" and shown["on_spot"]["label"] == "随手做"
    assert shown["on_spot"]["worker"] == "李网格" and shown["on_spot"]["photos"] == 1
    assert shown["work_orders"] == [] and shown["dispatched_at"] is None
    assert on_spot["case_number"] not in {i["case_number"] for i in board["items"]}
