"""What every inbound endpoint shares: the answer type, and a message's way through the bot.

Once a request is verified and parsed, `Endpoint.take` claims its message id
(a repeat runs nothing), checks the user's limit, gives the skill its
`Inbound` with the user's state, and records the outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from govmedia.model import Channel

if TYPE_CHECKING:
    from govmedia._bot.model import Inbound
    from govmedia._bot.store import Handled
    from govmedia.bot import Bot

__all__ = ["Answer", "Endpoint", "Request"]

logger = logging.getLogger("govmedia")


class Request:
    """A verified-size HTTP request as an endpoint sees it."""

    __slots__ = ("body", "headers", "method", "query")

    def __init__(self, method: str, query: Mapping[str, str], headers: Mapping[bytes, bytes],
                 body: bytes) -> None:
        self.method = method
        self.query = query
        self.headers = headers
        self.body = body


class Answer:
    """The HTTP answer: status, content type and body."""

    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, body: bytes = b"",
                 content_type: bytes = b"text/plain; charset=utf-8") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type


OK_EMPTY = Answer(200)


class Endpoint:
    """The base of the WeChat and Telegram endpoints."""

    platform: ClassVar[str] = ""
    methods: ClassVar[tuple[str, ...]] = ("POST",)

    def __init__(self, bot: Bot, channel: Channel) -> None:
        self.bot = bot
        self.channel = channel

    async def handle(self, request: Request) -> Answer:
        """Verify, parse and answer one request (`Refused` for a 4xx)."""
        raise NotImplementedError

    async def take(self, *, user: str, message_id: str, kind: str, text: str, at: dt.datetime,
                   raw: Mapping[str, Any]) -> tuple[Handled, Inbound | None]:
        """Claim the message: ``(entry, Inbound)`` to run; ``(entry, None)``: a repeat, or over the limit."""
        from govmedia._bot.model import Inbound

        bot, channel = self.bot, self.channel
        store = bot.store
        entry, first = await store.claim(channel.platform, channel.account, message_id, user=user,
                                         kind=kind, text=text)
        if not first:
            return entry, None
        if not store.allow(channel.id, user):
            logger.info("govmedia bot: %s is over the per-user limit on %s; message %s not answered",
                        user, channel.id, message_id)
            entry.deferred = True
            entry.finish(None)
            store.finished(channel.platform, channel.account, message_id, skill=None,
                           outcome="limited", reply=None)
            return entry, None
        state = await store.state(channel.platform, channel.account, user)
        msg = Inbound(channel=channel, user=user, text=text, kind=kind, message_id=message_id, at=at,
                      raw=raw, state=state)
        return entry, msg

    async def run(self, msg: Inbound) -> tuple[str | None, Any]:
        """The skill's name and reply; the user's state saved afterwards."""
        skill, reply = await self.bot._run_skill(msg)  # noqa: SLF001 - the bot's own helper
        self.bot.store.save_state(self.channel.platform, self.channel.account, msg.user, msg.state)
        return skill, reply

    def finished(self, msg: Inbound, *, skill: str | None, outcome: str, reply: Any) -> None:
        """Record the outcome of *msg* (journal)."""
        self.bot.store.finished(self.channel.platform, self.channel.account, msg.message_id,
                                skill=skill, outcome=outcome, reply=reply)


def timestamp(value: Any) -> dt.datetime:
    """A Unix time as an aware datetime (now, for a value that is not one)."""
    try:
        return dt.datetime.fromtimestamp(int(value), dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return dt.datetime.now(dt.UTC)
