"""The public board 督办墙 in a real browser: a complaint filed appears live without a reload and
without the resident's words or address, the filters narrow the rows, and the 展示屏 display
mode turns its pages by itself."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.conftest import screenshot
from tests.e2e.conftest import RunningStack, until
from tests.e2e.test_mirror_consistency import act, case_of, lead
from tests.support import examples

pytestmark = pytest.mark.e2e

LIVE_S = 60  # a filed complaint reaches the board within this (the consumer, then the stream)
# examples.SITUATIONS: 0 is a roof leak filed to 玫城丽都2号楼1单元 (榆山街道 会仙山社区); 5
# sanitation at 东关小区3号楼 (榆山街道 东关社区); 7 a neighbour dispute at 锦水园小区9号楼
# (锦水街道 锦水园社区).
ROOF, YUSHAN, JINSHUI = 0, 5, 7


async def file(stack: RunningStack, situation: int, marker: str) -> dict[str, Any]:
    """A complaint whose words, address, name and phone all carry `marker`."""
    body = examples.complaint_request(situation)
    body["text"] = f"{body['text']}（{marker}）"
    body["address"] = f"{body['address']}{marker}室"
    body["contact"] = {"name": f"居民{marker}", "phone": body["contact"]["phone"]}
    async with httpx.AsyncClient(timeout=20) as client:
        response = await client.post(
            f"{stack.url('intake')}/complaints",
            json=body,
            headers={"Idempotency-Key": marker, **examples.STAFF_KEY},
        )
    assert response.status_code == 201, response.text
    return {**response.json(), "request": body}


async def respond(stack: RunningStack, filed: dict[str, Any]) -> None:
    """The lead unit signs the work order and calls the resident back."""
    case = await case_of(stack, filed["complaint_id"], lambda c: bool(c["lead_work_order_id"]))
    order = lead(case)
    path = f"/work-orders/{order['work_order_id']}"
    key = f"dev-key-{order['responder']['id']}"
    await act(stack, key, f"{path}/sign", {})
    await act(stack, key, f"{path}/contact", {"note": "已电话联系居民，约定上门查看"})


def row(page: Page, filed: dict[str, Any]) -> Any:
    return page.locator(f'tr.matter[data-case="{filed["case_number"]}"]')


async def test_a_filed_complaint_appears_live_without_a_reload_or_resident_data(
    page: Page, stack: RunningStack
) -> None:
    await page.goto(f"{stack.url('reporting')}/wall")
    await page.wait_for_function("window.wallLive >= 1")  # the stream is open
    await page.evaluate("window.notReloaded = true")
    live_before = await page.evaluate("window.wallLive")
    marker = uuid.uuid4().hex[:10]
    filed = await file(stack, ROOF, marker)

    matter = row(page, filed)
    await expect(matter).to_be_visible(timeout=LIVE_S * 1000)
    assert await page.evaluate("window.notReloaded") is True
    assert await page.evaluate("window.wallLive") > live_before  # the stream brought it
    await expect(matter).to_contain_text("玫城丽都2号楼")  # the place, to the building
    await expect(matter).not_to_contain_text("单元")
    group = page.locator("tbody.wall-group", has=matter)
    await expect(group.locator("tr.group-head")).to_contain_text("榆山街道 · 会仙山社区")
    html = await page.content()
    for private in (
        marker,
        filed["request"]["address"],
        filed["request"]["text"],
        filed["request"]["contact"]["phone"],
    ):
        assert private not in html


async def test_the_filters_narrow_the_rows(page: Page, stack: RunningStack) -> None:
    yushan = await file(stack, YUSHAN, uuid.uuid4().hex[:10])
    jinshui = await file(stack, JINSHUI, uuid.uuid4().hex[:10])
    await page.goto(f"{stack.url('reporting')}/wall")
    await expect(row(page, jinshui)).to_be_visible(timeout=LIVE_S * 1000)
    await expect(row(page, yushan)).to_be_visible(timeout=LIVE_S * 1000)

    await page.select_option("select[name=street]", label="锦水街道")
    await expect(page).to_have_url(
        f"{stack.url('reporting')}/wall?street=370124002000&community=&category="
    )
    await expect(row(page, jinshui)).to_be_visible()
    await expect(row(page, yushan)).to_have_count(0)
    for head in await page.locator("tr.group-head").all_inner_texts():
        assert head.startswith("锦水街道")
    # the communities offered are the street's own
    offered = await page.locator("select[name=community] option:not([hidden])").all_inner_texts()
    assert "锦水园社区" in offered and "东关社区" not in offered

    await page.select_option("select[name=category]", label="环境卫生")
    await expect(row(page, jinshui)).to_have_count(0)  # a neighbour dispute, not sanitation
    await page.select_option("select[name=street]", label="全部 All")
    await expect(row(page, yushan)).to_be_visible()  # sanitation, in 榆山街道
    for category in await page.locator("tr.matter td:nth-child(2)").all_inner_texts():
        assert category == "环境卫生"

    await page.select_option("select[name=community]", label="会仙山社区")
    await expect(row(page, yushan)).to_have_count(0)  # 东关社区's
    await expect(page).to_have_url(re.compile(r"community=370124001001&category=sanitation$"))
    await page.select_option("select[name=community]", label="东关社区")
    await expect(row(page, yushan)).to_be_visible()
    for head in await page.locator("tr.group-head").all_inner_texts():
        assert head.startswith("榆山街道 · 东关社区")


async def test_the_display_mode_turns_its_pages_and_stays_live(
    page: Page, stack: RunningStack
) -> None:
    filed = [await file(stack, s, uuid.uuid4().hex[:10]) for s in (YUSHAN, JINSHUI, YUSHAN)]
    await page.goto(f"{stack.url('reporting')}/wall?display=1&rotate=3&rows=1")
    label = page.get_by_test_id("wall-page")
    await expect(label).to_contain_text("第 1/")
    await expect(page.locator("tr.matter:not([hidden])")).to_have_count(1)
    await expect(page.locator("form.wall-filters")).to_have_count(0)
    await expect(label).to_contain_text("第 2/", timeout=10_000)  # turned by itself
    await page.evaluate("window.notReloaded = true")
    later = await file(stack, JINSHUI, uuid.uuid4().hex[:10])
    await expect(row(page, later)).to_have_count(1, timeout=LIVE_S * 1000)  # on some page
    # the lead units sign and call the residents: the matters' stage changes in place
    for matter in filed[:2]:
        await respond(stack, matter)
        await expect(row(page, matter)).to_contain_text("办理中", timeout=LIVE_S * 1000)
    assert await page.evaluate("window.notReloaded") is True

    # the month's response rate and the streets' ranking now have figures
    async def ranked() -> bool:
        async with httpx.AsyncClient(timeout=10) as client:
            charts = (await client.get(f"{stack.url('reporting')}/wall/charts")).json()
        return {e["unit"] for e in charts["ranking"]} >= {"榆山街道", "锦水街道"}

    await until(ranked, LIVE_S, "both streets ranked")
    await page.goto(f"{stack.url('reporting')}/wall")
    await screenshot(page, "wall")
    await page.goto(f"{stack.url('reporting')}/wall?display=1")
    await expect(label).to_contain_text("第 1/")
    charts = await page.evaluate(
        "JSON.parse(document.getElementById('wall-settings').textContent).charts"
    )
    assert [r["name"] for r in charts["rates"]] == ["响应率", "解决率", "满意率"]
    assert charts["rates"][0]["value"] is not None
    await screenshot(page, "wall-display")

    # by default a page holds what the screen holds: on a small screen, more pages, and every
    # row shown lies wholly on it
    await page.set_viewport_size({"width": 1920, "height": 360})
    await page.goto(f"{stack.url('reporting')}/wall?display=1")
    await expect(label).to_contain_text("第 1/")
    assert int((await label.inner_text()).split("/")[1].split()[0]) >= 2
    bottoms = await page.locator("tr.matter:not([hidden])").evaluate_all(
        "rows => rows.map(r => r.getBoundingClientRect().bottom)"
    )
    assert bottoms and max(bottoms) <= 360
