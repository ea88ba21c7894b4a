"""Runs the journal holds: delivered one id at a time, by workers or by the client that waits.

A run handed to workers (`govmedia.distributed`) lives in the journal: the
run, its planned deliveries and its post. Whoever delivers one of them (a
taskiq worker, or a client running its own scheduled run) gets only ids and
finds the rest there; the channel, with its credentials, comes from the
deliverer's own matrix. `Runner.deliver` decides and sends one delivery with
the same `FanOut` decisions and engine as a fan-out in one process, so the
journal's claim keeps a message delivered twice, a worker killed mid-send
or two workers on one delivery from posting twice.

What is lost is found again from the journal, never from the queue: a run's
deliveries with no outcome that no live worker holds are handed out again
(`Runner.sweep`), and a run closes when every delivery has an outcome.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import anyio
import anyio.lowlevel

from govmedia import errors
from govmedia._engine import AsyncEngine
from govmedia._pipeline import Pipeline, _ClaimedElsewhere
from govmedia._postdata import post_from_data
from govmedia._prepare import Preparer
from govmedia.errors import ConfigError, GovMediaError, JournalError, PlatformError
from govmedia.fanout import Attempt, FanOut, Item
from govmedia.journal import Journal, RunInfo
from govmedia.model import Channel, Delivery, Post, Receipt

__all__ = ["Enqueue", "RemoteRun", "Runner", "delivery_from_outcome"]

logger = logging.getLogger("govmedia")

Enqueue = Callable[[str, list[int]], Awaitable[None]]
"""Hands delivery ids of a run to whoever delivers them (a broker, or a local queue)."""

Channels = Callable[[str, str], Channel | None]


class RemoteRun(FanOut):
    """A run as a deliverer sees it: post and mode from the journal, one delivery at a time.

    Deliveries are items whose index is their journal id; nothing is kept in
    memory once its outcome is written, however long the run.
    """

    def __init__(self, preparer: Preparer, pipeline: Pipeline, post: Post, info: RunInfo,
                 journal: Journal) -> None:
        super().__init__(preparer, pipeline, post, [], mode="broadcast", dry_run=False,
                         progress=None, journal=None)
        self.mode = info.mode
        self._plain = self.mode == "broadcast" and not post.variants
        self.journal = journal
        self.run_id = info.id
        self.info = info

    def record(self, index: int, role: str, delivery: Delivery) -> None:
        """Write *delivery*'s outcome (raising `JournalError`: the caller does not ack then)."""
        assert self.journal is not None
        assert self.run_id is not None
        self.journal.settle(self.run_id, self.post.key, delivery.channel, state=delivery.state,
                            receipt=delivery.receipt, error=delivery.error,
                            attempts=delivery.attempts)
        if role == "hub" and self.mode == "amplify":
            if delivery.state in ("published", "skipped") and delivery.receipt is not None:
                self.hub_receipt = delivery.receipt
            else:
                self.hub_failed = delivery
        with self._lock:
            self._tracks.pop(index, None)

    def give_back(self, index: int) -> str | None:
        """A cancelled delivery: its claim goes back unless its create reached the transport.

        Returns ``"given back"``, ``"in doubt"`` (its create may exist: it
        stays ``sending`` and follows the resume rules) or ``None`` (it held
        no claim).
        """
        with self._lock:
            track = self._tracks.pop(index, None)
        if track is None or not track.claimed:
            return None
        if track.handed:
            return "in doubt"
        attempt: Attempt = track.context
        assert self.journal is not None
        assert self.run_id is not None
        try:
            released = self.journal.release(self.run_id, self.post.key, attempt.channel,
                                            to=attempt.expect)
        except GovMediaError as error:
            logger.warning("govmedia: could not give back %s: %s", attempt.channel.id, error)
            released = False
        return "given back" if released else "in doubt"

    def handed(self, index: int) -> bool:
        """True once *index*'s create was given to the transport (it may exist from then on)."""
        track = self._tracks.get(index)
        return track is not None and track.handed


class Runner:
    """Delivers the deliveries of journal-held runs, by id, on one event loop.

    Args:
        journal: the shared journal.
        engine: performs the ops (sends through the caller's sender).
        preparer: platform checks and rendering (no screening or approvals:
            those were judged where the run was submitted).
        pipeline: retries, rate limits, tokens.
        channels: ``(platform, account)`` to this deliverer's `Channel`.
        enqueue: where ids go to be delivered (amplify's members after the hub,
            lost work found again, scheduled runs that came due).
    """

    def __init__(self, *, journal: Journal, engine: AsyncEngine, preparer: Preparer,
                 pipeline: Pipeline, channels: Channels, enqueue: Enqueue) -> None:
        self.journal = journal
        self.engine = engine
        self.preparer = preparer
        self.pipeline = pipeline
        self.channels = channels
        self.enqueue = enqueue
        self.inflight = 0
        self.given_back: list[int] = []  # cancelled deliveries: claim given back, never sent
        self.in_doubt: list[int] = []    # cancelled after their create reached the transport
        self._runs: dict[str, RemoteRun] = {}
        self._posts: dict[str, Post] = {}

    # ----------------------------------------------------------- one delivery

    def _run(self, run_id: str) -> RemoteRun:
        run = self._runs.get(run_id)
        if run is None:
            info = self.journal.find_run(run_id)
            post = self._posts.get(info.content_hash or "")
            if post is None:
                data = self.journal.get_post(info.content_hash or "")
                if data is None:
                    raise JournalError(f"run {run_id} has no post in the journal (it was not "
                                       "submitted for workers)", path=self.journal.path)
                post = self._posts[info.content_hash or ""] = post_from_data(data, self.journal)
            run = self._runs[run_id] = RemoteRun(self.preparer, self.pipeline, post, info,
                                                 self.journal)
        return run

    def _hub_known(self, run: RemoteRun) -> bool:
        """Amplify mode: load the hub's outcome; False while the hub has none yet."""
        if run.hub_receipt is not None or run.hub_failed is not None:
            return True
        assert run.run_id is not None
        hub = self.journal.hub_of(run.run_id)
        if hub is None:
            return True
        entry = self.journal.entry(run.post.key, *hub)
        channel = self.channels(*hub) or Channel(platform=hub[0], account=hub[1])
        if entry is not None and entry.state == "published":
            run.hub_receipt = self.journal.receipt(run.post.key, channel)
            return True
        if not self.journal.settled_in(run.run_id, *hub):
            return False
        run.hub_failed = Delivery(channel=channel, state="unknown" if entry is not None
                                  and entry.state in ("unknown", "sending") else "failed")
        return True

    async def deliver(self, run_id: str, delivery_id: int) -> str:
        """Deliver one delivery of *run_id*; what came of it (``published``, ``duplicate``, ...).

        A delivery already settled in the run, or planned again by a later
        run, is dropped (``duplicate``, ``stale``); one another live worker
        holds is left to it (``elsewhere``). The outcome is durable before
        this returns, so a broker may acknowledge the message then.
        """
        journal = self.journal
        found = journal.delivery_for(delivery_id, run_id)
        if found is None or found[0]["run_id"] != run_id:
            return "stale"
        row, entry, settled = found
        platform, account, role = row["platform"], row["account"], row["role"]
        if settled:
            return "duplicate"
        run = self._run(run_id)
        channel = self.channels(platform, account)
        if channel is None:
            bare = Channel(platform=platform, account=account)
            run.record(delivery_id, role, Delivery(channel=bare, state="failed", error=ConfigError(
                f"{platform}:{account}: this worker's matrix has no such channel; every worker "
                "must load the matrix the run was submitted with")))
            await self.flush()
            return "failed"
        if run.mode == "amplify" and role != "hub" and not self._hub_known(run):
            return "early"  # handed out again once the hub has its outcome
        channel = self._scheduled(run, channel)
        key = (platform, account)
        self.inflight += 1
        try:
            run.entries[key] = entry
            item = Item(index=delivery_id, channel=channel, role=role)
            decision: Delivery | Attempt = run.decide(item)
            run.entries.pop(key, None)
            if isinstance(decision, Attempt):
                try:
                    decision = await self.engine.drive(run.deliver(decision), run)
                except BaseException:
                    gave = run.give_back(delivery_id)
                    if gave is not None:
                        (self.given_back if gave == "given back" else self.in_doubt).append(
                            delivery_id)
                    raise
        finally:
            self.inflight -= 1
        if isinstance(decision.error, _ClaimedElsewhere):
            return "elsewhere"  # its holder writes the outcome
        run.record(delivery_id, role, decision)
        await self.flush()
        if role == "hub" and run.mode == "amplify":
            await self._hand_out_members(run_id)
        return decision.state

    async def _hand_out_members(self, run_id: str) -> None:
        """Amplify mode, the hub's outcome durable: enqueue the members; the sweep's if that fails.

        A broker that refuses them does not fail the hub's delivery: its
        message, left unacknowledged, would only come back after the claim
        timeout as a duplicate that hands out nothing.
        """
        try:
            await self.hand_out(run_id)
        except GovMediaError:
            raise
        except Exception as exc:  # noqa: BLE001 - the broker's; the hub's outcome stands
            logger.warning("govmedia: run %s: the hub's outcome is recorded but its members could "
                           "not be handed out (%s: %s); an idle worker's sweep hands them out",
                           run_id, type(exc).__name__, exc)

    def handed(self, run_id: str, delivery_id: int) -> bool:
        """True once the delivery's create reached the transport (cancelling it leaves it in doubt)."""
        run = self._runs.get(run_id)
        return run is not None and run.handed(delivery_id)

    def _scheduled(self, run: RemoteRun, channel: Channel) -> Channel:
        """*channel* set to publish at the run's time, where it asks to and the platform can.

        Only while that time is ahead: once due, the run is sent as it is.
        """
        due = run.info.due_at
        if not due or not channel.options.get("native_schedule"):
            return channel
        at = dt.datetime.fromisoformat(due)
        schedule = getattr(self.preparer.platform_named(channel.platform), "schedule", None)
        if schedule is None or at <= dt.datetime.now(dt.UTC):
            return channel
        scheduled: Channel = schedule(channel, at)
        return scheduled

    async def flush(self) -> None:
        """Make the outcomes written so far durable; deliveries finishing together share a commit."""
        await anyio.lowlevel.checkpoint()
        self.journal.flush()

    # ----------------------------------------------------------- handing out

    async def hand_out(self, run_id: str, *, lost_after: float | None = None) -> int:
        """Enqueue *run_id*'s deliveries that have no outcome (the hub alone while it has none).

        With *lost_after*, only those no live worker holds and that have not
        moved for that many seconds: work a dead worker or a lost message left.
        """
        rows = self.journal.unsettled(run_id)
        hub = [r for r in rows if r["role"] == "hub"]
        if hub and self._run(run_id).mode == "amplify":
            rows = hub
        if lost_after is not None:
            now = dt.datetime.now(dt.UTC)
            rows = [r for r in rows
                    if (now - dt.datetime.fromisoformat(r["updated_at"])).total_seconds() >= lost_after
                    and not (r["state"] == "sending"
                             and self.journal.holder_alive(r["holder"], r["run_id"]))]
        ids = [int(r["id"]) for r in rows]
        if ids:
            await self.enqueue(run_id, ids)
        return len(ids)

    async def start_due(self) -> list[str]:
        """Start the scheduled runs that are due (each by one caller) and hand out their work."""
        started = self.journal.take_due()
        for run_id in started:
            logger.info("govmedia: scheduled run %s is due: started", run_id)
            await self.hand_out(run_id)
        return started

    async def sweep(self, every: float) -> None:
        """Close finished runs; hand out again what is lost (one sweeper per run per *every* s)."""
        for info in self.journal.open_runs():
            if not self.journal.sweep_turn(info.id, every):
                continue
            if self.journal.finish_if_done(info.id):
                self._runs.pop(info.id, None)
                logger.info("govmedia: run %s finished", info.id)
                continue
            found = await self.hand_out(info.id, lost_after=every)
            if found:
                logger.warning("govmedia: run %s: %d deliveries found without a live holder or a "
                               "message; handed out again", info.id, found)

    def forget(self, run_id: str) -> None:
        """Drop what is cached for a run (it finished)."""
        self._runs.pop(run_id, None)


# --------------------------------------------------------------------------- reports


def _error_of(row: Mapping[str, Any], channel: Channel) -> GovMediaError | None:
    """The error an outcome row names, rebuilt with its class (the message as written)."""
    name, message = row.get("error_type"), row.get("error_message") or ""
    if not name:
        return None
    if name == "_ClaimedElsewhere":
        name = "DeliveryUnknown"
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, GovMediaError)):
        return GovMediaError(message or name)
    if issubclass(cls, PlatformError):
        error: PlatformError = cls.__new__(cls)
        code = row.get("error_code")
        error.platform, error.account, error.code = channel.platform, channel.account, code
        error.message, error.response, error.hint = message, None, ""
        error.maybe_applied = cls.default_maybe_applied
        error.quota, error.known = False, {}
        if error.maybe_applied and row.get("progress"):
            # What the delivery's checkpoints recorded (a publish_id, say):
            # the `known` the in-process fan-out gives such an error.
            with contextlib.suppress(ValueError, TypeError):
                error.known = dict(json.loads(row["progress"]))
        Exception.__init__(error, message)
        return error
    if issubclass(cls, errors.ValidationError | errors.JournalError):
        return GovMediaError(message)
    return cls(message)


def delivery_from_outcome(row: Mapping[str, Any], channel: Channel) -> Delivery:
    """A `Delivery` from an outcome row (`Journal.outcomes_after`), bound to *channel*."""
    receipt = None
    if row.get("remote_id"):
        raw = row.get("receipt_raw")
        receipt = Receipt(channel=channel, remote_id=row["remote_id"], url=row.get("url"),
                          state=row.get("receipt_state") or "published",
                          raw=json.loads(raw) if raw else {})
    at = dt.datetime.fromisoformat(row["at"]) if row.get("at") else None
    return Delivery(channel=channel, state=row["state"], receipt=receipt,
                    error=_error_of(row, channel), attempts=row.get("attempts") or 0,
                    finished_at=at)
