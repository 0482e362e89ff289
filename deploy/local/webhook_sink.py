"""A local stand-in for the SMS/WeChat gateway: verifies Standard Webhooks signatures and keeps what it got.

Run by the local runner on port 8009: GET /webhooks lists what arrived (newest first).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from collections import deque
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

TOLERANCE_S = 300


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


def create_app(secret: str, log_file: Path | None) -> FastAPI:
    app = FastAPI(title="本地消息网关 Local webhook sink")
    received: deque[dict[str, Any]] = deque(maxlen=5000)
    seen: set[str] = set()

    @app.post("/webhooks")
    async def receive(request: Request) -> JSONResponse:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not verify(secret, headers, body):
            return JSONResponse({"error": "bad signature"}, status_code=401)
        message_id = headers["webhook-id"]
        if (
            message_id in seen
        ):  # the webhook id is the idempotency key: a retry is not a new message
            return JSONResponse({"status": "duplicate"})
        seen.add(message_id)
        entry = {"webhook_id": message_id, "received_at": time.time(), **json.loads(body)}
        received.appendleft(entry)
        if log_file is not None:
            with log_file.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry, ensure_ascii=False) + "\n")
        return JSONResponse({"status": "accepted"})

    @app.get("/webhooks")
    async def listing(recipient: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        items = [e for e in received if recipient is None or e.get("recipient") == recipient]
        return items[:limit]

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8009)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--log-file", type=Path)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.secret, args.log_file),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
