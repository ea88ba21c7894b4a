"""A strict, stateful fake of one Mastodon instance's REST API.

It keeps accounts with bearer tokens, statuses, boosts and media attachments,
and answers the way Mastodon 4.x does (shapes and messages from
shared/platforms/mastodon.md and mastodon/mastodon's controllers and
services): ``Idempotency-Key`` deduplication per account for an hour, media
that may be "processing" (202, then 206 polls), the 422 messages of status
and media validation, ``X-RateLimit-*`` headers with an ISO 8601 reset.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from typing import Any, ClassVar

import attrs
import httpx
import regex

from govmedia.content.length import count_mastodon
from govmedia.model import Channel
from govmedia.testing._budgets import Budget
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._idempotency import IdempotencyStore
from govmedia.testing._refuse import Refuse

__all__ = ["FakeAccount", "FakeMastodon", "FakeMedia", "FakeStatus"]

MB = 1024 * 1024
IMAGE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/heic", "image/heif", "image/webp", "image/avif",
})
VIDEO_TYPES = frozenset({"video/webm", "video/mp4", "video/quicktime", "video/ogg"})
AUDIO_TYPES = frozenset({
    "audio/wave", "audio/wav", "audio/x-wav", "audio/x-pn-wave", "audio/vnd.wave", "audio/ogg",
    "audio/vorbis", "audio/mpeg", "audio/mp3", "audio/webm", "audio/flac", "audio/aac",
    "audio/m4a", "audio/x-m4a", "audio/mp4", "audio/3gpp", "video/x-ms-asf",
})
IMAGE_LIMIT = 16 * MB
VIDEO_LIMIT = 99 * MB
DESCRIPTION_LIMIT = 1500
MEDIA_LIMIT = 4
IDEMPOTENCY_TTL = 3600.0
VISIBILITIES = ("public", "unlisted", "private", "direct")

BAD_TOKEN = "The access token is invalid"  # noqa: S105 - an error message
NOT_FOUND = "Record not found"
NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"
PROCESSING_FAILED = "Error processing thumbnail for uploaded media"
TOO_MANY = f"Cannot attach more than {MEDIA_LIMIT} files"
MIXED = "Cannot attach a video to a post that already contains images"
NOT_ALLOWED = "This action is not allowed"
BUSY = "There was a temporary problem serving your request, please try again"

# Rate budgets per account: (requests, period in seconds), upstream values
# (config/initializers/rack_attack.rb, app/lib/rate_limiter.rb).
LIMITS: dict[str, tuple[int, float]] = {
    "api": (1500, 300.0),
    "media": (30, 1800.0),
    "statuses": (300, 10800.0),
    "deletes": (30, 1800.0),
}

_TAG = regex.compile(r"(?:^|(?<=\s))[#\uff03]([\p{L}\p{M}\p{Nd}_]*\p{L}[\p{L}\p{M}\p{Nd}_]*)")
_LINK = re.compile(r"https?://[^\s<>\"]+")


def _no(status: int, error: str) -> Refuse:
    """Mastodon's refusal: ``{"error": ...}`` with *status*."""
    return Refuse(status, json={"error": error})


def _now_iso(now: float) -> str:
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


@attrs.define
class FakeAccount:
    """A local account: the channel's account name, its username and id."""

    name: str
    username: str
    id: str


@attrs.define
class FakeMedia:
    """An uploaded media attachment and its processing state."""

    id: str
    account: str
    type: str
    mime_type: str
    filename: str
    size: int
    description: str | None
    ready: bool
    polls_left: int = 0
    fails: bool = False
    status_id: str | None = None


@attrs.define
class FakeStatus:
    """A status or a boost (``reblog_of`` set)."""

    id: str
    account: str
    text: str
    visibility: str
    created_at: str
    language: str | None = None
    spoiler_text: str = ""
    sensitive: bool = False
    media_ids: list[str] = attrs.field(factory=list)
    reblog_of: str | None = None
    favourites: int = 0
    reblogs: int = 0
    replies: int = 0
    deleted: bool = False
    idempotency_key: str | None = None


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1", "on")


def _html(text: str, base: str) -> str:
    """Status text as Mastodon renders it: escaped paragraphs, links and tags linked."""

    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        return f'<a href="{url}" rel="nofollow noopener" target="_blank">{url}</a>'

    def tag(match: regex.Match[str]) -> str:
        name = match.group(1)
        return (f'<a href="{base}/tags/{name.lower()}" class="mention hashtag" rel="tag">'
                f"#<span>{name}</span></a>")

    paragraphs = [p for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    out = []
    for para in paragraphs:
        escaped = _LINK.sub(link, html.escape(para, quote=False))
        escaped = _TAG.sub(tag, escaped)
        out.append("<p>" + escaped.replace("\n", "<br />") + "</p>")
    return "".join(out)


class FakeMastodon(FakePlatform):
    """A Mastodon instance at ``{base}/mastodon`` that keeps what it is sent.

    Attributes you may set: `max_characters` (500), `processing` (``None``:
    uploads are ready at once, 200; a number N: every upload answers 202 and
    the first N looks at it, polls or attempts to attach it, find it still
    processing), `processing_fails` (processing ends in a 422),
    `enforce_limits` (answer 429 once a budget in `limits` is spent; the
    ``X-RateLimit-*`` headers are always sent) and `clock` (``time.time``).

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeMastodon, Sandbox
        >>> sandbox = Sandbox()
        >>> fake: FakeMastodon = sandbox["mastodon"]
        >>> ch = fake.channel("sasac@sandbox.example")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="国资小新 今日发布", tags=("央企",)), ch)
        >>> [(s["url"] == receipt.url, s["tags"][0]["name"]) for s in fake.posts()]
        [(True, '央企')]
    """

    name: ClassVar[str] = "mastodon"
    prefix: ClassVar[str] = "/mastodon"
    create_path: ClassVar[str] = r"^/api/v1/statuses$"
    """A path regex for `inject` that matches the status create only."""
    rate_limits: ClassVar[dict[str, tuple[int, float]]] = LIMITS
    rate_scope: ClassVar[tuple[str, ...]] = ("api",)

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.accounts: dict[str, FakeAccount] = {}
        self.tokens = FakeTokens(ttl=None, clock=self.now,  # any bad token: the same 401
                                 refuse=lambda _: httpx.Response(401, json={"error": BAD_TOKEN}))
        self.keys: IdempotencyStore[str] = IdempotencyStore(IDEMPOTENCY_TTL, clock=self.now)
        self.statuses: dict[str, FakeStatus] = {}
        self.scheduled: dict[str, dict[str, Any]] = {}  # ScheduledStatus by id, not live
        self.media: dict[str, FakeMedia] = {}
        self.max_characters = 500
        self.processing: int | None = None
        self.processing_fails = False
        self._ids = itertools.count(1)

    # ----------------------------------------------------------- public API

    def channel(self, account: str = "", **options: Any) -> Channel:
        """Register *account* (or a new one) with a fresh token; a channel that reaches it."""
        with self.lock:
            if not account:
                account = f"user{len(self.accounts) + 1}@{self._root.host}"
            if account not in self.accounts:
                number = self._next_id()
                username = re.sub(r"\W", "_", account.lstrip("@").split("@")[0], flags=re.ASCII)
                self.accounts[account] = FakeAccount(account, username or f"user{number}", number)
            token = self.tokens.issue(account).access.value
        return Channel(
            platform="mastodon", account=account, credentials={"access_token": token},
            options={"base_url": self.base_url, **options},
        )

    def account_of(self, request: httpx.Request) -> str | None:
        """The account the request's bearer token belongs to, if any."""
        token = self.tokens.get(self.bearer(request) or "")
        return token.subject if token else None

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live statuses and boosts (as the API shows them), oldest first."""
        with self.lock:
            return [
                self.status_json(s) for s in self.statuses.values()
                if not s.deleted and (account is None or s.account == account)
            ]

    def set_counts(
        self, status_id: str, *, favourites: int | None = None, reblogs: int | None = None,
        replies: int | None = None,
    ) -> None:
        """Pretend readers interacted with a status (for metrics)."""
        with self.lock:
            status = self.statuses[status_id]
            status.favourites = status.favourites if favourites is None else favourites
            status.reblogs = status.reblogs if reblogs is None else reblogs
            status.replies = status.replies if replies is None else replies

    def status_json(self, status: FakeStatus) -> dict[str, Any]:
        """A status as the REST API serialises it."""
        account = self.accounts[status.account]
        base = self.base_url
        if status.reblog_of:
            uri = url = f"{base}/users/{account.username}/statuses/{status.id}/activity"
        else:
            uri = f"{base}/users/{account.username}/statuses/{status.id}"
            url = f"{base}/@{account.username}/{status.id}"
        original = self.statuses.get(status.reblog_of) if status.reblog_of else None
        return {
            "id": status.id, "created_at": status.created_at, "in_reply_to_id": None,
            "in_reply_to_account_id": None, "sensitive": status.sensitive,
            "spoiler_text": status.spoiler_text, "visibility": status.visibility,
            "language": status.language, "uri": uri, "url": url,
            "replies_count": status.replies, "reblogs_count": status.reblogs,
            "favourites_count": status.favourites, "edited_at": None,
            "content": _html(status.text, base),
            "reblog": self.status_json(original) if original else None,
            "application": {"name": "govmedia", "website": None},
            "account": self._account_json(account),
            "media_attachments": [self._media_json(self.media[m]) for m in status.media_ids],
            "mentions": [],
            "tags": [{"name": n.lower(), "url": f"{base}/tags/{n.lower()}"}
                     for n in _TAG.findall(status.text)],
            "emojis": [], "card": None, "poll": None,
        }

    # ----------------------------------------------------------- faults

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Mastodon's shapes of a 429 and a 503.

        The 429 carries an ISO 8601 ``X-RateLimit-Reset`` and no ``Retry-After``
        (Mastodon's rack-attack responder sends none); the 503 is JSON.
        """
        if fault.kind == "rate_limit":
            now = self.now()
            wait = fault.retry_after if fault.retry_after is not None else 300 - now % 300
            return httpx.Response(429, json={"error": "Too many requests"}, headers={
                "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": self._iso_reset(now + wait),
            })
        if fault.kind == "busy":
            return httpx.Response(503, json={"error": BUSY})
        return super().fault_response(fault, request)

    # ----------------------------------------------------------- internals

    def _next_id(self) -> str:
        return str(113_000_000_000_000_000 + next(self._ids))

    @staticmethod
    def _iso_reset(when: float) -> str:
        stamp = dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="microseconds")
        return stamp.replace("+00:00", "Z")

    def budget_headers(self, budget: Budget) -> dict[str, str]:
        """``X-RateLimit-*`` of the tightest budget, with an ISO 8601 reset, on every answer."""
        return {"X-RateLimit-Limit": str(budget.limit), "X-RateLimit-Remaining": str(budget.remaining),
                "X-RateLimit-Reset": self._iso_reset(budget.reset_at)}

    def over_budget(self, budget: Budget, request: httpx.Request) -> httpx.Response:
        """rack-attack's 429: no ``Retry-After``, the reset is in the headers."""
        return httpx.Response(429, json={"error": "Too many requests"})

    def bad_body(self, reason: str) -> httpx.Response:
        """Rails' answer to parameters it cannot parse."""
        return _no(400, "Error occurred while parsing request parameters").response

    def _user(self, request: httpx.Request) -> FakeAccount:
        return self.accounts[self.tokens.access(self.bearer(request)).subject]

    def _visible(self, status_id: str, request: httpx.Request) -> FakeStatus:
        status = self.statuses.get(status_id)
        viewer = self.account_of(request)
        if status is None or status.deleted or (
            status.visibility in ("private", "direct") and status.account != viewer
        ):
            raise _no(404, NOT_FOUND)
        return status

    def _account_json(self, account: FakeAccount) -> dict[str, Any]:
        return {
            "id": account.id, "username": account.username, "acct": account.username,
            "display_name": account.name, "locked": False, "bot": False,
            "url": f"{self.base_url}/@{account.username}",
        }

    def _media_json(self, media: FakeMedia) -> dict[str, Any]:
        files = f"{self.base_url}/system/media_attachments/files/{media.id}"
        return {
            "id": media.id, "type": media.type,
            "url": f"{files}/original/{media.filename}" if media.ready else None,
            "preview_url": f"{files}/small/{media.filename}" if media.ready else None,
            "remote_url": None, "preview_remote_url": None, "text_url": None,
            "meta": {}, "description": media.description, "blurhash": None,
        }

    def _look(self, media: FakeMedia) -> bool:
        """One look at a processing media (time passes); True once it is ready."""
        if media.ready:
            return True
        if media.polls_left > 0:
            media.polls_left -= 1
            return False
        if media.fails:
            raise _no(422, PROCESSING_FAILED)
        media.ready = True
        return True

    # ----------------------------------------------------------- routes

    @route("GET", r"/api/v1/accounts/verify_credentials")
    def _verify(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return httpx.Response(200, json=self._account_json(self._user(request)))

    @route("GET", r"/api/v2/instance")
    def _instance(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return httpx.Response(200, json={
            "domain": self._root.host, "title": "govmedia sandbox", "version": "4.3.0",
            "configuration": {
                "statuses": {"max_characters": self.max_characters,
                             "max_media_attachments": MEDIA_LIMIT,
                             "characters_reserved_per_url": 23},
                "media_attachments": {
                    "supported_mime_types": sorted(IMAGE_TYPES | VIDEO_TYPES | AUDIO_TYPES),
                    "image_size_limit": IMAGE_LIMIT, "video_size_limit": VIDEO_LIMIT,
                    "description_limit": DESCRIPTION_LIMIT,
                },
            },
        })

    @route("POST", r"/api/v2/media", spends=("media",))
    def _upload(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request)
        parts = self.multipart_body(request)
        file = parts.get("file")
        if file is None or file.filename is None or not file.data:
            raise _no(422, "Validation failed: File can't be blank")
        mime = (file.content_type or "").split(";")[0].strip().lower()
        kind = ("image" if mime in IMAGE_TYPES else "video" if mime in VIDEO_TYPES
                else "audio" if mime in AUDIO_TYPES else None)
        if kind is None:
            raise _no(422, "Validation failed: File content type is invalid")
        limit = IMAGE_LIMIT if kind == "image" else VIDEO_LIMIT
        if len(file.data) > limit:
            raise _no(422, f"Validation failed: File file size must be less than {limit // MB} MB")
        description = parts["description"].data.decode("utf-8") if "description" in parts else None
        if description is not None and len(description) > DESCRIPTION_LIMIT:
            raise _no(422, "Validation failed: Description is too long "
                         f"(maximum is {DESCRIPTION_LIMIT} characters)")
        media = FakeMedia(
            id=self._next_id(), account=account.name, type=kind, mime_type=mime,
            filename=file.filename, size=len(file.data), description=description or None,
            ready=self.processing is None, polls_left=self.processing or 0,
            fails=self.processing_fails,
        )
        self.media[media.id] = media
        return httpx.Response(200 if media.ready else 202, json=self._media_json(media))

    @route("GET", r"/api/v1/media/(?P<id>[^/]+)")
    def _poll(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request)
        media = self.media.get(match["id"])
        if media is None or media.account != account.name or media.status_id is not None:
            raise _no(404, NOT_FOUND)
        ready = self._look(media)
        return httpx.Response(200 if ready else 206, json=self._media_json(media))

    @route("POST", r"/api/v1/statuses", spends=("statuses",))
    def _create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request)
        params = self.body_params(request)
        key = request.headers.get("idempotency-key")

        if params.get("scheduled_at"):
            return self._schedule(account, params, key)

        def create() -> str:
            return self._new_status(account, params, key).id

        status = self.statuses[self.keys.once(account.name, key, create) if key else create()]
        if status.deleted:  # a repeat of a status deleted since
            raise _no(404, NOT_FOUND)
        return httpx.Response(200, json=self.status_json(status))

    def _schedule(self, account: FakeAccount, params: dict[str, Any],
                  key: str | None) -> httpx.Response:
        """A status to publish later: a ScheduledStatus (``scheduled_at`` at least 5 minutes ahead)."""
        try:
            when = dt.datetime.fromisoformat(str(params["scheduled_at"]))
        except ValueError:
            raise _no(422, "Validation failed: Scheduled at is invalid") from None
        if when.timestamp() < self.now() + 300:
            raise _no(422, "Validation failed: Scheduled at The scheduled date must be in the future")

        def create() -> str:
            sid = self._next_id()
            self.scheduled[sid] = {"id": sid, "account": account.name,
                                   "scheduled_at": when.astimezone(dt.UTC).isoformat(),
                                   "params": {"text": str(params.get("status") or ""),
                                              "visibility": params.get("visibility") or "public"}}
            return sid

        sid = self.keys.once(account.name, key, create) if key else create()
        found = self.scheduled[sid]
        return httpx.Response(200, json={k: v for k, v in found.items() if k != "account"})

    def _new_status(self, account: FakeAccount, params: dict[str, Any], key: str | None) -> FakeStatus:
        media = self._attachable(account, params.get("media_ids") or [])
        text = str(params.get("status") or "")
        spoiler = str(params.get("spoiler_text") or "")
        visibility = params.get("visibility") or "public"
        if visibility not in VISIBILITIES:
            raise _no(422, "Validation failed: Visibility is not included in the list")
        if not text.strip() and not media:
            raise _no(422, "Validation failed: Text can't be blank")
        if count_mastodon(spoiler + text) > self.max_characters:
            raise _no(422, "Validation failed: Text character limit of "
                         f"{self.max_characters} exceeded")
        status = FakeStatus(
            id=self._next_id(), account=account.name, text=text, visibility=visibility,
            created_at=_now_iso(self.now()), language=params.get("language") or None,
            spoiler_text=spoiler, sensitive=_flag(params.get("sensitive")),
            media_ids=[m.id for m in media], idempotency_key=key,
        )
        for item in media:
            item.status_id = status.id
        self.statuses[status.id] = status
        return status

    def _attachable(self, account: FakeAccount, ids: Any) -> list[FakeMedia]:
        """The media a status may attach, checked in PostStatusService's order."""
        wanted = [str(i) for i in (ids if isinstance(ids, list) else [ids])]
        if len(wanted) > MEDIA_LIMIT:
            raise _no(422, TOO_MANY)
        found = [self.media.get(i) for i in wanted]
        missing = [i for i, m in zip(wanted, found, strict=True)
                   if m is None or m.account != account.name or m.status_id is not None]
        if missing:
            raise _no(422, f"Media {', '.join(missing)} not found or already attached "
                         "to another post")
        media = [m for m in found if m is not None]
        if len(media) > 1 and any(m.type in ("video", "audio") for m in media):
            raise _no(422, MIXED)
        ready = [self._look(m) for m in media]  # look at each: time passes for all
        if not all(ready):
            raise _no(422, NOT_READY)
        return media

    @route("GET", r"/api/v1/statuses/(?P<id>[^/]+)")
    def _show(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if request.headers.get("authorization") and self.account_of(request) is None:
            raise _no(401, BAD_TOKEN)
        return httpx.Response(200, json=self.status_json(self._visible(match["id"], request)))

    @route("DELETE", r"/api/v1/statuses/(?P<id>[^/]+)", spends=("deletes",))
    def _delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request)
        status = self.statuses.get(match["id"])
        if status is None or status.deleted or status.account != account.name:
            raise _no(404, NOT_FOUND)
        body = {**self.status_json(status), "text": status.text}
        self._remove(status)
        return httpx.Response(200, json=body)

    def _remove(self, status: FakeStatus) -> None:
        status.deleted = True
        if status.reblog_of and status.reblog_of in self.statuses:
            original = self.statuses[status.reblog_of]
            original.reblogs = max(0, original.reblogs - 1)
        for boost in self.statuses.values():  # RemoveStatusService takes the boosts along
            if boost.reblog_of == status.id and not boost.deleted:
                boost.deleted = True

    @staticmethod
    def _boosts(status: FakeStatus, target: FakeStatus, account: FakeAccount) -> bool:
        return (status.reblog_of == target.id and status.account == account.name
                and not status.deleted)

    @route("POST", r"/api/v1/statuses/(?P<id>[^/]+)/reblog", spends=("statuses",))
    def _reblog(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request)
        target = self._visible(match["id"], request)
        if target.reblog_of:
            target = self._visible(target.reblog_of, request)
        if target.visibility == "direct" or (
            target.visibility == "private" and target.account != account.name
        ):
            raise _no(403, NOT_ALLOWED)
        for status in self.statuses.values():  # ReblogService: an existing boost is returned
            if self._boosts(status, target, account):
                return httpx.Response(200, json=self.status_json(status))
        visibility = self.body_params(request).get("visibility") or "public"
        if visibility not in ("public", "unlisted", "private"):
            raise _no(422, "Validation failed: Visibility is not included in the list")
        boost = FakeStatus(
            id=self._next_id(), account=account.name, text="", visibility=visibility,
            created_at=_now_iso(self.now()), reblog_of=target.id,
        )
        self.statuses[boost.id] = boost
        target.reblogs += 1
        return httpx.Response(200, json=self.status_json(boost))

    @route("POST", r"/api/v1/statuses/(?P<id>[^/]+)/unreblog", spends=("deletes",))
    def _unreblog(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request)
        target = self._visible(match["id"], request)
        for status in self.statuses.values():
            if self._boosts(status, target, account):
                self._remove(status)
        return httpx.Response(200, json=self.status_json(target))
