"""Replies that leave as requests of their own, through the publishing pipeline.

A WeChat reply later than ``reply_within`` (customer-service message), a
Telegram reply (``sendMessage``/``sendPhoto``), a Matrix reply and the
``/sync`` long-poll are platform flows run by an `AsyncClient`'s pipeline:
the same token cache (WeChat's ``stable_token``), retries, rate limits,
response caps and secret masking as publishing. Nothing here opens a
connection of its own.

The one seam with the client's private engine is `Outbound.run`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from govmedia.client import AsyncClient
from govmedia.model import Channel
from govmedia.platforms.base import BasePlatform
from govmedia.platforms.steps import Flow
from govmedia.policy.ratelimit import RateLimit
from govmedia.policy.retry import RetryPolicy

if TYPE_CHECKING:
    from govmedia._bot.model import Reply

__all__ = ["REPLY_RATE_LIMITS", "Outbound", "matrix_reply", "telegram_reply", "wechat_custom"]

T = TypeVar("T")

REPLY_RATE_LIMITS: Mapping[str, RateLimit] = {
    # Answers go to many private chats: the bot's ~30 messages/s (Bot FAQ),
    # not the 20/min a channel post is held to.
    "telegram:*": RateLimit(30),
}


class Outbound:
    """An `AsyncClient` made on one event loop, running reply flows through its pipeline."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, http: httpx.AsyncClient | None,
                 retry: RetryPolicy | None, rate_limits: Mapping[str, RateLimit] | None,
                 timeout: float | httpx.Timeout | None) -> None:
        self.loop = loop
        limits = {**REPLY_RATE_LIMITS, **(rate_limits or {})}
        self.client = AsyncClient(http=http, journal=False, retry=retry, rate_limits=limits,
                                  timeout=timeout)

    def platform(self, channel: Channel) -> BasePlatform:
        """The client's instance of *channel*'s platform (its default rate limits applied)."""
        return self.client._preparer.platform_named(channel.platform)  # noqa: SLF001 - see module docs

    async def run(self, channel: Channel, flow: Flow[T]) -> T:
        """Drive *flow* for *channel* through the client's pipeline and return its result."""
        client = self.client
        platform = self.platform(channel)
        ops = client._pipeline.run_flow(platform, channel, flow)  # noqa: SLF001
        if client._http_client is None:  # noqa: SLF001
            client._ready_sender()  # noqa: SLF001 - aiohttp opened before a rate token is taken
        result: T = await client._engine.drive(ops)  # noqa: SLF001
        return result

    async def aclose(self) -> None:
        """Close the client's own sender (a client passed in stays the user's)."""
        await self.client.aclose()


def wechat_custom(platform: BasePlatform, channel: Channel, user: str, reply: Reply) -> Flow[Any]:
    """``POST /cgi-bin/message/custom/send`` of *reply* to *user* (an OpenID).

    Shapes after wechatpy's ``client/api/message.py`` (``send_text``,
    ``send_image``, ``send_articles``); not in the fact sheet, so unverified
    here beyond that. Not idempotent: a lost answer is `DeliveryUnknown`,
    never resent.
    """
    body: dict[str, Any] = {"touser": user}
    if reply.articles:
        body.update(msgtype="news", news={"articles": [
            {"title": t, "description": d, "url": u, "picurl": p} for t, d, u, p in reply.articles]})
    elif reply.image is not None:
        body.update(msgtype="image", image={"media_id": reply.image})
    else:
        body.update(msgtype="text", text={"content": reply.text or ""})
    answer = yield from platform.call(channel, "POST", "/cgi-bin/message/custom/send", json=body,
                                      creates=True)
    return answer


def telegram_reply(platform: BasePlatform, channel: Channel, chat_id: int | str, reply: Reply,
                   reply_to: int | None = None) -> Flow[Any]:
    """``sendMessage`` (or ``sendPhoto`` with the text as caption) to *chat_id*."""
    body: dict[str, Any] = {"chat_id": chat_id}
    if reply_to is not None:
        body["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    if reply.image is not None:
        body["photo"] = reply.image
        if reply.as_text():
            body["caption"] = reply.as_text()
        method = "/sendPhoto"
    else:
        body["text"] = reply.as_text()
        method = "/sendMessage"
    answer = yield from platform.call(channel, "POST", method, json=body, creates=True)
    return answer


def matrix_reply(platform: BasePlatform, channel: Channel, room_id: str, txn: str, reply: Reply) -> Flow[Any]:
    """An ``m.notice`` in *room_id* under *txn* (the homeserver deduplicates: resent safely)."""
    from urllib.parse import quote

    path = (f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/m.room.message/"
            f"{quote(txn, safe='')}")
    content = {"msgtype": "m.notice", "body": reply.as_text() or reply.image or ""}
    answer = yield from platform.call(channel, "PUT", path, json=content, safe=True, creates=True,
                                      expect=("event_id",))
    return answer
