"""Paced fetching: an aiokafka consumer that asks the broker often while records flow and
rarely at rest (the embedded Tansu answers multi-partition fetches only when their wait ends)."""

from __future__ import annotations

import time
from typing import Any

import aiokafka
from aiokafka.consumer.fetcher import Fetcher


class _PacedFetcher(Fetcher):
    """aiokafka's fetcher, asking the broker to wait `busy_ms` for records while they flow and
    `idle_ms` once none came for `idle_after_s`.

    Why: the embedded Tansu does not answer a fetch over several partitions promptly when
    records arrive (measured: about 800 ms per record with a 2,000 ms wait over six partitions,
    2 ms over one), so a consumer must ask often to pass records on quickly (25 ms: 40 fetches a
    second per consumer). At rest that asking was most of the broker's idle CPU. Once records
    flow again, the next fetch is short; the first record after a quiet spell waits at most
    `idle_ms`.
    """

    busy_ms: int
    idle_ms: int
    idle_after_s: float
    last_records: float

    @property  # read by every fetch request the fetcher builds
    def _fetch_max_wait_ms(self) -> int:
        quiet = time.monotonic() - self.last_records >= self.idle_after_s
        return self.idle_ms if quiet else self.busy_ms

    @_fetch_max_wait_ms.setter
    def _fetch_max_wait_ms(self, value: int) -> None:
        self.busy_ms = value

    async def _proc_fetch_request(self, assignment: Any, node_id: Any, request: Any) -> bool:
        woken: bool = await super()._proc_fetch_request(assignment, node_id, request)
        if woken:  # records (or an error to raise) for the consumer
            self.last_records = time.monotonic()
        return woken

    @classmethod
    def pace(cls, fetcher: Fetcher, busy_ms: int, idle_ms: int, idle_after_s: float) -> None:
        """Turn a started fetcher into a paced one (its fetch loop is already running and reads
        the wait anew for every request)."""
        fetcher.__class__ = cls
        assert isinstance(fetcher, cls)
        fetcher.busy_ms, fetcher.idle_ms, fetcher.idle_after_s = busy_ms, idle_ms, idle_after_s
        fetcher.last_records = time.monotonic()


class _PacedConsumer(aiokafka.AIOKafkaConsumer):
    busy_ms: int
    idle_ms: int
    idle_after_s: float

    async def start(self) -> None:
        await super().start()
        _PacedFetcher.pace(self._fetcher, self.busy_ms, self.idle_ms, self.idle_after_s)


def pace(
    consumer: aiokafka.AIOKafkaConsumer, busy_ms: int, idle_ms: int, idle_after_s: float
) -> None:
    """Make a consumer not yet started fetch with `busy_ms` waits while records flow and
    `idle_ms` after `idle_after_s` without any (see _PacedFetcher)."""
    consumer.__class__ = _PacedConsumer
    assert isinstance(consumer, _PacedConsumer)
    consumer.busy_ms, consumer.idle_ms, consumer.idle_after_s = busy_ms, idle_ms, idle_after_s
    consumer._fetch_max_wait_ms = busy_ms  # what start() gives the fetcher
