"""A strict, stateful fake of a Bluesky PDS (AT Protocol XRPC).

It keeps accounts with app passwords, sessions (JWT-shaped access and refresh
tokens; the refresh token rotates and a spent one is refused), blobs and
records, and answers as shared/platforms/bluesky.md and the lexicons in
bluesky-social/atproto say: ``{"error", "message"}`` bodies, ``ExpiredToken``
as HTTP 400, ``RateLimit-*`` headers with an epoch-seconds reset, post records
validated (300 graphemes, 3,000 UTF-8 bytes, at most four images of at most
2,000,000 bytes each, ``alt`` present, blobs uploaded by the same account).

Modelled from the PDS code rather than the fact sheet (unverified live):

- a post created under a record key that exists answers a bare 500
  ``InternalServerError`` (``packages/repo/src/mst/mst.ts``; bluesky-social/indigo#873);
- a repost replaces the account's earlier repost of the same post, in the same
  commit, even under the same record key (``createRecord.ts``'s backlink check);
- ``deleteRecord`` of a record that does not exist succeeds.

Stricter than Bluesky, to catch bugs: a refresh token is refused as soon as it
is spent (the PDS allows a two-hour grace), a facet whose byte range falls
outside the text is refused (the PDS stores it, clients ignore it), and embeds
other than images and link cards are refused (not modelled).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import itertools
import json
import math
import re
import secrets
from typing import Any, ClassVar

import attrs
import httpx

from govmedia._sniff import image_type
from govmedia.content.length import graphemes
from govmedia.model import Channel
from govmedia.testing._budgets import Budget
from govmedia.testing._fake import FakePlatform, Fault, route
from govmedia.testing._faketokens import FakeTokens, TokenPair
from govmedia.testing._refuse import Refuse

__all__ = ["FakeBluesky", "FakeBskyAccount", "FakeRecord"]

POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
IMAGE_MAX = 2_000_000
THUMB_MAX = 1_000_000
BLOB_UPLOAD_LIMIT = 5 * 1024 * 1024  # PDS_BLOB_UPLOAD_LIMIT default
ACCESS_TTL = 2 * 3600.0
REFRESH_TTL = 90 * 86400.0
SERVICE_DID = "did:web:sandbox.govmedia.test"

# Per account: (requests, period). A post costs 3 of 5,000 write points an
# hour, so ~1,666 creates; sign-ins 30 per 5 minutes; 3,000 requests per 5 min.
LIMITS: dict[str, tuple[int, float]] = {
    "requests": (3000, 300.0),
    "repo-write-hour": (1666, 3600.0),
    "create-session": (30, 300.0),
}

_TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"
_HANDLE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_FEATURES = {"app.bsky.richtext.facet#link": "uri", "app.bsky.richtext.facet#mention": "did",
             "app.bsky.richtext.facet#tag": "tag"}


def _no(status: int, error: str, message: str) -> Refuse:
    """The PDS's refusal: ``{"error": name, "message": words}``."""
    return Refuse(status, json={"error": error, "message": message})


def _invalid(message: str) -> Refuse:
    return _no(400, "InvalidRequest", message)


def _b32(data: bytes) -> str:
    return base64.b32encode(data).decode().lower().rstrip("=")


def _b64url(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _iso(when: float) -> str:
    return dt.datetime.fromtimestamp(when, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


@attrs.define
class FakeBskyAccount:
    """An account on the fake PDS: its handle, DID, passwords and switches.

    Attributes:
        takendown: sign-ins are refused with ``AccountTakedown``.
        deactivated: sign-ins answer ``active: false`` (status ``deactivated``).
        email_2fa: a sign-in with the main password asks for an email code
            (``AuthFactorTokenRequired``); app passwords are never asked.
    """

    name: str
    handle: str
    did: str
    email: str
    password: str = attrs.field(repr=False)
    app_passwords: set[str] = attrs.field(factory=set, repr=False)
    takendown: bool = False
    deactivated: bool = False
    email_2fa: bool = False


@attrs.define
class FakeRecord:
    """A record in an account's repository, with the counts the AppView would show."""

    did: str
    collection: str
    rkey: str
    value: dict[str, Any]
    cid: str
    indexed_at: float
    likes: int = 0
    replies: int = 0
    quotes: int = 0
    reposts: int = 0  # besides the repost records this fake holds

    @property
    def uri(self) -> str:
        """``at://DID/COLLECTION/RKEY``."""
        return f"at://{self.did}/{self.collection}/{self.rkey}"

    def json(self) -> dict[str, Any]:
        """As ``com.atproto.repo.getRecord`` answers it."""
        return {"uri": self.uri, "cid": self.cid, "value": self.value}


class FakeBluesky(FakePlatform):
    r"""A Bluesky PDS at ``{base}/bluesky`` that keeps what it is sent.

    Attributes you may set: `blob_limit` (uploads above it answer 413; 5 MiB,
    a self-hosted PDS's default), `unindexed` (post URIs ``getPosts`` does
    not show yet), `enforce_limits` and `clock`; `tokens` is the
    `FakeTokens` of the sessions (``fake.tokens.expire()`` makes every access
    token expired as the PDS sees it).

    Faults (`inject`): ``rate_limit`` answers 429 ``RateLimitExceeded`` with
    ``RateLimit-Reset`` in epoch seconds; ``busy`` 503 ``NotEnoughResources``;
    ``server_error`` 500 ``InternalServerError``; ``token_expired`` 400
    ``ExpiredToken``.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import FakeBluesky, Sandbox
        >>> sandbox = Sandbox(platforms=["bluesky"])
        >>> fake: FakeBluesky = sandbox["bluesky"]
        >>> ch = fake.channel("sasac.bsky.social")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="国资小新 今日发布", tags=("央企",)), ch)
        >>> [(p["uri"] == receipt.remote_id, p["value"]["text"]) for p in fake.posts()]
        [(True, '国资小新 今日发布\n\n#央企')]
    """

    name: ClassVar[str] = "bluesky"
    prefix: ClassVar[str] = "/bluesky"
    create_path: ClassVar[str] = r"^/xrpc/com\.atproto\.repo\.createRecord$"
    """A path regex for `inject` that matches the record create (posts and reposts)."""
    rate_limits: ClassVar[dict[str, tuple[int, float]]] = LIMITS
    rate_scope: ClassVar[tuple[str, ...]] = ("requests",)

    def __init__(self, base_url: str = "https://sandbox.govmedia.test") -> None:
        super().__init__(base_url)
        self.accounts: dict[str, FakeBskyAccount] = {}
        self.tokens = FakeTokens(ttl=ACCESS_TTL, refresh_ttl=REFRESH_TTL, clock=self.now,
                                 refuse=self._token_refusal)
        self.records: dict[str, FakeRecord] = {}
        self.blobs: dict[str, tuple[str, str, int]] = {}  # cid -> (did, mime, size)
        self.blob_limit = BLOB_UPLOAD_LIMIT
        self.unindexed: set[str] = set()
        self._jwts: dict[str, tuple[str, str]] = {}  # JWT -> (raw token, account)
        self._tid_last = 0
        self._ids = itertools.count(1)

    # ----------------------------------------------------------- the fake contract

    def channel(self, account: str = "", **options: Any) -> Channel:
        """Register *account* (or a new one) with an app password; a channel that signs in with it.

        The identifier is the account's handle: *account* itself where it is a
        handle (``sasac.bsky.social``), else a handle made from it.
        """
        with self.lock:
            if not account:
                account = f"user{len(self.accounts) + 1}.bsky.sandbox"
            found = self.accounts.get(account) or self.add_account(account)
            password = next(iter(found.app_passwords))
        return Channel(
            platform="bluesky", account=account,
            credentials={"identifier": found.handle, "app_password": password},
            options={"base_url": self.base_url, **options},
        )

    def add_account(self, account: str, *, handle: str | None = None) -> FakeBskyAccount:
        """Register *account* with a handle, a DID, a main password and one app password."""
        with self.lock:
            if handle is None:
                lowered = account.lower()
                slug = re.sub(r"[^a-z0-9-]+", "-", lowered).strip("-") or f"user{next(self._ids)}"
                handle = lowered if _HANDLE.match(lowered) else f"{slug[:40]}.bsky.sandbox"
            did = "did:plc:" + _b32(hashlib.sha256(account.encode()).digest())[:24]
            app_password = "-".join(secrets.token_hex(2) for _ in range(4))
            found = FakeBskyAccount(account, handle, did, f"{handle.split('.')[0]}@sandbox.example",
                                    secrets.token_urlsafe(12), {app_password})
            self.accounts[account] = found
            return found

    def posts(self, account: str | None = None) -> list[dict[str, Any]]:
        """Live posts and reposts (as ``getRecord`` shows them), oldest first; for *account* or all."""
        with self.lock:
            did = self.accounts[account].did if account in self.accounts else None
            if account is not None and did is None:
                return []
            return [r.json() for r in sorted(self.records.values(), key=lambda r: r.indexed_at)
                    if r.collection in (POST, REPOST) and (did is None or r.did == did)]

    def set_counts(self, uri: str, *, likes: int | None = None, replies: int | None = None,
                   quotes: int | None = None, reposts: int | None = None) -> None:
        """Pretend readers interacted with a post (for metrics); *reposts* adds to the real ones."""
        with self.lock:
            record = self.records[uri]
            record.likes = record.likes if likes is None else likes
            record.replies = record.replies if replies is None else replies
            record.quotes = record.quotes if quotes is None else quotes
            record.reposts = record.reposts if reposts is None else reposts

    def account_of(self, request: httpx.Request) -> str | None:
        """The account whose session token the request carries; for a sign-in, the one it names."""
        minted = self._jwts.get(self.bearer(request) or "")
        if minted is not None:
            return minted[1]
        if request.url.path.endswith("/com.atproto.server.createSession"):
            try:
                identifier = json.loads(request.content).get("identifier")
            except (ValueError, AttributeError):
                return None
            account = self._by_identifier(identifier) if isinstance(identifier, str) else None
            return account.name if account else None
        return None

    # ----------------------------------------------------------- platform shapes

    def fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        """The PDS's 429 (``RateLimit-*`` headers, epoch reset), 503, 500 and ``ExpiredToken``."""
        if fault.kind == "rate_limit":
            headers = {"RateLimit-Limit": "3000", "RateLimit-Remaining": "0",
                       "RateLimit-Policy": "3000;w=300"}
            if fault.retry_after is not None:
                headers["RateLimit-Reset"] = str(math.ceil(self.now() + fault.retry_after))
            return httpx.Response(429, headers=headers,
                                  json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"})
        if fault.kind == "busy":
            return httpx.Response(503, json={"error": "NotEnoughResources",
                                             "message": "Not Enough Resources"})
        if fault.kind == "server_error":
            return httpx.Response(500, json={"error": "InternalServerError",
                                             "message": "Internal Server Error"})
        if fault.kind == "token_expired":
            return httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has expired"})
        return super().fault_response(fault, request)

    def budget_headers(self, budget: Budget) -> dict[str, str]:
        """``RateLimit-*`` of the tightest budget on every answer; the reset in epoch seconds."""
        period = self.limits[budget.name][1]
        return {"RateLimit-Limit": str(budget.limit), "RateLimit-Remaining": str(budget.remaining),
                "RateLimit-Reset": str(math.ceil(budget.reset_at)),
                "RateLimit-Policy": f"{budget.limit};w={period:g}"}

    def over_budget(self, budget: Budget, request: httpx.Request) -> httpx.Response:
        """429 ``RateLimitExceeded`` (the headers say when it resets)."""
        return httpx.Response(429, json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"})

    def bad_body(self, reason: str) -> httpx.Response:
        """xrpc-server's answer to a body it cannot read."""
        return _invalid("Request body is not valid JSON").response

    def not_found(self, request: httpx.Request, path: str) -> httpx.Response:
        """An unknown XRPC method is 501 ``MethodNotImplemented``."""
        if path.startswith("/xrpc/"):
            return httpx.Response(501, json={"error": "MethodNotImplemented",
                                             "message": "Method Not Implemented"})
        return httpx.Response(404, text="Not Found")

    def not_allowed(self, request: httpx.Request, path: str) -> httpx.Response:
        """A procedure called with GET, or a query with POST."""
        return _invalid(f"Incorrect HTTP method ({request.method})").response

    @staticmethod
    def _token_refusal(reason: str) -> httpx.Response:
        error, status, message = {
            "missing": ("AuthenticationRequired", 401, "Authentication Required"),
            "expired": ("ExpiredToken", 400, "Token has expired"),
            "refresh_expired": ("ExpiredToken", 400, "Token has expired"),
            "refresh_reused": ("ExpiredToken", 400, "Token has been revoked"),
        }.get(reason, ("InvalidToken", 400, "Token could not be verified"))
        return httpx.Response(status, json={"error": error, "message": message})

    # ----------------------------------------------------------- sessions

    def _mint(self, account: FakeBskyAccount, raw: str, *, refresh: bool, expires_at: float | None) -> str:
        now = int(self.now())
        claims: dict[str, Any] = {
            "scope": "com.atproto.refresh" if refresh else "com.atproto.appPass",
            "sub": account.did, "aud": SERVICE_DID, "iat": now,
            "exp": int(expires_at) if expires_at is not None else now + int(REFRESH_TTL),
        }
        if refresh:
            claims["jti"] = secrets.token_urlsafe(8)
        header = {"typ": "refresh+jwt" if refresh else "at+jwt", "alg": "HS256"}
        jwt = f"{_b64url(header)}.{_b64url(claims)}.{raw}"
        self._jwts[jwt] = (raw, account.name)
        return jwt

    def _session(self, account: FakeBskyAccount, pair: TokenPair) -> httpx.Response:
        assert pair.refresh is not None  # sessions are always issued with one
        body: dict[str, Any] = {
            "accessJwt": self._mint(account, pair.access.value, refresh=False,
                                    expires_at=pair.access.expires_at),
            "refreshJwt": self._mint(account, pair.refresh.value, refresh=True,
                                     expires_at=pair.refresh.expires_at),
            "handle": account.handle, "did": account.did, "didDoc": self._did_doc(account),
            "email": account.email, "emailConfirmed": True, "emailAuthFactor": account.email_2fa,
            "active": not account.deactivated,
        }
        if account.deactivated:
            body["status"] = "deactivated"
        return httpx.Response(200, json=body)

    def _did_doc(self, account: FakeBskyAccount) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/did/v1"], "id": account.did,
            "alsoKnownAs": [f"at://{account.handle}"],
            "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                         "serviceEndpoint": self.base_url}],
        }

    def _by_identifier(self, identifier: str) -> FakeBskyAccount | None:
        wanted = identifier.lower().removeprefix("@")
        return next((a for a in self.accounts.values()
                     if wanted in (a.handle, a.email.lower(), a.did.lower())), None)

    def _raw(self, request: httpx.Request) -> str | None:
        token = self.bearer(request)
        minted = self._jwts.get(token or "")
        return minted[0] if minted else token

    def _user(self, request: httpx.Request) -> FakeBskyAccount:
        token = self.tokens.access(self._raw(request))
        return self.accounts[token.subject]

    def _repo(self, request: httpx.Request, repo: Any) -> FakeBskyAccount:
        """The signed-in account, which *repo* (its DID or handle) must name."""
        user = self._user(request)
        if not isinstance(repo, str) or not repo:
            raise _invalid('Input must have the property "repo"')
        if repo.lower() not in (user.did.lower(), user.handle):
            found = self._by_identifier(repo)
            if found is None:
                raise _invalid(f"Could not find repo: {repo}")
            raise _no(401, "AuthenticationRequired", "Authentication Required")
        return user

    @route("POST", r"/xrpc/com\.atproto\.server\.createSession", spends=("create-session",))
    def _create_session(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = self.json_body(request)
        identifier, password = body.get("identifier"), body.get("password")
        if not isinstance(identifier, str) or not isinstance(password, str):
            raise _invalid('Input must have the properties "identifier" and "password"')
        account = self._by_identifier(identifier)
        app_password = account is not None and password in account.app_passwords
        if account is None or not (app_password or password == account.password):
            raise _no(401, "AuthenticationRequired", "Invalid identifier or password")
        if account.takendown:
            raise _no(401, "AccountTakedown", "Account has been taken down")
        if account.email_2fa and not app_password and not body.get("authFactorToken"):
            raise _no(401, "AuthFactorTokenRequired",
                      "A sign in code has been sent to your email address")
        return self._session(account, self.tokens.issue(account.name, refresh=True))

    @route("POST", r"/xrpc/com\.atproto\.server\.refreshSession")
    def _refresh_session(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        pair = self.tokens.refresh(self._raw(request))
        return self._session(self.accounts[pair.access.subject], pair)

    @route("GET", r"/xrpc/com\.atproto\.server\.getSession")
    def _get_session(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        return httpx.Response(200, json={
            "handle": user.handle, "did": user.did, "didDoc": self._did_doc(user),
            "email": user.email, "emailConfirmed": True, "active": not user.deactivated,
        })

    @route("GET", r"/xrpc/com\.atproto\.identity\.resolveHandle")
    def _resolve_handle(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        handle = request.url.params.get("handle", "")
        if not handle:
            raise _invalid('Params must have the property "handle"')
        found = next((a for a in self.accounts.values() if a.handle == handle.lower()), None)
        if found is None:
            raise _no(400, "HandleNotFound", "Unable to resolve handle")
        return httpx.Response(200, json={"did": found.did})

    # ----------------------------------------------------------- blobs

    @route("POST", r"/xrpc/com\.atproto\.repo\.uploadBlob")
    def _upload_blob(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        user = self._user(request)
        data = request.content
        if len(data) > self.blob_limit:
            raise _no(413, "PayloadTooLarge", "request entity too large")
        if not data:
            raise _invalid("Request body is empty")
        # The PDS sniffs the bytes and trusts the header only where it cannot tell.
        sniffed = image_type(data[:16])
        mime = f"image/{sniffed}" if sniffed else (
            request.headers.get("content-type", "").split(";")[0].strip() or "application/octet-stream")
        cid = "bafkrei" + _b32(hashlib.sha256(data).digest())[:52]
        self.blobs[cid] = (user.did, mime, len(data))
        return httpx.Response(200, json={"blob": {"$type": "blob", "ref": {"$link": cid},
                                                  "mimeType": mime, "size": len(data)}})

    def _blob(self, ref: Any, user: FakeBskyAccount, where: str, limit: int) -> None:
        """Check a blob reference: shaped, uploaded by *user*, an image within *limit*."""
        link = ref.get("ref", {}).get("$link") if isinstance(ref, dict) and isinstance(
            ref.get("ref"), dict) else None
        if not isinstance(ref, dict) or ref.get("$type") != "blob" or not isinstance(link, str):
            raise _invalid(f"Invalid app.bsky.feed.post record: {where} should be a blob ref")
        stored = self.blobs.get(link)
        if stored is None or stored[0] != user.did:
            raise _no(400, "BlobNotFound", f"Could not find blob: {link}")
        mime, size = ref.get("mimeType"), ref.get("size")
        if not isinstance(mime, str) or not mime.startswith("image/"):
            raise _invalid(f"Invalid app.bsky.feed.post record: {where} mime type {mime} not accepted")
        if size != stored[2]:
            raise _no(400, "InvalidSize",
                      f"Referenced Size does not match stored blob. Expected: {stored[2]}, Got: {size}")
        if mime != stored[1]:
            raise _no(400, "InvalidMimeType", "Referenced Mimetype does not match stored blob. "
                                              f"Expected: {stored[1]}, Got: {mime}")
        if stored[2] > limit:
            raise _invalid(f"Invalid app.bsky.feed.post record: {where} blob too big "
                           f"(maximum {limit}, got {stored[2]})")

    # ----------------------------------------------------------- records

    def _next_tid(self) -> str:
        value = max(int(self.now() * 1_000_000), self._tid_last + 1)
        self._tid_last = value
        number = (value << 10) | 0x1F
        return "".join(_SORTABLE[(number >> (5 * i)) & 31] for i in reversed(range(13)))

    def _commit(self) -> dict[str, str]:
        rev = self._next_tid()
        return {"cid": "bafyrei" + _b32(hashlib.sha256(rev.encode()).digest())[:52], "rev": rev}

    @route("POST", r"/xrpc/com\.atproto\.repo\.createRecord", spends=("repo-write-hour",))
    def _create_record(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = self.json_body(request)
        user = self._repo(request, body.get("repo"))
        collection, rkey, record = body.get("collection"), body.get("rkey"), body.get("record")
        if collection not in (POST, REPOST):
            raise _invalid(f"Lexicon not found: lex:{collection} (not modelled by the fake)")
        if not isinstance(record, dict):
            raise _invalid('Input must have the property "record"')
        if rkey is None:
            rkey = self._next_tid()
        elif not isinstance(rkey, str) or not _TID.match(rkey):
            raise _invalid(f"Invalid record key for {collection}: must be a valid TID")
        if record.get("$type") != collection:
            raise _invalid(f"Invalid {collection} record: Record/$type must be {collection}")
        if collection == POST:
            self._check_post(record, user)
        else:
            self._check_repost(record)
        uri = f"at://{user.did}/{collection}/{rkey}"
        if collection == REPOST:
            # The backlink check: an earlier repost of the same post goes, in the same commit.
            subject = record["subject"]["uri"]
            for old in [r for r in self.records.values() if r.did == user.did
                        and r.collection == REPOST and r.value["subject"]["uri"] == subject]:
                del self.records[old.uri]
        elif uri in self.records:
            # MST add: "There is already a value at key", surfaced as a bare 500.
            raise _no(500, "InternalServerError", "Internal Server Error")
        canonical = json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
        cid = "bafyrei" + _b32(hashlib.sha256(canonical).digest())[:52]
        self.records[uri] = FakeRecord(user.did, collection, rkey, record, cid, self.now())
        return httpx.Response(200, json={"uri": uri, "cid": cid, "commit": self._commit(),
                                         "validationStatus": "valid"})

    def _check_post(self, record: dict[str, Any], user: FakeBskyAccount) -> None:
        bad = "Invalid app.bsky.feed.post record: "
        text = record.get("text")
        if not isinstance(text, str):
            raise _invalid(bad + 'Record must have the property "text"')
        if graphemes(text) > 300:
            raise _invalid(bad + "Record/text must not be longer than 300 graphemes")
        size = len(text.encode("utf-8"))
        if size > 3000:
            raise _invalid(bad + "Record/text must not be longer than 3000 characters")
        if not _datetime(record.get("createdAt")):
            raise _invalid(bad + "Record/createdAt must be an valid atproto datetime")
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3 or not all(isinstance(x, str) for x in langs):
            raise _invalid(bad + "Record/langs must not have more than 3 elements")
        facets = record.get("facets", [])
        if not isinstance(facets, list):
            raise _invalid(bad + "Record/facets must be an array")
        for number, facet in enumerate(facets):
            self._check_facet(facet, size, f"{bad}Record/facets/{number}")
        embed = record.get("embed")
        if embed is not None:
            self._check_embed(embed, user, bad)

    @staticmethod
    def _check_facet(facet: Any, size: int, where: str) -> None:
        index = facet.get("index") if isinstance(facet, dict) else None
        start = index.get("byteStart") if isinstance(index, dict) else None
        end = index.get("byteEnd") if isinstance(index, dict) else None
        if not (isinstance(start, int) and isinstance(end, int)):
            raise _invalid(f"{where}/index must have byteStart and byteEnd integers")
        if not 0 <= start < end <= size:  # stricter than the PDS (clients ignore such facets)
            raise _invalid(f"{where}/index {start}..{end} is outside the text's {size} bytes")
        features = facet.get("features")
        if not isinstance(features, list) or not features:
            raise _invalid(f"{where}/features must be a non-empty array")
        for feature in features:
            kind = feature.get("$type") if isinstance(feature, dict) else None
            field = _FEATURES.get(kind) if isinstance(kind, str) else None
            if field is None or not isinstance(feature.get(field), str) or not feature[field]:
                raise _invalid(f"{where}/features: {kind} needs a {field or 'known $type'}")
            if field == "tag" and (graphemes(feature["tag"]) > 64
                                          or len(feature["tag"].encode()) > 640):
                raise _invalid(f"{where}/features/tag must not be longer than 64 graphemes")

    def _check_embed(self, embed: Any, user: FakeBskyAccount, bad: str) -> None:
        kind = embed.get("$type") if isinstance(embed, dict) else None
        if kind == "app.bsky.embed.images":
            images = embed.get("images")
            if not isinstance(images, list) or not images:
                raise _invalid(bad + 'Record/embed must have the property "images"')
            if len(images) > 4:
                raise _invalid(bad + "Record/embed/images array too big (maximum 4, got "
                               f"{len(images)})")
            for number, image in enumerate(images):
                where = f"Record/embed/images/{number}"
                if not isinstance(image, dict) or not isinstance(image.get("alt"), str):
                    raise _invalid(f'{bad}{where} must have the property "alt"')
                self._blob(image.get("image"), user, f"{where}/image", IMAGE_MAX)
        elif kind == "app.bsky.embed.external":
            card = embed.get("external")
            if not isinstance(card, dict) or not all(
                    isinstance(card.get(f), str) for f in ("uri", "title", "description")):
                raise _invalid(bad + "Record/embed/external must have uri, title and description")
            if "thumb" in card:
                self._blob(card["thumb"], user, "Record/embed/external/thumb", THUMB_MAX)
        else:
            raise _invalid(f"{bad}Record/embed $type {kind!r} is not modelled by the fake")

    @staticmethod
    def _check_repost(record: dict[str, Any]) -> None:
        subject = record.get("subject")
        if not isinstance(subject, dict) or not all(
                isinstance(subject.get(f), str) and subject[f] for f in ("uri", "cid")):
            raise _invalid("Invalid app.bsky.feed.repost record: Record/subject must have uri and cid")
        if not subject["uri"].startswith("at://"):
            raise _invalid("Invalid app.bsky.feed.repost record: Record/subject/uri must be an at-uri")
        if not _datetime(record.get("createdAt")):
            raise _invalid("Invalid app.bsky.feed.repost record: Record/createdAt must be a datetime")

    @route("GET", r"/xrpc/com\.atproto\.repo\.getRecord")
    def _get_record(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        params = request.url.params
        repo, collection, rkey = params.get("repo"), params.get("collection"), params.get("rkey")
        if not (repo and collection and rkey):
            raise _invalid('Params must have the properties "repo", "collection" and "rkey"')
        account = self._by_identifier(repo)
        if account is None:
            raise _invalid("Could not locate record")
        uri = f"at://{account.did}/{collection}/{rkey}"
        record = self.records.get(uri)
        if record is None:
            raise _no(400, "RecordNotFound", f"Could not locate record: {uri}")
        return httpx.Response(200, json=record.json())

    @route("POST", r"/xrpc/com\.atproto\.repo\.deleteRecord", spends=("repo-write-hour",))
    def _delete_record(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        body = self.json_body(request)
        user = self._repo(request, body.get("repo"))
        collection, rkey = body.get("collection"), body.get("rkey")
        if not isinstance(collection, str) or not isinstance(rkey, str):
            raise _invalid('Input must have the properties "collection" and "rkey"')
        if self.records.pop(f"at://{user.did}/{collection}/{rkey}", None) is None:
            return httpx.Response(200, json={})  # "or ensure it doesn't exist"
        return httpx.Response(200, json={"commit": self._commit()})

    # ----------------------------------------------------------- the AppView

    @route("GET", r"/xrpc/app\.bsky\.feed\.getPosts")
    def _get_posts(self, request: httpx.Request, match: re.Match[str]) -> httpx.Response:
        if request.headers.get("authorization"):
            self._user(request)
        uris = request.url.params.get_list("uris")
        if not uris:
            raise _invalid('Params must have the property "uris"')
        if len(uris) > 25:
            raise _invalid("Params/uris must not have more than 25 elements")
        views = [self._view(self.records[u]) for u in uris
                 if u in self.records and self.records[u].collection == POST and u not in self.unindexed]
        return httpx.Response(200, json={"posts": views})

    def _view(self, record: FakeRecord) -> dict[str, Any]:
        author = next(a for a in self.accounts.values() if a.did == record.did)
        reposts = sum(1 for r in self.records.values()
                      if r.collection == REPOST and r.value["subject"]["uri"] == record.uri)
        return {
            "uri": record.uri, "cid": record.cid,
            "author": {"did": author.did, "handle": author.handle, "displayName": author.name},
            "record": record.value, "replyCount": record.replies,
            "repostCount": reposts + record.reposts, "likeCount": record.likes,
            "quoteCount": record.quotes, "bookmarkCount": 0,
            "indexedAt": _iso(record.indexed_at), "labels": [],
        }
