"""A strict, stateful fake of the YouTube Data API v3 (uploads, videos, thumbnails, tokens).

It answers as shared/platforms/youtube.md shows: errors as
``{"error": {"code", "message", "errors": [{"domain", "reason", "message"}],
"status"}}`` and the token endpoint's as OAuth errors (``invalid_grant``);
access tokens that live an hour and a refresh token that Google keeps (it is
not rotated); videos uploaded by the resumable protocol only (a session
opened with ``POST ...?uploadType=resumable``, bytes ``PUT`` with
``Content-Range``, ``308`` with the ``Range`` held, ``bytes */TOTAL`` to ask,
``200`` with the video resource once the last byte is in); no idempotency (a
second session is a second video); ``status.uploadStatus`` ``uploaded`` until
`FakeYouTube.processing_polls` looks at ``videos.list``, then ``processed``
(or ``failed``/``rejected``); a project's daily quota (10,000 units and 100
``videos.insert``).

Routes below ``{base}/youtube``: ``token`` (the OAuth token endpoint),
``upload/youtube/v3/videos`` (POST: open a session), ``upload/sessions/{id}``
(PUT: the session URI), ``upload/youtube/v3/thumbnails/set`` (POST) and
``youtube/v3/videos`` (GET, DELETE).

The session URI has a path of its own here (``/upload/sessions/{id}``) so
that faults can aim at the byte transfer (`FakeYouTube.create_path`);
Google's keeps the start's path with an ``upload_id`` query. A client must
treat it as opaque either way. The fake keeps a running SHA-256 of the bytes,
and each chunk's size and SHA-256 (`ChunkedUploads`, which also keeps each
session's owner and life), never the bytes: a 1 GB upload costs it a few
kilobytes.

Modelled where the fact sheet is silent (a test that relies on one of these
relies on the model): which scopes each call takes (upload and thumbnails:
``youtube.upload``, ``youtube`` or ``youtube.force-ssl``; ``videos.list``:
``youtube.readonly``, ``youtube`` or ``youtube.force-ssl``; delete: ``youtube``
or ``youtube.force-ssl``); that a session URI needs the bearer token too; the
codes of refused chunks (400 ``badRequest`` for a chunk that does not start
at the next byte, that is not a multiple of 256 KiB but the last, or whose
length the header misstates); that a finished session answers every ``PUT``
with the video; the ``uploadStatus``/``failureReason``/``rejectionReason``
values; statistics as strings of digits; thumbnails JPEG or PNG up to 2 MB;
the costs of ``videos.delete`` (50) and of chunk ``PUT``s (none); a session's
life (a week). Scheduling: ``status.publishAt`` is taken only with
``privacyStatus`` private (the sheet) and only as an ISO 8601 time with its
zone still ahead by the fake's clock (else 400 ``invalidPublishAt``; YouTube's
reference says a past time publishes at once, the fake is stricter); the video
stays private, ``publishAt`` in its status, until that time, when it is
public (once processed) and ``publishAt`` is gone; an unaudited project's
upload keeps no ``publishAt`` (locked private).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import image_type, sniff
from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse
from govmedia.testing._uploads import REASONS, ChunkedUploads, UploadSession

__all__ = ["FakeSession", "FakeVideo", "FakeYouTube", "google_error"]

MB = 1024 * 1024
CHUNK_UNIT = 256 * 1024
VIDEO_MAX = 256 * 1024**3
THUMBNAIL_MAX = 2 * MB
TITLE_MAX = 100
DESCRIPTION_MAX = 5000
TAGS_MAX = 500
TOKEN_TTL = 3600
SESSION_TTL = 7 * 86400          # "~1 week - unverified"
PRIVACY = ("public", "unlisted", "private")
CATEGORIES = frozenset({"1", "2", "10", "15", "17", "19", "20", "22", "23", "24", "25", "26", "27",
                        "28", "29"})
UPLOAD_SCOPES = frozenset({"youtube.upload", "youtube", "youtube.force-ssl"})
READ_SCOPES = frozenset({"youtube.readonly", "youtube", "youtube.force-ssl"})
DELETE_SCOPES = frozenset({"youtube", "youtube.force-ssl"})
SCOPES = ("youtube",)
# Units per call (sheet: "Quota"); videos.insert spends its own daily bucket.
COSTS = {"videos.list": 1, "thumbnails.set": 50, "videos.delete": 50}
STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_CONTENT_RANGE = re.compile(r"bytes (?:(\d{1,20})-(\d{1,20})|\*)/(\d{1,20})")


def google_error(status: int, reason: str, message: str, domain: str = "youtube.api",
                 **extra: Any) -> httpx.Response:
    """An error as Google answers it: ``error.code``, ``error.message``, ``error.errors[0].reason``.

    Example:
        >>> google_error(403, "quotaExceeded", "quota", "youtube.quota").json()["error"]["errors"][0]
        {'message': 'quota', 'domain': 'youtube.quota', 'reason': 'quotaExceeded'}
    """
    entry = {"message": message, "domain": domain, "reason": reason, **extra}
    return httpx.Response(status, json={"error": {
        "code": status, "message": message, "errors": [entry],
        "status": STATUS_NAMES.get(status, "UNKNOWN")}})


def _no(status: int, reason: str, message: str, domain: str = "youtube.api") -> Refuse:
    return Refuse(google_error(status, reason, message, domain))


def _oauth(status: int, error: str, description: str) -> httpx.Response:
    return httpx.Response(status, json={"error": error, "error_description": description})


def _token_refusal(reason: str) -> httpx.Response:
    if reason.startswith("refresh_"):
        return _oauth(400, "invalid_grant", "Token has been expired or revoked.")
    return google_error(401, "authError", "Invalid Credentials", "global",
                        location="Authorization", locationType="header")


def _upload_refusal(reason: str) -> httpx.Response:
    """Google's answer where `ChunkedUploads` refuses: a session it does not know is 404."""
    if reason in ("unknown_upload", "not_owner", "expired"):
        return google_error(404, "notFound", "The upload session was not found or has expired.",
                            "global")
    return google_error(400, "badRequest", REASONS.get(reason, reason), "global")


def _time(value: Any) -> float | None:
    """Unix time of an ISO 8601 time with its zone, else ``None``."""
    try:
        when = dt.datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return when.timestamp() if when is not None and when.tzinfo is not None else None


def _tag_length(tags: list[str]) -> int:
    return len(",".join(f'"{t}"' if " " in t else t for t in tags))


@attrs.define
class FakeSession:
    """An upload session: its owner, the declared size and type, the metadata, the bytes so far.

    Its owner, expiry and chunks (each as its size and SHA-256) are kept by
    `ChunkedUploads` (`upload`); besides, a running SHA-256 of the bytes (the
    video's), and the first 64 bytes, to tell a video from anything else.
    """

    upload: UploadSession = attrs.field(repr=False)
    total: int
    content_type: str
    metadata: dict[str, Any]
    notify: bool
    head: bytes = b""
    hasher: Any = attrs.field(factory=hashlib.sha256, repr=False)
    video_id: str | None = None

    @property
    def id(self) -> str:
        """The session's id (in its URI)."""
        return self.upload.upload_id

    @property
    def owner(self) -> str:
        """The account that opened it."""
        return self.upload.owner

    @property
    def received(self) -> int:
        """Bytes kept so far."""
        return self.upload.received

    @property
    def expires_at(self) -> float | None:
        """Unix time it stops taking bytes (a finished session answers its video for good)."""
        return self.upload.expires_at

    @expires_at.setter
    def expires_at(self, value: float | None) -> None:
        self.upload.expires_at = value


@attrs.define
class FakeVideo:
    """A video made by a finished session, and what YouTube did with it since."""

    id: str
    owner: str
    channel_id: str
    snippet: dict[str, Any]
    status: dict[str, Any]
    size: int
    sha256: str
    head: bytes
    published_at: str
    looks_left: int = 0
    verdict: tuple[str, str] | None = None  # ("failed", reason) or ("rejected", reason)
    thumbnail: tuple[str, int] | None = None  # (MIME type, size)
    views: int = 0
    likes: int = 0
    comments: int = 0
    deleted: bool = False


class FakeYouTube(FakePlatform):
    r"""YouTube's Data API v3 at ``{base}/youtube``, keeping channels, tokens, sessions and videos.

    Attributes you may set: `processing_polls` (``videos.list`` looks that
    answer ``uploaded`` before a video is processed, default 1),
    `processing_fails` (a ``failureReason`` such as ``"codec"``: processing
    ends ``failed``), `rejects` (a ``rejectionReason`` such as
    ``"duplicate"``), `audited` (``False``: the API project is not audited
    and every upload is made private), `thumbnails_allowed` (``False``: the
    channel may not set custom thumbnails), `uploads_per_day` (the channel's
    daily cap: ``uploadLimitExceeded`` beyond it), `short_acks` (the next
    this many chunks are only half kept: the ``308`` acknowledges less than
    was sent), `quota` (the units and ``videos.insert`` calls left today),
    `session_ttl` and `clock`.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeYouTube, Sandbox
        >>> sandbox = Sandbox(platforms=["youtube"])
        >>> fake: FakeYouTube = sandbox["youtube"]
        >>> ch = fake.channel("@sasac", part_size=256 * 1024)
        >>> video = gm.Media.from_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(600_000), filename="a.mp4")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(title="中老铁路开通一周年", media=(video,)), ch)
        >>> receipt.state, [v["status"]["uploadStatus"] for v in fake.posts("@sasac")]
        ('published', ['processed'])
        >>> [r.status for r in fake.requests(fake.create_path)]
        [308, 308, 200]
    """

    name: ClassVar[str] = "youtube"
    prefix: ClassVar[str] = "/youtube"
    create_path: ClassVar[str] = r"^/upload/sessions/[\w-]+$"
    """A path regex for `inject` that matches the session URI: the ``PUT``s of the bytes (the
    one with the last byte makes the video)."""

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.client_id = "fake-youtube-client.apps.googleusercontent.com"
        self.client_secret = "fake-youtube-client-secret"  # noqa: S105 - the fake app's own
        self.tokens = FakeTokens(ttl=TOKEN_TTL, rotation="none", clock=self.now,
                                 refuse=_token_refusal)
        self.channels: dict[str, str] = {}  # account -> channel id
        self.sessions: dict[str, FakeSession] = {}
        # Owners, expiry and chunks of the sessions; a finished one never expires.
        self.uploads = ChunkedUploads(max_total=VIDEO_MAX, ttl=SESSION_TTL, clock=self.now,
                                      refuse=_upload_refusal)
        self.videos: dict[str, FakeVideo] = {}
        self.processing_polls = 1
        self.processing_fails: str | None = None
        self.rejects: str | None = None
        self.audited = True
        self.thumbnails_allowed = True
        self.uploads_per_day: int | None = None
        self.short_acks = 0
        self.quota = {"units": 10_000, "videos.insert": 100}

    # ----------------------------------------------------------- the fake contract

    def channel(self, account: str = "", **options: Any) -> Channel:
        """A YouTube channel that authorised the sandbox app (scope ``youtube``), with fresh tokens.

        The channel's ``poll_interval`` is 0.01 s unless *options* say otherwise.
        """
        with self.lock:
            if not account:
                account = f"@channel{len(self.channels) + 1}"
            self.channels.setdefault(account, "UC" + secrets.token_urlsafe(16))
            pair = self.tokens.issue(account, app_id=self.client_id, scopes=SCOPES, refresh=True,
                                     prefix="ya29.")
        assert pair.refresh is not None
        return Channel(
            platform="youtube", account=account,
            credentials={"access_token": pair.access.value, "refresh_token": pair.refresh.value,
                         "client_id": self.client_id, "client_secret": self.client_secret},
            options={"base_url": self.base_url, "token_url": f"{self.base_url}/token",
                     "poll_interval": 0.01, **options},
        )

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live videos (made and not deleted), oldest first, as ``videos.list`` shows them.

        Reading them does not advance their processing.
        """
        with self.lock:
            return [self.video_json(v, ("snippet", "status")) for v in self.videos.values()
                    if not v.deleted and (account is None or v.owner == account)]

    # ----------------------------------------------------------- public API

    def video_json(self, video: FakeVideo, parts: tuple[str, ...] = ("snippet", "status"),
                   ) -> dict[str, Any]:
        """A video resource with the given *parts*.

        Parts: ``snippet``, ``status``, ``processingDetails``, ``statistics``.
        """
        self._release(video)
        body: dict[str, Any] = {"kind": "youtube#video", "etag": video.sha256[:27], "id": video.id}
        if "snippet" in parts:
            body["snippet"] = dict(video.snippet)
        if "status" in parts:
            body["status"] = dict(video.status)
        if "processingDetails" in parts:
            upload_status = video.status["uploadStatus"]
            details: dict[str, Any] = {"processingStatus": {
                "uploaded": "processing", "processed": "succeeded", "failed": "failed",
                "rejected": "succeeded", "deleted": "terminated"}[upload_status]}
            if upload_status == "failed":
                details["processingFailureReason"] = "other"
            body["processingDetails"] = details
        if "statistics" in parts:
            body["statistics"] = {"viewCount": str(video.views), "likeCount": str(video.likes),
                                  "favoriteCount": "0", "commentCount": str(video.comments)}
        return body

    def set_counts(self, video_id: str, **counts: int) -> None:
        """Pretend people watched a video: ``views``, ``likes``, ``comments``."""
        with self.lock:
            video = self.videos[video_id]
            for name, value in counts.items():
                if name not in ("views", "likes", "comments"):
                    raise ValueError(f"unknown count {name!r}; known: views, likes, comments")
                setattr(video, name, value)

    def reset_quota(self) -> None:
        """Midnight Pacific Time: a fresh day's quota."""
        with self.lock:
            self.quota = {"units": 10_000, "videos.insert": 100}

    @property
    def session_ttl(self) -> float | None:
        """Seconds an upload session takes bytes (a week; ``None``: for good)."""
        return self.uploads.ttl

    @session_ttl.setter
    def session_ttl(self, value: float | None) -> None:
        self.uploads.ttl = value

    def account_of(self, request: httpx.Request) -> str | None:
        """The account the request's bearer token acts for, if any."""
        token = self.tokens.get(self.bearer(request) or "")
        return token.subject if token else None

    # ----------------------------------------------------------- platform shapes

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Google's shapes of the injected faults; Google sends no rate-limit headers.

        403 ``rateLimitExceeded`` (``retry_after=None``: the daily ``quotaExceeded``),
        500/503 ``backendError``, 401 ``authError``.
        """
        if fault.kind == "rate_limit":
            if fault.retry_after is None:
                return google_error(403, "quotaExceeded", "The request cannot be completed because "
                                    "you have exceeded your quota.", "youtube.quota")
            return google_error(403, "rateLimitExceeded", "Rate Limit Exceeded", "usageLimits")
        if fault.kind in ("server_error", "busy"):
            status = 503 if fault.kind == "busy" else 500
            return google_error(status, "backendError", "Backend Error", "global")
        if fault.kind == "token_expired":
            return _token_refusal("expired")
        return super().fault_response(fault, request)

    def bad_body(self, reason: str) -> httpx.Response:
        """A body Google cannot read: 400 ``parseError``."""
        return google_error(400, "parseError", "Parse Error", "global")

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """An unknown path: 404 ``notFound``."""
        return google_error(404, "notFound", "Not Found", "global")

    # ----------------------------------------------------------- internals

    def _user(self, request: httpx.Request, allowed: frozenset[str]) -> str:
        token = self.tokens.access(self.bearer(request))
        if not allowed & set(token.scopes):
            raise _no(403, "insufficientPermissions",
                      "Request had insufficient authentication scopes.", "global")
        return token.subject

    def _charge(self, call: str) -> None:
        cost = COSTS[call]
        if self.quota["units"] < cost:
            raise _no(403, "quotaExceeded", "The request cannot be completed because you have "
                      "exceeded your quota.", "youtube.quota")
        self.quota["units"] -= cost

    def _video(self, video_id: str | None, owner: str) -> FakeVideo:
        video = self.videos.get(video_id or "")
        if video is None or video.deleted:
            raise _no(404, "videoNotFound", "The video that you are trying to use cannot be found.",
                      "youtube.video")
        if video.owner != owner:
            raise _no(403, "forbidden", "The request is not properly authorized.", "youtube.video")
        return video

    def _look(self, video: FakeVideo) -> None:
        """One look at a processing video: time passes."""
        if video.status["uploadStatus"] != "uploaded":
            return
        if video.looks_left > 0:
            video.looks_left -= 1
            return
        found = sniff(video.head)
        if found is None or not found.fits("video"):
            video.status.update(uploadStatus="failed", failureReason="invalidFile")
        elif video.verdict is not None:
            kind, reason = video.verdict
            video.status.update(uploadStatus=kind, **{
                "failureReason" if kind == "failed" else "rejectionReason": reason})
        else:
            video.status["uploadStatus"] = "processed"

    def _release(self, video: FakeVideo) -> None:
        """A scheduled video whose time has come, processed: public, its publishAt spent."""
        due = _time(video.status.get("publishAt"))
        if due is not None and due <= self.now() and video.status["uploadStatus"] == "processed":
            del video.status["publishAt"]
            video.status["privacyStatus"] = "public"

    def scheduled(self, account: str | None = None) -> list[dict[str, Any]]:
        """Videos waiting for their ``publishAt`` (private until then), oldest first."""
        with self.lock:
            for video in self.videos.values():
                self._release(video)
            return [self.video_json(v, ("snippet", "status")) for v in self.videos.values()
                    if not v.deleted and (account is None or v.owner == account)
                    and "publishAt" in v.status]

    def _metadata(self, body: dict[str, Any], parts: set[str]) -> dict[str, Any]:
        """The video resource of a session start, checked as ``videos.insert`` checks it."""
        unknown = set(body) - parts
        if unknown:
            raise _no(400, "unexpectedPart", f"The part {min(unknown)} is not in the part "
                      "parameter.", "youtube.part")
        snippet = body.get("snippet")
        status = body.get("status", {})
        if not isinstance(snippet, dict) or not isinstance(status, dict):
            raise _no(400, "invalidVideoMetadata", "The request metadata is invalid.",
                      "youtube.video")
        title = snippet.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > TITLE_MAX or \
                "<" in title or ">" in title:
            raise _no(400, "invalidTitle", "The request metadata specifies an invalid video title.",
                      "youtube.video")
        text = snippet.get("description", "")
        if not isinstance(text, str) or len(text.encode()) > DESCRIPTION_MAX or "<" in text or \
                ">" in text:
            raise _no(400, "invalidDescription", "The request metadata specifies an invalid "
                      "video description.", "youtube.video")
        tags = snippet.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags) or \
                _tag_length(tags) > TAGS_MAX:
            raise _no(400, "invalidTags", "The request metadata specifies invalid video keywords.",
                      "youtube.video")
        category = snippet.get("categoryId")
        if category is not None and category not in CATEGORIES:
            raise _no(400, "invalidCategoryId", "The snippet.categoryId property specifies an "
                      "invalid category ID.", "youtube.video")
        privacy = status.get("privacyStatus", "public")
        if privacy not in PRIVACY:
            raise _no(400, "invalidValue", f"Invalid value for privacyStatus: {privacy!r}",
                      "youtube.video")
        if "publishAt" in status:
            due = _time(status["publishAt"])
            if privacy != "private" or due is None or due <= self.now():
                raise _no(400, "invalidPublishAt", "The request metadata specifies an invalid "
                          "scheduled publishing time.", "youtube.video")
        kids = status.get("selfDeclaredMadeForKids")
        if kids is not None and not isinstance(kids, bool):
            raise _no(400, "invalidValue", "selfDeclaredMadeForKids must be a boolean",
                      "youtube.video")
        return {"snippet": snippet, "status": status}

    def _make_video(self, session: FakeSession) -> FakeVideo:
        snippet, status = session.metadata["snippet"], session.metadata["status"]
        privacy = status.get("privacyStatus", "public") if self.audited else "private"
        made = FakeVideo(
            id=secrets.token_urlsafe(8)[:11], owner=session.owner,
            channel_id=self.channels.get(session.owner, "UCunknown"),
            snippet={"publishedAt": _iso(self.now()), "channelId": self.channels.get(session.owner),
                     "title": snippet["title"], "description": snippet.get("description", ""),
                     "tags": list(snippet.get("tags", [])),
                     "categoryId": snippet.get("categoryId", "22"), "channelTitle": session.owner},
            status={"uploadStatus": "uploaded", "privacyStatus": privacy, "license": "youtube",
                    "embeddable": True, "publicStatsViewable": True,
                    **({"selfDeclaredMadeForKids": status["selfDeclaredMadeForKids"]}
                       if "selfDeclaredMadeForKids" in status else {}),
                    **({"publishAt": status["publishAt"]}
                       if "publishAt" in status and self.audited else {})},
            size=session.total, sha256=session.hasher.hexdigest(), head=session.head,
            published_at=_iso(self.now()), looks_left=self.processing_polls,
            verdict=("failed", self.processing_fails) if self.processing_fails
            else ("rejected", self.rejects) if self.rejects else None)
        self.videos[made.id] = made
        session.video_id = made.id
        return made

    # ----------------------------------------------------------- routes: tokens

    @route("POST", r"/token")
    def _token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        form = self.form_body(request)
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _oauth(401, "invalid_client", "The OAuth client was not found.")
        if form.get("grant_type") != "refresh_token":
            return _oauth(400, "unsupported_grant_type", "Invalid grant_type: "
                          f"{form.get('grant_type')}")
        pair = self.tokens.refresh(form.get("refresh_token"), app_id=self.client_id)
        expires_at = pair.access.expires_at  # by token_ttl; None: for good
        life = TOKEN_TTL if expires_at is None else math.ceil(expires_at - self.now())
        return httpx.Response(200, json={
            # Google says a second short of the token's life (3599 for its hour).
            "access_token": pair.access.value, "expires_in": life - 1,
            "scope": " ".join(f"https://www.googleapis.com/auth/{s}" for s in pair.access.scopes),
            "token_type": "Bearer"})

    # ----------------------------------------------------------- routes: the resumable upload

    @route("POST", r"/upload/youtube/v3/videos")
    def _start(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        owner = self._user(request, UPLOAD_SCOPES)
        query = request.url.params
        if query.get("uploadType") != "resumable":
            raise _no(400, "badRequest", "This fake takes resumable uploads only "
                      "(uploadType=resumable).", "global")
        parts = {p.strip() for p in query.get("part", "").split(",") if p.strip()}
        if not parts or not parts <= {"snippet", "status", "recordingDetails", "localizations"}:
            raise _no(400, "unexpectedPart", f"Invalid part parameter: {query.get('part')!r}",
                      "youtube.part")
        length = request.headers.get("x-upload-content-length", "")
        kind = request.headers.get("x-upload-content-type", "")
        if not length.isdigit() or int(length) < 1:
            raise _no(400, "badRequest", "X-Upload-Content-Length must be a positive integer",
                      "global")
        if int(length) > VIDEO_MAX:
            raise _no(400, "badRequest", "The file is larger than 256 GB", "global")
        if not (kind.startswith("video/") or kind == "application/octet-stream"):
            raise _no(400, "badContent", f"Media type '{kind}' is not supported.", "global")
        metadata = self._metadata(self.json_body(request), parts)
        today = [v for v in self.videos.values() if v.owner == owner
                 and v.published_at[:10] == _iso(self.now())[:10]]
        if self.uploads_per_day is not None and len(today) >= self.uploads_per_day:
            raise _no(400, "uploadLimitExceeded", "The user has exceeded the number of videos "
                      "they may upload.", "youtube.video")
        if self.quota["videos.insert"] < 1:
            raise _no(403, "quotaExceeded", "The request cannot be completed because you have "
                      "exceeded your quota.", "youtube.quota")
        self.quota["videos.insert"] -= 1
        session = FakeSession(self.uploads.start(owner), total=int(length), content_type=kind,
                              metadata=metadata, notify=query.get("notifySubscribers") != "false")
        self.sessions[session.id] = session
        location = f"{self.base_url}/upload/sessions/{session.id}?upload_id={session.id}"
        return httpx.Response(200, headers={"Location": location})

    @route("PUT", r"/upload/sessions/(?P<id>[\w-]+)")
    def _put(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        owner = self._user(request, UPLOAD_SCOPES)
        session = self.sessions[self.uploads.session(match["id"], owner).upload_id]  # else 404
        found = _CONTENT_RANGE.fullmatch(request.headers.get("content-range", "").strip())
        if found is None or int(found[3]) != session.total:
            raise _no(400, "badRequest", "Content-Range must be 'bytes FIRST-LAST/TOTAL' or "
                      f"'bytes */TOTAL' with TOTAL {session.total}", "global")
        if session.video_id is not None:
            return self._done(session)
        body = request.content
        if found[1] is None:  # bytes */TOTAL: where is the upload?
            if body:
                raise _no(400, "badRequest", "A status request carries no body", "global")
            return self._held(session)
        first, last = int(found[1]), int(found[2])
        if first != session.received:
            raise _no(400, "badRequest", f"The chunk starts at byte {first}; the session holds "
                      f"{session.received} bytes", "global")
        if last < first or last >= session.total or len(body) != last - first + 1:
            raise _no(400, "badRequest", f"The chunk holds {len(body)} bytes, not bytes "
                      f"{first}-{last} of {session.total}", "global")
        if last != session.total - 1 and len(body) % CHUNK_UNIT:
            raise _no(400, "badRequest", "A chunk other than the last must be a multiple of "
                      "256 KiB", "global")
        keep = len(body)
        if self.short_acks > 0 and len(body) >= 2 * CHUNK_UNIT:
            self.short_acks -= 1
            keep = len(body) // 2 // CHUNK_UNIT * CHUNK_UNIT  # the server held on to less
        if session.received < 64:
            session.head = (session.head + body[:64 - session.received])[:64]
        kept = body[:keep]
        session.hasher.update(kept)
        self.uploads.put(session.id, owner, len(session.upload.parts) + 1, kept)
        if session.received < session.total:
            return self._held(session)
        self.uploads.complete(session.id, owner)
        self._make_video(session)
        return self._done(session)

    def _held(self, session: FakeSession) -> httpx.Response:
        headers = {"Range": f"bytes=0-{session.received - 1}"} if session.received else {}
        return httpx.Response(308, headers=headers, extensions={"reason_phrase": b"Resume Incomplete"})

    def _done(self, session: FakeSession) -> httpx.Response:
        video = self.videos[session.video_id or ""]
        return httpx.Response(200, json=self.video_json(video, ("snippet", "status")))

    # ----------------------------------------------------------- routes: thumbnails, videos

    @route("POST", r"/upload/youtube/v3/thumbnails/set")
    def _thumbnail(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        owner = self._user(request, UPLOAD_SCOPES)
        video = self._video(request.url.params.get("videoId"), owner)
        if not self.thumbnails_allowed:
            raise _no(403, "forbidden", "The authenticated user doesn't have permissions to upload "
                      "and set custom video thumbnails.", "youtube.thumbnail")
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        body = request.content
        found = image_type(body[:32])
        if kind not in ("image/jpeg", "image/png", "application/octet-stream") or \
                found not in ("jpeg", "png"):
            raise _no(400, "invalidImage", "The provided image content is invalid.",
                      "youtube.thumbnail")
        if len(body) > THUMBNAIL_MAX:
            raise _no(400, "mediaBodyTooLarge", "The thumbnail is larger than 2 MB.",
                      "youtube.thumbnail")
        self._charge("thumbnails.set")
        video.thumbnail = (f"image/{found}", len(body))
        url = f"https://i.ytimg.com/vi/{video.id}/default.jpg"
        return httpx.Response(200, json={"kind": "youtube#thumbnailSetResponse", "items": [
            {"default": {"url": url, "width": 120, "height": 90}}]})

    @route("GET", r"/youtube/v3/videos")
    def _list(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        owner = self._user(request, READ_SCOPES)
        query = request.url.params
        parts = tuple(p.strip() for p in query.get("part", "").split(",") if p.strip())
        if not parts:
            raise _no(400, "missingRequiredParameter", "No filter selected. Expected one of: id, "
                      "myRating, chart", "youtube.parameter")
        self._charge("videos.list")
        items = []
        for video_id in query.get("id", "").split(","):
            video = self.videos.get(video_id)
            if video is None or video.deleted:
                continue
            self._release(video)
            if video.owner != owner and video.status["privacyStatus"] == "private":
                continue
            self._look(video)
            items.append(self.video_json(video, parts))
        return httpx.Response(200, json={"kind": "youtube#videoListResponse", "items": items,
                                         "pageInfo": {"totalResults": len(items),
                                                      "resultsPerPage": len(items)}})

    @route("DELETE", r"/youtube/v3/videos")
    def _delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        owner = self._user(request, DELETE_SCOPES)
        video = self._video(request.url.params.get("id"), owner)
        self._charge("videos.delete")
        video.deleted = True
        video.status["uploadStatus"] = "deleted"
        return httpx.Response(204)


def _iso(now: float) -> str:
    return dt.datetime.fromtimestamp(now, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
