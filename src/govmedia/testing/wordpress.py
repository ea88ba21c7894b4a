"""A strict, stateful fake of one WordPress site's REST API (``wp/v2``).

It answers the way shared/platforms/wordpress.md describes WordPress, and the
way WordPress 6.1 answered the integration tests where the sheet says less:
errors are ``{"code", "message", "data": {"status"}}``; application passwords
over HTTP Basic (spaces and other non-alphanumerics ignored; a wrong one makes
the request anonymous, so reads still answer and writes get 401); roles
decide who may publish, upload and delete (a Contributor may not publish or
upload; an Author touches only their own posts); posts and attachments share
one id sequence; a create has no idempotency key (a second create is a second
post, its slug made unique); ``status=publish`` with a future ``date_gmt``
becomes ``future``; a bad ``featured_media`` or tag id is dropped without an
error; ``DELETE`` moves a post to the trash (410 ``rest_already_trashed`` the
second time) unless ``force=true``; the raw upload checks
(``Content-Disposition``, hex ``Content-MD5``, allowed file types: no SVG);
tags with ``term_exists``; ``search`` matches the raw title, excerpt and
content, HTML comments included; ``X-WP-Total`` on lists.

Routes below ``{base}/wordpress/wp-json`` (or ``/?rest_route=``):
``wp/v2/posts`` (GET, POST), ``wp/v2/posts/{id}`` (GET, POST, DELETE),
``wp/v2/media`` (POST), ``wp/v2/media/{id}`` (GET, POST), ``wp/v2/tags``
(GET, POST), ``wp/v2/tags/{id}`` (DELETE), ``wp/v2/comments`` (GET), ``wp/v2/users/me`` (GET); uploaded
files are served below ``/wp-content/uploads/``.

Not modelled: blocks, revisions, categories beyond "Uncategorized" (id 1),
multisite quotas, the multipart upload form, ``_fields``/``_embed``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import html
import itertools
import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import attrs
import httpx

from govmedia._sniff import image_type
from govmedia.model import Channel
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._refuse import Refuse

__all__ = ["FakeAttachment", "FakeTag", "FakeUser", "FakeWPPost", "FakeWordPress"]

MB = 1024 * 1024
STATUSES = ("publish", "future", "draft", "pending", "private")
QUERY_STATUSES = (*STATUSES, "trash", "any")
# Capabilities of the core roles that matter here.
ROLES: dict[str, frozenset[str]] = {
    "administrator": frozenset({"edit_posts", "publish_posts", "upload_files", "edit_others_posts",
                                "delete_others_posts", "unfiltered_html"}),
    "editor": frozenset({"edit_posts", "publish_posts", "upload_files", "edit_others_posts",
                         "delete_others_posts", "unfiltered_html"}),
    "author": frozenset({"edit_posts", "publish_posts", "upload_files"}),
    "contributor": frozenset({"edit_posts"}),
    "subscriber": frozenset(),
}
# get_allowed_mime_types() of a default site, by extension (no SVG, no executables).
ALLOWED = {
    "jpg": "image", "jpeg": "image", "jpe": "image", "png": "image", "gif": "image", "webp": "image",
    "bmp": "image", "tif": "image", "tiff": "image", "ico": "image",
    "mp4": "video", "m4v": "video", "mov": "video", "webm": "video", "ogv": "video", "3gp": "video",
    "mp3": "audio", "m4a": "audio", "ogg": "audio", "wav": "audio", "flac": "audio",
    "pdf": "file", "doc": "file", "docx": "file", "xls": "file", "xlsx": "file", "ppt": "file",
    "pptx": "file", "odt": "file", "txt": "file", "csv": "file", "zip": "file",
}
_DISPOSITION = re.compile(r'attachment;\s*filename="?([^";]+)"?\s*$', re.IGNORECASE)
_CATEGORY = 1  # "Uncategorized"


def _no(status: int, code: str, message: str, **data: Any) -> Refuse:
    """WordPress's error body with *status*."""
    return Refuse(status, json={"code": code, "message": message, "data": {"status": status, **data}})


def _invalid(param: str, why: str) -> Refuse:
    """``rest_invalid_param`` naming *param* (the shape WordPress 6.1 answered)."""
    return Refuse(400, json={"code": "rest_invalid_param", "message": f"Invalid parameter(s): {param}",
                             "data": {"status": 400, "params": {param: why}}})


def _stamp(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _slug_of(title: str) -> str:
    # sanitize_title: lower case, spaces to hyphens, the rest percent-encoded (lower-case hex).
    words = re.sub(r"[\s_]+", "-", title.strip().lower())
    words = re.sub(r"-+", "-", re.sub(r"[!\"#$&'()*+,./:;<=>?@\[\\\]^`{|}~]", "", words)).strip("-")
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(words, safe="-"))


def _password_key(password: str) -> str:
    """Application passwords are compared with their non-alphanumerics removed."""
    return re.sub(r"[^A-Za-z0-9]", "", password)


def _text_param(value: Any, name: str) -> str:
    """A ``title``/``content``/``excerpt`` given as a string or as ``{"raw": ...}``."""
    if isinstance(value, Mapping):
        value = value.get("raw", "")
    if not isinstance(value, str):
        raise _invalid(name, f"{name} is not of type object,string.")
    return value


@attrs.define
class FakeUser:
    """A site user: login, role, application passwords, and whether they may create tags."""

    id: int
    login: str
    account: str
    role: str
    passwords: set[str] = attrs.field(factory=set)
    can_create_tags: bool = True

    def can(self, capability: str) -> bool:
        """True when the user's role has *capability*."""
        return capability in ROLES[self.role]


@attrs.define
class FakeWPPost:
    """A post (``type`` post) as the site keeps it: raw fields and status."""

    id: int
    author: int
    title: str
    content: str
    excerpt: str
    status: str
    date_gmt: str
    slug: str
    featured_media: int = 0
    tags: list[int] = attrs.field(factory=list)
    modified_gmt: str = ""


@attrs.define
class FakeAttachment:
    """An uploaded file in the media library."""

    id: int
    author: int
    filename: str
    mime_type: str
    data: bytes
    source_url: str
    date_gmt: str
    alt_text: str = ""
    caption: str = ""
    title: str = ""


@attrs.define
class FakeTag:
    """A ``post_tag`` term; its name kept HTML-escaped as WordPress keeps it."""

    id: int
    name: str
    slug: str
    count: int = 0


class FakeWordPress(FakePlatform):
    """A WordPress site at ``{base}/wordpress`` that keeps what it is sent.

    `channel` makes a user (role ``author`` unless the options say ``role=``)
    with an application password. Attributes you may set:
    `upload_max_bytes` (8 MB, PHP's default ``post_max_size``), `unique_tags`
    (false: a tag create skips the duplicate check, as concurrent creates do
    on a real site), `search_comments` (false: ``search`` does not see HTML
    comments, as with a search plugin) and `clock`;
    a user's ``can_create_tags`` (`users`); `set_comments` for metrics.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeWordPress, Sandbox
        >>> sandbox = Sandbox(platforms=["wordpress"])
        >>> fake: FakeWordPress = sandbox["wordpress"]
        >>> ch = fake.channel("editor@sandbox.example", role="editor")
        >>> post = gm.Post(title="央企招聘季", body="**中国石化** 招聘 200 人", tags=("微招聘",))
        >>> with gm.Client(http=sandbox.client(), journal=False) as client:
        ...     receipt = client.publish(post, ch)
        >>> [(p["title"]["raw"], p["status"], [t["name"] for t in fake.tags_of(p["id"])])
        ...  for p in fake.posts("editor@sandbox.example")]
        [('央企招聘季', 'publish', ['微招聘'])]
    """

    name: ClassVar[str] = "wordpress"
    prefix: ClassVar[str] = "/wordpress"
    create_path: ClassVar[str] = r"^/wp-json/wp/v2/posts$"
    """A path regex for `inject` that matches the post create only."""

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.users: dict[str, FakeUser] = {}        # login -> user
        self.items: dict[int, FakeWPPost] = {}      # post id -> post
        self.media: dict[int, FakeAttachment] = {}  # attachment id -> attachment
        self.tags: dict[int, FakeTag] = {}
        self.comments: dict[int, int] = {}
        self.upload_max_bytes = 8 * MB
        self.unique_tags = True
        self.search_comments = True
        self._ids = itertools.count(2)  # 1 is "Uncategorized" and the first user

    # ----------------------------------------------------------- the fake contract

    def channel(self, account: str = "", **options: Any) -> Channel:
        """A user for *account* (``login@host``; role from option ``role``) and a new app password."""
        role = str(options.pop("role", "author"))
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        with self.lock:
            if not account:
                account = f"user{len(self.users) + 1}@{self._root.host}"
            user = self.add_user(account, role)
            password = self.new_password(user.login)
        return Channel(platform="wordpress", account=account,
                       credentials={"username": user.login, "app_password": password},
                       options={"base_url": self.base_url, **options})

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live posts (not trashed), oldest first, as ``context=edit`` shows them."""
        with self.lock:
            owner = next((u.id for u in self.users.values() if u.account == account), None)
            if account is not None and owner is None:
                return []
            return [self.post_json(p, edit=True) for p in sorted(self.items.values(), key=lambda p: p.id)
                    if p.status != "trash" and (owner is None or p.author == owner)]

    # ----------------------------------------------------------- public API

    def add_user(self, account: str, role: str = "author") -> FakeUser:
        """The user of *account* (its login is the part before ``@``), made if new."""
        login = account.split("@", maxsplit=1)[0] or account
        with self.lock:
            user = self.users.get(login)
            if user is None:
                user = self.users[login] = FakeUser(id=self._next(), login=login, account=account,
                                                    role=role)
            return user

    def new_password(self, login: str) -> str:
        """A new application password for *login*, shown as WordPress shows it (groups of four)."""
        raw = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
                      for _ in range(24))
        self.users[login].passwords.add(raw)
        return " ".join(raw[i:i + 4] for i in range(0, 24, 4))

    def revoke(self, login: str) -> None:
        """Revoke every application password of *login* (requests then run anonymous)."""
        self.users[login].passwords.clear()

    def set_comments(self, post_id: int | str, count: int) -> None:
        """Pretend readers left *count* approved comments on a post (for metrics)."""
        self.comments[int(post_id)] = count

    def tags_of(self, post_id: int | str) -> list[dict[str, Any]]:
        """The tags of a post, as ``GET /wp/v2/tags`` shows them."""
        return [self._tag_json(self.tags[t]) for t in self.items[int(post_id)].tags]

    def attachment(self, media_id: int | str) -> FakeAttachment:
        """An uploaded file by id."""
        return self.media[int(media_id)]

    def post_json(self, post: FakeWPPost, *, edit: bool = False) -> dict[str, Any]:
        """A post as the REST API shows it (``context=edit``: raw fields too)."""
        site = self.base_url
        link = f"{site}/{post.slug}/" if post.status == "publish" else f"{site}/?p={post.id}"

        def text(raw: str) -> dict[str, Any]:
            return {"raw": raw, "rendered": raw} if edit else {"rendered": raw}

        body: dict[str, Any] = {
            "id": post.id, "date": post.date_gmt, "date_gmt": post.date_gmt,
            "guid": text(f"{site}/?p={post.id}"), "modified": post.modified_gmt or post.date_gmt,
            "modified_gmt": post.modified_gmt or post.date_gmt, "slug": post.slug,
            "status": post.status, "type": "post", "link": link, "title": text(post.title),
            "content": {**text(post.content), "protected": False},
            "excerpt": {**text(post.excerpt), "protected": False}, "author": post.author,
            "featured_media": post.featured_media, "comment_status": "open", "ping_status": "open",
            "sticky": False, "template": "", "format": "standard", "meta": [],
            "categories": [_CATEGORY], "tags": list(post.tags),
        }
        if edit:
            body["content"]["block_version"] = 0
            body.update(password="", permalink_template=f"{site}/%postname%/",
                        generated_slug=post.slug)
        return body

    # ----------------------------------------------------------- platform shapes

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """A host's 429 and 503 (HTML; core has no rate limit), WordPress's fatal-error JSON, a 401."""
        if fault.kind == "rate_limit":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            return httpx.Response(429, headers={"Content-Type": "text/html", **headers},
                                  text="<html><body><h1>429 Too Many Requests</h1></body></html>")
        if fault.kind == "busy":
            return httpx.Response(503, headers={"Content-Type": "text/html", "Retry-After": "1"},
                                  text="<h1>Briefly unavailable for scheduled maintenance.</h1>")
        if fault.kind == "server_error":
            return httpx.Response(500, json={
                "code": "internal_server_error", "data": {"status": 500}, "additional_errors": [],
                "message": "<p>There has been a critical error on this website.</p>"})
        if fault.kind == "token_expired":
            return _no(401, "rest_not_logged_in", "You are not currently logged in.").response
        return super().fault_response(fault, request)

    def bad_body(self, reason: str) -> httpx.Response:
        """WordPress's answer to a JSON body it cannot parse."""
        return httpx.Response(400, json={"code": "rest_invalid_json", "message": "Invalid JSON body passed.",
                                         "data": {"status": 400, "json_error_code": 4,
                                                  "json_error_message": "Syntax error"}})

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """``rest_no_route`` (a path outside the REST API gets WordPress's HTML 404)."""
        if not path.startswith("/wp-json"):
            return httpx.Response(404, headers={"Content-Type": "text/html"}, text="<h1>Not Found</h1>")
        return _no(404, "rest_no_route", "No route was found matching the URL and request method.").response

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """WordPress answers a known route with another method as no route."""
        return self.not_found(request, path)

    def path_of(self, request: httpx.Request) -> str:
        """The path below the site; ``/?rest_route=/wp/v2/...`` is the same route as ``/wp-json/...``."""
        path = super().path_of(request)
        route_param = str(request.url.params.get("rest_route", ""))
        if route_param and path in ("/", "/index.php"):
            return "/wp-json" + route_param
        return path

    def account_of(self, request: httpx.Request) -> str | None:
        """The account whose application password signs the request, if it is right."""
        user = self._signed_in(request)
        return user.account if user else None

    # ----------------------------------------------------------- internals

    def _next(self) -> int:
        return next(self._ids)

    def _signed_in(self, request: httpx.Request) -> FakeUser | None:
        """The user of a valid ``Authorization: Basic``; anything else runs anonymous."""
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            login, _, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user = self.users.get(login)
        if user is None or _password_key(password) not in user.passwords:
            return None
        return user

    @staticmethod
    def _denied(user: FakeUser | None, code: str, message: str) -> Refuse:
        # rest_authorization_required_code(): 401 when anonymous, 403 when signed in.
        return _no(401 if user is None else 403, code, message)

    def _query(self, request: httpx.Request) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for key, value in request.url.params.multi_items():
            if key.endswith("[]"):
                params.setdefault(key[:-2], []).append(value)
            else:
                params[key] = value
        return params

    def _readable(self, post: FakeWPPost, user: FakeUser | None) -> bool:
        if post.status == "publish":
            return True
        return user is not None and (post.author == user.id or user.can("edit_others_posts"))

    def _editable(self, post: FakeWPPost, user: FakeUser | None) -> bool:
        return user is not None and user.can("edit_posts") and (
            post.author == user.id or user.can("edit_others_posts"))

    def _post(self, match: re.Match[str]) -> FakeWPPost:
        post = self.items.get(int(match["id"]))
        if post is None:
            raise _no(404, "rest_post_invalid_id", "Invalid post ID.")
        return post

    def _slug(self, title: str, own: int | None = None) -> str:
        base = _slug_of(title) or str(own or "")
        taken = {p.slug for p in self.items.values() if p.id != own}
        slug, n = base, 2
        while slug in taken:  # wp_unique_post_slug
            slug, n = f"{base}-{n}", n + 1
        return slug

    def _dates(self, params: dict[str, Any], status: str) -> tuple[str, str]:
        """``(status, date_gmt)``: a future date makes publish future, a past one future publish."""
        now = self.now()
        given = params.get("date_gmt")
        if given is None:
            return ("publish" if status == "future" else status), _stamp(now)
        try:
            when = dt.datetime.fromisoformat(str(given)).replace(tzinfo=dt.UTC)
        except ValueError:
            raise _invalid("date_gmt", "Invalid date.") from None
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S")
        if status == "publish" and when.timestamp() > now + 60:
            return "future", stamp
        if status == "future" and when.timestamp() <= now:
            return "publish", stamp
        return status, stamp

    def _tag_json(self, tag: FakeTag) -> dict[str, Any]:
        return {"id": tag.id, "count": tag.count, "description": "", "name": tag.name,
                "link": f"{self.base_url}/tag/{tag.slug}/", "slug": tag.slug, "taxonomy": "post_tag",
                "meta": []}

    def _media_json(self, item: FakeAttachment) -> dict[str, Any]:
        kind = item.mime_type.split("/")[0]
        return {
            "id": item.id, "date": item.date_gmt, "date_gmt": item.date_gmt, "slug": item.title,
            "status": "inherit", "type": "attachment", "link": f"{self.base_url}/{item.title}/",
            "title": {"raw": item.title, "rendered": item.title}, "author": item.author,
            "caption": {"raw": item.caption, "rendered": item.caption}, "alt_text": item.alt_text,
            "media_type": "image" if kind == "image" else "file", "mime_type": item.mime_type,
            "media_details": {"filesize": len(item.data)}, "post": None, "source_url": item.source_url,
        }

    # ----------------------------------------------------------- routes: users

    @route("GET", r"/wp-json/wp/v2/users/me")
    def _me(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        if user is None:
            raise _no(401, "rest_not_logged_in", "You are not currently logged in.")
        return httpx.Response(200, json={"id": user.id, "name": user.login, "slug": user.login,
                                         "link": f"{self.base_url}/author/{user.login}/"})

    # ----------------------------------------------------------- routes: posts

    @route("GET", r"/wp-json/wp/v2/posts")
    def _list(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        params = self._query(request)
        raw_statuses = params.get("status", "publish")
        statuses = [s for part in ([raw_statuses] if isinstance(raw_statuses, str) else raw_statuses)
                    for s in part.split(",") if s]
        if any(s not in QUERY_STATUSES for s in statuses):
            raise _invalid("status", f"status is not one of {', '.join(QUERY_STATUSES)}.")
        if any(s != "publish" for s in statuses) and (user is None or not user.can("edit_posts")):
            raise _invalid("status", "Status is forbidden.")
        edit = params.get("context") == "edit"
        if edit and (user is None or not user.can("edit_posts")):
            raise self._denied(user, "rest_forbidden_context",
                               "Sorry, you are not allowed to edit posts in this post type.")
        try:
            per_page, page = int(params.get("per_page", 10)), int(params.get("page", 1))
        except ValueError:
            raise _invalid("per_page", "per_page is not of type integer.") from None
        if not 1 <= per_page <= 100:
            raise _invalid("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
        if "any" in statuses:
            statuses = [s for s in statuses if s != "any"] + list(STATUSES)
        search = str(params.get("search", "")).casefold()

        def searched(post: FakeWPPost) -> tuple[str, ...]:
            if self.search_comments:  # core: a LIKE over the raw fields
                return post.title, post.excerpt, post.content
            return post.title, post.excerpt, re.sub(r"<!--.*?-->", "", post.content, flags=re.DOTALL)

        matched = [p for p in self.items.values() if p.status in statuses and (
            not search or any(search in f.casefold() for f in searched(p)))]
        if "author" in params:
            matched = [p for p in matched if str(p.author) == str(params["author"])]
        ascending = params.get("order", "desc") == "asc"
        key = (lambda p: p.id) if params.get("orderby") == "id" else (lambda p: (p.date_gmt, p.id))
        matched.sort(key=key, reverse=not ascending)
        total = len(matched)  # counted before the per-post permission check, as WordPress does
        shown = [self.post_json(p, edit=edit) for p in matched[(page - 1) * per_page:page * per_page]
                 if self._readable(p, user) and (not edit or self._editable(p, user))]
        pages = -(-total // per_page)
        return httpx.Response(200, json=shown, headers={"X-WP-Total": str(total),
                                                        "X-WP-TotalPages": str(pages)})

    @route("POST", r"/wp-json/wp/v2/posts")
    def _create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        if user is None or not user.can("edit_posts"):
            raise self._denied(user, "rest_cannot_create",
                               "Sorry, you are not allowed to create posts as this user.")
        params = self.body_params(request)
        if "id" in params:
            raise _no(400, "rest_post_exists", "Cannot create existing post.")
        status = str(params.get("status", "draft"))
        if status not in STATUSES:
            raise _invalid("status", "status is not one of publish, future, draft, pending, and private.")
        if status in ("publish", "future", "private") and not user.can("publish_posts"):
            raise _no(403, "rest_cannot_publish",
                      "Sorry, you are not allowed to publish posts in this post type.")
        title = _text_param(params.get("title", ""), "title")
        content = _text_param(params.get("content", ""), "content")
        excerpt = _text_param(params.get("excerpt", ""), "excerpt")
        if not (title or content or excerpt):
            raise _no(400, "empty_content", "Content, title, and excerpt are empty.")
        if not user.can("unfiltered_html"):  # kses: scripts go, comments stay
            content = re.sub(r"</?script\b[^>]*>", "", content, flags=re.IGNORECASE)
        status, date_gmt = self._dates(params, status)
        tags = params.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, int) for t in tags):
            raise _invalid("tags", "tags[0] is not of type integer.")
        featured = params.get("featured_media", 0)
        if not isinstance(featured, int):
            raise _invalid("featured_media", "featured_media is not of type integer.")
        post_id = self._next()
        post = FakeWPPost(
            id=post_id, author=user.id, title=title, content=content, excerpt=excerpt,
            status=status, date_gmt=date_gmt, slug=self._slug(title, post_id),
            # WordPress 6.1 drops an unknown attachment or tag id without a word.
            featured_media=featured if featured in self.media and
            self.media[featured].mime_type.startswith("image/") else 0,
            tags=[t for t in dict.fromkeys(tags) if t in self.tags],
        )
        self.items[post_id] = post
        for tag in post.tags:
            self.tags[tag].count += 1
        return httpx.Response(201, json=self.post_json(post, edit=True), headers={
            "Location": f"{self.base_url}/wp-json/wp/v2/posts/{post_id}"})

    @route("GET", r"/wp-json/wp/v2/posts/(?P<id>\d+)")
    def _show(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        post = self._post(match)
        edit = self._query(request).get("context") == "edit"
        if edit and not self._editable(post, user):
            raise self._denied(user, "rest_forbidden_context",
                               "Sorry, you are not allowed to edit this post.")
        if not self._readable(post, user):
            raise self._denied(user, "rest_forbidden", "Sorry, you are not allowed to do that.")
        return httpx.Response(200, json=self.post_json(post, edit=edit))

    @route("POST", r"/wp-json/wp/v2/posts/(?P<id>\d+)")
    def _update(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        post = self._post(match)
        if not self._editable(post, user):
            raise self._denied(user, "rest_cannot_edit", "Sorry, you are not allowed to edit this post.")
        assert user is not None
        params = self.body_params(request)
        for name in ("title", "content", "excerpt"):
            if name in params:
                setattr(post, name, _text_param(params[name], name))
        if "status" in params:
            status = str(params["status"])
            if status not in STATUSES:
                raise _invalid("status", "status is not one of publish, future, draft, pending, and private.")
            if status in ("publish", "future", "private") and not user.can("publish_posts"):
                raise _no(403, "rest_cannot_publish",
                          "Sorry, you are not allowed to publish posts in this post type.")
            post.status = status
        post.modified_gmt = _stamp(self.now())
        return httpx.Response(200, json=self.post_json(post, edit=True))

    @route("DELETE", r"/wp-json/wp/v2/posts/(?P<id>\d+)")
    def _delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        post = self._post(match)
        if user is None or not (post.author == user.id or user.can("delete_others_posts")):
            raise self._denied(user, "rest_cannot_delete", "Sorry, you are not allowed to delete this post.")
        force = self._query(request).get("force") in ("true", "1")
        if force:
            previous = self.post_json(post, edit=True)
            del self.items[post.id]
            return httpx.Response(200, json={"deleted": True, "previous": previous})
        if post.status == "trash":
            raise _no(410, "rest_already_trashed", "The post has already been deleted.")
        post.status = "trash"
        return httpx.Response(200, json=self.post_json(post, edit=True))

    # ----------------------------------------------------------- routes: media

    @route("POST", r"/wp-json/wp/v2/media")
    def _upload(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        if user is None or not user.can("upload_files"):
            raise self._denied(user, "rest_cannot_create",
                               "Sorry, you are not allowed to create posts as this user.")
        data = request.read()
        if not data:
            raise _no(400, "rest_upload_no_data", "No data supplied.")
        content_type = request.headers.get("content-type")
        if not content_type:
            raise _no(400, "rest_upload_no_content_type", "No Content-Type supplied.")
        disposition = request.headers.get("content-disposition")
        if not disposition:
            raise _no(400, "rest_upload_no_content_disposition", "No Content-Disposition supplied.")
        named = _DISPOSITION.match(disposition)
        if named is None or "filename*" in disposition:
            raise _no(400, "rest_upload_invalid_disposition",
                      "Invalid Content-Disposition supplied. Content-Disposition needs to be formatted "
                      'as `attachment; filename="image.png"` or similar.')
        md5 = request.headers.get("content-md5")
        if md5 is not None and md5.strip() != hashlib.md5(data, usedforsecurity=False).hexdigest():
            raise _no(412, "rest_upload_hash_mismatch", "Content hash did not match expected.")
        if len(data) > self.upload_max_bytes:
            raise _no(400, "rest_upload_file_too_big", "This file is too big. Files must be less "
                      f"than {self.upload_max_bytes // 1024} KB in size.")
        filename = named.group(1).strip()
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        kind = ALLOWED.get(ext)
        sniffed = image_type(data[:64])
        if kind is None or (kind == "image" and sniffed is None):
            raise _no(500, "rest_upload_sideload_error",
                      "Sorry, you are not allowed to upload this file type.")
        mime = f"image/{sniffed}" if kind == "image" and sniffed else content_type.split(";")[0].strip()
        now = self.now()
        month = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y/%m")
        stem, name, n = filename.rsplit(".", 1)[0], filename, 1
        while any(m.source_url.endswith(f"/{month}/{name}") for m in self.media.values()):
            name, n = f"{stem}-{n}.{ext}", n + 1  # wp_unique_filename
        item = FakeAttachment(id=self._next(), author=user.id, filename=name, mime_type=mime, data=data,
                              source_url=f"{self.base_url}/wp-content/uploads/{month}/{name}",
                              date_gmt=_stamp(now), title=stem)
        self.media[item.id] = item
        return httpx.Response(201, json=self._media_json(item), headers={
            "Location": f"{self.base_url}/wp-json/wp/v2/media/{item.id}"})

    @route("GET", r"/wp-json/wp/v2/media/(?P<id>\d+)")
    def _media_show(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        item = self.media.get(int(match["id"]))
        if item is None:
            raise _no(404, "rest_post_invalid_id", "Invalid post ID.")
        return httpx.Response(200, json=self._media_json(item))

    @route("POST", r"/wp-json/wp/v2/media/(?P<id>\d+)")
    def _media_update(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        item = self.media.get(int(match["id"]))
        if item is None:
            raise _no(404, "rest_post_invalid_id", "Invalid post ID.")
        if user is None or not (item.author == user.id or user.can("edit_others_posts")):
            raise self._denied(user, "rest_cannot_edit", "Sorry, you are not allowed to edit this post.")
        params = self.body_params(request)
        for name in ("alt_text", "caption", "title"):
            if name in params:
                setattr(item, name, _text_param(params[name], name))
        return httpx.Response(200, json=self._media_json(item))

    @route("GET", r"/wp-content/uploads/(?P<file>.+)")
    def _file(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        for item in self.media.values():
            if item.source_url.endswith("/wp-content/uploads/" + match["file"]):
                return httpx.Response(200, content=item.data, headers={"Content-Type": item.mime_type})
        return httpx.Response(404, headers={"Content-Type": "text/html"}, text="<h1>Not Found</h1>")

    # ----------------------------------------------------------- routes: tags, comments

    @route("GET", r"/wp-json/wp/v2/tags")
    def _tags(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        params = self._query(request)
        search = str(params.get("search", "")).casefold()
        found = sorted((t for t in self.tags.values()
                        if not search or search in t.name.casefold() or search in t.slug.casefold()),
                       key=lambda t: t.id, reverse=params.get("order") == "desc")
        per_page = int(params.get("per_page", 10))
        if not 1 <= per_page <= 100:
            raise _invalid("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
        return httpx.Response(200, json=[self._tag_json(t) for t in found[:per_page]],
                              headers={"X-WP-Total": str(len(found))})

    @route("POST", r"/wp-json/wp/v2/tags")
    def _tag_create(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        if user is None or not user.can("edit_posts") or not user.can_create_tags:
            raise self._denied(user, "rest_cannot_create",
                               "Sorry, you are not allowed to create terms in this taxonomy.")
        name = self.body_params(request).get("name")
        if not isinstance(name, str) or not name.strip():
            raise _no(400, "rest_missing_callback_param", "Missing parameter(s): name",
                      params=["name"])
        kept = html.escape(name.strip(), quote=False)  # wp_filter_kses: "A & B" -> "A &amp; B"
        slug = _slug_of(name)
        for tag in self.tags.values() if self.unique_tags else ():
            if html.unescape(tag.name).casefold() == name.strip().casefold() or tag.slug == slug:
                return httpx.Response(400, json={
                    "code": "term_exists", "data": {"status": 400, "term_id": tag.id},
                    "message": "A term with the name provided already exists in this taxonomy.",
                    "additional_data": [tag.id, tag.id]})
        taken = {t.slug for t in self.tags.values()}
        slug, n = (slug, 2) if slug not in taken else (f"{slug}-2", 3)
        while slug in taken:
            slug, n = f"{slug.rsplit('-', 1)[0]}-{n}", n + 1
        tag = FakeTag(id=self._next(), name=kept, slug=slug)
        self.tags[tag.id] = tag
        return httpx.Response(201, json=self._tag_json(tag))

    @route("DELETE", r"/wp-json/wp/v2/tags/(?P<id>\d+)")
    def _tag_delete(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._signed_in(request)
        tag = self.tags.get(int(match["id"]))
        if tag is None:
            raise _no(404, "rest_term_invalid", "Term does not exist.")
        if user is None or not user.can("edit_others_posts"):  # delete_terms: Editors and up
            raise self._denied(user, "rest_cannot_delete", "Sorry, you are not allowed to delete this term.")
        if self._query(request).get("force") not in ("true", "1"):
            raise _no(501, "rest_trash_not_supported",
                      "Terms do not support trashing. Set 'force=true' to delete.")
        del self.tags[tag.id]
        for post in self.items.values():
            if tag.id in post.tags:
                post.tags.remove(tag.id)
        return httpx.Response(200, json={"deleted": True, "previous": self._tag_json(tag)})

    @route("GET", r"/wp-json/wp/v2/comments")
    def _comments(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        params = self._query(request)
        post_id = int(params["post"]) if str(params.get("post", "")).isdigit() else None
        total = self.comments.get(post_id, 0) if post_id is not None else sum(self.comments.values())
        per_page = int(params.get("per_page", 10))
        shown = [{"id": i + 1, "post": post_id, "status": "approved"} for i in range(min(total, per_page))]
        return httpx.Response(200, json=shown, headers={"X-WP-Total": str(total),
                                                        "X-WP-TotalPages": str(-(-total // per_page))})
