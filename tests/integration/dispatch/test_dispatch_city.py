"""The city model over HTTP: whole files and CSV sections, single items, every version an
event, a decision explained by the rule as it stood, the holiday calendar, and the keys."""

from __future__ import annotations

import uuid
from pathlib import Path

import yaml

from deploy.local.runner import DEMO_CITY
from services.intake.domain.catalogue import CatalogueFile
from tests.integration.conftest import DispatchServer
from tests.support import examples

EXAMPLE = Path(DEMO_CITY).with_name("example_city")
SECTIONS = (
    "areas",
    "responders",
    "compounds",
    "people",
    "categories",
    "catalogue",
    "registrations",
    "duty_rota",
)


async def test_only_an_admin_key_changes_the_city(dispatch_server: DispatchServer):
    city = yaml.safe_load(DEMO_CITY.read_text())
    async with dispatch_server.client("nobody") as client:
        assert (await client.put("/admin/city", json=city)).status_code == 401
    async with dispatch_server.client("dev-key-property-meicheng") as client:
        response = await client.put("/admin/city", json=city)
        assert response.status_code == 403
        assert (await client.get("/admin/city")).status_code == 200, "any unit may read it"
    async with dispatch_server.client() as client:
        again = (await client.put("/admin/city", json=city)).json()
    assert again["changed"] is False


async def test_a_city_supplied_as_csv_sections_becomes_one_version(dispatch_server: DispatchServer):
    files = {
        name: (f"{name}.csv", (EXAMPLE / f"{name}.csv").read_bytes(), "text/csv")
        for name in SECTIONS
    }
    async with dispatch_server.client() as client:
        before = (await client.get("/admin/city")).json()["catalogue_version"]
        response = await client.put(
            "/admin/city",
            params={"reason": "load-lixia"},
            data={"city": "济南市历下区"},
            files=files,
        )
        assert response.status_code == 200, response.text
        loaded = response.json()
        assert loaded["catalogue_version"] == before + 1 and loaded["city_name"] == "济南市历下区"
        assert loaded["reason"] == "load-lixia" and loaded["areas"] == 7
        preview = (
            await client.get(
                "/routing", params={"category": "roof-leak", "area_code": "370102001001-G01-B01"}
            )
        ).json()
        assert preview["lead"]["id"] == "property-heping" and preview["rule_id"] == "L01"
        corridor = (
            await client.get(
                "/routing", params={"category": "sanitation", "area_code": "370102001001-G01-B01"}
            )
        ).json()
        assert corridor["lead"] == {
            "id": "head-heping-b01",
            "name": "和平小区1号楼楼栋长",
            "kind": "building_head",
        }
        assert [unit["id"] for unit in corridor["co"]] == ["manager-heping-b01"]
        exported = (await client.get("/admin/city/export")).json()
        # Intake takes the same file: areas and categories for validation and classification.
        assert len(CatalogueFile.model_validate(exported).areas) == 7
        # Every item that changed is on record, in parts.
        history = (await client.get("/admin/city/versions")).json()["versions"]
        assert history[-1]["changes"] == loaded["changes"] > 50
        old = (await client.get(f"/admin/city/versions/{before}")).json()["city"]
        assert old["city"] == "济南市平阴县", "an older version is rebuilt from its events"
        bad = await client.put(
            "/admin/city", files={"areas": ("areas.csv", b"code,name\n1,x\n", "text/csv")}
        )
        assert bad.status_code == 422 and "level" in bad.json()["detail"]


async def test_single_items_change_the_model_and_an_explanation_keeps_the_old_rule(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    async with server.client() as client:
        city = yaml.safe_load(DEMO_CITY.read_text())
        await client.put("/admin/city", json=city | {"city": "济南市平阴县（测试）"})
    complaint = uuid.uuid4()
    await server.tell(examples.complaint_classified(complaint, "street-lights", "370124002002-G02"))
    case = await server.wait_for_case(complaint, lambda c: bool(c["work_orders"]))
    order = case["work_orders"][0]
    assert order["responder"]["id"] == "dept-municipal"
    async with server.client() as client:
        rule = {"category": "street-lights", "scope": "370124000000", "lead": "util-power"}
        changed = await client.put(
            "/admin/city/catalogue/R12", json=rule, params={"reason": "路灯移交供电公司"}
        )
        assert changed.status_code == 200 and changed.json()["changes"] == 1
        mismatch = await client.put("/admin/city/catalogue/R12", json=rule | {"id": "R99"})
        assert mismatch.status_code == 422
        referenced = await client.delete("/admin/city/areas/370124002002-G02")
        assert referenced.status_code == 422, "a unit and a building still refer to it"
        assert (await client.delete("/admin/city/areas/999999999999")).status_code == 404
        now_routed = (
            await client.get(
                "/routing", params={"category": "street-lights", "area_code": "370124002002-G02"}
            )
        ).json()
        assert now_routed["lead"]["id"] == "util-power"
        explained = (await client.get(f"/work-orders/{order['work_order_id']}/explanation")).json()
    assert explained["rule"]["lead"] == "dept-municipal", (
        "the rule as it stood when the order was issued"
    )
    assert explained["catalogue_version"] == order["routing"]["catalogue_version"]


async def test_a_year_of_holidays_loads_from_csv_and_refuses_a_weekday_make_up_day(
    dispatch_server: DispatchServer,
):
    rows = "date,kind,name\n2027-01-01,休,元旦\n2027-02-06,班,春节调休上班\n"
    async with dispatch_server.client() as client:
        loaded = await client.put(
            "/admin/calendar/2027", content=rows, headers={"content-type": "text/csv"}
        )
        assert loaded.status_code == 200, loaded.text
        years = (await client.get("/admin/calendar")).json()["years"]
        assert [y["year"] for y in years] == [2026, 2027], "2026 ships with the code"
        weekday = "date,kind,name\n2027-02-08,班,周一\n"
        refused = await client.put(
            "/admin/calendar/2027", content=weekday, headers={"content-type": "text/csv"}
        )
        assert refused.status_code == 422 and "周末" in refused.json()["detail"]
        wrong_year = await client.put(
            "/admin/calendar/2028", content=rows, headers={"content-type": "text/csv"}
        )
        assert wrong_year.status_code == 422


async def test_what_intake_needs_travels_with_the_model_and_compounds_may_come_first(
    dispatch_server: DispatchServer,
):
    city = yaml.safe_load(DEMO_CITY.read_text())
    async with dispatch_server.client() as client:
        await client.put("/admin/city", json=city)
        exported = (await client.get("/admin/city/export")).json()
        leak = next(c for c in exported["categories"] if c["code"] == "roof-leak")
        assert leak["keywords"] == ["漏雨", "返潮"] and len(leak["attributes"]) == 5
        assert CatalogueFile.model_validate(exported).areas[3].latitude == 36.293
        # Compounds sent before the responders still apply to them (物业更换 in one upload).
        rows = ["id,name,kind,areas,person,company"]
        for unit in city["responders"]:
            areas = unit["areas"] + (
                ["370124001001-G02"] if unit["id"] == "property-meicheng" else []
            )
            named = f"{unit.get('person', '')},{unit.get('company', '')}"
            rows.append(f"{unit['id']},{unit['name']},{unit['kind']},{';'.join(areas)},{named}")
        files = [
            (
                "compounds",
                (
                    "compounds.csv",
                    b"area,property_company\n370124001001-G01,property-dongguan\n",
                    "text/csv",
                ),
            ),
            ("responders", ("responders.csv", "\n".join(rows).encode(), "text/csv")),
        ]
        loaded = await client.put("/admin/city", files=files)
        assert loaded.status_code == 200, loaded.text
        body = (await client.get("/admin/city/export")).json()
        served = {r["id"]: r["areas"] for r in body["responders"]}
        assert served["property-meicheng"] == ["370124001001-G02"]
        assert "370124001001-G01" in served["property-dongguan"]
        await client.put("/admin/city", json=city)


async def test_a_unit_with_open_orders_is_not_removed_from_the_city(
    dispatch_server: DispatchServer,
):
    server = dispatch_server
    async with server.client() as client:
        await client.put("/admin/city", json=yaml.safe_load(DEMO_CITY.read_text()))
    complaint = uuid.uuid4()
    await server.tell(
        examples.complaint_classified(complaint, "neighbour-dispute", "370124002001-G01-B02")
    )
    await server.wait_for_case(complaint, lambda c: bool(c["work_orders"]))
    async with server.client() as client:
        # The grid worker is a co-responder, named by no rule: only its open order holds it.
        refused = await client.delete("/admin/city/responders/grid-jinshuiyuan-1")
        assert refused.status_code == 409, refused.text
        assert refused.json()["responders"] == ["grid-jinshuiyuan-1"]
        async with server.client("dev-key-grid-jinshuiyuan-1") as unit:
            assert (await unit.get("/work-orders")).status_code == 200, "its key still works"
