"""The fan-out: one post to every channel of a matrix, exactly once.

`FanOut` holds everything about a run that involves no network: the plan, the
journal decisions (skip, send, recover what an earlier run left in doubt), the
op stream of each delivery, its outcome and the report. A client only performs
the ops (`govmedia._pipeline`): it sends, sleeps, fetches tokens and commits
claims, with a pool of workers that pull the next channel when they are free,
so memory does not grow with one task per member.

A delivery that needs the network is an `Attempt`: plain data (the channel,
the post as that channel sends it, the idempotency key, what the journal
knew), so it could travel to a worker in another process.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Literal

import attrs

from govmedia._pipeline import Claim, Ops, Pipeline, Track, _ClaimedElsewhere, derive_key
from govmedia._prepare import Preparer
from govmedia.errors import (
    ConfigError,
    DeliveryUnknown,
    GovMediaError,
    JournalError,
    PlatformError,
    ValidationError,
)
from govmedia.journal import Journal, JournalEntry
from govmedia.matrix import Matrix
from govmedia.model import Channel, Delivery, Post, Problem, Receipt, UploadProgress
from govmedia.platforms.base import BasePlatform, Doubt, Flow
from govmedia.platforms.steps import Uploaded
from govmedia.report import Report, Stopped

__all__ = ["Attempt", "FanOut", "Item", "Mode", "Progress"]

logger = logging.getLogger("govmedia")

Mode = Literal["broadcast", "amplify"]
Progress = Callable[[Delivery], Any] | Any
"""A callable taking each finished `Delivery`, or a bar with ``update(n)`` (tqdm).

An object that also has an ``upload(event)`` method gets a `UploadProgress`
for each acknowledged part of a media upload."""


class HubFailed(GovMediaError):
    """Amplify mode: the hub's post failed, so nothing was sent for the members."""


class Item:
    """One planned delivery: its position, channel and role (``hub`` or ``member``)."""

    # A plain slotted class, not attrs: one is made per delivery.
    __slots__ = ("channel", "index", "role")

    def __init__(self, index: int, channel: Channel, role: str) -> None:
        self.index = index
        self.channel = channel
        self.role = role

    def __repr__(self) -> str:
        return f"Item(index={self.index!r}, channel={self.channel!r}, role={self.role!r})"


@attrs.define(kw_only=True)
class Attempt:
    """A delivery that needs the network, as plain data.

    Attributes:
        index: its place in the plan (the report's order).
        channel: the channel (credentials do not survive pickling: a worker
            finds its own channel by ``(platform, account)``).
        role: ``hub`` or ``member``.
        post: the post as this channel sends it (variant, script and fit applied).
        key: the idempotency key derived for this channel.
        expect: the journal state the claim moves from.
        doubt: what an earlier run left in doubt, or ``None``.
        repost: amplify mode: the hub's receipt to repost natively.
        attempts: claims so far, this one included once claimed.
        saved: what an earlier run saved for it (an upload session), for `Recall`.
    """

    index: int
    channel: Channel
    role: str
    post: Post
    key: str
    expect: str = "pending"
    doubt: Doubt | None = None
    repost: Receipt | None = None
    attempts: int = 0
    saved: dict[str, Any] = attrs.field(factory=dict)
    started_at: dt.datetime = attrs.field(factory=lambda: dt.datetime.now(dt.UTC))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class FanOut:
    """One fan-out run: plan, decisions, op streams and outcomes (no network)."""

    def __init__(
        self,
        preparer: Preparer,
        pipeline: Pipeline,
        post: Post,
        target: Matrix | Iterable[Channel],
        *,
        mode: str,
        dry_run: bool,
        progress: Progress | None,
        journal: Journal | None,
        changed: str = "refuse",
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
        if changed not in ("refuse", "allow"):
            raise ConfigError(f"changed must be 'refuse' or 'allow', got {changed!r}")
        self.preparer = preparer
        self.pipeline = pipeline
        self.post = post
        self.mode = mode
        self.dry_run = dry_run
        self.progress = progress
        self.journal = None if dry_run else journal
        self.matrix = matrix
        self._passed = matrix._passed  # noqa: SLF001 - channels its Matrix already checked
        self.started_at = _now()
        self._lock = threading.Lock()
        self._results: list[Delivery | None] = [None] * len(matrix)
        self._tracks: dict[int, Track] = {}  # deliveries under way, by index
        self.stopped: Stopped | None = None  # set when the run is cancelled
        self.hub_receipt: Receipt | None = None
        self.hub_failed: Delivery | None = None
        self._items = self._plan()
        self.run_id: str | None = None
        self.entries: dict[tuple[str, str], JournalEntry] = {}
        if self.journal is not None:
            if self.journal.broken is not None:
                raise self.journal.broken
            # Hashed once: the hash reads every media file (a video, whole).
            self._content_hash = post.content_hash
            self._check_version(changed)
            self.entries = self.journal.entries(post.key)
            hub = matrix.hub is not None
            self.run_id = self.journal.start_run(
                post_key=post.key, title=post.title, mode=mode,
                planned=((channel, "hub" if hub and index == 0 else "member")
                         for index, channel in enumerate(matrix)),
                content_hash=self._content_hash,
            )
            self._audit_approvals()
        self._queue = self._items if mode == "broadcast" else self._members_after_hub()
        # Broadcast of a post without variants: every channel sends the post as it is.
        self._plain = mode == "broadcast" and not post.variants
        self._memo: dict[str, Any] = {}  # what the preparer worked out for the post (see prepare)
        # A big body is prepared off the event loop (rendering it is CPU work).
        self.heavy = len(post.body or "") > 64_000

    # ----------------------------------------------------------- plan

    def _plan(self) -> Iterator[Item]:
        hub = self.matrix.hub is not None
        for index, channel in enumerate(self.matrix):
            yield Item(index, channel, "hub" if hub and index == 0 else "member")

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

    def _check_version(self, changed: str) -> None:
        """Refuse to go on with a post key the journal knows with other content (unless allowed)."""
        assert self.journal is not None
        current = self._content_hash
        versions = self.journal.other_versions(self.post.key, current)
        if not versions:
            return
        holders = sorted({f"{p}:{a}" for accounts in versions.values() for p, a in accounts})
        olds = ", ".join(h[:12] for h in versions)
        if holders and changed != "allow":
            # Nothing published with the old content: nothing is out of step.
            shown = ", ".join(holders[:10]) + (f" and {len(holders) - 10} more" if len(holders) > 10
                                               else "")
            raise ConfigError(
                f"post key {self.post.key[:16]!r} was sent before with other content (content hash "
                f"{olds}, now {current[:12]}); {len(holders)} account(s) hold the old version: "
                f"{shown}. To correct them, retract that run and publish under a new key; to "
                "send the new content only where nothing is published yet, pass changed='allow'")
        if holders:
            self.journal.audit(self.post.key, "content_changed", content_hash=current,
                               detail=f"was {olds}; the old version stays on {', '.join(holders)}")

    def _audit_approvals(self) -> None:
        assert self.journal is not None
        current = self._content_hash
        for approval in self.post.approvals:
            valid = approval.content_hash == current
            self.journal.audit(
                self.post.key, "approval" if valid else "approval_void", actor=approval.approver,
                content_hash=approval.content_hash, at=approval.at,
                detail=None if valid else "the content changed after this approval",
            )

    def decide(self, item: Item) -> Delivery | Attempt:  # noqa: C901, PLR0911, PLR0912 - one exit per outcome
        """What to do for *item*: a finished `Delivery` now, or an `Attempt`."""
        channel = item.channel
        started = _now()
        if self.journal is not None and self.journal.broken is not None:
            return Delivery(channel=channel, state="failed", started_at=started, finished_at=_now(),
                            error=self.journal.broken)
        try:
            # Each channel is checked once per run (by its Matrix, or here):
            # no cache of checked channels.
            platform = self.preparer.platform(channel, remember=False,
                                              passed=self._passed.get(id(channel)))
        except ConfigError as exc:
            return Delivery(channel=channel, state="invalid", error=exc, started_at=started,
                            finished_at=_now(),
                            problems=(Problem(code="bad_channel", message=str(exc), field="channel"),))
        if item.role == "member" and self.hub_failed is not None:
            return Delivery(channel=channel, state="failed", started_at=started, finished_at=_now(),
                            error=HubFailed(f"hub failed ({self.hub_failed.state}); nothing was sent "
                                            f"for {channel.id}"))
        entry = self.entries.get((channel.platform, channel.account)) if self.entries else None
        if entry is not None and entry.state == "retracted":
            return Delivery(channel=channel, state="skipped", attempts=entry.attempts,
                            started_at=started, finished_at=_now(), error=GovMediaError(
                                f"{channel.id}: this post was retracted here; publishing it again "
                                "takes a new post key"))
        if entry is not None and entry.state == "published" and self.journal is not None:
            receipt = self.journal.receipt(self.post.key, channel)
            return Delivery(channel=channel, state="skipped", receipt=receipt,
                            attempts=entry.attempts, started_at=started, finished_at=_now())
        if self._plain:  # no variant, no hub to repost: the post as it is
            written, repost = self.post, None
        else:
            written, repost = self._post_for(item, platform)
        try:
            prepared = self.preparer.prepare(written, channel, variants=False, original=self.post,
                                             platform=platform, memo=self._memo)
        except GovMediaError as exc:
            return Delivery(channel=channel, state="failed", error=exc, started_at=started,
                            finished_at=_now())
        except Exception as exc:  # a plugin's check crashed: this delivery only
            logger.exception("govmedia: unexpected error checking the post for %s", channel.id)
            error = PlatformError(
                f"unexpected {type(exc).__name__} in the {platform.name} checks: {exc}",
                platform=channel.platform, account=channel.account, code="bug",
                hint="This is a govmedia or plugin bug; please report it with the log.")
            return Delivery(channel=channel, state="failed", error=error, started_at=started,
                            finished_at=_now())
        if prepared.problems:
            if not self.dry_run:
                self.preparer.audit_refusal(self.post, channel, prepared.problems)
            return Delivery(channel=channel, state="invalid", problems=tuple(prepared.problems),
                            error=ValidationError(prepared.problems, platform=channel.platform,
                                                  account=channel.account),
                            started_at=started, finished_at=_now())
        if self.dry_run:
            return Delivery(channel=channel, state="pending", started_at=started, finished_at=_now())
        key = derive_key(self.post.key, channel.platform, channel.account)
        if entry is None:  # the common case: never tried before
            return Attempt(index=item.index, channel=channel, role=item.role, post=prepared.post,
                           key=key, started_at=started, repost=repost)
        attempt = Attempt(index=item.index, channel=channel, role=item.role, post=prepared.post,
                          key=key, started_at=started, repost=repost, expect=entry.state,
                          attempts=entry.attempts, saved=dict(entry.progress))
        if (entry.state in ("sending", "unknown") or (
                entry.state == "failed" and entry.maybe_applied_at is not None)):
            if entry.run_alive:
                return Delivery(
                    channel=channel, state="unknown", attempts=entry.attempts, started_at=started,
                    finished_at=_now(), error=_ClaimedElsewhere(
                        f"run {entry.run_id} is sending this delivery now; not sent twice",
                        platform=channel.platform, account=channel.account),
                )
            attempt.doubt = Doubt(state=entry.state, stage=entry.stage, data=dict(entry.progress),
                                  age=entry.doubt_age)
        return attempt

    def _post_for(self, item: Item, platform: BasePlatform) -> tuple[Post, Receipt | None]:
        """The post this item sends, and the hub receipt it reposts (amplify mode)."""
        post = self.post.for_channel(item.channel)
        hub = self.hub_receipt
        if item.role == "member" and self.mode == "amplify" and hub is not None:
            if platform.can_repost(hub, item.channel):
                return post, hub
            if hub.url:
                # A member that cannot repost natively points to the hub's post.
                text = post.text
                if text and hub.url not in text:
                    text = f"{text} {hub.url}"
                return attrs.evolve(post, link=hub.url, text=text), None
        return post, None

    # ----------------------------------------------------------- one delivery

    def flow(self, attempt: Attempt, platform: BasePlatform) -> Flow[Receipt]:
        """The platform flow that makes this delivery's post."""
        if attempt.repost is not None:
            return platform.repost(attempt.repost, attempt.channel, attempt.key)
        return platform.publish(attempt.post, attempt.channel, attempt.key)

    def deliver(self, attempt: Attempt) -> Ops[Delivery]:
        """The ops of one delivery, ending with its `Delivery` (never raising a GovMediaError)."""
        channel = attempt.channel
        platform = self.preparer.platform_named(channel.platform)
        track = Track(claims=self.journal is not None, context=attempt,
                      known=dict(attempt.doubt.data) if attempt.doubt else None, saved=attempt.saved)
        self._tracks[attempt.index] = track
        try:
            if attempt.doubt is not None:
                track.claimed = yield from self._claim_first(track)
                if not track.claimed:
                    return self.outcome(attempt, None)
                found = yield from self.pipeline.run_flow(
                    platform, channel,
                    platform.recover(attempt.post, channel, attempt.key, attempt.doubt), track=track,
                )
                if found is not None:
                    return self.outcome(attempt, found)
                attempt.doubt = None  # the platform says nothing exists: a fresh send
                track.passed = False
            receipt = yield from self.pipeline.run_flow(platform, channel,
                                                        self.flow(attempt, platform), track=track)
            return self.outcome(attempt, receipt)
        except GovMediaError as exc:
            return self.outcome(attempt, exc)

    @staticmethod
    def _claim_first(track: Track) -> Ops[bool]:
        """Claim an in-doubt delivery before asking the platform about it."""
        if not track.claims:
            return True
        ok: bool = yield Claim(track)
        return ok

    def claim_rows(self, tracks: list[Track]) -> list[bool]:
        """Claim the deliveries of *tracks* in one journal transaction.

        Each track is marked claimed as the commit lands, before its worker
        learns of it: a worker cancelled while it waited still has its claim
        given back (`stop`).
        """
        if self.journal is None or self.run_id is None:
            return [True] * len(tracks)
        attempts: list[Attempt] = [t.context for t in tracks]
        results = self.journal.claim_many(
            self.post.key,
            [(a.channel, a.expect, a.key, t.progress or None)
             for a, t in zip(attempts, tracks, strict=True)],
            run_id=self.run_id,
        )
        for attempt, track, ok in zip(attempts, tracks, results, strict=True):
            if ok:
                attempt.attempts += 1
                track.claimed = True
        return results

    def outcome(self, attempt: Attempt, result: Receipt | BaseException | None) -> Delivery:
        """The `Delivery` an attempt ended in."""
        channel = attempt.channel
        if isinstance(result, Receipt):  # the common case first, without the dict below
            return Delivery(channel=channel, state="published", receipt=result,
                            attempts=attempt.attempts, started_at=attempt.started_at,
                            finished_at=_now())
        common: dict[str, Any] = {"channel": channel, "attempts": attempt.attempts,
                                  "started_at": attempt.started_at, "finished_at": _now()}
        if result is None:
            return Delivery(state="unknown", error=_ClaimedElsewhere(
                "another run is sending this delivery now; not sent twice",
                platform=channel.platform, account=channel.account), **common)
        if attempt.doubt is not None and not isinstance(result, DeliveryUnknown):
            # An earlier run may have published it: a failure now proves nothing.
            error = (result.evolve(cls=DeliveryUnknown, known=attempt.doubt.data,
                                   note="an earlier run may have published this, so it stays in doubt")
                     if isinstance(result, PlatformError) else
                     DeliveryUnknown(f"{result}; an earlier run may have published this",
                                     platform=channel.platform, account=channel.account,
                                     known=attempt.doubt.data))
            return Delivery(state="unknown", error=error, **common)
        if isinstance(result, ValidationError):
            return Delivery(state="invalid", error=result, problems=result.problems, **common)
        if isinstance(result, DeliveryUnknown):
            return Delivery(state="unknown", error=result, **common)
        if isinstance(result, GovMediaError):
            return Delivery(state="failed", error=result, **common)
        raise TypeError(result)  # pragma: no cover - deliver() hands only these

    def record(self, index: int, role: str, delivery: Delivery) -> None:
        """Keep *delivery*, write it to the journal and report progress."""
        if self.journal is not None and self.run_id is not None:
            try:  # noqa: SIM105 - suppress() builds an object per delivery
                self.journal.settle(self.run_id, self.post.key, delivery.channel,
                                    state=delivery.state, receipt=delivery.receipt,
                                    error=delivery.error, attempts=delivery.attempts)
            except JournalError:
                pass  # the outcome stays in memory and in the report; the run ends with the error
        if role == "hub" and self.mode == "amplify":
            if delivery.state in ("published", "skipped") and delivery.receipt is not None:
                self.hub_receipt = delivery.receipt
            elif not self.dry_run:
                self.hub_failed = delivery
        with self._lock:
            self._results[index] = delivery
            self._tracks.pop(index, None)
        if self.progress is not None:
            update = getattr(self.progress, "update", None)
            if callable(update) and not callable(self.progress):
                update(1)  # a tqdm or rich-style bar: one step per delivery
            else:
                self.progress(delivery)

    def uploaded(self, attempt: Attempt, event: Uploaded) -> None:
        """Hand an upload's progress to the progress object, where it takes it."""
        upload = getattr(self.progress, "upload", None)
        if callable(upload):
            upload(UploadProgress(channel=attempt.channel, filename=event.filename,
                                  sent=event.sent, total=event.total))

    def report(self) -> Report:
        """The final report; the run is closed in the journal.

        Raises:
            JournalError: the journal failed during the run; the error's
                ``report`` holds every delivery this run knows of.
        """
        deliveries = tuple(d for d in self._results if d is not None)
        report = Report(post_key=self.post.key, mode=self.mode, run_id=self.run_id,
                        dry_run=self.dry_run, deliveries=deliveries,
                        started_at=self.started_at, finished_at=_now())
        if self.journal is not None and self.run_id is not None:
            try:
                self.journal.finish_run(self.run_id, report.summary())
            except JournalError as exc:
                waiting = self.journal.pending_outcomes()
                raise JournalError(
                    f"{exc.detail}; this run's outcomes are in the error's report"
                    + (f" ({waiting} not written)" if waiting else ""),
                    path=exc.path, report=report,
                ) from exc
        return report

    def stop(self, exc: BaseException) -> Stopped:
        """The run was cancelled (Ctrl-C, a cancelled task): settle what it holds, then close it.

        Every delivery under way whose create never reached the transport
        is given back in the journal (a re-run sends it); one whose create
        did may exist, so it stays ``sending`` and follows the resume rules.
        What happened is attached to *exc* (``exc.govmedia_stopped``), added
        to its notes and logged.
        """
        with self._lock:
            flying = [(i, t) for i, t in self._tracks.items() if self._results[i] is None]
            self._tracks.clear()
        given_back: list[Channel] = []
        in_doubt: list[Channel] = []
        for _, track in sorted(flying, key=lambda pair: pair[0]):
            attempt: Attempt = track.context
            if not track.claimed or self.journal is None or self.run_id is None:
                continue  # nothing in the journal says it is under way
            if track.handed:
                in_doubt.append(attempt.channel)
                continue
            try:
                released = self.journal.release(self.run_id, self.post.key, attempt.channel,
                                                to=attempt.expect)
            except (JournalError, sqlite3.Error) as error:
                logger.warning("govmedia: could not give back %s: %s", attempt.channel.id, error)
                released = False
            (given_back if released else in_doubt).append(attempt.channel)
        report = Report(post_key=self.post.key, mode=self.mode, run_id=self.run_id,
                        dry_run=self.dry_run,
                        deliveries=tuple(d for d in self._results if d is not None),
                        started_at=self.started_at, finished_at=_now())
        stopped = Stopped(run_id=self.run_id, report=report, given_back=tuple(given_back),
                          in_doubt=tuple(in_doubt))
        if self.journal is not None and self.run_id is not None:
            self.journal.abandon_run(self.run_id, {
                **report.summary(), "given_back": len(given_back), "in_doubt": len(in_doubt)})
        self.stopped = stopped
        logger.warning("govmedia: %s", stopped.describe().replace("\n", "; "))
        stopped.attach(exc)
        return stopped
