"""The journal: a durable outbox of runs and deliveries, in SQLite or PostgreSQL.

Every delivery of a post key to a channel has one row. A fan-out writes the
run and every planned delivery before it sends anything. Right before the
first request of a delivery that may create something (its point of no
return: uploads and tokens come before it), the row moves to ``sending``,
committed; ids learnt after that (a draft's ``media_id``, a publish job's
``publish_id``) are written as the delivery's *stage* before it goes on; the
final state comes last. A re-run of the same key reads those rows: published
ones are skipped; a row still ``pending`` was never at risk and is sent; a row
left ``sending`` or ``unknown`` by a run that is no longer running is handed to
the platform's ``recover`` with what its stage says (resend where the platform
deduplicates, finish the known work, reconcile, or leave it ``unknown``),
never silently posted twice.

WAL mode with ``synchronous=NORMAL`` makes each commit survive a killed
process (not a power cut) at the cost of a write, not an fsync. Before every
commit the journal checks that its file is still the one it opened (deleted
or replaced files are refused), and any failure to write is a `JournalError`
naming the file and the cause; outcomes waiting to be written are kept.

A ``postgresql://`` URL opens the same journal on PostgreSQL (psycopg 3, the
``postgres`` extra): the same tables, statements and rules, so
several machines share one history. A claim there is the same
compare-and-set ``UPDATE``; under PostgreSQL's row locks a second claimer
waits for the first to commit, then finds the state changed and gets False.
Work that any of several workers may pick up (a scheduled run that is due)
is taken with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import socket
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import attrs

from govmedia._frozen import FrozenMap
from govmedia._journal_pg import PgConnection, is_postgres, redact_dsn
from govmedia._json import raw_text
from govmedia._secrets import mask
from govmedia.errors import ConfigError, GovMediaError, JournalError, PlatformError
from govmedia.model import Channel, Receipt

__all__ = ["Journal", "JournalEntry", "RunInfo", "default_journal_path", "journal_target"]

logger = logging.getLogger("govmedia")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    post_key TEXT NOT NULL,
    title TEXT,
    mode TEXT NOT NULL,
    planned INTEGER NOT NULL DEFAULT 0,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    summary TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    post_key TEXT NOT NULL,
    platform TEXT NOT NULL,
    account TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'member',
    run_id TEXT NOT NULL,
    state TEXT NOT NULL,
    idem_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    remote_id TEXT,
    url TEXT,
    receipt_state TEXT,
    receipt_raw TEXT,
    error_type TEXT,
    error_code TEXT,
    error_message TEXT,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL,
    UNIQUE (post_key, platform, account)
);
CREATE TABLE IF NOT EXISTS outcomes (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    account TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    remote_id TEXT,
    url TEXT,
    error_type TEXT,
    error_code TEXT,
    error_message TEXT,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    post_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    content_hash TEXT,
    detail TEXT,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS bot_messages (
    id INTEGER PRIMARY KEY,
    platform TEXT NOT NULL,
    account TEXT NOT NULL,
    message_id TEXT NOT NULL,
    user TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT,
    skill TEXT,
    outcome TEXT NOT NULL,
    reply TEXT,
    received_at TEXT NOT NULL,
    replied_at TEXT,
    UNIQUE (platform, account, message_id)
);
CREATE TABLE IF NOT EXISTS bot_state (
    platform TEXT NOT NULL,
    account TEXT NOT NULL,
    user TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (platform, account, user)
);
"""

# Columns added since the first journals were written: added in place to an
# older file when it is opened (its rows keep working).
# PRAGMA application_id of a govmedia journal ("gmjl"): another program's
# SQLite file is refused, never written into.
_APP_ID = 0x676D6A6C

_ADDED = {
    "runs": (("pid", "INTEGER"), ("host", "TEXT"), ("heartbeat_at", "TEXT"),
             ("content_hash", "TEXT"),
             # Runs sent by workers (`govmedia.distributed`): "scheduled" until
             # due, then "queued"; NULL for a run a client sends itself.
             ("state", "TEXT"), ("due_at", "TEXT"), ("swept_at", "TEXT")),
    # The worker holding a delivery's claim (NULL: the run's own process).
    "deliveries": (("stage", "TEXT"), ("progress", "TEXT"), ("maybe_applied_at", "TEXT"),
                   ("holder", "TEXT")),
}

# Tables and indexes the first journals lacked, in SQL both databases take
# (BLOB is BYTEA on PostgreSQL).
_LATER = (
    ("CREATE TABLE IF NOT EXISTS workers (id TEXT PRIMARY KEY, pid INTEGER, host TEXT, "
     "started_at TEXT NOT NULL, heartbeat_at TEXT, stopped_at TEXT)"),
    ("CREATE TABLE IF NOT EXISTS posts (content_hash TEXT PRIMARY KEY, data TEXT NOT NULL, "
     "created_at TEXT NOT NULL)"),
    ("CREATE TABLE IF NOT EXISTS blobs (sha256 TEXT NOT NULL, part INTEGER NOT NULL, "
     "data BLOB NOT NULL, PRIMARY KEY (sha256, part))"),
    "CREATE INDEX IF NOT EXISTS outcomes_run_channel ON outcomes (run_id, platform, account)",
    # The first journals' index on run_id alone: the one above serves its
    # reads, and each outcome written paid for both.
    "DROP INDEX IF EXISTS outcomes_run",
    "CREATE INDEX IF NOT EXISTS deliveries_run ON deliveries (run_id)",
)

# A re-claim of a row an earlier run left in doubt keeps its stage, its ids
# and the time its first create may have landed.
_CLAIM = ("UPDATE deliveries SET state='sending', idem_key=?, attempts=attempts+1, "
          "started_at=?, updated_at=?, maybe_applied_at=COALESCE(maybe_applied_at, ?), "
          "stage=CASE WHEN state IN ('pending', 'failed') THEN 'claimed' "
          "ELSE COALESCE(stage, 'claimed') END{progress}{run}, holder={holder} "
          "WHERE post_key=? AND platform=? AND account=? AND state=?")
# One statement per (progress given, run id given, holder given): a value
# that is not there is written into the SQL instead of bound as None, which
# costs Python's sqlite3 an adapter lookup each time (see _bind_none_cheaply).
_CLAIMS = {
    (progress, run, holder): _CLAIM.format(
        progress=", progress=?" if progress else "", run=", run_id=?" if run else "",
        holder="?" if holder else "NULL")
    for progress in (False, True) for run in (False, True) for holder in (False, True)
}

# A settled outcome's row and its delivery's update. The lean forms leave
# out the URL and the error columns, which a published delivery mostly has
# none of (see settle).
_OUTCOME = ("INSERT INTO outcomes (run_id, platform, account, state, attempts, remote_id, url, "
            "error_type, error_code, error_message, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)")
_OUTCOME_LEAN = ("INSERT INTO outcomes (run_id, platform, account, state, attempts, remote_id, at) "
                 "VALUES (?,?,?,?,?,?,?)")
_FINAL = ("UPDATE deliveries SET state=?, remote_id=COALESCE(?, remote_id), "
          "url=COALESCE(?, url), receipt_state=COALESCE(?, receipt_state), "
          "receipt_raw=COALESCE(?, receipt_raw), error_type=?, error_code=?, "
          "error_message=?, finished_at=?, updated_at=?, "
          "maybe_applied_at=CASE WHEN ? THEN NULL ELSE maybe_applied_at END, "
          "stage=CASE WHEN ? THEN NULL ELSE stage END "
          "WHERE post_key=? AND platform=? AND account=?")
_FINAL_LEAN = ("UPDATE deliveries SET state=?, remote_id=COALESCE(?, remote_id), "
               "receipt_state=COALESCE(?, receipt_state), "
               "receipt_raw=COALESCE(?, receipt_raw), error_type=NULL, error_code=NULL, "
               "error_message=NULL, finished_at=?, updated_at=?, "
               "maybe_applied_at=CASE WHEN ? THEN NULL ELSE maybe_applied_at END, "
               "stage=CASE WHEN ? THEN NULL ELSE stage END "
               "WHERE post_key=? AND platform=? AND account=?")
_LEAN_OUTCOME, _LEAN_FINAL = 7, 11  # their lengths tell lean rows from full ones

# SQLite: a delivery this object planned is addressed by its row id (a
# lookup in the table itself, not in the (post_key, platform, account) index
# first). A claim by id also requires the row to be this run's already, and
# so leaves run_id (and its index) as they are; a row another run took over
# in between is claimed by key, as before.
_BY_KEY = "WHERE post_key=? AND platform=? AND account=?"
_CLAIMS_BY_ID = {
    (progress, holder): _CLAIM.format(
        progress=", progress=?" if progress else "", run="",
        holder="?" if holder else "NULL").replace(
            f"{_BY_KEY} AND state=?", "WHERE id=? AND state=? AND run_id=?")
    for progress in (False, True) for holder in (False, True)
}
_FINAL_BY_ID = _FINAL.replace(_BY_KEY, "WHERE id=?")
_FINAL_LEAN_BY_ID = _FINAL_LEAN.replace(_BY_KEY, "WHERE id=?")


def _full_outcome(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row if len(row) != _LEAN_OUTCOME else (*row[:6], None, None, None, None, row[6])


def _full_final(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row if len(row) != _LEAN_FINAL else (*row[:2], None, *row[2:4], None, None, None,
                                                 *row[4:])


FLUSH_SECONDS = 0.05
"""The longest a settled outcome waits to be written with the next claim."""

LEASE_SECONDS = 120.0
"""A run on another machine whose heartbeat is older than this is taken for dead."""

HEARTBEAT_SECONDS = 10.0
"""How often a running fan-out tells the journal it is alive."""

# Receipts' raw answers, kept as text; reused (json.dumps with options builds one per call).
_RAW_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def _bind_none_cheaply() -> None:
    """Let the sqlite3 module bind None without its adapter search.

    Before it binds a None, Python's sqlite3 looks for an adapter and then
    for ``__adapt__`` on its protocol type, which formats an AttributeError
    each time: about a fifth of the journal's work per delivery, whose rows
    hold several NULLs. An adapter registered for None is found at once, and
    this one (a C call) answers None, which binds NULL as before. Nothing
    changes for anyone else's sqlite3 use in the process; an adapter someone
    registered for None is left alone.
    """
    adapters = getattr(sqlite3, "adapters", None)
    if isinstance(adapters, dict) and (type(None), sqlite3.PrepareProtocol) not in adapters:
        null: dict[None, None] = {}
        sqlite3.register_adapter(type(None), null.get)


_bind_none_cheaply()

# Runs of this process that have not finished: a row they left `sending` is
# theirs, not a crashed run's.
_LIVE: set[str] = set()
_PID = os.getpid()


_BUSY_SECONDS = 30.0  # how long a statement waits for another process's lock


def _into_wal(db: sqlite3.Connection) -> None:
    """``PRAGMA journal_mode=WAL``, waiting while another process holds the file's lock.

    SQLite answers "database is locked" at once here, without waiting its
    busy timeout, while another connection writes the file: two workers or
    scripts that open a new journal at the same moment, one of them then
    refused as "cannot be used".
    """
    end = time.monotonic() + _BUSY_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= end:
                raise
            time.sleep(0.01)
        else:
            return


def _host() -> str:
    """This machine, as runs record it (the boot id tells apart hosts of one name)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:8]
    except OSError:
        boot = ""
    return f"{socket.gethostname()}/{boot}" if boot else socket.gethostname()


_HOST = _host()


def default_journal_path() -> Path:
    r"""Where the journal lives unless a client is told otherwise.

    ``$GOVMEDIA_JOURNAL`` when set; else ``journal.db`` in govmedia's folder of
    the user's data directory (``$XDG_DATA_HOME/govmedia`` or
    ``~/.local/share/govmedia`` on Linux, ``~/Library/Application Support/govmedia``
    on macOS, ``%LOCALAPPDATA%\\govmedia`` on Windows). The library and the CLI
    use the same one, so a notebook and a shell share one history.

    Example:
        >>> import os
        >>> from govmedia.journal import default_journal_path
        >>> os.environ["GOVMEDIA_JOURNAL"] = "/srv/govmedia/journal.db"
        >>> str(default_journal_path())
        '/srv/govmedia/journal.db'
    """
    configured = os.environ.get("GOVMEDIA_JOURNAL")
    if configured:
        return Path(configured).expanduser()
    return data_dir() / "journal.db"


def data_dir() -> Path:
    """The folder in the user's data directory where govmedia keeps its files (see `default_journal_path`).

    Example:
        >>> from govmedia.journal import data_dir
        >>> data_dir().name
        'govmedia'
    """
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "govmedia"


def journal_target(value: str | os.PathLike[str] | None) -> str | Path:
    """Where ``Client(journal=value)`` keeps its journal: a ``postgresql://`` URL or a path.

    ``None`` is the default: ``$GOVMEDIA_JOURNAL`` (a path or a URL), else
    `default_journal_path`.

    Example:
        >>> from govmedia.journal import journal_target
        >>> journal_target("postgresql://govmedia@/govmedia?host=/run/postgresql")
        'postgresql://govmedia@/govmedia?host=/run/postgresql'
        >>> journal_target("runs/journal.db")
        PosixPath('runs/journal.db')
    """
    if value is None:
        configured = os.environ.get("GOVMEDIA_JOURNAL")
        return configured if configured and is_postgres(configured) else default_journal_path()
    if is_postgres(value):
        return str(value)
    return Path(value)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


_last_second: tuple[int, str] = (-1, "")


def _stamp() -> str:
    """`_now`, cheaper: the date and time of day are formatted once per second.

    Example:
        >>> import datetime as dt
        >>> from govmedia.journal import _stamp
        >>> stamp = _stamp()
        >>> dt.datetime.fromisoformat(stamp).isoformat(timespec="milliseconds") == stamp
        True
    """
    global _last_second  # noqa: PLW0603 - a cache; swapping a tuple is atomic
    second, milli = divmod(time.time_ns() // 1_000_000, 1000)
    last = _last_second
    if last[0] != second:
        last = _last_second = (second, dt.datetime.fromtimestamp(second, dt.UTC).isoformat()[:19])
    return f"{last[1]}.{milli:03d}+00:00"


def _age(stamp: str | None) -> float | None:
    if not stamp:
        return None
    return (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(stamp)).total_seconds()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lease_alive(finished: str | None, row: Any) -> bool:
    """True for a run or worker row not finished whose process lives, by pid here, else heartbeat."""
    if finished is not None:
        return False
    if row["host"] == _HOST and row["pid"] is not None:
        return bool(row["pid"] != _PID and _pid_alive(row["pid"]))
    age = _age(row["heartbeat_at"])
    return age is not None and age < LEASE_SECONDS


@attrs.frozen(kw_only=True)
class JournalEntry:
    """What the journal knows of one delivery.

    Attributes:
        stage: the last checkpoint a claimed delivery reached (``None``: none).
        progress: the ids and markers its checkpoints recorded.
        maybe_applied_at: when a create of it may first have been applied.
        run_alive: the run that last claimed it is still running (its
            ``sending`` state is that run's business, not a crash's).
    """

    platform: str
    account: str
    state: str
    attempts: int = 0
    receipt: Receipt | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    updated_at: str | None = None
    run_id: str | None = None
    stage: str | None = None
    progress: Mapping[str, Any] = attrs.field(factory=dict)
    maybe_applied_at: str | None = None
    run_alive: bool = False

    @property
    def age_seconds(self) -> float | None:
        """Seconds since the row last changed."""
        return _age(self.updated_at)

    @property
    def doubt_age(self) -> float | None:
        """Seconds since a create of this delivery may first have been applied.

        The oldest of the first claim and the last change: a platform that
        keeps an idempotency key for an hour counts from the first send.
        """
        ages = [a for a in (_age(self.maybe_applied_at), _age(self.updated_at)) if a is not None]
        return max(ages) if ages else None


@attrs.frozen(kw_only=True)
class RunInfo:
    """One fan-out run as the journal recorded it."""

    id: str
    post_key: str
    title: str | None
    mode: str
    planned: int
    started_at: str
    finished_at: str | None
    summary: Mapping[str, int]
    state: str | None = None
    """``scheduled`` or ``queued`` for a run that workers send; ``None`` for a client's own."""
    due_at: str | None = None
    """When a scheduled run may start (ISO 8601, UTC)."""
    content_hash: str | None = None
    """The hash of the post's content (workers load the post by it)."""


class Journal:
    """A journal of fan-out runs and deliveries (also an audit trail): SQLite or PostgreSQL.

    Pass a path (SQLite) or a ``postgresql://`` URL to `Client(journal=...)`,
    or open one yourself to read it. One journal may be shared by threads;
    several processes may open the same file or database (each delivery is
    claimed with a compare-and-set before sending).

    Example:
        >>> import govmedia as gm
        >>> journal = gm.Journal(":memory:")
        >>> journal.runs()
        []
    """

    holder: str | None = None
    """The worker whose claims this object writes (`govmedia.distributed`), else ``None``."""

    def __init__(self, path: str | os.PathLike[str] = "govmedia.db") -> None:
        target = os.fspath(path)
        self._pg: PgConnection | None = None
        self._identity: tuple[int, int] | None = None
        if is_postgres(target):
            self.path = redact_dsn(str(target))
            self._open_postgres(str(target))
        else:
            self.path = str(target)
            self._open_sqlite()
        self._lock = threading.RLock()
        self._outcomes: list[tuple[tuple[Any, ...], tuple[Any, ...] | None]] = []
        # Guards only the list of waiting outcomes, so that recording one
        # never waits for a commit running in another thread.
        self._pending_lock = threading.Lock()
        self._oldest = 0.0
        self._runs: set[str] = set()  # runs started through this object and not finished
        # SQLite: (post_key, platform, account) -> row id of the deliveries
        # that runs started here planned (see _CLAIMS_BY_ID); rows are never
        # deleted, so an id stays its delivery's.
        self._row_ids: dict[tuple[str, str, str], int] = {}
        self._beat = 0.0
        self.broken: JournalError | None = None
        """Set once a write failed or the file went away: nothing more is written."""

    @property
    def is_postgres(self) -> bool:
        """True for a journal on PostgreSQL."""
        return self._pg is not None

    @property
    def _order(self) -> str:
        """The column that orders rows of one instant as they were written."""
        return "rowid" if self._pg is None else "seq"

    def _open_sqlite(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db: Any = sqlite3.connect(self.path, check_same_thread=False,
                                            isolation_level=None, timeout=_BUSY_SECONDS)
            _into_wal(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._set_up()
        except sqlite3.Error as exc:
            self._db_close_quietly()
            what = ("is not an SQLite database" if isinstance(exc, sqlite3.DatabaseError)
                    and "not a database" in str(exc) else f"cannot be used: {exc}")
            raise ConfigError(f"journal {self.path!r} {what}; give the path of a govmedia "
                              "journal, or a new file") from None
        except ConfigError:
            self._db_close_quietly()
            raise
        if self.path != ":memory:":
            st = Path(self.path).stat()
            self._identity = (st.st_dev, st.st_ino)
        self._db.row_factory = sqlite3.Row

    def _open_postgres(self, dsn: str) -> None:
        pg = None
        try:
            pg = PgConnection(dsn)
            pg.set_up(_ADDED, _LATER)
        except ConfigError:
            if pg is not None:
                pg.close()
            raise
        except Exception as exc:
            if pg is not None:
                pg.close()
            if type(exc).__module__.split(".")[0] != "psycopg":
                raise
            raise ConfigError(f"journal {self.path!r} cannot be used: {mask(str(exc)).strip()}; "
                              "check the URL, and that the server runs and lets this user in"
                              ) from None
        self._pg = self._db = pg

    def _set_up(self) -> None:
        """Create or migrate the tables, refusing a database of another program.

        One process at a time (``BEGIN IMMEDIATE``): two clients opening a new
        journal at once would both add the same column otherwise.
        """
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")}
            ours = app_id == _APP_ID or (app_id == 0 and (not tables or self._looks_ours(tables)))
            if not ours:
                raise self._not_ours(app_id, tables)  # noqa: TRY301 - rolled back below
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            for table, columns in _ADDED.items():
                have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns:
                    if name not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            for statement in _LATER:
                db.execute(statement)
            if app_id == 0:
                db.execute(f"PRAGMA application_id={_APP_ID}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _not_ours(self, app_id: int, tables: set[str]) -> ConfigError:
        shown = ", ".join(sorted(tables)[:6]) or "none"
        return ConfigError(
            f"journal {self.path!r} is a database of another program (application id "
            f"{app_id:#x}, tables: {shown}); govmedia writes only into its own journal: "
            "give the path of a govmedia journal, or a new file")

    def _looks_ours(self, tables: set[str]) -> bool:
        """A journal written before govmedia stamped its files: our tables and columns."""
        if not {"runs", "deliveries"} <= tables:
            return False
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(deliveries)")}
        return {"post_key", "platform", "account", "state", "idem_key"} <= columns

    def _db_close_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self._db.close()

    def close(self) -> None:
        """Write what is pending and close the database."""
        with self._lock:
            try:
                if self.broken is None:
                    self.flush()
            finally:
                for run_id in self._runs:
                    _LIVE.discard(run_id)
                self._runs.clear()
                self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    # ----------------------------------------------------------- safety

    def _check_file(self) -> None:
        """Refuse to write into a file that was deleted or replaced since it was opened."""
        if self.broken is not None:
            raise self.broken
        if self._identity is None:
            return
        try:
            st = os.stat(self.path)  # noqa: PTH116 - before every commit: pathlib costs several times more
        except OSError:
            found = None
        else:
            found = (st.st_dev, st.st_ino)
        if found != self._identity:
            what = "deleted" if found is None else "replaced by another file"
            self._fail(f"the file was {what} while in use; nothing more is recorded there, "
                       "and a run on a new file would not know what this one sent")

    def _fail(self, message: str, cause: BaseException | None = None) -> None:
        error = JournalError(message, path=self.path)
        if cause is not None:
            error.__cause__ = cause
        self.broken = error
        raise error

    def _write_error(self, exc: Exception) -> None:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise JournalError(f"the file stayed locked by another process: {exc}",
                               path=self.path) from exc
        self._fail(f"cannot write: {mask(str(exc)).strip()}", exc)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        if self._pg is not None:
            with self._lock:
                if self.broken is not None:
                    raise self.broken
                try:
                    with self._pg.transaction() as db:
                        yield db
                except self._pg.error as exc:
                    self._write_error(exc)
            return
        with self._lock:
            self._check_file()
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                self._write_error(exc)
            try:
                yield self._db
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                self._write_error(exc)
            except BaseException:
                self._rollback()
                raise

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back on its own
            self._db.execute("ROLLBACK")

    def _read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        errors: tuple[type[Exception], ...] = (sqlite3.Error,) if self._pg is None else (
            self._pg.error,)
        with self._lock:
            try:
                rows: list[Any] = self._db.execute(sql, tuple(params)).fetchall()
            except errors as exc:
                raise JournalError(f"cannot read: {mask(str(exc)).strip()}",
                                   path=self.path) from exc
            return rows

    # ----------------------------------------------------------- runs

    def start_run(self, *, post_key: str, title: str | None, mode: str,
                  planned: Iterable[tuple[Channel, str]], content_hash: str | None = None) -> str:
        """Record a run and every planned delivery (new rows ``pending``) at once."""
        run_id = uuid.uuid4().hex[:12]
        now = _now()
        count = 0
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, post_key, title, mode, started_at, pid, host, heartbeat_at, "
                "content_hash) VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, post_key, title, mode, now, _PID, _HOST, now, content_hash),
            )
            batch: list[tuple[Any, ...]] = []
            for channel, role in planned:
                batch.append((post_key, channel.platform, channel.account, role, run_id, now))
                count += 1
                if len(batch) >= 1000:
                    self._plan(db, batch)
                    batch = []
            self._plan(db, batch)
            db.execute("UPDATE runs SET planned=? WHERE id=?", (count, run_id))
            if self._pg is None:
                self._row_ids.update(
                    ((post_key, platform, account), row_id) for row_id, platform, account in
                    db.execute("SELECT id, platform, account FROM deliveries WHERE post_key=?",
                               (post_key,)))
        self._runs.add(run_id)
        _LIVE.add(run_id)
        self._beat = time.monotonic()
        return run_id

    @staticmethod
    def _plan(db: Any, rows: list[tuple[Any, ...]]) -> None:
        # A row another run has in hand keeps its run id: liveness is judged by it.
        db.executemany(
            "INSERT INTO deliveries (post_key, platform, account, role, run_id, state, updated_at) "
            "VALUES (?,?,?,?,?,'pending',?) ON CONFLICT (post_key, platform, account) "
            "DO UPDATE SET run_id=excluded.run_id WHERE deliveries.state NOT IN ('sending')",
            rows,
        )

    def finish_run(self, run_id: str, summary: Mapping[str, int]) -> None:
        """Close a run with its per-state counts."""
        try:
            self.flush()
            with self._tx() as db:
                db.execute("UPDATE runs SET finished_at=?, summary=? WHERE id=?",
                           (_now(), json.dumps(dict(summary)), run_id))
        finally:
            self._let_go(run_id)

    def abandon_run(self, run_id: str, summary: Mapping[str, int] | None = None) -> None:
        """Close *run_id*, which stopped without finishing (cancelled), as far as the journal allows.

        Its rows still ``sending`` follow the resume rules; a failing write
        here is logged, not raised: the cancellation is what the caller sees.
        """
        try:
            if self.broken is None:
                self.flush()
                with self._tx() as db:
                    db.execute("UPDATE runs SET finished_at=?, summary=? WHERE id=?",
                               (_now(), json.dumps({**(summary or {}), "stopped": 1}), run_id))
        except (JournalError, sqlite3.Error) as exc:
            logger.warning("govmedia: could not close stopped run %s in the journal: %s",
                           run_id, mask(str(exc)))
        finally:
            self._let_go(run_id)

    def heartbeat(self, run_id: str) -> None:
        """Tell other processes that *run_id* is still running, and flush what waits."""
        self._beat = time.monotonic()
        with self._tx() as db:
            self._write_outcomes(db)
            db.execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (_now(), run_id))

    def run_alive(self, run_id: str | None) -> bool:
        """True when *run_id* has not finished and its process still runs.

        A run of this process is alive until it finishes; one of another
        process on this machine while that process exists; one on another
        machine while its heartbeat is younger than `LEASE_SECONDS`.
        """
        if not run_id:
            return False
        if run_id in _LIVE:
            return True
        rows = self._read("SELECT finished_at, pid, host, heartbeat_at FROM runs WHERE id=?",
                          (run_id,))
        return bool(rows) and _lease_alive(rows[0]["finished_at"], rows[0])

    def holder_alive(self, holder: str | None, run_id: str | None) -> bool:
        """True when whoever holds a ``sending`` delivery still runs: its worker, else its run."""
        if not holder:
            return self.run_alive(run_id)
        if holder in _LIVE:
            return True
        rows = self._read("SELECT stopped_at, pid, host, heartbeat_at FROM workers WHERE id=?",
                          (holder,))
        return bool(rows) and _lease_alive(rows[0]["stopped_at"], rows[0])

    def runs(self, limit: int = 50) -> list[RunInfo]:
        """The latest runs, newest first."""
        self._flush_quietly()
        rows = self._read("SELECT * FROM runs ORDER BY started_at DESC, "  # noqa: S608 - a column name
                          f"{self._order} DESC LIMIT ?", (limit,))
        return [_run_info(r) for r in rows]

    def find_run(self, run_id: str) -> RunInfo:
        """The one run whose id starts with *run_id*.

        Raises:
            ConfigError: no run, or several, match.
        """
        self._flush_quietly()
        rows = self._read("SELECT * FROM runs WHERE id LIKE ? ORDER BY started_at DESC LIMIT 2",
                          (run_id.replace("%", "").replace("_", "") + "%",))
        if len(rows) != 1:
            what = "no run" if not rows else "several runs"
            raise ConfigError(f"{what} in {self.path} match {run_id!r}; `govmedia runs` lists them")
        return _run_info(rows[0])

    def other_versions(self, post_key: str, content_hash: str) -> dict[str, list[tuple[str, str]]]:
        """Earlier content hashes of *post_key*, each with the accounts that hold it published."""
        self._flush_quietly()
        hashes = [r[0] for r in self._read(
            "SELECT DISTINCT content_hash FROM runs WHERE post_key=? AND content_hash IS NOT NULL "
            "AND content_hash != ?", (post_key, content_hash))]
        out: dict[str, list[tuple[str, str]]] = {}
        for old in hashes:
            rows = self._read(
                "SELECT d.platform, d.account FROM deliveries d JOIN runs r ON r.id = d.run_id "
                "WHERE d.post_key=? AND d.state='published' AND r.content_hash=? "
                "ORDER BY d.platform, d.account", (post_key, old))
            out[old] = [(r[0], r[1]) for r in rows]
        return out

    def resolve(self, post_key: str, platform: str, account: str, state: str, *,
                remote_id: str | None = None, url: str | None = None, by: str | None = None,
                run_id: str | None = None) -> str:
        """Settle a delivery in doubt by hand: ``published`` or ``failed``; the state it had.

        Only an ``unknown`` delivery, or a ``sending`` one of a run that is no
        longer running, can be settled. Who and when go to the audit trail.

        Raises:
            ConfigError: no such delivery, or it is not in doubt.
        """
        if state not in ("published", "failed"):
            raise ConfigError(f"a delivery is resolved as 'published' or 'failed', not {state!r}")
        self._flush_quietly()  # an outcome still waiting is what the row says
        rows = self._read("SELECT state, run_id, holder FROM deliveries WHERE post_key=? "
                          "AND platform=? AND account=?", (post_key, platform, account))
        if not rows:
            raise ConfigError(f"the journal has no delivery of this post on {platform}:{account}")
        before = rows[0]["state"]
        alive = before == "sending" and self.holder_alive(rows[0]["holder"], rows[0]["run_id"])
        if not (before == "unknown" or (before == "sending" and not alive)):
            why = ("its run is still sending it" if before == "sending" else
                   f"it is {before}, not in doubt")
            raise ConfigError(f"{platform}:{account} cannot be resolved: {why}; only an unknown "
                              "delivery, or one a stopped run left sending, can be settled by hand")
        now = _now()
        url = url and mask(url)
        raw = _RAW_JSON.encode({"resolved_by": by, "resolved_at": now}) if state == "published" else None
        message = None if state == "published" else (
            f"resolved as failed by {by or 'an operator'}: nothing was published")
        with self._tx() as db:
            self._write_outcomes(db)
            changed = db.execute(
                "UPDATE deliveries SET state=?, remote_id=COALESCE(?, remote_id), url=COALESCE(?, url), "
                "receipt_state=?, receipt_raw=COALESCE(?, receipt_raw), error_type=?, error_code=NULL, "
                "error_message=?, finished_at=?, updated_at=?, maybe_applied_at=CASE WHEN ?='failed' "
                "THEN NULL ELSE maybe_applied_at END, stage=CASE WHEN ?='failed' THEN NULL ELSE stage "
                "END WHERE post_key=? AND platform=? AND account=? AND state=?",
                (state, remote_id, url, "published" if state == "published" else None, raw,
                 None if state == "published" else "Resolved", message, now, now, state, state,
                 post_key, platform, account, before),
            ).rowcount
            if changed != 1:
                raise ConfigError(f"{platform}:{account} changed while it was being resolved; "
                                  "look again with `govmedia runs show`")
            if run_id is not None:
                db.execute(
                    "INSERT INTO outcomes (run_id, platform, account, state, attempts, remote_id, "
                    "url, error_type, error_code, error_message, at) VALUES (?,?,?,?,0,?,?,?,?,?,?)",
                    (run_id, platform, account, state, remote_id, url,
                     None if state == "published" else "Resolved", None, message, now))
            db.execute(
                "INSERT INTO audit (post_key, kind, actor, content_hash, detail, at) VALUES (?,?,?,?,?,?)",
                (post_key, "resolved", by, None,
                 f"{platform}:{account} {before} -> {state}" + (f" {url}" if url else ""), now))
        return str(before)

    def retracted(self, post_key: str, platform: str, account: str, *, by: str | None = None) -> None:
        """Mark a published delivery as deleted by a retraction (a re-run skips it)."""
        now = _now()
        with self._tx() as db:
            self._write_outcomes(db)
            db.execute("UPDATE deliveries SET state='retracted', updated_at=? WHERE post_key=? "
                       "AND platform=? AND account=? AND state='published'",
                       (now, post_key, platform, account))
            db.execute(
                "INSERT INTO audit (post_key, kind, actor, content_hash, detail, at) VALUES (?,?,?,?,?,?)",
                (post_key, "retracted", by, None, f"{platform}:{account}", now))

    def run_rows(self, run_id: str) -> list[dict[str, Any]]:
        """What a run did on each channel, as plain dicts (a prefix of the id will do)."""
        self._flush_quietly()
        run = self._read("SELECT id, post_key FROM runs WHERE id LIKE ? ORDER BY started_at DESC",
                         (run_id + "%",))
        if len(run) != 1:
            raise ConfigError(f"no single run matches {run_id!r} in {self.path}")
        rows = self._read(
            "SELECT o.platform, o.account, o.state, o.attempts, o.remote_id, o.url, o.error_type, "
            "o.error_code, o.error_message, o.at, d.role FROM outcomes o LEFT JOIN deliveries d ON "
            "d.post_key=? AND d.platform=o.platform AND d.account=o.account WHERE o.run_id=? ORDER BY o.id",
            (run[0]["post_key"], run[0]["id"]),
        )
        return [dict(r) for r in rows]

    # ----------------------------------------------------------- deliveries

    def entries(self, post_key: str) -> dict[tuple[str, str], JournalEntry]:
        """Every delivery of *post_key*, keyed by ``(platform, account)``."""
        self._flush_quietly()
        rows = self._read("SELECT * FROM deliveries WHERE post_key=?", (post_key,))
        alive: dict[tuple[str | None, str | None], bool] = {}
        out = {}
        for r in rows:
            live = False
            if r["state"] == "sending":
                who = (r["holder"], r["run_id"])
                if who not in alive:
                    alive[who] = self.holder_alive(*who)
                live = alive[who]
            out[(r["platform"], r["account"])] = self._entry(r, live)
        return out

    def entry(self, post_key: str, platform: str, account: str) -> JournalEntry | None:
        """The delivery of *post_key* on one channel, or ``None`` (read fresh, not flushed)."""
        rows = self._read("SELECT * FROM deliveries WHERE post_key=? AND platform=? AND account=?",
                          (post_key, platform, account))
        if not rows:
            return None
        r = rows[0]
        live = r["state"] == "sending" and self.holder_alive(r["holder"], r["run_id"])
        return self._entry(r, live)

    @staticmethod
    def _entry(row: Any, alive: bool) -> JournalEntry:
        progress = row["progress"]
        return JournalEntry(
            platform=row["platform"], account=row["account"], state=row["state"],
            attempts=row["attempts"], error_type=row["error_type"], error_code=row["error_code"],
            error_message=row["error_message"], updated_at=row["updated_at"],
            receipt=None, run_id=row["run_id"], stage=row["stage"],
            progress=json.loads(progress) if progress else {},
            maybe_applied_at=row["maybe_applied_at"], run_alive=alive,
        )

    def receipt(self, post_key: str, channel: Channel) -> Receipt | None:
        """The receipt recorded for a published delivery, bound to *channel*."""
        self._flush_quietly()
        rows = self._read(
            "SELECT remote_id, url, receipt_state, receipt_raw FROM deliveries "
            "WHERE post_key=? AND platform=? AND account=?",
            (post_key, channel.platform, channel.account),
        )
        if not rows or not rows[0]["remote_id"]:
            return None
        row = rows[0]
        return Receipt(channel=channel, remote_id=row["remote_id"], url=row["url"],
                       state=row["receipt_state"] or "published",
                       raw=json.loads(row["receipt_raw"]) if row["receipt_raw"] else {})

    def claim(self, run_id: str, post_key: str, channel: Channel, *, expect: str,
              idem_key: str, progress: Mapping[str, Any] | None = None) -> bool:
        """Move a delivery from *expect* to ``sending`` before its first create goes out.

        False when another run changed it first (nothing must be sent then).
        The row already belongs to *run_id*: `start_run` planned it.
        """
        return self.claim_many(post_key, [(channel, expect, idem_key, progress)], run_id=run_id)[0]

    def claim_many(self, post_key: str,
                   claims: list[tuple[Channel, str, str, Mapping[str, Any] | None]],
                   *, run_id: str | None = None) -> list[bool]:
        """`claim` several deliveries in one transaction: ``(channel, expect, idem_key, progress)``.

        A fan-out's workers that are ready to send at the same moment share
        one commit; each still sends only after its claim is durable. Settled
        outcomes waiting to be written ride along.
        """
        now = _stamp()
        holder = self.holder
        ids = self._row_ids if run_id is not None else {}
        rows = []
        for ch, expect, idem_key, progress in claims:
            head: tuple[Any, ...] = (idem_key, now, now, now)
            if progress:
                head += (_RAW_JSON.encode(dict(progress)),)
            tail = () if holder is None else (holder,)
            row_id = ids.get((post_key, ch.platform, ch.account))
            by_id = None if row_id is None else (
                _CLAIMS_BY_ID[bool(progress), holder is not None],
                (*head, *tail, row_id, expect, run_id))
            rows.append((ch.platform, ch.account, by_id, (head, tail, ch, expect, progress)))
        # Rows are locked in one order by every writer, so that two workers
        # claiming overlapping batches on PostgreSQL wait, never deadlock.
        order = sorted(range(len(rows)), key=lambda i: rows[i][:2])
        results = [False] * len(rows)
        with self._tx() as db:
            self._write_outcomes(db)
            if self._claimed_at_once(db, [rows[i][2] for i in order]):
                self._beat_in(db)
                return [True] * len(rows)
            done = []
            for i in order:
                by_id = rows[i][2]
                if by_id is not None and db.execute(*by_id).rowcount == 1:
                    results[i] = True
                    continue
                # Not planned here, or another run's since: by key, as always.
                head, tail, ch, expect, progress = rows[i][3]
                done.append((i, db.execute(
                    _CLAIMS[bool(progress), run_id is not None, holder is not None],
                    (*head, *(() if run_id is None else (run_id,)), *tail,
                     post_key, ch.platform, ch.account, expect))))
            self._beat_in(db)
        # Read after the commit: on PostgreSQL the whole batch then costs one round trip.
        for i, cursor in done:
            results[i] = cursor.rowcount == 1
        return results

    @staticmethod
    def _claimed_at_once(db: Any, by_id: list[tuple[str, tuple[Any, ...]] | None]) -> bool:
        """Claim a batch by id in one call, if it can be; False (and nothing changed) if not all were.

        The common batch: every row planned by this run, claimed with one
        statement. One ``executemany`` costs less than a call per row; the
        rows it changed are counted, not told apart, so a batch where any
        row was not claimed is rolled back and claimed row by row.
        """
        found = [b for b in by_id if b is not None]
        if len(found) < 2 or len(found) != len(by_id):
            return False
        sql = found[0][0]
        if any(b[0] is not sql for b in found):
            return False
        db.execute("SAVEPOINT claims")
        if db.executemany(sql, [b[1] for b in found]).rowcount == len(found):
            db.execute("RELEASE claims")
            return True
        db.execute("ROLLBACK TO claims")
        db.execute("RELEASE claims")
        return False

    def record(self, post_key: str, channel: Channel, stage: str, data: Mapping[str, Any]) -> None:
        """Write a claimed delivery's checkpoint (its stage and what it learnt), durably."""
        self.record_many(post_key, [(channel, stage, data)])

    def record_many(self, post_key: str,
                    checkpoints: list[tuple[Channel, str, Mapping[str, Any]]]) -> None:
        """`record` several checkpoints in one transaction."""
        now = _now()
        with self._tx() as db:
            self._write_outcomes(db)
            for channel, stage, data in checkpoints:
                where = (post_key, channel.platform, channel.account)
                row = db.execute("SELECT progress FROM deliveries WHERE post_key=? AND platform=? "
                                 "AND account=?", where).fetchone()
                merged = {**(json.loads(row[0]) if row and row[0] else {}), **data}
                db.execute("UPDATE deliveries SET stage=?, progress=?, updated_at=? "
                           "WHERE post_key=? AND platform=? AND account=?",
                           (stage, _RAW_JSON.encode(merged), now, *where))
            self._beat_in(db)

    def release(self, run_id: str, post_key: str, channel: Channel, *, to: str) -> bool:
        """Give back a claim whose create never reached the transport (a cancelled delivery).

        The row goes back to *to*, the state it was claimed from, as if this
        run had never claimed it: a fresh one to ``pending`` (a re-run sends
        it), one an earlier run left in doubt to that doubt. Only a row this
        run still holds as ``sending`` is touched.
        """
        fresh = to in ("pending", "failed")
        with self._tx() as db:
            self._write_outcomes(db)
            changed: int = db.execute(
                "UPDATE deliveries SET state=?, attempts=CASE WHEN attempts > 0 THEN attempts-1 "
                "ELSE 0 END, updated_at=?, "
                "stage=CASE WHEN ? THEN NULL ELSE stage END "
                "WHERE post_key=? AND platform=? AND account=? AND state='sending' AND run_id=?",
                (to, _now(), fresh, post_key, channel.platform, channel.account, run_id),
            ).rowcount
            return changed == 1

    def settle(self, run_id: str, post_key: str, channel: Channel, *, state: str,
               receipt: Receipt | None = None, error: BaseException | None = None,
               attempts: int = 0) -> None:
        """Record what this run did on *channel*; a final state also updates the delivery.

        ``skipped`` (and an ``unknown`` left by another run's claim) changes
        nothing about the delivery itself, only the run's record.
        """
        now = _stamp()
        if receipt is None:
            raw = remote_id = url = receipt_state = None
        else:
            answer = receipt.raw
            # a platform may echo a token
            raw = mask(raw_text(answer._data if type(answer) is FrozenMap  # noqa: SLF001
                                else dict(answer)))
            remote_id, url, receipt_state = receipt.remote_id, receipt.url, receipt.state
            url = url and mask(url)
        if error is None:
            error_type = code_text = message = None
        else:
            error_type = type(error).__name__
            code = error.code if isinstance(error, PlatformError) else None
            code_text = None if code is None else str(code)
            message = _message(error)
        lean = url is None and error is None  # most published deliveries: see _OUTCOME_LEAN
        if lean:
            outcome: tuple[Any, ...] = (run_id, channel.platform, channel.account, state,
                                        attempts, remote_id, now)
        else:
            outcome = (run_id, channel.platform, channel.account, state, attempts, remote_id, url,
                       error_type, code_text, message, now)
        final: tuple[Any, ...] | None = None
        if not (state == "skipped" or (state == "unknown" and error_type == "_ClaimedElsewhere")):
            # A clean failure means nothing exists: the next run starts afresh.
            # A failure that may have landed (a resendable create whose
            # answers were all lost) keeps when it first may have.
            fresh = state in ("failed", "pending") and not (
                isinstance(error, PlatformError) and error.maybe_applied)
            if lean:
                final = (state, remote_id, receipt_state, raw, now, now, fresh, fresh, post_key,
                         channel.platform, channel.account)
            else:
                final = (state, remote_id, url, receipt_state, raw, error_type, code_text, message,
                         now, now, fresh, fresh, post_key, channel.platform, channel.account)
        clock = time.monotonic()
        with self._pending_lock:
            # Outcomes are written with the next claim, or after FLUSH_SECONDS
            # at most: a crash in that window leaves a delivery "sending",
            # which a re-run treats as in doubt (resent only where the
            # platform deduplicates, else reported unknown) -- never twice.
            if not self._outcomes:
                self._oldest = clock
            self._outcomes.append((outcome, final))
            due = clock - self._oldest >= FLUSH_SECONDS
        if due and self.broken is None:
            self.flush()

    def pending_outcomes(self) -> int:
        """How many settled outcomes wait to be written."""
        with self._pending_lock:
            return len(self._outcomes)

    def flush(self) -> None:
        """Write settled outcomes that are still waiting for the next claim."""
        with self._lock:
            if self._outcomes:
                with self._tx() as db:
                    self._write_outcomes(db)
                    self._beat_in(db)

    def _flush_quietly(self) -> None:
        """Flush before a read, unless writing is what fails (reads still work)."""
        if self.broken is None:
            self.flush()

    def _beat_in(self, db: Any) -> None:
        """Piggyback a heartbeat of this object's runs on a commit, every few seconds."""
        clock = time.monotonic()
        if self._runs and clock - self._beat >= HEARTBEAT_SECONDS:
            self._beat = clock
            now = _now()
            db.executemany("UPDATE runs SET heartbeat_at=? WHERE id=?",
                           [(now, run_id) for run_id in self._runs])

    def _write_outcomes(self, db: Any) -> None:
        with self._pending_lock:
            batch, self._outcomes = self._outcomes, []
        if not batch:
            return
        try:
            self._write_batch(db, batch)
        except BaseException:
            with self._pending_lock:  # not written: keep them for the next try
                self._outcomes[:0] = batch
            raise

    def _write_batch(self, db: Any,
                     batch: list[tuple[tuple[Any, ...], tuple[Any, ...] | None]]) -> None:
        outcomes = [outcome for outcome, _ in batch]
        finals = sorted((final for _, final in batch if final is not None), key=lambda f: f[-2:])
        if not isinstance(db, sqlite3.Connection):
            # PostgreSQL: one statement each, so that every writer locks
            # rows in one order (no deadlock); its binding has no None cost.
            db.executemany(_OUTCOME, [_full_outcome(o) for o in outcomes])
            db.executemany(_FINAL, [_full_final(f) for f in finals])
            return
        # In order, each run of rows of one statement in one call: which
        # outcome of a channel came last must stay readable from the rows' order.
        shaped = [(_OUTCOME_LEAN if len(o) == _LEAN_OUTCOME else _OUTCOME, o) for o in outcomes]
        ids = self._row_ids
        for f in finals:
            lean = len(f) == _LEAN_FINAL
            row_id = ids.get(f[-3:])  # (post_key, platform, account)
            if row_id is None:
                shaped.append((_FINAL_LEAN if lean else _FINAL, f))
            else:
                shaped.append((_FINAL_LEAN_BY_ID if lean else _FINAL_BY_ID, (*f[:-3], row_id)))
        start = 0
        for end in range(1, len(shaped) + 1):
            if end == len(shaped) or shaped[end][0] is not shaped[start][0]:
                db.executemany(shaped[start][0], [values for _, values in shaped[start:end]])
                start = end

    # ----------------------------------------------------------- work for workers
    # Runs that workers send (govmedia.distributed): the run and its post live
    # here, the queue carries only ids, and any worker may take up what a
    # dead one left.

    def mark_run(self, run_id: str, *, state: str, due_at: str | None = None) -> None:
        """Hand *run_id* to workers: ``queued`` (send now) or ``scheduled`` (at *due_at*).

        This process stops speaking for the run: its liveness is the workers'.
        """
        with self._tx() as db:
            db.execute("UPDATE runs SET state=?, due_at=? WHERE id=?", (state, due_at, run_id))
        self._let_go(run_id)

    def _let_go(self, run_id: str) -> None:
        """This process no longer speaks for *run_id* (finished, stopped or handed to workers)."""
        self._runs.discard(run_id)
        _LIVE.discard(run_id)
        if not self._runs:  # the row ids of runs planned here (see _CLAIMS_BY_ID)
            self._row_ids.clear()

    def take_due(self, *, now: str | None = None, limit: int = 10) -> list[str]:
        """Start scheduled runs that are due: each goes to exactly one caller, ``queued``.

        PostgreSQL skips rows another worker is taking (``FOR UPDATE SKIP
        LOCKED``); on both, the ``UPDATE ... WHERE state='scheduled'`` is the
        compare-and-set that keeps a run single.
        """
        now = now or _now()
        lock = " FOR UPDATE SKIP LOCKED" if self._pg is not None else ""
        taken: list[str] = []
        with self._tx() as db:
            rows = db.execute(
                "SELECT id FROM runs WHERE state='scheduled' AND due_at <= ? "  # noqa: S608 - fixed
                f"ORDER BY due_at LIMIT ?{lock}", (now, limit)).fetchall()
            taken.extend(str(row[0]) for row in rows if db.execute(
                "UPDATE runs SET state='queued', heartbeat_at=? WHERE id=? AND state='scheduled'",
                (now, row[0])).rowcount == 1)
        return taken

    def open_runs(self) -> list[RunInfo]:
        """Runs handed to workers that have not finished (``queued``), oldest first."""
        rows = self._read("SELECT * FROM runs WHERE state='queued' AND finished_at IS NULL "  # noqa: S608
                          f"ORDER BY started_at, {self._order}")
        return [_run_info(r) for r in rows]

    def next_due(self) -> str | None:
        """When the earliest scheduled run is due (``None``: none is scheduled)."""
        rows = self._read("SELECT MIN(due_at) FROM runs WHERE state='scheduled'")
        return str(rows[0][0]) if rows and rows[0][0] else None

    def delivery(self, delivery_id: int) -> dict[str, Any] | None:
        """One delivery row by its id (what a queue message names), or ``None``."""
        rows = self._read("SELECT id, post_key, platform, account, role, run_id, state FROM deliveries "
                          "WHERE id=?", (int(delivery_id),))
        return dict(rows[0]) if rows else None

    def unsettled(self, run_id: str) -> list[dict[str, Any]]:
        """Deliveries planned by *run_id* with no outcome in it yet, in plan order."""
        self._flush_quietly()
        rows = self._read(
            "SELECT d.id, d.platform, d.account, d.role, d.state, d.holder, d.run_id, d.updated_at "
            "FROM deliveries d WHERE d.run_id=? AND NOT EXISTS (SELECT 1 FROM outcomes o "
            "WHERE o.run_id=? AND o.platform=d.platform AND o.account=d.account) ORDER BY d.id",
            (run_id, run_id))
        return [dict(r) for r in rows]

    def delivery_for(self, delivery_id: int, run_id: str) -> tuple[dict[str, Any], JournalEntry,
                                                                  bool] | None:
        """A queue message's delivery in one read: its row, its entry, and whether *run_id* settled it.

        ``None`` when no such delivery exists.
        """
        rows = self._read(
            "SELECT d.*, EXISTS (SELECT 1 FROM outcomes o WHERE o.run_id=? AND o.platform="
            "d.platform AND o.account=d.account) AS settled FROM deliveries d WHERE d.id=?",
            (run_id, int(delivery_id)))
        if not rows:
            return None
        r = rows[0]
        live = r["state"] == "sending" and self.holder_alive(r["holder"], r["run_id"])
        return dict(r), self._entry(r, live), bool(r["settled"])

    def hub_of(self, run_id: str) -> tuple[str, str] | None:
        """``(platform, account)`` of the hub *run_id* planned (amplify mode), or ``None``."""
        rows = self._read("SELECT platform, account FROM deliveries WHERE run_id=? AND role='hub'",
                          (run_id,))
        return (str(rows[0][0]), str(rows[0][1])) if rows else None

    def take_run(self, run_id: str) -> bool:
        """Start one scheduled run now (its own client, at its time); False if a worker did."""
        with self._tx() as db:
            return bool(db.execute("UPDATE runs SET state='queued', heartbeat_at=? WHERE id=? AND "
                                   "state='scheduled'", (_now(), run_id)).rowcount == 1)

    def settled_in(self, run_id: str, platform: str, account: str) -> bool:
        """True when *run_id* has an outcome for this channel (a message seen twice is dropped)."""
        return bool(self._read("SELECT 1 FROM outcomes WHERE run_id=? AND platform=? AND account=? "
                               "LIMIT 1", (run_id, platform, account)))

    def last_outcomes(self, run_id: str) -> dict[tuple[str, str], dict[str, Any]]:
        """The last outcome of each channel in *run_id*, with the delivery's receipt."""
        self._flush_quietly()
        rows = self._read(
            "SELECT o.platform, o.account, o.state, o.attempts, o.remote_id, o.url, o.error_type, "
            "o.error_code, o.error_message, o.at, d.receipt_state, d.receipt_raw "
            "FROM outcomes o LEFT JOIN runs r ON r.id = o.run_id LEFT JOIN deliveries d ON "
            "d.post_key = r.post_key AND d.platform = o.platform AND d.account = o.account "
            "WHERE o.run_id=? ORDER BY o.id", (run_id,))
        return {(r["platform"], r["account"]): dict(r) for r in rows}

    def outcomes_after(self, run_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Outcomes of *run_id* written after outcome id *after*, oldest first (to follow a run)."""
        self._flush_quietly()
        rows = self._read(
            "SELECT o.id, o.platform, o.account, o.state, o.attempts, o.remote_id, o.url, "
            "o.error_type, o.error_code, o.error_message, o.at, d.receipt_state, d.receipt_raw, "
            "d.progress FROM outcomes o LEFT JOIN runs r ON r.id = o.run_id LEFT JOIN deliveries d "
            "ON d.post_key = r.post_key AND d.platform = o.platform AND d.account = o.account "
            "WHERE o.run_id=? AND o.id > ? ORDER BY o.id", (run_id, after))
        return [dict(r) for r in rows]

    def finish_if_done(self, run_id: str) -> bool:
        """Close a workers' run once every planned delivery has an outcome; True when closed."""
        run = self._read("SELECT planned, finished_at FROM runs WHERE id=?", (run_id,))
        if not run or run[0]["finished_at"] is not None:
            return bool(run)
        # Unsettled counts what this run still holds: a delivery a later run
        # of the same post planned again is that run's.
        if self.unsettled(run_id):
            return False
        last = self.last_outcomes(run_id)
        summary: dict[str, int] = {}
        for row in last.values():
            summary[row["state"]] = summary.get(row["state"], 0) + 1
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, summary=? WHERE id=? AND finished_at IS NULL",
                       (_now(), json.dumps(summary), run_id))
        return True

    def sweep_turn(self, run_id: str, every: float) -> bool:
        """True for one caller per *every* seconds and run: whose turn it is to look for lost work."""
        now = dt.datetime.now(dt.UTC)
        before = (now - dt.timedelta(seconds=every)).isoformat(timespec="milliseconds")
        with self._tx() as db:
            return bool(db.execute("UPDATE runs SET swept_at=? WHERE id=? AND (swept_at IS NULL OR "
                                   "swept_at < ?)", (now.isoformat(timespec="milliseconds"),
                                                     run_id, before)).rowcount == 1)

    def register_worker(self) -> str:
        """Record a worker of this process; its claims carry its id (`holder`) from now on."""
        worker = "w-" + uuid.uuid4().hex[:12]
        now = _now()
        with self._tx() as db:
            db.execute("INSERT INTO workers (id, pid, host, started_at, heartbeat_at) VALUES "
                       "(?,?,?,?,?)", (worker, _PID, _HOST, now, now))
        _LIVE.add(worker)
        self.holder = worker
        return worker

    def worker_beat(self, worker: str) -> None:
        """Tell other machines that *worker* is alive (its claims are not in doubt)."""
        with self._tx() as db:
            self._write_outcomes(db)
            db.execute("UPDATE workers SET heartbeat_at=? WHERE id=?", (_now(), worker))

    def stop_worker(self, worker: str) -> None:
        """Record that *worker* stopped: a ``sending`` delivery it still holds is in doubt."""
        try:
            if self.broken is None:
                self.flush()
                with self._tx() as db:
                    db.execute("UPDATE workers SET stopped_at=? WHERE id=?", (_now(), worker))
        finally:
            _LIVE.discard(worker)
            if self.holder == worker:
                self.holder = None

    def put_post(self, content_hash: str, data: str) -> None:
        """Keep a post's content for workers, once per content hash."""
        with self._tx() as db:
            db.execute("INSERT INTO posts (content_hash, data, created_at) VALUES (?,?,?) "
                       "ON CONFLICT (content_hash) DO NOTHING", (content_hash, data, _now()))

    def get_post(self, content_hash: str) -> str | None:
        """A post's content as `put_post` kept it, or ``None``."""
        rows = self._read("SELECT data FROM posts WHERE content_hash=?", (content_hash,))
        return str(rows[0][0]) if rows else None

    def has_blob(self, sha256: str) -> bool:
        """True when the media bytes of this hash are kept."""
        return bool(self._read("SELECT 1 FROM blobs WHERE sha256=? AND part=0", (sha256,)))

    def put_blob(self, sha256: str, parts: Iterable[bytes]) -> None:
        """Keep media bytes once per hash, in parts (one transaction; a second writer adds nothing)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM blobs WHERE sha256=? AND part=0", (sha256,)).fetchall():
                return
            for index, part in enumerate(parts):
                # Another writer of the same bytes may have looked at once (PostgreSQL).
                db.execute("INSERT INTO blobs (sha256, part, data) VALUES (?,?,?) "
                           "ON CONFLICT (sha256, part) DO NOTHING", (sha256, index, part))

    def blob_parts(self, sha256: str) -> Iterator[bytes]:
        """The kept bytes of *sha256*, part by part (one part in memory at a time)."""
        index = 0
        while True:
            rows = self._read("SELECT data FROM blobs WHERE sha256=? AND part=?", (sha256, index))
            if not rows:
                return
            yield bytes(rows[0][0])
            index += 1

    # ----------------------------------------------------------- audit

    def audit(self, post_key: str, kind: str, *, actor: str | None = None,
              content_hash: str | None = None, detail: str | None = None,
              at: dt.datetime | None = None) -> None:
        """Append an audit record (an approval, a refusal, a screening hit)."""
        when = (at or dt.datetime.now(dt.UTC)).isoformat(timespec="milliseconds")
        with self._tx() as db:
            db.execute(
                "INSERT INTO audit (post_key, kind, actor, content_hash, detail, at) VALUES (?,?,?,?,?,?)",
                (post_key, kind, actor, content_hash, detail, when),
            )

    def audit_trail(self, post_key: str) -> list[dict[str, Any]]:
        """The audit records of *post_key*, oldest first."""
        self._flush_quietly()
        rows = self._read(
            "SELECT kind, actor, content_hash, detail, at FROM audit WHERE post_key=? ORDER BY id",
            (post_key,),
        )
        return [dict(r) for r in rows]


def _run_info(r: Any) -> RunInfo:
    return RunInfo(id=r["id"], post_key=r["post_key"], title=r["title"], mode=r["mode"],
                   planned=r["planned"], started_at=r["started_at"], finished_at=r["finished_at"],
                   summary=json.loads(r["summary"]) if r["summary"] else {},
                   state=r["state"], due_at=r["due_at"], content_hash=r["content_hash"])


def _message(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, GovMediaError):
        return mask(str(error))
    return mask(f"{type(error).__name__}: {error}")
