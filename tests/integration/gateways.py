"""Real local servers for notify's and reporting's tests: SMS and WeChat gateways, webhook
subscribers, intake's contact and words-key endpoints, and an SMTP server. Each records every
request it gets (retries included) and can be told to be slow, to fail, or to answer a given
status."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as email_policy
from typing import Any

from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class Behaviour:
    """How an endpoint answers: a delay, a share of 503s, or a fixed status (with Retry-After);
    with `hold`, it takes the requests after its first `held_after` and answers none of them
    until `hold` is set (a test holds a sender mid-request, without racing it)."""

    latency_s: float = 0.0
    error_rate: float = 0.0
    status: int | None = None
    retry_after: str | None = None
    hold: asyncio.Event | None = None
    held_after: int = 0


@dataclass
class Gateways:
    requests: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # None: erased
    lookups: list[list[str]] = field(default_factory=list)  # the complaint ids of each request
    words_keys: dict[str, str | None] = field(default_factory=dict)  # base64; None: erased
    key_lookups: list[list[str]] = field(default_factory=list)  # the residents of each request
    one_by_one: int = 0  # contacts asked for one at a time
    in_flight: dict[str, int] = field(default_factory=dict)
    peak_in_flight: dict[str, int] = field(default_factory=dict)
    arrived: dict[str, int] = field(default_factory=dict)  # requests taken, answered or not

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["kind"] == kind]

    def accepted(self, kind: str) -> list[dict[str, Any]]:
        """Requests answered 2xx, once per idempotency key (what a real gateway would send on)."""
        seen: dict[str, dict[str, Any]] = {}
        for r in self.of(kind):
            if r["status"] < 300:
                seen.setdefault(r["key"], r)
        return list(seen.values())


def create_app(gateways: Gateways) -> FastAPI:
    app = FastAPI()

    async def answer(kind: str, request: Request, key: str) -> JSONResponse:
        behaviour = gateways.behaviour.get(kind, Behaviour())
        gateways.in_flight[kind] = gateways.in_flight.get(kind, 0) + 1
        gateways.peak_in_flight[kind] = max(
            gateways.peak_in_flight.get(kind, 0), gateways.in_flight[kind]
        )
        gateways.arrived[kind] = gateways.arrived.get(kind, 0) + 1
        try:
            body = await request.body()  # taken whole, even if the sender goes before the answer
            if behaviour.hold is not None and gateways.arrived[kind] > behaviour.held_after:
                await behaviour.hold.wait()
            if behaviour.latency_s:
                await asyncio.sleep(behaviour.latency_s)
            status = behaviour.status or (503 if random.random() < behaviour.error_rate else 200)
            gateways.requests.append(
                {
                    "kind": kind,
                    "at": datetime.now(UTC),  # when it was answered
                    "key": key,
                    "status": status,
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                    "body": body,
                    "json": json.loads(body) if body else None,
                }
            )
            headers = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
            return JSONResponse({"status": status}, status_code=status, headers=headers)
        finally:
            gateways.in_flight[kind] -= 1

    @app.post("/sms")
    async def sms(request: Request) -> JSONResponse:
        return await answer("sms", request, request.headers.get("idempotency-key", ""))

    @app.post("/wechat")
    async def wechat(request: Request) -> JSONResponse:
        return await answer("wechat", request, request.headers.get("idempotency-key", ""))

    @app.post("/hooks/{name}")
    async def hook(name: str, request: Request) -> JSONResponse:
        return await answer(f"webhook:{name}", request, request.headers.get("webhook-id", ""))

    @app.post("/contacts/lookup")
    async def lookup(request: Request) -> JSONResponse:
        ids = (await request.json())["complaint_ids"]
        gateways.lookups.append(ids)
        known = {i: gateways.contacts[i] for i in ids if i in gateways.contacts}
        return JSONResponse(
            {
                "contacts": {i: c for i, c in known.items() if c is not None},
                "erased": [i for i, c in known.items() if c is None],
                "missing": [i for i in ids if i not in known],
            }
        )

    @app.post("/residents/keys")
    async def words_keys(request: Request) -> JSONResponse:
        refs = (await request.json())["resident_refs"]
        gateways.key_lookups.append(refs)
        return JSONResponse({"keys": {ref: gateways.words_keys.get(ref) for ref in refs}})

    @app.get("/complaints/{complaint_id}/contact")
    async def contact(complaint_id: str) -> JSONResponse:
        gateways.lookups.append([complaint_id])
        gateways.one_by_one += 1
        if complaint_id not in gateways.contacts:
            return JSONResponse({"detail": "no contact"}, status_code=404)
        found = gateways.contacts[complaint_id]
        if found is None:
            return JSONResponse({"detail": "erased"}, status_code=410)
        return JSONResponse(found)

    return app


class Mailbox:
    def __init__(self, gateways: Gateways) -> None:
        self.gateways = gateways

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=email_policy)
        body = mail.get_body(preferencelist=("plain",))
        self.gateways.emails.append(
            {
                "to": list(envelope.rcpt_tos),
                "subject": str(mail["Subject"]),
                "message_id": str(mail["Message-ID"]),
                "complaint_id": str(mail["X-Jiesu-Complaint"]),
                "text": body.get_content() if body is not None else "",
            }
        )
        return "250 OK"


def smtp_server(gateways: Gateways, port: int) -> Controller:
    controller = Controller(Mailbox(gateways), hostname="127.0.0.1", port=port)
    controller.start()
    return controller
