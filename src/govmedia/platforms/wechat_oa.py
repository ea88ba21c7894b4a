"""WeChat Official Accounts (公众号): article drafts, free publishing, analytics.

Facts: shared/platforms/wechat_oa.md. One post becomes one ``news`` article:

1. the cover goes up as a permanent *image* material (``material/add_material
   ?type=image``); its ``media_id`` is the draft's ``thumb_media_id``;
2. each body image (an ``<img>``/Markdown image whose ``src`` names an item of
   ``post.media``, plus the post's other images, appended) goes up through
   ``media/uploadimg`` and its ``src`` becomes the returned URL;
3. the body is rendered to WeChat-safe HTML (`govmedia.content.wechat`);
4. ``draft/add`` makes the draft; with option ``publish`` (the default)
   ``freepublish/submit`` starts the publish job and ``freepublish/get`` is
   polled until the job ends or ``poll_timeout`` passes.

Every request carries ``?access_token=`` from ``stable_token`` (the app secret
travels in that request's JSON body, never in a URL; the token is masked in
every log line). ``draft/add`` and ``freepublish/submit`` have no idempotency
key, so a timeout or a bare 5xx after sending them raises `DeliveryUnknown`
and is never resent; uploads and reads are resent freely.
"""

from __future__ import annotations

import datetime as dt
import html
import logging
import math
import pathlib
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import HEAD_SIZE, image_type, sniff
from govmedia.content.counting import count_utf8
from govmedia.content.integrity import body_problems, text_floor
from govmedia.content.media import media_head, media_size, mismatch, names_media, verify_bytes
from govmedia.content.rules import LengthRule, Rule
from govmedia.content.wechat import WeChatHTML, clean_text, to_wechat_html
from govmedia.errors import (
    AuthError,
    ConfigError,
    ContentRejected,
    DeliveryUnknown,
    PlatformError,
    ValidationError,
)
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import FetchedToken, Query
from govmedia.platforms.base import BasePlatform, Capabilities, Rendering
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    count_or_none,
    creates,
    id_or_none,
    json_of,
    prepares,
    retry_safe,
    seconds_or_none,
    text_or_none,
)
from govmedia.platforms.uploads import media_bytes
from govmedia.tokens import Token

__all__ = ["WeChatOAPlatform"]

logger = logging.getLogger("govmedia")

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")

TITLE_MAX = 32
AUTHOR_MAX = 16
DIGEST_MAX = 128
CONTENT_CHARS = 20_000          # content must be *under* this many characters
CONTENT_BYTES = 1024 * 1024     # ... and under 1 MB
SOURCE_URL_BYTES = 1024
COVER_BYTES = 10 * 1024 * 1024  # permanent image material: 10 MB
COVER_TYPES = ("bmp", "png", "jpeg", "gif")
BODY_IMAGE_BYTES = 1024 * 1024  # media/uploadimg: under 1 MB
BODY_IMAGE_TYPES = ("jpeg", "png")

# What an uploadimg URL looks like, for the length estimate made offline.
_URL_ESTIMATE = "http://mmbiz.qpic.cn/mmbiz_jpg/" + "x" * 90 + "/0?wx_fmt=jpeg"
_MASS_DUPLICATE = 45065          # sendall: this clientmsgid was sent before
_MAX_TOKEN_LIFETIME = 24 * 3600  # stable_token gives 7,200 s; beyond a day is garbage
_APPENDED = "govmedia-media:"              # src of images appended from post.media

_EXT = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp"}
_MIME_KIND = {"image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg", "image/png": "png",
              "image/gif": "gif", "image/bmp": "bmp", "image/x-ms-bmp": "bmp"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

# Reading the draft box and the publish records to settle a delivery in doubt.
_LIST_COUNT = 20
_LIST_PAGES = 10
_LIST_MARGIN = 600.0              # seconds of clock skew allowed before the claim
_LIST_MAX_BODY = 64 * 1024 * 1024  # pages carry whole articles

SHEET = "shared/platforms/wechat_oa.md"
_WX = f"{SHEET}: draft/add"
_MAT = f"{SHEET}: material/add_material, media/uploadimg"
RULES: tuple[Rule, ...] = (
    Rule(id="wechat_oa.title.required", field="title", code="missing_title",
         summary="an article needs a title", source=_WX, remediation="Give the post a title."),
    LengthRule(id="wechat_oa.title.max_length", field="title", limit=TITLE_MAX, counter=len,
               source=_WX, remediation="Shorten the title, or give WeChat a title variant."),
    LengthRule(id="wechat_oa.summary.max_length", field="summary", limit=DIGEST_MAX, counter=len,
               source=f"{_WX} (digest)", remediation="Shorten the summary."),
    Rule(id="wechat_oa.link.max_bytes", field="link", summary="link (阅读原文) at most 1 KB",
         source=f"{_WX} (content_source_url)", remediation="Use a shorter link."),
    Rule(id="wechat_oa.body.required", field="body", code="missing_body",
         summary="an article needs a body", source=_WX, remediation="Give the post a body."),
    LengthRule(id="wechat_oa.body.max_length", field="body", limit=CONTENT_CHARS, counter=len,
               exclusive=True, unit="characters",
               summary="the body as sent (HTML, inline styles included) under 20,000 characters",
               source=f"{_WX} (content)", remediation=(
                   "Shorten the body, or move parts of it to a linked page (阅读原文).")),
    LengthRule(id="wechat_oa.body.max_bytes", field="body", limit=CONTENT_BYTES,
               counter=count_utf8, exclusive=True, unit="bytes",
               summary="the body as sent (HTML) under 1 MB",
               source=f"{_WX} (content)", remediation=(
                   "Shorten the body, or move parts of it to a linked page (阅读原文).")),
    LengthRule(id="wechat_oa.author.max_length", field="author", limit=AUTHOR_MAX, counter=len,
               source=f"{_WX} (author)", remediation="Shorten the channel's author option."),
    Rule(id="wechat_oa.cover.required", field="cover", code="missing_cover",
         summary="an article needs a cover image", source=_WX,
         remediation="Set post.cover to a bmp/png/jpeg/gif image up to 10 MB."),
    Rule(id="wechat_oa.cover.type", field="cover", code="bad_media",
         summary="cover: bmp, png, jpeg or gif", source=_MAT,
         remediation="Convert the cover to JPEG or PNG."),
    Rule(id="wechat_oa.cover.max_size", field="cover", code="bad_media",
         summary="cover up to 10 MB", source=_MAT, remediation="Compress the cover image."),
    Rule(id="wechat_oa.image.type", field="media", code="bad_media",
         summary="body images: jpg or png", source=_MAT,
         remediation="Convert body images to JPEG or PNG."),
    Rule(id="wechat_oa.image.max_size", field="media", code="bad_media",
         summary="body images under 1 MB", source=_MAT, remediation="Compress the image below 1 MB."),
    Rule(id="wechat_oa.body.image_source", field="body", code="bad_media",
         summary="each body image is a file of post.media or a web address",
         source=f"{SHEET}: media/uploadimg (article images must be on WeChat's hosts)",
         remediation=("Attach the file (gm.Media.from_path) so the body's image can name it, "
                      "or give its http(s) address; govmedia uploads it to WeChat.")),
)


# --------------------------------------------------------------------------- errors

ERRORS = ErrorTable(
    {
        40001: Code.auth("WeChat refused the app secret or the access token: check the channel's "
                         "app_id and app_secret (设置与开发 → 基本配置); a fresh token was tried once."),
        40014: Code.auth("The access token was refused even after one refresh: check that no other "
                         "system forces token refreshes (force_refresh) for this app."),
        42001: Code.auth("The access token expired and a refreshed one was refused too; run again."),
        41001: Code.auth("The request carried no access token; this is a govmedia bug, please "
                         "report it."),
        40013: Code.permanent("The app_id is not a valid AppID: check the channel's app_id credential."),
        40125: Code.permanent("The app_secret is wrong: check it, or reset it in 设置与开发 → 基本配置."),
        40164: Code.permanent("Add this machine's public IP (named in the message) to the account's "
                              "IP whitelist: 设置与开发 → 基本配置 → IP白名单."),
        48001: Code.permanent("The account lacks the permission for this API (unverified accounts "
                              "cannot use publishing or analytics, for one): see 设置与开发 → 接口权限."),
        48004: Code.permanent("WeChat banned this API for the account: see the notice in the admin "
                              "console."),
        50002: Code.permanent("The account is restricted (用户受限): see the notice in the admin console."),
        53500: Code.permanent("Publishing is banned for this account: see the notice in the admin "
                              "console."),
        53502: Code.permanent("WeChat does not know this publish_id."),
        53600: Code.permanent("WeChat does not know this article_id (deleted already?)."),
        43002: Code.permanent("WeChat wants POST for this API: this is a govmedia bug, please report it."),
        43003: Code.permanent("WeChat wants HTTPS: set the channel's base_url to an https:// address."),
        45009: Code.quota("The app's daily quota for this API is used up; it resets at midnight China "
                          "time (an admin can reset it early with clear_quota). Re-run later with the "
                          "same journal."),
        45028: Code.quota("No mass-send quota is left for today."),
        53501: Code.quota("WeChat asks this account to publish less often: wait and run again."),
        45011: Code.rate_limited("WeChat's per-minute quota for this API is used up: lower the rate "
                                 "with rate_limits={'wechat_oa:APPID': gm.RateLimit(...)} or run "
                                 "again in a minute."),
        45065: Code.permanent("This clientmsgid was mass-sent before (the first send's msg_id is "
                              "in the answer)."),
        45066: Code.rate_limited("The same mass send was retried within a minute.", wait=60),
        -1: Code.busy(),
        40033: Code.rejected("WeChat found a \\uXXXX escape or an invalid character in the "
                             "request; govmedia sends raw UTF-8, so please report this.",
                             unforeseeable="govmedia never sends escapes: a bug if seen"),
        40005: Code.rejected("WeChat refused the file type: covers must be bmp/png/jpeg/gif, body "
                             "images jpg/png.", rule="wechat_oa.cover.type"),
        40006: Code.rejected("WeChat refused the file size.", rule="wechat_oa.cover.max_size"),
        40009: Code.rejected("WeChat refused the image size: covers up to 10 MB, body images under "
                             "1 MB.", rule="wechat_oa.image.max_size"),
        40007: Code.rejected("WeChat does not know this media_id (the cover material or the draft "
                             "was deleted?).", unforeseeable="a material deleted by hand meanwhile"),
        45002: Code.rejected("The article is too long: WeChat wants the HTML under 20,000 characters "
                             "and 1 MB.", rule="wechat_oa.body.max_length"),
        45003: Code.rejected("The title is too long: WeChat allows 32 characters.",
                             rule="wechat_oa.title.max_length"),
        45004: Code.rejected("The summary (digest) is too long: WeChat allows 128 characters.",
                             rule="wechat_oa.summary.max_length"),
        45005: Code.rejected("The link (content_source_url) is too long: WeChat allows 1 KB.",
                             rule="wechat_oa.link.max_bytes"),
        45110: Code.rejected("The author option is too long: WeChat allows 16 characters.",
                             rule="wechat_oa.author.max_length"),
        45166: Code.rejected("WeChat found the content invalid (an unsupported tag or attribute, "
                             "often).", unforeseeable="WeChat does not publish its tag list"),
        87014: Code.rejected("WeChat's content security check flagged the content as risky: edit it.",
                             unforeseeable="WeChat's content security check is not published"),
    },
    code_field="errcode", message_field="errmsg",
)

# publish_status of freepublish/get: (error class, meaning); 0 is success, 1 "publishing".
_PUBLISH_STATUS: Mapping[int, tuple[type[PlatformError], str]] = {
    2: (ContentRejected, "originality check failed (原创失败)"),
    3: (ContentRejected, "publishing failed (常规失败)"),
    4: (ContentRejected, "review rejected (平台审核不通过)"),
    5: (PlatformError,
        "every article was deleted by the account after publishing (成功后用户删除所有文章)"),
    6: (PlatformError, "the article was banned after publishing (成功后系统封禁所有文章)"),
}


def _copy_error(error: PlatformError, *, note: str = "", hint: str | None = None) -> PlatformError:
    """The same error with a note added to its message and/or another hint."""
    if hint is None:
        return error.evolve(note=note)
    return error.evolve(note=note, hint=hint)


# --------------------------------------------------------------------------- options


def _author_problem(value: str) -> str | None:
    length = len(clean_text(value).strip())
    return None if length <= AUTHOR_MAX else f"at most {AUTHOR_MAX} characters (it is {length})"


def _author(opts: Options) -> str | None:
    return clean_text(opts.author).strip() or None if opts.author else None


# --------------------------------------------------------------------------- media


def _kind(head: bytes | None, mime_type: str) -> str | None:
    """The image type from the bytes where we have them, else from the MIME type."""
    if head is not None:
        return image_type(head)
    return _MIME_KIND.get(mime_type.lower())


def _image_problem(
    media: Media, what: str, field: str, kinds: tuple[str, ...], limit: int, *, rule: str,
    head: bytes | None = None, size: int | None = None, strict_under: bool = False,
) -> Problem | None:
    head = head if head is not None else media_head(media)
    if head is not None and mismatch(media.mime_type, sniff(head)) is not None:
        return None  # bytes that are not what they claim: media_problems reports them
    size = size if size is not None else media_size(media)
    kind = _kind(head, media.mime_type)
    allowed = "/".join(_EXT.get(k, k) for k in kinds)
    if kind not in kinds:
        sniffed = sniff(head) if head is not None else None
        found = sniffed.description if sniffed is not None else media.mime_type
        return Problem(
            code="bad_media", field=field, rule=f"wechat_oa.{rule}.type",
            message=f"{what} {media.filename!r} is {found}; WeChat takes {allowed} here",
        )
    over = size is not None and (size >= limit if strict_under else size > limit)
    if over:
        megabytes = limit // 1024 // 1024
        bound = f"under {megabytes} MB" if strict_under else f"up to {megabytes} MB"
        return Problem(
            code="bad_media", field=field, rule=f"wechat_oa.{rule}.max_size",
            message=f"{what} {media.filename!r} is {size:,} bytes; WeChat takes {allowed} {bound}",
        )
    return None


def _cover_problem(media: Media, **known: Any) -> Problem | None:
    return _image_problem(media, "cover", "cover", COVER_TYPES, COVER_BYTES, rule="cover", **known)


def _body_image_problem(media: Media, **known: Any) -> Problem | None:
    return _image_problem(media, "body image", "media", BODY_IMAGE_TYPES, BODY_IMAGE_BYTES,
                          strict_under=True, rule="image", **known)


def _upload_name(media: Media, kind: str, fallback: str) -> str:
    stem = pathlib.PurePath(media.filename).stem
    if not _SAFE_NAME.fullmatch(stem):
        stem = fallback
    return f"{stem}.{_EXT[kind]}"


@attrs.frozen
class _Plan:
    """Which body image sources map to which media to upload.

    ``media`` is ``post.media`` followed by the web images the body shows
    (re-hosted: fetched and uploaded like attached files, since an article
    shows images on WeChat's hosts only).
    """

    media: tuple[Media, ...]
    refs: tuple[tuple[str, int], ...]           # (src, index in media)
    append: tuple[tuple[str, str | None], ...]  # images added at the end: (src, alt)
    unsendable: tuple[tuple[str, str], ...]     # (src, why): a check problem, never dropped
    external_links: tuple[str, ...]
    ignored: tuple[str, ...]                    # non-image media: not sent

    @property
    def indices(self) -> list[int]:
        seen: list[int] = []
        for _, i in self.refs:
            if i not in seen:
                seen.append(i)
        return seen


def _plan(post: Post, opts: Options) -> _Plan:
    first = to_wechat_html(post.body or "", post.body_format)
    pool = list(post.media)
    refs: list[tuple[str, int]] = []
    unsendable: list[tuple[str, str]] = []
    web: dict[str, int] = {}
    for src in first.images:
        index = next((i for i, m in enumerate(post.media) if names_media(src, m)), None)
        if index is not None:
            refs.append((src, index))
        elif src in first.dropped:
            why = _web_image(src, pool, web)
            if why is None:
                refs.append((src, web[src]))
            else:
                unsendable.append((src, why))
        # else: already on a WeChat host, kept as it is
    used = {i for _, i in refs}
    append: list[tuple[str, str | None]] = []
    if opts.append_images:
        for i, media in enumerate(post.media):
            if media.kind == "image" and i not in used:
                src = f"{_APPENDED}{i}"
                append.append((src, media.alt))
                refs.append((src, i))
    ignored = tuple(m.filename for i, m in enumerate(post.media)
                    if m.kind != "image" and i not in used)
    return _Plan(tuple(pool), tuple(refs), tuple(append), tuple(unsendable),
                 first.external_links, ignored)


def _web_image(src: str, media: list[Media], web: dict[str, int]) -> str | None:
    """Add the web image *src* to *media* to be re-hosted; else why it cannot be sent."""
    if src in web:
        return None
    if not src.lower().startswith(("http://", "https://")):
        what = "inline data" if src.lower().startswith("data:") else "a file name"
        return (f"is {what}, not a file of post.media nor a web address; WeChat would show "
                "nothing there")
    try:
        item = Media.from_url(src)
    except ConfigError as exc:  # a metadata address, a malformed URL
        return f"cannot be fetched: {exc}"
    web[src] = len(media)
    media.append(item)
    return None


def _body_problems(post: Post, opts: Options) -> list[Problem]:
    """Body length, lost text and body images; the body is rendered once per variant."""
    body = post.body or ""
    floor = text_floor(body, post.body_format, enough=CONTENT_CHARS)
    if floor >= CONTENT_CHARS:  # refused before rendering it whole
        return [Problem(
            code="too_long", field="body", rule="wechat_oa.body.max_length",
            message=f"the body has at least {floor:,} characters of text; WeChat needs the "
                    f"article's HTML (text, tags and inline styles) under {CONTENT_CHARS:,}",
        )]
    problems = body_problems(body, post.body_format)
    plan = _plan(post, opts)
    for index in plan.indices:
        problem = _body_image_problem(plan.media[index])
        if problem:
            problems.append(problem)
    problems.extend(
        Problem(code="bad_media", field="body", rule="wechat_oa.body.image_source",
                message=f"body image {src[:120]!r} {why}")
        for src, why in plan.unsendable)
    estimate = {src: _URL_ESTIMATE for src, _ in plan.refs}
    rendered = to_wechat_html(body, post.body_format, images=estimate, append=plan.append)
    problems.extend(_length_problems(rendered, estimated=bool(plan.refs)))
    return problems


# --------------------------------------------------------------------------- platform


class WeChatOAPlatform(BasePlatform):
    """Publish a post as a WeChat Official Account article (draft, then free publish).

    Credentials: ``app_id`` and ``app_secret`` (设置与开发 → 基本配置; the
    caller's IP must be on the account's IP whitelist).
    Options: ``publish`` (default true; false leaves a draft), ``base_url``
    (default ``https://api.weixin.qq.com``), ``author`` (≤ 16 characters),
    ``poll_timeout`` (seconds to wait for the publish job, default 60),
    ``poll_interval`` (default 3), ``need_open_comment``,
    ``only_fans_can_comment`` (default false) and ``append_images`` (default
    true: images of ``post.media`` the body does not show are added at its end).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="wechat_oa", account="gh_sasac",
        ...                 credentials={"app_id": "wx0123456789abcdef", "app_secret": "s" * 32})
        >>> [p.code for p in gm.Client().check(gm.Post(title="国资小新", body="正文"), ch)]
        ['missing_cover']
    """

    name: ClassVar[str] = "wechat_oa"
    credential_keys: ClassVar[tuple[str, ...]] = ("app_id", "app_secret")
    # The service bot's callback (govmedia.bot): the token of 服务器配置 and,
    # for safe mode, the EncodingAESKey.
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("callback_token", "encoding_aes_key")
    options: ClassVar[Mapping[str, Option]] = {
        "publish": Option(bool, default=True, doc="false leaves a draft"),
        "mass_send": Option(bool, default=False, doc=(
            "push the article to every follower with message/mass/sendall instead of "
            "free publishing")),
        "base_url": Option(str, default=DEFAULT_BASE_URL, check=url_check()),
        "author": Option(str, check=_author_problem),
        "poll_timeout": Option(float, default=60.0, minimum=0.0, coerce=True),
        "poll_interval": Option(float, default=3.0, minimum=0.001, coerce=True),
        "need_open_comment": Option(bool, default=False),
        "only_fans_can_comment": Option(bool, default=False),
        "append_images": Option(bool, default=True),
    }
    # stable_token: the secret goes in the JSON body, never the URL; the token
    # goes in ?access_token= (masked in every log line), one per app.
    auth = FetchedToken(Query("access_token"), scope_credential="app_id")
    api_base: ClassVar[str] = DEFAULT_BASE_URL
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, dedupe=False, refresh=True, reconcile=True,
        media_kinds=("image",),
        counting=(
            "Python characters (code points): title ≤ 32, summary ≤ 128, author ≤ 16; "
            "the body as the HTML sent (inline styles included) under 20,000 characters "
            "and 1 MB. Metrics are partial: reads and shares from datacube once a day, "
            "likes and comments never"
        ),
        fields=("title", "body", "summary", "cover", "link", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    fake: ClassVar[str] = "govmedia.testing.wechat_oa:FakeWeChatOA"

    # ----------------------------------------------------------- configuration

    def base_url(self, channel: Channel) -> str:
        """The API's address; a ``base_url`` given with ``/cgi-bin`` works too."""
        return super().base_url(channel).removesuffix("/cgi-bin")

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """``wechat_oa:APPID``: WeChat's quotas are per app."""
        app_id = channel.credentials["app_id"]
        return (app_id,) if app_id != channel.account else ()

    # ----------------------------------------------------------- validation

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: title, digest, link, body length, cover and body images."""
        opts = self.opts(channel)
        problems: list[Problem] = []
        title = clean_text(post.title or "").strip()
        if not title:
            problems.append(self.rule("wechat_oa.title.required").problem(
                "a WeChat article needs a title"))
        elif len(title) > TITLE_MAX:
            problems.append(self.rule("wechat_oa.title.max_length").problem(
                f"title is {len(title)} characters; WeChat allows at most {TITLE_MAX}"))
        digest = clean_text(post.summary or "").strip()
        if len(digest) > DIGEST_MAX:
            problems.append(self.rule("wechat_oa.summary.max_length").problem(
                f"summary (the article digest) is {len(digest)} characters; "
                f"WeChat allows at most {DIGEST_MAX}"))
        if post.link and len(post.link.encode("utf-8")) > SOURCE_URL_BYTES:
            problems.append(self.rule("wechat_oa.link.max_bytes").problem(
                f"link (阅读原文) is {len(post.link.encode('utf-8')):,} bytes; "
                f"WeChat allows at most {SOURCE_URL_BYTES:,}"))
        if post.cover is None:
            problems.append(self.rule("wechat_oa.cover.required").problem(
                "a WeChat article needs a cover image (bmp/png/jpeg/gif, up to 10 MB)"))
        else:
            problem = _cover_problem(post.cover)
            if problem:
                problems.append(problem)
        if not (post.body or "").strip():
            problems.append(self.rule("wechat_oa.body.required").problem(
                "a WeChat article needs a body"))
            return problems
        problems.extend(_body_problems(post, opts))
        return problems

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``freepublish/batchget`` of one record: the token, the IP whitelist and the permission.

        The token fetch before it catches a wrong secret and 40164 (IP not on
        the whitelist); this read catches 48001 (the account may not publish
        through the API).
        """
        request = prepares(retry_safe(self._json(channel, "/cgi-bin/freepublish/batchget",
                                                 {"offset": 0, "count": 1, "no_content": 1})))
        request.extensions["govmedia.max_body"] = _LIST_MAX_BODY
        return request

    def render(self, post: Post, channel: Channel) -> Rendering:
        """The draft/add article as `publish` sends it; images named by source, not uploaded.

        Web images of the body show at their own address (they are
        re-hosted on publishing); the cover is its source, not a material id.
        """
        opts = self.opts(channel)
        plan = _plan(post, opts)
        # The renderer takes http(s) URLs only: placeholders, then each source.
        urls = {src: f"https://govmedia.invalid/preview/{index}/x" for src, index in plan.refs}
        rendered = to_wechat_html(post.body or "", post.body_format, images=urls,
                                  append=plan.append)
        content = rendered.html
        for index in {index for _, index in plan.refs}:
            content = content.replace(f"https://govmedia.invalid/preview/{index}/x",
                                      html.escape(Rendering.source(plan.media[index])))
        fields: dict[str, Any] = {
            "article_type": "news", "title": clean_text(post.title or "").strip(),
            "content": content,
            "cover": Rendering.source(post.cover) if post.cover is not None else None,
            "need_open_comment": int(opts.need_open_comment),
            "only_fans_can_comment": int(opts.only_fans_can_comment),
        }
        if opts.author:
            fields["author"] = opts.author
        if (post.summary or "").strip():
            fields["digest"] = clean_text(post.summary or "").strip()
        if post.link:
            fields["content_source_url"] = post.link
        return Rendering(fields=fields, text=None, html=content)

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the cover and body images, add the draft, then publish and poll.

        *key* is not sent: no WeChat draft or publish API takes an idempotency key.
        """
        opts = self.opts(channel)
        plan = _plan(post, opts)
        self._warn(channel, plan)
        thumb_media_id = yield from self._upload_cover(post, channel, opts)
        uploaded = yield from self._upload_images(post, plan, channel, opts)
        article = self._article(post, plan, uploaded, thumb_media_id, channel=channel, opts=opts)
        raw: dict[str, Any] = {
            "thumb_media_id": thumb_media_id,
            "images": [uploaded[i] for i in plan.indices],
        }
        # The cover's material id is new with every upload: it finds this
        # article in the draft box and the publish records if the answer to
        # draft/add is lost (see `recover`).
        yield Checkpoint("drafting", {"thumb_media_id": thumb_media_id})
        raw["media_id"] = media_id = yield from self._add_draft(article, channel, opts)
        yield Checkpoint("drafted", {"media_id": media_id})
        if not opts.publish:
            return Receipt(channel=channel, remote_id=media_id, state="draft", raw=raw)
        receipt: Receipt = yield from self._finish(media_id, channel, opts, raw, key)
        return receipt

    def _finish(self, media_id: str, channel: Channel, opts: Options,
                raw: dict[str, Any], key: str) -> Flow[Receipt]:
        """Submit the draft *media_id* for publishing and wait for the job (or mass-send it)."""
        if opts.mass_send:
            sent: Receipt = yield from self._mass_send(media_id, channel, raw, key)
            return sent
        publish_id = yield from self._submit(media_id, channel, opts, raw)
        yield Checkpoint("submitted", {"publish_id": raw["publish_id"],
                                       **({"msg_data_id": raw["msg_data_id"]}
                                          if "msg_data_id" in raw else {})})
        receipt: Receipt = yield from self._await_job(channel, opts, raw, publish_id)
        return receipt

    def _await_job(self, channel: Channel, opts: Options, raw: dict[str, Any],
                   publish_id: Any) -> Flow[Receipt]:
        status = yield from self._poll(opts, channel, publish_id)
        if status.get("publish_status") == 1:
            raw["publish_status"] = 1
            return Receipt(channel=channel, remote_id=raw["media_id"], state="pending", raw=raw)
        return self._published(channel, status, raw)

    # ----------------------------------------------------------- recover

    def recover(  # noqa: C901, PLR0911, PLR0912 - one branch per stage a delivery can be left in
        self, post: Post, channel: Channel, key: str, doubt: Doubt,
    ) -> Flow[Receipt | None]:
        """Finish or find a delivery an earlier run left in doubt, by the stage it reached.

        - a ``publish_id`` is known (the job was submitted): poll it;
        - the submit was refused cleanly: submit the same draft again;
        - otherwise the cover's material id (``thumb_media_id``, new with
          every upload) is looked for in the publish records
          (``freepublish/batchget``) and, where ``freepublish/submit`` was
          never sent, in the draft box (``draft/batchget``): one draft found
          is submitted (no second draft is made); none found, with the lists
          read back past the time of the claim, means ``draft/add`` never
          took effect and the post is sent afresh. Anything less certain
          stays `DeliveryUnknown`.

        Unverified against the live API (the fact sheet is silent): that the
        list items carry ``thumb_media_id`` and ``update_time``, newest first.
        """
        opts = self.opts(channel)
        data = dict(doubt.data)
        raw: dict[str, Any] = {k: data[k] for k in ("thumb_media_id", "media_id", "publish_id",
                                                     "msg_data_id") if data.get(k)}
        if data.get("msg_id"):  # the mass send was accepted: nothing left to do
            raw.update(msg_id=data["msg_id"], mass_send=True)
            return Receipt(channel=channel, remote_id=str(data["msg_id"]), state="pending", raw=raw)
        if opts.mass_send and data.get("media_id"):
            # sendall carries the clientmsgid: WeChat answers a repeat with the first send.
            receipt: Receipt = yield from self._mass_send(str(data["media_id"]), channel, raw, key)
            return receipt
        if data.get("publish_id") and data.get("media_id"):
            receipt = yield from self._await_job(channel, opts, raw, data["publish_id"])
            return receipt
        if doubt.stage == "submit_refused" and data.get("media_id"):
            receipt = yield from self._finish(str(data["media_id"]), channel, opts, raw, key)
            return receipt
        thumb = data.get("thumb_media_id")
        if not thumb:
            raise DeliveryUnknown(
                "an earlier run was interrupted before it recorded the cover's material id, so "
                "the article cannot be looked up: check the draft box (草稿箱) and the publish "
                "records (发表记录)", platform=self.name, account=channel.account, known=data)
        since = None if doubt.age is None else time.time() - doubt.age - _LIST_MARGIN
        if opts.publish:
            found = yield from self._scan(channel, opts, "/cgi-bin/freepublish/batchget", thumb, since)
            if len(found) == 1:
                return self._from_record(channel, found[0], raw)
            if found:
                raise self._ambiguous(channel, "publish records (发表记录)", data)
            if data.get("media_id"):
                raise DeliveryUnknown(
                    f"freepublish/submit of draft {data['media_id']} may have been sent and its job "
                    "is not in the publish records yet: check 发表记录, then settle this delivery",
                    platform=self.name, account=channel.account, known=data)
        drafts = yield from self._scan(channel, opts, "/cgi-bin/draft/batchget", thumb, since)
        if len(drafts) > 1:
            raise self._ambiguous(channel, "draft box (草稿箱)", data)
        if not drafts:
            return None  # draft/add never took effect: nothing exists
        media_id = str(drafts[0].get("media_id") or "")
        if not media_id:
            raise self._ambiguous(channel, "draft box (草稿箱)", data)
        raw["media_id"] = media_id
        yield Checkpoint("drafted", {"media_id": media_id})
        if not opts.publish:
            return Receipt(channel=channel, remote_id=media_id, state="draft", raw=raw)
        receipt = yield from self._finish(media_id, channel, opts, raw, key)
        return receipt

    def _scan(self, channel: Channel, opts: Options, path: str, thumb: str,
              since: float | None) -> Flow[list[dict[str, Any]]]:
        """The items of a WeChat list whose first article has cover *thumb*.

        Raises `DeliveryUnknown` when the list could not be read back far
        enough to be sure nothing else matches.
        """
        matches: list[dict[str, Any]] = []
        offset, newest_first, last = 0, True, math.inf
        for _ in range(_LIST_PAGES):
            request = prepares(retry_safe(self._json(
                channel, path, {"offset": offset, "count": _LIST_COUNT, "no_content": 0})))
            request.extensions["govmedia.max_body"] = _LIST_MAX_BODY  # whole articles come back
            response = yield request
            page = json_of(response, platform=self.name, account=channel.account)
            items = page.get("item") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise PlatformError(f"{path} answered without an item list", platform=self.name,
                                    account=channel.account, code="bad_response", response=response)
            for item in items:
                if not isinstance(item, dict):
                    continue
                news = ((item.get("content") or {}).get("news_item") or [{}])[0]
                if isinstance(news, dict) and news.get("thumb_media_id") == thumb:
                    matches.append(item)
                stamp = item.get("update_time")
                if isinstance(stamp, int | float):
                    newest_first = newest_first and stamp <= last
                    last = stamp
            offset += len(items)
            total = page.get("total_count")
            if not items or (isinstance(total, int) and offset >= total):
                return matches  # the whole list was read
            if newest_first and since is not None and last < since:
                return matches  # read back past the claim: older items cannot be ours
        raise DeliveryUnknown(
            f"{path} was not read back far enough to be sure the article is not there",
            platform=self.name, account=channel.account, known={"thumb_media_id": thumb})

    def _from_record(self, channel: Channel, item: dict[str, Any], raw: dict[str, Any]) -> Receipt:
        news = ((item.get("content") or {}).get("news_item") or [{}])[0]
        article_id = item.get("article_id")
        if not article_id:
            raise PlatformError("freepublish/batchget listed an article without an article_id",
                                platform=self.name, account=channel.account, code="bad_response")
        stamp = item.get("update_time")
        day = (dt.datetime.fromtimestamp(stamp, CHINA_TIME).date().isoformat()
               if isinstance(stamp, int | float) else None)
        raw.update(article_id=str(article_id), publish_status=0, reconciled=True,
                   **({"ref_date": day} if day else {}))
        url = news.get("url") if isinstance(news, dict) else None
        return Receipt(channel=channel, remote_id=str(article_id),
                       url=url if isinstance(url, str) and url else None, state="published", raw=raw)

    def _ambiguous(self, channel: Channel, where: str, data: dict[str, Any]) -> DeliveryUnknown:
        return DeliveryUnknown(
            f"more than one item in the {where} has this article's cover: check by hand",
            platform=self.name, account=channel.account, known=data)

    def _upload_cover(self, post: Post, channel: Channel, opts: Options) -> Flow[str]:
        """The cover as a permanent image material; its media_id is the thumb_media_id."""
        if post.cover is None:  # validate() refused this already
            raise ValidationError(
                [Problem(code="missing_cover", field="cover",
                         message="a WeChat article needs a cover image")],
                platform=self.name, account=channel.account,
            )
        data = yield from self._bytes(post.cover, channel, COVER_BYTES)
        kind = self._checked(post.cover, data, channel, cover=True)
        response = yield (self._upload(
            channel, "/cgi-bin/material/add_material", params={"type": "image"},
            filename=_upload_name(post.cover, kind, "cover"), data=data, kind=kind,
        ))
        return self._field(response, "media_id", channel)

    def _upload_images(
        self, post: Post, plan: _Plan, channel: Channel, opts: Options
    ) -> Flow[dict[int, str]]:
        """Each body image through media/uploadimg: ``{index in post.media: URL}``."""
        uploaded: dict[int, str] = {}
        for index in plan.indices:
            media = plan.media[index]
            data = yield from self._bytes(media, channel, BODY_IMAGE_BYTES)
            kind = self._checked(media, data, channel, cover=False)
            response = yield (self._upload(
                channel, "/cgi-bin/media/uploadimg", params=None,
                filename=_upload_name(media, kind, f"image{index + 1}"), data=data, kind=kind,
            ))
            url = self._field(response, "url", channel)
            if not url.lower().startswith(("http://", "https://")):
                raise PlatformError(
                    f"media/uploadimg answered with {url!r}, not an http(s) URL",
                    platform=self.name, account=channel.account, code="bad_response",
                    response=response,
                )
            uploaded[index] = url
        return uploaded

    def _article(
        self, post: Post, plan: _Plan, uploaded: dict[int, str], thumb_media_id: str, *,
        channel: Channel, opts: Options,
    ) -> dict[str, Any]:
        """The ``news`` article of draft/add, its content checked with the real URLs."""
        urls = {src: uploaded[index] for src, index in plan.refs}
        rendered = to_wechat_html(post.body or "", post.body_format, images=urls,
                                  append=plan.append)
        problems = _length_problems(rendered, estimated=False)
        if problems:
            raise ValidationError(problems, platform=self.name, account=channel.account)
        article: dict[str, Any] = {
            "article_type": "news",
            "title": clean_text(post.title or "").strip(),
            "content": rendered.html,
            "thumb_media_id": thumb_media_id,
            "need_open_comment": int(opts.need_open_comment),
            "only_fans_can_comment": int(opts.only_fans_can_comment),
        }
        if opts.author:
            article["author"] = opts.author
        digest = clean_text(post.summary or "").strip()
        if digest:
            article["digest"] = digest
        if post.link:
            article["content_source_url"] = post.link
        return article

    def _add_draft(self, article: dict[str, Any], channel: Channel, opts: Options) -> Flow[str]:
        """draft/add, sent once: a possibly-applied failure is never resent."""
        try:
            response = yield creates(
                self._json(channel, "/cgi-bin/draft/add", {"articles": [article]}))
        except DeliveryUnknown as exc:
            raise _copy_error(exc, note=(
                "draft/add may have created a draft: look in the draft box (草稿箱) "
                "before sending again"
            )) from exc
        return self._field(response, "media_id", channel)

    def _submit(
        self, media_id: str, channel: Channel, opts: Options, raw: dict[str, Any]
    ) -> Flow[Any]:
        """freepublish/submit, sent once; returns the publish_id as WeChat gave it."""
        try:
            response = yield creates(
                self._json(channel, "/cgi-bin/freepublish/submit", {"media_id": media_id}))
        except DeliveryUnknown as exc:
            raise _copy_error(exc, note=(
                f"freepublish/submit may have started publishing draft {media_id}: look in "
                "the publish records (发表记录) before publishing again"
            )) from exc
        except PlatformError as exc:
            # Refused outright: no job runs, so a re-run may submit this draft again.
            yield Checkpoint("submit_refused", {"media_id": media_id})
            raise _copy_error(exc, note=f"the draft {media_id} stays in the draft box") from exc
        submitted = json_of(response, platform=self.name, account=channel.account)
        if not isinstance(submitted, dict):
            submitted = {}
        publish_id = submitted.get("publish_id")
        if id_or_none(publish_id) is None:
            raise PlatformError(
                "freepublish/submit answered without a publish_id", platform=self.name,
                account=channel.account, code="bad_response", response=response,
            )
        raw["publish_id"] = str(publish_id)
        if id_or_none(submitted.get("msg_data_id")) is not None:
            raw["msg_data_id"] = str(submitted["msg_data_id"])
        return publish_id

    def _poll(self, opts: Options, channel: Channel, publish_id: Any) -> Flow[dict[str, Any]]:
        """``freepublish/get`` until the job is no longer publishing (1) or ``poll_timeout`` passes."""

        def ask() -> Flow[dict[str, Any]]:
            response = yield prepares(retry_safe(
                self._json(channel, "/cgi-bin/freepublish/get", {"publish_id": publish_id})
            ))
            return self._status(response, channel)

        status, _ = yield from self.poll(ask, lambda s: s["publish_status"] != 1,
                                         interval=opts.poll_interval, timeout=opts.poll_timeout)
        return status

    def _mass_send(self, media_id: str, channel: Channel, raw: dict[str, Any],
                   key: str) -> Flow[Receipt]:
        """``message/mass/sendall`` of the draft to every follower, keyed by ``clientmsgid``.

        The key is the delivery's idempotency key, so a resend after a lost
        answer is recognised: WeChat refuses it with 45065 and names the first
        send's ``msg_id`` (the sheet: "45065 duplicate (existing msgid
        returned)"; the exact answer shape is unverified). 45066 (the same key
        again within a minute) waits a minute and resends. The send job runs
        on after the answer (its end arrives as the MASSSENDJOBFINISH event),
        so the receipt is ``pending``.
        """
        body = {"filter": {"is_to_all": True}, "mpnews": {"media_id": media_id},
                "msgtype": "mpnews", "send_ignore_reprint": 0, "clientmsgid": key}
        try:
            response = yield self.request(channel, "POST", "/cgi-bin/message/mass/sendall",
                                          json=body, safe=True, creates=True)
            answer = json_of(response, platform=self.name, account=channel.account)
        except PlatformError as exc:
            if exc.code != _MASS_DUPLICATE or exc.response is None:
                raise
            answer = json_of(exc.response, platform=self.name, account=channel.account)
        msg_id = answer.get("msg_id") if isinstance(answer, dict) else None
        if id_or_none(msg_id) is None:
            raise PlatformError("message/mass/sendall answered without a msg_id", platform=self.name,
                                account=channel.account, code="bad_response", maybe_applied=True)
        raw.update(msg_id=str(msg_id), mass_send=True,
                   ref_date=dt.datetime.now(CHINA_TIME).date().isoformat())
        if id_or_none(answer.get("msg_data_id")) is not None:
            raw["msg_data_id"] = str(answer["msg_data_id"])
        yield Checkpoint("mass_sent", {k: raw[k] for k in ("msg_id", "msg_data_id") if k in raw})
        return Receipt(channel=channel, remote_id=str(msg_id), state="pending", raw=raw)

    def _status(self, response: httpx.Response, channel: Channel) -> dict[str, Any]:
        """freepublish/get's answer, checked for an integer publish_status."""
        status = json_of(response, platform=self.name, account=channel.account)
        code = status.get("publish_status") if isinstance(status, dict) else None
        if not isinstance(code, int) or isinstance(code, bool):
            raise PlatformError(
                "freepublish/get answered without a publish_status", platform=self.name,
                account=channel.account, code="bad_response", response=response,
            )
        return status  # type: ignore[no-any-return]

    def _published(self, channel: Channel, status: dict[str, Any], raw: dict[str, Any]) -> Receipt:
        code = status["publish_status"]
        if code != 0:
            kind, meaning = _PUBLISH_STATUS.get(code, (PlatformError, "unknown status"))
            fail_idx = status.get("fail_idx") or []
            raise kind(
                f"publish job {raw['publish_id']} ended with publish_status {code}: {meaning}; "
                f"failed article(s) fail_idx={fail_idx} (1-based); "
                f"draft media_id {raw['media_id']}",
                platform=self.name, account=channel.account, code=f"publish_status {code}",
            )
        article_id = status.get("article_id")
        if id_or_none(article_id) is None:
            raise PlatformError(
                "freepublish/get reported success without an article_id", platform=self.name,
                account=channel.account, code="bad_response",
            )
        detail = status.get("article_detail")
        items = detail.get("item") if isinstance(detail, dict) else None
        first = items[0] if isinstance(items, list) and items else None
        url = text_or_none(first.get("article_url")) if isinstance(first, dict) else None
        raw.update(
            article_id=str(article_id), publish_status=0,
            ref_date=dt.datetime.now(CHINA_TIME).date().isoformat(),
        )
        return Receipt(channel=channel, remote_id=str(article_id), url=url or None,
                       state="published", raw=raw)

    # ----------------------------------------------------------- delete and metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """``freepublish/delete`` a published article, ``draft/delete`` a draft."""
        channel = receipt.channel
        if receipt.raw.get("mass_send"):
            raise ConfigError(
                "a mass-sent article is withdrawn in the admin console (群发记录 → 删除): the fact "
                "sheet names no API for it, so govmedia does not guess one")
        if receipt.state == "draft":
            yield self._json(channel, "/cgi-bin/draft/delete", {"media_id": receipt.remote_id})
            return
        article_id = receipt.remote_id
        if receipt.state == "pending":
            publish_id = receipt.raw.get("publish_id")
            if not publish_id:
                raise ConfigError("this pending receipt has no publish_id in raw; cannot delete it")
            response = yield prepares(retry_safe(
                self._json(channel, "/cgi-bin/freepublish/get", {"publish_id": publish_id})
            ))
            status = self._status(response, channel)
            if status["publish_status"] == 1:
                raise PlatformError(
                    f"publish job {publish_id} is still running; delete it once it has ended",
                    platform=self.name, account=receipt.channel.account, code="publish_status 1",
                    hint="Try again in a minute.",
                )
            article_id = self._published(receipt.channel, status, dict(receipt.raw)).remote_id
        yield self._json(channel, "/cgi-bin/freepublish/delete",
                         {"article_id": article_id, "index": 0})

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Reads and shares from ``datacube/getarticletotal``, where WeChat gives them.

        Only views (``int_page_read_count``) and shares (``share_count``) exist
        there; likes and comments are always ``None``. The row is found by the
        ``msgid`` ``"{msg_data_id}_1"`` on the day the article was published
        (China time), which datacube serves from the next day on; where no row
        matches, every count is ``None`` and ``raw["reason"]`` says why (asked
        on publishing day, ``raw["available_from"]`` is the date to ask again).
        """
        channel = receipt.channel
        raw = receipt.raw
        if receipt.state != "published" and not raw.get("mass_send"):
            return Metrics(raw={"reason": f"a {receipt.state} article has no reader counts"})
        msg_data_id = raw.get("msg_data_id")
        ref_date = raw.get("ref_date")
        if not msg_data_id or not ref_date:
            return Metrics(raw={"reason": "the receipt lacks msg_data_id or ref_date, so no "
                                          "datacube row can be matched to the article"})
        yesterday = dt.datetime.now(CHINA_TIME).date() - dt.timedelta(days=1)
        if str(ref_date) > yesterday.isoformat():
            try:
                ready = (dt.date.fromisoformat(str(ref_date)) + dt.timedelta(days=1)).isoformat()
            except ValueError:
                ready = "the day after"
            return Metrics(raw={
                "reason": f"WeChat gives reader counts from {ready} (China time) for articles "
                          f"published {ref_date}; ask again then",
                "ref_date": ref_date, "available_from": ready,
            })
        response = yield prepares(retry_safe(self._json(
            channel, "/datacube/getarticletotal", {"begin_date": ref_date, "end_date": ref_date},
        )))
        answer = json_of(response, platform=self.name, account=channel.account)
        rows = answer.get("list") if isinstance(answer, dict) else None
        if not isinstance(rows, list):
            rows = []
        msgid = f"{msg_data_id}_1"
        row = next((r for r in rows if isinstance(r, dict) and str(r.get("msgid")) == msgid), None)
        if row is None:
            return Metrics(raw={"reason": f"no datacube row has msgid {msgid} on {ref_date}",
                                "list": rows})
        listed = row.get("details")
        details = [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else []
        latest = max(details, key=lambda d: str(d.get("stat_date", "")), default={})
        return Metrics(
            views=count_or_none(latest.get("int_page_read_count")),
            shares=count_or_none(latest.get("share_count")),
            likes=None, comments=None,
            raw={"source": "datacube/getarticletotal", "row": row,
                 "stat_date": latest.get("stat_date")},
        )

    def _bytes(self, media: Media, channel: Channel, limit: int) -> Flow[bytes]:
        """The media's bytes: read (never past *limit*) or fetched without credentials."""
        data: bytes = yield from media_bytes(self, media, channel, limit=limit)
        return data

    # ----------------------------------------------------------- auth

    def token_request(self, channel: Channel, previous: Token | None) -> httpx.Request:
        """``POST cgi-bin/stable_token``: the secret goes in the JSON body, never the URL.

        A read in effect (the same token comes back until it nears expiry), so
        it is resent freely.
        """
        return self.request(channel, "POST", "/cgi-bin/stable_token", json={
            "grant_type": "client_credential",
            "appid": channel.credentials["app_id"],
            "secret": channel.credentials["app_secret"],
            "force_refresh": False,
        }, safe=True, creates=False)

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """``{access_token, expires_in}`` (7,200 s where WeChat leaves it out)."""
        data = json_of(response, platform=self.name, account=channel.account)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("stable_token answered without an access_token", platform=self.name,
                            account=channel.account, code="bad_response")
        # A lifetime that is no number, or an absurd one, is taken as WeChat's usual two hours.
        lifetime = seconds_or_none(data.get("expires_in"), most=_MAX_TOKEN_LIFETIME)
        return Token(value=token, expires_in=lifetime or 7200.0)

    # ----------------------------------------------------------- helpers

    def _json(self, channel: Channel, path: str, data: dict[str, Any]) -> httpx.Request:
        return self.request(channel, "POST", path, json=data)

    def _upload(
        self, channel: Channel, path: str, *, params: dict[str, str] | None, filename: str,
        data: bytes, kind: str,
    ) -> httpx.Request:
        # Uploads make materials nobody reads until an article uses them:
        # resent freely, before the point of no return.
        return self.request(channel, "POST", path, params=params, safe=True, creates=False,
                            files={"media": (filename, data, f"image/{kind}")})

    def _checked(self, media: Media, data: bytes, channel: Channel, *, cover: bool) -> str:
        """The image type of fetched or read bytes; `ValidationError` where WeChat would refuse."""
        verify_bytes(media, data, platform=self.name, account=channel.account,
                     field="cover" if cover else "media")
        check = _cover_problem if cover else _body_image_problem
        problem = check(media, head=data[:HEAD_SIZE], size=len(data))
        kind = image_type(data[:HEAD_SIZE])
        if problem is not None or kind is None:
            problem = problem or Problem(code="bad_media", message=f"{media.filename!r}: no image")
            raise ValidationError([problem], platform=self.name, account=channel.account)
        return kind

    def _field(self, response: httpx.Response, name: str, channel: Channel) -> str:
        data = json_of(response, platform=self.name, account=channel.account)
        value = data.get(name) if isinstance(data, dict) else None
        if id_or_none(value) is None:
            raise PlatformError(
                f"{response.request.url.path} answered without {name}", platform=self.name,
                account=channel.account, code="bad_response", response=response,
            )
        return str(value)

    def _warn(self, channel: Channel, plan: _Plan) -> None:
        if plan.unsendable:  # check() refuses these: never published without them
            problems = [Problem(code="bad_media", field="body", rule="wechat_oa.body.image_source",
                                message=f"body image {src[:120]!r} {why}")
                        for src, why in plan.unsendable]
            raise ValidationError(problems, platform=self.name, account=channel.account)
        for name in plan.ignored:
            logger.warning("%s [%s]: %r is not an image; WeChat articles embed images only, "
                           "so it is not sent", self.name, channel.account, name)
        for href in plan.external_links:
            logger.info("%s [%s]: link %s shown as text: WeChat articles link only to "
                        "mp.weixin.qq.com", self.name, channel.account, href)


def _length_problems(rendered: WeChatHTML, *, estimated: bool) -> list[Problem]:
    content = rendered.html
    chars = len(content)
    size = len(content.encode("utf-8"))
    note = " (image URLs estimated)" if estimated else ""
    problems = []
    if chars >= CONTENT_CHARS:
        text = rendered.text_length
        problems.append(Problem(
            code="too_long", field="body", rule="wechat_oa.body.max_length",
            message=f"the body renders to {chars:,} characters of HTML{note}, inline styles "
                    f"included ({text:,} characters of text); WeChat needs fewer than "
                    f"{CONTENT_CHARS:,}",
        ))
    if size >= CONTENT_BYTES:
        problems.append(Problem(
            code="too_long", field="body", rule="wechat_oa.body.max_bytes",
            message=f"the body renders to {size:,} bytes of HTML{note}; WeChat needs under 1 MB",
        ))
    return problems
