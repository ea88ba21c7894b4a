"""X (Twitter) API v2: posts with media, reposts, deletes and public counts.

Facts: shared/platforms/x.md. One post becomes one post on X:

1. each of ``post.media`` goes up through the v2 chunked upload, streamed from
   disk one part at a time: ``POST /2/media/upload/initialize`` (JSON: type,
   size, category), ``POST /2/media/upload/{id}/append`` per part (multipart
   ``media`` + ``segment_index``), ``POST /2/media/upload/{id}/finalize``;
   where the answer carries ``processing_info`` (video, GIF), ``GET
   /2/media/upload?command=STATUS&media_id=`` is polled until ``succeeded``
   (X attaches media only then) or ``poll_timeout`` passes;
2. ``POST /2/tweets`` (JSON ``text``, ``media.media_ids``) creates the post.

Requests carry ``Authorization: Bearer`` with the OAuth 2.0 user token
(``access_token``). X's access tokens live two hours: a refused one is
renewed through ``POST /2/oauth2/token`` with the channel's ``refresh_token``
and ``client_id`` (HTTP Basic with ``client_secret`` for a confidential
client). X *rotates* refresh tokens: the new one replaces the old in the
client's token store and the old one is refused from then on.

X takes no idempotency key and does not deduplicate (shared/platforms/x.md
"Idempotency"), so ``POST /2/tweets`` and the repost are sent once: a timeout
or a 5xx after sending raises `DeliveryUnknown` and is never resent, and a
re-run leaves such a delivery ``unknown`` for someone to check the account.
Uploads create nothing a reader sees (an unused media id expires), so each
part, the initialize and the finalize are resent freely. The upload session
is saved in the journal after each part (``Checkpoint(save=True)``), and a
re-run after a crash resumes it (`Recall`) while X still keeps it.

Not used: the v1.1 upload (``upload.twitter.com``), which historically refuses
OAuth 2.0 user tokens, and the older ``command=INIT|APPEND|FINALIZE`` form of
``POST /2/media/upload`` (unverified whether X still accepts it).
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from govmedia._sniff import image_type
from govmedia.content.counting import count_x
from govmedia.content.hashtags import with_tags
from govmedia.content.markup import short_text
from govmedia.content.media import media_head, media_size
from govmedia.content.rules import LengthRule, Rule
from govmedia.errors import (
    ConfigError,
    ContentRejected,
    DeliveryUnknown,
    PlatformError,
    TransientError,
)
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import StaticToken
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, positive_seconds, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    Recall,
    count_or_none,
    id_or_none,
    oauth2_token,
)
from govmedia.platforms.uploads import SavedUpload, refused
from govmedia.tokens import Token

__all__ = ["XPlatform", "post_text"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/x.md"
DEFAULT_BASE_URL = "https://api.x.com"
STATUS_URL = "https://x.com/i/web/status/{}"
TEXT_MAX = 280
IMAGES_MAX = 4                      # "Max 4 images or 1 video/GIF per post (unverified)"
SEGMENTS_MAX = 1000                 # APPEND segment_index 0-999
SEGMENT_MAX_BYTES = 5_000_000       # APPEND media "<=5 MB": the smaller reading of MB
PART_DEFAULT = 4 * 1024 * 1024
PART_MIN = 64 * 1024
FILE_MAX_BYTES = SEGMENTS_MAX * SEGMENT_MAX_BYTES
TOKEN_LIFETIME = 7200.0             # "Access token lives 2 h"
REPLY_SETTINGS = ("following", "mentionedUsers", "subscribers", "verified")
RETWEET = "retweet:"                # remote_id of a repost: "retweet:<source post id>"
# A saved upload session is resumed only while X surely still keeps it.
_RESUME_MARGIN = 600.0
_TOKEN_MAX_LIFETIME = 24 * 3600.0

def post_text(post: Post) -> str:
    """The ``text`` sent for *post*: its short text, then its tags as ``#tag``.

    Tags are written in X's style (`govmedia.content.hashtags`: spaces and
    punctuation removed, an all-digit tag left out); a tag already in the text
    is not added again. The tags count toward the 280.

    Example:
        >>> import govmedia as gm
        >>> print(post_text(gm.Post(text="#央企 招聘季开始了", tags=("央企", "Belt and Road"))))
        #央企 招聘季开始了
        <BLANKLINE>
        #BeltAndRoad
    """
    # A tag already in the text: twitter-text's rule (`#`/`＃` not glued to a word).
    return with_tags(short_text(post), post.tags, "x", platform="x")


# --------------------------------------------------------------------------- media


def _category(media: Media, head: bytes | None) -> tuple[str, str] | None:
    """``(media_category, media_type)`` as INIT takes them, or ``None`` where X takes no such file.

    Images are told by their bytes where we have them (a GIF is a
    ``tweet_gif``, which X processes like a video); anything else by its MIME type.
    """
    sniffed = image_type(head) if head else None
    if sniffed == "gif" or (sniffed is None and media.mime_type.lower() == "image/gif"):
        return "tweet_gif", "image/gif"
    if sniffed in ("jpeg", "png"):
        return "tweet_image", f"image/{sniffed}"
    if media.kind == "image" and sniffed is None:
        return "tweet_image", media.mime_type  # webp and the like: X judges
    if media.kind == "video":
        return "tweet_video", media.mime_type
    return None


def _part_size(opts: Options, size: int) -> int:
    """The part size: the option's, raised where 1,000 parts would not hold the file."""
    return max(int(opts.part_size), -(-size // SEGMENTS_MAX))


def _id(value: str) -> str:
    return quote(value, safe="")


# --------------------------------------------------------------------------- errors

_REAUTHORISE = ("X refused the refresh token (expired, revoked, or already spent: X rotates "
                "them): authorise the account again in the browser (OAuth 2.0 with "
                "offline.access) and put the new tokens in its credentials.")
_CLIENT = ("X refused the app's client credentials on the token endpoint: check the channel's "
           "client_id, and client_secret for a confidential client.")
_FORBIDDEN_APP = ("The app is not attached to a Project with access to API v2, or its tier "
                  "does not include this endpoint: fix it in the developer portal.")

ERRORS = ErrorTable(
    {
        401: Code.auth("X refused the access token (they live 2 hours). With refresh_token and "
                       "client_id in the channel govmedia renews it once; without them, "
                       "authorise the account again."),
        403: Code.permanent("X forbids this for the app or the account: the app needs Read and "
                            "Write permission (regenerate the tokens after enabling it) and the "
                            "scopes tweet.read tweet.write users.read media.write."),
        "client-forbidden": Code.permanent(_FORBIDDEN_APP),
        "client-not-enrolled": Code.permanent(_FORBIDDEN_APP),
        404: Code.permanent("X does not know this post or user (deleted already?)."),
        "resource-not-found": Code.permanent("X does not know this post or user (deleted already?)."),
        429: Code.rate_limited("X's rate limit for this endpoint is spent; govmedia waits for "
                               "x-rate-limit-reset when it is near, else run again after it."),
        88: Code.rate_limited("X's rate limit (v1.1 code 88) is spent; run again after the reset."),
        "usage-capped": Code.quota("The app's plan cap is used up: wait for the next cycle, or "
                                   "raise the plan in the developer portal."),
        400: Code.rejected("X refused the request.",
                           unforeseeable="a malformed request: a govmedia bug if seen"),
        "invalid-request": Code.rejected(
            "X refused a parameter (an expired media id, say).",
            unforeseeable="X answers invalid-request for causes check() cannot see "
                          "(an expired media id, a post deleted meanwhile)"),
        # The token endpoint answers OAuth errors (RFC 6749 5.2), each an auth
        # failure: X answers a spent refresh token with invalid_request too.
        "invalid_grant": Code.auth(_REAUTHORISE),
        "invalid_request": Code.auth(_REAUTHORISE),
        "invalid_scope": Code.auth(_REAUTHORISE),
        "invalid_client": Code.auth(_CLIENT),
        "unauthorized_client": Code.auth(_CLIENT),
        "unsupported_grant_type": Code.auth(_CLIENT),
        500: Code.transient(), 502: Code.transient(), 503: Code.transient(), 504: Code.transient(),
    },
    messages=(
        ("invalid-request", "too long", Code.rejected(rule="x.text.max_length")),
        (403, "duplicate content", Code.rejected(
            "X refuses a text identical to an earlier post of the account: change the text.",
            unforeseeable="X compares with the account's earlier posts, which check() cannot see")),
    ),
)


def _problem_code(value: Any) -> str | None:
    """The last part of an RFC 7807 ``type`` (``…/problems/usage-capped``), else ``None``."""
    if isinstance(value, str) and "/problems/" in value:
        return value.rstrip("/").rsplit("/", 1)[-1] or None
    return None


def _error_of(body: Any) -> tuple[int | str | None, list[str]]:
    """The code and the message parts of an X error body (v2 problem, OAuth or v1.1)."""
    if not isinstance(body, Mapping):
        return None, []
    messages: list[str] = []
    code: int | str | None = None
    oauth = body.get("error")
    if isinstance(oauth, str) and oauth:
        code = oauth  # the token endpoint: {"error": "invalid_grant", "error_description": ...}
        messages.append(str(body.get("error_description") or oauth))
    code = code or _problem_code(body.get("type"))
    words = next((body[n] for n in ("detail", "title") if isinstance(body.get(n), str) and body[n]), None)
    if words:
        messages.append(words)
    listed = body.get("errors")
    for item in listed[:3] if isinstance(listed, list) else ():
        if isinstance(item, Mapping):
            code = code or _listed_code(item)
            words = next((item[n] for n in ("message", "detail") if isinstance(item.get(n), str)), None)
            if words and words not in messages:
                messages.append(words)
    return code, messages


def _listed_code(item: Mapping[str, Any]) -> int | str | None:
    """The code of one entry of ``errors``: v1.1's number (88), or a v2 problem type."""
    number = count_or_none(item.get("code"))
    return number if number is not None else _problem_code(item.get("type"))


# --------------------------------------------------------------------------- rules

_TEXT_SRC = f"{SHEET}: Content limits (twitter-text config v3), max 280"
RULES: tuple[Rule, ...] = (
    LengthRule(id="x.text.max_length", field="text", limit=TEXT_MAX, counter=count_x,
               unit="characters as X counts them (CJK 2, URL 23)", source=_TEXT_SRC),
    Rule(id="x.text.not_empty", field="text", code="empty",
         summary="a post needs text or media", source=f"{SHEET}: POST /2/tweets (unverified)",
         remediation="Give the post a text, or attach media."),
    Rule(id="x.media.max_count", field="media", code="bad_media",
         summary=f"at most {IMAGES_MAX} images", source=f"{SHEET}: Content limits (unverified)",
         remediation="Attach fewer images, or give X a variant."),
    Rule(id="x.media.no_mix", field="media", code="bad_media",
         summary="a video or GIF must be the only attachment",
         source=f"{SHEET}: Content limits (unverified)", remediation="Post the video or GIF on its own."),
    Rule(id="x.media.kind", field="media", code="bad_media",
         summary="images, GIFs and video only", source=f"{SHEET}: media_category",
         remediation="Attach an image, a GIF or a video."),
    Rule(id="x.media.max_size", field="media", code="bad_media",
         summary="a file in at most 1,000 parts of 5 MB",
         source=f"{SHEET}: APPEND segment_index 0-999, media <= 5 MB",
         remediation="Compress the file (X's own per-kind limits are lower and not on the sheet)."),
)


# --------------------------------------------------------------------------- platform


class XPlatform(BasePlatform):
    """Post to X (Twitter) with API v2: text, up to four images or one video/GIF.

    Credentials: ``access_token`` (OAuth 2.0 user context, scopes ``tweet.read
    tweet.write users.read media.write``; ``offline.access`` for a refresh
    token), and to renew it ``refresh_token`` and ``client_id`` (with
    ``client_secret`` for a confidential client). Options: ``reply_settings``
    (who may reply; unset: everyone), ``part_size`` (bytes per upload part,
    default 4 MiB, at most 5 MB), ``poll_timeout`` (seconds to wait for media
    processing, default 120) and ``poll_interval`` (default 1), ``base_url``
    (default ``https://api.x.com``).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="x", account="@sasac", credentials={"access_token": "tok-x-123456"})
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(text="国" * 141), ch)]
        [('too_long', 'x.text.max_length')]
    """

    name: ClassVar[str] = "x"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("client_id", "client_secret", "refresh_token")
    options: ClassVar[Mapping[str, Option]] = {
        "base_url": Option(str, default=DEFAULT_BASE_URL, check=url_check(),
                           doc="the API's address (the sandbox's, in tests)"),
        "reply_settings": Option(str, choices=REPLY_SETTINGS, doc="who may reply; unset: everyone"),
        "part_size": Option(int, default=PART_DEFAULT, minimum=PART_MIN, maximum=SEGMENT_MAX_BYTES,
                            coerce=True, doc="bytes per upload part"),
        "poll_timeout": Option(float, default=120.0, minimum=0.0, coerce=True,
                               doc="seconds to wait for media processing"),
        "poll_interval": Option(float, default=1.0, coerce=True, check=positive_seconds,
                                doc="seconds between processing polls, at least"),
    }
    auth = StaticToken("access_token", refresh=True)
    api_base: ClassVar[str] = DEFAULT_BASE_URL
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, repost=True, dedupe=False, reconcile=False,
        media_max=IMAGES_MAX, media_kinds=("image", "video"),
        counting=(
            "weighted as twitter-text v3 counts (text NFC-normalised): Latin and most "
            "punctuation 1, CJK and other scripts 2, an emoji sequence 2, every URL 23; "
            "tags included"
        ),
        fields=("text", "title", "summary", "body", "link", "tags", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "x"
    # No default_rate_limits: the sheet's numbers (POST /2/tweets 100 per
    # 15 min per user, plan dependent) are per endpoint, and a per-account
    # budget here would count every upload part and poll too. The answers'
    # x-rate-limit-* headers and 429s are honoured instead.
    fake: ClassVar[str] = "govmedia.testing.x:FakeX"

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """The declared keys, and a refresh token only together with its client id."""
        super().check_channel(channel)
        credentials = channel.credentials
        if (credentials.get("refresh_token") or credentials.get("client_secret")) and \
                not credentials.get("client_id"):
            raise ConfigError(
                f"channel {channel.id}: refresh_token and client_secret need client_id (the "
                "OAuth 2.0 Client ID of the app in X's developer portal)"
            )

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Weighted length (tags included), an empty post, and the media rules."""
        text = post_text(post)
        problems = self.check_lengths(text, "text")
        if not text.strip() and not post.media:
            problems.append(self.rule("x.text.not_empty").problem(
                "the post would be empty and has no media"))
        problems.extend(self._media_problems(post.media))
        return problems

    def _media_problems(self, media: tuple[Media, ...]) -> list[Problem]:
        problems = []
        kinds = []
        for number, item in enumerate(media, 1):
            name = f"media {number} ({item.filename})"
            found = _category(item, media_head(item))
            if found is None:
                problems.append(self.rule("x.media.kind").problem(
                    f"{name} is {item.mime_type}; X takes JPEG, PNG, WebP and GIF images, and video"))
                continue
            kinds.append(found[0])
            size = media_size(item)
            if size is not None and size > FILE_MAX_BYTES:
                problems.append(self.rule("x.media.max_size").problem(
                    f"{name} is {size:,} bytes; an upload holds at most 1,000 parts of 5 MB"))
        single = [k for k in kinds if k != "tweet_image"]
        if single and len(media) > 1:
            problems.append(self.rule("x.media.no_mix").problem(
                "a video or GIF must be the only attachment of an X post"))
        elif len(media) > IMAGES_MAX:
            problems.append(self.rule("x.media.max_count").problem(
                f"{len(media)} images; X takes at most {IMAGES_MAX} per post"))
        return problems

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET /2/users/me``: the user token works (refreshed first where it expired)."""
        return self.request(channel, "GET", "/2/users/me")

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the media, then create the post once (X takes no idempotency key)."""
        opts = self.opts(channel)
        saved: Any = {}
        if post.media:
            saved = yield Recall()  # an upload session an earlier run saved, or {}
        media_ids = []
        for index, item in enumerate(post.media):
            media_id = yield from self._upload(item, index, channel, opts, saved)
            media_ids.append(media_id)
        text = post_text(post)
        body: dict[str, Any] = {}
        if text:
            body["text"] = text
        if media_ids:
            body["media"] = {"media_ids": media_ids}
            yield Checkpoint("creating", {"media_ids": media_ids})
        if opts.reply_settings:
            body["reply_settings"] = opts.reply_settings
        try:
            created = yield from self.call(channel, "POST", "/2/tweets", json=body, creates=True,
                                           expect=("data.id",))
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                "X takes no idempotency key, so it was not resent: look at the account's posts, "
                "then settle the delivery (govmedia runs resolve)"
            )) from exc
        data = created["data"]
        tweet_id = str(data["id"])
        yield Checkpoint("created", {"tweet_id": tweet_id})
        return Receipt(channel=channel, remote_id=tweet_id, url=STATUS_URL.format(tweet_id),
                       state="published", raw=data)

    # ----------------------------------------------------------- media

    def _upload(self, item: Media, index: int, channel: Channel, opts: Options,
                saved: Any) -> Flow[str]:
        """One media through INIT / APPEND / FINALIZE (and STATUS): its media id."""
        where = f"media {index + 1} ({item.filename})"
        source = item
        if item.url is not None:
            data = yield from self.fetch(item, channel)
            source = Media.from_bytes(data, filename=item.filename, mime_type=item.mime_type)
        size, category, media_type, part = self._plan(source, where, channel, opts)
        if item.alt:
            # Alt text goes through X's media metadata endpoint, which the fact
            # sheet does not describe: not sent (see docs/platforms/x.md).
            logger.info("x [%s] %s: alt text is not sent (no metadata endpoint on the fact sheet)",
                        channel.account, where)
        upload = SavedUpload.of(source, f"upload_{index}")
        try:
            session = yield from self._resumable(upload.recall(saved, size=size), size, channel, where)
            if session is not None and not session["done"]:
                session = yield from self._resume(source, session, upload, channel, opts=opts,
                                                  where=where)
            if session is None:
                session = yield from self._initialize(channel, size, media_type, category, part)
                yield from self._send(source, session, upload, channel, opts)
        except PlatformError as exc:
            raise exc.evolve(message=f"{where}: {exc.message}") from exc
        return str(session["media_id"])

    def _plan(self, source: Media, where: str, channel: Channel,
              opts: Options) -> tuple[int, str, str, int]:
        """``(size, media_category, media_type, part size)``, or `ContentRejected` where X takes none."""
        size = media_size(source)
        found = _category(source, media_head(source))
        if not size or found is None:
            raise ContentRejected(
                f"{where} is {source.mime_type} ({size or 0} bytes); X takes images, GIFs and video",
                platform=self.name, account=channel.account, code="bad_media")
        part = _part_size(opts, size)
        if part > SEGMENT_MAX_BYTES:
            raise ContentRejected(
                f"{where} is {size:,} bytes; an upload holds at most 1,000 parts of 5 MB",
                platform=self.name, account=channel.account, code="bad_media")
        return size, found[0], found[1], part

    def _resume(self, source: Media, session: dict[str, Any], upload: SavedUpload,
                channel: Channel, *,
                opts: Options, where: str) -> Flow[dict[str, Any] | None]:
        """Finish an earlier run's session; ``None`` where X refused it (upload afresh)."""
        try:
            if session["finalized"]:  # sent whole: only the processing is left
                yield from self._processed(session["media_id"], session.pop("info", None),
                                           channel, opts)
                yield from self._done(session, upload)
            else:
                yield from self._send(source, session, upload, channel, opts)
        except PlatformError as exc:
            if not refused(exc):
                raise
            logger.info("x [%s] %s: X refused the resumed upload %s (%s); uploading again",
                        channel.account, where, session["media_id"], exc.message)
            return None
        return session

    def _send(self, source: Media, session: dict[str, Any], upload: SavedUpload, channel: Channel,
              opts: Options) -> Flow[None]:
        """APPEND what is left, FINALIZE, and wait until X has processed it."""
        media_id = session["media_id"]
        yield from self._append(source, session, upload, channel)
        # A resent finalize finds the session finalized already (unverified how
        # X words that): an upload failure, nothing created, a re-run uploads again.
        finished = yield from self.call(channel, "POST", f"/2/media/upload/{_id(media_id)}/finalize",
                                        safe=True, creates=False)
        session["finalized"] = True
        yield upload.save("processing", session)
        yield from self._processed(media_id, _processing(finished), channel, opts)
        yield from self._done(session, upload)

    @staticmethod
    def _done(session: dict[str, Any], upload: SavedUpload) -> Flow[None]:
        session["done"] = True  # kept: a re-run after a failed create attaches it again
        yield upload.save("uploaded", session)

    def _initialize(self, channel: Channel, size: int, media_type: str, category: str,
                    part: int) -> Flow[dict[str, Any]]:
        # A resent initialize at worst leaves an upload session nobody uses:
        # invisible to readers, it expires (expires_after_secs).
        answer = yield from self.call(
            channel, "POST", "/2/media/upload/initialize", safe=True, creates=False,
            json={"media_type": media_type, "total_bytes": size, "media_category": category},
            expect=("data.id",))
        data = answer["data"]
        lifetime = data.get("expires_after_secs")
        expires = (time.time() + lifetime if isinstance(lifetime, int | float)
                   and not isinstance(lifetime, bool) and lifetime > 0 else None)
        return {"media_id": str(data["id"]), "size": size, "part": part, "sent": 0,
                "expires_at": expires, "finalized": False, "done": False}

    def _append(self, source: Media, session: dict[str, Any], upload: SavedUpload,
                channel: Channel) -> Flow[None]:
        """Each part from disk, one at a time; a resent part replaces itself (same index)."""
        media_id, size = session["media_id"], session["size"]
        for segment, offset, chunk in self.read_parts(source, session["part"], start=session["sent"]):
            yield self.request(
                channel, "POST", f"/2/media/upload/{_id(media_id)}/append", safe=True, creates=False,
                files={"media": (source.filename, chunk, "application/octet-stream")},
                data={"segment_index": str(segment)})
            session["sent"] = offset + len(chunk)
            # Saved at once: a later run resumes this session from here.
            yield from upload.sent(source.filename, session, sent=session["sent"], total=size)
        if session["sent"] != size:
            raise ContentRejected(
                f"the file changed while it was sent ({session['sent']:,} of {size:,} bytes)",
                platform=self.name, account=channel.account, code="bad_media")

    def _resumable(self, saved: dict[str, Any] | None, size: int, channel: Channel,
                   where: str) -> Flow[dict[str, Any] | None]:
        """An earlier run's upload session of this file, where X surely still keeps it.

        X keeps a session ``expires_after_secs``. That an unfinished session
        takes further APPENDs is unverified (the sheet says no more), so a
        refusal of the resumed session starts the upload afresh; a finalized
        one is asked about (STATUS) and waited for, or attached when processed.
        """
        if saved is None or id_or_none(saved.get("media_id")) is None:
            return None  # nothing saved for this very file
        expires, sent, part = saved.get("expires_at"), saved.get("sent"), saved.get("part")
        if (not isinstance(part, int) or part < 1
                or not isinstance(sent, int) or not 0 <= sent <= size or (sent % part and sent != size)
                or not isinstance(expires, int | float) or isinstance(expires, bool)
                or expires - _RESUME_MARGIN <= time.time()):
            return None
        session: dict[str, Any] = {
            "media_id": str(saved["media_id"]), "size": size, "part": part, "sent": sent,
            "expires_at": float(expires),
            "finalized": saved.get("finalized") is True or saved.get("done") is True,
            "done": saved.get("done") is True,
        }
        if session["finalized"]:
            # Ask before attaching or waiting: an expired or failed media would
            # make the create fail, run after run.
            try:
                status = yield from self._status(session["media_id"], channel)
            except PlatformError as exc:
                if not refused(exc):
                    raise
                logger.info("x [%s] %s: the earlier upload is gone (%s); uploading again",
                            channel.account, where, exc.message)
                return None
            info = _processing(status)
            state = (info or {}).get("state", "succeeded")
            if state not in ("succeeded", "pending", "in_progress"):
                return None
            session["done"] = state == "succeeded"
            session["info"] = info
            logger.info("x [%s] %s: using the media %s an earlier run uploaded (%s)",
                        channel.account, where, session["media_id"], state)
        else:
            logger.info("x [%s] %s: resuming upload %s at byte %s", channel.account, where,
                        session["media_id"], sent)
        return session

    def _status(self, media_id: str, channel: Channel) -> Flow[Any]:
        status = yield from self.call(channel, "GET", "/2/media/upload",
                                      params={"command": "STATUS", "media_id": media_id})
        return status

    def _processed(self, media_id: str, info: Mapping[str, Any] | None, channel: Channel,
                   opts: Options) -> Flow[None]:
        """Poll STATUS until the media is ``succeeded`` (X attaches it only then).

        *info* is the latest ``processing_info`` (FINALIZE's, or an earlier
        STATUS's): asked again only after the wait X gives in it.
        """
        answers = [info]

        def ask() -> Flow[Mapping[str, Any] | None]:
            if answers:
                return answers.pop()
            status = yield from self._status(media_id, channel)
            return _processing(status)

        info, settled = yield from self.poll(
            ask, lambda i: i is None or i.get("state") not in ("pending", "in_progress"),
            interval=float(opts.poll_interval), timeout=opts.poll_timeout,
            wait=lambda i: float(count_or_none((i or {}).get("check_after_secs")) or 0))
        if not settled and info is not None:
            raise TransientError(
                f"still processing after {opts.poll_timeout:g} s "
                f"({info.get('progress_percent', '?')}%)",
                platform=self.name, account=channel.account, code="media_processing",
                hint="Nothing was posted. Run again later, or raise option poll_timeout.")
        state = info.get("state") if info is not None else "succeeded"  # nothing left to wait for
        if state == "failed":
            error = info.get("error") if info is not None else None
            detail = error.get("message") or error.get("name") if isinstance(error, Mapping) else None
            raise ContentRejected(
                f"X could not process it: {detail or 'processing failed'}",
                platform=self.name, account=channel.account, code="media_failed",
                hint="Nothing was posted. Check the file's format and length, or attach another.")
        if state != "succeeded":
            raise PlatformError(f"STATUS answered an unknown state {state!r}", platform=self.name,
                                account=channel.account, code="bad_response")

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Finish what an earlier run knows of, or leave it in doubt; never create again.

        - the create answered (``tweet_id`` recorded): the post exists, here is its receipt;
        - a repost that answered (``reposted``): likewise;
        - anything else may have been applied, and X can neither deduplicate
          nor be asked by a marker: `DeliveryUnknown` naming what is known.
        """
        yield from ()
        data = dict(doubt.data)
        tweet_id = data.get("tweet_id")
        if id_or_none(tweet_id) is not None:
            return Receipt(channel=channel, remote_id=str(tweet_id), url=STATUS_URL.format(tweet_id),
                           state="published", raw={"id": str(tweet_id), "recovered": True})
        source = data.get("repost_of")
        if id_or_none(source) is not None and data.get("reposted"):
            return self._repost_receipt(channel, str(source), data.get("user_id"), {"recovered": True})
        if id_or_none(source) is not None:
            what = (f"reposted post {source} ({STATUS_URL.format(source)}): look at the account's "
                    "reposts")
        else:
            what = "created the post: look at the account's posts"
        raise DeliveryUnknown(
            f"an earlier run left this delivery '{doubt.state}' and may have {what}, then settle "
            "it (govmedia runs resolve); X takes no idempotency key, so it was not sent again",
            platform=self.name, account=channel.account, known=data)

    # ----------------------------------------------------------- delete, metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Delete the post (``DELETE /2/tweets/:id``), or undo a repost; gone already is fine."""
        channel = receipt.channel
        if receipt.remote_id.startswith(RETWEET):
            source = receipt.remote_id.removeprefix(RETWEET)
            user_id = receipt.raw.get("user_id")
            if id_or_none(user_id) is None:
                user_id = yield from self._me(channel)
            # Undoing twice finds nothing to undo: safe to resend.
            request = self.request(channel, "DELETE",
                                   f"/2/users/{_id(str(user_id))}/retweets/{_id(source)}", safe=True)
            field, expected = "retweeted", False
        else:
            # Deleting twice finds nothing to delete (404, below): safe to resend.
            request = self.request(channel, "DELETE", f"/2/tweets/{_id(receipt.remote_id)}", safe=True)
            field, expected = "deleted", True
        try:
            response = yield request
        except PlatformError as exc:
            if exc.code not in (404, "resource-not-found"):
                raise
            logger.info("x [%s] %s was gone already", channel.account, receipt.remote_id)
            return
        answer = self.answer(response, channel)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        # X answers {"data": {"deleted": true}} and {"data": {"retweeted": false}}.
        if not isinstance(data, Mapping) or data.get(field) is not expected:
            raise PlatformError(
                f"X answered {answer!r} to the delete of {receipt.remote_id}",
                platform=self.name, account=channel.account, code="bad_response", response=response,
                hint="Look at the account: the post may still be there.")

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """The post's ``public_metrics``: impressions, likes, reposts and replies.

        The field names are X's documented ones, not on the fact sheet
        (unverified): ``impression_count``, ``like_count``, ``retweet_count``,
        ``reply_count`` (``quote_count`` and the rest stay in ``raw``). A
        repost has no counts of its own: every count is ``None``.
        """
        if receipt.remote_id.startswith(RETWEET):
            return Metrics(raw={"reason": "a repost has no counts of its own; read the original "
                                          "post's metrics"})
        channel = receipt.channel
        answer = yield from self.call(channel, "GET", f"/2/tweets/{_id(receipt.remote_id)}",
                                      params={"tweet.fields": "public_metrics"})
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping):
            # X may answer a lookup of a deleted post with 200 and only
            # "errors" (unverified: the sheet says 404 resource-not-found).
            code, messages = _error_of(answer)
            raise PlatformError(
                "; ".join(messages) or f"X answered no data for post {receipt.remote_id}",
                platform=self.name, account=channel.account, code=code or "bad_response",
                hint="X does not know this post (deleted already?).")
        counts = data.get("public_metrics")
        counts = counts if isinstance(counts, Mapping) else {}
        return Metrics(views=count_or_none(counts.get("impression_count")),
                       likes=count_or_none(counts.get("like_count")),
                       shares=count_or_none(counts.get("retweet_count")),
                       comments=count_or_none(counts.get("reply_count")), raw=dict(data))

    # ----------------------------------------------------------- repost

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """Another X post (not itself a repost) on the same API."""
        if original.channel.platform != self.name or channel.platform != self.name:
            return False
        if original.remote_id.startswith(RETWEET):
            return False
        try:
            return self.base_url(original.channel) == self.base_url(channel)
        except ConfigError:
            return False

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """Repost (retweet, not quote) *original* from *channel*, once.

        ``POST /2/users/:id/retweets`` with the acting user's id from ``GET
        /2/users/me``. X answers ``{"data": {"retweeted": true}}`` and gives
        the repost no id of its own: the receipt's ``remote_id`` is
        ``retweet:<original id>`` and its ``url`` the original's page.
        Whether managing reposts takes an OAuth 2.0 user token is unverified
        (some X docs say OAuth 1.0a): a refusal is raised as X words it.
        """
        if not self.can_repost(original, channel):
            raise ConfigError(f"channel {channel.id} cannot repost {original.channel.id}'s post "
                              f"{original.remote_id}: publish a post with a link instead")
        user_id = yield from self._me(channel)
        source = original.remote_id
        yield Checkpoint("reposting", {"repost_of": source, "user_id": user_id})
        try:
            response = yield self.request(channel, "POST", f"/2/users/{_id(user_id)}/retweets",
                                          json={"tweet_id": source}, creates=True)
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                f"X takes no idempotency key, so it was not resent: look at the account's reposts "
                f"of {STATUS_URL.format(source)}"
            )) from exc
        answer = self.answer(response, channel, creates=True)
        data = answer.get("data") if isinstance(answer, Mapping) else None
        if not isinstance(data, Mapping) or data.get("retweeted") is not True:
            raise PlatformError(f"X answered {answer!r} to the repost", platform=self.name,
                                account=channel.account, code="bad_response", response=response,
                                maybe_applied=True)
        yield Checkpoint("reposted", {"reposted": True})
        return self._repost_receipt(channel, source, user_id, dict(data))

    def _repost_receipt(self, channel: Channel, source: str, user_id: Any,
                        raw: dict[str, Any]) -> Receipt:
        extra = {"user_id": str(user_id)} if id_or_none(user_id) is not None else {}
        return Receipt(channel=channel, remote_id=RETWEET + source, url=STATUS_URL.format(source),
                       state="published", raw={"retweet_of": source, **extra, **raw})

    def _me(self, channel: Channel) -> Flow[str]:
        """The acting user's id (``GET /2/users/me``)."""
        me = yield from self.call(channel, "GET", "/2/users/me", expect=("data.id",))
        return str(me["data"]["id"])

    # ----------------------------------------------------------- auth

    def refresh_request(self, channel: Channel, token: Token) -> httpx.Request:
        """``POST /2/oauth2/token`` (form) trading the refresh token; Basic auth with a secret.

        Resent freely: it creates nothing a reader sees, and a resend after
        X took the first one at worst finds that token spent (an `AuthError`
        that asks for a new authorisation, as the spent token would anyway).
        """
        credentials = channel.credentials
        headers = {}
        secret = credentials.get("client_secret")
        if secret:
            pair = f"{credentials['client_id']}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        return self.request(channel, "POST", "/2/oauth2/token", headers=headers, safe=True,
                            creates=False, data={
                                "grant_type": "refresh_token",
                                "refresh_token": token.refresh_token or "",
                                "client_id": credentials["client_id"],
                            })

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """``{access_token, refresh_token, expires_in}``: the new pair (the old refresh token is spent)."""
        return oauth2_token(response, platform=self.name, account=channel.account,
                            previous=previous, lifetime=TOKEN_LIFETIME, most=_TOKEN_MAX_LIFETIME)

    # ----------------------------------------------------------- errors

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """``(code, message)`` of an X error: a problem ``type``, an OAuth ``error``, a v1.1 code.

        The code is the last part of an RFC 7807 ``type`` (``usage-capped``,
        ``client-forbidden``), the token endpoint's ``error``
        (``invalid_grant``), a v1.1 ``errors[].code`` (88), else the HTTP status.
        """
        status = response.status_code
        if 200 <= status < 300:
            return None
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError, httpx.ResponseNotRead):
            body = None
        code, messages = _error_of(body)
        message = "; ".join(messages) if messages else self.error_message(response)
        if code is not None and code not in self.error_codes:
            # An unknown problem type is judged by its status; its name stays in the message.
            message = f"{message} ({code})"
            code = None
        return (code if code is not None else status), message

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """As the base does; an empty 2xx (an APPEND's answer) is a success."""
        if 200 <= response.status_code < 300 and not response.content:
            return None
        return super().classify(response, channel)


def _processing(answer: Any) -> Mapping[str, Any] | None:
    """``data.processing_info`` of a FINALIZE or STATUS answer (``None``: nothing to wait for)."""
    data = answer.get("data") if isinstance(answer, Mapping) else None
    info = data.get("processing_info") if isinstance(data, Mapping) else None
    if info is None and isinstance(answer, Mapping):
        info = answer.get("processing_info")  # the v1.1 shape, top level
    return info if isinstance(info, Mapping) else None
