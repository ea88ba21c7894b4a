"""Submitting a run for workers or for later, and waiting for it (``fan_out(executor=, at=, wait=)``).

The clients call `fan_out_remote` (sync) and `fan_out_remote_async`; the
public side of this is `govmedia.distributed`. This module never imports the
clients (they import it): it uses their parts by duck typing.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio

from govmedia._engine import AsyncEngine
from govmedia._postdata import post_to_data
from govmedia._queue import RedisQueue, is_redis, redact
from govmedia._remote import Runner, delivery_from_outcome
from govmedia.errors import ConfigError
from govmedia.fanout import FanOut, Item, Progress
from govmedia.journal import Journal
from govmedia.matrix import Matrix
from govmedia.model import Channel, Delivery, Post
from govmedia.report import Report

if TYPE_CHECKING:
    from govmedia.client import AsyncClient, Client

__all__ = ["POLL_SECONDS", "RESCAN", "engine_of", "fan_out_remote", "fan_out_remote_async", "lookup"]

logger = logging.getLogger("govmedia")

POLL_SECONDS = 0.2
"""How often a waiting client reads new outcomes from the journal."""

RESCAN = 10
"""Every this many polls, a waiting client reads all of a run's outcomes again."""




@contextlib.asynccontextmanager
async def engine_of(client: Client | AsyncClient) -> AsyncIterator[AsyncEngine]:
    """The engine that performs a client's ops on this loop, with the client's sender."""
    from govmedia._aio import AiohttpSender

    ready = getattr(client, "_ready_sender", None)
    if ready is not None:  # an AsyncClient: its own engine and sender
        ready()
        engine: AsyncEngine = client._engine  # type: ignore[union-attr]  # noqa: SLF001
        yield engine
        return
    assert not hasattr(client, "_ready_sender")
    http = client._http  # noqa: SLF001
    sender: AiohttpSender | None = None
    if http is None:
        sender = AiohttpSender(client.timeout, report_sent=bool(client._limiter),  # noqa: SLF001
                               max_body=client.max_response_bytes)
        sender.open()
        send: Callable[[Any], Awaitable[Any]] = sender.send
    else:
        limiter = anyio.CapacityLimiter(client.concurrency)

        async def send(request: Any) -> Any:
            return await anyio.to_thread.run_sync(client._send, request, limiter=limiter,  # noqa: SLF001
                                                  abandon_on_cancel=True)
    try:
        yield AsyncEngine(client._pipeline, client._tokens, send)  # noqa: SLF001
    finally:
        if sender is not None:
            await sender.aclose()


def lookup(channels: Iterable[Channel]) -> Callable[[str, str], Channel | None]:
    by_key = {(c.platform, c.account): c for c in channels}
    return lambda platform, account: by_key.get((platform, account))


# --------------------------------------------------------------------------- submitting


class _Follower:
    """Reads a run's outcomes from the journal into its `FanOut`, reporting progress."""

    def __init__(self, run: FanOut) -> None:
        self.run = run
        assert run.journal is not None
        assert run.run_id is not None
        self.journal: Journal = run.journal
        self.run_id: str = run.run_id
        self.after = 0
        self.index = {(c.platform, c.account): i for i, c in enumerate(run.matrix)}
        self.channels = list(run.matrix)
        results = run._results  # noqa: SLF001 - the run's own record of what is decided
        self.local = {i for i, d in enumerate(results) if d is not None}
        self.missing = len(results) - len(self.local)
        self.steps = 0

    def step(self) -> bool:
        """Take in new outcomes; True once every delivery has one.

        Read past the highest outcome id seen; on PostgreSQL a transaction
        that took a lower id may commit after a higher one was read, so every
        `RESCAN` steps, and before saying what is missing, it reads them all.
        """
        self.steps += 1
        rescan = self.steps % RESCAN == 0
        for row in self.journal.outcomes_after(self.run_id, 0 if rescan else self.after):
            self.after = max(self.after, int(row["id"]))
            i = self.index.get((row["platform"], row["account"]))
            if i is None or i in self.local:
                continue
            results = self.run._results  # noqa: SLF001
            first = results[i] is None
            delivery = delivery_from_outcome(row, self.channels[i])
            if first:
                self.missing -= 1
                self._progress(delivery)
            results[i] = delivery
        return self.missing <= 0

    def _progress(self, delivery: Delivery) -> None:
        progress = self.run.progress
        if progress is None:
            return
        update = getattr(progress, "update", None)
        if callable(update) and not callable(progress):
            update(1)
        else:
            progress(delivery)

    def report(self) -> Report:
        self.journal.finish_if_done(self.run_id)
        run = self.run
        deliveries = tuple(d for d in run._results if d is not None)  # noqa: SLF001
        return Report(post_key=run.post.key, mode=run.mode, run_id=run.run_id, dry_run=False,
                      deliveries=deliveries, started_at=run.started_at,
                      finished_at=dt.datetime.now(dt.UTC))


def _native(run: FanOut, at: dt.datetime | None) -> set[tuple[str, str]]:
    """Channels of *run* that schedule natively at *at* (sent now, with the time)."""
    if at is None:
        return set()
    found = set()
    for channel in run.matrix:
        if channel.options.get("native_schedule"):
            platform = run.preparer.platform_named(channel.platform)
            schedule = getattr(platform, "schedule", None)
            if schedule is None:
                raise ConfigError(f"channel {channel.id}: option native_schedule is set, but "
                                  f"{channel.platform} cannot schedule a post itself; remove the "
                                  "option (the run waits in the journal instead)")
            schedule(channel, at)  # a channel it cannot schedule: ConfigError, now
            found.add((channel.platform, channel.account))
    return found


def _submit(client: Client | AsyncClient, post: Post, target: Matrix | Iterable[Channel], *,
            mode: str, changed: str, progress: Progress | None,
            at: dt.datetime | None) -> tuple[FanOut, list[int], list[int]]:
    """Write the run for workers; the ids to hand out now, and those scheduled natively."""
    journal = client.journal
    if journal is None:
        raise ConfigError("executor=, at= and wait=False need the journal (it holds the run until "
                          "it is sent); this client has journal=False")
    if journal.path == ":memory:":
        raise ConfigError("executor=, at= and wait=False need a journal other processes can read: "
                          "a file or a postgresql:// URL, not ':memory:'")
    run = FanOut(client._preparer, client._pipeline, post, target, mode=mode,  # noqa: SLF001
                 dry_run=False, progress=progress, journal=journal, changed=changed)
    assert run.run_id is not None
    native = _native(run, at)
    journal.put_post(post.content_hash, post_to_data(post, journal))
    # Screening, approvals and every channel's checks are judged here, with
    # this client's policy: what fails them is settled now, never queued.
    hub = run.hub_item()
    items: list[Item] = [hub] if hub is not None else []
    while (item := run.next_item()) is not None:
        items.append(item)
    for item in items:
        decision = run.decide(item)
        if isinstance(decision, Delivery):
            run.record(item.index, item.role, decision)
    journal.flush()
    journal.mark_run(run.run_id, state="scheduled" if at else "queued",
                     due_at=at.astimezone(dt.UTC).isoformat(timespec="milliseconds") if at else None)
    rows = journal.unsettled(run.run_id)
    if mode == "amplify" and any(r["role"] == "hub" for r in rows):
        rows = [r for r in rows if r["role"] == "hub"]
    now_ids = [] if at else [int(r["id"]) for r in rows]
    native_ids = [int(r["id"]) for r in rows if (r["platform"], r["account"]) in native]
    return run, now_ids, native_ids


async def _run_here(client: Client | AsyncClient, run: FanOut,
                    follower: _Follower, at: dt.datetime | None, native_ids: list[int]) -> None:
    """Send a run this client submitted itself: natively scheduled deliveries now, the rest at *at*."""
    send, receive = anyio.create_memory_object_stream[tuple[str, int]](math.inf)
    with send, receive:
        await _deliver_here(client, run, follower, at, native_ids, send=send, receive=receive)


async def _deliver_here(client: Client | AsyncClient, run: FanOut,  # noqa: C901 - a task group
                        follower: _Follower, at: dt.datetime | None, native_ids: list[int], *,
                        send: Any, receive: Any) -> None:
    journal = follower.journal
    run_id = follower.run_id
    # Deliveries handed to the consumers and not finished yet. Counted here,
    # not read off the queue and the runner: an id given straight to a
    # waiting consumer is in neither until that consumer runs, and the sweep
    # below would hand it out again (seen: two deliveries of one id at once).
    outstanding = 0

    async def enqueue(rid: str, ids: list[int]) -> None:
        nonlocal outstanding
        for delivery_id in ids:
            outstanding += 1
            send.send_nowait((rid, delivery_id))

    async with engine_of(client) as engine:
        runner = Runner(journal=journal, engine=engine, preparer=client._preparer,  # noqa: SLF001
                        pipeline=client._pipeline, channels=lookup(run.matrix),  # noqa: SLF001
                        enqueue=enqueue)

        async def consume() -> None:
            nonlocal outstanding
            async for rid, delivery_id in receive:
                try:
                    await runner.deliver(rid, delivery_id)
                finally:
                    outstanding -= 1

        async with anyio.create_task_group() as tg:
            for _ in range(max(1, min(client.concurrency, len(run)))):
                tg.start_soon(consume)
            await enqueue(run_id, native_ids)
            if at is not None:
                while (wait := (at - dt.datetime.now(dt.UTC)).total_seconds()) > 0:
                    follower.step()
                    await anyio.sleep(min(wait, 1.0))
            mine = at is None or journal.take_run(run_id)
            if mine:
                await runner.hand_out(run_id)
            # A worker started it first: follow it, send nothing here.
            while not follower.step():
                if mine and outstanding == 0:
                    await runner.hand_out(run_id, lost_after=1.0)
                await anyio.sleep(POLL_SECONDS)
            tg.cancel_scope.cancel()


async def _follow(follower: _Follower) -> None:
    while not follower.step():  # noqa: ASYNC110 - other processes write the outcomes
        await anyio.sleep(POLL_SECONDS)


async def fan_out_remote_async(client: Client | AsyncClient, post: Post,
                               target: Matrix | Iterable[Channel], *, mode: str, changed: str,
                               progress: Progress | None, executor: str | None,
                               at: dt.datetime | None, wait: bool) -> Report | str:
    """`fan_out_remote` on the running event loop (`AsyncClient.fan_out`)."""
    if at is not None and (not isinstance(at, dt.datetime) or at.tzinfo is None):
        raise ConfigError(f"at= must be a datetime with a time zone (datetime(..., tzinfo=UTC)), "
                          f"got {at!r}")
    if executor is not None and not is_redis(executor):
        raise ConfigError(f"executor must be a redis://, rediss:// or unix:// URL (the taskiq "
                          f"broker the workers listen to), got {executor!r}")
    if executor is None and not wait:
        raise ConfigError("wait=False hands the run to workers: give executor='redis://...' too")
    run, now_ids, native_ids = await anyio.to_thread.run_sync(
        lambda: _submit(client, post, target, mode=mode, changed=changed, progress=progress, at=at))
    assert run.run_id is not None
    follower = _Follower(run)
    if executor is not None:
        queue = RedisQueue(executor)
        try:
            ids = now_ids or native_ids
            try:
                await anyio.to_thread.run_sync(queue.enqueue, run.run_id, ids)
            except Exception as exc:
                if type(exc).__module__.split(".")[0] != "redis":
                    raise
                # The run is in the journal: an idle worker's sweep hands it out.
                logger.warning("govmedia: run %s is in the journal but the broker %s refused its "
                               "messages (%s); workers will find it there", run.run_id,
                               redact(executor), exc)
        finally:
            queue.close()
        if not wait:
            return run.run_id
        await _follow(follower)
    else:
        await _run_here(client, run, follower, at, native_ids)
    return follower.report()


def fan_out_remote(client: Client, post: Post, target: Matrix | Iterable[Channel], *,
                   mode: str, changed: str, progress: Progress | None, executor: str | None,
                   at: dt.datetime | None, wait: bool) -> Report | str:
    """``Client.fan_out(..., executor=, at=, wait=)``: write the run for workers, then wait or not.

    With *executor* (the workers' broker) the run's delivery ids are queued
    now (or at *at*, by the first worker that sees it due); without one the
    client sends the run itself at *at*, unless a worker started it first.
    *wait* False returns the run id at once (`govmedia runs show` reports it).
    """
    with anyio.from_thread.start_blocking_portal() as portal:
        return portal.call(lambda: fan_out_remote_async(
            client, post, target, mode=mode, changed=changed, progress=progress,
            executor=executor, at=at, wait=wait))
