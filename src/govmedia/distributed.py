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
import logging
import signal
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio

from govmedia._queue import DEFAULT_QUEUE, TASK_NAME, RedisQueue, broker, is_redis, redact
from govmedia._remote import Runner
from govmedia._submit import engine_of, fan_out_remote, lookup
from govmedia.client import AsyncClient
from govmedia.errors import ConfigError, GovMediaError, JournalError
from govmedia.journal import Journal
from govmedia.matrix import Matrix
from govmedia.model import Channel
from govmedia.policy.ratelimit import RateLimit, RateStore
from govmedia.policy.retry import RetryPolicy
from govmedia.tokens import TokenStore

__all__ = ["DEFAULT_QUEUE", "TASK_NAME", "RedisQueue", "Worker", "fan_out_remote"]

logger = logging.getLogger("govmedia")


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
        stop_grace: on SIGTERM, seconds a delivery whose create already
            reached the platform has to finish before it is cancelled (and
            left in doubt); those not sent yet are given back at once.
        tokens: where access tokens and rotated refresh tokens are kept
            (default: in memory). Workers on one machine should share a
            `FileTokenStore`: a single-use refresh token (Kuaishou,
            Bilibili, X) is then spent once, and its successor kept.

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
                 claim_idle: float = 60.0, stop_grace: float = 5.0,
                 tokens: TokenStore | None = None) -> None:
        if not is_redis(broker):
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
        self.stop_grace = stop_grace
        self.tokens = tokens
        self.delivered = 0
        self.id: str | None = None

    def __repr__(self) -> str:
        return (f"Worker(broker={redact(self.broker_url)!r}, queue={self.queue!r}, "
                f"concurrency={self.concurrency})")

    def run(self) -> None:
        """Run until SIGTERM or Ctrl-C; raises `JournalError` when the journal fails (exit 3)."""
        anyio.run(self.serve)

    async def serve(self, *, ready: Callable[[], Any] | None = None) -> None:  # noqa: C901, PLR0915
        """Serve on the running loop until cancelled, SIGTERM or SIGINT.

        Stopping takes no more messages, cancels at once every delivery
        whose create has not reached the transport (its claim goes back),
        gives the others *stop_grace* seconds to finish, records that this
        worker stopped and puts every message it held back on the stream for
        the other workers. When the journal fails, nothing it could not
        record is acknowledged; the worker stops and raises `JournalError`.
        """
        from taskiq import Context, TaskiqDepends
        from taskiq.acks import AcknowledgeType
        from taskiq.api import run_receiver_task

        journal = (self.journal_target if isinstance(self.journal_target, Journal)
                   else Journal(self.journal_target))
        # Screening and approvals were judged where the run was submitted.
        client = AsyncClient(journal=journal, rate_limits=self.rate_limits,
                             rate_store=self.rate_store, retry=self.retry,
                             concurrency=self.concurrency, tokens=self.tokens)
        queue = RedisQueue(self.broker_url, queue=self.queue)
        listener = broker(self.broker_url, self.queue, claim_idle=self.claim_idle)
        self.id = journal.register_worker()
        logger.info("govmedia: worker %s on %s, journal %s", self.id, queue, journal.path)
        stop = anyio.Event()
        failure: list[JournalError] = []
        inflight: dict[tuple[str, int], anyio.CancelScope] = {}

        def failed(exc: JournalError) -> None:
            if not failure:
                failure.append(exc)
                logger.error("govmedia: worker %s: %s; what it could not record stays "
                             "unacknowledged on the broker for another worker once the journal "
                             "is back; this worker stops", self.id, exc)
            stop.set()

        async def enqueue(run_id: str, ids: list[int]) -> None:
            await anyio.to_thread.run_sync(queue.enqueue, run_id, ids)

        async with engine_of(client) as engine:
            runner = Runner(journal=journal, engine=engine, preparer=client._preparer,  # noqa: SLF001
                            pipeline=client._pipeline, channels=lookup(self.matrix),  # noqa: SLF001
                            enqueue=enqueue)

            # Acknowledged here, once the outcome is durable: a message whose
            # delivery was stopped or could not be recorded stays the broker's.
            async def deliver(run_id: str, delivery_id: int,
                              context: Any = TaskiqDepends(Context)) -> str:  # noqa: B008 - taskiq's marker
                if stop.is_set():
                    return "stopping"  # given back with the other held messages
                key = (run_id, delivery_id)
                with anyio.CancelScope() as scope:
                    inflight[key] = scope
                    try:
                        outcome = await runner.deliver(run_id, delivery_id)
                    except JournalError as exc:
                        failed(exc)
                        return "journal failed"
                    finally:
                        inflight.pop(key, None)
                if scope.cancelled_caught:
                    return "stopped"
                self.delivered += 1
                await context.ack()
                return outcome

            listener.register_task(deliver, task_name=TASK_NAME)
            receiving = anyio.CancelScope()

            async def receive() -> None:
                with receiving:
                    await run_receiver_task(listener, max_async_tasks=self.concurrency,
                                            max_prefetch=0, ack_time=AcknowledgeType.MANUAL,
                                            run_startup=False)

            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._signals, stop)
                    tg.start_soon(self._heartbeat, journal, failed)
                    tg.start_soon(self._housekeeping, runner, queue, failed)
                    await listener.startup()
                    tg.start_soon(receive)
                    if ready is not None:
                        ready()
                    await stop.wait()
                    receiving.cancel()
                    await self._drain(runner, inflight, grace=0.0 if failure else self.stop_grace)
                    tg.cancel_scope.cancel()
            finally:
                with anyio.CancelScope(shield=True):
                    await self._drain(runner, inflight, grace=0.0)
                    returned = 0
                    if not failure:
                        with contextlib.suppress(GovMediaError):
                            journal.flush()
                            journal.stop_worker(self.id)
                        # Only now (its claims' holder recorded as stopped) may
                        # another worker take what this one held.
                        try:
                            returned = await listener.give_back()
                        except Exception as exc:  # noqa: BLE001 - Redis down: claimed after claim_idle
                            logger.warning("govmedia: worker %s could not put its messages back "
                                           "(%s); other workers take them after %s s", self.id,
                                           exc, self.claim_idle)
                    with contextlib.suppress(Exception):
                        await listener.shutdown()
                    queue.close()
                    await client.aclose()
                    if not isinstance(self.journal_target, Journal):
                        journal.close()
                    logger.info("govmedia: worker %s stopped after %d deliveries: %d given back "
                                "(never sent), %d in doubt (follow the resume rules), %d "
                                "messages put back on the queue", self.id, self.delivered,
                                len(runner.given_back), len(runner.in_doubt), returned)
        if failure:
            raise failure[0]

    async def _drain(self, runner: Runner, inflight: dict[tuple[str, int], anyio.CancelScope],
                     *, grace: float) -> None:
        """Cancel the deliveries under way: at once those not sent yet, the rest after *grace* s."""
        if not inflight:
            return
        for (run_id, delivery_id), scope in list(inflight.items()):
            if not runner.handed(run_id, delivery_id):
                scope.cancel()
        with anyio.move_on_after(grace):
            while inflight:  # noqa: ASYNC110 - the deliveries run in taskiq's tasks
                await anyio.sleep(0.05)
        for scope in list(inflight.values()):
            scope.cancel()
        with anyio.move_on_after(10):
            while inflight:  # noqa: ASYNC110
                await anyio.sleep(0.02)

    @staticmethod
    async def _signals(stop: anyio.Event) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                logger.info("govmedia: %s: the worker stops taking work",
                            signal.Signals(signum).name)
                stop.set()
                return

    @staticmethod
    async def _heartbeat(journal: Journal, failed: Callable[[JournalError], None]) -> None:
        from govmedia.journal import HEARTBEAT_SECONDS

        while True:
            await anyio.sleep(HEARTBEAT_SECONDS)
            assert journal.holder is not None
            try:
                journal.worker_beat(journal.holder)
            except JournalError as exc:
                failed(exc)
                return

    async def _housekeeping(self, runner: Runner, queue: RedisQueue,
                            failed: Callable[[JournalError], None]) -> None:
        """Start due runs; when the queue is drained, close finished runs and find lost work."""
        tick = min(1.0, self.sweep_every / 4)
        while True:
            await anyio.sleep(tick)
            try:
                await runner.start_due()
                if runner.inflight == 0 and await anyio.to_thread.run_sync(queue.drained):
                    await runner.sweep(self.sweep_every)
            except JournalError as exc:
                failed(exc)
                return
            except Exception as exc:  # noqa: BLE001 - Redis down: the next tick tries again
                logger.warning("govmedia: worker housekeeping failed: %s: %s", type(exc).__name__, exc)
