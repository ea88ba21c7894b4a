"""Beyond one machine: fan-outs sent by taskiq workers, scheduled runs, a shared journal.

```
 submitter (Client.fan_out(..., executor="redis://..."))      workers (govmedia worker)
   plans the run, judges screening and approvals,   ids     load the matrix themselves,
   writes run + plan + post to the journal   ──────────►    take each id, claim it in the
   enqueues delivery ids; waits or returns    Redis stream  journal, send, write the outcome
                 │                                            │
                 └──────────────  journal (PostgreSQL) ◄──────┘   rate buckets: Redis
```

The journal is the source of truth: it holds the run, the plan and the post
(media bytes once per hash); the queue carries ``(run id, delivery id)`` and
nothing else, and credentials never leave the processes that load the
matrix. Every send is guarded by the journal's claim, so a message delivered
twice, a worker killed mid-send or two workers on one delivery never post
twice; a dead worker's ``sending`` deliveries follow the resume rules. What
the queue loses (a Redis restart without persistence, a worker killed with
messages in hand) is found again in the journal by an idle worker's sweep.

`Worker` is what ``govmedia worker`` runs. Clients call `fan_out_remote`
through ``fan_out(..., executor=..., at=..., wait=...)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import signal
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from govmedia._engine import AsyncEngine
from govmedia._postdata import post_to_data
from govmedia._remote import Runner, delivery_from_outcome
from govmedia.errors import ConfigError, GovMediaError, JournalError
from govmedia.fanout import FanOut, Item, Progress
from govmedia.journal import Journal
from govmedia.matrix import Matrix
from govmedia.model import Channel, Delivery, Post
from govmedia.policy.ratelimit import RateLimit, RateStore
from govmedia.policy.retry import RetryPolicy
from govmedia.report import Report

if TYPE_CHECKING:
    from govmedia.client import AsyncClient, Client

__all__ = ["DEFAULT_QUEUE", "TASK_NAME", "RedisQueue", "Worker", "fan_out_remote"]

logger = logging.getLogger("govmedia")

TASK_NAME = "govmedia.deliver"
"""The taskiq task every message names; its arguments are ``[run_id, delivery_id]``."""

DEFAULT_QUEUE = "govmedia"
"""The Redis stream (and consumer group) the messages go to."""

POLL_SECONDS = 0.2
"""How often a waiting client reads new outcomes from the journal."""

RESCAN = 10
"""Every this many polls, a waiting client reads all of a run's outcomes again."""


def _redact(url: str) -> str:
    from govmedia._journal_pg import redact_dsn

    return redact_dsn(url)


def _is_redis(url: object) -> bool:
    return isinstance(url, str) and url.startswith(("redis://", "rediss://", "unix://"))


# --------------------------------------------------------------------------- the queue


class RedisQueue:
    """Delivery ids on a Redis stream, in taskiq's message format (`TASK_NAME`).

    Any taskiq worker with a ``RedisStreamBroker`` on the same stream and a
    task named `TASK_NAME` could take them; ``govmedia worker`` is one.

    Args:
        url: the broker, ``redis://host:port/db`` or ``unix:///path?db=N``.
        queue: the stream, which is also the consumer group's name.

    Example:
        >>> from govmedia.distributed import RedisQueue
        >>> RedisQueue("redis://:secret@10.0.0.5:6379/1")
        RedisQueue('redis://:***@10.0.0.5:6379/1', queue='govmedia')
    """

    def __init__(self, url: str, *, queue: str = DEFAULT_QUEUE) -> None:
        if not _is_redis(url):
            raise ConfigError(f"the broker must be a redis://, rediss:// or unix:// URL, got {url!r}")
        self.url = url
        self.queue = queue
        self._redis: Any = None
        self._formatter: Any = None

    def __repr__(self) -> str:
        return f"RedisQueue({_redact(self.url)!r}, queue={self.queue!r})"

    def _client(self) -> Any:
        if self._redis is None:
            try:
                import redis
                from taskiq_redis import RedisStreamBroker
            except ImportError:  # pragma: no cover - the extra is installed in tests
                raise ConfigError("executor='redis://...' needs taskiq and redis: pip install "
                                  "'govmedia[taskiq]'") from None
            self._formatter = RedisStreamBroker(self.url, queue_name=self.queue).formatter
            self._redis = redis.Redis.from_url(self.url, socket_timeout=5.0,
                                               socket_connect_timeout=5.0)
        return self._redis

    def enqueue(self, run_id: str, ids: Iterable[int]) -> int:
        """Put one message per delivery id on the stream; how many."""
        from taskiq.message import TaskiqMessage

        redis = self._client()
        count = 0
        pipe = redis.pipeline(transaction=False)
        for delivery_id in ids:
            message = TaskiqMessage(task_id=uuid.uuid4().hex, task_name=TASK_NAME, labels={},
                                    labels_types=None, args=[run_id, int(delivery_id)], kwargs={})
            pipe.xadd(self.queue, {b"data": self._formatter.dumps(message).message})
            count += 1
            if count % 1000 == 0:
                pipe.execute()
        pipe.execute()
        return count

    def drained(self) -> bool:
        """True when the stream holds nothing undelivered and no worker holds an unacked message."""
        redis = self._client()
        try:
            groups = redis.xinfo_groups(self.queue)
        except Exception as exc:
            if "no such key" in str(exc).lower():
                return True
            raise
        for group in groups:
            if group.get("name") in (self.queue, self.queue.encode()):
                return not group.get("pending") and group.get("lag") == 0
        return True

    def close(self) -> None:
        """Close the connections."""
        if self._redis is not None:
            self._redis.close()
            self._redis = None


def _broker(url: str, queue: str, *, claim_idle: float) -> Any:  # noqa: C901 - a class inside
    """A taskiq ``RedisStreamBroker`` that survives a Redis outage and finds a dead worker's messages.

    Its consumer group starts at the stream's first message (messages
    enqueued before any worker started are taken), it reconnects and
    recreates the group after Redis comes back, and it claims messages a
    consumer has held unacknowledged for *claim_idle* seconds (a killed
    worker's) on every round, not only when new messages arrive.
    """
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from taskiq import AckableMessage
    from taskiq_redis import RedisStreamBroker

    class Broker(RedisStreamBroker):
        def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:  # noqa: A002
            async def ack() -> None:
                try:
                    async with aioredis.Redis(connection_pool=self.connection_pool) as conn:
                        await conn.xack(queue_name, self.consumer_group_name, id)
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    # The outcome is in the journal: a redelivery is dropped there.
                    logger.warning("govmedia: could not acknowledge message %s: %s", id, exc)

            return ack

        async def listen(self) -> AsyncGenerator[AckableMessage, None]:  # noqa: C901 - per fault
            down: float | None = None
            last_claim = 0.0
            while True:
                try:
                    async with aioredis.Redis(connection_pool=self.connection_pool) as conn:
                        if down is not None:
                            await self._declare_consumer_group()
                            logger.warning("govmedia: broker %s is back after %.1f s",
                                           _redact(url), time.monotonic() - down)
                            down = None
                        fetched: Any = await conn.xreadgroup(
                            self.consumer_group_name, self.consumer_name, {self.queue_name: ">"},
                            block=self.block, noack=False, count=self.count)
                        for stream, messages in fetched or []:
                            for msg_id, msg in messages:
                                yield AckableMessage(data=msg[b"data"],
                                                     ack=self._ack_generator(msg_id, stream))
                        if time.monotonic() - last_claim >= min(5.0, claim_idle / 2):
                            last_claim = time.monotonic()
                            claimed: Any = await conn.xautoclaim(
                                self.queue_name, self.consumer_group_name, self.consumer_name,
                                min_idle_time=int(claim_idle * 1000),
                                count=self.unacknowledged_batch_size)
                            for msg_id, msg in claimed[1]:
                                if msg:  # a message trimmed meanwhile comes back empty
                                    yield AckableMessage(data=msg[b"data"],
                                                         ack=self._ack_generator(msg_id,
                                                                                 self.queue_name))
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    if down is None:
                        down = time.monotonic()
                        logger.warning("govmedia: broker %s unreachable (%s); retrying",
                                       _redact(url), type(exc).__name__)
                    await anyio.sleep(0.5)
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    down = down or time.monotonic()  # a restarted Redis: recreate the group
                    await anyio.sleep(0.2)

    return Broker(url, queue_name=queue, consumer_group_name=queue, consumer_id="0",
                  xread_block=1000, xread_count=16, idle_timeout=int(claim_idle * 1000),
                  socket_timeout=10.0, socket_connect_timeout=5.0)


# --------------------------------------------------------------------------- engines


@contextlib.asynccontextmanager
async def _engine_of(client: Client | AsyncClient) -> AsyncIterator[AsyncEngine]:
    """The engine that performs a client's ops on this loop, with the client's sender."""
    from govmedia._aio import AiohttpSender
    from govmedia.client import AsyncClient

    if isinstance(client, AsyncClient):
        client._ready_sender()  # noqa: SLF001 - govmedia's own client
        yield client._engine  # noqa: SLF001
        return
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


def _lookup(channels: Iterable[Channel]) -> Callable[[str, str], Channel | None]:
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
            if getattr(platform, "schedule", None) is None:
                raise ConfigError(f"channel {channel.id}: option native_schedule is set, but "
                                  f"{channel.platform} cannot schedule a post itself; remove the "
                                  "option (the run waits in the journal instead)")
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

    async def enqueue(rid: str, ids: list[int]) -> None:
        for delivery_id in ids:
            send.send_nowait((rid, delivery_id))

    async with _engine_of(client) as engine:
        runner = Runner(journal=journal, engine=engine, preparer=client._preparer,  # noqa: SLF001
                        pipeline=client._pipeline, channels=_lookup(run.matrix),  # noqa: SLF001
                        enqueue=enqueue)

        async def consume() -> None:
            async for rid, delivery_id in receive:
                await runner.deliver(rid, delivery_id)

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
                if mine and runner.inflight == 0 and receive.statistics().current_buffer_used == 0:
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
    if executor is not None and not _is_redis(executor):
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
                               _redact(executor), exc)
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


# --------------------------------------------------------------------------- workers


class Worker:
    """A process that sends fan-outs' deliveries from a taskiq Redis broker (``govmedia worker``).

    Each worker loads the matrix itself (credentials never travel), finds each
    message's channel by ``(platform, account)``, and delivers up to
    *concurrency* at once on one event loop. While idle it starts scheduled
    runs that are due, closes finished runs, and hands out again work that a
    dead worker or a Redis restart lost (`sweep_every`).

    Args:
        matrix: the channels this worker may send to (the submitters' matrix).
        journal: the shared journal (a ``postgresql://`` URL, or a SQLite path
            every worker on this machine opens).
        broker: the taskiq broker, ``redis://...``.
        rate_store: ``redis://...``: rate budgets shared by every worker.
        rate_limits: as `Client`'s; every worker should set the same.
        retry: as `Client`'s.
        concurrency: deliveries at once in this process.
        queue: the Redis stream.
        sweep_every: seconds between looks for lost work, and how long a
            delivery must have stood still to count as lost.
        claim_idle: seconds after which another worker takes over a message
            a worker holds unacknowledged (a killed worker's).

    Example:
        >>> import govmedia as gm
        >>> from govmedia.distributed import Worker
        >>> w = Worker(matrix=gm.Matrix(), journal="/srv/govmedia/journal.db",
        ...            broker="redis://127.0.0.1:6379/1")
        >>> w
        Worker(broker='redis://127.0.0.1:6379/1', queue='govmedia', concurrency=64)
    """

    def __init__(self, *, matrix: Matrix | Iterable[Channel], journal: str | Journal, broker: str,
                 rate_store: str | RateStore | None = None,
                 rate_limits: Mapping[str, RateLimit] | None = None,
                 retry: RetryPolicy | None = None, concurrency: int = 64,
                 queue: str = DEFAULT_QUEUE, sweep_every: float = 30.0,
                 claim_idle: float = 60.0) -> None:
        if not _is_redis(broker):
            raise ConfigError(f"the broker must be a redis://, rediss:// or unix:// URL, got {broker!r}")
        self.matrix = matrix if isinstance(matrix, Matrix) else Matrix(members=tuple(matrix))
        self.journal_target = journal
        self.broker_url = broker
        self.rate_store = rate_store
        self.rate_limits = rate_limits
        self.retry = retry
        self.concurrency = concurrency
        self.queue = queue
        self.sweep_every = sweep_every
        self.claim_idle = claim_idle
        self.delivered = 0
        self.id: str | None = None

    def __repr__(self) -> str:
        return (f"Worker(broker={_redact(self.broker_url)!r}, queue={self.queue!r}, "
                f"concurrency={self.concurrency})")

    def run(self) -> None:
        """Run until SIGTERM or Ctrl-C (what is in flight and never left is given back)."""
        anyio.run(self.serve)

    async def serve(self, *, ready: Callable[[], Any] | None = None) -> None:
        """Serve on the running loop until cancelled, SIGTERM or SIGINT."""
        from taskiq.acks import AcknowledgeType
        from taskiq.api import run_receiver_task

        from govmedia.client import AsyncClient

        journal = (self.journal_target if isinstance(self.journal_target, Journal)
                   else Journal(self.journal_target))
        # Screening and approvals were judged where the run was submitted.
        client = AsyncClient(journal=journal, rate_limits=self.rate_limits,
                             rate_store=self.rate_store, retry=self.retry,
                             concurrency=self.concurrency)
        queue = RedisQueue(self.broker_url, queue=self.queue)
        broker = _broker(self.broker_url, self.queue, claim_idle=self.claim_idle)
        self.id = journal.register_worker()
        logger.info("govmedia: worker %s on %s, journal %s", self.id, queue, journal.path)

        async def enqueue(run_id: str, ids: list[int]) -> None:
            await anyio.to_thread.run_sync(queue.enqueue, run_id, ids)

        async with _engine_of(client) as engine:
            runner = Runner(journal=journal, engine=engine, preparer=client._preparer,  # noqa: SLF001
                            pipeline=client._pipeline, channels=_lookup(self.matrix),  # noqa: SLF001
                            enqueue=enqueue)

            async def deliver(run_id: str, delivery_id: int) -> str:
                outcome = await runner.deliver(run_id, delivery_id)
                self.delivered += 1
                return outcome

            broker.register_task(deliver, task_name=TASK_NAME)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._signals, tg.cancel_scope)
                    tg.start_soon(self._heartbeat, journal)
                    tg.start_soon(self._housekeeping, runner, queue)
                    await broker.startup()
                    tg.start_soon(lambda: run_receiver_task(
                        broker, max_async_tasks=self.concurrency, max_prefetch=0,
                        ack_time=AcknowledgeType.WHEN_EXECUTED, run_startup=False))
                    if ready is not None:
                        ready()
            finally:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(Exception):
                        await broker.shutdown()
                    queue.close()
                    with contextlib.suppress(GovMediaError):
                        journal.stop_worker(self.id)
                    await client.aclose()
                    if not isinstance(self.journal_target, Journal):
                        journal.close()
                    logger.info("govmedia: worker %s stopped after %d deliveries", self.id,
                                self.delivered)

    @staticmethod
    async def _signals(scope: anyio.CancelScope) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                scope.cancel()
                return

    @staticmethod
    async def _heartbeat(journal: Journal) -> None:
        from govmedia.journal import HEARTBEAT_SECONDS

        while True:
            await anyio.sleep(HEARTBEAT_SECONDS)
            assert journal.holder is not None
            try:
                journal.worker_beat(journal.holder)
            except JournalError:
                logger.exception("govmedia: the journal failed; this worker stops")
                raise

    async def _housekeeping(self, runner: Runner, queue: RedisQueue) -> None:
        """Start due runs; when the queue is drained, close finished runs and find lost work."""
        tick = min(1.0, self.sweep_every / 4)
        while True:
            await anyio.sleep(tick)
            try:
                await runner.start_due()
                if runner.inflight == 0 and await anyio.to_thread.run_sync(queue.drained):
                    await runner.sweep(self.sweep_every)
            except JournalError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis down: the next tick tries again
                logger.warning("govmedia: worker housekeeping failed: %s: %s", type(exc).__name__, exc)
