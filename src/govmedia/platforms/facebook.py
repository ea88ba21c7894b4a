"""Facebook Pages (Graph API): posts with photos or a video, shares, deletes and counts.

Facts: shared/platforms/facebook.md. Every call goes to a pinned Graph API
version (``/{graph_version}/...``) with the Page access token in
``Authorization: Bearer`` (never in a URL). One post becomes one Page post:

- text, a link, photos: each photo goes up unpublished (``POST
  /{page-id}/photos`` with ``published=false`` and the file as ``source``),
  then ``POST /{page-id}/feed`` with ``message``, ``link`` (a post without
  photos) and ``attached_media[i]={"media_fbid": ...}`` makes the post: the
  point of no return. Its ``id`` (``<page-id>_<post-id>``) is the receipt's;
- a video: the legacy chunked upload on ``graph-video.facebook.com``
  (``upload_phase=start`` with ``file_size``; ``transfer`` with the bytes
  Facebook asks for, ``start_offset`` to ``end_offset``, read from disk one
  chunk at a time; ``finish`` with ``title`` and ``description``, the point of
  no return), then ``GET /{video-id}?fields=status`` until it is encoded or
  ``poll_timeout`` passes (``pending``). The session is saved after each
  chunk, and a re-run resumes it where Facebook's last answer left it;
- amplify mode shares the hub's post: ``POST /{page-id}/feed`` with its
  address as ``link``;
- a scheduled post (the option ``scheduled_publish_time``, which `schedule`
  sets for ``fan_out(at=...)`` with ``native_schedule``): the feed post with
  ``published=false`` and ``scheduled_publish_time`` in Unix seconds, 10
  minutes to 30 days ahead (the 30 days unverified); its receipt is
  ``scheduled``. The sheet gives the time for ``/feed`` only, so a scheduled
  post with photos or a video is refused by `check`, never guessed at.

Facebook takes no idempotency key (it refuses an identical consecutive post
with 506, which catches only some double sends), so the feed post, the video
finish and the share are sent once: a timeout or a 5xx after sending is
`DeliveryUnknown`, never resent. A journal-backed re-run settles it: a known
post or video id is finished (the video polled), and a lost feed post is
looked for in ``GET /{page-id}/feed`` by its message since the first attempt
(the sheet's advice), and a lost scheduled post in ``GET
/{page-id}/scheduled_posts`` too; exactly one match is taken as ours,
anything else stays `DeliveryUnknown` for a person to settle.

Page tokens cannot be refreshed: a refused one (190, 102) is an `AuthError`
that says why it died (the subcode) and how to get a new one. Rate limits (4,
17, 32, 613, 80001, 341) wait ``X-Business-Use-Case-Usage``'s
``estimated_time_to_regain_access`` where it is given, else back off.

Not on the fact sheet, so marked unverified where used: the feed's answer
shape (``data``, ``created_time``, ``paging.cursors.after``) and that
``/scheduled_posts`` answers in the same shape, the
``video_status`` values, the counts' fields (``reactions``, ``comments``,
``shares``), the public addresses of posts and videos, that a feed post with
a Facebook post's address as its ``link`` shows as a share, and that one
photo may go through ``attached_media`` as several do.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx

from govmedia.content.counting import count_chars
from govmedia.content.hashtags import with_tags
from govmedia.content.markup import short_text
from govmedia.content.media import (
    media_head,
    media_size,
    verify_bytes,
)
from govmedia.content.rules import LengthRule, Rule
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
from govmedia.platforms._parts import multipart_part
from govmedia.platforms.auth import Header, StaticToken
from govmedia.platforms.base import EXTERNAL_MAX_BODY, BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, positive_seconds, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    Recall,
    count_or_none,
    int_or_none,
    release,
    same_text,
    text_or_none,
)
from govmedia.platforms.uploads import SavedUpload, media_bytes, refused

__all__ = ["FacebookPlatform", "message_of", "post_url", "publish_time"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/facebook.md"
GRAPH = "https://graph.facebook.com"
GRAPH_VIDEO = "https://graph-video.facebook.com"
VIDEO_HOST = "graph-video.facebook.com"
DEFAULT_VERSION = "v24.0"           # "always pin a version (current docs show v24-v26)"
TEXT_MAX = 63_206                   # "often quoted: ~63,206 chars/post" (unverified)
PHOTO_MAX_BYTES = 10 * 1024 * 1024  # "photos <=4-10 MB" (unverified): the looser reading
# The transfer chunk is Facebook's to choose (start_offset..end_offset); one
# larger than this is refused rather than held in memory.
CHUNK_MAX_BYTES = 128 * 1024 * 1024
FEED_FIELDS = "id,message,created_time"  # the feed's fields (answer shape unverified)
FEED_LIMIT = 25
FEED_PAGES = 8
# Counts of a post (not on the fact sheet: unverified field names).
METRIC_FIELDS = ("reactions.summary(total_count).limit(0),"
                 "comments.summary(total_count).limit(0),shares")
# video_status values (not on the fact sheet: unverified).
VIDEO_READY = "ready"
VIDEO_FAILED = frozenset({"error", "expired", "upload_failed"})
VIDEO_APPLIED = frozenset({"processing", VIDEO_READY, *VIDEO_FAILED})
# scheduled_publish_time: "window 10 min-30 days per current tools, older docs
# 6 months - unverified": the 10 minutes as the sheet gives them, the 30 days
# (the narrower reading) unverified.
SCHEDULE_MIN = 10 * 60
SCHEDULE_MAX = 30 * 86_400
# A lost feed post is looked for from this many seconds before the first attempt.
_LOOKUP_MARGIN = 120.0
_VERSION = re.compile(r"^v?(\d{1,3})(?:\.0)?$")
_DIGITS = re.compile(r"^[0-9]{1,30}$")
_OBJECT_ID = re.compile(r"^[0-9]{1,30}(?:_[0-9]{1,30})?$")


# --------------------------------------------------------------------------- text


def message_of(post: Post) -> str:
    """The ``message`` (a video's ``description``) sent for *post*.

    Its short text (`Post.text`, else title, summary and link); where the post
    carries media, its `Post.link` is added when the text lacks it (a photo or
    video post takes no ``link`` field); then a blank line and each tag as
    ``#tag`` unless the text holds it already (an all-digit tag is left out).

    Example:
        >>> import govmedia as gm
        >>> post = gm.Post(text="中老铁路开通一周年 #一带一路看国企", tags=("一带一路看国企", "央企"))
        >>> print(message_of(post))
        中老铁路开通一周年 #一带一路看国企
        <BLANKLINE>
        #央企
    """
    text = short_text(post)
    if post.media and post.link and post.link not in text:
        text = f"{text}\n\n{post.link}" if text else post.link
    return with_tags(text, post.tags, "hash", platform="facebook")


def post_url(post_id: str) -> str:
    """The public address of a Page post from its id (``<page-id>_<post-id>``).

    The address form is not on the fact sheet (unverified).

    Example:
        >>> post_url("1234567890_9876543210")
        'https://www.facebook.com/1234567890/posts/9876543210'
    """
    page, sep, own = post_id.partition("_")
    if sep and page and own:
        return f"https://www.facebook.com/{page}/posts/{own}"
    return f"https://www.facebook.com/{post_id}"


def _video_url(page_id: str, video_id: str) -> str:
    # Not on the fact sheet (unverified).
    return f"https://www.facebook.com/{page_id}/videos/{video_id}"


def _when(value: Any) -> float | None:
    """A ``created_time`` (``2026-12-01T08:00:00+0000``; format unverified) as Unix seconds."""
    if not isinstance(value, str):
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip())  # takes +0000 and Z (3.11+)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def _offset(value: Any) -> int | None:
    """An upload offset, which Facebook may give as a string."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return count_or_none(value)


def _now() -> float:
    """The clock a scheduled time and a look-up's ``created_time`` are judged by (tests move it)."""
    return time.time()


def publish_time(value: str) -> int | None:
    """A ``scheduled_publish_time`` option (Unix seconds, or ISO 8601 with its zone) as Unix seconds.

    Example:
        >>> publish_time("2026-12-07T07:00:00+08:00"), publish_time("1796598000")
        (1796598000, 1796598000)
        >>> publish_time("tomorrow 7am") is None
        True
    """
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return math.ceil(when.timestamp()) if when.tzinfo is not None else None


def _publish_time_check(value: Any) -> str | None:
    if publish_time(value) is None:
        return "Unix seconds or an ISO 8601 time with its zone, like '2026-12-07T07:00:00+08:00'"
    return None


def _version(value: Any) -> str | None:
    match = _VERSION.match(value.strip()) if isinstance(value, str) else None
    return f"v{int(match[1])}.0" if match else None


def _version_check(value: Any) -> str | None:
    return None if _version(value) else "a Graph API version like 'v24.0'"


def _page_check(value: Any) -> str | None:
    return None if _DIGITS.match(value) else "the Page's numeric id, like '104xxxxxxxxxx'"


def _error_of(response: httpx.Response | None) -> Mapping[str, Any]:
    """The ``error`` object of a Graph API error answer (``{}`` if none)."""
    if response is None:
        return {}
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError, httpx.ResponseNotRead):
        return {}
    error = body.get("error") if isinstance(body, Mapping) else None
    return error if isinstance(error, Mapping) else {}


def _subcode(error: PlatformError) -> int | None:
    return int_or_none(_error_of(error.response).get("error_subcode"))


def _gone(error: PlatformError) -> bool:
    """Facebook's "object does not exist" (100, subcode 33; the subcode is unverified)."""
    return error.code == 100 and _subcode(error) == 33


# --------------------------------------------------------------------------- errors

_RENEW = (
    "Get a new Page access token: a Page admin with the CREATE_CONTENT task logs in through "
    "Facebook Login granting pages_show_list, pages_manage_posts and pages_read_engagement "
    "(publish_video for video), trades the user token for a long-lived one, and reads the Page's "
    "token from GET /me/accounts (or GET /{page-id}?fields=access_token); put it in the channel's "
    "page_access_token. GET /debug_token shows whether a token is still valid; a system-user "
    "token (Business Manager) does not die with one person's login."
)
_SUBCODES: dict[int, str] = {
    458: "The app was removed from the account that made the token.",
    459: "The account that made the token must log in to facebook.com once to clear a "
         "security checkpoint.",
    460: "The password of the account that made the token changed, and the Page token died "
         "with its login.",
    463: "The token expired: a Page token taken from a short-lived user token lives only as "
         "long; take it from a long-lived (60-day) user token instead.",
    464: "The account that made the token is not confirmed on facebook.com.",
    467: "The token is no longer valid (its user logged out, or it was revoked).",
}
_RATE = ("govmedia waits the time Facebook gives in X-Business-Use-Case-Usage "
         "(estimated_time_to_regain_access) when it is short, else raises at once; run "
         "again later with the same journal, or spread the fan-out over more time.")
_PERMISSION = ("The token lacks a permission, or its user is not an admin of this Page with the "
               "CREATE_CONTENT task: grant pages_manage_posts, pages_read_engagement (and "
               "publish_video for video), then take a new Page token.")

ERRORS = ErrorTable(
    {
        # auth-expired: a Page token cannot be refreshed, only replaced.
        190: Code.auth("Facebook refused the Page access token. " + _RENEW),
        102: Code.auth("Facebook's session for this token is invalid. " + _RENEW),
        # rate-limited: no Retry-After; the BUC header's wait where it gives one.
        4: Code.rate_limited("The app's call limit (X-App-Usage) is reached. " + _RATE),
        17: Code.rate_limited("The user's call limit is reached. " + _RATE),
        32: Code.rate_limited("The Page-level call limit is reached. " + _RATE),
        613: Code.rate_limited("Calls came faster than Facebook's rate limit. " + _RATE),
        80001: Code.rate_limited("The Page's Business Use Case limit (calls per 24 h: 4800 x "
                                 "the Page's engaged users) is reached. " + _RATE),
        341: Code.rate_limited("The app's limit is reached. " + _RATE),
        # transient: may come after the write was applied (the sheet does not say it cannot).
        1: Code.transient("Facebook had an unknown error; a post may have been made: look at "
                          "the Page before sending again."),
        2: Code.transient("Facebook's service was unavailable; a post may have been made: look "
                          "at the Page before sending again."),
        # "temporarily blocked for policy -> wait, do not hammer": not retried now.
        368: Code.quota("Facebook temporarily blocks this Page or app from posting (a policy "
                        "block): wait, check the Page's quality in Meta Business Suite, and run "
                        "again much later; retrying now makes it worse."),
        # content-rejected
        100: Code.rejected(
            "Facebook refused a parameter (an expired photo id, a bad link or time).",
            unforeseeable="Facebook answers 100 for parameter problems check() cannot see "
                          "(an unpublished photo gone meanwhile, a link it cannot use)"),
        506: Code.rejected(
            "Facebook refuses a post identical to the Page's latest one. If that one is this "
            "post, it is live already: look at the Page; otherwise change the text.",
            unforeseeable="Facebook compares with the Page's latest post, which check() cannot see"),
        1609005: Code.rejected(
            "Facebook could not fetch the link to build its preview: check that the page is "
            "public and reachable, or leave the link out.",
            unforeseeable="only Facebook's crawler can tell whether it can fetch the link"),
        # "video/photo format errors (codes unverified)": the usual codes, not on the sheet.
        324: Code.rejected("Facebook could not read the photo: send a JPEG or PNG.",
                           rule="facebook.media.kind"),
        352: Code.rejected("Facebook does not take this video format: send an MP4.",
                           rule="facebook.media.kind"),
        # permanent: permissions and methods.
        10: Code.permanent(_PERMISSION),
        **{code: Code.permanent(_PERMISSION) for code in range(200, 300)},
        3: Code.permanent("The app may not call this method (a capability it lacks): check the "
                          "app's permissions and features in the developer dashboard."),
    },
    code_field="error.code", message_field="error.message",
)


# --------------------------------------------------------------------------- rules

_FEED = f"{SHEET}: POST /{{page-id}}/feed"
RULES: tuple[Rule, ...] = (
    LengthRule(id="facebook.text.max_length", field="text", limit=TEXT_MAX, counter=count_chars,
               unit="characters",
               source=f"{SHEET}: Content limits, often quoted ~63,206 characters (unverified)"),
    Rule(id="facebook.post.not_empty", field="text", code="empty",
         summary="a post needs a message, a link or media", source=_FEED,
         remediation="Give the post a text, a link, or attach a photo or a video."),
    Rule(id="facebook.media.kind", field="media", code="bad_media",
         summary="photos or a video only", source=f"{SHEET}: /photos and /videos",
         remediation="Attach images (JPEG or PNG) or one video (MP4)."),
    Rule(id="facebook.media.one_video", field="media", code="bad_media",
         summary="a video goes alone: one video and nothing else",
         source=f"{SHEET}: attached_media takes photo ids; a video is its own post (/videos)",
         remediation="Post the video on its own, and the photos in another post."),
    Rule(id="facebook.photo.max_size", field="media", code="bad_media",
         summary="a photo of at most 10 MB",
         source=f"{SHEET}: Content limits, often quoted photos <=4-10 MB (unverified)",
         remediation="Compress the photo (under 4 MB is safe)."),
    Rule(id="facebook.schedule.window", field="scheduled_publish_time", code="bad_schedule",
         summary="a scheduled post publishes 10 minutes to 30 days ahead (30 days unverified)",
         source=f"{_FEED}, scheduled_publish_time: window 10 min-30 days per current tools, "
                "older docs 6 months (unverified)",
         remediation="Pick a time at least 10 minutes and at most 30 days ahead, or leave "
                     "native_schedule out (the run then waits in the journal until it is due)."),
    Rule(id="facebook.schedule.media", field="media", code="bad_schedule",
         summary="a scheduled post is text or a link: no photos, no video",
         source=f"{SHEET}: scheduled_publish_time is given for /feed only, not for /photos, "
                "/videos or attached_media of unpublished photos",
         remediation="Leave native_schedule (or scheduled_publish_time) out for this post: the "
                     "run then waits in the journal and is sent when it is due."),
)


# --------------------------------------------------------------------------- platform


class FacebookPlatform(BasePlatform):
    """Publish to a Facebook Page with the Graph API: text, a link, photos or one video.

    Credentials: ``page_access_token`` (a Page token; it cannot be refreshed).
    Options: ``page_id`` (required), ``graph_version`` (default ``v24.0``),
    ``scheduled_publish_time`` (Unix seconds or ISO 8601: Facebook publishes
    the post then; set by `schedule`), ``poll_timeout`` (seconds to wait for
    a video's encoding, default 300) and ``poll_interval`` (default 5),
    ``base_url`` and ``video_base_url`` (the
    Graph API's and its video host's addresses; the sandbox sets its own).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="facebook", account="sasac-page",
        ...                 credentials={"page_access_token": "EAAB-page-token"},
        ...                 options={"page_id": "104123456789012"})
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(text="国" * 63_207), ch)]
        [('too_long', 'facebook.text.max_length')]
    """

    name: ClassVar[str] = "facebook"
    credential_keys: ClassVar[tuple[str, ...]] = ("page_access_token",)
    options: ClassVar[Mapping[str, Option]] = {
        "page_id": Option(str, required=True, check=_page_check, doc="the Page's numeric id"),
        "graph_version": Option(str, default=DEFAULT_VERSION, check=_version_check,
                                doc="the Graph API version every call pins, like 'v24.0'"),
        "poll_timeout": Option(float, default=300.0, minimum=0.0, coerce=True,
                               doc="seconds to wait for a video to be encoded"),
        "poll_interval": Option(float, default=5.0, coerce=True, check=positive_seconds,
                                doc="seconds between encoding polls"),
        # Set by `schedule` (fan_out(at=...) with the option native_schedule),
        # or by hand: Facebook publishes the post at that time, not now.
        "scheduled_publish_time": Option(
            str, coerce=True, check=_publish_time_check,
            doc="when Facebook publishes the post: Unix seconds or ISO 8601 with its zone, 10 "
                "minutes to 30 days ahead (30 days unverified); text and link posts only"),
        "base_url": Option(str, default=GRAPH, check=url_check(),
                           doc="the Graph API's address (the sandbox's, in tests)"),
        "video_base_url": Option(str, default=GRAPH_VIDEO, check=url_check(),
                                 doc="the video upload host's address (the sandbox's, in tests)"),
    }
    auth = StaticToken("page_access_token", Header("Authorization", "Bearer {}"))
    api_base: ClassVar[str] = GRAPH
    credential_hosts: ClassVar[tuple[str, ...]] = (VIDEO_HOST,)
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, repost=True, dedupe=False, reconcile=False,
        media_kinds=("image", "video"),
        counting="characters (code points); the limit is the often-quoted 63,206 (unverified); "
                 "tags and, with media, the link included",
        fields=("text", "title", "summary", "body", "link", "tags", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "hash"
    # No default_rate_limits: the Page's budget is 4800 calls per 24 h times its
    # engaged users, which govmedia cannot know; the answers' usage headers and
    # rate-limit codes are honoured instead.
    fake: ClassVar[str] = "govmedia.testing.facebook:FakeFacebook"

    # ----------------------------------------------------------- addresses

    def _version(self, opts: Options) -> str:
        return _version(opts.graph_version) or DEFAULT_VERSION

    def _page(self, channel: Channel, opts: Options, edge: str) -> str:
        return f"/{self._version(opts)}/{opts.page_id}/{edge}"

    def _object(self, opts: Options, object_id: str) -> str:
        return f"/{self._version(opts)}/{quote(object_id, safe='_')}"

    def _videos(self, opts: Options) -> str:
        return f"{str(opts.video_base_url).rstrip('/')}/{self._version(opts)}/{opts.page_id}/videos"

    def carries_credentials(self, request: httpx.Request, channel: Channel) -> bool:
        """The Graph API's host, the video host, and the channel's ``video_base_url``."""
        if super().carries_credentials(request, channel):
            return True
        video = httpx.URL(str(self.opts(channel).video_base_url))
        url = request.url
        return (url.scheme, url.host, url.port) == (video.scheme, video.host, video.port)

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """The message's length (tags included), an empty post, and the media rules."""
        message = message_of(post)
        problems = self.check_lengths(message, "text")
        if not message.strip() and not post.media and not post.link:
            problems.append(self.rule("facebook.post.not_empty").problem(
                "the post would be empty: no text, no link, no media"))
        problems.extend(self._media_problems(post.media))
        problems.extend(self._schedule_problems(post, channel))
        return problems

    def _schedule_problems(self, post: Post, channel: Channel) -> list[Problem]:
        """A scheduled post: a time in Facebook's window, and no media (before any request)."""
        value = channel.options.get("scheduled_publish_time")
        when = self._publish_time(channel)
        if when is None:
            return []
        problems = []
        ahead = when - _now()
        if not SCHEDULE_MIN <= ahead <= SCHEDULE_MAX:
            said = ("in the past" if ahead < 0 else f"{ahead:,.0f} seconds ahead" if ahead < 120
                    else f"{ahead / 60:,.0f} minutes ahead" if ahead < 2 * 86_400
                    else f"{ahead / 86_400:,.1f} days ahead")
            problems.append(self.rule("facebook.schedule.window").problem(
                f"channel {channel.id}: scheduled_publish_time {value!r} is {said}; Facebook "
                "schedules a post 10 minutes to 30 days ahead (the 30 days are unverified)"))
        if post.media:
            problems.append(self.rule("facebook.schedule.media").problem(
                f"channel {channel.id}: a scheduled post with {len(post.media)} photo(s) or "
                "video: the fact sheet gives scheduled_publish_time for text and link posts "
                "(POST /{page-id}/feed) only, so govmedia does not schedule media"))
        return problems

    def _publish_time(self, channel: Channel) -> int | None:
        value = self.opts(channel).scheduled_publish_time
        return publish_time(value) if value else None

    def schedule(self, channel: Channel, at: dt.datetime) -> Channel:
        """*channel* set to have Facebook publish at *at* (``scheduled_publish_time``).

        A fraction of a second is rounded up: never before *at*. `check`
        judges the time against Facebook's window (10 minutes to 30 days).

        Example:
            >>> import datetime as dt, govmedia as gm
            >>> ch = gm.Channel(platform="facebook", account="sasac-page",
            ...                 credentials={"page_access_token": "EAAB-page-token"},
            ...                 options={"page_id": "104123456789012"})
            >>> at = dt.datetime(2026, 12, 7, 7, 0, 0, 500, tzinfo=dt.UTC)
            >>> FacebookPlatform().schedule(ch, at).options["scheduled_publish_time"]
            '2026-12-07T07:00:01Z'
        """
        seconds = math.ceil(at.timestamp())
        when = dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")
        return attrs.evolve(channel, options={**channel.options, "scheduled_publish_time": when})

    def _media_problems(self, media: tuple[Media, ...]) -> list[Problem]:
        problems = []
        videos = 0
        for number, item in enumerate(media, 1):
            name = f"media {number} ({item.filename})"
            if item.kind == "video":
                videos += 1
            elif item.kind != "image":
                problems.append(self.rule("facebook.media.kind").problem(
                    f"{name} is {item.mime_type}; a Page post takes photos or a video"))
                continue
            else:
                size = media_size(item)
                if size is not None and size > PHOTO_MAX_BYTES:
                    problems.append(self.rule("facebook.photo.max_size").problem(
                        f"{name} is {size:,} bytes; Facebook takes photos up to about 10 MB "
                        "(unverified)"))
        if videos and len(media) > 1:
            problems.append(self.rule("facebook.media.one_video").problem(
                f"{videos} video(s) among {len(media)} attachments; a video goes alone"))
        return problems

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET /{page_id}?fields=id,name``: the Page token works, for this Page."""
        opts = self.opts(channel)
        return self.request(channel, "GET", f"/{self._version(opts)}/{opts.page_id}",
                            params={"fields": "id,name"})

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Photos then the feed post, or the video's chunked upload; the create is sent once.

        *key* is not sent: Facebook takes no idempotency key.
        """
        opts = self.opts(channel)
        problems = self.validate(post, channel)
        if problems:  # check() refused these already; never send them
            raise ValidationError(problems, platform=self.name, account=channel.account)
        if post.cover is not None:
            logger.info("facebook [%s]: the cover has no place on a Page post and is not sent; "
                        "put the image in media", channel.account)
        video = next((m for m in post.media if m.kind == "video"), None)
        if video is not None:
            receipt: Receipt = yield from self._publish_video(post, video, channel, opts)
            return receipt
        receipt = yield from self._publish_feed(post, channel, opts)
        return receipt

    def _publish_feed(self, post: Post, channel: Channel, opts: Options) -> Flow[Receipt]:
        photo_ids: list[str] = []
        for number, item in enumerate(post.media, 1):
            photo_id = yield from self._photo(item, number, channel, opts)
            photo_ids.append(photo_id)
        fields: dict[str, str] = {}
        message = message_of(post)
        if message:
            fields["message"] = message
        if post.link and not photo_ids:
            fields["link"] = post.link
            if message.strip() == post.link:
                del fields["message"]  # the link alone: its preview says it, not its address twice
        for index, photo_id in enumerate(photo_ids):
            # One photo goes through attached_media as several do (the sheet
            # shows it for multi-photo posts; one alone is unverified).
            fields[f"attached_media[{index}]"] = json.dumps({"media_fbid": photo_id})
        when = self._publish_time(channel)  # validate() judged it: no media, in the window
        if when is not None:
            fields["published"] = "false"
            fields["scheduled_publish_time"] = str(when)
            # Travels with the journal's claim: a re-run looks in the scheduled posts too.
            yield Checkpoint("posting", {"scheduled_publish_time": when})
        elif photo_ids:
            yield Checkpoint("posting", {"photo_ids": photo_ids})
        try:
            created = yield from self.call(channel, "POST", self._page(channel, opts, "feed"),
                                           data=fields, creates=True, expect=("id",))
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                "Facebook takes no idempotency key, so it was not resent: a re-run with the same "
                "journal looks for it in the Page's feed; or look at the Page, then settle the "
                "delivery (govmedia runs resolve)")) from exc
        post_id = str(created["id"])
        if when is not None:
            yield Checkpoint("published", {"post_id": post_id, "scheduled_publish_time": when})
            return _scheduled(channel, post_id, when, created)
        yield Checkpoint("published", {"post_id": post_id})
        raw = {**created, **({"photo_ids": photo_ids} if photo_ids else {})}
        return Receipt(channel=channel, remote_id=post_id, url=post_url(post_id),
                       state="published", raw=raw)

    def _photo(self, item: Media, number: int, channel: Channel, opts: Options) -> Flow[str]:
        """One photo, unpublished (nothing a reader sees): its id for ``attached_media``."""
        where = f"media {number} ({item.filename})"
        data = yield from media_bytes(self, item, channel, limit=PHOTO_MAX_BYTES)
        if len(data) > PHOTO_MAX_BYTES:
            raise ValidationError([self.rule("facebook.photo.max_size").problem(
                f"{where} is over {PHOTO_MAX_BYTES:,} bytes")], platform=self.name,
                account=channel.account)
        found = verify_bytes(item, data, platform=self.name, account=channel.account, where=where)
        mime = found.mime_type if found is not None else item.mime_type
        if item.alt:
            # Alt text is not on the fact sheet's /photos fields: not sent.
            logger.info("facebook [%s] %s: alt text is not sent (no field on the fact sheet)",
                        channel.account, where)
        # Resent freely: a second unpublished photo is seen by no reader.
        answer = yield from self.call(
            channel, "POST", self._page(channel, opts, "photos"), data={"published": "false"},
            files={"source": (item.filename, data, mime)}, safe=True, creates=False,
            expect=("id",))
        return str(answer["id"])

    # ----------------------------------------------------------- video

    def _publish_video(self, post: Post, video: Media, channel: Channel,
                       opts: Options) -> Flow[Receipt]:
        saved = yield Recall()
        source = video
        if video.url is not None:
            data = yield from self.fetch(video, channel, limit=EXTERNAL_MAX_BODY)
            source = Media.from_bytes(data, filename=video.filename, mime_type=video.mime_type)
        size = media_size(source)
        head = media_head(source)
        if not size or not head:
            raise ConfigError(f"channel {channel.id}: cannot read video {video.filename!r}")
        verify_bytes(source, head, platform=self.name, account=channel.account,
                     where=f"media 1 ({video.filename})")
        upload = SavedUpload.of(source, "video")
        session = self._resumable(upload.recall(saved, size=size), size, channel)
        if session is not None:
            session = yield from self._resume(source, session, upload, channel, opts)
        if session is None:
            session = yield from self._start(source, size, upload, channel, opts)
            yield from self._transfer(source, session, upload, channel, opts)
        video_id = session["video_id"]
        fields = {"upload_phase": "finish", "upload_session_id": session["upload_session_id"]}
        if post.title and post.title.strip():
            fields["title"] = post.title.strip()
        description = message_of(post)
        if description:
            fields["description"] = description
        # Travels with the journal's claim: a re-run knows the finish may have gone.
        yield Checkpoint("finishing", {"video_id": video_id, "finishing": True})
        try:
            response = yield self.request(channel, "POST", self._videos(opts), data=fields,
                                          creates=True)
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                f"Facebook takes no idempotency key, so it was not resent: a re-run with the same "
                f"journal asks Facebook about video {video_id}")) from exc
        answer = self.answer(response, channel, creates=True)
        if not isinstance(answer, Mapping) or answer.get("success") is not True:
            raise PlatformError(
                f"the upload's finish answered {answer!r}", platform=self.name,
                account=channel.account, code="bad_response", response=response,
                maybe_applied=True, known={"video_id": video_id},
                hint=f"Look at the Page's videos for {video_id} before sending again.")
        yield Checkpoint("finished", {"video_id": video_id, "finished": True})
        receipt: Receipt = yield from self._settle(channel, opts, video_id)
        return receipt

    def _resumable(self, saved: dict[str, Any] | None, size: int,
                   channel: Channel) -> dict[str, Any] | None:
        """An earlier run's session of this very file (`SavedUpload.recall`), or ``None``."""
        if saved is None:
            return None
        start, end = _offset(saved.get("start_offset")), _offset(saved.get("end_offset"))
        ids = (text_or_none(saved.get("upload_session_id")), text_or_none(saved.get("video_id")))
        if None in ids or start is None or end is None or not start <= end <= size:
            return None
        logger.info("facebook [%s]: resuming upload of video %s at byte %s", channel.account,
                    ids[1], start)
        return {"upload_session_id": ids[0], "video_id": ids[1], "start_offset": start,
                "end_offset": end, "size": size}

    def _resume(self, source: Media, session: dict[str, Any], upload: SavedUpload,
                channel: Channel, opts: Options) -> Flow[dict[str, Any] | None]:
        """Go on with a saved session; ``None`` where Facebook refused it (upload afresh).

        The legacy upload has no call that reports a session's offset: the
        next transfer is sent where the last answer left it. That Facebook
        keeps an unfinished session for a later process is unverified, so a
        refusal starts the upload over.
        """
        try:
            yield from self._transfer(source, session, upload, channel, opts)
        except PlatformError as exc:
            if not refused(exc):
                raise
            logger.info("facebook [%s]: Facebook refused the saved upload of video %s (%s); "
                        "uploading again", channel.account, session["video_id"], exc.message)
            return None
        return session

    def _start(self, source: Media, size: int, upload: SavedUpload, channel: Channel,
               opts: Options) -> Flow[dict[str, Any]]:
        # Resent freely: a second session leaves an unfinished upload no reader sees.
        answer = yield from self.call(
            channel, "POST", self._videos(opts), safe=True, creates=False,
            data={"upload_phase": "start", "file_size": str(size)},
            expect=("upload_session_id", "video_id"))
        start, end = _offset(answer.get("start_offset")), _offset(answer.get("end_offset"))
        if start is None or end is None:
            raise PlatformError("the upload's start answered without start_offset/end_offset",
                                platform=self.name, account=channel.account, code="bad_response")
        session = {"upload_session_id": str(answer["upload_session_id"]),
                   "video_id": str(answer["video_id"]), "start_offset": start,
                   "end_offset": end, "size": size}
        yield upload.save("uploading", session)
        return session

    def _transfer(self, source: Media, session: dict[str, Any], upload: SavedUpload,
                  channel: Channel, opts: Options) -> Flow[None]:
        """Send what Facebook asks for, chunk by chunk from disk, until the offsets meet."""
        size = session["size"]
        while session["start_offset"] < session["end_offset"]:
            start, end = session["start_offset"], session["end_offset"]
            length = end - start
            if end > size or length > CHUNK_MAX_BYTES:
                raise PlatformError(
                    f"Facebook asked for bytes {start:,} to {end:,} of a {size:,}-byte video",
                    platform=self.name, account=channel.account, code="bad_response",
                    hint="Nothing was posted; run again (the upload starts over).")
            # The chunk goes straight from disk into the multipart body, in
            # memory once; the other fields ride in the query ("form, query or JSON").
            body, kind = multipart_part(source, start, length, field="video_file_chunk",
                                        mime_type="application/octet-stream")
            # Resent by itself when it fails: the same offset names the same bytes.
            response = yield self.request(
                channel, "POST", self._videos(opts), content=body,
                headers={"Content-Type": kind}, safe=True, creates=False,
                params={"upload_phase": "transfer",
                        "upload_session_id": session["upload_session_id"],
                        "start_offset": str(start)},
                deadline=60.0 + length / (128 * 1024))
            del body
            answer = self.answer(release(response), channel)
            nxt, last = _offset(answer.get("start_offset")), _offset(answer.get("end_offset"))
            if nxt is None or last is None or nxt <= start or not nxt <= last <= size:
                raise PlatformError(f"a transfer answered {answer!r}", platform=self.name,
                                    account=channel.account, code="bad_response",
                                    response=response)
            session["start_offset"], session["end_offset"] = nxt, last
            # Saved at once: a later run resumes this session from here.
            yield from upload.sent(source.filename, session, sent=nxt, total=size)
        if session["start_offset"] != size:
            raise PlatformError(
                f"Facebook ended the transfer at byte {session['start_offset']:,} of {size:,}",
                platform=self.name, account=channel.account, code="bad_response",
                hint="Nothing was posted; run again.")

    def _video_status(self, channel: Channel, opts: Options, video_id: str) -> Flow[dict[str, Any]]:
        answer = yield from self.call(channel, "GET", self._object(opts, video_id),
                                      params={"fields": "status"})
        return answer if isinstance(answer, dict) else {}

    def _settle(self, channel: Channel, opts: Options, video_id: str, *,
                recovered: bool = False) -> Flow[Receipt]:
        """Poll the video's ``status`` until it is encoded, failed, or ``poll_timeout`` passes."""
        answer, _ = yield from self.poll(
            lambda: self._video_status(channel, opts, video_id),
            lambda a: _video_state(a) in (VIDEO_READY, *VIDEO_FAILED),
            interval=opts.poll_interval, timeout=opts.poll_timeout)
        state = _video_state(answer)
        if state in VIDEO_FAILED:
            raise ContentRejected(
                f"Facebook could not encode video {video_id} ({state})", platform=self.name,
                account=channel.account, code="video_failed", maybe_applied=True,
                known={"video_id": video_id},
                hint="Look at the Page's videos in Meta Business Suite (delete the failed one), "
                     "check the file (an MP4 plays best), then settle this delivery "
                     "(govmedia runs resolve); a re-run does not send it again by itself.")
        raw = {"video_id": video_id, "status": answer.get("status"),
               **({"recovered": True} if recovered else {})}
        return Receipt(channel=channel, remote_id=video_id, url=_video_url(opts.page_id, video_id),
                       state="published" if state == VIDEO_READY else "pending", raw=raw)

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Settle a delivery an earlier run left in doubt; never create it a second time.

        - a post id is known (the create answered): its receipt;
        - a video's finish may have been sent: its ``status`` is read, and a
          video Facebook is encoding (or has) is waited for as `publish` does;
        - a feed post whose answer was lost: the Page's feed is read back to
          the first attempt for a post with this message; exactly one is ours.
          A scheduled one (its time travels with the claim) is looked for in
          ``/scheduled_posts`` too (and in the feed once its time is past).
          None, several, a post without text, or a share stay
          `DeliveryUnknown` (absence in the feed proves nothing for sure).
        """
        opts = self.opts(channel)
        data = dict(doubt.data)
        post_id = text_or_none(data.get("post_id"))
        when = int_or_none(data.get("scheduled_publish_time"))
        if post_id is not None and when is not None:
            return _scheduled(channel, post_id, when, {"id": post_id, "recovered": True})
        if post_id is not None:
            raw = {"id": post_id, "recovered": True}
            if data.get("share_of"):
                raw["share_of"] = data["share_of"]
            return Receipt(channel=channel, remote_id=post_id, url=post_url(post_id),
                           state="published", raw=raw)
        video_id = text_or_none(data.get("video_id"))
        if video_id is not None and (data.get("finishing") or data.get("finished")):
            answer = yield from self._video_status(channel, opts, video_id)
            if _video_state(answer) not in VIDEO_APPLIED and not data.get("finished"):
                raise DeliveryUnknown(
                    f"an earlier run may have sent the finish of video {video_id}, and Facebook "
                    f"reports its status as {answer.get('status')!r}: look at the Page's videos, "
                    "then settle this delivery (govmedia runs resolve; --failed sends it again)",
                    platform=self.name, account=channel.account, known=data)
            receipt: Receipt = yield from self._settle(channel, opts, video_id, recovered=True)
            return receipt
        if data.get("share_of"):
            raise DeliveryUnknown(
                f"an earlier run may have shared post {data['share_of']} and its answer was lost: "
                "look at the Page's feed, then settle this delivery (govmedia runs resolve)",
                platform=self.name, account=channel.account, known=data)
        message = message_of(post)
        if doubt.age is None or not message.strip() or any(m.kind == "video" for m in post.media):
            raise DeliveryUnknown(
                "an earlier run may have made this post and its answer was lost; without its text "
                "and the time of that run it cannot be looked up: look at the Page, then settle "
                "this delivery (govmedia runs resolve)",
                platform=self.name, account=channel.account, known=data)
        receipt = yield from self._lookup(channel, opts, message, doubt.age, data=data, when=when)
        return receipt

    def _lookup(self, channel: Channel, opts: Options, message: str, age: float, *,
                data: dict[str, Any], when: int | None) -> Flow[Receipt]:
        """The one post with *message* since the first attempt (*age* seconds ago), else unknown."""
        since = _now() - age - _LOOKUP_MARGIN
        matches: dict[str, dict[str, Any]] = {}
        if when is not None:
            # Not live before its time: in the Page's scheduled posts (Facebook
            # makes it live at its time, so the feed is read too once that passed).
            waiting = yield from self._by_message(channel, opts, message, since, data,
                                                  edge="scheduled_posts")
            matches.update((str(m["id"]), m) for m in waiting)
        if when is None or when <= _now() + _LOOKUP_MARGIN:
            live = yield from self._by_message(channel, opts, message, since, data)
            matches.update((str(m["id"]), m) for m in live if str(m["id"]) not in matches)
        where = "feed" if when is None else "feed and scheduled posts"
        if len(matches) != 1:
            what = "no post" if not matches else f"{len(matches)} posts"
            raise DeliveryUnknown(
                f"an earlier run may have made this post and its answer was lost; the Page's "
                f"{where} hold{'s' if when is None else ''} {what} with this text since then: "
                "look at the Page, then settle this delivery (govmedia runs resolve)",
                platform=self.name, account=channel.account, known=data)
        [(found, match)] = matches.items()
        if when is not None:
            yield Checkpoint("published", {"post_id": found, "scheduled_publish_time": when})
            return _scheduled(channel, found, when, {**match, "reconciled": True})
        yield Checkpoint("published", {"post_id": found})
        return Receipt(channel=channel, remote_id=found, url=post_url(found), state="published",
                       raw={**match, "reconciled": True})

    def _by_message(self, channel: Channel, opts: Options, message: str, since: float,
                    known: Mapping[str, Any], *,
                    edge: str = "feed") -> Flow[list[dict[str, Any]]]:
        """Feed posts with *message* made after *since*, newest first; raise where the feed runs out.

        ``GET /{page-id}/feed?fields=id,message,created_time`` pages back with
        ``paging.cursors.after`` (the answer's shape is not on the sheet: unverified).
        *edge* ``scheduled_posts`` reads the Page's scheduled posts the same
        way: the sheet names the edge, not its answer (unverified).
        """
        after: str | None = None
        matches: dict[str, dict[str, Any]] = {}
        for _ in range(FEED_PAGES):
            params: dict[str, Any] = {"fields": FEED_FIELDS, "limit": FEED_LIMIT}
            if after:
                params["after"] = after
            answer = yield from self.call(channel, "GET", self._page(channel, opts, edge),
                                          params=params)
            items = answer.get("data") if isinstance(answer, Mapping) else None
            if not isinstance(items, list):
                raise PlatformError(f"the Page's {edge} answered without a data list",
                                    platform=self.name,
                                    account=channel.account, code="bad_response")
            posts = [i for i in items if isinstance(i, dict) and text_or_none(i.get("id"))]
            for item in posts:
                stamp = _when(item.get("created_time"))
                if (stamp is None or stamp >= since) and same_text(item.get("message"), message):
                    matches[str(item["id"])] = item
            oldest = _when(posts[-1].get("created_time")) if posts else None
            paging = answer.get("paging")
            cursors = paging.get("cursors") if isinstance(paging, Mapping) else None
            after = text_or_none(cursors.get("after")) if isinstance(cursors, Mapping) else None
            if not posts or (oldest is not None and oldest < since) or after is None:
                return list(matches.values())
        raise DeliveryUnknown(
            f"the Page's {edge} was not read back far enough to find the post: look at the Page, "
            "then settle this delivery (govmedia runs resolve)",
            platform=self.name, account=channel.account, known=dict(known))

    # ----------------------------------------------------------- share, for amplify mode

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """A published post of another Page, with an address, on the same Graph API."""
        if original.channel.platform != self.name or channel.platform != self.name:
            return False
        if original.state != "published" or not original.url:
            return False
        if original.channel.options.get("page_id") == channel.options.get("page_id"):
            return False
        try:
            return self.base_url(original.channel) == self.base_url(channel)
        except ConfigError:
            return False

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """Share *original* on this Page: a feed post whose ``link`` is its address, sent once.

        ``link`` is on the fact sheet; that Facebook shows a post linking to
        another Page's post as a share of it is not (unverified).
        """
        if not self.can_repost(original, channel):
            raise ConfigError(f"channel {channel.id} cannot share {original.channel.id}'s post "
                              f"{original.remote_id}: publish a post with a link instead")
        opts = self.opts(channel)
        link = str(original.url)
        yield Checkpoint("sharing", {"share_of": original.remote_id})
        try:
            created = yield from self.call(channel, "POST", self._page(channel, opts, "feed"),
                                           data={"link": link}, creates=True, expect=("id",))
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                f"Facebook takes no idempotency key, so it was not resent: look at the Page's "
                f"feed for a share of {link}")) from exc
        post_id = str(created["id"])
        yield Checkpoint("published", {"post_id": post_id})
        return Receipt(channel=channel, remote_id=post_id, url=post_url(post_id), state="published",
                       raw={**created, "share_of": original.remote_id, "link": link})

    # ----------------------------------------------------------- delete, metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """``DELETE /{post-id}`` (or the video's id); gone already counts as done."""
        channel = receipt.channel
        opts = self.opts(channel)
        # Deleting twice finds nothing to delete (below): safe to resend.
        request = self.request(channel, "DELETE", self._object(opts, receipt.remote_id), safe=True)
        try:
            response = yield request
        except PlatformError as exc:
            if not _gone(exc):
                raise
            logger.info("facebook [%s] %s was gone already", channel.account, receipt.remote_id)
            return
        answer = self.answer(response, channel)
        if not isinstance(answer, Mapping) or answer.get("success") is not True:
            raise PlatformError(
                f"Facebook answered {answer!r} to the delete of {receipt.remote_id}",
                platform=self.name, account=channel.account, code="bad_response", response=response,
                hint="Look at the Page: the post may still be there.")

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Reactions (likes), comments and shares of the post; Facebook gives no views here.

        ``GET /{post-id}?fields=reactions.summary(total_count).limit(0),
        comments.summary(total_count).limit(0),shares``: not on the fact sheet
        (unverified). A count Facebook leaves out (``shares`` when nobody
        shared it, reportedly) is ``None``.
        """
        channel = receipt.channel
        opts = self.opts(channel)
        answer = yield from self.call(channel, "GET", self._object(opts, receipt.remote_id),
                                      params={"fields": METRIC_FIELDS})
        body = answer if isinstance(answer, dict) else {}
        return Metrics(views=None, likes=_summary(body.get("reactions")),
                       comments=_summary(body.get("comments")), shares=_shares(body.get("shares")),
                       raw=body)

    # ----------------------------------------------------------- errors

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """``(code, message)`` of a Graph API error, with its user message, subcode and trace id."""
        found = super().error_details(response)
        if found is None:
            return None
        code, message = found
        error = _error_of(response)
        extra = [text for text in (text_or_none(error.get("error_user_msg")),) if text and
                 text not in message]
        subcode = int_or_none(error.get("error_subcode"))
        if subcode is not None:
            extra.append(f"subcode {subcode}")
        trace = text_or_none(error.get("fbtrace_id"))
        if trace:
            extra.append(f"fbtrace_id {trace}")
        return code, f"{message} ({'; '.join(extra)})" if extra else message

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """As the table says; an auth subcode names why the token died; ``is_transient`` is transient."""
        error = super().classify(response, channel)
        if error is None:
            return None
        details = _error_of(response)
        if isinstance(error, AuthError):
            why = _SUBCODES.get(_subcode(error) or 0)
            if why:
                error = error.evolve(hint=f"{why} {_RENEW}")
        elif details.get("is_transient") is True and not isinstance(
                error, TransientError | RateLimited):
            # "anything with is_transient: true" is transient; whether the write
            # was applied the answer does not say.
            error = error.evolve(cls=TransientError, maybe_applied=True, hint=(
                "Facebook calls this error temporary: reads and uploads are retried; a post may "
                "have been made, so look at the Page before sending it again."))
        return error


def _scheduled(channel: Channel, post_id: str, when: int, raw: Mapping[str, Any]) -> Receipt:
    """The receipt of a post Facebook publishes at *when*: ``scheduled``, no address yet.

    Once *when* has passed it is ``published`` (a post Facebook should have
    made live by then), with its address.
    """
    body = {**raw, "scheduled_publish_time": when}
    if when <= _now():
        return Receipt(channel=channel, remote_id=post_id, url=post_url(post_id),
                       state="published", raw=body)
    return Receipt(channel=channel, remote_id=post_id, url=None, state="scheduled", raw=body)


def _video_state(answer: Any) -> str | None:
    """``status.video_status`` of a video (the field's shape is unverified)."""
    status = answer.get("status") if isinstance(answer, Mapping) else None
    state = status.get("video_status") if isinstance(status, Mapping) else None
    return state if isinstance(state, str) else None


def _summary(value: Any) -> int | None:
    """``{"summary": {"total_count": N}}`` (unverified shape) -> N."""
    summary = value.get("summary") if isinstance(value, Mapping) else None
    return count_or_none(summary.get("total_count")) if isinstance(summary, Mapping) else None


def _shares(value: Any) -> int | None:
    """``{"count": N}`` (unverified shape) -> N."""
    return count_or_none(value.get("count")) if isinstance(value, Mapping) else None
