"""A strict, stateful fake of the Bilibili open platform (哔哩哔哩开放平台).

It answers like the real API (shared/platforms/bilibili.md): every answer is
``{code, message, ttl, data}`` with HTTP 200 and ``code`` 0 for success;
every ``/arcopen/`` call must carry a valid signature v2.0 (the ``x-bili-*``
headers, the body's MD5, a timestamp within ten minutes, a nonce never seen
before, the HMAC-SHA256 of the app's secret) and the user's
``access-token``; refresh tokens work once.

Routes below ``{base}/bilibili`` (the three real hosts share it here):
``x/account-oauth2/v1/{token,refresh_token}``, ``video/v2/part/upload``,
``arcopen/fn/archive/{video/init,video/complete,cover/upload,add-by-utoken,
view,viewlist,type/list,delete}``, ``arcopen/fn/data/arc/stat`` and
``arcopen/fn/article/{add,delete}``.

Modelled here and unverified against the live API: the review state in
``archive/view`` (``addit_info.state``: -30 submitted, then 0 open or -2
returned), the codes for a small cover and a bad signature (127100, 127012),
the delete and statistics answers, the article fields, and that merging an
upload twice is harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import secrets
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._imagesize import image_size
from govmedia._sniff import image_type
from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse
from govmedia.testing._uploads import ChunkedUploads

__all__ = ["FakeArchive", "FakeArticle", "FakeBilibili", "FakeUpload"]

MB = 1024 * 1024
PART_SIZE = 8 * MB
VIDEO_MAX_BYTES = 4_000_000_000
COVER_MAX_BYTES = 5 * MB
COVER_MIN = (960, 600)
CLOCK_SKEW = 600.0
ARTICLE_TITLE_MAX = 40
_SIGNED = ("x-bili-accesskeyid", "x-bili-content-md5", "x-bili-signature-method",
           "x-bili-signature-nonce", "x-bili-signature-version", "x-bili-timestamp")
_BV_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_SPECIAL = re.compile(r"[\x00-\x1f\x7f<>]")  # what the fake counts as 129005's "special characters"
PARTITIONS = {17: "单机游戏", 21: "日常", 138: "搞笑", 201: "科学科普", 202: "社科·法律·心理",
              203: "热点", 228: "人文历史", 230: "软件应用"}
STATE_DESC = {0: "开放浏览", -2: "被打回", -4: "被锁定", -16: "转码失败", -30: "创建已提交",
              -40: "定时发布", -100: "用户删除"}
# ChunkedUploads' reasons as Bilibili answers them (which code for which part
# fault is unverified; a session it does not know is 127022 on the sheet).
_UPLOAD_ERRORS = {"unknown_upload": 127022, "expired": 127022, "not_owner": 127022,
                  "completed": 127022}
_TOKEN_ERRORS = {"missing": (127000, "缺少授权参数"), "invalid": (127001, "access_token无效或过期"),
                 "expired": (127001, "access_token无效或过期"), "scope": (127011, "用户未授权该接口"),
                 "refresh_invalid": (122007, "refresh_token无效"),
                 "refresh_expired": (122007, "refresh_token无效"),
                 "refresh_reused": (122007, "refresh_token无效")}


def _ok(data: Any = None) -> httpx.Response:
    body: dict[str, Any] = {"code": 0, "message": "0", "ttl": 1}
    if data is not None:
        body["data"] = data
    return httpx.Response(200, content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                          headers={"Content-Type": "application/json; charset=utf-8"})


def _err(code: int, message: str) -> httpx.Response:
    return httpx.Response(200, json={"code": code, "message": message, "ttl": 1})


def _no(code: int, message: str) -> Refuse:
    """Bilibili's refusal (HTTP 200, ``code``), to raise from anywhere in a handler."""
    return Refuse(_err(code, message))


@attrs.define
class App:
    """The open-platform app: its client id and secret, and whether it may submit."""

    client_id: str
    secret: str = attrs.field(repr=False)
    certified: bool = True


def _upload_refusal(reason: str) -> httpx.Response:
    code = _UPLOAD_ERRORS.get(reason, 127100)
    return _err(code, "upload_token无效" if code == 127022 else f"参数错误: {reason}")


@attrs.define
class FakeUpload:
    """What the fake keeps of an upload session besides its parts: the name, the first bytes."""

    name: str
    head: bytes = b""
    used: bool = False


@attrs.define
class FakeArchive:
    """A submitted archive (稿件) and its review."""

    resource_id: str
    account: str
    fields: dict[str, Any]
    size: int
    state: int = -30
    polls_left: int = 1
    outcome: int = 0
    reject_reason: str = ""
    deleted: bool = False
    stats: dict[str, int] = attrs.field(factory=dict)


@attrs.define
class FakeArticle:
    """An article (专栏), in review."""

    id: int
    account: str
    fields: dict[str, str]
    deleted: bool = False


class FakeBilibili(FakePlatform):
    """The Bilibili open platform at ``{base}/bilibili``.

    Args:
        base_url: the sandbox root.
        review_polls: how many ``archive/view`` calls find an archive still in
            review (state -30) before it ends.
        review_outcome: the state review ends in: 0 open (published), -2
            returned (被打回), -16 transcoding failed, -40 scheduled, ...
        token_ttl: seconds an access token lives.
        part_size: the fixed part size the upload checks (8 MB, as the API).

    Faults (`inject`): ``rate_limit`` answers 127009; ``busy`` 127201;
    ``token_expired`` 127001; ``server_error`` a bare HTTP 500.

    Example:
        >>> from govmedia.testing import FakeBilibili
        >>> fake = FakeBilibili()
        >>> ch = fake.channel("sasac", tid=21)
        >>> ch.options["base_url"]
        'https://sandbox.govmedia.test/bilibili'
        >>> sorted(ch.credentials)
        ['access_token', 'client_id', 'client_secret', 'refresh_token']
    """

    name: ClassVar[str] = "bilibili"
    prefix: ClassVar[str] = "/bilibili"
    create_path: ClassVar[str] = r"^/arcopen/fn/(archive/add-by-utoken|article/add)$"

    def __init__(self, base_url: str = "https://sandbox.govmedia.test", *, review_polls: int = 1,
                 review_outcome: int = 0, token_ttl: float = 30 * 86400.0,
                 part_size: int = PART_SIZE) -> None:
        super().__init__(base_url)
        self.review_polls = review_polls
        self.review_outcome = review_outcome
        self.app = App("bili" + secrets.token_hex(6), secrets.token_hex(16))
        self.apps: dict[str, App] = {self.app.client_id: self.app}
        self.accounts: set[str] = set()
        self.tokens = FakeTokens(ttl=token_ttl, clock=self.now,
                                 refuse=lambda reason: _err(*_TOKEN_ERRORS[reason]))
        self.codes: dict[str, tuple[str, str]] = {}  # authorization code -> (account, client_id)
        # Parts as sizes and hashes: fixed 8 MB parts, the last one shorter.
        self.uploads = ChunkedUploads(min_part=part_size, max_part=part_size,
                                      max_total=VIDEO_MAX_BYTES, max_parts=10_000,
                                      refuse=_upload_refusal, clock=self.now)
        self.sessions: dict[str, FakeUpload] = {}
        self.covers: dict[str, str] = {}  # cover URL -> account
        self.archives: dict[str, FakeArchive] = {}
        self.articles: dict[int, FakeArticle] = {}
        self.partitions = dict(PARTITIONS)
        self._nonces: dict[str, float] = {}
        self._article_ids = itertools.count(20_000_001)

    # ----------------------------------------------------------- setup

    def channel(self, account: str = "", **options: Any) -> Channel:
        """A channel for *account* (new tokens, with a refresh token) under the fake's app.

        Options default to this fake's address for all three hosts and a
        0.01 s ``poll_interval``; pass ``tid=21`` (日常) or another partition
        to submit videos.
        """
        with self.lock:
            account = account or f"bili_sandbox{len(self.accounts) + 1}"
            self.accounts.add(account)
            pair = self.tokens.issue(account, app_id=self.app.client_id, refresh=True)
            assert pair.refresh is not None
            return Channel(
                platform="bilibili", account=account,
                credentials={"access_token": pair.access.value, "refresh_token": pair.refresh.value,
                             "client_id": self.app.client_id, "client_secret": self.app.secret},
                options={"base_url": self.base_url, "oauth_url": self.base_url,
                         "upload_url": self.base_url, "poll_interval": 0.01, **options},
            )

    @property
    def part_size(self) -> int:
        """The fixed part size the merge checks (8 MB, as the API; a test may make it smaller)."""
        return self.uploads.min_part

    @part_size.setter
    def part_size(self, size: int) -> None:
        self.uploads.min_part = self.uploads.max_part = size

    def authorization_code(self, account: str) -> str:
        """A code as the browser authorisation hands it to the callback (for ``oauth2/v1/token``)."""
        with self.lock:
            self.accounts.add(account)
            code = secrets.token_hex(16)
            self.codes[code] = (account, self.app.client_id)
            return code


    def review(self, resource_id: str, state: int, *, reason: str = "") -> None:
        """End (or change) an archive's review now: ``state`` 0 open, -2 returned, ..."""
        with self.lock:
            archive = self.archives[resource_id]
            archive.state, archive.polls_left, archive.reject_reason = state, 0, reason

    def set_stats(self, resource_id: str, **counts: int) -> None:
        """Set an archive's counts: ``view``, ``danmaku``, ``reply``, ``favorite``, ``coin``, ...

        The names are those of ``data/arc/stat`` (``share``, ``like`` too).
        """
        with self.lock:
            self.archives[resource_id].stats.update(counts)

    # ----------------------------------------------------------- inspection

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every archive and article not deleted, oldest first, as dicts.

        An archive: ``kind`` ``archive``, ``resource_id``, the fields sent
        (``title``, ``cover``, ``tid``, ``tag``, ``desc``, ...), ``size`` (the
        video's bytes), ``state`` and ``account``. An article: ``kind``
        ``article``, ``id`` and its form fields.
        """
        with self.lock:
            out: list[dict[str, Any]] = [
                {"kind": "archive", "resource_id": a.resource_id, **a.fields, "size": a.size,
                 "state": a.state, "account": a.account}
                for a in self.archives.values()
                if not a.deleted and account in (None, a.account)
            ]
            out.extend({"kind": "article", "id": a.id, **a.fields, "account": a.account}
                       for a in self.articles.values()
                       if not a.deleted and account in (None, a.account))
            return out

    def account_of(self, request: httpx.Request) -> str | None:
        """The account whose token (or upload session) the request carries."""
        token = self.tokens.get(request.headers.get("access-token") or "")
        if token is not None:
            return token.subject
        upload = self.uploads.get(request.url.params.get("upload_token") or "")
        return upload.owner if upload is not None else None

    # ----------------------------------------------------------- faults and fallbacks

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Bilibili's own shapes: 127009, 127201, 127001; bare 500s and HTML pages as the base."""
        if fault.kind == "rate_limit":
            return _err(127009, "API调用次数达到上限")
        if fault.kind == "busy":
            return _err(127201, "系统繁忙")
        if fault.kind == "token_expired":
            return _err(127001, "access_token无效或过期")
        if fault.kind == "server_error":
            return httpx.Response(500)
        return super().fault_response(fault, request)

    def bad_body(self, reason: str) -> httpx.Response:
        """127100 for a body that does not parse."""
        return _err(127100, "参数错误")

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """Bilibili's 404: ``code`` -404."""
        return httpx.Response(404, json={"code": -404, "message": "啥都木有", "ttl": 1})

    # ----------------------------------------------------------- signature and token

    def _signed(self, request: httpx.Request) -> str:
        """The account of a correctly signed request with a valid token, or `Refuse`."""
        headers = request.headers
        if any(not headers.get(name) for name in (*_SIGNED, "authorization", "access-token")):
            raise _no(127000, "缺少授权参数")
        app = self.apps.get(headers["x-bili-accesskeyid"])
        if app is None:
            raise _no(127004, "client_id校验失败")
        if (headers["x-bili-signature-method"] != "HMAC-SHA256"
                or headers["x-bili-signature-version"] != "2.0"):
            raise _no(127012, "鉴权失败: 签名方法或版本不对")
        if hashlib.md5(request.content, usedforsecurity=False).hexdigest() != headers["x-bili-content-md5"]:
            raise _no(127012, "鉴权失败: content-md5 不符")
        try:
            stamp = int(headers["x-bili-timestamp"])
        except ValueError:
            raise _no(127012, "鉴权失败: 时间戳无效") from None
        now = self.now()
        if abs(now - stamp) > CLOCK_SKEW:
            raise _no(127012, "鉴权失败: 时间戳过期")
        nonce = headers["x-bili-signature-nonce"]
        if nonce in self._nonces:
            raise _no(127012, "鉴权失败: nonce 重复")
        message = "\n".join(f"{name}:{headers[name]}" for name in sorted(_SIGNED))
        expected = hmac.new(app.secret.encode(), message.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers["authorization"]):
            raise _no(127012, "鉴权失败: 签名错误")
        self._remember(nonce, now)
        token = self.tokens.access(headers["access-token"])
        if token.app_id != app.client_id:
            raise _no(127012, "鉴权失败: access_token 不属于该应用")
        if not app.certified:
            raise _no(127006, "应用未通过认证")
        return token.subject

    def _remember(self, nonce: str, now: float) -> None:
        if len(self._nonces) > 50_000:  # a nonce older than the skew window cannot come back
            self._nonces = {n: t for n, t in self._nonces.items() if now - t <= CLOCK_SKEW}
        self._nonces[nonce] = now

    def _app(self, params: httpx.QueryParams) -> App:
        app = self.apps.get(params.get("client_id") or "")
        if app is None:
            raise _no(122000, "client_id不存在")
        if params.get("client_secret") != app.secret:
            raise _no(122001, "client_secret不匹配")
        return app

    @route("POST", r"/x/account-oauth2/v1/token")
    def _code_token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app = self._app(request.url.params)
        if request.url.params.get("grant_type") != "authorization_code":
            return _err(127100, "参数错误")
        found = self.codes.pop(request.url.params.get("code") or "", None)
        if found is None or found[1] != app.client_id:
            return _err(122002, "code不存在")
        pair = self.tokens.issue(found[0], app_id=app.client_id, refresh=True)
        assert pair.refresh is not None
        return _ok({"access_token": pair.access.value, "refresh_token": pair.refresh.value,
                    "expires_in": pair.access.expires_in(self.now())})

    @route("POST", r"/x/account-oauth2/v1/refresh_token")
    def _refresh(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app = self._app(request.url.params)
        if request.url.params.get("grant_type") != "refresh_token":
            return _err(127100, "参数错误")
        pair = self.tokens.refresh(request.url.params.get("refresh_token"), app_id=app.client_id)
        assert pair.refresh is not None
        return _ok({"access_token": pair.access.value, "refresh_token": pair.refresh.value,
                    "expires_in": pair.access.expires_in(self.now())})

    # ----------------------------------------------------------- the video upload

    @route("POST", r"/arcopen/fn/archive/video/init")
    def _init(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        body = self.json_body(request)
        name = body.get("name")
        if not isinstance(name, str) or not name:
            return _err(127100, "参数错误: name")
        if body.get("utype", "0") not in ("0", "1"):
            return _err(127100, "参数错误: utype")
        if not name.lower().endswith((".mp4", ".flv")):
            return _err(127102, "文件类型错误")
        token = self.uploads.start(account).upload_id
        self.sessions[token] = FakeUpload(name)
        return _ok({"upload_token": token})

    @route("POST", r"/video/v2/part/upload")
    def _part(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        token = request.url.params.get("upload_token") or ""
        upload = self.uploads.get(token)
        if upload is None:
            return _err(127022, "upload_token无效")
        number = request.url.params.get("part_number") or ""
        if not number.isdigit():
            return _err(127100, "参数错误: part_number")
        if request.headers.get("content-type") != "application/octet-stream":
            return _err(127100, "参数错误: Content-Type")
        # Only the upload_token says whose session it is: the part carries no token.
        self.uploads.put(token, upload.owner, int(number), request.content)
        if int(number) == 1:
            self.sessions[token].head = request.content[:64]
        return httpx.Response(200, json={"code": 0})

    @route("POST", r"/arcopen/fn/archive/video/complete")
    def _complete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        token = request.url.params.get("upload_token") or ""
        upload = self.uploads.session(token, account)
        kept = self.sessions[token]
        head = kept.head
        container = "mp4" if head[4:8] == b"ftyp" else "flv" if head[:3] == b"FLV" else None
        if upload.parts and (container is None or not kept.name.lower().endswith("." + container)):
            return _err(127102, "文件类型错误")
        self.uploads.complete(token, account)  # a second merge is harmless (modelled)
        return _ok()

    @route("POST", r"/arcopen/fn/archive/cover/upload")
    def _cover(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        part = self.multipart_body(request).get("file")
        if part is None or not part.is_file or not part.data:
            return _err(127100, "参数错误: file")
        kind = image_type(part.data[:16])
        if kind not in ("jpeg", "png"):
            return _err(127102, "文件类型错误")
        if len(part.data) > COVER_MAX_BYTES:
            return _err(127100, "参数错误: 封面超过 5MB")
        dims = image_size(part.data)
        if dims is None or dims[0] < COVER_MIN[0] or dims[1] < COVER_MIN[1]:
            return _err(127100, "参数错误: 封面尺寸不足 960x600")
        url = f"https://i0.hdslb.com/bfs/archive/{secrets.token_hex(20)}.{'jpg' if kind == 'jpeg' else 'png'}"
        self.covers[url] = account
        return _ok({"url": url})

    # ----------------------------------------------------------- archives

    @route("POST", r"/arcopen/fn/archive/add-by-utoken")
    def _submit(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        token = request.url.params.get("upload_token") or ""
        upload = self.uploads.session(token, account)
        kept = self.sessions[token]
        if upload.completed is None or kept.used:
            return _err(127022, "upload_token无效")
        body = self.json_body(request)
        self._check_archive(body, account)
        kept.used = True
        resource_id = "BV1" + "".join(secrets.choice(_BV_ALPHABET) for _ in range(9))
        names = ("title", "cover", "tid", "tag", "desc", "copyright", "source", "no_reprint")
        fields: dict[str, Any] = {k: body[k] for k in names if k in body}
        self.archives[resource_id] = FakeArchive(resource_id, account, fields, upload.completed.size,
                                                 polls_left=self.review_polls,
                                                 outcome=self.review_outcome)
        return _ok({"resource_id": resource_id})

    def _check_archive(self, body: dict[str, Any], account: str) -> None:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise _no(127100, "参数错误: title")
        if self.covers.get(str(body.get("cover", ""))) != account:
            raise _no(129004, "封面地址错误")
        tid = body.get("tid")
        if type(tid) is not int:
            raise _no(127100, "参数错误: tid")
        if tid not in self.partitions:
            raise _no(127207, "分区不可用")
        tag = body.get("tag")
        if not isinstance(tag, str) or not all(t.strip() for t in tag.split(",")):
            raise _no(129003, "标签错误")
        if body.get("copyright") not in (1, 2):
            raise _no(127100, "参数错误: copyright")
        if body.get("copyright") == 2 and not body.get("source"):
            raise _no(127100, "参数错误: 转载需填写来源")
        if body.get("no_reprint", 0) not in (0, 1):
            raise _no(127100, "参数错误: no_reprint")
        if "desc" in body and not isinstance(body["desc"], str):
            raise _no(127100, "参数错误: desc")

    def _archive(self, resource_id: str, account: str) -> FakeArchive:
        archive = self.archives.get(resource_id)
        if archive is None or archive.account != account:
            raise _no(127124, "稿件不存在")
        if archive.deleted:
            raise _no(127107, "稿件已删除")
        return archive

    def _view_of(self, archive: FakeArchive) -> dict[str, Any]:
        return {"resource_id": archive.resource_id, **archive.fields, "addit_info": {
            "state": archive.state, "state_desc": STATE_DESC.get(archive.state, ""),
            "reject_reason": archive.reject_reason}}

    @route("GET", r"/arcopen/fn/archive/view")
    def _view(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        archive = self._archive(request.url.params.get("resource_id") or "", account)
        if archive.state == -30:
            if archive.polls_left > 0:
                archive.polls_left -= 1
            else:
                archive.state = archive.outcome
                if archive.state == -2 and not archive.reject_reason:
                    archive.reject_reason = "视频内容不符合社区规范"
        return _ok(self._view_of(archive))

    @route("GET", r"/arcopen/fn/archive/viewlist")
    def _viewlist(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        pn, ps = request.url.params.get("pn") or "1", request.url.params.get("ps") or "20"
        if not (pn.isdigit() and ps.isdigit()) or int(pn) < 1 or not 1 <= int(ps) <= 50:
            return _err(127100, "参数错误: pn/ps")
        mine = [a for a in reversed(self.archives.values()) if a.account == account and not a.deleted]
        start = (int(pn) - 1) * int(ps)
        return _ok({"page": {"pn": int(pn), "ps": int(ps), "total": len(mine)},
                    "list": [self._view_of(a) for a in mine[start:start + int(ps)]]})

    @route("GET", r"/arcopen/fn/archive/type/list")
    def _types(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        self._signed(request)
        return _ok([{"id": tid, "name": name} for tid, name in self.partitions.items()])

    @route("POST", r"/arcopen/fn/archive/delete")
    def _delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        archive = self._archive(str(self.json_body(request).get("resource_id", "")), account)
        archive.deleted = True
        return _ok()

    @route("GET", r"/arcopen/fn/data/arc/stat")
    def _stat(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        archive = self._archive(request.url.params.get("resource_id") or "", account)
        names = ("view", "danmaku", "reply", "favorite", "coin", "share", "like")
        return _ok({name: archive.stats.get(name, 0) for name in names})

    # ----------------------------------------------------------- articles

    @route("POST", r"/arcopen/fn/article/add")
    def _article(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        form = self.multipart_body(request)
        if not form.parts:
            return _err(127100, "参数错误: 需要 multipart/form-data")
        fields = {k: str(v) for k, v in form.fields.items()}
        title = fields.get("title", "")
        if not title.strip() or len(title) > ARTICLE_TITLE_MAX or _SPECIAL.search(title):
            return _err(129005, "标题不合法或超过40字")
        if not fields.get("content", "").strip():
            return _err(127100, "参数错误: content")
        for number in ("category", "template_id"):
            if number in fields and not fields[number].isdigit():
                return _err(127100, f"参数错误: {number}")
        article_id = next(self._article_ids)
        self.articles[article_id] = FakeArticle(article_id, account, fields)
        return _ok({"id": article_id})

    @route("POST", r"/arcopen/fn/article/delete")
    def _article_delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        account = self._signed(request)
        value = str(self.multipart_body(request).fields.get("id", ""))
        article = self.articles.get(int(value)) if value.isdigit() else None
        if article is None or article.account != account or article.deleted:
            return _err(127100, "参数错误: id")
        article.deleted = True
        return _ok()
