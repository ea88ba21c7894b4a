"""Matrix chat (client-server API): room messages with media, from a bot's access token.

Facts: shared/platforms/matrix_chat.md. Every call goes to the homeserver
(option ``base_url``) with ``Authorization: Bearer <access_token>``.

A post is one or more ``m.room.message`` events in the room (option
``room_id``): the text first (``body``, and for Markdown its HTML as
``formatted_body``, see `govmedia.content.matrix`), then one event per media
(``m.image``, ``m.video``, ``m.audio``, ``m.file``), each uploaded first to the
media repository (``POST /_matrix/media/v3/upload``; authenticated media,
read back with ``/_matrix/client/v1/media/download``). Every upload happens
before the first event is sent, so a file the server refuses fails the
delivery with nothing posted.

Each event is ``PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}``
with ``txnId`` = the idempotency key plus the part's index (`txn_id`). The
homeserver treats a repeat of a txnId from the same device as a
retransmission and answers the first event's id, so a resend after a timeout
or a 5xx cannot post twice. Each event also carries the same id in an
invisible content key (`MARKER`), so a re-run beyond the server's memory of
txnIds (Synapse: 24 hours, below) can look the events up in the room and
send only the missing ones.

The receipt's ``remote_id`` is the first event's id, ``raw["event_ids"]``
lists all of them, ``url`` is a matrix.to link; ``delete`` redacts every
event. Matrix counts nothing, so `metrics` are ``None``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from govmedia._imagesize import PREFIX_SIZE, image_size
from govmedia.content.markup import short_text
from govmedia.content.matrix import MatrixText, matrix_text
from govmedia.content.media import verify_bytes
from govmedia.content.rules import LengthRule, Rule
from govmedia.errors import ContentRejected, DeliveryUnknown, PlatformError, RateLimited
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import Header, StaticToken
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, url_check
from govmedia.platforms.steps import Checkpoint, Doubt, Flow, Sleep, json_body
from govmedia.platforms.uploads import media_bytes
from govmedia.policy.ratelimit import RateLimit

__all__ = ["MARKER", "MatrixChatPlatform", "chat_text", "matrix_to", "txn_id"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/matrix_chat.md"
CLIENT = "/_matrix/client/v3"
MB = 1024 * 1024
UPLOAD_MAX = 50 * MB  # Synapse's max_upload_size default ("50M"); servers set their own
# The spec caps a whole event (PDU) at 65,536 bytes (sheet: unverified in its
# fact check); the event's envelope (ids, hashes, signatures) takes the rest.
CONTENT_MAX = 60_000
# How long a homeserver remembers a txnId. The spec names no window; Synapse
# keeps the device's txnIds 24 hours (element-hq/synapse events_worker.py
# `_cleanup_old_transaction_ids`; not on the fact sheet, unverified for other
# homeservers). Within it a resend is deduplicated by the server.
TXN_WINDOW = 24 * 3600.0
MARKER = "org.govmedia.key"
"""The content key each event carries its txnId in: readers never see it."""
LOOKUP_PAGES = 5
LOOKUP_PAGE_SIZE = 100
CLOCK_SLACK = 600.0  # seconds the homeserver's clock may be off from ours
# Synapse limits messages per user, across rooms (0.2 a second by default):
# a fan-out of one bot to many rooms meets it whatever the client does. A
# delivery waits as the server asks, up to this long in all (option
# rate_limit_wait), beyond the retries of the client's RetryPolicy.
RATE_LIMIT_WAIT = 600.0
MSGTYPES = {"image": "m.image", "video": "m.video", "audio": "m.audio"}


def txn_id(key: str, index: int) -> str:
    """The txnId of part *index* (0: the text, then each media) of the post sent under *key*.

    Example:
        >>> from govmedia.platforms.matrix_chat import txn_id
        >>> txn_id("gm-0123456789abcdef0123456789abcdef", 1)
        'gm-0123456789abcdef0123456789abcdef.1'
    """
    return f"{key}.{index}"


def chat_text(post: Post) -> MatrixText:
    r"""The text event's ``body`` and ``formatted_body`` for *post*.

    The text is `Post.text` (else title, summary and link; see
    `govmedia.content.markup.short_text`), read as Markdown when the post is
    written in Markdown (``body_format``, the default) and as plain text
    otherwise. A post with only a body sends the body in its own format.
    Tags are not sent: Matrix has no hashtags.

    Example:
        >>> import govmedia as gm
        >>> chat_text(gm.Post(text="**微招聘** 今日开始")).formatted_body
        '<strong>微招聘</strong> 今日开始'
        >>> chat_text(gm.Post(body="<h2>通知</h2><p>正文</p>", body_format="html"))
        MatrixText(body='通知\n正文', formatted_body='<h2>通知</h2><p>正文</p>')
    """
    if post.body and not any((f or "").strip() for f in (post.text, post.title, post.summary)):
        return matrix_text(post.body, post.body_format)
    return matrix_text(short_text(post), "markdown" if post.body_format == "markdown" else "text")


def matrix_to(room_id: str, event_id: str, server: str | None) -> str:
    """The matrix.to permalink of an event (spec appendix "matrix.to navigation").

    Example:
        >>> from govmedia.platforms.matrix_chat import matrix_to
        >>> matrix_to("!ab:matrix.example", "$ev", "matrix.example")
        'https://matrix.to/#/!ab%3Amatrix.example/%24ev?via=matrix.example'
    """
    link = f"https://matrix.to/#/{quote(room_id, safe='!')}/{quote(event_id, safe='')}"
    return f"{link}?via={quote(server, safe='')}" if server else link


def _content_size(text: str) -> int:
    """Bytes of a Markdown text's event content as sent (``body`` and ``formatted_body``)."""
    return len(json_body(matrix_text(text).content()))


def _room_id(value: Any) -> str | None:
    if value.startswith("#"):
        return ("a room ID like '!abc:matrix.example' (Room settings → Advanced), "
                "not an alias: govmedia does not resolve aliases")
    if not value.startswith("!") or any(c.isspace() or c == "/" for c in value):
        return "a room ID like '!abc:matrix.example' (Room settings → Advanced)"
    return None


def _server_of(identifier: str) -> str | None:
    """The server name of ``!room:server`` or ``@user:server`` (room v12 ids have none)."""
    _, colon, server = identifier.partition(":")
    return server or None if colon else None


def _path(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


def _event_ids(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str) and v] if isinstance(value, list) else []


_RELOGIN_HINT = (
    "The homeserver refused the access token (logged out, expired or the device deleted). Log the "
    "bot in again (POST /_matrix/client/v3/login, with the same device_id so that transaction "
    "ids stay valid) and put the new access_token in the channel."
)

RULES: tuple[Rule, ...] = (
    LengthRule(id="matrix_chat.text.max_bytes", field="text", limit=CONTENT_MAX, counter=_content_size,
               unit="bytes of event content (body and its HTML, as JSON)",
               source=f"{SHEET}: 65,536-byte event limit (unverified), less the envelope"),
    Rule(id="matrix_chat.text.not_empty", field="text", code="empty",
         summary="a message needs text or media", source=f"{SHEET}: m.room.message body",
         remediation="Give the post a text, or attach media."),
    Rule(id="matrix_chat.media.max_size", field="media", code="bad_media",
         summary="each file at most the homeserver's max_upload_size (Synapse default 50 MB; "
                 "option max_upload_size)",
         source=f"{SHEET}: Synapse max_upload_size; GET /_matrix/client/v1/media/config",
         remediation="Compress the file, or set option max_upload_size to the server's limit."),
)

ERRORS = ErrorTable(
    {
        "M_UNKNOWN_TOKEN": Code.auth(_RELOGIN_HINT),
        "M_MISSING_TOKEN": Code.auth("No access token reached the homeserver: check the channel's "
                                     "access_token and that base_url is the homeserver itself."),
        "M_FORBIDDEN": Code.permanent(
            "The homeserver forbids this: the bot must be joined to the room (invite it, then "
            "POST /_matrix/client/v3/join/{roomId} as the bot) and have the power level to send "
            "messages there."),
        "M_USER_DEACTIVATED": Code.permanent("The bot's account is deactivated: ask the homeserver's admin."),
        "M_USER_LOCKED": Code.permanent("The bot's account is locked: ask the homeserver's admin."),
        "M_USER_SUSPENDED": Code.permanent("The bot's account is suspended: ask the homeserver's admin."),
        "M_USER_LIMIT_EXCEEDED": Code.permanent(
            "The account is over a limit of the homeserver (its media quota, say): see the "
            "error's info_uri, or ask the homeserver's admin."),
        "M_NOT_FOUND": Code.permanent("The room or the event does not exist (check option room_id)."),
        "M_UNRECOGNIZED": Code.permanent(
            "The server does not know this endpoint: check that base_url is the homeserver "
            "(/.well-known/matrix/client names it) and that it is recent enough."),
        # The wait: Retry-After first, else retry_after_ms (policy/retry.py reads both);
        # the sheet marks retry_after_ms unverified for new Synapses; 1.163.2 sends both.
        "M_LIMIT_EXCEEDED": Code.rate_limited(
            "The homeserver's rate limit (Synapse's default: 0.2 messages a second per account, "
            "bursts of 10): waited as it asked. An admin can lift it for the bot "
            "(POST /_synapse/admin/v1/users/{userId}/override_ratelimit)."),
        429: Code.rate_limited(),
        # Refused outright (a resource cap such as monthly active users): nothing applied.
        "M_RESOURCE_LIMIT_EXCEEDED": Code.busy(
            "The homeserver is over a resource limit: ask its admin (the error's admin_contact)."),
        "M_TOO_LARGE": Code.rejected(rule="matrix_chat.media.max_size"),
        "M_BAD_JSON": Code.rejected(unforeseeable="a malformed event: a govmedia bug if seen"),
        "M_NOT_JSON": Code.rejected(unforeseeable="a malformed body: a govmedia bug if seen"),
        "M_INVALID_PARAM": Code.rejected(unforeseeable="a parameter refused: a govmedia bug if seen"),
        "M_MISSING_PARAM": Code.rejected(unforeseeable="a missing parameter: a govmedia bug if seen"),
        "M_DUPLICATE_ANNOTATION": Code.rejected(
            unforeseeable="govmedia sends no annotations (reactions): a bug if seen"),
        413: Code.rejected(rule="matrix_chat.media.max_size"),
    },
    # M_UNKNOWN stays out: the sheet says to trust the HTTP status for it (a
    # 5xx with M_UNKNOWN may have been applied).
    code_field="errcode", message_field="error",
    messages=(
        # Synapse: EventSizeError("event too large") for the event, "Upload
        # request body is too large" for media (element-hq/synapse).
        ("M_TOO_LARGE", "event too large", Code.rejected(rule="matrix_chat.text.max_bytes")),
    ),
)


class MatrixChatPlatform(BasePlatform):
    """Send a post to a Matrix room as the bot the access token belongs to.

    Credentials: ``access_token`` (the bot's; log it in once with a fixed
    ``device_id``). Options: ``base_url`` (the homeserver, required),
    ``room_id`` (``!abc:matrix.example``, required; the bot must be joined),
    ``msgtype`` (``m.text``, or ``m.notice`` for a bot that others' bots
    should not answer), ``max_upload_size`` (bytes; Synapse's default 50 MB)
    and ``rate_limit_wait`` (seconds a delivery may wait out the homeserver's
    rate limit; 600).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="matrix_chat", account="@sasac:matrix.example",
        ...                 credentials={"access_token": "syt_c2FzYWM_abcdef"},
        ...                 options={"base_url": "https://matrix.example", "room_id": "!news:matrix.example"})
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(text="国" * 21_000), ch)]
        [('too_long', 'matrix_chat.text.max_bytes')]
    """

    name: ClassVar[str] = "matrix_chat"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)
    options: ClassVar[Mapping[str, Option]] = {
        "base_url": Option(str, required=True, check=url_check(),
                           doc="the homeserver's address, like https://matrix.example"),
        "room_id": Option(str, required=True, check=_room_id,
                          doc="the room to post in, like !abc:matrix.example"),
        "msgtype": Option(str, default="m.text", choices=("m.text", "m.notice")),
        "max_upload_size": Option(int, default=UPLOAD_MAX, minimum=1, coerce=True,
                                  doc="the homeserver's upload limit in bytes"),
        "rate_limit_wait": Option(float, default=RATE_LIMIT_WAIT, minimum=0, coerce=True,
                                  doc="seconds a delivery may wait out the homeserver's rate limit"),
    }
    auth = StaticToken("access_token", Header("Authorization", "Bearer {}"))
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, dedupe=True, dedupe_window=TXN_WINDOW, reconcile=True,
        media_kinds=("image", "video", "audio", "file"),
        counting=("UTF-8 bytes of the text event's content (body and, for Markdown, its HTML); "
                  "each media is an event of its own"),
        fields=("text", "title", "summary", "link", "body", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "none"
    # Synapse's default rc_message (sheet): 0.2 events a second per account,
    # bursts of 10. Kept per channel and per access token (`rate_scopes`), so
    # channels of one bot share it. Homeservers that allow the bot more are
    # told so with Client(rate_limits={"matrix_chat:*": ...}).
    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {
        "matrix_chat:*": RateLimit(1, per=5, burst=10),
    }
    fake: ClassVar[str] = "govmedia.testing.matrix_chat:FakeMatrixChat"

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """The text event's size, an empty message, and each file against the upload limit."""
        text = chat_text(post)
        problems: list[Problem] = []
        size = len(json_body(text.content()))
        if size > CONTENT_MAX:
            problems.append(self.rule("matrix_chat.text.max_bytes").problem(
                f"text is {size:,} bytes of event content as Matrix receives it (body and its "
                f"HTML), limit {CONTENT_MAX:,}: {size - CONTENT_MAX:,} over"))
        if not text.body.strip() and not post.media:
            problems.append(self.rule("matrix_chat.text.not_empty").problem(
                "the message would be empty and the post has no media"))
        limit = self.opts(channel).max_upload_size
        for number, item in enumerate(post.media, 1):
            if item.size is not None and item.size > limit:
                problems.append(self.rule("matrix_chat.media.max_size").problem(
                    f"media {number} ({item.filename}) is {item.size:,} bytes; the homeserver "
                    f"takes files up to {limit:,} (option max_upload_size)"))
        return problems

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """``matrix_chat:token-…``: the homeserver limits the bot, however many rooms it posts to.

        A hash names the token: no secret goes into a rate-limit key.
        """
        seed = f"{self.base_url(channel)}\x1f{channel.credentials['access_token']}"
        return (f"token-{hashlib.sha256(seed.encode()).hexdigest()[:16]}",)

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET /account/whoami``: the access token works."""
        return self.request(channel, "GET", f"{CLIENT}/account/whoami")

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the media, then send the text and each media as events of their own."""
        receipt: Receipt = yield from self._send(post, channel, key, known={})
        return receipt

    def _parts(self, post: Post) -> list[MatrixText | Media]:
        text = chat_text(post)
        return [*([text] if text.body.strip() else []), *post.media]

    def _send(self, post: Post, channel: Channel, key: str, *, known: Mapping[int, str]) -> Flow[Receipt]:
        """Send every part not in *known* (index -> event id) under its txnId."""
        opts = self.opts(channel)
        room = opts.room_id
        parts = self._parts(post)
        first_media = len(parts) - len(post.media)  # 1 with a text event, else 0
        contents: dict[int, dict[str, Any]] = {}
        for index, part in enumerate(parts):  # every upload before the first event
            if index in known:
                continue
            if isinstance(part, MatrixText):
                contents[index] = part.content(opts.msgtype)
            else:
                where = f"media {index - first_media + 1} ({part.filename})"
                contents[index] = yield from self._media_content(part, where, channel)
        event_ids = dict(known)
        yield Checkpoint("sending", {"room_id": room})
        for index, content in contents.items():
            txn = txn_id(key, index)
            answer = yield from self._put_event(channel, room, txn, {**content, MARKER: txn})
            event_ids[index] = str(answer["event_id"])
            yield Checkpoint("sent", {"room_id": room,
                                      "event_ids": [event_ids[i] for i in sorted(event_ids)]})
        return self._receipt(channel, room, [event_ids[i] for i in sorted(event_ids)])

    def _put_event(self, channel: Channel, room: str, txn: str, content: dict[str, Any]) -> Flow[Any]:
        """``PUT .../send/m.room.message/{txnId}``, waiting out the rate limit as the server asks."""
        path = f"{CLIENT}/rooms/{_path(room, 'send', 'm.room.message', txn)}"
        budget, waited = self.opts(channel).rate_limit_wait, 0.0
        while True:
            try:
                # Safe to resend: the homeserver answers a repeated txnId from this
                # device with the event it made the first time (same event id).
                answer = yield from self.call(channel, "PUT", path, json=content, safe=True, creates=True,
                                              expect=("event_id",))
            except RateLimited as exc:
                # M_LIMIT_EXCEEDED applies nothing: sending again after the wait is safe.
                wait = exc.retry_after if exc.retry_after is not None else 5.0
                if exc.quota or waited + wait > budget:
                    raise
                logger.info("matrix_chat [%s] rate limited by the homeserver; waiting %.1f s",
                            channel.account, wait)
                yield Sleep(max(wait, 0.05))
                # A server that says "now" over and over still runs the budget down.
                waited += max(wait, 1.0)
                continue
            return answer

    def _receipt(self, channel: Channel, room: str, event_ids: list[str]) -> Receipt:
        server = _server_of(room) or (_server_of(channel.account) if channel.account.startswith("@")
                                      else None)
        return Receipt(channel=channel, remote_id=event_ids[0], url=matrix_to(room, event_ids[0], server),
                       state="published", raw={"room_id": room, "event_ids": event_ids})

    def _media_content(self, item: Media, where: str, channel: Channel) -> Flow[dict[str, Any]]:
        """Upload *item* to the media repository; the event content that shows it."""
        limit = self.opts(channel).max_upload_size
        try:
            data = yield from media_bytes(self, item, channel, limit=limit)
        except PlatformError as exc:  # a download (a file read fails with ConfigError)
            raise exc.evolve(message=f"{where}: could not download {item.url}: {exc.message}") from exc
        if len(data) > limit:
            raise ContentRejected(
                f"{where} is over {limit:,} bytes, the homeserver's upload limit (option "
                "max_upload_size)", platform=self.name, account=channel.account, code="bad_media")
        found = verify_bytes(item, data, platform=self.name, account=channel.account, where=where)
        mime = found.mime_type if found is not None else item.mime_type
        try:
            # No idempotency for uploads, and none needed: a resend leaves at
            # worst an unused file in the media repository, never a message.
            answer = yield from self.call(
                channel, "POST", "/_matrix/media/v3/upload", params={"filename": item.filename},
                content=data, headers={"Content-Type": mime}, safe=True, creates=False,
                expect=("content_uri",))
        except PlatformError as exc:
            if exc.code == "M_FORBIDDEN":  # on an upload: a file type or a quota (sheet)
                raise exc.evolve(cls=ContentRejected, message=f"{where}: {exc.message}", hint=(
                    "The homeserver refused the file (its type is not allowed, or the account's "
                    "media quota is used up).")) from exc
            raise exc.evolve(message=f"{where}: {exc.message}") from exc
        uri = str(answer["content_uri"])
        if not uri.startswith("mxc://"):
            raise PlatformError(f"{where}: the upload answered {uri!r}, not an mxc:// URI",
                                platform=self.name, account=channel.account, code="bad_response")
        # A container that holds sound or pictures (MP4, WebM) is what the media says it is.
        kind = item.kind if found is None or item.kind in found.kinds else found.kind
        info: dict[str, Any] = {"mimetype": mime, "size": len(data)}
        dims = image_size(data[:PREFIX_SIZE]) if kind == "image" else None
        if dims is not None:  # lets clients keep the image's place before it loads
            info["w"], info["h"] = dims
        return {"msgtype": MSGTYPES.get(kind, "m.file"), "body": item.alt or item.filename, "url": uri,
                "info": info}

    # ----------------------------------------------------------- doubt

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Find what an earlier run sent (by the marker), and send only what is missing.

        The room is asked first (the token may belong to another device by
        now, for which the homeserver does not know the txnIds). Where the
        room cannot tell, a resend is still safe while the homeserver
        remembers the txnIds (`TXN_WINDOW`); after that the delivery stays
        in doubt.
        """
        known = dict(enumerate(_event_ids(doubt.data.get("event_ids"))))
        parts = len(self._parts(post))
        found, certain = yield from self._look_up(channel, key, parts, age=doubt.age, known=known)
        known.update(found)
        if not known and certain:
            return None  # nothing of it is in the room: a new send is the first
        if len(known) < parts and not certain and not doubt.within(TXN_WINDOW):
            raise DeliveryUnknown(
                f"an earlier run left this delivery '{doubt.state}'; the room's recent history "
                f"shows {len(known)} of its {parts} events and the homeserver may have forgotten "
                "their transaction ids, so nothing was resent",
                platform=self.name, account=channel.account,
                known={"room_id": self.opts(channel).room_id, "event_ids": list(known.values())},
            )
        receipt: Receipt = yield from self._send(post, channel, key, known=known)
        return receipt

    def reconcile(self, post: Post, channel: Channel, key: str) -> Flow[Receipt | None]:
        """The events of this post found in the room by their marker, or ``None`` if surely none.

        Raises `DeliveryUnknown` where the room's recent history cannot tell.
        """
        found, certain = yield from self._look_up(channel, key, len(self._parts(post)), age=None,
                                                  known={})
        if found:
            return self._receipt(channel, self.opts(channel).room_id, [found[i] for i in sorted(found)])
        if certain:
            return None
        raise DeliveryUnknown(
            "the room's recent history does not show this post, and does not go back far enough "
            "to be sure", platform=self.name, account=channel.account,
            known={"room_id": self.opts(channel).room_id})

    def _look_up(self, channel: Channel, key: str, parts: int, *, age: float | None,
                 known: Mapping[int, str]) -> Flow[tuple[dict[int, str], bool]]:
        """The bot's events carrying this post's marker: ``({index: event id}, certain?)``.

        Reads ``GET /rooms/{roomId}/messages`` backwards (not on the fact
        sheet; verified against Synapse 1.163, shared/servers.md), only the
        bot's own messages (a room member cannot fake one). It is certain
        once every part is found, the room's first event is reached, or the
        events reached are older than the first attempt (*age* seconds ago).
        """
        if len(known) >= parts:
            return {}, True
        me = yield from self.call(channel, "GET", f"{CLIENT}/account/whoami", expect=("user_id",))
        user = str(me["user_id"])
        room = self.opts(channel).room_id
        cutoff = (time.time() - age - CLOCK_SLACK) * 1000 if age is not None else None
        found: dict[int, str] = {}
        event_filter = json.dumps({"types": ["m.room.message"], "senders": [user]}, separators=(",", ":"))
        params: dict[str, Any] = {"dir": "b", "limit": LOOKUP_PAGE_SIZE, "filter": event_filter}
        prefix = f"{key}."
        for _ in range(LOOKUP_PAGES):
            page = yield from self.call(channel, "GET", f"{CLIENT}/rooms/{_path(room, 'messages')}",
                                        params=params)
            chunk = page.get("chunk") if isinstance(page, Mapping) else None
            older = False
            for event in chunk if isinstance(chunk, list) else ():
                if not isinstance(event, Mapping) or event.get("sender") != user:
                    continue
                content = event.get("content")
                marker = content.get(MARKER) if isinstance(content, Mapping) else None
                index = marker[len(prefix):] if isinstance(marker, str) and marker.startswith(prefix) else ""
                if index.isdigit() and isinstance(event.get("event_id"), str):
                    found[int(index)] = event["event_id"]
                stamp = event.get("origin_server_ts")
                older = older or (cutoff is not None and isinstance(stamp, int) and stamp < cutoff)
            if len(found | dict(known)) >= parts or older:
                return found, True
            end = page.get("end") if isinstance(page, Mapping) else None
            if not isinstance(end, str) or not end:
                return found, True  # the start of the room
            params = {**params, "from": end}
        return found, False

    # ----------------------------------------------------------- delete, metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Redact every event of the post (the text and each media); gone already is fine."""
        channel = receipt.channel
        room = receipt.raw.get("room_id") or self.opts(channel).room_id
        event_ids = _event_ids(receipt.raw.get("event_ids")) or [receipt.remote_id]
        for event_id in reversed(event_ids):
            # The txnId is derived from the event, so a resend is one redaction.
            txn = "gm-redact-" + hashlib.sha256(event_id.encode()).hexdigest()[:32]
            path = f"{CLIENT}/rooms/{_path(str(room), 'redact', event_id, txn)}"
            request = self.request(channel, "PUT", path, json={}, safe=True, creates=False)
            try:
                yield request
            except PlatformError as exc:
                if exc.code != "M_NOT_FOUND":
                    raise
                logger.info("matrix_chat [%s] event %s was gone already", channel.account, event_id)

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Matrix counts no views, likes or shares: every count is ``None`` (no request is made)."""
        yield from ()
        return Metrics(raw={"reason": "Matrix keeps no counts of a message"})

