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


# ----------------------------------------------------------- wire times


def wire_times(limiter, clock, n, keys, delay_of):
    """Like send_times, but request i reaches the wire delay_of(i) after its token."""
    wires = []

    def settle():  # the sender reports each request whose headers are out by now
        for when, t in wires:
            if when <= clock.now:
                t.sent(when)

    for i in range(n):
        while True:
            settle()
            wait, ticket = limiter.take(keys)
            if wait <= 0:
                break
            clock.now += wait
        wires.append((clock.now + delay_of(i), ticket))
    clock.now += 1.0
    settle()
    return sorted(when for when, _ in wires)


def test_a_burst_that_reaches_the_wire_late_is_not_followed_at_once():
    # The opening burst opens new connections and leaves 12 ms after its
    # tokens; the next request must still be a full 1/R after them.
    clock = Clock()
    limiter = RateLimiter({"x": gm.RateLimit(100, burst=10)}, clock=clock)
    times = wire_times(limiter, clock, 40, ["x"], lambda i: 0.012 if i < 10 else 0.0005)
    never_above_the_bucket(times, 100, 10)


def test_requests_still_on_their_way_hold_the_refill_back():
    clock = Clock()
    limiter = RateLimiter({"x": gm.RateLimit(100, burst=2)}, clock=clock)
    tickets = [limiter.take(["x"])[1] for _ in range(2)]
    clock.now = 0.015  # both still connecting: by the wire's clock the bucket is full
    assert limiter.take(["x"])[0] > 0
    for t in tickets:
        t.close()  # given up without a wire time: no correction...
    assert limiter.take(["x"])[0] == 0  # ...and the refill is there again


def test_ordinary_send_delays_keep_the_rate_exact():
    clock = Clock()
    limiter = RateLimiter({"x": gm.RateLimit(50, burst=1)}, clock=clock)
    times = wire_times(limiter, clock, 51, ["x"], lambda _i: 0.001)  # under LATE
    assert times[-1] - times[0] == pytest.approx(1.0, abs=0.03)


def test_one_slow_connect_does_not_stall_the_bucket():
    # One receiver takes 5 s to connect; the others connect at once. The
    # slow request gives back at most the one token it took.
    clock = Clock()
    limiter = RateLimiter({"webhook": gm.RateLimit(10, burst=10)}, clock=clock)
    times = wire_times(limiter, clock, 130, ["webhook"], lambda i: 5.0 if i == 0 else 0.0005)
    assert times[-1] <= 12.5  # ~10 s of 10/s after the burst, not blocked for the 5 s
    never_above_the_bucket(times, 10, 10)


def test_settling_never_waits_for_the_lock():
    # Ticket.close can run in a generator's finally block that the garbage
    # collector finalises while this very thread holds the limiter's lock.
    clock = Clock()
    limiter = RateLimiter({"x": gm.RateLimit(100, burst=2)}, clock=clock)
    _, ticket = limiter.take(["x"])
    with limiter._lock:
        ticket.close()  # would deadlock if it waited for the lock
        ticket.sent()
    clock.now = 0.5
    assert limiter.take(["x"])[0] == 0  # applied at the next take
    assert all(ticket not in b.pending for b in limiter._buckets.values())
