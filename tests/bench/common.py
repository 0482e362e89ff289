"""What every bench does around its measurement: a Postgres of its own, the results written."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from deploy.local.processes import temporary_postgres


def own_postgres(bench: str) -> contextlib.AbstractAsyncContextManager[tuple[str, Path]]:
    """A durable embedded Postgres in a temporary home of the bench's own: its server URL, and
    the home for the bench's other logs and children. Stopped and removed on the way out."""
    return temporary_postgres(f"jiesu-bench-{bench}-", durable=True)


def write_results(path: Path, results: Any, console: Console) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    console.print(f"written: {path}")
