r"""The service bot: answer the public on WeChat, Telegram and Matrix from one set of skills.

```python
bot = gm.Bot()

@bot.skill(r"^天气\s*(?P<city>\S+)")
def weather(msg: gm.Inbound, city: str) -> str:
    return f"{city}：晴，12°C"

app = bot.asgi({"/wechat": wechat_channel, "/telegram": telegram_channel})  # any ASGI server
```

Every request is verified before anything runs: a forged signature or
secret, a stale timestamp, an oversized or malformed body, any DOCTYPE or
entity in XML, a safe-mode ciphertext for another app are refused with a 4xx
and nothing is processed or recorded. Replies that cannot go back in the
answer (Telegram, Matrix, a WeChat skill slower than ``reply_within``) go out
through the same pipeline as publishing: token cache, retries, rate limits.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import httpx

from govmedia._bot.model import Inbound, Reply
from govmedia.errors import ConfigError
from govmedia.journal import Journal
from govmedia.model import Channel
from govmedia.policy.ratelimit import RateLimit
from govmedia.policy.retry import RetryPolicy

if TYPE_CHECKING:
    from govmedia._bot.asgi import BotApp
    from govmedia._bot.outbound import Outbound
    from govmedia._bot.store import BotStore

__all__ = ["Bot", "Inbound", "Reply"]

logger = logging.getLogger("govmedia")

F = TypeVar("F", bound=Callable[..., Any])

_UNSET: Any = object()


@attrs.frozen
class _Skill:
    name: str
    func: Callable[..., Any]
    pattern: re.Pattern[str] | None
    platforms: frozenset[str] | None
    kinds: frozenset[str] | None
    is_async: bool

    def match(self, msg: Inbound) -> dict[str, Any] | None:
        if self.platforms is not None and msg.channel.platform not in self.platforms:
            return None
        if self.kinds is not None and msg.kind not in self.kinds:
            return None
        if self.pattern is None:
            return {}
        found = self.pattern.search(msg.text)
        return None if found is None else found.groupdict()


def _names(value: Iterable[str] | str | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = (value,)
    names = frozenset(value)
    if not names or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{what} must be names (a tuple of str) or None, got {value!r}")
    return names


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None))  # noqa: B004 - an object with an async __call__


class Bot:
    r"""A service bot: skills tried in order, a fallback, and the endpoints that feed them.

    Args:
        http: an `httpx.AsyncClient` for outbound calls (deferred WeChat
            replies, Telegram ``sendMessage``, Matrix ``/sync``), as
            `AsyncClient(http=...)` takes it; default: govmedia's own sender.
        reply_within: seconds a WeChat skill has to answer inside the
            callback (WeChat waits 5 s); a slower one's reply goes out as a
            customer-service message when it is ready. ``None``: wait.
        max_age: a WeChat signed ``timestamp`` further than this many
            seconds from now, either way, is refused (``None``: no limit).
        max_body: the largest request body read, in bytes (413 beyond).
        per_user: at most this many messages per user and channel; over it,
            no skill runs and nothing is answered (``None``: no limit).
        journal: a path or `gm.Journal` where every message and reply (who,
            when, which skill), each user's ``state`` and the handled ids
            are kept across restarts; ``None``: memory only.
        retry: the `RetryPolicy` of outbound calls.
        rate_limits: rate limits of outbound calls, as `Client` takes them.
        timeout: seconds per outbound request, as `Client` takes it.
        workers: threads that run sync skills (never on the event loop).

    Example:
        >>> import govmedia as gm
        >>> bot = gm.Bot()
        >>> @bot.skill(r"^天气\s*(?P<city>\S+)", platforms=("wechat_oa", "telegram"))
        ... def weather(msg, city):
        ...     return f"{city}：晴，12°C"
        >>> @bot.fallback
        ... def menu(msg):
        ...     return "回复“天气 北京”查询天气"
        >>> [s.name for s in bot.skills], bot.fallback_skill.name
        (['weather'], 'menu')
    """

    def __init__(
        self,
        *,
        http: httpx.AsyncClient | None = None,
        reply_within: float | None = 4.5,
        max_age: float | None = 300,
        max_body: int = 1_000_000,
        per_user: RateLimit | None = _UNSET,
        journal: str | os.PathLike[str] | Journal | None = None,
        retry: RetryPolicy | None = None,
        rate_limits: Mapping[str, RateLimit] | None = None,
        timeout: float | httpx.Timeout | None = None,
        workers: int = 32,
    ) -> None:
        if http is not None and not isinstance(http, httpx.AsyncClient):
            raise ConfigError("Bot(http=...) takes an httpx.AsyncClient")
        for name, value in (("reply_within", reply_within), ("max_age", max_age)):
            if value is not None and (not isinstance(value, int | float) or value < 0):
                raise ConfigError(f"{name} must be seconds (0 or more) or None, got {value!r}")
        if not isinstance(max_body, int) or isinstance(max_body, bool) or max_body < 1:
            raise ConfigError(f"max_body must be a positive number of bytes, got {max_body!r}")
        if per_user is _UNSET:
            per_user = RateLimit(20, per=60)
        if per_user is not None and not isinstance(per_user, RateLimit):
            raise ConfigError(f"per_user must be a gm.RateLimit or None, got {per_user!r}")
        if not isinstance(workers, int) or workers < 1:
            raise ConfigError(f"workers must be a positive integer, got {workers!r}")
        if journal is not None and not isinstance(journal, Journal | str | os.PathLike):
            raise ConfigError(f"journal must be a path, a gm.Journal or None, got {journal!r}")
        self.http = http
        self.reply_within = reply_within
        self.max_age = max_age
        self.max_body = max_body
        self.per_user = per_user
        self._journal_arg = journal
        self._outbound_options: dict[str, Any] = {
            "retry": retry, "rate_limits": rate_limits, "timeout": timeout}
        self._workers = workers
        self.skills: list[_Skill] = []
        self.fallback_skill: _Skill | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._store: BotStore | None = None
        self._outbound: Outbound | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.app: BotApp | None = None
        """The app the last `asgi` call made (what ``govmedia bot serve`` serves)."""

    def __repr__(self) -> str:
        names = [s.name for s in self.skills]
        fallback = self.fallback_skill.name if self.fallback_skill else None
        return f"Bot(skills={names!r}, fallback={fallback!r})"

    # ----------------------------------------------------------- skills

    def skill(
        self, pattern: str | re.Pattern[str] | None, *, platforms: Iterable[str] | None = None,
        kinds: Iterable[str] | None = None, name: str | None = None,
    ) -> Callable[[F], F]:
        """Register a skill: ``func(msg, **named_groups)`` returning a str, a `Reply` or None.

        Skills are tried in the order registered; the first whose *pattern*
        matches the text (`re.search`; ``None`` matches everything), whose
        *platforms* include the channel's (``None``: all) and whose *kinds*
        include the message's (``None``: all) runs. ``async def`` works too;
        a sync skill runs in a worker thread.

        Example:
            >>> import govmedia as gm
            >>> bot = gm.Bot()
            >>> @bot.skill(None, kinds=("event",))
            ... def welcome(msg):
            ...     return "欢迎关注国资小新" if msg.raw.get("Event") == "subscribe" else None
            >>> bot.skills[0].kinds
            frozenset({'event'})
        """
        if isinstance(pattern, str):
            try:
                compiled: re.Pattern[str] | None = re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"skill pattern {pattern!r} is not a regular expression: {exc}") from None
        elif pattern is None or isinstance(pattern, re.Pattern):
            compiled = pattern
        else:
            raise ConfigError(f"a skill pattern is a str, a compiled re or None, got {pattern!r}")
        wanted_platforms = _names(platforms, "platforms")
        wanted_kinds = _names(kinds, "kinds")

        def register(func: F) -> F:
            if not callable(func):
                raise ConfigError(f"@bot.skill decorates a function, got {func!r}")
            label = name or str(getattr(func, "__name__", repr(func)))
            self.skills.append(_Skill(label, func, compiled,
                                      wanted_platforms, wanted_kinds, _is_async(func)))
            return func

        return register

    def fallback(self, func: F) -> F:
        """Register the skill that answers when no other matches (``func(msg)``).

        Example:
            >>> import govmedia as gm
            >>> bot = gm.Bot()
            >>> @bot.fallback
            ... async def menu(msg):
            ...     return "回复“天气 北京”查询天气"
            >>> bot.fallback_skill.is_async
            True
        """
        if not callable(func):
            raise ConfigError(f"@bot.fallback decorates a function, got {func!r}")
        self.fallback_skill = _Skill(getattr(func, "__name__", repr(func)), func, None, None, None,
                                     _is_async(func))
        return func

    def _choose(self, msg: Inbound) -> tuple[_Skill | None, dict[str, Any]]:
        for skill in self.skills:
            groups = skill.match(msg)
            if groups is not None:
                return skill, groups
        return self.fallback_skill, {}

    async def answer(self, msg: Inbound) -> Reply | None:
        r"""Run the skill *msg* selects and return its reply (no limits, no dedupe, nothing sent).

        What every endpoint does after verifying a message; useful in tests
        of the skills themselves. A skill that raises is logged at ERROR and
        answers nothing.

        Example:
            >>> import anyio, datetime as dt, govmedia as gm
            >>> bot = gm.Bot()
            >>> @bot.skill(r"^天气\s*(?P<city>\S+)")
            ... def weather(msg, city):
            ...     return f"{city}：晴"
            >>> ch = gm.Channel(platform="telegram", account="@b", credentials={"bot_token": "1:x"})
            >>> msg = gm.Inbound(channel=ch, user="42", text="天气 北京", kind="text", message_id="1",
            ...                  at=dt.datetime.now(dt.UTC))
            >>> anyio.run(bot.answer, msg)
            Reply(text='北京：晴', image=None, articles=())
        """
        _, reply = await self._run_skill(msg)
        return reply

    async def _run_skill(self, msg: Inbound) -> tuple[str | None, Reply | None]:
        """``(skill name, reply)`` for *msg*; a failing skill is logged and answers nothing."""
        skill, groups = self._choose(msg)
        if skill is None:
            return None, None
        try:
            if skill.is_async:
                result = await skill.func(msg, **groups)
            else:
                loop = asyncio.get_running_loop()
                call = functools.partial(skill.func, msg, **groups)
                result = await loop.run_in_executor(self._pool(), call)
            return skill.name, _as_reply(result, skill.name)
        except Exception:
            logger.exception("govmedia bot: skill %s failed on message %s from %s",
                             skill.name, msg.message_id, msg.channel.id)
            return skill.name, None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._workers, thread_name_prefix="govmedia-skill")
        return self._executor

    # ----------------------------------------------------------- endpoints

    def asgi(self, routes: Mapping[str, Channel]) -> BotApp:
        """An ASGI app serving each channel's webhook at its path (any ASGI server mounts it).

        ``wechat_oa`` channels need ``app_id`` and ``callback_token``
        (``encoding_aes_key`` for safe mode, ``app_secret`` for replies
        later than ``reply_within``); ``telegram`` channels ``bot_token``
        and ``webhook_secret``.

        Raises:
            ConfigError: a path or a channel that cannot serve (a missing
                inbound credential, a platform without webhooks).

        Example:
            >>> import govmedia as gm
            >>> ch = gm.Channel(platform="telegram", account="@sasac_bot", credentials={
            ...     "bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "webhook_secret": "s3cr3t"})
            >>> app = gm.Bot().asgi({"/telegram": ch})
            >>> app.paths
            ('/telegram',)
        """
        from govmedia._bot.asgi import BotApp

        self.app = BotApp(self, routes)
        return self.app

    async def run(self, *channels: Channel, poll_timeout: float = 20.0,
                  join_invites: bool = True) -> None:
        """Answer Matrix room messages by long-polling ``/sync``, until cancelled.

        Each channel is a ``matrix_chat`` channel (``access_token``,
        ``base_url``); the bot answers in the room a message came from (with
        ``m.notice``, so other bots do not answer it), ignores its own and
        other notices, and joins rooms it is invited to (*join_invites*).
        Each ``/sync`` waits up to *poll_timeout* seconds (at most 25).

        Example:
            >>> # anyio.run(bot.run, matrix_channel)   # or: await bot.run(ch) in a task
        """
        from govmedia._bot.matrix import check_poll_timeout, sync_forever

        check_poll_timeout(poll_timeout)
        if not channels:
            raise ConfigError("bot.run() needs at least one matrix_chat channel")
        for channel in channels:
            if not isinstance(channel, Channel) or channel.platform != "matrix_chat":
                raise ConfigError(f"bot.run() takes matrix_chat channels, got {channel!r}")
            if not channel.credentials.get("access_token") or not channel.options.get("base_url"):
                raise ConfigError(f"channel {channel.id}: /sync needs the access_token credential "
                                  "and the base_url option")
        try:
            async with asyncio.TaskGroup() as group:
                for channel in channels:
                    group.create_task(sync_forever(self, channel, poll_timeout=poll_timeout,
                                                   join_invites=join_invites))
        except BaseExceptionGroup as group_error:
            # One channel's end (a refused token, say) ends all; raise it as itself.
            first = group_error.exceptions[0]
            raise first from (group_error if len(group_error.exceptions) > 1 else None)
        finally:
            await self.drain()

    # ----------------------------------------------------------- shared machinery

    @property
    def store(self) -> BotStore:
        """Handled ids, per-user limits and state, and the journal (made on first use)."""
        if self._store is None:
            from govmedia._bot.store import BotStore

            journal = self._journal_arg
            if journal is not None and not isinstance(journal, Journal):
                journal = Journal(journal)
            self._store = BotStore(self.per_user, journal)
        return self._store

    @property
    def outbound(self) -> Outbound:
        """The client replies go out through (the publishing pipeline), made per event loop."""
        from govmedia._bot.outbound import Outbound

        loop = asyncio.get_running_loop()
        if self._outbound is None or self._outbound.loop is not loop:
            self._outbound = Outbound(loop, http=self.http, **self._outbound_options)
        return self._outbound

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run *coro* in the background, kept until it ends (`drain` waits for it)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, grace: float = 30.0) -> None:
        """Wait (up to *grace* seconds) for replies still being worked on, then close the client."""
        pending = [t for t in self._tasks if not t.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=grace)
            for task in late:
                task.cancel()
        outbound, self._outbound = self._outbound, None
        if outbound is not None:
            await outbound.aclose()
        if self._store is not None:
            await self._store.flush()


def _as_reply(result: Any, skill: str) -> Reply | None:
    if result is None or isinstance(result, Reply):
        return result
    if isinstance(result, str):
        return Reply(result) if result else None
    raise TypeError(f"skill {skill} returned {type(result).__name__}; a skill returns a str, "
                    "a gm.Reply or None")
