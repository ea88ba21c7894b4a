"""The one fan-out engine: performs ops on an event loop, for both clients.

`AsyncClient` runs it on the caller's loop; `Client` runs it on a loop of its
own in a helper thread (a notebook's loop is never touched), sending either
with govmedia's aiohttp sender or, when the user passed ``http=``, through
that `httpx.Client` in worker threads. Either way the deliveries, the shared
claim commits, the token single-flight and the keep-alive of the journal are
this code.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import httpx

from govmedia._pipeline import (
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
from govmedia.errors import GovMediaError, JournalError
from govmedia.fanout import Attempt, FanOut, Item
from govmedia.journal import FLUSH_SECONDS, HEARTBEAT_SECONDS
from govmedia.model import Delivery
from govmedia.platforms.base import Sleep
from govmedia.report import Report
from govmedia.tokens import Token, TokenStore

__all__ = ["AsyncEngine"]

logger = logging.getLogger("govmedia")
T = TypeVar("T")

Sender = Callable[[httpx.Request], Awaitable[httpx.Response]]


_TURNS = 2  # loop turns a claim batch stays open for others to join (see AsyncEngine._claim)


class _ClaimBatch:
    """Claims that share one journal commit, and what came of them.

    Under asyncio each waiting worker awaits a future of its own (a fraction
    of the cost of an `anyio.Event`, and every worker but the first waits);
    elsewhere (trio) an `anyio.Event`. A worker cancelled while it waits
    leaves its future cancelled; its claim may still be committed, and
    `FanOut.stop` gives it back.
    """

    __slots__ = ("done", "error", "futures", "results", "tracks")

    def __init__(self, track: Track, *, futures: bool) -> None:
        self.tracks = [track]
        self.futures: list[asyncio.Future[None]] | None = [] if futures else None
        self.done = None if futures else anyio.Event()
        self.results: list[bool] = []
        self.error: BaseException | None = None

    async def wait(self) -> None:
        """Until the batch is committed (or failed)."""
        if self.futures is None:
            assert self.done is not None
            await self.done.wait()
            return
        future = asyncio.get_running_loop().create_future()
        self.futures.append(future)
        await future

    def finish(self) -> None:
        """Wake every worker that waits."""
        if self.futures is None:
            assert self.done is not None
            self.done.set()
            return
        for future in self.futures:
            if not future.done():  # cancelled: that worker has left
                future.set_result(None)


class AsyncEngine:
    """Perform ops on the running event loop: send, sleep, tokens, claims, checkpoints."""

    def __init__(self, pipeline: Pipeline, tokens: TokenStore, send: Sender) -> None:
        self.pipeline = pipeline
        self.tokens = tokens
        self.send = send
        self._token_locks: dict[tuple[str, str], anyio.Lock] = {}
        self._claims: dict[int, _ClaimBatch] = {}
        self._asyncio: bool | None = None  # running under asyncio (known at the first claim)

    # ----------------------------------------------------------- ops

    async def drive(self, ops: Ops[T], run: FanOut | None = None) -> T:  # noqa: C901 - an op each
        """Perform every op of *ops* and return what it returns."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                op = ops.throw(error) if error is not None else ops.send(value)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]
            value, error = None, None
            try:
                if isinstance(op, Send):
                    try:
                        value = await self.send(op.request)
                    except httpx.TransportError as exc:
                        value = exc
                elif isinstance(op, Sleep):
                    await anyio.sleep(op.seconds)
                elif isinstance(op, Claim):
                    value = await self._claim(run, op.track)
                elif isinstance(op, Record):
                    self._record(run, op)
                elif isinstance(op, Upload):
                    if run is not None:
                        run.uploaded(op.track.context, op.event)
                else:
                    value = await self._token(op)
            except GovMediaError as exc:
                error = exc

    async def _token(self, op: GetToken) -> Token:
        token = cached_token(op, self.tokens)
        if token is not None:
            return token
        scope = (op.platform.name, op.platform.token_scope(op.channel))
        lock = self._token_locks.get(scope)
        if lock is None:
            lock = self._token_locks[scope] = anyio.Lock()
        async with lock:  # one refresh per scope in this loop, however many tasks wait
            shared = self.tokens.lock(scope)  # ... and across threads (a sync caller)
            # Polled, not waited for in a thread: a cancelled wait must not
            # leave a thread that takes the lock later and never gives it back.
            while not shared.acquire(blocking=False):  # noqa: ASYNC110
                await anyio.sleep(0.005)
            try:
                return await self.drive(token_ops(self.pipeline, op, self.tokens))
            finally:
                shared.release()

    @staticmethod
    def _record(run: FanOut | None, op: Record) -> None:
        if run is None or run.journal is None:
            return
        attempt: Attempt = op.track.context
        run.journal.record(run.post.key, attempt.channel, op.checkpoint.stage, op.checkpoint.data)

    async def _claim(self, run: FanOut | None, track: Track) -> bool:
        """Claim in the journal, sharing one commit with every worker ready now.

        The first worker to arrive gives the loop two turns so that the others
        about to send can join, then commits all their claims together; each
        worker sends only after that commit.
        """
        if run is None or run.journal is None:
            return True
        batch = self._claims.get(id(run))
        if batch is not None:
            slot = len(batch.tracks)
            batch.tracks.append(track)
            await batch.wait()
            if batch.error is not None:
                raise batch.error
            return batch.results[slot]
        if self._asyncio is None:
            self._asyncio = _on_asyncio()
        batch = self._claims[id(run)] = _ClaimBatch(track, futures=self._asyncio)
        try:
            # Two turns, not one: answers read in the next turn wake their
            # workers only in the turn after it. With one, the workers that
            # had an answer come in at that moment each paid a commit of
            # their own (measured at N = 1,000: 70 commits, most of one
            # claim, against 16 of ~62; 9-14 % more deliveries/s with two).
            for _ in range(_TURNS):
                if self._asyncio:
                    await asyncio.sleep(0)  # anyio's checkpoint, without looking up the backend
                else:
                    await anyio.lowlevel.checkpoint()
        finally:
            del self._claims[id(run)]
            # The commit runs here, on the loop: a batch commits in ~0.1 ms.
            # In a worker thread it was slower (measured: 10-25 % fewer
            # deliveries/s), as the thread waits for the GIL after each
            # SQLite call while the loop keeps the CPU busy.
            try:
                batch.results = run.claim_rows(batch.tracks)
            except Exception as exc:  # noqa: BLE001 - handed to every waiter below
                batch.error = exc
            finally:
                batch.finish()
        if batch.error is not None:
            raise batch.error
        return batch.results[0]

    # ----------------------------------------------------------- fan-out

    async def fan_out(self, run: FanOut, workers: int) -> Report:
        """Deliver every item of *run* with *workers* at once; the hub first in amplify mode."""
        try:
            hub = run.hub_item()
            if hub is not None:
                await self._deliver(run, hub)
            async with anyio.create_task_group() as keepalive:
                if run.journal is not None:
                    keepalive.start_soon(self._keep_alive, run)
                async with anyio.create_task_group() as tg:
                    for _ in range(workers):
                        tg.start_soon(self._worker, run)
                keepalive.cancel_scope.cancel()
        except BaseException as exc:
            # One worker's interrupt or crash, not a group of them: raise
            # what happened, as a plain call would.
            cause = _first(exc) if isinstance(exc, BaseExceptionGroup) else exc
            run.stop(cause)
            if cause is exc:
                raise
            raise cause from None
        return run.report()

    async def _keep_alive(self, run: FanOut) -> None:
        """Write outcomes that wait (a long poll sends no claims) and beat the run's heart."""
        journal, run_id = run.journal, run.run_id
        assert journal is not None
        assert run_id is not None
        beat = time.monotonic()
        while True:
            await anyio.sleep(max(FLUSH_SECONDS, 0.25))
            if journal.broken is not None:
                return
            try:
                if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                    beat = time.monotonic()
                    journal.heartbeat(run_id)
                elif journal.pending_outcomes():
                    journal.flush()
            except JournalError:
                return  # the run ends with it (FanOut.report)

    async def _worker(self, run: FanOut) -> None:
        while (item := run.next_item()) is not None:
            await self._deliver(run, item)

    async def _deliver(self, run: FanOut, item: Item) -> None:
        if run.heavy:
            decision: Delivery | Attempt = await anyio.to_thread.run_sync(run.decide, item)
        else:
            decision = run.decide(item)
        if isinstance(decision, Attempt):
            decision = await self.drive(run.deliver(decision), run)
        run.record(item.index, item.role, decision)


def _on_asyncio() -> bool:
    """True when this runs on an asyncio event loop (not trio)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception that stands for *group*: an interrupt first, else the first raised."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    for leaf in leaves:
        if isinstance(leaf, KeyboardInterrupt | SystemExit):
            return leaf
    return leaves[0] if leaves else group
