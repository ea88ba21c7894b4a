"""Token buckets: bursts, sustained rate, shared and per-account keys."""

import pytest

import govmedia as gm
from govmedia.policy.ratelimit import LATE, RateLimiter


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def send_times(limiter, clock, n, keys):
    """When n requests go out, one after another, each sleeping what it is told."""
    times = []
    for _ in range(n):
        while (wait := limiter.acquire(keys)) > 0:
            clock.now += wait
        times.append(clock.now)
    return times


def test_burst_then_sustained_rate():
    clock = Clock()
    limiter = RateLimiter({"mastodon": gm.RateLimit(2, burst=3)}, clock=clock)
    times = send_times(limiter, clock, 7, ["mastodon"])
    assert times[:3] == [0, 0, 0]
    assert times[3] == pytest.approx(0.5, abs=0.06)
    assert times[-1] == pytest.approx(2.0, abs=0.06)  # 2 per second after the burst
    never_above_the_bucket(times, 2, 3)


def never_above_the_bucket(times, rate, burst):
    """In any window [t, t + w], at most burst + rate * w requests (plus LATE's worth)."""
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= burst + rate * (times[j] - start + LATE) + 1e-9


def test_the_bucket_holds_in_every_window():
    clock = Clock()
    limiter = RateLimiter({"x": gm.RateLimit(20, burst=5)}, clock=clock)
    never_above_the_bucket(send_times(limiter, clock, 60, ["x"]), 20, 5)


def test_rate_per_window():
    clock = Clock()
    limiter = RateLimiter({"mastodon:a": gm.RateLimit(300, per=3 * 3600, burst=1)}, clock=clock)
    times = send_times(limiter, clock, 3, ["mastodon", "mastodon:a"])
    assert times[0] == 0 and times[1] == pytest.approx(36, rel=0.11) and times[2] == pytest.approx(72, rel=0.11)


def test_platform_budget_is_shared_but_accounts_are_separate():
    clock = Clock()
    limiter = RateLimiter({"wechat_oa": gm.RateLimit(1, burst=1), "x:a": gm.RateLimit(1, burst=1)}, clock=clock)
    assert limiter.acquire(["wechat_oa", "wechat_oa:one"]) == 0
    assert limiter.acquire(["wechat_oa", "wechat_oa:two"]) == pytest.approx(1.0, abs=0.11)
    assert limiter.acquire(["x", "x:a"]) == 0
    assert limiter.acquire(["x", "x:b"]) == 0  # another account: its own budget
    assert limiter.acquire(["x", "x:a"]) > 0


def test_a_request_held_back_spends_no_other_budget():
    clock = Clock()
    limiter = RateLimiter({"p": gm.RateLimit(10, burst=1), "p:slow": gm.RateLimit(1, per=60)}, clock=clock)
    assert limiter.acquire(["p", "p:slow"]) == 0
    assert limiter.acquire(["p", "p:slow"]) > 1  # the account's budget is spent...
    clock.now += 0.1
    assert limiter.acquire(["p", "p:fast"]) == 0  # ...and the platform's was not taken by it


def test_refills_after_a_quiet_spell_never_above_burst():
    clock = Clock()
    limiter = RateLimiter({"p": gm.RateLimit(10, burst=2)}, clock=clock)
    send_times(limiter, clock, 2, ["p"])
    clock.now = 100.0
    times = send_times(limiter, clock, 3, ["p"])
    assert times[:2] == [100, 100] and 100.1 - LATE <= times[2] <= 100.1


def test_no_limits_means_no_waits():
    assert RateLimiter().acquire(["anything"]) == 0.0


def test_value_object():
    limit = gm.RateLimit(30, per=1800)
    assert limit.per_second == pytest.approx(1 / 60) and limit.capacity == 30
    assert gm.RateLimit(0.5).capacity == 1
    with pytest.raises(ValueError):
        gm.RateLimit(0)
