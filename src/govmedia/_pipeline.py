"""The per-step pipeline and the point of no return, written once for both clients.

A flow from a platform yields steps: requests, `Sleep` and `Checkpoint`.
`Pipeline.run_flow` passes each request through rate limiter -> token ->
authorize -> send -> classify -> retry, and yields *ops* that a driver
performs: `Sleep`, `Send` (answered with the response or the transport
exception), `GetToken` (the client's token store, refreshed one scope at a
time), `Claim` (the journal marks the delivery ``sending`` before the first
request that may create something) and `Record` (a checkpoint after the
claim). `Client` and `AsyncClient` differ only in how they perform ops.

The point of no return. A platform marks the request that may create
something (`creates`); everything before it (tokens, uploads) leaves nothing
a reader sees. From the moment such a request may have been applied, every
failure of the delivery is `DeliveryUnknown` carrying what the flow learnt
(`Checkpoint` data: ids), never a plain failure, so nothing downstream (a
re-run, an operator) takes it for "nothing was created".
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Generator
from typing import Any, TypeAlias, TypeVar

import attrs
import httpx

from govmedia._http import copy_request
from govmedia._limits import net_error
from govmedia._secrets import mask
from govmedia.errors import (
    AuthError,
    ContentRejected,
    DeliveryUnknown,
    GovMediaError,
    PlatformError,
    RateLimited,
    TransientError,
)
from govmedia.model import Channel
from govmedia.platforms.base import BasePlatform
from govmedia.platforms.steps import (
    Checkpoint,
    Flow,
    Recall,
    Sleep,
    Uploaded,
    creates_something,
    is_external,
    is_retry_safe,
)
from govmedia.policy.ratelimit import RateLimiter, Ticket
from govmedia.policy.retry import RetryPolicy
from govmedia.tokens import Token, TokenStore

logger = logging.getLogger("govmedia")

T = TypeVar("T")

__all__ = [
    "RATE_TICKET",
    "Claim",
    "GetToken",
    "Op",
    "Ops",
    "Pipeline",
    "Record",
    "Send",
    "Track",
    "Upload",
    "cached_token",
    "derive_key",
    "token_ops",
]


class Send:
    """Op: send this request; the driver answers with a response or the exception."""

    # A plain slotted class, not attrs: one is made per request, and attrs'
    # frozen __init__ costs several times more.
    __slots__ = ("request",)

    def __init__(self, request: httpx.Request) -> None:
        self.request = request

    def __repr__(self) -> str:
        return f"Send(request={self.request!r})"


@attrs.frozen
class GetToken:
    """Op: a valid token for the channel (``stale``: the one the platform refused)."""

    platform: BasePlatform
    channel: Channel
    stale: Token | None = None


class Claim:
    """Op: mark the delivery ``sending`` before its first create; answered True or False."""

    __slots__ = ("track",)  # one per delivery: see Send

    def __init__(self, track: Track) -> None:
        self.track = track

    def __repr__(self) -> str:
        return f"Claim(track={self.track!r})"


@attrs.frozen(eq=False)
class Upload:
    """Op: upload progress of a delivery (the driver tells the fan-out's progress object)."""

    track: Track
    event: Uploaded


@attrs.frozen(eq=False)
class Record:
    """Op: write a checkpoint of a claimed delivery to the journal before going on."""

    track: Track
    checkpoint: Checkpoint


Op: TypeAlias = Sleep | Send | GetToken | Claim | Record | Upload
Ops: TypeAlias = Generator[Op, Any, T]

RATE_TICKET = "govmedia.rate_ticket"
"""Request extension: the rate-limit `Ticket` to settle when the request's headers are written."""


def derive_key(post_key: str, platform: str, account: str) -> str:
    """The idempotency key sent to a platform for one post on one channel.

    Deterministic, so a retry, a re-run and a resume after a crash send the same key.

    Example:
        >>> from govmedia._pipeline import derive_key
        >>> derive_key("k1", "mastodon", "a@b") == derive_key("k1", "mastodon", "a@b")
        True
    """
    digest = hashlib.sha256(f"{post_key}\x1f{platform}\x1f{account}".encode()).hexdigest()
    return f"gm-{digest[:32]}"


class Track:
    """What one delivery's flows have done: claimed, past the point of no return, ids learnt.

    ``claims`` is true inside a journal-backed fan-out: the first request that
    may create something is preceded by a `Claim` op. `context` is the
    driver's (the fan-out's attempt); the pipeline never reads it.
    """

    __slots__ = ("claimed", "claims", "context", "handed", "known", "passed", "progress", "saved")

    def __init__(self, *, claims: bool = False, claimed: bool = False, context: Any = None,
                 known: dict[str, Any] | None = None, saved: dict[str, Any] | None = None) -> None:
        self.claims = claims
        self.claimed = claimed
        self.passed = False
        # A request that may create something was given to the transport: from
        # here a cancelled delivery may exist, so its claim is not given back.
        self.handed = False
        self.known: dict[str, Any] = dict(known) if known else {}
        self.progress: dict[str, Any] = {}
        self.saved: dict[str, Any] = dict(saved) if saved else {}  # what an earlier run saved (`Recall`)
        self.context = context

    def fail(self, exc: BaseException, platform: BasePlatform, channel: Channel,
             thrown: BaseException | None) -> GovMediaError:
        """The error a delivery ends with, after the point of no return or not."""
        if not isinstance(exc, GovMediaError):
            # A fault in platform code (a KeyError on an odd answer, say).
            logger.error("govmedia: unexpected error in %s flow for %s", platform.name, channel.id,
                         exc_info=exc)
            error: GovMediaError = PlatformError(
                f"unexpected {type(exc).__name__} in the {platform.name} flow: {exc}",
                platform=platform.name, account=channel.account, code="bug",
                hint="This is a govmedia or plugin bug; please report it with the log.",
            )
            error.__cause__ = exc
        else:
            error = exc
        if not self.passed or isinstance(error, DeliveryUnknown):
            if self.passed and isinstance(error, PlatformError) and not error.known and self.known:
                return error.evolve(known=self.known)
            return error
        if isinstance(error, ContentRejected) and not _from_pipeline(error, thrown):
            # The platform's own verdict on the create (a review that refused
            # it): definite, the post does not exist.
            return error
        note = ("after a request that may have created the post, so it may be live: "
                "check the account before sending again")
        if isinstance(error, PlatformError):
            return error.evolve(cls=DeliveryUnknown, note=note, maybe_applied=True,
                                known={**self.known, **error.known})
        unknown = DeliveryUnknown(f"{error}; {note}", platform=platform.name,
                                  account=channel.account, known=self.known)
        unknown.__cause__ = error
        return unknown


def _from_pipeline(error: BaseException, thrown: BaseException | None) -> bool:
    """True when *error* is, or was raised while handling, an error the pipeline threw in."""
    seen = 0
    current: BaseException | None = error
    while current is not None and seen < 8:
        if current is thrown:
            return True
        current = current.__cause__ or current.__context__
        seen += 1
    return False


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


class _ClaimedElsewhere(DeliveryUnknown):
    """Another run claimed this delivery first: this run sent nothing."""

    default_maybe_applied = False


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

    # ----------------------------------------------------------- flows

    def run_flow(  # noqa: C901, PLR0912 - one loop, a branch per kind of step
        self, platform: BasePlatform, channel: Channel, flow: Flow[T], *, auth: bool = True,
        track: Track | None = None,
    ) -> Ops[T]:
        """Drive *flow*: each request through `step`, claims and checkpoints as ops."""
        if track is None:
            track = Track()
        value: Any = None
        error: GovMediaError | None = None
        thrown: GovMediaError | None = None  # the last error handed to the flow
        while True:
            try:
                if error is not None:
                    thrown = error
                    step = flow.throw(error)
                else:
                    step = flow.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            except Exception as exc:  # noqa: BLE001 - a plugin's bug ends this delivery only
                raise track.fail(exc, platform, channel, thrown) from None
            value, error = None, None
            if not isinstance(step, httpx.Request):  # requests first: most steps are
                if isinstance(step, Sleep):
                    yield step
                    continue
                if isinstance(step, Uploaded):
                    yield Upload(track, step)
                    continue
                if isinstance(step, Checkpoint):
                    track.known.update(step.data)
                    if track.claimed or (step.save and track.claims):
                        yield Record(track, step)
                    else:
                        track.progress.update(step.data)
                    continue
                if isinstance(step, Recall):
                    value = dict(track.saved)
                    continue
            creates = creates_something(step)
            if creates and track.claims and not track.claimed:
                if not (yield Claim(track)):
                    flow.close()
                    raise _ClaimedElsewhere(
                        "another run is sending this delivery now; not sent twice",
                        platform=platform.name, account=channel.account,
                    )
                track.claimed = True
            try:
                value = yield from self.step(platform, channel, step, auth=auth,
                                             hand=track if creates else None)
            except GovMediaError as exc:
                # A create that may have landed and cannot be resent passes the
                # point; one the platform deduplicates stays resendable (the
                # journal remembers that it may have landed, for the window).
                if creates and isinstance(exc, DeliveryUnknown):
                    track.passed = True
                error = exc
            else:
                if creates:
                    track.passed = True

    # ----------------------------------------------------------- one request

    def step(
        self, platform: BasePlatform, channel: Channel, request: httpx.Request, *, auth: bool,
        hand: Track | None = None,
    ) -> Ops[httpx.Response]:
        """One request, with rate limits, credentials, classification and retries.

        *hand*: the track to mark `Track.handed` when the request (a create)
        is given to the transport.
        """
        request.read()  # multipart bodies are resent byte for byte on retry
        keys: tuple[str, ...] = ()
        if self.limiter:  # the keys are only worth building when some limit is set
            keys = (platform.name, *(f"{platform.name}:{s}" for s in platform.rate_scopes(channel)),
                    f"{platform.name}:{channel.account}")
        tokens: list[Token | None] = [None]  # the token in use, shared by the attempts
        if keys or (auth and platform.uses_token):
            error, response = yield from self._try(platform, channel, request, keys, tokens,
                                                   auth=auth, hand=hand)
        else:  # no rate limit to wait for, no token to fetch: what _try would do, directly
            error, response = yield from self._attempt(platform, channel, request, None, auth=auth,
                                                       hand=hand)
        if error is None:
            return response  # the common case never builds a retrier
        write = request.method not in ("GET", "HEAD", "OPTIONS")
        landed = write and error.maybe_applied  # may an attempt so far have been applied?
        first: PlatformError | None = self._final(error, request)
        waits: list[float] = []
        retrying = self.retry.retrying(retry=self.should_retry, record_wait=waits.append)
        try:
            for attempt in retrying:
                with attempt:
                    if first is not None:
                        error, first = first, None
                        raise error
                    wait = waits.pop() if waits else 0.0
                    logger.info("%s [%s] %s %s: %s; retry %d in %.1f s", platform.name, channel.account,
                                request.method, mask(str(request.url)), error,
                                attempt.retry_state.attempt_number - 1, wait)
                    if wait > 0 and not self.retry.testing_mode:
                        yield Sleep(wait)
                    error, response = yield from self._try(
                        platform, channel, request, keys, tokens, auth=auth, hand=hand
                    )
                    if error is None:
                        return response
                    landed = landed or (write and error.maybe_applied)
                    raise self._final(error, request)
        except PlatformError as exc:
            if landed and not exc.maybe_applied:
                # A later, cleaner failure must not hide an attempt that may
                # have been applied (a 401 after a lost answer, say).
                raise exc.evolve(
                    cls=DeliveryUnknown, maybe_applied=True,
                    note="an earlier attempt of this request may have been applied",
                ) from exc
            raise
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    def _try(
        self, platform: BasePlatform, channel: Channel, request: httpx.Request,
        keys: tuple[str, ...], tokens: list[Token | None], *, auth: bool, hand: Track | None,
    ) -> Ops[tuple[PlatformError | None, httpx.Response]]:
        """One attempt, and a second one at once with a fresh token if the first was refused."""
        uses_token = auth and platform.uses_token
        renew = False
        while True:
            # The rate limit first, then the token: a long wait must not leave
            # the request holding a token that expired meanwhile.
            ticket = (yield from self._take(keys)) if keys else None
            try:
                if renew:
                    tokens[0] = yield GetToken(platform, channel, stale=tokens[0])
                elif uses_token and tokens[0] is None:
                    tokens[0] = yield GetToken(platform, channel)
                error, response = yield from self._attempt(platform, channel, request, tokens[0],
                                                           auth=auth, ticket=ticket, hand=hand)
            finally:
                if ticket is not None:
                    ticket.close()  # settled by the sender already, or it never will be
            if (renew or not isinstance(error, AuthError) or not uses_token
                    or not platform.capabilities.refresh):
                return error, response
            renew = True  # an expired token is refreshed once and the step resent at once

    def _take(self, keys: tuple[str, ...]) -> Ops[Ticket | None]:
        """Wait for the rate limits, as late as possible before the request goes out."""
        while True:
            delay, ticket = self.limiter.take(keys)
            if delay <= 0:
                return ticket
            yield Sleep(delay)

    @staticmethod
    def _final(error: PlatformError, request: httpx.Request) -> PlatformError:
        """The error to raise: `DeliveryUnknown` for a write that may have landed."""
        if error.maybe_applied and not is_retry_safe(request) and not isinstance(error, DeliveryUnknown):
            return error.evolve(
                cls=DeliveryUnknown,
                note="the request may have been applied, so it was not resent",
            )
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
        hand: Track | None = None,
    ) -> Ops[tuple[PlatformError | None, httpx.Response]]:
        # A shallow copy per attempt: credentials applied to one attempt
        # never leak into the next, and the body is not encoded again.
        prepared = copy_request(request)
        prepared.extensions["timeout"] = self._timeout_ext
        if ticket is not None:  # the sender reports when the request really left
            prepared.extensions[RATE_TICKET] = ticket
        if auth and not is_external(prepared):
            prepared = platform.authorize(prepared, channel, token)
        if hand is not None:
            # A create given to the transport: from here a cancelled delivery
            # may exist, so its claim is not given back.
            hand.handed = True
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


# --------------------------------------------------------------------------- tokens


def cached_token(op: GetToken, store: TokenStore) -> Token | None:
    """The stored token for *op* when it can be used as it is (no lock, no I/O)."""
    token = store.get((op.platform.name, op.platform.token_scope(op.channel)))
    if token is None or token.expired():
        return None
    if op.stale is not None and token.value == op.stale.value:
        return None  # the platform refused this one: renew it
    return token


def token_ops(pipeline: Pipeline, op: GetToken, store: TokenStore) -> Ops[Token]:
    """Fetch or refresh the token of *op*'s scope; the driver holds the scope's lock.

    A token that another caller renewed while this one waited for the lock
    is used as it is, so a single-use refresh token is spent once.
    """
    platform, channel = op.platform, op.channel
    scope = (platform.name, platform.token_scope(channel))
    fresh = cached_token(op, store)
    if fresh is not None:
        return fresh
    current = store.get(scope)
    token: Token
    if current is not None and current.can_refresh() and platform.capabilities.refresh:
        try:
            token = yield from pipeline.run_flow(platform, channel, platform.refresh(channel, current),
                                                 auth=False)
        except AuthError as exc:
            raise exc.evolve(hint=platform.auth.renew_hint or (
                "The refresh token was refused (expired, revoked or already used): authorise "
                "the account again in the browser and put the new tokens in its credentials."
            )) from exc
    else:
        token = yield from pipeline.run_flow(platform, channel, platform.authenticate(channel),
                                             auth=False)
    store.put(scope, token)
    return token
