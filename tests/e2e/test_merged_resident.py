"""End to end: a duplicate merged into another complaint follows it to its end. Two residents
file about the same leak, staff merge one into the other, the units resolve the survivor: both
residents are told (each of their own case) and both are on the callback worklist."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import until
from tests.support import examples

pytestmark = pytest.mark.e2e


async def test_the_merged_resident_is_told_of_the_survivor_s_result_and_called_back_too(stack):
    intake, dispatch, sink = stack.url("intake"), stack.url("dispatch"), stack.url("webhook-sink")
    marker = uuid.uuid4().hex[:8]
    async with httpx.AsyncClient(timeout=10) as client:
        filed = []
        for i in range(2):
            body = examples.complaint_request(0, channel="hotline")
            body["address"] = f"{body['address']}（{marker}-{i}）"
            response = await client.post(
                f"{intake}/complaints", json=body, headers=examples.STAFF_KEY
            )
            assert response.status_code == 201, response.text
            filed.append(response.json())
        survivor, duplicate = filed
        merged = await client.post(
            f"{intake}/complaints/{duplicate['complaint_id']}/merge",
            json={"into": survivor["case_number"], "reason": "同一楼顶漏水"},
            headers=examples.STAFF_KEY,
        )
        assert merged.status_code == 200 and merged.json()["status"] == "merged", merged.text

        async def sms(complaint: dict[str, Any], words: str) -> list[str]:
            listed = await client.get(
                sink,
                params={"kind": "sms", "complaint_id": complaint["complaint_id"]},
            )
            return [m["text"] for m in listed.json()["messages"] if words in m["text"]]

        # The merge is seen by notify (its notice sent) before the survivor is resolved.
        await until(lambda: sms(duplicate, "并案"), 90, "the merge notice")

        async def open_orders() -> list[dict[str, Any]]:
            case = await client.get(
                f"{dispatch}/cases/{survivor['complaint_id']}", headers=examples.ADMIN_KEY
            )
            orders = case.json().get("work_orders", []) if case.status_code == 200 else []
            return [o for o in orders if o["status"] not in ("cancelled", "returned")]

        for order in await until(open_orders, 90, "the survivor's work orders"):
            unit = {"X-API-Key": f"dev-key-{order['responder']['id']}"}
            path = f"{dispatch}/work-orders/{order['work_order_id']}"
            steps = [("sign", {}), ("resolve", {"report": "屋面防水层已修复"})]
            if order["role"] == "lead":  # the lead contacts the resident before reporting
                steps.insert(1, ("contact", {"note": "电话联系诉求人"}))
            for step, step_body in steps:
                done = await client.post(f"{path}/{step}", json=step_body, headers=unit)
                assert done.status_code == 200, done.text

        async def worklist() -> set[str]:
            listed = await client.get(
                f"{intake}/callbacks", params={"limit": 200}, headers=examples.STAFF_KEY
            )
            return {i["case_number"] for i in listed.json()["items"]}

        both = {survivor["case_number"], duplicate["case_number"]}
        await until(lambda: _all(worklist(), both), 90, "both residents on the callback worklist")
        # the survivor's resident reads the unit's report; the follower a neutral sentence
        told = [
            await until(lambda c=c, w=w: sms(c, w), 90, "the result")
            for c, w in zip(filed, ("屋面防水层已修复", "同一事项已由承办单位办理"), strict=True)
        ]
    assert survivor["case_number"] in told[0][0] and duplicate["case_number"] in told[1][0]
    assert len(told[0]) == len(told[1]) == 1


async def _all(found: Awaitable[set[str]], wanted: set[str]) -> bool:
    return wanted <= await found
