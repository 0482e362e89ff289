"""What each task of the running loop waits on, down to the innermost await: asyncio's own
`Task.print_stack` shows a suspended task's outermost coroutine only, which names the loop
but not what in it is stuck."""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from types import FrameType
from typing import Any


def _frame(awaitable: Any) -> FrameType | None:
    for name in ("cr_frame", "gi_frame", "ag_frame"):
        if (frame := getattr(awaitable, name, None)) is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _inner(awaitable: Any, frame: FrameType) -> Any:
    """What `awaitable` (suspended in `frame`) awaits. An async generator's step (`anext`, as
    in leaving an `asynccontextmanager`) does not name its generator: it is the running one
    among the frame's locals (or their `gen`, as the context manager keeps it)."""
    for name in ("cr_await", "gi_yieldfrom", "ag_await"):
        if (inner := getattr(awaitable, name, None)) is not None:
            if _frame(inner) is None and type(inner).__name__.startswith("async_generator_"):
                for value in frame.f_locals.values():
                    for candidate in (value, getattr(value, "gen", None)):
                        if inspect.isasyncgen(candidate) and candidate.ag_running:
                            return candidate
            return inner
    return None


def awaiting(task: asyncio.Task[Any]) -> list[str]:
    """The task's chain of awaits, outermost first, as traceback lines, then its future."""
    lines = []
    awaitable: Any = task.get_coro()
    while (frame := _frame(awaitable)) is not None:
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
        awaitable = _inner(awaitable, frame)
    waiter = getattr(task, "_fut_waiter", None)
    if waiter is not None:
        lines.append(f"  waiting on {waiter!r}")
    return lines


def running_code_under(root: Path) -> list[str]:
    """The tasks of the running loop (but the caller's) with a frame in a file under `root`."""
    me = asyncio.current_task()
    return [
        f"{task.get_name()}: {task.get_coro()!r}"
        for task in asyncio.all_tasks()
        if task is not me and any(f'"{root}/' in line for line in awaiting(task))
    ]


def all_stacks() -> str:
    """Every task of the running loop but the caller's, with what it waits on."""
    me = asyncio.current_task()
    tasks = sorted((t for t in asyncio.all_tasks() if t is not me), key=lambda t: t.get_name())
    return "\n".join(
        "\n".join([f"{task.get_name()}: {task.get_coro()!r}", *awaiting(task)]) for task in tasks
    )
