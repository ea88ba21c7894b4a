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

import logging
import math
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx
import regex

from govmedia._limits import MAX_BODY
from govmedia.content.counting import check_length
from govmedia.content.hashtags import hashtag
from govmedia.content.markup import short_text
from govmedia.errors import (
    AuthError,
    ConfigError,
    ContentRejected,
    PlatformError,
    RateLimited,
    TransientError,
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

__all__ = ["MESSAGES", "MastodonPlatform", "status_text"]

logger = logging.getLogger("govmedia")

TEXT_MAX = 500
MEDIA_MAX = 4
IMAGE_MAX_BYTES = 16 * 1024 * 1024  # upstream IMAGE_LIMIT (older servers: 10 MB)
VIDEO_MAX_BYTES = 99 * 1024 * 1024  # upstream VIDEO_LIMIT, audio too (older: 40 MB)
ALT_MAX = 1500  # MediaAttachment description length (app/models/media_attachment.rb)
VISIBILITIES = ("public", "unlisted", "private", "direct")
REBLOG_VISIBILITIES = ("public", "unlisted", "private")
IDEMPOTENCY_WINDOW = 3600.0
DEFAULT_POLL_TIMEOUT = 60.0
DEFAULT_POLL_INTERVAL = 1.0

# Messages that change what an HTTP status means: (status, words in the
# message, the error class (None: keep the status's), a hint (None: the class's)).
MESSAGES: tuple[tuple[int, str, type[PlatformError] | None, str | None], ...] = (
    # A status names media still being processed: nothing was created, so the
    # create is resent (same Idempotency-Key) after the usual backoff.
    (422, "have not finished processing", TransientError, None),
    (422, "requires an authenticated user", AuthError,
     "The token has no user (an app-only token): create a token for the account."),
    (403, "outside the authorized scopes", None,
     "Give the token the scopes write:statuses and write:media (or write)."),
    # The action itself is forbidden (boosting a private status, say).
    (403, "This action is not allowed", PlatformError,
     "Mastodon forbids this action for this account; retrying will not help."),
    # The upload's file could not be processed: the content is at fault.
    (500, "Error processing thumbnail", ContentRejected, None),
)
_LANGUAGE = regex.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
# A hashtag already in the text: `#` or fullwidth `＃` after a space or at the
# start (Mastodon's HASHTAG_RE), the name not running on into more tag letters.
_TAG_END = r"(?![\p{L}\p{M}\p{N}_\u00b7\u200c])"


def _has_tag(text: str, tag: str) -> bool:
    pattern = r"(?:^|(?<=\s))[#\uff03]" + regex.escape(tag.removeprefix("#")) + _TAG_END
    return regex.search(pattern, text, regex.IGNORECASE) is not None


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
    text = short_text(post)
    tags: list[str] = []
    for tag in post.tags:
        rendered = hashtag(tag, "mastodon")
        if rendered is None:
            logger.warning("mastodon: tag %r has no letter, so it is no hashtag; left out", tag)
        elif not _has_tag(text, rendered) and rendered.casefold() not in {t.casefold() for t in tags}:
            tags.append(rendered)
    line = " ".join(tags)
    return f"{text}\n\n{line}" if text and line else text or line


def _base(channel: Channel) -> str:
    return str(channel.options["base_url"]).rstrip("/")


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host.lower(), url.port


def _instance(channel: Channel) -> tuple[str, int | None, str]:
    url = httpx.URL(_base(channel))
    return url.host.lower(), url.port, url.path.rstrip("/")


def _size_limit(media: Media) -> int:
    return IMAGE_MAX_BYTES if media.kind == "image" else VIDEO_MAX_BYTES


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _number(channel: Channel, name: str, default: float) -> float:
    return float(channel.options.get(name, default))


def _entity(
    response: httpx.Response, platform: str, channel: Channel, what: str = "status"
) -> dict[str, Any]:
    """The JSON object of a Status or MediaAttachment answer, checked for its id."""
    body = json_of(response)
    if not isinstance(body, dict) or not isinstance(body.get("id"), str):
        raise PlatformError(
            f"the answer is not a Mastodon {what} (no id)", platform=platform,
            account=channel.account, code="bad_response", response=response,
        )
    return body


def _in_context(error: PlatformError, where: str) -> PlatformError:
    """The same error, its message prefixed with which media it is about."""
    return error.evolve(message=f"{where}: {error.message}")


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
        >>> [p.code for p in gm.Client().check(gm.Post(text="国" * 501), ch)]
        ['too_long']
    """

    name: ClassVar[str] = "mastodon"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token",)
    option_keys: ClassVar[tuple[str, ...]] = (
        "base_url", "visibility", "language", "max_characters", "poll_timeout", "poll_interval",
    )
    required_options: ClassVar[tuple[str, ...]] = ("base_url",)
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, repost=True, dedupe=True,
        # PostStatusService keeps the key in Redis for 3,600 s per account.
        dedupe_window=IDEMPOTENCY_WINDOW,
        text_max=TEXT_MAX, media_max=MEDIA_MAX, media_kinds=("image", "video", "audio"),
        counting=(
            "grapheme clusters of the status, tags included; each http(s) URL counts 23, "
            "a mention @user@domain counts as @user; option max_characters for other limits"
        ),
        fields=("text", "title", "summary", "body", "link", "tags", "media"),
    )
    # Codes are HTTP statuses: Mastodon has no codes of its own, only messages,
    # read in `classify`. 5xx stay out of this table so that a bare 5xx counts
    # as possibly applied.
    error_codes: ClassVar[Mapping[int | str, type[PlatformError]]] = {
        401: AuthError, 403: AuthError, 404: PlatformError, 429: RateLimited,
        400: ContentRejected, 413: ContentRejected, 422: ContentRejected,
    }

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """Also check the URL and each option's type and range."""
        super().check_channel(channel)
        where = f"channel {channel.id}"
        opts = channel.options
        base = opts["base_url"]
        url = httpx.URL(base) if isinstance(base, str) else None
        if url is None or url.scheme not in ("https", "http") or not url.host or url.query:
            raise ConfigError(
                f"{where}: option base_url must be the instance's address like "
                f"'https://social.example', got {base!r}"
            )
        visibility = opts.get("visibility", "public")
        if visibility not in VISIBILITIES:
            raise ConfigError(
                f"{where}: option visibility must be one of {', '.join(VISIBILITIES)}, "
                f"got {visibility!r}"
            )
        language = opts.get("language")
        if language is not None and not (isinstance(language, str) and _LANGUAGE.match(language)):
            raise ConfigError(
                f"{where}: option language must be an ISO 639-1 code like 'zh' or 'en', "
                f"got {language!r}"
            )
        limit = opts.get("max_characters", TEXT_MAX)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(
                f"{where}: option max_characters must be a positive integer, got {limit!r}"
            )
        for name in ("poll_timeout", "poll_interval"):
            value = opts.get(name, 1.0)
            if (isinstance(value, bool) or not isinstance(value, int | float)
                    or not math.isfinite(value) or value <= 0):
                raise ConfigError(
                    f"{where}: option {name} must be a positive number of seconds, got {value!r}"
                )

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Length as Mastodon counts it, the media rules and an empty status."""
        text = status_text(post)  # tags included: they count too
        limit = channel.options.get("max_characters", TEXT_MAX)
        problems = check_length(text, self.name, limit=limit)
        if not text.strip() and not post.media:
            problems.append(Problem(
                code="empty", message="the status would be empty and the post has no media",
                field="text",
            ))
        problems.extend(self._media_problems(post.media))
        return problems

    def _media_problems(self, media: tuple[Media, ...]) -> list[Problem]:
        problems = []

        def bad(message: str) -> None:
            problems.append(Problem(code="bad_media", message=message, field="media"))

        if len(media) > MEDIA_MAX:
            bad(f"{len(media)} attachments; Mastodon takes at most {MEDIA_MAX}")
        if len(media) > 1 and any(m.kind in ("video", "audio") for m in media):
            bad("a video or audio attachment must be the only one: "
                "Mastodon cannot mix it with other media")
        for number, item in enumerate(media, 1):
            name = f"media {number} ({item.filename})"
            if item.kind not in ("image", "video", "audio"):
                bad(f"{name} is {item.mime_type}; Mastodon takes images, video and audio only")
                continue
            if item.size is not None and item.size > _size_limit(item):
                bad(f"{name} is {_megabytes(item.size)}; Mastodon takes {item.kind} up to "
                    f"{_megabytes(_size_limit(item))}")
            if item.alt is not None and len(item.alt) > ALT_MAX:
                bad(f"{name}: alt text is {len(item.alt)} characters; Mastodon takes {ALT_MAX}")
        return problems

    # ----------------------------------------------------------- flows

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the media, wait until processed, then create the status."""
        media_ids = yield from self._upload_all(post.media, channel)
        body: dict[str, Any] = {
            "status": status_text(post),
            "visibility": channel.options.get("visibility", "public"),
        }
        if media_ids:
            body["media_ids"] = media_ids  # the JSON form of media_ids[]
        if channel.options.get("language"):
            body["language"] = channel.options["language"]
        request = httpx.Request(
            "POST", f"{_base(channel)}/api/v1/statuses", content=json_body(body),
            headers={"Content-Type": "application/json", "Idempotency-Key": key},
        )
        # Mastodon deduplicates on Idempotency-Key (per account, ~1 h): a resend
        # after a timeout or a 5xx returns the status the first attempt made.
        response = yield retry_safe(request)
        status = _entity(response, self.name, channel)
        return Receipt(
            channel=channel, remote_id=status["id"], url=status.get("url"), state="published",
            raw=status,
        )

    def _upload_all(self, media: tuple[Media, ...], channel: Channel) -> Flow[list[str]]:
        ids: list[str] = []
        pending: dict[str, str] = {}  # media id -> which post media it is
        for number, item in enumerate(media, 1):
            where = f"media {number} ({item.filename})"
            try:
                data = yield from self._bytes_of(item, where, channel)
                request = httpx.Request(
                    "POST", f"{_base(channel)}/api/v2/media",
                    files={"file": (item.filename, data, item.mime_type)},
                    data={"description": item.alt} if item.alt else None,
                )
                # No key here, but a resent upload can at worst leave an
                # unattached media behind: invisible to readers, attached to
                # nothing (the status create is what dedupes) and removed by
                # the server's media cleanup. Failing the whole delivery as
                # "unknown" for it would cost more than the orphan does.
                response = yield retry_safe(request)
            except PlatformError as exc:
                raise _in_context(exc, where) from exc
            ids.append(_entity(response, self.name, channel, "media attachment")["id"])
            if response.status_code == 202:
                pending[ids[-1]] = where
        if pending:
            yield from self._wait_processed(pending, channel)
        return ids

    def _bytes_of(self, item: Media, where: str, channel: Channel) -> Flow[bytes]:
        if item.url is None:
            return item.read()
        # URL media are fetched first; `authorize` sends the token only to the
        # instance, never to the media's host.
        try:
            # Up to Mastodon's own limit, not the client's cap for API answers.
            response = yield httpx.Request("GET", item.url,
                                           extensions={MAX_BODY: _size_limit(item)})
        except PlatformError as exc:
            raise _in_context(exc, f"could not download {item.url}") from exc
        data = response.content
        if len(data) > _size_limit(item):
            raise ContentRejected(
                f"{where} is {_megabytes(len(data))}; Mastodon takes {item.kind} up to "
                f"{_megabytes(_size_limit(item))}",
                platform=self.name, account=channel.account, code="bad_media",
            )
        return data

    def _wait_processed(self, pending: dict[str, str], channel: Channel) -> Flow[None]:
        timeout = _number(channel, "poll_timeout", DEFAULT_POLL_TIMEOUT)
        interval = _number(channel, "poll_interval", DEFAULT_POLL_INTERVAL)
        waited = 0.0
        while pending:
            if waited >= timeout:
                names = ", ".join(pending.values())
                raise TransientError(
                    f"{names} still processing after {waited:g} s",
                    platform=self.name, account=channel.account, code="media_processing",
                    hint="Nothing was posted. Try again later, or raise option poll_timeout.",
                )
            step = min(interval, timeout - waited)
            yield Sleep(step)
            waited += step
            for media_id, where in list(pending.items()):
                try:
                    response = yield httpx.Request(
                        "GET", f"{_base(channel)}/api/v1/media/{quote(media_id, safe='')}"
                    )
                except PlatformError as exc:
                    raise _in_context(exc, where) from exc
                if response.status_code == 200:
                    del pending[media_id]
                logger.debug("mastodon [%s] %s: %s", channel.account, where,
                             "ready" if response.status_code == 200 else "processing")

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Delete the status (a boost is undone with ``unreblog``); gone already is fine."""
        channel = receipt.channel
        boosted = receipt.raw.get("reblog")
        if isinstance(boosted, Mapping) and boosted.get("id"):
            url = f"{_base(channel)}/api/v1/statuses/{quote(str(boosted['id']), safe='')}/unreblog"
            request = httpx.Request("POST", url)
        else:
            url = f"{_base(channel)}/api/v1/statuses/{quote(receipt.remote_id, safe='')}"
            # delete_media (4.4+) removes the files at once; older servers ignore it.
            request = httpx.Request("DELETE", url, params={"delete_media": "true"})
        try:
            # Both are idempotent: a resend finds the status gone (404, below)
            # or the boost undone already (unreblog answers 200 either way).
            yield retry_safe(request)
        except PlatformError as exc:
            if exc.code != 404:
                raise
            logger.info("mastodon [%s] status %s was gone already",
                        channel.account, receipt.remote_id)

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Favourites, boosts and replies of the status; Mastodon shows no views."""
        channel = receipt.channel
        response = yield httpx.Request(
            "GET", f"{_base(channel)}/api/v1/statuses/{quote(receipt.remote_id, safe='')}"
        )
        status = _entity(response, self.name, channel)

        def count(name: str) -> int | None:
            value = status.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return Metrics(
            views=None, likes=count("favourites_count"), shares=count("reblogs_count"),
            comments=count("replies_count"), raw=status,
        )

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
        visibility = channel.options.get("visibility", "public")
        if visibility in REBLOG_VISIBILITIES:
            body["visibility"] = visibility
        request = httpx.Request(
            "POST",
            f"{_base(channel)}/api/v1/statuses/{quote(original.remote_id, safe='')}/reblog",
            content=json_body(body), headers={"Content-Type": "application/json"},
        )
        # No key, but ReblogService returns the account's existing boost of a
        # status instead of making a second one (mastodon/mastodon
        # app/services/reblog_service.rb; "unverified" in the fact sheet), so
        # a resend cannot boost twice.
        response = yield retry_safe(request)
        boost = _entity(response, self.name, channel)
        boosted = boost.get("reblog")
        # A boost has no page of its own (its url is an ActivityPub activity):
        # readers find it at the boosted status's address.
        url = (boosted.get("url") if isinstance(boosted, dict) else None) or boost.get("url")
        return Receipt(
            channel=channel, remote_id=boost["id"], url=url, state="published", raw=boost
        )

    # ----------------------------------------------------------- transport hooks

    def authorize(
        self, request: httpx.Request, channel: Channel, token: Token | None
    ) -> httpx.Request:
        """Send the bearer token, and only to the channel's own instance."""
        if _origin(request.url) == _origin(httpx.URL(_base(channel))):
            request.headers["Authorization"] = f"Bearer {channel.credentials['access_token']}"
        return request

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """The HTTP status decides (`error_codes`), refined by the messages in `MESSAGES`."""
        try:
            request: httpx.Request | None = response.request
        except RuntimeError:  # a response built by hand, without its request
            request = None
        if request is not None and _origin(request.url) != _origin(httpx.URL(_base(channel))):
            # A media download from another host: any 2xx body is the file.
            if 200 <= response.status_code < 300:
                return None
            return super().classify(response, channel)
        error = super().classify(response, channel)
        if error is None:
            return None
        for status, words, kind, hint in MESSAGES:
            if response.status_code == status and words in error.message:
                return (kind or type(error))(
                    error.message, platform=self.name, account=channel.account, code=status,
                    response=response, hint=hint, maybe_applied=False,
                )
        return error
