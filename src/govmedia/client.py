"""`Client` and `AsyncClient`: check, publish, delete and read metrics.

Both hold the same options and run the same platform flows through the same
pipeline (`govmedia._pipeline`); they differ only in how they send a request,
sleep and wait for a shared token refresh.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, overload

import anyio
import anyio.lowlevel
import httpx

from govmedia._aio import AiohttpSender
from govmedia._limits import DEFAULT_MAX_RESPONSE_BYTES, check_max_response_bytes, deadline_of
from govmedia._pipeline import RATE_TICKET, GetToken, Ops, Pipeline, Send, derive_key
from govmedia._secrets import install_log_filters, remember
from govmedia._userhttp import send_async, send_sync
from govmedia.content.checks import load_checks
from govmedia.content.screen import Screen
from govmedia.errors import ConfigError, GovMediaError, ValidationError
from govmedia.fanout import Attempt, FanOut, Item, Mode, Progress
from govmedia.journal import Journal
from govmedia.matrix import Matrix
from govmedia.model import Channel, Delivery, Metrics, Post, Problem, Receipt
from govmedia.platforms import registry
from govmedia.platforms.base import BasePlatform, Flow, Sleep, Token, is_retry_safe
from govmedia.policy.ratelimit import RateLimit, RateLimiter, Ticket
from govmedia.policy.retry import RetryPolicy
from govmedia.report import CampaignMetrics, Report

if TYPE_CHECKING:  # httpcore costs ~10 ms to import: only once a pool is made
    from govmedia._pool import AsyncPoolSender, PoolSender

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Client"]

logger = logging.getLogger("govmedia")
T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_REFRESH_EARLY = 60.0  # seconds before expiry a cached token is renewed
_sleep = time.sleep  # module-level so tests can watch the waits
_GATE_CODES = frozenset({"screened_term", "approvals_missing", "check_failed", "check_unavailable"})


class _BaseClient:
    """Options, platforms, token cache and the checks shared by both clients."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        concurrency: int = 16,
        timeout: float | httpx.Timeout | None = None,
        require_approvals: int = 0,
        journal: str | os.PathLike[str] | Journal | None = None,
        screen: Screen | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        install_log_filters()
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
        if not isinstance(require_approvals, int) or require_approvals < 0:
            raise ConfigError(f"require_approvals must be 0 or more, got {require_approvals!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError(f"retry must be a gm.RetryPolicy, got {retry!r}")
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self.require_approvals = require_approvals
        if screen is not None and not isinstance(screen, Screen):
            raise ConfigError(f"screen must be a gm.Screen, got {screen!r}")
        self.screen = screen
        # Extra compliance checks from the govmedia.checks entry points,
        # imported the first time one runs.
        self._checks = load_checks()
        if timeout is None:
            self.timeout = DEFAULT_TIMEOUT
        elif isinstance(timeout, httpx.Timeout):
            self.timeout = timeout
        else:
            self.timeout = httpx.Timeout(timeout)
        self.max_response_bytes = check_max_response_bytes(max_response_bytes)
        self._deadline = deadline_of(self.timeout)  # per request, connect to last byte
        self._own_journal = journal is not None and not isinstance(journal, Journal)
        if journal is None or isinstance(journal, Journal):
            self.journal = journal
        elif isinstance(journal, (str, os.PathLike)):
            self.journal = Journal(journal)
        else:
            raise ConfigError(f"journal must be a path or a gm.Journal, got {journal!r}")
        self._limiter = RateLimiter(rate_limits)
        self._pipeline = Pipeline(retry=self.retry, limiter=self._limiter, timeout=self.timeout)
        self._platforms: dict[str, BasePlatform] = {}
        # Channels are immutable, so one check per channel object is enough;
        # keyed by id() with the object kept, as equal channels may differ in
        # credentials.
        self._checked: weakref.WeakValueDictionary[int, Channel] = weakref.WeakValueDictionary()
        self._tokens: dict[tuple[str, str], tuple[Token, float]] = {}
        self._clock: Callable[[], float] = time.monotonic

    # ----------------------------------------------------------- platforms

    def _platform(self, channel: Channel) -> BasePlatform:
        if not isinstance(channel, Channel):
            raise ConfigError(f"expected a gm.Channel, got {type(channel).__name__}")
        platform = self._platforms.get(channel.platform)
        if platform is None:
            platform = self._platforms[channel.platform] = registry.get(channel.platform)()
        if self._checked.get(id(channel)) is not channel:
            platform.check_channel(channel)
            self._checked[id(channel)] = channel
        return platform

    def _problems(
        self, post: Post, channel: Channel, *, variants: bool = True
    ) -> tuple[BasePlatform, list[Problem]]:
        platform, _, problems = self._prepare(post, channel, variants=variants)
        return platform, problems

    def _prepare(
        self, post: Post, channel: Channel, *, variants: bool = True, original: Post | None = None,
        platform: BasePlatform | None = None,
    ) -> tuple[BasePlatform, Post, list[Problem]]:
        """The post as *channel* sends it, and every problem it has there.

        Screening and approvals judge the content as written (variant applied,
        before any script conversion); the platform's own checks judge what
        is actually sent.
        """
        if not isinstance(post, Post):
            raise ConfigError(f"expected a gm.Post, got {type(post).__name__}")
        if platform is None:  # a fan-out passes the one it checked the channel with
            platform = self._platform(channel)
        written = post.for_channel(channel) if variants else post
        problems = self._gate(original or post, written)
        script = channel.options.get("script")
        outgoing = written
        if script:
            from govmedia.content.script import convert_post  # OpenCC: only when asked

            outgoing = convert_post(written, script)
        if channel.options.get("fit"):
            from govmedia.content.fit import fit_post

            limit = channel.options.get("max_characters")
            outgoing = fit_post(outgoing, platform.name,
                                limit=limit if isinstance(limit, int) else None)
        problems.extend(platform.validate(outgoing, channel))
        if self._checks:
            problems.extend(self._checks(outgoing, channel))
        return platform, outgoing, problems

    def _gate(self, post: Post, written: Post) -> list[Problem]:
        """Screening hits and missing approvals, found before any platform rule."""
        problems = self.screen.problems(written) if self.screen is not None else []
        if self.require_approvals:
            have = post.valid_approvers
            if len(have) < self.require_approvals:
                voided = len({a.approver for a in post.approvals}) - len(have)
                extra = f" ({voided} approval(s) void: the content changed since)" if voided else ""
                problems.append(Problem(
                    code="approvals_missing",
                    message=(f"{len(have)} of {self.require_approvals} required approvals "
                             f"match this content{extra}"),
                    field="approvals",
                ))
        return problems

    def _audit_refusal(self, post: Post, channel: Channel, problems: list[Problem]) -> None:
        """Write a compliance refusal (screening, approvals, checks) to the journal."""
        gate = [p for p in problems if p.code in _GATE_CODES]
        if self.journal is not None and gate:
            detail = "; ".join(f"{p.code}: {p.message}" for p in gate)
            self.journal.audit(post.key, "refusal", content_hash=post.content_hash,
                               detail=f"{channel.id}: {detail}")

    def _publish_flow(self, post: Post, channel: Channel) -> tuple[BasePlatform, Flow[Receipt]]:
        platform, outgoing, problems = self._prepare(post, channel)
        if problems:
            self._audit_refusal(post, channel, problems)
            raise ValidationError(problems, platform=channel.platform, account=channel.account)
        key = derive_key(post.key, channel.platform, channel.account)
        return platform, platform.publish(outgoing, channel, key)

    def _receipt_platform(self, receipt: Receipt) -> BasePlatform:
        if not isinstance(receipt, Receipt):
            raise ConfigError(f"expected a gm.Receipt, got {type(receipt).__name__}")
        return self._platform(receipt.channel)

    def _start(self, post: Post, target: Matrix | Iterable[Channel], *, mode: str, dry_run: bool,
               progress: Progress | None, concurrency: int | None) -> tuple[FanOut, int]:
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
        run = FanOut(self, post, target, mode=mode, dry_run=dry_run, progress=progress,
                     journal=self.journal)
        return run, max(1, min(concurrency or self.concurrency, len(run)))

    def _metric_targets(self, report: Report) -> list[tuple[dict[str, Any], Receipt | None]]:
        targets: list[tuple[dict[str, Any], Receipt | None]] = []
        for d in report.deliveries:
            ident = {"platform": d.channel.platform, "account": d.channel.account,
                     "url": d.receipt.url if d.receipt else None}
            targets.append((ident, d.receipt if d.state in ("published", "skipped") else None))
        return targets

    def _close_journal(self) -> None:
        if self._own_journal and self.journal is not None:
            self.journal.close()

    # ----------------------------------------------------------- tokens

    def _cached_token(self, scope: tuple[str, str], stale: Token | None) -> Token | None:
        entry = self._tokens.get(scope)
        if entry is None:
            return None
        token, expires_at = entry
        if stale is not None and token.value == stale.value:
            return None  # the platform refused this one: renew it
        if self._clock() >= expires_at - _REFRESH_EARLY:
            return None
        return token

    def _store_token(self, scope: tuple[str, str], token: Token) -> Token:
        remember(token.value)
        lifetime = token.expires_in if token.expires_in is not None else float("inf")
        self._tokens[scope] = (token, self._clock() + lifetime)
        return token

    def _auth_ops(self, op: GetToken) -> tuple[tuple[str, str], Ops[Token]]:
        scope = (op.platform.name, op.platform.token_scope(op.channel))
        flow = op.platform.authenticate(op.channel)
        return scope, self._pipeline.run_flow(op.platform, op.channel, flow, auth=False)


class Client(_BaseClient):
    """The synchronous client.

    Args:
        http: an `httpx.Client` to send with; one passed in is never closed here.

    Keyword Args:
        retry (RetryPolicy | None): the `RetryPolicy` for every step.
        rate_limits (Mapping[str, RateLimit] | None): ``{"platform" or
            "platform:account": gm.RateLimit(...)}``.
        concurrency (int): how many deliveries a fan-out runs at once.
        timeout (float | httpx.Timeout | None): seconds (or an `httpx.Timeout`)
            per request; its largest value also bounds each request as a
            whole, connect to last byte.
        max_response_bytes (int): the largest answer read (8 MiB by default);
            a larger one fails with code ``response_too_large``.
        require_approvals (int): distinct approvals of the current content a
            post needs.
        journal (str | os.PathLike[str] | Journal | None): a SQLite journal
            (a path, or a `Journal`) that makes fan-outs exactly-once across runs;
            approvals and refusals are written to it as an audit trail.
        screen (Screen | None): sensitive-word screening; a post with a hit is
            refused before any request (`ValidationError`, delivery ``invalid``).

    Compliance checks registered in the ``govmedia.checks`` entry-point group
    run on every post too. A channel option ``script`` (``"traditional"`` or
    ``"simplified"``) converts the text on the way out, after screening and
    approvals have judged the text as written.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.testing import Sandbox
        >>> sandbox = Sandbox()
        >>> ch = sandbox.channel("mastodon")
        >>> with gm.Client(http=sandbox.client()) as client:
        ...     receipt = client.publish(gm.Post(text="央企招聘季开始了"), ch)
        >>> receipt.state
        'published'
    """

    def __init__(self, *, http: httpx.Client | None = None, **options: Any) -> None:
        super().__init__(**options)
        if http is not None and not isinstance(http, httpx.Client):
            raise ConfigError("http must be an httpx.Client (use AsyncClient for httpx.AsyncClient)")
        self._own_http = http is None
        # Without a client of the user's, requests go straight to an httpcore
        # pool (govmedia._pool: address guard, cap, deadline): govmedia needs
        # no cookies, auth hooks or redirects, and skipping them is a fifth of
        # the client-side cost of a delivery. The pool (and its TLS context,
        # ~20 ms) is made on first use: a fan-out never needs it. A client
        # passed in is used as it is, its answers read against the cap.
        self._http = http
        self._transport: PoolSender | None = None
        self._token_locks: dict[tuple[str, str], threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP client and the journal if govmedia opened them."""
        if self._transport is not None:  # ours; a client passed in is the user's to close
            self._transport.close()
            self._transport = None
        self._close_journal()

    # ----------------------------------------------------------- public API

    def check(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: every problem *post* would meet on *channel* (empty: fine).

        Raises:
            ConfigError: the channel is unusable (unknown platform, missing credential).
        """
        return self._problems(post, channel)[1]

    def publish(self, post: Post, channel: Channel) -> Receipt:
        """Publish *post* on *channel* and return the platform's `Receipt`.

        Raises:
            ValidationError: the post does not fit (nothing was sent).
            PlatformError: the platform refused, or `DeliveryUnknown` where the
                post may or may not be live.
        """
        platform, flow = self._publish_flow(post, channel)
        return self._drive(self._pipeline.run_flow(platform, channel, flow))

    def delete(self, receipt: Receipt) -> None:
        """Remove a published post."""
        platform = self._receipt_platform(receipt)
        self._drive(self._pipeline.run_flow(platform, receipt.channel, platform.delete(receipt)))

    @overload
    def metrics(self, target: Receipt) -> Metrics: ...
    @overload
    def metrics(self, target: Report) -> CampaignMetrics: ...

    def metrics(self, target: Receipt | Report) -> Metrics | CampaignMetrics:
        """Read a post's counts, or a whole fan-out's per account and in total.

        A count the platform does not give is ``None``, never 0.
        """
        if isinstance(target, Report):
            targets = self._metric_targets(target)
            workers = max(1, min(self.concurrency, len(targets)))
            with ThreadPoolExecutor(workers) as pool:
                got = list(pool.map(self._metrics_or_error, [r for _, r in targets]))
            return CampaignMetrics.collect([(i, g) for (i, _), g in zip(targets, got, strict=True)])
        platform = self._receipt_platform(target)
        return self._drive(
            self._pipeline.run_flow(platform, target.channel, platform.metrics(target))
        )

    def _metrics_or_error(self, receipt: Receipt | None) -> Metrics | BaseException:
        if receipt is None:
            return GovMediaError("not published")
        try:
            return self.metrics(receipt)
        except GovMediaError as exc:
            return exc

    def fan_out(
        self,
        post: Post,
        target: Matrix | Iterable[Channel],
        *,
        mode: Mode = "broadcast",
        concurrency: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> Report:
        """Publish *post* to every channel of *target*; never raises for one account.

        Args:
            post: the post; its variants are applied per channel.
            target: a `Matrix` or any iterable of `Channel`.
            mode: ``"broadcast"`` (everyone publishes) or ``"amplify"`` (the hub
                publishes, then members repost it or link to it).
            concurrency: deliveries at once (default: the client's).
            dry_run: check every channel and send nothing.
            progress: called once per finished `Delivery` (from worker threads).

        Returns:
            A `Report` with one `Delivery` per channel, hub first.

        With govmedia's own HTTP client the deliveries run on an event loop in
        a helper thread, with the async client's sender: a thread pool over
        httpx's sync client manages about a third of that speed on two cores
        (docs/performance.md). With an ``http=`` client of yours, a thread
        pool sends through it.
        """
        if self._own_http and not dry_run:
            return self._fan_out_on_loop(post, target, mode=mode, concurrency=concurrency,
                                         progress=progress)
        run, workers = self._start(post, target, mode=mode, dry_run=dry_run, progress=progress,
                                   concurrency=concurrency)
        hub = run.hub_item()
        if hub is not None:
            self._deliver(run, hub)
        if workers == 1:
            self._worker(run)
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="govmedia") as pool:
                for future in [pool.submit(self._worker, run) for _ in range(workers)]:
                    future.result()
        return run.report()

    def _worker(self, run: FanOut) -> None:
        while (item := run.next_item()) is not None:
            self._deliver(run, item)

    def _fan_out_on_loop(self, post: Post, target: Matrix | Iterable[Channel], *, mode: Mode,
                         concurrency: int | None, progress: Progress | None) -> Report:
        twin = AsyncClient._sharing(self)  # noqa: SLF001

        async def run() -> Report:
            try:
                return await twin.fan_out(post, target, mode=mode, concurrency=concurrency,
                                          progress=progress)
            finally:
                await twin.aclose()

        # A loop of its own in a helper thread: works where the caller already
        # runs one (a notebook), unlike asyncio.run.
        with anyio.from_thread.start_blocking_portal() as portal:
            return portal.call(run)

    def _deliver(self, run: FanOut, item: Item) -> None:
        decision = run.decide(item)
        if isinstance(decision, Delivery):
            run.record(item, decision)
            return
        run.record(item, self._attempt(run, decision))

    def _attempt(self, run: FanOut, attempt: Attempt) -> Delivery:
        platform, channel = attempt.platform, attempt.item.channel
        track = _Track()
        try:
            if attempt.reconcile is not None:
                found = self._drive(self._pipeline.run_flow(platform, channel, attempt.reconcile()))
                if found is not None:
                    return run.outcome(attempt, found)
            if not run.claim(attempt):
                return run.outcome(attempt, None)
            flow = self._pipeline.run_flow(platform, channel, attempt.make_flow())
            return run.outcome(attempt, self._drive(flow, track))
        except Exception as exc:  # noqa: BLE001 - one account's fault never stops the rest
            return run.outcome(attempt, exc, sent_unsafe=track.sent_unsafe)

    # ----------------------------------------------------------- driver

    def _drive(self, ops: Ops[T], track: _Track | None = None) -> T:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = ops.throw(error) if error is not None else ops.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(op, Sleep):
                _sleep(op.seconds)
            elif isinstance(op, Send):
                if track is not None:
                    track.sent(op.request)
                try:
                    value = self._send(op.request)
                except httpx.TransportError as exc:
                    value = exc
            else:
                try:
                    value = self._token(op)
                except GovMediaError as exc:
                    error = exc

    def _send(self, request: httpx.Request) -> httpx.Response:
        ticket = request.extensions.get(RATE_TICKET)
        if ticket is not None:
            request.extensions["trace"] = _sync_trace(ticket)
        if self._http is not None:
            return send_sync(self._http, request, max_body=self.max_response_bytes,
                             deadline=self._deadline)
        if self._transport is None:
            from govmedia._pool import PoolSender

            self._transport = PoolSender(self.timeout, max_body=self.max_response_bytes)
        return self._transport.send(request)

    def _token(self, op: GetToken) -> Token:
        scope = (op.platform.name, op.platform.token_scope(op.channel))
        token = self._cached_token(scope, op.stale)
        if token is not None:
            return token
        with self._locks_lock:
            lock = self._token_locks.setdefault(scope, threading.Lock())
        with lock:  # one refresh per app, however many callers wait for it
            token = self._cached_token(scope, op.stale)
            if token is not None:
                return token
            _, ops = self._auth_ops(op)
            return self._store_token(scope, self._drive(ops))


class AsyncClient(_BaseClient):
    """The asynchronous client: the same methods as `Client`, awaited.

    By default it sends with aiohttp (under asyncio; httpx's own transport
    under trio), which holds its speed under high concurrency; pass
    ``http=httpx.AsyncClient(...)`` to send through your own client instead.

    Example:
        >>> import anyio, govmedia as gm
        >>> from govmedia.testing import Sandbox
        >>> sandbox = Sandbox()
        >>> async def main():
        ...     async with gm.AsyncClient(http=sandbox.async_client()) as client:
        ...         return await client.publish(gm.Post(text="你好"), sandbox.channel("webhook"))
        >>> anyio.run(main).state
        'published'
    """

    @classmethod
    def _sharing(cls, base: _BaseClient) -> AsyncClient:
        """An async client with *base*'s options, limits, tokens and journal."""
        twin = cls.__new__(cls)
        twin.__dict__.update(base.__dict__)
        twin.__dict__.update(
            _own_journal=False,  # the journal stays *base*'s to close
            _http_client=None, _sender=None, _token_locks={}, _claims={},
        )
        return twin

    def __init__(self, *, http: httpx.AsyncClient | None = None, **options: Any) -> None:
        super().__init__(**options)
        if http is not None and not isinstance(http, httpx.AsyncClient):
            raise ConfigError("http must be an httpx.AsyncClient (use Client for httpx.Client)")
        self._http_client = http
        self._sender: AiohttpSender | AsyncPoolSender | None = None
        self._token_locks: dict[tuple[str, str], anyio.Lock] = {}
        self._claims: dict[int, _ClaimBatch] = {}

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client and the journal if govmedia opened them."""
        if self._sender is not None:
            await self._sender.aclose()
            self._sender = None
        self._close_journal()

    # ----------------------------------------------------------- public API

    async def check(self, post: Post, channel: Channel) -> list[Problem]:
        """Offline: every problem *post* would meet on *channel*; see `Client.check`."""
        return self._problems(post, channel)[1]

    async def publish(self, post: Post, channel: Channel) -> Receipt:
        """Publish *post* on *channel*; see `Client.publish`."""
        platform, flow = self._publish_flow(post, channel)
        return await self._drive(self._pipeline.run_flow(platform, channel, flow))

    async def delete(self, receipt: Receipt) -> None:
        """Remove a published post."""
        platform = self._receipt_platform(receipt)
        await self._drive(
            self._pipeline.run_flow(platform, receipt.channel, platform.delete(receipt))
        )

    @overload
    async def metrics(self, target: Receipt) -> Metrics: ...
    @overload
    async def metrics(self, target: Report) -> CampaignMetrics: ...

    async def metrics(self, target: Receipt | Report) -> Metrics | CampaignMetrics:
        """Read a post's counts, or a whole fan-out's; see `Client.metrics`."""
        if isinstance(target, Report):
            targets = self._metric_targets(target)
            got: list[Metrics | BaseException] = [GovMediaError("not published")] * len(targets)
            limiter = anyio.CapacityLimiter(self.concurrency)

            async def one(i: int, receipt: Receipt) -> None:
                async with limiter:
                    try:
                        got[i] = await self.metrics(receipt)
                    except GovMediaError as exc:
                        got[i] = exc

            async with anyio.create_task_group() as tg:
                for i, (_, receipt) in enumerate(targets):
                    if receipt is not None:
                        tg.start_soon(one, i, receipt)
            return CampaignMetrics.collect([(i, g) for (i, _), g in zip(targets, got, strict=True)])
        platform = self._receipt_platform(target)
        return await self._drive(
            self._pipeline.run_flow(platform, target.channel, platform.metrics(target))
        )

    async def fan_out(
        self,
        post: Post,
        target: Matrix | Iterable[Channel],
        *,
        mode: Mode = "broadcast",
        concurrency: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> Report:
        """Publish *post* to every channel of *target*; see `Client.fan_out`.

        Workers run in an anyio task group; each pulls the next channel when
        it is free, so one slow account never holds up the rest.
        """
        run, workers = self._start(post, target, mode=mode, dry_run=dry_run, progress=progress,
                                   concurrency=concurrency)
        if not dry_run:
            # Import aiohttp and open the session before any rate-limit token
            # is taken: a first send that stalls ~0.2 s on the import lets the
            # bucket refill, and the opening burst would land doubled.
            self._ready_sender()
        hub = run.hub_item()
        if hub is not None:
            await self._deliver(run, hub)
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(self._worker, run)
        return run.report()

    async def _claim(self, run: FanOut, attempt: Attempt) -> bool:
        """Claim in the journal, sharing one commit with every worker ready now.

        The first worker to arrive yields once to the loop so that the others
        about to send can join, then commits all their claims together; each
        worker sends only after that commit.
        """
        if run.journal is None:
            return True
        batch = self._claims.get(id(run))
        if batch is not None:
            slot = len(batch.attempts)
            batch.attempts.append(attempt)
            await batch.done.wait()
            if batch.error is not None:
                raise batch.error
            return batch.results[slot]
        batch = self._claims[id(run)] = _ClaimBatch([attempt])
        try:
            await anyio.lowlevel.checkpoint()
        finally:
            del self._claims[id(run)]
            # The commit runs here, on the loop: a batch commits in ~0.1 ms.
            # In a worker thread it was slower (measured: 10-25 % fewer
            # deliveries/s), as the thread waits for the GIL after each
            # SQLite call while the loop keeps the CPU busy.
            try:
                batch.results = run.claim_many(batch.attempts)
            except Exception as exc:  # noqa: BLE001 - handed to every waiter below
                batch.error = exc
            finally:
                batch.done.set()
        if batch.error is not None:
            raise batch.error
        return batch.results[0]

    async def _worker(self, run: FanOut) -> None:
        while (item := run.next_item()) is not None:
            await self._deliver(run, item)

    async def _deliver(self, run: FanOut, item: Item) -> None:
        decision = run.decide(item)
        if isinstance(decision, Delivery):
            run.record(item, decision)
            return
        run.record(item, await self._attempt(run, decision))

    async def _attempt(self, run: FanOut, attempt: Attempt) -> Delivery:
        platform, channel = attempt.platform, attempt.item.channel
        track = _Track()
        try:
            if attempt.reconcile is not None:
                found = await self._drive(
                    self._pipeline.run_flow(platform, channel, attempt.reconcile())
                )
                if found is not None:
                    return run.outcome(attempt, found)
            if not await self._claim(run, attempt):
                return run.outcome(attempt, None)
            flow = self._pipeline.run_flow(platform, channel, attempt.make_flow())
            return run.outcome(attempt, await self._drive(flow, track))
        except Exception as exc:  # noqa: BLE001 - one account's fault never stops the rest
            return run.outcome(attempt, exc, sent_unsafe=track.sent_unsafe)

    # ----------------------------------------------------------- driver

    async def _drive(self, ops: Ops[T], track: _Track | None = None) -> T:
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = ops.throw(error) if error is not None else ops.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(op, Sleep):
                await anyio.sleep(op.seconds)
            elif isinstance(op, Send):
                if track is not None:
                    track.sent(op.request)
                try:
                    value = await self._send(op.request)
                except httpx.TransportError as exc:
                    value = exc
            else:
                try:
                    value = await self._token(op)
                except GovMediaError as exc:
                    error = exc

    def _ready_sender(self) -> AiohttpSender | AsyncPoolSender | None:
        """The default sender, opened (None when the user's client sends)."""
        if self._http_client is not None:
            return None
        sender = self._sender
        if sender is None:
            sender = self._sender = _default_sender(self.timeout, report_sent=bool(self._limiter),
                                                    max_body=self.max_response_bytes)
            if isinstance(sender, AiohttpSender):
                sender.open()
        return sender

    async def _send(self, request: httpx.Request) -> httpx.Response:
        sender = None if self._http_client is not None else self._sender or self._ready_sender()
        if isinstance(sender, AiohttpSender):
            return await sender.send(request)  # it settles rate tickets itself
        ticket = request.extensions.get(RATE_TICKET)
        if ticket is not None:
            request.extensions["trace"] = _async_trace(ticket)
        if sender is None:
            assert self._http_client is not None  # the user's client sends
            return await send_async(self._http_client, request, max_body=self.max_response_bytes,
                                    deadline=self._deadline)
        return await sender.send(request)

    async def _token(self, op: GetToken) -> Token:
        scope = (op.platform.name, op.platform.token_scope(op.channel))
        token = self._cached_token(scope, op.stale)
        if token is not None:
            return token
        lock = self._token_locks.setdefault(scope, anyio.Lock())
        async with lock:  # one refresh per app, however many tasks wait for it
            token = self._cached_token(scope, op.stale)
            if token is not None:
                return token
            _, ops = self._auth_ops(op)
            return self._store_token(scope, await self._drive(ops))


class _ClaimBatch:
    """Claims that share one journal commit, and what came of them."""

    __slots__ = ("attempts", "done", "error", "results")

    def __init__(self, attempts: list[Attempt]) -> None:
        self.attempts = attempts
        self.done = anyio.Event()
        self.results: list[bool] = []
        self.error: BaseException | None = None


class _Track:
    """Remembers whether a write that may not be resent went out."""

    __slots__ = ("sent_unsafe",)

    def __init__(self) -> None:
        self.sent_unsafe = False

    def sent(self, request: httpx.Request) -> None:
        if not self.sent_unsafe and not is_retry_safe(request):
            self.sent_unsafe = True


def _sync_trace(ticket: Ticket) -> Callable[[str, dict[str, Any]], None]:
    """An httpcore trace hook that settles *ticket* once the headers are written."""
    def trace(event: str, _info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.complete"):
            ticket.sent()
    return trace


def _async_trace(ticket: Ticket) -> Callable[[str, dict[str, Any]], Awaitable[None]]:
    """`_sync_trace` for httpcore's async connections."""
    async def trace(event: str, _info: dict[str, Any]) -> None:
        if event.endswith("send_request_headers.complete"):
            ticket.sent()
    return trace


def _default_sender(timeout: httpx.Timeout, *, report_sent: bool = False,
                    max_body: int = DEFAULT_MAX_RESPONSE_BYTES) -> AiohttpSender | AsyncPoolSender:
    """The default sender: aiohttp under asyncio, an httpcore pool elsewhere (trio)."""
    try:
        import sniffio  # type: ignore[import-not-found, unused-ignore]

        library = str(sniffio.current_async_library())
    except Exception:  # noqa: BLE001 - no running loop detected: be conservative
        library = "asyncio"
    if library == "asyncio":
        return AiohttpSender(timeout, report_sent=report_sent, max_body=max_body)
    from govmedia._pool import AsyncPoolSender

    return AsyncPoolSender(timeout, max_body=max_body)
