"""A strict, stateful fake of the Telegram Bot API, as far as channel publishing goes.

It keeps bots (tokens), chats with their administrators, and the messages in
each chat, and answers the way shared/platforms/telegram.md says the Bot API
does: ``/bot<token>/<method>`` with method names in any case, parameters in
the query, a form, JSON or multipart; ``{"ok": true, "result": ...}`` or
``{"ok": false, "error_code": ..., "description": ..., "parameters": ...}``;
HTML parsed into entities (tags outside Telegram's set refused), texts of
1-4,096 and captions up to 1,024 UTF-16 units after parsing; uploads up to
10 MB (photos) and 50 MB (other files), URLs fetched (from `FakeTelegram.remote`)
up to 5 MB and 20 MB; photo dimensions; albums of 2-10; 429 with
``parameters.retry_after``; and no deduplication at all: every send posts.

Wordings the sheet does not give (a photo whose bytes are no image, an album
of the wrong size, a protected message forwarded) are the fake's own and say
so where they are made.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import secrets
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._imagesize import image_size
from govmedia._sniff import sniff
from govmedia.model import Channel
from govmedia.testing._bodies import Multipart, parse_query
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._refuse import Refuse

__all__ = ["FakeBot", "FakeChat", "FakeTelegram"]

MB = 1024 * 1024
TEXT_MAX = 4096
CAPTION_MAX = 1024
PHOTO_UPLOAD_MAX = 10 * MB
FILE_UPLOAD_MAX = 50 * MB
PHOTO_URL_MAX = 5 * MB
FILE_URL_MAX = 20 * MB
ENTITIES_MAX = 100
ALBUM_MIN, ALBUM_MAX = 2, 10

_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z]+);")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}  # the only named entities Telegram reads
_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "span": "spoiler",
}


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _no(status: int, description: str, **parameters: Any) -> Refuse:
    """Telegram's refusal: ``{"ok": false, "error_code", "description"[, "parameters"]}``."""
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Refuse(status, json=body)


def _bad(description: str, **parameters: Any) -> Refuse:
    return _no(400, f"Bad Request: {description}", **parameters)


def _unescape(chunk: str) -> str:
    """Text between tags, its entities decoded the way Telegram reads them."""
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("#"):
            digits = name[1:]
            code = int(digits[1:], base=16) if digits[0] in "xX" else int(digits)
            if code > 0x10FFFF:
                raise _bad(f"can't parse entities: Unsupported HTML entity \"&{name};\"")
            return chr(code)
        if name not in _NAMED:
            raise _bad(f"can't parse entities: Unsupported HTML entity \"&{name};\"")
        return _NAMED[name]

    return _ENTITY.sub(one, chunk)


class _Entities:
    """Visible text and entities, built as the tags open and close."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.length = 0  # UTF-16 units so far
        self.stack: list[tuple[str, int, dict[str, Any]]] = []
        self.entities: list[dict[str, Any]] = []

    def add(self, piece: str) -> None:
        self.out.append(piece)
        self.length += _utf16(piece)

    def close(self, tag: str, offset: int) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            expected = self.stack[-1][0] if self.stack else tag
            raise _bad(f'can\'t parse entities: Unmatched end tag at byte offset {offset}, '
                       f'expected "</{expected}>", found "</{tag}>"')
        _, start, opened = self.stack.pop()
        if self.length > start and not opened.get("absorbed"):
            self.entities.append({"type": opened["type"], "offset": start,
                                  "length": self.length - start,
                                  **{k: v for k, v in opened.items() if k != "type"}})

    def open(self, tag: str, attributes: str, offset: int) -> None:
        entity: dict[str, Any] = {"type": _TAGS[tag]}
        found = dict(re.findall(r'([A-Za-z-]+)\s*=\s*"([^"]*)"', attributes))
        if tag == "a":
            href = html.unescape(found.get("href", ""))
            if not href:
                raise _bad(f"can't parse entities: Can't find end of href at byte offset {offset}")
            entity["url"] = href
        elif tag == "span" and found.get("class") != "tg-spoiler":
            raise _bad(f'can\'t parse entities: Unsupported start tag "span" at byte offset {offset}')
        elif tag == "code" and self.stack and self.stack[-1][0] == "pre":
            # <pre><code class="language-x">: one pre entity with its language
            entity["absorbed"] = True
            if "class" in found:
                self.stack[-1][2]["language"] = found["class"].removeprefix("language-")
        self.stack.append((tag, self.length, entity))


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """``(visible text, entities)`` of a ``parse_mode=HTML`` text, or `Refuse` as Telegram does.

    Offsets and lengths are UTF-16 code units, as in the Bot API.

    Example:
        >>> text, entities = parse_html('<b>国资</b> &amp; <a href="https://x.org">央企</a>')
        >>> text
        '国资 & 央企'
        >>> entities[1]
        {'type': 'text_link', 'offset': 5, 'length': 2, 'url': 'https://x.org'}
    """
    built = _Entities()
    pos = 0
    for match in re.finditer(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s[^<>]*)?)>|<", text):
        built.add(_unescape(text[pos:match.start()]))
        pos = match.end()
        offset = len(text[:match.start()].encode("utf-8"))
        if match.group(0) == "<":
            raise _bad(f"can't parse entities: Unclosed start tag at byte offset {offset}")
        tag = match.group(2).lower()
        if tag not in _TAGS:
            raise _bad(f'can\'t parse entities: Unsupported start tag "{tag}" at byte offset {offset}')
        if match.group(1):
            built.close(tag, offset)
        else:
            built.open(tag, match.group(3) or "", offset)
    built.add(_unescape(text[pos:]))
    if built.stack:
        raise _bad("can't parse entities: Can't find end tag corresponding to start tag "
                   f'"{built.stack[-1][0]}"')
    built.entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(built.out), built.entities


@attrs.define
class FakeBot:
    """A bot: its id, its username and its token."""

    id: int
    username: str
    token: str = attrs.field(repr=False)

    def json(self) -> dict[str, Any]:
        """The User object ``getMe`` answers."""
        return {"id": self.id, "is_bot": True, "first_name": self.username, "username": self.username,
                "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False}


@attrs.define
class FakeChat:
    """A channel (or group): who may post, and its messages by id."""

    id: int
    account: str
    title: str
    type: str = "channel"
    username: str | None = None
    admins: set[int] = attrs.field(factory=set)
    kicked: set[int] = attrs.field(factory=set)
    migrated_to: int | None = None
    undeletable: set[int] = attrs.field(factory=set)
    messages: dict[int, dict[str, Any]] = attrs.field(factory=dict)
    next_id: int = 1

    def json(self) -> dict[str, Any]:
        """The Chat object inside a Message."""
        chat: dict[str, Any] = {"id": self.id, "title": self.title, "type": self.type}
        if self.username:
            chat["username"] = self.username
        return chat


class FakeTelegram(FakePlatform):
    r"""The Bot API at ``{base}/telegram``, keeping the messages it is sent, per chat.

    Each `channel` is a channel (public with a username unless
    ``public=False``) administered by a bot; channels made with the same
    ``bot`` name share that bot (and can forward each other's posts). Knobs:
    `remote` (``{url: bytes}``: what a URL answers when Telegram fetches it;
    any other URL cannot be fetched), `kick` (the bot loses its rights),
    `migrate` (a group became a supergroup), `enforce_limits` (429 once the
    per-chat 20/min or per-bot 30/s budget is spent) and the `inject`ed faults.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import Sandbox
        >>> sandbox = Sandbox(platforms=["telegram"])
        >>> fake = sandbox["telegram"]
        >>> ch = fake.channel("@sasac_news")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="国资小新 <今日发布>", tags=("央企",)), ch)
        >>> receipt.url, fake.posts("@sasac_news")[0]["text"]
        ('https://t.me/sasac_news/1', '国资小新 <今日发布>\n\n#央企')
    """

    name: ClassVar[str] = "telegram"
    prefix: ClassVar[str] = "/telegram"
    create_path: ClassVar[str] = r"^/bot[^/]+/(?i:sendMessage|sendPhoto|sendVideo|sendMediaGroup)$"
    """A path regex for `inject` that matches the sends that post, and only them."""
    # Bot FAQ: <=20 messages a minute to one chat (channels: reportedly, unverified),
    # about 30 messages a second per bot.
    rate_limits: ClassVar[dict[str, tuple[int, float]]] = {"chat": (20, 60.0), "bot": (30, 1.0)}

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.bots: dict[str, FakeBot] = {}       # by token
        self.named_bots: dict[str, FakeBot] = {}  # by name given to `channel`
        self.chats: dict[int, FakeChat] = {}
        self.remote: dict[str, bytes] = {}
        self._ids = itertools.count(1)
        self._groups = itertools.count(13_600_000_000_000_000)
        self._files = itertools.count(1)
        self._methods: dict[str, Callable[[FakeBot, dict[str, Any], Multipart], Any]] = {
            "getme": self._get_me, "getchat": self._get_chat,
            "sendmessage": self._send_message, "sendphoto": self._send_photo,
            "sendvideo": self._send_video, "sendmediagroup": self._send_media_group,
            "deletemessage": self._delete_message, "forwardmessage": self._forward_message,
            "forwardmessages": self._forward_messages,
        }

    # ----------------------------------------------------------- public API

    def bot(self, name: str = "govmedia_bot") -> FakeBot:
        """The bot called *name*, made on first use with a fresh token."""
        with self.lock:
            bot = self.named_bots.get(name)
            if bot is None:
                number = 7_000_000_000 + next(self._ids)
                token = f"{number}:AA{secrets.token_urlsafe(24)[:33]}"
                bot = self.named_bots[name] = self.bots[token] = FakeBot(number, name, token)
            return bot

    def channel(self, account: str = "", *, bot: str = "govmedia_bot", public: bool = True,
                **options: Any) -> Channel:
        """A channel whose bot (*bot*) is its administrator; a `Channel` that posts there.

        The chat's username (``public``) comes from *account*; its id is in
        the options as ``chat_id``.
        """
        with self.lock:
            owner = self.bot(bot)
            if not account:
                account = f"channel{len(self.chats) + 1}"
            chat = self.chat_of(account)
            if chat is None:
                number = -1_001_000_000_000 - next(self._ids)
                username = None
                if public:
                    username = re.sub(r"[^A-Za-z0-9_]", "_", account.lstrip("@"))
                    username = username if username[:1].isalpha() else f"c{username}"
                chat = self.chats[number] = FakeChat(number, account, f"{account} channel",
                                                     username=username)
            chat.admins.add(owner.id)
        return Channel(platform="telegram", account=account, credentials={"bot_token": owner.token},
                       options={"base_url": self.base_url, "chat_id": str(chat.id), **options})

    def bot_channel(self, account: str = "", *, bot: str = "govmedia_bot", **options: Any) -> Channel:
        """`channel` with a ``webhook_secret`` too: what `govmedia.bot.Bot.asgi` serves.

        Example:
            >>> from govmedia.testing import FakeTelegram
            >>> sorted(FakeTelegram().bot_channel("@sasac_bot").credentials)
            ['bot_token', 'webhook_secret']
        """
        channel = self.channel(account, bot=bot, **options)
        return attrs.evolve(channel, credentials={**dict(channel.credentials),
                                                  "webhook_secret": secrets.token_urlsafe(16)})

    def private_chat(self, user_id: int, *, bot: str = "govmedia_bot", name: str = "follower") -> FakeChat:
        """The private chat of user *user_id* with *bot* (made on first use): where replies land.

        Example:
            >>> from govmedia.testing import FakeTelegram
            >>> FakeTelegram().private_chat(42).json()
            {'id': 42, 'title': 'follower', 'type': 'private'}
        """
        with self.lock:
            chat = self.chats.get(user_id)
            if chat is None:
                chat = self.chats[user_id] = FakeChat(user_id, f"user{user_id}", name, type="private")
            chat.admins.add(self.bot(bot).id)  # a follower who wrote first may be answered
            return chat

    def chat_of(self, account: str) -> FakeChat | None:
        """The chat made for *account*, if any."""
        return next((c for c in self.chats.values() if c.account == account), None)

    def messages(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every live message (an album is several), oldest first, as the API shows them."""
        with self.lock:
            return [dict(m) for chat in self.chats.values()
                    if account is None or chat.account == account
                    for m in chat.messages.values()]

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live posts, oldest first: a message, or an album's first message with ``album`` (all of it)."""
        posts: list[dict[str, Any]] = []
        albums: dict[str, dict[str, Any]] = {}
        for message in self.messages(account):
            group = message.get("media_group_id")
            if group is None:
                posts.append(message)
            elif group in albums:
                albums[group]["album"].append(message)
            else:
                albums[group] = {**message, "album": [message]}
                posts.append(albums[group])
        return posts

    def kick(self, account: str) -> None:
        """The bot is removed from *account*'s channel: its sends there answer 403."""
        with self.lock:
            chat = self.chat_of(account)
            assert chat is not None, account
            chat.kicked |= chat.admins
            chat.admins.clear()

    def migrate(self, account: str) -> int:
        """*account*'s chat becomes a group that was upgraded to a supergroup; the new id."""
        with self.lock:
            chat = self.chat_of(account)
            assert chat is not None, account
            chat.type = "group"
            chat.migrated_to = -1_001_900_000_000 - next(self._ids)
            return chat.migrated_to

    # ----------------------------------------------------------- faults and budgets

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Telegram's shapes: a 429 with ``parameters.retry_after`` (no header), JSON 5xx, a 401."""
        if fault.kind == "rate_limit":
            wait = 3 if fault.retry_after is None else max(0, round(fault.retry_after))
            return _no(429, f"Too Many Requests: retry after {wait}", retry_after=wait).response
        if fault.kind == "token_expired":  # bot tokens never expire: a revoked one is refused
            return _no(401, "Unauthorized").response
        if fault.kind == "busy":  # no busy code of its own: the gateway's 502
            return _no(502, "Bad Gateway").response
        if fault.kind == "server_error":
            return _no(500, "Internal Server Error").response
        return super().fault_response(fault, request)

    def over_budget(self, budget: Any, request: httpx.Request) -> httpx.Response:
        """Telegram's 429: the wait is in the body only."""
        wait = budget.retry_after(self.now())
        return _no(429, f"Too Many Requests: retry after {wait}", retry_after=wait).response

    def bad_body(self, reason: str) -> httpx.Response:
        """The Bot API's answer to a body it cannot read."""
        return _bad("can't parse request body").response

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """Anything but ``/bot<token>/<method>``: 404."""
        return _no(404, "Not Found").response

    def account_of(self, request: httpx.Request) -> str | None:
        """The account of the chat a request names (``chat_id``), if the fake knows it."""
        try:
            params = self._params(request)
        except Refuse:
            return None
        try:
            chat = self._chat(params.get("chat_id"))
        except Refuse:
            return None
        return chat.account

    def _budget(self, bot: FakeBot, chat: FakeChat, messages: int = 1) -> None:
        # Spent by the sends themselves, per message: Telegram's limits count
        # messages, not requests (an album as several: unverified, the sheet).
        tightest = None
        for _ in range(messages):
            for key, name in ((f"bot:{bot.id}", "bot"), (f"chat:{chat.id}", "chat")):
                budget = self.budgets.spend(key, name)
                if budget.exhausted and (tightest is None or
                                         budget.reset_at > tightest.reset_at):
                    tightest = budget
        if tightest is not None and self.enforce_limits:
            wait = tightest.retry_after(self.now())
            raise _no(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    # ----------------------------------------------------------- routing

    @route("POST", r"/bot(?P<token>[^/]*)/(?P<method>[^/]+)")
    def _post(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._call(request, match)

    @route("GET", r"/bot(?P<token>[^/]*)/(?P<method>[^/]+)")
    def _get(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._call(request, match)

    def _call(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        token = match["token"]
        if not _TOKEN.fullmatch(token):
            raise _no(404, "Not Found")  # python-telegram-bot: InvalidToken
        bot = self.bots.get(token)
        if bot is None:
            raise _no(401, "Unauthorized")
        handler = self._methods.get(match["method"].lower())
        if handler is None:
            raise _no(404, "Not Found")
        params = self._params(request)
        files = self.multipart_body(request)
        return httpx.Response(200, json={"ok": True, "result": handler(bot, params, files)})

    def _params(self, request: httpx.Request) -> dict[str, Any]:
        return {**parse_query(request), **self.body_params(request)}

    # ----------------------------------------------------------- lookups

    def _chat(self, value: Any) -> FakeChat:
        if value in (None, ""):
            raise _bad("chat_id is empty")
        text = str(value)
        if text.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username and
                         c.username.lower() == text[1:].lower()), None)
        else:
            try:
                chat = self.chats.get(int(text))
            except ValueError:
                chat = None
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _postable(self, bot: FakeBot, value: Any) -> FakeChat:
        chat = self._chat(value)
        if chat.migrated_to is not None:
            raise _bad("group chat was upgraded to a supergroup chat",
                       migrate_to_chat_id=chat.migrated_to)
        if bot.id in chat.kicked:
            raise _no(403, "Forbidden: bot was kicked from the channel chat")
        if bot.id not in chat.admins:
            raise _no(403, "Forbidden: bot is not a member of the channel chat")
        return chat

    @staticmethod
    def _flag(params: dict[str, Any], name: str) -> bool:
        value = params.get(name)
        return value is True or str(value).lower() == "true"

    @staticmethod
    def _json_param(params: dict[str, Any], name: str) -> Any:
        value = params.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad(f"can't parse {name} JSON object") from None
        return value

    def _text(self, params: dict[str, Any], field: str, entities_field: str,
              limit: int, too_long: str) -> dict[str, Any]:
        raw = params.get(field)
        if raw in (None, ""):
            return {}
        mode = params.get("parse_mode")
        entities: list[dict[str, Any]] = []
        if mode in (None, ""):
            text = str(raw)
        elif str(mode).lower() == "html":
            text, entities = parse_html(str(raw))
        else:  # the fake reads HTML only (govmedia sends nothing else)
            raise _bad("unsupported parse_mode")
        if _utf16(text) > limit:
            raise _bad(too_long)
        out: dict[str, Any] = {field: text}
        if entities:
            out[entities_field] = entities[:ENTITIES_MAX]  # beyond ~100: ignored
        return out

    def _message(self, chat: FakeChat, params: dict[str, Any], content: dict[str, Any]) -> dict[str, Any]:
        message_id = chat.next_id
        chat.next_id += 1
        message: dict[str, Any] = {"message_id": message_id, "sender_chat": chat.json(),
                                   "chat": chat.json(), "date": int(self.now()), **content}
        if self._flag(params, "protect_content"):
            message["has_protected_content"] = True
        chat.messages[message_id] = message
        return message

    # ----------------------------------------------------------- files

    def _file(self, kind: str, value: Any, files: Multipart) -> dict[str, Any]:
        """The stored file of one photo/video parameter: a multipart part, a URL or a file_id."""
        if isinstance(value, str) and value.startswith("attach://"):
            part = files.get(value.removeprefix("attach://"))
            if part is None or not part.is_file:
                raise _bad("wrong file identifier/HTTP URL specified")
            return self._stored(kind, part.data, by_url=False)
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            data = self.remote.get(value)
            limit = PHOTO_URL_MAX if kind == "photo" else FILE_URL_MAX
            if data is None or len(data) > limit:
                raise _bad("failed to get HTTP URL content")
            return self._stored(kind, data, by_url=True)
        if isinstance(value, str) and value.startswith("fake-file-"):
            return {"file_id": value, "file_unique_id": value[-12:], "file_size": 0}
        raise _bad("wrong file identifier/HTTP URL specified")

    def _stored(self, kind: str, data: bytes, *, by_url: bool) -> dict[str, Any]:
        limit = PHOTO_UPLOAD_MAX if kind == "photo" else FILE_UPLOAD_MAX
        if not by_url and len(data) > limit:
            raise _no(413, "Request Entity Too Large")  # the sheet: exact wording unverified
        found = sniff(data[:64])
        if kind == "photo":
            if found is None or "image" not in found.kinds:
                raise _bad("IMAGE_PROCESS_FAILED")  # not on the sheet: the fake's wording
            size = image_size(data[:256 * 1024]) or (0, 0)
            width, height = size
            if width + height > 10_000 or (min(size) and max(size) / min(size) > 20):
                raise _bad("PHOTO_INVALID_DIMENSIONS")
        elif found is None or "video" not in found.kinds:
            raise _bad("VIDEO_FILE_INVALID")  # not on the sheet: the fake's wording
        else:
            width = height = 0
        number = next(self._files)
        return {"file_id": f"fake-file-{kind}-{number:012d}", "file_unique_id": f"u{number:011d}",
                "file_size": len(data), "width": width, "height": height,
                **({"mime_type": found.mime_type} if kind == "video" else {})}

    def _media(self, kind: str, stored: dict[str, Any]) -> dict[str, Any]:
        if kind == "photo":
            return {"photo": [stored]}
        return {"video": {**stored, "duration": 0}}

    # ----------------------------------------------------------- methods

    def _get_me(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        return bot.json()

    def _get_chat(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        chat = self._chat(params.get("chat_id"))
        if bot.id not in chat.admins:
            raise _bad("chat not found")
        return {**chat.json(), "accent_color_id": 0, "max_reaction_count": 11}

    def _send_message(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        chat = self._postable(bot, params.get("chat_id"))
        content = self._text(params, "text", "entities", TEXT_MAX, "message is too long")
        if not content.get("text", "").strip():
            raise _bad("message text is empty")
        preview = self._json_param(params, "link_preview_options")
        if preview is not None and not isinstance(preview, dict):
            raise _bad("can't parse link_preview_options JSON object")
        self._budget(bot, chat)
        return self._message(chat, params, content)

    def _send_file(self, kind: str, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        chat = self._postable(bot, params.get("chat_id"))
        caption = self._text(params, "caption", "caption_entities", CAPTION_MAX,
                             "message caption is too long")
        value: Any = params.get(kind)
        part = files.get(kind)
        if part is not None and part.is_file:
            stored = self._stored(kind, part.data, by_url=False)
        elif value in (None, ""):
            raise _bad(f"there is no {kind} in the request")
        else:
            stored = self._file(kind, value, files)
        self._budget(bot, chat)
        return self._message(chat, params, {**self._media(kind, stored), **caption})

    def _send_photo(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        return self._send_file("photo", bot, params, files)

    def _send_video(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        return self._send_file("video", bot, params, files)

    def _send_media_group(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        chat = self._postable(bot, params.get("chat_id"))
        media = self._json_param(params, "media")
        # The wordings below are the fake's own: the sheet names the rules, not the messages.
        if not isinstance(media, list) or not ALBUM_MIN <= len(media) <= ALBUM_MAX:
            raise _bad(f"media must be an array of {ALBUM_MIN}-{ALBUM_MAX} InputMedia")
        kinds = [item.get("type") if isinstance(item, dict) else None for item in media]
        if any(k not in ("photo", "video", "document", "audio") for k in kinds):
            raise _bad("wrong type of the media in the group")
        for own in ("document", "audio"):
            if own in kinds and set(kinds) != {own}:
                raise _bad(f"{own}s can only be grouped with {own}s")
        contents = []
        for item in media:
            caption = self._text({**item, "caption": item.get("caption")}, "caption",
                                 "caption_entities", CAPTION_MAX, "message caption is too long")
            kind = item["type"]
            if kind not in ("photo", "video"):
                raise _bad(f"the fake keeps photos and videos only, not {kind}s")
            stored = self._file(kind, item.get("media"), files)
            contents.append({**self._media(kind, stored), **caption})
        self._budget(bot, chat, messages=len(contents))
        group = str(next(self._groups))
        return [self._message(chat, params, {"media_group_id": group, **content})
                for content in contents]

    def _delete_message(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        chat = self._postable(bot, params.get("chat_id"))
        try:
            message_id = int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _bad("message identifier is not specified") from None
        if message_id in chat.undeletable:
            raise _bad("message can't be deleted")
        if chat.messages.pop(message_id, None) is None:
            raise _bad("message to delete not found")
        return True

    def _source(self, bot: FakeBot, params: dict[str, Any]) -> FakeChat:
        source = self._chat(params.get("from_chat_id"))
        if bot.id not in source.admins:  # a chat this bot cannot read
            raise _bad("chat not found")
        return source

    def _forwarded(self, source: FakeChat, message_id: int) -> dict[str, Any]:
        original = source.messages.get(message_id)
        if original is None:
            raise _bad("message to forward not found")
        if original.get("has_protected_content"):
            raise _bad("message can't be forwarded")  # the fake's wording
        content = {k: v for k, v in original.items()
                   if k not in ("message_id", "sender_chat", "chat", "date", "media_group_id",
                                "has_protected_content")}
        content["forward_origin"] = {"type": "channel", "chat": source.json(),
                                     "message_id": message_id, "date": original["date"]}
        return content

    def _forward_message(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        target = self._postable(bot, params.get("chat_id"))
        source = self._source(bot, params)
        try:
            message_id = int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _bad("message identifier is not specified") from None
        content = self._forwarded(source, message_id)
        self._budget(bot, target)
        return self._message(target, params, content)

    def _forward_messages(self, bot: FakeBot, params: dict[str, Any], files: Multipart) -> Any:
        target = self._postable(bot, params.get("chat_id"))
        source = self._source(bot, params)
        ids = self._json_param(params, "message_ids")
        if (not isinstance(ids, list) or not 1 <= len(ids) <= 100
                or not all(isinstance(i, int) for i in ids) or ids != sorted(ids)):
            raise _bad("message_ids must be 1-100 message identifiers in increasing order")
        contents = [self._forwarded(source, i) for i in ids]
        self._budget(bot, target, messages=len(contents))
        groups = {source.messages[i].get("media_group_id") for i in ids}
        group = str(next(self._groups)) if groups != {None} else None
        out = []
        for content in contents:
            if group is not None:
                content["media_group_id"] = group
            out.append({"message_id": self._message(target, params, content)["message_id"]})
        return out
