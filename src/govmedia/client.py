"""`Client` and `AsyncClient`: check, publish, delete and read metrics.

Both hold the same options and run the same platform flows through the same
pipeline (`govmedia._pipeline`); they differ only in how they send a request,
sleep and wait for a shared token refresh.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

import anyio
import anyio.from_thread
import httpx

from govmedia._aio import AiohttpSender
from govmedia._engine import AsyncEngine
from govmedia._limits import DEFAULT_MAX_RESPONSE_BYTES, check_max_response_bytes, deadline_of
from govmedia._pipeline import (
    RATE_TICKET,
    Claim,
    GetToken,
    Ops,
    Pipeline,
    Record,
    Send,
    Track,
    Upload,
    cached_token,
    token_ops,
)
from govmedia._prepare import Preparer
from govmedia._retract import RetractItem, RetractPlan, plan_retraction, retract_ops
from govmedia._secrets import install_log_filters
from govmedia._userhttp import send_async, send_sync
from govmedia.checkup import Health, Rendered, health_ops, render
from govmedia.content.screen import Screen
from govmedia.errors import ConfigError, GovMediaError
from govmedia.fanout import Attempt, FanOut, Item, Mode, Progress
from govmedia.journal import Journal, journal_target
from govmedia.matrix import Matrix
from govmedia.model import Channel, Delivery, Metrics, Post, Problem, Receipt
from govmedia.platforms.base import BasePlatform, Sleep
from govmedia.platforms.steps import release
from govmedia.policy.ratelimit import RateLimit, RateLimiter, RateStore, Ticket, rate_store_from
from govmedia.policy.retry import RetryPolicy
from govmedia.report import CampaignMetrics, Report
from govmedia.tokens import MemoryTokenStore, Token, TokenStore

if TYPE_CHECKING:  # httpcore costs ~10 ms to import: only once a pool is made
    from govmedia._pool import AsyncPoolSender, PoolSender

__all__ = ["DEFAULT_TIMEOUT", "AsyncClient", "Client"]

logger = logging.getLogger("govmedia")
T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_sleep = time.sleep  # module-level so tests can watch the waits


class _BaseClient:
    """Options, the preparer, the pipeline and the token store shared by both clients."""

    def __init__(  # noqa: C901 - one check per option
        self,
        *,
        retry: RetryPolicy | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        concurrency: int = 16,
        timeout: float | httpx.Timeout | None = None,
        require_approvals: int = 0,
        journal: str | os.PathLike[str] | Journal | bool | None = None,
        screen: Screen | None = None,
        tokens: TokenStore | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        rate_store: str | RateStore | None = None,
    ) -> None:
        install_log_filters()
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
        if not isinstance(require_approvals, int) or require_approvals < 0:
            raise ConfigError(f"require_approvals must be 0 or more, got {require_approvals!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigError(f"retry must be a gm.RetryPolicy, got {retry!r}")
        if screen is not None and not isinstance(screen, Screen):
            raise ConfigError(f"screen must be a gm.Screen, got {screen!r}")
        if tokens is not None and not isinstance(tokens, TokenStore):
            raise ConfigError(f"tokens must be a token store (get, put, lock), got {tokens!r}")
        self.retry = retry or RetryPolicy()
        self.concurrency = concurrency
        self.require_approvals = require_approvals
        self.screen = screen
        if timeout is None:
            self.timeout = DEFAULT_TIMEOUT
        elif isinstance(timeout, httpx.Timeout):
            self.timeout = timeout
        else:
            self.timeout = httpx.Timeout(timeout)
        self.max_response_bytes = check_max_response_bytes(max_response_bytes)
        self._deadline = deadline_of(self.timeout)  # per request, connect to last byte
        # The journal's path is read now (DESIGN: `journal=None` means the
        # default as it is when the client is made); the file is opened on
        # first use, so a client that only checks posts creates nothing.
        self._journal: Journal | None = None
        self._journal_path: Path | str | None = None
        if isinstance(journal, Journal):
            self._journal = journal
        elif journal is None or journal is True:
            self._journal_path = journal_target(None)
        elif isinstance(journal, str | os.PathLike):
            self._journal_path = journal_target(journal)
        elif journal is not False:
            raise ConfigError(
                f"journal must be a path, a gm.Journal, None (the default) or False (off), "
                f"got {journal!r}")
        self._own_journal = self._journal_path is not None
        self._journal_lock = threading.Lock()  # threads' first publish opens it once
        self._limiter = RateLimiter(rate_limits, store=rate_store_from(rate_store))
        self._pipeline = Pipeline(retry=self.retry, limiter=self._limiter, timeout=self.timeout)
        self._preparer = Preparer(screen=screen, require_approvals=require_approvals,
                                  journal=lambda: self.journal, on_platform=self._platform_added)
        self._tokens: TokenStore = tokens if tokens is not None else MemoryTokenStore()

    @property
    def journal(self) -> Journal | None:
        """The journal this client records fan-outs in (opened on first use), or ``None`` when off.

        By default the one at `govmedia.journal.default_journal_path`, shared by
        every client and the CLI of the same user.
        """
        if self._journal is None and self._journal_path is not None:
            with self._journal_lock:
                if self._journal is None:
                    self._journal = Journal(self._journal_path)
        return self._journal

    def _platform_added(self, platform: BasePlatform) -> None:
        """A platform's default rate limits apply where the user set none for the same key."""
        defaults = getattr(platform, "default_rate_limits", None)
        if defaults:
            self._limiter.add_defaults(defaults)

    @property
    def _checks(self) -> Any:
        return self._preparer.checks

    @_checks.setter
    def _checks(self, value: Any) -> None:
        self._preparer.checks = value

    # ----------------------------------------------------------- preparing

    def _platform(self, channel: Channel) -> BasePlatform:
        return self._preparer.platform(channel)

    def _problems(self, post: Post, channel: Channel) -> list[Problem]:
        return self._preparer.prepare(post, channel).problems

    def _single(self, post: Post, channel: Channel) -> tuple[FanOut, Item]:
        """A run of one delivery: `publish` is exactly-once through the journal too."""
        if not isinstance(post, Post):
            raise ConfigError(f"expected a gm.Post, got {type(post).__name__}")
        self._preparer.platform(channel)  # ConfigError for an unusable channel, before any run
        run = FanOut(self._preparer, self._pipeline, post, [channel], mode="broadcast",
                     dry_run=False, progress=None, journal=self.journal)
        item = run.next_item()
        assert item is not None
        return run, item

    @staticmethod
    def _receipt_of(run: FanOut, delivery: Delivery) -> Receipt:
        """The receipt of a one-delivery run, or its error raised."""
        run.report()
        if delivery.receipt is not None and delivery.state in ("published", "skipped"):
            return delivery.receipt
        if delivery.error is not None:
            raise delivery.error
        raise GovMediaError(f"{delivery.channel.id}: the journal shows this post published, but "
                            "without a receipt to give back")

    def _receipt_ops(self, receipt: Receipt, action: str) -> Ops[Any]:
        if not isinstance(receipt, Receipt):
            raise ConfigError(f"expected a gm.Receipt, got {type(receipt).__name__}")
        platform = self._platform(receipt.channel)
        flow = platform.delete(receipt) if action == "delete" else platform.metrics(receipt)
        return self._pipeline.run_flow(platform, receipt.channel, flow, track=Track())

    def _start(self, post: Post, target: Matrix | Iterable[Channel], *, mode: str, dry_run: bool,
               progress: Progress | None, concurrency: int | None,
               changed: str = "refuse") -> tuple[FanOut, int]:
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            raise ConfigError(f"concurrency must be a positive integer, got {concurrency!r}")
        run = FanOut(self._preparer, self._pipeline, post, target, mode=mode, dry_run=dry_run,
                     progress=progress, journal=None if dry_run else self.journal,
                     changed=changed)
        return run, max(1, min(concurrency or self.concurrency, len(run)))

    @staticmethod
    def _dry(run: FanOut) -> Report:
        """A dry run: every delivery decided, nothing sent, nothing written."""
        hub = run.hub_item()
        if hub is not None:
            run.record(hub.index, hub.role, _finished(run.decide(hub)))
        while (item := run.next_item()) is not None:
            run.record(item.index, item.role, _finished(run.decide(item)))
        return run.report()

    def _metric_targets(self, report: Report) -> list[tuple[dict[str, Any], Receipt | None]]:
        targets: list[tuple[dict[str, Any], Receipt | None]] = []
        for d in report.deliveries:
            ident = {"platform": d.channel.platform, "account": d.channel.account,
                     "url": d.receipt.url if d.receipt else None}
            targets.append((ident, d.receipt if d.state in ("published", "skipped") else None))
        return targets

    # ----------------------------------------------------------- the operator's day

    def _resolve(self, target: Report | str, channel: Channel | str, state: str, *,
                 url: str | None, remote_id: str | None, by: str | None) -> Delivery:
        journal = self.journal
        if journal is None:
            raise ConfigError("resolve needs the journal; this client has journal=False")
        if isinstance(target, Report):
            post_key, run_id = target.post_key, target.run_id
        elif isinstance(target, str):
            run = journal.find_run(target)
            post_key, run_id = run.post_key, run.id
        else:
            raise ConfigError(f"resolve takes a gm.Report or a run id, got {type(target).__name__}")
        platform, account = self._which(journal, post_key, channel)
        if state == "published" and not (url or remote_id):
            raise ConfigError("resolving as published needs url= or remote_id= (what you found on "
                              "the account): retract and metrics use it")
        journal.resolve(post_key, platform, account, state, remote_id=remote_id, url=url, by=by,
                        run_id=run_id)
        now = dt.datetime.now(dt.UTC)
        bare = channel if isinstance(channel, Channel) else Channel(platform=platform, account=account)
        if state == "published":
            receipt = Receipt(channel=bare, remote_id=remote_id or url or "", url=url,
                              raw={"resolved_by": by})
            return Delivery(channel=bare, state="published", receipt=receipt, finished_at=now)
        return Delivery(channel=bare, state="failed", finished_at=now, error=GovMediaError(
            f"{bare.id}: resolved as failed by {by or 'an operator'}; a re-run sends it"))

    @staticmethod
    def _which(journal: Journal, post_key: str, channel: Channel | str) -> tuple[str, str]:
        """``(platform, account)`` of *channel*: a Channel, ``"platform:account"`` or an account."""
        if isinstance(channel, Channel):
            return channel.platform, channel.account
        if not isinstance(channel, str) or not channel:
            raise ConfigError(f"channel must be a gm.Channel or an account name, got {channel!r}")
        keys = list(journal.entries(post_key))
        if (tuple(channel.split(":", 1)) in keys) and ":" in channel:
            platform, account = channel.split(":", 1)
            return platform, account
        matches = [k for k in keys if k[1] == channel]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise ConfigError(f"no delivery of this post on an account named {channel!r}")
        raise ConfigError(f"several platforms have an account named {channel!r}: say which, "
                          f"as {', '.join(f'{p}:{a}' for p, a in matches)}")

    def _verify_plan(self, target: Matrix | Iterable[Channel] | Channel
                     ) -> list[tuple[Channel, BasePlatform | Health]]:
        """Each channel of *target* with its platform, or its `Health` when unusable offline."""
        channels = [target] if isinstance(target, Channel) else list(target)
        plan: list[tuple[Channel, BasePlatform | Health]] = []
        for channel in channels:
            try:
                plan.append((channel, self._platform(channel)))
            except ConfigError as exc:
                plan.append((channel, Health(channel=channel, ok=False, checked=False,
                                             problem=f"unusable settings: {exc}")))
        return plan

    def _render(self, post: Post, channel: Channel) -> Rendered:
        return render(self._preparer, post, channel)

    def _retraction(self, target: Report | str,
                    matrix: Matrix | Iterable[Channel] | None) -> RetractPlan:
        return plan_retraction(self.journal, target, matrix)

    @staticmethod
    def _retract_report(plan: RetractPlan, deliveries: list[Delivery], started: dt.datetime) -> Report:
        return Report(post_key=plan.post_key, mode="retract", run_id=plan.run_id,
                      deliveries=tuple(deliveries), started_at=started,
                      finished_at=dt.datetime.now(dt.UTC))

    def _close_journal(self) -> None:
        if self._own_journal and self._journal is not None:
            self._journal.close()
            self._journal = None


def _finished(decision: Any) -> Any:
    if not hasattr(decision, "state"):  # pragma: no cover - a dry run never makes attempts
        raise AssertionError("a dry run produced an attempt")
    return decision


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
            (a path, or a `Journal`), or a PostgreSQL one (a ``postgresql://``
            URL), that makes fan-outs exactly-once across runs; approvals and
            refusals are written to it as an audit trail.
        rate_store (str | RateStore | None): where the `rate_limits` buckets
            live: ``None`` in this process, ``"redis://..."`` in Redis, shared
            with every process that uses it (workers on several machines).
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

    def __init__(
        self,
        *,
        http: httpx.Client | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        concurrency: int = 16,
        timeout: float | httpx.Timeout | None = None,
        require_approvals: int = 0,
        journal: str | os.PathLike[str] | Journal | bool | None = None,
        screen: Screen | None = None,
        tokens: TokenStore | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        rate_store: str | RateStore | None = None,
    ) -> None:
        super().__init__(
            retry=retry, rate_limits=rate_limits, concurrency=concurrency, timeout=timeout,
            require_approvals=require_approvals, journal=journal, screen=screen, tokens=tokens,
            max_response_bytes=max_response_bytes, rate_store=rate_store,
        )
        if http is not None and not isinstance(http, httpx.Client):
            raise ConfigError("http must be an httpx.Client (use AsyncClient for httpx.AsyncClient)")
        self._own_http = http is None
        # Without a client of the user's, requests go straight to an httpx
        # transport: govmedia needs no cookies, auth hooks or redirects, and
        # skipping them is a fifth of the client-side cost of a delivery. The
        # transport (and its TLS context, ~20 ms) is made on first use: a
        # fan-out never needs it. A client passed in is used as it is.
        self._http = http
        self._transport: PoolSender | None = None

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
        return self._problems(post, channel)

    def publish(self, post: Post, channel: Channel) -> Receipt:
        """Publish *post* on *channel* and return the platform's `Receipt`.

        Raises:
            ValidationError: the post does not fit (nothing was sent).
            PlatformError: the platform refused, or `DeliveryUnknown` where the
                post may or may not be live.
        """
        run, item = self._single(post, channel)
        try:
            decision = run.decide(item)
            if isinstance(decision, Attempt):
                decision = self._drive(run.deliver(decision), run)
        except BaseException as exc:  # Ctrl-C: give back what never left
            run.stop(exc)
            raise
        run.record(item.index, item.role, decision)
        return self._receipt_of(run, decision)

    def delete(self, receipt: Receipt) -> None:
        """Remove a published post.

        To remove a whole fan-out (撤稿), use `retract`.
        """
        if isinstance(receipt, Report):
            raise ConfigError("delete() takes one gm.Receipt; to delete a whole fan-out, "
                              "use retract(report)")
        self._drive(self._receipt_ops(receipt, "delete"))

    def verify(self, target: Matrix | Iterable[Channel] | Channel) -> list[Health]:
        """Check every channel live, without posting: one cheap authenticated call each.

        Runs under the client's rate limits and concurrency, like a fan-out.
        Expired tokens, missing permissions and IP whitelists come back as
        `Health.problem` in words an operator can act on; a channel that
        cannot be checked without posting (a webhook) is ``ok`` with
        ``checked=False`` and gets no request.

        Returns:
            One `Health` per channel, in order (hub first for a `Matrix`).
        """
        plan = self._verify_plan(target)

        def one(pair: tuple[Channel, BasePlatform | Health]) -> Health:
            channel, platform = pair
            if isinstance(platform, Health):
                return platform
            return self._drive(health_ops(self._pipeline, self._tokens, platform, channel))

        workers = max(1, min(self.concurrency, len(plan)))
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(one, plan))

    def render(self, post: Post, channel: Channel) -> Rendered:
        """What `publish` would send to *channel*, and the problems `check` finds; sends nothing.

        Variants, script conversion and fitting are applied as for a real
        send; media are shown by their source (nothing is uploaded).
        """
        return self._render(post, channel)

    def resolve(self, target: Report | str, channel: Channel | str, state: str, *,
                url: str | None = None, remote_id: str | None = None,
                by: str | None = None) -> Delivery:
        """Settle a delivery in doubt after checking the account by hand.

        Args:
            target: the `Report` of the run, or its run id (a prefix will do).
            channel: the `Channel`, ``"platform:account"`` or the account name.
            state: ``"published"`` (it is live: a re-run skips it; give
                ``url=`` or ``remote_id=``, which `retract` and `metrics`
                use) or ``"failed"`` (nothing is there: a re-run sends it).
            url: the post's address, as found on the account.
            remote_id: the platform's id of the post, where you found it.
            by: who checked; goes to the journal's audit trail with the time.

        Returns:
            The delivery as it now stands.

        Raises:
            ConfigError: no such run or delivery, or it is not in doubt (only
                an ``unknown`` delivery, or a ``sending`` one of a run that
                is no longer running, can be settled).

        Example:
            >>> import govmedia as gm
            >>> client = gm.Client(journal=":memory:")
            >>> client.resolve("no-such-run", "gh_member03", "failed")
            Traceback (most recent call last):
            ...
            govmedia.errors.ConfigError: no run in :memory: match 'no-such-run'; `govmedia runs` lists them
        """
        return self._resolve(target, channel, state, url=url, remote_id=remote_id, by=by)

    def retract(self, target: Report | str, *, matrix: Matrix | Iterable[Channel] | None = None,
                by: str | None = None) -> Report:
        """Delete every delivery of a fan-out that the journal holds as published (撤稿).

        Args:
            target: the `Report`, or a run id (then *matrix* supplies the
                channels' credentials).
            matrix: the `Matrix` (or channels) the post went to.
            by: who retracts; goes to the journal's audit trail.

        Returns:
            A `Report` (mode ``"retract"``) whose deliveries are ``deleted``,
            ``skipped`` (nothing published there, or already retracted),
            ``unsupported`` (the platform cannot delete; the message says
            where to do it by hand) or ``failed`` (the delete failed, or the
            delivery is in doubt: check it by hand). Running it again is safe.

        Example:
            >>> import govmedia as gm
            >>> from govmedia.testing import Sandbox
            >>> sandbox = Sandbox(platforms=["mastodon"])
            >>> channels = [sandbox.channel("mastodon", f"m{i}") for i in range(2)]
            >>> with gm.Client(http=sandbox.client(), journal=":memory:") as client:
            ...     report = client.fan_out(gm.Post(text="更正前的通知"), channels)
            ...     gone = client.retract(report, by="张三")
            >>> gone.summary()
            {'deleted': 2}
        """
        plan = self._retraction(target, matrix)
        journal = self.journal
        assert journal is not None
        started = dt.datetime.now(dt.UTC)

        def one(item: RetractItem) -> Delivery:
            ops = retract_ops(self._preparer, self._pipeline, journal, plan.post_key, item, by=by)
            return self._drive(ops)

        workers = max(1, min(self.concurrency, len(plan.items)))
        with ThreadPoolExecutor(workers) as pool:
            deliveries = list(pool.map(one, plan.items))
        return self._retract_report(plan, deliveries, started)

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
        metrics: Metrics = self._drive(self._receipt_ops(target, "metrics"))
        return metrics

    def _metrics_or_error(self, receipt: Receipt | None) -> Metrics | BaseException:
        if receipt is None:
            return GovMediaError("not published")
        try:
            return self.metrics(receipt)
        except GovMediaError as exc:
            return exc

    @overload
    def fan_out(self, post: Post, target: Matrix | Iterable[Channel], *, mode: Mode = ...,
                concurrency: int | None = ..., dry_run: bool = ..., progress: Progress | None = ...,
                changed: Literal["refuse", "allow"] = ..., executor: str | None = ...,
                at: dt.datetime | None = ..., wait: Literal[True] = ...) -> Report: ...
    @overload
    def fan_out(self, post: Post, target: Matrix | Iterable[Channel], *, mode: Mode = ...,
                concurrency: int | None = ..., dry_run: bool = ..., progress: Progress | None = ...,
                changed: Literal["refuse", "allow"] = ..., executor: str | None = ...,
                at: dt.datetime | None = ..., wait: Literal[False]) -> str: ...

    def fan_out(
        self,
        post: Post,
        target: Matrix | Iterable[Channel],
        *,
        mode: Mode = "broadcast",
        concurrency: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        changed: Literal["refuse", "allow"] = "refuse",
        executor: str | None = None,
        at: dt.datetime | None = None,
        wait: bool = True,
    ) -> Report | str:
        """Publish *post* to every channel of *target*; never raises for one account.

        Args:
            post: the post; its variants are applied per channel.
            target: a `Matrix` or any iterable of `Channel`.
            mode: ``"broadcast"`` (everyone publishes) or ``"amplify"`` (the hub
                publishes, then members repost it or link to it).
            concurrency: deliveries at once (default: the client's).
            dry_run: check every channel and send nothing.
            progress: called once per finished `Delivery` (from a helper thread).
            changed: ``"refuse"`` (the default) stops a run whose post key the
                journal knows with other content (an edited post re-run under
                its old key would leave some accounts with the old text);
                ``"allow"`` sends the new content where nothing is published
                yet and leaves the old version where it is.
            executor: the taskiq broker of ``govmedia worker`` processes
                (``"redis://..."``): the run goes to the journal and its
                delivery ids to the queue; the workers send
                (`govmedia.distributed`).
            at: send at this time (a datetime with a time zone): the run waits
                in the journal until then, and whichever worker sees it due
                first starts it (this client, waiting, if no executor). A
                channel with the option ``native_schedule`` is sent now, with
                the time, where its platform schedules posts itself.
            wait: ``False`` (with *executor*) returns the run id at once;
                `govmedia runs show` reports it.

        Returns:
            A `Report` with one `Delivery` per channel, hub first (the run
            id, a ``str``, with ``wait=False``).

        Raises:
            ConfigError: the post key was sent before with other content (see
                *changed*), or the target or a channel is unusable.
            JournalError: the journal could not be written (or its file went
                away) during the run: sending stopped, and the error's
                ``report`` holds what this run knows.

        The deliveries run on an event loop in a helper thread, the same
        engine as `AsyncClient.fan_out` (it works where the caller already runs
        a loop, a notebook say). govmedia's own sender is aiohttp there; with
        an ``http=`` client of yours, requests go through it in worker threads.
        """
        if not dry_run and (executor is not None or at is not None or not wait):
            from govmedia._submit import fan_out_remote  # workers, schedules: beyond one run

            return fan_out_remote(self, post, target, mode=mode, changed=changed, progress=progress,
                                  executor=executor, at=at, wait=wait)
        run, workers = self._start(post, target, mode=mode, dry_run=dry_run, progress=progress,
                                   concurrency=concurrency, changed=changed)
        if dry_run:
            return self._dry(run)
        limiter = anyio.CapacityLimiter(workers)
        http = self._http

        async def go() -> Report:
            sender: AiohttpSender | None = None
            if http is None:
                sender = AiohttpSender(self.timeout, report_sent=bool(self._limiter),
                                       max_body=self.max_response_bytes)
                sender.open()  # before any rate-limit token is taken
                send: Callable[[httpx.Request], Awaitable[httpx.Response]] = sender.send
            else:
                async def send(request: httpx.Request) -> httpx.Response:
                    # Abandoned on cancel: Ctrl-C must not wait for a hung
                    # request's timeout. It may still land: the delivery
                    # stays in doubt (it was handed to the transport).
                    return await anyio.to_thread.run_sync(self._send, request, limiter=limiter,
                                                          abandon_on_cancel=True)
            try:
                return await AsyncEngine(self._pipeline, self._tokens, send).fan_out(run, workers)
            finally:
                if sender is not None:
                    await sender.aclose()

        # A loop of its own in a helper thread: works where the caller already
        # runs one (a notebook), unlike asyncio.run.
        try:
            with anyio.from_thread.start_blocking_portal() as portal:
                return portal.call(go)
        except BaseException as exc:
            # Ctrl-C lands in this thread; the portal cancelled the run and
            # waited for it to give back what never left. Say so on the
            # exception the caller sees.
            if run.stopped is not None:
                run.stopped.attach(exc)
            raise

    # ----------------------------------------------------------- driver

    def _drive(self, ops: Ops[T], run: FanOut | None = None) -> T:  # noqa: C901, PLR0912 - an op each
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = ops.throw(error) if error is not None else ops.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            if isinstance(op, Send):
                try:
                    value = self._send(op.request)
                except httpx.TransportError as exc:
                    value = exc
            elif isinstance(op, Sleep):
                _sleep(op.seconds)
            elif isinstance(op, GetToken):
                try:
                    value = self._token(op)
                except GovMediaError as exc:
                    error = exc
            elif isinstance(op, Claim):
                if run is None:
                    value = True  # outside a run there is no journal to claim in
                else:
                    try:
                        value = run.claim_rows([op.track])[0]
                    except GovMediaError as exc:
                        error = exc
            elif isinstance(op, Record):
                if run is not None and run.journal is not None:
                    run.journal.record(run.post.key, op.track.context.channel,
                                       op.checkpoint.stage, op.checkpoint.data)
            elif isinstance(op, Upload):
                if run is not None:
                    run.uploaded(op.track.context, op.event)
            else:  # pragma: no cover
                raise TypeError(op)

    def _send(self, request: httpx.Request) -> httpx.Response:
        ticket = request.extensions.get(RATE_TICKET)
        if ticket is not None:
            request.extensions["trace"] = _sync_trace(ticket)
        if self._http is not None:
            # httpx keeps a response and its stream in a cycle that holds the
            # request (an upload part) until a full GC: break it at once.
            return release(send_sync(self._http, request, max_body=self.max_response_bytes,
                                     deadline=self._deadline))
        if self._transport is None:
            from govmedia._pool import PoolSender

            with self._journal_lock:  # threads (metrics, retract): one sender, never a leaked second
                self._transport = self._transport or PoolSender(self.timeout,
                                                                max_body=self.max_response_bytes)
        return self._transport.send(request)

    def _token(self, op: GetToken) -> Token:
        token = cached_token(op, self._tokens)
        if token is not None:
            return token
        scope = (op.platform.name, op.platform.token_scope(op.channel))
        with self._tokens.lock(scope):  # one refresh per scope, however many callers wait
            return self._drive(token_ops(self._pipeline, op, self._tokens))


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

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        concurrency: int = 16,
        timeout: float | httpx.Timeout | None = None,
        require_approvals: int = 0,
        journal: str | os.PathLike[str] | Journal | bool | None = None,
        screen: Screen | None = None,
        tokens: TokenStore | None = None,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        rate_store: str | RateStore | None = None,
    ) -> None:
        super().__init__(
            retry=retry, rate_limits=rate_limits, concurrency=concurrency, timeout=timeout,
            require_approvals=require_approvals, journal=journal, screen=screen, tokens=tokens,
            max_response_bytes=max_response_bytes, rate_store=rate_store,
        )
        if http is not None and not isinstance(http, httpx.AsyncClient):
            raise ConfigError("http must be an httpx.AsyncClient (use Client for httpx.Client)")
        self._http_client = http
        self._sender: AiohttpSender | AsyncPoolSender | None = None
        self._engine = AsyncEngine(self._pipeline, self._tokens, self._send)

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
        return self._problems(post, channel)

    async def publish(self, post: Post, channel: Channel) -> Receipt:
        """Publish *post* on *channel*; see `Client.publish`."""
        run, item = self._single(post, channel)
        try:
            decision = run.decide(item)
            if isinstance(decision, Attempt):
                decision = await self._engine.drive(run.deliver(decision), run)
        except BaseException as exc:  # a cancelled task: give back what never left
            run.stop(exc)
            raise
        run.record(item.index, item.role, decision)
        return self._receipt_of(run, decision)

    async def delete(self, receipt: Receipt) -> None:
        """Remove a published post; see `Client.delete`."""
        if isinstance(receipt, Report):
            raise ConfigError("delete() takes one gm.Receipt; to delete a whole fan-out, "
                              "use retract(report)")
        await self._engine.drive(self._receipt_ops(receipt, "delete"))

    async def verify(self, target: Matrix | Iterable[Channel] | Channel) -> list[Health]:
        """Check every channel live, without posting; see `Client.verify`."""
        plan = self._verify_plan(target)
        found: list[Health | None] = [None] * len(plan)
        limiter = anyio.CapacityLimiter(max(1, self.concurrency))

        async def one(i: int, channel: Channel, platform: BasePlatform) -> None:
            async with limiter:
                found[i] = await self._engine.drive(
                    health_ops(self._pipeline, self._tokens, platform, channel))

        async with anyio.create_task_group() as tg:
            for i, (channel, platform) in enumerate(plan):
                if isinstance(platform, Health):
                    found[i] = platform
                else:
                    tg.start_soon(one, i, channel, platform)
        return [h for h in found if h is not None]

    async def render(self, post: Post, channel: Channel) -> Rendered:
        """What `publish` would send to *channel*; see `Client.render`."""
        return self._render(post, channel)

    async def resolve(self, target: Report | str, channel: Channel | str, state: str, *,
                      url: str | None = None, remote_id: str | None = None,
                      by: str | None = None) -> Delivery:
        """Settle a delivery in doubt after checking the account by hand; see `Client.resolve`."""
        return self._resolve(target, channel, state, url=url, remote_id=remote_id, by=by)

    async def retract(self, target: Report | str, *,
                      matrix: Matrix | Iterable[Channel] | None = None,
                      by: str | None = None) -> Report:
        """Delete every delivery the journal holds as published; see `Client.retract`."""
        plan = self._retraction(target, matrix)
        journal = self.journal
        assert journal is not None
        started = dt.datetime.now(dt.UTC)
        deliveries: list[Delivery | None] = [None] * len(plan.items)
        limiter = anyio.CapacityLimiter(max(1, self.concurrency))

        async def one(i: int, item: RetractItem) -> None:
            async with limiter:
                ops = retract_ops(self._preparer, self._pipeline, journal, plan.post_key, item, by=by)
                deliveries[i] = await self._engine.drive(ops)

        async with anyio.create_task_group() as tg:
            for i, item in enumerate(plan.items):
                tg.start_soon(one, i, item)
        return self._retract_report(plan, [d for d in deliveries if d is not None], started)

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
        metrics: Metrics = await self._engine.drive(self._receipt_ops(target, "metrics"))
        return metrics

    @overload
    async def fan_out(self, post: Post, target: Matrix | Iterable[Channel], *, mode: Mode = ...,
                      concurrency: int | None = ..., dry_run: bool = ...,
                      progress: Progress | None = ..., changed: Literal["refuse", "allow"] = ...,
                      executor: str | None = ..., at: dt.datetime | None = ...,
                      wait: Literal[True] = ...) -> Report: ...
    @overload
    async def fan_out(self, post: Post, target: Matrix | Iterable[Channel], *, mode: Mode = ...,
                      concurrency: int | None = ..., dry_run: bool = ...,
                      progress: Progress | None = ..., changed: Literal["refuse", "allow"] = ...,
                      executor: str | None = ..., at: dt.datetime | None = ...,
                      wait: Literal[False]) -> str: ...

    async def fan_out(
        self,
        post: Post,
        target: Matrix | Iterable[Channel],
        *,
        mode: Mode = "broadcast",
        concurrency: int | None = None,
        dry_run: bool = False,
        progress: Progress | None = None,
        changed: Literal["refuse", "allow"] = "refuse",
        executor: str | None = None,
        at: dt.datetime | None = None,
        wait: bool = True,
    ) -> Report | str:
        """Publish *post* to every channel of *target*; see `Client.fan_out`.

        Workers run in an anyio task group; each pulls the next channel when
        it is free, so one slow account never holds up the rest.
        """
        if not dry_run and (executor is not None or at is not None or not wait):
            from govmedia._submit import fan_out_remote_async

            return await fan_out_remote_async(self, post, target, mode=mode, changed=changed,
                                              progress=progress, executor=executor, at=at,
                                              wait=wait)
        run, workers = self._start(post, target, mode=mode, dry_run=dry_run, progress=progress,
                                   concurrency=concurrency, changed=changed)
        if dry_run:
            return self._dry(run)
        # Import aiohttp and open the session before any rate-limit token
        # is taken: a first send that stalls ~0.2 s on the import lets the
        # bucket refill, and the opening burst would land doubled.
        sender = self._ready_sender()
        # govmedia's own sender takes the requests directly, not through
        # _send: one coroutine less per request.
        engine = (AsyncEngine(self._pipeline, self._tokens, sender.send)
                  if isinstance(sender, AiohttpSender) else self._engine)
        return await engine.fan_out(run, workers)

    # ----------------------------------------------------------- sending

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
            return release(await send_async(self._http_client, request,
                                            max_body=self.max_response_bytes,
                                            deadline=self._deadline))
        return await sender.send(request)


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
