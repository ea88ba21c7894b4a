"""`RateLimit` and the token buckets that enforce it.

A request takes a token from every bucket that applies at the moment it is
about to be sent, or learns how long until one is free and sleeps that long
(each client sleeps its own way) before asking again. Tokens are never booked
ahead: a booked slot whose task woke late would be sent together with the next
one, a burst above the limit; taken at the last moment, the buckets hold.

With a `RateStore` (`RedisRateStore`: ``Client(rate_store="redis://...")``)
the buckets live outside the process, so a limit holds for every process
that uses the same store and keys together (workers on several machines).
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from govmedia.errors import ConfigError

__all__ = ["RateLimit", "RateLimiter", "RateStore", "RedisRateStore", "Ticket", "rate_store_from"]

logger = logging.getLogger("govmedia")


@attrs.frozen
class RateLimit:
    """At most `rate` requests per `per` seconds, in bursts of up to `burst`.

    Args:
        rate: requests allowed per `per` seconds.
        per: the window in seconds (default 1).
        burst: how many may go at once after a quiet spell (default: `rate`,
            at least 1).

    Example:
        >>> import govmedia as gm
        >>> limit = gm.RateLimit(300, per=3 * 3600)     # Mastodon: 300 statuses / 3 h
        >>> round(limit.per_second, 5)
        0.02778
    """

    rate: float = attrs.field(validator=attrs.validators.gt(0))
    per: float = attrs.field(default=1.0, kw_only=True, validator=attrs.validators.gt(0))
    burst: float | None = attrs.field(default=None, kw_only=True)

    @property
    def per_second(self) -> float:
        """The sustained rate in requests per second."""
        return self.rate / self.per

    @property
    def capacity(self) -> float:
        """The bucket size: `burst`, else `rate`, and never below one request."""
        return max(1.0, self.burst if self.burst is not None else self.rate)


LATE = 0.002
"""How early (seconds) a token may be taken, to make up for late wake-ups."""


class _Bucket:
    __slots__ = ("capacity", "level", "pending", "rate", "stamp")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.rate = limit.per_second
        self.capacity = limit.capacity
        self.level = self.capacity
        self.stamp = now
        # Tickets whose requests have not reached the wire yet: (level when
        # taken, time taken).
        self.pending: dict[Ticket, tuple[float, float]] = {}

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def clipped(self, level: float, delay: float) -> float:
        """What the bucket refilled during *delay* that it could not have held.

        A token taken from a bucket at *level*, for a request that reached the
        wire *delay* seconds later. Taken at the wire instead, the bucket
        would have refilled from *level* (capped at its capacity) and then
        given one token; taken early, it gave the token first and refilled
        from *level* - 1. The two differ by ``level + rate * delay -
        capacity``, between none and the one token taken. Delays up to
        `LATE` are allowed for already (see `wait`).
        """
        if delay <= LATE:
            return 0.0
        return max(0.0, min(1.0, level + self.rate * delay - self.capacity))

    def available(self, now: float) -> float:
        """The level, less what requests still on their way to the wire will take back."""
        level = self.level
        for taken_level, taken_at in self.pending.values():
            level -= self.clipped(taken_level, now - taken_at)
        return level

    def wait(self, level: float) -> float:
        """Seconds until a token is in the bucket at *level* (0: there is one now).

        A token counts as there up to `LATE` seconds early, and the bucket may
        go that far into debt: a sleeper always wakes a little late, and with
        a bucket of one token that lateness would otherwise be lost from the
        rate for good. The debt makes the next wait longer, so the sustained
        rate stays exact and a burst never exceeds the bucket by more than
        `LATE` seconds' worth of tokens.
        """
        need = 1.0 - min(0.5, self.rate * LATE)
        return 0.0 if level >= need - 1e-9 else (need - level) / self.rate


class RateLimiter:
    """Token buckets keyed by ``platform``, ``platform:app`` and ``platform:account``.

    A key configured as ``"mastodon"`` is one budget for every Mastodon channel
    of the client; ``"mastodon:sasac@social.example"`` is one account's;
    ``"mastodon:*"`` gives each account (and each app scope) a budget of its own.
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        store: RateStore | None = None,
    ) -> None:
        self._store = store
        self._limits: dict[str, RateLimit] = {}
        for key, limit in (limits or {}).items():
            if not isinstance(limit, RateLimit):
                raise ConfigError(f"rate_limits[{key!r}] must be a gm.RateLimit, got {limit!r}")
            self._limits[key] = limit
        self._buckets: dict[str, _Bucket] = {}
        self._clock = clock
        self._lock = threading.Lock()
        # Tickets settle through this queue: `Ticket.close` may run in a
        # generator's finally block that the garbage collector triggers
        # while this thread holds the lock, so settling never waits for it.
        self._settled: collections.deque[tuple[Ticket, float | None]] = collections.deque()

    @property
    def limits(self) -> Mapping[str, RateLimit]:
        """The configured limits by key."""
        return dict(self._limits)

    def add_defaults(self, limits: Mapping[str, RateLimit]) -> None:
        """Add a platform's default limits, for keys the user did not configure."""
        with self._lock:
            for key, limit in limits.items():
                self._limits.setdefault(key, limit)

    def _limit(self, key: str) -> RateLimit | None:
        limit = self._limits.get(key)
        if limit is None and ":" in key:
            limit = self._limits.get(key.partition(":")[0] + ":*")
        return limit

    def __bool__(self) -> bool:
        return bool(self._limits)

    def acquire(self, keys: Iterable[str]) -> float:
        """Take a token from every bucket of *keys* now and return 0, or return the wait.

        Tokens are taken from all the buckets or from none, so a request held
        back by its account's budget does not spend its platform's.
        """
        return self.take(keys, track=False)[0]

    def take(self, keys: Iterable[str], *, track: bool = True) -> tuple[float, Ticket | None]:
        """`acquire`, also returning a `Ticket` for the tokens taken (None: no limit applies).

        The ticket must be settled with `Ticket.sent` or `Ticket.close`:
        until then the buckets hold back the refill it may take back.
        """
        if not self._limits:
            return 0.0, None
        if self._store is not None:
            # Shared buckets: one atomic take in the store, no ticket (the
            # wire-time correction needs the bucket in this process).
            found = [(key, limit) for key in keys if (limit := self._limit(key)) is not None]
            return (self._store.take(found) if found else 0.0), None
        with self._lock:
            now = self._clock()
            self._drain()
            buckets = []
            for key in keys:
                limit = self._limit(key)
                if limit is None:
                    continue
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = _Bucket(limit, now)
                bucket.refill(now)
                buckets.append(bucket)
            wait = max((b.wait(b.available(now) if b.pending else b.level) for b in buckets),
                       default=0.0)
            if wait > 0:
                # Every waiter wakes when the next token is due and one of
                # them takes it; the rest ask again. Spreading them out would
                # cost the rate its precision (a random wait is a slower one).
                return wait, None
            if not buckets:
                return 0.0, None
            ticket = Ticket(self, buckets) if track else None
            for bucket in buckets:
                if ticket is not None:
                    bucket.pending[ticket] = (bucket.level, now)
                bucket.level -= 1.0
            return 0.0, ticket


    def _settle(self, ticket: Ticket, wire: float | None) -> None:
        """Queue *ticket*'s settlement and apply it now if the lock is free."""
        self._settled.append((ticket, wire))
        if self._lock.acquire(blocking=False):
            try:
                self._drain()
            finally:
                self._lock.release()

    def _drain(self) -> None:
        """Apply queued settlements (the lock is held)."""
        while self._settled:
            ticket, wire = self._settled.popleft()
            for bucket in ticket._buckets:  # noqa: SLF001 - the limiter's own tickets
                taken = bucket.pending.pop(ticket, None)
                if taken is None or wire is None:
                    continue
                # Bring the bucket to the wire time first: takes since may
                # have refilled it to its cap.
                bucket.refill(max(wire, bucket.stamp))
                bucket.level -= bucket.clipped(taken[0], wire - taken[1])
            ticket._buckets = []  # noqa: SLF001


class Ticket:
    """The tokens one request took, to be settled when it actually went out.

    A token is taken when the request is handed to the sender, but the bytes
    may leave later: a new connection has to be opened first, several at
    once in an opening burst. A bucket that was full meanwhile would, by the
    wire's clock, not have refilled; `sent` takes back what it refilled, so
    the next requests wait that much longer and the burst holds where the
    platform counts it. Delays up to `LATE` are left alone, as the bucket
    already allows for that much, so normal sends keep the rate exact.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.policy.ratelimit import RateLimiter
        >>> now = [0.0]
        >>> limiter = RateLimiter({"x": gm.RateLimit(100, burst=1)}, clock=lambda: now[0])
        >>> wait, ticket = limiter.take(["x"])
        >>> now[0] = 0.012                    # the request left 12 ms later
        >>> ticket.sent()
        >>> round(limiter.acquire(["x"]), 3)  # the next one waits until 10 ms after it left
        0.008
    """

    __slots__ = ("_buckets", "_limiter")

    def __init__(self, limiter: RateLimiter, buckets: list[_Bucket]) -> None:
        self._limiter = limiter
        self._buckets = buckets

    def sent(self, at: float | None = None) -> None:
        """The request's headers were written at *at* (the limiter's clock; default: now)."""
        limiter = self._limiter
        limiter._settle(self, limiter._clock() if at is None else at)  # noqa: SLF001

    def close(self) -> None:
        """The attempt is over; if `sent` never came (no trace from the sender), forget it."""
        if self._buckets:
            self._limiter._settle(self, None)  # noqa: SLF001


@runtime_checkable
class RateStore(Protocol):
    """Token buckets kept outside the process, shared by every process that uses the store.

    `take` takes one token from every bucket or from none, atomically, and
    returns 0, or the seconds until all of them hold one. A store that
    cannot be reached returns a wait (nothing is sent without a token).
    """

    def take(self, buckets: Sequence[tuple[str, RateLimit]]) -> float:
        """Take a token from each ``(key, limit)`` bucket now (0), or say how long to wait."""


# KEYS: the buckets; ARGV: LATE, then rate per second and capacity per bucket.
# Redis's own clock (TIME), so that workers on machines whose clocks differ
# share one timeline. Levels are kept as text: Lua numbers would be rounded
# to integers on the way back.
_TAKE_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local late = tonumber(ARGV[1])
local levels = {}
local wait = 0
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local cap = tonumber(ARGV[2 * i + 1])
  local got = redis.call('HMGET', key, 'l', 's')
  local level = cap
  if got[1] then
    level = math.min(cap, tonumber(got[1]) + math.max(0, now - tonumber(got[2])) * rate)
  end
  levels[i] = level
  local need = 1 - math.min(0.5, rate * late)
  if level < need - 1e-9 then
    wait = math.max(wait, (need - level) / rate)
  end
end
if wait > 0 then
  return string.format('%.6f', wait)
end
for i, key in ipairs(KEYS) do
  local rate = tonumber(ARGV[2 * i])
  local cap = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', key, 'l', string.format('%.17g', levels[i] - 1), 's', string.format('%.6f', now))
  redis.call('PEXPIRE', key, math.ceil((cap / rate + 60) * 1000))
end
return '0'
"""

OUTAGE_WAIT = 0.5
"""Seconds a request waits, and asks again, while the rate store cannot be reached."""


class RedisRateStore:
    """`RateStore` in Redis: one hash per bucket, taken by one Lua script (atomic).

    Buckets are keyed as in the process (``"mastodon"``, ``"mastodon:acct"``)
    under *prefix*; the hash tag in the default prefix keeps every bucket on
    one Redis Cluster shard, as a script touching several keys needs. Every
    process must configure the same `RateLimit` for a key: the bucket is
    shared, its rate and size come from whoever takes. While Redis is down,
    `take` answers `OUTAGE_WAIT` (logged once per outage): no request goes
    out unbudgeted. A Redis restart without persistence starts every bucket
    full again.

    Args:
        url: ``redis://host:port/db``, ``rediss://...`` or ``unix:///path?db=N``.
        prefix: put before every bucket key.

    Example:
        >>> from govmedia.policy.ratelimit import RedisRateStore
        >>> store = RedisRateStore("redis://127.0.0.1:6379/0")   # connects on first use
        >>> store
        RedisRateStore('redis://127.0.0.1:6379/0')
    """

    def __init__(self, url: str, *, prefix: str = "{govmedia-rate}:") -> None:
        from govmedia._journal_pg import redact_dsn

        self.url = url
        self._shown = redact_dsn(url)
        self.prefix = prefix
        self._redis: Any = None
        self._script: Any = None
        self._down_since: float | None = None
        self._guard = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisRateStore({self._shown!r})"

    def _client(self) -> Any:
        if self._script is None:
            with self._guard:
                if self._script is None:
                    from govmedia._redis import connect

                    self._redis = connect(self.url, what="rate_store='redis://...'")
                    self._script = self._redis.register_script(_TAKE_LUA)
        return self._script

    def take(self, buckets: Sequence[tuple[str, RateLimit]]) -> float:
        """Take a token from every bucket (0), or the seconds to wait before asking again."""
        script = self._client()
        args: list[Any] = [LATE]
        for _, limit in buckets:
            args += [repr(limit.per_second), repr(limit.capacity)]
        try:
            wait = float(script(keys=[self.prefix + key for key, _ in buckets], args=args))
        except Exception as exc:
            import redis

            if not isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError):
                raise
            if self._down_since is None:
                self._down_since = time.monotonic()
                logger.warning("govmedia: rate store %s unreachable (%s); requests wait for it",
                               self._shown, type(exc).__name__)
            return OUTAGE_WAIT
        if self._down_since is not None:
            logger.warning("govmedia: rate store %s is back after %.1f s", self._shown,
                           time.monotonic() - self._down_since)
            self._down_since = None
        return wait

    def close(self) -> None:
        """Close the connections."""
        if self._redis is not None:
            self._redis.close()


def rate_store_from(value: str | RateStore | None) -> RateStore | None:
    """A `RateStore` from ``Client(rate_store=...)``: a ``redis://`` URL, a store, or ``None``.

    Example:
        >>> from govmedia.policy.ratelimit import rate_store_from
        >>> rate_store_from("redis://127.0.0.1:6379/0")
        RedisRateStore('redis://127.0.0.1:6379/0')
        >>> rate_store_from("memcached://x")
        Traceback (most recent call last):
        ...
        govmedia.errors.ConfigError: rate_store must be a redis://, rediss:// or unix:// URL, ...
    """
    if value is None or isinstance(value, RateStore):
        return value
    if isinstance(value, str) and value.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateStore(value)
    raise ConfigError("rate_store must be a redis://, rediss:// or unix:// URL, or a RateStore; "
                      f"got {value!r}")
