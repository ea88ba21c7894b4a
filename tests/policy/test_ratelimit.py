"""Token buckets: bursts, sustained rate, shared and per-account keys."""

import pytest

import govmedia as gm
from govmedia.policy.ratelimit import RateLimiter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def schedule(limiter, clock, n, keys):
    """Send times when each caller sleeps the wait it was given."""
    times = []
    for _ in range(n):
        times.append(clock.now + limiter.reserve(keys))
    return times


def test_burst_then_sustained_rate():
    clock = Clock()
    limiter = RateLimiter({"mastodon": gm.RateLimit(2, burst=3)}, clock=clock)
    times = schedule(limiter, clock, 7, ["mastodon"])
    assert times[:3] == [0, 0, 0]
    assert times[3:] == pytest.approx([0.5, 1.0, 1.5, 2.0])


def test_rate_per_window():
    clock = Clock()
    limiter = RateLimiter({"mastodon:a": gm.RateLimit(300, per=3 * 3600, burst=1)}, clock=clock)
    times = schedule(limiter, clock, 3, ["mastodon", "mastodon:a"])
    assert times == pytest.approx([0, 36, 72])


def test_platform_budget_is_shared_but_accounts_are_separate():
    clock = Clock()
    limiter = RateLimiter({"wechat_oa": gm.RateLimit(1, burst=1), "x:a": gm.RateLimit(1, burst=1)}, clock=clock)
    assert limiter.reserve(["wechat_oa", "wechat_oa:one"]) == 0
    assert limiter.reserve(["wechat_oa", "wechat_oa:two"]) == pytest.approx(1.0)
    assert limiter.reserve(["x", "x:a"]) == 0
    assert limiter.reserve(["x", "x:b"]) == 0  # another account: its own budget
    assert limiter.reserve(["x", "x:a"]) == pytest.approx(1.0)


def test_refills_after_a_quiet_spell_never_above_burst():
    clock = Clock()
    limiter = RateLimiter({"p": gm.RateLimit(10, burst=2)}, clock=clock)
    schedule(limiter, clock, 2, ["p"])
    clock.now = 100.0
    assert schedule(limiter, clock, 3, ["p"]) == pytest.approx([100, 100, 100.1])


def test_no_limits_means_no_waits():
    assert RateLimiter().reserve(["anything"]) == 0.0


def test_value_object():
    limit = gm.RateLimit(30, per=1800)
    assert limit.per_second == pytest.approx(1 / 60) and limit.capacity == 30
    assert gm.RateLimit(0.5).capacity == 1
    with pytest.raises(ValueError):
        gm.RateLimit(0)
