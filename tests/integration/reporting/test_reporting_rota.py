"""The 督办墙's 政务事项 and the residents' WeChat group's one-hour reply in reporting, over HTTP
on real Postgres (seed 002: 专设民生事项督办墙、展示屏，对于低保申请、尊老金发放、独生子女费申领等
事项一律公开进度，明确专人限时办理; 1小时内在群内公开回复群众诉求)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from deploy.local.processes import free_ports, tansu_broker, wait_for_port_open
from services.reporting.main import create_app
from services.reporting.settings import ReportingSettings
from shared.db import connect, drop_database, with_database
from shared.envelope import Envelope
from shared.events import (
    Channel,
    Event,
    GroupReplyPosted,
    MatterKind,
    OrderClock,
    ResponderRole,
    ServiceMatterBreached,
    ServiceMatterCompleted,
    ServiceMatterOpened,
    ServiceMatterProgressed,
    WorkOrderIssued,
)
from tests.integration.conftest import BROKER_STOP_S, FAST, serving
from tests.support import examples
from tests.support.reporting_story import project_all

pytestmark = pytest.mark.integration

COMMUNITY = {"community_code": "370124001001", "community_name": "会仙山社区"}
AREA = "370124001001-G01-B02-U1"
T = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in China, a Monday
H = timedelta(hours=1)
AS_OF = T + 30 * 24 * H


def envelopes(stream: list[tuple[datetime, Event]]) -> list[Envelope]:
    """One stream's events as its store numbers them."""
    return [
        Envelope(
            event=event,
            id=uuid.uuid4(),
            source="/jiesu/dispatch",
            time=at,
            correlation_id=uuid.uuid4(),
            sequence=position,
        )
        for position, (at, event) in enumerate(stream, 1)
    ]


def group_message(replied_after: timedelta) -> list[Envelope]:
    """A message in 会仙山's residents' group, the night shift's order, and its reply."""
    filed = examples.complaint_filed(
        channel=Channel.WECHAT, wechat_group="370124001001", area_code=AREA, filed_at=T
    )
    order = WorkOrderIssued(
        work_order_id=uuid.uuid4(),
        complaint_id=filed.complaint_id,
        responder_id="member-huixianshan-wang",
        responder_name="会仙山社区两委 王强",
        responder_kind="committee_member",
        role=ResponderRole.CO,
        category=None,
        area_code=AREA,
        rule_id=None,
        catalogue_version=1,
        reason="居民微信群诉求，按值班表由值班人员王强回复",
        priority="general",
        due_at=T + H,
        issued_at=T,
        purpose="group_reply",
        clocks=[OrderClock(name="group_reply", due_at=T + H, warn_at=T + 0.8 * H)],
    )
    reply = GroupReplyPosted(
        work_order_id=order.work_order_id,
        complaint_id=filed.complaint_id,
        responder_id=order.responder_id,
        responder_name=order.responder_name,
        community_code="370124001001",
        reply="已收到，明天上午来修楼道灯",
        actor="responder:王强",
        replied_at=T + replied_after,
    )
    intake = envelopes([(T, filed)])
    return [*intake, *envelopes([(T, order), (T + replied_after, reply)])]


def matter(
    kind: MatterKind, title: str, person: str, done_after: timedelta | None
) -> list[Envelope]:
    """A matter opened at T, due in ten days, progressed, and done after `done_after` (if)."""
    matter_id = uuid.uuid4()
    due = T + 10 * 24 * H
    steps: list[tuple[datetime, Event]] = [
        (
            T,
            ServiceMatterOpened(
                matter_id=matter_id,
                kind=kind,
                title=title,
                **COMMUNITY,
                responder_id="member-huixianshan-zhang",
                person=person,
                time_limit="10wd",
                due_at=due,
                warn_at=T + 8 * 24 * H,
                actor="responder:张丽",
                opened_at=T,
            ),
        ),
        (
            T + H,
            ServiceMatterProgressed(
                matter_id=matter_id, note="材料已收齐", actor="x", progressed_at=T + H
            ),
        ),
    ]
    if done_after is None:
        breach = ServiceMatterBreached(
            matter_id=matter_id,
            responder_id="member-huixianshan-zhang",
            due_at=due,
            breached_at=due,
            supervisor_ids=["street-yushan"],
        )
        steps.append((due, breach))
    else:
        done = ServiceMatterCompleted(
            matter_id=matter_id,
            result="已发放到账",
            on_time=T + done_after <= due,
            due_at=due,
            actor="x",
            completed_at=T + done_after,
        )
        steps.append((T + done_after, done))
    return envelopes(steps)


@dataclass
class Reporting:
    url: str

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)


@pytest.fixture(scope="module")
async def reporting(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Reporting]:
    """Reporting on a broker of its own, its tables fed two group messages and two matters."""
    broker_port, port = free_ports(2)
    broker = tansu_broker(broker_port, tmp_path_factory.mktemp("rota-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(broker_port)
    database_url = with_database(pg_server_url, f"t_reporting_rota_{uuid.uuid4().hex[:8]}")
    settings = ReportingSettings(
        database_url=database_url,
        kafka_bootstrap_servers=f"127.0.0.1:{broker_port}",
        port=port,
        **FAST,
    )
    async with serving(create_app(settings), settings.port) as url:
        conn = await connect(database_url)
        try:
            await project_all(
                conn,
                [
                    *group_message(replied_after=40 * timedelta(minutes=1)),
                    *group_message(replied_after=2 * H),
                    *matter(MatterKind.ELDERLY_ALLOWANCE, "尊老金发放", "张丽", 3 * 24 * H),
                    *matter(MatterKind.SUBSISTENCE_ALLOWANCE, "低保申请", "张丽", None),
                ],
            )
        finally:
            await conn.close()
        yield Reporting(url)
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(database_url)


async def test_the_wall_shows_each_matter_with_its_named_person_and_no_applicant_data(
    reporting: Reporting,
):
    async with reporting.client() as client:
        board = (
            await client.get(
                "/board/matters", params={"as_of": AS_OF.isoformat(), "include_done": True}
            )
        ).json()
        open_only = (await client.get("/board/matters", params={"as_of": AS_OF.isoformat()})).json()
        elsewhere = (
            await client.get("/board/matters", params={"area_code": "370124002000"})
        ).json()
        street = (await client.get("/board/matters", params={"area_code": "370124001000"})).json()
    late, done = board["items"]
    assert late["kind_label"] == "低保申请" and late["overdue"] and late["status"] == "in_progress"
    assert done["kind_label"] == "尊老金发放" and done["status_label"] == "已办结"
    assert done["person"] == "张丽" and done["community_name"] == "会仙山社区"
    assert done["on_time"] is True and done["seconds_left"] is None
    assert set(done) == set(late) and not {"name", "id_number", "address", "area_code"} & set(
        done
    ), "public: no applicant data, no place finer than the community"
    assert [m["kind"] for m in open_only["items"]] == ["subsistence_allowance"]
    assert elsewhere["items"] == [] and len(street["items"]) == 1
    assert board["measures"] == {
        "due": 2,
        "done": 1,
        "done_on_time": 1,
        "overdue": 1,
        "open": 1,
        "on_time_rate": 0.5,
    }


async def test_the_group_reply_on_time_rate_counts_replies_within_the_hour(
    reporting: Reporting,
):
    async with reporting.client() as client:
        page = (
            await client.get(
                "/measures",
                params={"as_of": AS_OF.isoformat(), "area_code": "370124001001"},
            )
        ).json()
    (row,) = page["items"]
    assert row["counts"]["group_replies_due"] == 2
    assert row["counts"]["group_replied_on_time"] == 1
    assert row["values"]["group_reply_on_time_rate"] == 0.5


async def test_the_wall_page_lists_the_open_matters_next_to_the_complaints(reporting: Reporting):
    async with reporting.client() as client:
        page = await client.get("/wall", params={"community": "370124001001"})
    assert page.status_code == 200, page.text
    assert 'data-testid="wall-matters"' in page.text
    assert "低保申请" in page.text and "张丽" in page.text and "超期" in page.text
    assert page.text.count('data-testid="service-matter"') == 1, "a matter done leaves the wall"
