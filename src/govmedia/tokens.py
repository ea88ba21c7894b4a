"""Access tokens and where they are kept between requests.

A platform whose requests need a token that expires (WeChat's ``stable_token``,
an OAuth 2 access token) hands back a `Token`: the access token, when it
expires, and, where the platform has one, the refresh token that renews it and
when that one expires. Clients keep tokens in a `TokenStore`, one entry per
*scope* (usually an app: every member account under one WeChat app shares one
token). The store is also where a *rotated* refresh token goes: Kuaishou and
Bilibili hand out a new refresh token with every refresh and the old one stops
working, so the next refresh must use the new one, never the one in the
channel's credentials. Clients refresh one scope at a time (single flight), so
two concurrent callers never both spend a single-use refresh token.

`MemoryTokenStore` is the default: tokens live as long as the client.
`FileTokenStore` keeps them in a file that outlives the process and is shared
by every process that opens it, which a rotated refresh token needs: with a
memory store, the next process starts again from the credentials' refresh
token, which the platform has already voided. `RedisTokenStore` does the same
for processes on several machines (workers sharing one Redis), with a lock
that holds across all of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pathlib
import secrets
import tempfile
import threading
import time
from typing import Any, Protocol, runtime_checkable

import attrs

from govmedia._secrets import remember
from govmedia.errors import ConfigError, TransientError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: locks hold within one process only
    fcntl = None  # type: ignore[assignment]

__all__ = ["FileTokenStore", "MemoryTokenStore", "RedisTokenStore", "Token", "TokenStore"]

logger = logging.getLogger("govmedia")

REFRESH_EARLY = 60.0
"""Seconds before its expiry a token is renewed rather than used."""


def _remembered(value: str | None) -> str | None:
    if value:
        remember(value)  # masked wherever it shows up from now on
    return value


@attrs.frozen(kw_only=True)
class Token:
    """An access token, its refresh token, and when each expires.

    Lifetimes are given relative to `issued_at` (Unix seconds, default now),
    as platforms give them (``expires_in``).

    Args:
        value: the access token.
        expires_in: seconds the access token lives (``None``: until refused).
        refresh_token: what renews it, where the platform has one.
        refresh_expires_in: seconds the refresh token lives (``None``: unknown).
        issued_at: Unix time the token was issued.

    Example:
        >>> from govmedia.tokens import Token
        >>> t = Token(value="tok-123456", expires_in=7200, refresh_token="ref-123456",
        ...           refresh_expires_in=30 * 86400, issued_at=1_700_000_000)
        >>> t.expires_at, t.expired(now=1_700_000_000 + 7200 - 30)
        (1700007200.0, True)
        >>> t
        Token(expires_in=7200, refresh_expires_in=2592000, issued_at=1700000000)
    """

    value: str = attrs.field(repr=False, converter=_remembered)
    expires_in: float | None = None
    refresh_token: str | None = attrs.field(default=None, repr=False, converter=_remembered)
    refresh_expires_in: float | None = None
    issued_at: float = attrs.field(factory=time.time)

    @property
    def expires_at(self) -> float | None:
        """Unix time the access token expires, or ``None``."""
        return None if self.expires_in is None else float(self.issued_at + self.expires_in)

    @property
    def refresh_expires_at(self) -> float | None:
        """Unix time the refresh token expires, or ``None``."""
        if self.refresh_expires_in is None:
            return None
        return float(self.issued_at + self.refresh_expires_in)

    def expired(self, *, now: float | None = None, early: float = REFRESH_EARLY) -> bool:
        """True when the access token expires within *early* seconds of *now*."""
        at = self.expires_at
        return at is not None and (time.time() if now is None else now) >= at - early

    def can_refresh(self, *, now: float | None = None) -> bool:
        """True when a refresh token is held and has not expired."""
        if not self.refresh_token:
            return False
        at = self.refresh_expires_at
        return at is None or (time.time() if now is None else now) < at


@runtime_checkable
class TokenStore(Protocol):
    """Where clients keep tokens, one per scope (``(platform, scope)``).

    `get` and `put` must be safe to call from several threads; `lock` returns
    a lock held while one caller refreshes a scope, so that a single-use
    refresh token is spent once. A store shared between processes must make
    its `lock` hold across them too.
    """

    def get(self, scope: tuple[str, str]) -> Token | None:
        """The token kept for *scope*, or ``None``."""

    def put(self, scope: tuple[str, str], token: Token) -> None:
        """Keep *token* for *scope*, replacing the one there (and its refresh token)."""

    def lock(self, scope: tuple[str, str]) -> threading.Lock:
        """The lock a refresh of *scope* holds."""


class MemoryTokenStore:
    """The default `TokenStore`: a dict in this process.

    Example:
        >>> from govmedia.tokens import MemoryTokenStore, Token
        >>> store = MemoryTokenStore()
        >>> store.put(("kuaishou", "ks_app"), Token(value="acc-1111111", refresh_token="ref-2222222"))
        >>> store.get(("kuaishou", "ks_app")).refresh_token == "ref-2222222"
        True
    """

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], Token] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, scope: tuple[str, str]) -> Token | None:
        """The token kept for *scope*, or ``None``."""
        return self._tokens.get(scope)

    def put(self, scope: tuple[str, str], token: Token) -> None:
        """Keep *token* for *scope*."""
        self._tokens[scope] = token

    def lock(self, scope: tuple[str, str]) -> threading.Lock:
        """One lock per scope, made on first use."""
        with self._guard:
            lock = self._locks.get(scope)
            if lock is None:
                lock = self._locks[scope] = threading.Lock()
            return lock

    def __repr__(self) -> str:
        return f"MemoryTokenStore({len(self._tokens)} scope(s))"


_FIELDS = ("value", "expires_in", "refresh_token", "refresh_expires_in", "issued_at")


def _token_of(fields: Any) -> Token | None:
    """The `Token` a stored JSON object describes, or None for one that does not."""
    if not isinstance(fields, dict):
        return None
    try:
        return Token(**{f: fields[f] for f in _FIELDS if f in fields})
    except (TypeError, ValueError):
        return None


class _FileLock:
    """A scope's refresh lock: this process's threads, then every process (``flock``)."""

    def __init__(self, local: threading.Lock, path: pathlib.Path) -> None:
        self._local = local
        self._path = path
        self._fd: int | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; ``blocking=False`` answers at once."""
        if not self._local.acquire(blocking, timeout):
            return False
        try:
            # A store in a folder not made yet: the first refresh locks before anything is written.
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            self._local.release()
            raise ConfigError(f"token store lock {self._path}: {exc.strerror or exc}") from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except OSError:  # held by another process (non-blocking)
                os.close(fd)
                self._local.release()
                return False
        self._fd = fd
        return True

    def release(self) -> None:
        """Give the lock back (closing the file releases the ``flock``)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        self._local.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class FileTokenStore:
    """A `TokenStore` in a JSON file, shared by the processes that open it, kept across runs.

    Use it where refresh tokens rotate (Kuaishou, Bilibili, X): a refresh
    writes the new refresh token to the file before anything else uses it,
    and the next run, or another process, reads it from there. Refreshes
    are serialised across processes with ``flock`` on ``PATH.lock`` (POSIX;
    elsewhere within one process only). The file holds live tokens: it is
    created readable by its owner only; keep it out of backups others read.

    Example:
        >>> import pathlib, tempfile
        >>> from govmedia.tokens import FileTokenStore, Token
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tokens.json"
        >>> FileTokenStore(path).put(("kuaishou", "ks_app"), Token(value="acc-1111111",
        ...                                                     refresh_token="ref-2222222"))
        >>> FileTokenStore(path).get(("kuaishou", "ks_app")).refresh_token == "ref-2222222"
        True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path)
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._seen: tuple[int, int, int] | None = None
        self._tokens: dict[str, Token] = {}

    def __repr__(self) -> str:
        return f"FileTokenStore({str(self.path)!r})"

    @staticmethod
    def _key(scope: tuple[str, str]) -> str:
        return f"{scope[0]}\x1f{scope[1]}"

    def _load(self) -> dict[str, Token]:
        """The file's tokens, read again only when the file changed (another process wrote)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._tokens = None, {}
            return self._tokens
        except OSError as exc:
            raise ConfigError(f"token store {self.path}: {exc.strerror or exc}") from None
        seen = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            try:
                raw = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"token store {self.path} cannot be read: {exc}") from None
            tokens = {}
            for key, fields in (raw.items() if isinstance(raw, dict) else ()):
                token = _token_of(fields)
                if token is not None:
                    tokens[key] = token
            self._seen, self._tokens = seen, tokens
        return self._tokens

    def get(self, scope: tuple[str, str]) -> Token | None:
        """The token kept for *scope*, as the file holds it now."""
        with self._guard:
            return self._load().get(self._key(scope))

    def put(self, scope: tuple[str, str], token: Token) -> None:
        """Write *token* for *scope* to the file at once (atomically, owner-only)."""
        with self._guard:
            tokens = dict(self._load())
            tokens[self._key(scope)] = token
            data: dict[str, Any] = {key: attrs.asdict(t) for key, t in tokens.items()}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump(data, f)
                    f.flush()
                    os.fsync(f.fileno())
                pathlib.Path(tmp).replace(self.path)  # mkstemp made it 0600
            except BaseException:
                with contextlib.suppress(OSError):
                    pathlib.Path(tmp).unlink()
                raise
            self._load()

    def lock(self, scope: tuple[str, str]) -> threading.Lock:
        """The lock a refresh of *scope* holds, across threads and processes."""
        with self._guard:
            local = self._locks.get(scope)
            if local is None:
                local = self._locks[scope] = threading.Lock()
        return _FileLock(local, self._lock_path)  # type: ignore[return-value]


# Deletes the lock only if this holder still owns it: a holder whose lease ran
# out must not free the lock another process has taken since.
_UNLOCK_LUA = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
# Extends the lease, likewise only for the holder that owns the lock.
_RENEW_LUA = ("if redis.call('get', KEYS[1]) == ARGV[1] then "
              "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0")


class _RedisLock:
    """A scope's refresh lock: this process's threads, then every process on every machine."""

    def __init__(self, local: threading.Lock, store: RedisTokenStore, scope: tuple[str, str]) -> None:
        self._local = local
        self._store = store
        self._scope = scope
        self._owner: str | None = None
        self._renewing: threading.Event | None = None

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; ``blocking=False`` answers at once."""
        end = None if timeout < 0 else time.monotonic() + timeout
        if not self._local.acquire(blocking, timeout):
            return False
        owner = secrets.token_hex(16)
        try:
            while not self._store._take(self._scope, owner):  # noqa: SLF001 - the store's own lock
                if not blocking or (end is not None and time.monotonic() >= end):
                    self._local.release()
                    return False
                time.sleep(0.05)
        except BaseException:
            self._local.release()
            raise
        self._owner = owner
        self._renewing = threading.Event()
        # While held, the lease is renewed (every third of it): a refresh that
        # takes long (retries, a slow platform) keeps its lock; one whose
        # process died stops renewing, and the lock is free a lease later.
        threading.Thread(target=self._renew, args=(owner, self._renewing), daemon=True,
                         name="govmedia-token-lease").start()
        return True

    def _renew(self, owner: str, stop: threading.Event) -> None:
        every = max(self._store.lease / 3, 0.01)
        while not stop.wait(every):
            if not self._store._extend(self._scope, owner):  # noqa: SLF001
                logger.warning("govmedia: the token refresh lock of %s was lost (Redis out of reach "
                               "or its lease ran out); another process may refresh meanwhile",
                               self._scope[0])
                return

    def release(self) -> None:
        """Give the lock back (if its lease ran out meanwhile, it is already free)."""
        owner, self._owner = self._owner, None
        if self._renewing is not None:
            self._renewing.set()
            self._renewing = None
        try:
            if owner is not None:
                self._store._give(self._scope, owner)  # noqa: SLF001
        finally:
            self._local.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class RedisTokenStore:
    """A `TokenStore` in Redis, shared by every process on every machine that uses it.

    Use it where workers on several machines send for accounts whose refresh
    tokens rotate (Kuaishou, Bilibili, X): a refresh takes a lock in Redis
    (``SET NX`` with a lease its holder renews while it refreshes), reads the
    newest token there, and writes the rotated one back before the lock is
    given up, so a single-use refresh token is spent once across all of them. A token read from Redis is used
    for up to *fresh_for* seconds without asking again (every request asks
    for its token); taking the lock always reads anew.

    While Redis cannot be reached, a delivery that needs a token fails with
    a `TransientError` before anything is sent; a re-run sends it. A token
    refreshed just before Redis went away is kept by the process that got it
    and written back once Redis answers, so a rotated refresh token is not
    lost with the write. Redis holds live tokens: give it a password (or an
    ACL user) and, across machines, TLS (``rediss://``).

    Args:
        url: ``redis://host:port/db``, ``rediss://...`` or ``unix:///path?db=N``.
        prefix: put before every key.
        lease: seconds the refresh lock lives unless its holder renews it
            (every third of it, while it refreshes): a holder whose process
            died frees the lock this long after its last renewal.
        fresh_for: seconds a token read from Redis is used without asking again.

    Example:
        >>> from govmedia.tokens import RedisTokenStore
        >>> RedisTokenStore("redis://:s3cret@10.0.0.5:6379/0")   # connects on first use
        RedisTokenStore('redis://:***@10.0.0.5:6379/0')
    """

    def __init__(self, url: str, *, prefix: str = "govmedia-tokens:", lease: float = 30.0,
                 fresh_for: float = 5.0) -> None:
        from govmedia._journal_pg import redact_dsn

        self.url = url
        self.prefix = prefix
        self.lease = lease
        self.fresh_for = fresh_for
        self._shown = redact_dsn(url)
        self._redis: Any = None
        self._unlock: Any = None
        self._renew: Any = None
        self._errors: type[Exception] = OSError  # redis-py's base error, once imported
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._read: dict[tuple[str, str], tuple[float, Token | None]] = {}
        self._unsaved: dict[tuple[str, str], Token] = {}
        self._warned: set[tuple[str, str]] = set()
        self._retry_at: dict[tuple[str, str], float] = {}

    def __repr__(self) -> str:
        return f"RedisTokenStore({self._shown!r})"

    def _client(self) -> Any:
        if self._redis is None:
            with self._guard:
                if self._redis is None:
                    from govmedia._redis import connect

                    client = connect(self.url, what="a redis:// token store")
                    import redis  # connect() imported it: a lookup in sys.modules

                    self._unlock = client.register_script(_UNLOCK_LUA)
                    self._renew = client.register_script(_RENEW_LUA)
                    self._errors = redis.RedisError
                    self._redis = client
        return self._redis

    def _key(self, scope: tuple[str, str], kind: str = "token") -> str:
        return f"{self.prefix}{kind}:{scope[0]}:{scope[1]}"

    def _call(self, scope: tuple[str, str], command: str, *args: Any, **kwargs: Any) -> Any:
        """Redis's answer to *command*; a `TransientError` naming the store when it cannot be reached."""
        client = self._client()
        try:
            return getattr(client, command)(*args, **kwargs)
        except (self._errors, OSError) as exc:
            raise self._down(scope, exc) from None

    def _down(self, scope: tuple[str, str], exc: BaseException) -> TransientError:
        from govmedia._secrets import mask

        return TransientError(
            platform=scope[0], code="token_store",
            message=f"token store {self._shown} cannot be reached: {mask(str(exc)).strip()}",
            hint="Nothing was sent for this delivery: check that Redis is up, then run it again.")

    def get(self, scope: tuple[str, str]) -> Token | None:
        """The token kept for *scope* (read from Redis at most every *fresh_for* seconds)."""
        unsaved = self._unsaved.get(scope)
        if unsaved is not None:
            if time.monotonic() >= self._retry_at.get(scope, 0.0):  # not on every request
                self._save(scope, unsaved)
            return unsaved  # this process's newest, written back once Redis answers
        now = time.monotonic()
        seen = self._read.get(scope)
        if seen is not None and now - seen[0] < self.fresh_for:
            return seen[1]
        raw = self._call(scope, "get", self._key(scope))
        token = None
        if raw is not None:
            with contextlib.suppress(ValueError):
                token = _token_of(json.loads(raw))
        self._read[scope] = (now, token)
        return token

    def put(self, scope: tuple[str, str], token: Token) -> None:
        """Write *token* for *scope* to Redis at once.

        A token Redis cannot take now (it went away during a refresh) is
        kept by this process, used, and written back at the next `get` or
        `put` that reaches Redis: a rotated refresh token must not be lost
        with the write.
        """
        self._unsaved[scope] = token
        self._read[scope] = (time.monotonic(), token)
        self._save(scope, token)

    def _save(self, scope: tuple[str, str], token: Token) -> None:
        try:
            self._call(scope, "set", self._key(scope), json.dumps(attrs.asdict(token)))
        except TransientError as exc:
            self._retry_at[scope] = time.monotonic() + 1.0
            if scope not in self._warned:
                self._warned.add(scope)
                logger.warning("govmedia: %s; the new token for %s is kept in this process "
                               "and written back when Redis answers", exc.message, scope[0])
            return
        if self._unsaved.get(scope) is token:
            del self._unsaved[scope]
        self._warned.discard(scope)

    def lock(self, scope: tuple[str, str]) -> threading.Lock:
        """The lock a refresh of *scope* holds, across threads, processes and machines."""
        with self._guard:
            local = self._locks.get(scope)
            if local is None:
                local = self._locks[scope] = threading.Lock()
        return _RedisLock(local, self, scope)  # type: ignore[return-value]

    def _take(self, scope: tuple[str, str], owner: str) -> bool:
        taken = bool(self._call(scope, "set", self._key(scope, "lock"), owner, nx=True,
                                px=max(1, int(self.lease * 1000))))
        if taken:
            self._read.pop(scope, None)  # the holder reads what another machine wrote last
        return taken

    def _extend(self, scope: tuple[str, str], owner: str) -> bool:
        """Renew *owner*'s lease on *scope*'s lock; False when it holds it no more."""
        try:
            return bool(self._renew(keys=[self._key(scope, "lock")],
                                    args=[owner, max(1, int(self.lease * 1000))]))
        except (self._errors, OSError):
            return False

    def _give(self, scope: tuple[str, str], owner: str) -> None:
        # Not given back (Redis gone meanwhile): the lease frees it.
        with contextlib.suppress(self._errors, OSError):
            self._unlock(keys=[self._key(scope, "lock")], args=[owner])
