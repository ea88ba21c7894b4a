r"""`Follower`: play a member of the public writing to a service bot (`govmedia.bot`).

It sends what the platforms send: WeChat callbacks signed with the channel's
``callback_token`` (and encrypted with its ``encoding_aes_key`` in safe mode),
Telegram updates with the ``X-Telegram-Bot-Api-Secret-Token`` header. It
reaches the bot in-process (an ASGI app) or over HTTP (a URL), reads WeChat's
passive reply (decrypted), and, with a `Sandbox`, what the bot sent later
through the platforms' APIs (customer-service messages, ``sendMessage``).

Example:
    >>> import anyio, govmedia as gm
    >>> from govmedia.testing import Sandbox
    >>> sandbox = Sandbox(platforms=["wechat_oa"])
    >>> bot = gm.Bot(http=sandbox.async_client())
    >>> @bot.skill(r"^天气\s*(?P<city>\S+)")
    ... def weather(msg, city):
    ...     return f"{city}：晴，12°C"
    >>> channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    >>> follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    >>> anyio.run(follower.wechat, "/wechat", channel, "天气 北京")
    Heard(status=200, reply='北京：晴，12°C')
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from govmedia._bot.wxcrypto import WeChatCipher, signature
from govmedia._bot.wxxml import cdata, parse
from govmedia.model import Channel

if TYPE_CHECKING:
    from govmedia.testing.sandbox import Sandbox

__all__ = ["Follower", "Heard", "telegram_update", "wechat_callback"]

_ids = itertools.count(int(time.time() * 1000) % 10**12 * 1000)


@attrs.frozen
class Heard:
    """What the bot answered a follower's message.

    Attributes:
        status: the HTTP status.
        reply: the passive reply's text (WeChat; decrypted in safe mode),
            ``None`` for ``success`` or an empty answer.
        fields: the passive reply's ``<xml>`` children (``MsgType``,
            ``Content``, ``Image``, ``Articles``, ...).
        body: the raw answer.

    Example:
        >>> Heard(200, "北京：晴")
        Heard(status=200, reply='北京：晴')
    """

    status: int
    reply: str | None
    fields: Mapping[str, Any] = attrs.field(factory=dict, repr=False)
    body: bytes = attrs.field(default=b"", repr=False)


def wechat_callback(
    channel: Channel, *, text: str | None = None, user: str = "o_follower", kind: str = "text",
    event: str | None = None, msg_id: str | None = None, safe: bool | None = None,
    timestamp: int | None = None, nonce: str | None = None, extra: Mapping[str, str] | None = None,
) -> tuple[dict[str, str], bytes]:
    """``(query parameters, body)`` of a WeChat callback to *channel*, signed as WeChat signs it.

    *safe* defaults to whether the channel has an ``encoding_aes_key``. An
    event (*event* given, or ``kind="event"``) has no ``MsgId``.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="wechat_oa", account="gh_sasac",
        ...                 credentials={"app_id": "wx0123456789abcdef", "callback_token": "tok"})
        >>> query, body = wechat_callback(ch, text="你好", msg_id="1", timestamp=1, nonce="n")
        >>> query
        {'signature': '8b884c4fa3c448b3a300c40ae44fc69e39ae161e', 'timestamp': '1', 'nonce': 'n', \
'openid': 'o_follower'}
    """
    credentials = channel.credentials
    token = credentials["callback_token"]
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(5)
    if event is not None:
        kind = "event"
    fields = {"ToUserName": channel.account, "FromUserName": user, "CreateTime": stamp,
              "MsgType": kind}
    if kind == "text":
        fields["Content"] = text or ""
    if kind == "event":
        fields["Event"] = event or "subscribe"
    else:
        fields["MsgId"] = msg_id or str(next(_ids))
    fields.update(extra or {})
    xml = "<xml>" + "".join(f"<{k}>{cdata(v)}</{k}>" for k, v in fields.items()) + "</xml>"
    query = {"signature": signature(token, stamp, nonce), "timestamp": stamp, "nonce": nonce,
             "openid": user}
    key = credentials.get("encoding_aes_key")
    if safe is None:
        safe = bool(key)
    if not safe:
        return query, xml.encode()
    if not key:
        raise ValueError(f"channel {channel.id} has no encoding_aes_key for safe mode")
    encrypted = WeChatCipher(key, credentials["app_id"]).encrypt(xml.encode())
    query.update(encrypt_type="aes", msg_signature=signature(token, stamp, nonce, encrypted))
    body = (f"<xml><ToUserName>{cdata(channel.account)}</ToUserName>"
            f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>")
    return query, body.encode()


def telegram_update(text: str, *, user: int = 42, chat: int | None = None,
                    update_id: int | None = None, name: str = "follower") -> dict[str, Any]:
    """A Telegram ``Update`` with a text message from *user* in their private chat.

    Example:
        >>> telegram_update("你好", user=7, update_id=1)["message"]["chat"]
        {'id': 7, 'type': 'private', 'first_name': 'follower'}
    """
    update_id = next(_ids) % 2**31 if update_id is None else update_id
    person = {"id": user, "is_bot": False, "first_name": name}
    return {"update_id": update_id, "message": {
        "message_id": update_id % 100_000 + 1, "from": person, "date": int(time.time()),
        "chat": {"id": chat if chat is not None else user, "type": "private", "first_name": name},
        "text": text}}


class Follower:
    """A follower writing to a bot: in-process (an ASGI app) or over HTTP (a base URL).

    Args:
        target: the bot's ASGI app (``bot.asgi(...)``), or the base URL it
            is served at (``http://127.0.0.1:8000``).
        sandbox: the `Sandbox` the bot sends through, to read what it sent
            later (`inbox`).

    Example:
        >>> import anyio, govmedia as gm
        >>> bot = gm.Bot()       # no skills: the update is taken, nothing is sent
        >>> ch = gm.Channel(platform="telegram", account="@sasac_bot", credentials={
        ...     "bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "webhook_secret": "s3cr3t"})
        >>> follower = Follower(bot.asgi({"/telegram": ch}))
        >>> anyio.run(follower.telegram, "/telegram", ch, "你好")
        Heard(status=200, reply=None)
    """

    def __init__(self, target: Any, *, sandbox: Sandbox | None = None) -> None:
        self.sandbox = sandbox
        if isinstance(target, str):
            self._client = httpx.AsyncClient(base_url=target.rstrip("/"), timeout=30.0)
        else:
            self._client = httpx.AsyncClient(transport=httpx.ASGITransport(target),
                                             base_url="http://bot.govmedia.test")

    async def wechat(self, path: str, channel: Channel, text: str | None = None,
                     **options: Any) -> Heard:
        """Send a WeChat callback (options: see `wechat_callback`) and read the passive reply."""
        query, body = wechat_callback(channel, text=text, **options)
        response = await self._client.post(path, params=query, content=body,
                                           headers={"Content-Type": "text/xml"})
        return self._heard(channel, response)

    async def url_check(self, path: str, channel: Channel, echostr: str = "govmedia") -> Heard:
        """WeChat's GET that checks the callback URL (the bot answers *echostr*)."""
        stamp, nonce = str(int(time.time())), secrets.token_hex(5)
        token = channel.credentials["callback_token"]
        response = await self._client.get(path, params={
            "signature": signature(token, stamp, nonce), "timestamp": stamp, "nonce": nonce,
            "echostr": echostr})
        return Heard(response.status_code, response.text or None, body=response.content)

    async def telegram(self, path: str, channel: Channel, text: str, *, user: int = 42,
                       update_id: int | None = None, secret: str | None = None) -> Heard:
        """Send a Telegram update with *text* from *user* (the bot answers later, by the API)."""
        if self.sandbox is not None and "telegram" in self.sandbox.fakes:
            fake = self.sandbox["telegram"]
            bot = fake.bots.get(channel.credentials["bot_token"])
            if bot is not None:
                fake.private_chat(user, bot=bot.username)
        update = telegram_update(text, user=user, update_id=update_id)
        body = json.dumps(update, ensure_ascii=False)
        response = await self._client.post(path, content=body, headers={
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": secret or channel.credentials["webhook_secret"]})
        return Heard(response.status_code, None, body=response.content)

    def inbox(self, channel: Channel, user: str | int) -> list[str]:
        """Texts the bot sent *user* through the platform's API (needs the sandbox)."""
        if self.sandbox is None:
            raise ValueError("Follower(sandbox=...) is needed to read what the bot sent")
        if channel.platform == "wechat_oa":
            sent = self.sandbox["wechat_oa"].customer_messages_to(str(user))
            return [m["text"]["content"] if m["msgtype"] == "text" else f"[{m['msgtype']}]"
                    for m in sent]
        chat = self.sandbox["telegram"].chats.get(int(user))
        if chat is None:
            return []
        return [m.get("text") or m.get("caption") or "[media]" for m in chat.messages.values()]

    def _heard(self, channel: Channel, response: httpx.Response) -> Heard:
        body = response.content
        if response.status_code != 200 or body in (b"", b"success"):
            return Heard(response.status_code, None, body=body)
        fields = parse(body)
        if "Encrypt" in fields:
            key = channel.credentials["encoding_aes_key"]
            inner = WeChatCipher(key, channel.credentials["app_id"]).decrypt(fields["Encrypt"])
            fields = parse(inner)
        content = fields.get("Content")
        return Heard(response.status_code, content if isinstance(content, str) else None,
                     fields=fields, body=body)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()
