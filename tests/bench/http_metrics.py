"""What the HTTP metrics middleware costs a request: the same ASGI calls with and without it,
in process (no network), alternating A B A B so machine noise hits both.

Two apps: a bare ASGI app that answers at once (the middleware's own cost, nothing to hide
it), and a FastAPI route with a path parameter and a JSON answer (what a cheap read costs
through the framework, the share that matters).

Run: python -m tests.bench.http_metrics [--requests 20000 --repeats 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from rich.console import Console
from rich.table import Table

from shared.http import HttpMetrics
from tests.bench.common import write_results

REPO = Path(__file__).resolve().parents[2]
console = Console()
Asgi = Callable[..., Any]


async def bare(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def framework() -> FastAPI:
    app = FastAPI()

    @app.get("/complaints/{ref}")
    async def read(ref: str) -> dict[str, str]:
        return {"ref": ref, "status": "dispatched"}

    return app


async def per_request_us(app: Asgi, requests: int) -> float:
    """Microseconds per request, calling the app as a server would."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Any) -> None:
        return None

    started = time.perf_counter()
    for n in range(requests):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": f"/complaints/JS-{n}",
            "raw_path": f"/complaints/JS-{n}".encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "server": ("127.0.0.1", 8001),
            "client": ("127.0.0.1", 50000),
        }
        await app(scope, receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def measure(requests: int, repeats: int) -> list[dict[str, Any]]:
    results = []
    plain_framework = framework()
    measured_framework = framework()
    measured_framework.add_middleware(HttpMetrics)
    for name, without, with_metrics in (
        ("bare ASGI app", bare, HttpMetrics(bare)),
        ("FastAPI route", plain_framework, measured_framework),
    ):
        await per_request_us(without, requests // 10)  # warm both: imports, caches, series
        await per_request_us(with_metrics, requests // 10)
        off, on = [], []
        for _ in range(repeats):
            off.append(await per_request_us(without, requests))
            on.append(await per_request_us(with_metrics, requests))
        off_us, on_us = statistics.median(off), statistics.median(on)
        results.append(
            {
                "app": name,
                "without_us": round(off_us, 2),
                "with_us": round(on_us, 2),
                "cost_us": round(on_us - off_us, 2),
                "ratio": round(on_us / off_us, 3),
            }
        )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "http_metrics.json")
    args = parser.parse_args()
    results = asyncio.run(measure(args.requests, args.repeats))
    table = Table(title="HTTP metrics middleware, per request (medians)")
    for column in ("app", "without µs", "with µs", "cost µs", "ratio"):
        table.add_column(column)
    for row in results:
        table.add_row(*(str(value) for value in row.values()))
    console.print(table)
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
