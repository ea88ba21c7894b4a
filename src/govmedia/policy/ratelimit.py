"""`RateLimit` and the token buckets that enforce it.

A request takes a token from every bucket that applies at the moment it is
about to be sent, or learns how long until one is free and sleeps that long
(each client sleeps its own way) before asking again. Tokens are never booked
ahead: a booked slot whose task woke late would be sent together with the next
one, a burst above the limit; taken at the last moment, the buckets hold.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping

import attrs

from govmedia.errors import ConfigError

__all__ = ["RateLimit", "RateLimiter"]


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
    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.rate = limit.per_second
        self.capacity = limit.capacity
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self) -> float:
        """Seconds until a token is in the bucket (0: there is one now).

        A token counts as there up to `LATE` seconds early, and the bucket may
        go that far into debt: a sleeper always wakes a little late, and with
        a bucket of one token that lateness would otherwise be lost from the
        rate for good. The debt makes the next wait longer, so the sustained
        rate stays exact and a burst never exceeds the bucket by more than
        `LATE` seconds' worth of tokens.
        """
        need = 1.0 - min(0.5, self.rate * LATE)
        return 0.0 if self.level >= need - 1e-9 else (need - self.level) / self.rate


class RateLimiter:
    """Token buckets keyed by ``platform``, ``platform:app`` and ``platform:account``.

    A key configured as ``"mastodon"`` is one budget for every Mastodon channel
    of the client; ``"mastodon:sasac@social.example"`` is one account's.
    """

    def __init__(
        self,
        limits: Mapping[str, RateLimit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits: dict[str, RateLimit] = {}
        for key, limit in (limits or {}).items():
            if not isinstance(limit, RateLimit):
                raise ConfigError(f"rate_limits[{key!r}] must be a gm.RateLimit, got {limit!r}")
            self._limits[key] = limit
        self._buckets: dict[str, _Bucket] = {}
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def limits(self) -> Mapping[str, RateLimit]:
        """The configured limits by key."""
        return dict(self._limits)

    def __bool__(self) -> bool:
        return bool(self._limits)

    def acquire(self, keys: Iterable[str]) -> float:
        """Take a token from every bucket of *keys* now and return 0, or return the wait.

        Tokens are taken from all the buckets or from none, so a request held
        back by its account's budget does not spend its platform's.
        """
        if not self._limits:
            return 0.0
        with self._lock:
            now = self._clock()
            buckets = []
            for key in keys:
                limit = self._limits.get(key)
                if limit is None:
                    continue
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = _Bucket(limit, now)
                bucket.refill(now)
                buckets.append(bucket)
            wait = max((b.wait() for b in buckets), default=0.0)
            if wait > 0:
                # Every waiter wakes when the next token is due and one of
                # them takes it; the rest ask again. Spreading them out would
                # cost the rate its precision (a random wait is a slower one).
                return wait
            for bucket in buckets:
                bucket.level -= 1.0
            return 0.0
