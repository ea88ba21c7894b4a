"""WordPress (REST API ``wp/v2``): articles with a featured image, tags and media.

Facts: shared/platforms/wordpress.md; where WordPress 6.1 answered otherwise or
more than the sheet says, the integration tests (tests/integration/) ran it
against a real site, and the comment says "verified on 6.1". One post becomes
one WordPress post:

1. the cover and each of ``post.media`` go up with ``POST /wp/v2/media`` as a
   raw body (``Content-Type`` of the bytes as sniffed, ``Content-Disposition:
   attachment; filename="..."``, ``Content-MD5`` in hex: WordPress compares
   the hex digest, verified on 6.1), and alt texts follow with ``POST
   /wp/v2/media/{id}``;
2. each tag is looked up by name (``GET /wp/v2/tags?search=``) and created
   where missing (``POST /wp/v2/tags``); a tag the account may not create is
   left out with a logged warning;
3. ``POST /wp/v2/posts`` creates the post: ``title``, ``content`` (the body as
   sanitized HTML, body images pointing at their uploads, other media and the
   link added at the end), ``excerpt`` (the summary), ``status``,
   ``featured_media`` (the cover) and ``tags``.

Requests carry HTTP Basic auth with the user's application password.
WordPress has no idempotency key and does not deduplicate (a second create is
a second post, its slug made unique), so the create is sent once: a timeout or
a 5xx after sending it raises `DeliveryUnknown`. The content carries an
invisible marker, the HTML comment ``<!-- govmedia:KEY -->`` with the
delivery's derived key, placed inside the last paragraph-like element so that
WordPress's ``wpautop`` makes no empty paragraph of it (verified on 6.1). A
journal-backed re-run looks for the marker (`reconcile`: a search of the
posts the account can edit, trash included) and finishes with the post it
finds instead of creating another. Uploads, tag creates and alt texts create
nothing readers see in the site's posts and are resent freely (at worst an
unattached image stays in the media library).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import ipaddress
import logging
import pathlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx

from govmedia.content.integrity import body_problems
from govmedia.content.media import names_media, verify_bytes
from govmedia.content.rules import Rule
from govmedia.content.sanitize import GENERIC, clean, wordpress_html
from govmedia.errors import AuthError, ConfigError, ContentRejected, DeliveryUnknown, PlatformError
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt, ReceiptState
from govmedia.platforms.auth import Basic
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    Sleep,
    int_or_none,
    json_of,
    release,
    text_or_none,
)
from govmedia.platforms.uploads import media_bytes

__all__ = ["MARKER", "WordPressPlatform", "article_html", "with_marker"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/wordpress.md"
STATUSES = ("publish", "future", "draft", "pending", "private")
# Receipt states (DESIGN): future is scheduled, private counts as published.
RECEIPT_STATE: Mapping[str, ReceiptState] = {
    "publish": "published", "private": "published", "future": "scheduled", "draft": "draft",
    "pending": "pending",
}
# Every status a possibly-applied create may have now, trash included (a
# post someone trashed since was still created).
LOOKUP_STATUSES = ("publish", "future", "draft", "pending", "private", "trash")
MARKER = "<!-- govmedia:{} -->"
UPLOAD_MAX = 64 * 1024 * 1024
"""Bytes govmedia uploads per file unless option ``max_upload_bytes`` says the site takes more."""
SETTLE_TIME = 30.0  # PHP's default max_execution_time: a create may run this long

# The closing tags of elements that hold text: the marker goes before the last
# one, so wpautop keeps it inside that element (after the last block it would
# wrap it in an empty <p>; verified on 6.1).
_HOLDERS = re.compile(r"</(?:p|h[1-6]|li|dd|dt|td|th|caption|figcaption|figure|pre|summary)\s*>",
                      re.IGNORECASE)
# An <img> tag as the sanitizer writes it: attributes double-quoted, a '>'
# possible inside a value.
_IMG = re.compile(r"<img\b(?:[^>\"']|\"[^\"]*\"|'[^']*')*>", re.IGNORECASE)
_SRC = re.compile(r"(\ssrc=\")([^\"]*)(\")")
_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:]*(?:-[A-Za-z0-9_.:]+)*")
_SAFE_STEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,79}")
_EXT = {
    "image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
    "image/bmp": "bmp", "image/tiff": "tif", "video/mp4": "mp4", "video/quicktime": "mov",
    "video/webm": "webm", "video/ogg": "ogv", "audio/mpeg": "mp3", "audio/ogg": "ogg",
    "audio/wav": "wav", "audio/x-wav": "wav", "audio/mp4": "m4a", "application/pdf": "pdf",
}
_NOT_ALLOWED = frozenset({"image/svg+xml"})  # get_allowed_mime_types(): no SVG by default
_LOOPBACK = frozenset({"localhost", "localhost.localdomain"})


def _date_problem(value: Any) -> str | None:
    try:
        dt.datetime.fromisoformat(str(value))
    except ValueError:
        return "an ISO 8601 date and time like '2026-12-07T07:00:00Z' (UTC when no offset is given)"
    return None


def _gmt(value: str) -> str:
    """*value* (ISO 8601) as WordPress's ``date_gmt``: UTC, no offset."""
    when = dt.datetime.fromisoformat(value)
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def _loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def with_marker(content: str, key: str) -> str:
    r"""*content* with the invisible marker of *key*, inside its last text-holding element.

    Example:
        >>> print(with_marker("<p>中国石化招聘</p>\n<ul>\n<li>北京</li>\n</ul>\n", "gm-1f"))
        <p>中国石化招聘</p>
        <ul>
        <li>北京<!-- govmedia:gm-1f --></li>
        </ul>
        <BLANKLINE>
        >>> with_marker("", "gm-1f")
        '<!-- govmedia:gm-1f -->'
    """
    if not _KEY.fullmatch(key):
        # "--" or ">" would end the comment early and show the rest to readers.
        raise ConfigError(f"wordpress: the key {key!r} cannot be written in an HTML comment")
    marker = MARKER.format(key)
    last = None
    for last in _HOLDERS.finditer(content):  # noqa: B007 - the last match is the one wanted
        pass
    if last is None:
        return content + marker
    return content[:last.start()] + marker + content[last.start():]


def article_html(post: Post) -> str:
    r"""The sanitized HTML of *post*'s content before uploads: the body, else the text.

    Example:
        >>> import govmedia as gm
        >>> article_html(gm.Post(title="国资小新", body="**央企**招聘季 <script>x</script>"))
        '<p><strong>央企</strong>招聘季 &lt;script&gt;x&lt;/script&gt;</p>\n'
        >>> article_html(gm.Post(text="第一段\n\n第二段"))
        '<p>第一段</p>\n<p>第二段</p>\n'
    """
    if post.body and post.body.strip():
        return wordpress_html(post.body, post.body_format)
    if post.text and post.text.strip():
        return wordpress_html(post.text, "text")
    return ""


def _blank(content: str) -> bool:
    """True when *content* shows nothing: no text, no image (``<p> </p>``, a body all script)."""
    if _IMG.search(content):
        return False
    return not html.unescape(re.sub(r"<[^>]*>", "", content)).strip()


def _image_sources(content: str) -> list[str]:
    found = []
    for tag in _IMG.findall(content):
        src = _SRC.search(tag)
        if src:
            found.append(html.unescape(src.group(2)))
    return found


def _shown(content: str, post: Post) -> dict[int, list[str]]:
    """``{index in post.media: body image sources naming it}``."""
    shown: dict[int, list[str]] = {}
    for src in _image_sources(content):
        index = next((i for i, m in enumerate(post.media) if names_media(src, m)), None)
        if index is not None:
            shown.setdefault(index, []).append(src)
    return shown


def _relative(src: str) -> bool:
    return not src.lower().startswith(("http://", "https://", "//"))


def _upload_name(media: Media, mime_type: str, fallback: str) -> str:
    """An ASCII file name WordPress takes, its extension from the bytes' type.

    WordPress judges an upload by its extension and its bytes together, and a
    quoted name keeps no backslash or quote: anything else becomes *fallback*.
    """
    path = pathlib.PurePath(media.filename)
    stem = path.stem if _SAFE_STEM.fullmatch(path.stem) else fallback
    ext = _EXT.get(mime_type) or path.suffix.lstrip(".").lower()
    if not re.fullmatch(r"[a-z0-9]{1,8}", ext):
        ext = "bin"
    return f"{stem}.{ext}"


def _trimmed(post: Mapping[str, Any]) -> dict[str, Any]:
    """What a receipt keeps of a post object (its content stays on the site)."""
    keep = ("id", "link", "status", "slug", "type", "date_gmt", "author", "featured_media", "tags")
    return {k: post[k] for k in keep if k in post}


def _rendered(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("raw", value.get("rendered"))
    return value if isinstance(value, str) else ""


def _positive(value: Any) -> str | None:
    return None if value >= 0 else "zero or more seconds"


SIGN_IN = (
    "WordPress did not sign the request in. Check username and app_password (an application "
    "password from Users → Profile, not the login password), that the site is reached over "
    "HTTPS (WordPress ignores application passwords over plain HTTP unless WP_ENVIRONMENT_TYPE "
    "is 'local'), and that the web server passes the Authorization header on to PHP (some "
    "Apache/CGI setups drop it)."
)

RULES: tuple[Rule, ...] = (
    Rule(id="wordpress.post.not_empty", field="body", code="empty",
         summary="a post needs a title, a body, a text, a summary or media", source=SHEET,
         remediation="Give the post a title or a body."),
    Rule(id="wordpress.media.kind", field="media", code="bad_media",
         summary="file types the site allows (no SVG by default)",
         source=f"{SHEET}: get_allowed_mime_types()",
         remediation="Convert the SVG to PNG, or ask the site's administrator to allow the type."),
    Rule(id="wordpress.cover.kind", field="cover", code="bad_media",
         summary="the featured image is an image",
         source=f"{SHEET}: featured_media (set_post_thumbnail takes image attachments)",
         remediation="Use a JPEG, PNG, GIF or WebP image as the cover."),
    Rule(id="wordpress.media.max_size", field="media", code="bad_media",
         summary="files up to the site's upload limit (option max_upload_bytes; govmedia's own "
                 "cap 64 MiB otherwise)",
         source=f"{SHEET}: upload_max_filesize / post_max_size and the web server's body limit",
         remediation="Compress the file, or set max_upload_bytes to what the site takes."),
    Rule(id="wordpress.body.image_source", field="body", code="bad_media",
         summary="a body image is a full URL or one of post.media", source=SHEET,
         remediation="Add the image file to post.media (matched by file name), or use its full URL."),
)

ERRORS = ErrorTable(
    {
        # Auth: all 401 (rest_application_password_check_errors). WordPress 6.1
        # answered rest_not_logged_in for a wrong password and an unknown user.
        "incorrect_password": Code.auth(SIGN_IN),
        "invalid_username": Code.auth(SIGN_IN),
        "invalid_email": Code.auth(SIGN_IN),
        "application_passwords_disabled": Code.auth(
            "Application passwords are turned off on this site (a plugin or the "
            "wp_is_application_passwords_available filter): ask the site's administrator."),
        "application_passwords_disabled_for_user": Code.auth(
            "Application passwords are turned off for this user: ask the site's administrator."),
        "rest_not_logged_in": Code.auth(SIGN_IN),
        # Content refusals.
        "rest_invalid_param": Code.rejected(
            unforeseeable="a parameter WordPress or a plugin refused (data.params names it)"),
        "rest_missing_callback_param": Code.rejected(
            unforeseeable="a required parameter was missing: a govmedia bug"),
        "rest_invalid_featured_media": Code.rejected(
            unforeseeable="the uploaded cover vanished before the post was made"),
        "rest_upload_no_data": Code.rejected(
            unforeseeable="the upload arrived empty (a proxy, or PHP's post_max_size)"),
        "rest_upload_no_content_type": Code.rejected(unforeseeable="a govmedia bug"),
        "rest_upload_no_content_disposition": Code.rejected(unforeseeable="a govmedia bug"),
        "rest_upload_invalid_disposition": Code.rejected(unforeseeable="a govmedia bug"),
        "rest_upload_hash_mismatch": Code.rejected(
            unforeseeable="the bytes changed on the way (Content-MD5 did not match)"),
        "rest_upload_file_too_big": Code.rejected(rule="wordpress.media.max_size"),
        "rest_upload_limited_space": Code.rejected(
            unforeseeable="the site's storage quota (multisite) is spent"),
        "rest_upload_user_quota_exceeded": Code.rejected(
            unforeseeable="the user's upload quota (multisite) is spent"),
        # 500, but the file type is not allowed: no use retrying.
        "rest_upload_sideload_error": Code.rejected(rule="wordpress.media.kind"),
        413: Code.rejected(rule="wordpress.media.max_size"),
        "empty_content": Code.rejected(rule="wordpress.post.not_empty"),  # verified on 6.1
        "term_exists": Code.rejected(
            unforeseeable="answered to a tag create only; the tag's id is read from it"),
        # 500 while moving an upload into place: nothing a reader sees, resent.
        "rest_upload_unknown_error": Code.transient(),
        # Core has no rate limit: a 429 comes from a host, a security plugin
        # or a WAF, whose headers vary (unverified, per the sheet).
        429: Code.rate_limited(
            "Something in front of WordPress (the host, a security plugin, a WAF) asked to slow "
            "down: lower the fan-out's concurrency or set a rate limit for this site."),
        # A PHP fatal error (HTML, or core's JSON) or a proxy: the write may have landed.
        500: Code.transient("WordPress failed (a PHP error): see the site's error log."),
        "internal_server_error": Code.transient(
            "WordPress hit a fatal PHP error (often a plugin): see the site's error log."),
        502: Code.transient("The web server in front of PHP got no answer from WordPress."),
        503: Code.transient("The site is unavailable (maintenance mode, or overloaded)."),
        504: Code.transient("WordPress took too long to answer the web server in front of it."),
        # Refusals that retrying will not change.
        "rest_cannot_create": Code.permanent(
            "The user's role may not do this (a Contributor cannot upload media, say): give "
            "the user the Author role or higher."),
        "rest_cannot_publish": Code.permanent(
            "The user may not publish (a Contributor): set option status to 'pending' for "
            "review, or give the user the Author role."),
        "rest_cannot_assign_term": Code.permanent(
            "The user may not assign tags: ask the site's administrator."),
        "rest_cannot_edit_others": Code.permanent(
            "The user may not edit other users' posts."),
        "rest_cannot_delete": Code.permanent(
            "The user may not delete this post (an Author deletes only their own)."),
        "rest_no_route": Code.permanent(
            "No REST route there: check base_url (the site's address, without /wp-json), or "
            "set option rest_route where the site has no pretty permalinks; a security plugin "
            "may also block the REST API."),
        "rest_post_invalid_id": Code.permanent("The post does not exist (deleted since?)."),
        "rest_post_exists": Code.permanent("A govmedia bug: the create carried an id."),
        "rest_already_trashed": Code.permanent("The post is in the trash already."),
    },
    code_field="code", message_field="message",
)


class WordPressPlatform(BasePlatform):
    """Publish a post as a WordPress article, with its featured image, tags and media.

    Credentials: ``username`` (the login or e-mail) and ``app_password`` (an
    application password, WordPress 5.6+). Options: ``base_url`` (required:
    the site's address; ``/wp-json`` is added), ``status`` (default
    ``publish``; ``future`` needs ``date_gmt``), ``date_gmt`` (ISO 8601, when to
    publish), ``force_delete`` (default false: `delete` moves the post to the
    trash), ``max_upload_bytes`` (the site's upload limit), ``settle_time``
    (seconds a lost create may still run on the server; default 30),
    ``rest_route`` (true: address the API as ``/?rest_route=``, for sites
    without pretty permalinks), ``insecure_http`` (true: allow a plain-HTTP
    address that is not loopback).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="wordpress", account="editor@www.sasac.example",
        ...                 credentials={"username": "editor", "app_password": "abcd EFGH ijkl MNOP"},
        ...                 options={"base_url": "https://www.sasac.example"})
        >>> post = gm.Post(title="中老铁路开通一周年", body="![客货运量](chart.png)")
        >>> [(p.code, p.rule) for p in gm.Client().check(post, ch)]   # chart.png is not in post.media
        [('bad_media', 'wordpress.body.image_source')]
    """

    name: ClassVar[str] = "wordpress"
    credential_keys: ClassVar[tuple[str, ...]] = ("username", "app_password")
    options: ClassVar[Mapping[str, Option]] = {
        "base_url": Option(str, required=True, check=url_check(),
                           doc="the site's address, like https://www.sasac.example (/wp-json is added)"),
        "status": Option(str, default="publish", choices=STATUSES,
                         doc="the post's status; future needs date_gmt"),
        "date_gmt": Option(str, check=_date_problem,
                           doc="when the post is published, ISO 8601 (UTC without an offset)"),
        "force_delete": Option(bool, default=False,
                               doc="delete skips the trash (cannot be undone)"),
        "max_upload_bytes": Option(int, minimum=1, coerce=True,
                                   doc="the site's upload limit in bytes (upload_max_filesize)"),
        "settle_time": Option(float, default=SETTLE_TIME, coerce=True, check=_positive,
                              doc="seconds a lost create may still be running on the server"),
        "rest_route": Option(bool, default=False,
                             doc="address the API as /?rest_route= (no pretty permalinks)"),
        "insecure_http": Option(bool, default=False,
                                doc="allow a plain-HTTP address that is not loopback"),
    }
    auth = Basic("username", "app_password")
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, repost=False, dedupe=False, reconcile=True,
        media_kinds=("image", "video", "audio", "file"),
        counting="no length limit in WordPress core",
        fields=("title", "body", "text", "summary", "link", "tags", "cover", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    # No default_rate_limits: core has none; a host's or WAF's 429 is honoured
    # with its Retry-After (their headers vary: unverified).
    fake: ClassVar[str] = "govmedia.testing.wordpress:FakeWordPress"

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """The declared keys; ``future`` with a date; no password over plain HTTP to another host."""
        super().check_channel(channel)
        opts = self.opts(channel)
        if opts.status == "future" and not opts.date_gmt:
            raise ConfigError(
                f"channel {channel.id}: option status 'future' needs option date_gmt (WordPress "
                "publishes a future post without a date at once)"
            )
        url = httpx.URL(opts.base_url)
        if url.scheme == "http" and not _loopback(url.host) and not opts.insecure_http:
            raise ConfigError(
                f"channel {channel.id}: base_url {opts.base_url} is plain HTTP: the application "
                "password would cross the network readable, and WordPress ignores it there unless "
                "the site is 'local'. Use https://, or set option insecure_http for a test site."
            )

    def base_url(self, channel: Channel) -> str:
        """The REST API's root: the site's address and ``/wp-json``."""
        site = str(self.opts(channel).base_url).rstrip("/")
        return site if self.opts(channel).rest_route else f"{site}/wp-json"

    def request(self, channel: Channel, method: str, path: str, **kwargs: Any) -> httpx.Request:
        """One API request; with option ``rest_route`` the route travels in the query."""
        if self.opts(channel).rest_route and not path.startswith(("https://", "http://")):
            params = dict(kwargs.pop("params", None) or {})
            params["rest_route"] = path
            return super().request(channel, method, "/", params=params, **kwargs)
        return super().request(channel, method, path, **kwargs)

    # ----------------------------------------------------------- errors

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """WordPress's code and message, with what ``data.params`` says of each field."""
        found = super().error_details(response)
        if found is None:
            return None
        code, message = found
        try:
            body = json_of(response)
        except PlatformError:
            return found
        data = body.get("data") if isinstance(body, Mapping) else None
        params = data.get("params") if isinstance(data, Mapping) else None
        if isinstance(params, Mapping):
            detail = "; ".join(f"{k}: {v}" for k, v in params.items() if isinstance(v, str))
            if detail:
                return code, f"{message} ({detail})"
        return found

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """As the table says; and every 401 is a sign-in failure.

        WordPress answers 401 only when the request ran anonymous
        (``rest_authorization_required_code``), whatever the code (a lost
        Authorization header makes ``rest_cannot_create`` a 401), and 403 when
        the signed-in user may not.
        """
        error = super().classify(response, channel)
        if error is not None and response.status_code == 401 and not isinstance(error, AuthError):
            return error.evolve(cls=AuthError, hint=SIGN_IN)
        return error

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """An empty post, the media rules and the body's images."""
        opts = self.opts(channel)
        problems: list[Problem] = []
        content = article_html(post)
        if _blank(content) and not (post.title or "").strip() and not (post.summary or "").strip() \
                and post.cover is None and not post.media:
            problems.append(self.rule("wordpress.post.not_empty").problem(
                "the post has no title, body, text, summary or media: WordPress refuses an "
                "empty post"))
        if post.body:
            problems.extend(body_problems(post.body, post.body_format))
        limit = opts.max_upload_bytes or UPLOAD_MAX
        if post.cover is not None:
            problems.extend(self._file_problems(post.cover, "cover", limit))
            if post.cover.kind != "image":
                problems.append(self.rule("wordpress.cover.kind").problem(
                    f"cover ({post.cover.filename}) is {post.cover.mime_type}; a featured image "
                    "must be an image"))
        for number, item in enumerate(post.media, 1):
            problems.extend(self._file_problems(item, f"media {number}", limit))
        shown = {src for sources in _shown(content, post).values() for src in sources}
        problems.extend(
            self.rule("wordpress.body.image_source").problem(
                f"the body shows image {src!r}, which is no file of post.media and no full URL: "
                "readers would see a broken image")
            for src in _image_sources(content) if src not in shown and _relative(src))
        return problems

    def _file_problems(self, item: Media, where: str, limit: int) -> list[Problem]:
        problems = []
        name = f"{where} ({item.filename})"
        field = "cover" if where == "cover" else "media"
        if item.mime_type.split(";")[0].strip().lower() in _NOT_ALLOWED:
            problems.append(self.rule("wordpress.media.kind").problem(
                f"{name} is {item.mime_type}, which WordPress does not take by default", field=field))
        if item.size is not None and item.size > limit:
            problems.append(self.rule("wordpress.media.max_size").problem(
                f"{name} is {item.size:,} bytes; the limit is {limit:,} (option max_upload_bytes)",
                field=field))
        return problems

    # ----------------------------------------------------------- publish

    def schedule(self, channel: Channel, at: dt.datetime) -> Channel:
        """*channel* set to have WordPress publish at *at* (status ``future``, ``date_gmt``)."""
        return attrs.evolve(channel, options={**channel.options, "status": "future",
                                              "date_gmt": at.astimezone(dt.UTC).isoformat()})

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET /wp/v2/users/me``: the application password works (401 when it does not)."""
        return self.request(channel, "GET", "/wp/v2/users/me")

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the cover and media, find or make the tags, then create the post once."""
        opts = self.opts(channel)
        marker = with_marker("", key)  # refuses a key no comment can hold, before any request
        content = article_html(post)
        cover_id: int | None = None
        uploaded: list[int] = []
        if post.cover is not None:
            cover_id, _ = yield from self._upload(post.cover, channel, opts, "cover", "cover")
            uploaded.append(cover_id)
        sources: list[tuple[int, str]] = []
        for number, item in enumerate(post.media, 1):
            media_id, url = yield from self._upload(item, channel, opts, f"media {number}",
                                                    f"media-{number}")
            uploaded.append(media_id)
            sources.append((media_id, url))
        tag_ids = yield from self._tag_ids(post, channel)
        body: dict[str, Any] = {
            "content": with_marker(_finished(content, post, [u for _, u in sources]), key),
            "status": opts.status,
        }
        if post.title:
            body["title"] = post.title
        if post.summary:
            body["excerpt"] = post.summary
        if opts.date_gmt:
            body["date_gmt"] = _gmt(opts.date_gmt)
        if cover_id is not None:
            body["featured_media"] = cover_id
        if tag_ids:
            body["tags"] = tag_ids
        if uploaded:
            # For whoever settles a lost create: the uploads it would use.
            yield Checkpoint("uploaded", {"media_ids": uploaded})
        logger.debug("wordpress [%s] creating the post with marker %s", channel.account, marker)
        # No idempotency key: sent once. A lost answer is DeliveryUnknown, and a
        # journal-backed re-run finds the post by its marker (reconcile).
        created = yield from self.call(channel, "POST", "/wp/v2/posts", json=body, creates=True,
                                       expect=("id",))
        yield Checkpoint("created", {"post_id": str(created["id"])})
        _warn_dropped(created, body, channel)
        return self._receipt(created, channel)

    def _receipt(self, found: Mapping[str, Any], channel: Channel) -> Receipt:
        status = str(found.get("status") or "")
        state = RECEIPT_STATE.get(status)
        if state is None:
            raise PlatformError(
                f"post {found.get('id')} has status {status!r}", platform=self.name,
                account=channel.account, code="bad_response", maybe_applied=True)
        url = text_or_none(found.get("link")) if state not in ("draft", "pending") else None
        return Receipt(channel=channel, remote_id=str(found["id"]), url=url, state=state,
                       raw=_trimmed(found))

    def _upload(self, item: Media, channel: Channel, opts: Options, where: str,
                fallback: str) -> Flow[tuple[int, str]]:
        """One file to the media library: ``(attachment id, source_url)``."""
        limit = opts.max_upload_bytes or UPLOAD_MAX
        try:
            data = yield from media_bytes(self, item, channel, limit=limit)
            if len(data) > limit:
                raise ContentRejected(
                    f"{where} ({item.filename}) is over {limit:,} bytes (option max_upload_bytes)",
                    platform=self.name, account=channel.account, code="bad_media")
            found = verify_bytes(item, data, platform=self.name, account=channel.account,
                                 field="cover" if where == "cover" else "media", where=where)
            mime = found.mime_type if found is not None else item.mime_type
            if mime in _NOT_ALLOWED:
                raise ContentRejected(f"{where} ({item.filename}) is {mime}, which WordPress does "
                                      "not take by default", platform=self.name,
                                      account=channel.account, code="bad_media")
            name = _upload_name(item, mime, fallback)
            # Raw body, the form the sheet gives first. A resend can leave a
            # second, unattached copy in the media library; no reader sees it.
            request = self.request(
                channel, "POST", "/wp/v2/media", content=data, safe=True, creates=False,
                headers={"Content-Type": mime,
                         "Content-Disposition": f'attachment; filename="{name}"',
                         # WordPress compares md5() in hex, not RFC 1864's base64 (verified on 6.1).
                         "Content-MD5": hashlib.md5(data, usedforsecurity=False).hexdigest()})
            del data  # the request holds the bytes now; nothing else should
            # A user's httpx client keeps each response (and so the request and
            # its file) alive until the next full collection unless released.
            attachment = self.answer(release((yield request)), channel, expect=("id", "source_url"))
            media_id = int(attachment["id"])
            if item.alt:
                # An update with the same value: resent freely.
                yield from self.call(channel, "POST", f"/wp/v2/media/{media_id}",
                                     json={"alt_text": item.alt}, safe=True, creates=False)
        except PlatformError as exc:
            raise exc.evolve(message=f"{where} ({item.filename}): {exc.message}") from exc
        return media_id, str(attachment["source_url"])

    def _tag_ids(self, post: Post, channel: Channel) -> Flow[list[int]]:
        """The id of each tag, by name; made where missing and the account may."""
        ids: list[int] = []
        for tag in post.tags:
            name = " ".join(tag.split())
            if not name:
                continue
            tag_id = yield from self._find_tag(name, channel)
            if tag_id is None:
                tag_id = yield from self._create_tag(name, channel)
            if tag_id is not None and tag_id not in ids:
                ids.append(tag_id)
        return ids

    def _find_tag(self, name: str, channel: Channel) -> Flow[int | None]:
        """The oldest tag called *name* (WordPress keeps names HTML-escaped: compared unescaped)."""
        found = yield from self.call(channel, "GET", "/wp/v2/tags", params={
            "search": name, "per_page": 100, "orderby": "id", "order": "asc"})
        ids = [t["id"] for t in found if isinstance(t, Mapping) and isinstance(t.get("id"), int)
               and _same_name(t.get("name"), name)] if isinstance(found, list) else []
        return min(ids) if ids else None

    def _create_tag(self, name: str, channel: Channel) -> Flow[int | None]:
        """Make tag *name*; where a concurrent delivery made it too, keep the oldest."""
        try:
            # A resend after a lost answer meets term_exists, which names the
            # tag made by the first attempt.
            made = yield from self.call(channel, "POST", "/wp/v2/tags", json={"name": name},
                                        safe=True, creates=False, expect=("id",))
        except PlatformError as exc:
            if exc.code == "term_exists":  # verified on 6.1: 400, data.term_id
                term = _term_id(exc.response)
                if term is not None:
                    return term
            if exc.code == "rest_cannot_create" and not isinstance(exc, AuthError):
                logger.warning("wordpress [%s]: tag %r does not exist and the user may not create "
                               "tags; the post goes out without it", channel.account, name)
                return None
            raise
        tag_id = int(made["id"])
        # WordPress's duplicate check is not atomic: deliveries of one fan-out
        # making the same new tag at once can each make one (seen on 6.1).
        # Every maker keeps the oldest and removes its own younger copy.
        oldest = yield from self._find_tag(name, channel)
        if oldest is None or oldest >= tag_id:
            return tag_id
        try:
            yield from self.call(channel, "DELETE", f"/wp/v2/tags/{tag_id}", params={"force": "true"},
                                 safe=True)
        except PlatformError as exc:  # an Author may not delete tags: an empty one stays
            logger.info("wordpress [%s]: tag %r was made twice at once; could not remove the copy "
                        "%s (%s)", channel.account, name, tag_id, exc.message)
        return oldest

    # ----------------------------------------------------------- after a lost create

    def reconcile(self, post: Post, channel: Channel, key: str) -> Flow[Receipt | None]:
        """The post carrying *key*'s marker, among the user's own posts, trash included.

        WordPress's search first (a ``LIKE`` over the raw content, comments
        included); where it finds nothing, the user's 20 newest posts are
        read as well, as a search plugin (Relevanssi, ElasticPress...) may
        index content without its comments. A post found in the trash raises
        `DeliveryUnknown`: it was created and someone removed it, which a
        person should settle. Where more than one carries the marker, the
        oldest is the receipt and the others are named in a warning.
        """
        marker = with_marker("", key)
        # Only the user's own posts: an editor sees others' too, and a post
        # someone else made with this marker in it is not this delivery's.
        me = yield from self.call(channel, "GET", "/wp/v2/users/me", expect=("id",))
        wanted = {"author": me["id"], "status": ",".join(LOOKUP_STATUSES), "context": "edit",
                  "per_page": 20, "orderby": "id"}
        found = yield from self.call(channel, "GET", "/wp/v2/posts", params={
            **wanted, "search": marker.removeprefix("<!-- ").removesuffix(" -->"), "order": "asc"})
        hits = _carrying(found, marker, me["id"])
        if not hits:
            newest = yield from self.call(channel, "GET", "/wp/v2/posts", params={**wanted, "order": "desc"})
            hits = sorted(_carrying(newest, marker, me["id"]), key=lambda p: int(p["id"]))
        if not hits:
            return None
        if len(hits) > 1:
            logger.warning("wordpress [%s]: %d posts carry the marker of this delivery (ids %s); "
                           "keeping the oldest", channel.account, len(hits),
                           ", ".join(str(p["id"]) for p in hits))
        return self._settled(hits[0], channel)

    def _settled(self, found: Mapping[str, Any], channel: Channel) -> Receipt:
        if found.get("status") == "trash":
            raise DeliveryUnknown(
                f"post {found['id']} was created and is in the trash now; it was not sent again",
                platform=self.name, account=channel.account, code="trashed",
                known={"post_id": str(found["id"])},
                hint="Restore it from the trash, or settle the delivery by hand "
                     "(govmedia runs resolve RUN ACCOUNT --published URL or --failed).")
        return self._receipt(found, channel)

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Settle a delivery an earlier run left in doubt, never creating a second post.

        A known post id is read back; otherwise the marker is searched for,
        and where nothing carries it yet while the lost create may still be
        running on the server (younger than option ``settle_time``), the
        search is made once more after that time.
        """
        post_id = doubt.data.get("post_id")
        if post_id:
            try:
                found = yield from self.call(channel, "GET", f"/wp/v2/posts/{quote(str(post_id), safe='')}",
                                             params={"context": "edit"}, expect=("id",))
            except PlatformError as exc:
                if exc.code != "rest_post_invalid_id":
                    raise
                raise DeliveryUnknown(
                    f"post {post_id} was created and has been deleted since; it was not sent again",
                    platform=self.name, account=channel.account, code="deleted",
                    known={"post_id": str(post_id)},
                    hint="Settle the delivery by hand (govmedia runs resolve).") from exc
            return self._settled(found, channel)
        receipt = yield from self.reconcile(post, channel, key)
        settle = self.opts(channel).settle_time
        if receipt is None and settle > 0 and (doubt.age is None or doubt.age < settle):
            wait = settle - (doubt.age or 0.0)
            logger.info("wordpress [%s]: no post carries the marker yet; the lost create may "
                        "still be running, so looking again in %.0f s", channel.account, wait)
            yield Sleep(wait)
            receipt = yield from self.reconcile(post, channel, key)
        return receipt

    # ----------------------------------------------------------- delete, metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Move the post to the trash (option ``force_delete``: delete it for good).

        The trash is the default: WordPress keeps a trashed post for 30 days
        (``EMPTY_TRASH_DAYS``), so a retraction can be undone from the admin
        screens. A post in the trash or gone already counts as deleted.
        """
        channel = receipt.channel
        force = self.opts(channel).force_delete
        try:
            yield from self.call(channel, "DELETE", f"/wp/v2/posts/{quote(receipt.remote_id, safe='')}",
                                 params={"force": "true"} if force else None, safe=True)
        except PlatformError as exc:
            # 410 rest_already_trashed, 404 rest_post_invalid_id (verified on 6.1).
            if exc.code not in ("rest_already_trashed", "rest_post_invalid_id"):
                raise
            logger.info("wordpress [%s] post %s was %s already", channel.account, receipt.remote_id,
                        "in the trash" if exc.code == "rest_already_trashed" else "gone")

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """The post's approved comments; WordPress core counts no views, likes or shares.

        ``GET /wp/v2/comments?post=ID`` answers the total in ``X-WP-Total``
        (core's pagination header; not on the fact sheet, verified on 6.1).
        """
        response = yield self.request(receipt.channel, "GET", "/wp/v2/comments",
                                      params={"post": receipt.remote_id, "per_page": 1})
        total = response.headers.get("X-WP-Total", "")
        comments = int(total) if total.isdigit() else None
        return Metrics(views=None, likes=None, shares=None, comments=comments,
                       raw={"comments": comments})


def _same_name(value: Any, name: str) -> bool:
    # WordPress keeps term names HTML-escaped ("A &amp; B", verified on 6.1).
    return isinstance(value, str) and html.unescape(value).casefold() == name.casefold()


def _carrying(found: Any, marker: str, author: Any) -> list[Mapping[str, Any]]:
    """The posts by *author* in a list answer whose raw content carries *marker*.

    A search hit may not carry it (search is a substring match), and a site
    may ignore the ``author`` filter (a plugin): both are checked here.
    """
    if not isinstance(found, list):
        return []
    return [p for p in found if isinstance(p, Mapping) and isinstance(p.get("id"), int)
            and p.get("author") == author and marker in _rendered(p.get("content"))]


def _term_id(response: httpx.Response | None) -> int | None:
    if response is None:
        return None
    try:
        body = json_of(response)
    except PlatformError:
        return None
    data = body.get("data") if isinstance(body, Mapping) else None
    term = data.get("term_id") if isinstance(data, Mapping) else None
    return int_or_none(term)


def _finished(content: str, post: Post, sources: list[str]) -> str:
    """*content* with body images pointing at their uploads, other media and the link added.

    *sources* are the uploads' ``source_url``, one per item of ``post.media``.
    Everything passes the one sanitizer again on the way out.
    """
    shown = _shown(content, post)

    def point(match: re.Match[str]) -> str:
        tag = match.group(0)

        def swap(src: re.Match[str]) -> str:
            value = html.unescape(src.group(2))
            index = next((i for i, m in enumerate(post.media) if names_media(value, m)), None)
            if index is None:
                return src.group(0)
            return f"{src.group(1)}{html.escape(sources[index], quote=True)}{src.group(3)}"

        return _SRC.sub(swap, tag, count=1)

    out = _IMG.sub(point, content) if shown else content
    extra = []
    for index, item in enumerate(post.media):
        if index in shown:
            continue
        url = html.escape(sources[index], quote=True)
        if item.kind == "image":
            alt = html.escape(item.alt or "", quote=True)
            extra.append(f'<figure><img src="{url}" alt="{alt}"></figure>')
        else:
            extra.append(f'<p><a href="{url}">{html.escape(item.filename)}</a></p>')
    if post.link and post.link not in html.unescape(out):
        link = html.escape(post.link, quote=True)
        extra.append(f'<p><a href="{link}">{html.escape(post.link)}</a></p>')
    if extra:
        out = out + ("" if not out or out.endswith("\n") else "\n") + "\n".join(extra) + "\n"
    return clean(out, GENERIC)


def _warn_dropped(created: Mapping[str, Any], sent: Mapping[str, Any], channel: Channel) -> None:
    """WordPress 6.1 drops a bad featured_media or tag id without an error (verified): say so."""
    cover = sent.get("featured_media")
    if cover is not None and created.get("featured_media") != cover:
        logger.warning("wordpress [%s] post %s: WordPress did not set the featured image "
                       "(attachment %s)", channel.account, created.get("id"), cover)
    tags = set(sent.get("tags") or ())
    kept = created.get("tags")
    if tags and isinstance(kept, list) and not tags <= set(kept):
        logger.warning("wordpress [%s] post %s: WordPress left out tag ids %s", channel.account,
                       created.get("id"), sorted(tags - set(kept)))
