"""Kuaishou (快手开放平台): videos through the open API, review polling, deletes and counts.

Facts: shared/platforms/kuaishou.md. Every call to ``open.kuaishou.com``
carries ``?app_id=&access_token=`` (the token masked in every log line) and
answers ``{"result": 1, ...}``; another ``result`` is an error whose message
is ``error_msg``. One post becomes one video (创建视频):

1. ``POST /openapi/photo/start_upload`` hands out an ``upload_token`` and the
   upload gateway's host (``endpoint``);
2. the first video of ``post.media`` goes to ``http://{endpoint}``: in one
   request (``/api/upload``, raw bytes) under ``direct_max`` bytes, else in
   fragments read from disk one at a time (``/api/upload/fragment``, then
   ``/api/upload/complete``). Each fragment is resent alone when it fails, and
   the session is saved after each one (``Checkpoint(save=True)``), so a run
   that dies mid-way resumes where the gateway says it stopped
   (``/api/upload/resume``);
3. ``POST /openapi/photo/publish`` (multipart: ``caption``, ``cover``) makes the
   video: the point of no return. Kuaishou has no idempotency key, so a
   timeout or a bare 5xx after sending it raises `DeliveryUnknown` and is
   never resent;
4. Kuaishou processes and reviews the video (``pending`` in ``video_info``);
   ``GET /openapi/photo/list`` is read until it is no longer pending, or
   ``poll_timeout`` passes and the receipt says ``pending``.

Access tokens are renewed with the single-use refresh token
(``/oauth2/refresh_token``): the new refresh token replaces the old one in the
client's token store, and one refresh runs at a time per authorisation.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import HEAD_SIZE as VIDEO_HEAD
from govmedia._sniff import image_type, video_type
from govmedia.content.hashtags import new_tags
from govmedia.content.markup import short_text
from govmedia.content.media import media_head, media_size
from govmedia.content.rules import Rule
from govmedia.errors import (
    AuthError,
    ConfigError,
    ContentRejected,
    DeliveryUnknown,
    PlatformError,
    RateLimited,
    TransientError,
    ValidationError,
)
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import Query, StaticToken
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    Recall,
    Uploaded,
    count_or_none,
    creates,
    int_or_none,
    json_of,
    release,
    same_text,
    seconds_or_none,
)
from govmedia.platforms.uploads import SavedUpload
from govmedia.tokens import Token

__all__ = ["KuaishouPlatform", "caption_of"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/kuaishou.md"
DEFAULT_BASE_URL = "https://open.kuaishou.com"
MB = 1024 * 1024
DIRECT_MAX = 10_000_000        # "直接上传, 适合小于10M的文件": one request below 10 MB
PART_SIZE = 8 * MB             # "建议分片大小不大于10M"
PART_MAX = 10_000_000
PART_MIN = 1024
# Unverified (not on the fact sheet): a third-party connector's doc for
# photo/publish (support.huaweicloud.com, mssi_02_3398) says the cover is
# required and "<10MB"; the formats are ours (JPEG and PNG, the common ones).
COVER_MAX = 10_000_000
COVER_TYPES = ("jpeg", "png")
# The form field is `stereo_type` on the fact sheet; one public Go client
# (bububa/kwai-openapi) sends `stero_type`: which one Kuaishou reads is unverified.
STEREO_TYPES = ("NOT_SPHERICAL_VIDEO", "SPHERICAL_VIDEO_360", "SPHERICAL_VIDEO_180")

# Reading GET /openapi/photo/list. Unverified: its largest `count`, and that
# `cursor` takes the last photo_id of the previous page (the sheet names the
# parameter, not its value); newest first, pending videos listed (the list's
# items carry `pending`, so we take it they are).
_LIST_COUNT = 20
_LIST_PAGES = 5
_LIST_MARGIN = 600.0            # seconds of clock skew allowed before a claim
_MAX_TOKEN_LIFETIME = 30 * 86400.0
_MAX_REFRESH_LIFETIME = 400 * 86400.0
_PUBLISH_SCOPE = "user_video_publish"
_INFO_SCOPE = "user_video_info"

REAUTHORISE = (
    "Authorise the account again in the browser (open.kuaishou.com/oauth2/authorize with the "
    "scopes user_video_publish and user_video_info) and put the new access_token and "
    "refresh_token in the channel's credentials."
)

# --------------------------------------------------------------------------- rules

_PUB = f"{SHEET}: photo/publish"
RULES: tuple[Rule, ...] = (
    Rule(id="kuaishou.video.required", field="media", code="missing_video",
         summary="a post needs a video (the first video of media is published)", source=_PUB,
         remediation="Attach the video to post.media, or give Kuaishou a media variant "
                     "(post.with_variant(platform='kuaishou', media=...))."),
    Rule(id="kuaishou.video.type", field="media", code="bad_media",
         summary="the video's bytes are a video container (MP4 in Kuaishou's examples)",
         source=f"{SHEET}: direct upload (Content-Type: video/mp4)",
         remediation="Attach the video file itself (MP4 is the safe choice)."),
    Rule(id="kuaishou.cover.required", field="cover", code="missing_cover",
         summary="a video needs a cover image (unverified: the sheet lists cover without "
                 "marking it optional)", source=_PUB,
         remediation="Set post.cover to a JPEG or PNG image under 10 MB."),
    Rule(id="kuaishou.cover.type", field="cover", code="bad_media",
         summary="cover: JPEG or PNG (unverified)", source=_PUB,
         remediation="Convert the cover to JPEG or PNG."),
    Rule(id="kuaishou.cover.max_size", field="cover", code="bad_media",
         summary="cover under 10 MB (unverified)",
         source="support.huaweicloud.com mssi_02_3398 (a connector for photo/publish)",
         remediation="Compress the cover image below 10 MB."),
)

# --------------------------------------------------------------------------- errors

ERRORS = ErrorTable(
    {
        # Documented on an upload API; that every token refusal is this code is unverified.
        100200102: Code.auth(
            "Kuaishou refused the access token (expired or revoked). govmedia renews it once "
            "when the channel has app_secret and refresh_token; otherwise: " + REAUTHORISE),
        100200101: Code.permanent(
            "Kuaishou could not verify app_id and app_secret: check both credentials against "
            "the app on open.kuaishou.com (应用管理)."),
        100200100: Code.permanent(
            "Kuaishou found a parameter missing or invalid (error_msg says which): this is "
            "likely a govmedia bug, please report it."),
        10000200: Code.permanent(
            "Kuaishou refused a parameter of the upload (error_msg says which)."),
    },
    code_field="result", message_field="error_msg", ok=(1, "1"),
    messages=(
        # Unverified for photo/publish: Kuaishou's content-library upload
        # answers {"result": 10000200, "error_msg": "文件包含敏感内容"}.
        (10000200, "敏感", Code.rejected(
            "Kuaishou found sensitive content in the video, caption or cover: edit it.",
            unforeseeable="Kuaishou's content review is not published")),
    ),
)


# --------------------------------------------------------------------------- content


def caption_of(post: Post) -> str:
    """The ``caption`` sent for *post*: its short text, then each tag as ``#tag `` (a topic).

    Kuaishou reads a topic as ``#`` and the words up to the next space, so
    each tag is followed by one; a tag already in the text is not repeated.

    Example:
        >>> import govmedia as gm
        >>> caption_of(gm.Post(text="中老铁路开通一周年 #一带一路看国企 ", tags=("一带一路看国企", "央企")))
        '中老铁路开通一周年 #一带一路看国企 #央企 '
    """
    text = short_text(post)
    topics = new_tags(text, post.tags, "kuaishou", platform="kuaishou", after="space")
    if not topics:
        return text
    line = "".join(f"{topic} " for topic in topics)
    if not text:
        return line
    gap = "" if text[-1].isspace() else " "
    return f"{text}{gap}{line}"


def _video_of(post: Post) -> Media | None:
    return next((m for m in post.media if m.kind == "video"), None)


def _seconds(value: Any) -> float | None:
    """A ``create_time`` as Unix seconds (Kuaishou's unit is unverified: ms taken where it is large)."""
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    return float(value) / 1000.0 if value > 1e11 else float(value)


# --------------------------------------------------------------------------- the upload session


@attrs.define
class _Session:
    """One upload: its token and gateway, how far it got (`SavedUpload` binds it to its file)."""

    upload_token: str = attrs.field(repr=False)
    endpoint: str
    part_size: int
    direct: bool = False
    next_fragment: int = 0
    done: bool = False

    def saved(self) -> dict[str, Any]:
        # The upload token only lets one put bytes into this session (it
        # cannot publish, read or act for the account), so it may be kept in
        # the journal to resume the upload.
        return {"upload_token": self.upload_token, "endpoint": self.endpoint,
                "part_size": self.part_size, "direct": self.direct,
                "next_fragment": self.next_fragment, "done": self.done}

    @classmethod
    def recalled(cls, saved: Mapping[str, Any] | None) -> _Session | None:
        """The session `SavedUpload.recall` found (this file, fragments of this size), if usable."""
        if saved is None:
            return None
        token, endpoint = saved.get("upload_token"), saved.get("endpoint")
        if not (isinstance(token, str) and token and isinstance(endpoint, str) and endpoint):
            return None
        next_fragment = saved.get("next_fragment")
        return cls(token, endpoint, saved["part_size"], direct=bool(saved.get("direct")),
                   next_fragment=next_fragment if isinstance(next_fragment, int) else 0,
                   done=saved.get("done") is True)


def _gateway_base(endpoint: Any, *, https: bool) -> str:
    """``http://{endpoint}`` for the gateway host Kuaishou named; anything else is refused."""
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ValueError("no endpoint")
    value = endpoint.strip().rstrip("/")
    if "://" not in value:
        # "为提高上传效率 上传接口 均为http://{host}/..." (the docs); https on request.
        value = f"{'https' if https else 'http'}://{value}"
    url = httpx.URL(value)
    if url.scheme not in ("http", "https") or not url.host or url.query or url.userinfo:
        raise ValueError(f"not an upload host: {endpoint!r}")
    return value


# --------------------------------------------------------------------------- platform


class KuaishouPlatform(BasePlatform):
    """Publish a post's video to a Kuaishou (快手) account through the open platform.

    Credentials: ``access_token`` and ``app_id`` (the app the account
    authorised, with the scopes ``user_video_publish`` and ``user_video_info``);
    ``app_secret`` and ``refresh_token`` to renew the token. Options:
    ``poll_timeout`` (seconds to wait for processing and review, default 60),
    ``poll_interval`` (default 5), ``part_size`` (bytes per fragment, default
    8 MiB), ``direct_max`` (videos under this many bytes go up in one request,
    default 10 MB), ``stereo_type``, ``upload_https`` and ``base_url``.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="kuaishou", account="sasac_ks",
        ...                 credentials={"access_token": "ks-token-123456", "app_id": "ks700000000001"})
        >>> [p.rule for p in gm.Client().check(gm.Post(text="中老铁路开通一周年"), ch)]
        ['kuaishou.video.required', 'kuaishou.cover.required']
    """

    name: ClassVar[str] = "kuaishou"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token", "app_id")
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("app_secret", "refresh_token")
    options: ClassVar[Mapping[str, Option]] = {
        "base_url": Option(str, default=DEFAULT_BASE_URL, check=url_check(),
                           doc="the open platform's address (a sandbox, in tests)"),
        "poll_timeout": Option(float, default=60.0, minimum=0.0, coerce=True,
                               doc="seconds to wait for processing and review before 'pending'"),
        "poll_interval": Option(float, default=5.0, minimum=0.001, coerce=True),
        "part_size": Option(int, default=PART_SIZE, minimum=PART_MIN, maximum=PART_MAX,
                            coerce=True, doc="bytes per fragment (Kuaishou: at most 10 MB)"),
        "direct_max": Option(int, default=DIRECT_MAX, minimum=0, maximum=DIRECT_MAX, coerce=True,
                             doc="videos under this many bytes go up in one request (0: never)"),
        "stereo_type": Option(str, choices=STEREO_TYPES, doc="360/180 degree video; unset: flat"),
        "upload_https": Option(bool, default=False,
                               doc="send the video to the upload gateway over HTTPS (the docs "
                                   "use http; that the gateway serves https is unverified)"),
    }
    # The token rides in the query, as Kuaishou wants it (masked in every log
    # line), and only ever to the API's own host: never to the upload gateway.
    auth = StaticToken("access_token", Query("access_token"), refresh=True)
    api_base: ClassVar[str] = DEFAULT_BASE_URL
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, dedupe=False, refresh=True,
        media_kinds=("video",),
        counting=(
            "no caption limit is documented (unverified): check() judges the video and "
            "the cover only; views, likes and comments from photo/list, shares never"
        ),
        fields=("text", "title", "summary", "link", "tags", "cover", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "kuaishou"
    fake: ClassVar[str] = "govmedia.testing.kuaishou:FakeKuaishou"

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """The base checks, and a refresh token only together with the app secret."""
        super().check_channel(channel)
        if channel.credentials.get("refresh_token") and not channel.credentials.get("app_secret"):
            raise ConfigError(
                f"channel {channel.id}: refresh_token needs app_secret too (Kuaishou renews "
                "tokens with app_id, app_secret and refresh_token); add app_secret or leave "
                "refresh_token out")

    def token_scope(self, channel: Channel) -> str:
        """One token store entry per authorisation: the app and the credentials' tokens.

        Channels that carry the same authorisation share it (and so its single
        refresh); new credentials pasted after a new authorisation start a new
        entry instead of meeting the spent refresh token of the old one. The
        tokens are kept as a digest, never as they are.
        """
        creds = channel.credentials
        seed = f"{creds['access_token']}\x1f{creds.get('refresh_token') or ''}"
        return f"{creds['app_id']}:{hashlib.sha256(seed.encode()).hexdigest()[:20]}"

    def carries_credentials(self, request: httpx.Request, channel: Channel) -> bool:
        """Only the API's own calls (``/openapi/``) get the token, never the upload gateway."""
        if not super().carries_credentials(request, channel):
            return False
        root = httpx.URL(self.base_url(channel)).path.rstrip("/")
        return request.url.path.startswith(f"{root}/openapi/")

    # ----------------------------------------------------------- validation

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: a video that is one, and a cover Kuaishou takes."""
        problems: list[Problem] = []
        video = _video_of(post)
        if video is None:
            problems.append(self.rule("kuaishou.video.required").problem(
                "Kuaishou publishes videos: post.media has none"))
        else:
            problem = self._video_problem(video)
            if problem is not None:
                problems.append(problem)
        if post.cover is None:
            problems.append(self.rule("kuaishou.cover.required").problem(
                "a Kuaishou video needs a cover image (JPEG or PNG, under 10 MB)"))
        else:
            problem = self._cover_problem(post.cover)
            if problem is not None:
                problems.append(problem)
        return problems

    def _video_problem(self, video: Media, head: bytes | None = None) -> Problem | None:
        head = head if head is not None else media_head(video, VIDEO_HEAD)
        if head is None:
            return None  # a URL: judged once downloaded
        if not head:
            return self.rule("kuaishou.video.type").problem(
                f"the video {video.filename!r} is empty or unreadable")
        if video_type(head) is None:
            return self.rule("kuaishou.video.type").problem(
                f"the video {video.filename!r} is no video file by its bytes "
                f"(named {video.mime_type}); Kuaishou takes MP4")
        return None

    def _cover_problem(self, cover: Media, data: bytes | None = None) -> Problem | None:
        head = data[:16] if data is not None else media_head(cover, 16)
        size = len(data) if data is not None else media_size(cover)
        if head is not None:
            kind = image_type(head)
            if kind not in COVER_TYPES:
                return self.rule("kuaishou.cover.type").problem(
                    f"the cover {cover.filename!r} is {kind or cover.mime_type}; "
                    "Kuaishou takes JPEG or PNG")
        if size is not None and size >= COVER_MAX:
            return self.rule("kuaishou.cover.max_size").problem(
                f"the cover {cover.filename!r} is {size:,} bytes; Kuaishou takes under 10 MB")
        return None

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET /openapi/user_info``: the access token works, with the user_info scope."""
        return self.request(channel, "GET", "/openapi/user_info", params=self._app(channel))

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the video (resuming a saved session), publish it, wait for processing.

        *key* is not sent: Kuaishou's publish takes no idempotency key.
        """
        opts = self.opts(channel)
        video, cover = self._media(post, channel)
        cover_bytes, cover_kind = yield from self._cover(cover, channel)
        video = yield from self._local(video, channel)
        session, upload = yield from self._upload(video, channel, opts)
        caption = caption_of(post)
        data: dict[str, str] = {"caption": caption}
        if opts.stereo_type:
            data["stereo_type"] = opts.stereo_type
        files = {"cover": (f"cover.{'jpg' if cover_kind == 'jpeg' else 'png'}", cover_bytes,
                           f"image/{cover_kind}")}
        request = creates(self.request(
            channel, "POST", "/openapi/photo/publish", data=data, files=files,
            params={**self._app(channel), "upload_token": session.upload_token},
        ))
        try:
            response = yield request
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                "photo/publish may have made the video: look at the account's works in the "
                "Kuaishou app before sending again")) from exc
        except (TransientError, RateLimited, AuthError):
            raise  # nothing was made and the upload still holds: a re-run publishes it
        except PlatformError:
            # Refused outright, nothing was made; a re-run uploads afresh
            # rather than offering this upload token again.
            yield upload.forget("publish_refused")
            raise
        answer = self.answer(response, channel, expect=("video_info.photo_id",), creates=True)
        info = dict(answer["video_info"])
        photo_id = str(info["photo_id"])
        yield Checkpoint("published", {"photo_id": photo_id, "create_time": info.get("create_time"),
                                       upload.slot: None})  # the session is spent
        if info.get("pending") is False:
            return self._receipt(channel, photo_id, info, pending=False)
        receipt = yield from self._settle(channel, opts, photo_id, info, seen=False)
        return receipt

    def _media(self, post: Post, channel: Channel) -> tuple[Media, Media]:
        video = _video_of(post)
        if video is None or post.cover is None:  # validate() refused this already
            raise ValidationError(self.validate(post, channel), platform=self.name,
                                  account=channel.account)
        ignored = [m.filename for m in post.media if m is not video]
        if ignored:
            logger.warning("kuaishou [%s]: one video per post; not sent: %s", channel.account,
                           ", ".join(ignored))
        return video, post.cover

    def _cover(self, cover: Media, channel: Channel) -> Flow[tuple[bytes, str]]:
        data = yield from self.fetch(cover, channel, limit=COVER_MAX)
        problem = self._cover_problem(cover, data)
        kind = image_type(data[:16])
        if problem is not None or kind is None:
            raise ValidationError([problem or self.rule("kuaishou.cover.type").problem(
                f"the cover {cover.filename!r} is no image")], platform=self.name,
                account=channel.account)
        return data, kind

    def _local(self, video: Media, channel: Channel) -> Flow[Media]:
        """*video* with bytes at hand: a URL video is downloaded (whole, up to 64 MB)."""
        if video.url is None:
            return video
        data = yield from self.fetch(video, channel)
        local = Media.from_bytes(data, filename=video.filename, mime_type=video.mime_type)
        problem = self._video_problem(local, data[:VIDEO_HEAD])
        if problem is not None:
            raise ValidationError([problem], platform=self.name, account=channel.account)
        return local

    # ----------------------------------------------------------- upload

    def _upload(self, video: Media, channel: Channel,
                opts: Options) -> Flow[tuple[_Session, SavedUpload]]:
        size = media_size(video) or 0
        upload = SavedUpload.of(video, "upload")
        saved: Any = yield Recall()
        session = _Session.recalled(upload.recall(saved, part_size=opts.part_size))
        if session is not None and not session.done:
            session = yield from self._resume(session, channel, opts)
        if session is None:
            session = yield from self._start(channel, opts)
            session.direct = size < opts.direct_max
        if session.done:
            logger.info("kuaishou [%s]: %s was uploaded by an earlier run; publishing it",
                        channel.account, video.filename)
            yield Uploaded(video.filename, sent=size, total=size)
            return session, upload
        if session.direct:
            yield from self._direct(session, video, size, channel)
        else:
            yield from self._fragments(session, upload, video, size, channel)
        session.done = True
        yield upload.save("uploaded", session.saved())
        return session, upload

    def _start(self, channel: Channel, opts: Options) -> Flow[_Session]:
        # A new session nobody publishes is harmless: resent freely.
        answer = yield from self.call(channel, "POST", "/openapi/photo/start_upload",
                                      params=self._app(channel), creates=False, safe=True,
                                      expect=("upload_token", "endpoint"))
        try:
            base = _gateway_base(answer["endpoint"], https=opts.upload_https)
        except ValueError as exc:
            raise PlatformError(f"photo/start_upload named an unusable upload host: {exc}",
                                platform=self.name, account=channel.account,
                                code="bad_response") from None
        return _Session(str(answer["upload_token"]), base, opts.part_size)

    def _resume(self, session: _Session, channel: Channel, opts: Options) -> Flow[_Session | None]:
        """Where the gateway says a saved session stands; ``None``: start afresh."""
        if session.direct:
            return None  # one request either arrived whole or not at all
        try:
            state = yield from self.call(channel, "GET", f"{session.endpoint}/api/upload/resume",
                                         params={"upload_token": session.upload_token})
        except (TransientError, RateLimited):
            raise
        except PlatformError as exc:
            # Not `uploads.refused`: the gateway knows the session by its
            # upload token alone, so an auth refusal here is that token's
            # (expired): a new session mends it, a new access token would not.
            logger.info("kuaishou [%s]: the saved upload cannot resume (%s); starting afresh",
                        channel.account, exc.message)
            return None
        if not isinstance(state, dict) or state.get("existed") is not True:
            return None
        done = state.get("fragment_list")
        if isinstance(done, list) and all(int_or_none(i) is not None for i in done):
            # The first fragment the gateway lacks; those after it are sent again.
            received = set(done)
            session.next_fragment = next(i for i in range(len(received) + 1) if i not in received)
        elif int_or_none(state.get("fragment_index")) is not None:
            session.next_fragment = max(0, state["fragment_index"] + 1)
        else:
            return None
        logger.info("kuaishou [%s]: resuming the upload at fragment %d", channel.account,
                    session.next_fragment)
        return session

    def _direct(self, session: _Session, video: Media, size: int, channel: Channel) -> Flow[None]:
        mime = video.mime_type if video.mime_type.startswith("video/") else "video/mp4"
        for _, _, data in self.read_parts(video, max(size, 1)):
            # "不要在body中放boundary": the bytes alone. Resent whole on failure
            # (nothing a reader sees comes of it).
            release((yield self._gateway(session, channel, "/api/upload", content=data,
                                         headers={"Content-Type": mime})))
        yield Uploaded(video.filename, sent=size, total=size)

    def _fragments(self, session: _Session, upload: SavedUpload, video: Media, size: int,
                   channel: Channel) -> Flow[None]:
        part = session.part_size
        count = max(1, math.ceil(size / part))
        start = min(session.next_fragment, count) * part
        for index, offset, chunk in self.read_parts(video, part, start=start):
            # A fragment resent replaces itself: each is retried alone.
            release((yield self._gateway(session, channel, "/api/upload/fragment", content=chunk,
                                         params={"fragment_id": index},
                                         headers={"Content-Type": "application/octet-stream"})))
            session.next_fragment = index + 1
            yield from upload.sent(video.filename, session.saved(), sent=offset + len(chunk),
                                   total=size)
        yield self._gateway(session, channel, "/api/upload/complete",
                            params={"fragment_count": count})

    def _gateway(self, session: _Session, channel: Channel, path: str, *,
                 params: Mapping[str, Any] | None = None, content: bytes | None = None,
                 headers: Mapping[str, str] | None = None) -> httpx.Request:
        # Uploads leave nothing a reader sees: resent after any failure.
        size = len(content or b"")
        return self.request(
            channel, "POST", f"{session.endpoint}{path}", content=content or b"",
            params={"upload_token": session.upload_token, **(params or {})}, headers=headers,
            safe=True, creates=False, deadline=60.0 + size / (128 * 1024),
        )

    # ----------------------------------------------------------- processing and review

    def _settle(self, channel: Channel, opts: Options, photo_id: str, info: dict[str, Any], *,
                seen: bool, recovering: bool = False) -> Flow[Receipt]:
        """Read photo/list until the video is no longer pending, or ``poll_timeout`` passes."""
        created = _seconds(info.get("create_time"))
        listed = seen

        def look() -> Flow[dict[str, Any] | None]:
            nonlocal listed
            found, conclusive = yield from self._find(channel, photo_id, created)
            if found is not None:
                listed = True
                info.update(found)
            elif listed and conclusive:
                raise self._gone(channel, photo_id, recovering=recovering)
            return found

        found, reviewed = yield from self.poll(
            look, lambda found: found is not None and found.get("pending") is not True,
            interval=opts.poll_interval, timeout=opts.poll_timeout)
        if not reviewed:
            logger.info("kuaishou [%s]: video %s still %s after %g s: pending", channel.account,
                        photo_id, "in review" if found is not None else "not listed",
                        opts.poll_timeout)
        return self._receipt(channel, photo_id, info, pending=not reviewed)

    def _gone(self, channel: Channel, photo_id: str, *, recovering: bool) -> PlatformError:
        known = {"photo_id": photo_id}
        if recovering:
            return DeliveryUnknown(
                f"video {photo_id} is no longer in the account's list: Kuaishou's review refused "
                "it, or someone deleted it. Check the account's works in the Kuaishou app, then "
                "settle this delivery with client.resolve", platform=self.name,
                account=channel.account, code="not_listed", known=known)
        # The fact sheet reads a video that leaves photo/list as refused in
        # review (unverified). maybe_applied keeps a re-run from sending it
        # again on its own: the video did exist, and someone may have deleted it.
        return ContentRejected(
            f"video {photo_id} was listed while Kuaishou processed it and is no longer: "
            "Kuaishou's review refused it (or someone deleted it)", platform=self.name,
            account=channel.account, code="review_rejected", maybe_applied=True, known=known,
            hint="Check the account's works and messages in the Kuaishou app. A re-run does not "
                 "send it again on its own; settle it (client.resolve) once you know.")

    def _find(self, channel: Channel, photo_id: str,
              created: float | None) -> Flow[tuple[dict[str, Any] | None, bool]]:
        """*photo_id*'s item of photo/list, and whether its absence is sure.

        Sure when the list was read to its end (an empty page), or, newest
        first, past the video's ``create_time``. A short page is not taken
        for the end: the largest ``count`` Kuaishou serves is unverified.
        """
        cursor: str | None = None
        seen: set[str] = set()
        newest_first, last = True, math.inf
        for _ in range(_LIST_PAGES):
            items = yield from self._page(channel, cursor)
            if not items:
                return None, True
            for item in items:
                if str(item.get("photo_id")) == photo_id:
                    return item, True
                stamp = _seconds(item.get("create_time"))
                if stamp is not None:
                    newest_first = newest_first and stamp <= last
                    last = stamp
            if newest_first and created is not None and last < created:
                return None, True
            ids = {str(v.get("photo_id")) for v in items}
            if ids <= seen:
                return None, False  # the cursor did not move on: cannot tell
            seen |= ids
            cursor = str(items[-1].get("photo_id"))
        return None, False

    def _page(self, channel: Channel, cursor: str | None) -> Flow[list[dict[str, Any]]]:
        params: dict[str, Any] = {**self._app(channel), "count": _LIST_COUNT}
        if cursor:
            params["cursor"] = cursor
        answer = yield from self.call(channel, "GET", "/openapi/photo/list", params=params)
        videos = answer.get("video_list") if isinstance(answer, dict) else None
        if videos is None:
            return []  # an empty list may be left out
        if not isinstance(videos, list):
            raise PlatformError("photo/list answered a video_list that is no list",
                                platform=self.name, account=channel.account, code="bad_response")
        return [v for v in videos if isinstance(v, dict) and v.get("photo_id") not in (None, "")]

    def _receipt(self, channel: Channel, photo_id: str, info: dict[str, Any], *,
                 pending: bool) -> Receipt:
        # play_url is the video file, not a page: Kuaishou gives no public
        # address at publish time (DESIGN: Receipt.url is None).
        return Receipt(channel=channel, remote_id=photo_id, url=None,
                       state="pending" if pending else "published", raw=info)

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Finish a delivery an earlier run left in doubt; never publish it a second time.

        - a ``photo_id`` is known (photo/publish answered): wait for it as
          `publish` does;
        - otherwise the answer to photo/publish was lost (or the run died
          around it): the account's list is read back to the time of the
          claim for a video with this caption; exactly one is taken as ours.
          None or several stay `DeliveryUnknown`: a video still in
          processing may not be listed yet, so absence proves nothing.
        """
        opts = self.opts(channel)
        data = dict(doubt.data)
        photo_id = data.get("photo_id")
        if photo_id:
            info: dict[str, Any] = {"photo_id": str(photo_id), "create_time": data.get("create_time")}
            receipt: Receipt = yield from self._settle(channel, opts, str(photo_id), info,
                                                       seen=True, recovering=True)
            return receipt
        caption = caption_of(post)
        if doubt.age is None or not caption.strip():
            raise DeliveryUnknown(
                "an earlier run may have sent photo/publish and its answer was lost; without the "
                "time of that run or a caption the video cannot be looked up: check the account's "
                "works in the Kuaishou app, then settle this delivery with client.resolve",
                platform=self.name, account=channel.account, known=data)
        since = time.time() - doubt.age - _LIST_MARGIN
        matches = yield from self._by_caption(channel, caption, since)
        if len(matches) != 1:
            what = "no video" if not matches else f"{len(matches)} videos"
            raise DeliveryUnknown(
                f"an earlier run may have sent photo/publish and its answer was lost; the account "
                f"lists {what} with this caption since then (a video in processing may not be "
                "listed yet): check the account's works in the Kuaishou app, then settle this "
                "delivery with client.resolve", platform=self.name, account=channel.account,
                known=data)
        found = matches[0]
        photo_id = str(found["photo_id"])
        yield Checkpoint("published", {"photo_id": photo_id, "create_time": found.get("create_time")})
        info = {**found, "reconciled": True}
        if found.get("pending") is not True:
            return self._receipt(channel, photo_id, info, pending=False)
        receipt = yield from self._settle(channel, opts, photo_id, info, seen=True, recovering=True)
        return receipt

    def _by_caption(self, channel: Channel, caption: str, since: float) -> Flow[list[dict[str, Any]]]:
        """Videos of photo/list with *caption*, made after *since*; raise where the list runs out first."""
        cursor: str | None = None
        matches: dict[str, dict[str, Any]] = {}
        for _ in range(_LIST_PAGES):
            items = yield from self._page(channel, cursor)
            if not items:
                return list(matches.values())
            for item in items:
                stamp = _seconds(item.get("create_time"))
                if (stamp is None or stamp >= since) and same_text(item.get("caption"), caption):
                    matches[str(item["photo_id"])] = item
            oldest = _seconds(items[-1].get("create_time"))
            if oldest is not None and oldest < since:
                return list(matches.values())  # read back past the claim (newest first)
            cursor = str(items[-1].get("photo_id"))
        raise DeliveryUnknown(
            "the account's list was not read back far enough to find the video: check the "
            "account's works in the Kuaishou app, then settle this delivery with client.resolve",
            platform=self.name, account=channel.account)

    # ----------------------------------------------------------- delete and metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """``POST /openapi/photo/delete`` (the photo_id in the query, as Kuaishou's clients send it)."""
        channel = receipt.channel
        # A delete resent after its answer was lost finds nothing left to delete.
        yield self.request(channel, "POST", "/openapi/photo/delete", safe=True,
                           params={**self._app(channel), "photo_id": receipt.remote_id})

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Views, likes and comments of the video from photo/list; Kuaishou gives no shares."""
        channel = receipt.channel
        created = _seconds(receipt.raw.get("create_time"))
        found, _ = yield from self._find(channel, receipt.remote_id, created)
        if found is None:
            return Metrics(raw={"reason": f"video {receipt.remote_id} is not among the account's "
                                          f"newest {_LIST_COUNT * _LIST_PAGES} videos"})
        return Metrics(views=count_or_none(found.get("view_count")),
                       likes=count_or_none(found.get("like_count")),
                       comments=count_or_none(found.get("comment_count")), shares=None, raw=found)

    # ----------------------------------------------------------- auth

    def refresh(self, channel: Channel, token: Token) -> Flow[Token]:
        """Spend the refresh token for a new pair; a refusal asks for a new authorisation."""
        if not channel.credentials.get("app_secret"):
            raise AuthError("Kuaishou refused the access token and the channel has no app_secret "
                            "to renew it with", platform=self.name, account=channel.account,
                            code="no_refresh", hint=REAUTHORISE)
        try:
            renewed: Token = yield from super().refresh(channel, token)
        except (TransientError, RateLimited, AuthError):
            raise
        except PlatformError as exc:
            if exc.code == 100200101:
                raise  # the app secret is wrong: no new authorisation mends that
            # Which code a spent or expired refresh token gets is unverified.
            raise exc.evolve(cls=AuthError, hint=(
                "The refresh token was refused (expired, revoked or already used): " + REAUTHORISE
            )) from exc
        return renewed

    def refresh_request(self, channel: Channel, token: Token) -> httpx.Request:
        """``GET /oauth2/refresh_token`` with the app secret in the query, as Kuaishou documents it.

        A read in effect for the pipeline (resent after a failure): a resend
        of a refresh that was applied is refused as reused, which asks for a
        new authorisation; nothing else could recover that lost answer.
        """
        creds = channel.credentials
        return self.request(channel, "GET", "/oauth2/refresh_token", params={
            "app_id": creds["app_id"], "app_secret": creds["app_secret"],
            "refresh_token": token.refresh_token or "", "grant_type": "refresh_token",
        }, creates=False)

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """``{access_token, expires_in, refresh_token, refresh_token_expires_in, scopes}``."""
        data = json_of(response, platform=self.name, account=channel.account)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("oauth2/refresh_token answered without an access_token",
                            platform=self.name, account=channel.account, code="bad_response",
                            hint=REAUTHORISE)
        renewed = data.get("refresh_token")
        scopes = data.get("scopes")
        if isinstance(scopes, list):
            missing = [s for s in (_PUBLISH_SCOPE, _INFO_SCOPE) if s not in scopes]
            if missing:
                logger.warning("kuaishou [%s]: the authorisation lacks %s (the user did not tick "
                               "it): %s", channel.account, ", ".join(missing), REAUTHORISE)
        # The new refresh token inherits the old one's expiry: the lifetime
        # Kuaishou returns is what is left of it.
        return Token(
            value=token, expires_in=seconds_or_none(data.get("expires_in"), most=_MAX_TOKEN_LIFETIME),
            refresh_token=renewed if isinstance(renewed, str) and renewed else None,
            refresh_expires_in=seconds_or_none(data.get("refresh_token_expires_in"),
                                               most=_MAX_REFRESH_LIFETIME),
        )

    # ----------------------------------------------------------- helpers

    @staticmethod
    def _app(channel: Channel) -> dict[str, str]:
        return {"app_id": channel.credentials["app_id"]}
