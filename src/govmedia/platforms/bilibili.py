"""Bilibili (哔哩哔哩开放平台): video submissions (稿件) and articles (专栏).

Facts: shared/platforms/bilibili.md. A post with a video becomes an archive:

1. ``archive/video/init`` opens an upload session (``upload_token``);
2. the video goes to ``openupos.bilivideo.com/video/v2/part/upload`` in fixed
   8 MB parts read from disk one at a time, each resent on its own when it
   fails, each acknowledged part saved (``Checkpoint(save=True)``) so that a
   run that dies mid-way resumes at the next part (``Recall``);
3. ``archive/video/complete`` merges the parts;
4. the cover goes up through ``archive/cover/upload`` (its URL is the
   archive's ``cover``);
5. ``archive/add-by-utoken`` submits the archive (the point of no return),
   and ``archive/view`` is polled until review ends or ``poll_timeout``
   passes (``Receipt.state`` ``pending`` until then).

A post without a video becomes an article (``article/add``), reviewed
before it is public; the fact sheet gives no way to read its review state.

Every ``/arcopen/`` request is signed afresh on each attempt (signature
v2.0: HMAC-SHA256 over the ``x-bili-*`` headers, a new timestamp and nonce
each time), with the user's token in ``access-token``. Refresh tokens are
single-use: the client's token store keeps the new one and refreshes one
scope at a time. Bilibili deduplicates nothing, so a submit that may have
been applied is `DeliveryUnknown`, never resent.

Unverified (the fact sheet or the API docs leave it open; each is marked
where it is used): the review state fields of ``archive/view``; the delete
and statistics paths; the article fields ``tags``, the content format and
the article delete path; whether an upload session survives between runs.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pathlib
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from govmedia._imagesize import PREFIX_SIZE, image_size
from govmedia._mediainfo import VideoInfo, video_info
from govmedia._sniff import image_type
from govmedia.content.counting import count_chars
from govmedia.content.media import media_head, media_size
from govmedia.content.rules import LengthRule, Rule
from govmedia.content.sanitize import wordpress_html
from govmedia.errors import (
    ContentRejected,
    DeliveryUnknown,
    PlatformError,
    ValidationError,
)
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import Header, Signed, StaticToken
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    Recall,
    count_or_none,
    int_or_none,
    seconds_or_none,
)
from govmedia.platforms.uploads import SavedUpload
from govmedia.tokens import Token

__all__ = ["BilibiliPlatform", "content_md5", "signature_headers"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/bilibili.md"
API_BASE = "https://member.bilibili.com"
OAUTH_BASE = "https://api.bilibili.com"
# The docs show http; the Java demo and every other host here use https.
UPLOAD_BASE = "https://openupos.bilivideo.com"

MB = 1024 * 1024
PART_SIZE = 8 * MB                    # "fixed 8 MB chunks except the last"
PART_DEADLINE = 300.0                 # seconds one 8 MB part may take on a slow uplink
# "<= 4 GB": whether 4 GiB or 4 * 10^9 bytes is unverified; the smaller, so that
# nothing check() passes is refused for its size.
VIDEO_MAX_BYTES = 4_000_000_000
VIDEO_MAX_SECONDS = 5 * 3600          # "< 5 h"
VIDEO_MAX_SIDE = 4096                 # "<= 4096x4096"
VIDEO_MAX_BITRATE = 60_000_000        # "peak <= 60 Mbps": an average above it means the peak is too
VIDEO_CONTAINERS = ("mp4", "flv")
COVER_MAX_BYTES = 5 * MB
COVER_MIN = (960, 600)
COVER_TYPES = ("jpeg", "png")
ARTICLE_TITLE_MAX = 40
_IMAGE_HEAD = PREFIX_SIZE
_MAX_TOKEN_LIFETIME = 365 * 86400.0   # an expires_in beyond a year is garbage

UPLOAD_TOKEN_INVALID = 127022
ARCHIVE_DELETED = 127107
ARCHIVE_NOT_FOUND = 127124

# archive/view review states (addit_info.state; unverified: the fact sheet says the
# view answer carries the review state but not its fields). Bilibili's archive
# states as its member APIs use them: 0 open, 1 open (orange), negatives in
# review or refused, -40 scheduled, -100 deleted by the user.
_PUBLISHED_STATES = frozenset({0, 1})
_SCHEDULED_STATES = frozenset({-40})
_REJECTED_STATES: Mapping[int, str] = {
    -2: "returned in review (被打回)", -11: "the video source needs repair (视频源待修)",
    -12: "storing the upload failed (转储失败)", -16: "transcoding failed (转码失败)",
}
_GONE_STATES: Mapping[int, str] = {
    -3: "locked by the authorities (网警锁定)", -4: "locked (被锁定)",
    -5: "locked by an administrator (管理员锁定)", -14: "in the recycle bin (临时回收站)",
    -100: "deleted by the user (用户删除)",
}

_SAFE_NAME = re.compile(r"[\w\u4e00-\u9fff.()\[\] -]{1,80}")
_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_SRC = re.compile(r"""\bsrc\s*=\s*["']([^"']*)["']""", re.IGNORECASE)


# --------------------------------------------------------------------------- signing


def content_md5(body: bytes) -> str:
    """``x-bili-content-md5``: the lowercase hex MD5 of the raw body (of ``b""`` when empty).

    Example:
        >>> content_md5(b"")
        'd41d8cd98f00b204e9800998ecf8427e'
    """
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def signature_headers(client_id: str, client_secret: str, body: bytes, *, timestamp: int,
                      nonce: str) -> dict[str, str]:
    r"""The ``x-bili-*`` headers and ``Authorization`` of one request (signature v2.0).

    ``Authorization`` is the lowercase hex HMAC-SHA256, keyed with the app
    secret, of every ``x-bili-*`` header sorted by name as ``name:value``,
    joined by ``\n``. The fact sheet's vector (computed from fictitious
    demo values, not an official one):

    Example:
        >>> headers = signature_headers(
        ...     "34c0f583f0414123", "abc7736bb78947d5a4a90690c861c456", b"",
        ...     timestamp=1624594467, nonce="ad184c09-095f-91c3-0849-230dd3744045")
        >>> headers["Authorization"]
        '7cf76cbb96594e68e856e0ddbe619380d30b526725b8f19cf14569a241bafcd0'
    """
    signed = {
        "x-bili-accesskeyid": client_id,
        "x-bili-content-md5": content_md5(body),
        "x-bili-signature-method": "HMAC-SHA256",
        "x-bili-signature-nonce": nonce,
        "x-bili-signature-version": "2.0",
        "x-bili-timestamp": str(timestamp),
    }
    message = "\n".join(f"{name}:{signed[name]}" for name in sorted(signed))
    signed["Authorization"] = hmac.new(client_secret.encode("utf-8"), message.encode("utf-8"),
                                       hashlib.sha256).hexdigest()
    return signed


def _sign(platform: BasePlatform, request: httpx.Request, channel: Channel) -> httpx.Request:
    """Sign one attempt of an ``/arcopen/`` request: a fresh timestamp and nonce each time."""
    if not str(request.url).startswith(platform.base_url(channel) + "/arcopen/"):
        return request  # part uploads carry only their upload_token
    credentials = channel.credentials
    request.headers.update(signature_headers(
        credentials["client_id"], credentials["client_secret"], request.content,
        timestamp=int(time.time()), nonce=str(uuid.uuid4()),
    ))
    request.headers["Accept"] = "application/json"
    if "content-type" not in request.headers:
        request.headers["Content-Type"] = "application/json"
    return request


# --------------------------------------------------------------------------- errors

ERRORS = ErrorTable(
    {
        127001: Code.auth(
            "Bilibili refused the access token (expired or revoked) and refreshing it did not "
            "help: authorise the account again in the browser and put the new access_token and "
            "refresh_token in the channel's credentials."),
        122007: Code.auth(
            "Bilibili refused the refresh token (each one works once: was it spent by another "
            "process?): authorise the account again in the browser and put the new tokens in the "
            "channel's credentials; share one token store between processes (Client(tokens=...))."),
        127011: Code.auth(
            "The user has not authorised this API for the app: authorise again in the browser, "
            "granting the scope this API needs."),
        127012: Code.auth(
            "Bilibili refused the request's authentication (its signature, timestamp or token): "
            "check the channel's client_id and client_secret, and that this machine's clock is "
            "within 10 minutes of the real time."),
        127000: Code.auth(
            "The request lacked authentication parameters; this is a govmedia bug, please "
            "report it."),
        127009: Code.rate_limited(
            "The app's API call quota is used up: lower the rate with "
            "rate_limits={'bilibili:CLIENT_ID': gm.RateLimit(...)} or run again later with the "
            "same journal."),
        127201: Code.busy(),
        127200: Code.transient(
            "Bilibili answered a business exception (业务异常); if it persists, contact the open "
            "platform."),
        127100: Code.rejected(
            "Bilibili refused a parameter (a title, description or tag it does not take, or a "
            "missing field).",
            unforeseeable="the fact sheet does not give the title, description and tag limits"),
        127102: Code.rejected("Bilibili refused the file type: videos mp4 or flv, covers jpeg or png.",
                              rule="bilibili.video.type"),
        129003: Code.rejected("Bilibili refused a tag.",
                              unforeseeable="Bilibili's tag rules are not documented"),
        129004: Code.rejected("Bilibili refused the cover URL.",
                              unforeseeable="the URL is the one cover/upload answered"),
        129005: Code.rejected("The article title is invalid: at most 40 characters and no special "
                              "characters.", rule="bilibili_article.title.max_length"),
        122000: Code.permanent("Bilibili does not know this client_id: check the channel's client_id."),
        122001: Code.permanent("The client_secret is wrong: check it in the app's settings at "
                               "open.bilibili.com."),
        122002: Code.permanent("Bilibili does not know this authorization code."),
        127004: Code.permanent("Bilibili refused the client_id (x-bili-accesskeyid): check the "
                               "channel's client_id."),
        127005: Code.permanent("The organisation has not passed Bilibili's certification (机构认证); "
                               "only certified organisations may use the open platform."),
        127006: Code.permanent("The app has not passed Bilibili's certification: see the app at "
                               "open.bilibili.com."),
        127007: Code.permanent("The app lacks the permission for this API: apply for the capability "
                               "at open.bilibili.com."),
        UPLOAD_TOKEN_INVALID: Code.permanent(
            "Bilibili does not know this upload_token (the upload session expired or was used): "
            "run again to upload the video afresh."),
        ARCHIVE_DELETED: Code.permanent("The archive has been deleted."),
        ARCHIVE_NOT_FOUND: Code.permanent("Bilibili does not know this archive."),
        127207: Code.permanent("The partition is not available: pick one from archive/type/list "
                               "and set the channel option tid."),
    },
    code_field="code", message_field="message",
)

# --------------------------------------------------------------------------- rules

_SUBMIT = f"{SHEET}: archive/add-by-utoken"
_SPEC = f"{SHEET}: video spec"
_COVER = f"{SHEET}: archive/cover/upload"
_ARTICLE = f"{SHEET}: article/add"
RULES: tuple[Rule, ...] = (
    Rule(id="bilibili.title.required", field="title", code="missing_title",
         summary="an archive or article needs a title", source=_SUBMIT,
         remediation="Give the post a title."),
    LengthRule(id="bilibili_article.title.max_length", field="title", limit=ARTICLE_TITLE_MAX,
               counter=count_chars, unit="characters", source=f"{_ARTICLE} title (129005)",
               remediation="Shorten the title to 40 characters, or give Bilibili a title variant."),
    Rule(id="bilibili.body.required", field="body", code="missing_body",
         summary="a post without a video is an article, which needs a body", source=_ARTICLE,
         remediation="Give the post a body, or attach a video."),
    Rule(id="bilibili_article.body.images", field="body", code="bad_media",
         summary="an article's body shows no images (their upload API is not on the sheet)",
         source=_ARTICLE, remediation=(
             "Remove the images from the body (give Bilibili a body variant), or attach a video "
             "to make the post a video submission.")),
    Rule(id="bilibili.tid.required", field="tid", code="missing_option",
         summary="a video needs the channel option tid (the partition, 分区)", source=_SUBMIT,
         remediation="Set the channel option tid to a partition id from archive/type/list."),
    Rule(id="bilibili.tags.required", field="tags", code="missing_tags",
         summary="an archive needs at least one tag",
         source="bilibili-openplatform/demo golang/submit.go (tag required; unverified in the "
                "fact sheet)",
         remediation="Give the post at least one tag."),
    Rule(id="bilibili.tags.separator", field="tags", code="bad_tag",
         summary="a tag cannot hold a comma (tags travel as one comma-separated string)",
         source=f'{_SUBMIT} tag ("a,b")', remediation="Remove the comma from the tag."),
    Rule(id="bilibili.source.required", field="link", code="missing_source",
         summary="a repost (copyright 2) names its source", source=f"{_SUBMIT} source",
         remediation="Set the channel option source, or give the post a link."),
    Rule(id="bilibili.media.one_video", field="media", code="bad_media",
         summary="one video per archive", source=_SUBMIT,
         remediation="Post each video on its own."),
    Rule(id="bilibili.video.local", field="media", code="bad_media",
         summary="the video is a file or bytes, not a URL (it is streamed in parts)", source=SHEET,
         remediation="Download the video and attach the file."),
    Rule(id="bilibili.video.type", field="media", code="bad_media",
         summary="video: mp4 or flv (by its bytes)", source=_SPEC,
         remediation="Convert the video to MP4 (H.264/AAC)."),
    Rule(id="bilibili.video.max_size", field="media", code="bad_media",
         summary="video up to 4 GB", source=_SPEC, remediation="Compress or split the video."),
    Rule(id="bilibili.video.max_duration", field="media", code="bad_media",
         summary="video under 5 hours (from the file's headers)", source=_SPEC,
         remediation="Split the video."),
    Rule(id="bilibili.video.max_resolution", field="media", code="bad_media",
         summary="video at most 4096x4096 (from the file's headers)", source=_SPEC,
         remediation="Scale the video down."),
    Rule(id="bilibili.video.max_bitrate", field="media", code="bad_media",
         summary="video peak bit rate at most 60 Mbps (an average above it is refused here)",
         source=_SPEC, remediation="Encode the video at a lower bit rate."),
    Rule(id="bilibili.cover.required", field="cover", code="missing_cover",
         summary="an archive needs a cover image", source=_SUBMIT,
         remediation="Set post.cover to a JPEG or PNG of at least 960x600."),
    Rule(id="bilibili.cover.type", field="cover", code="bad_media",
         summary="cover: jpeg or png", source=_COVER, remediation="Convert the cover to JPEG or PNG."),
    Rule(id="bilibili.cover.max_size", field="cover", code="bad_media",
         summary="cover up to 5 MB", source=_COVER, remediation="Compress the cover."),
    Rule(id="bilibili.cover.min_size", field="cover", code="bad_media",
         summary="cover at least 960x600 (1146x717 recommended)", source=_COVER,
         remediation="Use a larger cover image (1146x717 or more)."),
)


# --------------------------------------------------------------------------- helpers


def _videos(post: Post) -> list[Media]:
    return [m for m in post.media if m.kind == "video"]


def _tags(post: Post) -> list[str]:
    seen: list[str] = []
    for tag in post.tags:
        cleaned = tag.strip().lstrip("#＃").strip()
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return seen


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


def _upload_name(media: Media, container: str) -> str:
    """The file name sent to init: Bilibili wants the right extension (``video.mp4``)."""
    name = pathlib.PurePath(media.filename).name
    stem, _, ext = name.rpartition(".")
    if ext.lower() != container or not _SAFE_NAME.fullmatch(name):
        stem = stem if stem and _SAFE_NAME.fullmatch(stem) else "video"
        name = f"{stem}.{container}"
    return name


def _review_state(archive: Mapping[str, Any]) -> tuple[int | None, str, str]:
    """``(state, description, reject reason)`` of an archive/view answer (fields unverified)."""
    extra = archive.get("addit_info")
    source = extra if isinstance(extra, Mapping) else archive
    state = int_or_none(source.get("state"))
    if state is None:
        state = int_or_none(archive.get("state"))
    desc = source.get("state_desc")
    reason = source.get("reject_reason")
    return (state, desc if isinstance(desc, str) else "",
            reason if isinstance(reason, str) else "")


def _settled(archive: Mapping[str, Any]) -> bool:
    state, _, _ = _review_state(archive)
    return state is not None and (state in _PUBLISHED_STATES or state in _SCHEDULED_STATES
                                  or state in _REJECTED_STATES or state in _GONE_STATES)


def _article_html(post: Post) -> tuple[str, list[str]]:
    """The article's HTML and the image sources left out of it.

    The content's format is unverified on the fact sheet: HTML is sent (the
    editor's format). Images must be URLs from the 专栏 image-upload API,
    whose path the sheet does not give, so none can be sent.
    """
    html = wordpress_html(post.body or "", post.body_format)
    dropped: list[str] = []

    def drop(match: re.Match[str]) -> str:
        src = _SRC.search(match.group(0))
        dropped.append(src.group(1) if src else match.group(0))
        return ""

    return _IMG.sub(drop, html), dropped


# --------------------------------------------------------------------------- platform


class BilibiliPlatform(BasePlatform):
    r"""Submit a video (稿件) or an article (专栏) to a Bilibili account through the open platform.

    Credentials: ``access_token``, ``client_id``, ``client_secret`` (the app's
    secret signs every request) and ``refresh_token`` (optional; renews an
    expired access token, once: each refresh token works once).
    Options: ``tid`` (the partition, required for videos), ``copyright``
    (1 original, 2 repost), ``source`` (a repost's source; default the
    post's link), ``no_reprint``, ``category`` and ``template_id`` (articles),
    ``poll_timeout`` (seconds to wait for review, default 60),
    ``poll_interval`` (default 5) and the hosts ``base_url``, ``oauth_url``,
    ``upload_url``.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="bilibili", account="sasac",
        ...                 credentials={"access_token": "acc-0001", "client_id": "34c0f583f0414123",
        ...                              "client_secret": "s" * 32},
        ...                 options={"tid": 21})
        >>> video = gm.Media.from_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(16), filename="a.mp4")
        >>> [p.rule for p in gm.Client().check(gm.Post(title="国资小新", media=[video]), ch)]
        ['bilibili.tags.required', 'bilibili.cover.required']
    """

    name: ClassVar[str] = "bilibili"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token", "client_id", "client_secret")
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("refresh_token",)
    options: ClassVar[Mapping[str, Option]] = {
        "tid": Option(int, minimum=1, coerce=True,
                      doc="the partition (分区) id from archive/type/list; required for videos"),
        "copyright": Option(int, default=1, choices=(1, 2), coerce=True,
                            doc="1 original (自制), 2 repost (转载)"),
        "source": Option(str, doc="where a repost (copyright 2) comes from; default the post's link"),
        "no_reprint": Option(bool, default=False, doc="forbid reprints (禁止转载)"),
        "category": Option(int, minimum=0, coerce=True, doc="an article's category (专栏分类) id"),
        "template_id": Option(int, minimum=0, coerce=True, doc="an article's template id"),
        "poll_timeout": Option(float, default=60.0, minimum=0.0, coerce=True,
                               doc="seconds to wait for review before answering pending"),
        "poll_interval": Option(float, default=5.0, minimum=0.001, coerce=True),
        "base_url": Option(str, default=API_BASE, check=url_check(), doc="the arcopen API's host"),
        "oauth_url": Option(str, default=OAUTH_BASE, check=url_check(), doc="the OAuth host"),
        "upload_url": Option(str, default=UPLOAD_BASE, check=url_check(),
                             doc="the host video parts go to"),
    }
    # The user's token travels in ``access-token``; every /arcopen/ attempt is
    # signed afresh. Tokens are per account (channel), renewed with the
    # rotating refresh token.
    auth = Signed(StaticToken("access_token", Header("access-token", "{}"), refresh=True), _sign)
    api_base: ClassVar[str] = API_BASE
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, dedupe=False, reconcile=False,
        media_kinds=("video", "image"), body_images=False,
        counting=(
            "characters (code points): article titles at most 40; the title, description and "
            "tag limits of videos are not documented and not checked. A post with a video is "
            "an archive (the first video, its title, text and tags, the cover); one without is "
            "an article (title, body as HTML without images, summary, tags). Both are reviewed: "
            "the receipt stays pending until review ends"
        ),
        fields=("title", "text", "body", "summary", "tags", "link", "cover", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    fake: ClassVar[str] = "govmedia.testing.bilibili:FakeBilibili"
    part_size: ClassVar[int] = PART_SIZE
    """Bytes per video part (the API's fixed 8 MB; tests make it smaller)."""

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """``bilibili:CLIENT_ID``: the call quota (127009) is the app's."""
        client_id = channel.credentials["client_id"]
        return (client_id,) if client_id != channel.account else ()

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """A video post is checked as an archive, any other as an article."""
        videos = _videos(post)
        if not videos:
            return self._article_problems(post)
        opts = self.opts(channel)
        problems: list[Problem] = []
        if not (post.title or "").strip():
            problems.append(self.rule("bilibili.title.required").problem(
                "a Bilibili archive needs a title"))
        if opts.tid is None:
            problems.append(self.rule("bilibili.tid.required").problem(
                "set the channel option tid (the partition, 分区) to submit a video"))
        if not _tags(post):
            problems.append(self.rule("bilibili.tags.required").problem(
                "a Bilibili archive needs at least one tag"))
        separator = self.rule("bilibili.tags.separator")
        problems.extend(
            separator.problem(f"tag {tag!r} holds a comma; Bilibili reads tags as one "
                              "comma-separated list")
            for tag in post.tags if "," in tag)
        if opts.copyright == 2 and not (opts.source or post.link):
            problems.append(self.rule("bilibili.source.required").problem(
                "a repost (copyright 2) needs its source: set the option source or the post's link"))
        if len(videos) > 1:
            problems.append(self.rule("bilibili.media.one_video").problem(
                f"{len(videos)} videos; a Bilibili archive takes one"))
        problems.extend(self._video_problems(videos[0]))
        problems.extend(self._cover_problems(post.cover))
        return problems

    def _article_problems(self, post: Post) -> list[Problem]:
        problems: list[Problem] = []
        title = (post.title or "").strip()
        if not title:
            problems.append(self.rule("bilibili.title.required").problem(
                "a post without a video becomes a Bilibili article (专栏), which needs a title"))
        else:
            too_long = self.rule("bilibili_article.title.max_length")
            assert isinstance(too_long, LengthRule)
            found = too_long.check(title)
            if found is not None:
                problems.append(found)
        if not (post.body or "").strip():
            problems.append(self.rule("bilibili.body.required").problem(
                "a post without a video becomes a Bilibili article (专栏), which needs a body"))
            return problems
        _, images = _article_html(post)
        if images:  # never published without them: the reader would miss what they show
            shown = ", ".join(repr(src[:80]) for src in images[:3])
            problems.append(self.rule("bilibili_article.body.images").problem(
                f"the body shows {len(images)} image(s) ({shown}) that a Bilibili article cannot "
                "carry through the open platform"))
        return problems

    def _video_problems(self, video: Media) -> list[Problem]:
        name = f"video {video.filename!r}"
        if video.data is None and video.path is None:
            return [self.rule("bilibili.video.local").problem(
                f"{name} is a URL; Bilibili's upload streams a file from disk: attach the file")]
        info = video_info(video)
        if info is None or info.size == 0:
            return [self.rule("bilibili.video.type").problem(f"{name} cannot be read or is empty")]
        return self._spec_problems(name, info)

    def _spec_problems(self, name: str, info: VideoInfo) -> list[Problem]:
        problems: list[Problem] = []
        if info.container not in VIDEO_CONTAINERS:
            problems.append(self.rule("bilibili.video.type").problem(
                f"{name} is not MP4 or FLV (judged by its bytes); Bilibili takes mp4 and flv"))
        if info.size > VIDEO_MAX_BYTES:
            problems.append(self.rule("bilibili.video.max_size").problem(
                f"{name} is {_gigabytes(info.size)}; Bilibili takes up to 4 GB"))
        if info.duration is not None and info.duration >= VIDEO_MAX_SECONDS:
            problems.append(self.rule("bilibili.video.max_duration").problem(
                f"{name} runs {info.duration / 3600:.2f} h; Bilibili takes under 5 h"))
        if max(info.width or 0, info.height or 0) > VIDEO_MAX_SIDE:
            problems.append(self.rule("bilibili.video.max_resolution").problem(
                f"{name} is {info.width}x{info.height}; Bilibili takes at most 4096x4096"))
        if info.bitrate is not None and info.bitrate > VIDEO_MAX_BITRATE:
            problems.append(self.rule("bilibili.video.max_bitrate").problem(
                f"{name} averages {info.bitrate / 1e6:.1f} Mbps; Bilibili's peak limit is 60 Mbps"))
        return problems

    def _cover_problems(self, cover: Media | None, *, data: bytes | None = None) -> list[Problem]:
        if cover is None:
            return [self.rule("bilibili.cover.required").problem(
                "a Bilibili archive needs a cover (jpeg or png, at least 960x600, up to 5 MB)")]
        head = data[:_IMAGE_HEAD] if data is not None else media_head(cover, _IMAGE_HEAD)
        size = len(data) if data is not None else media_size(cover)
        name = f"cover {cover.filename!r}"
        problems: list[Problem] = []
        mime = cover.mime_type.lower()
        # A URL is judged by its bytes once fetched; here only a type it names.
        kind = image_type(head) if head is not None else {
            "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/png": "png"}.get(mime)
        if kind not in COVER_TYPES and (head is not None or mime.startswith("image/")):
            problems.append(self.rule("bilibili.cover.type").problem(
                f"{name} is {kind or cover.mime_type}; Bilibili takes jpeg or png"))
        if size is not None and size > COVER_MAX_BYTES:
            problems.append(self.rule("bilibili.cover.max_size").problem(
                f"{name} is {size:,} bytes; Bilibili takes up to 5 MB"))
        dims = image_size(head) if head else None
        if dims is not None and (dims[0] < COVER_MIN[0] or dims[1] < COVER_MIN[1]):
            problems.append(self.rule("bilibili.cover.min_size").problem(
                f"{name} is {dims[0]}x{dims[1]}; Bilibili wants at least 960x600"))
        return problems

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET archive/viewlist`` of one archive: the signature, the app and the user's token work.

        The cheapest signed read on the sheet. It shows a wrong app secret,
        an expired or revoked token and an app the user has not authorised
        (127011); a permission of the upload API alone shows only when it posts.
        """
        return self.request(channel, "GET", "/arcopen/fn/archive/viewlist",
                            params={"pn": 1, "ps": 1})

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload and submit the first video as an archive, or add an article when there is none.

        *key* is not sent: Bilibili takes no idempotency key.
        """
        videos = _videos(post)
        if videos:
            receipt: Receipt = yield from self._publish_video(post, channel, videos[0])
        else:
            receipt = yield from self._publish_article(post, channel)
        return receipt

    def _publish_video(self, post: Post, channel: Channel, video: Media) -> Flow[Receipt]:
        opts = self.opts(channel)
        problems = self.validate(post, channel)
        if problems:  # a client's check() ran already; a flow driven by hand gets the same answer
            raise ValidationError(problems, platform=self.name, account=channel.account)
        cover_url = yield from self._upload_cover(post, channel)
        archive = self._archive(post, opts, cover_url)
        fresh = False
        while True:
            upload_token, resumed = yield from self._upload(video, channel, fresh=fresh)
            try:
                answer = yield from self.call(
                    channel, "POST", "/arcopen/fn/archive/add-by-utoken",
                    params={"upload_token": upload_token}, json=archive, creates=True,
                    expect=("data.resource_id",))
            except DeliveryUnknown as exc:
                raise exc.evolve(note=(
                    "add-by-utoken may have created the archive: look in 稿件管理 "
                    "(member.bilibili.com) before sending again")) from exc
            except PlatformError as exc:
                if not (resumed and exc.code == UPLOAD_TOKEN_INVALID):
                    raise
                # The session an earlier run left expired before it was
                # submitted: refused outright, nothing exists. Upload afresh once.
                logger.info("%s [%s]: the saved upload session was refused at submit; uploading "
                            "%s afresh", self.name, channel.account, video.filename)
                fresh = True
                continue
            break
        resource_id = str(answer["data"]["resource_id"])
        yield Checkpoint("submitted", {"resource_id": resource_id})
        raw: dict[str, Any] = {"kind": "archive", "resource_id": resource_id, "cover": cover_url,
                               "tid": opts.tid}
        receipt: Receipt = yield from self._await_review(channel, opts, resource_id, raw)
        return receipt

    def _archive(self, post: Post, opts: Options, cover_url: str) -> dict[str, Any]:
        """The JSON of add-by-utoken."""
        archive: dict[str, Any] = {
            "title": (post.title or "").strip(),
            "cover": cover_url,
            "tid": opts.tid,
            "tag": ",".join(_tags(post)),
            "copyright": opts.copyright,
            "no_reprint": int(opts.no_reprint),
        }
        desc = (post.text or post.summary or "").strip()
        if desc:
            archive["desc"] = desc
        if opts.copyright == 2:
            archive["source"] = opts.source or post.link
        return archive

    # ----------------------------------------------------------- the video upload

    def _upload(self, video: Media, channel: Channel, *, fresh: bool) -> Flow[tuple[str, bool]]:
        """The video uploaded and merged: ``(upload_token, resumed?)``.

        Resumes the session an earlier run saved when it is for the same file
        (name and size) and Bilibili still takes it; a refused session
        (127022: expired, unverified how soon) is dropped and the file sent
        afresh.
        """
        info = video_info(video)
        if info is None or info.container not in VIDEO_CONTAINERS:
            raise ValidationError([self.rule("bilibili.video.type").problem(
                f"video {video.filename!r} is not MP4 or FLV")], platform=self.name,
                account=channel.account)
        name, size = _upload_name(video, info.container), info.size
        upload = SavedUpload.of(video, "upload")
        saved = yield Recall()
        session = None if fresh else self._saved_session(upload.recall(saved, filename=name,
                                                                        size=size), size)
        if session is not None:
            token, offset, completed = session
            try:
                yield from self._send(video, channel, upload, token, name=name, size=size,
                                      offset=offset, completed=completed)
            except PlatformError as exc:
                if exc.code != UPLOAD_TOKEN_INVALID or isinstance(exc, DeliveryUnknown):
                    raise
                logger.info("%s [%s]: the saved upload session of %s expired; starting afresh",
                            self.name, channel.account, video.filename)
            else:
                return token, True
        # utype "0": chunked, allowed at any size. "1" (a file up to 100 MB in one
        # request) needs the single-file upload path, which the sheet marks unverified.
        answer = yield from self.call(channel, "POST", "/arcopen/fn/archive/video/init",
                                      json={"name": name, "utype": "0"}, safe=True, creates=False,
                                      expect=("data.upload_token",))
        token = str(answer["data"]["upload_token"])
        yield upload.save("uploading", self._session(token, name, size, 0))
        yield from self._send(video, channel, upload, token, name=name, size=size, offset=0,
                              completed=False)
        return token, False

    def _saved_session(self, saved: Mapping[str, Any] | None,
                       size: int) -> tuple[str, int, bool] | None:
        if saved is None:
            return None  # nothing saved for this very file (`SavedUpload.recall`)
        token, offset = saved.get("upload_token"), saved.get("offset")
        if not isinstance(token, str) or not token or not isinstance(offset, int):
            return None
        if not 0 <= offset <= size or (offset % self.part_size and offset != size):
            return None
        return token, offset, bool(saved.get("completed"))

    @staticmethod
    def _session(token: str, name: str, size: int, offset: int,
                 completed: bool = False) -> dict[str, Any]:
        # The upload_token is a session handle, not an account credential: a
        # re-run needs it to resume (it only lets parts into this session).
        return {"upload_token": token, "filename": name, "size": size, "offset": offset,
                "completed": completed}

    def _send(self, video: Media, channel: Channel, upload: SavedUpload, token: str, *, name: str,
              size: int, offset: int, completed: bool) -> Flow[None]:
        """Every part from *offset* on, then the merge; each part acknowledged is saved."""
        if completed:
            return
        url = self.opts(channel).upload_url.rstrip("/") + "/video/v2/part/upload"
        for index, start, chunk in self.read_parts(video, self.part_size, start=offset):
            # Re-sending a part replaces it: safe to retry on its own.
            yield from self.call(
                channel, "POST", url, params={"upload_token": token, "part_number": index + 1},
                content=chunk, headers={"Content-Type": "application/octet-stream"},
                safe=True, creates=False, deadline=PART_DEADLINE)
            sent = start + len(chunk)
            yield from upload.sent(video.filename, self._session(token, name, size, sent), sent=sent,
                                   total=size)
        # Merging twice is harmless (unverified; the fake answers 0 again).
        yield from self.call(channel, "POST", "/arcopen/fn/archive/video/complete",
                             params={"upload_token": token}, safe=True, creates=False)
        yield upload.save("uploaded", self._session(token, name, size, size, completed=True))

    def _upload_cover(self, post: Post, channel: Channel) -> Flow[str]:
        """The cover through cover/upload; its URL is the archive's ``cover``."""
        cover = post.cover
        if cover is None:
            raise ValidationError(self._cover_problems(None), platform=self.name,
                                  account=channel.account)
        data = yield from self.fetch(cover, channel)
        problems = self._cover_problems(cover, data=data)
        kind = image_type(data[:16])
        if problems or kind is None:
            raise ValidationError(problems or [self.rule("bilibili.cover.type").problem(
                f"cover {cover.filename!r} is no image")], platform=self.name, account=channel.account)
        ext = "jpg" if kind == "jpeg" else kind
        answer = yield from self.call(
            channel, "POST", "/arcopen/fn/archive/cover/upload",
            files={"file": (f"cover.{ext}", data, f"image/{kind}")}, safe=True, creates=False,
            expect=("data.url",))
        return str(answer["data"]["url"])

    # ----------------------------------------------------------- review

    def _await_review(self, channel: Channel, opts: Options, resource_id: str,
                      raw: dict[str, Any]) -> Flow[Receipt]:
        """Poll archive/view until review ends or ``poll_timeout`` passes."""
        archive, _ = yield from self.poll(
            lambda: self._view(channel, resource_id), _settled,
            interval=opts.poll_interval, timeout=opts.poll_timeout)
        return self._receipt(channel, resource_id, archive, raw)

    def _view(self, channel: Channel, resource_id: str) -> Flow[dict[str, Any]]:
        body = yield from self.call(channel, "GET", "/arcopen/fn/archive/view",
                                    params={"resource_id": resource_id})
        data = body.get("data") if isinstance(body, dict) else None
        # The sheet's envelope holds it in data; the API docs' example shows the
        # archive at the top (unverified which): either is read.
        if isinstance(data, dict):
            return data
        return body if isinstance(body, dict) else {}

    def _receipt(self, channel: Channel, resource_id: str, archive: Mapping[str, Any],
                 raw: dict[str, Any]) -> Receipt:
        state, desc, reason = _review_state(archive)
        raw.update(review_state=state, state_desc=desc)
        if state in _PUBLISHED_STATES:
            return Receipt(channel=channel, remote_id=resource_id, state="published", raw=raw)
        if state in _SCHEDULED_STATES:
            return Receipt(channel=channel, remote_id=resource_id, state="scheduled", raw=raw)
        if state is not None and state in _REJECTED_STATES:
            why = f": {reason}" if reason else ""
            raise ContentRejected(
                f"archive {resource_id} was {_REJECTED_STATES[state]} (state {state}){why}; it "
                "stays in 稿件管理, not public", platform=self.name, account=channel.account,
                code=f"state {state}",
                hint="Edit the video or its details and submit it again, or delete the archive.")
        if state is not None and state in _GONE_STATES:
            raise PlatformError(
                f"archive {resource_id} is {_GONE_STATES[state]} (state {state})",
                platform=self.name, account=channel.account, code=f"state {state}",
                hint="See the notice in 稿件管理 (member.bilibili.com).")
        return Receipt(channel=channel, remote_id=resource_id, state="pending", raw=raw)

    # ----------------------------------------------------------- articles

    def _publish_article(self, post: Post, channel: Channel) -> Flow[Receipt]:
        """article/add, once: Bilibili deduplicates nothing."""
        opts = self.opts(channel)
        html, images = _article_html(post)
        if images:  # check() refused these already: never published without them
            raise ValidationError(self._article_problems(post), platform=self.name,
                                  account=channel.account)
        if post.cover is not None:
            logger.info("%s [%s]: the cover is not sent with an article (no upload for it is "
                        "documented)", self.name, channel.account)
        form: dict[str, str] = {"title": (post.title or "").strip(), "content": html}
        if (post.summary or "").strip():
            form["summary"] = (post.summary or "").strip()
        if opts.category is not None:
            form["category"] = str(opts.category)
        if opts.template_id is not None:
            form["template_id"] = str(opts.template_id)
        tags = _tags(post)
        if tags:
            form["tags"] = ",".join(tags)  # the field's name and format: unverified
        try:
            answer = yield from self.call(
                channel, "POST", "/arcopen/fn/article/add", creates=True, expect=("data.id",),
                files={name: (None, value.encode("utf-8")) for name, value in form.items()})
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                "article/add may have created the article: look in 专栏管理 before sending "
                "again")) from exc
        article_id = str(answer["data"]["id"])
        yield Checkpoint("submitted", {"article_id": article_id})
        # Reviewed before it is public; no documented way to read the review.
        return Receipt(channel=channel, remote_id=article_id, state="pending",
                       raw={"kind": "article", "article_id": article_id})

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Finish a delivery an earlier run left in doubt, by what it learnt.

        A known archive (``resource_id``) is polled, never submitted again; a
        known article is reported pending. Without an id the submit may or
        may not have landed, and Bilibili cannot be asked which (no marker,
        no key): `DeliveryUnknown`.
        """
        yield from ()
        data = dict(doubt.data)
        resource_id = data.get("resource_id")
        if isinstance(resource_id, str) and resource_id:
            raw: dict[str, Any] = {"kind": "archive", "resource_id": resource_id, "recovered": True}
            receipt: Receipt = yield from self._await_review(channel, self.opts(channel),
                                                             resource_id, raw)
            return receipt
        article_id = data.get("article_id")
        if isinstance(article_id, str) and article_id:
            return Receipt(channel=channel, remote_id=article_id, state="pending",
                           raw={"kind": "article", "article_id": article_id, "recovered": True})
        raise DeliveryUnknown(
            f"an earlier run left this delivery '{doubt.state}' after sending the submit, and "
            "its answer never came: Bilibili cannot be asked whether it landed. Look in 稿件管理 "
            "or 专栏管理 (member.bilibili.com), then settle it with client.resolve",
            platform=self.name, account=channel.account,
            known={k: v for k, v in data.items() if k != "upload_token"})

    # ----------------------------------------------------------- delete and metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Delete the archive or the article (irreversible); gone already is fine.

        Unverified paths: ``archive/delete`` (JSON ``resource_id``) and, by
        analogy with it and ``article/anthology/delete``, ``article/delete``
        (form ``id``).
        """
        channel = receipt.channel
        if receipt.raw.get("kind") == "article":
            request = self.request(channel, "POST", "/arcopen/fn/article/delete", safe=True,
                                   files={"id": (None, receipt.remote_id.encode("utf-8"))})
        else:
            request = self.request(channel, "POST", "/arcopen/fn/archive/delete", safe=True,
                                   json={"resource_id": receipt.remote_id})
        try:
            yield request
        except PlatformError as exc:
            if exc.code not in (ARCHIVE_DELETED, ARCHIVE_NOT_FOUND):
                raise
            logger.info("%s [%s] %s was gone already", self.name, channel.account,
                        receipt.remote_id)

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Views, likes, shares and comments (replies) of an archive from ``data/arc/stat``.

        The path is from the API docs (获取单个稿件数据), not the fact sheet
        (unverified). Articles: the sheet gives no statistics API, so every
        count is ``None``.
        """
        if receipt.raw.get("kind") == "article":
            yield from ()
            return Metrics(raw={"reason": "the fact sheet gives no statistics API for articles"})
        body = yield from self.call(receipt.channel, "GET", "/arcopen/fn/data/arc/stat",
                                    params={"resource_id": receipt.remote_id})
        data = body.get("data") if isinstance(body, dict) else None
        stats: Mapping[str, Any] = data if isinstance(data, dict) else {}
        return Metrics(views=count_or_none(stats.get("view")), likes=count_or_none(stats.get("like")),
                       shares=count_or_none(stats.get("share")), comments=count_or_none(stats.get("reply")),
                       raw=dict(stats))

    # ----------------------------------------------------------- auth

    def refresh_request(self, channel: Channel, token: Token) -> httpx.Request:
        """``POST /x/account-oauth2/v1/refresh_token`` with the app's id and secret in the query.

        Resent after a lost answer: if the first one landed, the spent token
        is refused (122007) and the user is told to authorise again, which is
        what a lost refresh costs either way.
        """
        credentials = channel.credentials
        url = self.opts(channel).oauth_url.rstrip("/") + "/x/account-oauth2/v1/refresh_token"
        return self.request(channel, "POST", url, safe=True, creates=False, params={
            "client_id": credentials["client_id"], "client_secret": credentials["client_secret"],
            "grant_type": "refresh_token", "refresh_token": token.refresh_token or "",
        })

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """``data{access_token, refresh_token, expires_in}``: the new pair replaces the old.

        The lifetimes are whatever ``expires_in`` says (the sheet marks their
        values unverified); a missing or absurd one leaves the token to be
        used until Bilibili refuses it.
        """
        body = self.answer(response, channel, expect=("data.access_token", "data.refresh_token"))
        data = body["data"]
        return Token(value=str(data["access_token"]), refresh_token=str(data["refresh_token"]),
                     expires_in=seconds_or_none(data.get("expires_in"), most=_MAX_TOKEN_LIFETIME))
