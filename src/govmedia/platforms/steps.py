"""The steps a platform flow yields, and the marks its requests carry.

A flow is a generator: it yields an `httpx.Request` to send (marked with
`retry_safe`, `creates`/`prepares` or `external` where that matters), a
`Sleep` to wait, or a `Checkpoint` to report what it learnt; it receives the
`httpx.Response` of each request once the pipeline accepted it.

Example:
    >>> import httpx
    >>> from govmedia.platforms.steps import creates, is_retry_safe, retry_safe
    >>> request = creates(retry_safe(httpx.Request("POST", "https://x.example/statuses")))
    >>> is_retry_safe(request)
    True
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Generator, Mapping
from typing import Any, TypeAlias, TypeVar

import attrs
import httpx

from govmedia._json import compact_bytes
from govmedia.errors import AuthError, PlatformError
from govmedia.tokens import Token

__all__ = [
    "Checked",
    "Checkpoint",
    "Doubt",
    "Flow",
    "Recall",
    "Sleep",
    "Step",
    "Uploaded",
    "count_or_none",
    "creates",
    "creates_something",
    "external",
    "id_or_none",
    "int_or_none",
    "is_external",
    "is_retry_safe",
    "json_body",
    "json_of",
    "oauth2_token",
    "prepares",
    "release",
    "retry_safe",
    "same_text",
    "seconds_or_none",
    "text_or_none",
]

T = TypeVar("T")


@attrs.frozen
class Sleep:
    """A step that waits *seconds* before the flow goes on (polling, say)."""

    seconds: float


@attrs.frozen
class Uploaded:
    """A step that reports upload progress: *sent* of *total* bytes of *filename*.

    Yield one after each acknowledged part of a chunked upload; a fan-out hands
    it, as a `govmedia.UploadProgress`, to a progress object that has an
    ``upload`` method (the CLI's bar does). Nothing is sent for it.

    Example:
        >>> from govmedia.platforms.steps import Uploaded
        >>> Uploaded("video.mp4", sent=8 << 20, total=1 << 30).sent
        8388608
    """

    filename: str
    sent: int = attrs.field(kw_only=True)
    total: int | None = attrs.field(kw_only=True, default=None)


@attrs.frozen
class Checkpoint:
    """A step that reports what the flow has learnt (ids), under a stage name.

    Before the point of no return its data travels with the journal claim
    (or, with ``save=True``, is written at once: an upload session worth
    resuming); after it, it is written to the journal before the flow goes
    on, and a re-run of an interrupted delivery gets the latest stage and all
    data in `Doubt`. Values must be JSON-serialisable and hold no secret.

    Example:
        >>> from govmedia.platforms.steps import Checkpoint
        >>> Checkpoint("submitted", {"publish_id": "2247483001"}).stage
        'submitted'
    """

    stage: str
    data: Mapping[str, Any] = attrs.field(factory=dict)
    save: bool = attrs.field(default=False, kw_only=True)


@attrs.frozen
class Recall:
    """A step asking what an earlier run saved for this delivery; answered with a dict.

    A chunked upload that saved its session with ``Checkpoint(..., save=True)``
    asks this before starting, and resumes from what it gets (``{}`` on a
    first run, or outside a journal-backed fan-out).

    Example:
        >>> from govmedia.platforms.steps import Recall
        >>> Recall()
        Recall()
    """


@attrs.frozen(kw_only=True)
class Checked:
    """What a platform's `health` check learnt: the channel can publish.

    Attributes:
        expires_at: when the credential stops working (an aware datetime),
            where the answer says; ``None`` when it does not.
        who: the account the credential acts for, as the platform names it.

    Example:
        >>> from govmedia.platforms.steps import Checked
        >>> Checked(who="@sasac").expires_at is None
        True
    """

    expires_at: dt.datetime | None = None
    who: str | None = None


@attrs.frozen(kw_only=True)
class Doubt:
    """What a journal-backed re-run knows of a delivery an earlier run left in doubt.

    Attributes:
        state: the journal state it was left in (``sending`` or ``unknown``).
        stage: the last `Checkpoint` stage recorded (``None``: only the claim).
        data: every checkpoint's data, merged (ids learnt, markers).
        age: seconds since a create of it may first have been applied
            (``None``: not known).
    """

    state: str = "sending"
    stage: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    age: float | None = None

    def within(self, window: float | None, *, margin: float = 0.9) -> bool:
        """True while a key the platform keeps *window* seconds is surely still kept."""
        return window is None or (self.age is not None and self.age < window * margin)


Step: TypeAlias = httpx.Request | Sleep | Checkpoint | Uploaded | Recall
Flow: TypeAlias = Generator[Step, httpx.Response, T]

_RETRY_SAFE = "govmedia.retry_safe"
_CREATES = "govmedia.creates"
_EXTERNAL = "govmedia.external"


def retry_safe(request: httpx.Request) -> httpx.Request:
    """Mark a write as safe to resend after it may have been applied.

    Use it where the platform deduplicates (an ``Idempotency-Key`` it honours)
    or where the POST only reads (WeChat's ``freepublish/get``). Reads by
    method (GET, HEAD, OPTIONS) are safe already.
    """
    request.extensions[_RETRY_SAFE] = True
    return request


def is_retry_safe(request: httpx.Request) -> bool:
    """True when *request* may be sent again after a possibly-applied failure."""
    return request.method in ("GET", "HEAD", "OPTIONS") or bool(
        request.extensions.get(_RETRY_SAFE)
    )


def creates(request: httpx.Request) -> httpx.Request:
    """Mark *request* as one that may create something readers see (the point of no return).

    A create, a submit, a repost. A write that leaves nothing a reader sees
    (an upload of media the post will attach, a token fetch, a status read
    sent as POST) is marked with `prepares` instead. A write left unmarked
    counts as a create, so a platform that declares nothing is judged as
    strictly as before: the journal claims it before its first write.

    Example:
        >>> import httpx
        >>> from govmedia.platforms.base import creates, creates_something, prepares
        >>> creates_something(creates(httpx.Request("POST", "https://x.example/posts")))
        True
        >>> creates_something(prepares(httpx.Request("POST", "https://x.example/media")))
        False
    """
    request.extensions[_CREATES] = True
    return request


def prepares(request: httpx.Request) -> httpx.Request:
    """Mark *request* as one that creates nothing readers see (see `creates`)."""
    request.extensions[_CREATES] = False
    return request


def creates_something(request: httpx.Request) -> bool:
    """True when *request* may create something (see `creates`)."""
    marked = request.extensions.get(_CREATES)
    if marked is not None:
        return bool(marked)
    return request.method not in ("GET", "HEAD", "OPTIONS")


def external(request: httpx.Request) -> httpx.Request:
    """Mark *request* as going to another host than the platform's (a media download).

    The pipeline never applies the channel's credentials to it.
    """
    request.extensions[_EXTERNAL] = True
    return request


def is_external(request: httpx.Request) -> bool:
    """True when *request* was marked with `external`."""
    return bool(request.extensions.get(_EXTERNAL))


def json_of(response: httpx.Response, *, platform: str = "", account: str | None = None) -> Any:
    """The JSON body of a response the pipeline accepted.

    A body that is not JSON (empty, as a 204 is, an HTML page, bytes that
    are not UTF-8, arrays nested too deep to read) raises `PlatformError`
    with code ``"bad_response"``, naming *platform* and *account* where
    given. After a write (any method but GET, HEAD and OPTIONS) it is
    ``maybe_applied``: the server answered, so it may have applied the write.

    Example:
        >>> import httpx
        >>> from govmedia.platforms.steps import json_of
        >>> request = httpx.Request("POST", "https://social.example/api/v1/statuses")
        >>> err = None
        >>> try:
        ...     json_of(httpx.Response(204, request=request), platform="mastodon")
        ... except Exception as exc:
        ...     err = exc
        >>> type(err).__name__, err.code, err.maybe_applied
        ('PlatformError', 'bad_response', True)
    """
    content = response.content
    try:
        if content[:1] in (b"{", b"[") and content[1:2] != b"\x00":
            # What json.loads(bytes) does for UTF-8 (no BOM, no UTF-16/32
            # zero bytes), without its Python-level encoding detection.
            return json.loads(content.decode("utf-8", "surrogatepass"))
        return json.loads(content)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, depth
        try:
            request: httpx.Request | None = response.request
        except RuntimeError:  # a response built by hand, without its request
            request = None
        write = request is not None and request.method not in ("GET", "HEAD", "OPTIONS")
        where = f" to {request.method} {request.url.path}" if request is not None else ""
        what = ("an empty body" if not response.content
                else "nested too deep" if isinstance(exc, RecursionError) else "not JSON")
        raise PlatformError(
            f"the answer{where} (HTTP {response.status_code}) is {what}; JSON was expected",
            platform=platform, account=account, code="bad_response", response=response,
            maybe_applied=write,
            hint=("The server answered, so the write may have been applied: look at the "
                  "account before sending again." if write else None),
        ) from None


def release(response: httpx.Response) -> httpx.Response:
    """Let the request behind *response* (an upload part) be freed as soon as its answer is read.

    An `httpx.Client` or `httpx.AsyncClient` (a user's ``http=``, the
    sandbox's) binds each response to its stream in a reference cycle
    (response → stream → response), so the request the response holds, with
    its body, lives on until Python's next full garbage collection: in a long
    chunked upload that can be hundreds of parts later. Once the body is
    read the stream is not needed; this puts the bytes already read in its
    place, which breaks the cycle. Call it on the answer to each large
    upload request, before reading the next part.

    Example:
        >>> import httpx
        >>> from govmedia.platforms.steps import release
        >>> ok = httpx.MockTransport(lambda request: httpx.Response(200, json={"result": 1}))
        >>> http = httpx.Client(transport=ok)
        >>> response = release(http.post("https://x.example/part", content=bytes(1 << 20)))
        >>> response.json(), type(response.stream).__name__
        ({'result': 1}, 'ByteStream')
    """
    try:
        content = response.content
    except httpx.ResponseNotRead:
        return response  # still streaming: its stream is still needed
    response.stream = httpx.ByteStream(content)
    return response


def text_or_none(value: Any) -> str | None:
    """*value* where an answer gave a non-empty string (a URL, a title), else ``None``.

    Example:
        >>> from govmedia.platforms.steps import text_or_none
        >>> text_or_none("https://x.example/1"), text_or_none({"href": "x"}), text_or_none("")
        ('https://x.example/1', None, None)
    """
    return value if isinstance(value, str) and value else None


def id_or_none(value: Any, *, most: int | None = None) -> str | None:
    r"""*value* as a string where an answer gave an id (a non-empty string or a whole number).

    *most*, for a platform whose ids are short strings (YouTube's): the
    longest one it gives. Then only a string of 1 to *most* printable ASCII
    characters is an id; a number, a longer string, or one with a control
    or non-ASCII character is garbage, kept out of URLs, logs and the journal.

    Example:
        >>> from govmedia.platforms.steps import id_or_none
        >>> id_or_none(2247483001), id_or_none("7"), id_or_none(""), id_or_none(True)
        ('2247483001', '7', None, None)
        >>> id_or_none("dQw4w9WgXcQ", most=64), id_or_none(7, most=64), id_or_none("a\nb", most=64)
        ('dQw4w9WgXcQ', None, None)
    """
    if most is not None:
        usable = (isinstance(value, str) and 0 < len(value) <= most and value.isascii()
                  and value.isprintable())
        return value if usable else None
    if isinstance(value, str):
        return value or None
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else None


def int_or_none(value: Any) -> int | None:
    """*value* where an answer gave a whole number (a state, a code, an index), else ``None``.

    A bool is no number here, nor are digits in a string; a negative number
    is one (Bilibili's review states are). For counts, `count_or_none`.

    Example:
        >>> from govmedia.platforms.steps import int_or_none
        >>> int_or_none(-2), int_or_none(True), int_or_none("3"), int_or_none(2.0)
        (-2, None, None, None)
    """
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def count_or_none(value: Any, *, digits: bool = False) -> int | None:
    """*value* where an answer gave a whole number >= 0 (a count), else ``None``, never 0.

    A count a platform leaves out, or gives as a string, a bool or a
    negative number, is not a count: `gm.Metrics` says ``None`` for it.
    *digits*, for a platform that gives its counts as strings (YouTube's
    ``"1204"``): a string of 1 to 20 ASCII digits counts too (no sign, no
    space, no other script's digits).

    Example:
        >>> from govmedia.platforms.steps import count_or_none
        >>> count_or_none(12), count_or_none(True), count_or_none("12"), count_or_none(None)
        (12, None, None, None)
        >>> [count_or_none(v, digits=True) for v in ("1204", "-3", 7)]
        [1204, None, 7]
    """
    if digits and isinstance(value, str):
        usable = value.isascii() and value.isdigit() and len(value) <= 20
        return int(value) if usable else None
    number = int_or_none(value)
    return number if number is not None and number >= 0 else None


def same_text(found: Any, sent: str) -> bool:
    r"""True when an answer's text (a feed post's message) is the text sent, white space aside.

    Platforms trim and fold white space as they store a post, so a lost
    create is looked up by its text this way (Facebook's feed, Kuaishou's list).

    Example:
        >>> from govmedia.platforms.steps import same_text
        >>> same_text("中老铁路 开通\n一周年 ", "中老铁路  开通 一周年"), same_text(None, "x")
        (True, False)
    """
    return isinstance(found, str) and _SPACE.sub(" ", found).strip() == _SPACE.sub(" ", sent).strip()


_SPACE = re.compile(r"\s+")


def seconds_or_none(value: Any, *, most: float) -> float | None:
    """*value* where an answer gave a lifetime (``expires_in``): more than 0 and at most *most*.

    A lifetime beyond *most* seconds is garbage (a timestamp where a
    duration belongs, say), as is a bool, a string or 0: ``None``, and the
    caller falls back to what the platform documents.

    Example:
        >>> from govmedia.platforms.steps import seconds_or_none
        >>> day = 86400
        >>> [seconds_or_none(v, most=day) for v in (7200, 1.7e9, "7200", True)]
        [7200.0, None, None, None]
    """
    usable = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= most
    return float(value) if usable else None


def oauth2_token(response: httpx.Response, *, platform: str, account: str | None,
                 previous: Token | None, lifetime: float, most: float) -> Token:
    """The `Token` in an OAuth 2.0 token answer (RFC 6749 5.1: access_token, expires_in, refresh_token).

    *lifetime*: what the platform documents, used when ``expires_in`` is
    missing or beyond *most* seconds. A refresh that gives no new refresh
    token keeps *previous*'s (Google's never do; X's rotate).

    Example:
        >>> import httpx
        >>> from govmedia.platforms.steps import oauth2_token
        >>> answer = httpx.Response(200, json={"access_token": "acc-1", "expires_in": 3599})
        >>> token = oauth2_token(answer, platform="youtube", account="@sasac", previous=None,
        ...                      lifetime=3600, most=86400)
        >>> token.expires_in, token.refresh_token is None
        (3599.0, True)
    """
    body = json_of(response, platform=platform, account=account)
    access = body.get("access_token") if isinstance(body, Mapping) else None
    if not isinstance(access, str) or not access:
        raise AuthError("the token endpoint answered without an access_token", platform=platform,
                        account=account, code="bad_response")
    renewed = text_or_none(body.get("refresh_token"))
    if renewed is None and previous is not None:
        renewed = previous.refresh_token
    return Token(value=access,
                 expires_in=seconds_or_none(body.get("expires_in"), most=most) or lifetime,
                 refresh_token=renewed)


def json_body(data: Any) -> bytes:
    """Encode *data* as compact UTF-8 JSON with characters kept raw (WeChat needs that)."""
    return compact_bytes(data)  # one C encoder for every body: json.dumps builds one per call
