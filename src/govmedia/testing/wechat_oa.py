r"""A strict, stateful fake of the WeChat Official Account API (公众号).

It answers like the real API (shared/platforms/wechat_oa.md): errors are
HTTP 200 with ``{"errcode", "errmsg"}``; every call but the token endpoints
needs ``?access_token=``; JSON bodies must be raw UTF-8 (a ``\uXXXX`` escape
is refused with 40033); media types and sizes are checked from the bytes.

Routes below ``{base}/wechat_oa``: ``cgi-bin/stable_token``, ``cgi-bin/token``,
``cgi-bin/material/add_material``, ``cgi-bin/media/uploadimg``,
``cgi-bin/draft/{add,delete}``, ``cgi-bin/freepublish/{submit,get,delete}`` and
``datacube/getarticletotal`` (other datacube APIs answer an empty list).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import secrets
import time
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import image_type
from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform, Fault, route

__all__ = ["App", "FakeWeChatOA"]

_CHINA = dt.timezone(dt.timedelta(hours=8))
_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u[0-9a-fA-F]{4}")
_IMG_SRC = re.compile(r"""<img\b[^>]*?\ssrc\s*=\s*["']([^"']*)["'][^>]*>""", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.IGNORECASE | re.DOTALL)
_WECHAT_IMAGE = re.compile(r"^https?://mmbiz\.(qpic|qlogo)\.cn/", re.IGNORECASE)

MB = 1024 * 1024
# type -> (extensions, sniffed kinds or None (not checked), byte limit, errcode when too big)
_MATERIAL: dict[str, tuple[frozenset[str], frozenset[str] | None, int, int]] = {
    "image": (frozenset({"bmp", "png", "jpeg", "jpg", "gif"}),
              frozenset({"bmp", "png", "jpeg", "gif"}), 10 * MB, 40009),
    "thumb": (frozenset({"jpg", "jpeg"}), frozenset({"jpeg"}), 64 * 1024, 40006),
    "voice": (frozenset({"mp3", "wma", "wav", "amr"}), None, 2 * MB, 40006),
    "video": (frozenset({"mp4"}), None, 10 * MB, 40006),
}
_EXT_KIND = {"jpg": "jpeg", "jpeg": "jpeg", "png": "png", "gif": "gif", "bmp": "bmp"}
_DATACUBE_SPAN = {"getarticlesummary": 1, "getarticletotal": 1, "getuserread": 3,
                  "getuserreadhour": 1, "getusershare": 7, "getusersharehour": 1}
_STAT_FIELDS = ("target_user", "int_page_read_user", "int_page_read_count", "ori_page_read_user",
                "ori_page_read_count", "share_user", "share_count", "add_to_fav_user",
                "add_to_fav_count")


def _ok(data: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200, content=json.dumps(data, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; encoding=utf-8"},
    )


def _err(code: int, message: str) -> httpx.Response:
    rid = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    return _ok({"errcode": code, "errmsg": f"{message} rid: {rid}"})


def _today() -> dt.date:
    return dt.datetime.now(_CHINA).date()


@attrs.define
class App:
    """One official account's app: its secret, accounts, tokens and switches.

    Attributes:
        whitelisted: False makes token requests fail with 40164 (IP whitelist).
        can_publish: False makes ``freepublish/submit`` fail with 48001.
    """

    app_id: str
    secret: str = attrs.field(repr=False)
    accounts: list[str] = attrs.field(factory=list)
    whitelisted: bool = True
    can_publish: bool = True
    stable: str | None = attrs.field(default=None, repr=False)
    plain: str | None = attrs.field(default=None, repr=False)

    @property
    def account(self) -> str:
        """The account this app stands for in the request log."""
        return self.accounts[0] if self.accounts else self.app_id


@attrs.define
class _Token:
    app_id: str
    expires_at: float


@attrs.define
class _Material:
    media_id: str
    app_id: str
    type: str
    filename: str
    size: int
    url: str | None


@attrs.define
class _Draft:
    media_id: str
    app_id: str
    articles: list[dict[str, Any]]
    state: str = "draft"  # draft | publishing | published | deleted | banned
    publish_id: str | None = None
    msg_data_id: int | None = None
    article_id: str | None = None
    url: str | None = None
    ref_date: str | None = None
    publish_status: int | None = None
    stripped_images: int = 0
    stats: dict[str, int] = attrs.field(factory=dict)


@attrs.define
class _Job:
    publish_id: str
    app_id: str
    media_id: str
    msg_data_id: int
    polls_left: int
    outcome: int
    fail_idx: list[int]
    status: int = 1


class FakeWeChatOA(FakePlatform):
    """The WeChat Official Account API at ``{base}/wechat_oa``.

    Args:
        base_url: the sandbox root.
        publish_polls: how many ``freepublish/get`` calls answer status 1
            (publishing) before the job ends.
        publish_outcome: the status a job ends with: 0 published, 2 originality
            check failed, 3 failed, 4 review rejected, 5 deleted, 6 banned.
        token_ttl: seconds a new token lives.

    Faults (`inject`): ``rate_limit`` answers 45011 (the per-minute quota:
    retried) or, with ``retry_after=None``, 45009 (the daily quota: no known
    reset); ``busy`` answers errcode -1; ``token_expired`` 42001;
    ``server_error`` a bare HTTP 500.

    Example:
        >>> from govmedia.testing import FakeWeChatOA
        >>> fake = FakeWeChatOA()
        >>> ch = fake.channel("gh_sasac")
        >>> ch.options["base_url"], sorted(ch.credentials)
        ('https://sandbox.govmedia.test/wechat_oa', ['app_id', 'app_secret'])
    """

    name: ClassVar[str] = "wechat_oa"
    prefix: ClassVar[str] = "/wechat_oa"
    create_path: ClassVar[str] = "/cgi-bin/draft/add"

    def __init__(
        self, base_url: str = "https://sandbox.govmedia.test", *, publish_polls: int = 1,
        publish_outcome: int = 0, token_ttl: int = 7200,
    ) -> None:
        super().__init__(base_url)
        self.publish_polls = publish_polls
        self.publish_outcome = publish_outcome
        self.publish_fail_idx: list[int] = [1]
        self.token_ttl = token_ttl
        self.risky_terms: set[str] = set()
        self.apps: dict[str, App] = {}
        self.tokens: dict[str, _Token] = {}
        self.materials: dict[str, _Material] = {}
        self.images: dict[str, tuple[str, int]] = {}
        self.drafts: dict[str, _Draft] = {}
        self.jobs: dict[str, _Job] = {}
        self._ids = itertools.count(2247483001)

    # ----------------------------------------------------------- setup

    def app(
        self, app_id: str | None = None, *, secret: str | None = None, account: str | None = None,
        whitelisted: bool = True, can_publish: bool = True,
    ) -> App:
        """Create (or fetch) the app *app_id*; a new one gets a random secret."""
        with self.lock:
            app_id = app_id or "wx" + secrets.token_hex(8)
            app = self.apps.get(app_id)
            if app is None:
                app = self.apps[app_id] = App(app_id, secret or secrets.token_hex(16))
            app.whitelisted = whitelisted
            app.can_publish = can_publish
            if account and account not in app.accounts:
                app.accounts.append(account)
            return app

    def channel(self, account: str = "", *, app_id: str | None = None, **options: Any) -> Channel:
        """A channel for *account*, under a new app or the existing *app_id*.

        Channels made with the same *app_id* share its secret (and so its token).
        Options default to this fake's ``base_url`` and a 0.01 s ``poll_interval``.
        """
        with self.lock:
            account = account or f"gh_sandbox{len(self.apps) + 1}"
            app = self.apps.get(app_id) if app_id else None
            if app is None:
                app = self.app(app_id, account=account)
            elif account not in app.accounts:
                app.accounts.append(account)
            return Channel(
                platform="wechat_oa", account=account,
                credentials={"app_id": app.app_id, "app_secret": app.secret},
                options={"base_url": self.base_url, "poll_interval": 0.01, **options},
            )

    def expire_tokens(self) -> None:
        """Expire every token issued so far (the next call with one gets 42001)."""
        with self.lock:
            past = time.time() - 1
            for token in self.tokens.values():
                token.expires_at = past

    def set_stats(self, article_id: str, *, ref_date: str | None = None, **counts: int) -> None:
        """Set datacube figures (``int_page_read_count=...``) and the publish day of an article."""
        with self.lock:
            draft = next(d for d in self.drafts.values() if d.article_id == article_id)
            unknown = set(counts) - set(_STAT_FIELDS)
            if unknown:
                raise ValueError(f"unknown datacube fields {sorted(unknown)}; use {_STAT_FIELDS}")
            draft.stats.update(counts)
            if ref_date is not None:
                draft.ref_date = ref_date

    # ----------------------------------------------------------- inspection

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every article made through ``draft/add`` and not deleted, oldest first.

        Each is a dict: the fields sent (``title``, ``content``, ``author``,
        ``digest``, ``thumb_media_id``, ...) and ``media_id``, ``state``
        (``draft``, ``publishing``, ``published``, ``banned``), ``publish_id``,
        ``article_id``, ``url``, ``account`` and ``app_id``. With *account*:
        only those of the app that account belongs to.
        """
        with self.lock:
            out: list[dict[str, Any]] = []
            for draft in self.drafts.values():
                app = self.apps[draft.app_id]
                mine = account is None or account in app.accounts
                if draft.state == "deleted" or not mine:
                    continue
                out.extend({
                    **article, "media_id": draft.media_id, "state": draft.state,
                    "publish_id": draft.publish_id, "article_id": draft.article_id,
                    "url": draft.url, "account": app.account, "app_id": app.app_id,
                    "stripped_images": draft.stripped_images,
                } for article in draft.articles)
            return out

    def account_of(self, request: httpx.Request) -> str | None:
        """The account of the app whose token (or app id) the request carries."""
        try:
            token = request.url.params.get("access_token")
            app_id = self.tokens[token].app_id if token in self.tokens else None
            if app_id is None and request.url.path.endswith("/stable_token"):
                app_id = json.loads(request.content).get("appid")
            app_id = app_id or request.url.params.get("appid")
            app = self.apps.get(app_id or "")
        except (ValueError, AttributeError):
            return None
        return app.account if app else None

    # ----------------------------------------------------------- faults and fallbacks

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """WeChat's own shapes: 45011/45009, -1, 42001; bare 500s and HTML pages as the base."""
        if fault.kind == "rate_limit":
            if fault.retry_after is None:
                return _err(45009, "reach max api daily quota limit")
            return _err(45011, "api minute-quota reach limit  mustslower  retry next minute")
        if fault.kind == "busy":
            return _err(-1, "system error")
        if fault.kind == "token_expired":
            return _err(42001, "access_token expired")
        if fault.kind == "server_error":
            return httpx.Response(500)
        return super().fault_response(fault, request)

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """WeChat answers a GET to a POST API with 43002."""
        return _err(43002, "require POST method")

    # ----------------------------------------------------------- request helpers

    def _auth(self, request: httpx.Request) -> App | httpx.Response:
        token = request.url.params.get("access_token")
        if not token:
            return _err(41001, "access_token missing")
        record = self.tokens.get(token)
        if record is None:
            return _err(40014, "invalid access_token")
        if record.expires_at <= time.time():
            return _err(42001, "access_token expired")
        return self.apps[record.app_id]

    def _authed_json(self, request: httpx.Request) -> tuple[App, dict[str, Any]] | httpx.Response:
        """The calling app and the JSON body, or the error WeChat would answer."""
        app = self._auth(request)
        if isinstance(app, httpx.Response):
            return app
        data = self._body(request)
        if isinstance(data, httpx.Response):
            return data
        return app, data

    def _body(self, request: httpx.Request) -> dict[str, Any] | httpx.Response:
        try:
            text = request.content.decode("utf-8")
        except UnicodeDecodeError:
            return _err(40033, "invalid charset. please check your request")
        if _ESCAPE.search(text):
            return _err(40033, "invalid charset. please check your request, "
                               "if include \\uxxxx will create fail!")
        try:
            data = json.loads(text)
        except ValueError:
            return _err(47001, "data format error")
        if not isinstance(data, dict):
            return _err(47001, "data format error")
        return data

    def _file(self, request: httpx.Request) -> tuple[str, bytes] | None:
        """The ``media`` part of a multipart/form-data body: (filename, bytes)."""
        ctype = request.headers.get("content-type", "")
        found = re.search(r'boundary="?([^";]+)"?', ctype)
        if not ctype.lower().startswith("multipart/form-data") or not found:
            return None
        delimiter = b"--" + found.group(1).encode("latin-1")
        for part in request.content.split(delimiter)[1:]:
            if part.startswith(b"--"):
                break
            head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
            data = data.removesuffix(b"\r\n")
            disposition = head.decode("utf-8", "replace")
            name = re.search(r'\bname="([^"]*)"', disposition)
            filename = re.search(r'\bfilename="([^"]*)"', disposition)
            if name and name.group(1) == "media" and filename:
                return filename.group(1), data
        return None

    def _new_id(self) -> str:
        return secrets.token_urlsafe(32).replace("-", "A").replace("_", "B")

    # ----------------------------------------------------------- tokens

    @route("POST", r"/cgi-bin/stable_token")
    def _stable_token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        data = self._body(request)
        if isinstance(data, httpx.Response):
            return data
        if data.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        app = self.apps.get(str(data.get("appid", "")))
        if app is None:
            return _err(40013, "invalid appid")
        if data.get("secret") != app.secret:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if not app.whitelisted:
            return _err(40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist")
        force = data.get("force_refresh", False)
        if not isinstance(force, bool):
            return _err(47001, "data format error")
        now = time.time()
        current = self.tokens.get(app.stable or "")
        # The same token until five minutes before it expires; then a new one
        # (the old one keeps working until its own expiry).
        if force or current is None or current.expires_at - now <= 300:
            app.stable = "stable-" + secrets.token_urlsafe(48)
            current = self.tokens[app.stable] = _Token(app.app_id, now + self.token_ttl)
        return _ok({"access_token": app.stable, "expires_in": int(current.expires_at - now)})

    @route("GET", r"/cgi-bin/token")
    def _token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        params = request.url.params
        if params.get("grant_type") != "client_credential":
            return _err(40002, "invalid grant_type")
        app = self.apps.get(params.get("appid", ""))
        if app is None:
            return _err(40013, "invalid appid")
        if params.get("secret") != app.secret:
            return _err(40001, "invalid credential, access_token is invalid or not latest")
        if not app.whitelisted:
            return _err(40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist")
        if app.plain in self.tokens:  # a refetch rotates the token
            del self.tokens[app.plain]
        app.plain = "plain-" + secrets.token_urlsafe(48)
        self.tokens[app.plain] = _Token(app.app_id, time.time() + self.token_ttl)
        return _ok({"access_token": app.plain, "expires_in": self.token_ttl})

    # ----------------------------------------------------------- media

    @route("POST", r"/cgi-bin/material/add_material")
    def _add_material(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app = self._auth(request)
        if isinstance(app, httpx.Response):
            return app
        kind = request.url.params.get("type", "")
        if kind not in _MATERIAL:
            return _err(40004, "invalid media type")
        upload = self._file(request)
        if upload is None:
            return _err(41005, "media data missing")
        filename, data = upload
        extensions, sniffed, limit, too_big = _MATERIAL[kind]
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if ext not in extensions or (sniffed is not None and image_type(data) != _EXT_KIND.get(ext)):
            return _err(40005, "invalid file type")  # the name and the bytes must agree
        if not data or len(data) > limit:
            return _err(too_big, "invalid image size" if too_big == 40009 else "invalid media size")
        media_id = self._new_id()
        url = None
        if kind == "image":
            url = f"http://mmbiz.qpic.cn/mmbiz_{ext}/{self._new_id()}/0?wx_fmt={ext}"
            self.images[url] = (app.app_id, len(data))
        self.materials[media_id] = _Material(media_id, app.app_id, kind, filename, len(data), url)
        return _ok({"media_id": media_id, **({"url": url} if url else {})})

    @route("POST", r"/cgi-bin/media/uploadimg")
    def _uploadimg(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app = self._auth(request)
        if isinstance(app, httpx.Response):
            return app
        upload = self._file(request)
        if upload is None:
            return _err(41005, "media data missing")
        filename, data = upload
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if ext not in ("jpg", "jpeg", "png") or image_type(data) != _EXT_KIND[ext]:
            return _err(40005, "invalid file type")
        if not data or len(data) >= MB:
            return _err(40009, "invalid image size")
        fmt = "png" if ext == "png" else "jpeg"
        url = f"http://mmbiz.qpic.cn/mmbiz_{ext}/{self._new_id()}/0?wx_fmt={fmt}"
        self.images[url] = (app.app_id, len(data))
        return _ok({"url": url})

    # ----------------------------------------------------------- drafts

    def _check_article(self, app: App, article: Any) -> httpx.Response | None:
        if not isinstance(article, dict):
            return _err(47001, "data format error")
        kind = article.get("article_type", "news")
        title, content = article.get("title"), article.get("content")
        if kind not in ("news", "newspic") or not isinstance(title, str) or not title:
            return _err(47001, "data format error")
        if len(title) > 32:
            return _err(45003, "title size out of limit")
        if len(str(article.get("author", ""))) > 16:
            return _err(45110, "author size out of limit")
        if len(str(article.get("digest", ""))) > 128:
            return _err(45004, "description size out of limit")
        if not isinstance(content, str) or not content.strip():
            return _err(44004, "empty content")
        if len(content) >= 20_000 or len(content.encode("utf-8")) >= MB:
            return _err(45002, "content size out of limit")
        if len(str(article.get("content_source_url", "")).encode("utf-8")) > 1024:
            return _err(45005, "url size out of limit")
        for flag in ("need_open_comment", "only_fans_can_comment"):
            if article.get(flag, 0) not in (0, 1) or isinstance(article.get(flag), bool):
                return _err(47001, "data format error")
        if kind == "news":
            material = self.materials.get(str(article.get("thumb_media_id", "")))
            if (material is None or material.app_id != app.app_id
                    or material.type not in ("image", "thumb")):
                return _err(40007, "invalid media_id")
        else:
            images = (article.get("image_info") or {}).get("image_list") or []
            if not 1 <= len(images) <= 20:
                return _err(47001, "data format error")
            for item in images:
                material = self.materials.get(str((item or {}).get("image_media_id", "")))
                if material is None or material.app_id != app.app_id or material.type != "image":
                    return _err(40007, "invalid media_id")
        if any(term in title or term in content for term in self.risky_terms):
            return _err(87014, "risky content")
        return None

    @route("POST", r"/cgi-bin/draft/add")
    def _draft_add(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        got = self._authed_json(request)
        if isinstance(got, httpx.Response):
            return got
        app, data = got
        articles = data.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return _err(47001, "data format error")
        for article in articles:
            refused = self._check_article(app, article)
            if refused is not None:
                return refused
        stripped = 0
        kept = []
        for article in articles:
            content = _SCRIPT.sub("", article["content"])  # JS is stripped
            found = [m for m in _IMG_SRC.finditer(content) if not _WECHAT_IMAGE.match(m.group(1))]
            stripped += len(found)
            for m in found:  # other hosts' images are stripped too
                content = content.replace(m.group(0), "")
            kept.append({**article, "content": content})
        media_id = self._new_id()
        self.drafts[media_id] = _Draft(media_id, app.app_id, kept, stripped_images=stripped)
        return _ok({"media_id": media_id})

    @route("POST", r"/cgi-bin/draft/delete")
    def _draft_delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        got = self._authed_json(request)
        if isinstance(got, httpx.Response):
            return got
        app, data = got
        draft = self.drafts.get(str(data.get("media_id", "")))
        if draft is None or draft.app_id != app.app_id or draft.state != "draft":
            return _err(40007, "invalid media_id")
        draft.state = "deleted"
        return _ok({"errcode": 0, "errmsg": "ok"})

    # ----------------------------------------------------------- publishing

    @route("POST", r"/cgi-bin/freepublish/submit")
    def _submit(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        got = self._authed_json(request)
        if isinstance(got, httpx.Response):
            return got
        app, data = got
        draft = self.drafts.get(str(data.get("media_id", "")))
        if draft is None or draft.app_id != app.app_id or draft.state != "draft":
            return _err(40007, "invalid media_id")
        if not app.can_publish:
            return _err(48001, "api unauthorized")
        publish_id = str(next(self._ids))
        msg_data_id = next(self._ids)
        self.jobs[publish_id] = _Job(
            publish_id, app.app_id, draft.media_id, msg_data_id, self.publish_polls,
            self.publish_outcome, list(self.publish_fail_idx),
        )
        draft.state, draft.publish_id, draft.msg_data_id = "publishing", publish_id, msg_data_id
        return _ok({"errcode": 0, "errmsg": "ok", "publish_id": publish_id,
                    "msg_data_id": msg_data_id})

    @route("POST", r"/cgi-bin/freepublish/get")
    def _publish_status(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        got = self._authed_json(request)
        if isinstance(got, httpx.Response):
            return got
        app, data = got
        job = self.jobs.get(str(data.get("publish_id", "")))
        if job is None or job.app_id != app.app_id:
            return _err(53502, "invalid publish_id")
        draft = self.drafts[job.media_id]
        if job.status == 1 and job.polls_left > 0:
            job.polls_left -= 1
            return _ok({"publish_id": job.publish_id, "publish_status": 1, "fail_idx": []})
        if job.status == 1:
            self._finish(job, draft)
        answer: dict[str, Any] = {"publish_id": job.publish_id, "publish_status": job.status}
        if job.status == 0:
            answer.update(article_id=draft.article_id, article_detail={
                "count": 1, "item": [{"idx": 1, "article_url": draft.url}],
            }, fail_idx=[])
        else:
            answer["fail_idx"] = job.fail_idx if job.status in (2, 3, 4) else []
        return _ok(answer)

    def _finish(self, job: _Job, draft: _Draft) -> None:
        job.status = draft.publish_status = job.outcome
        if job.outcome in (0, 5, 6):
            draft.article_id = self._new_id()
            draft.url = f"https://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}"
            draft.ref_date = _today().isoformat()
            draft.state = {0: "published", 5: "deleted", 6: "banned"}[job.outcome]
        else:
            draft.state = "draft"  # a failed publish leaves the draft in the draft box

    @route("POST", r"/cgi-bin/freepublish/delete")
    def _publish_delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        got = self._authed_json(request)
        if isinstance(got, httpx.Response):
            return got
        app, data = got
        article_id = str(data.get("article_id", ""))
        draft = next((d for d in self.drafts.values()
                      if d.article_id == article_id and d.app_id == app.app_id), None)
        if draft is None or draft.state != "published":
            return _err(53600, "invalid article_id")
        index = data.get("index", 0)
        if type(index) is not int or not 0 <= index <= len(draft.articles):
            return _err(47001, "data format error")
        draft.state = "deleted"
        return _ok({"errcode": 0, "errmsg": "ok"})

    # ----------------------------------------------------------- analytics

    @route("POST", r"/datacube/(?P<api>[a-z]+)")
    def _datacube(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app = self._auth(request)
        if isinstance(app, httpx.Response):
            return app
        api = match["api"]
        if api not in _DATACUBE_SPAN:
            return _err(48001, "api unauthorized")
        data = self._body(request)
        if isinstance(data, httpx.Response):
            return data
        try:
            begin = dt.date.fromisoformat(str(data.get("begin_date")))
            end = dt.date.fromisoformat(str(data.get("end_date")))
        except ValueError:
            return _err(61500, "date format error")
        yesterday = _today() - dt.timedelta(days=1)
        if begin > end or end > yesterday or (end - begin).days + 1 > _DATACUBE_SPAN[api]:
            return _err(61501, "date range error")
        if api != "getarticletotal":
            return _ok({"list": []})
        rows = []
        for draft in self.drafts.values():
            if draft.app_id != app.app_id or draft.ref_date is None or draft.msg_data_id is None:
                continue
            if not begin.isoformat() <= draft.ref_date <= end.isoformat():
                continue
            sent = dt.date.fromisoformat(draft.ref_date)
            stat_date = min(sent + dt.timedelta(days=6), yesterday).isoformat()
            detail = {"stat_date": stat_date, **{f: draft.stats.get(f, 0) for f in _STAT_FIELDS}}
            rows.append({"ref_date": draft.ref_date, "msgid": f"{draft.msg_data_id}_1",
                         "title": draft.articles[0]["title"], "details": [detail]})
        return _ok({"list": rows})
