"""The console's Streams and Dead letters pages in a real browser, on the running platform: lag
rises while a consumer is stopped and falls once it runs again; a dead letter shows, opens, and
one click redrives it; the pages' doors refuse the wrong key and another site's request."""

from __future__ import annotations

import os
import signal
import uuid

import httpx
import pytest
from aiokafka import TopicPartition
from playwright.async_api import Page, expect

from services.reporting import auth
from services.reporting.adapters.broker import Broker
from shared.db import connect
from shared.topics import COMPLAINT_EVENTS, EVENT_PARTITIONS, consumer_groups, dlq
from tests.e2e.browser.conftest import screenshot, sign_in
from tests.e2e.conftest import RunningStack, until
from tests.support import examples

pytestmark = pytest.mark.e2e


async def file_complaints(stack: RunningStack, count: int) -> list[str]:
    ids = []
    async with httpx.AsyncClient(base_url=stack.url("intake"), timeout=20) as client:
        for index in range(count):
            response = await client.post(
                "/complaints",
                json=examples.complaint_request(index),
                headers={"Idempotency-Key": uuid.uuid4().hex, **examples.STAFF_KEY},
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["complaint_id"])
    return ids


async def test_lag_rises_while_a_consumer_is_stopped_and_falls_after(
    page: Page, stack: RunningStack
) -> None:
    await sign_in(page, stack, "dev-key-supervisor", then="/console/streams")
    lag = page.get_by_test_id("lag-jiesu-notify")
    await expect(lag).to_have_text("共 0", timeout=60_000)  # caught up with the demo city
    notify = stack.pid("notify")
    os.kill(notify, signal.SIGSTOP)
    try:
        await file_complaints(stack, 5)
        # The page is not reloaded: each look of the sampler comes as a Server-Sent Event.
        await expect(lag).not_to_have_text("共 0", timeout=30_000)
        # Every group with every topic it consumes, committed on yet or not (the embedded
        # broker lists neither a group before its first commit nor anyone's subscriptions).
        for group, topics in consumer_groups().items():
            for topic in topics:
                await expect(page.get_by_test_id(f"group-{group}-{topic}")).to_be_visible()
        stopped = page.get_by_test_id(f"lag-jiesu-notify-{COMPLAINT_EVENTS}")
        await expect(stopped).not_to_have_text("0")  # committed there yet or not
        for running in ("jiesu-intake", "jiesu-dispatch", "jiesu-reporting"):
            await expect(page.get_by_test_id(f"lag-{running}")).to_have_text("共 0", timeout=30_000)
        await expect(lag).not_to_have_text("共 0")  # only the stopped one lags
        await expect(page.get_by_test_id("relay-notify-relay")).to_be_visible()
        await screenshot(page, "streams")
    finally:
        os.kill(notify, signal.SIGCONT)
    await expect(lag).to_have_text("共 0", timeout=60_000)
    await expect(page.get_by_test_id("topic-complaint.events")).to_be_visible()


async def case_status(stack: RunningStack, complaint_id: str) -> str | None:
    async with httpx.AsyncClient(base_url=stack.url("reporting"), timeout=10) as client:
        response = await client.get(f"/cases/{complaint_id}", headers=examples.READER)
    return response.json()["status"] if response.status_code == 200 else None


async def dead_lettered(bootstrap: str, complaint_id: str, event_type: str) -> bool:
    """Whether dispatch has dead-lettered the complaint's event of that type."""
    broker = Broker(bootstrap)
    letters = await broker.dead_letters(COMPLAINT_EVENTS)
    return any(
        letter.attributes.get("ce_subject") == complaint_id
        and letter.attributes.get("dlq_consumer") == "dispatch"
        and letter.attributes.get("ce_type") == event_type
        for letter in letters
    )


async def test_a_dead_letter_shows_opens_and_one_click_redrives_it(
    page: Page, stack: RunningStack
) -> None:
    """A real failure: dispatch's inbox table is missing (as after a restore gone wrong), so its
    consumer fails on the complaint's ComplaintClassified, retries, and dead-letters it with
    its own code. Once the table is back, one click redrives it, and it is handled for the
    first time: the complaint is dispatched, and no new dead letter comes of it."""
    bootstrap = stack.state()["kafka_bootstrap_servers"]
    dispatch_db = await connect(stack.database_url("dispatch"))
    try:
        await dispatch_db.execute("ALTER TABLE inbox RENAME TO inbox_misplaced")
        try:
            [complaint_id] = await file_complaints(stack, 1)
            # Dispatch reads the ComplaintFiled first (a WeChat group's message has a reply
            # due), so that one is dead-lettered too, before the ComplaintClassified.
            await until(
                lambda: dead_lettered(bootstrap, complaint_id, "ComplaintClassified"),
                90,
                "the dead letter",
            )
        finally:
            await dispatch_db.execute("ALTER TABLE inbox_misplaced RENAME TO inbox")
    finally:
        await dispatch_db.close()
    error = 'UndefinedTableError: relation "inbox" does not exist'

    async def classified() -> bool:  # dispatch never took it
        return await case_status(stack, complaint_id) == "classified"

    await until(classified, 30, "the case, classified and not dispatched")

    await sign_in(page, stack, "dev-key-admin", then="/console/dead-letters")
    await page.goto(
        f"{stack.url('reporting')}/console/dead-letters?consumer=dispatch"
        f"&type=ComplaintClassified&error=UndefinedTableError&topic={COMPLAINT_EVENTS}"
    )
    row = page.get_by_test_id("letter").filter(has_text=error)

    async def shown() -> bool:  # the sampler rereads the DLQ once its end offset moved
        await page.reload()
        return await row.count() == 1

    await until(shown, 30, "the dead letter on the page")
    await expect(page.get_by_test_id("letter")).to_have_count(1)  # the filter leaves it alone
    depth = page.get_by_test_id(f"depth-{COMPLAINT_EVENTS}")  # notify's may change meanwhile
    before = int(await depth.inner_text())
    await row.locator("summary").click()
    await expect(row.get_by_test_id("payload")).to_contain_text(complaint_id)
    await expect(row).to_contain_text("dlq_original_topic")
    await screenshot(page, "dead-letters")

    await page.fill("input[name=reason]", "收件表已恢复 inbox table restored")
    await row.get_by_role("button", name="重投 Redrive").click()
    await expect(page.get_by_test_id("done")).to_contain_text("已重投 1 条")
    await expect(depth).to_have_text(str(before - 1))
    await expect(page.get_by_test_id("letter").filter(has_text=error)).to_have_count(0)
    actions = page.get_by_test_id("actions")
    await expect(actions).to_contain_text("收件表已恢复 inbox table restored")
    await expect(actions).to_contain_text("dev admin")  # the key's name

    async def dispatched() -> bool:
        return await case_status(stack, complaint_id) == "dispatched"

    await until(dispatched, 30, "the complaint dispatched once its record was redriven")

    # The redriven record is handled: every group commits past it, and none dead-letters it
    # again (a consumer sends a record to the DLQ before it commits past it).
    dead = TopicPartition(dlq(COMPLAINT_EVENTS), 0)
    dlq_end = (await _ends(bootstrap, [dead]))[dead]
    topic_end = sum((await _ends(bootstrap, _partitions(COMPLAINT_EVENTS))).values())

    async def consumed() -> bool:
        async with httpx.AsyncClient(base_url=stack.url("reporting")) as client:
            metrics = (await client.get("/metrics")).text
        ends = lags = 0.0
        groups = 0
        depth_line = f'jiesu_dlq_depth{{topic="{COMPLAINT_EVENTS}"}} {float(before - 1)}'
        for line in metrics.splitlines():
            if line.startswith("jiesu_topic_end_offset{") and f'topic="{COMPLAINT_EVENTS}"' in line:
                ends += float(line.rsplit(" ", 1)[1])
            if line.startswith("jiesu_group_lag{") and f'topic="{COMPLAINT_EVENTS}"' in line:
                lags += float(line.rsplit(" ", 1)[1])
                groups += 1
        return ends >= topic_end and groups >= 3 and lags == 0 and depth_line in metrics

    await until(consumed, 30, "every group past the redriven record")
    assert (await _ends(bootstrap, [dead]))[dead] == dlq_end


def _partitions(topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in range(EVENT_PARTITIONS)]


async def _ends(bootstrap: str, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    """End offsets as the console reads them (exact on the embedded broker too)."""
    broker = Broker(bootstrap)
    await broker.start()
    try:
        ends = (await broker.view()).ends
        return {tp: ends[tp] for tp in partitions}
    finally:
        await broker.close()


async def test_the_dead_letter_page_refuses_a_staff_key_and_another_sites_post(
    stack: RunningStack,
) -> None:
    conn = await connect(stack.database_url("reporting"))
    try:
        _, staff = await auth.KEYS.create(
            conn, name="榆山街道工作人员", role=auth.Role.STAFF, scope="370124001000"
        )
    finally:
        await conn.close()
    base = stack.url("reporting")

    def signed_in(secret: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=base, cookies={"jiesu_console": secret})

    async with signed_in(staff) as client:
        for path in ("/console/dead-letters", "/console/streams", "/console/streams.json"):
            refused = await client.get(path)
            assert refused.status_code == 403, (path, refused.text)
    form = {"do": "park:filter", "reason": "清空 wipe"}
    async with signed_in("dev-key-admin") as client:
        forged = await client.post(
            "/console/dead-letters", headers={"Origin": "https://elsewhere.example"}, data=form
        )
        assert forged.status_code == 403, forged.text
    async with signed_in("dev-key-supervisor") as client:  # may look, not act
        assert (await client.get("/console/dead-letters")).status_code == 200
        acted = await client.post("/console/dead-letters", headers={"Origin": base}, data=form)
        assert acted.status_code == 403, acted.text
