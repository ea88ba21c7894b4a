"""Declared auth: how a platform's requests carry the channel's credentials.

A platform names one of these as its ``auth`` and the base class does the rest:
fetching a token (once per scope, shared by the channels of one app), putting
it where the platform wants it, renewing it when refused, and never sending it
to any host but the platform's own (a media download from elsewhere gets no
credentials).

- `NoAuth`: nothing to add (a public receiver; a platform that signs each
  request itself overrides ``authorize``).
- `StaticToken`: a token from the credentials, in a header or the query; with
  ``refresh=True`` it is renewed with the refresh token through the platform's
  ``refresh_request``/``token_from`` (a rotated refresh token replaces the old
  one in the client's token store, spent once however many callers wait).
- `FetchedToken`: a token the platform hands out for the credentials (WeChat's
  ``stable_token``, a session login), fetched with ``token_request`` and
  ``token_from``, cached per ``scope`` (an app id, say).
- `Basic`: HTTP Basic with two credentials (WordPress application passwords).
- `Signed`: another of these, then a signature made afresh for every attempt
  (a timestamp and a nonce: Bilibili's HMAC headers, OAuth 1.0a).

Example:
    >>> from govmedia.platforms.auth import Header, StaticToken
    >>> StaticToken("access_token", Header("Authorization", "Bearer {}")).uses_token
    False
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from govmedia.model import Channel
from govmedia.tokens import Token

if TYPE_CHECKING:
    from govmedia.platforms.base import BasePlatform

__all__ = ["Auth", "Basic", "FetchedToken", "Header", "NoAuth", "Query", "Signed", "StaticToken"]

TokenFlow = Generator[Any, httpx.Response, Token]


@attrs.frozen
class Header:
    """Put the token in header *name*, formatted by *template* (``"Bearer {}"``)."""

    name: str = "Authorization"
    template: str = "Bearer {}"

    def apply(self, request: httpx.Request, value: str) -> httpx.Request:
        """Set the header on *request*."""
        request.headers[self.name] = self.template.format(value)
        return request


@attrs.frozen
class Query:
    """Put the token in query parameter *name* (masked in every log line)."""

    name: str = "access_token"

    def apply(self, request: httpx.Request, value: str) -> httpx.Request:
        """Set the query parameter on *request*."""
        request.url = request.url.copy_set_param(self.name, value)
        return request


Place = Header | Query


class Auth:
    """The base of the auth declarations; see the module docs."""

    uses_token: bool = False
    """Requests need a token from the client's token store (``authenticate``)."""
    refreshes: bool = False
    """A refused token is renewed once and the request sent again."""
    renew_hint: str | None = None
    """What the user should do when renewing a token was refused (``None``: the
    OAuth advice, authorise the account again in the browser)."""

    def authenticate(self, platform: BasePlatform, channel: Channel) -> TokenFlow:
        """The first token of a scope."""
        yield from ()
        raise NotImplementedError

    def refresh(self, platform: BasePlatform, channel: Channel, token: Token) -> TokenFlow:
        """A new token for one the platform refused (or that expired)."""
        renewed = yield from self.authenticate(platform, channel)
        return renewed

    def authorize(self, platform: BasePlatform, request: httpx.Request, channel: Channel,
                  token: Token | None) -> httpx.Request:
        """Apply the credentials to one attempt (never called for another host's request)."""
        return request

    def scope(self, platform: BasePlatform, channel: Channel) -> str:
        """Tokens are kept per channel unless the declaration says otherwise."""
        return channel.id


class NoAuth(Auth):
    """Requests carry nothing (or the platform signs them in its own ``authorize``)."""

    def __repr__(self) -> str:
        return "NoAuth()"


class StaticToken(Auth):
    """A token from the channel's credentials, in a header or the query.

    Args:
        credential: the credential holding the access token.
        place: `Header` or `Query`.
        refresh: renew a refused token with the credential ``refresh_token``
            (and the token store's newer one once rotated), through the
            platform's ``refresh_request`` and ``token_from``.
        scope_credential: tokens are kept per this credential's value (an
            app id) instead of per channel.
    """

    def __init__(self, credential: str = "access_token", place: Place | None = None, *,
                 refresh: bool = False, scope_credential: str | None = None) -> None:
        self.credential = credential
        self.place = place or Header()
        self.refreshes = refresh
        # A token that is never renewed is read from the credentials on each
        # attempt: no token store lookup on the hot path.
        self.uses_token = refresh
        self.scope_credential = scope_credential

    def __repr__(self) -> str:
        return f"StaticToken({self.credential!r}, {self.place!r}, refresh={self.refreshes})"

    def authenticate(self, platform: BasePlatform, channel: Channel) -> TokenFlow:
        """The token as the credentials hold it (with their refresh token)."""
        yield from ()  # no request: the credentials hold it
        return Token(value=channel.credentials[self.credential],
                     refresh_token=channel.credentials.get("refresh_token") or None)

    def refresh(self, platform: BasePlatform, channel: Channel, token: Token) -> TokenFlow:
        """Trade the refresh token for a new pair."""
        response = yield platform.refresh_request(channel, token)
        return platform.token_from(response, channel, previous=token)

    def authorize(self, platform: BasePlatform, request: httpx.Request, channel: Channel,
                  token: Token | None) -> httpx.Request:
        """The stored token, or the credential when tokens are never renewed."""
        value = token.value if token is not None else channel.credentials[self.credential]
        return self.place.apply(request, value)

    def scope(self, platform: BasePlatform, channel: Channel) -> str:
        """Per app where tokens are shared, else per channel."""
        if self.scope_credential:
            return channel.credentials[self.scope_credential]
        return channel.id


class FetchedToken(Auth):
    """A token the platform hands out for the credentials, kept per *scope_credential*.

    The platform builds the request with ``token_request(channel, previous)``
    and reads the answer with ``token_from(response, channel, previous)``.
    *renew_hint* replaces the OAuth advice on a refused renewal where the
    platform signs in again by itself (a Bluesky app password, say).
    """

    uses_token = True
    refreshes = True

    def __init__(self, place: Place | None = None, *, scope_credential: str | None = None,
                 renew_hint: str | None = None) -> None:
        self.place = place or Header()
        self.scope_credential = scope_credential
        self.renew_hint = renew_hint

    def __repr__(self) -> str:
        return f"FetchedToken({self.place!r}, scope_credential={self.scope_credential!r})"

    def authenticate(self, platform: BasePlatform, channel: Channel) -> TokenFlow:
        """Fetch a token for the credentials."""
        response = yield platform.token_request(channel, None)
        return platform.token_from(response, channel, previous=None)

    def refresh(self, platform: BasePlatform, channel: Channel, token: Token) -> TokenFlow:
        """Fetch again (the platform may use *token*'s refresh token)."""
        response = yield platform.token_request(channel, token)
        return platform.token_from(response, channel, previous=token)

    def authorize(self, platform: BasePlatform, request: httpx.Request, channel: Channel,
                  token: Token | None) -> httpx.Request:
        """Put the token where the platform wants it."""
        if token is None:
            return request
        return self.place.apply(request, token.value)

    def scope(self, platform: BasePlatform, channel: Channel) -> str:
        """Per app where the declaration names its credential, else per channel."""
        if self.scope_credential:
            return channel.credentials[self.scope_credential]
        return channel.id


class Basic(Auth):
    """HTTP Basic auth from two credentials."""

    def __init__(self, username: str = "username",
                 password: str = "password") -> None:  # noqa: S107 - credential names, not values
        self.username = username
        self.password = password

    def __repr__(self) -> str:
        return f"Basic({self.username!r}, {self.password!r})"

    def authorize(self, platform: BasePlatform, request: httpx.Request, channel: Channel,
                  token: Token | None) -> httpx.Request:
        """``Authorization: Basic base64(user:password)``."""
        pair = f"{channel.credentials[self.username]}:{channel.credentials[self.password]}"
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        return request


Signer = Callable[["BasePlatform", httpx.Request, Channel], httpx.Request]
"""``sign(platform, request, channel) -> request``: adds a signature to one attempt."""


class Signed(Auth):
    """Another auth's credentials, then a signature made afresh for every attempt.

    Platforms that sign each request with a timestamp and a nonce (Bilibili's
    HMAC-SHA256 over its ``x-bili-*`` headers, OAuth 1.0a) must sign each
    attempt anew: a retry that carried the first attempt's nonce would be
    refused as a replay, and an old timestamp as stale. The pipeline applies
    credentials to a fresh copy of the request on every attempt, and this
    declaration puts the signature there: after *inner* has added the token,
    and only on the platform's own hosts (never on a media download).
    Tokens (first fetch, refresh, scope) are *inner*'s.

    Args:
        inner: how requests carry the token (`StaticToken`, `FetchedToken`,
            ...), or `NoAuth` for none.
        sign: ``sign(platform, request, channel) -> request``: reads the
            request as it will be sent (its body is read by then) and adds
            the signature; a request it leaves alone goes out unsigned.

    Example:
        >>> import itertools
        >>> import httpx
        >>> from govmedia.platforms.auth import Header, Signed, StaticToken
        >>> nonces = itertools.count(1)
        >>> def sign(platform, request, channel):
        ...     request.headers["X-Nonce"] = str(next(nonces))
        ...     return request
        >>> auth = Signed(StaticToken("access_token", Header("access-token", "{}"), refresh=True), sign)
        >>> auth.uses_token, auth.refreshes
        (True, True)
    """

    def __init__(self, inner: Auth, sign: Signer) -> None:
        self.inner = inner
        self.sign = sign
        self.uses_token = inner.uses_token
        self.refreshes = inner.refreshes
        self.renew_hint = inner.renew_hint

    def __repr__(self) -> str:
        return f"Signed({self.inner!r})"

    def authenticate(self, platform: BasePlatform, channel: Channel) -> TokenFlow:
        """The inner auth's first token."""
        token = yield from self.inner.authenticate(platform, channel)
        return token

    def refresh(self, platform: BasePlatform, channel: Channel, token: Token) -> TokenFlow:
        """The inner auth's renewal."""
        renewed = yield from self.inner.refresh(platform, channel, token)
        return renewed

    def authorize(self, platform: BasePlatform, request: httpx.Request, channel: Channel,
                  token: Token | None) -> httpx.Request:
        """The inner auth's credentials, then this attempt's signature."""
        return self.sign(platform, self.inner.authorize(platform, request, channel, token), channel)

    def scope(self, platform: BasePlatform, channel: Channel) -> str:
        """The inner auth's token scope."""
        return self.inner.scope(platform, channel)
