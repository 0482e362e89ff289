"""The pages in a real browser: Playwright driving Debian's chromium (`make test-tools` installs
it) against one platform shared by the package's tests (started as `make up` starts it).

Set JIESU_SCREENSHOTS=1 to write each page's screenshot to docs/screenshots/ (the README's
console section shows them)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.e2e.conftest import RunningStack, running_stack

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = Path(__file__).resolve().parents[3] / "docs" / "screenshots"


@pytest.fixture(scope="package")
async def stack(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningStack]:
    """One platform for every browser test (each test makes its own complaints)."""
    # The Streams page's sampler looks every second, so lag shows within the tests' waits.
    env = {"REPORTING_STREAMS_INTERVAL_S": "1"}
    async with running_stack(
        pg_server_url, tmp_path_factory.mktemp("browser-stack"), env
    ) as running:
        yield running


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    if not await asyncio.to_thread(CHROMIUM.exists):
        pytest.fail(f"{CHROMIUM} is missing: `make test-tools` installs Debian's chromium")
    async with async_playwright() as playwright:
        # --no-sandbox: the tests may run as root, where chromium's sandbox refuses to start.
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    """A fresh browser context (no cookies) at 1080p, in Chinese."""
    context = await browser.new_context(
        viewport={"width": 1920, "height": 1080}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    context.set_default_timeout(15_000)
    page = await context.new_page()
    yield page
    await context.close()


async def sign_in(page: Page, stack: RunningStack, key: str, then: str = "/console") -> None:
    """Sign in to the console with `key` through the login form, landing on `then`."""
    await page.goto(f"{stack.url('reporting')}{then}")
    await page.fill("input[name=key]", key)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"**{then}")


async def screenshot(page: Page, name: str) -> None:
    """The page as it is now, into docs/screenshots/<name>.png when JIESU_SCREENSHOTS is set."""
    if os.environ.get("JIESU_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
