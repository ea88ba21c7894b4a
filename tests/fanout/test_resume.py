"""Resuming after a crash: what a row left in `sending` becomes on the next run."""

import datetime as dt
import sqlite3

import httpx
import pytest

import govmedia as gm
from govmedia.testing import Sandbox

POST = gm.Post(text="央企人事调整：任免通知")


def crash_after_claim(journal_path, channel):
    """What a process killed right after marking a delivery `sending` leaves."""
    journal = gm.Journal(journal_path)
    run = journal.start_run(post_key=POST.key, title=None, mode="broadcast", planned=[(channel, "member")])
    assert journal.claim(run, POST.key, channel, expect="pending", idem_key="k")
    journal.close()


def test_deduplicating_platform_is_resent_with_the_same_key(journal_at):
    sandbox = Sandbox(platforms=["webhook"])
    ch = sandbox.channel("webhook", "m1")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
        c.publish(POST, ch)  # the crashed run had in fact delivered it
    crash_after_claim(journal_at, ch)
    with gm.Client(http=sandbox.client(), journal=journal_at) as c:
        report = c.fan_out(POST, [ch])
    assert report.deliveries[0].state == "published"
    assert len(sandbox["webhook"].posts()) == 1  # the receiver deduplicated on webhook-id
    assert len(sandbox["webhook"].requests()) == 2


def test_reconcilable_platform_is_looked_up_not_resent(journal_at, board, board_http):
    ch = board.channel("b1")
    with gm.Client(http=board_http) as c:
        c.publish(POST, ch)
    crash_after_claim(journal_at, ch)
    with gm.Client(http=board_http, journal=journal_at) as c:
        report = c.fan_out(POST, [ch])
        again = c.fan_out(POST, [ch])
    assert report.deliveries[0].state == "published"
    assert again.deliveries[0].state == "skipped"
    assert len(board.posts()) == 1
    assert [r.method for r in board.log] == ["POST", "GET"]


def test_reconcile_that_finds_nothing_sends_once(journal_at, board, board_http):
    ch = board.channel("b1")
    crash_after_claim(journal_at, ch)
    with gm.Client(http=board_http, journal=journal_at) as c:
        assert c.fan_out(POST, [ch]).deliveries[0].state == "published"
    assert len(board.posts()) == 1


def test_other_platforms_are_left_unknown_and_never_resent(journal_at, board, board_http):
    ch = board.channel("p1", platform="plainboard")
    crash_after_claim(journal_at, ch)
    with gm.Client(http=board_http, journal=journal_at) as c:
        first = c.fan_out(POST, [ch])
        second = c.fan_out(POST, [ch])
    for report in (first, second):
        assert report.deliveries[0].state == "unknown"
        assert "not resent" in str(report.deliveries[0].error)
    assert board.log == []


def test_timeout_after_send_is_unknown_then_left_alone(journal_at, board, board_http):
    ch = board.channel("p1", platform="plainboard")
    board.inject("timeout_after")
    with gm.Client(http=board_http, journal=journal_at, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(POST, [ch]).deliveries[0].state == "unknown"
        assert c.fan_out(POST, [ch]).deliveries[0].state == "unknown"
    assert len(board.posts()) == 1 and len(board.log) == 1


def test_dedupe_window_expired_is_not_resent(tmp_path, monkeypatch):
    """Mastodon keeps an Idempotency-Key about an hour: later, a resend could duplicate."""
    sandbox = Sandbox(platforms=["webhook"])
    ch = sandbox.channel("webhook", "m1")
    crash_after_claim(tmp_path / "j.db", ch)
    db = sqlite3.connect(tmp_path / "j.db")
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)).isoformat()
    db.execute("UPDATE deliveries SET updated_at=?", (old,))
    db.commit()
    db.close()
    import attrs

    from govmedia.platforms.webhook import WebhookPlatform

    monkeypatch.setattr(WebhookPlatform, "capabilities",
                        attrs.evolve(WebhookPlatform.capabilities, dedupe_window=3600))
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as c:
        assert c.fan_out(POST, [ch]).deliveries[0].state == "unknown"
    assert sandbox["webhook"].log == []


def test_a_bug_in_platform_code_after_a_write_is_unknown(tmp_path, board, board_http, monkeypatch):
    from conftest import BoardPlatform

    def broken(self, post, channel, key):
        yield httpx.Request("POST", f"{channel.options['base_url']}/posts",
                            content=b'{"text": "x", "marker": "m", "account": "b1"}')
        raise KeyError("id")

    monkeypatch.setattr(BoardPlatform, "publish", broken)
    with gm.Client(http=board_http) as c:
        report = c.fan_out(POST, [board.channel("b1")])
    assert report.deliveries[0].state == "unknown"
    assert "KeyError" in str(report.deliveries[0].error)


def test_journal_records_runs_and_rows(journal_at):
    sandbox = Sandbox(platforms=["webhook"])
    chs = [sandbox.channel("webhook", f"m{i}") for i in range(3)]
    with gm.Client(http=sandbox.client(), journal=journal_at) as c:
        report = c.fan_out(POST.approve("张三"), chs)
        runs = c.journal.runs()
        rows = c.journal.run_rows(report.run_id[:6])
        trail = c.journal.audit_trail(POST.key)
    assert runs[0].summary == {"published": 3} and runs[0].planned == 3
    assert {r["state"] for r in rows} == {"published"} and all(r["attempts"] == 1 for r in rows)
    with gm.Client(http=sandbox.client(), journal=journal_at) as c:
        again = c.fan_out(POST.approve("张三"), chs)
        assert {r["state"] for r in c.journal.run_rows(again.run_id)} == {"skipped"}
        assert {r["state"] for r in c.journal.run_rows(report.run_id)} == {"published"}
    assert trail[0]["kind"] == "approval" and trail[0]["actor"] == "张三"


def test_settled_outcomes_are_written_with_the_next_claim_or_soon(tmp_path):
    """A crash can lose at most FLUSH_SECONDS of outcomes, which re-runs treat as in doubt."""
    from govmedia.journal import FLUSH_SECONDS

    path = tmp_path / "j.db"
    journal = gm.Journal(path)
    a, b = (gm.Channel(platform="webhook", account=n, options={"url": "https://x.example"}) for n in "ab")
    run = journal.start_run(post_key="k", title=None, mode="broadcast", planned=[(a, "member"), (b, "member")])

    def state_seen_by_another_process(account):
        db = sqlite3.connect(path)
        try:
            return db.execute("SELECT state FROM deliveries WHERE account=?", (account,)).fetchone()[0]
        finally:
            db.close()

    journal.claim(run, "k", a, expect="pending", idem_key="ka")
    journal.settle(run, "k", a, state="published",
                   receipt=gm.Receipt(channel=a, remote_id="1"), attempts=1)
    assert state_seen_by_another_process("a") == "sending"  # still waiting: in doubt if we crash now
    journal.claim(run, "k", b, expect="pending", idem_key="kb")
    assert state_seen_by_another_process("a") == "published"  # written with b's claim
    assert state_seen_by_another_process("b") == "sending"
    journal.settle(run, "k", b, state="failed", error=gm.TransientError("boom"), attempts=1)
    import time

    time.sleep(FLUSH_SECONDS * 1.2)
    journal.settle(run, "k", b, state="failed", error=gm.TransientError("boom"), attempts=1)
    assert state_seen_by_another_process("b") == "failed"  # the window passed: written
    journal.close()


@pytest.mark.anyio
async def test_two_runs_at_once_on_one_journal_send_each_delivery_once(journal_at, board):
    """Claims are compare-and-set in the journal: a second run never sends what the first claimed."""
    import anyio

    channels = [board.channel(f"p{i}", platform="plainboard") for i in range(40)]
    http = httpx.AsyncClient(transport=httpx.MockTransport(board))
    reports = []

    async def run():
        async with gm.AsyncClient(http=http, journal=journal_at, concurrency=8) as client:
            reports.append(await client.fan_out(POST, channels))

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        tg.start_soon(run)
    await http.aclose()
    per_account = {}
    for post in board.posts():
        per_account[post["account"]] = per_account.get(post["account"], 0) + 1
    assert per_account == {f"p{i}": 1 for i in range(40)}
    states = [d.state for r in reports for d in r.deliveries]
    assert states.count("published") == 40  # the other run reports them unknown or skipped
