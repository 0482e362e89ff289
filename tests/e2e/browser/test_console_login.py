"""Signing in to the console in a real browser: the form, the session cookie, a wrong key."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e


async def test_an_operator_signs_in_and_out(page: Page, stack: RunningStack) -> None:
    await page.goto(f"{stack.url('reporting')}/console")
    await expect(page).to_have_url(f"{stack.url('reporting')}/console/login?next=/console")
    await page.fill("input[name=key]", "not-a-key")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("密钥无效")
    await sign_in(page, stack, "dev-key-supervisor")
    await expect(page.get_by_test_id("signed-in")).to_contain_text("supervisor")
    await screenshot(page, "console-home")
    cookie = next(c for c in await page.context.cookies() if c["name"] == "jiesu_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/console"
    await page.click("text=退出 Sign out")
    await expect(page).to_have_url(f"{stack.url('reporting')}/console/login")
