"""`RateLimit` and the token buckets that enforce it.

Buckets hand out *reservations*: asking for a slot returns how long to wait
before sending, and books the slot at once. Many threads or tasks asking
together are so queued fairly and precisely, with no polling, and the same
limiter serves the sync and the async client (each sleeps its own way).
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


class _Bucket:
    __slots__ = ("capacity", "level", "rate", "stamp")

    def __init__(self, limit: RateLimit, now: float) -> None:
        self.rate = limit.per_second
        self.capacity = limit.capacity
        self.level = self.capacity
        self.stamp = now

    def reserve(self, now: float) -> float:
        """Book one slot; return the seconds to wait before using it."""
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        self.level -= 1.0
        return 0.0 if self.level >= 0 else -self.level / self.rate


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

    def reserve(self, keys: Iterable[str]) -> float:
        """Book a slot in every bucket that applies; return the longest wait."""
        if not self._limits:
            return 0.0
        wait = 0.0
        with self._lock:
            now = self._clock()
            for key in keys:
                limit = self._limits.get(key)
                if limit is None:
                    continue
                bucket = self._buckets.get(key)
                if bucket is None:
                    bucket = self._buckets[key] = _Bucket(limit, now)
                wait = max(wait, bucket.reserve(now))
        return wait
