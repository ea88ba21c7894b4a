"""The journal: a durable SQLite outbox of runs and deliveries.

Every delivery of a post key to a channel has one row. A fan-out writes the
run and every planned delivery before it sends anything, moves a row to
``sending`` (committed) before its request goes out, and to its final state
after. A re-run of the same key reads those rows: published ones are skipped,
and a row left in ``sending`` by a crash is resent only where the platform
deduplicates, reconciled where it can be asked, and otherwise left
``unknown``: never silently posted twice.

WAL mode with ``synchronous=NORMAL`` makes each commit survive a killed
process (not a power cut) at the cost of a write, not an fsync.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

import attrs

from govmedia._secrets import mask
from govmedia.errors import ConfigError, GovMediaError, PlatformError
from govmedia.model import Channel, Receipt

__all__ = ["Journal", "JournalEntry", "RunInfo"]

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
CREATE INDEX IF NOT EXISTS outcomes_run ON outcomes (run_id);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    post_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    content_hash TEXT,
    detail TEXT,
    at TEXT NOT NULL
);
"""


_CLAIM = ("UPDATE deliveries SET state='sending', idem_key=?, attempts=attempts+1, "
          "started_at=?, updated_at=? WHERE post_key=? AND platform=? AND account=? AND state=?")

FLUSH_SECONDS = 0.05
"""The longest a settled outcome waits to be written with the next claim."""


# Receipts' raw answers, kept as text; reused (json.dumps with options builds one per call).
_RAW_JSON = json.JSONEncoder(ensure_ascii=False, default=str)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


@attrs.frozen(kw_only=True)
class JournalEntry:
    """What the journal knows of one delivery."""

    platform: str
    account: str
    state: str
    attempts: int = 0
    receipt: Receipt | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    updated_at: str | None = None

    @property
    def age_seconds(self) -> float | None:
        """Seconds since the row last changed."""
        if not self.updated_at:
            return None
        then = dt.datetime.fromisoformat(self.updated_at)
        return (dt.datetime.now(dt.UTC) - then).total_seconds()


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


class Journal:
    """A SQLite journal of fan-out runs and deliveries (also an audit trail).

    Pass a path to `Client(journal=...)`, or open one yourself to read it.
    One journal may be shared by threads; several processes may open the same
    file (each delivery is claimed with a compare-and-set before sending).

    Example:
        >>> import govmedia as gm
        >>> journal = gm.Journal(":memory:")
        >>> journal.runs()
        []
    """

    def __init__(self, path: str | os.PathLike[str] = "govmedia.db") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                       timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot open journal {self.path!r}: {exc}") from None
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._outcomes: list[tuple[tuple[Any, ...], tuple[Any, ...] | None]] = []
        # Guards only the list of waiting outcomes, so that recording one
        # never waits for a commit running in another thread.
        self._pending_lock = threading.Lock()
        self._oldest = 0.0

    def close(self) -> None:
        """Write what is pending and close the database."""
        with self._lock:
            self.flush()
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ----------------------------------------------------------- runs

    def start_run(self, *, post_key: str, title: str | None, mode: str,
                  planned: Iterable[tuple[Channel, str]]) -> str:
        """Record a run and every planned delivery (new rows ``pending``) at once."""
        run_id = uuid.uuid4().hex[:12]
        now = _now()
        count = 0
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, post_key, title, mode, started_at) VALUES (?,?,?,?,?)",
                (run_id, post_key, title, mode, now),
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
        return run_id

    @staticmethod
    def _plan(db: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
        db.executemany(
            "INSERT INTO deliveries (post_key, platform, account, role, run_id, state, updated_at) "
            "VALUES (?,?,?,?,?,'pending',?) ON CONFLICT (post_key, platform, account) "
            "DO UPDATE SET run_id=excluded.run_id",
            rows,
        )

    def finish_run(self, run_id: str, summary: Mapping[str, int]) -> None:
        """Close a run with its per-state counts."""
        self.flush()
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, summary=? WHERE id=?",
                       (_now(), json.dumps(dict(summary)), run_id))

    def runs(self, limit: int = 50) -> list[RunInfo]:
        """The latest runs, newest first."""
        self.flush()
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [RunInfo(
            id=r["id"], post_key=r["post_key"], title=r["title"], mode=r["mode"],
            planned=r["planned"], started_at=r["started_at"], finished_at=r["finished_at"],
            summary=json.loads(r["summary"]) if r["summary"] else {},
        ) for r in rows]

    def run_rows(self, run_id: str) -> list[dict[str, Any]]:
        """What a run did on each channel, as plain dicts (a prefix of the id will do)."""
        self.flush()
        with self._lock:
            run = self._db.execute(
                "SELECT id, post_key FROM runs WHERE id LIKE ? ORDER BY started_at DESC",
                (run_id + "%",),
            ).fetchall()
            if len(run) != 1:
                raise ConfigError(f"no single run matches {run_id!r} in {self.path}")
            rows = self._db.execute(
                "SELECT platform, account, state, attempts, remote_id, url, error_type, "
                "error_code, error_message, at FROM outcomes WHERE run_id=? ORDER BY id",
                (run[0]["id"],),
            ).fetchall()
        return [dict(r) for r in rows]

    # ----------------------------------------------------------- deliveries

    def entries(self, post_key: str) -> dict[tuple[str, str], JournalEntry]:
        """Every delivery of *post_key*, keyed by ``(platform, account)``."""
        self.flush()
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM deliveries WHERE post_key=?", (post_key,)
            ).fetchall()
        return {(r["platform"], r["account"]): self._entry(r) for r in rows}

    @staticmethod
    def _entry(row: sqlite3.Row) -> JournalEntry:
        return JournalEntry(
            platform=row["platform"], account=row["account"], state=row["state"],
            attempts=row["attempts"], error_type=row["error_type"], error_code=row["error_code"],
            error_message=row["error_message"], updated_at=row["updated_at"],
            receipt=None,
        )

    def receipt(self, post_key: str, channel: Channel) -> Receipt | None:
        """The receipt recorded for a published delivery, bound to *channel*."""
        self.flush()
        with self._lock:
            row = self._db.execute(
                "SELECT remote_id, url, receipt_state, receipt_raw FROM deliveries "
                "WHERE post_key=? AND platform=? AND account=?",
                (post_key, channel.platform, channel.account),
            ).fetchone()
        if row is None or not row["remote_id"]:
            return None
        return Receipt(channel=channel, remote_id=row["remote_id"], url=row["url"],
                       state=row["receipt_state"] or "published",
                       raw=json.loads(row["receipt_raw"]) if row["receipt_raw"] else {})

    def claim(self, run_id: str, post_key: str, channel: Channel, *, expect: str,  # noqa: ARG002
              idem_key: str) -> bool:
        """Move a delivery from *expect* to ``sending`` before its request goes out.

        False when another run changed it first (nothing must be sent then).
        The row already belongs to *run_id*: `start_run` planned it.
        """
        now = _now()
        claim = (_CLAIM, (idem_key, now, now, post_key, channel.platform, channel.account, expect))
        with self._lock:
            if not self._outcomes:
                # One statement is its own transaction (autocommit): atomic
                # and durable on return, cheaper than BEGIN ... COMMIT.
                return self._db.execute(*claim).rowcount == 1
            with self._tx() as db:  # settled outcomes ride along: one commit for both
                self._write_outcomes(db)
                return db.execute(*claim).rowcount == 1

    def claim_many(self, post_key: str, claims: list[tuple[Channel, str, str]]) -> list[bool]:
        """`claim` several deliveries in one transaction: ``(channel, expect, idem_key)`` each.

        A fan-out's workers that are ready to send at the same moment share
        one commit; each still sends only after its claim is durable.
        """
        now = _now()
        rows = [(idem_key, now, now, post_key, ch.platform, ch.account, expect)
                for ch, expect, idem_key in claims]
        with self._lock, self._tx() as db:
            self._write_outcomes(db)
            return [db.execute(_CLAIM, row).rowcount == 1 for row in rows]

    def settle(self, run_id: str, post_key: str, channel: Channel, *, state: str,
               receipt: Receipt | None = None, error: BaseException | None = None,
               attempts: int = 0) -> None:
        """Record what this run did on *channel*; a final state also updates the delivery.

        ``skipped`` (and an ``unknown`` left by another run's claim) changes
        nothing about the delivery itself, only the run's record.
        """
        now = _now()
        if receipt is None:
            raw = remote_id = url = receipt_state = None
        else:
            raw = mask(_RAW_JSON.encode(dict(receipt.raw)))  # a platform may echo a token
            remote_id, url, receipt_state = receipt.remote_id, receipt.url, receipt.state
            url = url and mask(url)
        if error is None:
            error_type = code_text = message = None
        else:
            error_type = type(error).__name__
            code = error.code if isinstance(error, PlatformError) else None
            code_text = None if code is None else str(code)
            message = _message(error)
        outcome = (run_id, channel.platform, channel.account, state, attempts, remote_id, url,
                   error_type, code_text, message, now)
        final = None
        if not (state == "skipped" or (state == "unknown" and error_type == "_ClaimedElsewhere")):
            final = (state, remote_id, url, receipt_state, raw, error_type, code_text, message,
                     now, now, post_key, channel.platform, channel.account)
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
        if due:
            self.flush()

    def flush(self) -> None:
        """Write settled outcomes that are still waiting for the next claim."""
        with self._lock:
            if self._outcomes:
                with self._tx() as db:
                    self._write_outcomes(db)

    def _write_outcomes(self, db: sqlite3.Connection) -> None:
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

    @staticmethod
    def _write_batch(db: sqlite3.Connection,
                     batch: list[tuple[tuple[Any, ...], tuple[Any, ...] | None]]) -> None:
        db.executemany(
            "INSERT INTO outcomes (run_id, platform, account, state, attempts, remote_id, url, "
            "error_type, error_code, error_message, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            [outcome for outcome, _ in batch],
        )
        db.executemany(
            "UPDATE deliveries SET state=?, remote_id=COALESCE(?, remote_id), "
            "url=COALESCE(?, url), receipt_state=COALESCE(?, receipt_state), "
            "receipt_raw=COALESCE(?, receipt_raw), error_type=?, error_code=?, "
            "error_message=?, finished_at=?, updated_at=? "
            "WHERE post_key=? AND platform=? AND account=?",
            [final for _, final in batch if final is not None],
        )

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
        self.flush()
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, actor, content_hash, detail, at FROM audit WHERE post_key=? ORDER BY id",
                (post_key,),
            ).fetchall()
        return [dict(r) for r in rows]


def _message(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, GovMediaError):
        return mask(str(error))
    return mask(f"{type(error).__name__}: {error}")
