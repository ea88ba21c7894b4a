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
import logging
import math
import pathlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

import attrs
import httpx

from govmedia._imagetype import image_type
from govmedia._limits import MAX_BODY
from govmedia.content.markup import to_plain
from govmedia.content.wechat import WECHAT_IMAGE_HOSTS, clean_text, to_wechat_html
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
from govmedia.platforms.base import (
    BasePlatform,
    Capabilities,
    Flow,
    Sleep,
    Token,
    json_body,
    json_of,
    retry_safe,
)

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
_EXTERNAL = "govmedia.wechat_oa.external"  # request extension: a fetch from another host
_APPENDED = "govmedia-media:"              # src of images appended from post.media

_EXT = {"jpeg": "jpg", "png": "png", "gif": "gif", "bmp": "bmp"}
_MIME_KIND = {"image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg", "image/png": "png",
              "image/gif": "gif", "image/bmp": "bmp", "image/x-ms-bmp": "bmp"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")

# --------------------------------------------------------------------------- errors

_HINTS: Mapping[int, str] = {
    40001: "WeChat refused the app secret or the access token: check the channel's app_id "
           "and app_secret (设置与开发 → 基本配置); a fresh token was tried once.",
    40014: "The access token was refused even after one refresh: check that no other system "
           "forces token refreshes (force_refresh) for this app.",
    42001: "The access token expired and a refreshed one was refused too; run again.",
    41001: "The request carried no access token; this is a govmedia bug, please report it.",
    40013: "The app_id is not a valid AppID: check the channel's app_id credential.",
    40125: "The app_secret is wrong: check it, or reset it in 设置与开发 → 基本配置.",
    40164: "Add this machine's public IP (named in the message) to the account's IP whitelist: "
           "设置与开发 → 基本配置 → IP白名单.",
    48001: "The account lacks the permission for this API (unverified accounts cannot use "
           "publishing or analytics, for one): see 设置与开发 → 接口权限.",
    48004: "WeChat banned this API for the account: see the notice in the admin console.",
    50002: "The account is restricted (用户受限): see the notice in the admin console.",
    53500: "Publishing is banned for this account: see the notice in the admin console.",
    53502: "WeChat does not know this publish_id.",
    53600: "WeChat does not know this article_id (deleted already?).",
    43002: "WeChat wants POST for this API: this is a govmedia bug, please report it.",
    43003: "WeChat wants HTTPS: set the channel's base_url to an https:// address.",
    45009: "The app's daily quota for this API is used up; it resets at midnight China time "
           "(an admin can reset it early with clear_quota). Re-run later with the same journal.",
    45028: "No mass-send quota is left for today.",
    53501: "WeChat asks this account to publish less often: wait and run again.",
    45011: "WeChat's per-minute quota for this API is used up: lower the rate with "
           "rate_limits={'wechat_oa:APPID': gm.RateLimit(...)} or run again in a minute.",
    40033: "WeChat found a \\uXXXX escape or an invalid character in the request; govmedia "
           "sends raw UTF-8, so please report this.",
    40005: "WeChat refused the file type: covers must be bmp/png/jpeg/gif, body images jpg/png.",
    40006: "WeChat refused the file size.",
    40009: "WeChat refused the image size: covers up to 10 MB, body images under 1 MB.",
    40007: "WeChat does not know this media_id (the cover material or the draft was deleted?).",
    45002: "The article is too long: WeChat wants the HTML under 20,000 characters and 1 MB.",
    45003: "The title is too long: WeChat allows 32 characters.",
    45004: "The summary (digest) is too long: WeChat allows 128 characters.",
    45005: "The link (content_source_url) is too long: WeChat allows 1 KB.",
    45110: "The author option is too long: WeChat allows 16 characters.",
    45166: "WeChat found the content invalid (an unsupported tag or attribute, often).",
    87014: "WeChat's content security check flagged the content as risky: edit it.",
}

_ERROR_CODES: dict[int | str, type[PlatformError]] = {
    40001: AuthError, 40014: AuthError, 42001: AuthError, 41001: AuthError,
    45009: RateLimited, 45011: RateLimited, 45028: RateLimited, 45066: RateLimited,
    53501: RateLimited,
    -1: TransientError,
    40005: ContentRejected, 40006: ContentRejected, 40007: ContentRejected,
    40009: ContentRejected, 40033: ContentRejected, 45002: ContentRejected,
    45003: ContentRejected, 45004: ContentRejected, 45005: ContentRejected,
    45110: ContentRejected, 45166: ContentRejected, 87014: ContentRejected,
    40013: PlatformError, 40125: PlatformError, 40164: PlatformError, 48001: PlatformError,
    48004: PlatformError, 50002: PlatformError, 53500: PlatformError, 53502: PlatformError,
    53600: PlatformError, 43002: PlatformError, 43003: PlatformError,
}

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
    return error.evolve(note=note, **({"hint": hint} if hint is not None else {}))


# --------------------------------------------------------------------------- options


def _flag(channel: Channel, name: str, default: bool) -> bool:
    value = channel.options.get(name, default)
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise ConfigError(f"channel {channel.id}: option {name} must be true or false, got {value!r}")


def _seconds(channel: Channel, name: str, default: float, *, minimum: float) -> float:
    value = channel.options.get(name, default)
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or number < minimum or isinstance(value, bool):
        raise ConfigError(
            f"channel {channel.id}: option {name} must be a number of seconds >= {minimum:g}, "
            f"got {value!r}"
        )
    return number


@attrs.frozen
class _Options:
    base: str
    publish: bool
    author: str | None
    poll_timeout: float
    poll_interval: float
    need_open_comment: bool
    only_fans_can_comment: bool
    append_images: bool

    @classmethod
    def of(cls, channel: Channel) -> _Options:
        base = channel.options.get("base_url", DEFAULT_BASE_URL)
        if not isinstance(base, str) or not base.startswith(("https://", "http://")):
            raise ConfigError(
                f"channel {channel.id}: option base_url must be an http(s) URL, got {base!r}"
            )
        base = base.rstrip("/").removesuffix("/cgi-bin")
        author = channel.options.get("author")
        if author is not None:
            if not isinstance(author, str):
                raise ConfigError(f"channel {channel.id}: option author must be a string")
            author = clean_text(author).strip() or None
            if author and len(author) > AUTHOR_MAX:
                raise ConfigError(
                    f"channel {channel.id}: option author is {len(author)} characters; "
                    f"WeChat allows at most {AUTHOR_MAX}"
                )
        return cls(
            base=base,
            publish=_flag(channel, "publish", default=True),
            author=author,
            poll_timeout=_seconds(channel, "poll_timeout", 60.0, minimum=0.0),
            poll_interval=_seconds(channel, "poll_interval", 3.0, minimum=0.001),
            need_open_comment=_flag(channel, "need_open_comment", default=False),
            only_fans_can_comment=_flag(channel, "only_fans_can_comment", default=False),
            append_images=_flag(channel, "append_images", default=True),
        )


# --------------------------------------------------------------------------- media


def _head(media: Media) -> bytes | None:
    if media.data is not None:
        return media.data[:16]
    if media.path is not None:
        try:
            with pathlib.Path(media.path).open("rb") as f:
                return f.read(16)
        except OSError:
            return b""
    return None


def _size(media: Media) -> int | None:
    if media.data is not None:
        return len(media.data)
    if media.path is not None:
        try:
            return pathlib.Path(media.path).stat().st_size
        except OSError:
            return None
    return media.size


def _kind(head: bytes | None, mime_type: str) -> str | None:
    """The image type from the bytes where we have them, else from the MIME type."""
    if head is not None:
        return image_type(head)
    return _MIME_KIND.get(mime_type.lower())


def _image_problem(
    media: Media, what: str, field: str, kinds: tuple[str, ...], limit: int, *,
    head: bytes | None = None, size: int | None = None, strict_under: bool = False,
) -> Problem | None:
    head = head if head is not None else _head(media)
    size = size if size is not None else _size(media)
    kind = _kind(head, media.mime_type)
    allowed = "/".join(_EXT.get(k, k) for k in kinds)
    if kind not in kinds:
        found = kind or media.mime_type
        return Problem(
            code="bad_media", field=field,
            message=f"{what} {media.filename!r} is {found}; WeChat takes {allowed} here",
        )
    over = size is not None and (size >= limit if strict_under else size > limit)
    if over:
        megabytes = limit // 1024 // 1024
        bound = f"under {megabytes} MB" if strict_under else f"up to {megabytes} MB"
        return Problem(
            code="bad_media", field=field,
            message=f"{what} {media.filename!r} is {size:,} bytes; WeChat takes {allowed} {bound}",
        )
    return None


def _cover_problem(media: Media, **known: Any) -> Problem | None:
    return _image_problem(media, "cover", "cover", COVER_TYPES, COVER_BYTES, **known)


def _body_image_problem(media: Media, **known: Any) -> Problem | None:
    return _image_problem(media, "body image", "media", BODY_IMAGE_TYPES, BODY_IMAGE_BYTES,
                          strict_under=True, **known)


def _matches(src: str, media: Media) -> bool:
    wanted = {src, unquote(src)}
    names = {media.filename, media.url, media.path}
    if media.path:
        names.add(pathlib.PurePath(media.path).name)
    return bool(wanted & {n for n in names if n})


def _upload_name(media: Media, kind: str, fallback: str) -> str:
    stem = pathlib.PurePath(media.filename).stem
    if not _SAFE_NAME.fullmatch(stem):
        stem = fallback
    return f"{stem}.{_EXT[kind]}"


@attrs.frozen
class _Plan:
    """Which body image sources map to which item of ``post.media``."""

    refs: tuple[tuple[str, int], ...]           # (src, index in post.media)
    append: tuple[tuple[str, str | None], ...]  # images added at the end: (src, alt)
    dropped: tuple[str, ...]                    # other <img> sources: removed
    external_links: tuple[str, ...]
    ignored: tuple[str, ...]                    # non-image media: not sent

    @property
    def indices(self) -> list[int]:
        seen: list[int] = []
        for _, i in self.refs:
            if i not in seen:
                seen.append(i)
        return seen


def _plan(post: Post, opts: _Options) -> _Plan:
    first = to_wechat_html(post.body or "", post.body_format)
    refs: list[tuple[str, int]] = []
    dropped: list[str] = []
    for src in first.images:
        index = next((i for i, m in enumerate(post.media) if _matches(src, m)), None)
        if index is not None:
            refs.append((src, index))
        elif src in first.dropped:
            dropped.append(src)
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
    return _Plan(tuple(refs), tuple(append), tuple(dropped), first.external_links, ignored)


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
    option_keys: ClassVar[tuple[str, ...]] = (
        "publish", "base_url", "author", "poll_timeout", "poll_interval",
        "need_open_comment", "only_fans_can_comment", "append_images",
    )
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, dedupe=False, refresh=True,
        title_max=TITLE_MAX, text_max=CONTENT_CHARS - 1, media_kinds=("image",),
        counting=(
            "Python characters (code points): title ≤ 32, summary ≤ 128, author ≤ 16; "
            "the body as the HTML sent (inline styles included) under 20,000 characters "
            "and 1 MB. Metrics are partial: reads and shares from datacube once a day, "
            "likes and comments never"
        ),
        fields=("title", "body", "summary", "cover", "link", "media"),
    )
    error_codes: ClassVar[Mapping[int | str, type[PlatformError]]] = _ERROR_CODES
    quota_codes: ClassVar[frozenset[int | str]] = frozenset({45009, 45028, 53501})
    uses_token: ClassVar[bool] = True

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """Also check the option values (types, ranges, the author's length)."""
        super().check_channel(channel)
        _Options.of(channel)

    def token_scope(self, channel: Channel) -> str:
        """One token per app: members under one app_id share it."""
        return channel.credentials["app_id"]

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """``wechat_oa:APPID``: WeChat's quotas are per app."""
        app_id = channel.credentials["app_id"]
        return (app_id,) if app_id != channel.account else ()

    # ----------------------------------------------------------- validation

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: title, digest, link, body length, cover and body images."""
        opts = _Options.of(channel)
        problems: list[Problem] = []
        title = clean_text(post.title or "").strip()
        if not title:
            problems.append(Problem(code="missing_title", field="title",
                                    message="a WeChat article needs a title"))
        elif len(title) > TITLE_MAX:
            problems.append(Problem(
                code="too_long", field="title",
                message=f"title is {len(title)} characters; WeChat allows at most {TITLE_MAX}",
            ))
        digest = clean_text(post.summary or "").strip()
        if len(digest) > DIGEST_MAX:
            problems.append(Problem(
                code="too_long", field="summary",
                message=f"summary (the article digest) is {len(digest)} characters; "
                        f"WeChat allows at most {DIGEST_MAX}",
            ))
        if post.link and len(post.link.encode("utf-8")) > SOURCE_URL_BYTES:
            problems.append(Problem(
                code="too_long", field="link",
                message=f"link (阅读原文) is {len(post.link.encode('utf-8')):,} bytes; "
                        f"WeChat allows at most {SOURCE_URL_BYTES:,}",
            ))
        if post.cover is None:
            problems.append(Problem(
                code="missing_cover", field="cover",
                message="a WeChat article needs a cover image (bmp/png/jpeg/gif, up to 10 MB)",
            ))
        else:
            problem = _cover_problem(post.cover)
            if problem:
                problems.append(problem)
        if not (post.body or "").strip():
            problems.append(Problem(code="missing_body", field="body",
                                    message="a WeChat article needs a body"))
            return problems
        plan = _plan(post, opts)
        for index in plan.indices:
            problem = _body_image_problem(post.media[index])
            if problem:
                problems.append(problem)
        estimate = {src: _URL_ESTIMATE for src, _ in plan.refs}
        rendered = to_wechat_html(post.body or "", post.body_format, images=estimate,
                                  append=plan.append)
        problems.extend(_length_problems(rendered.html, post, estimated=bool(plan.refs)))
        return problems

    # ----------------------------------------------------------- publish

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the cover and body images, add the draft, then publish and poll.

        *key* is not sent: no WeChat draft or publish API takes an idempotency key.
        """
        opts = _Options.of(channel)
        plan = _plan(post, opts)
        self._warn(channel, plan)
        thumb_media_id = yield from self._upload_cover(post, channel, opts)
        uploaded = yield from self._upload_images(post, plan, channel, opts)
        article = self._article(post, plan, uploaded, thumb_media_id, channel=channel, opts=opts)
        raw: dict[str, Any] = {
            "thumb_media_id": thumb_media_id,
            "images": [uploaded[i] for i in plan.indices],
            "dropped_images": list(plan.dropped),
        }
        raw["media_id"] = media_id = yield from self._add_draft(article, channel, opts)
        if not opts.publish:
            return Receipt(channel=channel, remote_id=media_id, state="draft", raw=raw)
        publish_id = yield from self._submit(media_id, channel, opts, raw)
        status = yield from self._poll(opts, channel, publish_id)
        if status.get("publish_status") == 1:
            raw["publish_status"] = 1
            return Receipt(channel=channel, remote_id=media_id, state="pending", raw=raw)
        return self._published(channel, status, raw)

    def _upload_cover(self, post: Post, channel: Channel, opts: _Options) -> Flow[str]:
        """The cover as a permanent image material; its media_id is the thumb_media_id."""
        if post.cover is None:  # validate() refused this already
            raise ValidationError(
                [Problem(code="missing_cover", field="cover",
                         message="a WeChat article needs a cover image")],
                platform=self.name, account=channel.account,
            )
        data = yield from self._bytes(post.cover)
        kind = self._checked(post.cover, data, channel, cover=True)
        response = yield retry_safe(self._upload(
            opts, "/cgi-bin/material/add_material", params={"type": "image"},
            filename=_upload_name(post.cover, kind, "cover"), data=data, kind=kind,
        ))
        return self._field(response, "media_id", channel)

    def _upload_images(
        self, post: Post, plan: _Plan, channel: Channel, opts: _Options
    ) -> Flow[dict[int, str]]:
        """Each body image through media/uploadimg: ``{index in post.media: URL}``."""
        uploaded: dict[int, str] = {}
        for index in plan.indices:
            media = post.media[index]
            data = yield from self._bytes(media)
            kind = self._checked(media, data, channel, cover=False)
            response = yield retry_safe(self._upload(
                opts, "/cgi-bin/media/uploadimg", params=None,
                filename=_upload_name(media, kind, f"image{index + 1}"), data=data, kind=kind,
            ))
            uploaded[index] = self._field(response, "url", channel)
        return uploaded

    def _article(
        self, post: Post, plan: _Plan, uploaded: dict[int, str], thumb_media_id: str, *,
        channel: Channel, opts: _Options,
    ) -> dict[str, Any]:
        """The ``news`` article of draft/add, its content checked with the real URLs."""
        urls = {src: uploaded[index] for src, index in plan.refs}
        rendered = to_wechat_html(post.body or "", post.body_format, images=urls,
                                  append=plan.append)
        problems = _length_problems(rendered.html, post, estimated=False)
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

    def _add_draft(self, article: dict[str, Any], channel: Channel, opts: _Options) -> Flow[str]:
        """draft/add, sent once: a possibly-applied failure is never resent."""
        try:
            response = yield self._json(opts, "/cgi-bin/draft/add", {"articles": [article]})
        except DeliveryUnknown as exc:
            raise _copy_error(exc, note=(
                "draft/add may have created a draft: look in the draft box (草稿箱) "
                "before sending again"
            )) from exc
        return self._field(response, "media_id", channel)

    def _submit(
        self, media_id: str, channel: Channel, opts: _Options, raw: dict[str, Any]
    ) -> Flow[Any]:
        """freepublish/submit, sent once; returns the publish_id as WeChat gave it."""
        try:
            response = yield self._json(opts, "/cgi-bin/freepublish/submit", {"media_id": media_id})
        except DeliveryUnknown as exc:
            raise _copy_error(exc, note=(
                f"freepublish/submit may have started publishing draft {media_id}: look in "
                "the publish records (发表记录) before publishing again"
            )) from exc
        except PlatformError as exc:
            raise _copy_error(exc, note=f"the draft {media_id} stays in the draft box") from exc
        submitted = json_of(response)
        publish_id = submitted.get("publish_id")
        if publish_id in (None, ""):
            raise PlatformError(
                "freepublish/submit answered without a publish_id", platform=self.name,
                account=channel.account, code="bad_response", response=response,
            )
        raw["publish_id"] = str(publish_id)
        if submitted.get("msg_data_id") is not None:
            raw["msg_data_id"] = str(submitted["msg_data_id"])
        return publish_id

    def _poll(self, opts: _Options, channel: Channel, publish_id: Any) -> Flow[dict[str, Any]]:
        waited = 0.0
        while True:
            response = yield retry_safe(
                self._json(opts, "/cgi-bin/freepublish/get", {"publish_id": publish_id})
            )
            status = json_of(response)
            if not isinstance(status, dict) or not isinstance(status.get("publish_status"), int):
                raise PlatformError(
                    "freepublish/get answered without a publish_status", platform=self.name,
                    account=channel.account, code="bad_response", response=response,
                )
            if status["publish_status"] != 1 or waited >= opts.poll_timeout:
                return status
            yield Sleep(opts.poll_interval)
            waited += opts.poll_interval

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
        if not article_id:
            raise PlatformError(
                "freepublish/get reported success without an article_id", platform=self.name,
                account=channel.account, code="bad_response",
            )
        items = (status.get("article_detail") or {}).get("item") or []
        url = items[0].get("article_url") if items and isinstance(items[0], dict) else None
        raw.update(
            article_id=str(article_id), publish_status=0,
            ref_date=dt.datetime.now(CHINA_TIME).date().isoformat(),
        )
        return Receipt(channel=channel, remote_id=str(article_id), url=url or None,
                       state="published", raw=raw)

    # ----------------------------------------------------------- delete and metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """``freepublish/delete`` a published article, ``draft/delete`` a draft."""
        opts = _Options.of(receipt.channel)
        if receipt.state == "draft":
            yield self._json(opts, "/cgi-bin/draft/delete", {"media_id": receipt.remote_id})
            return
        article_id = receipt.remote_id
        if receipt.state == "pending":
            publish_id = receipt.raw.get("publish_id")
            if not publish_id:
                raise ConfigError("this pending receipt has no publish_id in raw; cannot delete it")
            response = yield retry_safe(
                self._json(opts, "/cgi-bin/freepublish/get", {"publish_id": publish_id})
            )
            status = json_of(response)
            if status.get("publish_status") == 1:
                raise PlatformError(
                    f"publish job {publish_id} is still running; delete it once it has ended",
                    platform=self.name, account=receipt.channel.account, code="publish_status 1",
                    hint="Try again in a minute.",
                )
            article_id = self._published(receipt.channel, status, dict(receipt.raw)).remote_id
        yield self._json(opts, "/cgi-bin/freepublish/delete",
                         {"article_id": article_id, "index": 0})

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Reads and shares from ``datacube/getarticletotal``, where WeChat gives them.

        Only views (``int_page_read_count``) and shares (``share_count``) exist
        there; likes and comments are always ``None``. The row is found by the
        ``msgid`` ``"{msg_data_id}_1"`` on the day the article was published
        (China time), which datacube serves from the next day on; where no row
        matches, every count is ``None`` and ``raw`` says why.
        """
        opts = _Options.of(receipt.channel)
        raw = receipt.raw
        if receipt.state != "published":
            return Metrics(raw={"reason": f"a {receipt.state} article has no reader counts"})
        msg_data_id = raw.get("msg_data_id")
        ref_date = raw.get("ref_date")
        if not msg_data_id or not ref_date:
            return Metrics(raw={"reason": "the receipt lacks msg_data_id or ref_date, so no "
                                          "datacube row can be matched to the article"})
        yesterday = dt.datetime.now(CHINA_TIME).date() - dt.timedelta(days=1)
        if str(ref_date) > yesterday.isoformat():
            return Metrics(raw={
                "reason": f"datacube serves {ref_date}'s articles from the next day on "
                          "(China time); ask again then",
                "ref_date": ref_date,
            })
        response = yield retry_safe(self._json(
            opts, "/datacube/getarticletotal", {"begin_date": ref_date, "end_date": ref_date},
        ))
        rows = json_of(response).get("list") or []
        msgid = f"{msg_data_id}_1"
        row = next((r for r in rows if isinstance(r, dict) and str(r.get("msgid")) == msgid), None)
        if row is None:
            return Metrics(raw={"reason": f"no datacube row has msgid {msgid} on {ref_date}",
                                "list": rows})
        details = [d for d in row.get("details") or [] if isinstance(d, dict)]
        latest = max(details, key=lambda d: str(d.get("stat_date", "")), default={})
        return Metrics(
            views=_count(latest.get("int_page_read_count")),
            shares=_count(latest.get("share_count")),
            likes=None, comments=None,
            raw={"source": "datacube/getarticletotal", "row": row,
                 "stat_date": latest.get("stat_date")},
        )

    # ----------------------------------------------------------- auth and transport

    def authenticate(self, channel: Channel) -> Flow[Token]:
        """``POST cgi-bin/stable_token``: the secret goes in the JSON body, never the URL."""
        opts = _Options.of(channel)
        request = self._json(opts, "/cgi-bin/stable_token", {
            "grant_type": "client_credential",
            "appid": channel.credentials["app_id"],
            "secret": channel.credentials["app_secret"],
            "force_refresh": False,
        })
        response = yield retry_safe(request)  # a read in effect: the same token comes back
        data = json_of(response)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("stable_token answered without an access_token", platform=self.name,
                            account=channel.account, code="bad_response")
        expires = data.get("expires_in")
        lifetime = float(expires) if isinstance(expires, int | float) else 7200.0
        return Token(value=token, expires_in=lifetime)

    def authorize(
        self, request: httpx.Request, channel: Channel, token: Token | None
    ) -> httpx.Request:
        """Add ``?access_token=`` (never to a fetch from another host)."""
        if token is not None and not request.extensions.get(_EXTERNAL):
            request.url = request.url.copy_set_param("access_token", token.value)
        return request

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """HTTP 200 with ``{errcode, errmsg}`` is an error unless errcode is absent or 0."""
        if not 200 <= response.status_code < 300:
            return response.status_code, self.error_message(response)
        try:
            body = json_of(response)
        except ValueError:
            return None  # the base class reports a 2xx that is not JSON
        if not isinstance(body, dict):
            return None
        code = body.get("errcode")
        if code is None or code in (0, "0"):
            return None
        try:
            number: int | str = int(code)
        except (TypeError, ValueError):
            number = str(code)
        return number, str(body.get("errmsg") or "no errmsg")

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """The base rules, with a hint per WeChat code; fetches of URL media by HTTP status."""
        try:
            external = bool(response.request.extensions.get(_EXTERNAL))
        except RuntimeError:
            external = False
        if external:
            if 200 <= response.status_code < 300:
                return None
            status = response.status_code
            kind = TransientError if status >= 500 or status in (408, 429) else PlatformError
            return kind(
                f"could not fetch {response.request.url}: HTTP {response.status_code}",
                platform=self.name, account=channel.account, code=response.status_code,
                response=response, hint="Check the media URL, or attach the file itself.",
            )
        error = super().classify(response, channel)
        if error is not None and isinstance(error.code, int) and error.code in _HINTS:
            return _copy_error(error, hint=_HINTS[error.code])
        return error

    # ----------------------------------------------------------- helpers

    def _json(self, opts: _Options, path: str, data: dict[str, Any]) -> httpx.Request:
        return httpx.Request(
            "POST", opts.base + path, content=json_body(data),
            headers={"Content-Type": "application/json"},
        )

    def _upload(
        self, opts: _Options, path: str, *, params: dict[str, str] | None, filename: str,
        data: bytes, kind: str,
    ) -> httpx.Request:
        return httpx.Request(
            "POST", opts.base + path, params=params,
            files={"media": (filename, data, f"image/{kind}")},
        )

    def _bytes(self, media: Media) -> Flow[bytes]:
        if media.data is not None or media.path is not None:
            return media.read()
        # Up to WeChat's largest image (a cover), not the client's cap for API answers.
        request = httpx.Request("GET", media.url or "",
                                extensions={_EXTERNAL: True, MAX_BODY: COVER_BYTES})
        response = yield request
        return response.content

    def _checked(self, media: Media, data: bytes, channel: Channel, *, cover: bool) -> str:
        """The image type of fetched or read bytes; `ValidationError` where WeChat would refuse."""
        check = _cover_problem if cover else _body_image_problem
        problem = check(media, head=data[:16], size=len(data))
        kind = image_type(data[:16])
        if problem is not None or kind is None:
            problem = problem or Problem(code="bad_media", message=f"{media.filename!r}: no image")
            raise ValidationError([problem], platform=self.name, account=channel.account)
        return kind

    def _field(self, response: httpx.Response, name: str, channel: Channel) -> str:
        data = json_of(response)
        value = data.get(name) if isinstance(data, dict) else None
        if value in (None, ""):
            raise PlatformError(
                f"{response.request.url.path} answered without {name}", platform=self.name,
                account=channel.account, code="bad_response", response=response,
            )
        return str(value)

    def _warn(self, channel: Channel, plan: _Plan) -> None:
        for src in plan.dropped:
            logger.warning(
                "%s [%s]: removed <img src=%r>: an article shows only images of post.media "
                "(uploaded) or on WeChat's hosts (%s)", self.name, channel.account, src,
                ", ".join(WECHAT_IMAGE_HOSTS),
            )
        for name in plan.ignored:
            logger.warning("%s [%s]: %r is not an image; WeChat articles embed images only, "
                           "so it is not sent", self.name, channel.account, name)
        for href in plan.external_links:
            logger.info("%s [%s]: link %s shown as text: WeChat articles link only to "
                        "mp.weixin.qq.com", self.name, channel.account, href)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _length_problems(content: str, post: Post, *, estimated: bool) -> list[Problem]:
    chars = len(content)
    size = len(content.encode("utf-8"))
    note = " (image URLs estimated)" if estimated else ""
    problems = []
    if chars >= CONTENT_CHARS:
        text = len(to_plain(post.body or "", post.body_format))
        problems.append(Problem(
            code="too_long", field="body",
            message=f"the body renders to {chars:,} characters of HTML{note}, inline styles "
                    f"included ({text:,} characters of text); WeChat needs fewer than "
                    f"{CONTENT_CHARS:,}",
        ))
    if size >= CONTENT_BYTES:
        problems.append(Problem(
            code="too_long", field="body",
            message=f"the body renders to {size:,} bytes of HTML{note}; WeChat needs under 1 MB",
        ))
    return problems
