"""Where each service's CPU goes, by function: py-spy attached to every service process for one
run of the latency bench (`python -m tests.bench.latency --profile`).

Each sample is charged twice: to the function running (the leaf: often a library's, e.g.
asyncpg's protocol or pydantic's validation) and to the innermost function of the project's
own code on the stack (services/, shared/: which of our steps caused it; `shared/runtime.py:
serve` is the event loop and what it runs below no other frame of ours: uvicorn, aiokafka).
Shares are of the samples in which the process held the GIL (ran Python, or C called from
it; not waiting), so with the bench's CPU ms per complaint they say how many ms each function
costs per complaint (the CPU spent without the GIL, e.g. in the kernel, shared out the same).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OWN = ("services/", "shared/")
_LIBRARY = re.compile(r".*/(site-packages|python3\.\d+)/")


def py_spy() -> str | None:
    """The py-spy binary beside this interpreter (the dev install puts it there), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _frames(stack: str) -> list[str]:
    """A raw stack (outermost first, `;`-joined frames `function (path)`) as its frames."""
    return [frame for frame in stack.split(";") if frame]


def _path(frame: str) -> str:
    return frame.rpartition(" (")[2].rstrip(")")


def _own(frame: str) -> bool:
    """A frame of the project's code: py-spy names it relative to the repository
    (`services/notify/handlers.py`) or, run from elsewhere, by its absolute path."""
    path = _path(frame)
    return path.startswith(OWN) or any(f"/{root}" in path for root in OWN)


def _short(frame: str) -> str:
    """`function (…/services/notify/workers.py)` → `notify/workers.py:function`."""
    function, path = frame.rpartition(" (")[0], _path(frame)
    if "/services/" in path:
        path = path.split("/services/", 1)[1]
    elif path.startswith("services/"):
        path = path.removeprefix("services/")
    elif "/shared/" in path:
        path = "shared/" + path.split("/shared/", 1)[1]
    else:
        path = _LIBRARY.sub("", path)
    return f"{path}:{function}"


def charge(raw: str) -> tuple[Counter[str], Counter[str], int]:
    """(samples by leaf function, samples by innermost own function, all samples) of py-spy's
    raw output."""
    leaves: Counter[str] = Counter()
    owners: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        leaves[_short(frames[-1])] += count
        owner = next((f for f in reversed(frames) if _own(f)), None)
        owners[_short(owner) if owner else "(no own frame: event loop, libraries)"] += count
    return leaves, owners, total


@dataclass
class Recording:
    service: str
    pid: int
    path: Path
    process: subprocess.Popen[bytes]


class Profiler:
    """py-spy on each service process for `seconds`, sampling at `hz` without stopping them."""

    def __init__(self, out_dir: Path, seconds: float, hz: int = 97) -> None:
        self.out_dir = out_dir
        self.seconds = seconds
        self.hz = hz
        self.recordings: list[Recording] = []

    def start(self, services: Mapping[int, str]) -> None:
        binary = py_spy()
        if binary is None:
            raise SystemExit("py-spy is not installed (make install puts it in .venv/bin)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for pid, service in services.items():
            path = self.out_dir / f"{service}-{pid}.txt"
            command = [binary, "record", "--pid", str(pid), "--duration", str(int(self.seconds))]
            command += [
                "--rate",
                str(self.hz),
                "--format",
                "raw",
                "--nolineno",
                "--nonblocking",
                "--gil",
            ]
            command += ["--output", str(path)]
            process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            self.recordings.append(Recording(service, pid, path, process))

    async def finish(self, top: int = 12) -> dict[str, Any]:
        """Each service's top functions by share of its running samples."""
        found: dict[str, Any] = {}
        for recording in self.recordings:
            while recording.process.poll() is None:
                await asyncio.sleep(0.5)
            if not recording.path.exists():
                error = recording.process.stderr.read() if recording.process.stderr else b""
                found[recording.service] = {"error": error.decode(errors="replace")[-500:]}
                continue
            leaves, owners, total = charge(recording.path.read_text())
            found[recording.service] = {
                "samples": total,
                "leaf": {name: n / max(1, total) for name, n in leaves.most_common(top)},
                "own": {name: n / max(1, total) for name, n in owners.most_common(top)},
            }
        self.recordings.clear()
        return found
