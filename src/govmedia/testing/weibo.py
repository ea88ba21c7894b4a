"""A strict, stateful fake of Sina Weibo's open API v2 (新浪微博).

It answers like the API on shared/platforms/weibo.md: errors are a non-200
HTTP status with ``{"request", "error_code", "error"}``; every call carries
``access_token`` (a form field, a query parameter or ``Authorization: OAuth2``)
and every write the end user's IP ``rip``; ``statuses/share`` wants a link on
the app's safe domain and no ``#话题#``, counts 140 the way Weibo counts, takes
one JPEG/GIF/PNG picture under 5 MB as multipart/form-data, and refuses the
same text twice in a row; the long-article API answers ``{code, msg, data}``.

Routes below ``{base}/weibo``: ``2/statuses/share.json``,
``2/statuses/repost.json``, ``2/comments/create.json``, ``2/statuses/show.json``,
``oauth2/get_token_info`` and ``proxy/article/publish.json``.

Unverified against the live API and modelled here (the sheet names no code
or shape for them): 10017 for a status without a safe-domain link or with a
``#话题#``, 10016 for a missing parameter, the HTTP statuses (403 for
auth and limits, 400 otherwise), ``statuses/show.json`` (not on the sheet),
that the article's ``content`` is decoded once more after the form (it must
arrive rawurlencoded), and the article API's errors as HTTP 200 with
``{code, msg}``.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import re
from typing import Any, ClassVar
from urllib.parse import unquote

import attrs
import httpx

from govmedia._sniff import image_type
from govmedia.content._urls import find_urls
from govmedia.content.counting import count_weibo
from govmedia.content.hashtags import weibo_topics
from govmedia.model import Channel
from govmedia.testing._budgets import Budget
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens
from govmedia.testing._refuse import Refuse

__all__ = ["FakeStatus", "FakeUser", "FakeWeibo"]

_CHINA = dt.timezone(dt.timedelta(hours=8))
MB = 1024 * 1024
PIC_LIMIT = 5 * MB
TEXT_LIMIT = 140
ARTICLE_TITLE_LIMIT = 32
ARTICLE_CONTENT_LIMIT = 90_000
ARTICLE_TEXT_LIMIT = 1_900
DELAYED = 20032
_RAW_URLENCODED = re.compile(r"(?:[A-Za-z0-9_.~-]|%[0-9A-Fa-f]{2})*")

# Budgets per user per app (sheet, "Rate"): posting 30 an hour; the older
# table's 150 calls an hour in all.
LIMITS: dict[str, tuple[int, float]] = {"calls": (150, 3600.0), "posts": (30, 3600.0)}

_TOKEN_ERRORS = {
    "missing": (10006, "Source paramter (appkey) is missing"),
    "invalid": (21332, "invalid_access_token"),
    "expired": (21327, "expired_token"),
    "scope": (10014, "Insufficient app permissions!"),
}


def _answer(status: int, path: str, code: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"request": path, "error_code": code, "error": message})


def _rfc822(when: float) -> str:
    return dt.datetime.fromtimestamp(when, _CHINA).strftime("%a %b %d %H:%M:%S %z %Y")


@attrs.define
class FakeUser:
    """An account: its name in channels, its uid, and whether it may publish long articles."""

    account: str
    uid: int
    screen_name: str
    long_article: bool = False
    revoked: bool = False


@attrs.define
class FakeStatus:
    """A status (a repost when ``retweeted`` is set), with the counts readers make."""

    id: int
    account: str
    text: str
    created_at: float
    pic: str | None = None
    retweeted: int | None = None
    article: str | None = None
    reposts: int = 0
    comments: int = 0
    attitudes: int = 0
    delayed: bool = False


class FakeWeibo(FakePlatform):
    """Weibo's open API at ``{base}/weibo``: one app, its safe domain, accounts and their statuses.

    Attributes you may set: `safe_domain` (``"example.org"``; ``None``: the
    app has none bound, and ``statuses/share`` fails with 10017), `delayed`
    (the next N creates are kept but answered 20032, "shown with a delay"),
    `illegal_terms` (texts holding one are refused with 20021), `token_ttl`,
    `enforce_limits` and `clock`.

    Faults (`inject`): ``rate_limit`` answers 20016 (posting too fast) to a
    POST and 10023 (the account's limit) to a GET; ``busy`` 10009;
    ``token_expired`` 21327; ``server_error`` a bare HTTP 500.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeWeibo, Sandbox
        >>> sandbox = Sandbox(platforms=["weibo"])
        >>> fake: FakeWeibo = sandbox["weibo"]
        >>> ch = fake.channel("gzxx")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="国资小新：央企招聘季开始了"), ch)
        >>> [s["text"] for s in fake.posts("gzxx")]
        ['国资小新：央企招聘季开始了 https://example.org/']
    """

    name: ClassVar[str] = "weibo"
    prefix: ClassVar[str] = "/weibo"
    create_path: ClassVar[str] = r"^/2/statuses/share\.json$"
    """A path regex for `inject` that matches the status create only."""
    rate_limits: ClassVar[dict[str, tuple[int, float]]] = LIMITS
    rate_scope: ClassVar[tuple[str, ...]] = ("calls",)

    def __init__(self, base_url: str = "https://sandbox.govmedia.test", *,
                 token_ttl: float | None = 86400.0) -> None:
        super().__init__(base_url)
        self.appkey = "2323547071"
        self.safe_domain: str | None = "example.org"
        self.delayed = 0
        self.illegal_terms: set[str] = set()
        # The shortest ("test") level's lifetime for an unaudited app; the
        # exact per-level table is unverified (sheet, OAuth2).
        self.tokens = FakeTokens(ttl=token_ttl, clock=self.now, refuse=self._token_refusal)
        self.users: dict[str, FakeUser] = {}
        self.statuses: dict[int, FakeStatus] = {}
        self.comments: list[dict[str, Any]] = []
        self.articles: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(4_980_000_000_000_001)
        self._uids = itertools.count(7_700_000_001)
        self._objects = itertools.count(1)

    # ----------------------------------------------------------- setup

    def channel(self, account: str = "", **options: Any) -> Channel:
        """A channel for *account* (registered with a fresh token), reaching this fake.

        Options default to this fake's ``base_url``, a documentation ``rip``
        and a ``safe_domain_url`` on the app's safe domain.
        """
        with self.lock:
            account = account or f"weibo_user{len(self.users) + 1}"
            user = self.user(account)
            token = self.tokens.issue(account, app_id=self.appkey, prefix="2.00").access.value
            user.revoked = False
            safe = {"safe_domain_url": f"https://{self.safe_domain}/"} if self.safe_domain else {}
            return Channel(platform="weibo", account=account, credentials={"access_token": token},
                           options={"base_url": self.base_url, "rip": "203.0.113.7", **safe, **options})

    def user(self, account: str, *, long_article: bool | None = None) -> FakeUser:
        """The account *account* (made if new); ``long_article=True`` lets it publish 头条 articles."""
        with self.lock:
            found = self.users.get(account)
            if found is None:
                uid = next(self._uids)
                found = self.users[account] = FakeUser(account, uid, f"用户{uid}")
            if long_article is not None:
                found.long_article = long_article
            return found

    def revoke(self, account: str) -> None:
        """The account owner withdraws the app's authorisation: its tokens answer 21319."""
        with self.lock:
            self.users[account].revoked = True

    def set_counts(self, status_id: str | int, *, reposts: int | None = None,
                   comments: int | None = None, attitudes: int | None = None) -> None:
        """Pretend readers reposted, commented on or liked a status."""
        with self.lock:
            status = self.statuses[int(status_id)]
            status.reposts = status.reposts if reposts is None else reposts
            status.comments = status.comments if comments is None else comments
            status.attitudes = status.attitudes if attitudes is None else attitudes

    # ----------------------------------------------------------- inspection

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Every status made (shares, reposts, articles' statuses, delayed ones), oldest first."""
        with self.lock:
            return [self.status_json(s) for s in self.statuses.values()
                    if account is None or s.account == account]

    def status_json(self, status: FakeStatus) -> dict[str, Any]:
        """A status as the API serialises it (the sheet's fields, and the repost's original)."""
        user = self.users[status.account]
        body: dict[str, Any] = {
            "created_at": _rfc822(status.created_at), "id": status.id, "mid": str(status.id),
            "idstr": str(status.id), "text": status.text,
            "source": '<a href="https://open.weibo.com" rel="nofollow">govmedia</a>',
            "favorited": False, "truncated": False, "in_reply_to_status_id": "",
            "in_reply_to_user_id": "", "in_reply_to_screen_name": "",
            "user": {"id": user.uid, "idstr": str(user.uid), "screen_name": user.screen_name,
                     "name": user.screen_name},
            "reposts_count": status.reposts, "comments_count": status.comments,
            "attitudes_count": status.attitudes,
        }
        if status.pic:
            name = f"{status.id:x}"
            for size in ("thumbnail", "bmiddle", "large"):
                key = "original_pic" if size == "large" else f"{size}_pic"
                body[key] = f"https://wx1.sinaimg.cn/{size}/{name}.{status.pic}"
        if status.retweeted is not None and status.retweeted in self.statuses:
            body["retweeted_status"] = self.status_json(self.statuses[status.retweeted])
        if status.article:
            body["article_object_id"] = status.article
        return body

    def account_of(self, request: httpx.Request) -> str | None:
        """The account whose token the request carries, if any."""
        try:
            value = self._token_value(request, self._params(request))
        except Refuse:
            return None
        token = self.tokens.get(value or "")
        return token.subject if token else None

    # ----------------------------------------------------------- faults and fallbacks

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """Weibo's shapes: 20016 or 10023, 10009, 21327; bare 500s and HTML pages as the base."""
        path = self._api_path(request)
        if fault.kind == "rate_limit":
            if request.method == "POST":
                return _answer(403, path, 20016, "Update weibo too fast!")
            return _answer(403, path, 10023, "User requests out of rate limit!")
        if fault.kind == "busy":
            return _answer(400, path, 10009, "Too many pending tasks, system is busy!")
        if fault.kind == "token_expired":
            return _answer(403, path, 21327, "expired_token")
        if fault.kind == "server_error":
            return httpx.Response(500)
        return super().fault_response(fault, request)

    def over_budget(self, budget: Budget, request: httpx.Request) -> httpx.Response:
        """10024 when the posting budget is spent, 10023 for the account's calls."""
        path = self._api_path(request)
        if budget.name == "posts":
            return _answer(403, path, 10024, "User requests out of rate limit for this API!")
        return _answer(403, path, 10023, "User requests out of rate limit!")

    def bad_body(self, reason: str) -> httpx.Response:
        """10008 for a body that cannot be read."""
        return _answer(400, "", 10008, "Param error, see doc for more info.")

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """Weibo's unknown API."""
        return _answer(404, path, 10020, "Request api not found!")

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """Weibo's wrong HTTP method."""
        return _answer(405, path, 10021, "HTTP method is not suported for this request!")

    # ----------------------------------------------------------- request helpers

    def _api_path(self, request: httpx.Request) -> str:
        return self.path_of(request)

    def _params(self, request: httpx.Request) -> dict[str, Any]:
        """Query parameters, then the form or multipart fields over them."""
        params: dict[str, Any] = dict(request.url.params.items())
        params.update(self.body_params(request))
        return params

    @staticmethod
    def _token_value(request: httpx.Request, params: dict[str, Any]) -> str | None:
        header: str = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "oauth2" and value:
            return value
        token = params.get("access_token")
        return token if isinstance(token, str) else None

    def _token_refusal(self, reason: str) -> httpx.Response:
        status = 400 if reason == "missing" else 403
        return _answer(status, "", *_TOKEN_ERRORS.get(reason, (21301, "auth faild!")))

    def _caller(self, request: httpx.Request) -> tuple[FakeUser, dict[str, Any]]:
        """The user the token acts for and the parameters, or `Refuse` the way Weibo refuses."""
        params = self._params(request)
        token = self.tokens.access(self._token_value(request, params))
        user = self.users[token.subject]
        if user.revoked:
            raise Refuse(_answer(403, self._api_path(request), 21319,
                                 "Access token revoked by the user"))
        return user, params

    def _writer(self, request: httpx.Request) -> tuple[FakeUser, dict[str, Any]]:
        """`_caller`, plus the end user's IP every write needs."""
        user, params = self._caller(request)
        path = self._api_path(request)
        rip = params.get("rip")
        if not rip:
            raise Refuse(_answer(400, path, 10016, "Miss required parameter (rip) , see doc for more info."))
        try:
            ipaddress.ip_address(str(rip))
        except ValueError:
            raise Refuse(_answer(400, path, 10017, f"Parameter (rip)'s value invalid, expect (ip), "
                                                   f"but get ({rip}), see doc for more info.")) from None
        return user, params

    def _text_checks(self, request: httpx.Request, user: FakeUser, text: str, name: str) -> None:
        path = self._api_path(request)
        if count_weibo(text) > TEXT_LIMIT:
            raise Refuse(_answer(400, path, 20012, "Text too long, please input text less than 140 "
                                                   "characters!"))
        if any(term in text for term in self.illegal_terms):
            raise Refuse(_answer(400, path, 20021, "Content is illegal!"))
        if name == "status":
            last = next((s for s in reversed(self.statuses.values())
                         if s.account == user.account and s.retweeted is None), None)
            if last is not None and last.text == text:
                raise Refuse(_answer(400, path, 20019, "Repeat content!"))

    def _new_status(self, user: FakeUser, text: str, **fields: Any) -> FakeStatus:
        status = FakeStatus(id=next(self._ids), account=user.account, text=text,
                            created_at=self.now(), **fields)
        self.statuses[status.id] = status
        return status

    def _answer_created(self, request: httpx.Request, status: FakeStatus) -> httpx.Response:
        if self.delayed > 0:
            self.delayed -= 1
            status.delayed = True
            return _answer(400, self._api_path(request), DELAYED,
                           "Your weibo has been posted, it will be shown after a moment.")
        return httpx.Response(200, json=self.status_json(status))

    def _target(self, request: httpx.Request, value: Any) -> FakeStatus:
        path = self._api_path(request)
        if value in (None, ""):
            raise Refuse(_answer(400, path, 10016, "Miss required parameter (id) , see doc for more info."))
        if not str(value).isdigit():
            raise Refuse(_answer(400, path, 10017, f"Parameter (id)'s value invalid, expect (int64), "
                                                   f"but get ({value}), see doc for more info."))
        status = self.statuses.get(int(value))
        if status is None:
            raise Refuse(_answer(400, path, 20101, "Target weibo does not exist!"))
        return status

    # ----------------------------------------------------------- routes

    @route("POST", r"/2/statuses/share\.json", spends=("posts",))
    def _share(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, params = self._writer(request)
        path = self._api_path(request)
        if "status" not in params:
            return _answer(400, path, 10016, "Miss required parameter (status) , see doc for more info.")
        text = str(params["status"])
        if not text.strip():
            return _answer(400, path, 20008, "Content is null!")
        if self.safe_domain is None:
            return _answer(400, path, 10017, "appkey not bind domain!")
        if weibo_topics(text):
            return _answer(400, path, 10017, "Parameter (status)'s value invalid, expect (text "
                                             "without #topic#), see doc for more info.")
        self._text_checks(request, user, text, "status")
        hosts = {_host(u.href) for u in find_urls(text)}
        if self.safe_domain.lower() not in hosts:
            return _answer(400, path, 10017, "Parameter (status)'s value invalid, expect (a url of "
                                             "the app's safe domain), see doc for more info.")
        pic = self._pic(request)
        return self._answer_created(request, self._new_status(user, text, pic=pic))

    def _pic(self, request: httpx.Request) -> str | None:
        """The sniffed kind of the ``pic`` part, or `Refuse` (20005, 20006, 20007)."""
        path = self._api_path(request)
        parts = self.multipart_body(request)
        if not parts.parts:
            if "pic" in self.body_params(request):
                raise Refuse(_answer(400, path, 20007, "Does multipart has image?"))
            return None
        part = parts.get("pic")
        if part is None:
            return None
        if part.filename is None:
            raise Refuse(_answer(400, path, 20007, "Does multipart has image?"))
        kind = image_type(part.data[:16])
        if kind not in ("jpeg", "gif", "png"):
            raise Refuse(_answer(400, path, 20005, "Unsupported image type, only suport JPG, GIF, PNG!"))
        if len(part.data) >= PIC_LIMIT:
            raise Refuse(_answer(400, path, 20006, "Image size too large."))
        return "jpg" if kind == "jpeg" else kind

    @route("POST", r"/2/statuses/repost\.json", spends=("posts",))
    def _repost(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, params = self._writer(request)
        path = self._api_path(request)
        target = self._target(request, params.get("id"))
        if target.account == user.account:
            return _answer(400, path, 20103, "Can not repost yourself's weibo!")
        text = str(params.get("status") or "转发微博")
        self._text_checks(request, user, text, "repost")
        is_comment = str(params.get("is_comment", "0"))
        if is_comment not in ("0", "1", "2", "3"):
            return _answer(400, path, 10017, "Parameter (is_comment)'s value invalid, expect "
                                             "(0, 1, 2 or 3), see doc for more info.")
        original = self.statuses.get(target.retweeted) if target.retweeted else None
        target.reposts += 1
        if original is not None:
            original.reposts += 1
        if is_comment in ("1", "3"):
            target.comments += 1
        if is_comment in ("2", "3") and original is not None:
            original.comments += 1
        root = original.id if original is not None else target.id
        return self._answer_created(request, self._new_status(user, text, retweeted=root))

    @route("POST", r"/2/comments/create\.json", spends=("posts",))
    def _comment(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, params = self._writer(request)
        path = self._api_path(request)
        if not str(params.get("comment") or "").strip():
            return _answer(400, path, 20008, "Content is null!")
        text = str(params["comment"])
        target = self._target(request, params.get("id"))
        self._text_checks(request, user, text, "comment")
        target.comments += 1
        if str(params.get("comment_ori", "0")) == "1" and target.retweeted in self.statuses:
            self.statuses[target.retweeted].comments += 1
        comment = {"id": next(self._ids), "text": text, "created_at": _rfc822(self.now()),
                   "user": {"id": user.uid, "idstr": str(user.uid), "screen_name": user.screen_name},
                   "status": self.status_json(target)}
        self.comments.append(comment)
        return httpx.Response(200, json=comment)

    @route("GET", r"/2/statuses/show\.json")
    def _show(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        self._caller(request)
        status = self._target(request, request.url.params.get("id"))
        return httpx.Response(200, json=self.status_json(status))

    @route("POST", r"/oauth2/get_token_info")
    def _token_info(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, _ = self._caller(request)
        token = self.tokens.access(self._token_value(request, self._params(request)))
        left = token.expires_in(self.now())
        return httpx.Response(200, json={
            "uid": user.uid, "appkey": self.appkey, "scope": "", "create_at": int(self.now()),
            "expire_in": left if left is not None else 157_680_000,
        })

    @route("POST", r"/proxy/article/publish\.json", spends=("posts",))
    def _article(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user, params = self._writer(request)
        if not user.long_article:
            return _answer(403, self._api_path(request), 10014, "Insufficient app permissions!")

        def bad(what: str) -> httpx.Response:
            return httpx.Response(200, json={"code": "10008", "msg": f"param error: {what}"})

        title = str(params.get("title") or "").strip()
        if not title or len(title) > ARTICLE_TITLE_LIMIT:
            return bad("title is required, at most 32 characters")
        raw = str(params.get("content") or "")
        if not raw or not _RAW_URLENCODED.fullmatch(raw):
            return bad("content is required, rawurlencoded")
        content = unquote(raw)
        if len(content) > ARTICLE_CONTENT_LIMIT:
            return bad("content is at most 90000 characters")
        text = str(params.get("text") or title)
        if len(text) > ARTICLE_TEXT_LIMIT:
            return bad("text is at most 1900 characters")
        cover = params.get("cover")
        if cover is not None and not str(cover).startswith(("https://", "http://")):
            return bad("cover is an image url")
        object_id = f"1001604{next(self._objects):09d}"
        url = f"https://weibo.com/ttarticle/p/show?id={object_id}"
        status = self._new_status(user, f"{text} {url}", article=object_id)
        self.articles[object_id] = {"object_id": object_id, "title": title, "content": content,
                                    "cover": cover, "summary": params.get("summary"), "text": text,
                                    "mid": str(status.id), "account": user.account}
        return httpx.Response(200, json={"code": "100000", "msg": "success",
                                         "data": {"object_id": object_id, "url": url,
                                                  "mid": str(status.id)}})


def _host(url: str) -> str:
    try:
        return httpx.URL(url if "://" in url else f"https://{url}").host.lower()
    except (httpx.InvalidURL, TypeError):
        return ""
