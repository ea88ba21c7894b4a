"""A strict, stateful fake of the Kuaishou open platform (快手开放平台) and its upload gateway.

It answers like the real API (shared/platforms/kuaishou.md): ``{"result": 1,
...}`` on success, another ``result`` with ``error_msg`` on failure, both
with HTTP 200; ``app_id`` and ``access_token`` in the query of every API call;
tokens that expire, single-use refresh tokens whose successor inherits their
expiry; an upload gateway at ``{base}/kuaishou/uploader`` (the ``endpoint``
that ``photo/start_upload`` names) that takes a video whole or in fragments,
checks the fragments when the upload completes, and tells where an upload
stands (``resume``); videos that stay ``pending`` while "reviewed", then go
live or (rejected) leave the list.

It keeps sizes and the first bytes of each upload, never the video itself:
a 1 GB upload costs the fake a few hundred bytes.

Unverified against the live API and modelled here: the ``result`` codes of a
refused refresh token (100200100), a missing scope (100200102), a bad upload
(10000200) and an unknown photo_id (100200100); the ``cursor`` of
``photo/list`` (the last photo_id of the previous page); that pending videos
are listed and rejected ones leave the list; the ``create_time`` unit
(milliseconds); a 429 with ``Retry-After`` for a rate limit.
"""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import HEAD_SIZE as VIDEO_HEAD
from govmedia._sniff import image_type, video_type
from govmedia.model import Channel
from govmedia.testing._bodies import Multipart, media_type
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse
from govmedia.testing._uploads import ChunkedUploads, UploadSession

__all__ = ["FakeKuaishou", "FakeUpload", "FakeVideo"]

FRAGMENT_MAX = 10_000_000   # fragments "不大于10M"
DIRECT_MAX = 10_000_000     # direct upload "适合小于10M的文件"
COVER_MAX = 10_000_000
SCOPES = ("user_info", "user_video_publish", "user_video_info")
STEREO_TYPES = ("NOT_SPHERICAL_VIDEO", "SPHERICAL_VIDEO_360", "SPHERICAL_VIDEO_180")
_PARAMETER = 100200100
_APP = 100200101
_TOKEN = 100200102
_UPLOAD = 10000200


def _ok(**data: Any) -> httpx.Response:
    return httpx.Response(200, json={"result": 1, **data})


def _err(code: int, message: str) -> httpx.Response:
    return httpx.Response(200, json={"result": code, "error_msg": message})


def _no(code: int, message: str) -> Refuse:
    """Kuaishou's refusal (HTTP 200, ``result`` != 1), to raise from anywhere in a handler."""
    return Refuse(_err(code, message))


_TOKEN_ERRORS = {
    "missing": (_TOKEN, "access_token 为空"),
    "invalid": (_TOKEN, "无效的 access_token"),
    "expired": (_TOKEN, "access_token 已过期"),
    "scope": (_TOKEN, "access_token 未获得该接口的授权 scope"),
    "refresh_invalid": (_PARAMETER, "refresh_token 无效"),
    "refresh_expired": (_PARAMETER, "refresh_token 已过期"),
    "refresh_reused": (_PARAMETER, "refresh_token 已被使用"),
}


@attrs.define
class FakeUpload:
    """One upload session: whose, how far, and the first bytes of the file (never the rest)."""

    token: str = attrs.field(repr=False)
    account: str
    app_id: str
    parts: UploadSession = attrs.field(repr=False)
    """The fragments as `ChunkedUploads` keeps them (numbered from 0)."""
    size: int = 0
    head: bytes = attrs.field(default=b"", repr=False)
    complete: bool = False
    published: bool = False

    @property
    def fragments(self) -> dict[int, int]:
        """``fragment_id -> size`` of each fragment received."""
        return {index: part.size for index, part in self.parts.parts.items()}


@attrs.define
class FakeVideo:
    """One video made by ``photo/publish``.

    ``state``: ``pending`` (processing and review), ``published``,
    ``rejected`` (left the list) or ``deleted``.
    """

    photo_id: str
    account: str
    app_id: str
    caption: str
    size: int
    create_time: int
    stereo_type: str | None = None
    state: str = "pending"
    polls_left: int = 1
    outcome: str = "published"
    view_count: int = 0
    like_count: int = 0
    comment_count: int = 0

    def item(self) -> dict[str, Any]:
        """The video as ``photo/list`` and ``photo/publish`` show it (``UserVideo``)."""
        return {
            "photo_id": self.photo_id, "caption": self.caption,
            "cover": f"https://p1.a.yximgs.com/upic/{self.photo_id}.jpg",
            "play_url": f"https://v1.kwaicdn.com/upic/{self.photo_id}.mp4",
            "create_time": self.create_time, "like_count": self.like_count,
            "comment_count": self.comment_count, "view_count": self.view_count,
            "pending": self.state == "pending",
        }


@attrs.define
class _App:
    app_id: str
    secret: str = attrs.field(repr=False)
    codes: dict[str, str] = attrs.field(factory=dict, repr=False)


class FakeKuaishou(FakePlatform):
    """The Kuaishou open platform at ``{base}/kuaishou``, its upload gateway at ``{base}/kuaishou/uploader``.

    Args:
        base_url: the sandbox root.
        review_polls: how many ``photo/list`` reads show a new video
            ``pending`` before its review ends.
        review_outcome: ``"published"`` or ``"rejected"`` (the video leaves
            the list).
        token_ttl: seconds an access token lives (Kuaishou's sample: 3,600).
        refresh_ttl: seconds a refresh token lives (sample: 648,000); a
            refreshed one inherits what is left.

    Faults (`inject`): ``token_expired`` answers result 100200102;
    ``rate_limit`` an HTTP 429 with ``Retry-After``; ``busy`` a bare 503 and
    ``server_error`` a bare 500 (Kuaishou documents no busy code).

    Example:
        >>> from govmedia.testing import FakeKuaishou
        >>> fake = FakeKuaishou()
        >>> ch = fake.channel("sasac_ks")
        >>> ch.options["base_url"], sorted(ch.credentials)
        ('https://sandbox.govmedia.test/kuaishou', ['access_token', 'app_id', 'app_secret', 'refresh_token'])
    """

    name: ClassVar[str] = "kuaishou"
    prefix: ClassVar[str] = "/kuaishou"
    create_path: ClassVar[str] = r"/openapi/photo/publish"

    def __init__(self, base_url: str = "https://sandbox.govmedia.test", *, review_polls: int = 1,
                 review_outcome: str = "published", token_ttl: float | None = 3600.0,
                 refresh_ttl: float | None = 648_000.0) -> None:
        super().__init__(base_url)
        if review_outcome not in ("published", "rejected"):
            raise ValueError("review_outcome must be 'published' or 'rejected'")
        self.review_polls = review_polls
        self.review_outcome = review_outcome
        self.apps: dict[str, _App] = {}
        self.accounts: dict[str, str] = {}  # account -> app_id
        self.tokens = FakeTokens(ttl=token_ttl, refresh_ttl=refresh_ttl, rotation="inherit",
                                 clock=self.now, refuse=lambda reason: _err(*_TOKEN_ERRORS[reason]))
        self.uploads: dict[str, FakeUpload] = {}
        # Sizes and digests of the fragments; a fragment sent again replaces itself.
        self.fragments = ChunkedUploads(first_part=0, max_part=FRAGMENT_MAX, clock=self.now,
                                        refuse=lambda reason: _err(_UPLOAD, reason))
        self.videos: dict[str, FakeVideo] = {}
        self.sensitive_terms: set[str] = set()
        self.direct_max = DIRECT_MAX
        self._ids = itertools.count(5_212_345_678_901)
        port = f":{self._root.port}" if self._root.port else ""
        self._gateway = f"{self._root.host}{port}{self._root.path.rstrip('/')}/uploader"

    # ----------------------------------------------------------- setup

    def app(self, app_id: str | None = None, *, secret: str | None = None) -> _App:
        """Create (or fetch) the app *app_id*; a new one gets a random secret."""
        with self.lock:
            app_id = app_id or f"ks{secrets.randbelow(10**18):018d}"
            app = self.apps.get(app_id)
            if app is None:
                app = self.apps[app_id] = _App(app_id, secret or secrets.token_hex(16))
            return app

    def authorize(self, account: str, *, app_id: str | None = None,
                  scopes: tuple[str, ...] = SCOPES) -> tuple[str, dict[str, str]]:
        """*account* authorises an app (new unless *app_id*): ``(code, credentials)``.

        The code is what the browser's redirect carries (exchange it at
        ``oauth2/access_token``); the credentials hold a token pair already.
        """
        with self.lock:
            app = self.app(app_id)
            self.accounts[account] = app.app_id
            pair = self.tokens.issue(account, app_id=app.app_id, scopes=scopes, refresh=True)
            code = secrets.token_urlsafe(16)
            app.codes[code] = account
            assert pair.refresh is not None  # issued with refresh=True
            return code, {"access_token": pair.access.value, "app_id": app.app_id,
                          "app_secret": app.secret, "refresh_token": pair.refresh.value}

    def channel(self, account: str = "", *, app_id: str | None = None, **options: Any) -> Channel:
        """A channel for *account* (a new one when empty), authorised under a new app or *app_id*.

        Options default to this fake's ``base_url`` and a 0.01 s ``poll_interval``.
        """
        with self.lock:
            account = account or f"ks_user{len(self.accounts) + 1}"
            _, credentials = self.authorize(account, app_id=app_id)
        return Channel(platform="kuaishou", account=account, credentials=credentials,
                       options={"base_url": self.base_url, "poll_interval": 0.01, **options})


    def set_counts(self, photo_id: str, *, views: int | None = None, likes: int | None = None,
                   comments: int | None = None) -> None:
        """Set a video's ``view_count``, ``like_count`` and ``comment_count``."""
        with self.lock:
            video = self.videos[photo_id]
            video.view_count = video.view_count if views is None else views
            video.like_count = video.like_count if likes is None else likes
            video.comment_count = video.comment_count if comments is None else comments

    # ----------------------------------------------------------- inspection

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Videos made and still there (pending or published), oldest first, as ``photo/list`` shows them.

        Each also has ``account``, ``state`` and ``size`` (bytes uploaded).
        """
        with self.lock:
            return [{**v.item(), "account": v.account, "state": v.state, "size": v.size}
                    for v in self.videos.values()
                    if v.state in ("pending", "published") and account in (None, v.account)]

    def owns(self, request: httpx.Request) -> bool:
        """The API's address, and the gateway's: plain ``http`` on the same host, as Kuaishou's is."""
        if super().owns(request):
            return True
        url, root = request.url, self._root
        return (url.scheme == "http" and url.host == root.host and url.port == root.port
                and url.path.startswith(root.path.rstrip("/") + "/uploader/"))

    def account_of(self, request: httpx.Request) -> str | None:
        """The account of the access token, upload token or refresh token the request carries."""
        params = request.url.params
        token = self.tokens.get(params.get("access_token") or "")
        if token is not None:
            return token.subject
        upload = self.uploads.get(params.get("upload_token") or "")
        if upload is not None:
            return upload.account
        refresh = self.tokens.refresh_tokens.get(params.get("refresh_token") or "")
        return refresh.subject if refresh else None

    # ----------------------------------------------------------- faults and fallbacks

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Kuaishou's token refusal; a 429, a 503 and a 500 with no code of their own."""
        if fault.kind == "token_expired":
            return _err(*_TOKEN_ERRORS["expired"])
        if fault.kind == "rate_limit":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return httpx.Response(429, headers=headers, text="Too Many Requests")
        if fault.kind == "busy":
            return httpx.Response(503, text="Service Unavailable")
        if fault.kind == "server_error":
            return httpx.Response(500)
        return super().fault_response(fault, request)

    def bad_body(self, reason: str) -> httpx.Response:
        """A body that does not parse: result 100200100."""
        return _err(_PARAMETER, f"参数有误: {reason}")

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """An unknown path: HTTP 404 with no code."""
        return httpx.Response(404, json={"error_msg": "not found"})

    # ----------------------------------------------------------- request helpers

    def _user(self, request: httpx.Request, scope: str) -> str:
        """The account the request acts for, with *scope* granted to *app_id*, or `Refuse`."""
        params = request.url.params
        token = self.tokens.access(params.get("access_token"), scope=scope)
        if params.get("app_id") != token.app_id:
            raise _no(_APP, "app_id 与 access_token 不匹配")
        return token.subject

    def _upload_of(self, request: httpx.Request) -> FakeUpload:
        upload = self.uploads.get(request.url.params.get("upload_token") or "")
        if upload is None:
            raise _no(_UPLOAD, "upload_token 无效")
        return upload

    @staticmethod
    def _raw(request: httpx.Request) -> bytes:
        """A raw-bytes body: "不要在body中放boundary" (a multipart body is refused)."""
        data = request.read()
        if media_type(request) == "multipart/form-data" or not data:
            raise _no(_UPLOAD, "请直接上传文件的二进制内容")
        return data

    # ----------------------------------------------------------- oauth

    @route("GET", r"/oauth2/access_token")
    def _access_token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._grant(dict(request.url.params))

    @route("POST", r"/oauth2/access_token")
    def _access_token_post(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._grant({**request.url.params, **self.body_params(request)})

    @route("GET", r"/oauth2/refresh_token")
    def _refresh(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._grant(dict(request.url.params))

    @route("POST", r"/oauth2/refresh_token")
    def _refresh_post(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        return self._grant({**request.url.params, **self.body_params(request)})

    def _grant(self, params: dict[str, Any]) -> httpx.Response:
        app = self.apps.get(str(params.get("app_id") or ""))
        if app is None or params.get("app_secret") != app.secret:
            return _err(_APP, "app_id 或 app_secret 验证失败")
        grant = params.get("grant_type")
        now = self.now()
        if grant == "refresh_token":
            pair = self.tokens.refresh(params.get("refresh_token"), app_id=app.app_id)
        elif grant == "authorization_code":
            account = app.codes.pop(str(params.get("code") or ""), None)
            if account is None:
                return _err(_PARAMETER, "code 无效或已使用")
            pair = self.tokens.issue(account, app_id=app.app_id, scopes=SCOPES, refresh=True)
        elif grant == "client_credentials":
            token = self.tokens.issue(app.app_id, app_id=app.app_id, prefix="app-").access
            return _ok(access_token=token.value, expires_in=48 * 3600,
                       token_type="bearer")  # noqa: S106 - a token type, not a secret
        else:
            return _err(_PARAMETER, "grant_type 有误")
        assert pair.refresh is not None  # user grants always carry one
        return _ok(access_token=pair.access.value, expires_in=pair.access.expires_in(now),
                   refresh_token=pair.refresh.value,
                   refresh_token_expires_in=pair.refresh.expires_in(now),
                   open_id=f"o{abs(hash(pair.access.subject)) % 10**16:016d}",
                   scopes=list(pair.access.scopes))

    # ----------------------------------------------------------- upload

    @route("POST", r"/openapi/photo/start_upload")
    def _start_upload(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request, "user_video_publish")
        with self.lock:
            token = secrets.token_hex(12)
            self.uploads[token] = FakeUpload(token, account, self.accounts[account],
                                             self.fragments.start(account))
        return _ok(upload_token=token, endpoint=self._gateway)

    @route("POST", r"/uploader/api/upload")
    def _direct(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        upload = self._upload_of(request)
        data = self._raw(request)
        if len(data) >= self.direct_max:
            return _err(_UPLOAD, "文件过大, 请使用分片上传")
        return self._whole(upload, data)

    @route("POST", r"/uploader/api/upload/multipart")
    def _direct_multipart(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        upload = self._upload_of(request)
        files = [p for p in self.multipart_body(request).parts if p.is_file]
        if len(files) != 1 or not files[0].data:
            return _err(_UPLOAD, "缺少文件")
        if len(files[0].data) >= self.direct_max:
            return _err(_UPLOAD, "文件过大, 请使用分片上传")
        return self._whole(upload, files[0].data)

    def _whole(self, upload: FakeUpload, data: bytes) -> httpx.Response:
        with self.lock:
            if upload.complete or upload.fragments:
                return _err(_UPLOAD, "上传已开始或已完成")
            upload.size, upload.head, upload.complete = len(data), data[:VIDEO_HEAD], True
        return _ok()

    @route("POST", r"/uploader/api/upload/fragment")
    def _fragment(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        upload = self._upload_of(request)
        raw_id = request.url.params.get("fragment_id", "")
        if not raw_id.isdigit():
            return _err(_UPLOAD, "fragment_id 有误")
        data = self._raw(request)
        if len(data) > FRAGMENT_MAX:
            return _err(_UPLOAD, "分片过大")
        with self.lock:
            if upload.complete:
                return _err(_UPLOAD, "上传已完成")
            index = int(raw_id)
            self.fragments.put(upload.parts.upload_id, upload.account, index, data)
            if index == 0:
                upload.head = data[:VIDEO_HEAD]
        return _ok()

    @route("POST", r"/uploader/api/upload/complete")
    def _complete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        upload = self._upload_of(request)
        raw_count = request.url.params.get("fragment_count", "")
        with self.lock:
            if upload.complete:
                return _err(_UPLOAD, "上传已完成")
            listed = sorted(upload.fragments)
            refused = _err(_UPLOAD, f"fragment_count 与已上传分片不符 ({listed})")
            if not raw_count.isdigit() or int(raw_count) != len(listed):
                return refused
            try:
                upload.size = self.fragments.complete(upload.parts.upload_id, upload.account).size
            except Refuse:  # a gap in the fragment ids
                return refused
            upload.complete = True
        return _ok()

    @route("GET", r"/uploader/api/upload/resume")
    def _resume(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        upload = self.uploads.get(request.url.params.get("upload_token") or "")
        done = sorted(upload.fragments) if upload is not None else []
        index = -1
        while index + 1 in done:
            index += 1
        host, _, port = self._gateway.split("/", 1)[0].partition(":")
        return _ok(existed=upload is not None and not upload.complete, fragment_index=index,
                   fragment_list=done, fragment_index_bytes=sum(
                       upload.fragments[i] for i in range(index + 1)) if upload else 0,
                   endpoint=[{"protocol": "http", "host": host, "port": int(port or 80)}])

    # ----------------------------------------------------------- publish

    @route("POST", r"/openapi/photo/publish")
    def _publish(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request, "user_video_publish")
        upload = self._upload_of(request)
        form = self.multipart_body(request)
        self._check_form(form)
        caption = form.fields["caption"]
        stereo = form.fields.get("stereo_type")
        with self.lock:
            if upload.account != account:
                return _err(_UPLOAD, "upload_token 不属于该用户")
            if not upload.complete:
                return _err(_UPLOAD, "视频未上传完成")
            if upload.published:
                return _err(_UPLOAD, "upload_token 已使用")
            if video_type(upload.head) is None:
                return _err(_UPLOAD, "视频格式不支持")
            if any(term in caption for term in self.sensitive_terms):
                return _err(_UPLOAD, "文件包含敏感内容")
            upload.published = True
            video = FakeVideo(
                photo_id=str(next(self._ids)), account=account, app_id=upload.app_id,
                caption=caption, size=upload.size, create_time=int(self.now() * 1000),
                stereo_type=stereo, polls_left=self.review_polls, outcome=self.review_outcome)
            self.videos[video.photo_id] = video
            return _ok(video_info=video.item())

    @staticmethod
    def _check_form(form: Multipart) -> None:
        caption = form.fields.get("caption")
        if not isinstance(caption, str):
            raise _no(_PARAMETER, "缺少参数 caption")
        cover = form.get("cover")
        if cover is None or not cover.is_file or not cover.data:
            raise _no(_PARAMETER, "缺少参数 cover")
        if image_type(cover.data[:16]) not in ("jpeg", "png"):
            raise _no(_UPLOAD, "封面格式不支持")
        if len(cover.data) >= COVER_MAX:
            raise _no(_UPLOAD, "封面过大")
        stereo = form.fields.get("stereo_type")
        if stereo is not None and stereo not in STEREO_TYPES:
            raise _no(_PARAMETER, "stereo_type 有误")

    # ----------------------------------------------------------- query and manage

    @route("GET", r"/openapi/photo/list")
    def _list(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request, "user_video_info")
        params = request.url.params
        raw_count = params.get("count", "20")
        if not raw_count.isdigit() or not 1 <= int(raw_count) <= 200:
            return _err(_PARAMETER, "count 有误")
        with self.lock:
            mine = [v for v in self.videos.values() if v.account == account]
            for video in mine:
                self._review(video)
            listed = [v for v in reversed(mine) if v.state in ("pending", "published")]
            cursor = params.get("cursor")
            if cursor:
                ids = [v.photo_id for v in listed]
                listed = listed[ids.index(cursor) + 1:] if cursor in ids else []
            return _ok(video_list=[v.item() for v in listed[: int(raw_count)]])

    @staticmethod
    def _review(video: FakeVideo) -> None:
        """One more look at a pending video: its review ends once its polls are used up."""
        if video.state != "pending":
            return
        if video.polls_left > 0:
            video.polls_left -= 1
            return
        video.state = video.outcome

    @route("POST", r"/openapi/photo/delete")
    def _delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request, "user_video_info")
        with self.lock:
            video = self.videos.get(request.url.params.get("photo_id") or "")
            if video is None or video.account != account or video.state not in ("pending", "published"):
                return _err(_PARAMETER, "photo_id 不存在")
            video.state = "deleted"
        return _ok()

    @route("GET", r"/openapi/user_info")
    def _user_info(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._user(request, "user_info")
        return _ok(user_info={"name": account, "sex": "M", "fan": 0, "follow": 0,
                              "head": "https://p1.a.yximgs.com/uhead/default.jpg",
                              "bigHead": "https://p1.a.yximgs.com/uhead/default_big.jpg",
                              "city": ""})
