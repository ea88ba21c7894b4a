"""What the bot remembers: handled message ids, per-user limits and state, and the journal.

In memory by default (bounded: the oldest entries go first). With a journal,
a message is claimed there before its skill runs (``INSERT`` on a unique
``(platform, account, message_id)``), so a retry after a restart, or one
that reaches another process sharing the file, runs nothing twice; replies,
skills and each user's ``state`` are written there too. Journal I/O runs in
one worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from govmedia.journal import Journal
from govmedia.policy.ratelimit import RateLimit

if TYPE_CHECKING:
    from govmedia._bot.model import Reply

__all__ = ["BotStore", "Handled", "reply_from_json", "reply_json"]

logger = logging.getLogger("govmedia")

MAX_HANDLED = 100_000
MAX_USERS = 100_000


class Handled:
    """One message being, or already, handled: its reply once known, and how it went out.

    ``deferred``: the reply goes (or went) out as a separate message (a WeChat
    customer-service message, Telegram, Matrix), so a retry is answered with
    nothing more.
    """

    __slots__ = ("deferred", "done", "reply")

    def __init__(self) -> None:
        self.done: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self.reply: Reply | None = None
        self.deferred = False

    def finish(self, reply: Reply | None) -> None:
        self.reply = reply
        if not self.done.done():
            self.done.set_result(reply)


class _Buckets:
    """Token buckets per key (channel and user), the oldest keys forgotten first."""

    __slots__ = ("_buckets", "_capacity", "_rate")

    def __init__(self, limit: RateLimit) -> None:
        self._rate = limit.per_second
        self._capacity = limit.capacity
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def allow(self, key: tuple[str, str], now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        level, stamp = self._buckets.pop(key, (self._capacity, now))
        level = min(self._capacity, level + (now - stamp) * self._rate)
        allowed = level >= 1.0
        self._buckets[key] = (level - 1.0 if allowed else level, now)
        if len(self._buckets) > MAX_USERS:
            self._buckets.popitem(last=False)
        return allowed


def reply_json(reply: Reply | None) -> str | None:
    """*reply* as the journal keeps it."""
    if reply is None:
        return None
    data: dict[str, Any] = {"text": reply.text}
    if reply.image is not None:
        data["image"] = reply.image
    if reply.articles:
        data["articles"] = [list(a) for a in reply.articles]
    return json.dumps(data, ensure_ascii=False)


def reply_from_json(text: str | None) -> Reply | None:
    """The `Reply` the journal kept (``None`` for none or an unreadable one)."""
    from govmedia._bot.model import Reply

    if not text:
        return None
    try:
        data = json.loads(text)
        return Reply(data.get("text"), image=data.get("image"), articles=data.get("articles", ()))
    except Exception:  # noqa: BLE001 - an old or damaged row: answer nothing rather than fail
        return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class BotStore:
    """Handled ids, per-user limits and state: in memory, and in *journal* when given."""

    def __init__(self, per_user: RateLimit | None, journal: Journal | None) -> None:
        self.journal = journal
        self._limits = _Buckets(per_user) if per_user is not None else None
        self._handled: OrderedDict[tuple[str, str], Handled] = OrderedDict()
        self._states: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._saved: dict[tuple[str, str], str] = {}
        self._io = ThreadPoolExecutor(1, thread_name_prefix="govmedia-bot-journal") if journal else None
        self._writes: set[asyncio.Future[Any]] = set()

    async def _in_thread(self, func: Any, *args: Any) -> Any:
        assert self._io is not None
        return await asyncio.get_running_loop().run_in_executor(self._io, func, *args)

    def _later(self, func: Any, *args: Any) -> None:
        """A journal write that nobody waits for (logged if it fails)."""
        assert self._io is not None
        future = asyncio.get_running_loop().run_in_executor(self._io, func, *args)
        self._writes.add(future)
        future.add_done_callback(self._written)

    def _written(self, future: asyncio.Future[Any]) -> None:
        self._writes.discard(future)
        if not future.cancelled() and future.exception() is not None:
            logger.error("govmedia bot: could not write to the journal: %s", future.exception())

    async def flush(self) -> None:
        """Wait for the journal writes under way."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    # ----------------------------------------------------------- handled ids

    async def claim(self, platform: str, account: str, message_id: str, *, user: str, kind: str,
                    text: str) -> tuple[Handled, bool]:
        """``(entry, True)`` for a message seen first now; ``(earlier entry, False)`` for a repeat."""
        key = (f"{platform}:{account}", message_id)
        entry = self._handled.get(key)
        if entry is not None:
            return entry, False
        entry = Handled()
        self._handled[key] = entry
        if len(self._handled) > MAX_HANDLED:
            self._handled.popitem(last=False)
        if self.journal is not None:
            try:
                first, earlier = await self._in_thread(self._claim_row, platform, account, message_id,
                                                       user, kind, text)
            except BaseException:
                del self._handled[key]  # not handled: WeChat's retry may try again
                raise
            if not first:
                entry.deferred = earlier is None
                entry.finish(earlier)
                return entry, False
        return entry, True

    def _claim_row(  # noqa: PLR0917 - called through an executor, by position
        self, platform: str, account: str, message_id: str, user: str, kind: str, text: str,
    ) -> tuple[bool, Reply | None]:
        assert self.journal is not None
        with self.journal._tx() as db:  # noqa: SLF001 - the journal's own transaction
            cursor = db.execute(
                "INSERT OR IGNORE INTO bot_messages (platform, account, message_id, user, kind, "
                "text, outcome, received_at) VALUES (?,?,?,?,?,?,?,?)",
                (platform, account, message_id, user, kind, text, "received", _now()))
            if cursor.rowcount:
                return True, None
            row = db.execute("SELECT reply, outcome FROM bot_messages WHERE platform=? AND "
                             "account=? AND message_id=?", (platform, account, message_id)).fetchone()
        passive = row is not None and row[1] == "replied"
        return False, reply_from_json(row[0]) if passive else None

    def finished(self, platform: str, account: str, message_id: str, *, skill: str | None,
                 outcome: str, reply: Reply | None) -> None:
        """Record what came of a message (``replied``, ``sent``, ``no_reply``, ``limited``, ...)."""
        if self.journal is None:
            return
        self._later(self._finish_row, platform, account, message_id, skill, outcome, reply_json(reply))

    def _finish_row(  # noqa: PLR0917 - called through an executor, by position
        self, platform: str, account: str, message_id: str, skill: str | None, outcome: str,
        reply: str | None,
    ) -> None:
        assert self.journal is not None
        with self.journal._tx() as db:  # noqa: SLF001
            db.execute("UPDATE bot_messages SET skill=?, outcome=?, reply=?, replied_at=? WHERE "
                       "platform=? AND account=? AND message_id=?",
                       (skill, outcome, reply, _now(), platform, account, message_id))

    # ----------------------------------------------------------- users

    def allow(self, channel_id: str, user: str) -> bool:
        """True while *user* is within the per-user limit on *channel_id* (spends one message)."""
        return self._limits is None or self._limits.allow((channel_id, user))

    async def state(self, platform: str, account: str, user: str) -> dict[str, Any]:
        """The user's state dict (the same object across their messages while remembered)."""
        key = (f"{platform}:{account}", user)
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
            return state
        state = {}
        if self.journal is not None:
            saved = await self._in_thread(self._load_state, platform, account, user)
            if saved:
                try:
                    loaded = json.loads(saved)
                    state = loaded if isinstance(loaded, dict) else {}
                    self._saved[key] = saved
                except ValueError:
                    logger.warning("govmedia bot: unreadable state of %s on %s:%s in the journal; "
                                   "starting afresh", user, platform, account)
        self._states[key] = state
        if len(self._states) > MAX_USERS:
            old, _ = self._states.popitem(last=False)
            self._saved.pop(old, None)
        return state

    def _load_state(self, platform: str, account: str, user: str) -> str | None:
        assert self.journal is not None
        rows = self.journal._read("SELECT state FROM bot_state WHERE platform=? AND account=? AND "  # noqa: SLF001
                                  "user=?", (platform, account, user))
        return str(rows[0][0]) if rows else None

    def save_state(self, platform: str, account: str, user: str, state: dict[str, Any]) -> None:
        """Write the user's state to the journal if it changed (and is JSON)."""
        if self.journal is None:
            return
        key = (f"{platform}:{account}", user)
        try:
            text = json.dumps(state, ensure_ascii=False, sort_keys=True)
        except (TypeError, ValueError) as exc:
            logger.warning("govmedia bot: the state of %s on %s:%s is not JSON (%s); kept in "
                           "memory only", user, platform, account, exc)
            return
        if self._saved.get(key) == text or (not state and key not in self._saved):
            return
        self._saved[key] = text
        self._later(self._save_state, platform, account, user, text)

    def _save_state(self, platform: str, account: str, user: str, text: str) -> None:
        assert self.journal is not None
        with self.journal._tx() as db:  # noqa: SLF001
            db.execute("INSERT INTO bot_state (platform, account, user, state, updated_at) "
                       "VALUES (?,?,?,?,?) ON CONFLICT (platform, account, user) DO UPDATE SET "
                       "state=excluded.state, updated_at=excluded.updated_at",
                       (platform, account, user, text, _now()))
