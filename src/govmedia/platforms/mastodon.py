"""Mastodon: statuses with media, boosts, deletes and counts on any instance.

Facts: shared/platforms/mastodon.md. ``POST /api/v1/statuses`` carries an
``Idempotency-Key`` that Mastodon keeps for an hour per account
(``PostStatusService``: a repeat returns the original status), so the create is
safe to resend after a timeout or a bare 5xx. Every other write here is safe to
resend too, each for its own reason, written where the request is built.

Media go up first (``POST /api/v2/media``); a 202 means the server is still
processing, and the flow polls ``GET /api/v1/media/:id`` (206: not yet, 200:
ready, 422: failed) with `Sleep` steps in between, up to ``poll_timeout``.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx
import regex

from govmedia.content.hashtags import with_tags
from govmedia.content.length import count_mastodon
from govmedia.content.markup import short_text
from govmedia.content.media import verify_bytes
from govmedia.content.rules import LengthRule, Rule
from govmedia.errors import ConfigError, ContentRejected, PlatformError, TransientError
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import StaticToken
from govmedia.platforms.base import BasePlatform, Capabilities, Rendering
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, positive_seconds, url_check
from govmedia.platforms.steps import Flow, count_or_none, text_or_none
from govmedia.platforms.uploads import media_bytes
from govmedia.policy.ratelimit import RateLimit

__all__ = ["MastodonPlatform", "status_text"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/mastodon.md"
TEXT_MAX = 500
MEDIA_MAX = 4
MB = 1024 * 1024
IMAGE_MAX_BYTES = 16 * MB  # upstream IMAGE_LIMIT (older servers: 10 MB)
VIDEO_MAX_BYTES = 99 * MB  # upstream VIDEO_LIMIT, audio too (older: 40 MB)
ALT_MAX = 1500  # MediaAttachment description length (app/models/media_attachment.rb)
VISIBILITIES = ("public", "unlisted", "private", "direct")
REBLOG_VISIBILITIES = ("public", "unlisted", "private")
IDEMPOTENCY_WINDOW = 3600.0

_LANGUAGE = regex.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
def status_text(post: Post) -> str:
    """The ``status`` sent for *post*: its short text, then its tags as ``#tag``.

    Tags are written by `govmedia.content.hashtags` in Mastodon's style (spaces
    and punctuation removed, a tag with no letter left out); a tag already in
    the text (as ``#tag``, any case) is not added again.

    Example:
        >>> import govmedia as gm
        >>> print(status_text(gm.Post(text="#央企 招聘季", tags=("央企", "微 招聘"))))
        #央企 招聘季
        <BLANKLINE>
        #微招聘
    """
    # A hashtag already in the text: `#` or fullwidth `＃` after a space or at the
    # start (Mastodon's HASHTAG_RE, as read here).
    return with_tags(short_text(post), post.tags, "mastodon", platform="mastodon", after="space")


def _when(value: str) -> str | None:
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        return "an ISO 8601 time with its zone, like '2026-12-07T07:00:00Z'"
    return None


def _language(value: Any) -> str | None:
    return None if _LANGUAGE.match(value) else "an ISO 639-1 code like 'zh' or 'en'"


def _instance(channel: Channel) -> tuple[str, int | None, str]:
    url = httpx.URL(str(channel.options["base_url"]).rstrip("/"))
    return url.host.lower(), url.port, url.path.rstrip("/")


def _size_limit(media: Media) -> int:
    return IMAGE_MAX_BYTES if media.kind == "image" else VIDEO_MAX_BYTES


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f} MB"


def _id(status_id: str) -> str:
    return quote(status_id, safe="")


class MastodonPlatform(BasePlatform):
    """Post statuses (with up to four media) to a Mastodon instance.

    Credentials: ``access_token`` (scopes ``write:statuses`` and ``write:media``,
    or ``write``; ``read:statuses`` for metrics). Options: ``base_url``
    (required), ``visibility`` (default ``public``), ``language`` (ISO 639-1),
    ``max_characters`` (default 500), ``poll_timeout`` (default 60 s) and
    ``poll_interval`` (default 1 s) for media processing.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="mastodon", account="sasac@social.example",
        ...                 credentials={"access_token": "tok-abcdef"},
        ...                 options={"base_url": "https://social.example"})
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(text="国" * 501), ch)]
        [('too_long', 'mastodon.text.max_length')]
    """

    name: ClassVar[str] = "mastodon"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)
    options: ClassVar[Mapping[str, Option]] = {
        "base_url": Option(str, required=True, check=url_check(),
                           doc="the instance's address, like https://social.example"),
        "visibility": Option(str, default="public", choices=VISIBILITIES),
        "language": Option(str, check=_language),
        # Set by `schedule` (fan_out(at=...) with the option native_schedule):
        # the instance publishes the status at that time, not now.
        "scheduled_at": Option(str, check=_when, doc="ISO 8601 time, with its zone, when the "
                                                     "instance publishes the status (at least 5 "
                                                     "minutes ahead)"),
        "max_characters": Option(int, default=TEXT_MAX, minimum=1,
                                 doc="the instance's status length, where it is not 500"),
        "poll_timeout": Option(float, default=60.0, check=positive_seconds),
        "poll_interval": Option(float, default=1.0, check=positive_seconds),
    }
    auth = StaticToken("access_token")
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, repost=True, dedupe=True,
        # PostStatusService keeps the key in Redis for 3,600 s per account.
        dedupe_window=IDEMPOTENCY_WINDOW,
        media_max=MEDIA_MAX, media_kinds=("image", "video", "audio"),
        counting=(
            "grapheme clusters of the status, tags included; each http(s) URL counts 23, "
            "a mention @user@domain counts as @user; option max_characters for other limits"
        ),
        fields=("text", "title", "summary", "body", "link", "tags", "media"),
    )
    rules: ClassVar[tuple[Rule, ...]] = (
        LengthRule(id="mastodon.text.max_length", field="text", limit=TEXT_MAX,
                   counter=count_mastodon, unit="characters as Mastodon counts them (URL 23)",
                   source=f"{SHEET}: upstream default; instances set max_characters"),
        Rule(id="mastodon.media.max_count", field="media", code="bad_media",
             summary=f"at most {MEDIA_MAX} attachments", source=SHEET,
             remediation="Attach fewer media, or give Mastodon a variant."),
        Rule(id="mastodon.media.no_mix", field="media", code="bad_media",
             summary="a video or audio attachment must be the only one", source=SHEET,
             remediation="Post the video on its own."),
        Rule(id="mastodon.media.kind", field="media", code="bad_media",
             summary="images, video and audio only", source=SHEET,
             remediation="Attach an image, a video or an audio file."),
        Rule(id="mastodon.media.max_size", field="media", code="bad_media",
             summary="images up to 16 MB, video and audio up to 99 MB", source=SHEET,
             remediation="Compress the file or attach a smaller one."),
        Rule(id="mastodon.alt.max_length", field="media", code="bad_media",
             summary=f"alt text at most {ALT_MAX:,} characters",
             source="mastodon/mastodon app/models/media_attachment.rb",
             remediation="Shorten the alt text."),
        Rule(id="mastodon.text.not_empty", field="text", code="empty",
             summary="a status needs text or media", source=SHEET,
             remediation="Give the post a text, or attach media."),
    )
    tag_style: ClassVar[str] = "mastodon"
    # Upstream: 300 requests per 5 minutes per token on /api/*.
    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {
        "mastodon:*": RateLimit(300, per=300),
    }
    fake: ClassVar[str] = "govmedia.testing.mastodon:FakeMastodon"
    # Codes are HTTP statuses: Mastodon has no codes of its own, only messages.
    # 5xx stay out of this table so that a bare 5xx counts as possibly applied.
    errors = ErrorTable(
        {
            401: Code.auth(), 403: Code.auth(), 404: Code.permanent(), 429: Code.rate_limited(),
            400: Code.rejected(unforeseeable="a malformed request: a govmedia bug"),
            413: Code.rejected(rule="mastodon.media.max_size"),
            422: Code.rejected(rule="mastodon.text.max_length"),
        },
        messages=(
            # A status names media still being processed: nothing was created,
            # so the create is resent (same Idempotency-Key) after the backoff.
            (422, "have not finished processing", Code.busy()),
            (422, "requires an authenticated user", Code.auth(
                "The token has no user (an app-only token): create a token for the account.")),
            (403, "outside the authorized scopes", Code.auth(
                "Give the token the scopes write:statuses and write:media (or write).")),
            # The action itself is forbidden (boosting a private status, say).
            (403, "This action is not allowed", Code.permanent(
                "Mastodon forbids this action for this account; retrying will not help.")),
            # The upload's file could not be processed: the content is at fault.
            (500, "Error processing thumbnail", Code.rejected(
                unforeseeable="the instance could not process the file")),
        ),
    )

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Length as Mastodon counts it, the media rules and an empty status."""
        text = status_text(post)  # tags included: they count too
        problems = self.check_lengths(text, "text", limit=self.opts(channel).max_characters)
        if not text.strip() and not post.media:
            problems.append(self.rule("mastodon.text.not_empty").problem(
                "the status would be empty and the post has no media"))
        problems.extend(self._media_problems(post.media))
        return problems

    def _media_problems(self, media: tuple[Media, ...]) -> list[Problem]:
        problems = []
        if len(media) > MEDIA_MAX:
            problems.append(self.rule("mastodon.media.max_count").problem(
                f"{len(media)} attachments; Mastodon takes at most {MEDIA_MAX}"))
        if len(media) > 1 and any(m.kind in ("video", "audio") for m in media):
            problems.append(self.rule("mastodon.media.no_mix").problem(
                "a video or audio attachment must be the only one: "
                "Mastodon cannot mix it with other media"))
        for number, item in enumerate(media, 1):
            name = f"media {number} ({item.filename})"
            if item.kind not in ("image", "video", "audio"):
                problems.append(self.rule("mastodon.media.kind").problem(
                    f"{name} is {item.mime_type}; Mastodon takes images, video and audio only"))
                continue
            if item.size is not None and item.size > _size_limit(item):
                problems.append(self.rule("mastodon.media.max_size").problem(
                    f"{name} is {_megabytes(item.size)}; Mastodon takes {item.kind} up to "
                    f"{_megabytes(_size_limit(item))}"))
            if item.alt is not None and len(item.alt) > ALT_MAX:
                problems.append(self.rule("mastodon.alt.max_length").problem(
                    f"{name}: alt text is {len(item.alt)} characters; Mastodon takes {ALT_MAX}"))
        return problems

    # ----------------------------------------------------------- flows

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET /api/v1/accounts/verify_credentials``: the token works, for this account."""
        return self.request(channel, "GET", "/api/v1/accounts/verify_credentials")

    def render(self, post: Post, channel: Channel) -> Rendering:
        """The status as `publish` sends it: the text with its tags, media by source."""
        opts = self.opts(channel)
        text = status_text(post)
        fields: dict[str, Any] = {"status": text, "visibility": opts.visibility}
        if post.media:
            fields["media"] = [Rendering.source(m) for m in post.media]
        return Rendering(fields=fields, text=text, html=None)

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the media, wait until processed, then create the status."""
        opts = self.opts(channel)
        media_ids = yield from self._upload_all(post.media, channel)
        body: dict[str, Any] = {"status": status_text(post), "visibility": opts.visibility}
        if media_ids:
            body["media_ids"] = media_ids  # the JSON form of media_ids[]
        if opts.language:
            body["language"] = opts.language
        if opts.scheduled_at:
            body["scheduled_at"] = opts.scheduled_at
        # Mastodon deduplicates on Idempotency-Key (per account, ~1 h): a resend
        # after a timeout or a 5xx returns the status the first attempt made.
        status = yield from self.call(channel, "POST", "/api/v1/statuses", json=body,
                                      headers={"Idempotency-Key": key}, safe=True, creates=True,
                                      expect=("id",))
        if "params" in status and "scheduled_at" in status:  # a ScheduledStatus: not live yet
            return Receipt(channel=channel, remote_id=str(status["id"]), url=None,
                           state="scheduled", raw=status)
        return Receipt(channel=channel, remote_id=str(status["id"]), url=text_or_none(status.get("url")),
                       state="published", raw=status)

    def schedule(self, channel: Channel, at: dt.datetime) -> Channel:
        """*channel* set to have the instance publish at *at* (``scheduled_at``)."""
        when = at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        return attrs.evolve(channel, options={**channel.options, "scheduled_at": when})

    def _upload_all(self, media: tuple[Media, ...], channel: Channel) -> Flow[list[str]]:
        ids: list[str] = []
        pending: dict[str, str] = {}  # media id -> which post media it is
        for number, item in enumerate(media, 1):
            where = f"media {number} ({item.filename})"
            try:
                data = yield from self._bytes_of(item, where, channel)
                found = verify_bytes(item, data, platform=self.name, account=channel.account,
                                     where=where)
                # No key here, but a resent upload can at worst leave an
                # unattached media behind: invisible to readers, attached to
                # nothing (the status create is what dedupes) and removed by
                # the server's media cleanup. Failing the whole delivery as
                # "unknown" for it would cost more than the orphan does.
                request = self.request(
                    channel, "POST", "/api/v2/media", safe=True, creates=False,
                    files={"file": (item.filename, data,
                                    found.mime_type if found else item.mime_type)},
                    data={"description": item.alt} if item.alt else None,
                )
                response = yield request
                attachment = self.answer(response, channel, expect=("id",))
            except PlatformError as exc:
                raise exc.evolve(message=f"{where}: {exc.message}") from exc
            ids.append(str(attachment["id"]))
            if response.status_code == 202:
                pending[ids[-1]] = where
        if pending:
            yield from self._wait_processed(pending, channel)
        return ids

    def _bytes_of(self, item: Media, where: str, channel: Channel) -> Flow[bytes]:
        limit = _size_limit(item)
        try:
            data = yield from media_bytes(self, item, channel, limit=limit)
        except PlatformError as exc:  # a download (a file read fails with ConfigError)
            raise exc.evolve(message=f"could not download {item.url}: {exc.message}") from exc
        if len(data) > limit:
            raise ContentRejected(
                f"{where} is over {_megabytes(limit)}; Mastodon takes {item.kind} up to "
                f"{_megabytes(limit)}",
                platform=self.name, account=channel.account, code="bad_media",
            )
        return data

    def _wait_processed(self, pending: dict[str, str], channel: Channel) -> Flow[None]:
        """Ask after each media answered 202 until all are processed; the first look after a wait."""
        opts = self.opts(channel)
        asked = False

        def ask() -> Flow[dict[str, str]]:
            nonlocal asked
            if not asked:  # they were processing a moment ago: wait before asking
                asked = True
                return pending
            for media_id, where in list(pending.items()):
                try:
                    response = yield self.request(channel, "GET", f"/api/v1/media/{_id(media_id)}")
                except PlatformError as exc:
                    raise exc.evolve(message=f"{where}: {exc.message}") from exc
                if response.status_code == 200:
                    del pending[media_id]
                logger.debug("mastodon [%s] %s: %s", channel.account, where,
                             "ready" if response.status_code == 200 else "processing")
            return pending

        _, processed = yield from self.poll(ask, lambda left: not left, interval=opts.poll_interval,
                                            timeout=opts.poll_timeout, wait=lambda _: 0.0)
        if not processed:
            raise TransientError(
                f"{', '.join(pending.values())} still processing after {opts.poll_timeout:g} s",
                platform=self.name, account=channel.account, code="media_processing",
                hint="Nothing was posted. Try again later, or raise option poll_timeout.",
            )

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Delete the status (a boost is undone with ``unreblog``); gone already is fine."""
        channel = receipt.channel
        boosted = receipt.raw.get("reblog")
        # Both are idempotent: a resend finds the status gone (404, below)
        # or the boost undone already (unreblog answers 200 either way).
        if isinstance(boosted, Mapping) and boosted.get("id"):
            request = self.request(channel, "POST",
                                   f"/api/v1/statuses/{_id(str(boosted['id']))}/unreblog", safe=True)
        else:
            # delete_media (4.4+) removes the files at once; older servers ignore it.
            request = self.request(channel, "DELETE", f"/api/v1/statuses/{_id(receipt.remote_id)}",
                                   params={"delete_media": "true"}, safe=True)
        try:
            yield request
        except PlatformError as exc:
            if exc.code != 404:
                raise
            logger.info("mastodon [%s] status %s was gone already",
                        channel.account, receipt.remote_id)

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Favourites, boosts and replies of the status; Mastodon shows no views."""
        status = yield from self.call(receipt.channel, "GET",
                                      f"/api/v1/statuses/{_id(receipt.remote_id)}", expect=("id",))
        return Metrics(views=None, likes=count_or_none(status.get("favourites_count")),
                       shares=count_or_none(status.get("reblogs_count")),
                       comments=count_or_none(status.get("replies_count")), raw=status)

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """Only a status on the same instance, and one others may boost (public or unlisted)."""
        if original.channel.platform != self.name or channel.platform != self.name:
            return False
        if "base_url" not in original.channel.options or "base_url" not in channel.options:
            return False
        if original.raw.get("visibility") not in (None, "public", "unlisted"):
            return False
        return _instance(original.channel) == _instance(channel)

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """Boost *original* from *channel*; the receipt's ``remote_id`` is the boost's id."""
        if not self.can_repost(original, channel):
            raise ConfigError(
                f"channel {channel.id} cannot boost {original.channel.id}'s status "
                "(another instance, or not public): publish a post with a link instead"
            )
        body: dict[str, str] = {}
        visibility = self.opts(channel).visibility
        if visibility in REBLOG_VISIBILITIES:
            body["visibility"] = visibility
        # No key, but ReblogService returns the account's existing boost of a
        # status instead of making a second one (mastodon/mastodon
        # app/services/reblog_service.rb; "unverified" in the fact sheet), so
        # a resend cannot boost twice.
        boost = yield from self.call(channel, "POST", f"/api/v1/statuses/{_id(original.remote_id)}/reblog",
                                     json=body, safe=True, creates=True, expect=("id",))
        boosted = boost.get("reblog")
        # A boost has no page of its own (its url is an ActivityPub activity):
        # readers find it at the boosted status's address.
        url = (text_or_none(boosted.get("url")) if isinstance(boosted, dict) else None) or \
            text_or_none(boost.get("url"))
        return Receipt(channel=channel, remote_id=str(boost["id"]), url=url, state="published",
                       raw=boost)
