"""The console's view of the streams. A sampler (workers.sample_streams) looks at the broker and
at each relay every REPORTING_STREAMS_INTERVAL_S; the Monitor keeps the samples of the last
REPORTING_STREAMS_HISTORY_S in memory and derives from them messages/s per topic, lag per group
and partition with its trend, each relay's position against its store's head, and the alarms:
a group's lag or a relay's delay that has grown for REPORTING_STREAMS_ALARM_AFTER_S."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import Gauge

from services.reporting.adapters.broker import BrokerView
from services.reporting.adapters.upstream import SERVICES, Upstream, UpstreamError
from shared.waits import woken

TOPIC_END_OFFSET = Gauge(
    "jiesu_topic_end_offset", "End offset of each partition (the broker's)", ["topic", "partition"]
)
GROUP_LAG = Gauge(
    "jiesu_group_lag",
    "Records a consumer group has not committed yet: end offset − committed offset, summed over a topic's partitions",
    ["group", "topic"],
)
DLQ_DEPTH = Gauge(
    "jiesu_dlq_depth",
    "Dead letters in <topic>.dlq neither redriven nor parked (label: the original topic)",
    ["topic"],
)


@dataclass(frozen=True, slots=True)
class RelayState:
    """One relay as its service's /metrics shows it (None: the service does not export that)."""

    relay: str
    service: str
    position: float | None
    behind: float | None = None  # events in the store not yet published
    delay_s: float | None = None  # age of the oldest of them
    error: str | None = None

    @property
    def head(self) -> float | None:
        """The store's head, as far as the relay's figures tell it."""
        if self.position is None or self.behind is None:
            return None
        return self.position + self.behind

    @property
    def lateness(self) -> float | None:
        """What the alarm watches: the delay, or the events behind where no delay is exported."""
        return self.delay_s if self.delay_s is not None else self.behind


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # time.time()
    view: BrokerView
    relays: tuple[RelayState, ...]

    def lags(self) -> dict[str, dict[TopicPartition, tuple[int, int]]]:
        """Per group: (committed, lag) of each partition of every topic it consumes or has
        committed on (a partition without a commit yet counts from 0)."""
        lags: dict[str, dict[TopicPartition, tuple[int, int]]] = {}
        for group, committed in self.view.committed.items():
            topics = self.view.consumes.get(group, frozenset()) | {tp.topic for tp in committed}
            lags[group] = {
                tp: (committed.get(tp, 0), max(end - committed.get(tp, 0), 0))
                for tp, end in self.view.ends.items()
                if tp.topic in topics
            }
        return lags

    def group_lag(self) -> dict[str, int]:
        return {
            group: sum(lag for _, lag in parts.values()) for group, parts in self.lags().items()
        }

    def topic_end(self) -> dict[str, int]:
        ends: dict[str, int] = {}
        for tp, end in self.view.ends.items():
            ends[tp.topic] = ends.get(tp.topic, 0) + end
        return ends


@dataclass(frozen=True, slots=True)
class Alarm:
    kind: str  # "lag" | "delay"
    name: str  # the group or the relay
    since: float  # the start of the window over which it grew
    then: float
    now: float

    @property
    def text(self) -> str:
        if self.kind == "lag":
            return f"消费组 {self.name} 积压持续增长 Lag growing: {self.then:.0f} → {self.now:.0f}"
        return (
            f"中继 {self.name} 延迟持续增长 Relay delay growing: {self.then:.1f} → {self.now:.1f}"
        )


def growing(
    series: list[tuple[float, float]], now: float, after_s: float
) -> tuple[float, float] | None:
    """(first, last) if the value grew over the whole window of `after_s` before `now`: above
    zero at every sample in it, and higher at the end than at the start. None otherwise, and
    while the history is shorter than the window."""
    start = now - after_s
    before = [point for point in series if point[0] <= start]
    if not before:
        return None
    window = [before[-1], *(point for point in series if point[0] > start)]
    values = [value for _, value in window]
    if len(values) < 2 or min(values) <= 0 or values[-1] <= values[0]:
        return None
    return values[0], values[-1]


@dataclass
class Monitor:
    interval_s: float = 5.0
    history_s: float = 1800.0
    alarm_after_s: float = 300.0
    samples: deque[Sample] = field(default_factory=deque)
    dlq_depth: dict[str, int] = field(default_factory=dict)
    error: str | None = None  # the last look's failure, shown on the page until one succeeds
    count: int = 0
    _woken: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, sample: Sample) -> None:
        self.samples.append(sample)
        while self.samples and self.samples[0].at < sample.at - self.history_s:
            self.samples.popleft()
        self.error = None
        self._publish(sample)
        self._wake()

    def failed(self, error: str) -> None:
        self.error = error
        self._wake()

    def set_dlq_depth(self, depth: dict[str, int]) -> None:
        self.dlq_depth = depth
        for topic, count in depth.items():
            DLQ_DEPTH.labels(topic).set(count)

    def _wake(self) -> None:
        self.count += 1
        self._woken.set()
        self._woken = asyncio.Event()

    async def changed(self, seen: int, timeout: float) -> int:
        """Wait until a look newer than `seen` (at most `timeout` s); the newest look's number."""
        if self.count == seen:
            await woken(self._woken, timeout)
        return self.count

    @staticmethod
    def _publish(sample: Sample) -> None:
        for tp, end in sample.view.ends.items():
            TOPIC_END_OFFSET.labels(tp.topic, str(tp.partition)).set(end)
        for group, parts in sample.lags().items():
            per_topic: dict[str, int] = {}
            for tp, (_, lag) in parts.items():
                per_topic[tp.topic] = per_topic.get(tp.topic, 0) + lag
            for topic, lag in per_topic.items():
                GROUP_LAG.labels(group, topic).set(lag)

    def alarms(self) -> list[Alarm]:
        if not self.samples:
            return []
        now = self.samples[-1].at
        alarms: list[Alarm] = []
        lags: dict[str, list[tuple[float, float]]] = {}
        delays: dict[str, list[tuple[float, float]]] = {}
        for sample in self.samples:
            for group, lag in sample.group_lag().items():
                lags.setdefault(group, []).append((sample.at, lag))
            for relay in sample.relays:
                if relay.lateness is not None:
                    delays.setdefault(relay.relay, []).append((sample.at, relay.lateness))
        for kind, series in (("lag", lags), ("delay", delays)):
            for name, points in sorted(series.items()):
                grew = growing(points, now, self.alarm_after_s)
                if grew is not None:
                    alarms.append(Alarm(kind, name, now - self.alarm_after_s, *grew))
        return alarms

    def snapshot(self) -> dict[str, Any]:
        """What the Streams page shows, as JSON: the last look, the series and the alarms."""
        if not self.samples:
            return {
                "at": None,
                "error": self.error,
                "topics": [],
                "groups": [],
                "relays": [],
                "alarms": [],
                "series": {"t": [], "rates": {}, "lags": {}},
                "dlq_depth": self.dlq_depth,
                "interval_s": self.interval_s,
            }
        last = self.samples[-1]
        rates = self._rates()
        topics = []
        for topic, end in sorted(last.topic_end().items()):
            partitions = sorted(
                (tp.partition, e) for tp, e in last.view.ends.items() if tp.topic == topic
            )
            topics.append(
                {
                    "topic": topic,
                    "end": end,
                    "rate": rates[topic][-1] if rates.get(topic) else 0.0,
                    "partitions": [{"partition": p, "end": e} for p, e in partitions],
                }
            )
        groups = []
        for group, parts in sorted(last.lags().items()):
            by_topic: dict[str, list[dict[str, int]]] = {}
            for tp, (committed, lag) in sorted(parts.items()):
                by_topic.setdefault(tp.topic, []).append(
                    {
                        "partition": tp.partition,
                        "end": last.view.ends[tp],
                        "committed": committed,
                        "lag": lag,
                    }
                )
            groups.append(
                {
                    "group": group,
                    "lag": sum(lag for _, lag in parts.values()),
                    "trend": self._trend(group),
                    "topics": [
                        {"topic": t, "lag": sum(p["lag"] for p in ps), "partitions": ps}
                        for t, ps in by_topic.items()
                    ],
                }
            )
        return {
            "at": last.at,
            "interval_s": self.interval_s,
            "error": self.error,
            "topics": topics,
            "groups": groups,
            "relays": [
                {
                    "relay": r.relay,
                    "service": r.service,
                    "position": r.position,
                    "head": r.head,
                    "behind": r.behind,
                    "delay_s": r.delay_s,
                    "error": r.error,
                }
                for r in last.relays
            ],
            "alarms": [
                {"kind": a.kind, "name": a.name, "text": a.text, "since": a.since}
                for a in self.alarms()
            ],
            "series": {
                "t": [int(s.at * 1000) for s in self.samples],
                "rates": {topic: [0.0, *values] for topic, values in rates.items()},
                "lags": self._lag_series(),
            },
            "dlq_depth": self.dlq_depth,
        }

    def _rates(self) -> dict[str, list[float]]:
        """Messages/s per topic between each two samples (0 when the broker lost its data)."""
        rates: dict[str, list[float]] = {}
        samples = list(self.samples)
        for before, after in itertools.pairwise(samples):
            then, now = before.topic_end(), after.topic_end()
            seconds = max(after.at - before.at, 1e-6)
            for topic, end in now.items():
                rate = max(end - then.get(topic, end), 0) / seconds
                rates.setdefault(topic, []).append(round(rate, 2))
        return rates

    def _lag_series(self) -> dict[str, list[int | None]]:
        groups = sorted({g for s in self.samples for g in s.view.committed})
        per_sample = [s.group_lag() for s in self.samples]
        return {g: [lags.get(g) for lags in per_sample] for g in groups}

    def _trend(self, group: str) -> float:
        """The group's lag change per minute over the last minute of samples."""
        last = self.samples[-1]
        past = [s for s in self.samples if s.at >= last.at - 60]
        first = past[0]
        seconds = last.at - first.at
        if seconds <= 0:
            return 0.0
        change = last.group_lag().get(group, 0) - first.group_lag().get(group, 0)
        return round(change * 60 / seconds, 1)


async def relay_states(upstream: Upstream) -> tuple[RelayState, ...]:
    """Each service's relays, from its /metrics (a service that does not answer: one row saying so)."""
    answers = await asyncio.gather(
        *(upstream.metrics(service) for service in SERVICES), return_exceptions=True
    )
    states: list[RelayState] = []
    for service, answer in zip(SERVICES, answers, strict=True):
        if isinstance(answer, UpstreamError):
            states.append(RelayState(f"{service}-relay", service, None, error=answer.detail))
            continue
        if isinstance(answer, BaseException):
            raise answer

        def by_relay(name: str, metrics: Any = answer) -> dict[str, float]:
            return {s.labels.get("relay", ""): s.value for s in metrics.get(name, [])}

        positions = by_relay("jiesu_relay_position")
        behind = by_relay("jiesu_relay_behind_events")
        delay = by_relay("jiesu_relay_delay_seconds")
        for relay in sorted(positions.keys() | behind.keys() | delay.keys()):
            states.append(
                RelayState(
                    relay, service, positions.get(relay), behind.get(relay), delay.get(relay)
                )
            )
    return tuple(states)
