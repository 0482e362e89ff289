"""The workers bench's pauses: each gap charged once, to the window it ends in."""

from tests.bench.pauses import longest_gap, longest_stall, windows


def test_a_gap_is_charged_to_the_window_it_ends_in():
    handled = [0.0, 0.1, 0.2, 0.2, 3.2, 3.3, 9.0]
    assert longest_gap(handled, 0.15, 3.0) == 0.1  # the 3 s gap has not ended by 3.0
    assert longest_gap(handled, 3.0, 5.0) == 3.0  # it began before the window; counted whole
    assert longest_gap(handled, 5.0, 10.0) == 5.7
    assert longest_gap(handled, 10.0, 12.0) == 0.0


def test_a_stall_is_the_longest_gap_of_any_one_partition():
    by_partition = {0: [0.0, 0.5, 1.0, 1.5], 1: [0.0, 1.4, 1.5]}
    assert longest_stall(by_partition, 0.0, 2.0) == 1.4
    assert longest_gap([t for ts in by_partition.values() for t in ts], 0.0, 2.0) == 0.5


def test_each_event_has_a_window_to_the_next_and_a_quiet_one_goes_before():
    marks = windows([("join", 10.0), ("kill", 20.0), ("term", 35.0)], end=45.0, before_s=6.0)
    assert marks == [
        ("baseline", 4.0, 10.0),
        ("join", 10.0, 20.0),
        ("kill", 20.0, 35.0),
        ("term", 35.0, 45.0),
    ]
