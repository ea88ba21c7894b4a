"""The one error hierarchy of govmedia.

```
GovMediaError
├── ConfigError          bad channel/credentials/options, unknown platform (also a ValueError)
├── ValidationError      the post does not fit the platform (.problems)
├── JournalError         the journal cannot be written or has gone (.path, .report)
└── PlatformError        the platform said no  (.platform, .account, .code, .message, .response)
    ├── AuthError        token invalid/expired and could not be refreshed
    ├── RateLimited      (.retry_after seconds or None)
    ├── TransientError   5xx, busy codes, network faults where nothing was created
    ├── ContentRejected  the platform refused the content (sensitive, too long, format)
    └── DeliveryUnknown  the request may have been applied (timeout after send)
```

Every message names the platform and the account, the platform's own code and
message where there is one, and what the user can do next. Secrets never appear
in a message. A `PlatformError`'s flags (`maybe_applied`, `quota`) and what is
known of a possibly-applied write (`known`) are constructor arguments, so they
survive pickling (the HTTP response does not travel). The response an error
keeps holds the request it answers without its credentials: a token in the
URL's query or path, an ``Authorization`` header, a refresh token in a form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from govmedia._secrets import MASK, is_secret_name, mask

if TYPE_CHECKING:
    import httpx

    from govmedia.model import Problem
    from govmedia.report import Report

__all__ = [
    "AuthError",
    "ConfigError",
    "ContentRejected",
    "DeliveryUnknown",
    "GovMediaError",
    "JournalError",
    "PlatformError",
    "RateLimited",
    "TransientError",
    "ValidationError",
]


class GovMediaError(Exception):
    """Base class of every error govmedia raises on purpose.

    Its message never carries a registered secret or a secret-shaped value
    (an ``access_token=`` in a URL, say): they are masked when it is made.

    Example:
        >>> import govmedia as gm
        >>> try:
        ...     gm.Post()
        ... except gm.GovMediaError as exc:
        ...     print(type(exc).__name__)
        ConfigError
    """

    def __init__(self, *args: Any) -> None:
        super().__init__(*(mask(a) if isinstance(a, str) else a for a in args))


class ConfigError(GovMediaError, ValueError):
    """A channel, credential, option or model value is unusable.

    Raised before anything is sent: fix the configuration named in the message.

    Example:
        >>> import govmedia as gm
        >>> gm.Channel(platform="mastodon", account="")
        Traceback (most recent call last):
        ...
        govmedia.errors.ConfigError: Channel.account: must be a non-empty string
    """


class ValidationError(GovMediaError):
    """The post does not fit the platform; `problems` lists each reason.

    Example:
        >>> import govmedia as gm
        >>> err = gm.ValidationError([gm.Problem(code="too_long", message="600 > 500", field="text")],
        ...                          platform="mastodon", account="a@b.example")
        >>> err.problems[0].code
        'too_long'
    """

    def __init__(
        self,
        problems: Sequence[Problem],
        *,
        platform: str | None = None,
        account: str | None = None,
    ) -> None:
        self.problems = tuple(problems)
        self.platform = platform
        self.account = account
        where = f"{platform} [{account}]: " if platform else ""
        detail = "; ".join(f"{p.field or '-'}: {p.message} ({p.code})" for p in self.problems)
        super().__init__(f"{where}post refused before sending: {detail}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_validation, (self.problems, self.platform, self.account))


def _rebuild_validation(
    problems: tuple[Problem, ...], platform: str | None, account: str | None
) -> ValidationError:
    return ValidationError(problems, platform=platform, account=account)


class JournalError(GovMediaError):
    """The journal could not be written, or its file was deleted or replaced.

    Raised by a fan-out after it stopped sending: what was already known is
    in `report` (``None`` outside a fan-out), and every delivery the journal
    could not record as settled follows the resume rules on the next run.

    Attributes:
        path: the journal file.
        report: the deliveries this run knows of, published ones included.

    Example:
        >>> import govmedia as gm
        >>> err = gm.JournalError("cannot write: database or disk is full", path="/srv/gm.db")
        >>> str(err)
        'journal /srv/gm.db: cannot write: database or disk is full'
    """

    def __init__(self, message: str, *, path: str, report: Report | None = None) -> None:
        self.path = path
        self.report = report
        self.detail = message
        super().__init__(f"journal {path}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_journal, (self.detail, self.path, self.report))


def _rebuild_journal(message: str, path: str, report: Report | None) -> JournalError:
    return JournalError(message, path=path, report=report)


class PlatformError(GovMediaError):
    """The platform answered with an error, or could not be reached.

    Attributes:
        platform: the platform name (``"wechat_oa"``).
        account: the channel's account.
        code: the platform's own error code (``40001``, ``"M_LIMIT_EXCEEDED"``) or
            the HTTP status where the platform gives none.
        message: the platform's own message.
        response: the `httpx.Response`, where there was one (not pickled).
        hint: what the user can do about it.
        maybe_applied: the request may have been applied before it failed.
        quota: a rate limit with no known reset (a daily quota).
        known: what is known of a write that may have been applied (ids).

    Example:
        >>> import govmedia as gm
        >>> err = gm.ContentRejected(platform="wechat_oa", account="gh_1", code=45003,
        ...                          message="title size out of limit")
        >>> str(err)
        'wechat_oa [gh_1] 45003: title size out of limit. Change the post: the platform refused its content.'
    """

    default_hint = "See the platform's error code in its docs."
    default_maybe_applied: ClassVar[bool] = False

    def __init__(
        self,
        message: str = "",
        *,
        platform: str = "",
        account: str | None = None,
        code: int | str | None = None,
        response: httpx.Response | None = None,
        hint: str | None = None,
        maybe_applied: bool | None = None,
        quota: bool = False,
        known: Mapping[str, Any] | None = None,
    ) -> None:
        self.platform = platform
        self.account = account
        self.code = code
        self.message = mask(message)
        self.response = _without_secrets(response)
        self.hint = hint if hint is not None else self.default_hint
        self.maybe_applied: bool = (self.default_maybe_applied if maybe_applied is None
                                    else maybe_applied)
        self.quota = quota
        self.known: dict[str, Any] = dict(known or {})
        super().__init__(self._text())

    def _text(self) -> str:
        where = self.platform or "platform"
        if self.account:
            where += f" [{self.account}]"
        code = f" {self.code}" if self.code is not None else ""
        message = self.message.rstrip(".") or "error"
        hint = f" {self.hint}" if self.hint else ""
        return mask(f"{where}{code}: {message}.{hint}")

    def _kwargs(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "account": self.account,
            "code": self.code,
            "hint": self.hint,
            "maybe_applied": self.maybe_applied,
            "quota": self.quota,
            "known": self.known,
        }

    def evolve(
        self, *, cls: type[PlatformError] | None = None, note: str = "",
        message: str | None = None, **changes: Any,
    ) -> PlatformError:
        """A copy with *changes* (constructor keywords), another class, or a note added.

        The response and every flag are kept unless changed; the copy's
        ``__cause__`` is this error.

        Example:
            >>> import govmedia as gm
            >>> err = gm.TransientError("HTTP 502", platform="x", maybe_applied=True)
            >>> again = err.evolve(cls=gm.DeliveryUnknown, note="the create may have landed")
            >>> type(again).__name__, again.maybe_applied, again.message
            ('DeliveryUnknown', True, 'HTTP 502; the create may have landed')
        """
        kind = cls or type(self)
        kwargs: dict[str, Any] = {**self._kwargs(), "response": self.response}
        if cls is not None and self.hint == self.default_hint:
            kwargs["hint"] = None  # the new class's own default hint
        kwargs.update(changes)
        if issubclass(kind, RateLimited):
            kwargs.setdefault("retry_after", getattr(self, "retry_after", None))
        else:
            kwargs.pop("retry_after", None)
        text = self.message if message is None else message
        if note:
            text = f"{text.rstrip('.')}; {note}" if text else note
        new = kind(text, **kwargs)
        new.__cause__ = self
        return new

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_platform, (type(self), self.message, self._kwargs()))


# Request bodies up to this size are kept, masked; a larger one (an upload
# part) is dropped from the record rather than searched.
_BODY_KEPT = 64 * 1024
# Headers whose whole value is a credential, whatever it looks like.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_SCRUBBED = "govmedia.scrubbed"


def _without_secrets(response: httpx.Response | None) -> httpx.Response | None:
    """*response*, its request replaced by a copy that holds no secret.

    The response keeps the request it answers, and that is the request as it
    was sent: credentials applied (WeChat's ``?access_token=``, Telegram's
    ``/bot<token>/``, a Bearer header, Douyin's ``access-token``, a refresh
    token in a form). An error hands the response to the user, who logs it,
    prints it or keeps it; so the copy has the URL and the headers masked (as
    every message is) and a small body masked, a large one (an upload part)
    dropped. The request sent is each attempt's own copy, so nothing else
    reads the one replaced.
    """
    if response is None:
        return None
    try:
        sent = response.request
    except RuntimeError:  # a response built by hand, without its request
        return response
    if sent.extensions.get(_SCRUBBED):
        return response
    import httpx  # loaded already wherever there is a response

    clean = object.__new__(httpx.Request)
    clean.__dict__.update(sent.__dict__)
    clean.extensions = {**sent.extensions, _SCRUBBED: True}
    clean.url = httpx.URL(mask(str(sent.url)))
    clean.headers = httpx.Headers([
        (name, MASK if name.lower() in _SECRET_HEADERS or is_secret_name(name)
         else mask(value))
        for name, value in sent.headers.multi_items()
    ])
    try:
        body = sent.content
    except httpx.RequestNotRead:  # a streamed body: not kept
        body = b""
    if len(body) > _BODY_KEPT:
        body = b""
    elif body:
        body = mask(body.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
    clean._content = body  # where httpx keeps a body it has read
    clean.stream = httpx.ByteStream(body)
    response.request = clean
    return response


def _rebuild_platform(
    cls: type[PlatformError], message: str, kwargs: dict[str, Any]
) -> PlatformError:
    return cls(message, **kwargs)


class AuthError(PlatformError):
    """The credentials were refused and could not be refreshed."""

    default_hint = "Check the channel's credentials; a refresh was tried where possible."


class RateLimited(PlatformError):
    """The platform asked us to slow down.

    `retry_after` is the wait in seconds the platform asked for, or ``None``
    where it gave no reset time (a daily quota, say).
    """

    default_hint = "Wait and run again; a re-run with the same journal skips what was published."

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)

    def _text(self) -> str:
        text = super()._text()
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        return text

    def _kwargs(self) -> dict[str, Any]:
        return {**super()._kwargs(), "retry_after": self.retry_after}


class TransientError(PlatformError):
    """A failure that is expected to pass: 5xx, a busy code, a network fault.

    Raised only where nothing was created: a write that may have been applied
    raises `DeliveryUnknown` instead.
    """

    default_hint = "Nothing was created; it is safe to try again."


class ContentRejected(PlatformError):
    """The platform refused the content itself (too long, sensitive, bad media)."""

    default_hint = "Change the post: the platform refused its content."


class DeliveryUnknown(PlatformError):
    """A write may or may not have been applied (a timeout after sending, say).

    govmedia never resends such a write blindly where the platform does not
    deduplicate: check the account, or let a journal-backed re-run reconcile.
    `known` holds what is known of it (ids the platform gave before the
    failure), so that a re-run can finish the work instead of starting over.
    """

    default_hint = (
        "The post may or may not be live: check the account before sending again; "
        "a journal-backed re-run reconciles where the platform allows."
    )
    default_maybe_applied: ClassVar[bool] = True
