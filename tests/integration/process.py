"""A service as its own process (as deployed), on a broker of its own, for the fuzz suites."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from deploy.local.processes import free_port, tansu_broker
from shared.db import with_database

REPO = Path(__file__).resolve().parents[2]


def wait_until_answering(
    process: subprocess.Popen[bytes], url: str, log_file: Path, timeout_s: float
) -> None:
    """Until `url` answers 200; fails with the log's tail if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, log_file.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, f"{url} did not answer in {timeout_s} s"
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)


@contextmanager
def service_process(service: str, pg_server_url: str, home: Path) -> Iterator[tuple[str, str]]:
    """`python -m services.<service>.main` on a fresh database; yields (its URL, its database
    URL) once ready. Afterwards its log may hold no traceback."""
    broker_port, port = free_port(), free_port()
    broker = tansu_broker(broker_port, home / "broker.log")
    broker.start()
    prefix = service.upper()
    database_url = with_database(pg_server_url, f"t_fuzz_{service}_{uuid.uuid4().hex[:10]}")
    env = {
        **os.environ,
        f"{prefix}_DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker_port}",
        f"{prefix}_PORT": str(port),
    }
    log_file = home / f"{service}.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{service}.main"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answering(process, f"{url}/readyz", log_file, 60)
        yield url, database_url
    finally:
        process.terminate()
        process.wait(20)
        asyncio.run(broker.stop())
    log_text = log_file.read_text(errors="replace")
    assert "Traceback" not in log_text, log_text[-4000:]
