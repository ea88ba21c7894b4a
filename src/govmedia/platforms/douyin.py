"""Douyin open platform (抖音开放平台): videos and image posts on a user's behalf.

Facts: shared/platforms/douyin.md. Every content request goes to
``/api/douyin/v1/video/...`` with the user's token in the header
``access-token`` and the user in the query (``open_id``). A post is

1. a video: ``upload_video`` (one multipart request) for a file up to
   ``part_size``, else the chunked path ``init_video_part_upload`` → one
   ``upload_video_part`` per part (read from disk one at a time) →
   ``complete_video_part_upload``; then ``create_video``;
2. or images (图文): ``upload_image`` for each, then ``create_image_text``.

Either create makes an item that Douyin reviews before anyone else sees it;
``video_data`` is polled until the review ends or ``poll_timeout`` passes
(``Receipt.state`` stays ``pending`` until then). Douyin takes no
idempotency key, so a create that may have been applied is never resent: it
is `DeliveryUnknown`, and a journal-backed re-run that knows the ``item_id``
polls that item instead of creating another (`DouyinPlatform.recover`).

Errors come in an envelope, HTTP 200 included: ``data.error_code`` and
``extra.error_code``/``sub_error_code`` (all must be 0), or ``err_no`` on
newer APIs (`DouyinPlatform.error_details`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx

from govmedia.content.counting import count_chars
from govmedia.content.hashtags import with_tags
from govmedia.content.markup import short_text
from govmedia.content.media import media_size
from govmedia.content.rules import LengthRule, Rule
from govmedia.errors import (
    AuthError,
    ConfigError,
    ContentRejected,
    DeliveryUnknown,
    PlatformError,
)
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt, ReceiptState
from govmedia.platforms._parts import multipart_part
from govmedia.platforms.auth import Header, StaticToken
from govmedia.platforms.base import BasePlatform, Capabilities
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, positive_seconds, url_check
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Flow,
    Recall,
    Uploaded,
    count_or_none,
    id_or_none,
    json_of,
    seconds_or_none,
    text_or_none,
)
from govmedia.platforms.uploads import SavedUpload, refused
from govmedia.tokens import Token

__all__ = ["DouyinPlatform", "caption"]

logger = logging.getLogger("govmedia")

SHEET = "shared/platforms/douyin.md"
DEFAULT_BASE_URL = "https://open.douyin.com"
VIDEO_API = "/api/douyin/v1/video"

MB = 1024 * 1024
PART_MIN = 5 * MB            # "part 5 MB min, 20 MB recommended; last part may be smaller"
# Not the recommended 20 MB: while a part is sent, the transports (httpcore's
# write loop, asyncio's socket buffer) copy what the socket has not taken yet,
# so a part costs about three times its size. 10 MB parts keep a 1 GB upload
# under 80 MB of RSS (benchmarks/upload_rss.py); 20 MB ones reach 110 MB.
PART_DEFAULT = 10 * MB
SINGLE_MAX = 128 * MB        # upload_video: "≤128 MB, ≤15 min"
VIDEO_MAX = 4 * 1024 * MB    # chunked: "total ≤4 GB"
# create_video text: "≤1000 chars per a third-party client (unverified)".
TEXT_MAX = 1000

# video_data's video_status is not on the fact sheet. Public clients agree on
# 1 published (later 5 public, 6 friends, 7 private), 2 not fit to be public
# (不适宜公开: the review refused it), 4 in review, and on is_reviewed turning
# true once the review ended either way (unverified).
_PUBLISHED_STATUS = frozenset({1, 5, 6, 7})
_REFUSED_STATUS = 2
_IN_REVIEW_STATUS = 4

# Renew the refresh token when it would die before the access token just
# fetched: refreshing extends the access token only (the refresh token keeps
# its 30-day expiry), so without renewal the second refresh finds it expired.
_RENEW_MARGIN = 24 * 3600.0
_MAX_LIFETIME = 365 * 86400.0  # an expires_in beyond a year is garbage: ignored

_OPENAPI = f"{SHEET}: Video publish"
RULES: tuple[Rule, ...] = (
    LengthRule(id="douyin.text.max_length", field="text", limit=TEXT_MAX, counter=count_chars,
               unit="characters",
               source=f"{_OPENAPI}: create_video text ≤1000 per a third-party client (unverified)",
               remediation="Shorten the text (topics and @mentions count too), or give Douyin "
                           "a variant."),
    Rule(id="douyin.media.required", field="media", code="bad_media",
         summary="a Douyin post is a video or images (图文); text alone cannot be posted",
         source=f"{SHEET}: Video publish, Image-text",
         remediation="Attach a video, or one or more images."),
    Rule(id="douyin.media.kind", field="media", code="bad_media",
         summary="videos and images only", source=f"{SHEET}: Video publish, Image-text",
         remediation="Remove the other files (audio, documents) from the post's media."),
    Rule(id="douyin.media.mix", field="media", code="bad_media",
         summary="one video, or images, not both and not two videos",
         source=f"{SHEET}: create_video takes one video_id; create_image_text takes images",
         remediation="Publish the video and the images as two posts."),
    Rule(id="douyin.video.max_size", field="media", code="bad_media",
         summary="a video up to 4 GB", source=f"{_OPENAPI}: chunked, total ≤4 GB",
         remediation="Compress the video below 4 GB."),
)

_EXPIRED = ("The access token expired (they live 15 days). govmedia refreshes it once where the "
            "channel has client_key and refresh_token; otherwise authorise the account again in "
            "the browser and put the new access_token in its credentials.")
_PARAMETER = Code.rejected(
    "Douyin refused a parameter (the text, the video or image id, an option).",
    unforeseeable="Douyin does not say which parameter it refused")

ERRORS = ErrorTable(
    {
        10008: Code.auth(_EXPIRED),
        2190008: Code.auth(_EXPIRED),
        10010: Code.auth(
            "The refresh token expired (30 days, renewable before then): the user must authorise "
            "the app again in the browser (OAuth); put the new access_token and refresh_token in "
            "the channel's credentials."),
        # 2190002 is "unverified" on the fact sheet.
        2190002: Code.auth(
            "Douyin says the access token is invalid (the user revoked the app, or it belongs to "
            "another user than open_id): authorise the account again in the browser."),
        28001003: Code.auth(
            "Douyin says the token is invalid: authorise the account again in the browser."),
        2118110: Code.rate_limited(
            "Douyin says the app calls too often (each API has its own QPS limit, e.g. 100/s): "
            "slow down with rate_limits={'douyin:CLIENT_KEY': gm.RateLimit(...)}."),
        2100004: Code.busy("Douyin is busy; retried. If it persists, try again later."),
        28005002: Code.transient("Douyin had an internal error; the request may have been applied."),
        2100005: _PARAMETER,
        28001007: _PARAMETER,
        # A proxy in front of the upload hosts: the sheet reports 413/502 for
        # oversized single uploads.
        413: Code.rejected(
            "The upload was too big for Douyin's upload host: lower the channel's part_size "
            "option (the file then goes up in smaller parts).",
            unforeseeable="a proxy's body limit below the documented 128 MB"),
        10002: Code.permanent("Douyin refused the request's parameters: a govmedia bug, please "
                              "report it."),
        10003: Code.permanent("Douyin does not know this client_key: check the channel's "
                              "client_key credential."),
        10013: Code.permanent("The client_key and client_secret do not match: check both in the "
                              "Douyin open platform console."),
        29002002: Code.permanent("Douyin says the client_key is invalid: check the channel's "
                                 "client_key credential."),
        28001018: Code.permanent(
            "The app lacks this capability: apply for it in the Douyin open platform console "
            "(publishing needs scope video.create.bind, granted by the user and approved for "
            "the app)."),
        # 2190004 is "unverified" on the fact sheet.
        2190004: Code.permanent(
            "The app lacks this capability: apply for it in the Douyin open platform console."),
    },
)

# Where the classic envelope and the newer one keep a code, in the order they are read.
_CODE_PATHS: tuple[tuple[str, ...], ...] = (
    ("data", "error_code"), ("extra", "error_code"), ("extra", "sub_error_code"), ("err_no",),
)
_MESSAGE_PATHS: tuple[tuple[str, ...], ...] = (
    ("data", "description"), ("extra", "sub_description"), ("extra", "description"),
    ("err_msg",), ("message",),
)


def _dig(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _code(value: Any) -> int | None:
    """A non-zero error code as Douyin writes it (a number, or digits in a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    return value if isinstance(value, int) and value != 0 else None


def envelope_error(body: Any) -> tuple[int, str] | None:
    """``(code, message)`` of a Douyin answer that reports an error, else ``None``.

    The classic envelope succeeds only when ``data.error_code``,
    ``extra.error_code`` and ``extra.sub_error_code`` are all 0; the newer one
    when ``err_no`` is. Of several non-zero codes, the first govmedia knows
    wins (the specific one in ``data`` before ``extra``'s); the message ends
    with Douyin's ``logid``, which its support asks for.

    Example:
        >>> envelope_error({"data": {"error_code": 2190008, "description": "access_token过期"},
        ...                 "extra": {"error_code": 2190008, "logid": "2023120316"}})
        (2190008, 'access_token过期 (logid 2023120316)')
        >>> envelope_error({"data": {"error_code": 0, "item_id": "7"}, "extra": {"error_code": 0}})
    """
    if not isinstance(body, Mapping):
        return None
    codes = [c for c in (_code(_dig(body, p)) for p in _CODE_PATHS) if c is not None]
    if not codes:
        return None
    code = next((c for c in codes if c in ERRORS), codes[0])
    message = next((m for m in (_dig(body, p) for p in _MESSAGE_PATHS)
                    if isinstance(m, str) and m.strip() and m not in ("error", "success")),
                   f"error_code {code}")
    logid = _dig(body, ("extra", "logid")) or body.get("log_id")
    if id_or_none(logid) is not None:
        message = f"{message} (logid {logid})"
    return code, message


def caption(post: Post) -> str:
    r"""The ``text`` sent for *post*: its short text, then each tag as ``#话题`` not already there.

    Douyin's text is the video's title and caption in one; it "may contain
    #话题 and @昵称" (a topic ends at the next space). The short text is the
    post's ``text``, else its title, summary and link.

    Example:
        >>> import govmedia as gm
        >>> caption(gm.Post(text="中老铁路开通一周年 #一带一路", tags=("一带一路", "央企 出海")))
        '中老铁路开通一周年 #一带一路\n#央企出海'
    """
    # A topic already in the text counts wherever its `#` stands.
    return with_tags(short_text(post), post.tags, "douyin", platform="douyin", separator="\n",
                     after="anything")


def _who(channel: Channel, **more: Any) -> dict[str, Any]:
    """The query every content API wants: the user's ``open_id`` (and more)."""
    return {"open_id": channel.credentials["open_id"], **more}


@attrs.frozen
class _Session:
    """A chunked upload worth resuming, as a journal keeps it.

    `SavedUpload` binds it to the very file: one changed in place since is
    uploaded afresh, never spliced.
    """

    upload_id: str
    next_part: int  # 1-based: the first part Douyin has not acknowledged
    part_size: int
    size: int
    name: str

    def data(self) -> dict[str, Any]:
        return attrs.asdict(self)

    @classmethod
    def of(cls, saved: Mapping[str, Any] | None, like: _Session) -> _Session | None:
        """The saved session (of this file: `SavedUpload.recall`) when cut the same way; else ``None``."""
        if saved is None:
            return None
        upload_id, next_part = saved.get("upload_id"), count_or_none(saved.get("next_part"))
        if not isinstance(upload_id, str) or not upload_id or next_part is None:
            return None
        if not 1 <= next_part <= -(-like.size // like.part_size) + 1:
            return None
        return attrs.evolve(like, upload_id=upload_id, next_part=next_part)


class DouyinPlatform(BasePlatform):
    """Publish a video, or images (图文), to a Douyin user who authorised the app.

    Credentials: ``access_token`` and ``open_id`` of the user; with
    ``client_key`` and ``refresh_token`` (``client_secret`` is accepted but not
    needed to refresh) an expired token is refreshed, and the refresh token is
    renewed before it would expire. Options: ``base_url`` (default
    ``https://open.douyin.com``; the sandbox is
    ``https://open-sandbox.douyin.com``), ``part_size`` (bytes per upload part,
    default 10 MB; a video up to this size goes up in one request),
    ``poll_timeout`` (seconds to wait for the review, default 60),
    ``poll_interval`` (default 5), ``private_status`` and ``cover_tsp``.

    Example:
        >>> import govmedia as gm
        >>> ch = gm.Channel(platform="douyin", account="guozixiaoxin",
        ...                 credentials={"access_token": "act.example", "open_id": "ou_example"})
        >>> [p.rule for p in gm.Client().check(gm.Post(text="国资小新：今日发布"), ch)]
        ['douyin.media.required']
    """

    name: ClassVar[str] = "douyin"
    credential_keys: ClassVar[tuple[str, ...]] = ("access_token", "open_id")
    optional_credential_keys: ClassVar[tuple[str, ...]] = (
        "client_key", "client_secret", "refresh_token")
    options: ClassVar[Mapping[str, Option]] = {
        "base_url": Option(str, default=DEFAULT_BASE_URL, check=url_check(),
                           doc="the API's address (sandbox: https://open-sandbox.douyin.com)"),
        "part_size": Option(int, default=PART_DEFAULT, minimum=PART_MIN, maximum=SINGLE_MAX,
                            coerce=True,
                            doc="bytes per upload part; a video up to this size goes up in one "
                                "request"),
        "poll_timeout": Option(float, default=60.0, minimum=0.0, coerce=True,
                               doc="seconds to wait for Douyin's review before answering pending"),
        "poll_interval": Option(float, default=5.0, coerce=True, check=positive_seconds,
                                doc="seconds between looks at the review"),
        # The meaning of each value is "unverified" on the fact sheet.
        "private_status": Option(int, choices=(0, 1, 2), coerce=True,
                                 doc="0 public, 1 only the author, 2 friends (unverified)"),
        "cover_tsp": Option(float, minimum=0.0, coerce=True,
                            doc="the second of the video whose frame becomes the cover"),
    }
    auth = StaticToken("access_token", Header("access-token", "{}"), refresh=True)
    api_base: ClassVar[str] = DEFAULT_BASE_URL
    capabilities: ClassVar[Capabilities] = Capabilities(
        delete=False, metrics=True, repost=False, dedupe=False, reconcile=False,
        media_kinds=("video", "image"),
        counting=(
            "characters (code points) of the text sent, #topics included; 1,000 per a "
            "third-party client (unverified). No delete API on the fact sheet: delete in the "
            "Douyin app. Receipt.url is None (Douyin's share_url expires; it is in raw)"
        ),
        fields=("text", "title", "summary", "link", "tags", "media"),
    )
    errors = ERRORS
    rules: ClassVar[tuple[Rule, ...]] = RULES
    tag_style: ClassVar[str] = "douyin"
    fake: ClassVar[str] = "govmedia.testing.douyin:FakeDouyin"

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """The keys, and a refresh token only together with the ``client_key`` it needs."""
        super().check_channel(channel)
        credentials = channel.credentials
        if credentials.get("refresh_token") and not credentials.get("client_key"):
            raise ConfigError(
                f"channel {channel.id}: a douyin refresh_token needs the app's client_key to be "
                "used; add client_key, or leave refresh_token out")

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """``douyin:CLIENT_KEY``: Douyin's QPS limits are per app and API."""
        client_key = channel.credentials.get("client_key")
        return (client_key,) if client_key and client_key != channel.account else ()

    # ----------------------------------------------------------- errors

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """The code of either envelope (`envelope_error`), else the HTTP status."""
        try:
            body = json_of(response)
        except PlatformError:
            body = None
        found = envelope_error(body)
        if found is not None:
            return found
        if 200 <= response.status_code < 300:
            return None
        return response.status_code, self.error_message(response)

    # ----------------------------------------------------------- checks

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: the text's length, and what the media make of the post."""
        problems = self.check_lengths(caption(post), "text")
        videos = [m for m in post.media if m.kind == "video"]
        images = [m for m in post.media if m.kind == "image"]
        others = [m for m in post.media if m.kind not in ("video", "image")]
        for item in others:
            problems.append(self.rule("douyin.media.kind").problem(
                f"{item.filename!r} is {item.mime_type}; Douyin takes videos and images only"))
        if not videos and not images:
            problems.append(self.rule("douyin.media.required").problem(
                "a Douyin post needs a video or images: text alone cannot be posted"))
        if len(videos) > 1 or (videos and images):
            problems.append(self.rule("douyin.media.mix").problem(
                f"the post has {len(videos)} video(s) and {len(images)} image(s); a Douyin post "
                "is one video, or images (图文)"))
        for video in videos:
            size = media_size(video)
            if size is not None and size > VIDEO_MAX:
                problems.append(self.rule("douyin.video.max_size").problem(
                    f"video {video.filename!r} is {size / MB:,.0f} MB; Douyin takes up to 4 GB"))
        return problems

    # ----------------------------------------------------------- publish

    def health_request(self, channel: Channel) -> httpx.Request:
        """``GET video_list/`` of one item: the access token and ``open_id`` work.

        The sheet has no user-info read; the user's own video list is the
        cheapest read it lists. It shows an expired or revoked token and a
        wrong ``open_id``; whether the app may still publish for the user
        (``video.create.bind``) shows only when it posts.
        """
        return self.request(channel, "GET", f"{VIDEO_API}/video_list/",
                            params=_who(channel, cursor=0, count=1))

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Upload the video (or the images), create the item, then wait for the review.

        *key* is not sent: Douyin takes no idempotency key.
        """
        opts = self.opts(channel)
        text = caption(post)
        video = next((m for m in post.media if m.kind == "video"), None)
        if post.cover is not None:
            logger.info("douyin [%s]: the cover is not sent (Douyin takes a frame of the video: "
                        "option cover_tsp)", channel.account)
        raw: dict[str, Any] = {"open_id": channel.credentials["open_id"]}
        if video is not None:
            raw["video_id"] = video_id = yield from self._upload_video(video, channel, opts)
            body: dict[str, Any] = {"video_id": video_id, "text": text}
            if opts.private_status is not None:
                body["private_status"] = opts.private_status
            if opts.cover_tsp is not None:
                body["cover_tsp"] = opts.cover_tsp
            path = "/create_video/"
        else:
            image_ids = []
            for image in post.media:
                image_id = yield from self._upload_image(image, channel)
                image_ids.append(image_id)
            raw["image_ids"] = image_ids
            body = {"image_list": image_ids, "text": text}
            path = "/create_image_text/"
        item_id = yield from self._create(channel, path, body)
        raw["item_id"] = item_id
        yield Checkpoint("created", {k: raw[k] for k in ("item_id", "video_id", "image_ids")
                                     if k in raw})
        receipt: Receipt = yield from self._await_review(channel, opts, item_id, raw)
        return receipt

    def _create(self, channel: Channel, path: str, body: dict[str, Any]) -> Flow[str]:
        """``create_video``/``create_image_text``, sent once: Douyin does not deduplicate."""
        try:
            # create_image_text's answer field is "unverified" on the fact
            # sheet; public clients read data.item_id for both creates.
            answer = yield from self.call(channel, "POST", VIDEO_API + path, params=_who(channel),
                                          json=body, creates=True, expect=("data.item_id",))
        except DeliveryUnknown as exc:
            raise exc.evolve(note=(
                f"{path.strip('/')} may have made the item: look at the account's works in the "
                "Douyin app before sending again")) from exc
        return str(answer["data"]["item_id"])

    # ----------------------------------------------------------- review

    def _await_review(self, channel: Channel, opts: Options, item_id: str,
                      raw: dict[str, Any]) -> Flow[Receipt]:
        item, _ = yield from self.poll(
            lambda: self._look(channel, item_id), _reviewed,
            interval=opts.poll_interval, timeout=opts.poll_timeout)
        return self._receipt(channel, item_id, item, raw)

    def _look(self, channel: Channel, item_id: str) -> Flow[dict[str, Any] | None]:
        """The item as ``video_data`` lists it, or ``None`` while Douyin does not list it yet."""
        # A POST that only reads: resent freely.
        answer = yield from self.call(channel, "POST", f"{VIDEO_API}/video_data/",
                                      params=_who(channel), json={"item_ids": [item_id]},
                                      safe=True, creates=False)
        listed = _dig(answer, ("data", "list"))
        for item in listed if isinstance(listed, list) else ():
            if isinstance(item, dict) and str(item.get("item_id")) == item_id:
                return item
        return None

    def _receipt(self, channel: Channel, item_id: str, item: dict[str, Any] | None,
                 raw: dict[str, Any]) -> Receipt:
        if item is not None:
            raw.update({k: item[k] for k in ("video_status", "is_reviewed", "share_url",
                                             "media_type", "create_time") if k in item})
        if not _reviewed(item):
            return Receipt(channel=channel, remote_id=item_id, state="pending", raw=raw)
        status = count_or_none(item.get("video_status")) if item is not None else None
        if status == _REFUSED_STATUS:
            raise ContentRejected(
                f"Douyin's review refused item {item_id} (video_status 2, 不适宜公开); the item "
                "stays on the account, visible to its author only",
                platform=self.name, account=channel.account, code="video_status 2",
                known={"item_id": item_id},
                hint=("Change the content and publish it with a new key; delete the refused item "
                      "in the Douyin app if it should not stay."))
        state: ReceiptState = "published" if status in _PUBLISHED_STATUS else "pending"
        # Douyin's share_url "may expire": raw keeps it, the receipt's url stays None.
        return Receipt(channel=channel, remote_id=item_id, url=None, state=state, raw=raw)

    # ----------------------------------------------------------- recover

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Poll the item an earlier run created; without its id, leave the delivery in doubt.

        Douyin has no idempotency key and nothing hidden to look for, so a
        create whose answer was lost cannot be found with certainty: it stays
        `DeliveryUnknown` (check the works list in the app, then settle it with
        ``client.resolve``). Nothing is ever created a second time here.
        """
        item_id = id_or_none(doubt.data.get("item_id"))
        if item_id is not None:
            raw: dict[str, Any] = {k: doubt.data[k] for k in ("video_id", "image_ids")
                                   if doubt.data.get(k)}
            raw.update(open_id=channel.credentials["open_id"], item_id=str(item_id))
            receipt: Receipt = yield from self._await_review(channel, self.opts(channel),
                                                             str(item_id), raw)
            return receipt
        yield from ()
        raise DeliveryUnknown(
            f"an earlier run left this delivery '{doubt.state}' without learning the item id; "
            "the create may have been applied, and Douyin can neither deduplicate nor be asked: "
            "look at the account's works in the Douyin app, then settle it with client.resolve",
            platform=self.name, account=channel.account, known=doubt.data)

    # ----------------------------------------------------------- metrics

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Plays, likes (digg), shares and comments from ``video_data``'s ``statistics``."""
        item = yield from self._look(receipt.channel, receipt.remote_id)
        if item is None:
            return Metrics(raw={"reason": f"video_data does not list item {receipt.remote_id}"})
        stats = item.get("statistics")
        stats = stats if isinstance(stats, dict) else {}
        return Metrics(views=count_or_none(stats.get("play_count")),
                       likes=count_or_none(stats.get("digg_count")),
                       shares=count_or_none(stats.get("share_count")),
                       comments=count_or_none(stats.get("comment_count")), raw=item)

    # ----------------------------------------------------------- media

    def _upload_image(self, image: Media, channel: Channel) -> Flow[str]:
        data = yield from self.fetch(image, channel)
        # An upload makes nothing readers see: resent freely, before the point of no return.
        answer = yield from self.call(
            channel, "POST", f"{VIDEO_API}/upload_image/", params=_who(channel),
            files={"image": (image.filename, data, image.mime_type)}, safe=True, creates=False,
            expect=("data.image.image_id",))
        return str(answer["data"]["image"]["image_id"])

    def _upload_video(self, video: Media, channel: Channel, opts: Options) -> Flow[str]:
        """The video's ``video_id``: one request up to ``part_size``, else in parts."""
        if video.url is not None:
            # A download is held in memory (up to the toolkit's limit for
            # downloads); a local file is streamed from disk.
            data = yield from self.fetch(video, channel)
            video = Media.from_bytes(data, filename=video.filename, mime_type=video.mime_type)
        size = media_size(video)
        if size is None:
            raise ConfigError(f"channel {channel.id}: cannot read video {video.filename!r}")
        if size <= opts.part_size:
            body, kind = multipart_part(video, 0, size, field="video")
            answer = yield from self.call(
                channel, "POST", f"{VIDEO_API}/upload_video/", params=_who(channel),
                content=body, headers={"Content-Type": kind}, safe=True, creates=False,
                expect=("data.video.video_id",))
            del body
            yield Uploaded(video.filename, sent=size, total=size)
            return str(answer["data"]["video"]["video_id"])
        video_id: str = yield from self._upload_parts(video, size, channel, opts)
        return video_id

    def _upload_parts(self, video: Media, size: int, channel: Channel, opts: Options) -> Flow[str]:
        """Open a session, send each part from disk, complete; resume a session a run saved."""
        part_size = opts.part_size
        saved: Any = yield Recall()  # a dict, answered by the pipeline
        upload = SavedUpload.of(video, "upload")
        fresh = _Session("", 1, part_size, size, video.filename)
        session = _Session.of(upload.recall(saved, part_size=part_size, size=size,
                                            name=video.filename), fresh)
        if session is not None:
            logger.info("douyin [%s]: resuming the upload of %s at part %d", channel.account,
                        video.filename, session.next_part)
            try:
                yield from self._send_parts(video, session, upload, channel)
                video_id: str = yield from self._complete(session, upload, channel)
            except PlatformError as exc:
                if not refused(exc):
                    raise
                # Douyin gives no lifetime for an upload_id (not on the fact
                # sheet): one it refuses now is started afresh, once.
                logger.info("douyin [%s]: the saved upload of %s was refused (%s); starting over",
                            channel.account, video.filename, exc.code)
            else:
                return video_id
        answer = yield from self.call(channel, "POST", f"{VIDEO_API}/init_video_part_upload/",
                                      params=_who(channel), safe=True, creates=False,
                                      expect=("data.upload_id",))
        session = attrs.evolve(fresh, upload_id=str(answer["data"]["upload_id"]))
        yield upload.save("uploading", session.data())
        yield from self._send_parts(video, session, upload, channel)
        video_id = yield from self._complete(session, upload, channel)
        return video_id

    def _send_parts(self, video: Media, session: _Session, upload: SavedUpload,
                    channel: Channel) -> Flow[None]:
        """Each part from the session's next one on, read from disk straight into its body."""
        last = -(-session.size // session.part_size)
        for number in range(session.next_part, last + 1):
            offset = (number - 1) * session.part_size
            length = min(session.part_size, session.size - offset)
            # Not read_parts: the part goes straight into the multipart body, so
            # it is in memory once while it is sent (benchmarks/upload_rss.py).
            body, kind = multipart_part(video, offset, length, field="video")
            # Sending part N again replaces it: a part that failed, or whose
            # answer was lost, is resent by itself.
            yield from self.call(
                channel, "POST", f"{VIDEO_API}/upload_video_part/",
                params=_who(channel, upload_id=session.upload_id, part_number=number),
                content=body, headers={"Content-Type": kind}, safe=True, creates=False)
            del body
            done = attrs.evolve(session, next_part=number + 1)
            yield from upload.sent(video.filename, done.data(), sent=offset + length,
                                   total=session.size)

    def _complete(self, session: _Session, upload: SavedUpload, channel: Channel) -> Flow[str]:
        # Completing makes a video nobody sees until create_video uses it; a
        # resend after a lost answer at worst fails and the upload starts over.
        answer = yield from self.call(
            channel, "POST", f"{VIDEO_API}/complete_video_part_upload/",
            params=_who(channel, upload_id=session.upload_id), safe=True, creates=False,
            expect=("data.video.video_id",))
        # The session is spent: a later run must not resume it.
        yield upload.forget()
        return str(answer["data"]["video"]["video_id"])

    # ----------------------------------------------------------- auth

    def refresh(self, channel: Channel, token: Token) -> Flow[Token]:
        """``oauth/refresh_token``, then ``oauth/renew_refresh_token`` when the refresh token is near its end.

        A renewal that fails keeps the refreshed access token (logged): the
        user then has until the refresh token expires to authorise again.
        """
        response = yield self.refresh_request(channel, token)
        fresh = self.token_from(response, channel, previous=token)
        if not _renewal_due(fresh):
            return fresh
        try:
            response = yield self.request(
                channel, "POST", "/oauth/renew_refresh_token/", creates=False,
                data={"client_key": channel.credentials["client_key"],
                      "refresh_token": fresh.refresh_token})
            renewed = self._renewed(response, channel, fresh)
        except PlatformError as exc:
            logger.warning(
                "douyin [%s]: renewing the refresh token failed (%s); it expires in %.0f days, "
                "after which the user must authorise the app again", channel.account, exc.code,
                max(0.0, ((fresh.refresh_expires_at or 0) - time.time()) / 86400))
            return fresh
        logger.warning(
            "douyin [%s]: the refresh token was renewed (renew_refresh_token); the one in the "
            "channel's credentials may no longer work. Keep tokens in a persistent store "
            "(gm.Client(tokens=...)) or update the credentials", channel.account)
        return renewed

    def refresh_request(self, channel: Channel, token: Token) -> httpx.Request:
        """``POST /oauth/refresh_token/``, form-encoded; the refresh token travels in the body."""
        client_key = channel.credentials.get("client_key")
        if not client_key or not token.refresh_token:
            raise AuthError(
                "the access token was refused and the channel has no client_key and "
                "refresh_token to refresh it", platform=self.name, account=channel.account,
                code="no_refresh_token",
                hint="Authorise the account again in the browser, or add client_key and "
                     "refresh_token to the channel's credentials.")
        # Refreshing again with the same refresh token is harmless (it only
        # extends the access token): resent freely.
        return self.request(channel, "POST", "/oauth/refresh_token/", safe=True, creates=False,
                            data={"client_key": client_key, "grant_type": "refresh_token",
                                  "refresh_token": token.refresh_token})

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """``data{access_token, expires_in, open_id, refresh_token, refresh_expires_in}``."""
        answer = self.answer(response, channel, expect=("data.access_token",))
        data = answer["data"]
        open_id = data.get("open_id")
        if open_id and open_id != channel.credentials["open_id"]:
            raise AuthError(
                "the refreshed token belongs to another Douyin user than the channel's open_id",
                platform=self.name, account=channel.account, code="open_id_mismatch",
                hint="Check the channel's open_id and refresh_token: they belong to two users.")
        refresh_token = text_or_none(data.get("refresh_token")) or (
            previous.refresh_token if previous is not None else None)
        refresh_expires = seconds_or_none(data.get("refresh_expires_in"), most=_MAX_LIFETIME)
        if refresh_expires is None and previous is not None and previous.refresh_expires_at:
            refresh_expires = max(0.0, previous.refresh_expires_at - time.time())
        return Token(value=str(data["access_token"]),
                     expires_in=seconds_or_none(data.get("expires_in"), most=_MAX_LIFETIME),
                     refresh_token=refresh_token, refresh_expires_in=refresh_expires)

    def _renewed(self, response: httpx.Response, channel: Channel, fresh: Token) -> Token:
        answer = self.answer(response, channel, expect=("data.refresh_token",))
        data = answer["data"]
        lifetime = seconds_or_none(data.get("expires_in"), most=_MAX_LIFETIME)
        elapsed = time.time() - fresh.issued_at
        return attrs.evolve(fresh, refresh_token=str(data["refresh_token"]),
                            refresh_expires_in=None if lifetime is None else elapsed + lifetime)


def _reviewed(item: dict[str, Any] | None) -> bool:
    """True once Douyin's review of *item* has ended (either way)."""
    return (item is not None and item.get("is_reviewed") is True
            and count_or_none(item.get("video_status")) != _IN_REVIEW_STATUS)


def _renewal_due(token: Token) -> bool:
    refresh_at, access_at = token.refresh_expires_at, token.expires_at
    if refresh_at is None or not token.refresh_token:
        return False  # no expiry known: renewals are few (5, unverified), do not spend one blindly
    horizon = access_at if access_at is not None else time.time()
    return refresh_at <= horizon + _RENEW_MARGIN

