"""A generated city (deploy/citygen, scale 0.01: three streets) loaded through the CSV form
into a real dispatch: it routes a filed complaint to its street's unit, intake follows its
parts into one catalogue, and reporting ranks its streets."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from deploy.citygen.model import City, generate
from deploy.citygen.write import csv_sections, form_fields
from services.dispatch import store as dispatch_store
from services.dispatch.domain.city import CITY_PART_SIZE
from services.intake.main import SCHEMA as INTAKE_SCHEMA
from services.intake.store import follow_city
from services.reporting import measures
from services.reporting.measures import load_config
from services.reporting.settings import ReportingSettings
from shared.db import apply_schema, connect
from shared.envelope import Envelope
from shared.events import CityModelChanged
from shared.eventstore import EventStore
from tests.integration.conftest import DispatchServer
from tests.integration.reporting.test_reporting_replay import prepare_reporting
from tests.support import examples
from tests.support.city_stories import stories
from tests.support.reporting_story import project_all

pytestmark = pytest.mark.integration

GENERATED = generate(seed=1, scale=0.01)
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)


def a_building(city: City) -> str:
    return next(a["code"] for a in city.areas if a["level"] == "building")


@pytest.fixture(scope="module")
async def loaded(dispatch_server: DispatchServer) -> dict[str, Any]:
    """The generated city, sent as the CSV sections of one multipart form."""
    files = {
        name: (f"{name}.csv", text.encode(), "text/csv")
        for name, text in csv_sections(GENERATED).items()
    }
    async with dispatch_server.client() as client:
        response = await client.put(
            "/admin/city", params={"reason": "beijing"}, data=form_fields(GENERATED), files=files
        )
    assert response.status_code == 200, response.text
    return response.json()


async def city_events(server: DispatchServer) -> list[Envelope]:
    conn = await connect(server.database_url)
    try:
        recorded = await EventStore("/jiesu/dispatch").read_stream(conn, dispatch_store.CITY_STREAM)
    finally:
        await conn.close()
    return [r.to_envelope() for r in recorded]


async def test_the_csv_form_loads_the_city_as_several_parts(loaded, dispatch_server):
    assert loaded["areas"] == len(GENERATED.areas) and loaded["rules"] == len(GENERATED.catalogue)
    assert loaded["changes"] > 2 * CITY_PART_SIZE
    parts = [
        e.event
        for e in await city_events(dispatch_server)
        if isinstance(e.event, CityModelChanged)
        and e.event.catalogue_version == loaded["catalogue_version"]
    ]
    assert len(parts) == parts[0].parts > 2
    assert sum(len(p.changes) for p in parts) == loaded["changes"]


async def test_a_filed_complaint_goes_to_its_street_s_police_station(loaded, dispatch_server):
    building = a_building(GENERATED)
    async with dispatch_server.client() as client:
        preview = await client.get(
            "/routing", params={"area_code": building, "category": "society-02-03"}
        )
    assert preview.json()["lead"]["id"] == f"police-{building[:9]}"

    complaint_id = uuid.uuid4()
    await dispatch_server.tell(
        examples.complaint_classified(complaint_id, "society-02-03", building)  # 盗窃
    )
    case = await dispatch_server.wait_for_case(complaint_id, lambda c: bool(c["work_orders"]))
    lead = next(o for o in case["work_orders"] if o["work_order_id"] == case["lead_work_order_id"])
    assert lead["responder"]["id"] == f"police-{building[:9]}"
    assert lead["routing"]["rule_id"] == f"s{building[:9]}-society-02-03"


async def test_intake_follows_every_part_into_one_catalogue(loaded, dispatch_server, pool):
    await apply_schema(pool, INTAKE_SCHEMA)
    parts = [
        e.event
        for e in await city_events(dispatch_server)
        if isinstance(e.event, CityModelChanged)
        and e.event.catalogue_version == loaded["catalogue_version"]
    ]
    async with pool.acquire() as conn:
        for part in [*parts, parts[1]]:  # the second part again, after the version is whole
            async with conn.transaction():
                await follow_city(conn, part)
        body = await conn.fetchval(
            "SELECT body FROM catalogues WHERE version = $1 AND checksum <> ''",
            loaded["catalogue_version"],
        )
        assert await conn.fetchval("SELECT count(*) FROM catalogue_parts") == 0
    assert body["city"] == "北京市"
    assert [a["code"] for a in body["areas"]] == [a["code"] for a in GENERATED.areas]
    assert {c["code"]: c["keywords"] for c in body["categories"]} == {
        c["code"]: c["keywords"] for c in GENERATED.categories
    }


async def test_reporting_ranks_every_street_of_the_city(loaded, dispatch_server, pool):
    await prepare_reporting(pool)
    told = stories(GENERATED, 60, NOVEMBER)
    async with pool.acquire() as conn:
        await project_all(conn, await city_events(dispatch_server))
        await project_all(conn, [e for s in told for e in s.envelopes])
        ranking = await measures.ranking(
            conn,
            load_config(ReportingSettings().measures_file),
            "streets",
            "2026-11",
            datetime(2026, 12, 1, tzinfo=UTC),
        )
    streets = {a["code"]: a["name"] for a in GENERATED.areas if a["level"] == "street"}
    entries = ranking["entries"]
    assert {e["unit"]: e["unit_name"] for e in entries} == streets
    assert [e["rank"] for e in entries] == [1, 2, 3]
    assert sum(e["values"]["volume"] for e in entries) == 60
