"""The fan-out: one post to every channel of a matrix, exactly once.

`FanOut` holds everything about a run that involves no I/O: the plan, the
journal decisions (skip, resend, reconcile, leave unknown), the outcome of
each delivery and the report. `Client` and `AsyncClient` only run its
`Attempt`s, with a pool of workers that pull the next channel when they are
free, so memory does not grow with one task per member.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import attrs

from govmedia._pipeline import derive_key
from govmedia.errors import (
    ConfigError,
    DeliveryUnknown,
    GovMediaError,
    PlatformError,
    ValidationError,
)
from govmedia.journal import Journal, JournalEntry
from govmedia.matrix import Matrix
from govmedia.model import Channel, Delivery, Post, Problem, Receipt
from govmedia.platforms.base import BasePlatform, Flow
from govmedia.report import Report

if TYPE_CHECKING:
    from govmedia.client import _BaseClient

__all__ = ["Attempt", "FanOut", "Mode"]

logger = logging.getLogger("govmedia")

Mode = Literal["broadcast", "amplify"]
Progress = Callable[[Delivery], Any] | Any
"""A callable taking each finished `Delivery`, or a bar with ``update(n)`` (tqdm)."""


class HubFailed(GovMediaError):
    """Amplify mode: the hub's post failed, so nothing was sent for the members."""


class _ClaimedElsewhere(DeliveryUnknown):
    """Another run claimed this delivery first: this run sent nothing."""


@attrs.frozen(kw_only=True)
class Item:
    """One planned delivery: its position, channel and role."""

    index: int
    channel: Channel
    role: str  # "hub" or "member"


@attrs.define(kw_only=True)
class Attempt:
    """A delivery that needs the network: run `reconcile` (if set), then `flow`."""

    item: Item
    platform: BasePlatform
    key: str
    make_flow: Callable[[], Flow[Receipt]]
    reconcile: Callable[[], Flow[Receipt | None]] | None = None
    expect: str = "pending"
    started_at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))
    attempts: int = 0


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FanOut:
    """One fan-out run: plan, decisions and outcomes (no I/O but the journal)."""

    def __init__(
        self,
        client: _BaseClient,
        post: Post,
        target: Matrix | Iterable[Channel],
        *,
        mode: str,
        dry_run: bool,
        progress: Progress | None,
        journal: Journal | None,
    ) -> None:
        if not isinstance(post, Post):
            raise ConfigError(f"fan_out needs a gm.Post, got {type(post).__name__}")
        if mode not in ("broadcast", "amplify"):
            raise ConfigError(f"mode must be 'broadcast' or 'amplify', got {mode!r}")
        if isinstance(target, Channel):
            raise ConfigError("fan_out takes a Matrix or an iterable of Channel; use publish() for one")
        matrix = target if isinstance(target, Matrix) else Matrix(members=tuple(target))
        if mode == "amplify" and matrix.hub is None:
            raise ConfigError("mode='amplify' needs a Matrix with a hub")
        self.client = client
        self.post = post
        self.mode = mode
        self.dry_run = dry_run
        self.progress = progress
        self.journal = None if dry_run else journal
        self.matrix = matrix
        self.started_at = _now()
        self._lock = threading.Lock()
        self._results: list[Delivery | None] = [None] * len(matrix)
        self.hub_receipt: Receipt | None = None
        self.hub_failed: Delivery | None = None
        self._items = self._plan()
        self.run_id: str | None = None
        self.entries: dict[tuple[str, str], JournalEntry] = {}
        if self.journal is not None:
            self.entries = self.journal.entries(post.key)
            self.run_id = self.journal.start_run(
                post_key=post.key, title=post.title, mode=mode,
                planned=((it.channel, it.role) for it in self._plan()),
            )
            self._audit_approvals()
        self._queue = self._items if mode == "broadcast" else self._members_after_hub()

    # ----------------------------------------------------------- plan

    def _plan(self) -> Iterator[Item]:
        for index, channel in enumerate(self.matrix):
            role = "hub" if index == 0 and self.matrix.hub is not None else "member"
            yield Item(index=index, channel=channel, role=role)

    def _members_after_hub(self) -> Iterator[Item]:
        next(self._items)  # the hub runs first, on its own
        yield from self._items

    def hub_item(self) -> Item | None:
        """Amplify mode: the hub's item, delivered before any member."""
        if self.mode != "amplify" or self.matrix.hub is None:
            return None
        return Item(index=0, channel=self.matrix.hub, role="hub")

    def next_item(self) -> Item | None:
        """The next planned member delivery, or ``None`` when all are handed out."""
        with self._lock:
            return next(self._queue, None)

    def __len__(self) -> int:
        return len(self._results)

    # ----------------------------------------------------------- decisions

    def _audit_approvals(self) -> None:
        assert self.journal is not None
        current = self.post.content_hash
        for approval in self.post.approvals:
            valid = approval.content_hash == current
            self.journal.audit(
                self.post.key, "approval" if valid else "approval_void", actor=approval.approver,
                content_hash=approval.content_hash, at=approval.at,
                detail=None if valid else "the content changed after this approval",
            )

    def decide(self, item: Item) -> Delivery | Attempt:  # noqa: PLR0911 - one exit per outcome
        """What to do for *item*: a finished `Delivery` now, or an `Attempt`."""
        channel = item.channel
        started = _now()
        try:
            platform = self.client._platform(channel)  # noqa: SLF001
        except ConfigError as exc:
            return Delivery(channel=channel, state="invalid", error=exc, started_at=started,
                            finished_at=_now(),
                            problems=(Problem(code="bad_channel", message=str(exc), field="channel"),))
        if item.role == "member" and self.hub_failed is not None:
            return Delivery(channel=channel, state="failed", started_at=started, finished_at=_now(),
                            error=HubFailed(f"hub failed ({self.hub_failed.state}); nothing was sent "
                                            f"for {channel.id}"))
        entry = self.entries.get((channel.platform, channel.account))
        if entry is not None and entry.state == "published" and self.journal is not None:
            receipt = self.journal.receipt(self.post.key, channel)
            return Delivery(channel=channel, state="skipped", receipt=receipt,
                            attempts=entry.attempts, started_at=started, finished_at=_now())
        written = self._post_for(item, platform)
        _, post, problems = self.client._prepare(  # noqa: SLF001
            written, channel, variants=False, original=self.post, platform=platform
        )
        if problems:
            if not self.dry_run:
                self.client._audit_refusal(self.post, channel, problems)  # noqa: SLF001
            return Delivery(channel=channel, state="invalid", problems=tuple(problems),
                            error=ValidationError(problems, platform=channel.platform,
                                                  account=channel.account),
                            started_at=started, finished_at=_now())
        if self.dry_run:
            return Delivery(channel=channel, state="pending", started_at=started, finished_at=_now())
        key = derive_key(self.post.key, channel.platform, channel.account)
        attempt = Attempt(item=item, platform=platform, key=key, started_at=started,
                          make_flow=self._flow_maker(item, platform, post, key),
                          expect=entry.state if entry is not None else "pending",
                          attempts=entry.attempts if entry is not None else 0)
        if entry is not None and entry.state in ("sending", "unknown"):
            return self._after_doubt(attempt, entry, post)
        return attempt

    def _after_doubt(self, attempt: Attempt, entry: JournalEntry, post: Post) -> Delivery | Attempt:
        """An earlier run may have published this: resend, reconcile or leave it."""
        caps = attempt.platform.capabilities
        age = entry.age_seconds
        # Resend only while the platform still remembers the key; keep a margin.
        remembered = caps.dedupe_window is None or (age is not None and age < caps.dedupe_window * 0.9)
        if caps.dedupe and remembered:
            return attempt
        if caps.reconcile:
            channel, key = attempt.item.channel, attempt.key
            attempt.reconcile = lambda: attempt.platform.reconcile(post, channel, key)
            return attempt
        channel = attempt.item.channel
        return Delivery(
            channel=channel, state="unknown", attempts=entry.attempts,
            started_at=attempt.started_at, finished_at=_now(),
            error=DeliveryUnknown(
                f"an earlier run left this delivery '{entry.state}'; {channel.platform} cannot "
                "deduplicate or be asked, so it was not resent",
                platform=channel.platform, account=channel.account,
            ),
        )

    def _post_for(self, item: Item, platform: BasePlatform) -> Post:
        post = self.post.for_channel(item.channel)
        if item.role == "member" and self.mode == "amplify" and self.hub_receipt is not None:
            if platform.can_repost(self.hub_receipt, item.channel):
                return post
            url = self.hub_receipt.url
            if url:
                # A member that cannot repost natively points to the hub's post.
                text = post.text
                if text and url not in text:
                    text = f"{text} {url}"
                return attrs.evolve(post, link=url, text=text)
        return post

    def _flow_maker(self, item: Item, platform: BasePlatform, post: Post,
                    key: str) -> Callable[[], Flow[Receipt]]:
        hub = self.hub_receipt
        if (item.role == "member" and self.mode == "amplify" and hub is not None
                and platform.can_repost(hub, item.channel)):
            return lambda: platform.repost(hub, item.channel, key)
        return lambda: platform.publish(post, item.channel, key)

    # ----------------------------------------------------------- outcomes

    def claim(self, attempt: Attempt) -> bool:
        """Mark the delivery ``sending`` in the journal before the request goes out."""
        if self.journal is None or self.run_id is None:
            return True
        attempt.attempts += 1
        return self.journal.claim(self.run_id, self.post.key, attempt.item.channel,
                                  expect=attempt.expect, idem_key=attempt.key)

    def claim_many(self, attempts: list[Attempt]) -> list[bool]:
        """`claim` several attempts in one journal transaction."""
        if self.journal is None or self.run_id is None:
            return [True] * len(attempts)
        for attempt in attempts:
            attempt.attempts += 1
        return self.journal.claim_many(
            self.post.key, [(a.item.channel, a.expect, a.key) for a in attempts]
        )

    def outcome(self, attempt: Attempt, result: Receipt | BaseException | None, *,
                sent_unsafe: bool = False) -> Delivery:
        """The `Delivery` an attempt ended in."""
        channel = attempt.item.channel
        common: dict[str, Any] = {"channel": channel, "attempts": attempt.attempts,
                                  "started_at": attempt.started_at, "finished_at": _now()}
        if isinstance(result, Receipt):
            return Delivery(state="published", receipt=result, **common)
        if result is None:
            return Delivery(state="unknown", error=_ClaimedElsewhere(
                "another run is sending this delivery now; not sent twice",
                platform=channel.platform, account=channel.account), **common)
        if isinstance(result, ValidationError):
            return Delivery(state="invalid", error=result, problems=result.problems, **common)
        if isinstance(result, DeliveryUnknown):
            return Delivery(state="unknown", error=result, **common)
        if isinstance(result, GovMediaError):
            return Delivery(state="failed", error=result, **common)
        # A fault in platform code: after a write that may have landed, the
        # post may be live, so only "unknown" is honest.
        logger.error("govmedia: unexpected error delivering to %s", channel.id, exc_info=result)
        error_cls = DeliveryUnknown if sent_unsafe else PlatformError
        error = error_cls(f"unexpected {type(result).__name__}: {result}",
                          platform=channel.platform, account=channel.account)
        return Delivery(state="unknown" if sent_unsafe else "failed", error=error, **common)

    def record(self, item: Item, delivery: Delivery) -> None:
        """Keep *delivery*, write it to the journal and report progress."""
        if self.journal is not None and self.run_id is not None:
            self.journal.settle(self.run_id, self.post.key, item.channel, state=delivery.state,
                                receipt=delivery.receipt, error=delivery.error,
                                attempts=delivery.attempts)
        if item.role == "hub" and self.mode == "amplify":
            if delivery.state in ("published", "skipped") and delivery.receipt is not None:
                self.hub_receipt = delivery.receipt
            elif not self.dry_run:
                self.hub_failed = delivery
        with self._lock:
            self._results[item.index] = delivery
        if self.progress is not None:
            update = getattr(self.progress, "update", None)
            if callable(update) and not callable(self.progress):
                update(1)  # a tqdm or rich-style bar: one step per delivery
            else:
                self.progress(delivery)

    def report(self) -> Report:
        """The final report (and the run closed in the journal)."""
        deliveries = tuple(d for d in self._results if d is not None)
        report = Report(post_key=self.post.key, mode=self.mode, run_id=self.run_id,
                        dry_run=self.dry_run, deliveries=deliveries,
                        started_at=self.started_at, finished_at=_now())
        if self.journal is not None and self.run_id is not None:
            self.journal.finish_run(self.run_id, report.summary())
        return report
