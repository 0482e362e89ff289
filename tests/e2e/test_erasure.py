"""A resident's erasure reaches every service: after it, no table of any service's read models
and no API answer holds the resident's phone, name, words or address below the building,
while another resident's complaint is untouched.

The event stores and the topics still hold what the filing said (a fact is not rewritten);
only the contact is unreadable there. The test says which tables it leaves out, and why.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from deploy.local.runner import SERVICES
from tests import examples
from tests.e2e.conftest import RunningStack, until

pytestmark = pytest.mark.e2e

# The event stores: immutable history (what crypto-shredding of the filing will cover next).
HISTORY = {"events"}


def resident(marker: str, phone: str, name: str, index: int) -> dict[str, Any]:
    body = examples.complaint_request(index)
    body["contact"] = {"name": name, "phone": phone}
    body["text"] = f"{body['text']}，我是{name}，暗号{marker}"
    body["address"] = f"{body['address']}（{marker}室）"
    return body


SCANNED: dict[str, int] = {}  # tables scanned per database


async def table_hits(database_url: str, needles: list[str]) -> dict[str, int]:
    """Rows of each table (the event store left out) that hold any of `needles`."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            if r["tablename"] not in HISTORY
        ]
        hits = {}
        SCANNED[database_url] = len(tables)
        for table in tables:
            found = await conn.fetchval(
                f'SELECT count(*) FROM "{table}" t WHERE t::text ILIKE ANY($1::text[])',
                [f"%{n}%" for n in needles],
            )
            if found:
                hits[table] = found
        return hits
    finally:
        await conn.close()


async def test_an_erased_resident_is_gone_from_every_read_model_and_answer(stack: RunningStack):
    marker = uuid.uuid4().hex[:10]
    erased_phone, kept_phone = "13700009871", "13700009872"
    erased = resident(f"E{marker}", erased_phone, "欧阳秀兰", 0)
    kept = resident(f"K{marker}", kept_phone, "司马建国", 1)
    intake, reporting = stack.url("intake"), stack.url("reporting")
    async with httpx.AsyncClient(timeout=15) as client:
        filed = {}
        for who, body in (("erased", erased), ("kept", kept)):
            answer = await client.post(
                f"{intake}/complaints", json=body, headers=examples.STAFF_KEY
            )
            assert answer.status_code == 201, answer.text
            filed[who] = answer.json()

        async def dispatched_and_told() -> bool:
            cases = [
                await client.get(f"{reporting}/cases/{f['complaint_id']}", headers=examples.READER)
                for f in filed.values()
            ]
            return all(
                c.status_code == 200 and c.json()["lead_responder"] and c.json()["notifications"]
                for c in cases
            )

        await until(dispatched_and_told, 90, "both cases dispatched and their residents told")
        gone = await client.post(
            f"{intake}/residents/erasure", json={"phone": erased_phone}, headers=examples.STAFF_KEY
        )
        assert gone.status_code == 200, gone.text
        erased_id, kept_id = filed["erased"]["complaint_id"], filed["kept"]["complaint_id"]

        async def redacted_in_reporting() -> bool:
            case = await client.get(f"{reporting}/cases/{erased_id}", headers=examples.READER)
            return case.status_code == 200 and case.json()["text"] is None

        await until(redacted_in_reporting, 60, "reporting to follow the erasure")
        answers = {
            "intake complaint": await client.get(
                f"{intake}/complaints/{erased_id}", headers=examples.STAFF_KEY
            ),
            "intake events": await client.get(
                f"{intake}/complaints/{erased_id}/events", headers=examples.STAFF_KEY
            ),
            "intake lookup": await client.get(
                f"{intake}/lookup",
                params={"case_number": filed["erased"]["case_number"], "phone_tail": "9871"},
            ),
            "open311": await client.get(
                f"{intake}/open311/v2/requests/{filed['erased']['case_number']}.json"
            ),
            "reporting case": await client.get(
                f"{reporting}/cases/{erased_id}", headers=examples.READER
            ),
            "reporting cases csv": await client.get(
                f"{reporting}/cases", params={"format": "csv"}, headers=examples.READER
            ),
            "reporting board": await client.get(f"{reporting}/board"),
            "dispatch case": await client.get(
                f"{stack.url('dispatch')}/cases/{erased_id}", headers=examples.ADMIN_KEY
            ),
            "notify notifications": await client.get(
                f"{stack.url('notify')}/notifications",
                params={"complaint_id": erased_id},
                headers=examples.ADMIN_KEY,
            ),
            "kept reporting case": await client.get(
                f"{reporting}/cases/{kept_id}", headers=examples.READER
            ),
        }
    needles = [erased_phone, erased_phone[-8:], "欧阳秀兰", f"E{marker}"]
    kept_needles = [f"K{marker}"]

    answer_hits = {
        name: [n for n in needles if n in a.text]
        for name, a in answers.items()
        if name != "kept reporting case"
    }
    tables = {
        service: await table_hits(stack.database_url(service), needles) for service in SERVICES
    }
    kept_tables = {
        service: await table_hits(stack.database_url(service), kept_needles)
        for service in ("intake", "reporting")
    }
    print(
        f"erasure scan: {len(answer_hits)} answers, "
        f"{sum(SCANNED[stack.database_url(s)] for s in SERVICES)} tables of {len(SERVICES)} "
        f"services; hits: {sum(map(len, answer_hits.values()))} in answers, "
        f"{sum(sum(t.values()) for t in tables.values())} rows in tables"
    )
    assert all(a.status_code < 500 for a in answers.values())
    assert {name: hits for name, hits in answer_hits.items() if hits} == {}
    assert {service: hits for service, hits in tables.items() if hits} == {}
    # the other resident is untouched
    assert f"K{marker}" in answers["kept reporting case"].json()["text"]
    assert kept_tables["intake"] and kept_tables["reporting"]
    # what counts the erased case stays: where (to the building), what, which steps
    case = answers["reporting case"].json()
    assert case["category"] and case["lead_responder"] and case["address"]
    assert "室" not in case["address"]
