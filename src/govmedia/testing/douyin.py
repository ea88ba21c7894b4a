"""A strict, stateful fake of the Douyin open platform (抖音开放平台).

It answers as shared/platforms/douyin.md shows: HTTP 200 with the classic
envelope (``data.error_code``/``description``, ``extra.error_code``,
``sub_error_code``, ``logid``, ``now``) for successes and refusals alike; the
user's token in the header ``access-token`` and the user in the query
(``open_id``); access tokens that live 15 days and a refresh (form-encoded)
that extends them; refresh tokens that live 30 days and are renewed with
``renew_refresh_token`` at most five times.

Routes below ``{base}/douyin``: ``oauth/refresh_token/``,
``oauth/renew_refresh_token/`` and, under ``api/douyin/v1/video/``,
``upload_video/``, ``init_video_part_upload/``, ``upload_video_part/``,
``complete_video_part_upload/``, ``upload_image/``, ``create_video/``,
``create_image_text/``, ``video_data/`` and ``video_list/``.

Chunked uploads keep each part's size and SHA-256, never its bytes
(`ChunkedUploads`): a 1 GB upload costs the fake a few kilobytes. Items go
through a review that ends after `FakeDouyin.review_looks` looks at
``video_data``.

Modelled where the fact sheet is silent or says "unverified" (so a test
that relies on one of these relies on the model): ``video_status`` values (4
in review, 2 refused, 5/6/7 public/friends/private), ``is_reviewed``; the
``data.item_id`` of ``create_image_text``; the codes of refused upload
sessions and parts (2100005, invalid parameter); that a refreshed or renewed
refresh token answer carries ``refresh_expires_in``; that renewing spends the
old refresh token; that completing an upload twice answers the same
``video_id``; width and height of uploads (a fixed 1080x1920).
"""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import image_type
from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse
from govmedia.testing._uploads import REASONS as UPLOAD_REASONS
from govmedia.testing._uploads import ChunkedUploads, CompletedUpload, PartRecord

__all__ = ["DouyinApp", "DouyinUser", "FakeDouyin", "FakeItem", "FakeVideo"]

MB = 1024 * 1024
ACCESS_TTL = 1_296_000     # 15 days
REFRESH_TTL = 2_592_000    # 30 days
MAX_RENEWALS = 5           # "reported cap: 5 renewals" (unverified)
SINGLE_MAX = 128 * MB
PART_MIN = 5 * MB
VIDEO_MAX = 4 * 1024 * MB
TEXT_MAX = 1000            # "per a third-party client" (unverified)
# The scope of image posts (图文) is "unverified" on the fact sheet: the fake
# takes video.create.bind for both creates.
SCOPES = ("user_info", "video.create.bind", "video.data.bind")
_API = "/api/douyin/v1/video"

_TOKEN_REFUSALS = {
    "missing": (2190002, "access_token无效"),
    "invalid": (2190002, "access_token无效"),
    "expired": (2190008, "access_token过期,请刷新或重新授权"),
    "scope": (28001018, "应用未获得该能力"),
}


def _envelope(data: dict[str, Any] | None = None, code: int = 0, description: str = "",
              now: float = 0.0) -> httpx.Response:
    """Douyin's classic envelope, HTTP 200 whatever happened."""
    body = {
        "data": {**(data or {}), "error_code": code, "description": description},
        "extra": {"error_code": code, "description": description, "sub_error_code": 0,
                  "sub_description": "", "logid": secrets.token_hex(10).upper(),
                  "now": int(now * 1000)},
        "message": "success" if code == 0 else "error",
    }
    return httpx.Response(200, json=body)


def _no(code: int, description: str) -> Refuse:
    """Douyin's refusal (HTTP 200, ``error_code``), to raise from anywhere in a handler."""
    return Refuse(_envelope(None, code, description))


def _looks_like_video(head: bytes) -> bool:
    """An ISO-BMFF (mp4/mov) ``ftyp`` box or an EBML (webm/mkv) header."""
    return head[4:8] == b"ftyp" or head.startswith(b"\x1a\x45\xdf\xa3")


def _image_format(head: bytes) -> str | None:
    """The formats upload_image takes, by the bytes (a BMP is not one)."""
    kind = image_type(head)
    return kind if kind in ("jpeg", "png", "gif", "webp") else None


@attrs.define
class DouyinApp:
    """An app on the open platform: its key, secret and whether it may publish.

    Example:
        >>> from govmedia.testing.douyin import DouyinApp
        >>> DouyinApp("awsandbox", "secret").can_publish
        True
    """

    client_key: str
    client_secret: str = attrs.field(repr=False)
    can_publish: bool = True


@attrs.define
class DouyinUser:
    """A user who authorised the app: the channel's account and the user's ``open_id``.

    Example:
        >>> from govmedia.testing import FakeDouyin
        >>> fake = FakeDouyin()
        >>> ch = fake.channel("guozixiaoxin")
        >>> fake.users["guozixiaoxin"].open_id == ch.credentials["open_id"]
        True
    """

    account: str
    open_id: str
    client_key: str


@attrs.define
class _Grant:
    """A refresh token: whose, which app's, until when, and the access token it keeps alive."""

    value: str = attrs.field(repr=False)
    open_id: str
    client_key: str
    expires_at: float
    access: str = attrs.field(repr=False)
    renewals: int = 0


@attrs.define
class FakeVideo:
    """An uploaded video: its size and digest (never its bytes).

    Example:
        >>> from govmedia.testing.douyin import FakeVideo
        >>> FakeVideo("v0200", "ou_1", size=42, digest="00" * 32, parts=1, filename="a.mp4").parts
        1
    """

    video_id: str
    open_id: str
    size: int
    digest: str
    parts: int
    filename: str


@attrs.define
class FakeItem:
    """A created item (video or 图文), its review and its counts.

    Example:
        >>> from govmedia.testing.douyin import FakeItem
        >>> FakeItem("@1", "ou_1", kind="video", text="t", created_at=0).reviewed
        False
    """

    item_id: str
    open_id: str
    kind: str
    text: str
    created_at: int
    video_id: str | None = None
    image_ids: list[str] = attrs.field(factory=list)
    private_status: int = 0
    looks_left: int = 1
    outcome: str = "approved"
    reviewed: bool = False
    statistics: dict[str, int] = attrs.field(factory=lambda: dict.fromkeys(
        ("play_count", "digg_count", "comment_count", "share_count", "forward_count",
         "download_count"), 0))

    @property
    def video_status(self) -> int:
        """4 in review, 2 refused, else 5 public, 7 private, 6 friends (modelled)."""
        if not self.reviewed:
            return 4
        if self.outcome == "rejected":
            return 2
        return {0: 5, 1: 7, 2: 6}.get(self.private_status, 5)


class FakeDouyin(FakePlatform):
    r"""The Douyin open platform at ``{base}/douyin``.

    Args:
        base_url: the sandbox root.
        review_looks: how many looks at an item (``video_data``) find it still
            in review; 0: reviewed at once.
        review_outcome: ``"approved"`` or ``"rejected"`` (不适宜公开).
        token_ttl: seconds a new access token lives.

    Attributes you may set: `review_looks`, `review_outcome`, `refused_terms`
    (a text containing one is refused by the review), `text_max`,
    `single_max` (the largest single-request upload), ``uploads.ttl``
    (seconds an upload session stays open), ``apps[key].can_publish``.

    Faults (`inject`): ``rate_limit`` answers 2118110, ``busy`` 2100004,
    ``token_expired`` 2190008 (10008 on ``oauth/``), ``server_error`` a bare
    HTTP 500.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeDouyin, Sandbox
        >>> sandbox = Sandbox(platforms=["douyin"])
        >>> fake: FakeDouyin = sandbox["douyin"]
        >>> ch = fake.channel("guozixiaoxin")
        >>> photo = gm.Media.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(32), filename="a.png")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="国资小新", media=(photo,)), ch)
        >>> receipt.state, fake.posts()[0]["video_status"]
        ('published', 5)
    """

    name: ClassVar[str] = "douyin"
    prefix: ClassVar[str] = "/douyin"
    create_path: ClassVar[str] = r"^/api/douyin/v1/video/create_(video|image_text)/$"
    """A path regex for `inject` that matches the two creates only."""

    def __init__(
        self, base_url: str = "https://sandbox.govmedia.test", *, review_looks: int = 1,
        review_outcome: str = "approved", token_ttl: float = ACCESS_TTL,
    ) -> None:
        super().__init__(base_url)
        self.review_looks = review_looks
        self.review_outcome = review_outcome
        self.refused_terms: set[str] = set()
        self.text_max = TEXT_MAX
        self.single_max = SINGLE_MAX
        self.apps: dict[str, DouyinApp] = {}
        self.users: dict[str, DouyinUser] = {}
        self._accounts: dict[str, str] = {}  # open_id -> account
        self.tokens = FakeTokens(ttl=token_ttl, clock=self.now,
                                 refuse=lambda reason: _envelope(None, *_TOKEN_REFUSALS[reason]))
        self.grants: dict[str, _Grant] = {}
        self.uploads = ChunkedUploads(min_part=PART_MIN, max_total=VIDEO_MAX, clock=self.now,
                                      refuse=self._upload_refusal)
        self.videos: dict[str, FakeVideo] = {}
        self._completed: dict[str, str] = {}  # upload_id -> video_id
        self.images: dict[str, tuple[str, int, str]] = {}  # image_id -> (open_id, size, format)
        self.items: dict[str, FakeItem] = {}
        self._ids = itertools.count(1)

    # ----------------------------------------------------------- the fake contract

    def channel(self, account: str = "", **options: Any) -> Channel:
        """A user of the sandbox app who authorised it, with fresh tokens; a channel that reaches it.

        The channel's ``poll_interval`` is 0.01 s unless *options* say otherwise.
        """
        with self.lock:
            if not account:
                account = f"user{len(self.users) + 1}"
            app = self.apps.get("awsandbox0001") or self.add_app("awsandbox0001")
            user = self.users.get(account)
            if user is None:
                user = DouyinUser(account, "_000" + secrets.token_urlsafe(24), app.client_key)
                self.users[account] = user
                self._accounts[user.open_id] = account
            access, refresh = self.authorize(user)
        return Channel(
            platform="douyin", account=account,
            credentials={"access_token": access, "open_id": user.open_id,
                         "client_key": app.client_key, "client_secret": app.client_secret,
                         "refresh_token": refresh},
            options={"base_url": self.base_url, "poll_interval": 0.01, **options},
        )

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every item (Douyin has no delete here), oldest first, as ``video_data`` shows it.

        Reading them does not advance their review.
        """
        with self.lock:
            open_id = self.users[account].open_id if account in self.users else None
            if account is not None and open_id is None:
                return []
            return [self.item_json(i) for i in self.items.values()
                    if open_id is None or i.open_id == open_id]

    # ----------------------------------------------------------- public API

    def add_app(self, client_key: str, *, can_publish: bool = True) -> DouyinApp:
        """Register an app (its secret is random)."""
        with self.lock:
            app = DouyinApp(client_key, secrets.token_hex(16), can_publish)
            self.apps[client_key] = app
            return app

    def authorize(self, user: DouyinUser) -> tuple[str, str]:
        """What the OAuth code exchange gives *user*: a new access token and refresh token."""
        with self.lock:
            access = self.tokens.issue(user.open_id, app_id=user.client_key, scopes=SCOPES,
                                       prefix="act.").access
            grant = _Grant("rft." + secrets.token_urlsafe(32), user.open_id, user.client_key,
                           self.now() + REFRESH_TTL, access.value)
            self.grants[grant.value] = grant
            return access.value, grant.value

    def set_counts(self, item_id: str, **counts: int) -> None:
        """Pretend readers watched an item: ``play_count=...``, ``digg_count=...``, ..."""
        with self.lock:
            stats = self.items[item_id].statistics
            unknown = set(counts) - set(stats)
            if unknown:
                raise ValueError(f"unknown counts {sorted(unknown)}; known: {sorted(stats)}")
            stats.update(counts)

    def item_json(self, item: FakeItem) -> dict[str, Any]:
        """An item as ``video_data`` and ``video_list`` show it."""
        number = int.from_bytes(item.item_id.encode()[-6:], "big")
        return {
            "item_id": item.item_id, "title": item.text, "create_time": item.created_at,
            "is_top": False, "is_reviewed": item.reviewed, "video_status": item.video_status,
            "media_type": 4 if item.kind == "video" else 2,
            "cover": f"{self.base_url}/covers/{number}.jpeg",
            "share_url": f"https://www.iesdouyin.com/share/video/{number}/",
            "statistics": dict(item.statistics),
        }

    # ----------------------------------------------------------- hooks

    def account_of(self, request: httpx.Request) -> str | None:
        """The account named by the request's ``open_id``."""
        return self._accounts.get(request.url.params.get("open_id") or "")

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Douyin's codes (HTTP 200): 2118110, 2100004, 2190008 (10008 on ``oauth/``)."""
        now = self.now()
        if fault.kind == "rate_limit":
            return _envelope(None, 2118110, "请求太频繁,请稍后再试", now)
        if fault.kind == "busy":
            return _envelope(None, 2100004, "系统繁忙，请稍后再试", now)
        if fault.kind == "token_expired":
            if "/oauth/" in request.url.path:
                return _envelope(None, 10008, "access_token过期", now)
            return _envelope(None, 2190008, "access_token过期,请刷新或重新授权", now)
        return super().fault_response(fault, request)

    def bad_body(self, reason: str) -> httpx.Response:
        """A body Douyin cannot read: invalid parameter."""
        return _envelope(None, 2100005, "参数不合法", self.now())

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """Douyin's gateway answers an unknown path with a bare 404."""
        return httpx.Response(404, text="404 page not found")

    @staticmethod
    def _upload_refusal(reason: str) -> httpx.Response:
        return _envelope(None, 2100005, f"参数不合法: {UPLOAD_REASONS.get(reason, reason)}")

    # ----------------------------------------------------------- helpers

    def _next(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):06d}{secrets.token_hex(6)}"

    def _user(self, request: httpx.Request, *, scope: str | None = None) -> DouyinUser:
        """The user a content request acts for: its token, matching its ``open_id``."""
        token = self.tokens.access(request.headers.get("access-token"), scope=scope)
        open_id = request.url.params.get("open_id")
        if not open_id:
            raise _no(2100005, "参数不合法: open_id")
        if token.subject != open_id or open_id not in self._accounts:
            raise _no(2190002, "access_token无效")
        return self.users[self._accounts[open_id]]

    def _file(self, request: httpx.Request, field: str) -> tuple[str, bytes]:
        form = self.multipart_body(request)
        part = form.get(field)
        if part is None or not part.is_file or not part.data:
            raise _no(2100005, f"参数不合法: {field}")
        return part.filename or field, part.data

    def _video(self, user: DouyinUser, *, size: int, digest: str, parts: int,
               filename: str) -> httpx.Response:
        video = FakeVideo(self._next("v0200f"), user.open_id, size, digest, parts, filename)
        self.videos[video.video_id] = video
        return self._video_answer(video)

    def _video_answer(self, video: FakeVideo) -> httpx.Response:
        return _envelope({"video": {"video_id": video.video_id, "width": 1080, "height": 1920}},
                         now=self.now())

    def _grant(self, form: dict[str, Any]) -> _Grant:
        client_key, value = form.get("client_key"), form.get("refresh_token")
        if not client_key or not value:
            raise _no(10002, "参数不合法")
        if client_key not in self.apps:
            raise _no(10003, "client_key不存在")
        grant = self.grants.get(value)
        if grant is None or grant.client_key != client_key or grant.expires_at <= self.now():
            raise _no(10010, "refresh_token过期,请重新授权")
        return grant

    def _item(self, user: DouyinUser, kind: str, body: dict[str, Any], **fields: Any) -> FakeItem:
        text = body.get("text", "")
        if not isinstance(text, str) or len(text) > self.text_max:
            raise _no(2100005, "参数不合法: text")
        if body.get("micro_app_id") and body.get("poi_id"):
            raise _no(2100005, "参数不合法: 小程序与POI只能选择一种")
        private = body.get("private_status", 0)
        if private not in (0, 1, 2):
            raise _no(2100005, "参数不合法: private_status")
        app = self.apps[user.client_key]
        if not app.can_publish:
            raise _no(28001018, "应用未获得该能力")
        refused = self.review_outcome == "rejected" or any(t in text for t in self.refused_terms)
        item = FakeItem(
            "@" + secrets.token_urlsafe(24), user.open_id, kind=kind, text=text,
            created_at=int(self.now()), private_status=private, looks_left=self.review_looks,
            outcome="rejected" if refused else "approved", reviewed=self.review_looks <= 0,
            **fields,
        )
        self.items[item.item_id] = item
        return item

    @staticmethod
    def _look(item: FakeItem) -> None:
        """One look at an item: its review moves on."""
        if item.looks_left > 0:
            item.looks_left -= 1
        else:
            item.reviewed = True

    # ----------------------------------------------------------- oauth

    @route("POST", r"/oauth/refresh_token/")
    def _refresh(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        form = self.form_body(request)
        if form.get("grant_type") != "refresh_token":
            raise _no(10002, "参数不合法: grant_type")
        grant = self._grant(form)
        now = self.now()
        current = self.tokens.get(grant.access)
        if current is not None and not current.expired(now):
            # "If the token has not expired yet, the call only extends it."
            current.expires_at = None if self.tokens.ttl is None else now + self.tokens.ttl
            access = current
        else:
            access = self.tokens.issue(grant.open_id, app_id=grant.client_key, scopes=SCOPES,
                                       prefix="act.").access
            grant.access = access.value
        return _envelope({
            "access_token": access.value, "expires_in": access.expires_in(now) or ACCESS_TTL,
            "open_id": grant.open_id, "refresh_token": grant.value,
            "refresh_expires_in": int(grant.expires_at - now), "scope": ",".join(SCOPES),
        }, now=now)

    @route("POST", r"/oauth/renew_refresh_token/")
    def _renew(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        grant = self._grant(self.form_body(request))
        if grant.renewals >= MAX_RENEWALS:
            raise _no(10010, "refresh_token续期次数已达上限,请重新授权")
        renewed = _Grant("rft." + secrets.token_urlsafe(32), grant.open_id, grant.client_key,
                         self.now() + REFRESH_TTL, grant.access, grant.renewals + 1)
        del self.grants[grant.value]
        self.grants[renewed.value] = renewed
        return _envelope({"refresh_token": renewed.value, "expires_in": REFRESH_TTL},
                         now=self.now())

    # ----------------------------------------------------------- uploads

    @route("POST", _API + r"/upload_video/")
    def _upload_video(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        if len(request.content) > self.single_max:
            return httpx.Response(413, headers={"Content-Type": "text/html"},
                                  text="<html><body><h1>413 Request Entity Too Large</h1></body></html>")
        filename, data = self._file(request, "video")
        if not _looks_like_video(data[:16]):
            raise _no(2100005, "参数不合法: 视频格式不支持")
        digest = CompletedUpload.digest_of((PartRecord.of(data),))
        return self._video(user, size=len(data), digest=digest, parts=1, filename=filename)

    @route("POST", _API + r"/init_video_part_upload/")
    def _init_parts(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        session = self.uploads.start(user.open_id, prefix="@")
        return _envelope({"upload_id": session.upload_id}, now=self.now())

    @route("POST", _API + r"/upload_video_part/")
    def _upload_part(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        number = request.url.params.get("part_number", "")
        if not number.isdigit():
            raise _no(2100005, "参数不合法: part_number")
        session = self.uploads.session(request.url.params.get("upload_id"), user.open_id)
        _, data = self._file(request, "video")
        if int(number) == 1 and not _looks_like_video(data[:16]):
            raise _no(2100005, "参数不合法: 视频格式不支持")
        self.uploads.put(session.upload_id, user.open_id, int(number), data)
        return _envelope({}, now=self.now())

    @route("POST", _API + r"/complete_video_part_upload/")
    def _complete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        upload_id = request.url.params.get("upload_id")
        done = self.uploads.complete(upload_id, user.open_id)
        known = self._completed.get(done.upload_id)
        if known is not None:  # completed before: the same video
            return self._video_answer(self.videos[known])
        answer = self._video(user, size=done.size, digest=done.digest, parts=len(done.parts),
                             filename="video")
        self._completed[done.upload_id] = answer.json()["data"]["video"]["video_id"]
        return answer

    @route("POST", _API + r"/upload_image/")
    def _upload_image(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        _, data = self._file(request, "image")
        kind = _image_format(data[:16])
        if kind is None:
            raise _no(2100005, "参数不合法: 图片格式不支持")
        image_id = self._next("tos-cn-i-")
        self.images[image_id] = (user.open_id, len(data), kind)
        return _envelope({"image": {"image_id": image_id, "width": 1080, "height": 1920}},
                         now=self.now())

    # ----------------------------------------------------------- creates

    @route("POST", _API + r"/create_video/")
    def _create_video(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, scope="video.create.bind")
        body = self.json_body(request)
        video = self.videos.get(str(body.get("video_id") or ""))
        if video is None or video.open_id != user.open_id:
            raise _no(2100005, "参数不合法: video_id")
        item = self._item(user, "video", body, video_id=video.video_id)
        return _envelope({"item_id": item.item_id, "video_id": video.video_id}, now=self.now())

    @route("POST", _API + r"/create_image_text/")
    def _create_image_text(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request, scope="video.create.bind")
        body = self.json_body(request)
        ids = body.get("image_list")
        if not isinstance(ids, list) or not ids or any(
                not isinstance(i, str) or self.images.get(i, ("",))[0] != user.open_id for i in ids):
            raise _no(2100005, "参数不合法: image_list")
        item = self._item(user, "image", body, image_ids=list(ids))
        return _envelope({"item_id": item.item_id}, now=self.now())

    # ----------------------------------------------------------- data

    @route("POST", _API + r"/video_data/")
    def _video_data(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        ids = self.json_body(request).get("item_ids")
        if not isinstance(ids, list) or not ids:
            raise _no(2100005, "参数不合法: item_ids")
        listed = []
        for item_id in ids:
            item = self.items.get(str(item_id))
            if item is None or item.open_id != user.open_id:
                continue
            self._look(item)
            listed.append(self.item_json(item))
        return _envelope({"list": listed}, now=self.now())

    @route("GET", _API + r"/video_list/")
    def _video_list(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        params = request.url.params
        cursor = int(params.get("cursor") or 0) if (params.get("cursor") or "0").isdigit() else -1
        count = int(params.get("count") or 10) if (params.get("count") or "10").isdigit() else 0
        if cursor < 0 or not 1 <= count <= 20:
            raise _no(2100005, "参数不合法: cursor/count")
        mine = [i for i in reversed(self.items.values()) if i.open_id == user.open_id]
        page = mine[cursor:cursor + count]
        return _envelope({"list": [self.item_json(i) for i in page], "cursor": cursor + len(page),
                          "has_more": cursor + len(page) < len(mine)}, now=self.now())
