"""End to end: the resident's view (/lookup and Open311) follows the lead unit's contact, a
return that goes to arbitration, the ruling and the named unit's start, each with the deadline
that applies; then the consistency check finds the three services agreeing, and names the one
case and kind when a service's row is changed behind its back (CLI and metric)."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest

from services.reporting import consistency
from tests.e2e.conftest import REPO, RunningStack, until
from tests.support import examples

pytestmark = pytest.mark.e2e

AREA = "370124001002-G01-B01"  # sanitation here: dept-urban, then street-yushan, then arbitration


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    # reporting checks every second, with no grace: the test waits for the gauges to show it
    return {
        "REPORTING_CONSISTENCY_INTERVAL_S": "1",
        "REPORTING_CONSISTENCY_GRACE_S": "0",
        "REPORTING_CONSISTENCY_CONFIRM_AFTER_S": "0.2",
    }


class Resident:
    """What the resident can read: Open311's request and /lookup by case number and phone tail."""

    def __init__(self, stack: RunningStack, filed: dict[str, Any], phone: str) -> None:
        self.base = stack.url("intake")
        self.case_number = filed["case_number"]
        self.tail = phone[-4:]

    async def open311(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(f"{self.base}/open311/v2/requests/{self.case_number}.json")
        assert response.status_code == 200, response.text
        [request] = response.json()
        return dict(request)

    async def sees(self, words: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Open311 once it shows `words`, then /lookup (a few looks a minute per case)."""

        async def shown() -> dict[str, Any] | None:
            request = await self.open311()
            return request if words in request["status_notes"] else None

        request = await until(shown, 60, f"Open311 shows {words}")
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{self.base}/lookup",
                params={"case_number": self.case_number, "phone_tail": self.tail},
            )
        assert response.status_code == 200, response.text
        looked_up: dict[str, Any] = response.json()
        assert words in looked_up["status_note"]
        assert words in looked_up["progress"][-1]["description"]
        return request, looked_up


def same_moment(shown: str | None, due: str | None) -> bool:
    if shown is None or due is None:
        return shown is due
    return datetime.fromisoformat(shown).replace(microsecond=0) == datetime.fromisoformat(
        due
    ).replace(microsecond=0)


async def act(stack: RunningStack, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            stack.url("dispatch") + path, json=body, headers={"X-API-Key": key}
        )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def case_of(stack: RunningStack, complaint_id: str, test: Any) -> dict[str, Any]:
    async def found() -> dict[str, Any] | None:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.get(
                f"{stack.url('dispatch')}/cases/{complaint_id}", headers=examples.ADMIN_KEY
            )
        case = response.json() if response.status_code == 200 else None
        return case if case and test(case) else None

    result: dict[str, Any] = await until(found, 60, "dispatch's case")
    return result


def lead(case: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in case["work_orders"] if o["work_order_id"] == case["lead_work_order_id"])


def feedback_due(order: dict[str, Any]) -> str:
    due: str = next(c["due_at"] for c in order["clocks"] if c["name"] == "feedback")
    return due


def consistency_env(stack: RunningStack) -> dict[str, str]:
    return {
        **os.environ,
        "REPORTING_DATABASE_URL": stack.database_url("reporting"),
        "REPORTING_INTAKE_STORE_URL": stack.database_url("intake"),
        "REPORTING_DISPATCH_STORE_URL": stack.database_url("dispatch"),
    }


async def consistency_cli(stack: RunningStack) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.reporting.cli",
        "consistency",
        "--grace-s",
        "0",
        "--confirm-after-s",
        "0.2",
        cwd=REPO,
        env=consistency_env(stack),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode in (0, 1), err.decode()
    return process.returncode, out.decode()


async def gauges(stack: RunningStack) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (
            await client.get(f"{stack.url('reporting')}/metrics", headers=examples.ADMIN_KEY)
        ).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("jiesu_consistency_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


async def test_the_resident_sees_each_step_and_the_services_agree_until_one_is_changed(
    stack: RunningStack,
):
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    body = examples.complaint_request(
        0,
        text=f"小区门口垃圾堆了好几天没人清运，气味很大（{uuid.uuid4().hex[:6]}）",
        category="sanitation",
        area_code=AREA,
        address="济南市平阴县榆山街道东关小区门口",
        contact={"name": "李君", "phone": phone},
        attributes={},
    )
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            stack.url("intake") + "/complaints", json=body, headers=examples.STAFF_KEY
        )
    assert response.status_code == 201, response.text
    filed = response.json()
    complaint_id = filed["complaint_id"]
    resident = Resident(stack, filed, phone)

    # the first lead unit reaches the resident: the deadline stays its own
    case = await case_of(stack, complaint_id, lambda c: bool(c.get("lead_work_order_id")))
    first = lead(case)
    unit = first["responder"]["id"]
    path = f"/work-orders/{first['work_order_id']}"
    await act(stack, f"dev-key-{unit}", f"{path}/sign", {})
    await act(stack, f"dev-key-{unit}", f"{path}/contact", {"note": "电话联系李先生，约定下午查看"})
    request, looked_up = await resident.sees("已与您联系")
    assert same_moment(request["expected_datetime"], feedback_due(first))
    assert same_moment(looked_up["due_at"], feedback_due(first))

    # it is not theirs; the street it goes to says so too: a street or the district must rule
    await act(
        stack, f"dev-key-{unit}", f"{path}/return", {"reason": "属小区内部保洁，非本单位职责"}
    )
    case = await case_of(
        stack, complaint_id, lambda c: lead(c)["work_order_id"] != first["work_order_id"]
    )
    second = lead(case)
    await act(
        stack,
        f"dev-key-{second['responder']['id']}",
        f"/work-orders/{second['work_order_id']}/return",
        {"reason": "应由物业负责"},
    )
    case = await case_of(stack, complaint_id, lambda c: c["status"] == "arbitration")
    arbitrator = case["arbitration"]["arbitrator_id"]
    request, looked_up = await resident.sees("裁定承办单位，裁定前办理时限暂停")
    assert request["expected_datetime"] is None and looked_up["due_at"] is None

    # the ruling names a unit, whose new order brings the deadline that applies now
    ruling = {"responder_id": "property-dongguan", "reason": "小区内垃圾清运由物业负责"}
    case = await act(stack, f"dev-key-{arbitrator}", f"/cases/{complaint_id}/arbitrate", ruling)
    ruled = lead(case)
    assert ruled["purpose"] == "arbitration"
    request, looked_up = await resident.sees(f"已派单至{ruled['responder']['name']}")
    descriptions = [p["description"] for p in looked_up["progress"]]
    assert any("已裁定承办单位（小区内垃圾清运由物业负责）" in d for d in descriptions)
    assert same_moment(request["expected_datetime"], feedback_due(ruled))
    assert same_moment(looked_up["due_at"], feedback_due(ruled))

    # the named unit reaches the resident and starts
    path = f"/work-orders/{ruled['work_order_id']}"
    await act(stack, "dev-key-property-dongguan", f"{path}/sign", {})
    await act(stack, "dev-key-property-dongguan", f"{path}/contact", {"note": "已电话联系"})
    await act(stack, "dev-key-property-dongguan", f"{path}/start", {"note": "保洁人员已到场清运"})
    request, looked_up = await resident.sees("已开始办理")
    assert same_moment(looked_up["due_at"], feedback_due(ruled))
    steps = [p["description"] for p in looked_up["progress"]]
    contacts = [s for s in steps if "已与您联系" in s]
    assert len(contacts) == 2 and ruled["responder"]["name"] in contacts[1]  # each lead's, once

    # reporting has every step: the three services agree
    reporting = await asyncpg.connect(stack.database_url("reporting"))
    try:

        async def reported() -> bool:
            row = await reporting.fetchrow(
                "SELECT c.status, w.started_at FROM cases c JOIN case_work_orders w "
                "ON w.work_order_id = c.lead_work_order_id WHERE c.complaint_id = $1",
                uuid.UUID(complaint_id),
            )
            return row is not None and row["status"] == "signed" and row["started_at"] is not None

        await until(reported, 60, "reporting has the named unit's start")
    finally:
        await reporting.close()
    code, printed = await consistency_cli(stack)
    assert code == 0 and "无偏差 no drift" in printed, printed
    await until(
        lambda: _shows(stack, 'jiesu_consistency_drift_cases{kind="deadline"}', 0),
        60,
        "the gauges show the check",
    )

    # intake's row is changed behind its back: that case, that kind, and nothing else
    intake = await asyncpg.connect(stack.database_url("intake"))
    try:
        await intake.execute(
            "UPDATE complaints SET due_at = due_at + interval '1 day' WHERE complaint_id = $1",
            uuid.UUID(complaint_id),
        )
    finally:
        await intake.close()
    code, printed = await consistency_cli(stack)
    assert code == 1, printed
    drifts = [line for line in printed.splitlines() if complaint_id in line]
    assert len(drifts) == 1 and drifts[0].split()[0] == "deadline", printed
    assert "偏差 drifts: deadline 1" in printed
    await until(
        lambda: _shows(stack, 'jiesu_consistency_drift_cases{kind="deadline"}', 1),
        60,
        "the gauge shows the drift",
    )
    shown = await gauges(stack)
    assert shown["jiesu_consistency_checked_cases"] >= 1
    others = {k: v for k, v in shown.items() if "drift_cases" in k and "deadline" not in k}
    assert others and not any(others.values()), shown

    # the check's connections cannot write to the services it reads
    looking = await consistency.connect_read_only(stack.database_url("intake"))
    try:
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):
            await looking.execute("UPDATE complaints SET due_at = NULL")
    finally:
        await looking.close()


async def _shows(stack: RunningStack, name: str, value: float) -> bool:
    return (await gauges(stack)).get(name) == value
