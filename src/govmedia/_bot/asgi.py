"""`BotApp`: the bot as a plain ASGI 3 application, no framework underneath.

Routing is one dict lookup by path. The body is read up to ``max_body``
bytes and no further: a ``Content-Length`` over it is refused before a byte
is read, and a chunked body is cut off as soon as it passes it (413). Every
refusal is a short 4xx with nothing processed; its reason goes to the log at
INFO, never to the caller. Lifespan shutdown waits for replies still being
worked on (deferred WeChat replies, Telegram sends).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from govmedia._bot.endpoint import Answer, Endpoint, Request
from govmedia._bot.refusal import Refused
from govmedia.errors import ConfigError
from govmedia.model import Channel

if TYPE_CHECKING:
    from govmedia.bot import Bot

__all__ = ["BotApp"]

logger = logging.getLogger("govmedia")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_WORDS = {400: b"bad request", 403: b"forbidden", 404: b"not found", 405: b"method not allowed",
          413: b"payload too large", 500: b"internal error"}


def _endpoint(bot: Bot, channel: Channel) -> Endpoint:
    if channel.platform == "wechat_oa":
        from govmedia._bot.wechat import WeChatEndpoint

        return WeChatEndpoint(bot, channel)
    if channel.platform == "telegram":
        from govmedia._bot.telegram import TelegramEndpoint

        return TelegramEndpoint(bot, channel)
    if channel.platform == "matrix_chat":
        raise ConfigError(f"channel {channel.id}: Matrix has no webhooks; answer it with "
                          "bot.run(channel) (a /sync long-poll)")
    raise ConfigError(f"channel {channel.id}: the bot serves wechat_oa and telegram webhooks, "
                      f"not {channel.platform}")


class BotApp:
    """The ASGI application `Bot.asgi` makes: one webhook path per channel.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="wechat_oa", account="gh_sasac", credentials={
        ...     "app_id": "wx0123456789abcdef", "callback_token": "tok"})
        >>> gm.Bot().asgi({"/wechat": ch}).paths
        ('/wechat',)
    """

    def __init__(self, bot: Bot, routes: Mapping[str, Channel]) -> None:
        if not isinstance(routes, Mapping) or not routes:
            raise ConfigError("bot.asgi() takes a mapping of paths to channels, "
                              "e.g. {'/wechat': channel}")
        self.bot = bot
        self._routes: dict[str, Endpoint] = {}
        for path, channel in routes.items():
            if not isinstance(path, str) or not path.startswith("/"):
                raise ConfigError(f"bot.asgi(): a path starts with '/', got {path!r}")
            if not isinstance(channel, Channel):
                raise ConfigError(f"bot.asgi(): {path} must map to a gm.Channel, got {channel!r}")
            self._routes[path.rstrip("/") or "/"] = _endpoint(bot, channel)

    @property
    def paths(self) -> tuple[str, ...]:
        """The webhook paths served."""
        return tuple(self._routes)

    def __repr__(self) -> str:
        routes = ", ".join(f"{p}: {e.channel.id}" for p, e in self._routes.items())
        return f"BotApp({{{routes}}})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.bot.drain()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        endpoint = self._routes.get(path) or self._routes.get(path.rstrip("/") or "/")
        try:
            if endpoint is None:
                raise Refused(404, "no bot at this path")  # noqa: TRY301 - one exit for every refusal
            method: str = scope["method"]
            if method not in endpoint.methods:
                raise Refused(405, f"{method} is not served here")  # noqa: TRY301
            headers = dict(scope.get("headers") or ())
            body = await self._body(headers, receive)
            if body is None:
                return  # the client went away
            raw_query: bytes = scope.get("query_string") or b""
            try:
                query = dict(parse_qsl(raw_query.decode("latin-1"), max_num_fields=64))
            except ValueError:
                raise Refused(400, "malformed query string") from None
            answer = await endpoint.handle(Request(method, query, headers, body))
        except Refused as refused:
            client = scope.get("client")
            logger.info("govmedia bot: refused %s %s from %s: %s (%d)", scope.get("method"), path,
                        client[0] if client else "?", refused.reason, refused.status)
            answer = Answer(refused.status, _WORDS.get(refused.status, b"refused"))
        except Exception:
            logger.exception("govmedia bot: error handling %s %s", scope.get("method"), path)
            answer = Answer(500, _WORDS[500])
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [(b"content-type", answer.content_type),
                                (b"content-length", str(len(answer.body)).encode())]})
        await send({"type": "http.response.body", "body": answer.body})

    async def _body(self, headers: Mapping[bytes, bytes], receive: Receive) -> bytes | None:
        limit = self.bot.max_body
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                raise Refused(400, "bad Content-Length") from None
            if size > limit:
                raise Refused(413, f"Content-Length {size} over max_body")
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            if chunk:
                total += len(chunk)
                if total > limit:
                    raise Refused(413, "body over max_body")
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
