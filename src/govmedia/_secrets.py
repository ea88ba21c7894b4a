"""Keep secrets out of reprs, logs, exceptions and pickles.

Every credential value a `Channel` holds, and every token a platform hands back,
is remembered here (by value, in process memory only) so that text on its way
to a log record or an exception message can be masked wherever it shows up:
in a URL's query string, an ``Authorization`` header or a platform's echo.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from govmedia._frozen import FrozenMap

__all__ = ["MASK", "Credentials", "mask", "remember"]

MASK = "***"
_MIN_LEN = 6  # shorter values would mask ordinary words
_lock = threading.Lock()
_known: set[str] = set()
_pattern: re.Pattern[str] | None = None

# Query parameters and header shapes that carry secrets on the platforms we
# know, masked even when the value was never registered (a token issued to
# another process, say).
_SHAPES = re.compile(
    r"(?i)((?:access_token|token|secret|app_secret|client_secret|refresh_token|password|key)=)"
    r"[^&\s\"']+"
    r"|(bearer\s+)[A-Za-z0-9._~+/=-]+"
    r"|(basic\s+)[A-Za-z0-9+/=]+"
    r"|(/bot)\d+:[A-Za-z0-9_-]+"
)


def remember(value: str) -> None:
    """Register a secret so that `mask` hides it wherever it appears."""
    global _pattern  # noqa: PLW0603 - one process-wide registry is the point
    if not isinstance(value, str) or len(value) < _MIN_LEN:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
        _pattern = None


def mask(text: str) -> str:
    """Return *text* with every known secret and secret-shaped value masked."""
    global _pattern  # noqa: PLW0603
    if not text:
        return text
    pattern = _pattern
    if pattern is None and _known:
        with _lock:
            ordered = sorted(_known, key=len, reverse=True)
            pattern = _pattern = re.compile("|".join(re.escape(v) for v in ordered))
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _SHAPES.sub(lambda m: (next(g for g in m.groups() if g) + MASK), text)


class Credentials(FrozenMap):  # noqa: PLW1641 - unhashable, like the dict it wraps
    """A read-only mapping of credential names to secret values.

    Its ``repr`` and ``str`` show the names only; pickling it keeps the names and
    drops the values, so a pickled `Channel` or `Receipt` never carries a secret.

    Example:
        >>> creds = Credentials({"access_token": "s3cr3t-token"})
        >>> creds
        Credentials({'access_token': '***'})
        >>> creds["access_token"]
        's3cr3t-token'
    """

    __slots__ = ()

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        clean: dict[str, str] = {}
        for name, value in (data or {}).items():
            if not isinstance(name, str):
                raise TypeError(f"credential names must be strings, got {name!r}")
            text = value if isinstance(value, str) else str(value)
            remember(text)
            clean[name] = text
        self._data = clean

    def __getitem__(self, key: str) -> str:
        value: str = self._data[key]
        return value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Credentials):
            return self._data == other._data
        return NotImplemented

    def __repr__(self) -> str:
        return "Credentials({" + ", ".join(f"{k!r}: {MASK!r}" for k in self._data) + "})"

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        # Values never travel in a pickle; the names do, so that a missing
        # secret later shows up as a clear "missing credential" error.
        return (_unpickled, (tuple(self._data),))


def _unpickled(names: tuple[str, ...]) -> Credentials:
    creds = Credentials()
    creds._data = {}  # noqa: SLF001 - values were dropped on purpose
    for name in names:
        creds._data.setdefault(name, "")  # noqa: SLF001
    # An empty value reads as missing: see Channel's credential check.
    return creds


class _MaskingFilter(logging.Filter):
    """Mask secrets in records of loggers we do not own (httpx, httpcore)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        masked = mask(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


_FILTER = _MaskingFilter()


def install_log_filters() -> None:
    """Attach the masking filter to govmedia's and the HTTP libraries' loggers."""
    for name in ("govmedia", "httpx", "httpcore", "aiohttp.client"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
