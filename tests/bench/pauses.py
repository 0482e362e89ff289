"""Pauses in a consumer group's work, read from when its batches were handled."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def longest_gap(times: Iterable[float], start: float, end: float) -> float:
    """The longest time between two consecutive handled batches (distinct handled times) that
    ended in (start, end]: a pause is charged to the window it ends in, so one that began just
    before an event (the last batch of a member then killed) is seen whole, and once."""
    ordered = sorted(set(times))
    return max(
        (b - a for a, b in itertools.pairwise(ordered) if start < b <= end),
        default=0.0,
    )


def longest_stall(by_partition: Mapping[Any, Sequence[float]], start: float, end: float) -> float:
    """The longest gap of any one partition (a member killed leaves its partitions unread until
    the group notices, while the other members' go on)."""
    return max((longest_gap(times, start, end) for times in by_partition.values()), default=0.0)


def windows(events: Sequence[tuple[str, float]], end: float, before_s: float) -> list[tuple[str, float, float]]:  # fmt: skip
    """Each event's window, from it to the next event (the last to `end`), and a `baseline`
    window of `before_s` before the first: the group's gaps when nothing happens."""
    marks = [*events, ("", end)]
    first = events[0][1]
    return [("baseline", first - before_s, first)] + [
        (name, at, marks[i + 1][1]) for i, (name, at) in enumerate(events)
    ]
