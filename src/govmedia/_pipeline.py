"""The per-step pipeline, written once for both clients as a generator.

A flow from a platform yields requests; `run_flow` passes each through
rate limiter -> authorize -> send -> classify -> retry, and yields *ops* that a
driver performs: `Sleep` (sync or async sleep), `Send` (sync or async send,
answered with the response or the transport exception) and `GetToken`
(the client's shared token cache). `Client` and `AsyncClient` differ only in
how they perform those three ops.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Generator
from typing import Any, TypeAlias, TypeVar

import attrs
import httpx

from govmedia._limits import net_error
from govmedia._secrets import mask
from govmedia.errors import (
    AuthError,
    DeliveryUnknown,
    GovMediaError,
    PlatformError,
    RateLimited,
    TransientError,
)
from govmedia.model import Channel
from govmedia.platforms.base import BasePlatform, Flow, Sleep, Token, is_retry_safe
from govmedia.policy.ratelimit import RateLimiter, Ticket
from govmedia.policy.retry import RetryPolicy

logger = logging.getLogger("govmedia")

T = TypeVar("T")


@attrs.frozen
class Send:
    """Op: send this request; the driver answers with a response or the exception."""

    request: httpx.Request


@attrs.frozen
class GetToken:
    """Op: a valid token for the channel (``stale``: the one the platform refused)."""

    platform: BasePlatform
    channel: Channel
    stale: Token | None = None


Op: TypeAlias = Sleep | Send | GetToken
Ops: TypeAlias = Generator[Op, Any, T]

RATE_TICKET = "govmedia.rate_ticket"
"""Request extension: the rate-limit `Ticket` to settle when the request's headers are written."""


def derive_key(post_key: str, platform: str, account: str) -> str:
    """The idempotency key sent to a platform for one post on one channel.

    Deterministic, so a retry, a re-run and a resume after a crash send the same key.
    """
    digest = hashlib.sha256(f"{post_key}\x1f{platform}\x1f{account}".encode()).hexdigest()
    return f"gm-{digest[:32]}"


def _sent_nothing(exc: httpx.TransportError) -> bool:
    """True when the request surely never reached the server."""
    if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return False
    # httpx-aiohttp (a transport users may pass in) maps every aiohttp
    # connection error, "server disconnected" after the request was written
    # included, to ConnectTimeout; only a real connect failure means nothing
    # was sent.
    cause = exc.__cause__
    if cause is None or type(cause).__module__.split(".")[0] != "aiohttp":
        return True
    return type(cause).__name__ in {
        "ClientConnectorError", "ClientConnectorDNSError", "ClientConnectorSSLError",
        "ClientConnectorCertificateError", "ConnectionTimeoutError", "ClientProxyConnectionError",
        "InvalidURL", "InvalidUrlClientError", "NonHttpUrlClientError",
    }


def maybe_applied(error: BaseException) -> bool:
    """True when the failed write may have been applied by the platform."""
    return isinstance(error, PlatformError) and error.maybe_applied


class Pipeline:
    """The non-I/O half of a client: decisions about each step."""

    def __init__(self, *, retry: RetryPolicy, limiter: RateLimiter, timeout: httpx.Timeout) -> None:
        self.retry = retry
        self.limiter = limiter
        self.timeout = timeout
        self._timeout_ext = timeout.as_dict()  # shared, read-only: one per attempt costs

    def should_retry(self, exc: BaseException) -> bool:
        """Retry transient faults and rate limits with a short or unknown reset."""
        if isinstance(exc, DeliveryUnknown):
            return False
        if isinstance(exc, RateLimited):
            if exc.quota:
                return False
            return exc.retry_after is None or exc.retry_after <= self.retry.max_retry_after
        return isinstance(exc, TransientError)

    def run_flow(
        self, platform: BasePlatform, channel: Channel, flow: Flow[T], *, auth: bool = True
    ) -> Ops[T]:
        """Drive *flow*, passing each request through `step`."""
        value: Any = None
        error: GovMediaError | None = None
        while True:
            try:
                step = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(step, Sleep):
                yield step
                continue
            try:
                value = yield from self.step(platform, channel, step, auth=auth)
            except GovMediaError as exc:
                error = exc

    def step(
        self, platform: BasePlatform, channel: Channel, request: httpx.Request, *, auth: bool
    ) -> Ops[httpx.Response]:
        """One request, with rate limits, credentials, classification and retries."""
        request.read()  # multipart bodies are resent byte for byte on retry
        keys: tuple[str, ...] = ()
        if self.limiter:  # the keys are only worth building when some limit is set
            keys = (platform.name, *(f"{platform.name}:{s}" for s in platform.rate_scopes(channel)),
                    f"{platform.name}:{channel.account}")
        tokens: list[Token | None] = [None]  # the token in use, shared by the attempts
        error, response = yield from self._try(platform, channel, request, keys, tokens, auth=auth)
        if error is None:
            return response  # the common case never builds a retrier
        first: PlatformError | None = self._final(error, request, platform, channel)
        waits: list[float] = []
        retrying = self.retry.retrying(retry=self.should_retry, record_wait=waits.append)
        for attempt in retrying:
            with attempt:
                if first is not None:
                    error, first = first, None
                    raise error
                wait = waits.pop() if waits else 0.0
                if wait > 0 and not self.retry.testing_mode:
                    yield Sleep(wait)
                error, response = yield from self._try(
                    platform, channel, request, keys, tokens, auth=auth
                )
                if error is None:
                    return response
                raise self._final(error, request, platform, channel)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _try(
        self, platform: BasePlatform, channel: Channel, request: httpx.Request,
        keys: tuple[str, ...], tokens: list[Token | None], *, auth: bool,
    ) -> Ops[tuple[PlatformError | None, httpx.Response]]:
        """One attempt: wait for the rate limit, send, and refresh an expired token once."""
        uses_token = auth and platform.uses_token
        error, response = yield from self._limited(platform, channel, request, keys, tokens,
                                                   auth=auth, renew=False)
        if isinstance(error, AuthError) and uses_token and platform.capabilities.refresh:
            # An expired token is refreshed once and the step resent at once.
            error, response = yield from self._limited(platform, channel, request, keys, tokens,
                                                       auth=auth, renew=True)
        return error, response

    def _limited(
        self, platform: BasePlatform, channel: Channel, request: httpx.Request,
        keys: tuple[str, ...], tokens: list[Token | None], *, auth: bool, renew: bool,
    ) -> Ops[tuple[PlatformError | None, httpx.Response]]:
        """Wait for the rate limit, get a token if one is needed (*renew*: a fresh one), send."""
        # The rate limit first, then the token: a long wait must not leave
        # the request holding a token that expired meanwhile.
        ticket = yield from self._take(keys)
        try:
            if renew:
                tokens[0] = yield GetToken(platform, channel, stale=tokens[0])
            elif auth and platform.uses_token and tokens[0] is None:
                tokens[0] = yield GetToken(platform, channel)
            result: tuple[PlatformError | None, httpx.Response] = yield from self._attempt(
                platform, channel, request, tokens[0], auth=auth, ticket=ticket
            )
        finally:
            if ticket is not None:
                ticket.close()  # settled by the sender already, or it never will be
        return result

    def _take(self, keys: tuple[str, ...]) -> Ops[Ticket | None]:
        """Wait for the rate limits, as late as possible before the request goes out."""
        while True:
            delay, ticket = self.limiter.take(keys)
            if delay <= 0:
                return ticket
            yield Sleep(delay)

    @staticmethod
    def _final(error: PlatformError, request: httpx.Request, platform: BasePlatform,
               channel: Channel) -> PlatformError:
        """The error to raise: `DeliveryUnknown` for a write that may have landed."""
        if maybe_applied(error) and not is_retry_safe(request):
            unknown = DeliveryUnknown(
                f"{error.message}; the request may have been applied, so it was not resent",
                platform=platform.name, account=channel.account, code=error.code,
                response=error.response,
            )
            unknown.__cause__ = error
            return unknown
        return error

    def _attempt(
        self,
        platform: BasePlatform,
        channel: Channel,
        request: httpx.Request,
        token: Token | None,
        *,
        auth: bool,
        ticket: Ticket | None = None,
    ) -> Ops[tuple[PlatformError | None, httpx.Response]]:
        # A shallow copy per attempt: credentials applied to one attempt
        # never leak into the next, and the body is not encoded again.
        prepared = object.__new__(httpx.Request)  # copy.copy() would go through pickling
        prepared.__dict__.update(request.__dict__)
        prepared.headers = httpx.Headers(request.headers)  # .copy() re-detects the encoding
        prepared.extensions = {**request.extensions}
        prepared.extensions["timeout"] = self._timeout_ext
        if ticket is not None:  # the sender reports when the request really left
            prepared.extensions[RATE_TICKET] = ticket
        if auth:
            prepared = platform.authorize(prepared, channel, token)
        answer = yield Send(prepared)
        if isinstance(answer, httpx.TransportError):
            logger.info("%s [%s] %s %s failed: %s", platform.name, channel.account,
                        prepared.method, mask(str(prepared.url)), type(answer).__name__)
            error = net_error(answer, platform=platform.name, account=channel.account) or TransientError(
                f"network fault: {type(answer).__name__}: {mask(str(answer)) or 'no detail'}",
                platform=platform.name, account=channel.account, code=type(answer).__name__,
                maybe_applied=not _sent_nothing(answer),
            )
            return error, httpx.Response(599, request=prepared)
        response: httpx.Response = answer
        if logger.isEnabledFor(logging.DEBUG):  # masking costs: only when someone listens
            logger.debug("%s [%s] %s %s -> %s", platform.name, channel.account, prepared.method,
                         mask(str(prepared.url)), response.status_code)
        return platform.classify(response, channel), response
