"""The WeChat Official Account callback: URL check, plain and safe mode, passive replies.

Facts: shared/platforms/wechat_oa.md ("Callback signature & AES"). Order of
checks on a POST, each refusing with nothing processed: the query's
``timestamp`` within ``max_age``; in plain mode ``signature`` over token,
timestamp and nonce, and a signature seen before with another body refused
(plain mode signs no body, so a captured URL cannot carry a forged one within
``max_age``); in safe mode the envelope parsed, ``msg_signature`` over the
``Encrypt`` too, then the ciphertext's padding, length and appid. A channel
with ``encoding_aes_key`` takes only encrypted callbacks (no downgrade to
plain mode). Only then is the message parsed and claimed by its ``MsgId``
(events: ``FromUserName``, ``CreateTime`` and ``Event``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar

from govmedia._bot.endpoint import Answer, Endpoint, Request, timestamp
from govmedia._bot.outbound import wechat_custom
from govmedia._bot.refusal import Refused
from govmedia._bot.wxcrypto import WeChatCipher, check_signature, signature
from govmedia._bot.wxxml import parse, reply_xml, wrap_encrypted
from govmedia.errors import ConfigError, GovMediaError

if TYPE_CHECKING:
    from govmedia._bot.model import Inbound, Reply
    from govmedia._bot.store import Handled
    from govmedia.bot import Bot
    from govmedia.model import Channel

__all__ = ["WeChatEndpoint"]

logger = logging.getLogger("govmedia")

SUCCESS = Answer(200, b"success")
_XML = b"application/xml; charset=utf-8"
_SEEN_SIGNATURES = 50_000


class WeChatEndpoint(Endpoint):
    """One ``wechat_oa`` channel's callback URL."""

    platform: ClassVar[str] = "wechat_oa"
    methods: ClassVar[tuple[str, ...]] = ("GET", "POST")

    def __init__(self, bot: Bot, channel: Channel) -> None:
        super().__init__(bot, channel)
        credentials = channel.credentials
        missing = [k for k in ("app_id", "callback_token") if not credentials.get(k)]
        if missing:
            raise ConfigError(f"channel {channel.id}: a WeChat callback needs the credential(s) "
                              f"{', '.join(missing)} (设置与开发 → 基本配置 → 服务器配置)")
        self._token = credentials["callback_token"]
        self._app_id = credentials["app_id"]
        key = credentials.get("encoding_aes_key")
        try:
            self._cipher = WeChatCipher(key, self._app_id) if key else None
        except ConfigError as exc:
            raise ConfigError(f"channel {channel.id}: {exc}") from None
        self._can_defer = bool(credentials.get("app_secret"))
        if not self._can_defer and bot.reply_within is not None:
            logger.warning("govmedia bot: channel %s has no app_secret: a reply slower than "
                           "reply_within=%ss cannot be sent later and is dropped",
                           channel.id, bot.reply_within)
        self._signatures: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    # ----------------------------------------------------------- verification

    def _check_age(self, query: Any) -> str:
        stamp = query.get("timestamp", "")
        try:
            when = int(stamp)
        except ValueError:
            raise Refused(403, "no timestamp") from None
        max_age = self.bot.max_age
        if max_age is not None and abs(time.time() - when) > max_age:
            raise Refused(403, "stale timestamp")
        return str(stamp)

    def _check_replay(self, given: str, body: bytes) -> None:
        """Plain mode signs no body: one signature may carry only the body it first came with."""
        digest = hashlib.sha256(body).digest()
        now = time.monotonic()
        seen = self._signatures.get(given)
        if seen is not None and seen[1] != digest:
            raise Refused(403, "signature reused with another body")
        self._signatures[given] = (now, digest)
        window = self.bot.max_age if self.bot.max_age is not None else 300.0
        while self._signatures:
            oldest = next(iter(self._signatures.values()))
            if now - oldest[0] <= 2 * window and len(self._signatures) <= _SEEN_SIGNATURES:
                break
            self._signatures.popitem(last=False)

    # ----------------------------------------------------------- requests

    async def handle(self, request: Request) -> Answer:
        """The URL check (GET) or a message (POST)."""
        query = request.query
        stamp = self._check_age(query)
        nonce = query.get("nonce", "")
        if request.method == "GET":
            check_signature(query.get("signature"), self._token, stamp, nonce)
            return Answer(200, query.get("echostr", "").encode())
        encrypted = query.get("encrypt_type") == "aes"
        if encrypted:
            if self._cipher is None:
                raise Refused(403, "an encrypted callback for a channel without encoding_aes_key")
            envelope = parse(request.body)
            secret = envelope.get("Encrypt")
            if not isinstance(secret, str) or not secret:
                raise Refused(400, "no Encrypt in a safe-mode callback")
            check_signature(query.get("msg_signature"), self._token, stamp, nonce, secret)
            fields = parse(self._cipher.decrypt(secret))
        else:
            if self._cipher is not None:
                raise Refused(403, "a plain callback for a safe-mode channel")
            given = query.get("signature")
            check_signature(given, self._token, stamp, nonce)
            assert given is not None
            self._check_replay(given.lower(), request.body)
            fields = parse(request.body)
        reply = await self._message(fields)
        if reply is None:
            return SUCCESS
        to_user, from_user = fields["FromUserName"], fields["ToUserName"]
        xml = reply_xml(to_user, from_user, text=reply.text, image=reply.image, articles=reply.articles)
        if not encrypted:
            return Answer(200, xml.encode(), _XML)
        assert self._cipher is not None
        sealed = self._cipher.encrypt(xml.encode())
        now = str(int(time.time()))
        wrapped = wrap_encrypted(sealed, signature(self._token, now, nonce, sealed), now, nonce)
        return Answer(200, wrapped.encode(), _XML)

    async def _message(self, fields: dict[str, Any]) -> Reply | None:
        """The passive reply to one verified message, or None (answered ``success``)."""
        user, kind, created = fields.get("FromUserName"), fields.get("MsgType"), fields.get("CreateTime")
        if not (isinstance(user, str) and user and isinstance(kind, str) and kind
                and isinstance(created, str) and isinstance(fields.get("ToUserName"), str)):
            raise Refused(400, "a callback without FromUserName, ToUserName, MsgType or CreateTime")
        msg_id = fields.get("MsgId")
        if isinstance(msg_id, str) and msg_id:
            message_id = msg_id
        else:
            event = fields.get("Event")
            message_id = f"{user}:{created}:{event if isinstance(event, str) else ''}"
        text = fields.get("Content") if kind == "text" else fields.get("Recognition")
        entry, msg = await self.take(user=user, message_id=message_id, kind=kind,
                                     text=text if isinstance(text, str) else "",
                                     at=timestamp(created), raw=fields)
        if msg is not None:
            self.bot.spawn(self._work(msg, entry))
        return await self._wait(entry)

    async def _wait(self, entry: Handled) -> Reply | None:
        """The reply if it comes within ``reply_within``; else the reply goes out later."""
        if entry.deferred:
            return None
        if not entry.done.done():
            await asyncio.wait({entry.done}, timeout=self.bot.reply_within)
        if entry.done.done():
            return None if entry.deferred else entry.done.result()
        entry.deferred = True  # whoever waits longest first hands the reply to _work
        return None

    async def _work(self, msg: Inbound, entry: Handled) -> None:
        skill, reply = await self.run(msg)
        if not entry.deferred:
            entry.finish(reply)
            self.finished(msg, skill=skill, outcome="replied" if reply else "no_reply", reply=reply)
            return
        entry.finish(None)
        if reply is None:
            self.finished(msg, skill=skill, outcome="no_reply", reply=None)
            return
        if not self._can_defer:
            logger.error("govmedia bot: skill %s answered message %s after reply_within, and "
                         "channel %s has no app_secret to send it later: reply dropped",
                         skill, msg.message_id, self.channel.id)
            self.finished(msg, skill=skill, outcome="dropped", reply=reply)
            return
        outbound = self.bot.outbound
        try:
            await outbound.run(self.channel, wechat_custom(outbound.platform(self.channel),
                                                           self.channel, msg.user, reply))
        except GovMediaError as exc:
            logger.error("govmedia bot: the late reply of skill %s to message %s on %s failed: %s",  # noqa: TRY400 - the error says it all
                         skill, msg.message_id, self.channel.id, exc)
            self.finished(msg, skill=skill, outcome="failed", reply=reply)
            return
        self.finished(msg, skill=skill, outcome="sent", reply=reply)
