"""`Inbound` and `Reply`: what a skill receives and may answer (re-exported by `govmedia.bot`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from govmedia.errors import ConfigError
from govmedia.model import Channel

__all__ = ["Inbound", "Reply"]


def _articles(value: Iterable[Iterable[str]]) -> tuple[tuple[str, str, str, str], ...]:
    out = []
    for item in value:
        article = tuple(item)
        if len(article) != 4 or not all(isinstance(part, str) for part in article):
            raise ConfigError("Reply articles are (title, description, url, picurl) tuples of "
                              f"four strings, got {article!r}")
        out.append((article[0], article[1], article[2], article[3]))
    return tuple(out)


@attrs.frozen
class Reply:
    """What a skill answers beyond plain text: an image or articles (news).

    Args:
        text: the text (a caption with an image, where the platform has them).
        image: a WeChat ``media_id``, or a Telegram ``file_id`` or URL.
        articles: ``(title, description, url, picurl)`` tuples (WeChat news;
            elsewhere sent as text with the links).

    Example:
        >>> import govmedia as gm
        >>> gm.Reply("回复“天气 北京”查询天气")
        Reply(text='回复“天气 北京”查询天气', image=None, articles=())
        >>> gm.Reply()
        Traceback (most recent call last):
        ...
        govmedia.errors.ConfigError: a Reply needs text, an image or articles
    """

    text: str | None = attrs.field(default=None)
    image: str | None = attrs.field(default=None, kw_only=True)
    articles: tuple[tuple[str, str, str, str], ...] = attrs.field(
        default=(), kw_only=True, converter=_articles)

    def __attrs_post_init__(self) -> None:
        if self.text is not None and not isinstance(self.text, str):
            raise ConfigError(f"Reply text must be a str, got {type(self.text).__name__}")
        if self.image is not None and (not isinstance(self.image, str) or not self.image):
            raise ConfigError("Reply image must be a non-empty str (a media_id, file_id or URL)")
        if not (self.text or self.image or self.articles):
            raise ConfigError("a Reply needs text, an image or articles")

    def as_text(self) -> str:
        """The reply as one text, for platforms that take nothing else (articles as links).

        Example:
            >>> import govmedia as gm
            >>> news = [("一带一路看国企", "", "https://example.org/1", "")]
            >>> print(gm.Reply("今日推荐", articles=news).as_text())
            今日推荐
            一带一路看国企 https://example.org/1
        """
        lines = [self.text] if self.text else []
        lines.extend(f"{title} {url}".strip() for title, _, url, _ in self.articles)
        return "\n".join(lines)


@attrs.frozen(kw_only=True, eq=False)
class Inbound:
    """One message from a follower, as every skill receives it.

    Attributes:
        channel: the channel it came in on.
        user: the sender's id there (WeChat OpenID; Telegram user id as
            ``str``; Matrix user id).
        text: the text (``""`` when there is none: an image, an event).
        kind: ``text``, ``image``, ``voice``, ``video``, ``location``,
            ``link``, ``event``, ... (WeChat's ``MsgType``; the same words
            for Telegram and Matrix).
        message_id: the platform's id of the message (``str``).
        at: when it was sent (timezone-aware).
        raw: the parsed payload (WeChat: the flat dict of the ``<xml>``
            children; Telegram: the ``message`` object; Matrix: the event).
        state: a dict kept per ``(channel, user)`` across that user's
            messages (in memory; in the journal when the bot has one).

    Example:
        >>> import datetime as dt, govmedia as gm
        >>> ch = gm.Channel(platform="telegram", account="@sasac_bot",
        ...                 credentials={"bot_token": "1:x", "webhook_secret": "s"})
        >>> msg = gm.Inbound(channel=ch, user="42", text="天气 北京", kind="text", message_id="7",
        ...                  at=dt.datetime(2026, 12, 7, tzinfo=dt.UTC), raw={}, state={})
        >>> msg
        Inbound(channel=telegram:@sasac_bot, user='42', kind='text', message_id='7', text='天气 北京')
    """

    channel: Channel
    user: str
    text: str
    kind: str
    message_id: str
    at: dt.datetime
    raw: Mapping[str, Any] = attrs.field(factory=dict)
    state: dict[str, Any] = attrs.field(factory=dict)

    def __repr__(self) -> str:
        text = self.text if len(self.text) <= 40 else self.text[:39] + "…"
        return (f"Inbound(channel={self.channel.id}, user={self.user!r}, kind={self.kind!r}, "
                f"message_id={self.message_id!r}, text={text!r})")
