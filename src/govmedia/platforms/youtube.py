"""YouTube Data API v3: one video per post, by the resumable upload protocol.

Facts: shared/platforms/youtube.md. One post becomes one video:

1. ``POST /upload/youtube/v3/videos?uploadType=resumable&part=snippet,status``
   (JSON: the video resource; headers ``X-Upload-Content-Length`` and
   ``X-Upload-Content-Type``) opens an upload session; its URI comes back in
   ``Location`` and is saved in the journal (``Checkpoint(save=True)``);
2. ``PUT <session URI>`` with ``Content-Range: bytes FIRST-LAST/TOTAL`` sends
   the file in chunks read from disk one at a time (multiples of 256 KiB but
   the last). Each chunk but the last is answered ``308 Resume Incomplete``
   with the ``Range`` the server holds; the next chunk starts after it. After
   a broken connection or a 5xx the server is asked what it holds
   (``Content-Range: bytes */TOTAL``) and the upload resumes from there; a
   later run resumes a saved session the same way (`Recall`);
3. the chunk with the file's last byte is answered ``200``/``201`` with the
   video resource: that request is the create (the point of no return);
4. ``POST /upload/youtube/v3/thumbnails/set?videoId=`` sets ``post.cover`` as
   the thumbnail;
5. ``GET /youtube/v3/videos?part=status,processingDetails&id=`` is polled
   until YouTube has processed the video, up to ``poll_timeout``:
   ``Receipt.state`` is ``pending`` until ``status.uploadStatus`` says
   ``processed``, then ``scheduled`` where the video is private with a
   ``status.publishAt`` (option ``publish_at``, or `YouTubePlatform.schedule`
   for ``fan_out(at=...)`` with ``native_schedule``), else ``published``.

YouTube takes no idempotency key and does not deduplicate: a second session,
or the same file sent again, is a second video. The session start creates
nothing readers see (resent freely); the last chunk is sent once, and a
timeout or a 5xx on it is `DeliveryUnknown`. A journal-backed re-run then
asks the saved session (`recover`): it answers with the video (the upload
completed: the video is finished, not uploaded again) or with the bytes it
holds (it did not: the upload resumes in the same session, which can make one
video at most).

Requests carry ``Authorization: Bearer`` with the OAuth 2.0 user token
(``access_token``, about an hour). A refused one is renewed at Google's token
endpoint with ``refresh_token``, ``client_id`` and ``client_secret``; Google
keeps the refresh token (it is not rotated).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import math
import re
from collections.abc import Generator, Mapping
from typing import Any, ClassVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import httpx

from govmedia._secrets import remember
from govmedia._sniff import HEAD_SIZE, sniff
from govmedia.content.counting import count_chars, count_utf8
from govmedia.content.media import media_size, read_bytes, verify_bytes
from govmedia.content.rules import LengthRule, Rule
from govmedia.errors import (
    ConfigError,
    ContentRejected,
    DeliveryUnknown,
    PlatformError,
    RateLimited,
    TransientError,
    ValidationError,
)
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt, ReceiptState
from govmedia.platforms.auth import StaticToken
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, positive_seconds, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    Recall,
    Uploaded,
    count_or_none,
    id_or_none,
    oauth2_token,
    release,
    text_or_none,
)
from govmedia.platforms.uploads import SavedUpload, media_bytes, refused
from govmedia.tokens import Token

__all__ = ["YouTubePlatform", "description", "publish_at", "tag_list"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/youtube.md"
DEFAULT_BASE_URL = "https://www.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - an address
WATCH_URL = "https://www.youtube.com/watch?v={}"
UPLOAD_PATH = "/upload/youtube/v3/videos"
VIDEOS_PATH = "/youtube/v3/videos"
THUMBNAIL_PATH = "/upload/youtube/v3/thumbnails/set"
MB = 1024 * 1024
CHUNK_UNIT = 256 * 1024               # chunks are multiples of 256 KiB but the last
PART_DEFAULT = 8 * MB                 # 32 units; a part in flight costs ~3x its size in RAM
PART_MAX = 64 * MB
VIDEO_MAX = 256 * 1024**3             # "File <= 256 GB"
TITLE_MAX = 100
DESCRIPTION_MAX = 5000                # bytes
TAGS_MAX = 500
# thumbnails.set's limits are YouTube's reference, not the fact sheet's (unverified).
THUMBNAIL_MAX = 2 * MB
THUMBNAIL_TYPES = ("image/jpeg", "image/png")
TOKEN_LIFETIME = 3600.0               # "access tokens last ~1 h"
TOKEN_MAX_LIFETIME = 24 * 3600.0      # a longer expires_in is garbage: the hour is assumed
ID_MAX = 64                           # a video id longer than this is garbage (they are 11)
PRIVACY = ("public", "unlisted", "private")
# After a broken chunk the server is asked where to go on; this many rounds in
# a row that move the upload no further (broken again, kept short) end it.
MAX_STALLS = 5
# uploadStatus values (YouTube's videos resource reference; the sheet names
# the field only: unverified). "uploaded" means still processing.
_FINAL_STATUS = frozenset({"processed", "failed", "rejected", "deleted"})
_PROCESSING_DONE = frozenset({"succeeded", "failed", "terminated"})
_RANGE = re.compile(r"bytes=0-(\d{1,20})")
_GONE = (404, 410)                    # an upload session that no longer exists (410: GCS's word, unverified)
_PACIFIC = "America/Los_Angeles"      # the quota resets at midnight Pacific Time
# Journal keys (`SavedUpload`): the resumable session while it is open, then
# the file the video was made from, each bound to the file's media_fingerprint.
UPLOAD_SLOT = "upload"
MADE_SLOT = "made_from"


# --------------------------------------------------------------------------- what is sent


def description(post: Post) -> str:
    """``snippet.description`` for *post*: its text (else its summary), then its link.

    The link is added on its own line unless the text has it already.

    Example:
        >>> import govmedia as gm
        >>> print(description(gm.Post(title="中老铁路", text="开通一周年", link="https://example.org/a/1")))
        开通一周年
        <BLANKLINE>
        https://example.org/a/1
    """
    text = post.text if post.text is not None else (post.summary or "")
    text = text.strip()
    if post.link and post.link not in text:
        text = f"{text}\n\n{post.link}" if text else post.link
    return text


def tag_list(tags: tuple[str, ...]) -> str:
    """The tags as YouTube counts them toward 500: comma-separated, a tag with a space quoted.

    How YouTube counts is its own reference's, not the fact sheet's (which
    says "<=500 chars total"): unverified. Quoting and commas only add, so
    this never lets an over-long list through.

    Example:
        >>> tag_list(("一带一路看国企", "Belt and Road"))
        '一带一路看国企,"Belt and Road"'
    """
    return ",".join(f'"{t}"' if " " in t else t for t in tags)


def _title(post: Post) -> str:
    return (post.title or "").strip()


def _video(post: Post) -> Media | None:
    """The post's video: its first media, where that is a video (or a plain file)."""
    if not post.media:
        return None
    first = post.media[0]
    return first if first.kind in ("video", "file") else None


def _made(upload: SavedUpload, video_id: str, size: int) -> dict[str, Any]:
    """What a made video leaves in the journal: its id, the spent session dropped, its file.

    The file (``made_from``, its `media_fingerprint` and size) lets a later
    run of the delivery with this very file finish that video instead of
    uploading the file again (`SavedUpload.recall`); another file, or this
    one changed since, is uploaded afresh.
    """
    made_from = SavedUpload(MADE_SLOT, upload.source).save("created", {"size": size})
    return {"video_id": video_id, **upload.forget("created").data, **made_from.data}


def _whole_units(value: Any) -> str | None:
    return None if value % CHUNK_UNIT == 0 else "a multiple of 262,144 (256 KiB)"


def _digits(value: Any) -> str | None:
    return None if value.isascii() and value.isdigit() else "a category id: digits, such as '25'"


def _publish_time(value: Any) -> dt.datetime | None:
    """*value* (ISO 8601 with its zone) as an aware time, or ``None`` where it is not one."""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _when(value: Any) -> str | None:
    if _publish_time(value) is None:
        return "an ISO 8601 time with its zone, like '2026-12-07T07:00:00Z' or '...+08:00'"
    return None


def publish_at(when: dt.datetime) -> str:
    """``status.publishAt`` for *when*: ISO 8601 in UTC with ``Z``, to the next whole second.

    Rounded up, never down: a video is never published before its time.

    Example:
        >>> import datetime as dt
        >>> publish_at(dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))))
        '2026-12-07T07:00:00Z'
        >>> publish_at(dt.datetime(2026, 12, 7, 6, 59, 59, 250_000, tzinfo=dt.UTC))
        '2026-12-07T07:00:00Z'
    """
    if when.microsecond:
        when += dt.timedelta(microseconds=1_000_000 - when.microsecond)
    return when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _until_pacific_midnight(now: dt.datetime | None = None) -> float | None:
    """Seconds until the next midnight in Pacific Time, when YouTube's daily quota resets."""
    try:
        zone = ZoneInfo(_PACIFIC)
    except ZoneInfoNotFoundError:  # no time zone data on this machine
        return None
    here = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    midnight = dt.datetime.combine(here.date() + dt.timedelta(days=1), dt.time(), zone)
    return max(1.0, (midnight - here).total_seconds())


# --------------------------------------------------------------------------- errors

_REAUTHORISE = ("Google refused the refresh token (revoked, expired, or the app's OAuth consent "
                "screen is in testing): authorise the account again in the browser (offline "
                "access, scope youtube.upload) and put the new tokens in its credentials.")
_CLIENT = ("Google refused the app's client credentials: check the channel's client_id and "
           "client_secret (the OAuth client of the Cloud project that issued the tokens).")
_FORBIDDEN = ("YouTube forbids this for the account or the app: check that the token has the "
              "scope youtube.upload (or youtube) and that the video belongs to the account.")

ERRORS = ErrorTable(
    {
        "authError": Code.auth("YouTube refused the access token (they last about an hour). With "
                               "refresh_token, client_id and client_secret in the channel govmedia "
                               "renews it once; without them, authorise the account again."),
        401: Code.auth("YouTube refused the access token; with refresh_token, client_id and "
                       "client_secret govmedia renews it once."),
        "youtubeSignupRequired": Code.permanent(
            "The Google account has no YouTube channel: create one (youtube.com, 'Create a "
            "channel'), then publish again."),
        "quotaExceeded": Code.quota(
            "The Cloud project's daily YouTube quota is spent (every request costs units, "
            "videos.insert has a daily allowance of its own). It resets at midnight Pacific Time: "
            "run again after that, or ask Google for more quota."),
        "uploadLimitExceeded": Code.quota(
            "The channel has uploaded as many videos as YouTube allows it per day (the number is "
            "not published): run again tomorrow."),
        "rateLimitExceeded": Code.rate_limited("YouTube asks to slow down; govmedia backs off."),
        "userRateLimitExceeded": Code.rate_limited("YouTube asks to slow down for this user; "
                                                   "govmedia backs off."),
        429: Code.rate_limited("YouTube asks to slow down; govmedia backs off."),
        "forbidden": Code.permanent(_FORBIDDEN),
        403: Code.permanent(_FORBIDDEN),
        "insufficientPermissions": Code.permanent(
            "The token lacks the scope to upload: authorise the account again with the scope "
            "https://www.googleapis.com/auth/youtube.upload (or youtube)."),
        "authenticatedUserAccountClosed": Code.permanent("The YouTube account is closed."),
        "authenticatedUserAccountSuspended": Code.permanent("The YouTube account is suspended."),
        "videoNotFound": Code.permanent("YouTube does not know this video (deleted already?)."),
        404: Code.permanent("YouTube does not know this video or upload session (deleted or "
                            "expired?)."),
        "invalidTitle": Code.rejected("YouTube refused the title.", rule="youtube.title.max_length"),
        "invalidDescription": Code.rejected("YouTube refused the description.",
                                            rule="youtube.text.max_bytes"),
        "invalidTags": Code.rejected("YouTube refused the tags.", rule="youtube.tags.max_length"),
        "invalidCategoryId": Code.rejected(
            "YouTube does not take this category id: check the channel option category_id.",
            unforeseeable="which category ids exist depends on the region (videoCategories.list, "
                          "not on the fact sheet)"),
        "invalidPublishAt": Code.rejected(
            "YouTube refused the publish time (option publish_at, or the run's at= with "
            "native_schedule): give a later time.",
            unforeseeable="check refuses a time already past; one that passes before the upload "
                          "starts, or a limit YouTube keeps (none on the fact sheet), it cannot "
                          "foresee"),
        "invalidVideoMetadata": Code.rejected(
            "YouTube refused the video's metadata.",
            unforeseeable="YouTube's catch-all for metadata it refuses, without saying which"),
        "mediaBodyRequired": Code.rejected(
            "YouTube got no video bytes.",
            unforeseeable="the upload carried no video: a govmedia bug if seen"),
        400: Code.rejected("YouTube refused the request.",
                           unforeseeable="a malformed request: a govmedia bug if seen"),
        # The token endpoint answers OAuth errors (RFC 6749 5.2): each is an auth failure.
        "invalid_grant": Code.auth(_REAUTHORISE),
        "invalid_request": Code.auth(_REAUTHORISE),
        "invalid_scope": Code.auth(_REAUTHORISE),
        "invalid_client": Code.auth(_CLIENT),
        "unauthorized_client": Code.auth(_CLIENT),
        "unsupported_grant_type": Code.auth(_CLIENT),
        "backendError": Code.transient(),
        500: Code.transient(), 502: Code.transient(), 503: Code.transient(), 504: Code.transient(),
    },
)


def _error_of(body: Any) -> tuple[str | None, str | None]:
    """``(reason, message)`` of a Google error body, or of an OAuth token error.

    ``{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}``:
    the reason of the first entry (sheet: "branch on errors[0].reason");
    ``{"error": "invalid_grant", "error_description": ...}`` from the token endpoint.
    """
    if not isinstance(body, Mapping):
        return None, None
    error = body.get("error")
    if isinstance(error, str) and error:
        return error, text_or_none(body.get("error_description")) or error
    if not isinstance(error, Mapping):
        return None, None
    message = text_or_none(error.get("message"))
    listed = error.get("errors")
    first = listed[0] if isinstance(listed, list) and listed else None
    reason = text_or_none(first.get("reason")) if isinstance(first, Mapping) else None
    if message is None and isinstance(first, Mapping):
        message = text_or_none(first.get("message"))
    return reason, message


# --------------------------------------------------------------------------- rules

RULES: tuple[Rule, ...] = (
    Rule(id="youtube.title.required", field="title", code="empty",
         summary="a video needs a title", source=f"{SHEET}: snippet.title (required)",
         remediation="Give the post a title, or a youtube variant with one."),
    LengthRule(id="youtube.title.max_length", field="title", limit=TITLE_MAX, counter=count_chars,
               unit="characters", source=f"{SHEET}: snippet.title"),
    Rule(id="youtube.title.no_angle_brackets", field="title", code="bad_text",
         summary="no < or > in the title", source=f"{SHEET}: snippet.title (no </>)",
         remediation="Remove < and > from the title (write 《》 or quotes instead)."),
    LengthRule(id="youtube.text.max_bytes", field="text", limit=DESCRIPTION_MAX, counter=count_utf8,
               unit="UTF-8 bytes", source=f"{SHEET}: snippet.description"),
    # Not on the fact sheet (YouTube's videos resource reference): unverified.
    Rule(id="youtube.text.no_angle_brackets", field="text", code="bad_text",
         summary="no < or > in the description",
         source="YouTube videos resource reference, snippet.description (unverified; not on "
                "the fact sheet)",
         remediation="Remove < and > from the text (write 《》 or quotes instead)."),
    LengthRule(id="youtube.tags.max_length", field="tags", limit=TAGS_MAX, counter=count_chars,
               unit="characters (comma-separated, a tag with a space quoted)",
               source=f"{SHEET}: snippet.tags[] (<=500 chars total; how they are counted: "
                      "unverified)",
               remediation="Use fewer or shorter tags, or give youtube a variant with fewer."),
    Rule(id="youtube.media.required", field="media", code="bad_media",
         summary="a post is one video", source=f"{SHEET}: videos.insert",
         remediation="Attach the video as the post's first media (or a youtube variant with it)."),
    Rule(id="youtube.media.single", field="media", code="bad_media",
         summary="one video and nothing else", source=f"{SHEET}: videos.insert (one file)",
         remediation="Attach only the video; put a picture in cover (the thumbnail)."),
    Rule(id="youtube.media.kind", field="media", code="bad_media",
         summary="video/* or application/octet-stream holding a video",
         source=f"{SHEET}: Content limits (MIME video/* or application/octet-stream)",
         remediation="Attach a video file (MP4, MOV, WebM, ...)."),
    Rule(id="youtube.media.max_size", field="media", code="bad_media",
         summary="a video of at most 256 GB", source=f"{SHEET}: Content limits (File <=256 GB)",
         remediation="Compress or cut the video."),
    Rule(id="youtube.cover.kind", field="cover", code="bad_media",
         summary="a JPEG or PNG thumbnail",
         source="YouTube thumbnails.set reference (unverified; the fact sheet names the call only)",
         remediation="Give a JPEG or PNG cover."),
    Rule(id="youtube.cover.max_size", field="cover", code="bad_media",
         summary="a thumbnail of at most 2 MB",
         source="YouTube thumbnails.set reference (unverified; the fact sheet names the call only)",
         remediation="Give a smaller cover (1280x720 JPEG is what YouTube recommends)."),
    Rule(id="youtube.publish_at.future", field="publish_at", code="bad_schedule",
         summary="a publish time still ahead",
         source=f"{SHEET}: status.publishAt (a time in the past is invalidPublishAt)",
         remediation="Give the channel option publish_at a later time, or remove it to publish "
                     "now."),
)


# --------------------------------------------------------------------------- platform


class YouTubePlatform(BasePlatform):
    r"""Upload a video to a YouTube channel with the Data API v3: title, description, tags, thumbnail.

    Credentials: ``access_token`` (OAuth 2.0 user token with the scope
    ``youtube.upload``), and to renew it ``refresh_token``, ``client_id`` and
    ``client_secret``. Options: ``privacy_status`` (``private`` by default,
    ``unlisted`` or ``public``), ``category_id``, ``made_for_kids``,
    ``notify_subscribers`` (default true), ``part_size`` (bytes per chunk, a
    multiple of 256 KiB, default 8 MiB), ``poll_timeout`` (seconds to wait
    for processing, default 120) and ``poll_interval`` (default 5),
    ``publish_at`` (ISO 8601 with its zone: YouTube keeps the private video
    until then, then publishes it; only with ``privacy_status`` private),
    ``base_url`` and ``token_url`` (Google's; the sandbox sets its own).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="youtube", account="@sasac", credentials={"access_token": "ya29.tok"})
        >>> video = gm.Media.from_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64), filename="a.mp4")
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(title="国" * 101, media=(video,)), ch)]
        [('too_long', 'youtube.title.max_length')]
    """

    name: ClassVar[str] = "youtube"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)
    optional_credential_keys: ClassVar[tuple[str, ...]] = ("client_id", "client_secret",
                                                           "refresh_token")
    options: ClassVar[Mapping[str, Option]] = {
        "privacy_status": Option(str, default="private", choices=PRIVACY,
                                 doc="who may watch: private (default), unlisted or public"),
        "category_id": Option(str, check=_digits, doc="snippet.categoryId; unset: YouTube's default"),
        "made_for_kids": Option(bool, doc="status.selfDeclaredMadeForKids; unset: not declared"),
        "notify_subscribers": Option(bool, default=True,
                                     doc="false: notifySubscribers=false (no notification)"),
        "part_size": Option(int, default=PART_DEFAULT, minimum=CHUNK_UNIT, maximum=PART_MAX,
                            coerce=True, check=_whole_units,
                            doc="bytes per upload chunk, a multiple of 256 KiB"),
        "poll_timeout": Option(float, default=120.0, minimum=0.0, coerce=True,
                               doc="seconds to wait for YouTube to process the video"),
        "poll_interval": Option(float, default=5.0, coerce=True, check=positive_seconds,
                                doc="seconds between processing polls"),
        # status.publishAt, "only with private -> scheduled" (sheet). Set by
        # `schedule` too (fan_out(at=...) with the option native_schedule).
        "publish_at": Option(str, check=_when,
                             doc="ISO 8601 time, with its zone, when YouTube publishes the video "
                                 "(status.publishAt); needs privacy_status private"),
        "base_url": Option(str, default=DEFAULT_BASE_URL, check=url_check(),
                           doc="the API's address (uploads too; the sandbox's, in tests)"),
        "token_url": Option(str, default=TOKEN_URL, check=url_check(),
                            doc="Google's OAuth 2.0 token endpoint (the sandbox's, in tests)"),
    }
    auth = StaticToken("access_token", refresh=True)
    api_base: ClassVar[str] = DEFAULT_BASE_URL
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, repost=False, dedupe=False, reconcile=False,
        media_max=1, media_kinds=("video",),
        counting=("title: characters (code points), at most 100, no < or >; description: UTF-8 "
                  "bytes, at most 5,000; tags: at most 500 characters counted with their commas "
                  "(a tag with a space quoted)"),
        fields=("title", "text", "summary", "link", "tags", "media", "cover"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "none"  # tags go in snippet.tags, not in the text
    # No default_rate_limits: YouTube's quota is per Cloud project per day
    # (10,000 units, 100 videos.insert), not per account, and is answered with
    # quotaExceeded, which is raised at once.
    fake: ClassVar[str] = "govmedia.testing.youtube:FakeYouTube"

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """The declared keys; renewing takes three keys; ``publish_at`` only with a private video."""
        super().check_channel(channel)
        opts = self.opts(channel)
        if opts.publish_at is not None and opts.privacy_status != "private":
            # Sent anyway, YouTube refuses it (invalidPublishAt) or, as some
            # report, ignores publishAt and makes the video public at once.
            raise ConfigError(
                f"channel {channel.id}: option publish_at needs privacy_status 'private' (YouTube "
                "schedules only a private video, which it publishes at that time); it is "
                f"'{opts.privacy_status}': remove privacy_status, or remove publish_at to upload "
                "it now")
        credentials = channel.credentials
        given = [k for k in ("refresh_token", "client_id", "client_secret") if credentials.get(k)]
        if given and len(given) < 3:
            missing = [k for k in ("refresh_token", "client_id", "client_secret") if k not in given]
            raise ConfigError(
                f"channel {channel.id}: renewing YouTube tokens takes refresh_token, client_id and "
                f"client_secret together; missing {', '.join(missing)}")

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Title, description and tags as YouTube counts them; one video; the cover."""
        problems: list[Problem] = []
        title = _title(post)
        if not title:
            problems.append(self.rule("youtube.title.required").problem(
                "the post has no title; YouTube requires one"))
        problems.extend(self.check_lengths(title, "title"))
        if "<" in title or ">" in title:
            problems.append(self.rule("youtube.title.no_angle_brackets").problem(
                "the title contains < or >, which YouTube refuses"))
        text = description(post)
        problems.extend(self.check_lengths(text, "text"))
        if "<" in text or ">" in text:
            problems.append(self.rule("youtube.text.no_angle_brackets").problem(
                "the description contains < or >, which YouTube refuses (unverified)"))
        problems.extend(self.check_lengths(tag_list(post.tags), "tags"))
        problems.extend(self._media_problems(post))
        when = _publish_time(self.opts(channel).publish_at)
        if when is not None and when <= dt.datetime.now(dt.UTC):
            problems.append(self.rule("youtube.publish_at.future").problem(
                f"channel {channel.id}: option publish_at ({publish_at(when)}) is not in the "
                "future; YouTube schedules a video only for a later time"))
        return problems

    def schedule(self, channel: Channel, at: dt.datetime) -> Channel:
        """*channel* set to have YouTube publish the video at *at*: private, with ``publishAt``.

        YouTube schedules only a private video, which it makes public at that
        time (the sheet: ``publishAt`` only with ``private``; that it becomes
        public is YouTube's reference: unverified). So only a channel whose
        ``privacy_status`` is ``public`` is scheduled natively: it is sent
        private with the time. Any other would become public at that time,
        which the channel did not ask for: `ConfigError` (the run is refused
        when it is submitted).

        Example:
            >>> import datetime as dt, govmedia as gm
            >>> ch = gm.Channel(platform="youtube", account="@sasac", options={"privacy_status": "public"},
            ...                 credentials={"access_token": "ya29.tok"})
            >>> at = dt.datetime(2026, 12, 7, 7, 0, tzinfo=dt.UTC)
            >>> dict(YouTubePlatform().schedule(ch, at).options)
            {'privacy_status': 'private', 'publish_at': '2026-12-07T07:00:00Z'}
        """
        privacy = self.opts(channel).privacy_status
        if privacy != "public":
            raise ConfigError(
                f"channel {channel.id}: native_schedule has YouTube publish the video publicly at "
                f"the run's time (it schedules only a private video, and makes it public then), "
                f"but the channel's privacy_status is '{privacy}': set privacy_status 'public', "
                "or remove native_schedule (the run waits in the journal and uploads the video "
                f"{privacy} at that time)")
        return attrs.evolve(channel, options={**channel.options, "privacy_status": "private",
                                              "publish_at": publish_at(at)})

    def _media_problems(self, post: Post) -> list[Problem]:
        problems = []
        if not post.media:
            problems.append(self.rule("youtube.media.required").problem(
                "the post has no video; a YouTube post is one video"))
        elif len(post.media) > 1:
            problems.append(self.rule("youtube.media.single").problem(
                f"the post has {len(post.media)} media; YouTube takes one video"))
        video = post.media[0] if post.media else None
        if video is not None:
            problem = self._kind_problem(video)
            if problem is not None:
                problems.append(problem)
            size = media_size(video)
            if size is not None and size > VIDEO_MAX:
                problems.append(self.rule("youtube.media.max_size").problem(
                    f"media 1 ({video.filename}) is {size:,} bytes; YouTube takes up to 256 GB"))
        cover = post.cover
        if cover is not None:
            if cover.mime_type.lower() not in THUMBNAIL_TYPES:
                problems.append(self.rule("youtube.cover.kind").problem(
                    f"cover ({cover.filename}) is {cover.mime_type}; the thumbnail is a JPEG or PNG"))
            size = media_size(cover)
            if size is not None and size > THUMBNAIL_MAX:
                problems.append(self.rule("youtube.cover.max_size").problem(
                    f"cover ({cover.filename}) is {size:,} bytes; a thumbnail is at most 2 MB"))
        return problems

    def _kind_problem(self, video: Media) -> Problem | None:
        where = f"media 1 ({video.filename})"
        if video.kind == "video":
            return None  # its bytes are judged by the generic media check
        if video.kind == "file" and video.url is None:
            try:
                head = read_bytes(video, limit=HEAD_SIZE)[:HEAD_SIZE]
            except ConfigError:
                return None  # unreadable: the generic check names it
            found = sniff(head)
            if found is not None and found.fits("video"):
                return None
        elif video.kind == "file":
            return None  # a download is judged by its bytes when fetched
        return self.rule("youtube.media.kind").problem(
            f"{where} is {video.mime_type}; YouTube takes a video")

    # ----------------------------------------------------------- publish

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the video in a resumable session, then set the thumbnail and wait for processing.

        *key* is not sent: YouTube takes no idempotency key.
        """
        opts = self.opts(channel)
        video = _video(post)
        if video is None:
            raise ValidationError([self.rule("youtube.media.required").problem(
                "the post has no video; a YouTube post is one video")],
                platform=self.name, account=channel.account)
        saved: Any = yield Recall()  # {} on a first run
        source = video
        if video.url is not None:
            data = yield from self.fetch(video, channel)
            source = Media.from_bytes(data, filename=video.filename, mime_type=video.mime_type)
        size = media_size(source) or 0
        upload = SavedUpload.of(source, UPLOAD_SLOT)
        made = SavedUpload(MADE_SLOT, upload.source).recall(saved, size=size)
        earlier = id_or_none(saved.get("video_id"), most=ID_MAX) if made is not None else None
        if earlier is not None:
            # An earlier run made the video from this very file (its upload
            # completed, then something failed): finish that video, never a second.
            receipt: Receipt = yield from self._finish(post, channel, opts, earlier, None,
                                                       thumbnail=saved.get("thumbnail"))
            return receipt
        mime = self._upload_type(source, channel)
        resource = yield from self._upload(post, source, mime, channel, upload=upload, size=size,
                                           opts=opts, saved=saved)
        video_id = str(resource["id"])
        # The session is spent: a later run must not resume it.
        yield Checkpoint("created", _made(upload, video_id, size), save=True)
        receipt = yield from self._finish(post, channel, opts, video_id, resource, thumbnail=None)
        return receipt

    def _upload_type(self, source: Media, channel: Channel) -> str:
        """The MIME type to declare, from the file's first bytes (`verify_bytes`)."""
        head = read_bytes(source, limit=HEAD_SIZE)[:HEAD_SIZE]
        found = verify_bytes(source, head, platform=self.name, account=channel.account,
                             where=f"media 1 ({source.filename})")
        if found is None or not found.fits("video"):
            raise ValidationError([self.rule("youtube.media.kind").problem(
                f"media 1 ({source.filename}) is not a video format govmedia recognises")],
                platform=self.name, account=channel.account)
        return found.mime_type

    # ----------------------------------------------------------- the resumable upload

    def _upload(self, post: Post, source: Media, mime: str, channel: Channel, *,
                upload: SavedUpload, size: int, opts: Options, saved: Any) -> Flow[dict[str, Any]]:
        """The video resource YouTube answers once the last byte is in."""
        if not size:
            raise ValidationError([self.rule("youtube.media.required").problem(
                f"media 1 ({source.filename}) is empty or unreadable")],
                platform=self.name, account=channel.account)
        state: dict[str, Any] | None = None
        found = yield from self._resumable(upload.recall(saved, size=size), size, source.filename,
                                           channel)
        if isinstance(found, dict) and "id" in found:
            # The earlier session completed after all (its last answer was lost
            # before anything was recorded): that upload is the video.
            return found
        if found is not None:
            state = found
        restarts = 1  # a session that vanished mid-upload is started afresh once per run
        while True:
            if state is None:
                url = yield from self._start(post, size, mime, channel, opts)
                state = {"url": url, "sent": 0, "size": size}
                yield upload.save("uploading", state)
            try:
                resource: dict[str, Any] = yield from self._transfer(source, state, mime, channel,
                                                                     opts, upload=upload)
            except PlatformError as exc:
                if exc.code not in _GONE or restarts == 0:
                    raise
                restarts -= 1
                logger.info("youtube [%s]: the upload session of %s is gone (%s); starting a new one",
                            channel.account, source.filename, exc.code)
                state = None
                continue
            return resource

    def _start(self, post: Post, size: int, mime: str, channel: Channel,
               opts: Options) -> Flow[str]:
        """Open an upload session (step 1): its URI, from ``Location``."""
        snippet: dict[str, Any] = {"title": _title(post), "description": description(post)}
        if post.tags:
            snippet["tags"] = list(post.tags)
        if opts.category_id:
            snippet["categoryId"] = opts.category_id
        status: dict[str, Any] = {"privacyStatus": opts.privacy_status}
        when = _publish_time(opts.publish_at)
        if when is not None:  # check_channel: only with private
            status["publishAt"] = publish_at(when)
        if opts.made_for_kids is not None:
            status["selfDeclaredMadeForKids"] = opts.made_for_kids
        params = {"uploadType": "resumable", "part": "snippet,status"}
        if not opts.notify_subscribers:
            params["notifySubscribers"] = "false"
        # A resent start at worst opens a second session nobody uses: invisible to readers.
        request = self.request(
            channel, "POST", UPLOAD_PATH, params=params, safe=True, creates=False,
            json={"snippet": snippet, "status": status},
            headers={"Content-Type": "application/json; charset=UTF-8",
                     "X-Upload-Content-Length": str(size), "X-Upload-Content-Type": mime})
        response = yield request
        url = str(response.headers.get("location") or "")
        if not self._own(url, channel):
            raise PlatformError(
                f"YouTube's answer to the upload start gave no usable session URI ({url[:80]!r})",
                platform=self.name, account=channel.account, code="bad_response", response=response,
                hint="Nothing was uploaded. Publish again; if it persists, report it.")
        return url

    def _own(self, url: Any, channel: Channel) -> bool:
        """True for a session URI on the API's own origin (never send the video or token elsewhere).

        Its ``upload_id`` is masked in every log line and message from then
        on: whoever holds a session URI may be able to finish the upload with
        bytes of their own (Google says so of its resumable uploads). The
        journal keeps it, to resume.
        """
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            return False
        try:
            own = self.carries_credentials(httpx.Request("PUT", url), channel)
            upload_id = httpx.URL(url).params.get("upload_id")
        except (httpx.InvalidURL, ValueError):
            return False
        if own:
            remember(upload_id or url)
        return own

    def _transfer(self, source: Media, state: dict[str, Any], mime: str, channel: Channel,
                  opts: Options, *, upload: SavedUpload) -> Flow[dict[str, Any]]:
        """Send the file from the byte the server holds; the video resource at the end (steps 2-4).

        A chunk that broke is not resent blindly: the session is asked what it
        holds and the upload goes on from there. A round that moves the upload
        no further (a chunk broken again, a server that keeps nothing) is a
        stall: `BasePlatform.poll` waits ``poll_interval`` after the first, and
        twice as long after each next one in a row; `MAX_STALLS` in a row end
        the upload.
        """
        stalls = 0
        short: tuple[str, Any] | None = None  # how the last round stopped before the last byte

        def rounds() -> Flow[tuple[str, Any]]:
            """Rounds of chunks until the video (``("done", video)``) or a stall."""
            nonlocal stalls, short
            while True:
                if short is not None:
                    video = yield from self._go_on(source, state, short, channel, upload=upload)
                    short = None
                    if video is not None:
                        return "done", video
                start = state["sent"]
                kind, value = yield from self._send_chunks(source, state, mime, channel, opts,
                                                           upload=upload)
                if kind == "done":
                    return kind, value
                short = kind, value
                if (state["sent"] if kind == "broken" else value) > start:
                    stalls = 0  # it moved: on at once
                    continue
                stalls += 1
                return short

        (kind, value), _ = yield from self.poll(
            rounds, lambda result: result[0] == "done" or stalls >= MAX_STALLS, interval=opts.poll_interval,
            timeout=math.inf, wait=lambda _: opts.poll_interval * 2 ** (stalls - 1))
        if kind == "done":
            return cast("dict[str, Any]", value)
        # Not the last chunk: nothing can exist, whatever the last error said.
        why = f"broke (last: {value.message})" if kind == "broken" else "was kept short"
        raise TransientError(
            f"the upload of {source.filename} moved no further than byte "
            f"{state['sent']:,} of {state['size']:,} in {stalls} rounds in a row: the chunk {why}",
            platform=self.name, account=channel.account,
            code=value.code if kind == "broken" else "stalled", maybe_applied=False,
            hint="Nothing was created. Run again: the upload resumes where YouTube's session "
                 "stands.")

    def _go_on(self, source: Media, state: dict[str, Any], short: tuple[str, Any], channel: Channel,
               *, upload: SavedUpload) -> Flow[dict[str, Any] | None]:
        """After a round that stopped before the last byte: on from the byte the session holds.

        The video resource where the session turns out complete, else ``None``.
        """
        kind, value = short
        size = state["size"]
        if kind == "broken":
            # Asked, not resent: the chunk may be partly in (steps 3 and 4).
            logger.info("youtube [%s] %s: the chunk at byte %d broke (%s); asking the session "
                        "what it holds", channel.account, source.filename, state["sent"], value.code)
            value, video = yield from self._ask(state["url"], size, channel)
            if video is not None:
                yield Uploaded(source.filename, sent=size, total=size)
                return video
        state["sent"] = value
        yield from upload.sent(source.filename, state, sent=value, total=size)
        return None

    def _send_chunks(self, source: Media, state: dict[str, Any], mime: str, channel: Channel,
                     opts: Options, *, upload: SavedUpload) -> Flow[tuple[str, Any]]:
        """Chunks from ``state["sent"]`` on, while the server takes each whole.

        ``("done", video)`` after the last; ``("held", n)`` where the server
        kept less than was sent; ``("broken", error)`` where a chunk (not the
        last) broke.
        """
        url, size = state["url"], state["size"]
        with contextlib.closing(self._chunks(source, opts.part_size, state["sent"])) as chunks:
            for offset, chunk in chunks:
                end = offset + len(chunk)
                if len(chunk) != min(opts.part_size, size - offset):
                    raise self._changed(source, channel)
                final = end == size
                request = self.request(
                    channel, "PUT", url, content=chunk, creates=final, deadline=_deadline(len(chunk)),
                    headers={"Content-Type": mime, "Content-Range": f"bytes {offset}-{end - 1}/{size}"})
                del chunk
                try:
                    # release: the chunk is freed now, not at the next full garbage
                    # collection (a user's httpx client holds it in a cycle).
                    response = release((yield request))
                except DeliveryUnknown as exc:
                    if not final:
                        return "broken", exc
                    # The last byte may be in: the video may exist. Sent once
                    # (YouTube does not deduplicate); a re-run asks the session.
                    raise exc.evolve(note=(
                        "YouTube may have made the video, so it was not sent again: a "
                        "journal-backed re-run asks the upload session and finishes the video "
                        "or the upload")) from exc
                except TransientError as exc:
                    if final:
                        raise  # it never reached YouTube (the pipeline retried): nothing was made
                    return "broken", exc
                held, video = self._answer(response, size, channel, final=final)
                if video is not None:
                    yield Uploaded(source.filename, sent=size, total=size)
                    return "done", video
                if held > end:
                    raise PlatformError(
                        f"YouTube acknowledged {held:,} bytes after a chunk ending at {end:,}",
                        platform=self.name, account=channel.account, code="bad_response",
                        response=response, maybe_applied=final)
                if held != end:
                    return "held", held  # the server kept less than was sent: go on from there
                state["sent"] = held
                yield from upload.sent(source.filename, state, sent=held, total=size)
        raise self._changed(source, channel)  # the file ended early

    def _chunks(self, source: Media, part: int, start: int) -> Generator[tuple[int, bytes], None, None]:
        """``(offset, bytes)`` of each chunk from *start*, read from disk one at a time."""
        for _, offset, chunk in self.read_parts(source, part, start=start):
            yield offset, chunk

    def _changed(self, source: Media, channel: Channel) -> ValidationError:
        return ValidationError([Problem(
            code="bad_media", field="media",
            message=f"media 1 ({source.filename}) changed while it was uploaded (its size "
                    "differs from when the upload began)")],
            platform=self.name, account=channel.account)

    def _ask(self, url: str, size: int, channel: Channel) -> Flow[tuple[int, dict[str, Any] | None]]:
        """What the session holds (step 3): ``(bytes held, None)``, or ``(size, video)`` when complete."""
        # Asking changes nothing: resent freely.
        request = self.request(channel, "PUT", url, content=b"", safe=True, creates=False,
                               headers={"Content-Range": f"bytes */{size}"})
        response = yield request
        return self._answer(response, size, channel, final=False, asking=True)

    def _answer(self, response: httpx.Response, size: int, channel: Channel, *, final: bool,
                asking: bool = False) -> tuple[int, dict[str, Any] | None]:
        """``(bytes held, None)`` for a 308, ``(size, video resource)`` for a 200/201."""
        if response.status_code == 308:
            header = response.headers.get("range")
            if header is None:
                return 0, None  # "no Range = resume at 0"
            match = _RANGE.fullmatch(header.strip())
            held = int(match[1]) + 1 if match else -1
            if not 0 < held <= size:
                raise PlatformError(
                    f"YouTube answered the upload with an unreadable Range {header[:40]!r}",
                    platform=self.name, account=channel.account, code="bad_response",
                    response=response, maybe_applied=final)
            if held == size:
                # Every byte in, yet no video: YouTube may be making it.
                raise PlatformError(
                    "YouTube holds every byte of the upload but answered no video",
                    platform=self.name, account=channel.account, code="bad_response",
                    response=response, maybe_applied=True)
            return held, None
        if not (final or asking):
            raise PlatformError(
                f"YouTube answered a chunk short of the last byte (of {size:,}) as complete",
                platform=self.name, account=channel.account, code="bad_response", response=response)
        video = self.answer(response, channel, expect=("id",), creates=True)
        if not isinstance(video, dict) or id_or_none(video.get("id"), most=ID_MAX) is None:
            raise PlatformError("YouTube answered the upload without a video id", platform=self.name,
                                account=channel.account, code="bad_response", response=response,
                                maybe_applied=True)
        return size, video

    def _resumable(self, session: dict[str, Any] | None, size: int, name: str,
                   channel: Channel) -> Flow[dict[str, Any] | None]:
        """An earlier run's session of this very file, asked what it holds; ``None``: start afresh.

        *session* is what `SavedUpload.recall` found: ``None`` where none was
        saved for this file of this size (another file, or this one changed
        since, is never spliced onto it). Returns the session state to go on
        with, or the video resource where the session completed, or ``None``.
        """
        if session is None or not self._own(session.get("url"), channel):
            return None
        url = str(session["url"])
        try:
            held, video = yield from self._ask(url, size, channel)
        except PlatformError as exc:
            if not refused(exc):
                raise
            logger.info("youtube [%s]: the saved upload session of %s was refused (%s); starting "
                        "a new one", channel.account, name, exc.code)
            return None
        if video is not None:
            return video
        logger.info("youtube [%s]: resuming the upload of %s at byte %d of %d", channel.account,
                    name, held, size)
        return {"url": url, "sent": held, "size": size}

    # ----------------------------------------------------------- after the create

    def _finish(self, post: Post, channel: Channel, opts: Options, video_id: str,
                resource: dict[str, Any] | None, *, thumbnail: Any) -> Flow[Receipt]:
        """Set the thumbnail (once), then wait for processing: the receipt."""
        raw: dict[str, Any] = {"id": video_id}
        if post.cover is not None:
            if thumbnail == "set":
                raw["thumbnail"] = "set"
            else:
                raw["thumbnail"] = yield from self._thumbnail(post.cover, video_id, channel)
        item = resource
        if not _processed(item):
            try:
                item, _ = yield from self.poll(lambda: self._look(channel, video_id), _processed,
                                               interval=opts.poll_interval,
                                               timeout=opts.poll_timeout)
            except PlatformError as exc:
                if not refused(exc):
                    raise  # a fault: a re-run finishes the known video (recover)
                # A refusal (a token with youtube.upload only may not read
                # videos.list) would refuse every re-run too: the video is
                # there, its processing state unknown.
                logger.warning("youtube [%s] video %s: its processing state cannot be read: %s",
                               channel.account, video_id, exc)
                raw["status_error"] = str(exc)
        return self._receipt(channel, video_id, item, raw, opts)

    def _thumbnail(self, cover: Media, video_id: str, channel: Channel) -> Flow[str]:
        """``thumbnails.set``: ``"set"``, or what went wrong (the video stands without it)."""
        try:
            data, kind = yield from self._cover(cover, channel)
            # Setting the same picture twice leaves one thumbnail: resent freely.
            yield from self.call(channel, "POST", THUMBNAIL_PATH,
                                 params={"videoId": video_id, "uploadType": "media"},
                                 content=data, headers={"Content-Type": kind}, safe=True,
                                 creates=False)
        except (PlatformError, ValidationError, ConfigError) as exc:
            if isinstance(exc, PlatformError) and not refused(exc):
                raise  # a fault: a re-run sets it (recover), the video is known
            # The video is up: a thumbnail YouTube refuses (an unverified
            # channel may not set one) must not put its delivery in doubt.
            logger.warning("youtube [%s] video %s: the thumbnail was not set: %s; set it in "
                           "YouTube Studio", channel.account, video_id, exc)
            return f"not set: {exc}"
        yield Checkpoint("thumbnail", {"thumbnail": "set"})
        return "set"

    def _cover(self, cover: Media, channel: Channel) -> Flow[tuple[bytes, str]]:
        """The cover's bytes (at most 2 MB, a JPEG or PNG by its bytes) and their MIME type."""
        data = yield from media_bytes(self, cover, channel, limit=THUMBNAIL_MAX)
        if len(data) > THUMBNAIL_MAX:
            raise ValidationError([self.rule("youtube.cover.max_size").problem(
                f"cover ({cover.filename}) is over 2 MB")], platform=self.name,
                account=channel.account)
        found = verify_bytes(cover, data, platform=self.name, account=channel.account,
                             field="cover", where=f"cover ({cover.filename})")
        kind = found.mime_type if found is not None else cover.mime_type
        if kind not in THUMBNAIL_TYPES:
            raise ValidationError([self.rule("youtube.cover.kind").problem(
                f"cover ({cover.filename}) is {kind}; the thumbnail is a JPEG or PNG")],
                platform=self.name, account=channel.account)
        return data, kind

    def _look(self, channel: Channel, video_id: str) -> Flow[dict[str, Any] | None]:
        """The video as ``videos.list`` shows it, or ``None`` while it does not list it."""
        answer = yield from self.call(channel, "GET", VIDEOS_PATH,
                                      params={"part": "status,processingDetails", "id": video_id})
        if not isinstance(answer, Mapping) or not isinstance(answer.get("items"), list):
            # Not a list answer at all: polling it again would learn nothing.
            raise PlatformError(f"videos.list answered without items for video {video_id}",
                                platform=self.name, account=channel.account, code="bad_response")
        return _item(answer, video_id)

    def _receipt(self, channel: Channel, video_id: str, item: dict[str, Any] | None,
                 raw: dict[str, Any], opts: Options) -> Receipt:
        status = item.get("status") if item is not None else None
        status = status if isinstance(status, Mapping) else {}
        details = item.get("processingDetails") if item is not None else None
        if isinstance(status, Mapping) and status:
            raw["status"] = dict(status)
        if isinstance(details, Mapping):
            raw["processingDetails"] = dict(details)
        upload_status = status.get("uploadStatus")
        known = {"video_id": video_id}
        if upload_status in ("failed", "rejected"):
            reason = text_or_none(status.get("failureReason" if upload_status == "failed"
                                             else "rejectionReason")) or "no reason given"
            raise ContentRejected(
                f"YouTube {upload_status} video {video_id} ({reason}); it stays on the channel, "
                "visible to its owner only",
                platform=self.name, account=channel.account, code=f"{upload_status}:{reason}",
                known=known,
                hint="Fix the file (or the content) and publish with a new key; delete the "
                     "failed video in YouTube Studio.")
        if upload_status == "deleted":
            raise PlatformError(f"video {video_id} was deleted on YouTube while it was processed",
                                platform=self.name, account=channel.account, code="deleted",
                                known=known, hint="Someone deleted it in YouTube Studio: decide "
                                "whether to publish it again (settle the delivery).")
        privacy = status.get("privacyStatus")
        scheduled = privacy == "private" and text_or_none(status.get("publishAt")) is not None
        if isinstance(privacy, str) and privacy != opts.privacy_status and \
                not (opts.publish_at and privacy == "public"):  # public: published at its time
            # "Unverified API projects ... have every upload locked to private."
            logger.warning("youtube [%s] video %s: asked for %s, YouTube made it %s (an unaudited "
                           "API project uploads private only)", channel.account, video_id,
                           opts.privacy_status, privacy)
        elif opts.publish_at and privacy == "private" and not scheduled:
            logger.warning("youtube [%s] video %s: asked to publish it at %s, YouTube keeps no "
                           "publishAt: it stays private until someone publishes it", channel.account,
                           video_id, opts.publish_at)
        # Processing unfinished stays pending, scheduled or not: a video that
        # fails processing is never published, whatever its publishAt.
        state: ReceiptState = "pending" if upload_status != "processed" else \
            "scheduled" if scheduled else "published"
        return Receipt(channel=channel, remote_id=video_id, url=WATCH_URL.format(video_id),
                       state=state, raw=raw)

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Finish the video an earlier run made, or ask its upload session; never upload twice.

        - the video id is known: set the thumbnail if that was not done, and
          wait for processing;
        - the session URI is known: ask it. Complete: that is the video,
          finished here. Incomplete: YouTube made no video from it, so
          nothing exists (``None``) and the upload resumes in that session;
        - otherwise, or where the session is gone: `DeliveryUnknown`.
        """
        opts = self.opts(channel)
        data = dict(doubt.data)
        video_id = id_or_none(data.get("video_id"), most=ID_MAX)
        if video_id is not None:
            receipt: Receipt = yield from self._finish(post, channel, opts, video_id, None,
                                                       thumbnail=data.get("thumbnail"))
            return receipt
        upload = data.get(UPLOAD_SLOT)
        size = upload.get("size") if isinstance(upload, Mapping) else None
        if isinstance(upload, Mapping) and self._own(upload.get("url"), channel) and \
                isinstance(size, int) and not isinstance(size, bool) and size > 0:
            try:
                held, video = yield from self._ask(str(upload["url"]), size, channel)
            except PlatformError as exc:
                if exc.code not in _GONE:
                    raise
                raise DeliveryUnknown(
                    f"an earlier run left this delivery '{doubt.state}' after sending the last byte "
                    "of its upload, and the upload session is gone, so whether YouTube made the "
                    "video cannot be asked: look at the channel's videos in YouTube Studio, then "
                    "settle it (govmedia runs resolve)",
                    platform=self.name, account=channel.account, known=data) from exc
            if video is None:
                logger.info("youtube [%s]: the earlier upload holds %d of %d bytes: no video was "
                            "made; resuming it", channel.account, held, size)
                return None
            video_id = str(video["id"])
            source = upload.get("source")  # the file's, as publish saved it with the session
            asked = SavedUpload(UPLOAD_SLOT, source if isinstance(source, str) else "")
            yield Checkpoint("created", _made(asked, video_id, size))
            receipt = yield from self._finish(post, channel, opts, video_id, video, thumbnail=None)
            return receipt
        raise DeliveryUnknown(
            f"an earlier run left this delivery '{doubt.state}' and no upload session is known "
            "to ask; YouTube takes no idempotency key, so nothing was sent again: look at the "
            "channel's videos in YouTube Studio, then settle it (govmedia runs resolve)",
            platform=self.name, account=channel.account, known=data)

    # ----------------------------------------------------------- delete, metrics

    def delete(self, receipt: Receipt) -> Flow[None]:
        """``DELETE /youtube/v3/videos?id=``; a video gone already counts as deleted."""
        channel = receipt.channel
        # Deleting twice finds nothing to delete (404, below): safe to resend.
        request = self.request(channel, "DELETE", VIDEOS_PATH, params={"id": receipt.remote_id},
                               safe=True)
        try:
            yield request
        except PlatformError as exc:
            if exc.code not in ("videoNotFound", 404):
                raise
            logger.info("youtube [%s] video %s was gone already", channel.account, receipt.remote_id)

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """``statistics``: views, likes and comments (YouTube gives no share count).

        The counts come as strings of digits; ``likeCount`` is absent where
        the owner hides it (both YouTube's reference, not the fact sheet:
        unverified). A count YouTube does not give is ``None``.
        """
        channel = receipt.channel
        answer = yield from self.call(channel, "GET", VIDEOS_PATH,
                                      params={"part": "statistics", "id": receipt.remote_id})
        item = _item(answer, receipt.remote_id)
        if item is None:
            raise PlatformError(f"YouTube does not list video {receipt.remote_id}",
                                platform=self.name, account=channel.account, code="videoNotFound",
                                hint="It was deleted, or belongs to another account.")
        stats = item.get("statistics")
        stats = stats if isinstance(stats, Mapping) else {}
        return Metrics(views=count_or_none(stats.get("viewCount"), digits=True),
                       likes=count_or_none(stats.get("likeCount"), digits=True), shares=None,
                       comments=count_or_none(stats.get("commentCount"), digits=True), raw=item)

    # ----------------------------------------------------------- auth

    def refresh_request(self, channel: Channel, token: Token) -> httpx.Request:
        """``POST`` the token endpoint (form) with the refresh token and the client's id and secret.

        The form is standard OAuth 2.0 (RFC 6749 section 6), as Google takes it;
        the fact sheet names the endpoint only. Resent freely: Google keeps the
        refresh token, so a second exchange is just another access token.
        """
        credentials = channel.credentials
        return self.request(channel, "POST", self.opts(channel).token_url, safe=True, creates=False,
                            data={"grant_type": "refresh_token",
                                  "refresh_token": token.refresh_token or "",
                                  "client_id": credentials.get("client_id", ""),
                                  "client_secret": credentials.get("client_secret", "")})

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """``{access_token, expires_in, ...}``: the new access token, the refresh token kept."""
        return oauth2_token(response, platform=self.name, account=channel.account,
                            previous=previous, lifetime=TOKEN_LIFETIME, most=TOKEN_MAX_LIFETIME)

    # ----------------------------------------------------------- errors

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """``(code, message)``: ``error.errors[0].reason``, an OAuth ``error``, else the HTTP status."""
        status = response.status_code
        if 200 <= status < 300:
            return None
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError, httpx.ResponseNotRead):
            body = None
        code, message = _error_of(body)
        message = message or self.error_message(response)
        if code is not None and code not in self.error_codes:
            # An unknown reason is judged by its status; its name stays in the message.
            message = f"{message} ({code})"
            code = None
        return (code if code is not None else status), message

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """As the base does; a 308 to an upload chunk, and an empty 2xx, are successes.

        A spent daily quota (``quotaExceeded``) carries the seconds until it
        resets, midnight Pacific Time, as ``retry_after``.
        """
        status = response.status_code
        if status == 308 and _is_chunk(response):
            return None
        if 200 <= status < 300 and not response.content:
            return None  # the upload start (Location), a delete (204)
        error = super().classify(response, channel)
        if isinstance(error, RateLimited) and error.code == "quotaExceeded" and \
                error.retry_after is None:
            error = error.evolve(retry_after=_until_pacific_midnight())
        return error


def _is_chunk(response: httpx.Response) -> bool:
    try:
        request = response.request
    except RuntimeError:
        return False
    return request.method == "PUT" and "content-range" in request.headers


def _deadline(length: int) -> float:
    """Seconds a chunk may take: a minute, plus its bytes at 64 KB/s (a slow office uplink)."""
    return 60.0 + length / (64 * 1024)


def _item(answer: Any, video_id: str) -> dict[str, Any] | None:
    """The entry of ``items`` for *video_id* in a ``videos.list`` answer."""
    items = answer.get("items") if isinstance(answer, Mapping) else None
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and item.get("id") == video_id:
            return item
    return None


def _processed(item: Any) -> bool:
    """True once YouTube is done with the video (processed, or failed, rejected, deleted)."""
    if not isinstance(item, Mapping):
        return False
    status = item.get("status")
    if isinstance(status, Mapping) and status.get("uploadStatus") in _FINAL_STATUS:
        return True
    details = item.get("processingDetails")
    return isinstance(details, Mapping) and details.get("processingStatus") in _PROCESSING_DONE and \
        isinstance(status, Mapping) and status.get("uploadStatus") != "uploaded"
