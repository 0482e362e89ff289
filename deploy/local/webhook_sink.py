"""A local stand-in for the SMS and WeChat gateways, a webhook subscriber and an SMTP server.

Run by the local runner on port 8009 (HTTP) and 8025 (SMTP). It checks what a real endpoint
would (the gateway key, the Standard Webhooks signature), treats the idempotency key of every
message as a real gateway does (a retry is not a new message), and keeps what arrived:
GET /messages lists it (newest first; ?kind=sms|wechat|webhook|email, ?complaint_id=…, ?limit=)
with how many matched and what the in-memory window has dropped.
`--latency-s` and `--error-rate` make the SMS gateway slow and flaky, for the benchmarks.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import random
import threading
import time
from collections import deque
from email import message_from_bytes
from email.header import decode_header, make_header
from email.policy import compat32
from pathlib import Path
from typing import Any, TextIO

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TOLERANCE_S = 300
WINDOW = 200_000  # entries kept in memory for the listing


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not message_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(
        hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    offered = [part.split(",", 1)[-1] for part in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, signature) for signature in offered)


class Inbox:
    """What arrived, once per idempotency key, newest first, in a window of the newest `window`
    entries. The log file, kept open, has them all; a restarted sink reads it back, so that it
    lists what arrived before and still knows a retry of an earlier message for what it is.

    SMTP arrivals are kept on aiosmtpd's own thread while HTTP arrivals and listings run on
    uvicorn's loop, so one lock guards the window: without it a listing that iterates while a
    mail is kept fails with "deque mutated during iteration".
    """

    def __init__(self, log_file: Path | None, window: int = WINDOW) -> None:
        self.window = window
        self._items: deque[dict[str, Any]] = deque(maxlen=window)
        self._seen: set[str] = set()  # every key ever kept: a late retry is still a duplicate
        self._received = 0
        self._lock = threading.Lock()
        self._log: TextIO | None = None
        if log_file is not None:
            self._read_back(log_file)
            # Line-buffered: each record reaches the file as it is kept, without reopening it.
            self._log = log_file.open("a", encoding="utf-8", buffering=1)

    def _read_back(self, log_file: Path) -> None:
        if not log_file.exists():
            return
        line = "\n"
        with log_file.open(encoding="utf-8") as logged:
            for line in logged:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a kill
                self._seen.add(f"{record['kind']}:{record['key']}")
                self._received += 1
                self._items.appendleft(record)
        if not line.endswith("\n"):
            with log_file.open("a", encoding="utf-8") as out:
                out.write("\n")  # the next record starts on a line of its own

    def keep(self, kind: str, key: str, entry: dict[str, Any]) -> bool:
        record = {"kind": kind, "key": key, "received_at": time.time(), **entry}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            if f"{kind}:{key}" in self._seen:
                return False
            self._seen.add(f"{kind}:{key}")
            self._received += 1
            self._items.appendleft(record)
            if self._log is not None:
                self._log.write(line)
        return True

    def listing(self, kind: str | None, complaint_id: str | None, limit: int) -> dict[str, Any]:
        """The newest `limit` entries that match, how many match in all, and what the window
        dropped."""
        messages: list[dict[str, Any]] = []
        matching = 0
        with self._lock:
            for e in self._items:
                if (kind is None or e["kind"] == kind) and (
                    complaint_id is None or e.get("complaint_id") == complaint_id
                ):
                    matching += 1
                    if len(messages) < limit:
                        messages.append(e)
            received, kept, logged = self._received, len(self._items), self._log is not None
        dropped = received - kept
        listed: dict[str, Any] = {
            "received": received,
            "kept": kept,
            "dropped": dropped,
            "matching": matching,
            "messages": messages,
        }
        if dropped:
            kept_where = "（完整记录见日志文件 the log file has them all）" if logged else ""
            listed["note"] = (
                f"内存中只保留最近 {self.window} 条，更早的 {dropped} 条已丢弃{kept_where}。"
                f"Only the newest {self.window} messages are kept in memory; "
                f"{dropped} older ones were dropped."
            )
        return listed

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None


class _Mailbox:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        # The compat32 parser: the modern policy's header objects were over 40 % of this
        # stand-in's CPU under load, and a local sink only needs the text back.
        mail = message_from_bytes(envelope.content, policy=compat32)
        plain = next((p for p in mail.walk() if p.get_content_type() == "text/plain"), None)
        text = ""
        if plain is not None:
            payload = plain.get_payload(decode=True)
            charset = plain.get_content_charset() or "utf-8"
            text = payload.decode(charset) if isinstance(payload, bytes) else ""
        self.inbox.keep(
            "email",
            str(mail.get("Message-ID", "")),
            {
                "to": list(envelope.rcpt_tos),
                "subject": str(make_header(decode_header(mail.get("Subject", "")))),
                "text": text,
                "complaint_id": str(mail.get("X-Jiesu-Complaint", "")),
            },
        )
        return "250 OK"


def create_app(
    secret: str,
    gateway_key: str,
    inbox: Inbox,
    latency_s: float = 0.0,
    error_rate: float = 0.0,
) -> FastAPI:
    app = FastAPI(title="本地消息网关 Local gateways and subscriber")

    @app.post("/webhooks")
    async def webhook(request: Request) -> JSONResponse:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not verify(secret, headers, body):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        payload = json.loads(body)
        fresh = inbox.keep(
            "webhook", headers["webhook-id"], {"complaint_id": payload.get("subject"), **payload}
        )
        return JSONResponse({"status": "accepted" if fresh else "duplicate"})

    def gateway(kind: str, slow: bool) -> Any:
        async def receive(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {gateway_key}":
                return JSONResponse({"error": "bad key"}, status_code=401)
            if slow and latency_s:
                await asyncio.sleep(latency_s)
            if slow and random.random() < error_rate:
                return JSONResponse(
                    {"error": "gateway busy"}, status_code=503, headers={"Retry-After": "1"}
                )
            payload = await request.json()
            reference = payload.get("reference", {})
            key = request.headers.get("idempotency-key") or reference.get("notification_id", "")
            fresh = inbox.keep(
                kind, key, {"complaint_id": reference.get("complaint_id"), **payload}
            )
            return JSONResponse({"status": "accepted" if fresh else "duplicate"})

        return receive

    app.post("/sms")(gateway("sms", slow=True))
    app.post("/wechat")(gateway("wechat", slow=False))

    @app.get("/messages")
    async def listing(
        kind: str | None = None, complaint_id: str | None = None, limit: int = 50
    ) -> dict[str, Any]:
        return inbox.listing(kind, complaint_id, max(limit, 0))

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8009)
    parser.add_argument("--smtp-port", type=int, default=8025)
    parser.add_argument("--secret", required=True, help="the webhook subscription's secret")
    parser.add_argument("--gateway-key", required=True, help="the SMS/WeChat gateways' API key")
    parser.add_argument("--log-file", type=Path)
    parser.add_argument("--latency-s", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--window", type=int, default=WINDOW, help="messages kept in memory")
    args = parser.parse_args()
    inbox = Inbox(args.log_file, args.window)
    smtp = Controller(_Mailbox(inbox), hostname="127.0.0.1", port=args.smtp_port)
    smtp.start()
    try:
        uvicorn.run(
            create_app(args.secret, args.gateway_key, inbox, args.latency_s, args.error_rate),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
        )
    finally:
        smtp.stop()
        inbox.close()


if __name__ == "__main__":
    main()
