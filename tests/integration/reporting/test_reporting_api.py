"""Reporting's query API over HTTP: every read model paged, filtered and exported as CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from deploy.local.processes import free_ports, tansu_broker, wait_for_port_open
from services.reporting import auth
from services.reporting.main import create_app
from services.reporting.settings import ReportingSettings
from shared.db import connect, drop_database, with_database
from tests.integration.conftest import BROKER_STOP_S, FAST, serving
from tests.integration.reporting.test_reporting_measures import (
    AS_OF,
    YUSHAN,
    YUSHAN_VALUES,
    november,
    seed,
)
from tests.support.examples import READER
from tests.support.reporting_story import Story, agenda_story, project_all

pytestmark = pytest.mark.integration


@dataclass
class Reporting:
    url: str
    database_url: str
    stories: list[Story]

    def client(self, **headers: str) -> httpx.AsyncClient:
        """A client for the public routes; `READER` for cases and agendas."""
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30)


@pytest.fixture(scope="module")
async def reporting(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Reporting]:
    """Reporting on a broker of its own (nothing else's events reach it), its tables seeded
    with the hand-worked November and two agenda items."""
    broker_port, port = free_ports(2)
    broker = tansu_broker(broker_port, tmp_path_factory.mktemp("reporting-broker") / "broker.log")
    broker.start()
    await wait_for_port_open(broker_port)
    database_url = with_database(pg_server_url, f"t_reporting_api_{uuid.uuid4().hex[:8]}")
    settings = ReportingSettings(
        database_url=database_url,
        kafka_bootstrap_servers=f"127.0.0.1:{broker_port}",
        port=port,
        **FAST,
    )
    stories = november()
    async with serving(create_app(settings), settings.port) as url:
        conn = await connect(database_url)
        try:
            await seed(conn, stories)
            await project_all(conn, agenda_story())
        finally:
            await conn.close()
        yield Reporting(url, database_url, stories)
    await broker.stop(timeout=BROKER_STOP_S)
    await drop_database(database_url)


def read_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_board_pages_filters_by_area_and_exports(reporting: Reporting):
    async with reporting.client() as client:
        page = (await client.get("/board", params={"as_of": AS_OF.isoformat()})).json()
        second = (
            await client.get("/board", params={"as_of": AS_OF.isoformat(), "limit": 1, "offset": 1})
        ).json()
        street = (
            await client.get(
                "/board", params={"as_of": AS_OF.isoformat(), "area_code": "370124002000"}
            )
        ).json()
        exported = read_csv(
            await client.get("/board", params={"as_of": AS_OF.isoformat(), "format": "csv"})
        )
        bad = await client.get("/board", params={"area_code": "榆山"})
        not_a_code = await client.get("/board", params={"area_code": "370124-g01"})
    assert [i["case_number"] for i in page["items"]] == ["H", "C", "G"]
    assert page["total"] == 3 and page["overdue_on_page"] == 2
    h, c, g = page["items"]
    assert c["stage"] == "handling" and c["stage_label"] == "办理中"
    assert c["responsible_person"] == "王晓东" and c["time_left"] == "超期11天2小时"
    assert g["responsible_person"] == "供水张师傅" and g["time_left"] == "剩余3天13小时"
    assert h["stage_label"] == "待签收" and h["overdue"]
    assert (
        "text" not in c and "address" not in c and "masked_phone" not in c
    )  # public: no resident data
    assert [i["case_number"] for i in second["items"]] == ["C"] and second["total"] == 3
    assert [i["case_number"] for i in street["items"]] == ["G"]
    assert [row["诉求编号/case_number"] for row in exported] == ["H", "C", "G"]
    assert exported[1]["责任人/responsible_person"] == "王晓东"
    assert bad.status_code == 422
    assert not_a_code.status_code == 422  # the one area-code pattern, as in the other services


async def test_the_three_rates_by_street_as_json_and_csv(reporting: Reporting):
    params = {
        "group_by": "street",
        "month_from": "2026-11",
        "month_to": "2026-11",
        "as_of": AS_OF.isoformat(),
    }
    async with reporting.client() as client:
        body = (await client.get("/measures", params=params)).json()
        rows = read_csv(await client.get("/measures", params={**params, "format": "csv"}))
        monthly = (
            await client.get("/measures", params={"group_by": "street,month", "limit": 1})
        ).json()
        wrong = await client.get("/measures", params={"group_by": "street,planet"})
        definitions = (await client.get("/measures/definitions")).json()
    yushan = next(i for i in body["items"] if i["key"]["street"] == YUSHAN)
    assert yushan["key"]["street_name"] == "榆山街道"
    assert yushan["values"] == YUSHAN_VALUES and yushan["composite_score"] == 72.5
    by_street = {r["street"]: r for r in rows}
    assert by_street[YUSHAN]["响应率/response_rate"] == "0.6667"
    assert by_street[YUSHAN]["解决率/resolution_rate"] == "1.0"
    assert by_street[YUSHAN]["满意率/satisfaction_rate"] == "0.5"
    assert by_street[YUSHAN]["综合得分/composite_score"] == "72.5"
    assert monthly["total"] == 3 and len(monthly["items"]) == 1  # 榆山 Oct, 榆山 Nov, 锦水 Nov
    assert wrong.status_code == 422 and "group_by" in wrong.json()["detail"]
    names = {m["name"]: m for m in definitions["measures"]}
    assert (
        names["response_rate"]["label"] == "响应率"
        and names["response_rate"]["denominator"] == "lead_orders"
    )
    assert definitions["composite"]["weights"] == {
        "response_rate": 0.3,
        "resolution_rate": 0.35,
        "satisfaction_rate": 0.35,
    }
    assert {c["name"] for c in definitions["counts"]} >= {"responded", "lead_orders", "rated"}


async def test_the_monthly_ranking_over_http(reporting: Reporting):
    async with reporting.client() as client:
        streets = (
            await client.get(
                "/rankings/streets", params={"month": "2026-11", "as_of": AS_OF.isoformat()}
            )
        ).json()
        rows = read_csv(
            await client.get(
                "/rankings/departments",
                params={"month": "2026-11", "as_of": AS_OF.isoformat(), "format": "csv"},
            )
        )
        unknown = await client.get("/rankings/planets", params={"month": "2026-11"})
        bad_month = await client.get("/rankings/streets", params={"month": "2026-13"})
    assert [
        (e["rank"], e["unit_name"], e["composite_score"], e["governance"])
        for e in streets["entries"]
    ] == [
        (1, "榆山街道", 72.5, False),
        (2, "锦水街道", 15.0, True),
    ]
    assert streets["entries"][0]["red_list"] and streets["entries"][1]["black_list"]
    assert [r["单位代码/unit"] for r in rows] == ["util-water", "dept-urban", "dept-municipal"]
    assert [r["治理类/governance"] for r in rows] == ["False", "False", "True"]
    assert unknown.status_code == 404 and "streets" in unknown.json()["detail"]
    assert bad_month.status_code == 422


async def test_cases_carry_open311_fields_and_filter_by_type(reporting: Reporting):
    a = reporting.stories[0]
    async with reporting.client(**READER) as client:
        case = (await client.get(f"/cases/{a.id}")).json()
        consultations = (await client.get("/cases", params={"type": "consultation"})).json()
        exported = read_csv(
            await client.get("/cases", params={"area_code": "370124002000", "format": "csv"})
        )
        missing = await client.get(f"/cases/{uuid.uuid4()}")
    assert case["status"] == "called_back" and case["rated_satisfied"] is True
    assert case["open311"]["status"] == "closed" and case["open311"]["service_code"] == "roof-leak"
    assert case["open311"]["agency_responsible"] == "玫城丽都物业服务中心"
    assert case["open311"]["service_name"] == "房屋漏水"
    assert case["deadline"] == case["open311"]["expected_datetime"]
    assert len(case["work_orders"]) == 2 and case["work_orders"][0]["signed_at"]
    assert [c["case_number"] for c in consultations["items"]] == ["D"]
    assert sorted(r["诉求编号/case_number"] for r in exported) == ["F", "G"]
    assert missing.status_code == 404


async def test_hot_spots_and_proactive_governance_over_http(reporting: Reporting):
    async with reporting.client() as client:
        hot = (
            await client.get(
                "/hotspots", params={"level": "street", "weeks": 6, "as_of": AS_OF.isoformat()}
            )
        ).json()
        exported = read_csv(
            await client.get(
                "/hotspots", params={"level": "grid", "format": "csv", "as_of": AS_OF.isoformat()}
            )
        )
        recurring = (
            await client.get("/proactive/recurring", params={"as_of": AS_OF.isoformat()})
        ).json()
        topics = (await client.get("/proactive/monthly-topics", params={"month": "2026-11"})).json()
        bad = await client.get("/hotspots", params={"level": "planet"})
    # every valid matter of the last six weeks by street: A and H (roof), B, C; F, G
    assert {(h["area_name"], h["category"], h["total"]) for h in hot["items"]} == {
        ("榆山街道", "roof-leak", 2),
        ("榆山街道", "parking", 1),
        ("榆山街道", "sanitation", 1),
        ("锦水街道", "road-damage", 1),
        ("锦水街道", "street-lights", 1),
    }
    assert hot["total"] == 5 and all(len(h["weekly"]) == 6 for h in hot["items"])
    assert exported and "逐周/weekly" in exported[0]
    assert recurring["items"] == []  # one month of matters: nothing recurs yet
    # no category reaches three valid matters in November: nothing to suggest
    assert topics["month"] == "2026-11" and topics["items"] == [] and topics["total"] == 0
    assert bad.status_code == 422


async def test_the_agendas_of_a_community_and_of_the_district(reporting: Reporting):
    async with reporting.client(**READER) as client:
        community = (await client.get("/agenda", params={"community_code": "370124001001"})).json()
        district = (
            await client.get("/agenda/joint-meeting", params={"district_code": "370124000000"})
        ).json()
        exported = read_csv(await client.get("/agenda/joint-meeting", params={"format": "csv"}))
        models = (await client.get("/read-models")).json()
    assert [i["title"] for i in community["items"]] == ["小区北门拓宽"]
    assert (
        community["items"][0]["stage_label"] == "监督评审"
        and community["items"][0]["review_satisfied"]
    )
    assert [i["title"] for i in district["items"]] == ["老旧小区加装电梯费用分摊"]
    joint = district["items"][0]
    assert joint["level"] == "district" and joint["district_name"] == "平阴县"
    assert joint["stage"] == "topic_set" and joint["topic"] == "加装电梯费用分摊方案"
    assert [r["议题/title"] for r in exported] == ["老旧小区加装电梯费用分摊"]
    assert {m["name"] for m in models} == {
        "cases",
        "timeline",
        "agenda",
        "ballots",
        "matters",
        "city",
        "meetings",
        "patrols",
    }


async def test_cases_and_agendas_need_a_key_and_show_only_its_area(reporting: Reporting):
    """A street's staff key lists its street's cases, exports them, and answers 404 for a case
    elsewhere, as for one that does not exist; without a key, 401; a public page shows no
    resident's text, address or phone."""
    conn = await connect(reporting.database_url)
    try:
        _, jinshui = await auth.KEYS.create(
            conn, name="锦水街道工作人员", role=auth.Role.STAFF, scope="370124002000"
        )
        _, yushan = await auth.KEYS.create(
            conn, name="榆山街道工作人员", role=auth.Role.STAFF, scope="370124001000"
        )
        texts = [r["text"] for r in await conn.fetch("SELECT text FROM cases WHERE text <> ''")]
        addresses = [
            r["address"] for r in await conn.fetch("SELECT address FROM cases WHERE address <> ''")
        ]
    finally:
        await conn.close()
    a = reporting.stories[0]  # in 榆山街道
    async with reporting.client(**{"X-API-Key": jinshui}) as client:
        listed = (await client.get("/cases", params={"limit": 100})).json()
        exported = read_csv(await client.get("/cases", params={"format": "csv"}))
        elsewhere = await client.get(f"/cases/{a.id}")
        agenda = (await client.get("/agenda")).json()
        asked_for_yushan = (await client.get("/cases", params={"area_code": "370124001000"})).json()
    async with reporting.client(**{"X-API-Key": yushan}) as client:
        own = await client.get(f"/cases/{a.id}")
        yushan_agenda = (await client.get("/agenda")).json()
    async with reporting.client() as client:
        anonymous = [
            await client.get("/cases"),
            await client.get(f"/cases/{a.id}"),
            await client.get("/agenda"),
            await client.get("/agenda/joint-meeting"),
            await client.get("/read-models"),
        ]
        public = [
            await client.get("/board", params={"as_of": AS_OF.isoformat()}),
            await client.get("/proactive/recurring", params={"as_of": AS_OF.isoformat()}),
            await client.get("/hotspots", params={"level": "grid", "as_of": AS_OF.isoformat()}),
        ]
    async with reporting.client(**{"X-API-Key": "not-a-key"}) as client:
        wrong = await client.get("/cases")
    async with reporting.client(**{"X-API-Key": jinshui}) as client:
        not_for_staff = await client.get("/read-models")

    assert listed["total"] == 2 and {i["street_code"] for i in listed["items"]} == {"370124002000"}
    assert sorted(r["诉求编号/case_number"] for r in exported) == ["F", "G"]
    assert elsewhere.status_code == 404 and elsewhere.json()["detail"].startswith("案件")
    assert agenda["items"] == []  # both agenda items are 榆山's
    assert asked_for_yushan["total"] == 0  # a filter cannot widen the key's area
    assert own.status_code == 200 and own.json()["text"]
    assert [i["title"] for i in yushan_agenda["items"]] == ["小区北门拓宽"]
    assert all(r.status_code == 401 for r in anonymous), [r.status_code for r in anonymous]
    assert all(r.headers["www-authenticate"].startswith("Bearer") for r in anonymous)
    assert wrong.status_code == 401
    assert not_for_staff.status_code == 403
    assert not_for_staff.json()["audience"] == ["supervisor", "admin"]
    assert texts and addresses
    for page in public:
        assert page.status_code == 200
        assert not any(t in page.text for t in texts + addresses)
