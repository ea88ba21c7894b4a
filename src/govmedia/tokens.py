"""Access tokens and where they are kept between requests.

A platform whose requests need a token that expires (WeChat's ``stable_token``,
an OAuth 2 access token) hands back a `Token`: the access token, when it
expires, and, where the platform has one, the refresh token that renews it and
when that one expires. Clients keep tokens in a `TokenStore`, one entry per
*scope* (usually an app: every member account under one WeChat app shares one
token). The store is also where a *rotated* refresh token goes: Kuaishou and
Bilibili hand out a new refresh token with every refresh and the old one stops
working, so the next refresh must use the new one, never the one in the
channel's credentials. Clients refresh one scope at a time (single flight), so
two concurrent callers never both spend a single-use refresh token.

`MemoryTokenStore` is the default: tokens live as long as the client. A store
shared by several processes implements the same three methods.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable

import attrs

from govmedia._secrets import remember

__all__ = ["MemoryTokenStore", "Token", "TokenStore"]

REFRESH_EARLY = 60.0
"""Seconds before its expiry a token is renewed rather than used."""


def _remembered(value: str | None) -> str | None:
    if value:
        remember(value)  # masked wherever it shows up from now on
    return value


@attrs.frozen(kw_only=True)
class Token:
    """An access token, its refresh token, and when each expires.

    Lifetimes are given relative to `issued_at` (Unix seconds, default now),
    as platforms give them (``expires_in``).

    Args:
        value: the access token.
        expires_in: seconds the access token lives (``None``: until refused).
        refresh_token: what renews it, where the platform has one.
        refresh_expires_in: seconds the refresh token lives (``None``: unknown).
        issued_at: Unix time the token was issued.

    Example:
        >>> from govmedia.tokens import Token
        >>> t = Token(value="tok-123456", expires_in=7200, refresh_token="ref-123456",
        ...           refresh_expires_in=30 * 86400, issued_at=1_700_000_000)
        >>> t.expires_at, t.expired(now=1_700_000_000 + 7200 - 30)
        (1700007200.0, True)
        >>> t
        Token(expires_in=7200, refresh_expires_in=2592000, issued_at=1700000000)
    """

    value: str = attrs.field(repr=False, converter=_remembered)
    expires_in: float | None = None
    refresh_token: str | None = attrs.field(default=None, repr=False, converter=_remembered)
    refresh_expires_in: float | None = None
    issued_at: float = attrs.field(factory=time.time)

    @property
    def expires_at(self) -> float | None:
        """Unix time the access token expires, or ``None``."""
        return None if self.expires_in is None else float(self.issued_at + self.expires_in)

    @property
    def refresh_expires_at(self) -> float | None:
        """Unix time the refresh token expires, or ``None``."""
        if self.refresh_expires_in is None:
            return None
        return float(self.issued_at + self.refresh_expires_in)

    def expired(self, *, now: float | None = None, early: float = REFRESH_EARLY) -> bool:
        """True when the access token expires within *early* seconds of *now*."""
        at = self.expires_at
        return at is not None and (time.time() if now is None else now) >= at - early

    def can_refresh(self, *, now: float | None = None) -> bool:
        """True when a refresh token is held and has not expired."""
        if not self.refresh_token:
            return False
        at = self.refresh_expires_at
        return at is None or (time.time() if now is None else now) < at


@runtime_checkable
class TokenStore(Protocol):
    """Where clients keep tokens, one per scope (``(platform, scope)``).

    `get` and `put` must be safe to call from several threads; `lock` returns
    a lock held while one caller refreshes a scope, so that a single-use
    refresh token is spent once. A store shared between processes must make
    its `lock` hold across them too.
    """

    def get(self, scope: tuple[str, str]) -> Token | None:
        """The token kept for *scope*, or ``None``."""

    def put(self, scope: tuple[str, str], token: Token) -> None:
        """Keep *token* for *scope*, replacing the one there (and its refresh token)."""

    def lock(self, scope: tuple[str, str]) -> threading.Lock:
        """The lock a refresh of *scope* holds."""


class MemoryTokenStore:
    """The default `TokenStore`: a dict in this process.

    Example:
        >>> from govmedia.tokens import MemoryTokenStore, Token
        >>> store = MemoryTokenStore()
        >>> store.put(("kuaishou", "ks_app"), Token(value="acc-1111111", refresh_token="ref-2222222"))
        >>> store.get(("kuaishou", "ks_app")).refresh_token == "ref-2222222"
        True
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], Token] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, scope: tuple[str, str]) -> Token | None:
        """The token kept for *scope*, or ``None``."""
        return self._tokens.get(scope)

    def put(self, scope: tuple[str, str], token: Token) -> None:
        """Keep *token* for *scope*."""
        self._tokens[scope] = token

    def lock(self, scope: tuple[str, str]) -> threading.Lock:
        """One lock per scope, made on first use."""
        with self._guard:
            lock = self._locks.get(scope)
            if lock is None:
                lock = self._locks[scope] = threading.Lock()
            return lock

    def __repr__(self) -> str:
        return f"MemoryTokenStore({len(self._tokens)} scope(s))"
