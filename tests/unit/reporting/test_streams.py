"""The Streams page's arithmetic: lag per group and partition, messages/s, the trend, and the
alarm that a lag or a relay's delay has grown for the whole window."""

from __future__ import annotations

from aiokafka import TopicPartition

from services.reporting.adapters.broker import BrokerView
from services.reporting.streams import GROUP_LAG, Monitor, RelayState, Sample, growing

A0, A1 = TopicPartition("complaint.events", 0), TopicPartition("complaint.events", 1)
B0 = TopicPartition("dispatch.events", 0)


def sample(
    at: float,
    ends: dict[TopicPartition, int],
    committed: dict[str, dict],
    delay: float | None = None,
) -> Sample:
    relays = (RelayState("intake-relay", "intake", 100.0, 4.0 if delay else 0.0, delay),)
    return Sample(at, BrokerView(ends, committed), relays)


def test_lag_counts_every_partition_of_a_topic_the_group_has_committed_on() -> None:
    look = sample(0, {A0: 10, A1: 5, B0: 7}, {"jiesu-notify": {A0: 4}, "jiesu-new": {}})
    assert look.lags()["jiesu-notify"] == {A0: (4, 6), A1: (0, 5)}  # B0: not its topic
    assert look.group_lag() == {"jiesu-notify": 11, "jiesu-new": 0}


def test_a_sample_sets_the_gauges_and_the_snapshot_shows_rates_and_trend() -> None:
    monitor = Monitor(interval_s=5, history_s=600, alarm_after_s=300)
    monitor.record(sample(0, {A0: 10, A1: 0}, {"jiesu-dispatch": {A0: 10}}))
    monitor.record(sample(10, {A0: 30, A1: 20}, {"jiesu-dispatch": {A0: 20, A1: 10}}))
    assert GROUP_LAG.labels("jiesu-dispatch", "complaint.events")._value.get() == 20
    look = monitor.snapshot()
    [topic] = look["topics"]
    assert topic["end"] == 50 and topic["rate"] == 4.0  # (50 - 10) / 10 s
    [group] = look["groups"]
    assert group["lag"] == 20 and group["trend"] == 120.0  # +20 in 10 s: 120 a minute
    assert look["series"]["lags"] == {"jiesu-dispatch": [0, 20]}
    assert look["relays"][0]["head"] == 100.0  # position + nothing behind


def test_history_older_than_its_span_is_dropped() -> None:
    monitor = Monitor(history_s=60)
    for at in (0, 30, 61, 90):
        monitor.record(sample(at, {A0: 1}, {}))
    assert [s.at for s in monitor.samples] == [30, 61, 90]


def test_growing_needs_the_whole_window_above_zero_and_higher_at_its_end() -> None:
    rising = [(t, 1.0 + t) for t in range(0, 400, 50)]
    assert growing(rising, now=350, after_s=300) == (51.0, 351.0)
    assert growing(rising, now=350, after_s=400) is None  # history shorter than the window
    dipped = [*rising[:3], (150, 0.0), *rising[4:]]
    assert growing(dipped, now=350, after_s=300) is None  # caught up once in the window
    flat = [(t, 5.0) for t in range(0, 400, 50)]
    assert growing(flat, now=350, after_s=300) is None


def test_alarms_name_the_group_whose_lag_and_the_relay_whose_delay_kept_growing() -> None:
    monitor = Monitor(history_s=1800, alarm_after_s=120)
    for step in range(6):  # one look a minute; the lag and the delay grow all along
        monitor.record(
            sample(
                step * 60.0,
                {A0: 10 + 5 * step},
                {"jiesu-notify": {A0: 9}, "jiesu-ok": {A0: 10 + 5 * step}},
                delay=1.0 + step,
            )
        )
    alarms = {(a.kind, a.name) for a in monitor.alarms()}
    assert alarms == {("lag", "jiesu-notify"), ("delay", "intake-relay")}
    assert "jiesu-notify" in monitor.snapshot()["alarms"][0]["text"]


def test_a_failed_look_is_shown_until_the_next_one_succeeds() -> None:
    monitor = Monitor()
    monitor.failed("KafkaConnectionError: no broker")
    assert monitor.snapshot()["error"] == "KafkaConnectionError: no broker"
    monitor.record(sample(0, {A0: 1}, {}))
    assert monitor.snapshot()["error"] is None


def test_a_group_shows_every_topic_it_consumes_before_its_first_commit_there() -> None:
    view = BrokerView(
        {A0: 10, A1: 5, B0: 7},
        {"jiesu-notify": {B0: 7}, "jiesu-dispatch": {}},
        {
            "jiesu-notify": frozenset({"complaint.events", "dispatch.events"}),
            "jiesu-dispatch": frozenset({"complaint.events"}),
        },
    )
    look = Sample(0, view, ())
    assert look.lags()["jiesu-notify"] == {A0: (0, 10), A1: (0, 5), B0: (7, 0)}
    assert look.lags()["jiesu-dispatch"] == {A0: (0, 10), A1: (0, 5)}
    groups = {g["group"]: g for g in _snapshot(look)["groups"]}
    assert [t["topic"] for t in groups["jiesu-notify"]["topics"]] == [
        "complaint.events",
        "dispatch.events",
    ]
    assert groups["jiesu-dispatch"]["lag"] == 15


def _snapshot(look: Sample) -> dict:
    monitor = Monitor()
    monitor.record(look)
    return monitor.snapshot()
