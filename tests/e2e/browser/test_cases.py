"""The console's cases, work in flight and measures in a real browser: an operator finds a
case by its number and reads its timeline across the services; a street's staff key never sees
another street's cases; the work-in-flight and measures pages show the platform's figures."""

from __future__ import annotations

import random
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from playwright.async_api import Page, expect

from services.reporting.auth import KEYS, Role
from tests.e2e.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import RunningStack, until
from tests.support import examples

pytestmark = pytest.mark.e2e

YUSHAN = "370124001000"  # 榆山街道
SITUATION_IN_YUSHAN, SITUATION_ELSEWHERE = 0, 1  # examples.SITUATIONS: street 001, street 002


async def file_and_wait(stack: RunningStack, situation: int) -> dict[str, Any]:
    """A complaint filed through intake, once reporting's case shows its work order issued;
    with the phone's last four digits (random: other tests' complaints share the platform)."""
    phone = f"139{random.randrange(10**8):08d}"
    body = examples.complaint_request(situation, contact={"name": "李君", "phone": phone})
    async with httpx.AsyncClient(timeout=10) as client:
        filed = await client.post(
            f"{stack.url('intake')}/complaints",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4()), **examples.STAFF_KEY},
        )
        assert filed.status_code == 201, filed.text
        complaint = filed.json()

        async def routed() -> dict[str, Any] | None:
            answer = await client.get(
                f"{stack.url('reporting')}/cases/{complaint['complaint_id']}",
                headers=examples.READER,
            )
            if answer.status_code != 200:
                return None
            case: dict[str, Any] = answer.json()
            types = {line["type"] for line in case["timeline"]}
            return case if {"ComplaintFiled", "WorkOrderIssued"} <= types else None

        case = await until(routed, 60, f"reporting has {complaint['case_number']} routed")
    return {**case, "phone_tail": phone[-4:]}


async def test_an_operator_finds_a_case_by_number_and_reads_its_timeline(
    page: Page, stack: RunningStack
) -> None:
    case = await file_and_wait(stack, SITUATION_IN_YUSHAN)
    number = case["case_number"]
    await sign_in(page, stack, "dev-key-supervisor", "/console/cases")

    await page.fill("input[name=phone_tail]", case["phone_tail"])
    await page.click("form.filters button[type=submit]")
    await expect(page.get_by_test_id("cases")).to_contain_text(number)
    await screenshot(page, "cases")

    await page.fill("input[name=phone_tail]", "")
    await page.fill("input[name=case_number]", number)
    await page.click("form.filters button[type=submit]")
    await page.wait_for_url(f"**/console/cases/{case['complaint_id']}")
    await expect(page.get_by_test_id("case-number")).to_contain_text(number)
    timeline = page.get_by_test_id("timeline")
    for step in ("ComplaintFiled", "ComplaintClassified", "WorkOrderIssued"):
        await expect(timeline.locator(f"tr[data-type={step}]").first).to_be_visible()
    issued = timeline.locator("tr[data-type=WorkOrderIssued]").first
    order = case["work_orders"][0]
    await expect(issued).to_contain_text(order["responder_name"])
    await expect(issued.get_by_test_id("rule")).to_contain_text("目录第")
    classified = timeline.locator("tr[data-type=ComplaintClassified]").first
    await expect(classified).to_contain_text("置信度")
    await screenshot(page, "case")


async def test_a_street_staff_key_never_sees_another_streets_cases(
    page: Page, stack: RunningStack
) -> None:
    mine = await file_and_wait(stack, SITUATION_IN_YUSHAN)
    theirs = await file_and_wait(stack, SITUATION_ELSEWHERE)
    conn = await asyncpg.connect(stack.database_url("reporting"))
    try:
        _, staff = await KEYS.create(conn, name="榆山街道工作人员", role=Role.STAFF, scope=YUSHAN)
    finally:
        await conn.close()
    reporting = stack.url("reporting")
    await sign_in(page, stack, staff, "/console/cases")

    areas = page.locator("select[name=area_code]")
    await expect(areas.locator("option", has_text="榆山街道")).to_have_count(1)
    await expect(areas.locator("option", has_text="锦水街道")).to_have_count(0)
    listed = page.get_by_test_id("cases")
    await expect(listed).to_contain_text(mine["case_number"])
    await expect(listed).not_to_contain_text(theirs["case_number"])

    await page.fill("input[name=case_number]", theirs["case_number"])
    await page.click("form.filters button[type=submit]")
    await expect(page.get_by_test_id("case-count")).to_contain_text("共 0 件")

    await page.fill("input[name=phone_tail]", theirs["phone_tail"])
    await page.fill("input[name=case_number]", "")
    await page.click("form.filters button[type=submit]")
    await expect(page.get_by_test_id("cases")).not_to_contain_text(theirs["case_number"])

    answer = await page.goto(f"{reporting}/console/cases/{theirs['complaint_id']}")
    assert answer is not None and answer.status == 404
    await expect(page.get_by_test_id("not-found")).to_be_visible()

    answer = await page.goto(f"{reporting}/console/cases/{mine['complaint_id']}")
    assert answer is not None and answer.status == 200
    await expect(page.get_by_test_id("case-number")).to_contain_text(mine["case_number"])


async def test_work_in_flight_and_measures_show_the_platforms_figures(
    page: Page, stack: RunningStack
) -> None:
    case = await file_and_wait(stack, SITUATION_IN_YUSHAN)
    await sign_in(page, stack, "dev-key-supervisor", "/console/flight")
    # A new order's signing clock runs out within the day: it is listed among the clocks due.
    await expect(page.get_by_test_id("clocks")).to_contain_text(case["case_number"])
    for section in ("triage", "backlog", "arbitration", "at-risk", "agendas"):
        await expect(page.get_by_test_id(section)).to_be_visible()
    await expect(page.get_by_test_id("upstream-down")).to_have_count(0)
    await screenshot(page, "flight")

    await page.goto(f"{stack.url('reporting')}/console/measures")
    await expect(page.get_by_test_id("measures").locator("tbody tr").first).not_to_contain_text(
        "暂无数据"
    )
    for chart in ("chart-rates", "chart-trend"):
        await expect(page.get_by_test_id(chart).locator("canvas")).to_have_count(1)
    await expect(page.get_by_test_id("ranking").first).to_be_visible()
    await screenshot(page, "measures")
