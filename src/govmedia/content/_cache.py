"""A small LRU cache bounded by entries and by total size, for rendered bodies.

A fan-out checks and publishes the same body for every member; rendering it
once per distinct variant instead of once per member is the difference
between 7.5 s and a few milliseconds per member for a 1 MB body. The cache
holds a handful of recent renderings and never more than `max_weight`
characters in all; a value larger than half of that is computed and not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

__all__ = ["RENDERED", "BoundedCache"]

V = TypeVar("V")


class BoundedCache:
    """Least-recently-used values, at most *max_entries* of them and *max_weight* in all.

    Example:
        >>> cache = BoundedCache(max_entries=2, max_weight=100)
        >>> cache.get(("upper", "a"), lambda: "A", len)
        'A'
        >>> cache.get(("upper", "a"), lambda: "never called", len)
        'A'
        >>> cache.hits, cache.misses
        (1, 1)
    """

    def __init__(self, *, max_entries: int, max_weight: int) -> None:
        self.max_entries = max_entries
        self.max_weight = max_weight
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable, make: Callable[[], V], weigh: Callable[[V], int]) -> V:
        """The value for *key*, made by *make* (outside the lock) when absent."""
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                self.hits += 1
                cached: V = found[0]
                return cached
            self.misses += 1
        value = make()
        weight = weigh(value)
        if weight * 2 > self.max_weight:
            return value
        with self._lock:
            if key not in self._items:
                self._items[key] = (value, weight)
                self._weight += weight
            while len(self._items) > self.max_entries or self._weight > self.max_weight:
                _, (_, dropped) = self._items.popitem(last=False)
                self._weight -= dropped
        return value

    def clear(self) -> None:
        """Forget every value (and the counts)."""
        with self._lock:
            self._items.clear()
            self._weight = 0
            self.hits = self.misses = 0


#: Renderings of post bodies shared by the content modules (keys start with
#: the kind of rendering). The weight counts the body in the key too, which
#: the cache keeps alive: 16 M characters (16-64 MB) at most in all.
RENDERED = BoundedCache(max_entries=32, max_weight=16_000_000)
