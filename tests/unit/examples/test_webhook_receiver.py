"""The example webhook endpoint (examples/webhook_receiver/) against an independent Standard
Webhooks implementation: it keeps a signed event once, acknowledges a repeat without keeping it
again, and refuses a forged, tampered or stale one."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from examples.webhook_receiver.receiver import make_server

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    log = tmp_path / "received.jsonl"
    server = make_server("127.0.0.1", 0, SECRET, log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", log
    server.shutdown()
    server.server_close()


def body(event_id: str) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": event_id,
            "type": "CaseResolved",
            "source": "/jiesu/dispatch",
            "time": "2026-11-24T01:30:00Z",
            "dataversion": 1,
            "data": {"case_number": "JS-20261124-000001"},
        }
    ).encode()


def signed(payload: bytes, webhook_id: str, at: datetime | None = None) -> dict[str, str]:
    at = at or datetime.now(UTC)
    signature = Webhook(SECRET).sign(webhook_id, at, payload.decode())
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def test_a_signed_event_is_kept_once_and_a_repeat_acknowledged(
    endpoint: tuple[str, Path],
) -> None:
    url, log = endpoint
    event_id = str(uuid.uuid4())
    payload = body(event_id)
    first = httpx.post(url, content=payload, headers=signed(payload, "msg_1"))
    again = httpx.post(url, content=payload, headers=signed(payload, "msg_1"))
    assert (first.status_code, again.status_code) == (204, 204)
    kept = [json.loads(line) for line in log.read_text().splitlines()]
    assert [k["id"] for k in kept] == [event_id]


def test_a_forged_tampered_or_stale_post_is_refused(endpoint: tuple[str, Path]) -> None:
    url, log = endpoint
    payload = body(str(uuid.uuid4()))
    forged = signed(payload, "msg_2")
    forged["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
    tampered = payload.replace(b"CaseResolved", b"CaseCancelled")
    stale = signed(payload, "msg_2", datetime.now(UTC) - timedelta(minutes=10))
    answers = [
        httpx.post(url, content=payload, headers=forged).status_code,
        httpx.post(url, content=tampered, headers=signed(payload, "msg_2")).status_code,
        httpx.post(url, content=payload, headers=stale).status_code,
    ]
    assert answers == [401, 401, 401]
    assert not log.exists()


def test_what_was_kept_is_remembered_across_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "received.jsonl"
    event_id = str(uuid.uuid4())
    for expected_lines in (1, 1):
        server = make_server("127.0.0.1", 0, SECRET, log)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        payload = body(event_id)
        url = f"http://127.0.0.1:{server.server_port}/"
        assert httpx.post(url, content=payload, headers=signed(payload, "m")).status_code == 204
        server.shutdown()
        server.server_close()
        assert len(log.read_text().splitlines()) == expected_lines


def test_with_the_asyncapi_document_a_body_off_its_contract_is_refused(tmp_path: Path) -> None:
    """The endpoint knows the platform only by docs/asyncapi/webhooks.json: the document's own
    example is kept; the same body with a field of the wrong type is a 400."""
    document = Path("docs/asyncapi/webhooks.json")
    message = json.loads(document.read_text())["components"]["messages"]["CaseResolved.v1"]
    good = message["examples"][0]["payload"]
    bad = {**good, "id": str(uuid.uuid4()), "data": {**good["data"], "complaint_id": 42}}
    server = make_server("127.0.0.1", 0, SECRET, tmp_path / "received.jsonl", document)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/"
    try:
        answers = []
        for payload in (json.dumps(good).encode(), json.dumps(bad).encode()):
            answers.append(httpx.post(url, content=payload, headers=signed(payload, "m")))
    finally:
        server.shutdown()
        server.server_close()
    assert [a.status_code for a in answers] == [204, 400]
    assert "42" in answers[1].text
