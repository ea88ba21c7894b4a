"""A strict, stateful fake of the X (Twitter) API v2.

It answers the way shared/platforms/x.md describes X: errors are RFC 7807
problems (``type``, ``title``, ``detail``, ``status``) and the token endpoint
answers OAuth errors (``{"error": "invalid_grant", ...}``); access tokens live
two hours and refresh tokens are single-use (each refresh hands out a new one
and the old one is refused from then on); media go up in the v2 chunked
upload (initialize, append by ``segment_index``, finalize) and video and GIFs
are processed before they can be attached (STATUS: ``pending`` ->
``in_progress`` -> ``succeeded`` or ``failed``); ``POST /2/tweets`` has no
idempotency key (a resend makes a second post) and refuses a text identical to
a live post of the same account (403 duplicate content); every posting
answer carries ``x-rate-limit-*`` headers with a Unix-seconds reset.

Routes below ``{base}/x``: ``2/oauth2/token``, ``2/users/me``,
``2/media/upload/initialize``, ``2/media/upload/{id}/append``,
``2/media/upload/{id}/finalize``, ``GET 2/media/upload?command=STATUS``,
``2/tweets`` (POST), ``2/tweets/{id}`` (GET, DELETE),
``2/users/{id}/retweets`` (POST) and ``2/users/{id}/retweets/{tweet_id}`` (DELETE).

Modelled here and not on the fact sheet (unverified): the per-kind size
limits (images 5 MB, GIFs 15 MB, video 512 MB) and which MIME types each
category takes; that an append answers an empty 204; the ``public_metrics``
field names; that reposting a post twice keeps one repost.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import math
import re
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import image_type
from govmedia.content.counting import count_x
from govmedia.model import Channel
from govmedia.testing._budgets import Budget
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse
from govmedia.testing._uploads import ChunkedUploads, UploadSession

__all__ = ["FakeMedia", "FakePost", "FakeUser", "FakeX"]

MB = 1024 * 1024
PROBLEMS = "https://api.twitter.com/2/problems/"
SCOPES = ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access")
CATEGORIES = ("amplify_video", "tweet_gif", "tweet_image", "tweet_video", "dm_image", "dm_gif",
              "dm_video", "subtitles")
# category -> (MIME types taken, byte limit): X's documented limits, not on the sheet.
KINDS: dict[str, tuple[frozenset[str], int]] = {
    "tweet_image": (frozenset({"image/jpeg", "image/png", "image/webp"}), 5 * MB),
    "tweet_gif": (frozenset({"image/gif"}), 15 * MB),
    "tweet_video": (frozenset({"video/mp4", "video/quicktime"}), 512 * MB),
}
SEGMENT_MAX = 5 * MB
SEGMENTS = 1000
TEXT_MAX = 280
IMAGES_MAX = 4
REPLY_SETTINGS = ("following", "mentionedUsers", "subscribers", "verified")
POST_FIELDS = frozenset({"text", "media", "reply", "quote_tweet_id", "poll", "reply_settings",
                         "community_id", "geo", "card_uri", "edit_options", "for_super_followers_only",
                         "direct_message_deep_link", "nullcast"})
EXCLUSIVE = ("media", "poll", "quote_tweet_id", "card_uri")
DUPLICATE = "You are not allowed to create a Tweet with duplicate content."
INVALID = "One or more parameters to your request was invalid."


def problem(status: int, title: str, detail: str, kind: str | None = None,
            **extra: Any) -> httpx.Response:
    """An RFC 7807 problem as X answers it (``type`` ``about:blank`` where X gives no kind)."""
    body = {"title": title, "detail": detail, "type": PROBLEMS + kind if kind else "about:blank",
            "status": status, **extra}
    return httpx.Response(status, json=body)


def _invalid(message: str, **parameters: Any) -> Refuse:
    """X's 400 invalid-request: the parameter at fault in ``errors``."""
    return Refuse(problem(400, "Invalid Request", INVALID, "invalid-request",
                          errors=[{"parameters": parameters, "message": message}]))


def _segment_refusal(reason: str) -> httpx.Response:
    """X's answer where `ChunkedUploads` refuses a segment (the APPEND checks its own first)."""
    return _invalid(f"Segment refused: {reason.replace('_', ' ')}", media_id=[reason]).response


def _not_found(what: str, value: str) -> Refuse:
    return Refuse(problem(404, "Not Found Error", f"Could not find {what} with id: [{value}].",
                          "resource-not-found", resource_type=what, value=value))


def _forbidden(detail: str) -> Refuse:
    return Refuse(problem(403, "Forbidden", detail))


def _oauth(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})


_TOKEN_REFUSALS = {
    "refresh_invalid": "Value passed for the token was invalid.",
    "refresh_reused": "Value passed for the token was invalid.",
    "refresh_expired": "Value passed for the token has expired.",
}


def _token_refusal(reason: str) -> httpx.Response:
    if reason in _TOKEN_REFUSALS:
        return _oauth(400, "invalid_grant", _TOKEN_REFUSALS[reason])
    if reason == "scope":
        return problem(403, "Forbidden", "You are not permitted to perform this action.")
    return problem(401, "Unauthorized", "Unauthorized")


@attrs.define
class FakeUser:
    """An account: the channel's account name, X's user id and username."""

    account: str
    id: str
    username: str


@attrs.define
class FakeMedia:
    """An upload session and, once finalized, the media it became."""

    id: str
    owner: str
    media_type: str
    category: str
    total: int
    expires_at: float
    upload: UploadSession = attrs.field(repr=False)
    """Its segments as `ChunkedUploads` keeps them (numbered from 0)."""
    head: bytes = b""
    finalized: bool = False
    state: str | None = None  # None (an image: ready), pending, in_progress, succeeded, failed
    polls_left: int = 0
    fails: bool = False
    progress: int = 0

    @property
    def media_key(self) -> str:
        """``3_<id>`` for images, ``16_<id>`` GIFs, ``7_<id>`` video, as X writes them."""
        prefix = {"tweet_image": "3", "tweet_gif": "16"}.get(self.category, "7")
        return f"{prefix}_{self.id}"

    @property
    def segments(self) -> dict[int, int]:
        """``segment_index -> size`` of each segment received."""
        return {index: part.size for index, part in self.upload.parts.items()}

    @property
    def ready(self) -> bool:
        """Finalized and processed: attachable."""
        return self.finalized and self.state in (None, "succeeded")


@attrs.define
class FakePost:
    """A post or a repost (``retweet_of`` set) and its counts."""

    id: str
    author: str
    text: str
    created_at: str
    media_ids: list[str] = attrs.field(factory=list)
    reply_settings: str | None = None
    retweet_of: str | None = None
    deleted: bool = False
    likes: int = 0
    retweets: int = 0
    replies: int = 0
    quotes: int = 0
    impressions: int = 0


class FakeX(FakePlatform):
    r"""X's API v2 at ``{base}/x``, keeping users, tokens, uploads and posts.

    Attributes you may set: `processing_polls` (STATUS polls a video or GIF
    answers ``in_progress`` before it succeeds, default 1), `processing_fails`
    (processing ends ``failed``), `check_after_secs` (what STATUS asks a
    client to wait, default 1), `expires_after_secs` (an upload session's
    life, default 86,400), `client_secret` (``None``: the app is a public
    client, refreshed without Basic auth), `enforce_limits` (answer 429 once
    100 posts per 15 minutes of one user are spent; the ``x-rate-limit-*``
    headers are always sent) and `clock`.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeX, Sandbox
        >>> sandbox = Sandbox(platforms=["x"])
        >>> fake: FakeX = sandbox["x"]
        >>> ch = fake.channel("@sasac")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="国资小新 今日发布", tags=("央企",)), ch)
        >>> [(p["id"] == receipt.remote_id, p["text"]) for p in fake.posts("@sasac")]
        [(True, '国资小新 今日发布\n\n#央企')]
    """

    name: ClassVar[str] = "x"
    prefix: ClassVar[str] = "/x"
    create_path: ClassVar[str] = r"^/2/tweets$"
    """A path regex for `inject` that matches the post create only."""
    rate_limits: ClassVar[dict[str, tuple[int, float]]] = {"tweets": (100, 900.0)}

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.client_id = "fake-x-client-id"
        self.client_secret: str | None = "fake-x-client-secret"  # noqa: S105 - the fake app's own
        self.users: dict[str, FakeUser] = {}
        self.tokens = FakeTokens(ttl=7200, clock=self.now, refuse=_token_refusal)
        self.media: dict[str, FakeMedia] = {}
        # Sizes and digests of the APPENDed segments; a resent index replaces itself.
        self.uploads = ChunkedUploads(first_part=0, max_part=SEGMENT_MAX, max_parts=SEGMENTS - 1,
                                      clock=self.now, refuse=_segment_refusal)
        self.statuses: dict[str, FakePost] = {}
        self.processing_polls = 1
        self.processing_fails = False
        self.check_after_secs = 1
        self.expires_after_secs = 86_400
        self._ids = itertools.count(1)

    # ----------------------------------------------------------- the fake contract

    def channel(self, account: str = "", **options: Any) -> Channel:
        """Register *account* (or a new one) with a fresh token pair; a channel that reaches it."""
        with self.lock:
            if not account:
                account = f"@user{len(self.users) + 1}"
            if account not in self.users:
                username = re.sub(r"\W", "_", account.lstrip("@"), flags=re.ASCII) or "user"
                self.users[account] = FakeUser(account, str(1_500_000_000 + len(self.users) + 1), username)
            pair = self.tokens.issue(account, app_id=self.client_id, scopes=SCOPES, refresh=True)
        assert pair.refresh is not None
        credentials = {"access_token": pair.access.value, "refresh_token": pair.refresh.value,
                       "client_id": self.client_id}
        if self.client_secret:
            credentials["client_secret"] = self.client_secret
        return Channel(platform="x", account=account, credentials=credentials,
                       options={"base_url": self.base_url, **options})

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live posts and reposts (as ``GET /2/tweets/:id`` shows a post), oldest first."""
        with self.lock:
            return [self.post_json(p) for p in self.statuses.values()
                    if not p.deleted and (account is None or p.author == account)]

    def post_json(self, post: FakePost, *, metrics: bool = True) -> dict[str, Any]:
        """A post as the API shows it; a repost as ``{"retweet_of", "author_id"}``."""
        author = self.users[post.author].id
        if post.retweet_of is not None:
            return {"id": post.id, "retweet_of": post.retweet_of, "author_id": author}
        body: dict[str, Any] = {"id": post.id, "text": post.text, "author_id": author,
                                "created_at": post.created_at, "edit_history_tweet_ids": [post.id]}
        if post.media_ids:
            body["attachments"] = {"media_keys": [self.media[m].media_key for m in post.media_ids]}
        if post.reply_settings:
            body["reply_settings"] = post.reply_settings
        if metrics:
            body["public_metrics"] = {
                "retweet_count": post.retweets, "reply_count": post.replies, "like_count": post.likes,
                "quote_count": post.quotes, "bookmark_count": 0, "impression_count": post.impressions,
            }
        return body

    def set_counts(self, post_id: str, **counts: int) -> None:
        """Pretend readers interacted: ``likes``, ``retweets``, ``replies``, ``quotes``, ``impressions``."""
        with self.lock:
            post = self.statuses[post_id]
            for name, value in counts.items():
                if name not in ("likes", "retweets", "replies", "quotes", "impressions"):
                    raise ValueError(f"unknown count {name!r}")
                setattr(post, name, value)

    def account_of(self, request: httpx.Request) -> str | None:
        """The account the request's bearer token acts for, if any."""
        token = self.tokens.get(self.bearer(request) or "")
        return token.subject if token else None

    # ----------------------------------------------------------- platform shapes

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """X's 429 (with ``x-rate-limit-reset`` in Unix seconds), 503 and 401 problems.

        ``rate_limit`` with ``retry_after=None`` is the 24-hour posting cap
        spent: ``x-user-limit-24hour-remaining: 0`` and its reset a day away.
        """
        now = self.now()
        if fault.kind == "rate_limit":
            headers = {"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0"}
            if fault.retry_after is None:
                headers["x-rate-limit-reset"] = str(math.ceil(now + 60))
                headers.update({"x-user-limit-24hour-limit": "100", "x-user-limit-24hour-remaining": "0",
                                "x-user-limit-24hour-reset": str(math.ceil(now + 86_000))})
            else:
                headers["x-rate-limit-reset"] = str(math.ceil(now + fault.retry_after))
            response = problem(429, "Too Many Requests", "Too Many Requests")
            response.headers.update(headers)
            return response
        if fault.kind == "busy":
            return problem(503, "Service Unavailable", "Service Unavailable")
        if fault.kind == "token_expired":
            return problem(401, "Unauthorized", "Unauthorized")
        return super().fault_response(fault, request)

    def budget_headers(self, budget: Budget) -> dict[str, str]:
        """``x-rate-limit-*`` of the user's posting window, the reset in Unix seconds."""
        return {"x-rate-limit-limit": str(budget.limit), "x-rate-limit-remaining": str(budget.remaining),
                "x-rate-limit-reset": str(math.ceil(budget.reset_at))}

    def over_budget(self, budget: Budget, request: httpx.Request) -> httpx.Response:
        """A 429 problem; the wait is in the headers (X sends no ``Retry-After``)."""
        return problem(429, "Too Many Requests", "Too Many Requests")

    def bad_body(self, reason: str) -> httpx.Response:
        """A body X cannot read: 400 invalid-request."""
        return problem(400, "Invalid Request", INVALID, "invalid-request")

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """An unknown path: X's v1.1-style ``errors`` with code 34."""
        return httpx.Response(404, json={"errors": [{"message": "Sorry, that page does not exist",
                                                     "code": 34}]})

    # ----------------------------------------------------------- internals

    def _next_id(self) -> str:
        return str(1_790_000_000_000_000_000 + next(self._ids))

    def _user(self, request: httpx.Request, scope: str) -> FakeUser:
        token = self.tokens.access(self.bearer(request), scope=scope)
        return self.users[token.subject]

    def _upload(self, media_id: str, user: FakeUser) -> FakeMedia:
        media = self.media.get(media_id)
        if media is None or media.owner != user.account:
            raise _not_found("media", media_id)
        if media.expires_at <= self.now():
            raise _invalid(f"The media id {media_id} has expired.", media_id=[media_id])
        return media

    def _look(self, media: FakeMedia) -> None:
        """One look at a processing media: time passes."""
        if media.state in ("pending", "in_progress"):
            if media.polls_left > 0:
                media.polls_left -= 1
                media.state, media.progress = "in_progress", min(99, media.progress + 40)
            else:
                media.state = "failed" if media.fails else "succeeded"
                media.progress = 100

    def _processing_info(self, media: FakeMedia) -> dict[str, Any]:
        info: dict[str, Any] = {"state": media.state or "succeeded"}
        if media.state in ("pending", "in_progress"):
            info["check_after_secs"] = self.check_after_secs
        if media.state != "pending":
            info["progress_percent"] = media.progress if media.state else 100
        if media.state == "failed":
            info["error"] = {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}
        return info

    def _media_json(self, media: FakeMedia, **extra: Any) -> dict[str, Any]:
        return {"data": {"id": media.id, "media_key": media.media_key, **extra}}

    # ----------------------------------------------------------- routes: auth and users

    @route("POST", r"/2/oauth2/token")
    def _token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        form = self.form_body(request)
        client_id = form.get("client_id")
        if client_id != self.client_id:
            return _oauth(400, "invalid_request", "Missing required parameter [client_id].")
        if self.client_secret is not None:
            scheme, _, value = request.headers.get("authorization", "").partition(" ")
            try:
                given = base64.b64decode(value, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                given = ""
            if scheme.lower() != "basic" or given != f"{self.client_id}:{self.client_secret}":
                return _oauth(401, "unauthorized_client", "Missing valid authorization header")
        if form.get("grant_type") != "refresh_token":
            return _oauth(400, "unsupported_grant_type", "Unsupported grant type.")
        pair = self.tokens.refresh(form.get("refresh_token"), app_id=client_id)
        assert pair.refresh is not None
        return httpx.Response(200, json={
            "token_type": "bearer", "expires_in": math.ceil(pair.access.expires_at - self.now())
            if pair.access.expires_at is not None else None,
            "access_token": pair.access.value, "scope": " ".join(pair.access.scopes),
            "refresh_token": pair.refresh.value,
        })

    @route("GET", r"/2/users/me")
    def _me(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, "users.read")
        return httpx.Response(200, json={"data": {"id": user.id, "name": user.account,
                                                  "username": user.username}})

    # ----------------------------------------------------------- routes: media

    @route("POST", r"/2/media/upload/initialize")
    def _initialize(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, "media.write")
        body = self.json_body(request)
        category, media_type, total = (body.get("media_category"), body.get("media_type"),
                                       body.get("total_bytes"))
        if category not in CATEGORIES:
            raise _invalid("media_category is not one of the allowed values", media_category=[category])
        if not isinstance(total, int) or isinstance(total, bool) or total < 1:
            raise _invalid("total_bytes must be a positive integer", total_bytes=[total])
        types, limit = KINDS.get(category, (frozenset(), 0))
        if media_type not in types:
            raise _invalid(f"media_type {media_type!r} does not fit media_category {category}",
                           media_type=[media_type])
        if total > limit:
            raise _invalid(f"File size exceeds {limit // MB} MB for {category}", total_bytes=[total])
        media = FakeMedia(id=self._next_id(), owner=user.account, media_type=media_type,
                          category=category, total=total,
                          expires_at=self.now() + self.expires_after_secs,
                          upload=self.uploads.start(user.account))
        self.media[media.id] = media
        return httpx.Response(200, json=self._media_json(
            media, expires_after_secs=self.expires_after_secs))

    @route("POST", r"/2/media/upload/(?P<id>\d+)/append")
    def _append(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, "media.write")
        media = self._upload(match["id"], user)
        parts = self.multipart_body(request)
        file = parts.get("media")
        index = parts.fields.get("segment_index")
        if file is None or not file.is_file or not file.data:
            raise _invalid("media is required", media=["missing"])
        if not isinstance(index, str) or not index.isdigit() or not 0 <= int(index) < SEGMENTS:
            raise _invalid("segment_index must be an integer from 0 to 999", segment_index=[index])
        if len(file.data) > SEGMENT_MAX:
            raise _invalid("Segment size exceeds 5 MB", media=[len(file.data)])
        if media.finalized:
            raise _invalid(f"The media id {media.id} was finalized already", media_id=[media.id])
        self.uploads.put(media.upload.upload_id, user.account, int(index), file.data)
        if int(index) == 0:
            media.head = file.data[:16]
        return httpx.Response(204)

    @route("POST", r"/2/media/upload/(?P<id>\d+)/finalize")
    def _finalize(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, "media.write")
        media = self._upload(match["id"], user)
        if media.finalized:
            raise _invalid(f"The media id {media.id} was finalized already", media_id=[media.id])
        received = sum(media.segments.values())
        mismatch = _invalid(f"File size mismatch: {received} of {media.total} bytes in contiguous "
                            "segments", media_id=[media.id])
        if received != media.total:
            raise mismatch  # before the session closes: the missing segments may still come
        sniffed = image_type(media.head)
        if media.category in ("tweet_image", "tweet_gif") and media.media_type != "image/webp" and (
                sniffed is None or f"image/{sniffed}" != media.media_type):
            raise _invalid("InvalidContent: the file is not the image its media_type says",
                           media_id=[media.id])
        try:
            self.uploads.complete(media.upload.upload_id, user.account)  # a gap in the indexes
        except Refuse:
            raise mismatch from None
        media.finalized = True
        extra: dict[str, Any] = {"size": media.total,
                                 "expires_after_secs": int(media.expires_at - self.now())}
        if media.category != "tweet_image":
            media.state, media.polls_left = "pending", self.processing_polls
            media.fails = self.processing_fails
            extra["processing_info"] = self._processing_info(media)
        return httpx.Response(200, json=self._media_json(media, **extra))

    @route("GET", r"/2/media/upload")
    def _status(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, "media.write")
        query = request.url.params
        if query.get("command") != "STATUS" or not query.get("media_id"):
            raise _invalid("command must be STATUS, with a media_id", command=[query.get("command")])
        media = self._upload(query["media_id"], user)
        if not media.finalized:
            raise _invalid(f"The media id {media.id} is not finalized", media_id=[media.id])
        self._look(media)
        return httpx.Response(200, json=self._media_json(
            media, processing_info=self._processing_info(media)))

    # ----------------------------------------------------------- routes: posts

    @route("POST", r"/2/tweets", spends=("tweets",))
    def _create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, "tweet.write")
        body = self.json_body(request)
        unknown = sorted(set(body) - POST_FIELDS)
        if unknown:
            raise _invalid(f"The query parameters [{', '.join(unknown)}] are not one of the allowed",
                           **{name: [body[name]] for name in unknown})
        if sum(1 for name in EXCLUSIVE if body.get(name)) > 1:
            raise _invalid("media, poll, quote_tweet_id and card_uri are mutually exclusive")
        text = body.get("text")
        if text is not None and not isinstance(text, str):
            raise _invalid("text must be a string", text=[text])
        media = self._attachable(user, body.get("media"))
        if not (text or "").strip() and not media:
            raise _invalid("Post text or media is required", text=[text])
        if text and count_x(text) > TEXT_MAX:
            raise _invalid("Tweet text is too long", text=[text])
        settings = body.get("reply_settings")
        if settings is not None and settings not in REPLY_SETTINGS:
            raise _invalid("reply_settings is not one of the allowed values", reply_settings=[settings])
        if text and any(p.author == user.account and p.text == text and not p.deleted
                        and p.retweet_of is None for p in self.statuses.values()):
            raise _forbidden(DUPLICATE)
        post = FakePost(id=self._next_id(), author=user.account, text=text or "",
                        created_at=_iso(self.now()), media_ids=[m.id for m in media],
                        reply_settings=settings)
        self.statuses[post.id] = post
        return httpx.Response(201, json={"data": {"id": post.id, "text": post.text}})

    def _attachable(self, user: FakeUser, value: Any) -> list[FakeMedia]:
        if value is None:
            return []
        ids = value.get("media_ids") if isinstance(value, dict) else None
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise _invalid("media.media_ids must be a non-empty array of strings", media_ids=[ids])
        found = []
        for media_id in ids:
            media = self.media.get(media_id)
            if media is None or media.owner != user.account or media.expires_at <= self.now():
                raise _invalid("Your media IDs are invalid.", media_ids=[media_id])
            self._look(media)  # time passes for a processing media too
            if not media.ready:
                raise _invalid(f"Media {media_id} is not ready: processing_info.state is "
                               f"{media.state}", media_ids=[media_id])
            found.append(media)
        single = [m for m in found if m.category != "tweet_image"]
        if len(found) > IMAGES_MAX or (single and len(found) > 1):
            raise _invalid("Attach at most 4 images, or one video or GIF", media_ids=ids)
        return found

    @route("GET", r"/2/tweets/(?P<id>\d+)")
    def _show(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        self._user(request, "tweet.read")
        post = self.statuses.get(match["id"])
        if post is None or post.deleted or post.retweet_of is not None:
            raise _not_found("tweet", match["id"])
        fields = request.url.params.get("tweet.fields", "").split(",")
        return httpx.Response(200, json={"data": self.post_json(post, metrics="public_metrics" in fields)})

    @route("DELETE", r"/2/tweets/(?P<id>\d+)")
    def _delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, "tweet.write")
        post = self.statuses.get(match["id"])
        if post is None or post.deleted or post.retweet_of is not None:
            raise _not_found("tweet", match["id"])
        if post.author != user.account:
            raise _forbidden("You are not authorized to delete this Tweet.")
        post.deleted = True
        for repost in self.statuses.values():  # reposts of a deleted post go with it
            if repost.retweet_of == post.id:
                repost.deleted = True
        return httpx.Response(200, json={"data": {"deleted": True}})

    # ----------------------------------------------------------- routes: reposts

    def _acting(self, request: httpx.Request, user_id: str) -> FakeUser:
        user = self._user(request, "tweet.write")
        if user.id != user_id:
            raise _forbidden("You are not allowed to act on behalf of another user.")
        return user

    def _repost_of(self, user: FakeUser, post_id: str) -> FakePost | None:
        return next((p for p in self.statuses.values() if p.retweet_of == post_id
                     and p.author == user.account and not p.deleted), None)

    @route("POST", r"/2/users/(?P<id>\d+)/retweets")
    def _retweet(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._acting(request, match["id"])
        tweet_id = self.json_body(request).get("tweet_id")
        if not isinstance(tweet_id, str) or not tweet_id:
            raise _invalid("tweet_id is required", tweet_id=[tweet_id])
        source = self.statuses.get(tweet_id)
        if source is None or source.deleted or source.retweet_of is not None:
            raise _not_found("tweet", tweet_id)
        if self._repost_of(user, tweet_id) is None:  # one repost per user and post
            repost = FakePost(id=self._next_id(), author=user.account, text="",
                              created_at=_iso(self.now()), retweet_of=tweet_id)
            self.statuses[repost.id] = repost
            source.retweets += 1
        return httpx.Response(200, json={"data": {"retweeted": True}})

    @route("DELETE", r"/2/users/(?P<id>\d+)/retweets/(?P<tweet>\d+)")
    def _unretweet(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._acting(request, match["id"])
        repost = self._repost_of(user, match["tweet"])
        if repost is not None:
            repost.deleted = True
            source = self.statuses.get(match["tweet"])
            if source is not None:
                source.retweets = max(0, source.retweets - 1)
        return httpx.Response(200, json={"data": {"retweeted": False}})


def _iso(now: float) -> str:
    stamp = dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
