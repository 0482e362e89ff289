"""What every bench does around its measurement: a Postgres of its own, the results written."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from rich.console import Console

from deploy.local.processes import embedded_postgres, free_port, wait_for_postgres


@contextlib.asynccontextmanager
async def own_postgres(bench: str) -> AsyncIterator[tuple[str, Path]]:
    """A durable embedded Postgres in a temporary home of the bench's own: its server URL, and
    the home for the bench's other logs and children. Stopped and removed on the way out."""
    with tempfile.TemporaryDirectory(prefix=f"jiesu-bench-{bench}-") as tmp:
        home = Path(tmp)
        port = free_port()
        postgres = embedded_postgres(home / "pg", port, home / "pg.log", durable=True)
        postgres.start()
        try:
            url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            await wait_for_postgres(url)
            yield url, home
        finally:
            await postgres.stop()


def write_results(path: Path, results: Any, console: Console) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    console.print(f"written: {path}")
