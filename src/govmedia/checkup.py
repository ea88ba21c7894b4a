"""Before a campaign: `Health` of each channel (`Client.verify`) and `Rendered` previews (`Client.render`).

`verify` makes one cheap authenticated call per channel (a token fetch, a
``verify_credentials``) under the client's rate limits, and says what is
wrong in words an operator can act on: an expired token, a missing
permission, a server not on the IP whitelist. `render` shows exactly what
`publish` would send, with the problems `check` finds, and sends nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from govmedia._pipeline import GetToken, Ops, Pipeline, Track
from govmedia._prepare import Preparer
from govmedia._secrets import mask
from govmedia.errors import AuthError, ConfigError, GovMediaError, PlatformError, RateLimited
from govmedia.model import Channel, Post, Problem
from govmedia.platforms.auth import FetchedToken
from govmedia.platforms.base import BasePlatform
from govmedia.tokens import TokenStore

__all__ = ["Health", "Rendered"]


@attrs.frozen(kw_only=True)
class Health:
    """Whether a channel can publish now, found without posting.

    Attributes:
        channel: the channel checked.
        ok: it can publish (as far as a check without posting can tell).
        problem: what is wrong, in words an operator can act on; ``None``
            when ok.
        expires_at: when its credential stops working (aware datetime), where
            known; ``None`` otherwise.
        checked: a request was made. ``False`` for a channel that cannot be
            checked without posting (a webhook): ``ok`` then only says its
            settings are well-formed.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import Sandbox
        >>> sandbox = Sandbox(platforms=["mastodon", "webhook"])
        >>> with gm.Client(http=sandbox.client(), journal=False) as client:
        ...     health = client.verify([sandbox.channel("mastodon", "m0"),
        ...                             sandbox.channel("webhook", "cms")])
        >>> [(h.channel.platform, h.ok, h.checked) for h in health]
        [('mastodon', True, True), ('webhook', True, False)]
    """

    channel: Channel
    ok: bool
    problem: str | None = None
    expires_at: dt.datetime | None = None
    checked: bool = True

    def __str__(self) -> str:
        state = "ok" if self.ok else "PROBLEM"
        tail = self.problem or ("" if self.checked else "not checked: no check without posting is known here")
        when = f" (expires {self.expires_at:%Y-%m-%d %H:%M %Z})" if self.expires_at else ""
        return f"{state:<8} {self.channel.id}{when}  {tail}".rstrip()


@attrs.frozen(kw_only=True)
class Rendered:
    """Exactly what `publish` would send to a channel, with the problems `check` finds.

    Attributes:
        channel: the channel.
        fields: the platform's fields as they would be sent (media by their
            source: nothing is uploaded for a preview).
        text: the text as the platform would get it (link appended, tags
            written its way), or ``None``.
        html: the body as HTML, sanitized as sent, or ``None``.
        problems: what `check` finds; a preview with problems would be refused.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="mastodon", account="m0",
        ...                 options={"base_url": "https://mastodon.example"},
        ...                 credentials={"access_token": "tok-123456"})
        >>> shown = gm.Client(journal=False).render(gm.Post(text="央企招聘", tags=("国资",)), ch)
        >>> print(shown.text)
        央企招聘
        <BLANKLINE>
        #国资
        >>> shown.problems
        ()
    """

    channel: Channel
    fields: Mapping[str, Any] = attrs.field(factory=dict)
    text: str | None = None
    html: str | None = None
    problems: tuple[Problem, ...] = ()

    @property
    def ok(self) -> bool:
        """True when `check` finds nothing: `publish` would send this."""
        return not self.problems


def render(preparer: Preparer, post: Post, channel: Channel) -> Rendered:
    """The preview of *post* on *channel* (variants, script and fit applied)."""
    if not isinstance(post, Post):
        raise ConfigError(f"expected a gm.Post, got {type(post).__name__}")
    prepared = preparer.prepare(post, channel)
    shown = prepared.platform.render(prepared.post, channel)
    return Rendered(channel=channel, fields=dict(shown.fields), text=shown.text, html=shown.html,
                    problems=tuple(prepared.problems))


def health_ops(pipeline: Pipeline, tokens: TokenStore, platform: BasePlatform,
               channel: Channel) -> Ops[Health]:
    """The ops of one channel's check; ends with its `Health` (never raises a GovMediaError)."""
    fetched = False
    try:
        if isinstance(platform.auth, FetchedToken):
            # The app credentials themselves (WeChat's secret and IP whitelist).
            yield GetToken(platform, channel)
            fetched = True
        found = yield from pipeline.run_flow(platform, channel, platform.health(channel),
                                             track=Track())
    except GovMediaError as exc:
        return Health(channel=channel, ok=False, problem=_words(exc, platform))
    expires = found.expires_at if found is not None else None
    if expires is None:
        expires = _token_expiry(tokens, platform, channel)
    return Health(channel=channel, ok=True, expires_at=expires,
                  checked=found is not None or fetched)


def _token_expiry(tokens: TokenStore, platform: BasePlatform, channel: Channel) -> dt.datetime | None:
    """When the operator must act: a refresh token's end, else a token that cannot be renewed."""
    if not platform.uses_token or isinstance(platform.auth, FetchedToken):
        return None  # fetched again from the app credentials whenever needed
    token = tokens.get((platform.name, platform.token_scope(channel)))
    if token is None:
        return None
    when = token.refresh_expires_at if platform.capabilities.refresh else token.expires_at
    return None if when is None else dt.datetime.fromtimestamp(when, dt.UTC)


def _words(exc: GovMediaError, platform: BasePlatform) -> str:
    """An error as an operator reads it: what is wrong, then what to do."""
    if isinstance(exc, AuthError):
        lead = "the credentials were refused"
    elif isinstance(exc, RateLimited):
        lead = "rate-limited now (the account itself may be fine)"
    elif isinstance(exc, PlatformError) and exc.code is not None:
        lead = f"{platform.name} refused ({exc.code})"
    else:
        lead = "could not be checked"
    message = mask(getattr(exc, "message", None) or str(exc))
    hint = getattr(exc, "hint", None)
    return f"{lead}: {message}" + (f". {mask(hint)}" if hint and hint not in message else "")
