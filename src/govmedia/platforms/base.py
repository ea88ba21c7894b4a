"""The protocol every platform implements, and the base class that does most of it.

A platform holds no I/O. Each flow (`publish`, `delete`, `metrics`, `recover`,
the token flows) is a generator of steps (`govmedia.platforms.steps`): it
yields requests, `Sleep` and `Checkpoint`, and receives the response of each
request once it passed the client's pipeline (rate limit, token, send,
classify, retry). The same code so serves `Client` and `AsyncClient`, and
tests can drive a flow step by step.

A platform is declared in one place, its class. Class data: `name`, the
credential keys, `options` (typed `Option`s, checked once per channel),
`auth` (how requests carry credentials), `errors` (its `ErrorTable`), `rules`
(every limit `check` enforces, with an id, a remedy and a source),
`tag_style`, `default_rate_limits`, `capabilities`, and `fake` (where its
strict fake lives). Everything else (the key check, the docs' tables, the
sandbox, the contract suite) is derived from it. Flows use the helpers:
`call` (one request, marked and checked), `poll`, `fetch` (URL media, never
with credentials) and `read_parts` (files streamed from disk in parts).

Each flow marks the request that may create something readers see with
`creates` (its point of no return), and reports the ids it learns after it
with `Checkpoint` steps. The pipeline turns every later failure into
`DeliveryUnknown` carrying those ids, and a journal-backed re-run hands them to
`recover`, which finishes the known work instead of creating the post again.
"""

from __future__ import annotations

import functools
import io
import json
import pathlib
import re
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import Any, BinaryIO, ClassVar, Protocol, TypeVar, runtime_checkable

import attrs
import httpx

from govmedia._limits import MAX_BODY
from govmedia._secrets import mask
from govmedia.content.rules import LengthRule, Rule
from govmedia.content.sanitize import safe_html
from govmedia.errors import (
    AuthError,
    ConfigError,
    ContentRejected,
    DeliveryUnknown,
    PlatformError,
    RateLimited,
    TransientError,
)
from govmedia.model import Channel, Media, Metrics, Post, Problem, Receipt
from govmedia.platforms.auth import Auth, NoAuth
from govmedia.platforms.codes import Code, ErrorTable
from govmedia.platforms.options import Option, Options, parse_options
from govmedia.platforms.steps import (
    Checked,
    Checkpoint,
    Doubt,
    Flow,
    Sleep,
    Step,
    creates,
    creates_something,
    external,
    is_external,
    is_retry_safe,
    json_body,
    json_of,
    prepares,
    retry_safe,
)
from govmedia.policy.ratelimit import RateLimit
from govmedia.policy.retry import retry_after_from
from govmedia.tokens import Token

__all__ = [
    "COMMON_OPTIONS",
    "BasePlatform",
    "Capabilities",
    "Checked",
    "Checkpoint",
    "Doubt",
    "Flow",
    "Platform",
    "Rendering",
    "Sleep",
    "Step",
    "Token",
    "creates",
    "creates_something",
    "external",
    "is_external",
    "is_retry_safe",
    "json_body",
    "json_of",
    "prepares",
    "retry_safe",
]

T = TypeVar("T")

COMMON_OPTIONS: Mapping[str, Option] = {
    "script": Option(str, choices=("traditional", "simplified"),
                     doc="convert the text on the way out (OpenCC)"),
    "fit": Option(bool, default=False,
                  doc="shorten an over-long text to the platform's limit instead of refusing it"),
    "native_schedule": Option(bool, default=False,
                              doc="fan_out(at=...): send now and let the platform publish at that "
                                  "time (where it can: Mastodon, WordPress, Facebook, YouTube)"),
}
"""Options every platform takes."""

EXTERNAL_MAX_BODY = 64 * 1024 * 1024
"""The most bytes a media download from another host may bring."""


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
    body_images: bool = True
    """Images in the body are sent (uploaded or kept); ``False``: `check` refuses them."""


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

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Settle a delivery an earlier run left in doubt: a receipt, ``None`` (nothing exists)."""

    def authenticate(self, channel: Channel) -> Flow[Token]:
        """Fetch an access token (platforms whose tokens expire)."""

    def refresh(self, channel: Channel, token: Token) -> Flow[Token]:
        """Renew *token* with its refresh token."""

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


class _PerChannel:
    """Values worked out once per channel object (parsed options), dropped with it."""

    __slots__ = ("_channels", "_values")

    def __init__(self) -> None:
        self._channels: weakref.WeakValueDictionary[int, Channel] = weakref.WeakValueDictionary()
        self._values: dict[int, Any] = {}

    def get(self, channel: Channel, make: Callable[[Channel], Any]) -> Any:
        key = id(channel)
        if self._channels.get(key) is channel:
            return self._values[key]
        value = make(channel)
        if len(self._values) > 4 * len(self._channels) + 64:  # forget channels long gone
            self._values = {k: v for k, v in self._values.items() if k in self._channels}
        self._channels[key] = channel
        self._values[key] = value
        return value


# Parsed options, per platform class and channel object: the check a Matrix
# makes with its own platform instances and the client's platform, which
# reads the options again when it sends, share one parse.
_PARSED: dict[type, _PerChannel] = {}


def _snippet(text: str, limit: int = 200) -> str:
    """A short, tag-free excerpt of an error body (HTML error pages, say)."""
    text = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    return text[:limit] + ("…" if len(text) > limit else "")


_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


class BasePlatform:
    """The base of every platform: declared data in, checks, auth, errors and helpers out.

    A subclass declares its class data (see the module docs) and writes its
    flows with the helpers; flows it lacks raise `ConfigError`.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.platforms import BasePlatform, Option, StaticToken, url_check
        >>> class NoticeBoardPlatform(BasePlatform):
        ...     name = "notice_board"
        ...     credential_keys = ("api_key",)
        ...     options = {"base_url": Option(str, required=True, check=url_check())}
        ...     auth = StaticToken("api_key")
        ...     def publish(self, post, channel, key):
        ...         notice = yield from self.call(channel, "POST", "/notices", creates=True, safe=True,
        ...                                       json={"text": post.text, "id": key}, expect=("id",))
        ...         return gm.Receipt(channel=channel, remote_id=str(notice["id"]))
        >>> NoticeBoardPlatform.option_keys, NoticeBoardPlatform.required_options
        (('base_url',), ('base_url',))
    """

    name: ClassVar[str] = ""
    credential_keys: ClassVar[tuple[str, ...]] = ()
    optional_credential_keys: ClassVar[tuple[str, ...]] = ()
    options: ClassVar[Mapping[str, Option]] = {}
    """The channel options, declared (``option_keys`` and ``required_options`` follow)."""
    option_keys: ClassVar[tuple[str, ...]] = ()
    required_options: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()
    auth: ClassVar[Auth] = NoAuth()
    """How requests carry the credentials (`govmedia.platforms.auth`)."""
    errors: ClassVar[ErrorTable | None] = None
    """The platform's error table; codes not in it are judged by HTTP status."""
    rules: ClassVar[tuple[Rule, ...]] = ()
    """Every limit `check` enforces, each with a stable id (docs: rule catalog)."""
    tag_style: ClassVar[str] = "none"
    """How tags are written (`govmedia.content.hashtags` styles: ``weibo``, ``x``, ...)."""
    default_rate_limits: ClassVar[Mapping[str, RateLimit]] = {}
    """Limits applied unless the client is given others for the same key; a key
    ``"platform:*"`` is one budget per account."""
    fake: ClassVar[str | None] = None
    """``"module:Class"`` of the platform's strict fake in `govmedia.testing`."""
    api_base: ClassVar[str | None] = None
    """The API's address where no ``base_url`` option says otherwise."""
    credential_hosts: ClassVar[tuple[str, ...]] = ()
    """Hosts besides the API's own that receive the credentials (an upload host)."""

    error_codes: ClassVar[Mapping[int | str, type[PlatformError]]] = {}
    """The platform's own codes (or HTTP statuses) mapped to error classes (from `errors`)."""
    quota_codes: ClassVar[frozenset[int | str]] = frozenset()
    """Rate-limit codes with no known reset (from `errors`)."""
    uses_token: ClassVar[bool] = False
    """Requests need a token from `authenticate`, kept per `token_scope` (from `auth`)."""
    json_responses: ClassVar[bool] = True
    """Successful responses carry JSON; a 2xx that does not parse is suspect."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__
        if "options" in own and "option_keys" not in own:
            cls.option_keys = tuple(cls.options)
            cls.required_options = tuple(k for k, o in cls.options.items() if o.required)
        if "auth" in own:
            if "uses_token" not in own:
                cls.uses_token = cls.auth.uses_token
            if cls.auth.refreshes and not cls.capabilities.refresh:
                cls.capabilities = attrs.evolve(cls.capabilities, refresh=True)
        if "errors" in own and cls.errors is not None and "error_codes" not in own:
            cls.error_codes = {code: entry.kind for code, entry in cls.errors.items()}
            cls.quota_codes = frozenset(code for code, entry in cls.errors.items() if entry.no_reset)
        if "rules" in own:
            # The capability table's limits come from the rules: one source.
            limits = {r.field: r.limit - r.exclusive for r in reversed(cls.rules)
                      if isinstance(r, LengthRule)}
            cls.capabilities = attrs.evolve(
                cls.capabilities, text_max=limits.get("text", limits.get("body")),
                title_max=limits.get("title"))

    def __init__(self) -> None:
        """Nothing per instance: parsed options are kept per class (see `opts`)."""

    # ----------------------------------------------------------- configuration

    def check_channel(self, channel: Channel) -> None:
        """Raise `ConfigError` naming what is wrong with *channel*'s setup."""
        # Runs once per channel per client, so once per delivery in a
        # fan-out: the common, valid case is a few set comparisons.
        credentials, options = channel.credentials, channel.options
        known_credentials, known_options = self._known_keys()
        if not (
            credentials.keys() <= known_credentials
            and options.keys() <= known_options
            and isinstance(options.get("fit", False), bool)
            and options.get("script") in (None, "traditional", "simplified")
        ):
            self._channel_error(channel)
        for key in self.credential_keys:  # a loop: all() over a generator costs more here
            if not credentials.get(key):
                self._channel_error(channel)
        for key in self.required_options:
            if not options.get(key):
                self._channel_error(channel)
        if self.options:
            self.opts(channel)

    def opts(self, channel: Channel) -> Options:
        """*channel*'s declared options, parsed and typed (`ConfigError` naming a bad one).

        Worked out once per channel object.
        """
        spec = self.options
        if not spec:
            return Options({})
        cache = _PARSED.get(type(self)) or _PARSED.setdefault(type(self), _PerChannel())
        parsed, made_from = cache.get(channel, lambda ch: (parse_options(spec, ch), spec))
        if made_from is not spec:  # this instance declares options of its own
            parsed = parse_options(spec, channel)
        result: Options = parsed
        return result

    def _known_keys(self) -> tuple[frozenset[str], frozenset[str]]:
        sources = (self.credential_keys, self.optional_credential_keys, self.option_keys)
        cached = type(self).__dict__.get("_known_keys_cache")
        # Keyed by the very tuples it was built from, so a platform that
        # sets its keys per instance (or patches them) is never judged by
        # stale sets.
        # Tuples compare item by item, identity first: the same tuples, fast.
        if cached is None or cached[0] != sources:
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

    def base_url(self, channel: Channel) -> str:
        """The API's address for *channel*: its ``base_url`` option, else `api_base`."""
        base = self.opts(channel).get("base_url") if "base_url" in self.options else None
        base = base or channel.options.get("base_url") or self.api_base
        if not base:
            raise ConfigError(f"channel {channel.id}: {self.name} needs a base_url option")
        return str(base).rstrip("/")

    def rule(self, rule_id: str) -> Rule:
        """The declared rule *rule_id* (a `KeyError` means a typo in the platform)."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def check_lengths(self, text: str, field: str, *, limit: int | None = None) -> list[Problem]:
        """``too_long`` problems of *text* against this platform's length rules for *field*."""
        problems = []
        for rule in self.rules:
            if isinstance(rule, LengthRule) and rule.field == field:
                problem = rule.check(text, limit=limit)
                if problem is not None:
                    problems.append(problem)
        return problems

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

    def health_request(self, channel: Channel) -> httpx.Request | None:
        """The cheapest authenticated read that proves *channel* may publish, or ``None``.

        `health` sends it (a ``verify_credentials``, a ``users/me``); a
        platform whose check needs more overrides `health` instead.
        """
        return None

    def health(self, channel: Channel) -> Flow[Checked | None]:
        """Check *channel* without posting: ``None`` when nothing can be checked that way.

        Errors are the usual ones (an `AuthError` for a revoked token, a
        permission refusal with the platform's code): `Client.verify` turns
        them into words an operator can act on. A token the platform fetches
        from app credentials (WeChat) is fetched first by the client.
        """
        request = self.health_request(channel)
        if request is None:
            return None
        yield request
        return Checked()

    def render(self, post: Post, channel: Channel) -> Rendering:
        """What `publish` would send for *post* (already adapted for *channel*): no request.

        The default shows the fields the platform sends (`Capabilities.fields`),
        the text, and the body as sanitized HTML; media by their source (not
        uploaded yet). A platform that composes its text (a link appended, tags
        as it writes them) overrides this with the same composer `publish` uses.
        """
        fields: dict[str, Any] = {}
        for name in self.capabilities.fields or ("title", "text", "body"):
            value = getattr(post, name, None)
            if value in (None, "", ()):
                continue
            if name in ("cover", "media"):
                value = ([Rendering.source(m) for m in value] if name == "media"
                         else Rendering.source(value))
            fields[name] = value
        html = safe_html(post.body, post.body_format) if post.body else None
        return Rendering(fields=fields, text=post.text, html=html)

    def repost(self, original: Receipt, channel: Channel, key: str) -> Flow[Receipt]:
        """Repost/boost *original* (another channel's receipt) from *channel*."""
        raise ConfigError(f"{self.name} cannot repost (capabilities.repost is False)")

    def can_repost(self, original: Receipt, channel: Channel) -> bool:
        """True when *channel* can repost *original* natively (same instance, say)."""
        return self.capabilities.repost and original.channel.platform == channel.platform

    def reconcile(self, post: Post, channel: Channel, key: str) -> Flow[Receipt | None]:
        """Look for a create that may have been applied (by its hidden marker)."""
        raise ConfigError(f"{self.name} cannot look up earlier posts (capabilities.reconcile is False)")

    def recover(self, post: Post, channel: Channel, key: str, doubt: Doubt) -> Flow[Receipt | None]:
        """Settle a delivery that an earlier run left in doubt (``sending`` or ``unknown``).

        Return the `Receipt` where the post exists (or was finished now),
        ``None`` where it surely does not (the engine then publishes it), or
        raise `DeliveryUnknown` where that cannot be told. The default resends
        with the same key while the platform still remembers it
        (``capabilities.dedupe`` and ``dedupe_window``), else asks `reconcile`
        where the platform can be asked, else leaves it in doubt. The
        delivery is claimed before this runs.
        """
        caps = self.capabilities
        if caps.dedupe and doubt.within(caps.dedupe_window):
            receipt: Receipt = yield from self.publish(post, channel, key)
            return receipt
        if caps.reconcile:
            found: Receipt | None = yield from self.reconcile(post, channel, key)
            return found
        why = ("the platform's memory of its idempotency key may have lapsed"
               if caps.dedupe else f"{self.name} cannot deduplicate or be asked")
        raise DeliveryUnknown(
            f"an earlier run left this delivery '{doubt.state}'; {why}, so it was not resent",
            platform=self.name, account=channel.account, known=doubt.data,
        )

    # ----------------------------------------------------------- auth

    def authenticate(self, channel: Channel) -> Flow[Token]:
        """The first token of a scope (from `auth`)."""
        if not self.uses_token:
            raise ConfigError(f"{self.name} has no token endpoint (channel {channel.id})")
        token: Token = yield from self.auth.authenticate(self, channel)
        return token

    def refresh(self, channel: Channel, token: Token) -> Flow[Token]:
        """A new token for a refused or expired one (from `auth`)."""
        renewed: Token = yield from self.auth.refresh(self, channel, token)
        return renewed

    def token_request(self, channel: Channel, previous: Token | None) -> httpx.Request:
        """`FetchedToken`: the request that fetches a token for *channel*."""
        raise ConfigError(f"{self.name} declares no token request")

    def refresh_request(self, channel: Channel, token: Token) -> httpx.Request:
        """`StaticToken` with refresh: the request that trades *token*'s refresh token."""
        raise ConfigError(f"{self.name} cannot refresh tokens")

    def token_from(self, response: httpx.Response, channel: Channel, *,
                   previous: Token | None) -> Token:
        """The `Token` in a token or refresh answer."""
        raise ConfigError(f"{self.name} declares no token answer")

    def token_scope(self, channel: Channel) -> str:
        """The key tokens are kept under: one per app, shared by its channels (from `auth`)."""
        return self.auth.scope(self, channel)

    def rate_scopes(self, channel: Channel) -> tuple[str, ...]:
        """No app-level rate scope by default."""
        return ()

    def carries_credentials(self, request: httpx.Request, channel: Channel) -> bool:
        """True when *request* goes to the platform's API (its own host or `credential_hosts`)."""
        host = request.url.host
        if host in self.credential_hosts:
            return True
        try:
            own = _origin(self.base_url(channel))
        except ConfigError:
            return True  # no API address declared: the platform builds every URL itself
        return (request.url.scheme, host, request.url.port) == own

    def authorize(
        self, request: httpx.Request, channel: Channel, token: Token | None
    ) -> httpx.Request:
        """Apply the credentials (`auth`), only ever to the platform's own hosts."""
        if isinstance(self.auth, NoAuth) or not self.carries_credentials(request, channel):
            return request
        return self.auth.authorize(self, request, channel, token)

    # ----------------------------------------------------------- errors

    def error_details(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """``(code, message)`` for an error response, ``None`` for success.

        The code comes from the body where `errors` says where it lives, else
        from the HTTP status.
        """
        if self.errors is not None:
            found = self.errors.body_code(response)
            if found is not None:
                return found
        if 200 <= response.status_code < 300:
            return None
        return response.status_code, self.error_message(response)

    def error_message(self, response: httpx.Response) -> str:
        """The most useful message an error body offers."""
        body = _json_or_none(response)
        if isinstance(body, Mapping):
            for name in ("error_description", "error", "message", "errmsg", "description",
                         "detail", "title"):
                value = body.get(name)
                if isinstance(value, str) and value:
                    return value
                if isinstance(value, Mapping):
                    inner = value.get("message")
                    if isinstance(inner, str) and inner:
                        return inner
        text = _safe_text(response)
        return _snippet(text) if text else (response.reason_phrase or f"HTTP {response.status_code}")

    def classify(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        """The error *response* means (from `errors`, else the HTTP status), or ``None``."""
        try:
            request: httpx.Request | None = response.request
        except RuntimeError:  # a response built by hand, without its request
            request = None
        if request is not None and is_external(request):
            return self._external_error(response, channel)
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
        entry = self._entry(code, response.status_code, message)
        kind = entry.kind if entry is not None else _by_status(response.status_code)
        kwargs: dict[str, Any] = {
            "platform": self.name, "account": channel.account, "code": code, "response": response,
            "hint": entry.hint if entry is not None else None,
        }
        if entry is not None and entry.applied is not None:
            kwargs["maybe_applied"] = entry.applied
        elif issubclass(kind, TransientError):
            # A bare 5xx may come after the write was applied; a platform code
            # that says "busy" means the platform refused it outright.
            kwargs["maybe_applied"] = entry is None and code not in self.error_codes
        if issubclass(kind, RateLimited):
            quota = entry.no_reset if entry is not None else False
            wait = retry_after_from(response)
            if wait is None and entry is not None:
                wait = entry.wait
            return RateLimited(message, retry_after=wait,
                               quota=quota or code in self.quota_codes, **kwargs)
        return kind(message, **kwargs)

    def _entry(self, code: int | str, status: int, message: str) -> Code | None:
        if self.errors is not None:
            return self.errors.entry(code, status, message)
        legacy = self.error_codes.get(code)
        return Code(kind=legacy) if legacy is not None else None

    def _external_error(self, response: httpx.Response, channel: Channel) -> PlatformError | None:
        if 200 <= response.status_code < 300:
            return None
        status = response.status_code
        kind = TransientError if status >= 500 or status in (408, 429) else PlatformError
        return kind(
            f"could not fetch {response.request.url}: HTTP {status}", platform=self.name,
            account=channel.account, code=status, response=response,
            hint="Check the media URL, or attach the file itself.",
        )

    # ----------------------------------------------------------- helpers for flows

    def request(
        self, channel: Channel, method: str, path: str, *, json: Any = None,
        params: Mapping[str, Any] | None = None, data: Mapping[str, Any] | None = None,
        files: Any = None, content: bytes | None = None,
        headers: Mapping[str, str] | None = None, safe: bool = False,
        creates: bool | None = None, max_body: int | None = None, deadline: float | None = None,
    ) -> httpx.Request:
        """One request to the platform's API, marked for the pipeline.

        Args:
            channel: whose API (its ``base_url``) and credentials.
            method: the HTTP method.
            path: below the API's address, or a whole URL.
            json: a body sent as compact UTF-8 JSON.
            params: query parameters, as `httpx.Request` takes them.
            data: form fields.
            files: multipart files.
            content: a raw body.
            headers: extra headers.
            safe: the platform deduplicates it (or it only reads): resent after
                a failure that may have been applied.
            creates: it may create something readers see (the point of no
                return: ``True``), or surely not (an upload: ``False``);
                ``None``: a write counts as a create.
            max_body: the largest answer accepted, when more than the client's.
            deadline: seconds the whole request may take, when more than the client's.
        """
        url = path if path.startswith(("https://", "http://")) else self.base_url(channel) + path
        merged = dict(headers or {})
        body = content
        if json is not None:
            body = json_body(json)
            merged.setdefault("Content-Type", "application/json")
        request = httpx.Request(method, url, params=params, data=data, files=files, content=body,
                                headers=merged)
        if safe:
            retry_safe(request)
        if creates is not None:
            request.extensions["govmedia.creates"] = creates
        if max_body is not None:
            request.extensions["govmedia.max_body"] = max_body
        if deadline is not None:
            request.extensions["govmedia.deadline"] = deadline
        return request

    def call(
        self, channel: Channel, method: str, path: str, *, expect: tuple[str, ...] = (),
        **options: Any,
    ) -> Flow[Any]:
        """Send one request (see `request` for *options*) and return its JSON answer.

        *expect* names fields (dotted paths) the answer must have; one missing
        is a `PlatformError` naming it (possibly applied, for a create).

        Example:
            >>> # in a flow:  media = yield from self.call(channel, "POST", "/media",
            >>> #                 files={"file": (...)}, creates=False, safe=True, expect=("id",))
        """
        request = self.request(channel, method, path, **options)
        response = yield request
        return self.answer(response, channel, expect=expect,
                           creates=creates_something(request))

    def answer(self, response: httpx.Response, channel: Channel, *, expect: tuple[str, ...] = (),
               creates: bool = False) -> Any:
        """*response*'s JSON, with each *expect* field checked present."""
        if not response.content and not expect:
            return {}
        body = json_of(response, platform=self.name, account=channel.account)
        for field in expect:
            value: Any = body
            for part in field.split("."):
                value = value.get(part) if isinstance(value, Mapping) else None
            # An expected field is an id or a name: a scalar, never a bool or a container.
            if value in (None, "") or isinstance(value, bool) or not isinstance(value, str | int | float):
                raise PlatformError(
                    f"{response.request.url.path} answered without {field}",
                    platform=self.name, account=channel.account, code="bad_response",
                    response=response, maybe_applied=creates,
                )
        return body

    def poll(self, ask: Callable[[], Flow[T]], done: Callable[[T], bool], *, interval: float,
             timeout: float, wait: Callable[[T], float] | None = None) -> Flow[tuple[T, bool]]:
        """Ask until *done* says yes or *timeout* seconds pass: ``(last answer, done?)``.

        *wait*, where the platform says when to ask again (X's
        ``check_after_secs``): the seconds to wait after an answer, at least
        *interval*, and never past *timeout*.

        Example:
            >>> # status, finished = yield from self.poll(
            >>> #     lambda: self.call(channel, "GET", f"/jobs/{job}"),
            >>> #     lambda s: s["state"] != "processing", interval=2, timeout=60)
        """
        waited = 0.0
        while True:
            value = yield from ask()
            if done(value):
                return value, True
            if waited >= timeout:
                return value, False
            pause = interval if wait is None else min(max(interval, wait(value)), timeout - waited)
            yield Sleep(pause)
            waited += pause

    def fetch(self, media: Media, channel: Channel, *, limit: int = EXTERNAL_MAX_BODY) -> Flow[bytes]:
        """The bytes of *media*: read from disk or memory, or downloaded from its URL.

        A download goes to another host, so it never carries the channel's
        credentials (the request is `external`); it is resent on failure.
        """
        if media.url is None:
            return media.read()
        request = external(prepares(retry_safe(httpx.Request("GET", media.url))))
        request.extensions[MAX_BODY] = limit
        try:
            response = yield request
        except PlatformError as exc:
            if exc.code != "response_too_large":
                raise
            # The size will not change on a retry: the platform refuses it, in its words.
            raise ContentRejected(
                f"{mask(media.url)} is over {limit - 1:,} bytes, more than {self.name} takes "
                "here", platform=self.name, account=channel.account, code="bad_media",
                hint="Attach a smaller file, or host a smaller version.") from exc
        return response.content

    @staticmethod
    def read_parts(media: Media, part_size: int, *, start: int = 0) -> Iterator[tuple[int, int, bytes]]:
        """``(index, offset, bytes)`` of each part of *media*, read from disk one at a time.

        Never holds more than one part in memory; *start* skips what a
        resumed upload already sent (an offset on a part boundary).

        Example:
            >>> import govmedia as gm
            >>> m = gm.Media.from_bytes(b"0123456789", filename="v.bin")
            >>> [(i, o, len(b)) for i, o, b in BasePlatform.read_parts(m, 4)]
            [(0, 0, 4), (1, 4, 4), (2, 8, 2)]
        """
        if part_size < 1:
            raise ValueError("part_size must be positive")
        with _open(media) as stream:
            stream.seek(start)
            index, offset = start // part_size, start
            while chunk := stream.read(part_size):
                yield index, offset, chunk
                index += 1
                offset += len(chunk)


@attrs.frozen(kw_only=True)
class Rendering:
    """A platform's answer to `BasePlatform.render`: fields, text and HTML as they would be sent.

    Example:
        >>> import govmedia as gm
        >>> Rendering.source(gm.Media.from_url("https://cdn.example/a.png"))
        'https://cdn.example/a.png'
    """

    fields: Mapping[str, Any] = attrs.field(factory=dict)
    text: str | None = None
    html: str | None = None

    @staticmethod
    def source(media: Media) -> str:
        """How a preview names media not uploaded yet: its URL, path or file name."""
        return media.url or media.path or media.filename


def _open(media: Media) -> BinaryIO:
    if media.data is not None:
        return io.BytesIO(media.data)
    if media.path is not None:
        return pathlib.Path(media.path).open("rb")
    raise ConfigError(f"{media.filename}: URL media must be fetched first")


@functools.lru_cache(maxsize=1024)
def _origin(url: str) -> tuple[str, str, int | None]:
    parsed = httpx.URL(url)
    return parsed.scheme, parsed.host, parsed.port


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
    except (ValueError, RecursionError, httpx.ResponseNotRead):
        return None


def _parses(response: httpx.Response) -> bool:
    try:
        json.loads(response.content)
    except (ValueError, RecursionError):
        return False
    return True
