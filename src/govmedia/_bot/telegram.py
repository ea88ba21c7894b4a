"""The Telegram webhook: the secret-token header, one run per ``update_id``, replies by the Bot API.

Facts: shared/platforms/telegram.md and core.telegram.org/bots/api#setwebhook
(``secret_token``: 1-256 characters ``A-Z a-z 0-9 _ -``, sent back in the
``X-Telegram-Bot-Api-Secret-Token`` header). The webhook answers 200 as soon
as the update is verified and claimed; the skill runs afterwards and its
reply goes out with ``sendMessage`` (``sendPhoto`` for an image) through the
publishing pipeline. Telegram redelivers an unanswered update for about a
day, so updates are not aged; a repeated ``update_id`` runs nothing.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from govmedia._bot.endpoint import OK_EMPTY, Answer, Endpoint, Request, timestamp
from govmedia._bot.outbound import telegram_reply
from govmedia._bot.refusal import Refused
from govmedia.errors import ConfigError, GovMediaError

if TYPE_CHECKING:
    from govmedia.bot import Bot
    from govmedia.model import Channel

__all__ = ["TelegramEndpoint", "parse_json"]

logger = logging.getLogger("govmedia")

_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
_HEADER = b"x-telegram-bot-api-secret-token"
# What a message carries besides text, in the words Inbound.kind uses.
_KINDS = (("photo", "image"), ("voice", "voice"), ("video", "video"), ("video_note", "video"),
          ("audio", "audio"), ("document", "file"), ("sticker", "sticker"),
          ("location", "location"), ("contact", "contact"), ("poll", "poll"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> Any:
    """*body* as strict JSON (no NaN or Infinity); `Refused` (400) for anything else.

    Example:
        >>> parse_json(b'{"update_id": 1}')
        {'update_id': 1}
        >>> parse_json(b'[' * 100_000)
        Traceback (most recent call last):
        ...
        govmedia._bot.refusal.Refused: malformed JSON
    """
    try:
        return json.loads(body, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError too
        raise Refused(400, "malformed JSON") from None


class TelegramEndpoint(Endpoint):
    """One ``telegram`` channel's webhook."""

    platform: ClassVar[str] = "telegram"

    def __init__(self, bot: Bot, channel: Channel) -> None:
        super().__init__(bot, channel)
        credentials = channel.credentials
        missing = [k for k in ("bot_token", "webhook_secret") if not credentials.get(k)]
        if missing:
            raise ConfigError(f"channel {channel.id}: a Telegram webhook needs the credential(s) "
                              f"{', '.join(missing)} (webhook_secret: the secret_token given to "
                              "setWebhook)")
        secret = credentials["webhook_secret"]
        if not _SECRET.fullmatch(secret):
            raise ConfigError(f"channel {channel.id}: webhook_secret must be 1-256 characters "
                              "A-Z, a-z, 0-9, _ and - (what Telegram accepts as secret_token)")
        self._secret = secret.encode()
        # Replies name their chat in the body; a bot-only channel has no chat_id
        # of its own, and the platform's options want one.
        self.reply_channel = channel if channel.options.get("chat_id") else attrs.evolve(
            channel, options={**channel.options, "chat_id": "0"})

    async def handle(self, request: Request) -> Answer:
        """Check the secret, claim the update, answer 200; the skill runs afterwards."""
        given = request.headers.get(_HEADER, b"")
        if not hmac.compare_digest(given, self._secret):
            raise Refused(403, "bad or missing secret token")
        update = parse_json(request.body)
        if not isinstance(update, dict):
            raise Refused(400, "an update is a JSON object")
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            raise Refused(400, "an update without update_id")
        message = update.get("message")
        sender = message.get("from") if isinstance(message, dict) else None
        chat = message.get("chat") if isinstance(message, dict) else None
        if not (isinstance(message, dict) and isinstance(sender, dict) and isinstance(chat, dict)
                and isinstance(sender.get("id"), int) and isinstance(chat.get("id"), int)
                and not sender.get("is_bot")):
            return OK_EMPTY  # an update the bot does not answer (edits, joins, other bots)
        text = message.get("text")
        if not isinstance(text, str):
            caption = message.get("caption")
            text = caption if isinstance(caption, str) else ""
        kind = "text" if "text" in message else next(
            (word for key, word in _KINDS if key in message), "other")
        entry, msg = await self.take(user=str(sender["id"]), message_id=str(update_id), kind=kind,
                                     text=text, at=timestamp(message.get("date")), raw=message)
        if msg is not None:
            entry.deferred = True
            self.bot.spawn(self._work(msg, chat["id"]))
        return OK_EMPTY

    async def _work(self, msg: Any, chat_id: int) -> None:
        skill, reply = await self.run(msg)
        if reply is None:
            self.finished(msg, skill=skill, outcome="no_reply", reply=None)
            return
        outbound = self.bot.outbound
        channel = self.reply_channel
        try:
            await outbound.run(channel, telegram_reply(outbound.platform(channel), channel, chat_id,
                                                       reply))
        except GovMediaError as exc:
            logger.error("govmedia bot: the reply of skill %s to update %s on %s failed: %s",  # noqa: TRY400
                         skill, msg.message_id, self.channel.id, exc)
            self.finished(msg, skill=skill, outcome="failed", reply=reply)
            return
        self.finished(msg, skill=skill, outcome="sent", reply=reply)
