"""`IdempotencyStore`: what a fake created for a key, remembered for a time window."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["IdempotencyStore"]

T = TypeVar("T")


class IdempotencyStore(Generic[T]):
    """First results by ``(scope, key)``, forgotten *window* seconds after they were made.

    The shape of Mastodon's ``Idempotency-Key`` (per account, one hour),
    Matrix's ``txnId`` (per access token) and a Bluesky record key: a repeat
    within the window gets the first result back and creates nothing; once
    the window has passed, the key is new again. The window counts from the
    first result, and a repeat does not extend it.

    Args:
        window: seconds a key is remembered.
        clock: Unix time now (give a fake's clock to test expiry without waiting).

    Example:
        >>> from govmedia.testing import IdempotencyStore
        >>> now = [0.0]
        >>> keys = IdempotencyStore(3600, clock=lambda: now[0])
        >>> made = []
        >>> def create() -> str:
        ...     made.append(f"status-{len(made) + 1}")
        ...     return made[-1]
        >>> keys.once("sasac", "k1", create), keys.once("sasac", "k1", create)
        ('status-1', 'status-1')
        >>> keys.once("member", "k1", create)  # another account: another scope
        'status-2'
        >>> now[0] += 3600
        >>> keys.once("sasac", "k1", create)  # the window has passed
        'status-3'
    """

    def __init__(self, window: float, *, clock: Callable[[], float] = time.time) -> None:
        self.window = window
        self.clock = clock
        self._seen: dict[tuple[str, str], tuple[T, float]] = {}
        self._lock = threading.RLock()

    def get(self, scope: str, key: str) -> T | None:
        """The first result for *key* in *scope*, if still within the window."""
        with self._lock:
            seen = self._seen.get((scope, key))
            if seen is None or self.clock() - seen[1] >= self.window:
                return None
            return seen[0]

    def put(self, scope: str, key: str, value: T) -> None:
        """Remember *value* for *key* in *scope* from now on."""
        with self._lock:
            now = self.clock()
            self._seen.pop((scope, key), None)  # to the end: entries stay in time order
            self._seen[(scope, key)] = (value, now)
            for old, (_, at) in list(self._seen.items()):  # oldest first; stop at the first live one
                if now - at < self.window:
                    break
                del self._seen[old]

    def once(self, scope: str, key: str, make: Callable[[], T]) -> T:
        """The first result for *key* in *scope*; call *make* for it when there is none.

        If *make* raises (a refusal, say), nothing is remembered.
        """
        with self._lock:
            seen = self.get(scope, key)
            if seen is not None:
                return seen
            value = make()
            self.put(scope, key, value)
            return value

    def __len__(self) -> int:
        with self._lock:
            now = self.clock()
            return sum(1 for _, at in self._seen.values() if now - at < self.window)
