"""Notify under a slow, failing SMS gateway: delivery rate and memory.

For each run: a fresh broker, a fresh notify database, notify as its own process, and the local
sink as SMS gateway and SMTP server. N work orders for one unit (reached by SMS and email) are
published at once; the run measures how long every email and every SMS takes to arrive, and
samples notify's resident memory (RSS) throughout. The baseline, in the same invocation, is
the same run with a gateway that answers at once; the slow run's gateway takes 2 s per message
and fails 20 % of them with 503 and Retry-After.

Retries use a short schedule (1 s doubling) so the tail is the gateway's, not the policy's.

Run: make bench   (or python -m tests.bench.notify --orders 300 --repeats 3)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from deploy.local.processes import (
    Child,
    free_port,
    tansu_broker,
    wait_for_port_open,
)
from shared.db import drop_database, ensure_database, with_database
from shared.kafka import ensure_topics
from shared.topics import DISPATCH_EVENTS
from tests.bench.common import own_postgres, write_results
from tests.integration.kafka_helpers import publish_events
from tests.support import examples

REPO = Path(__file__).resolve().parents[2]
console = Console()
KEY = "dev-only-bench-gateway-key"
SECRET = "whsec_ZGV2LW9ubHktbG9jYWwtc2luay1zZWNyZXQ="
UNIT = {
    "id": "dept-urban",
    "name": "平阴县城市管理局",
    "sms": "13905310004",
    "email": "urban@example.cn",
}


async def _ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError(url)


async def one_run(
    server_url: str, home: Path, orders: int, latency_s: float, error_rate: float
) -> dict[str, Any]:
    broker_port, sink_port, smtp_port, notify_port = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    )
    broker = tansu_broker(broker_port, home / f"broker-{broker_port}.log")
    broker.start()
    await wait_for_port_open(broker_port)
    bootstrap = f"127.0.0.1:{broker_port}"
    await ensure_topics(bootstrap)
    sink = Child(
        "sink",
        [
            sys.executable,
            "-m",
            "deploy.local.webhook_sink",
            "--port",
            str(sink_port),
            "--smtp-port",
            str(smtp_port),
            "--secret",
            SECRET,
            "--gateway-key",
            KEY,
            "--latency-s",
            str(latency_s),
            "--error-rate",
            str(error_rate),
        ],
        home / f"sink-{sink_port}.log",
        cwd=REPO,
    )
    sink.start()
    database = with_database(server_url, f"bench_notify_{uuid.uuid4().hex[:8]}")
    await ensure_database(database)
    notify = Child(
        "notify",
        [sys.executable, "-m", "services.notify.main"],
        home / f"notify-{notify_port}.log",
        cwd=REPO,
        env={
            **os.environ,
            "NOTIFY_DATABASE_URL": database,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "NOTIFY_PORT": str(notify_port),
            "NOTIFY_SMS_GATEWAY_URL": f"http://127.0.0.1:{sink_port}/sms",
            "NOTIFY_SMS_API_KEY": KEY,
            "NOTIFY_SMTP_PORT": str(smtp_port),
            "NOTIFY_LOG_LEVEL": "WARNING",
            # Retries within the run (the production schedule waits 5 min after a second failure).
            "NOTIFY_RETRY_SCHEDULE": "1s,2s,4s,8s,16s,32s,64s",
        },
    )
    notify.start()
    try:
        await _ready(f"http://127.0.0.1:{notify_port}/readyz")
        await _ready(f"http://127.0.0.1:{sink_port}/messages")
        async with httpx.AsyncClient(timeout=30) as client:
            loaded = await client.put(
                f"http://127.0.0.1:{notify_port}/directory",
                json=[UNIT],
                headers={"X-API-Key": "dev-key-admin"},
            )
            loaded.raise_for_status()
            process = psutil.Process(notify.pid)
            rss_start = process.memory_info().rss
            events = [
                examples.work_order_issued(responder_id=UNIT["id"], responder_name=UNIT["name"])
                for _ in range(orders)
            ]
            started = time.monotonic()
            await publish_events(bootstrap, DISPATCH_EVENTS, events)
            done: dict[str, float] = {}
            peak = rss_start
            shown = started
            while "email" not in done or "sms" not in done:
                await asyncio.sleep(0.25)
                peak = max(peak, process.memory_info().rss)
                counts = {}
                for kind in ("email", "sms"):
                    got = (
                        await client.get(
                            f"http://127.0.0.1:{sink_port}/messages",
                            params={"kind": kind, "limit": 0},
                        )
                    ).json()["matching"]
                    counts[kind] = got
                    if f"{kind}_95" not in done and got >= 0.95 * orders:
                        done[f"{kind}_95"] = time.monotonic() - started
                    if kind not in done and got >= orders:
                        done[kind] = time.monotonic() - started
                if time.monotonic() - shown > 10:
                    shown = time.monotonic()
                    console.print(
                        f"  {shown - started:.0f} s: {counts['email']} emails, "
                        f"{counts['sms']} SMS of {orders}"
                    )
                if time.monotonic() - started > 900:
                    raise TimeoutError(f"not done after 900 s: {done}")
            rss_end = process.memory_info().rss
        return {
            "orders": orders,
            "email_s": done["email"],
            "sms_s": done["sms"],
            "email_per_s": orders / done["email"],
            "sms_per_s": 0.95 * orders / done["sms_95"],  # the rate, before the retries' tail
            "sms_95_s": done["sms_95"],
            "rss_start_mib": rss_start / 2**20,
            "rss_peak_mib": peak / 2**20,
            "rss_end_mib": rss_end / 2**20,
        }
    finally:
        await notify.stop()
        await sink.stop()
        await broker.stop()
        await drop_database(database)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    async with own_postgres("notify") as (url, home):
        results: dict[str, Any] = {"fast": [], "slow": []}
        for repeat in range(args.repeats):
            console.print(f"notify, run {repeat + 1}/{args.repeats}: fast gateway …")
            results["fast"].append(await one_run(url, home, args.orders, 0.0, 0.0))
            console.print(f"notify, run {repeat + 1}/{args.repeats}: 2 s, 20 % errors …")
            results["slow"].append(await one_run(url, home, args.orders, 2.0, 0.2))
        for name in ("fast", "slow"):
            runs = results[name]
            results[f"median_{name}"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=REPO / "bench-results" / "notify.json")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    fast, slow = results["median_fast"], results["median_slow"]
    table = Table(
        title=f"notify, {args.orders} orders (SMS + email each), medians of {args.repeats} runs"
    )
    for column in (
        "gateway",
        "email/s",
        "SMS/s (to 95 %)",
        "all SMS in",
        "RSS start → peak → end (MiB)",
    ):
        table.add_column(column, justify="right")
    for label, data in (("fast (baseline)", fast), ("2 s, 20 % errors", slow)):
        table.add_row(
            label,
            f"{data['email_per_s']:.1f}",
            f"{data['sms_per_s']:.1f}",
            f"{data['sms_s']:.1f} s",
            f"{data['rss_start_mib']:.0f} → {data['rss_peak_mib']:.0f} → {data['rss_end_mib']:.0f}",
        )
    console.print(table)
    console.print(
        f"email under the slow SMS gateway: {slow['email_per_s'] / fast['email_per_s']:.2f}× the baseline; "
        f"peak RSS {slow['rss_peak_mib'] / fast['rss_peak_mib']:.2f}× the baseline's"
    )
    write_results(args.out, results, console)


if __name__ == "__main__":
    main()
