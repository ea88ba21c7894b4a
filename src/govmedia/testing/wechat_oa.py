r"""A strict, stateful fake of the WeChat Official Account API (公众号).

It answers like the real API (shared/platforms/wechat_oa.md): errors are
HTTP 200 with ``{"errcode", "errmsg"}``; every call but the token endpoints
needs ``?access_token=``; JSON bodies must be raw UTF-8 (a ``\uXXXX`` escape
is refused with 40033); media types and sizes are checked from the bytes.

Routes below ``{base}/wechat_oa``: ``cgi-bin/stable_token``, ``cgi-bin/token``,
``cgi-bin/material/add_material``, ``cgi-bin/media/uploadimg``,
``cgi-bin/draft/{add,delete,batchget}``,
``cgi-bin/freepublish/{submit,get,delete,batchget}``,
``cgi-bin/message/mass/sendall`` and
``datacube/getarticletotal`` (other datacube APIs answer an empty list).

Unverified against the live API and modelled here: the two ``batchget`` lists
answer newest first with ``update_time`` and each article's
``thumb_media_id``; a draft leaves the draft box once it is submitted.
"""

from __future__ import annotations

import base64
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
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse

__all__ = ["App", "FakeWeChatOA"]

_CHINA = dt.timezone(dt.timedelta(hours=8))
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


def _no(code: int, message: str) -> Refuse:
    """WeChat's refusal (HTTP 200, ``errcode``), to raise from anywhere in a handler."""
    return Refuse(_err(code, message))


_TOKEN_ERRORS = {"missing": (41001, "access_token missing"), "invalid": (40014, "invalid access_token"),
                 "expired": (42001, "access_token expired")}
_CHARSET = "invalid charset. please check your request"
_BODY_ERRORS = {"charset": (40033, _CHARSET), "multipart": (41005, "media data missing"),
                "escape": (40033, _CHARSET + ", if include \\uxxxx will create fail!")}


def _today() -> dt.date:
    return dt.datetime.now(_CHINA).date()


@attrs.define
class App:
    """One official account's app: its secret, accounts, tokens and switches.

    Attributes:
        whitelisted: False makes token requests fail with 40164 (IP whitelist).
        can_publish: False makes ``freepublish/submit`` and ``freepublish/batchget``
            fail with 48001.
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
    update_time: int = attrs.field(factory=lambda: int(time.time()))


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
    started: float = attrs.field(factory=time.monotonic)


class FakeWeChatOA(FakePlatform):
    """The WeChat Official Account API at ``{base}/wechat_oa``.

    Args:
        base_url: the sandbox root.
        publish_polls: how many ``freepublish/get`` calls answer status 1
            (publishing) before the job ends.
        job_seconds: a job nobody polls ends on its own after this long (as
            WeChat's do), seen by ``freepublish/batchget``.
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
        job_seconds: float = 1.0,
        publish_outcome: int = 0, token_ttl: int = 7200,
    ) -> None:
        super().__init__(base_url)
        self.publish_polls = publish_polls
        self.job_seconds = job_seconds
        self.publish_outcome = publish_outcome
        self.publish_fail_idx: list[int] = [1]
        self.risky_terms: set[str] = set()
        self.apps: dict[str, App] = {}
        self.tokens = FakeTokens(ttl=token_ttl, clock=self.now,
                                 refuse=lambda reason: _err(*_TOKEN_ERRORS[reason]))
        self.materials: dict[str, _Material] = {}
        self.images: dict[str, tuple[str, int]] = {}
        self.drafts: dict[str, _Draft] = {}
        self.jobs: dict[str, _Job] = {}
        self.mass_sends: dict[tuple[str, str], dict[str, Any]] = {}
        self.mass_quota = 1  # a subscription account: one mass send a day
        self.customer_messages: list[dict[str, Any]] = []  # message/custom/send, oldest first
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

    def bot_channel(self, account: str = "", *, safe: bool = True, app_id: str | None = None,
                    **options: Any) -> Channel:
        """`channel` with the service bot's callback credentials too: what `Bot.asgi` serves.

        They are ``callback_token``, and ``encoding_aes_key`` when *safe*.

        Example:
            >>> from govmedia.testing import FakeWeChatOA
            >>> sorted(FakeWeChatOA().bot_channel("gh_sasac").credentials)
            ['app_id', 'app_secret', 'callback_token', 'encoding_aes_key']
        """
        channel = self.channel(account, app_id=app_id, **options)
        inbound = {"callback_token": secrets.token_urlsafe(12)}
        if safe:
            inbound["encoding_aes_key"] = base64.b64encode(secrets.token_bytes(32)).decode()[:43]
        return attrs.evolve(channel, credentials={**dict(channel.credentials), **inbound})

    def customer_messages_to(self, user: str) -> list[dict[str, Any]]:
        """The customer-service messages sent to *user* (an OpenID), oldest first."""
        with self.lock:
            return [dict(m) for m in self.customer_messages if m["touser"] == user]

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
            token = self.tokens.get(request.url.params.get("access_token") or "")
            app_id = token.app_id if token else None
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

    def bad_body(self, reason: str) -> httpx.Response:
        """40033 for a body that is not raw UTF-8, 41005 for a broken upload, else 47001."""
        return _err(*_BODY_ERRORS.get(reason, (47001, "data format error")))

    def _auth(self, request: httpx.Request) -> App:
        """The app whose token the request carries, or `Refuse` (41001, 40014, 42001)."""
        return self.apps[str(self.tokens.access(request.url.params.get("access_token")).app_id)]

    def _authed_json(self, request: httpx.Request) -> tuple[App, dict[str, Any]]:
        """The calling app and the JSON body (raw UTF-8, nothing escaped), or `Refuse`."""
        return self._auth(request), self.json_body(request, escapes=False)

    def _file(self, request: httpx.Request) -> tuple[str, bytes]:
        """The ``media`` file of a multipart/form-data body: (filename, bytes), or `Refuse` (41005)."""
        part = self.multipart_body(request).get("media")
        if part is None or part.filename is None:
            raise _no(41005, "media data missing")
        return part.filename, part.data

    def _new_id(self) -> str:
        return secrets.token_urlsafe(32).replace("-", "A").replace("_", "B")

    # ----------------------------------------------------------- tokens

    def _app_by_secret(self, grant_type: Any, app_id: Any, secret: Any) -> App:
        """The app a token request names, or `Refuse` the way WeChat refuses it."""
        if grant_type != "client_credential":
            raise _no(40002, "invalid grant_type")
        app = self.apps.get(str(app_id or ""))
        if app is None:
            raise _no(40013, "invalid appid")
        if secret != app.secret:
            raise _no(40001, "invalid credential, access_token is invalid or not latest")
        if not app.whitelisted:
            raise _no(40164, "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist")
        return app

    @route("POST", r"/cgi-bin/stable_token")
    def _stable_token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        data = self.json_body(request, escapes=False)
        app = self._app_by_secret(data.get("grant_type"), data.get("appid"), data.get("secret"))
        force = data.get("force_refresh", False)
        if not isinstance(force, bool):
            return _err(47001, "data format error")
        now = self.now()
        current = self.tokens.get(app.stable or "")
        # The same token until five minutes before it expires; then a new one
        # (the old one keeps working until its own expiry).
        if force or current is None or current.expired(now + 300):
            current = self.tokens.issue(app.app_id, app_id=app.app_id, prefix="stable-").access
            app.stable = current.value
        return _ok({"access_token": app.stable, "expires_in": current.expires_in(now)})

    @route("GET", r"/cgi-bin/token")
    def _token(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        params = request.url.params
        app = self._app_by_secret(params.get("grant_type"), params.get("appid"), params.get("secret"))
        if app.plain:  # a refetch rotates the token
            self.tokens.revoke(app.plain)
        app.plain = self.tokens.issue(app.app_id, app_id=app.app_id, prefix="plain-").access.value
        return _ok({"access_token": app.plain, "expires_in": self.token_ttl})

    # ----------------------------------------------------------- media

    @route("POST", r"/cgi-bin/material/add_material")
    def _add_material(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app = self._auth(request)
        kind = request.url.params.get("type", "")
        if kind not in _MATERIAL:
            return _err(40004, "invalid media type")
        filename, data = self._file(request)
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
        filename, data = self._file(request)
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

    def _check_article(self, app: App, article: Any) -> None:
        """`Refuse` an article the way ``draft/add`` does."""
        if not isinstance(article, dict):
            raise _no(47001, "data format error")
        kind = article.get("article_type", "news")
        title, content = article.get("title"), article.get("content")
        if kind not in ("news", "newspic") or not isinstance(title, str) or not title:
            raise _no(47001, "data format error")
        if len(title) > 32:
            raise _no(45003, "title size out of limit")
        if len(str(article.get("author", ""))) > 16:
            raise _no(45110, "author size out of limit")
        if len(str(article.get("digest", ""))) > 128:
            raise _no(45004, "description size out of limit")
        if not isinstance(content, str) or not content.strip():
            raise _no(44004, "empty content")
        if len(content) >= 20_000 or len(content.encode("utf-8")) >= MB:
            raise _no(45002, "content size out of limit")
        if len(str(article.get("content_source_url", "")).encode("utf-8")) > 1024:
            raise _no(45005, "url size out of limit")
        for flag in ("need_open_comment", "only_fans_can_comment"):
            if article.get(flag, 0) not in (0, 1) or isinstance(article.get(flag), bool):
                raise _no(47001, "data format error")
        if kind == "news":
            material = self.materials.get(str(article.get("thumb_media_id", "")))
            if (material is None or material.app_id != app.app_id
                    or material.type not in ("image", "thumb")):
                raise _no(40007, "invalid media_id")
        else:
            images = (article.get("image_info") or {}).get("image_list") or []
            if not 1 <= len(images) <= 20:
                raise _no(47001, "data format error")
            for item in images:
                material = self.materials.get(str((item or {}).get("image_media_id", "")))
                if material is None or material.app_id != app.app_id or material.type != "image":
                    raise _no(40007, "invalid media_id")
        if any(term in title or term in content for term in self.risky_terms):
            raise _no(87014, "risky content")

    @route("POST", r"/cgi-bin/draft/add")
    def _draft_add(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app, data = self._authed_json(request)
        articles = data.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return _err(47001, "data format error")
        for article in articles:
            self._check_article(app, article)
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
        app, data = self._authed_json(request)
        draft = self.drafts.get(str(data.get("media_id", "")))
        if draft is None or draft.app_id != app.app_id or draft.state != "draft":
            return _err(40007, "invalid media_id")
        draft.state = "deleted"
        return _ok({"errcode": 0, "errmsg": "ok"})

    @route("POST", r"/cgi-bin/draft/batchget")
    def _draft_batchget(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app, data = self._authed_json(request)
        drafts = [d for d in self.drafts.values() if d.app_id == app.app_id and d.state == "draft"]
        return self._page(data, drafts, lambda d: {"media_id": d.media_id})

    def _page(self, data: dict[str, Any], drafts: list[_Draft],
              ident: Any) -> httpx.Response:
        offset, count, no_content = data.get("offset"), data.get("count"), data.get("no_content", 0)
        if (type(offset) is not int or type(count) is not int or offset < 0
                or not 1 <= count <= 20 or no_content not in (0, 1)):
            return _err(47001, "data format error")
        drafts = sorted(drafts, key=lambda d: d.update_time, reverse=True)
        items = []
        for draft in drafts[offset:offset + count]:
            item: dict[str, Any] = {**ident(draft), "update_time": draft.update_time}
            if not no_content:
                item["content"] = {"news_item": [
                    {**article, "url": draft.url or "", "is_deleted": False}
                    for article in draft.articles
                ]}
            items.append(item)
        return _ok({"total_count": len(drafts), "item_count": len(items), "item": items})

    # ----------------------------------------------------------- publishing

    @route("POST", r"/cgi-bin/freepublish/submit")
    def _submit(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app, data = self._authed_json(request)
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
        draft.update_time = int(time.time())
        return _ok({"errcode": 0, "errmsg": "ok", "publish_id": publish_id,
                    "msg_data_id": msg_data_id})

    @route("POST", r"/cgi-bin/message/mass/sendall")
    def _mass_sendall(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        """Mass send of a draft to all followers, deduplicated by ``clientmsgid``.

        Modelled, unverified: a repeated ``clientmsgid`` answers 45065 with the
        first send's ``msg_id``; ``mass_quota`` sends per app per day (a
        subscription account has one), then 45028.
        """
        app, data = self._authed_json(request)
        target = data.get("filter")
        if not isinstance(target, dict) or not isinstance(target.get("is_to_all"), bool):
            return _err(47001, "data format error")
        if data.get("msgtype") != "mpnews":
            return _err(40008, "invalid message type")
        client_id = data.get("clientmsgid")
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
            return _err(47001, "data format error")
        with self.lock:
            sent = self.mass_sends.get((app.app_id, client_id)) if client_id else None
            if sent is not None:
                return _ok({"errcode": 45065, "errmsg": "clientmsgid exist",
                            "msg_id": sent["msg_id"]})
            draft = self.drafts.get(str((data.get("mpnews") or {}).get("media_id", "")))
            if draft is None or draft.app_id != app.app_id or draft.state == "deleted":
                return _err(40007, "invalid media_id")
            today = _today().isoformat()
            used = sum(1 for m in self.mass_sends.values()
                       if m["app_id"] == app.app_id and m["day"] == today)
            if used >= self.mass_quota:
                return _err(45028, "has no masssend quota")
            msg_id, msg_data_id = next(self._ids), next(self._ids)
            record = {"msg_id": msg_id, "msg_data_id": msg_data_id, "app_id": app.app_id,
                      "media_id": draft.media_id, "day": today, "clientmsgid": client_id}
            self.mass_sends[(app.app_id, client_id or str(msg_id))] = record
            draft.msg_data_id = msg_data_id
            draft.ref_date = today
        return _ok({"errcode": 0, "errmsg": "send job submission success", "msg_id": msg_id,
                    "msg_data_id": msg_data_id})

    @route("POST", r"/cgi-bin/message/custom/send")
    def _custom_send(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        """A customer-service message to one follower (the service bot's late replies).

        Modelled after wechatpy's ``message.send_text``/``send_image``/
        ``send_articles``; the 48-hour window since the follower's last message
        (45015) is not modelled.
        """
        app, data = self._authed_json(request)
        user, kind = data.get("touser"), data.get("msgtype")
        if not isinstance(user, str) or not user:
            return _err(40003, "invalid openid")
        payload = data.get(kind) if isinstance(kind, str) else None
        if kind not in ("text", "image", "voice", "video", "music", "news", "mpnews") or \
                not isinstance(payload, dict):
            return _err(40008, "invalid message type")
        if kind == "text" and not (isinstance(payload.get("content"), str) and payload["content"]):
            return _err(44003, "empty content")
        with self.lock:
            self.customer_messages.append({"app_id": app.app_id, "touser": user, "msgtype": kind,
                                           kind: payload, "at": self.now()})
        return _ok({"errcode": 0, "errmsg": "ok"})

    @route("POST", r"/cgi-bin/freepublish/get")
    def _publish_status(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app, data = self._authed_json(request)
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
        draft.update_time = int(time.time())
        if job.outcome in (0, 5, 6):
            draft.article_id = self._new_id()
            draft.url = f"https://mp.weixin.qq.com/s/{secrets.token_urlsafe(16)}"
            draft.ref_date = _today().isoformat()
            draft.state = {0: "published", 5: "deleted", 6: "banned"}[job.outcome]
        else:
            draft.state = "draft"  # a failed publish leaves the draft in the draft box

    @route("POST", r"/cgi-bin/freepublish/batchget")
    def _publish_batchget(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app, data = self._authed_json(request)
        if not app.can_publish:
            # The fake's reading: the freepublish family is one permission
            # (the sheet does not say that batchget alone is refused too).
            return _err(48001, "api unauthorized")
        now = time.monotonic()
        for job in self.jobs.values():  # jobs end on their own, polled or not
            if job.status == 1 and job.app_id == app.app_id and now - job.started >= self.job_seconds:
                self._finish(job, self.drafts[job.media_id])
        published = [d for d in self.drafts.values()
                     if d.app_id == app.app_id and d.state == "published"]
        return self._page(data, published, lambda d: {"article_id": d.article_id})

    @route("POST", r"/cgi-bin/freepublish/delete")
    def _publish_delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        app, data = self._authed_json(request)
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
        api = match["api"]
        if api not in _DATACUBE_SPAN:
            return _err(48001, "api unauthorized")
        data = self.json_body(request, escapes=False)
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
