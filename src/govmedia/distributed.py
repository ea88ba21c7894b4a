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
        self.delivered = 0
        self.id: str | None = None

    def __repr__(self) -> str:
        return (f"Worker(broker={redact(self.broker_url)!r}, queue={self.queue!r}, "
                f"concurrency={self.concurrency})")

    def run(self) -> None:
        """Run until SIGTERM or Ctrl-C (what is in flight and never left is given back)."""
        anyio.run(self.serve)

    async def serve(self, *, ready: Callable[[], Any] | None = None) -> None:
        """Serve on the running loop until cancelled, SIGTERM or SIGINT."""
        from taskiq.acks import AcknowledgeType
        from taskiq.api import run_receiver_task

        journal = (self.journal_target if isinstance(self.journal_target, Journal)
                   else Journal(self.journal_target))
        # Screening and approvals were judged where the run was submitted.
        client = AsyncClient(journal=journal, rate_limits=self.rate_limits,
                             rate_store=self.rate_store, retry=self.retry,
                             concurrency=self.concurrency)
        queue = RedisQueue(self.broker_url, queue=self.queue)
        listener = broker(self.broker_url, self.queue, claim_idle=self.claim_idle)
        self.id = journal.register_worker()
        logger.info("govmedia: worker %s on %s, journal %s", self.id, queue, journal.path)

        async def enqueue(run_id: str, ids: list[int]) -> None:
            await anyio.to_thread.run_sync(queue.enqueue, run_id, ids)

        async with engine_of(client) as engine:
            runner = Runner(journal=journal, engine=engine, preparer=client._preparer,  # noqa: SLF001
                            pipeline=client._pipeline, channels=lookup(self.matrix),  # noqa: SLF001
                            enqueue=enqueue)

            async def deliver(run_id: str, delivery_id: int) -> str:
                outcome = await runner.deliver(run_id, delivery_id)
                self.delivered += 1
                return outcome

            listener.register_task(deliver, task_name=TASK_NAME)
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._signals, tg.cancel_scope)
                    tg.start_soon(self._heartbeat, journal)
                    tg.start_soon(self._housekeeping, runner, queue)
                    await listener.startup()
                    tg.start_soon(lambda: run_receiver_task(
                        listener, max_async_tasks=self.concurrency, max_prefetch=0,
                        ack_time=AcknowledgeType.WHEN_EXECUTED, run_startup=False))
                    if ready is not None:
                        ready()
            finally:
                with anyio.CancelScope(shield=True):
                    with contextlib.suppress(Exception):
                        await listener.shutdown()
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
