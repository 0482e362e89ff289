"""A load generator that leaves the cores to the platform: JSON POSTs over kept-alive HTTP/1.1.

A general client (httpx) spends 2.4–3 ms of CPU on every request on this box, as much as a
whole hop of the platform; this one writes the request in one piece and reads the answer with
asyncio's stream reader, a fraction of a millisecond. It speaks just what intake answers:
HTTP/1.1 with a Content-Length (or `Connection: close`), no chunked bodies, no redirects.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def on_schedule(count: int, per_s: float) -> AsyncIterator[int]:
    """0 … count-1, each at its time on a fixed schedule of `per_s` a second (open loop: a late
    one is not made up for by waiting less for the rest, it is sent at once)."""
    start = time.perf_counter()
    for index in range(count):
        delay = start + index / per_s - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield index


class ClosedEarly(Exception):
    """The server closed a kept-alive connection before it answered."""


class KeepAliveClient:
    """Reuses idle connections and opens another when all are busy (open loop: never waits)."""

    def __init__(self, base_url: str, *, max_connections: int = 200) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"plain http://host:port only: {base_url}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.idle: list[Stream] = []
        self.slots = asyncio.Semaphore(max_connections)

    async def post_json(
        self, path: str, body: Any, headers: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        payload = json.dumps(body, ensure_ascii=False).encode()
        lines = [
            f"POST {self.prefix}{path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            "Content-Type: application/json",
            f"Content-Length: {len(payload)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + payload
        async with self.slots:
            # A kept-alive connection the server has just timed out is tried once more on a
            # new one; the Idempotency-Key makes the second POST the same request.
            for reused in (True, False):
                stream = self.idle.pop() if reused and self.idle else None
                if stream is None:
                    reused = False
                    stream = await asyncio.open_connection(self.host, self.port)
                try:
                    status, answer, keep = await _exchange(stream, request)
                except (ClosedEarly, ConnectionError, asyncio.IncompleteReadError):
                    stream[1].close()
                    if reused:
                        continue
                    raise
                if keep:
                    self.idle.append(stream)
                else:
                    stream[1].close()
                return status, json.loads(answer) if answer else {}
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


async def _exchange(stream: Stream, request: bytes) -> tuple[int, bytes, bool]:
    reader, writer = stream
    writer.write(request)
    status_line = await reader.readline()
    if not status_line:
        raise ClosedEarly
    status = int(status_line.split(b" ", 2)[1])
    length, keep = 0, True
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"connection" and value.strip().lower() == b"close":
            keep = False
        elif name == b"transfer-encoding":
            raise ValueError("chunked answers are not spoken here")
    return status, await reader.readexactly(length), keep
