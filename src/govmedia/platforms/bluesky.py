"""Bluesky (AT Protocol): posts with images, link cards and facets; reposts, deletes, counts.

Facts: shared/platforms/bluesky.md. Every call is XRPC on the account's PDS
(option ``base_url``, default the ``https://bsky.social`` entryway): ``POST
{base}/xrpc/{nsid}`` with JSON, ``GET`` for queries.

Auth is an app-password session: ``com.atproto.server.createSession`` gives
an access JWT (about two hours) and a refresh JWT (about 90 days), kept per
``identifier`` in the client's token store, so a fan-out signs in once per
account (sign-ins are tightly rate limited). An expired access token
(``ExpiredToken``, HTTP 400 from the PDS) is renewed with
``com.atproto.server.refreshSession`` and the refresh JWT, which rotates;
where the refresh JWT is refused too, the flow signs in again with the app
password.

A post is one ``com.atproto.repo.createRecord`` of an ``app.bsky.feed.post``
record, after ``com.atproto.repo.uploadBlob`` for each image. Bluesky has no
idempotency header; instead the record key (``rkey``) is derived from the
idempotency key (`record_key`), so a resend names the record the first
attempt made and cannot make a second post. The PDS refuses a create whose
rkey exists with a bare 500 (``InternalServerError``: not on the fact sheet,
read in bluesky-social/atproto ``packages/repo/src/mst/mst.ts`` and reported in
bluesky-social/indigo#873; unverified against the live service), which looks
like any other 500; so after a create that may have been applied and still
failed, the flow asks ``com.atproto.repo.getRecord`` for that rkey, as the
sheet advises, and takes the record it finds as the post.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx
import regex

from govmedia._secrets import mask
from govmedia._sniff import image_type
from govmedia.content.counting import count_utf8
from govmedia.content.facets import TAG, rich_text
from govmedia.content.hashtags import render_tags
from govmedia.content.length import graphemes
from govmedia.content.markup import short_text
from govmedia.content.rules import LengthRule, Rule
from govmedia.errors import AuthError, ConfigError, DeliveryUnknown, PlatformError, ValidationError
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import FetchedToken, Header
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, url_check
from govmedia.platforms.steps import Checkpoint, Doubt, Flow, count_or_none
from govmedia.policy.ratelimit import RateLimit
from govmedia.tokens import Token

__all__ = ["BlueskyPlatform", "post_text", "record_key"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/bluesky.md"
DEFAULT_BASE_URL = "https://bsky.social"
APP_URL = "https://bsky.app"
POST = "app.bsky.feed.post"
REPOST = "app.bsky.feed.repost"
IMAGES = "app.bsky.embed.images"
EXTERNAL = "app.bsky.embed.external"

TEXT_GRAPHEMES = 300
TEXT_BYTES = 3000
MEDIA_MAX = 4
IMAGE_BYTES = 2_000_000   # app.bsky.embed.images#image maxSize (was 1,000,000)
THUMB_BYTES = 1_000_000   # app.bsky.embed.external#external thumb maxSize
LANGS_MAX = 3
# PDS defaults (sheet: "access JWT 120 min, refresh JWT 90 days"), used when a
# JWT does not say when it expires.
ACCESS_LIFETIME = 2 * 3600.0
REFRESH_LIFETIME = 90 * 86400.0

_XRPC = "/xrpc/"
_SORTABLE = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable (atproto TID spec)
_TID_TIME_BITS = 44  # rkey time part kept in [1970-01-01, +203 days): visibly synthetic
_LANGUAGE = regex.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
_INVALID_HANDLE = "handle.invalid"


# --------------------------------------------------------------------------- helpers


def record_key(key: str) -> str:
    """The record key (a TID) of the post or repost made for idempotency key *key*.

    The same key always gives the same rkey, so a resend, a re-run and a
    resume after a crash all name one record, and the PDS cannot make a
    second one. A TID is 64 bits (top bit 0, 53 bits of microseconds, 10 bits
    of "clock id"), written as 13 base32-sortable characters; here every bit
    comes from SHA-256 of the key, the time part kept within the first
    months of 1970, so govmedia's rkeys start with ``22`` and never claim a
    real (or future) time. The post's ``createdAt`` carries the real time,
    and Bluesky's app orders posts by it, not by the rkey.

    Example:
        >>> from govmedia.platforms.bluesky import record_key
        >>> record_key("campaign-2019-06-12") == record_key("campaign-2019-06-12")
        True
        >>> rkey = record_key("campaign-2019-06-12")
        >>> len(rkey), rkey[:2], record_key("another-key") != rkey
        (13, '22', True)
    """
    digest = hashlib.sha256(f"govmedia:bluesky:rkey:{key}".encode()).digest()
    value = int.from_bytes(digest[:8], "big") & ((1 << (_TID_TIME_BITS + 10)) - 1)
    chars = []
    for _ in range(13):
        chars.append(_SORTABLE[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def _tags_in(text: str) -> set[str]:
    """The hashtags Bluesky would see in *text* (its own detection), case-folded."""
    return {f["features"][0]["tag"].casefold() for f in rich_text(text).facets
            if f["features"][0]["$type"] == TAG}


def post_text(post: Post) -> str:
    """The ``text`` of the post record: the short text, then the tags as ``#tag``.

    Tags are written in Bluesky's style (`govmedia.content.hashtags`: spaces
    and punctuation removed, no all-digit tag, at most 64 graphemes); a tag
    the text already carries is not added again. Each becomes a ``#tag``
    facet when the post is sent.

    Example:
        >>> import govmedia as gm
        >>> print(post_text(gm.Post(text="#央企 招聘季开始", tags=("央企", "微 招聘"))))
        #央企 招聘季开始
        <BLANKLINE>
        #微招聘
    """
    text = short_text(post)
    present = _tags_in(text)
    tags = [t for t in render_tags(post.tags, "bluesky") if t[1:].casefold() not in present]
    line = " ".join(tags)
    return f"{text}\n\n{line}" if text and line else text or line


def _now_iso() -> str:
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def _split_uri(uri: str) -> tuple[str, str, str]:
    """``(did, collection, rkey)`` of an ``at://`` URI."""
    parts = uri.removeprefix("at://").split("/") if uri.startswith("at://") else []
    if len(parts) != 3 or not all(parts):
        raise ConfigError(f"{uri!r} is not an at:// record URI (at://DID/COLLECTION/RKEY)")
    return parts[0], parts[1], parts[2]


def _web_url(actor: str, rkey: str) -> str:
    return f"{APP_URL}/profile/{actor}/post/{rkey}"


def _jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, read without checking its signature (only the PDS can)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def _lifetime(token: str, default: float) -> float:
    """Seconds *token* lives, from its own ``exp - iat`` (immune to clock skew), else *default*."""
    claims = _jwt_claims(token)
    exp, iat = claims.get("exp"), claims.get("iat")
    if not (isinstance(exp, int | float) and isinstance(iat, int | float)):
        return default
    lifetime = float(exp) - float(iat)
    return lifetime if 0 < lifetime <= 10 * REFRESH_LIFETIME else default


def _langs_problem(value: Any) -> str | None:
    if len(value) > LANGS_MAX or not all(isinstance(v, str) and _LANGUAGE.match(v) for v in value):
        return f"at most {LANGS_MAX} language tags like 'zh' or 'en-US'"
    return None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


@attrs.frozen
class _Account:
    """Who a channel's session acts for: its DID and handle."""

    did: str
    handle: str

    @property
    def actor(self) -> str:
        """What a bsky.app URL names the account by: the handle, else the DID.

        The DID names the same page; it stands in for a handle that is
        invalid or that something masks (the sign-in ``identifier`` is a
        public credential name, so not masked itself).
        """
        if not self.handle or self.handle == _INVALID_HANDLE or mask(self.handle) != self.handle:
            return self.did
        return self.handle


# --------------------------------------------------------------------------- rules and errors

_LEX = f"{SHEET}: lexicon"
RULES: tuple[Rule, ...] = (
    LengthRule(id="bluesky.text.max_graphemes", field="text", limit=TEXT_GRAPHEMES, counter=graphemes,
               unit="graphemes", source=f"{SHEET}: lexicon maxGraphemes"),
    LengthRule(id="bluesky.text.max_bytes", field="text", limit=TEXT_BYTES, counter=count_utf8,
               unit="UTF-8 bytes", source=f"{SHEET}: lexicon maxLength"),
    Rule(id="bluesky.text.not_empty", field="text", code="empty",
         summary="a post needs text, an image or a link", source=f"{_LEX} app.bsky.feed.post",
         remediation="Give the post a text, an image or a link."),
    Rule(id="bluesky.media.max_count", field="media", code="bad_media",
         summary=f"at most {MEDIA_MAX} images", source=f"{_LEX} app.bsky.embed.images",
         remediation="Attach fewer images, or give Bluesky a variant."),
    Rule(id="bluesky.media.kind", field="media", code="bad_media",
         summary="images only (govmedia does not send video to Bluesky yet)",
         source=f"{_LEX} app.bsky.embed.images (accept image/*)",
         remediation="Attach images, or give Bluesky a variant without the video."),
    Rule(id="bluesky.image.max_size", field="media", code="bad_media",
         summary=f"each image at most {IMAGE_BYTES:,} bytes",
         source=f"{_LEX} app.bsky.embed.images#image maxSize",
         remediation="Compress the image below 2,000,000 bytes (about 1.9 MB)."),
    Rule(id="bluesky.cover.kind", field="cover", code="bad_media",
         summary="the link card's thumbnail (the cover) must be an image",
         source=f"{_LEX} app.bsky.embed.external (thumb accept image/*)",
         remediation="Use a JPEG or PNG cover."),
    Rule(id="bluesky.cover.max_size", field="cover", code="bad_media",
         summary=f"the link card's thumbnail (the cover) at most {THUMB_BYTES:,} bytes",
         source=f"{_LEX} app.bsky.embed.external thumb maxSize",
         remediation="Compress the cover below 1,000,000 bytes."),
)

_SESSION_HINT = (
    "Bluesky refused the identifier or the app password: check the channel's identifier (handle, "
    "email or DID) and create a new app password (Settings → Privacy and security → App "
    "passwords) for its app_password."
)

ERRORS = ErrorTable(
    {
        "ExpiredToken": Code.auth("The session expired and could not be renewed; run again."),
        "InvalidToken": Code.auth("The session token was refused; govmedia signed in again once."),
        "AuthenticationRequired": Code.auth(_SESSION_HINT),
        "AccountTakedown": Code.permanent(
            "The account was taken down by its host: see the notice in the Bluesky app."),
        "AuthFactorTokenRequired": Code.permanent(
            "The account asks for an email sign-in code: use an app password (Settings → Privacy "
            "and security → App passwords), which needs none."),
        "Forbidden": Code.permanent("The PDS forbids this for the account; retrying will not help."),
        "InvalidSwap": Code.permanent(
            "The repository changed under a compare-and-swap; govmedia sends none, please report it."),
        "RecordNotFound": Code.permanent("The record does not exist (deleted already?)."),
        "HandleNotFound": Code.permanent("No account has this handle."),
        "BlobNotFound": Code.permanent(
            "The PDS dropped an uploaded image before the post referenced it (unreferenced blobs "
            "are deleted soon): run again, which uploads it again."),
        "MethodNotImplemented": Code.permanent(
            "This server does not implement the method: check base_url (the account's PDS or "
            "https://bsky.social)."),
        "RateLimitExceeded": Code.rate_limited(
            "Bluesky's rate limit: 5,000 write points an hour per account (a post costs 3), "
            "30 sign-ins per 5 minutes; run again later with the same journal."),
        429: Code.rate_limited(),
        "InternalServerError": Code.transient(),
        "UpstreamFailure": Code.transient(),
        "NotEnoughResources": Code.transient(),
        "UpstreamTimeout": Code.transient(),
        "InvalidRequest": Code.rejected(
            "The PDS refused the record (lexicon validation).",
            unforeseeable="a lexicon check govmedia does not make offline (a govmedia bug if seen)"),
        "InvalidMimeType": Code.rejected(
            unforeseeable="govmedia sends the MIME type uploadBlob answered: a bug if seen"),
        "InvalidSize": Code.rejected(
            unforeseeable="govmedia sends the size uploadBlob answered: a bug if seen"),
        "PayloadTooLarge": Code.rejected(
            "The PDS refused the upload's size (bsky.social: images up to 2,000,000 bytes; a "
            "self-hosted PDS caps uploads at PDS_BLOB_UPLOAD_LIMIT, 5 MiB by default).",
            rule="bluesky.image.max_size"),
        413: Code.rejected(rule="bluesky.image.max_size"),
        "UnsupportedMediaType": Code.rejected(rule="bluesky.media.kind"),
        415: Code.rejected(rule="bluesky.media.kind"),
    },
    code_field="error", message_field="message",
    messages=(
        # The lexicon validator's words, old ("must not be longer than 300
        # graphemes") and new ("grapheme too big (maximum 300, got 301)").
        ("InvalidRequest", "grapheme", Code.rejected(rule="bluesky.text.max_graphemes")),
        ("InvalidRequest", "longer than 3000", Code.rejected(rule="bluesky.text.max_bytes")),
        ("InvalidRequest", "string too big (maximum 3000", Code.rejected(rule="bluesky.text.max_bytes")),
        ("InvalidRequest", "blob too big", Code.rejected(rule="bluesky.image.max_size")),
        ("InvalidRequest", "array too big (maximum 4,", Code.rejected(rule="bluesky.media.max_count")),
        ("InvalidRequest", "Could not find repo", Code.permanent(
            "The PDS does not host this account: check base_url and identifier.")),
    ),
)


# --------------------------------------------------------------------------- platform


class BlueskyPlatform(BasePlatform):
    """Post to Bluesky (any AT Protocol PDS) with an app password.

    Credentials: ``identifier`` (the handle, the account's email or its DID)
    and ``app_password`` (Settings → Privacy and security → App passwords).
    Options: ``base_url`` (the PDS; default ``https://bsky.social``) and
    ``langs`` (up to three language tags of the text, e.g. ``["zh"]``).

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="bluesky", account="sasac.bsky.social",
        ...                 credentials={"identifier": "sasac.bsky.social",
        ...                              "app_password": "abcd-efgh-ijkl-mnop"})
        >>> [(p.code, p.rule) for p in gm.Client().check(gm.Post(text="国" * 301), ch)]
        [('too_long', 'bluesky.text.max_graphemes')]
    """

    name: ClassVar[str] = "bluesky"
    credential_keys: ClassVar[tuple[str, ...]] = ("identifier", "app_password")
    options: ClassVar[Mapping[str, Option]] = {
        "base_url": Option(str, default=DEFAULT_BASE_URL, check=url_check(),
                           doc="the account's PDS; https://bsky.social for Bluesky-hosted accounts"),
        "langs": Option(list, check=_langs_problem, doc="language tags of the text, at most 3"),
    }
    # One session per identifier, shared by every channel signing in with it.
    auth = FetchedToken(Header("Authorization", "Bearer {}"), scope_credential="identifier",
                        renew_hint=_SESSION_HINT)
    api_base: ClassVar[str] = DEFAULT_BASE_URL
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=True, metrics=True, repost=True, dedupe=True, dedupe_window=None,
        media_max=MEDIA_MAX, media_kinds=("image",),
        counting=("grapheme clusters (≤ 300) and UTF-8 bytes (≤ 3,000) of the text, tags "
                  "included; links count as written"),
        fields=("text", "title", "summary", "body", "link", "tags", "media", "cover"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "bluesky"
    # Writes per DID: 5,000 points an hour, a create costs 3 (sheet, Bluesky-hosted),
    # so ~1,666 creates. The budget counts every request (uploads and reads too),
    # so it can only stay under the write budget, never over it.
    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {
        "bluesky:*": RateLimit(1666, per=3600),
    }
    fake: ClassVar[str] = "govmedia.testing.bluesky:FakeBluesky"

    def __init__(self) -> None:
        super().__init__()
        # identifier -> DID and handle, learnt from session answers: a read
        # of getSession is needed only where none was seen by this client.
        self._accounts: dict[str, _Account] = {}

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Length as Bluesky counts it, images, the link card's cover, an empty post."""
        text = post_text(post)
        problems = self.check_lengths(text, "text")
        if not text.strip() and not post.media and not post.link:
            problems.append(self.rule("bluesky.text.not_empty").problem(
                "the post would have no text, no image and no link"))
        if len(post.media) > MEDIA_MAX:
            problems.append(self.rule("bluesky.media.max_count").problem(
                f"{len(post.media)} images; Bluesky takes at most {MEDIA_MAX}"))
        for number, item in enumerate(post.media, 1):
            problem = self._image_problem(item, f"media {number} ({item.filename})", cover=False)
            if problem is not None:
                problems.append(problem)
        if post.cover is not None and post.link and not post.media:
            problem = self._image_problem(post.cover, f"cover ({post.cover.filename})", cover=True)
            if problem is not None:
                problems.append(problem)
        return problems

    def _image_problem(self, item: Media, where: str, *, cover: bool, size: int | None = None,
                       kind: str | None = None) -> Problem | None:
        prefix = "bluesky.cover" if cover else "bluesky.media"
        if (kind or item.kind) != "image":
            return self.rule(f"{prefix}.kind").problem(
                f"{where} is {item.mime_type}; Bluesky takes images here"
                + ("" if cover else " (govmedia does not send video to Bluesky yet)"))
        limit = THUMB_BYTES if cover else IMAGE_BYTES
        size = item.size if size is None else size
        if size is not None and size > limit:
            rule = "bluesky.cover.max_size" if cover else "bluesky.image.max_size"
            return self.rule(rule).problem(
                f"{where} is {size:,} bytes; Bluesky takes at most {limit:,}")
        return None

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``getSession``: the app password opens a session, and the session works."""
        return self.request(channel, "GET", "/xrpc/com.atproto.server.getSession")

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the images (or the link card's cover), then create the post record."""
        me = yield from self._account(channel)
        record = yield from self._record(post, channel)
        receipt: Receipt = yield from self._create(channel, me, POST, record_key(key), record)
        return receipt

    def _record(self, post: Post, channel: Channel) -> Flow[dict[str, Any]]:
        text = post_text(post)
        dids = yield from self._resolve(rich_text(text).unresolved, channel)
        rich = rich_text(text, resolve=dids.get)
        for handle in rich.unresolved:
            logger.warning("bluesky [%s]: @%s is no Bluesky handle; left as plain text",
                           channel.account, handle)
        record: dict[str, Any] = {"$type": POST, **rich.record_fields(), "createdAt": _now_iso()}
        langs = self.opts(channel).langs
        if langs:
            record["langs"] = list(langs)
        embed = yield from self._embed(post, channel)
        if embed is not None:
            record["embed"] = embed
        return record

    def _resolve(self, handles: tuple[str, ...], channel: Channel) -> Flow[dict[str, str]]:
        """The DID of each mentioned handle; a handle nobody has gets no facet."""
        dids: dict[str, str] = {}
        for handle in handles:
            try:
                found = yield from self.call(channel, "GET", "/xrpc/com.atproto.identity.resolveHandle",
                                             params={"handle": handle}, expect=("did",))
            except PlatformError as exc:
                if exc.code not in ("HandleNotFound", "InvalidRequest"):
                    raise
                continue
            dids[handle] = str(found["did"])
        return dids

    def _embed(self, post: Post, channel: Channel) -> Flow[dict[str, Any] | None]:
        """Images, else a link card for ``post.link`` (the cover as its thumbnail)."""
        if post.media:
            images = []
            for number, item in enumerate(post.media, 1):
                blob = yield from self._upload(item, f"media {number} ({item.filename})", channel,
                                               cover=False)
                # `alt` is required by the lexicon; "" where the media has none.
                images.append({"image": blob, "alt": item.alt or ""})
            return {"$type": IMAGES, "images": images}
        if not post.link:
            return None
        card: dict[str, Any] = {"uri": post.link, "title": post.title or "",
                                "description": post.summary or ""}
        if post.cover is not None:
            card["thumb"] = yield from self._upload(post.cover, f"cover ({post.cover.filename})",
                                                    channel, cover=True)
        return {"$type": EXTERNAL, "external": card}

    def _upload(self, item: Media, where: str, channel: Channel, *, cover: bool) -> Flow[dict[str, Any]]:
        """``uploadBlob`` with the image's real MIME type (sniffed); the blob ref it answers."""
        try:
            data = yield from self.fetch(item, channel)
        except PlatformError as exc:
            raise exc.evolve(message=f"{where}: could not download {item.url}: {exc.message}") from exc
        sniffed = image_type(data[:16])
        mime = f"image/{sniffed}" if sniffed else item.mime_type
        problem = self._image_problem(item, where, cover=cover, size=len(data),
                                      kind="image" if mime.startswith("image/") else "file")
        if problem is not None:
            raise ValidationError([problem], platform=self.name, account=channel.account)
        # A resent upload leaves at worst an unreferenced blob, which the PDS
        # deletes soon; the same bytes even get the same CID.
        try:
            answer = yield from self.call(
                channel, "POST", "/xrpc/com.atproto.repo.uploadBlob", content=data,
                headers={"Content-Type": mime}, safe=True, creates=False,
                expect=("blob.ref.$link", "blob.mimeType", "blob.size"))
        except PlatformError as exc:
            raise exc.evolve(message=f"{where}: {exc.message}") from exc
        blob: dict[str, Any] = answer["blob"]
        return blob

    # ----------------------------------------------------------- the create

    def _create(self, channel: Channel, me: _Account, collection: str, rkey: str,
                record: dict[str, Any], *, url: str | None = None) -> Flow[Receipt]:
        """Create *record* under *rkey*; where that may have landed and failed, look it up."""
        uri = f"at://{me.did}/{collection}/{rkey}"
        yield Checkpoint("creating", {"uri": uri})
        body = {"repo": me.did, "collection": collection, "rkey": rkey, "record": record}
        try:
            # Safe to resend: the rkey is the key, so a resend cannot make a second record.
            created = yield from self.call(channel, "POST", "/xrpc/com.atproto.repo.createRecord",
                                           json=body, safe=True, creates=True, expect=("uri", "cid"))
        except PlatformError as exc:
            if not exc.maybe_applied:
                raise
            found = yield from self._confirm(channel, me, collection, rkey, record=record, error=exc)
            return self._receipt(channel, me, found, url=url)
        yield Checkpoint("created", {"uri": created["uri"], "cid": created["cid"]})
        return self._receipt(channel, me, created, url=url)

    def _confirm(self, channel: Channel, me: _Account, collection: str, rkey: str, *,
                 record: dict[str, Any], error: PlatformError) -> Flow[dict[str, Any]]:
        """The record a failed create may have made: found, or *error* again, or unknown."""
        uri = f"at://{me.did}/{collection}/{rkey}"
        try:
            found = yield from self._lookup(channel, me.did, collection, rkey)
        except PlatformError as lookup:
            raise error.evolve(
                cls=DeliveryUnknown, known={"uri": uri},
                note=(f"the create may have been applied, and getRecord could not tell "
                      f"({lookup.code}: {lookup.message}); a re-run asks again and resends "
                      "under the same record key"),
            ) from lookup
        if found is None:
            raise error  # the PDS has no such record: nothing was made
        self._check_same(found, record, channel)
        yield Checkpoint("created", {"uri": found["uri"], "cid": found.get("cid")})
        return {**found, "confirmed": "getRecord"}

    def _check_same(self, found: dict[str, Any], record: Mapping[str, Any], channel: Channel) -> None:
        """Refuse to take another post under our rkey for ours (a hash collision, say)."""
        value = _mapping(found.get("value"))
        if record.get("$type") == REPOST:
            same = _mapping(value.get("subject")).get("uri") == record["subject"]["uri"]
        else:
            same = value.get("text") == record.get("text")
        if not same:
            raise PlatformError(
                f"the record {found.get('uri')} exists and is not this post",
                platform=self.name, account=channel.account, code="rkey_taken",
                hint="Another post holds this post's record key: publish it with a new Post.key.",
            )

    def _lookup(self, channel: Channel, did: str, collection: str,
                rkey: str) -> Flow[dict[str, Any] | None]:
        """``getRecord``: the record, or ``None`` where the PDS has none under *rkey*."""
        try:
            found = yield from self.call(
                channel, "GET", "/xrpc/com.atproto.repo.getRecord",
                params={"repo": did, "collection": collection, "rkey": rkey}, expect=("uri",))
        except PlatformError as exc:
            if exc.code == "RecordNotFound":
                return None
            raise
        return found if isinstance(found, dict) else None

    def _receipt(self, channel: Channel, me: _Account, created: Mapping[str, Any], *,
                 url: str | None) -> Receipt:
        uri = str(created["uri"])
        _, collection, rkey = _split_uri(uri)
        raw = {"uri": uri, "cid": created.get("cid"), "did": me.did, "handle": me.handle,
               **{k: created[k] for k in ("commit", "validationStatus", "confirmed") if k in created}}
        if collection == POST:
            url = _web_url(me.actor, rkey)
        return Receipt(channel=channel, remote_id=uri, url=url, state="published", raw=raw)

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Look the record up under its rkey: found, it is the post; absent, send it (same rkey).

        Cheaper than resending: a resend of a record that exists costs every
        retry of a 500 before the lookup.
        """
        me = yield from self._account(channel)
        known = doubt.data.get("uri")
        did, collection, rkey = (_split_uri(str(known)) if known
                                 else (me.did, POST, record_key(key)))
        found = yield from self._lookup(channel, did, collection, rkey)
        if found is None:
            return None  # nothing under the rkey; a new send uses the same rkey, so it stays safe
        url = None
        if collection == POST:
            self._check_same(found, {"$type": POST, "text": post_text(post)}, channel)
        else:  # a repost: readers find it at the reposted post's page
            subject = _mapping(_mapping(found.get("value")).get("subject")).get("uri")
            if isinstance(subject, str) and subject.startswith("at://"):
                sdid, _, srkey = _split_uri(subject)
                url = _web_url(sdid, srkey)
        return self._receipt(channel, me, {**found, "confirmed": "getRecord"}, url=url)

    # ----------------------------------------------------------- delete, metrics, repost

    def delete(self, receipt: Receipt) -> Flow[None]:
        """``deleteRecord`` of the post (or the repost); a record gone already is fine."""
        did, collection, rkey = _split_uri(receipt.remote_id)
        # deleteRecord is "delete, or ensure it doesn't exist": safe to resend.
        yield self.request(receipt.channel, "POST", "/xrpc/com.atproto.repo.deleteRecord",
                           json={"repo": did, "collection": collection, "rkey": rkey},
                           safe=True, creates=False)

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Likes, reposts and replies from ``app.bsky.feed.getPosts``; Bluesky shows no views.

        getPosts is an AppView query the PDS forwards; it is not on the fact
        sheet (shape from bluesky-social/atproto ``lexicons/app/bsky/feed``,
        unverified against the live service). A post the AppView has not
        indexed (yet) gives every count ``None``.
        """
        _, collection, _ = _split_uri(receipt.remote_id)
        if collection != POST:
            return Metrics(raw={"reason": "a repost has no counts of its own"})
        answer = yield from self.call(receipt.channel, "GET", "/xrpc/app.bsky.feed.getPosts",
                                      params={"uris": [receipt.remote_id]})
        posts = answer.get("posts") if isinstance(answer, dict) else None
        view = next((p for p in posts or () if isinstance(p, dict)
                     and p.get("uri") == receipt.remote_id), None)
        if view is None:
            return Metrics(raw={"reason": "the AppView does not show this post (not indexed yet, "
                                          "or deleted)"})
        return Metrics(views=None, likes=count_or_none(view.get("likeCount")),
                       shares=count_or_none(view.get("repostCount")),
                       comments=count_or_none(view.get("replyCount")), raw=view)

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """Any Bluesky post with its CID can be reposted from any PDS (one network)."""
        if original.channel.platform != self.name or channel.platform != self.name:
            return False
        if not isinstance(original.raw.get("cid"), str):
            return False
        try:
            return _split_uri(original.remote_id)[1] == POST
        except ConfigError:
            return False

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """An ``app.bsky.feed.repost`` record of *original*, under the rkey of *key*.

        Safe to resend: the PDS replaces an account's earlier repost of the same
        post (its backlink check deletes it in the same commit; read in
        bluesky-social/atproto ``createRecord.ts``, unverified live), so there
        is never more than one.
        """
        if not self.can_repost(original, channel):
            raise ConfigError(f"channel {channel.id} cannot repost {original.remote_id}: "
                              "not a Bluesky post receipt with its cid")
        me = yield from self._account(channel)
        record = {"$type": REPOST, "subject": {"uri": original.remote_id, "cid": original.raw["cid"]},
                  "createdAt": _now_iso()}
        receipt: Receipt = yield from self._create(channel, me, REPOST, record_key(key), record,
                                                   url=original.url)
        return receipt

    # ----------------------------------------------------------- the session

    def _account(self, channel: Channel) -> Flow[_Account]:
        """The DID and handle the channel's session acts for (``getSession`` once per identifier)."""
        identifier = channel.credentials["identifier"]
        known = self._accounts.get(identifier)
        if known is not None:
            return known
        session = yield from self.call(channel, "GET", "/xrpc/com.atproto.server.getSession",
                                       expect=("did", "handle"))
        account = _Account(str(session["did"]), str(session["handle"]))
        self._accounts[identifier] = account
        return account

    def token_request(self, channel: Channel, previous: Token | None) -> httpx.Request:
        """``createSession`` with the app password (in the JSON body, never the URL).

        Safe to resend: a second session harms nothing (sign-ins are rate
        limited, so they are cached per identifier).
        """
        return self.request(channel, "POST", "/xrpc/com.atproto.server.createSession", json={
            "identifier": channel.credentials["identifier"],
            "password": channel.credentials["app_password"],
        }, safe=True, creates=False)

    def refresh(self, channel: Channel, token: Token) -> Flow[Token]:
        """``refreshSession`` with the refresh JWT; where that is refused, sign in again.

        The refresh JWT rotates: the answer's replaces it in the token store
        (the sheet says the old one is spent, unverified; the PDS code keeps
        it usable for a two-hour grace). Not resent after a lost answer, which
        may have spent it: the flow signs in afresh instead.
        """
        if token.refresh_token:
            request = self.request(channel, "POST", "/xrpc/com.atproto.server.refreshSession",
                                   headers={"Authorization": f"Bearer {token.refresh_token}"},
                                   creates=False)
            try:
                response = yield request
                return self.token_from(response, channel, previous=token)
            except (AuthError, DeliveryUnknown) as exc:
                logger.info("bluesky [%s]: refreshSession refused (%s); signing in again",
                            channel.account, exc.code)
        fresh: Token = yield from self.authenticate(channel)
        return fresh

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """The session (``accessJwt``, ``refreshJwt``), its lifetimes read from the JWTs."""
        session = self.answer(response, channel, expect=("accessJwt", "refreshJwt", "did", "handle"))
        if session.get("active") is False:
            status = session.get("status") or "inactive"
            raise PlatformError(
                f"the account is {status}", platform=self.name, account=channel.account,
                code=f"account_{status}",
                hint="Reactivate the account in the Bluesky app (or ask its PDS's operator).")
        self._accounts[channel.credentials["identifier"]] = _Account(
            str(session["did"]), str(session["handle"]))
        access, renew = str(session["accessJwt"]), str(session["refreshJwt"])
        return Token(value=access, expires_in=_lifetime(access, ACCESS_LIFETIME),
                     refresh_token=renew, refresh_expires_in=_lifetime(renew, REFRESH_LIFETIME),
                     issued_at=time.time())
