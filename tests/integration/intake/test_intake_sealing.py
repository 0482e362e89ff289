"""What a resident said is stored and published sealed under their key: intake reads it back
opened while the key exists and redacted once it is destroyed; reporting gets words keys, and
only reporting."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import pytest

from services.intake import store
from services.intake.domain.commands import FileComplaint
from shared.envelope import Causation
from shared.events import ComplaintFiled, parse_event
from shared.privacy import REDACTED_TEXT
from shared.sealing import WordsKey, open_event
from tests.integration.conftest import IntakeServer
from tests.integration.intake.test_intake_api import _facts_of, act, publish, wait_for_status
from tests.support import examples

pytestmark = pytest.mark.integration

REPORTING = {"X-API-Key": "dev-key-reporting"}


def said(marker: str, phone: str) -> dict[str, object]:
    return {
        "text": f"楼道里堆满杂物，消防通道被堵，暗号{marker}",
        "address": f"玫城丽都小区2号楼1单元{marker}室",
        "contact": {"name": "钱阿姨", "phone": phone},
    }


async def stored_filing(
    server: IntakeServer, complaint_id: str, event_type: str = "ComplaintFiled"
) -> dict[str, object]:
    """The event's data as intake's store holds it (and its relay publishes it)."""
    async with server.runtime.pool.acquire() as conn:
        data = await conn.fetchval(
            "SELECT data::text FROM events WHERE stream = $1 AND type = $2",
            f"complaint-{complaint_id}",
            event_type,
        )
    found: dict[str, object] = json.loads(data)
    return found


async def loaded(server: IntakeServer, complaint_id: str) -> object:
    async with server.runtime.pool.acquire() as conn:
        return await store.load(conn, server.runtime.store, uuid.UUID(complaint_id))


async def test_a_filing_is_stored_sealed_and_intake_reads_it_back_as_it_was_said(
    intake_server: IntakeServer,
):
    marker = uuid.uuid4().hex[:8]
    filed = await intake_server.file(0, **said(marker, "13912341001"))
    raw = await stored_filing(intake_server, str(filed["complaint_id"]))
    assert marker not in json.dumps(raw, ensure_ascii=False) and raw["sealed"]
    assert raw["latitude"] is None and raw["address"] and "室" not in str(raw["address"])
    state = await loaded(intake_server, str(filed["complaint_id"]))
    assert marker in state.text and marker in state.address  # type: ignore[attr-defined]
    async with intake_server.client(**examples.STAFF_KEY) as client:
        shown = (await client.get(f"/complaints/{filed['complaint_id']}")).json()
        events = (await client.get(f"/complaints/{filed['complaint_id']}/events")).json()
    assert marker in shown["text"]
    [filing] = [e for e in events["events"] if e["type"] == "ComplaintFiled"]
    assert marker in filing["data"]["text"] and "sealed" not in filing["data"]


async def test_after_erasure_the_filing_reads_redacted_everywhere_and_the_redaction_is_recorded(
    intake_server: IntakeServer,
):
    marker = uuid.uuid4().hex[:8]
    phone = "13912341002"
    filed = await intake_server.file(1, **said(marker, phone))
    complaint_id = str(filed["complaint_id"])
    async with intake_server.client(**examples.STAFF_KEY) as client:
        assert (await client.post("/residents/erasure", json={"phone": phone})).status_code == 200
        events = await client.get(f"/complaints/{complaint_id}/events")
        shown = await client.get(f"/complaints/{complaint_id}")
    assert marker not in events.text and marker not in shown.text
    # the filing reads as redacted, and the erasure still told every reader (ComplaintRedacted)
    assert "ComplaintRedacted" in [e["type"] for e in events.json()["events"]]
    state = await loaded(intake_server, complaint_id)
    assert state.text == REDACTED_TEXT and state.redacted  # type: ignore[attr-defined]
    # the resident files again: a new key; the old filing stays shredded, the new one reads
    again = await intake_server.file(1, **said(f"{marker}b", phone))
    assert f"{marker}b" in (await loaded(intake_server, str(again["complaint_id"]))).text  # type: ignore[attr-defined]
    assert (await loaded(intake_server, complaint_id)).text == REDACTED_TEXT  # type: ignore[attr-defined]


async def test_words_keys_go_to_reporting_only_open_the_filing_and_are_null_once_erased(
    intake_server: IntakeServer,
):
    marker = uuid.uuid4().hex[:8]
    phone = "13912341003"
    filed = await intake_server.file(2, **said(marker, phone))
    resident = str(filed["resident_ref"])
    async with intake_server.client(**REPORTING) as client:
        answer = await client.post("/residents/keys", json={"resident_refs": [resident]})
        too_many = await client.post(
            "/residents/keys", json={"resident_refs": [f"R-{i:020x}" for i in range(501)]}
        )
    assert answer.status_code == 200 and too_many.status_code == 422
    assert answer.headers["cache-control"] == "no-store"
    key = WordsKey.of(base64.b64decode(answer.json()["keys"][resident]))
    sealed = parse_event(
        "ComplaintFiled", 1, await stored_filing(intake_server, str(filed["complaint_id"]))
    )
    assert isinstance(sealed, ComplaintFiled)
    assert marker in open_event(sealed, key).text
    for other in (examples.STAFF_KEY, examples.NOTIFY_KEY):
        async with intake_server.client(**other) as client:
            refused = await client.post("/residents/keys", json={"resident_refs": [resident]})
        assert refused.status_code == 403
    async with intake_server.client(**examples.STAFF_KEY) as client:
        await client.post("/residents/erasure", json={"phone": phone})
    async with intake_server.client(**REPORTING) as client:
        after = await client.post("/residents/keys", json={"resident_refs": [resident]})
    assert after.json() == {"keys": {resident: None}}


async def test_a_callbacks_comment_is_stored_sealed_and_shredded_with_the_residents_key(
    intake_server: IntakeServer,
):
    """What the resident said at the callback (or staff noted of it) is theirs, like the
    filing's words: sealed in the store and on the topic, read back opened, and unreadable
    once they are erased."""
    marker = uuid.uuid4().hex[:8]
    phone = "13912341004"
    filed = await intake_server.file(3, **said(marker, phone))
    complaint_id = str(filed["complaint_id"])
    for fact in _facts_of(filed):
        await publish(intake_server, fact)
    await wait_for_status(intake_server, complaint_id, "resolved")
    comment = f"居民说雨后仍有渗水，暗号{marker}回访"
    answer = await act(
        intake_server,
        complaint_id,
        "callback",
        {
            "contacted": True,
            "resolved": True,
            "satisfaction": "basically_satisfied",
            "comment": comment,
        },
    )
    assert answer.status_code == 200, answer.text
    raw = await stored_filing(intake_server, complaint_id, "ComplaintCallbackRecorded")
    assert marker not in json.dumps(raw, ensure_ascii=False)
    assert raw["sealed"] and raw["resident_ref"] == filed["resident_ref"]
    async with intake_server.client(**examples.STAFF_KEY) as client:
        events = (await client.get(f"/complaints/{complaint_id}/events")).json()
    [callback] = [e for e in events["events"] if e["type"] == "ComplaintCallbackRecorded"]
    assert callback["data"]["comment"] == comment and "sealed" not in callback["data"]
    async with intake_server.client(**examples.STAFF_KEY) as client:
        assert (await client.post("/residents/erasure", json={"phone": phone})).status_code == 200
        after = await client.get(f"/complaints/{complaint_id}/events")
    assert marker not in after.text
    assert marker not in repr(await loaded(intake_server, complaint_id))
    async with intake_server.runtime.pool.acquire() as conn:
        history = await intake_server.runtime.store.read_stream(conn, f"complaint-{complaint_id}")
    [opened] = [r for r in history if r.type == "ComplaintCallbackRecorded"]
    assert opened.data["comment"] is None  # the key is gone: the comment reads as erased


async def test_an_erasure_waits_for_the_residents_filing_still_open_and_redacts_it(
    intake_server: IntakeServer,
):
    """A filing whose transaction is still open when the resident asks to be erased: the
    erasure waits for it, then destroys the key and redacts it too. (Without the wait the
    filing committed after the erasure with its words in the clear in intake's view, and no
    ComplaintRedacted ever reached it.)"""
    marker = uuid.uuid4().hex[:8]
    phone = "13912341005"
    intake = intake_server.runtime.app
    body = examples.complaint_request(4, **said(marker, phone))
    command = FileComplaint.model_validate(body)
    filing = await intake_server.runtime.pool.acquire()
    try:
        async with intake_server.client(**examples.STAFF_KEY) as client:
            async with filing.transaction():
                [saved] = await intake.file_all(
                    filing,
                    [(intake.prepare(await intake.catalogue(filing), command), Causation.start())],
                )
                erasure = asyncio.create_task(
                    client.post("/residents/erasure", json={"phone": phone})
                )
                async with intake_server.runtime.pool.acquire() as watch:
                    while not await watch.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
                    ):
                        assert not erasure.done(), (await erasure).text
                        await asyncio.sleep(0.05)
            # the filing has committed; the erasure goes on
            answer = await asyncio.wait_for(erasure, 30)
    finally:
        await intake_server.runtime.pool.release(filing)
    assert answer.status_code == 200, answer.text
    complaint_id = str(saved.state.complaint_id)
    async with intake_server.client(**examples.STAFF_KEY) as client:
        shown = await client.get(f"/complaints/{complaint_id}")
    assert marker not in shown.text and shown.json()["text"] == REDACTED_TEXT
