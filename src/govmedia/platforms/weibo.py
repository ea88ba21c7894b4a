"""Sina Weibo (新浪微博): statuses with a picture, reposts, counts, and 头条 long articles.

Facts: shared/platforms/weibo.md (open API v2, ``https://api.weibo.com``).

- A post goes out through ``POST 2/statuses/share.json`` (form-encoded;
  multipart/form-data when it carries its one picture ``pic``), with the
  channel's ``access_token`` and the end user's IP ``rip`` as form fields, as
  the sheet shows them. The status must hold a link on the app's safe domain
  (安全域名): option ``safe_domain_url`` is appended when the text has no link
  on that host. It must not hold a ``#话题#``: `Post.tags` are never added,
  and a topic in the text is refused by `check` (``weibo.text.no_topics``).
- Amplify mode reposts the hub's status (``2/statuses/repost.json``).
- Metrics read the status (``2/statuses/show.json``): reposts, comments and
  attitudes (likes). Not on the fact sheet: unverified.
- Option ``long_article``: the post becomes a 头条文章 through
  ``proxy/article/publish.json`` (government, media and institution accounts,
  after an agreement with Weibo).

Weibo does not deduplicate. Every create is sent once: a timeout after
sending, a bare 5xx or a 10001 (system error, which may come after the write
was applied) ends the delivery `DeliveryUnknown`, never resent. 20032 ("posted,
shown with a delay") is a success in state ``pending``. There is no delete for
third-party apps on the sheet, and access tokens cannot be refreshed (refresh
tokens exist only for Weibo's own mobile SDK apps): an expired or revoked
token is an `AuthError` that asks for the browser authorisation again.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import pathlib
import re
from collections.abc import Mapping
from typing import Any, ClassVar, cast
from urllib.parse import quote

import httpx

from govmedia._sniff import image_type
from govmedia.content._urls import find_urls
from govmedia.content.counting import count_chars, count_weibo
from govmedia.content.hashtags import weibo_topics
from govmedia.content.markup import short_text
from govmedia.content.media import media_head
from govmedia.content.rules import LengthRule, Rule
from govmedia.errors import ConfigError, PlatformError, ValidationError
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import NoAuth
from govmedia.platforms.base import BasePlatform, Capabilities, Rendering
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, url_check
from govmedia.platforms.steps import (
    Checked,
    Checkpoint,
    Doubt,
    Flow,
    count_or_none,
    json_of,
    text_or_none,
)
from govmedia.policy.ratelimit import RateLimit

__all__ = ["WeiboPlatform", "mid_to_base62", "share_text", "status_url"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/weibo.md"
API_BASE = "https://api.weibo.com"
SHARE_PATH = "/2/statuses/share.json"
REPOST_PATH = "/2/statuses/repost.json"
SHOW_PATH = "/2/statuses/show.json"
ARTICLE_PATH = "/proxy/article/publish.json"

TEXT_MAX = 140
ARTICLE_TITLE_MAX = 32
ARTICLE_CONTENT_MAX = 90_000
ARTICLE_TEXT_MAX = 1_900
PIC_MAX_BYTES = 5 * 1024 * 1024  # "<5 MB": strictly under
PIC_KINDS = ("jpeg", "gif", "png")
DELAYED = 20032  # posted, shown with a delay: a success (sheet)
ARTICLE_OK = "100000"
POSTS_PER_HOUR = 30  # per user per app (sheet, "Rate"; exact numbers are per app)

_MIME = {"jpeg": "image/jpeg", "gif": "image/gif", "png": "image/png"}
_EXT = {"jpeg": "jpg", "gif": "gif", "png": "png"}
_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
_DIGITS = re.compile(r"[0-9]{1,30}")
_IMG_SRC = re.compile(r"""<img\b[^>]*?\ssrc\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
_BASE62 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

_SHARE = f"{SHEET}: statuses/share"
_ARTICLE = f"{SHEET}: Long article (头条文章)"
RULES: tuple[Rule, ...] = (
    # The id, unit and source of the first and the three article length rules
    # are those of the transitional table they came from (content/counting.py).
    LengthRule(id="weibo.text.max_length", field="text", limit=TEXT_MAX, counter=count_weibo,
               unit="characters as Weibo counts them (CJK 1, two ASCII 1)",
               source=f"{SHEET}: statuses/share status <=140 (ASCII rule unverified)"),
    Rule(id="weibo.text.required", field="text", code="empty",
         summary="a status needs text", source=_SHARE,
         remediation="Give the post a text (or a title), or set the option safe_domain_url."),
    Rule(id="weibo.text.no_topics", field="text", code="topic_not_allowed",
         summary="no #话题# in a status sent with statuses/share", source=_SHARE,
         remediation="Remove the # marks around the topic, or give Weibo a variant without it "
                     "(post.with_variant(platform='weibo', text=...)); post.tags are left out "
                     "by themselves."),
    Rule(id="weibo.text.safe_domain_link", field="text", code="missing_link",
         summary="a status needs a link on the app's safe domain (安全域名)", source=_SHARE,
         remediation="Set the channel option safe_domain_url to a page on the app's safe domain "
                     "(appended when the text has no link there), or put such a link in the text."),
    Rule(id="weibo.media.max_count", field="media", code="bad_media",
         summary="one picture per status", source=f"{_SHARE} (pic)",
         remediation="Attach one image; put the others in a long article or another post."),
    Rule(id="weibo.media.kind", field="media", code="bad_media",
         summary="pictures only: JPEG, GIF or PNG", source=f"{_SHARE} (pic)",
         remediation="Convert the image to JPEG or PNG; Weibo's open API posts no video here."),
    Rule(id="weibo.media.max_size", field="media", code="bad_media",
         summary="a picture under 5 MB", source=f"{_SHARE} (pic)",
         remediation="Compress the picture below 5 MB."),
    LengthRule(id="weibo_article.title.max_length", field="title", limit=ARTICLE_TITLE_MAX,
               counter=count_chars, unit="characters", source=f"{SHEET}: long article title"),
    LengthRule(id="weibo_article.body.max_length", field="body", limit=ARTICLE_CONTENT_MAX,
               counter=count_chars, unit="characters", source=f"{SHEET}: long article content"),
    LengthRule(id="weibo_article.text.max_length", field="text", limit=ARTICLE_TEXT_MAX,
               counter=count_chars, unit="characters", source=f"{SHEET}: long article bound post"),
    Rule(id="weibo_article.title.required", field="title", code="missing_title",
         summary="a long article needs a title", source=_ARTICLE,
         remediation="Give the post a title."),
    Rule(id="weibo_article.body.required", field="body", code="missing_body",
         summary="a long article needs a body", source=_ARTICLE,
         remediation="Give the post a body."),
    Rule(id="weibo_article.cover.url", field="cover", code="bad_media",
         summary="the cover as an image URL", source=f"{_ARTICLE} (cover)",
         remediation="Give the cover as gm.Media.from_url('https://...'): the article API "
                     "takes an image address, not a file."),
    Rule(id="weibo_article.image.url", field="body", code="bad_media",
         summary="body images as http(s) URLs", source=_ARTICLE,
         remediation="Link body images by their http(s) address: the article API uploads no "
                     "images."),
)


def _auth_hint(what: str) -> str:
    return (f"{what} Have the account owner authorise the app again in the browser "
            "(https://api.weibo.com/oauth2/authorize) and put the new access_token in the "
            "channel's credentials; Weibo gives ordinary apps no refresh token.")


# Sheet, "Error codes". The message is Weibo's `error` (an article's `msg`).
ERRORS = ErrorTable(
    {
        # Auth: the token cannot be renewed here, so each asks for the browser again.
        21327: Code.auth(_auth_hint("The access token expired (its lifetime depends on the app's "
                                    "authorisation level).")),
        21332: Code.auth(_auth_hint("Weibo does not know this access token.")),
        21314: Code.auth(_auth_hint("The access token was used up.")),
        21315: Code.auth(_auth_hint("The access token expired.")),
        21316: Code.auth(_auth_hint("The access token was revoked.")),
        21317: Code.auth(_auth_hint("The access token was rejected.")),
        21319: Code.auth(_auth_hint("The account owner revoked the app's authorisation (or changed "
                                    "the password, or the account was frozen).")),
        21301: Code.auth(_auth_hint("Weibo refused the authorisation.")),
        # Limits with a window Weibo does not name (an hour, a day): not worth
        # waiting for within one run, and hammering makes it worse.
        10022: Code.quota("This IP's hourly request limit is used up: run again in an hour with "
                          "the same journal."),
        10023: Code.quota("This account's request limit for the app is used up (its size depends "
                          "on the app; see the console): run again later with the same journal."),
        10024: Code.quota(f"This account's limit for this API is used up (posting: about "
                          f"{POSTS_PER_HOUR} an hour): run again later with the same journal."),
        20505: Code.quota("The account's follow limit is reached for today."),
        # Posting too fast: a short brake, retried after the policy's backoff.
        20016: Code.rate_limited("Weibo asks this account to post more slowly."),
        11001: Code.rate_limited("Weibo asks this account to post articles more slowly."),
        # Refused before anything was done (queued work full): resent after a backoff.
        10009: Code.busy("Weibo is busy (too many pending tasks)."),
        # May come after the write was applied (the sheet does not say they
        # cannot): a create is never resent, reads are.
        10002: Code.transient("Weibo's service was unavailable; a post may have been made: look "
                              "at the account before sending again."),
        10001: Code.transient("Weibo had a system error; a post may have been made: look at the "
                              "account before sending again."),
        10003: Code.transient("A Weibo backend failed; a post may have been made: look at the "
                              "account before sending again."),
        10010: Code.transient("Weibo's job timed out; a post may have been made: look at the "
                              "account before sending again."),
        10011: Code.transient("Weibo had an RPC error; a post may have been made: look at the "
                              "account before sending again."),
        11003: Code.transient("The article may have been made but not bound to its status: look "
                              "at the account's articles before sending again."),
        # Content refused.
        20012: Code.rejected("The status is over 140 characters.", rule="weibo.text.max_length"),
        20013: Code.rejected("A field is over 300 characters.", rule="weibo.text.max_length"),
        20005: Code.rejected("Weibo takes JPEG, GIF and PNG pictures only.", rule="weibo.media.kind"),
        20006: Code.rejected("The picture is 5 MB or more.", rule="weibo.media.max_size"),
        20007: Code.rejected(
            "Weibo wanted multipart/form-data; govmedia sends it with every picture, so please "
            "report this.", unforeseeable="govmedia always sends a picture as multipart: a bug if seen"),
        20008: Code.rejected("The status is empty.", rule="weibo.text.required"),
        20017: Code.rejected("Weibo found the content too similar to an earlier post.",
                             unforeseeable="Weibo's similarity check is not published"),
        20019: Code.rejected("Weibo refused a repeat of an earlier post.",
                             unforeseeable="the account's earlier posts are not known offline"),
        20111: Code.rejected("Weibo refused a repeat of an earlier post.",
                             unforeseeable="the account's earlier posts are not known offline"),
        20018: Code.rejected("Weibo refused a link in the text (or it is not on the app's safe "
                             "domain).", unforeseeable="Weibo's list of refused links is not published"),
        20020: Code.rejected("Weibo judged the post to be advertising.",
                             unforeseeable="Weibo's moderation is not published"),
        20021: Code.rejected("Weibo found illegal content in the post: edit it.",
                             unforeseeable="Weibo's moderation is not published"),
        20031: Code.rejected("Weibo asks for a captcha (the account is under an anti-spam check): "
                             "post by hand on weibo.com once.",
                             unforeseeable="Weibo's anti-spam checks are not published"),
        20101: Code.rejected("Weibo does not know this status (deleted?).",
                             unforeseeable="the hub's status may be deleted meanwhile"),
        20103: Code.rejected("An account cannot repost its own status.",
                             unforeseeable="the hub's status may belong to this account"),
        # Permanent: configuration, permissions, bans.
        10005: Code.permanent("The app lacks the permission for this API: apply for it in the "
                              "Weibo open platform console (the long article needs Weibo's "
                              "agreement for government and media accounts)."),
        10014: Code.permanent("The app lacks the permission for this API: apply for it in the "
                              "Weibo open platform console (the long article needs Weibo's "
                              "agreement for government and media accounts)."),
        10004: Code.permanent("Weibo limits this IP: ask Weibo, or send from another address."),
        10006: Code.permanent("Weibo got no appkey or token: check the channel's access_token."),
        10008: Code.permanent("Weibo refused a parameter: check the channel's options (rip); if "
                              "they are right, please report this."),
        10016: Code.permanent("A required parameter is missing: check the channel's rip option; "
                              "if it is set, please report this."),
        10017: Code.permanent("A parameter's value was refused. For statuses/share that is "
                              "usually a text without a link on the app's safe domain (安全域名), "
                              "or an app with no safe domain set: check the option "
                              "safe_domain_url and the app's settings."),
        11002: Code.permanent("Weibo did not publish the article and gave no reason: check the "
                              "content, then run again."),
        21321: Code.permanent("The app is not audited, so only its test users may use it: add "
                              "the account as a test user in the console, or have the app audited."),
        21335: Code.permanent("The token belongs to another user than the one asked for."),
        20003: Code.permanent("Weibo does not know this user."),
        20015: Code.permanent("Weibo found the account, the IP or the app in breach of its rules: "
                              "see the notice on weibo.com."),
    },
    code_field="error_code", message_field="error",
)


# --------------------------------------------------------------------------- helpers


def mid_to_base62(mid: str | int) -> str:
    """A status's ``mid`` as the code in its web address (``weibo.com/UID/CODE``).

    The decimal mid is cut into groups of seven digits from the right; each
    group is written in base 62 (``0-9a-zA-Z``), every group after the first
    padded to four characters. Not on the fact sheet (DESIGN names the form);
    checked against public examples.

    Example:
        >>> mid_to_base62("3501756485200075"), mid_to_base62(3500330408906190)
        ('z0JH2lOMb', 'z08AUBmUe')
    """
    digits = str(mid)
    if not _DIGITS.fullmatch(digits):
        raise ValueError(f"a mid is a decimal number, got {mid!r}")
    groups: list[int] = []
    end = len(digits)
    while end > 0:
        groups.append(int(digits[max(0, end - 7):end]))
        end -= 7
    parts = []
    for number, group in enumerate(reversed(groups)):
        code, left = "", group
        while left:
            left, rest = divmod(left, 62)
            code = _BASE62[rest] + code
        parts.append(code.rjust(4, "0") if number else code or "0")
    return "".join(parts)


def status_url(uid: str | int, mid: str | int) -> str:
    """The public address of a status: ``https://weibo.com/UID/BASE62(mid)``.

    Example:
        >>> status_url(1404376560, "3501756485200075")
        'https://weibo.com/1404376560/z0JH2lOMb'
    """
    return f"https://weibo.com/{uid}/{mid_to_base62(mid)}"


def _host(url: str) -> str | None:
    try:
        return httpx.URL(url if "://" in url else f"https://{url}").host.lower() or None
    except (httpx.InvalidURL, TypeError):
        return None


def _links_to(text: str, host: str) -> bool:
    return any(_host(found.href) == host for found in find_urls(text))


def share_text(post: Post, safe_domain_url: str | None = None) -> str:
    """The ``status`` sent with ``statuses/share``: the short text, the safe-domain link added.

    The short text is `Post.text`, else the title, summary and link. Tags are
    never added: ``statuses/share`` takes no ``#话题#``. *safe_domain_url* is
    appended (after a space) unless the text already links to its host.

    Example:
        >>> import govmedia as gm
        >>> share_text(gm.Post(text="央企招聘季开始了", tags=("微招聘",)), "https://www.sasac.gov.cn/")
        '央企招聘季开始了 https://www.sasac.gov.cn/'
        >>> share_text(gm.Post(text="详见 https://www.sasac.gov.cn/n2588025/"), "https://www.sasac.gov.cn/")
        '详见 https://www.sasac.gov.cn/n2588025/'
    """
    text = short_text(post)
    host = _host(safe_domain_url) if safe_domain_url else None
    if not safe_domain_url or host is None or _links_to(text, host):
        return text
    return f"{text} {safe_domain_url}" if text else safe_domain_url


def _is_status_id(value: Any) -> bool:
    return isinstance(value, str) and _DIGITS.fullmatch(value) is not None


def _id_text(value: Any) -> str | None:
    """An id as Weibo gives them (a number, or digits as a string), as a string."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return str(value)
    return value if _is_status_id(value) else None


def _delayed(body: Any) -> bool:
    return isinstance(body, Mapping) and str(body.get("error_code")) == str(DELAYED)


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError, httpx.ResponseNotRead):
        return None


def _path_of(response: httpx.Response) -> str:
    try:
        return response.request.url.path
    except RuntimeError:  # a response built by hand, without its request
        return ""


def _ip(value: Any) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return "the end user's IP address, like 203.0.113.7"
    return "a real address, not 0.0.0.0 or ::" if address.is_unspecified else None


def _upload_name(media: Media, kind: str) -> str:
    stem = pathlib.PurePath(media.filename).stem
    return f"{stem if _SAFE_NAME.fullmatch(stem) else 'picture'}.{_EXT[kind]}"


# --------------------------------------------------------------------------- platform


class WeiboPlatform(BasePlatform):
    """Post to a Sina Weibo account through the open API (statuses/share), or as a 头条 article.

    Credentials: ``access_token`` (from Weibo's OAuth 2 authorisation of the
    account). Options: ``rip`` (required: the end user's real IP, sent with
    every write), ``safe_domain_url`` (a page on the app's safe domain,
    appended when the text has no link on that host), ``long_article``
    (default false; true publishes a 头条文章), ``base_url`` (default
    ``https://api.weibo.com``).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="weibo", account="gzxx",
        ...                 credentials={"access_token": "2.00tok-example"},
        ...                 options={"rip": "203.0.113.7", "safe_domain_url": "https://www.sasac.gov.cn/"})
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(text="#国企改革# " + "国" * 140), ch)]
        [('topic_not_allowed', 'weibo.text.no_topics'), ('too_long', 'weibo.text.max_length')]
    """

    name: ClassVar[str] = "weibo"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)
    options: ClassVar[Mapping[str, Option]] = {
        "rip": Option(str, required=True, check=_ip,
                      doc="the end user's real IP, which Weibo requires on every write"),
        "safe_domain_url": Option(str, check=url_check(query=True),
                                  doc="a page on the app's safe domain (安全域名), appended when the "
                                      "text has no link on that host"),
        "long_article": Option(bool, default=False,
                               doc="publish a 头条文章 (government and media accounts, by agreement "
                                   "with Weibo)"),
        "base_url": Option(str, default=API_BASE, check=url_check()),
    }
    # The token travels as the form field (or, on reads, the query parameter)
    # access_token, as the sheet shows it; the flows put it there.
    auth = NoAuth()
    api_base: ClassVar[str] = API_BASE
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=False, metrics=True, repost=True, dedupe=False, reconcile=False,
        media_max=1, media_kinds=("image",),
        counting=(
            "statuses/share: 140 as Weibo counts (a CJK or other non-ASCII character 1, two ASCII "
            "characters 1, rounded up; links as written, the appended safe-domain link "
            "included; the ASCII rule is unverified for the API). Long article: title 32, body "
            "90,000 (the HTML sent) and its status 1,900 characters. No delete for third-party "
            "apps; metrics are reposts, comments and likes (attitudes)"
        ),
        fields=("text", "title", "summary", "link", "media", "body", "cover"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "weibo"
    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {
        "weibo:*": RateLimit(POSTS_PER_HOUR, per=3600.0),
    }
    fake: ClassVar[str] = "govmedia.testing.weibo:FakeWeibo"

    # ----------------------------------------------------------- errors

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """Weibo's error table; 20032 (posted, shown with a delay) is a success."""
        if _delayed(_json_or_none(response)):
            return None
        return super().classify(response, channel)

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """``error_code``/``error``; the article API answers ``code``/``msg`` (100000: success)."""
        found = super().error_details(response)
        if found is not None or not _path_of(response).endswith(ARTICLE_PATH):
            return found
        body = _json_or_none(response)
        code = body.get("code") if isinstance(body, Mapping) else None
        if code is None or str(code) == ARTICLE_OK:
            return None
        if isinstance(code, str) and code.isascii() and code.isdigit():
            code = int(code)
        message = body.get("msg") if isinstance(body, Mapping) else None
        return (code if isinstance(code, int | str) else str(code),
                str(message) if message else f"code {code}")

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: every rule of the API the channel posts with (share or long article)."""
        if self.opts(channel).long_article:
            return self._article_problems(post)
        try:
            text = self._share_text(post, channel)
        except ValidationError as exc:  # fit could not shorten it around the kept link
            rule = self.rule("weibo.text.max_length")
            return [rule.problem(p.message, field=p.field) for p in exc.problems]
        return self._share_problems(post, text, channel)

    def _share_text(self, post: Post, channel: Channel) -> str:
        """The status as sent; with option ``fit``, the text shortened around the appended link."""
        safe_url = self.opts(channel).safe_domain_url
        full = share_text(post, safe_url)
        if not channel.options.get("fit") or count_weibo(full) <= TEXT_MAX:
            return full
        text = short_text(post)
        extra = full[len(text):]  # " <safe_domain_url>", or nothing
        from govmedia.content.fit import fit  # only when asked

        keep = (post.link,) if post.link and post.link in text else ()
        # count_weibo(a + b) <= count_weibo(a) + count_weibo(b): the sum fits.
        return fit(text, TEXT_MAX - count_weibo(extra), count_weibo, keep=keep) + extra

    def _share_problems(self, post: Post, text: str, channel: Channel) -> list[Problem]:
        problems: list[Problem] = []
        if not text.strip():
            problems.append(self.rule("weibo.text.required").problem(
                "the status would be empty: the post has no text, title, summary or link"))
            return problems + self._picture_problems(post.media)
        topics = weibo_topics(text)
        if topics:
            listed = ", ".join(f"#{t}#" for t in topics)
            problems.append(self.rule("weibo.text.no_topics").problem(
                f"the text holds {listed}; statuses/share refuses #话题#"))
        problems.extend(self._length("weibo.text.max_length", text))
        if self.opts(channel).safe_domain_url is None and not find_urls(text):
            problems.append(self.rule("weibo.text.safe_domain_link").problem(
                "the status has no link, and statuses/share needs one on the app's safe "
                "domain: set the option safe_domain_url"))
        return problems + self._picture_problems(post.media)

    def _length(self, rule_id: str, text: str) -> list[Problem]:
        # Two rules judge `text` (a status, an article's status): only the API's own applies.
        rule = cast("LengthRule", self.rule(rule_id))
        problem = rule.check(text)
        return [problem] if problem is not None else []

    def _picture_problems(self, media: tuple[Media, ...]) -> list[Problem]:
        problems = []
        if len(media) > 1:
            problems.append(self.rule("weibo.media.max_count").problem(
                f"{len(media)} media; statuses/share takes one picture"))
        for number, item in enumerate(media, 1):
            problem = self._picture_problem(item, f"media {number} ({item.filename})",
                                            head=media_head(item), size=item.size)
            if problem is not None:
                problems.append(problem)
        return problems

    def _picture_problem(self, item: Media, name: str, *, head: bytes | None,
                         size: int | None) -> Problem | None:
        # The bytes decide where we have them; a URL not yet fetched, its MIME type.
        kind = image_type(head) if head is not None else (
            item.mime_type.split("/")[-1].replace("jpg", "jpeg") if item.kind == "image" else None)
        if kind not in PIC_KINDS:
            found = kind or item.mime_type
            return self.rule("weibo.media.kind").problem(
                f"{name} is {found}; statuses/share takes a JPEG, GIF or PNG picture")
        if size is not None and size >= PIC_MAX_BYTES:
            return self.rule("weibo.media.max_size").problem(
                f"{name} is {size:,} bytes; Weibo takes pictures under 5 MB")
        return None

    def _article_problems(self, post: Post) -> list[Problem]:
        problems: list[Problem] = []
        title = (post.title or "").strip()
        if not title:
            problems.append(self.rule("weibo_article.title.required").problem(
                "a long article needs a title"))
        problems.extend(self.check_lengths(title, "title"))
        if not (post.body or "").strip():
            problems.append(self.rule("weibo_article.body.required").problem(
                "a long article needs a body"))
        else:
            html = _article_html(post)
            problems.extend(self.check_lengths(html, "body"))
            local = sorted({src for src in _IMG_SRC.findall(html)
                            if not src.lower().startswith(("https://", "http://"))})
            if local:
                problems.append(self.rule("weibo_article.image.url").problem(
                    f"body image(s) {', '.join(local)} are no http(s) address; the article API "
                    "uploads no images"))
        problems.extend(self._length("weibo_article.text.max_length", short_text(post)))
        if post.cover is not None and post.cover.url is None:
            problems.append(self.rule("weibo_article.cover.url").problem(
                f"cover {post.cover.filename!r} is a file; the article API takes the cover as an "
                "image URL"))
        return problems

    # ----------------------------------------------------------- publish

    def health(self, channel: Channel) -> Flow[Checked]:
        """``oauth2/get_token_info``: the token works, for this app, and how long it has left.

        The sheet: verify that ``appkey`` is yours, do not trust ``uid`` alone;
        ``expire_in`` is the token's remaining seconds.
        """
        request = self.request(channel, "POST", "/oauth2/get_token_info", safe=True, creates=False,
                               data={"access_token": channel.credentials["access_token"]})
        response = yield request
        body = json_of(response, platform=self.name, account=channel.account)
        left = body.get("expire_in") if isinstance(body, dict) else None
        expires = None
        if isinstance(left, int | float) and not isinstance(left, bool) and 0 < left < 10 ** 10:
            expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(left))
        uid = body.get("uid") if isinstance(body, dict) else None
        return Checked(expires_at=expires, who=None if uid is None else str(uid))

    def render(self, post: Post, channel: Channel) -> Rendering:
        """The status as `publish` sends it (``statuses/share``), or the long article."""
        shown = super().render(post, channel)
        if self.opts(channel).long_article:
            return shown
        text = self._share_text(post, channel)
        fields = {"status": text, **({"pic": Rendering.source(post.media[0])} if post.media else {})}
        return Rendering(fields=fields, text=text, html=None)

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """``statuses/share`` (with the first picture), or the long article with ``long_article``.

        *key* is not sent: Weibo takes no idempotency key, so the create is
        sent once and a doubtful answer is `DeliveryUnknown`.
        """
        opts = self.opts(channel)
        if opts.long_article:
            receipt: Receipt = yield from self._publish_article(post, channel, key, opts)
            return receipt
        text = self._share_text(post, channel)
        problems = self._share_problems(post, text, channel)
        if problems:  # check() refused these already; never send them
            raise ValidationError(problems, platform=self.name, account=channel.account)
        if post.tags:
            logger.info("weibo [%s]: statuses/share takes no #话题#, so the tags %s are not sent",
                        channel.account, ", ".join(post.tags))
        fields = self._fields(channel, opts, status=text)
        files = None
        if post.media:
            # With a picture the form is multipart/form-data and `status` a plain
            # UTF-8 part: the sheet's "must be URL-encoded" is read as the form
            # encoding, which multipart does not have (unverified).
            files = {"pic": (yield from self._picture(post.media[0], channel))}
        response = yield self.request(channel, "POST", SHARE_PATH, data=fields, files=files,
                                      creates=True)
        receipt = yield from self._created(response, channel, key, "shared")
        return receipt

    def _picture(self, item: Media, channel: Channel) -> Flow[tuple[str, bytes, str]]:
        """The picture's bytes (a URL fetched without the token), checked as Weibo checks them."""
        data = yield from self.fetch(item, channel, limit=PIC_MAX_BYTES)
        problem = self._picture_problem(item, f"media 1 ({item.filename})", head=data[:16],
                                        size=len(data))
        if problem is not None:
            raise ValidationError([problem], platform=self.name, account=channel.account)
        kind = str(image_type(data[:16]))  # one of PIC_KINDS: the check above passed
        return _upload_name(item, kind), data, _MIME[kind]

    def _fields(self, channel: Channel, opts: Options, **fields: str) -> dict[str, str]:
        """The form: the token and the end user's IP go with every write (sheet)."""
        return {"access_token": channel.credentials["access_token"], **fields, "rip": opts.rip}

    def _created(self, response: httpx.Response, channel: Channel, key: str,
                 stage: str) -> Flow[Receipt]:
        """The receipt of a share or repost answer (20032: pending, no id yet)."""
        body = json_of(response, platform=self.name, account=channel.account)
        if _delayed(body):
            status_id = _id_text(body.get("idstr")) or _id_text(body.get("id"))
            yield Checkpoint("delayed", {"error_code": DELAYED,
                                         **({"id": status_id} if status_id else {})})
            logger.info("weibo [%s]: posted; Weibo shows it with a delay (20032)", channel.account)
            return _delayed_receipt(channel, key, status_id)
        ids = _status_ids(body)
        if ids is None:
            raise PlatformError(
                f"{_path_of(response)} answered without the status id", platform=self.name,
                account=channel.account, code="bad_response", response=response, maybe_applied=True,
                hint="The post may be live: look at the account before sending again.",
            )
        yield Checkpoint(stage, ids)
        return _receipt(channel, ids, raw=body)

    def _publish_article(self, post: Post, channel: Channel, key: str,
                         opts: Options) -> Flow[Receipt]:
        """``proxy/article/publish.json``: title, content (rawurlencoded HTML), cover URL, status."""
        problems = self._article_problems(post)
        if problems:
            raise ValidationError(problems, platform=self.name, account=channel.account)
        if post.tags:
            logger.info("weibo [%s]: the long-article API takes no tags, so %s are not sent",
                        channel.account, ", ".join(post.tags))
        shown = {m.url for m in post.media if m.url} & set(_IMG_SRC.findall(_article_html(post)))
        for item in post.media:
            if item.url not in shown:
                logger.warning("weibo [%s]: %r is not shown in the article body and the article "
                               "API uploads no media, so it is not sent", channel.account,
                               item.filename)
        # The sheet: content is rawurlencoded (spaces %20), then sent as a form
        # field like the rest. Whether Weibo counts its 90,000 before or after
        # encoding is unverified; check() counts the HTML before.
        fields = {"title": (post.title or "").strip(),
                  "content": quote(_article_html(post), safe="")}
        if post.cover is not None and post.cover.url:
            fields["cover"] = post.cover.url
        if post.summary and post.summary.strip():
            fields["summary"] = post.summary.strip()
        text = short_text(post)
        if text:
            fields["text"] = text
        response = yield self.request(channel, "POST", ARTICLE_PATH,
                                      data=self._fields(channel, opts, **fields), creates=True)
        body = self.answer(response, channel, expect=("data.object_id",), creates=True)
        data = body["data"]
        object_id = str(data["object_id"])
        found = {"object_id": object_id, "mid": _id_text(data.get("mid")),
                 "url": _http_url(data.get("url"))}
        yield Checkpoint("article", {k: v for k, v in found.items() if v})
        return _article_receipt(channel, found)

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """The receipt an earlier run learnt (ids checkpointed after the create); else in doubt.

        Weibo keeps no idempotency key and the sheet gives no way to list an
        account's posts, so a create whose answer was lost stays
        `DeliveryUnknown`: it is never sent again.
        """
        data = dict(doubt.data)
        if doubt.stage == "delayed" or str(data.get("error_code")) == str(DELAYED):
            return _delayed_receipt(channel, key, _id_text(data.get("id")))
        if data.get("object_id"):
            return _article_receipt(channel, data)
        if _id_text(data.get("id")):
            return _receipt(channel, data, raw={**data, "recovered": True})
        result: Receipt | None = yield from super().recover(post, channel, key, doubt)
        return result

    # ----------------------------------------------------------- repost, metrics, delete

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """A published Weibo status with a known id, from another account."""
        return (original.channel.platform == self.name and channel.platform == self.name
                and original.state == "published" and _status_of(original) is not None
                and original.channel.account != channel.account)

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """``statuses/repost.json`` of *original*; Weibo writes its default text 转发微博."""
        if not self.can_repost(original, channel):
            raise ConfigError(
                f"channel {channel.id} cannot repost {original.channel.id}'s post (not a published "
                "Weibo status with an id, or the same account): publish a post with a link instead"
            )
        fields = self._fields(channel, self.opts(channel), id=str(_status_of(original)))
        response = yield self.request(channel, "POST", REPOST_PATH, data=fields, creates=True)
        receipt: Receipt = yield from self._created(response, channel, key, "reposted")
        return receipt

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Reposts, comments and attitudes (likes) of the status; Weibo shows no views.

        Read with ``GET 2/statuses/show.json`` (not on the fact sheet:
        unverified; the counts are the sheet's status fields).
        """
        status_id = _status_of(receipt)
        if status_id is None:
            yield from ()
            return Metrics(raw={"reason": "Weibo gave no status id for this post (shown with a "
                                          "delay, or an article without its status), so no counts "
                                          "can be read"})
        channel = receipt.channel
        status = yield from self.call(channel, "GET", SHOW_PATH, params={
            "access_token": channel.credentials["access_token"], "id": status_id,
        }, expect=("id",))
        return Metrics(views=None, likes=count_or_none(status.get("attitudes_count")),
                       shares=count_or_none(status.get("reposts_count")),
                       comments=count_or_none(status.get("comments_count")), raw=status)

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Not offered: the sheet's open API has no delete for third-party apps."""
        where = receipt.url or "the account's page on weibo.com"
        raise ConfigError(
            f"weibo cannot delete posts (capabilities.delete is False): the open API offers "
            f"third-party apps no delete; delete it by hand at {where}"
        )


# --------------------------------------------------------------------------- receipts


def _status_ids(body: Any) -> dict[str, str] | None:
    """``{id, mid, uid}`` of a status answer (``None`` without an id)."""
    if not isinstance(body, Mapping):
        return None
    status_id = _id_text(body.get("idstr")) or _id_text(body.get("mid")) or _id_text(body.get("id"))
    if status_id is None:
        return None
    ids = {"id": status_id}
    mid = _id_text(body.get("mid")) or status_id
    ids["mid"] = mid
    user = body.get("user")
    uid = (_id_text(user.get("idstr")) or _id_text(user.get("id"))) if isinstance(user, Mapping) else None
    if uid:
        ids["uid"] = uid
    return ids


def _status_of(receipt: Receipt) -> str | None:
    """The id of the status behind *receipt* (an article's own status), ``None`` if unknown."""
    if receipt.raw.get("delayed"):
        return None
    if receipt.raw.get("article"):
        return _id_text(receipt.raw.get("mid"))
    return receipt.remote_id if _is_status_id(receipt.remote_id) else None


def _receipt(channel: Channel, ids: Mapping[str, Any], *, raw: Mapping[str, Any]) -> Receipt:
    uid, mid = ids.get("uid"), ids.get("mid") or ids["id"]
    url = status_url(uid, mid) if uid and _is_status_id(str(mid)) else None
    return Receipt(channel=channel, remote_id=str(ids["id"]), url=url, state="published", raw=raw)


def _delayed_receipt(channel: Channel, key: str, status_id: str | None) -> Receipt:
    # No id to give: the receipt says so instead of inventing one.
    return Receipt(channel=channel, remote_id=status_id or f"delayed:{key}", state="pending",
                   raw={"error_code": DELAYED, "delayed": True,
                        "note": "Weibo posted it and shows it with a delay (20032)"})


def _article_receipt(channel: Channel, found: Mapping[str, Any]) -> Receipt:
    object_id = str(found["object_id"])
    mid = _id_text(found.get("mid"))
    url = _http_url(found.get("url")) or f"https://weibo.com/ttarticle/p/show?id={object_id}"
    raw = {"article": True, "object_id": object_id, "url": url, **({"mid": mid} if mid else {})}
    # The article's status (mid) is what metrics and reposts need.
    return Receipt(channel=channel, remote_id=mid or object_id, url=url, state="published", raw=raw)


def _http_url(value: Any) -> str | None:
    text = text_or_none(value)
    return text if text and text.lower().startswith(("https://", "http://")) else None


def _article_html(post: Post) -> str:
    from govmedia.content.sanitize import wordpress_html  # HTML bodies are sanitised (nh3)

    return wordpress_html(post.body or "", post.body_format)

