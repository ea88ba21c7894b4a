"""Telegram Bot API: messages, photos, videos and albums in a channel or chat.

Facts: shared/platforms/telegram.md. One post becomes one send to the
channel's ``chat_id``:

- no media: ``sendMessage`` with the text as HTML (``parse_mode=HTML``);
- one image or video: ``sendPhoto`` / ``sendVideo`` with the text as caption;
- two to ten: ``sendMediaGroup`` (an album), the caption on the first item.

A file on disk or in memory goes up in the same request, as a multipart part
(sniffed first: the bytes must be what the media declares); a `Media.from_url`
is handed to Telegram as its URL, and Telegram fetches it.

The bot token travels in the URL path (``/bot<token>/<method>``): requests
are built without it and `BotToken` puts it in just before each attempt is
sent, to the API's own host only; every log line and error masks it
(`govmedia._secrets` knows the ``/bot<digits>:<token>`` shape and the
credential's value).

Telegram has no idempotency key and does not deduplicate: a send that may have
been applied (a timeout after sending, a 5xx, a cut answer) raises
`DeliveryUnknown` and is never resent. The message ids a send returns are
journaled (`Checkpoint`), so a re-run of a delivery whose ids are known
settles it without sending again. The Bot API gives no counts for a post, so
there are no metrics (``capabilities.metrics`` is false).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, BinaryIO, ClassVar

import attrs
import httpx

from govmedia._imagesize import PREFIX_SIZE, image_size
from govmedia.content.counting import count_telegram, telegram_visible_text
from govmedia.content.hashtags import new_tags
from govmedia.content.integrity import body_problems
from govmedia.content.media import media_head, verify_bytes
from govmedia.content.rules import LengthRule, Rule
from govmedia.content.sanitize import TELEGRAM, clean
from govmedia.content.telegram import telegram_html
from govmedia.errors import ConfigError, PlatformError, ValidationError
from govmedia.model import Channel, Media, Post, Problem, Receipt, open_regular
from govmedia.platforms._parts import FormBody
from govmedia.platforms.auth import Auth
from govmedia.platforms.base import BasePlatform, Capabilities, Rendering
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, url_check
from govmedia.platforms.steps import Checkpoint, Doubt, Flow, json_of
from govmedia.policy.ratelimit import RateLimit
from govmedia.tokens import Token

__all__ = ["BotToken", "TelegramPlatform", "message_html"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/telegram.md"
_LIMITS = f"{SHEET}: Content limits"
_METHODS = f"{SHEET}: Methods"
API = "https://api.telegram.org"

TEXT_MAX = 4096
CAPTION_MAX = 1024
ALBUM_MAX = 10
MB = 1024 * 1024
PHOTO_UPLOAD_MAX = 10 * MB   # multipart
FILE_UPLOAD_MAX = 50 * MB
PHOTO_URL_MAX = 5 * MB       # Telegram fetches the URL itself
FILE_URL_MAX = 20 * MB
SIDES_MAX = 10_000           # width + height of a photo
RATIO_MAX = 20
# Formatting entities beyond about 100 are ignored (python-telegram-bot found
# it by experiment; the sheet marks the number as approximate): a link beyond
# it would lose its target, so check refuses it rather than let it vanish.
ENTITIES_MAX = 100

# What @BotFather hands out: the bot's numeric id, a colon, and letters,
# digits, "-" and "_" (the Bot API docs' example "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11").
# Anything else could change the URL path the token is put in, so it is refused.
_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")
_CHAT_ID = re.compile(r"-?[0-9]{1,20}|@[A-Za-z0-9_]{1,64}")

# Descriptions the sheet does not quote (python-telegram-bot's and Telegram's
# own wording, unverified here); delete relies on the first to take a message
# that is gone already as deleted.
_NOT_FOUND_TO_DELETE = "message to delete not found"
_MIGRATED = "upgraded to a supergroup"


# --------------------------------------------------------------------------- auth


class BotToken(Auth):
    """The bot token in the URL path: ``{base_url}/bot<token>/<method>``.

    Requests are built as ``{base_url}/<method>``; each attempt gets the token
    put in just before it is sent (only ever to the API's own host), so no
    request a flow holds, and no checkpoint, carries it. Bot tokens do not
    expire: a refused one is an `AuthError` with nothing to refresh.

    Example:
        >>> import httpx, govmedia as gm
        >>> ch = gm.Channel(platform="telegram", account="@sasac_news",
        ...                 credentials={"bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"},
        ...                 options={"chat_id": "@sasac_news"})
        >>> platform = gm.platforms.get("telegram")()
        >>> request = httpx.Request("POST", "https://api.telegram.org/sendMessage")
        >>> platform.authorize(request, ch, None).url.path
        '/bot123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendMessage'
    """

    def __repr__(self) -> str:
        return "BotToken('bot_token')"

    def authorize(self, platform: BasePlatform, request: httpx.Request, channel: Channel,
                  token: Token | None) -> httpx.Request:
        """Put ``/bot<token>`` between the API's address and the method name."""
        base = httpx.URL(platform.base_url(channel)).path.rstrip("/")
        path = request.url.path
        method = path[len(base):] if path.startswith(base + "/") else path
        secret = channel.credentials["bot_token"]
        request.url = request.url.copy_with(path=f"{base}/bot{secret}{method}")
        return request


# --------------------------------------------------------------------------- text


def _escaped(text: str) -> str:
    escaped: str = telegram_html(text, "text")
    return escaped


def message_html(post: Post) -> str:
    """The HTML (``parse_mode=HTML``) sent for *post*: the message text, or the caption with media.

    `Post.text` as written (escaped); without one, the title in bold, the
    summary (or, with neither, the body rendered to Telegram's tags by
    `govmedia.content.telegram`) and the link, a blank line apart. Then the
    tags as ``#tag`` (spaces and punctuation removed; a tag already in the
    text is not added again). The whole passes the one sanitizer.

    Example:
        >>> import govmedia as gm
        >>> print(message_html(gm.Post(title="微招聘", summary="中国石化 <校园招聘> 启动",
        ...                            link="https://example.org/j/1", tags=("微 招聘", "央企"))))
        <b>微招聘</b>
        <BLANKLINE>
        中国石化 &lt;校园招聘&gt; 启动
        <BLANKLINE>
        https://example.org/j/1
        <BLANKLINE>
        #微招聘 #央企
    """
    if post.text and post.text.strip():
        parts = [_escaped(post.text)]
    else:
        parts = []
        if post.title and post.title.strip():
            parts.append(f"<b>{_escaped(post.title)}</b>")
        if post.summary and post.summary.strip():
            parts.append(_escaped(post.summary))
        if not parts and post.body and post.body.strip():
            parts.append(telegram_html(post.body, post.body_format))
        if post.link and post.link.strip():
            parts.append(_escaped(post.link))
    visible = telegram_visible_text("\n\n".join(parts))
    # A tag already in the text: `#` (not `＃`) at the start or after white space.
    tags = new_tags(visible, post.tags, "hash", platform="telegram", after="space", signs="#")
    if tags:
        parts.append(" ".join(tags))
    # Every piece is Telegram HTML already; the whole goes through the one
    # sanitizer as it leaves, like every HTML govmedia sends.
    out = clean("\n\n".join(p for p in parts if p), TELEGRAM)
    return out.replace("&nbsp;", "\N{NO-BREAK SPACE}")


def _entities(html_text: str) -> int:
    """The formatting entities Telegram makes of *html_text*: one per opening tag."""
    return len(re.findall(r"<(?!/)[a-z]", html_text))


# --------------------------------------------------------------------------- media


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def _limit(media: Media) -> int:
    photo = media.kind == "image"
    if media.url is not None:
        return PHOTO_URL_MAX if photo else FILE_URL_MAX
    return PHOTO_UPLOAD_MAX if photo else FILE_UPLOAD_MAX


def _dimension_problem(size: tuple[int, int] | None) -> str | None:
    if size is None:
        return None
    width, height = size
    if width + height > SIDES_MAX:
        return f"is {width}x{height}: width + height is {width + height:,}, Telegram allows {SIDES_MAX:,}"
    if min(width, height) == 0:
        return f"is {width}x{height}: an image with no area, which Telegram refuses"
    if max(width, height) / min(width, height) > RATIO_MAX:
        return f"is {width}x{height}: an aspect ratio over {RATIO_MAX}:1, which Telegram refuses"
    return None


@attrs.frozen
class _Item:
    """One media of the post as a send takes it: ``photo`` or ``video``, by URL or uploaded."""

    type: str
    media: Media
    where: str


def _file_size(stream: BinaryIO) -> int:
    return os.fstat(stream.fileno()).st_size


# --------------------------------------------------------------------------- answers


def _result(response: httpx.Response, channel: Channel, *, creates: bool) -> Any:
    """The ``result`` of an ``{"ok": true, "result": ...}`` answer."""
    body = json_of(response, platform="telegram", account=channel.account)
    if not isinstance(body, dict) or body.get("ok") is not True or "result" not in body:
        raise PlatformError(
            f"{response.request.url.path.rsplit('/', 1)[-1]} answered without ok and a result",
            platform="telegram", account=channel.account, code="bad_response", response=response,
            maybe_applied=creates)
    return body["result"]


def _message_ids(result: Any, response: httpx.Response, channel: Channel) -> list[int]:
    items = result if isinstance(result, list) else [result]
    ids = [m.get("message_id") if isinstance(m, dict) else None for m in items]
    if not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise PlatformError("the answer lists no message_id for each message sent",
                            platform="telegram", account=channel.account, code="bad_response",
                            response=response, maybe_applied=True)
    return [int(i) for i in ids if isinstance(i, int)]


def _chat_of(result: Any) -> dict[str, Any]:
    first = result[0] if isinstance(result, list) and result else result
    chat = first.get("chat") if isinstance(first, dict) else None
    return chat if isinstance(chat, dict) else {}


def _public_url(username: Any, message_id: int) -> str | None:
    """``https://t.me/<username>/<id>`` for a public channel; a chat without a username has none."""
    if isinstance(username, str) and re.fullmatch(r"[A-Za-z0-9_]{1,64}", username):
        return f"https://t.me/{username}/{message_id}"
    return None


def _bot_id(channel: Channel) -> str:
    """The bot's numeric id: the part of its token before the colon (not a secret)."""
    token: str = channel.credentials.get("bot_token", "")
    return token.partition(":")[0]


# --------------------------------------------------------------------------- errors

ERRORS = ErrorTable(
    # Telegram says error_code may change, so the HTTP status is the code
    # (python-telegram-bot branches on it too) and the description refines it.
    # 5xx stay out of the table: a bare 5xx may come after the send applied.
    {
        401: Code.auth(
            "Telegram refused the bot token: it was revoked or is wrong. Copy the bot's current "
            "token from @BotFather (/mybots, API Token) into the channel's bot_token; bot tokens "
            "never expire, so there is nothing to refresh."),
        404: Code.auth(
            "Telegram answered Not Found, which it does for a malformed bot token: copy the "
            "token again from @BotFather (digits, a colon, then the secret)."),
        403: Code.permanent(
            "The bot may not post in this chat: add it to the channel as an administrator with "
            "the right to post messages (and to delete them, for retract), then run again."),
        409: Code.permanent(
            "Telegram reports a conflict, which concerns only getUpdates and webhooks; govmedia "
            "uses neither to publish, so please report this."),
        429: Code.rate_limited(
            "Telegram asks the bot to slow down; govmedia waits the retry_after it names. "
            "Ignoring it repeatedly can get the bot banned for a while."),
        # The exact wording of a 413 is unverified (the sheet: "Request Entity Too Large").
        413: Code.rejected("The upload is over the Bot API's size limit: photos 10 MB, other "
                           "files 50 MB.", rule="telegram.media.max_size"),
        400: Code.rejected(unforeseeable="a Bad Request govmedia does not know: the description "
                                         "says what Telegram refused"),
    },
    messages=(
        (400, "caption is too long", Code.rejected(
            "The caption is over 1,024 characters.", rule="telegram.caption.max_length")),
        (400, "message is too long", Code.rejected(
            "The text is over 4,096 characters.", rule="telegram.text.max_length")),
        (400, "text is empty", Code.rejected(
            "Telegram found no text to send.", rule="telegram.text.not_empty")),
        (400, "can't parse entities", Code.rejected(
            "Telegram could not read the message's HTML.",
            unforeseeable="govmedia sends only Telegram's tags, balanced and escaped: a bug if seen")),
        (400, "PHOTO_INVALID_DIMENSIONS", Code.rejected(
            "Telegram refused the photo's dimensions: width + height at most 10,000, aspect "
            "ratio at most 20.", rule="telegram.photo.dimensions")),
        (400, "wrong file identifier/HTTP URL specified", Code.rejected(
            "Telegram could not use the media URL: attach the file itself instead.",
            unforeseeable="only Telegram's servers see what the URL answers")),
        (400, "failed to get HTTP URL content", Code.rejected(
            "Telegram could not download the media URL (not public, too big for a URL: photos "
            "5 MB, other files 20 MB): attach the file itself instead.",
            unforeseeable="only Telegram's servers see what the URL answers")),
        (400, "chat not found", Code.permanent(
            "Telegram knows no such chat for this bot: check the channel's chat_id (-100… or "
            "@channelusername) and that the bot is a member there.")),
        (400, _MIGRATED, Code.permanent(
            "The group became a supergroup with a new id: set the channel's chat_id to it.")),
        (400, _NOT_FOUND_TO_DELETE, Code.permanent("The message is gone already.")),
        (400, "message can't be deleted", Code.permanent(
            "Telegram will not let the bot delete this message: it needs the right to delete "
            "messages in the channel, and old messages may be out of reach; delete it in the app.")),
        (400, "message to forward not found", Code.permanent(
            "The hub's message is gone, or this bot cannot read the hub's chat.")),
    ),
)


# --------------------------------------------------------------------------- rules

RULES: tuple[Rule, ...] = (
    LengthRule(id="telegram.text.max_length", field="text", limit=TEXT_MAX, counter=count_telegram,
               unit="characters (UTF-16 units)", source=_LIMITS),
    LengthRule(id="telegram.caption.max_length", field="caption", limit=CAPTION_MAX,
               counter=count_telegram, unit="characters (UTF-16 units)", source=_LIMITS,
               remediation=("Shorten the text (with media it is the caption), give Telegram a "
                            "shorter variant (post.with_variant), or post the text without media.")),
    Rule(id="telegram.text.not_empty", field="text", code="empty",
         summary="a message needs 1-4,096 characters: a post needs text or media", source=_LIMITS,
         remediation="Give the post a text, a title or a body, or attach media."),
    Rule(id="telegram.text.max_entities", field="text", code="content_lost",
         summary=f"at most about {ENTITIES_MAX} formatting entities (bold, links, ...) per message; "
                 "Telegram ignores the rest, link targets included",
         source=f"{_LIMITS} (found by experiment per python-telegram-bot; unverified)",
         remediation="Use less formatting (fewer links and bold runs), or send the text plain."),
    Rule(id="telegram.media.max_count", field="media", code="bad_media",
         summary=f"at most {ALBUM_MAX} media (an album: sendMediaGroup takes 2-10)",
         source=f"{_METHODS}: sendMediaGroup",
         remediation="Attach ten media or fewer, or give Telegram a variant."),
    Rule(id="telegram.media.kind", field="media", code="bad_media",
         summary="images (sent as photos) and videos only",
         source=f"{_METHODS}: sendPhoto, sendVideo",
         remediation="Attach an image or a video; other files are not sent to Telegram."),
    Rule(id="telegram.media.max_size", field="media", code="bad_media",
         summary="photos up to 10 MB uploaded or 5 MB by URL; videos up to 50 MB uploaded or "
                 "20 MB by URL", source=_LIMITS,
         remediation="Compress the file, or attach the file itself instead of a URL."),
    Rule(id="telegram.photo.dimensions", field="media", code="bad_media",
         summary=f"photos: width + height at most {SIDES_MAX:,}, aspect ratio at most {RATIO_MAX}",
         source=_LIMITS, remediation="Resize or crop the image."),
)


# --------------------------------------------------------------------------- the platform


def _chat_id_check(value: Any) -> str | None:
    if _CHAT_ID.fullmatch(str(value)):
        return None
    return "a chat id like -1001234567890 or a @channelusername"


class TelegramPlatform(BasePlatform):
    """Post to a Telegram channel or chat as a bot: text, photos, videos, albums.

    Credentials: ``bot_token`` (from @BotFather; the bot must be an
    administrator of the channel with the right to post) and, optionally,
    ``webhook_secret`` (for the service bot's inbound webhook). Options:
    ``chat_id`` (required: ``-100…`` or ``@channelusername``), ``base_url``
    (a local Bot API server), ``disable_notification``, ``protect_content``
    and ``link_preview``.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="telegram", account="@sasac_news",
        ...                 credentials={"bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"},
        ...                 options={"chat_id": "@sasac_news"})
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(text="国" * 4097), ch)]
        [('too_long', 'telegram.text.max_length')]
    """

    name: ClassVar[str] = "telegram"
    credential_keys: ClassVar[tuple[str, ...]] = ("bot_token",)
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("webhook_secret",)
    options: ClassVar[Mapping[str, Option]] = {
        "chat_id": Option(str, required=True, coerce=True, check=_chat_id_check,
                          doc="the channel or chat: -1001234567890 or @channelusername"),
        "base_url": Option(str, default=API, check=url_check(),
                           doc="a local Bot API server's address (default https://api.telegram.org)"),
        "disable_notification": Option(bool, default=False,
                                       doc="deliver silently: subscribers get no sound"),
        "protect_content": Option(bool, default=False,
                                  doc="readers cannot forward or save it (members cannot forward it either)"),
        "link_preview": Option(bool, default=True,
                               doc="show a preview of the first link of a text message"),
    }
    auth = BotToken()
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "hash"
    # Bot FAQ: about 1 message/s per chat (short bursts tolerated), at most 20
    # per minute to one group, which @BotSupport reportedly applies to
    # channels too (unverified); about 30 messages/s for bulk sends, per bot.
    # "telegram" is one budget for all Telegram channels of a client (several
    # bots may raise it); "telegram:*" is each chat's own.
    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {
        "telegram": RateLimit(30),
        "telegram:*": RateLimit(20, per=60),
    }
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=False, repost=True, dedupe=False, reconcile=False,
        media_max=ALBUM_MAX, media_kinds=("image", "video"),
        counting=("UTF-16 code units of the text as readers see it (after HTML entity parsing): "
                  "4,096 for a message, 1,024 for the caption of media; the Bot API gives no counts "
                  "of a post, so there are no metrics"),
        fields=("text", "title", "summary", "body", "link", "tags", "media"),
    )
    fake: ClassVar[str] = "govmedia.testing.telegram:FakeTelegram"
    api_base: ClassVar[str] = API

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """The declared checks, and a bot token of the shape @BotFather gives."""
        super().check_channel(channel)
        if not _TOKEN.fullmatch(channel.credentials["bot_token"]):
            # Never quote the value: it is a secret, and a wrong one may be a real one.
            raise ConfigError(
                f"channel {channel.id}: credential bot_token is not a bot token (digits, a colon, "
                "then letters, digits, '-' and '_', as @BotFather gives it)")

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Length as Telegram counts it (text or caption), formatting, and the media rules."""
        text = message_html(post)
        visible = telegram_visible_text(text)
        problems: list[Problem] = []
        if post.media:
            problems.extend(self.check_lengths(visible, "caption"))
        else:
            problems.extend(self.check_lengths(visible, "text"))
            if not visible.strip():
                problems.append(self.rule("telegram.text.not_empty").problem(
                    "the message would be empty and the post has no media"))
        entities = _entities(text)
        if entities > ENTITIES_MAX:
            problems.append(self.rule("telegram.text.max_entities").problem(
                f"the text has {entities} formatting entities; Telegram ignores those beyond about "
                f"{ENTITIES_MAX}, link targets included"))
        if not any(f and f.strip() for f in (post.text, post.title, post.summary)):
            problems.extend(body_problems(post.body, post.body_format))  # the body is what is sent
        problems.extend(self._media_problems(post.media))
        return problems

    def _media_problems(self, media: Sequence[Media]) -> list[Problem]:
        problems = []
        if len(media) > ALBUM_MAX:
            problems.append(self.rule("telegram.media.max_count").problem(
                f"{len(media)} media; an album takes at most {ALBUM_MAX}"))
        for number, item in enumerate(media, 1):
            name = f"media {number} ({item.filename})"
            if item.kind not in ("image", "video"):
                problems.append(self.rule("telegram.media.kind").problem(
                    f"{name} is {item.mime_type}; govmedia sends Telegram images and videos only"))
                continue
            limit = _limit(item)
            how = "by URL" if item.url is not None else "uploaded"
            if item.size is not None and item.size > limit:
                problems.append(self.rule("telegram.media.max_size").problem(
                    f"{name} is {_megabytes(item.size)}; Telegram takes {item.kind}s up to "
                    f"{_megabytes(limit)} {how}"))
            if item.kind == "image":
                head = media_head(item, PREFIX_SIZE)  # b"" unreadable: the media check reports it
                why = _dimension_problem(image_size(head) if head else None)
                if why:
                    problems.append(self.rule("telegram.photo.dimensions").problem(f"{name} {why}"))
        return problems

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``getMe``: the bot token works (the fact sheet's token check)."""
        return self.request(channel, "POST", "/getMe", safe=True, creates=False)

    def render(self, post: Post, channel: Channel) -> Rendering:
        """The message as `publish` sends it: Telegram HTML, a caption when there is media."""
        html_text = message_html(post)
        fields: dict[str, Any] = {"chat_id": self.opts(channel).chat_id, "parse_mode": "HTML",
                                  ("caption" if post.media else "text"): html_text}
        if post.media:
            fields["media"] = [Rendering.source(m) for m in post.media]
        return Rendering(fields=fields, text=html_text, html=html_text)

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """One send: ``sendMessage``, ``sendPhoto``/``sendVideo`` or ``sendMediaGroup``."""
        opts = self.opts(channel)
        text = message_html(post)
        if not post.media:
            body: dict[str, Any] = {"chat_id": opts.chat_id, "text": text, "parse_mode": "HTML",
                                    **self._flags(opts)}
            if not opts.link_preview:
                body["link_preview_options"] = {"is_disabled": True}
            receipt = yield from self._send(channel, opts, "sendMessage", json=body)
            return receipt
        items = [self._item(media, number, channel) for number, media in enumerate(post.media, 1)]
        if len(items) == 1:
            receipt = yield from self._send_one(channel, opts, items[0], text)
        else:
            receipt = yield from self._send_album(channel, opts, items, text)
        return receipt

    def _flags(self, opts: Options) -> dict[str, Any]:
        flags: dict[str, Any] = {}
        if opts.disable_notification:
            flags["disable_notification"] = True
        if opts.protect_content:
            flags["protect_content"] = True
        return flags

    def _send_one(self, channel: Channel, opts: Options, item: _Item, text: str) -> Flow[Receipt]:
        method = "sendPhoto" if item.type == "photo" else "sendVideo"
        fields: dict[str, Any] = {"chat_id": opts.chat_id, **self._flags(opts)}
        if text:
            fields.update(caption=text, parse_mode="HTML")
        if item.type == "video":
            fields["supports_streaming"] = True
        if item.media.url is not None:
            receipt: Receipt = yield from self._send(
                channel, opts, method, json={**fields, item.type: item.media.url})
            return receipt
        body, kind = self._multipart(channel, fields, {item.type: item})
        receipt = yield from self._send(channel, opts, method, content=body,
                                        headers={"Content-Type": kind})
        return receipt

    def _send_album(self, channel: Channel, opts: Options, items: list[_Item],
                    text: str) -> Flow[Receipt]:
        # Only item-level captions exist; clients show an album's caption when
        # one item has it (how they show several is unverified), so the text
        # goes on the first item only.
        media: list[dict[str, Any]] = []
        files: dict[str, _Item] = {}
        for index, item in enumerate(items):
            entry: dict[str, Any] = {"type": item.type}
            if item.media.url is not None:
                entry["media"] = item.media.url
            else:
                part = f"file{index}"
                entry["media"] = f"attach://{part}"
                files[part] = item
            if item.type == "video":
                entry["supports_streaming"] = True
            if index == 0 and text:
                entry.update(caption=text, parse_mode="HTML")
            media.append(entry)
        fields: dict[str, Any] = {"chat_id": opts.chat_id, "media": media, **self._flags(opts)}
        if not files:
            receipt: Receipt = yield from self._send(channel, opts, "sendMediaGroup", json=fields)
            return receipt
        body, kind = self._multipart(channel, fields, files)
        receipt = yield from self._send(channel, opts, "sendMediaGroup", content=body,
                                        headers={"Content-Type": kind})
        return receipt

    def _send(self, channel: Channel, opts: Options, method: str, **body: Any) -> Flow[Receipt]:
        """The create: sent once, never resent after it may have been applied."""
        # Telegram has no idempotency key: a send that timed out after it
        # left, or got a 5xx, may be live, so it is not safe to resend
        # (the pipeline makes it DeliveryUnknown).
        request = self.request(channel, "POST", f"/{method}", creates=True, safe=False, **body)
        response = yield request
        result = _result(response, channel, creates=True)
        ids = _message_ids(result, response, channel)
        chat = _chat_of(result)
        chat_id = chat.get("id", opts.chat_id)
        username = chat.get("username")
        known: dict[str, Any] = {"chat_id": chat_id, "message_ids": ids}
        if isinstance(username, str):
            known["username"] = username
        yield Checkpoint("sent", known)
        return self._receipt(channel, known, result, protected=opts.protect_content)

    def _receipt(self, channel: Channel, known: Mapping[str, Any], result: Any, *,
                 protected: bool = False) -> Receipt:
        ids = list(known["message_ids"])
        raw: dict[str, Any] = {**known, "result": result}
        if protected:
            raw["protected"] = True
        return Receipt(channel=channel, remote_id=str(ids[0]),
                       url=_public_url(known.get("username"), ids[0]), state="published", raw=raw)

    def _item(self, media: Media, number: int, channel: Channel) -> _Item:
        where = f"media {number} ({media.filename})"
        kind = {"image": "photo", "video": "video"}.get(media.kind)
        if kind is None:  # validate() refused it already
            raise ValidationError([self.rule("telegram.media.kind").problem(
                f"{where} is {media.mime_type}; govmedia sends Telegram images and videos only")],
                platform=self.name, account=channel.account)
        return _Item(type=kind, media=media, where=where)

    def _multipart(self, channel: Channel, fields: Mapping[str, Any],
                   files: Mapping[str, _Item]) -> tuple[bytes, str]:
        """``(body, content type)`` of a multipart/form-data send, each file read into it once.

        The pipeline keeps a request's body to resend it byte for byte, so
        the body is built here in one buffer: a file is read from disk in
        pieces straight into it, never also held on its own (a 50 MB video
        costs 50 MB, not 100).
        """
        form = FormBody()
        for name, value in _form(fields).items():
            form.field(name, value)
        for name, item in files.items():
            self._write_file(form, name, item, channel)
        return form.finish()

    def _write_file(self, form: FormBody, name: str, item: _Item, channel: Channel) -> None:
        """One file part: judged by its first bytes (sniffed, sized), then copied into *out*.

        A file is opened once: the bytes judged are the bytes sent, and a
        file that changes size while it is read fails the delivery before
        anything is sent.
        """
        media = item.media
        if media.data is not None:
            data = media.data
            _, mime = self._judged(item, len(data), data[:PREFIX_SIZE], channel)
            form.file(name, filename=media.filename, mime_type=mime, data=memoryview(data))
            return
        with open_regular(str(media.path)) as stream:
            size = _file_size(stream)
            head, mime = self._judged(item, size, None if size > _limit(media) else
                                      stream.read(PREFIX_SIZE), channel)
            left = form.copy(name, filename=media.filename, mime_type=mime, stream=stream, size=size,
                             head=head)
            if left or stream.read(1):
                raise ValidationError([Problem(
                    code="bad_media", field="media",
                    message=f"{item.where} changed size while it was read for the upload; "
                            "nothing was sent")], platform=self.name, account=channel.account)

    def _judged(self, item: _Item, size: int, head: bytes | None,
                channel: Channel) -> tuple[bytes, str]:
        """``(head, MIME type to send)`` once the size, the sniffed format and a photo's dimensions pass."""
        media, where = item.media, item.where
        limit = _limit(media)
        if size > limit or head is None:
            raise ValidationError([self.rule("telegram.media.max_size").problem(
                f"{where} is {_megabytes(size)}; Telegram takes {media.kind}s up to "
                f"{_megabytes(limit)} uploaded")], platform=self.name, account=channel.account)
        found = verify_bytes(media, head, platform=self.name, account=channel.account, where=where)
        if item.type == "photo":
            why = _dimension_problem(image_size(head))
            if why:
                raise ValidationError([self.rule("telegram.photo.dimensions").problem(
                    f"{where} {why}")], platform=self.name, account=channel.account)
        return head, found.mime_type if found else media.mime_type

    # ----------------------------------------------------------- settling a delivery in doubt

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """A send whose message ids were journaled is done: its receipt, nothing sent again.

        Without ids (the answer was lost) Telegram cannot be asked whether it
        posted (the Bot API reads no channel history), so the delivery stays
        in doubt (`DeliveryUnknown`) and is never resent.
        """
        ids = doubt.data.get("message_ids")
        if (isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids)
                and doubt.data.get("chat_id") is not None):
            known = {k: doubt.data[k] for k in ("chat_id", "message_ids", "username")
                     if k in doubt.data}
            return self._receipt(channel, known, None)
        found: Receipt | None = yield from super().recover(post, channel, key, doubt)
        return found

    # ----------------------------------------------------------- delete

    def delete(self, receipt: Receipt) -> Flow[None]:
        """``deleteMessage`` for each message of the post (an album is several); gone is fine."""
        channel = receipt.channel
        chat_id = receipt.raw.get("chat_id", self.opts(channel).chat_id)
        ids = receipt.raw.get("message_ids") or [receipt.remote_id]
        for message_id in ids:
            # Deleting twice finds nothing to delete (answered below as done),
            # so a resend after a lost answer is harmless.
            request = self.request(channel, "POST", "/deleteMessage", safe=True, creates=False,
                                   json={"chat_id": chat_id, "message_id": int(message_id)})
            try:
                yield request
            except PlatformError as exc:
                if _NOT_FOUND_TO_DELETE not in exc.message:
                    raise
                logger.info("telegram [%s] message %s was gone already", channel.account, message_id)

    # ----------------------------------------------------------- reposts in amplify mode

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """A forward needs the hub's chat readable by this bot: the same bot, and an unprotected post.

        A bot administering both chats can surely forward; another bot may
        not read the hub's chat (unverified either way), so the member posts
        a link to the hub's post instead.
        """
        if original.channel.platform != self.name or channel.platform != self.name:
            return False
        if original.raw.get("protected"):
            return False  # protect_content: Telegram refuses to forward it
        same_bot = _bot_id(original.channel) and _bot_id(original.channel) == _bot_id(channel)
        return bool(same_bot)

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """Forward the hub's post: ``forwardMessage``, or ``forwardMessages`` for an album."""
        if not self.can_repost(original, channel):
            raise ConfigError(
                f"channel {channel.id} cannot forward {original.channel.id}'s post (another bot, "
                "or protected content): publish a post with a link instead")
        opts = self.opts(channel)
        from_chat = original.raw.get("chat_id", self.opts(original.channel).chat_id)
        ids = [int(i) for i in (original.raw.get("message_ids") or [original.remote_id])]
        flags = self._flags(opts)
        if len(ids) == 1:
            # forwardMessage is not on the fact sheet (from the Bot API docs:
            # chat_id, from_chat_id, message_id -> the new Message); unverified here.
            receipt: Receipt = yield from self._send(
                channel, opts, "forwardMessage",
                json={"chat_id": opts.chat_id, "from_chat_id": from_chat, "message_id": ids[0],
                      **flags})
            return receipt
        # An album is forwarded whole, as an album, with forwardMessages (Bot
        # API 7.0; not on the fact sheet, unverified here). It answers
        # MessageId objects without the chat, so the chat is read first: a
        # read, before the point of no return.
        chat = yield from self.call(channel, "POST", "/getChat", json={"chat_id": opts.chat_id},
                                    safe=True, creates=False)
        username = chat.get("result", {}).get("username") if isinstance(chat, dict) else None
        request = self.request(channel, "POST", "/forwardMessages", creates=True, safe=False,
                               json={"chat_id": opts.chat_id, "from_chat_id": from_chat,
                                     "message_ids": sorted(ids), **flags})
        response = yield request
        result = _result(response, channel, creates=True)
        new_ids = _message_ids(result, response, channel)
        known: dict[str, Any] = {"chat_id": opts.chat_id, "message_ids": new_ids}
        if isinstance(username, str):
            known["username"] = username
        yield Checkpoint("sent", known)
        return self._receipt(channel, known, result)

    # ----------------------------------------------------------- errors

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """The error table's verdict, with a migrated group's new id named.

        (The error's ``response`` keeps its request without the bot token:
        `govmedia.errors.PlatformError` masks it, for every platform.)
        """
        error = super().classify(response, channel)
        if error is None or _MIGRATED not in error.message:
            return error
        try:
            body = json.loads(response.content)
        except ValueError:
            return error
        params = body.get("parameters") if isinstance(body, dict) else None
        new_id = params.get("migrate_to_chat_id") if isinstance(params, dict) else None
        if not isinstance(new_id, int):
            return error
        return error.evolve(hint=(
            f"The group became a supergroup: set the channel's chat_id to {new_id} and run "
            "again (nothing was sent)."))


def _form(fields: Mapping[str, Any]) -> dict[str, str]:
    """Multipart text fields: JSON for lists and objects, ``true``/``false``, numbers as text."""
    form: dict[str, str] = {}
    for name, value in fields.items():
        if isinstance(value, bool):
            form[name] = "true" if value else "false"
        elif isinstance(value, list | dict):
            form[name] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        else:
            form[name] = str(value)
    return form
