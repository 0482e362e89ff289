"""The moving one-minute window per identity: in this process, and through limits' storages."""

from __future__ import annotations

import pytest

from shared.http import Problem
from shared.ratelimit import LocalWindow, RateLimiter


def test_a_window_allows_its_limit_then_says_when_the_oldest_hit_leaves():
    window = LocalWindow()
    assert [window.hit("key:a", 3, t) for t in (0.0, 10.0, 20.0)] == [None, None, None]
    assert window.hit("key:a", 3, 30.0) == pytest.approx(30.0)  # the hit at 0 leaves at 60
    assert window.hit("key:b", 3, 30.0) is None  # identities count apart
    assert window.hit("key:a", 3, 60.0) is None  # the first hit has left the window
    assert window.hit("key:a", 3, 61.0) == pytest.approx(9.0)  # refused hits are not counted


def test_a_full_table_forgets_identities_idle_for_a_window():
    window = LocalWindow()
    for i in range(10_000):
        window.hit(f"ip:{i}", 5, 0.0)
    window.hit("ip:late", 5, 50.0)  # nobody idle yet: everyone is kept
    assert len(window._hits) == 10_001
    window.hit("ip:later", 5, 100.0)  # a minute on, the idle ones are dropped
    assert set(window._hits) == {"ip:late", "ip:later"}


def test_a_crowd_of_active_callers_is_swept_at_most_once_a_second():
    window = LocalWindow()
    for i in range(LocalWindow.CROWD):
        window.hit(f"ip:{i}", 5, 0.0)
    sweeps = 0
    forget = window._forget_idle

    def counted(now: float) -> None:
        nonlocal sweeps
        sweeps += 1
        forget(now)

    window._forget_idle = counted  # type: ignore[method-assign]
    for i in range(100):
        window.hit(f"newcomer:{i}", 5, 10.0 + i / 100)  # 100 newcomers within one second
    assert sweeps == 1 and len(window._hits) == LocalWindow.CROWD + 100


@pytest.mark.parametrize("uri", ["memory://", "async+memory://"])
async def test_the_limiter_refuses_with_a_429_and_retry_after(uri):
    limiter = RateLimiter.from_uri(uri)
    for _ in range(2):
        await limiter.check("key:k", 2)
    with pytest.raises(Problem) as refused:
        await limiter.check("key:k", 2)
    assert refused.value.status == 429
    assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
