"""`RateBudgets`: N requests per period per key, in fixed windows, as platforms count them."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import attrs

__all__ = ["Budget", "RateBudgets"]


@attrs.frozen
class Budget:
    """One budget after a request was counted in it.

    Attributes:
        name: the budget (``"statuses"``).
        limit: requests allowed per window.
        used: requests counted in this window, this one included.
        reset_at: Unix time the window ends and the count starts again.

    Example:
        >>> from govmedia.testing import Budget
        >>> b = Budget("statuses", limit=300, used=301, reset_at=1_700_010_800.0)
        >>> b.remaining, b.exhausted, b.retry_after(1_700_010_000.0)
        (0, True, 800)
    """

    name: str
    limit: int
    used: int
    reset_at: float

    @property
    def remaining(self) -> int:
        """Requests left in this window (never below 0)."""
        return max(0, self.limit - self.used)

    @property
    def exhausted(self) -> bool:
        """True when this request went over the limit."""
        return self.used > self.limit

    def retry_after(self, now: float) -> int:
        """Whole seconds from *now* until the window resets (at least 1)."""
        return max(1, int(self.reset_at - now + 0.999))


class RateBudgets:
    """Counts requests per key (account, app, IP, ...) in named budgets.

    Each budget is ``(limit, period)``: *limit* requests per *period* seconds,
    in windows aligned to multiples of the period (as rack-attack counts
    Mastodon's). `limits` is a plain dict a test may change at any time.
    A fake declares its budgets in ``FakePlatform.rate_limits`` and which
    requests spend them with ``@route(..., spends=...)``; the base counts
    them, answers `FakePlatform.over_budget` once a budget is spent (when
    ``enforce_limits`` is on) and adds `FakePlatform.budget_headers` to
    every answer.

    Args:
        limits: budget name -> ``(limit, period in seconds)``.
        clock: Unix time now.

    Example:
        >>> from govmedia.testing import RateBudgets
        >>> budgets = RateBudgets({"api": (1500, 300.0), "statuses": (2, 10800.0)},
        ...                       clock=lambda: 1_700_000_100.0)
        >>> budgets.spend("sasac", "api", "statuses")  # the tightest one is answered
        Budget(name='statuses', limit=2, used=1, reset_at=1700006400.0)
        >>> budgets.spend("sasac", "statuses").remaining, budgets.spend("sasac", "statuses").exhausted
        (0, True)
        >>> budgets.spend("member", "statuses").used  # another key, another count
        1
    """

    def __init__(
        self, limits: Mapping[str, tuple[int, float]] | None = None, *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.limits: dict[str, tuple[int, float]] = dict(limits or {})
        self.clock = clock
        self._spent: dict[tuple[str, str], tuple[int, int]] = {}  # (key, budget) -> (window, used)
        self._lock = threading.Lock()

    def spend(self, key: str, *names: str) -> Budget:
        """Count one request by *key* in each budget *names*; the one closest to exhaustion.

        Raises:
            KeyError: a name that is not in `limits`.
        """
        if not names:
            raise ValueError("spend needs at least one budget name")
        now = self.clock()
        tightest: Budget | None = None
        with self._lock:
            for name in names:
                limit, period = self.limits[name]
                window = int(now // period)
                last, used = self._spent.get((key, name), (window, 0))
                used = used + 1 if last == window else 1
                self._spent[(key, name)] = (window, used)
                budget = Budget(name, limit, used, (window + 1) * period)
                if tightest is None or budget.limit - budget.used < tightest.limit - tightest.used:
                    tightest = budget
        assert tightest is not None
        return tightest
