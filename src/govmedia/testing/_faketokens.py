"""`FakeTokens`: a fake's access tokens, with lifetimes, and refresh tokens that rotate.

Kuaishou, Bilibili, X and Bluesky hand out a new refresh token with every
refresh and refuse the old one from then on; a fake that lets an old refresh
token through would hide the bug the clients' token store exists to prevent.
Google (YouTube) keeps one refresh token for good: ``rotation="none"``.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Literal

import attrs
import httpx

from govmedia.testing._refuse import Refusal, Refuse

__all__ = ["REASONS", "FakeToken", "FakeTokens", "TokenPair", "default_token_refusal"]

REASONS = {
    "missing": "no access token",
    "invalid": "the access token is invalid",
    "expired": "the access token has expired",
    "scope": "the access token lacks a scope",
    "refresh_invalid": "the refresh token is invalid",
    "refresh_expired": "the refresh token has expired",
    "refresh_reused": "the refresh token was already used",
}


def default_token_refusal(reason: str) -> httpx.Response:
    """A 401 with ``{"error": ...}``: the answer when a fake gives no hook of its own.

    Example:
        >>> from govmedia.testing import default_token_refusal
        >>> default_token_refusal("expired").json()
        {'error': 'the access token has expired'}
    """
    return httpx.Response(401, json={"error": REASONS.get(reason, reason)})


@attrs.define
class FakeToken:
    """One token a fake issued: whom it acts for, which app holds it, until when.

    Attributes:
        value: the token string.
        subject: the account (user, open id, app) the token acts for.
        app_id: the app (client id) it was issued to, where the platform has apps.
        expires_at: Unix time it stops working; ``None``: never.
        scopes: what it may do.
        access: for a refresh token, the access token issued with it.

    Example:
        >>> from govmedia.testing import FakeToken
        >>> token = FakeToken("tok", "sasac", expires_at=100.0)
        >>> token.expired(99.0), token.expired(100.0), token.expires_in(40.0)
        (False, True, 60)
    """

    value: str = attrs.field(repr=False)
    subject: str
    app_id: str | None = None
    expires_at: float | None = None
    scopes: tuple[str, ...] = ()
    access: str | None = attrs.field(default=None, repr=False)

    def expired(self, now: float) -> bool:
        """True once *now* (Unix time) has reached `expires_at`."""
        return self.expires_at is not None and self.expires_at <= now

    def expires_in(self, now: float) -> int | None:
        """Whole seconds left at *now*, as a platform's ``expires_in``; ``None``: never expires."""
        return None if self.expires_at is None else int(self.expires_at - now)


@attrs.frozen
class TokenPair:
    """An access token and, where one was asked for, the refresh token issued with it.

    Example:
        >>> from govmedia.testing import FakeTokens
        >>> pair = FakeTokens(ttl=3600).issue("sasac", refresh=True)
        >>> pair.refresh is not None and pair.refresh.access == pair.access.value
        True
    """

    access: FakeToken
    refresh: FakeToken | None = None


class FakeTokens(Mapping[str, FakeToken]):
    """Access tokens by value (a read-only mapping), and refresh tokens (single-use by default).

    `access` checks a token a request carries and `refresh` spends a refresh
    token for a new pair; both raise `Refuse` with the platform's answer for
    the reason (``missing``, ``invalid``, ``expired``, ``scope``,
    ``refresh_invalid``, ``refresh_expired``, ``refresh_reused``) from the
    *refuse* hook. All methods are safe from several threads: of two
    concurrent refreshes with one refresh token, exactly one gets a pair.

    Args:
        ttl: seconds an access token lives (``None``: forever); may be changed later.
        refresh_ttl: seconds a refresh token lives (``None``: forever).
        rotation: ``"renew"``: a new refresh token gets a fresh `refresh_ttl`;
            ``"inherit"``: it expires when the spent one would have (Kuaishou);
            ``"none"``: no new refresh token, the one given stays valid and
            is used again (Google).
        revoke_on_refresh: a refresh also revokes the access token issued
            with the spent refresh token (by default both stay valid).
        refuse: the platform's answer per reason.
        clock: Unix time now (give a fake's clock to test expiry without waiting).

    Example:
        >>> from govmedia.testing import FakeTokens, Refuse
        >>> now = [1_700_000_000.0]
        >>> tokens = FakeTokens(ttl=7200, refresh_ttl=30 * 86400, clock=lambda: now[0])
        >>> first = tokens.issue("sasac", app_id="ks123", refresh=True)
        >>> tokens.access(first.access.value).subject
        'sasac'
        >>> second = tokens.refresh(first.refresh.value, app_id="ks123")
        >>> try:
        ...     tokens.refresh(first.refresh.value, app_id="ks123")  # spent: refused
        ... except Refuse as refusal:
        ...     refusal.response.json()
        {'error': 'the refresh token was already used'}
        >>> now[0] += 7200
        >>> try:
        ...     tokens.access(second.access.value)
        ... except Refuse as refusal:
        ...     refusal.response.json()
        {'error': 'the access token has expired'}
    """

    def __init__(
        self, *, ttl: float | None = 7200.0, refresh_ttl: float | None = None,
        rotation: Literal["renew", "inherit", "none"] = "renew", revoke_on_refresh: bool = False,
        refuse: Refusal = default_token_refusal, clock: Callable[[], float] = time.time,
    ) -> None:
        if rotation not in ("renew", "inherit", "none"):
            raise ValueError(f"rotation must be 'renew', 'inherit' or 'none', not {rotation!r}")
        self.ttl = ttl
        self.refresh_ttl = refresh_ttl
        self.rotation = rotation
        self.revoke_on_refresh = revoke_on_refresh
        self.refuse = refuse
        self.clock = clock
        self._access: dict[str, FakeToken] = {}
        self._refresh: dict[str, FakeToken] = {}
        self._spent: set[str] = set()
        self._lock = threading.Lock()

    # ----------------------------------------------------------- mapping of access tokens

    def __getitem__(self, value: str) -> FakeToken:
        return self._access[value]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._access))

    def __len__(self) -> int:
        return len(self._access)

    @property
    def refresh_tokens(self) -> dict[str, FakeToken]:
        """The refresh tokens not yet spent, by value (a copy)."""
        with self._lock:
            return dict(self._refresh)

    # ----------------------------------------------------------- issuing

    def issue(
        self, subject: str, *, app_id: str | None = None, scopes: tuple[str, ...] = (),
        refresh: bool = False, prefix: str = "",
    ) -> TokenPair:
        """A new access token for *subject* (and a refresh token with *refresh*).

        Args:
            subject: the account the token acts for.
            app_id: the app it is issued to.
            scopes: what it may do (checked by ``access(..., scope=)``).
            refresh: also issue a refresh token.
            prefix: put before the random part (``"stable-"``), to tell kinds apart.
        """
        with self._lock:
            expiry = None if self.refresh_ttl is None else self.clock() + self.refresh_ttl
            return self._issue(subject, app_id, scopes, prefix, refresh_expires=expiry if refresh else False)

    def _issue(
        self, subject: str, app_id: str | None, scopes: tuple[str, ...], prefix: str,
        refresh_expires: float | Literal[False] | None,
    ) -> TokenPair:
        now = self.clock()
        access = FakeToken(prefix + secrets.token_urlsafe(32), subject, app_id,
                           None if self.ttl is None else now + self.ttl, scopes)
        self._access[access.value] = access
        if refresh_expires is False:
            return TokenPair(access)
        renew = FakeToken(secrets.token_urlsafe(32), subject, app_id, refresh_expires, scopes,
                          access=access.value)
        self._refresh[renew.value] = renew
        return TokenPair(access, renew)

    # ----------------------------------------------------------- checking

    def access(self, value: str | None, *, scope: str | None = None) -> FakeToken:
        """The access token *value*, or `Refuse` (``missing``, ``invalid``, ``expired``, ``scope``)."""
        if not value:
            raise Refuse(self.refuse("missing"))
        with self._lock:
            token = self._access.get(value)
        if token is None:
            raise Refuse(self.refuse("invalid"))
        if token.expired(self.clock()):
            raise Refuse(self.refuse("expired"))
        if scope is not None and scope not in token.scopes:
            raise Refuse(self.refuse("scope"))
        return token

    def refresh(self, value: str | None, *, app_id: str | None = None) -> TokenPair:
        """Spend the refresh token *value* for a new pair; the old one is refused from then on.

        With ``rotation="none"`` the pair holds a new access token and the
        same refresh token, which stays valid.

        Args:
            value: the refresh token.
            app_id: the app asking; a token issued to another app is ``refresh_invalid``
                (and stays unspent).

        Raises:
            Refuse: ``refresh_invalid`` (unknown), ``refresh_reused`` (spent before),
                ``refresh_expired``.
        """
        with self._lock:
            old = self._refresh.get(value or "")
            if old is None:
                raise Refuse(self.refuse("refresh_reused" if value in self._spent else "refresh_invalid"))
            if app_id is not None and old.app_id != app_id:
                raise Refuse(self.refuse("refresh_invalid"))
            if old.expired(self.clock()):
                raise Refuse(self.refuse("refresh_expired"))
            if self.rotation == "none":
                if self.revoke_on_refresh and old.access:
                    self._access.pop(old.access, None)
                access = self._issue(old.subject, old.app_id, old.scopes, "", refresh_expires=False).access
                old.access = access.value
                return TokenPair(access, old)
            del self._refresh[old.value]
            self._spent.add(old.value)
            if self.revoke_on_refresh and old.access:
                self._access.pop(old.access, None)
            if self.rotation == "inherit":
                expiry = old.expires_at
            else:
                expiry = None if self.refresh_ttl is None else self.clock() + self.refresh_ttl
            return self._issue(old.subject, old.app_id, old.scopes, "", refresh_expires=expiry)

    # ----------------------------------------------------------- ending

    def revoke(self, value: str) -> None:
        """Forget the access or refresh token *value* (later uses are ``invalid``); unknown: nothing."""
        with self._lock:
            self._access.pop(value, None)
            self._refresh.pop(value, None)

    def expire(self, value: str | None = None) -> None:
        """Make the access token *value*, or every access token, expired as of now."""
        with self._lock:
            past = self.clock() - 1
            for token in [self._access[value]] if value is not None else self._access.values():
                token.expires_at = past
