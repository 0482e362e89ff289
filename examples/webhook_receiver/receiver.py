"""A downstream system's webhook endpoint, written only against the platform's published
contract (docs/asyncapi/webhooks.json): it checks each POST's Standard Webhooks signature with
the subscription's secret, refuses stale timestamps, validates the body against the document's
schema for its type and version (when given the document), keeps each event once by its id
(a replay or a retry of one it has is acknowledged and not kept again), and appends what it
keeps to a JSON-lines file.

    python examples/webhook_receiver/receiver.py --port 9000 --secret whsec_... \\
        --asyncapi docs/asyncapi/webhooks.json --log received.jsonl

Standard library only, but for `jsonschema` when --asyncapi is given.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TOLERANCE_S = 300  # a signature older (or newer) than this is refused: no replay of a capture


def signature_ok(secret: str, headers: Any, body: bytes, now: float) -> bool:
    """Standard Webhooks: `v1,<base64 HMAC-SHA256(secret, id.timestamp.body)>`, any of the
    space-separated signatures may match (a rotated secret)."""
    message_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    given = headers.get("webhook-signature", "")
    if not message_id or not timestamp or not timestamp.isdigit():
        return False
    if abs(now - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(candidate.removeprefix("v1,"), expected)
        for candidate in given.split()
        if candidate.startswith("v1,")
    )


class Validators:
    """One JSON Schema validator per (type, version), from the document's messages."""

    def __init__(self, document: dict[str, Any]) -> None:
        import jsonschema  # only needed with --asyncapi

        self.by_type: dict[tuple[str, int], Any] = {}
        for message in document["components"]["messages"].values():
            schema = {**message["payload"], "components": document["components"]}
            self.by_type[(message["name"], message.get("x-event-version", 1))] = (
                jsonschema.Draft202012Validator(schema)
            )

    def errors(self, body: dict[str, Any]) -> list[str]:
        version = int(body.get("dataversion", 1))
        validator = self.by_type.get((body.get("type", ""), version))
        if validator is None:
            return []  # a type or version newer than the document: kept, not judged
        return [error.message for error in validator.iter_errors(body)]


class Inbox:
    """What the endpoint kept, one JSON line per event, read back at start: each event once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.seen: set[str] = set()
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                self.seen.add(json.loads(line)["id"])

    def keep(self, body: dict[str, Any], webhook_id: str) -> bool:
        """False when the event was kept before (a retry, a replay)."""
        with self.lock:
            if body["id"] in self.seen:
                return False
            self.seen.add(body["id"])
            with self.path.open("a", encoding="utf-8") as out:
                line = {"id": body["id"], "webhook_id": webhook_id, "body": body}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
            return True


def handler(secret: str, inbox: Inbox, validators: Validators | None) -> type:
    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if not signature_ok(secret, self.headers, body, time.time()):
                return self.answer(401, "bad signature")
            event = json.loads(body)
            problems = validators.errors(event) if validators else []
            if problems:
                return self.answer(400, "; ".join(problems))
            kept = inbox.keep(event, self.headers["webhook-id"])
            data = event.get("data") or {}
            print(
                "kept" if kept else "again",
                event.get("type"),
                data.get("case_number") or "",
                data.get("status") or "",
                event["id"],
                flush=True,
            )
            self.answer(204, "")

        def answer(self, status: int, text: str) -> None:
            self.send_response(status)
            self.send_header("content-length", str(len(text.encode())))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *_: Any) -> None:
            pass

    return Endpoint


def make_server(
    host: str, port: int, secret: str, log: Path, document: Path | None = None
) -> ThreadingHTTPServer:
    validators = Validators(json.loads(document.read_text())) if document else None
    return ThreadingHTTPServer((host, port), handler(secret, Inbox(log), validators))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True, help="the subscription's secret (whsec_…)")
    parser.add_argument("--asyncapi", type=Path, help="the webhooks' AsyncAPI document")
    parser.add_argument("--log", type=Path, default=Path("received.jsonl"))
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, args.secret, args.log, args.asyncapi)
    print(f"listening on http://{args.host}:{server.server_port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
