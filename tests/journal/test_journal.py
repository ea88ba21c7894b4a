"""One journal test suite, run on SQLite and on PostgreSQL (the `journal_at` fixture).

Claims, resume rules, liveness, the operator's methods and the work that
workers share must behave the same on both: a matrix moved from one server's
SQLite file to a shared PostgreSQL keeps every guarantee.
"""

import datetime as dt
import threading
import time

import pytest

import govmedia as gm
from govmedia.journal import Journal

CH = [gm.Channel(platform="webhook", account=f"m{i}", options={"url": "https://x.example/h"})
      for i in range(30)]


@pytest.fixture
def journal(journal_at):
    with Journal(journal_at) as j:
        yield j


def plan(journal, channels=CH[:3], key="k1", content_hash=None):
    return journal.start_run(post_key=key, title="通知", mode="broadcast",
                             planned=[(c, "member") for c in channels], content_hash=content_hash)


def receipt(ch, rid="r1"):
    return gm.Receipt(channel=ch, remote_id=rid, url=f"https://x.example/{rid}")


def test_a_run_plans_every_delivery_pending_and_lists_newest_first(journal):
    first = plan(journal)
    second = plan(journal, CH[:2], key="k2")
    assert [r.id for r in journal.runs()] == [second, first]
    entries = journal.entries("k1")
    assert set(entries) == {("webhook", f"m{i}") for i in range(3)}
    assert {e.state for e in entries.values()} == {"pending"}
    assert journal.find_run(first[:5]).planned == 3


def test_a_claim_is_compare_and_set(journal):
    run = plan(journal)
    assert journal.claim(run, "k1", CH[0], expect="pending", idem_key="a")
    assert not journal.claim(run, "k1", CH[0], expect="pending", idem_key="a")  # it moved on
    assert journal.claim_many("k1", [(CH[1], "pending", "b", None), (CH[0], "pending", "a", None),
                                     (CH[2], "sending", "c", None)], run_id=run) == [True, False, False]
    assert journal.entries("k1")[("webhook", "m0")].attempts == 1


def test_two_connections_racing_claim_each_delivery_once(journal_at):
    """Two processes' connections claim the same 30 deliveries at once: one claim each."""
    with Journal(journal_at) as setup:
        run = plan(setup, CH)
    won: list[list[str]] = [[], []]
    start = threading.Barrier(2)

    def claimer(slot):
        with Journal(journal_at) as mine:
            start.wait()
            for ch in CH:
                if mine.claim(run, "k1", ch, expect="pending", idem_key="x"):
                    won[slot].append(ch.account)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won[0] + won[1]) == sorted(c.account for c in CH)
    assert not set(won[0]) & set(won[1])


def test_outcomes_wait_for_the_next_commit_and_another_connection_then_sees_them(journal, journal_at):
    run = plan(journal)
    journal.claim(run, "k1", CH[0], expect="pending", idem_key="a")
    journal.settle(run, "k1", CH[0], state="published", receipt=receipt(CH[0]), attempts=1)
    with Journal(journal_at) as other:
        assert other.entry("k1", "webhook", "m0").state == "sending"  # in doubt if we crash now
        journal.flush()
        assert other.entry("k1", "webhook", "m0").state == "published"
        assert other.receipt("k1", CH[0]).remote_id == "r1"


def test_release_gives_a_claim_back_as_if_never_taken(journal):
    run = plan(journal)
    journal.claim(run, "k1", CH[0], expect="pending", idem_key="a")
    assert journal.release(run, "k1", CH[0], to="pending")
    entry = journal.entry("k1", "webhook", "m0")
    assert (entry.state, entry.attempts, entry.stage) == ("pending", 0, None)
    assert not journal.release(run, "k1", CH[0], to="pending")  # not held any more


def test_a_row_left_sending_by_a_run_that_stopped_is_in_doubt_with_its_checkpoint(journal_at):
    with Journal(journal_at) as crashed:
        run = plan(crashed)
        crashed.claim(run, "k1", CH[0], expect="pending", idem_key="a")
        crashed.record("k1", CH[0], "created", {"media_id": "M-1"})
        assert crashed.entry("k1", "webhook", "m0").run_alive  # its own run, running
    # Closed without finishing, as a killed process leaves it.
    with Journal(journal_at) as later:
        entry = later.entries("k1")[("webhook", "m0")]
        assert entry.state == "sending" and not entry.run_alive
        assert entry.stage == "created" and entry.progress == {"media_id": "M-1"}
        assert entry.maybe_applied_at is not None
        # Re-claimed from its doubt: the stage and what was learnt stay.
        run2 = plan(later)
        assert later.claim(run2, "k1", CH[0], expect="sending", idem_key="a")
        again = later.entry("k1", "webhook", "m0")
        assert again.stage == "created" and again.attempts == 2


def test_a_clean_failure_starts_afresh_and_a_maybe_applied_one_keeps_its_doubt(journal):
    run = plan(journal)
    for ch in CH[:2]:
        journal.claim(run, "k1", ch, expect="pending", idem_key="a")
    journal.settle(run, "k1", CH[0], state="failed", error=gm.TransientError("502", platform="webhook"))
    journal.settle(run, "k1", CH[1], state="failed", error=gm.TransientError(
        "lost answer", platform="webhook", maybe_applied=True))
    journal.flush()
    assert journal.entry("k1", "webhook", "m0").maybe_applied_at is None
    assert journal.entry("k1", "webhook", "m1").maybe_applied_at is not None


def test_a_published_outcome_without_url_or_error_clears_the_error_and_keeps_the_url(journal):
    # The journal writes such an outcome with a shorter statement (no NULLs
    # bound); what it leaves behind must be what the full one would.
    run = plan(journal, CH[:1])
    journal.claim(run, "k1", CH[0], expect="pending", idem_key="a")
    journal.settle(run, "k1", CH[0], state="published", receipt=receipt(CH[0]))
    journal.flush()
    again = plan(journal, CH[:1])
    journal.claim(again, "k1", CH[0], expect="published", idem_key="a")
    journal.settle(again, "k1", CH[0], state="failed", error=gm.TransientError(
        "502 from the receiver", platform="webhook", code=502))
    journal.flush()
    assert journal.entry("k1", "webhook", "m0").error_code == "502"
    third = plan(journal, CH[:1])
    journal.claim(third, "k1", CH[0], expect="failed", idem_key="a")
    journal.settle(third, "k1", CH[0], state="published",
                   receipt=gm.Receipt(channel=CH[0], remote_id="r2"))
    journal.settle(third, "k1", CH[1], state="skipped")
    journal.flush()
    entry = journal.entry("k1", "webhook", "m0")
    assert (entry.state, entry.error_type, entry.error_code, entry.error_message) == (
        "published", None, None, None)
    kept = journal.receipt("k1", CH[0])
    assert (kept.remote_id, kept.url) == ("r2", "https://x.example/r1")
    last = journal.last_outcomes(third)
    assert last[("webhook", "m0")]["state"] == "published" and last[("webhook", "m0")]["url"] is None
    assert last[("webhook", "m1")]["state"] == "skipped"


def test_resolve_settles_only_what_is_in_doubt_and_audits_it(journal):
    run = plan(journal)
    journal.claim(run, "k1", CH[0], expect="pending", idem_key="a")
    journal.settle(run, "k1", CH[0], state="unknown", error=gm.DeliveryUnknown("lost"))
    assert journal.resolve("k1", "webhook", "m0", "published", url="https://x.example/1",
                           by="张三", run_id=run) == "unknown"
    assert journal.entry("k1", "webhook", "m0").state == "published"
    with pytest.raises(gm.ConfigError, match="not in doubt"):
        journal.resolve("k1", "webhook", "m0", "failed")
    journal.claim(run, "k1", CH[1], expect="pending", idem_key="b")  # this run: alive
    with pytest.raises(gm.ConfigError, match="still sending"):
        journal.resolve("k1", "webhook", "m1", "failed")
    [audit] = journal.audit_trail("k1")
    assert audit["kind"] == "resolved" and audit["actor"] == "张三"


def test_retracted_other_versions_and_run_rows(journal):
    run = plan(journal, CH[:2], content_hash="h-old")
    for i, ch in enumerate(CH[:2]):
        journal.claim(run, "k1", ch, expect="pending", idem_key="a")
        journal.settle(run, "k1", ch, state="published", receipt=receipt(ch, f"r{i}"), attempts=1)
    journal.finish_run(run, {"published": 2})
    assert journal.other_versions("k1", "h-new") == {"h-old": [("webhook", "m0"), ("webhook", "m1")]}
    journal.retracted("k1", "webhook", "m0", by="李四")
    assert journal.entry("k1", "webhook", "m0").state == "retracted"
    assert journal.other_versions("k1", "h-new") == {"h-old": [("webhook", "m1")]}
    rows = journal.run_rows(run)
    assert [r["state"] for r in rows] == ["published", "published"]
    assert journal.runs()[0].summary == {"published": 2}
    with pytest.raises(gm.ConfigError, match="no run"):
        journal.find_run("zzzz")


def test_a_workers_claim_is_alive_while_the_worker_is(journal_at):
    with Journal(journal_at) as submitter:
        run = plan(submitter)
        submitter.mark_run(run, state="queued")  # the workers' run now
    worker_journal = Journal(journal_at)
    worker = worker_journal.register_worker()
    assert worker_journal.claim(run, "k1", CH[0], expect="pending", idem_key="a")
    with Journal(journal_at) as other:
        assert other.entry("k1", "webhook", "m0").run_alive  # held by a live worker
        worker_journal.stop_worker(worker)
        worker_journal.close()
        entry = other.entry("k1", "webhook", "m0")
        assert entry.state == "sending" and not entry.run_alive  # a dead worker's: in doubt
        assert other.resolve("k1", "webhook", "m0", "failed") == "sending"


def test_a_scheduled_run_is_started_by_exactly_one_of_many_callers(journal_at):
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat(timespec="milliseconds")
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat(timespec="milliseconds")
    with Journal(journal_at) as submitter:
        due = [plan(submitter, CH[:1], key=f"due{i}") for i in range(6)]
        for run in due:
            submitter.mark_run(run, state="scheduled", due_at=past)
        later = plan(submitter, CH[:1], key="later")
        submitter.mark_run(later, state="scheduled", due_at=future)
        assert submitter.next_due() == past
    taken: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(4)

    def poller():
        with Journal(journal_at) as mine:
            start.wait()
            for _ in range(5):
                got = mine.take_due(limit=2)
                with lock:
                    taken.extend(got)

    threads = [threading.Thread(target=poller) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(taken) == sorted(due)  # each once; the future one waits
    with Journal(journal_at) as j:
        assert {r.id for r in j.open_runs()} == set(due)
        assert j.find_run(later).state == "scheduled"


def test_a_workers_run_finishes_when_every_delivery_has_an_outcome(journal):
    run = plan(journal)
    journal.mark_run(run, state="queued")
    assert [u["account"] for u in journal.unsettled(run)] == ["m0", "m1", "m2"]
    ids = {u["account"]: u["id"] for u in journal.unsettled(run)}
    assert journal.delivery(ids["m1"])["run_id"] == run
    for ch, state in zip(CH[:3], ("published", "failed", "published"), strict=True):
        journal.claim(run, "k1", ch, expect="pending", idem_key="a")
        assert not journal.finish_if_done(run)
        journal.settle(run, "k1", ch, state=state, receipt=receipt(ch) if state == "published"
                       else None, error=None if state == "published" else gm.TransientError("x"))
        assert journal.settled_in(run, "webhook", ch.account) or journal.pending_outcomes()
    assert journal.finish_if_done(run)
    info = journal.find_run(run)
    assert info.finished_at and info.summary == {"published": 2, "failed": 1}
    assert journal.last_outcomes(run)[("webhook", "m0")]["remote_id"] == "r1"
    assert journal.open_runs() == []


def test_a_sweep_turn_goes_to_one_caller_per_interval(journal):
    run = plan(journal)
    assert journal.sweep_turn(run, 60)
    assert not journal.sweep_turn(run, 60)
    time.sleep(0.01)
    assert journal.sweep_turn(run, 0)


def test_posts_and_media_are_kept_once_per_hash(journal):
    journal.put_post("h1", '{"text": "通知"}')
    journal.put_post("h1", '{"text": "other"}')  # the same hash: kept once
    assert journal.get_post("h1") == '{"text": "通知"}'
    assert journal.get_post("h2") is None
    journal.put_blob("s1", [b"\x00" * 10, b"\xff" * 3])
    journal.put_blob("s1", [b"never read"])
    assert journal.has_blob("s1") and not journal.has_blob("s2")
    assert list(journal.blob_parts("s1")) == [b"\x00" * 10, b"\xff" * 3]


@pytest.mark.distributed
def test_two_submitters_keeping_the_same_media_at_once_on_postgres_both_succeed(postgres_server):
    """Two posts with one video submitted at once: neither submission fails on the other's bytes.

    PostgreSQL lets both see no row before either commits (SQLite's write lock
    makes the second wait and see the first's); the second's insert must then
    add nothing rather than fail the submission with a duplicate key.
    """
    url = postgres_server.fresh()
    both_looked = threading.Barrier(2, timeout=10)
    errors = []

    def parts(data):
        both_looked.wait()  # each writer has checked for the hash, inside its transaction
        yield data

    def submit(data):
        try:
            with Journal(url) as j:
                j.put_blob("s1", parts(data))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(b"\x00" * 10,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with Journal(url) as j:
        assert list(j.blob_parts("s1")) == [b"\x00" * 10]


@pytest.mark.distributed
def test_postgres_journal_hides_its_password_and_refuses_a_foreign_schema(postgres_server):
    url = postgres_server.fresh()
    secret = url.replace("postgresql://govmedia@", "postgresql://govmedia:hunter2@")
    with Journal(secret) as j:
        assert "hunter2" not in repr(j) and "***" in repr(j)
        assert j.is_postgres
    foreign = postgres_server.fresh()
    schema = foreign.rsplit("%3D", 1)[1]
    postgres_server.psql(f"CREATE TABLE {schema}.runs (x int)", "govmedia")
    with pytest.raises(gm.ConfigError, match="another program"):
        Journal(foreign)
    with pytest.raises(gm.ConfigError, match="cannot be used"):
        Journal(url.replace("/govmedia?", "/no_such_db?"))


@pytest.mark.distributed
def test_postgres_connection_lost_mid_run_is_a_journal_error(postgres_server):
    url = postgres_server.fresh()
    with Journal(url) as j:
        run = plan(j)
        postgres_server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                             "application_name='govmedia'", "govmedia")
        with pytest.raises(gm.JournalError) as info:
            j.claim(run, "k1", CH[0], expect="pending", idem_key="a")
        assert j.broken is info.value and "cannot write" in str(info.value)


def test_a_new_journal_opened_while_another_process_writes_it_waits_instead_of_failing(tmp_path):
    """Two workers starting at once on a new journal: SQLite refuses the switch to WAL at once."""
    import sqlite3

    path = tmp_path / "journal.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # another process, mid-write
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(0.3, other.execute, ("ROLLBACK",)).start()
    started = time.monotonic()
    with Journal(path) as j:  # was: ConfigError "cannot be used: database is locked"
        assert j.runs() == []
    assert time.monotonic() - started >= 0.25
    other.close()


@pytest.mark.distributed
def test_opening_a_postgres_journal_never_waits_for_the_writes_of_workers_already_running(
        postgres_server):
    """A worker (or a command) starting next to busy ones: its set-up takes no table lock.

    ALTER TABLE ... IF NOT EXISTS and CREATE INDEX IF NOT EXISTS lock their table
    before they look: run on every open, they waited for running workers' writes
    and deadlocked with them (one worker's journal write failed, and it stopped).
    """
    import psycopg

    url = postgres_server.fresh()
    with Journal(url) as j:
        plan(j)
    busy = psycopg.connect(url)  # same schema (the URL's search_path)
    try:
        busy.execute("UPDATE deliveries SET updated_at=updated_at")  # a worker mid-transaction
        busy.execute("UPDATE runs SET heartbeat_at=heartbeat_at")
        opened = []
        thread = threading.Thread(target=lambda: opened.append(Journal(url)), daemon=True)
        thread.start()
        thread.join(5)
        assert opened, "opening the journal waited for another connection's transaction"
        opened[0].close()
    finally:
        busy.rollback()
        busy.close()


@pytest.mark.distributed
def test_upgrading_a_postgres_journal_next_to_a_busy_worker_never_costs_the_worker_its_write(
        postgres_server):
    """A newer govmedia opens an older journal (columns missing) while a worker writes.

    Its ALTER TABLEs need each table to itself: it gives way (lock_timeout,
    then tries again) rather than hold one table while it waits for another,
    which made PostgreSQL break the deadlock by failing the worker's write.
    """
    import psycopg

    url = postgres_server.fresh()
    with Journal(url) as j:
        plan(j)
    old = psycopg.connect(url, autocommit=True)  # the journal as an older govmedia left it
    old.execute("ALTER TABLE runs DROP COLUMN swept_at")
    old.execute("ALTER TABLE deliveries DROP COLUMN holder")
    old.close()
    worker = psycopg.connect(url)
    worker.execute("UPDATE deliveries SET updated_at=updated_at")  # mid-transaction
    opened, failed = [], []

    def open_new():
        try:
            opened.append(Journal(url))
        except Exception as exc:  # reported below
            failed.append(exc)

    thread = threading.Thread(target=open_new, daemon=True)
    thread.start()
    time.sleep(0.3)  # the newer govmedia is waiting for the worker's table now
    worker.execute("UPDATE runs SET heartbeat_at=heartbeat_at")  # the worker goes on: no deadlock
    worker.commit()
    thread.join(30)
    worker.close()
    assert not failed and opened, failed
    with opened[0] as j:
        assert j.runs()  # upgraded: every column there
