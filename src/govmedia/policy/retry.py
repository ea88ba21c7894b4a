"""`RetryPolicy`: how often and how long a step is retried.

The clients build a tenacity retrier from it for each step. A wait the platform
asked for (``Retry-After``, ``retry_after_ms``, ``X-RateLimit-Reset``) replaces
the computed backoff; a wait longer than `max_retry_after` is not waited out but
raised as `RateLimited`, so a fan-out moves on and a re-run picks it up.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import random
import time
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import tenacity

__all__ = ["RetryPolicy", "retry_after_from"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How a failed step is retried.

    Args:
        attempts: sends per step at most, the first included.
        timeout: seconds a step may spend retrying in all.
        wait_initial: first computed backoff, doubled on each retry.
        wait_max: the longest computed backoff.
        wait_jitter: random seconds added to each computed backoff.
        max_retry_after: the longest wait a platform may ask for before the
            step gives up with `RateLimited` instead of waiting.
        testing_mode: compute waits but never sleep (see `RetryPolicy.testing`).

    Example:
        >>> import govmedia as gm
        >>> gm.RetryPolicy(attempts=6).attempts
        6
        >>> gm.RetryPolicy.testing().testing_mode
        True
    """

    attempts: int = attrs.field(default=4, validator=attrs.validators.ge(1))
    timeout: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    wait_initial: float = attrs.field(default=0.5, validator=attrs.validators.ge(0))
    wait_max: float = attrs.field(default=30.0, validator=attrs.validators.ge(0))
    wait_jitter: float = attrs.field(default=1.0, validator=attrs.validators.ge(0))
    max_retry_after: float = attrs.field(default=120.0, validator=attrs.validators.ge(0))
    testing_mode: bool = False

    @classmethod
    def testing(cls, **changes: Any) -> RetryPolicy:
        """A policy for tests: the same decisions, no sleeping."""
        return cls(testing_mode=True, **changes)

    def with_options(self, **changes: Any) -> RetryPolicy:
        """Return a copy with *changes* applied."""
        return attrs.evolve(self, **changes)

    def backoff(self, attempt: int) -> float:
        """The computed wait after failed attempt number *attempt* (1-based)."""
        exponential: float = self.wait_initial * 2.0 ** max(0, attempt - 1)
        jitter = random.uniform(0, self.wait_jitter)  # noqa: S311 - not cryptographic
        return min(self.wait_max, exponential) + jitter

    def retrying(
        self, *, retry: Callable[[BaseException], bool], record_wait: Callable[[float], None]
    ) -> tenacity.Retrying:
        """A tenacity retrier that records each wait instead of sleeping.

        The clients' step loop performs the recorded wait itself (a sync or an
        async sleep, or none in testing mode), so one retry loop serves both.
        """
        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            asked = getattr(exc, "retry_after", None)
            if asked is not None:
                return float(asked)
            return self.backoff(state.attempt_number)

        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts) | tenacity.stop_after_delay(self.timeout),
            wait=wait,
            retry=tenacity.retry_if_exception(retry),
            sleep=record_wait,
            reraise=True,
        )


def retry_after_from(response: httpx.Response, *, now: float | None = None) -> float | None:
    """Seconds the platform asked us to wait, from headers or body; ``None`` if none.

    Reads ``Retry-After`` (seconds or an HTTP date), ``retry_after_ms`` or
    ``retry_after`` in a JSON body, and ``X-RateLimit-Reset`` (or the unprefixed
    ``RateLimit-Reset`` of Bluesky's PDS) as Unix seconds, seconds from now or
    an ISO 8601 time (Mastodon) when the matching ``Remaining`` header is 0 or
    the status is 429. On a 429 whose X 24-hour cap is spent
    (``x-user-limit-24hour-remaining: 0``, or ``x-app-limit-24hour-*``), the
    later of that cap's reset and the window's is the wait. Facebook sends no
    ``Retry-After``: its ``X-Business-Use-Case-Usage`` header gives, per Page,
    ``estimated_time_to_regain_access`` in minutes, and the longest is the wait
    (0 everywhere: none known, so the computed backoff).

    Example:
        >>> import httpx
        >>> from govmedia.policy.retry import retry_after_from
        >>> limited = httpx.Response(429, json={"error": "RateLimitExceeded"},
        ...                          headers={"RateLimit-Reset": "1700000030"})
        >>> retry_after_from(limited, now=1_700_000_000)
        30.0
        >>> now = 1_700_000_000
        >>> r = httpx.Response(429, headers={"x-rate-limit-reset": str(now + 60),
        ...     "x-user-limit-24hour-remaining": "0", "x-user-limit-24hour-reset": str(now + 7200)})
        >>> retry_after_from(r, now=now)
        7200.0
        >>> usage = '{"1234":[{"type":"pages","call_count":100,"estimated_time_to_regain_access":5}]}'
        >>> retry_after_from(httpx.Response(400, headers={"X-Business-Use-Case-Usage": usage}))
        300.0
    """
    now = time.time() if now is None else now
    header = response.headers.get("retry-after")
    if header:
        value = _seconds_or_date(header.strip(), now)
        if value is not None:
            return value
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, RecursionError, httpx.ResponseNotRead):  # not JSON, or nested too deep
        body = None
    if isinstance(body, dict):
        params = body.get("parameters")
        for value, scale in ((body.get("retry_after_ms"), 1000), (body.get("retry_after"), 1),
                             (params.get("retry_after") if isinstance(params, dict) else None, 1)):
            seconds = _seconds(value)  # the last one is Telegram's shape
            if seconds is not None:
                return seconds / scale
    waits = [_reset_to_wait(value.strip(), now) for value in _spent_windows(response)]
    known = [w for w in waits if w is not None]
    if known:
        return max(known)
    return _business_use_case_wait(response.headers.get("x-business-use-case-usage"))


def _business_use_case_wait(header: str | None) -> float | None:
    """Facebook's longest ``estimated_time_to_regain_access`` (minutes) as seconds; ``None``: none.

    shared/platforms/facebook.md, "Rate limits": ``{"<page-id>": [{"type",
    "call_count", ..., "estimated_time_to_regain_access": <minutes>}]}``.
    """
    if not header:
        return None
    try:
        usage = json.loads(header)
    except (ValueError, RecursionError):
        return None
    minutes = [_seconds(entry.get("estimated_time_to_regain_access"))
               for entries in (usage.values() if isinstance(usage, dict) else ())
               if isinstance(entries, list)
               for entry in entries if isinstance(entry, dict)]
    longest = max((m for m in minutes if m is not None), default=0.0)
    return longest * 60.0 if longest > 0 else None


# X's 24-hour posting caps, sent beside the 15-minute window on posting
# endpoints (shared/platforms/x.md "Rate limits": undocumented, unverified):
# when one is spent, its reset is the wait, however soon the window resets.
_DAY_WINDOWS = ("x-user-limit-24hour", "x-app-limit-24hour")


def _spent_windows(response: httpx.Response) -> list[str]:
    """The reset times of every rate-limit window *response* says is spent."""
    headers = response.headers
    limited = response.status_code == 429
    resets = []
    for prefix in ("x-ratelimit-", "x-rate-limit-", "ratelimit-"):
        reset = headers.get(prefix + "reset")
        if reset and (limited or headers.get(prefix + "remaining") == "0"):
            resets.append(reset)
            break
    for window in _DAY_WINDOWS:
        day_reset = headers.get(f"{window}-reset")
        if day_reset and headers.get(f"{window}-remaining", "").strip() == "0" and limited:
            resets.append(day_reset)
    return resets


def _seconds(value: object) -> float | None:
    """A JSON number as a wait in seconds (>= 0), or None; 10**400 is infinity, not an error."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf if value > 0 else 0.0
    return None if math.isnan(seconds) else max(0.0, seconds)


def _seconds_or_date(value: str, now: float) -> float | None:
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)


def _reset_to_wait(value: str, now: float) -> float | None:
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        # Large numbers are Unix times (X); small ones are seconds from now.
        return max(0.0, number - now) if number > 1e9 else max(0.0, number)
    try:
        when = dt.datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - now)
