"""Delivery ids on a Redis stream in taskiq's format, and the broker workers listen with."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Any

import anyio

from govmedia._redis import connect
from govmedia.errors import ConfigError

__all__ = ["DEFAULT_QUEUE", "TASK_NAME", "RedisQueue", "broker", "is_redis", "redact"]

logger = logging.getLogger("govmedia")

TASK_NAME = "govmedia.deliver"
"""The taskiq task every message names; its arguments are ``[run_id, delivery_id]``."""

DEFAULT_QUEUE = "govmedia"
"""The Redis stream (and consumer group) the messages go to."""


def redact(url: str) -> str:
    """*url* with its password hidden."""
    from govmedia._journal_pg import redact_dsn

    return redact_dsn(url)


def is_redis(url: object) -> bool:
    """True for a URL redis-py opens."""
    return isinstance(url, str) and url.startswith(("redis://", "rediss://", "unix://"))




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
        if not is_redis(url):
            raise ConfigError(f"the broker must be a redis://, rediss:// or unix:// URL, got {url!r}")
        self.url = url
        self.queue = queue
        self._redis: Any = None
        self._formatter: Any = None

    def __repr__(self) -> str:
        return f"RedisQueue({redact(self.url)!r}, queue={self.queue!r})"

    def _client(self) -> Any:
        if self._redis is None:
            try:
                from taskiq_redis import RedisStreamBroker
            except ImportError:  # pragma: no cover - the extra is installed in tests
                from govmedia._extras import install_hint

                raise ConfigError("executor='redis://...' needs taskiq and taskiq-redis: "
                                  f"{install_hint('taskiq')}; {install_hint('taskiq-redis')}"
                                  ) from None
            self._formatter = RedisStreamBroker(self.url, queue_name=self.queue).formatter
            self._redis = connect(self.url, what="executor='redis://...'", timeout=5.0)
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


def broker(url: str, queue: str, *, claim_idle: float) -> Any:  # noqa: C901 - a class inside
    """A taskiq ``RedisStreamBroker`` that survives a Redis outage and finds a dead worker's messages.

    Its consumer group starts at the stream's first message (messages
    enqueued before any worker started are taken), it reconnects and
    recreates the group after Redis comes back, and it claims messages a
    consumer has held unacknowledged for *claim_idle* seconds (a killed
    worker's) on every round, not only when new messages arrive.

    It remembers every message it read until it is acknowledged (``held``),
    so a worker that stops can put them back on the stream for others at
    once (``give_back``) instead of leaving them for *claim_idle*.
    """
    import redis.asyncio as aioredis
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import ResponseError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    from taskiq import AckableMessage
    from taskiq_redis import RedisStreamBroker

    class Broker(RedisStreamBroker):
        held: dict[Any, bytes]

        def _ack_generator(self, id: str, queue_name: str) -> Callable[[], Awaitable[None]]:  # noqa: A002
            async def ack() -> None:
                self.held.pop(id, None)
                try:
                    async with aioredis.Redis(connection_pool=self.connection_pool) as conn:
                        await conn.xack(queue_name, self.consumer_group_name, id)
                except (RedisConnectionError, RedisTimeoutError) as exc:
                    # The outcome is in the journal: a redelivery is dropped there.
                    logger.warning("govmedia: could not acknowledge message %s: %s", id, exc)

            return ack

        def _hold(self, messages: Any) -> list[tuple[Any, Any]]:
            """Remember *messages* as held until acknowledged (a trimmed one comes back empty)."""
            kept = [(msg_id, msg) for msg_id, msg in messages if msg]
            for msg_id, msg in kept:
                self.held[msg_id] = msg[b"data"]
            return kept

        async def give_back(self) -> int:
            """Put every message read and not acknowledged back on the stream; how many.

            Each is added again and the old one acknowledged in one
            transaction, so another worker takes it now.
            """
            held, self.held = self.held, {}
            if not held:
                return 0
            async with aioredis.Redis(connection_pool=self.connection_pool) as conn:
                pipe = conn.pipeline(transaction=True)
                for msg_id, data in held.items():
                    pipe.xadd(self.queue_name, {b"data": data})
                    pipe.xack(self.queue_name, self.consumer_group_name, msg_id)
                await pipe.execute()
            return len(held)

        async def listen(self) -> AsyncGenerator[AckableMessage, None]:  # noqa: C901 - per fault
            down: float | None = None
            last_claim = 0.0
            while True:
                try:
                    async with aioredis.Redis(connection_pool=self.connection_pool) as conn:
                        if down is not None:
                            await self._declare_consumer_group()
                            logger.warning("govmedia: broker %s is back after %.1f s",
                                           redact(url), time.monotonic() - down)
                            down = None
                        fetched: Any = await conn.xreadgroup(
                            self.consumer_group_name, self.consumer_name, {self.queue_name: ">"},
                            block=self.block, noack=False, count=self.count)
                        for stream, messages in fetched or []:
                            for msg_id, msg in self._hold(messages):
                                yield AckableMessage(data=msg[b"data"],
                                                     ack=self._ack_generator(msg_id, stream))
                        if time.monotonic() - last_claim >= min(5.0, claim_idle / 2):
                            last_claim = time.monotonic()
                            claimed: Any = await conn.xautoclaim(
                                self.queue_name, self.consumer_group_name, self.consumer_name,
                                min_idle_time=int(claim_idle * 1000),
                                count=self.unacknowledged_batch_size)
                            for msg_id, msg in self._hold(claimed[1]):
                                yield AckableMessage(
                                    data=msg[b"data"],
                                    ack=self._ack_generator(msg_id, self.queue_name))
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    if down is None:
                        down = time.monotonic()
                        logger.warning("govmedia: broker %s unreachable (%s); retrying",
                                       redact(url), type(exc).__name__)
                    await anyio.sleep(0.5)
                except ResponseError as exc:
                    if "NOGROUP" not in str(exc):
                        raise
                    down = down or time.monotonic()  # a restarted Redis: recreate the group
                    await anyio.sleep(0.2)

    made = Broker(url, queue_name=queue, consumer_group_name=queue, consumer_id="0",
                  xread_block=1000, xread_count=16, idle_timeout=int(claim_idle * 1000),
                  socket_timeout=10.0, socket_connect_timeout=5.0)
    made.held = {}
    return made
