"""The running platform, started by the local runner exactly as `make up` starts it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from deploy.local.processes import free_port, free_ports, port_is_free
from deploy.local.runner import SERVICES
from shared.db import drop_database, with_database

REPO = Path(__file__).resolve().parents[2]


@dataclass
class RunningStack:
    state_dir: Path
    process: subprocess.Popen[bytes]
    db_prefix: str
    server_url: str

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = json.loads((self.state_dir / "stack.json").read_text())
        return state

    def url(self, service: str) -> str:
        url: str = self.state()["urls"][service]
        return url

    def pid(self, child: str) -> int:
        pid: int = self.state()["children"][child]
        return pid

    def database_url(self, service: str) -> str:
        return with_database(self.server_url, f"{self.db_prefix}_{service}")

    def log_tail(self, name: str = "runner", lines: int = 40) -> str:
        path = self.state_dir / ("runner.log" if name == "runner" else f"logs/{name}.log")
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )


async def until(check: Any, timeout: float, what: str) -> Any:
    """`check()`'s first truthy answer, asked every 0.3 s until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out: {what}"
        await asyncio.sleep(0.3)


def _free_port_block(size: int) -> int:
    for _ in range(200):
        base = free_port()
        if base + size < 65000 and all(port_is_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    """Settings a test module gives its stack's processes (override the fixture to set some)."""
    return {}


@asynccontextmanager
async def running_stack(
    pg_server_url: str,
    state_dir: Path,
    stack_env: dict[str, str],
    workers: dict[str, int] | None = None,
) -> AsyncIterator[RunningStack]:
    """The platform started by the local runner in `state_dir` (with `workers` processes of
    the services named there), stopped and its databases dropped on leaving."""
    prefix = f"e2e_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "DATABASE_URL": pg_server_url,
        # Short leases and backoffs so interrupted deliveries are retried within the test.
        "NOTIFY_DELIVERY_LEASE_S": "5",
        "NOTIFY_RETRY_SCHEDULE": "0.5s,1s,2s,4s,8s,15s",
        # Consumer groups join in half this and drop a killed member after it (default 6 s).
        "KAFKA_SESSION_TIMEOUT_S": "2",
        **stack_env,
    }
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # the stack's own broker, so tests can kill it
    base = _free_port_block(len(SERVICES))
    sink, smtp, broker = free_ports(3, avoid=range(base, base + len(SERVICES)))
    argv = [
        sys.executable,
        "-m",
        "deploy.local",
        "--state-dir",
        str(state_dir),
        "up",
        "--port-base",
        str(base),
        "--sink-port",
        str(sink),
        "--smtp-port",
        str(smtp),
        "--broker-port",
        str(broker),
        "--db-prefix",
        prefix,
    ]
    if workers:
        # Further workers take ports base + 10 * service index + n - 1: a block of its own.
        taken = {sink, smtp, broker, *range(base, base + len(SERVICES))}
        while True:
            block = _free_port_block(10 * len(SERVICES))
            if not taken & set(range(block, block + 10 * len(SERVICES))):
                break
        argv += ["--workers", ",".join(f"{s}={n}" for s, n in workers.items())]
        argv += ["--worker-port-base", str(block)]

    def start() -> subprocess.Popen[bytes]:
        with open(state_dir / "runner.log", "wb") as log:
            return subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    process = await asyncio.to_thread(start)
    running = RunningStack(state_dir, process, prefix, pg_server_url)
    deadline = time.monotonic() + 180
    while True:
        if process.poll() is not None:
            pytest.fail(f"the runner exited ({process.returncode}):\n{running.log_tail()}")
        state_file = state_dir / "stack.json"
        if state_file.exists() and running.state().get("ready"):
            break
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the platform did not come up:\n{running.log_tail()}")
        await asyncio.sleep(0.3)
    children = running.state()["children"]
    try:
        yield running
    finally:
        children.update(running.state()["children"])
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 90)
        except subprocess.TimeoutExpired:
            process.kill()
        leftovers = [name for name, pid in children.items() if pid and _alive(pid)]
        for service in SERVICES:
            await drop_database(running.database_url(service))
        assert not leftovers, f"still running after the runner stopped: {leftovers}"


@pytest.fixture(scope="module")
async def stack(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory, stack_env: dict[str, str]
) -> AsyncIterator[RunningStack]:
    async with running_stack(pg_server_url, tmp_path_factory.mktemp("stack"), stack_env) as running:
        yield running
