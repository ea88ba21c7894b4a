"""A strict, stateful fake of the Facebook Graph API for Pages (and its video host).

It answers the way shared/platforms/facebook.md describes the Graph API:
every path starts with a pinned version (``/v24.0/...``); a Page access token
comes as ``Authorization: Bearer`` or ``access_token``; errors are ``{"error":
{"message", "type", "code", "error_subcode", "fbtrace_id", "is_transient"?}}``,
mostly with HTTP 400; a dead token is 190 with the subcode saying why (463
expired, 460 password changed, ...); rate limits are codes with
``X-Business-Use-Case-Usage`` (``estimated_time_to_regain_access`` in
minutes) and no ``Retry-After``. ``POST /{page-id}/feed`` has no idempotency
key (a resend makes a second post) and refuses a message identical to the
Page's latest post (506); with ``published=false`` and
``scheduled_publish_time`` (Unix seconds or ISO 8601, 10 minutes to 30 days
ahead) it makes a scheduled post, kept out of the live feed until its time
and listed by ``GET /{page-id}/scheduled_posts``; photos go up published (a photo post) or
unpublished (``published=false``) for ``attached_media``; videos go up in the
legacy chunked upload at ``{base}/facebook/video`` (the fake's
graph-video host), in the chunks the fake asks for, and are encoded
(``processing``) before they are ``ready``.

Routes below ``{base}/facebook``: ``/{v}/{page-id}/feed`` (POST, GET),
``/{v}/{page-id}/scheduled_posts`` (GET),
``/{v}/{page-id}/photos`` (POST), ``/video/{v}/{page-id}/videos`` (POST:
``upload_phase`` start, transfer, finish), ``/{v}/{object-id}`` (GET, DELETE).

Modelled here and not on the fact sheet (unverified): the feed's answer
(``data`` newest first, ``created_time`` as ``2026-12-01T08:00:00+0000``,
``paging.cursors.after``); ``status.video_status`` (``processing``,
``ready``, ``error``); the counts' fields (``reactions`` and ``comments``
with ``summary.total_count``, ``shares.count``, left out at 0); offsets
given as strings; that a transfer resent at an earlier offset replaces that
chunk; the photo size limit (10 MB) and the codes for a bad photo (324), a
bad video (352), an object that does not exist (100, subcode 33) and an
unknown path (2500); that a feed post whose ``link`` is a Page post's
address is a share of it; that ``/scheduled_posts`` answers as the feed does
(with ``scheduled_publish_time`` in Unix seconds when asked for); the 30-day
bound of the schedule window (older docs say 6 months) and the refusal of a
time outside it (100, "The specified scheduled publish time is invalid.");
that ``published=false`` without a time makes a post no reader sees (the
fake keeps it out of both lists); the strtotime strings the sheet also
allows for the time are not modelled (refused).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import secrets
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import image_type, video_type
from govmedia.model import Channel
from govmedia.testing._budgets import Budget
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse
from govmedia.testing._uploads import ChunkedUploads

__all__ = ["FakeFacebook", "FakeFeedPost", "FakePage", "FakePhoto", "FakeVideo", "graph_error"]

MB = 1024 * 1024
SCOPES = ("pages_show_list", "pages_manage_posts", "pages_read_engagement",
          "pages_manage_engagement", "publish_video")
TEXT_MAX = 63_206
# "window 10 min-30 days per current tools, older docs 6 months - unverified"
SCHEDULE_MIN, SCHEDULE_MAX = 10 * 60, 30 * 86400
_VERSION = r"v(?P<version>\d{1,3})\.0"
_POST_URL = re.compile(r"^https://www\.facebook\.com/(?P<page>\d+)/(?:posts|videos)/(?P<own>\d+)/?$")


def graph_error(code: int, message: str, *, status: int = 400, subcode: int | None = None,
                kind: str = "OAuthException", transient: bool | None = None,
                user_msg: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    """A Graph API error answer, shaped as the fact sheet shows it.

    Example:
        >>> from govmedia.testing.facebook import graph_error
        >>> body = graph_error(190, "Error validating access token", subcode=463).json()["error"]
        >>> body["code"], body["error_subcode"], body["type"]
        (190, 463, 'OAuthException')
    """
    error: dict[str, Any] = {"message": message, "type": kind, "code": code,
                             "fbtrace_id": "A" + secrets.token_urlsafe(15)}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    if user_msg:
        error["error_user_title"] = "Error"
        error["error_user_msg"] = user_msg
    return httpx.Response(status, json={"error": error}, headers=headers)


def _no(code: int, message: str, **kwargs: Any) -> Refuse:
    return Refuse(graph_error(code, message, **kwargs))


def _invalid(message: str, **kwargs: Any) -> Refuse:
    return _no(100, f"(#100) {message}", **kwargs)


def _missing(object_id: str, method: str = "get") -> Refuse:
    return _no(100, f"Unsupported {method} request. Object with ID '{object_id}' does not exist, "
               "cannot be loaded due to missing permissions, or does not support this operation.",
               subcode=33)


_TOKEN_ERRORS = {
    "missing": (190, None, 400, "An access token is required to request this resource."),
    "invalid": (190, None, 400, "Invalid OAuth access token - Cannot parse access token"),
    "expired": (190, 463, 400, "Error validating access token: Session has expired."),
    "scope": (200, None, 403, "(#200) The token lacks the permission this call needs"),
}


def _token_refusal(reason: str) -> httpx.Response:
    code, subcode, status, message = _TOKEN_ERRORS.get(reason, _TOKEN_ERRORS["invalid"])
    return graph_error(code, message, status=status, subcode=subcode)


def _unix(text: str) -> float | None:
    """Unix seconds or ISO 8601 with a zone (strtotime strings are not modelled)."""
    text = text.strip()
    if text.isdigit():
        return float(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def _stamp(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


@attrs.define
class FakePage:
    """A Page: the channel's account, its numeric id and the Page token's value."""

    account: str
    page_id: str
    token: str = attrs.field(repr=False)


@attrs.define
class FakePhoto:
    """An uploaded photo: published (a photo post) or not (for ``attached_media``)."""

    id: str
    page_id: str
    size: int
    mime_type: str
    published: bool
    attached_to: str | None = None


@attrs.define
class FakeFeedPost:
    """A post of a Page: text, link, photos, a share or a video, and its counts."""

    id: str
    page_id: str
    created_at: float
    message: str = ""
    link: str | None = None
    photo_ids: list[str] = attrs.field(factory=list)
    share_of: str | None = None
    video_id: str | None = None
    scheduled_at: float | None = None
    published: bool = True  # False: published=false without a time (no reader sees it)
    deleted: bool = False
    reactions: int = 0
    comments: int = 0
    shares: int = 0

    @property
    def kind(self) -> str:
        """``status``, ``link``, ``photos``, ``share`` or ``video``."""
        if self.video_id:
            return "video"
        if self.share_of:
            return "share"
        if self.photo_ids:
            return "photos"
        return "link" if self.link else "status"


@attrs.define
class FakeVideo:
    """A video: its upload session, then its encoding state."""

    id: str
    page_id: str
    upload_session_id: str
    size: int
    chunk: int
    state: str = "uploading"  # uploading, processing, ready, error
    head: bytes = b""
    polls_left: int = 0
    fails: bool = False
    progress: int = 0
    title: str = ""
    description: str = ""
    post_id: str | None = None
    deleted: bool = False


class FakeFacebook(FakePlatform):
    r"""The Graph API for Pages at ``{base}/facebook`` (video uploads at ``{base}/facebook/video``).

    Attributes you may set: `chunk_size` (bytes per transfer the fake asks
    for, default 1 MiB), `processing_polls` (status reads a video answers
    ``processing`` before it is ready, default 1), `processing_fails` (its
    encoding ends ``error``), `photo_max` (bytes, default 10 MB),
    `unscrapable` (hosts whose links fail with 1609005), `engaged_users`
    (the Page budget is 4800 calls per 24 h times this, default 1),
    `enforce_limits` (answer 80001 once that budget is spent; the usage
    header is always sent), `upload_ttl` (seconds an upload session lives)
    and `clock`.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import Sandbox
        >>> sandbox = Sandbox(platforms=["facebook"])
        >>> fake = sandbox["facebook"]
        >>> page = fake.channel("sasac-page")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="国资小新 今日发布", tags=("央企",)), page)
        >>> [(p["id"] == receipt.remote_id, p["message"]) for p in fake.posts("sasac-page")]
        [(True, '国资小新 今日发布\n\n#央企')]
    """

    name: ClassVar[str] = "facebook"
    prefix: ClassVar[str] = "/facebook"
    create_path: ClassVar[str] = rf"^/{_VERSION}/\d+/feed$"
    """A path regex for `inject` that matches the feed create (and, as GET, the feed read)."""
    scheduled_path: ClassVar[str] = rf"^/{_VERSION}/\d+/scheduled_posts$"
    """A path regex for `requests` that matches the read of a Page's scheduled posts."""
    video_path: ClassVar[str] = rf"^/video/{_VERSION}/\d+/videos$"
    """The video host's upload path (start, transfer and finish: the finish makes the post)."""
    rate_limits: ClassVar[dict[str, tuple[int, float]]] = {"pages": (4800, 86_400.0)}
    rate_scope: ClassVar[tuple[str, ...]] = ("pages",)

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.pages: dict[str, FakePage] = {}
        self.tokens = FakeTokens(ttl=None, clock=self.now, refuse=_token_refusal)
        self.dead: dict[str, tuple[int, str]] = {}  # token value -> (subcode, message)
        self.photos: dict[str, FakePhoto] = {}
        self.feed: dict[str, FakeFeedPost] = {}
        self.videos: dict[str, FakeVideo] = {}
        self.uploads = ChunkedUploads(refuse=self._upload_refusal, clock=self.now, ttl=86_400.0)
        self.chunk_size = MB
        self.processing_polls = 1
        self.processing_fails = False
        self.photo_max = 10 * MB
        self.unscrapable: set[str] = set()
        self._engaged = 1
        self._ids = itertools.count(1)
        self._budget_page: str | None = None

    # ----------------------------------------------------------- knobs

    @property
    def engaged_users(self) -> int:
        """The Page's engaged users: its budget is 4800 calls per 24 h times this."""
        return self._engaged

    @engaged_users.setter
    def engaged_users(self, value: int) -> None:
        self._engaged = value
        self.limits["pages"] = (4800 * value, 86_400.0)

    @property
    def upload_ttl(self) -> float | None:
        """Seconds an upload session stays open (``None``: for good)."""
        return self.uploads.ttl

    @upload_ttl.setter
    def upload_ttl(self, value: float | None) -> None:
        self.uploads.ttl = value

    def kill_token(self, account: str, subcode: int = 460,
                   message: str = "Error validating access token: The session has been "
                                  "invalidated because the user changed their password.") -> None:
        """Make *account*'s Page token die the way *subcode* says (460: password changed)."""
        with self.lock:
            self.dead[self.pages[account].token] = (subcode, message)

    def set_counts(self, object_id: str, **counts: int) -> None:
        """Pretend readers interacted: ``reactions``, ``comments``, ``shares``."""
        with self.lock:
            post = self.feed[object_id]
            for name, value in counts.items():
                if name not in ("reactions", "comments", "shares"):
                    raise ValueError(f"unknown count {name!r}")
                setattr(post, name, value)

    # ----------------------------------------------------------- the fake contract

    def channel(self, account: str = "", **options: Any) -> Channel:
        """Register *account*'s Page (or a new one) with a Page token; a channel that reaches it."""
        with self.lock:
            if not account:
                account = f"page{len(self.pages) + 1}"
            if account not in self.pages:
                token = self.tokens.issue(account, scopes=SCOPES, prefix="EAAG").access.value
                page_id = str(104_000_000_000_000 + len(self.pages) + 1)
                self.pages[account] = FakePage(account, page_id, token)
            page = self.pages[account]
        return Channel(platform="facebook", account=account,
                       credentials={"page_access_token": page.token},
                       options={"page_id": page.page_id, "base_url": self.base_url,
                                "video_base_url": f"{self.base_url}/video", **options})

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live, published posts of a Page (or all), oldest first, as the fake keeps them."""
        with self.lock:
            page = self.pages[account].page_id if account is not None else None
            return [self.post_json(p) for p in self.feed.values()
                    if self._live(p) and (page is None or p.page_id == page)]

    def scheduled(self, account: str) -> list[dict[str, Any]]:
        """A Page's scheduled posts, not yet live, with ``scheduled_publish_time`` (Unix seconds)."""
        with self.lock:
            page = self.pages[account].page_id
            return [{**self.post_json(p), "scheduled_publish_time": int(p.scheduled_at or 0)}
                    for p in self.feed.values() if p.page_id == page and self._waiting(p)]

    def post_json(self, post: FakeFeedPost) -> dict[str, Any]:
        """A post as the fake keeps it: ``id``, ``kind``, ``created_time`` and what it carries."""
        body: dict[str, Any] = {"id": post.id, "kind": post.kind,
                                "created_time": _stamp(post.created_at)}
        if post.message:
            body["message"] = post.message
        if post.link:
            body["link"] = post.link
        if post.photo_ids:
            body["attached_media"] = list(post.photo_ids)
        if post.share_of:
            body["share_of"] = post.share_of
        if post.video_id:
            video = self.videos[post.video_id]
            body.update(video_id=video.id, title=video.title, status=video.state)
        return body

    def account_of(self, request: httpx.Request) -> str | None:
        """The account whose Page token the request carries, if any."""
        token = self.tokens.get(self._token_of(request) or "")
        return token.subject if token else None

    # ----------------------------------------------------------- platform shapes

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """80001 with the usage header's wait (``retry_after=None``: 4, no wait), 2, 1 and 190/463."""
        if fault.kind == "rate_limit":
            if fault.retry_after is None:
                usage = json.dumps({"call_count": 100, "total_cputime": 20, "total_time": 30})
                return graph_error(4, "(#4) Application request limit reached", transient=True,
                                   headers={"X-App-Usage": usage})
            minutes = math.ceil(fault.retry_after / 60)
            page = self._page_of_token(request)
            return graph_error(
                80001, "(#80001) There have been too many calls to this Page account. Wait a bit "
                       "and try again.",
                headers=self._usage(page.page_id if page else "0", 100, minutes))
        if fault.kind == "busy":
            return graph_error(2, "An unexpected error has occurred. Please retry your request "
                                  "later.", status=500, transient=True)
        if fault.kind == "server_error":
            return graph_error(1, "An unknown error has occurred.", status=500, transient=True)
        if fault.kind == "token_expired":
            return _token_refusal("expired")
        return super().fault_response(fault, request)

    def budget_key(self, request: httpx.Request) -> str | None:
        """Calls count against the Page whose token they carry."""
        page = self._page_of_token(request)
        # Read by budget_headers for this same answer (dispatch runs under the fake's lock).
        self._budget_page = page.page_id if page else None
        return page.page_id if page else None

    def budget_headers(self, budget: Budget) -> dict[str, str]:
        """``X-Business-Use-Case-Usage`` for the Page: percentages and the wait in minutes."""
        percent = min(100, math.ceil(100 * budget.used / max(1, budget.limit)))
        minutes = math.ceil(budget.retry_after(self.now()) / 60) if budget.exhausted else 0
        return self._usage(self._budget_page or "0", percent, minutes)

    def over_budget(self, budget: Budget, request: httpx.Request) -> httpx.Response:
        """80001; the wait is in the usage header (Facebook sends no ``Retry-After``)."""
        return graph_error(80001, "(#80001) There have been too many calls to this Page account. "
                                  "Wait a bit and try again.")

    def bad_body(self, reason: str) -> httpx.Response:
        """A body the Graph API cannot read: 100."""
        return graph_error(100, f"(#100) The request body could not be read ({reason})")

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """An unknown path (or one without a pinned version): 2500."""
        return graph_error(2500, f"Unknown path components: {path}")

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """A known path with another method: 100."""
        return graph_error(100, f"Unsupported {request.method.lower()} request.")

    @staticmethod
    def _usage(page_id: str, percent: int, minutes: int) -> dict[str, str]:
        entry = {"type": "pages", "call_count": percent, "total_cputime": percent // 2,
                 "total_time": percent // 2, "estimated_time_to_regain_access": minutes}
        return {"X-Business-Use-Case-Usage": json.dumps({page_id: [entry]})}

    # ----------------------------------------------------------- internals

    def _next_id(self) -> str:
        return str(900_000_000_000_000 + next(self._ids))

    @staticmethod
    def _token_of(request: httpx.Request) -> str | None:
        return FakePlatform.bearer(request) or request.url.params.get("access_token") or None

    def _page_of_token(self, request: httpx.Request) -> FakePage | None:
        token = self.tokens.get(self._token_of(request) or "")
        return self.pages.get(token.subject) if token else None

    def _acting(self, request: httpx.Request, page_id: str | None, scope: str) -> FakePage:
        """The Page a request acts for, refused as Facebook refuses a bad token or Page."""
        value = self._token_of(request)
        if value in self.dead:
            subcode, message = self.dead[value]
            raise _no(190, message, subcode=subcode)
        token = self.tokens.access(value, scope=scope)
        page = self.pages[token.subject]
        if page_id is not None and page.page_id != page_id:
            raise _no(200, "(#200) If posting to a Page, requires both pages_read_engagement and "
                           "pages_manage_posts as an admin with sufficient administrative "
                           "permission", status=403)
        return page

    def _params(self, request: httpx.Request) -> dict[str, Any]:
        """Parameters from the query and the body ("form, query or JSON"); the body wins."""
        params: dict[str, Any] = {k: v for k, v in request.url.params.items() if k != "access_token"}
        params.update(self.body_params(request))
        return params

    def _waiting(self, post: FakeFeedPost) -> bool:
        """A scheduled post whose time has not come."""
        return not post.deleted and post.scheduled_at is not None and post.scheduled_at > self.now()

    def _live(self, post: FakeFeedPost) -> bool:
        if post.deleted or not post.published or self._waiting(post):
            return False
        if post.video_id:
            return self.videos[post.video_id].state in ("processing", "ready")
        return True

    def _upload_refusal(self, reason: str) -> httpx.Response:
        return graph_error(100, f"(#100) Invalid upload session: {reason}")

    @staticmethod
    def _flag(params: dict[str, Any], name: str, *, default: bool) -> bool:
        value = params.get(name)
        if value is None:
            return default
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise _invalid(f"Param {name} must be a boolean")

    # ----------------------------------------------------------- routes: feed

    @route("POST", rf"/{_VERSION}/(?P<page>\d+)/feed")
    def _create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        page = self._acting(request, match["page"], "pages_manage_posts")
        params = self._params(request)
        message = params.get("message") or ""
        link = params.get("link") or None
        if not isinstance(message, str) or (link is not None and not isinstance(link, str)):
            raise _invalid("message and link must be strings")
        photos = self._attached(page, params)
        if not message.strip() and not link and not photos:
            raise _invalid("Missing message or attachment")
        if len(message) > TEXT_MAX:
            raise _invalid("The message is too long")
        published = self._flag(params, "published", default=True)
        scheduled = self._schedule(params, published=published)
        if message and published and self._latest_message(page) == message:
            raise _no(506, "(#506) Duplicate status message")
        share_of = None
        if link:
            share_of = self._link_target(link)
            if share_of is None and httpx.URL(link).host in self.unscrapable:
                raise _no(1609005, "Error posting link: the link could not be fetched",
                          user_msg="The link could not be posted.")
        post = FakeFeedPost(id=f"{page.page_id}_{self._next_id()}", page_id=page.page_id,
                            created_at=self.now(), message=message, link=link,
                            photo_ids=[p.id for p in photos], share_of=share_of,
                            scheduled_at=scheduled, published=published or scheduled is not None)
        for photo in photos:
            photo.attached_to = post.id
        if share_of is not None:
            self.feed[share_of].shares += 1
        self.feed[post.id] = post
        return httpx.Response(200, json={"id": post.id})

    def _attached(self, page: FakePage, params: dict[str, Any]) -> list[FakePhoto]:
        found: dict[int, FakePhoto] = {}
        for name, value in params.items():
            slot = re.fullmatch(r"attached_media\[(\d+)\]", name)
            if slot is None:
                continue
            try:
                media = json.loads(value) if isinstance(value, str) else None
            except ValueError:
                media = None
            photo_id = media.get("media_fbid") if isinstance(media, dict) else None
            photo = self.photos.get(photo_id) if isinstance(photo_id, str) else None
            if photo is None or photo.page_id != page.page_id:
                raise _invalid(f"attached_media[{slot[1]}] is not a photo of this Page")
            if photo.published or photo.attached_to is not None:
                raise _invalid(f"Photo {photo.id} cannot be attached: it is published already")
            found[int(slot[1])] = photo
        if sorted(found) != list(range(len(found))):
            raise _invalid("attached_media indexes must run from 0 without a gap")
        return [found[i] for i in sorted(found)]

    def _schedule(self, params: dict[str, Any], *, published: bool) -> float | None:
        """``scheduled_publish_time`` as Unix seconds: with ``published=false``, in the window."""
        when = params.get("scheduled_publish_time")
        if when is None:
            return None
        if published:
            raise _invalid("Cannot specify a scheduled publish time on a published post "
                           "(scheduled_publish_time needs published=false)")
        moment = _unix(str(when))
        if moment is None:
            raise _invalid("scheduled_publish_time must be Unix seconds or an ISO 8601 time "
                           "with its zone")
        if not SCHEDULE_MIN <= moment - self.now() <= SCHEDULE_MAX:
            # The wording and code are the fake's (unverified): the sheet gives none.
            raise _invalid("The specified scheduled publish time is invalid.",
                           user_msg="The scheduled time must be between 10 minutes and 30 days "
                                    "from now.")
        return moment

    def _latest_message(self, page: FakePage) -> str | None:
        live = [p for p in self.feed.values() if p.page_id == page.page_id and self._live(p)]
        return max(live, key=lambda p: p.created_at).message if live else None

    def _link_target(self, link: str) -> str | None:
        """The id of the known post a facebook.com post (or video) address names, else ``None``."""
        found = _POST_URL.match(link)
        if found is None:
            return None
        post_id = f"{found['page']}_{found['own']}"
        if post_id in self.feed and not self.feed[post_id].deleted:
            return post_id
        video = self.videos.get(found["own"])
        if video is not None and video.post_id and not video.deleted:
            return video.post_id
        raise _invalid(f"The link {link} names no post")

    @route("GET", rf"/{_VERSION}/(?P<page>\d+)/feed")
    def _read_feed(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._listing(request, match, "feed", self._live)

    @route("GET", rf"/{_VERSION}/(?P<page>\d+)/scheduled_posts")
    def _read_scheduled(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        """The Page's posts waiting for their time, shaped as the feed (unverified)."""
        return self._listing(request, match, "scheduled_posts", self._waiting)

    def _listing(self, request: httpx.Request, match: re.Match[str], edge: str,
                 shows: Callable[[FakeFeedPost], bool]) -> httpx.Response:
        page = self._acting(request, match["page"], "pages_read_engagement")
        query = request.url.params
        fields = set((query.get("fields") or "id,message,created_time").split(","))
        try:
            limit = min(100, max(1, int(query.get("limit", "25"))))
        except ValueError:
            raise _invalid("limit must be an integer") from None
        posts = sorted((p for p in self.feed.values() if p.page_id == page.page_id and shows(p)),
                       key=lambda p: (p.created_at, p.id), reverse=True)
        after = query.get("after")
        if after:
            ids = [p.id for p in posts]
            if after not in ids:
                raise _invalid("The after cursor is not valid")
            posts = posts[ids.index(after) + 1:]
        shown = posts[:limit]
        data = []
        for post in shown:
            item: dict[str, Any] = {"id": post.id}
            if "created_time" in fields:
                item["created_time"] = _stamp(post.created_at)
            if "message" in fields and post.message:
                item["message"] = post.message
            if "scheduled_publish_time" in fields and post.scheduled_at is not None:
                item["scheduled_publish_time"] = int(post.scheduled_at)
            data.append(item)
        body: dict[str, Any] = {"data": data}
        if shown:
            body["paging"] = {"cursors": {"before": shown[0].id, "after": shown[-1].id}}
            if len(posts) > limit:
                body["paging"]["next"] = (f"{self.base_url}/v{match['version']}.0/{page.page_id}/"
                                          f"{edge}?limit={limit}&after={shown[-1].id}")
        return httpx.Response(200, json=body)

    # ----------------------------------------------------------- routes: photos

    @route("POST", rf"/{_VERSION}/(?P<page>\d+)/photos")
    def _photo(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        page = self._acting(request, match["page"], "pages_manage_posts")
        params = self._params(request)
        published = self._flag(params, "published", default=True)
        parts = self.multipart_body(request)
        source = parts.get("source")
        if source is not None and source.is_file:
            kind = image_type(source.data[:16])
            if kind is None:
                raise _no(324, "(#324) Missing or invalid image file")
            if len(source.data) > self.photo_max:
                raise _invalid(f"The photo is larger than {self.photo_max // MB} MB")
            size, mime = len(source.data), f"image/{kind}"
        elif isinstance(params.get("url"), str) and params["url"].startswith(("http://", "https://")):
            size, mime = 0, "image/jpeg"  # the fake fetches nothing
        else:
            raise _no(324, "(#324) Requires upload file")
        photo = FakePhoto(id=self._next_id(), page_id=page.page_id, size=size, mime_type=mime,
                          published=published)
        self.photos[photo.id] = photo
        if not published:
            return httpx.Response(200, json={"id": photo.id})
        caption = params.get("caption") or params.get("message") or ""
        post = FakeFeedPost(id=f"{page.page_id}_{self._next_id()}", page_id=page.page_id,
                            created_at=self.now(), message=str(caption), photo_ids=[photo.id])
        photo.attached_to = post.id
        self.feed[post.id] = post
        return httpx.Response(200, json={"id": photo.id, "post_id": post.id})

    # ----------------------------------------------------------- routes: videos (the video host)

    @route("POST", rf"/video/{_VERSION}/(?P<page>\d+)/videos")
    def _video(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        page = self._acting(request, match["page"], "publish_video")
        params = self._params(request)
        phase = params.get("upload_phase")
        if phase == "start":
            return self._video_start(page, params)
        if phase == "transfer":
            return self._video_transfer(page, params, request)
        if phase == "finish":
            return self._video_finish(page, params)
        raise _invalid("upload_phase must be start, transfer or finish (file_url and source "
                       "uploads are not modelled)")

    def _video_start(self, page: FakePage, params: dict[str, Any]) -> httpx.Response:
        size = params.get("file_size")
        if not isinstance(size, str) or not size.isdigit() or int(size) < 1:
            raise _invalid("file_size must be a positive integer")
        session = self.uploads.start(page.page_id)
        video = FakeVideo(id=self._next_id(), page_id=page.page_id,
                          upload_session_id=session.upload_id, size=int(size),
                          chunk=self.chunk_size)
        self.videos[video.id] = video
        return httpx.Response(200, json={"video_id": video.id,
                                         "upload_session_id": session.upload_id,
                                         **self._offsets(video, 0)})

    def _session_video(self, page: FakePage, session_id: Any) -> FakeVideo:
        self.uploads.session(session_id if isinstance(session_id, str) else None, page.page_id)
        return next(v for v in self.videos.values() if v.upload_session_id == session_id)

    def _offsets(self, video: FakeVideo, start: int) -> dict[str, str]:
        return {"start_offset": str(start), "end_offset": str(min(start + video.chunk, video.size))}

    def _received(self, video: FakeVideo) -> int:
        """Bytes received without a gap from the start."""
        session = self.uploads[video.upload_session_id]
        offset, number = 0, 1
        while number in session.parts:
            offset += session.parts[number].size
            number += 1
        return offset

    def _video_transfer(self, page: FakePage, params: dict[str, Any],
                        request: httpx.Request) -> httpx.Response:
        video = self._session_video(page, params.get("upload_session_id"))
        start = params.get("start_offset")
        chunk = self.multipart_body(request).get("video_file_chunk")
        if chunk is None or not chunk.is_file or not chunk.data:
            raise _invalid("video_file_chunk is required")
        if not isinstance(start, str) or not start.isdigit():
            raise _invalid("start_offset must be an integer")
        offset, received = int(start), self._received(video)
        # A chunk sent again (its answer lost) replaces itself; any other offset is refused.
        if offset > received or offset % video.chunk:
            raise _invalid(f"start_offset {offset} is not where the upload stands ({received})")
        if len(chunk.data) != min(video.chunk, video.size - offset):
            raise _invalid(f"the chunk at {offset} must be {min(video.chunk, video.size - offset)} "
                           f"bytes, not {len(chunk.data)}")
        self.uploads.put(video.upload_session_id, page.page_id, offset // video.chunk + 1, chunk.data)
        if offset == 0:
            video.head = chunk.data[:64]
        return httpx.Response(200, json=self._offsets(video, self._received(video)))

    def _video_finish(self, page: FakePage, params: dict[str, Any]) -> httpx.Response:
        video = self._session_video(page, params.get("upload_session_id"))
        if video.state != "uploading":
            raise _invalid("The upload session was finished already")
        if self._received(video) != video.size:
            raise _invalid(f"The upload is incomplete: {self._received(video)} of {video.size} bytes")
        self.uploads.complete(video.upload_session_id, page.page_id)
        if video_type(video.head) is None:
            raise _no(352, "(#352) Sorry, the video file you selected is in a format that we don't "
                           "support.")
        video.title = str(params.get("title") or "")
        video.description = str(params.get("description") or "")
        video.state, video.polls_left, video.fails = "processing", self.processing_polls, \
            self.processing_fails
        post = FakeFeedPost(id=f"{page.page_id}_{self._next_id()}", page_id=page.page_id,
                            created_at=self.now(), message=video.description, video_id=video.id)
        video.post_id = post.id
        self.feed[post.id] = post
        return httpx.Response(200, json={"success": True})

    # ----------------------------------------------------------- routes: objects

    def _object(self, page: FakePage, object_id: str, method: str) -> FakeFeedPost | FakeVideo:
        post = self.feed.get(object_id)
        if post is not None and not post.deleted and post.page_id == page.page_id:
            return post
        video = self.videos.get(object_id)
        if video is not None and not video.deleted and video.page_id == page.page_id:
            return video
        raise _missing(object_id, method)

    @route("GET", rf"/{_VERSION}/(?P<id>\d+(?:_\d+)?)")
    def _read(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        page = self._acting(request, None, "pages_read_engagement")
        fields = [f for f in (request.url.params.get("fields") or "id").split(",") if f]
        if match["id"] == page.page_id:  # the sheet's GET /{page-id}?fields=...
            shown = {"id": page.page_id, "name": page.account}
            return httpx.Response(200, json={k: v for k, v in shown.items() if k in fields})
        found = self._object(page, match["id"], "get")
        if isinstance(found, FakeVideo):
            return httpx.Response(200, json=self._video_json(found, fields))
        body: dict[str, Any] = {"id": found.id}
        for field in fields:
            name = field.split(".", 1)[0]
            if name == "message" and found.message:
                body["message"] = found.message
            elif name == "created_time":
                body["created_time"] = _stamp(found.created_at)
            elif name in ("reactions", "comments"):
                body[name] = {"data": [], "summary": {"total_count": getattr(found, name)}}
            elif name == "shares" and found.shares:
                body["shares"] = {"count": found.shares}
        return httpx.Response(200, json=body)

    def _video_json(self, video: FakeVideo, fields: list[str]) -> dict[str, Any]:
        if "status" in fields and video.state == "processing":  # one look: time passes
            if video.polls_left > 0:
                video.polls_left -= 1
                video.progress = min(99, video.progress + 40)
            else:
                video.state, video.progress = ("error" if video.fails else "ready"), 100
        body: dict[str, Any] = {"id": video.id}
        if "status" in fields:
            body["status"] = {"video_status": video.state, "processing_progress": video.progress}
        if "title" in fields and video.title:
            body["title"] = video.title
        if "description" in fields and video.description:
            body["description"] = video.description
        if video.post_id is not None:
            post = self.feed[video.post_id]
            for name in ("reactions", "comments"):
                if any(f.startswith(name) for f in fields):
                    body[name] = {"data": [], "summary": {"total_count": getattr(post, name)}}
        return body

    @route("DELETE", rf"/{_VERSION}/(?P<id>\d+(?:_\d+)?)")
    def _delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        page = self._acting(request, None, "pages_manage_posts")
        found = self._object(page, match["id"], "delete")
        found.deleted = True
        if isinstance(found, FakeVideo) and found.post_id:
            self.feed[found.post_id].deleted = True
        elif isinstance(found, FakeFeedPost) and found.video_id:
            self.videos[found.video_id].deleted = True
        return httpx.Response(200, json={"success": True})
