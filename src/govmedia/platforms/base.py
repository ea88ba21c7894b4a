"""The protocol every platform implements, and the base class that helps.

A platform holds no I/O. Each flow (`publish`, `delete`, `metrics`,
`authenticate`) is a generator that yields *steps*, an `httpx.Request` to send
or a `Sleep`, and receives the `httpx.Response` of each request once it passed
the client's pipeline (rate limit, send, classify, retry). The same code so
serves `Client` and `AsyncClient`, and tests can drive a flow step by step.

A request is sent with the channel's credentials applied by `authorize` on each
attempt, so a refreshed token or a fresh signature timestamp is used on retry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Mapping
from typing import Any, ClassVar, Protocol, TypeAlias, TypeVar, runtime_checkable

import attrs
import httpx

from govmedia.errors import (
    AuthError,
    ConfigError,
    ContentRejected,
    PlatformError,
    RateLimited,
    TransientError,
)
from govmedia.model import Channel, Metrics, Post, Problem, Receipt
from govmedia.policy.retry import retry_after_from

__all__ = [
    "BasePlatform",
    "Capabilities",
    "Flow",
    "Platform",
    "Sleep",
    "Step",
    "Token",
    "is_retry_safe",
    "retry_safe",
]

T = TypeVar("T")

COMMON_OPTIONS = ("script", "fit")
"""Options every platform takes: ``script`` converts the text on the way out
(OpenCC); ``fit = true`` shortens an over-long text to the platform's limit
instead of refusing it."""


@attrs.frozen
class Sleep:
    """A step that waits *seconds* before the flow goes on (polling, say)."""

    seconds: float


Step: TypeAlias = httpx.Request | Sleep
Flow: TypeAlias = Generator[Step, httpx.Response, T]

_RETRY_SAFE = "govmedia.retry_safe"


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


@attrs.frozen(kw_only=True)
class Token:
    """An access token and the monotonic time it expires at (``None``: never)."""

    value: str = attrs.field(repr=False)
    expires_in: float | None = None


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a platform can do, read by the client and by the docs' feature table.

    Example:
        >>> import govmedia as gm
        >>> gm.platforms.get("mastodon").capabilities.dedupe
        True
    """

    publish: bool = True
    delete: bool = False
    metrics: bool = False
    repost: bool = False
    dedupe: bool = False
    """Creates carry an idempotency key the platform honours (safe resend)."""
    dedupe_window: float | None = None
    """Seconds the platform remembers an idempotency key (``None``: for good)."""
    reconcile: bool = False
    """A possibly-applied create can be looked up (`reconcile`) before resending."""
    refresh: bool = False
    """Expired tokens are refreshed from the credentials."""
    text_max: int | None = None
    title_max: int | None = None
    media_max: int | None = None
    media_kinds: tuple[str, ...] = ()
    counting: str = ""
    """How text length is counted, in words for the docs."""
    fields: tuple[str, ...] = ()
    """Which `Post` fields the platform sends."""


@runtime_checkable
class Platform(Protocol):
    """The protocol of a platform plugin; `BasePlatform` implements the defaults."""

    name: ClassVar[str]
    credential_keys: ClassVar[tuple[str, ...]]
    optional_credential_keys: ClassVar[tuple[str, ...]]
    option_keys: ClassVar[tuple[str, ...]]
    capabilities: ClassVar[Capabilities]

    def check_channel(self, channel: Channel) -> None:
        """Raise `ConfigError` when *channel* cannot be used on this platform."""

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: the problems *post* would meet on *channel*."""

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Publish *post*; *key* is the idempotency key derived for this channel."""

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Remove a published post."""

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Read a published post's counts."""

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """Repost/boost *original* from *channel* (amplify mode)."""

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """True when *channel* can repost *original* natively."""

    def reconcile(self, post: Post, channel: Channel, key: str) -> Flow[Receipt | None]:
        """Find a possibly-applied create by its marker; ``None`` if absent."""

    def authenticate(self, channel: Channel) -> Flow[Token]:
        """Fetch an access token (platforms whose tokens expire)."""

    def token_scope(self, channel: Channel) -> str:
        """The key tokens are cached under: one per app, shared by its channels."""

    def authorize(
        self, request: httpx.Request, channel: Channel, token: Token | None
    ) -> httpx.Request:
        """Apply credentials to *request* just before each attempt is sent."""

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """``None`` for success, else the error the response means."""

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """Rate-limit keys besides ``platform`` and ``platform:account`` (an app id)."""


def _as_kind(value: Any) -> type[PlatformError]:
    if isinstance(value, type) and issubclass(value, PlatformError):
        return value
    raise TypeError(value)


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def _snippet(text: str, limit: int = 200) -> str:
    """A short, tag-free excerpt of an error body (HTML error pages, say)."""
    text = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    return text[:limit] + ("…" if len(text) > limit else "")


class BasePlatform:
    """Defaults for a platform: HTTP-status errors, no refresh, no delete/metrics.

    A subclass sets the class attributes, `error_codes` (its code table) and
    the flows it supports; flows it lacks raise `ConfigError`.

    Example:
        >>> import httpx
        >>> import govmedia as gm
        >>> from govmedia.platforms.base import json_body, retry_safe
        >>> class NoticeBoardPlatform(gm.BasePlatform):
        ...     name = "notice_board"
        ...     credential_keys = ("api_key",)
        ...     option_keys = ("url",)
        ...     def publish(self, post, channel, key):
        ...         request = httpx.Request("POST", channel.options["url"],
        ...                                 content=json_body({"text": post.text, "id": key}))
        ...         response = yield retry_safe(request)  # the board dedupes on "id"
        ...         return gm.Receipt(channel=channel, remote_id=response.json()["id"])
    """

    name: ClassVar[str] = ""
    credential_keys: ClassVar[tuple[str, ...]] = ()
    optional_credential_keys: ClassVar[tuple[str, ...]] = ()
    option_keys: ClassVar[tuple[str, ...]] = ()
    required_options: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()

    error_codes: ClassVar[Mapping[int | str, type[PlatformError]]] = {}
    """The platform's own codes (or HTTP statuses) mapped to error classes."""
    quota_codes: ClassVar[frozenset[int | str]] = frozenset()
    """Rate-limit codes with no known reset (daily quotas): raised at once."""
    uses_token: ClassVar[bool] = False
    """Requests need a token from `authenticate`, cached per `token_scope`."""
    json_responses: ClassVar[bool] = True
    """Successful responses carry JSON; a 2xx that does not parse is suspect."""

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """Raise `ConfigError` naming what is wrong with *channel*'s setup."""
        # Runs once per channel per client, so once per delivery in a
        # fan-out: the common, valid case is a few set comparisons.
        credentials, options = channel.credentials, channel.options
        known_credentials, known_options = self._known_keys()
        if (
            all(credentials.get(k) for k in self.credential_keys)
            and credentials.keys() <= known_credentials
            and options.keys() <= known_options
            and all(options.get(k) for k in self.required_options)
            and isinstance(options.get("fit", False), bool)
            and options.get("script") in (None, "traditional", "simplified")
        ):
            return
        self._channel_error(channel)

    def _known_keys(self) -> tuple[frozenset[str], frozenset[str]]:
        sources = (self.credential_keys, self.optional_credential_keys, self.option_keys)
        cached = type(self).__dict__.get("_known_keys_cache")
        # Keyed by the very tuples it was built from, so a platform that
        # sets its keys per instance (or patches them) is never judged by
        # stale sets.
        if cached is None or any(a is not b for a, b in zip(cached[0], sources, strict=True)):
            cached = (sources, frozenset((*sources[0], *sources[1])),
                      frozenset((*sources[2], *COMMON_OPTIONS)))
            type(self)._known_keys_cache = cached  # type: ignore[attr-defined]  # noqa: SLF001
        return cached[1], cached[2]

    def _channel_error(self, channel: Channel) -> None:
        """Raise the `ConfigError` that says what is wrong (the slow path)."""
        where = f"channel {channel.id}"
        missing = [k for k in self.credential_keys if not channel.credentials.get(k)]
        if missing:
            raise ConfigError(
                f"{where}: missing credential(s) {', '.join(missing)}; "
                f"{self.name} takes {self._describe_keys()}"
            )
        known = set(self.credential_keys) | set(self.optional_credential_keys)
        unknown = sorted(set(channel.credentials) - known)
        if unknown:
            raise ConfigError(
                f"{where}: unknown credential(s) {', '.join(unknown)}; "
                f"{self.name} takes {self._describe_keys()}"
            )
        bad_options = sorted(set(channel.options) - set(self.option_keys) - set(COMMON_OPTIONS))
        if bad_options:
            valid = ", ".join((*self.option_keys, *COMMON_OPTIONS))
            raise ConfigError(f"{where}: unknown option(s) {', '.join(bad_options)}; valid: {valid}")
        if not isinstance(channel.options.get("fit", False), bool):
            raise ConfigError(f"{where}: option fit must be true or false")
        script = channel.options.get("script")
        if script is not None and script not in ("traditional", "simplified"):
            raise ConfigError(
                f"{where}: option script must be 'traditional' or 'simplified', got {script!r}"
            )
        missing_opts = [k for k in self.required_options if not channel.options.get(k)]
        if missing_opts:
            raise ConfigError(f"{where}: missing option(s) {', '.join(missing_opts)}")

    def _describe_keys(self) -> str:
        text = ", ".join(self.credential_keys) or "no credentials"
        if self.optional_credential_keys:
            text += f" (optional: {', '.join(self.optional_credential_keys)})"
        return text

    def validate(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline checks; the base class finds nothing."""
        return []

    # ----------------------------------------------------------- flows

    def publish(self, post: Post, channel: Channel, key: str) -> Flow[Receipt]:
        """Publish *post* to *channel*."""
        raise ConfigError(f"{self.name} cannot publish")

    def delete(self, receipt: Receipt) -> Flow[None]:
        """Remove a published post."""
        raise ConfigError(f"{self.name} cannot delete posts (capabilities.delete is False)")

    def metrics(self, receipt: Receipt) -> Flow[Metrics]:
        """Read a published post's counts."""
        raise ConfigError(f"{self.name} gives no metrics (capabilities.metrics is False)")

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """Repost/boost *original* (another channel's receipt) from *channel*."""
        raise ConfigError(f"{self.name} cannot repost (capabilities.repost is False)")

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """True when *channel* can repost *original* natively (same instance, say)."""
        return self.capabilities.repost and original.channel.platform == channel.platform

    def reconcile(self, post: Post, channel: Channel, key: str) -> Flow[Receipt | None]:
        """Look for a create that may have been applied (by its hidden marker)."""
        raise ConfigError(f"{self.name} cannot look up earlier posts (capabilities.reconcile is False)")

    def authenticate(self, channel: Channel) -> Flow[Token]:
        """Fetch a token; platforms with static tokens never get here."""
        raise ConfigError(f"{self.name} has no token endpoint (channel {channel.id})")

    # ----------------------------------------------------------- transport hooks

    def token_scope(self, channel: Channel) -> str:
        """Cache tokens per channel by default."""
        return channel.id

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """No app-level rate scope by default."""
        return ()

    def authorize(
        self, request: httpx.Request, channel: Channel, token: Token | None
    ) -> httpx.Request:
        """Send *request* as built by default."""
        return request

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """Return ``(code, message)`` for an error response, ``None`` for success.

        The default reads the HTTP status and the body's ``error``/``message``.
        """
        if 200 <= response.status_code < 300:
            return None
        return response.status_code, self.error_message(response)

    def error_message(self, response: httpx.Response) -> str:
        """The most useful message an error body offers."""
        body = _json_or_none(response)
        if isinstance(body, Mapping):
            for name in ("error_description", "error", "message", "errmsg", "description"):
                value = body.get(name)
                if isinstance(value, str) and value:
                    return value
        text = _safe_text(response)
        return _snippet(text) if text else (response.reason_phrase or f"HTTP {response.status_code}")

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """Build the error *response* means, from `error_codes`, or ``None``."""
        ok_status = 200 <= response.status_code < 300 and response.status_code != 204
        if self.json_responses and ok_status and not _parses(response):
            # A 2xx whose body is cut short or is an HTML page: the write may
            # well have been applied, and the answer cannot tell.
            return TransientError(
                "the platform's answer was not valid JSON (truncated or an error page)",
                platform=self.name, account=channel.account, code="bad_response",
                response=response, maybe_applied=True,
            )
        details = self.error_details(response)
        if details is None:
            return None
        code, message = details
        kind = self.error_codes.get(code) or _by_status(response.status_code)
        kwargs: dict[str, Any] = {
            "platform": self.name, "account": channel.account, "code": code, "response": response,
        }
        if issubclass(kind, RateLimited):
            return RateLimited(message, retry_after=retry_after_from(response),
                               quota=code in self.quota_codes, **kwargs)
        if issubclass(kind, TransientError):
            # A bare 5xx may come after the write was applied; a platform code
            # that says "busy" means the platform refused it outright.
            kwargs["maybe_applied"] = code not in self.error_codes
        return kind(message, **kwargs)


def _by_status(status: int) -> type[PlatformError]:
    if status in (401, 403):
        return AuthError
    if status == 429:
        return RateLimited
    if status >= 500 or status == 408:
        return TransientError
    if status in (400, 413, 415, 422):
        return ContentRejected
    return PlatformError


def _safe_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, httpx.ResponseNotRead):
        return None


def _parses(response: httpx.Response) -> bool:
    try:
        json.loads(response.content)
    except ValueError:
        return False
    return True


def json_of(response: httpx.Response, *, platform: str = "", account: str | None = None) -> Any:
    """The JSON body of a response the pipeline accepted.

    A body that is not JSON (empty, as a 204 is, an HTML page, bytes that
    are not UTF-8, arrays nested too deep to read) raises `PlatformError`
    with code ``"bad_response"``, naming *platform* and *account* where
    given. After a write (any method but GET, HEAD and OPTIONS) it is
    ``maybe_applied``: the server answered, so it may have applied the write.

    Example:
        >>> import httpx
        >>> from govmedia.platforms.base import json_of
        >>> request = httpx.Request("POST", "https://social.example/api/v1/statuses")
        >>> err = None
        >>> try:
        ...     json_of(httpx.Response(204, request=request), platform="mastodon")
        ... except Exception as exc:
        ...     err = exc
        >>> type(err).__name__, err.code, err.maybe_applied
        ('PlatformError', 'bad_response', True)
    """
    try:
        return json.loads(response.content)
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


# One encoder for every body: json.dumps with options builds a new one per call.
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def json_body(data: Any) -> bytes:
    """Encode *data* as compact UTF-8 JSON with characters kept raw (WeChat needs that)."""
    return _JSON.encode(data).encode("utf-8")
