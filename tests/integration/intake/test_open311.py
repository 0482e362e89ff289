"""Open311 GeoReport v2 over real HTTP: our JSON Schemas, XML twins, filters, errors, real clients."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import xmltodict
import yaml

from deploy.local.runner import DEMO_CITY
from services.intake.adapters import open311
from services.intake.domain.geo import Point, gcj02_to_bd09, wgs84_to_gcj02
from services.intake.domain.words import CHINA
from shared.db import connect
from shared.ratelimit import RateLimiter
from shared.topics import DISPATCH_EVENTS
from tests.integration.conftest import IntakeServer
from tests.integration.kafka_helpers import publish_events
from tests.support import examples

BASE = "/open311/v2"
KEY = "dev-key-open311"
CONTRACTS = Path(__file__).parents[2] / "contracts" / "open311"
SCHEMAS = {
    path.name.removesuffix(".schema.json"): jsonschema.Draft202012Validator(
        json.loads(path.read_text())
    )
    for path in CONTRACTS.glob("*.schema.json")
}
CHINA_DATETIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+08:00$"
# What Open311's XML says implicitly: which elements hold booleans and numbers (by parent).
BOOLEANS = {"metadata", "variable", "required"}
NUMBERS = {("error", "code"): int, ("attribute", "order"): int}
NUMBERS |= {("request", "lat"): float, ("request", "long"): float}
EMPTY_STRINGS = {("request_update", "media_url")}  # required strings, so "" rather than null


def validate(schema: str, data: Any) -> Any:
    SCHEMAS[schema].validate(data)
    return data


def spark(xml: bytes, root: str) -> Any:
    """The JSON twin of an Open311 XML document, by the Spark convention (root dropped)."""
    parsed = xmltodict.parse(xml)
    assert list(parsed) == [root], parsed
    return _spark(root, "", parsed[root])


def _spark(tag: str, parent: str, value: Any) -> Any:
    if tag in open311.ITEMS:
        item = open311.ITEMS[tag]
        assert value is None or set(value) == {item}, (tag, value)
        children = [] if value is None else value[item]
        children = children if isinstance(children, list) else [children]
        return [_spark(item, tag, child) for child in children]
    if isinstance(value, dict):
        return {name: _spark(name, tag, child) for name, child in value.items()}
    if value is None:
        return "" if (parent, tag) in EMPTY_STRINGS else None
    if tag not in BOOLEANS and (parent, tag) not in NUMBERS:
        return value
    return value == "true" if tag in BOOLEANS else NUMBERS[parent, tag](value)


def _comparable(data: Any) -> Any:
    """An empty XML element reads as null whether the JSON said "" or null; XML 1.0 cannot
    carry control characters, so the server leaves them out of XML."""
    if isinstance(data, list):
        return [_comparable(item) for item in data]
    if isinstance(data, dict):
        return {name: _comparable(value) for name, value in data.items()}
    if isinstance(data, str):
        return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", data) or None
    return data


async def both(server: IntakeServer, path: str, schema: str, root: str, **params: Any) -> Any:
    """GET path.json and path.xml: both valid, both saying the same; returns the JSON."""
    async with server.client() as client:
        as_json = await client.get(f"{BASE}/{path}.json", params=params)
        as_xml = await client.get(f"{BASE}/{path}.xml", params=params)
    assert as_json.status_code == as_xml.status_code == 200, (as_json.text, as_xml.text)
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    assert as_xml.headers["content-type"] == "text/xml; charset=utf-8"
    assert as_xml.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    data = validate(schema, as_json.json())
    twin = validate(schema, spark(as_xml.content, root))
    assert _comparable(twin) == _comparable(data)
    return data


async def post(
    server: IntakeServer, fields: dict[str, Any], fmt: str = "json", **headers: str
) -> httpx.Response:
    async with server.client(**headers) as client:
        return await client.post(f"{BASE}/requests.{fmt}", data=fields)


def request_fields(marker: str, **overrides: Any) -> dict[str, Any]:
    """A roof leak with every kind of answer, posted the way Open311 clients post."""
    fields: dict[str, Any] = {
        "api_key": KEY,
        "jurisdiction_id": "pingyin.gov.cn",
        "service_code": "roof-leak",
        "address_string": "玫城丽都2号楼1单元602",
        "description": f"每逢下雨顶楼就漏雨，墙皮脱落 {marker}",
        "first_name": "君",
        "last_name": "李",
        "phone": "13912345678",
        "email": "li@example.cn",
        "device_id": "device-1",
        "attribute[floor]": "6",
        "attribute[leak_location]": "roof",
        "attribute[rooms][]": ["living", "kitchen"],
        "attribute[since]": "2026-07-01T08:00:00+08:00",
        "attribute[details]": "雨大时\n卧室也渗水",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


async def file(server: IntakeServer, **overrides: Any) -> str:
    """POST one request; its service_request_id (our case number)."""
    response = await post(server, request_fields(uuid.uuid4().hex[:8], **overrides))
    assert response.status_code == 200, response.text
    return str(validate("post_response", response.json())[0]["service_request_id"])


async def one(server: IntakeServer, case: str) -> dict[str, Any]:
    found = await both(server, f"requests/{case}", "requests", "service_requests")
    assert len(found) == 1 and found[0]["service_request_id"] == case
    return dict(found[0])


async def listed(server: IntakeServer, **params: Any) -> list[str]:
    found = await both(server, "requests", "requests", "service_requests", **params)
    return [r["service_request_id"] for r in found]


async def refused(
    server: IntakeServer, method: str, path: str, status: int, **kwargs: Any
) -> list[str]:
    """The same failure in JSON and in XML, as Open311 error arrays; the descriptions."""
    async with server.client() as client:
        as_json = await client.request(method, f"{BASE}/{path}.json", **kwargs)
        as_xml = await client.request(method, f"{BASE}/{path}.xml", **kwargs)
    assert as_json.status_code == as_xml.status_code == status, (as_json.text, as_xml.text)
    assert as_json.headers["content-type"] == "application/json; charset=utf-8"
    assert as_xml.headers["content-type"] == "text/xml; charset=utf-8"
    errors = validate("errors", as_json.json())
    assert validate("errors", spark(as_xml.content, "errors")) == errors
    assert all(e["code"] == status for e in errors)
    return [e["description"] for e in errors]


def w3c(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


# --- discovery and services ------------------------------------------------------------------


def test_our_contracts_are_valid_draft_2020_12_schemas():
    assert set(SCHEMAS) == {
        "discovery",
        "services",
        "service_definition",
        "post_response",
        "token_response",
        "requests",
        "updates",
        "errors",
    }
    for validator in SCHEMAS.values():
        jsonschema.Draft202012Validator.check_schema(validator.schema)


async def test_discovery_names_this_endpoint_and_both_formats(intake_server):
    found = await both(intake_server, "discovery", "discovery", "discovery")
    endpoint = found["endpoints"][0]
    assert endpoint["url"] == f"{intake_server.url}/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["type"] == "test"  # not the production environment
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}


async def test_services_are_the_catalogues_categories(intake_server):
    found = await both(intake_server, "services", "services", "services")
    services = {s["service_code"]: s for s in found}
    demo = yaml.safe_load(DEMO_CITY.read_text(encoding="utf-8"))
    assert set(services) == {c["code"] for c in demo["categories"]}
    assert {s["type"] for s in found} == {"realtime"}
    assert services["roof-leak"] == {
        "service_code": "roof-leak",
        "service_name": "房屋漏水",
        "description": "屋顶、外墙、窗户或管道漏水渗水 Leaks through roofs, walls, windows or pipes",
        "metadata": True,
        "type": "realtime",
        "keywords": "漏雨,返潮",
        "group": "房屋住建",
    }
    assert services["parking"]["metadata"] and not services["water-supply"]["metadata"]
    assert services["water-supply"]["group"] == "公用事业"


async def test_service_definitions_carry_all_six_datatypes(intake_server):
    roof = await both(
        intake_server, "services/roof-leak", "service_definition", "service_definition"
    )
    parking = await both(
        intake_server, "services/parking", "service_definition", "service_definition"
    )
    attributes = roof["attributes"] + parking["attributes"]
    datatypes = {"number", "singlevaluelist", "multivaluelist", "datetime", "text", "string"}
    assert {a["datatype"] for a in attributes} == datatypes
    codes = ["floor", "leak_location", "rooms", "since", "details"]
    assert [a["code"] for a in roof["attributes"]] == codes
    rooms = roof["attributes"][2]
    assert rooms["values"][0] == {"key": "living", "name": "客厅"} and not rooms["required"]
    assert roof["attributes"][0]["datatype_description"] == "数字，如 6"
    notice = parking["attributes"][1]
    # A notice has no order in the catalogue: it gets the next free one, and asks for nothing.
    assert notice["code"] == "notice" and notice["order"] == 2 and notice["variable"] is False
    for definition in (roof, parking):
        orders = [a["order"] for a in definition["attributes"]]
        assert orders == sorted(set(orders)) and min(orders) >= 1
    await refused(intake_server, "GET", "services/no-such-service", 404)


# --- filing ----------------------------------------------------------------------------------


async def test_a_post_is_filed_and_reads_back_with_its_answers(intake_server):
    marker = uuid.uuid4().hex[:8]
    fields = request_fields(
        marker,
        description=f"顶楼漏雨，电话 13912345678 {marker}",
        media_url=["https://img.example.cn/a.jpg", "https://img.example.cn/b.jpg"],
    )
    response = await post(intake_server, fields)
    assert response.status_code == 200 and "charset=utf-8" in response.headers["content-type"]
    created = validate("post_response", response.json())[0]
    case = created["service_request_id"]
    assert case.startswith("JS-") and case in created["service_notice"]
    assert created["account_id"] is None

    found = await one(intake_server, case)
    assert found["service_code"] == "roof-leak" and found["service_name"] == "房屋漏水"
    # The public feed says what and where, not the resident's words.
    assert found["status"] == "open" and marker not in found["description"]
    assert found["description"].startswith("房屋漏水（榆山街道会仙山社区玫城丽都2号楼）")
    # The public feed names the building, never the unit or room the resident gave.
    assert found["address"] == "榆山街道会仙山社区玫城丽都2号楼"
    assert found["address_id"] == "370124001001-G01-B02"
    assert found["media_url"] == "https://img.example.cn/a.jpg"
    assert found["lat"] is None and found["zipcode"] is None
    for field in ("requested_datetime", "updated_datetime"):
        assert re.match(CHINA_DATETIME, found[field])

    async with intake_server.client(**examples.STAFF_KEY) as client:
        native = (await client.get(f"/complaints/{case}")).json()
        contact = (
            await client.get(f"/complaints/{case}/contact", params={"purpose": "回访"})
        ).json()
        events = (await client.get(f"/complaints/{case}/events")).json()["events"]
    assert native["channel"] == "open311" and native["category"] == "roof-leak"
    assert native["attributes"] == {
        "floor": 6.0,
        "leak_location": "roof",
        "rooms": ["living", "kitchen"],
        "since": "2026-07-01T08:00:00+08:00",
        "details": "雨大时\n卧室也渗水",
    }
    assert native["media_urls"] == fields["media_url"]
    assert contact == {"name": "李君", "phone": "13912345678", "wechat_openid": None}
    # Identifiers we have no use for never reach an event.
    assert not any(
        secret in json.dumps(events, ensure_ascii=False)
        for secret in ("li@example.cn", "device-1", "13912345678")
    )


async def test_xml_posts_answer_in_xml_and_multipart_is_tolerated(intake_server):
    response = await post(intake_server, request_fields("xml"), fmt="xml")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    created = validate("post_response", spark(response.content, "service_requests"))
    assert created[0]["service_request_id"].startswith("JS-")

    fields = request_fields("multipart")
    fields.pop("attribute[rooms][]")
    async with intake_server.client() as client:
        multipart = await client.post(
            f"{BASE}/requests.json",
            data=fields,
            files={"media": ("leak.jpg", b"\xff\xd8\xff", "image/jpeg")},
        )
    assert multipart.status_code == 200, multipart.text
    assert "media_url" in validate("post_response", multipart.json())[0]["service_notice"]


async def test_where_the_city_publishes_residents_words_they_are_shown_masked(
    intake_server, monkeypatch
):
    monkeypatch.setattr(intake_server.settings, "open311_public_text", True)
    marker = uuid.uuid4().hex[:8]
    case = await file(intake_server, description=f"顶楼漏雨，电话 139.1234.5678 {marker}")
    found = await one(intake_server, case)
    assert found["description"] == f"顶楼漏雨，电话 139****5678 {marker}"


async def test_control_characters_a_resident_typed_do_not_break_the_xml(intake_server, monkeypatch):
    monkeypatch.setattr(intake_server.settings, "open311_public_text", True)
    case = await file(intake_server, description="漏雨\x0b很严重\x01，请尽快处理")
    async with intake_server.client() as client:
        as_xml = await client.get(f"{BASE}/requests/{case}.xml")
        as_json = await client.get(f"{BASE}/requests/{case}.json")
    assert spark(as_xml.content, "service_requests")[0]["description"] == "漏雨很严重，请尽快处理"
    assert as_json.json()[0]["description"] == "漏雨\x0b很严重\x01，请尽快处理"


async def test_places_are_found_by_address_id_address_string_or_coordinates(intake_server):
    by_id = await file(intake_server, address_string=None, address_id="370124002001-G01")
    by_name = await file(intake_server, address_string="平阴县东关小区5号楼2单元")
    # The centre of 东关社区第一网格, no address: the nearest area with a centre.
    by_point = await file(intake_server, address_string=None, lat="36.2885", long="116.462")
    assert (await one(intake_server, by_id))["address_id"] == "370124002001-G01"
    assert (await one(intake_server, by_id))["address"] == "锦水街道锦水园社区锦水园小区"
    assert (await one(intake_server, by_name))["address_id"] == "370124001002-G01-B02"
    placed = await one(intake_server, by_point)
    assert placed["address_id"] == "370124001002-G01"
    assert (placed["lat"], placed["long"]) == (36.288, 116.462)  # to about a hundred metres

    for unplaceable in (
        {"address_string": "北京市朝阳区建国路"},
        {"address_string": None, "lat": "39.9042", "long": "116.4074"},
        {"address_string": None, "address_id": "110105000000"},
    ):
        descriptions = await refused(
            intake_server, "POST", "requests", 400, data=request_fields("x", **unplaceable)
        )
        assert len(descriptions) == 1 and any(w in descriptions[0] for w in ("无法确定", "未知"))
    no_place = await refused(
        intake_server, "POST", "requests", 400, data=request_fields("x", address_string=None)
    )
    assert "A location is required" in no_place[0]


@pytest.mark.parametrize("datum", ["gcj02", "bd09"])
async def test_coordinates_in_chinese_datums_are_stored_as_wgs84(intake_server, datum):
    wgs = Point(36.2915, 116.444)  # 会仙山社区第二网格
    shifted = wgs84_to_gcj02(wgs) if datum == "gcj02" else gcj02_to_bd09(wgs84_to_gcj02(wgs))
    case = await file(
        intake_server,
        address_string=None,
        lat=str(shifted.latitude),
        long=str(shifted.longitude),
        datum=datum,
    )
    found = await one(intake_server, case)
    assert found["address_id"] == "370124001001-G02"
    conn = await connect(intake_server.database_url)
    try:
        stored = await conn.fetchrow(
            "SELECT latitude, longitude FROM complaints WHERE case_number = $1", case
        )
    finally:
        await conn.close()
    assert abs(stored["latitude"] - wgs.latitude) < 1e-6
    assert abs(stored["longitude"] - wgs.longitude) < 1e-6
    # the public feed shows them to about a hundred metres
    assert (found["lat"], found["long"]) == (
        round(stored["latitude"], 3),
        round(stored["longitude"], 3),
    )


async def test_bad_posts_are_open311_error_arrays(intake_server):
    fields = request_fields("bad")
    without_key = {k: v for k, v in fields.items() if k != "api_key"}
    assert "api_key" in (await refused(intake_server, "POST", "requests", 403, data=without_key))[0]
    for key in ("not-a-key", "dev-key-hotline"):
        await refused(intake_server, "POST", "requests", 403, data={**fields, "api_key": key})
    # The key may come in the query string too (the v2.1 Swagger puts it there), or be staff.
    async with intake_server.client() as client:
        in_query = await client.post(
            f"{BASE}/requests.json", params={"api_key": KEY}, data=without_key
        )
        by_staff = await client.post(
            f"{BASE}/requests.json", data={**fields, "api_key": "dev-key-staff"}
        )
    assert in_query.status_code == by_staff.status_code == 200
    validate("post_response", in_query.json())
    validate("post_response", by_staff.json())

    no_code = {**fields, "service_code": ""}
    assert (
        "service_code" in (await refused(intake_server, "POST", "requests", 400, data=no_code))[0]
    )
    unknown = {**fields, "service_code": "no-such-service"}
    await refused(intake_server, "POST", "requests", 404, data=unknown)

    bare = {"api_key": KEY, "service_code": "sanitation"}
    descriptions = await refused(intake_server, "POST", "requests", 400, data=bare)
    assert len(descriptions) == 3  # description, phone and a location, each named
    assert [d.split(" ")[0] for d in descriptions[:2]] == ["description", "phone"]
    too_long = {**fields, "description": "漏" * 2001}
    assert "2000" in (await refused(intake_server, "POST", "requests", 400, data=too_long))[0]
    half_point = {**fields, "lat": "36.29"}
    assert "long" in (await refused(intake_server, "POST", "requests", 400, data=half_point))[0]
    bad_datum = {**fields, "lat": "36.29", "long": "116.44", "datum": "mars"}
    assert "datum" in (await refused(intake_server, "POST", "requests", 400, data=bad_datum))[0]
    bad_phone = {**fields, "phone": "call me"}
    assert "phone" in (await refused(intake_server, "POST", "requests", 400, data=bad_phone))[0]
    long_name = {**fields, "first_name": "君" * 60}
    assert (
        "first_name" in (await refused(intake_server, "POST", "requests", 400, data=long_name))[0]
    )
    bad_media = {**fields, "media_url": "file:///etc/passwd"}
    assert "media_url" in (await refused(intake_server, "POST", "requests", 400, data=bad_media))[0]

    wrong = request_fields(
        "bad",
        **{"attribute[floor]": None, "attribute[leak_location]": "ceiling", "attribute[x]": "1"},
    )
    problems = await refused(intake_server, "POST", "requests", 400, data=wrong)
    assert len(problems) == 3, problems
    assert {p.split(":")[0] for p in problems} == {
        "attribute[floor]",
        "attribute[leak_location]",
        "attribute[x]",
    }
    unknown_room = request_fields("bad", **{"attribute[rooms][]": ["living", "attic"]})
    assert "attic" in (await refused(intake_server, "POST", "requests", 400, data=unknown_room))[0]


async def test_a_retried_post_with_the_same_idempotency_key_files_once(intake_server):
    fields = request_fields(uuid.uuid4().hex[:8])
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await post(intake_server, fields, **key)
    again = await post(intake_server, fields, fmt="xml", **key)
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    replayed = spark(again.content, "service_requests")
    assert replayed[0]["service_request_id"] == first.json()[0]["service_request_id"]
    other = {**fields, "description": "另一件事：楼道灯坏了"}
    async with intake_server.client(**key) as client:
        reused = await client.post(f"{BASE}/requests.json", data=other)
    assert reused.status_code == 400 and "Idempotency-Key" in reused.json()[0]["description"]


async def test_tokens_are_complaint_ids(intake_server):
    filed = await intake_server.file(3)
    token = filed["complaint_id"]
    found = await both(intake_server, f"tokens/{token}", "token_response", "service_requests")
    assert found == [{"service_request_id": filed["case_number"], "token": token}]
    await refused(intake_server, "GET", f"tokens/{uuid.uuid4()}", 404)
    await refused(intake_server, "GET", "tokens/not-a-token", 404)


# --- reading ---------------------------------------------------------------------------------


async def test_requests_are_filtered_by_id_code_status_and_dates(intake_server):
    lights = await file(intake_server, service_code="street-lights", **_no_roof())
    dirty = await file(intake_server, service_code="sanitation", **_no_roof())
    ids = f"{lights},{dirty}"
    assert set(await listed(intake_server, service_request_id=ids)) == {lights, dirty}
    # service_request_id overrides every other argument, even contradicting ones.
    overriding = {
        "service_code": "gas-leak",
        "status": "closed",
        "start_date": "2020-01-01T00:00:00Z",
    }
    assert set(await listed(intake_server, service_request_id=ids, **overriding)) == {lights, dirty}

    recent = w3c(datetime.now(UTC) - timedelta(minutes=5))
    lit = await listed(intake_server, service_code="street-lights", start_date=recent)
    assert lights in lit and dirty not in lit
    both_codes = await listed(intake_server, service_code="street-lights,sanitation")
    assert {lights, dirty} <= set(both_codes)
    assert lights in await listed(intake_server, service_code="street-lights", status="open")
    assert lights in await listed(intake_server, service_code="street-lights", status="open,closed")
    assert lights not in await listed(intake_server, service_code="street-lights", status="closed")

    now = datetime.now(UTC)
    earlier = {
        "start_date": w3c(now - timedelta(days=30)),
        "end_date": w3c(now - timedelta(days=1)),
    }
    assert lights not in await listed(intake_server, service_code="street-lights", **earlier)
    around = {"start_date": w3c(now - timedelta(days=1)), "end_date": w3c(now + timedelta(days=1))}
    assert lights in await listed(intake_server, service_code="street-lights", **around)
    # One end alone means the 90 days from (or up to) it.
    assert lights not in await listed(intake_server, start_date=w3c(now - timedelta(days=100)))
    assert lights in await listed(intake_server, end_date=w3c(now + timedelta(minutes=5)))
    # An unencoded "+08:00" arrives as a space; it is still read as the offset.
    plus = (now - timedelta(hours=1)).astimezone(CHINA).isoformat(timespec="seconds")
    async with intake_server.client() as client:
        raw = await client.get(f"{BASE}/requests.json?service_code=street-lights&start_date={plus}")
    assert raw.status_code == 200
    assert lights in [r["service_request_id"] for r in validate("requests", raw.json())]


def _no_roof() -> dict[str, Any]:
    """Fields of a category without questions: no attribute answers."""
    return {
        "attribute[floor]": None,
        "attribute[leak_location]": None,
        "attribute[rooms][]": None,
        "attribute[since]": None,
        "attribute[details]": None,
    }


async def test_bad_filters_are_400(intake_server):
    now = datetime.now(UTC)
    wide = {"start_date": w3c(now - timedelta(days=91)), "end_date": w3c(now)}
    assert "90" in (await refused(intake_server, "GET", "requests", 400, params=wide))[0]
    backwards = {"start_date": w3c(now), "end_date": w3c(now - timedelta(days=1))}
    await refused(intake_server, "GET", "requests", 400, params=backwards)
    for params in (
        {"start_date": "yesterday"},
        {"end_date": "2026-11-01T00:00:00"},  # no time zone
        {"updated_after": "2026-13-01T00:00:00Z"},
        {"status": "pending"},
        {"page": "0"},
        {"page": str(10**30)},
        {"start_date": "9999-11-01T00:00:00Z"},  # its 90 days would run past the calendar
        {"end_date": "0001-01-01T00:00:00Z"},
        {"page_size": "1001"},
        {"page_size": "many"},
    ):
        await refused(intake_server, "GET", "requests", 400, params=params)
    await refused(intake_server, "GET", "servicerequestupdates", 400, params=wide)


async def test_updated_after_and_before_select_by_last_change(intake_server):
    before_filing = datetime.now(UTC) - timedelta(seconds=2)
    case = await file(intake_server)
    after_filing = datetime.now(UTC) + timedelta(seconds=2)
    assert case in await listed(intake_server, updated_after=w3c(before_filing))
    assert case not in await listed(intake_server, updated_after=w3c(after_filing))
    assert case not in await listed(intake_server, updated_before=w3c(before_filing))
    window = {"updated_after": w3c(before_filing), "updated_before": w3c(after_filing)}
    assert case in await listed(intake_server, **window)


async def test_pages_count_from_one_newest_first(intake_server):
    since = w3c(datetime.now(UTC) - timedelta(seconds=2))
    cases = [await file(intake_server, service_code="elevator", **_no_roof()) for _ in range(3)]
    query = {"service_code": "elevator", "updated_after": since}
    assert await listed(intake_server, **query) == cases[::-1]
    assert await listed(intake_server, page_size=2, **query) == cases[:0:-1]
    assert await listed(intake_server, page=2, page_size=2, **query) == cases[:1]
    assert await listed(intake_server, page=3, page_size=2, **query) == []


async def test_withdrawn_requests_are_closed_and_the_updates_feed_shows_each_step(intake_server):
    case = await file(intake_server)
    assert (await one(intake_server, case))["status"] == "open"
    async with intake_server.client(**examples.STAFF_KEY) as client:
        withdrawn = await client.post(f"/complaints/{case}/withdraw", json={"reason": "已自行修好"})
    assert withdrawn.status_code == 200, withdrawn.text
    found = await one(intake_server, case)
    assert found["status"] == "closed"
    assert found["status_notes"] == "已撤回：诉求人已撤回诉求"
    assert case in await listed(intake_server, service_request_id=case, status="open")  # override
    closed = await listed(intake_server, service_code="roof-leak", status="closed")
    assert case in closed and case not in await listed(intake_server, status="open")

    feed = ("servicerequestupdates", "updates", "service_request_updates")
    steps = await both(intake_server, *feed, service_request_id=case)
    assert steps[0]["external_status_code"] == "filed"
    assert steps[-1]["external_status_code"] == "withdrawn" and steps[-1]["status"] == "closed"
    assert steps[-1]["description"] == "诉求人已撤回诉求"
    assert {s["status"] for s in steps[:-1]} == {"open"}
    assert [int(s["update_id"]) for s in steps] == sorted(int(s["update_id"]) for s in steps)
    assert steps[0]["description"] == f"诉求已受理，编号 {case}"
    every = await both(intake_server, *feed, start_date=w3c(datetime.now(UTC) - timedelta(hours=1)))
    assert {s["update_id"] for s in steps} <= {s["update_id"] for s in every}
    past = {"start_date": "2025-01-01T00:00:00+08:00", "end_date": "2025-02-01T00:00:00+08:00"}
    assert not await both(intake_server, *feed, **past)


async def test_a_dispatched_request_names_its_agency_and_when_it_is_due(intake_server):
    case = await file(intake_server)
    async with intake_server.client(**examples.STAFF_KEY) as client:
        complaint_id = (await client.get(f"/complaints/{case}")).json()["complaint_id"]
    order = examples.work_order_issued(uuid.UUID(complaint_id))
    await publish(intake_server, order)
    # Waited for in JSON alone: read while the order is projected, the JSON and the XML read
    # just after it could tell two moments apart. Once it is there, both must say the same.

    async def agency() -> Any:
        async with intake_server.client() as client:
            answer = await client.get(f"{BASE}/requests/{case}.json")
        return answer.json()[0]["agency_responsible"]

    deadline = asyncio.get_running_loop().time() + 30
    while await agency() is None:
        assert asyncio.get_running_loop().time() < deadline, "the order never showed"
        await asyncio.sleep(0.2)
    found = await one(intake_server, case)
    assert found["agency_responsible"] == "玫城丽都物业服务中心" and found["status"] == "open"
    due = order.due_at.astimezone(CHINA)
    assert found["expected_datetime"] == due.replace(microsecond=0).isoformat()
    assert found["status_notes"].startswith("已派单：已派单至玫城丽都物业服务中心，办理时限")


async def publish(server: IntakeServer, *events: Any) -> None:
    """Publish as dispatch would, onto the topic intake consumes."""
    await publish_events(server.settings.kafka_bootstrap_servers, DISPATCH_EVENTS, events)


async def test_unknown_resources_and_formats_never_answer_problem_json(intake_server):
    await refused(intake_server, "GET", "requests/JS-19990101-000001", 404)
    await refused(intake_server, "GET", "no-such-thing", 404)
    await refused(intake_server, "DELETE", "requests", 405)
    await refused(intake_server, "PUT", "services/roof-leak", 405)
    async with intake_server.client() as client:
        html = await client.get(f"{BASE}/services.html")
        bare = await client.get(f"{BASE}/services")
    for response in (html, bare):
        assert response.status_code == 404
        assert response.headers["content-type"] == "text/xml; charset=utf-8"
        assert validate("errors", spark(response.content, "errors"))[0]["code"] == 404


async def test_anonymous_reads_are_rate_limited_per_client(intake_server, monkeypatch):
    monkeypatch.setattr(intake_server.settings, "open311_reads_per_minute", 2)
    monkeypatch.setattr(intake_server.runtime, "limiter", RateLimiter())
    async with intake_server.client() as client:
        answers = [await client.get(f"{BASE}/services.json") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert validate("errors", answers[2].json())[0]["code"] == 429


# --- independent clients ---------------------------------------------------------------------


def three_client(server: IntakeServer) -> Any:
    import itertools

    itertools.ifilter = filter  # type: ignore[attr-defined]  # three 0.8.0 predates Python 3
    from three import Three

    return Three(f"{server.url}{BASE}", api_key=KEY, jurisdiction="pingyin.gov.cn")


def as_list(found: Any) -> list[Any]:
    """georeport's XML mode returns a lone child as a dict (xmltodict's way), not a list."""
    return [found] if isinstance(found, dict) else list(found)


async def test_third_party_clients_round_trip(intake_server):
    from georeport import GeoReport

    three = three_client(intake_server)
    assert (await asyncio.to_thread(three.discovery))["endpoints"][0]["type"] == "test"
    fields = request_fields(uuid.uuid4().hex[:8])
    fields.pop("api_key")
    fields.pop("jurisdiction_id")
    posted = await asyncio.to_thread(three.post, fields.pop("service_code"), **fields)
    case = validate("post_response", posted)[0]["service_request_id"]
    async with intake_server.client(**examples.STAFF_KEY) as client:
        native = (await client.get(f"/complaints/{case}")).json()
    assert native["attributes"]["rooms"] == ["living", "kitchen"]  # three repeats the key
    token = native["complaint_id"]
    assert await asyncio.to_thread(three.token, token) == [
        {"service_request_id": case, "token": token}
    ]
    alone = validate("requests", await asyncio.to_thread(three.request, case))
    assert alone[0]["service_request_id"] == case
    newest = await asyncio.to_thread(three.requests, "roof-leak", count=1)  # page_size=1
    assert len(validate("requests", newest)) == 1
    other = await file(intake_server, service_code="heating", **_no_roof())

    for output in ("json", "xml"):
        client = GeoReport(f"{intake_server.url}{BASE}/", "pingyin.gov.cn", output_format=output)
        services = await asyncio.to_thread(client.get_service_list)
        if output == "json":
            validate("services", services)
        assert {s["service_code"] for s in services} >= {"roof-leak", "parking"}
        definition = await asyncio.to_thread(client.get_service_definition, "roof-leak")
        if output == "json":
            validate("service_definition", definition)
        attributes = definition["attributes"]
        attributes = attributes["attribute"] if output == "xml" else attributes
        assert [a["code"] for a in attributes][:2] == ["floor", "leak_location"]
        pair = await asyncio.to_thread(client.get_service_requests, f"{case},{other}")
        assert {r["service_request_id"] for r in pair} == {case, other}
        alone = await asyncio.to_thread(client.get_service_requests, case)
        assert [r["service_request_id"] for r in as_list(alone)] == [case]
        found = await asyncio.to_thread(client.get_service_request, case)
        assert found["service_request_id"] == case and found["status"] == "open"
        assert found["address_id"] == "370124001001-G01-B02"
        opened = await asyncio.to_thread(
            client.get_service_requests, service_code="heating", status="open"
        )
        assert other in {r["service_request_id"] for r in as_list(opened)}


async def test_what_a_whistle_blower_reported_stays_out_of_the_public_feed(intake_server):
    filed = await intake_server.file(
        1, type="report", text="举报：翠屏花园A座有人在楼道飞线给电动车充电，每天晚上都这样"
    )
    found = await one(intake_server, str(filed["case_number"]))
    assert "飞线" not in found["description"] and "不公开" in found["description"]
    assert found["address"] == "锦水街道翠屏社区翠屏花园A座"
