"""Workers at the edges: amplify runs, a worker told to stop, a journal that fails under a worker.

Each test starts its own `govmedia worker` processes against the sandbox;
exactly-once is checked on the fakes (one post per account).
"""

import datetime as dt
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import govmedia as gm
from conftest import Sandbox, Workers, matrix_toml, to_channel, wait_for

pytestmark = pytest.mark.distributed

POST = gm.Post(title="一带一路看国企", text="一带一路看国企：中老铁路开通一周年")


@pytest.fixture
def sandbox():
    box = Sandbox(["webhook", "mastodon"])
    yield box
    box.stop()


def per_account(sandbox, platform):
    counts = {}
    for p in sandbox.posts(platform):
        account = p["account"]["acct"] if isinstance(p["account"], dict) else p["account"]
        counts[account] = counts.get(account, 0) + 1
    return counts


# --------------------------------------------------------------------- amplify through workers


def amplify_setup(sandbox, tmp_path, *, hub_token=None):
    hub = sandbox.channels("mastodon", ["sasac"])[0]
    if hub_token is not None:  # the workers' matrix holds a token the instance refuses
        hub["credentials"] = {**hub["credentials"], "access_token": hub_token}
    members = sandbox.channels("mastodon", ["cnpc", "sinopec"]) + sandbox.channels(
        "webhook", ["crcc-site"])
    (tmp_path / "matrix.toml").write_text(matrix_toml(members, hub=hub), encoding="utf-8")
    return gm.Matrix(hub=to_channel(hub), members=[to_channel(c) for c in members])


def amplify_through_workers(matrix, redis_url, pg_journal, tmp_path):
    """An amplify run of POST over *matrix* through two workers: its report, and the workers."""
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=[], log_dir=tmp_path)
    workers.start(2)
    try:
        with gm.Client(journal=pg_journal) as client:
            report = client.fan_out(POST, matrix, mode="amplify", executor=redis_url)
    finally:
        workers.stop()
    return report, workers


def test_amplify_through_workers_posts_the_hub_then_members_boost_or_link_it(
        sandbox, redis_url, pg_journal, tmp_path):
    report, workers = amplify_through_workers(amplify_setup(sandbox, tmp_path), redis_url,
                                              pg_journal, tmp_path)
    assert report.summary() == {"published": 4}, workers.logs()
    hub_receipt = report.deliveries[0].receipt
    assert report.deliveries[0].channel.account == "sasac"
    for account in ("cnpc", "sinopec"):
        [boost] = [p for p in sandbox.posts("mastodon") if p["account"]["acct"] == account]
        assert boost["reblog"]["id"] == hub_receipt.remote_id  # a boost of the hub, not a copy
    [event] = sandbox.posts("webhook")
    assert event["data"]["link"] == hub_receipt.url
    assert per_account(sandbox, "mastodon") == {"sasac": 1, "cnpc": 1, "sinopec": 1}


def test_amplify_through_workers_sends_no_member_when_the_hub_fails(
        sandbox, redis_url, pg_journal, tmp_path):
    report, workers = amplify_through_workers(
        amplify_setup(sandbox, tmp_path, hub_token="revoked-token"), redis_url, pg_journal, tmp_path)
    assert [d.state for d in report.deliveries] == ["failed"] * 4, workers.logs()
    assert isinstance(report.deliveries[0].error, gm.AuthError), report.deliveries[0].error
    assert all("hub failed" in str(d.error) for d in report.deliveries[1:]), str(report)
    assert sandbox.posts("mastodon") == [] and sandbox.posts("webhook") == []
    # Nothing but the hub's refused create reached a platform.
    creates = [r for r in sandbox.requests("mastodon") + sandbox.requests("webhook")
               if r[1] == "POST"]
    assert {r[3] for r in creates} <= {"sasac", None}, creates


STOP_IN_GAP = [sys.executable, str(Path(__file__).with_name("stop_in_gap.py"))]


@pytest.mark.parametrize("how", ["kill", "term", "fail"])
def test_a_worker_stopped_after_the_hub_before_handing_out_its_members_they_go_out_once(
        how, sandbox, redis_url, pg_journal, tmp_path):
    # The hub's outcome is durable and its members were never enqueued: the
    # hub's message, seen again, is a duplicate that hands out nothing, so only
    # the sweep of an idle worker (`--sweep-every`) finds the members. Killed,
    # the worker's message comes back after --claim-idle; stopped, at once;
    # a hand-out that fails (Redis refused it) must not wait --claim-idle.
    matrix = amplify_setup(sandbox, tmp_path)
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=[], log_dir=tmp_path,
                      claim_idle=3.0 if how == "kill" else 60.0)
    workers.start(command=[*STOP_IN_GAP, how])
    try:
        with gm.Client(journal=pg_journal) as client:
            run_id = client.fan_out(POST, matrix, mode="amplify", executor=redis_url, wait=False)
            wait_for(lambda: "after the hub" in workers.logs(), 30, "the hub's outcome")
            if how != "fail":
                try:
                    code = workers.procs[0].wait(15)
                except subprocess.TimeoutExpired:
                    code = None
                assert code == (-signal.SIGKILL if how == "kill" else 0), workers.logs()
                outcomes = client.journal.last_outcomes(run_id)
                assert {k[1]: r["state"] for k, r in outcomes.items()} == {"sasac": "published"}
                assert client.journal.find_run(run_id).finished_at is None
                workers.start(1)  # its supervisor starts it again
            wait_for(lambda: client.journal.find_run(run_id).finished_at is not None, 30,
                     "the run to finish")
            info = client.journal.find_run(run_id)
            again = client.fan_out(POST, matrix, mode="amplify", executor=redis_url)
    finally:
        workers.stop()
    logs = workers.logs()
    assert info.summary == {"published": 4}, logs
    assert "3 deliveries found without a live holder or a message; handed out again" in logs
    assert "Traceback" not in logs, logs
    if how == "fail":
        assert "the hub's outcome is recorded but its members could not be handed out" in logs
    assert per_account(sandbox, "mastodon") == {"sasac": 1, "cnpc": 1, "sinopec": 1}
    hub = next(p for p in sandbox.posts("mastodon") if p["account"]["acct"] == "sasac")
    assert {p["reblog"]["id"] for p in sandbox.posts("mastodon") if p.get("reblog")} == {hub["id"]}
    [event] = sandbox.posts("webhook")
    assert event["data"]["link"] == hub["url"]
    # One create per account: no member was even tried twice.
    creates = [r[3] for r in sandbox.requests("mastodon") + sandbox.requests("webhook")
               if r[1] == "POST"]
    assert sorted(creates) == sorted(["sasac", "cnpc", "sinopec", "crcc-site"]), creates
    assert again.summary() == {"skipped": 4}


@pytest.mark.parametrize("later", ["now", "at"])
def test_a_scheduled_amplify_run_killed_after_the_hub_a_later_run_sends_each_member_once(
        later, sandbox, tmp_path):
    # One process, no workers (`fan_out(at=)`): killed once the hub's outcome
    # is durable, before its members were handed out. The same post run again
    # (now, or scheduled) skips the hub and boosts or links it from each member.
    matrix = amplify_setup(sandbox, tmp_path)
    journal = str(tmp_path / "journal.db")
    (tmp_path / "post.md").write_text(f'+++\ntitle = "{POST.title}"\ntext = "{POST.text}"\n+++\n',
                                      encoding="utf-8")
    post = gm.Post.from_file(tmp_path / "post.md")
    first = subprocess.run([*STOP_IN_GAP, "kill", "fan-out", str(tmp_path / "post.md"), "--matrix",
                            str(tmp_path / "matrix.toml"), "--journal", journal, "--mode",
                            "amplify", "--at", "+0.3", "--quiet"],
                           capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    assert "kill after the hub" in first.stdout
    assert per_account(sandbox, "mastodon") == {"sasac": 1} and sandbox.posts("webhook") == []
    at = {"at": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)} if later == "at" else {}
    with gm.Client(journal=journal) as client:
        report = client.fan_out(post, matrix, mode="amplify", **at)
        again = client.fan_out(post, matrix, mode="amplify")
    assert {d.channel.account: d.state for d in report.deliveries} == {
        "sasac": "skipped", "cnpc": "published", "sinopec": "published", "crcc-site": "published"}
    assert per_account(sandbox, "mastodon") == {"sasac": 1, "cnpc": 1, "sinopec": 1}
    hub = next(p for p in sandbox.posts("mastodon") if p["account"]["acct"] == "sasac")
    assert {p["reblog"]["id"] for p in sandbox.posts("mastodon") if p.get("reblog")} == {hub["id"]}
    [event] = sandbox.posts("webhook")
    assert event["data"]["link"] == hub["url"]
    assert again.summary() == {"skipped": 4}


# --------------------------------------------------------------------- SIGTERM


def test_sigterm_mid_run_gives_back_what_never_left_exits_0_and_another_worker_finishes(
        sandbox, redis_url, pg_journal, tmp_path):
    n = 120
    channels = sandbox.channels("webhook", [f"w{i:03}" for i in range(n)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    # 20 creates a second across the workers: most deliveries wait for the
    # budget (claimed, never sent) when the signal comes; every answer takes 0.3 s.
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=["webhook=20:5"], log_dir=tmp_path,
                      concurrency=32, claim_idle=30.0)
    sandbox.http.post("/_sandbox/delay", json={"seconds": 0.3})
    workers.start(1)
    try:
        with gm.Client(journal=pg_journal) as client:
            run_id = client.fan_out(gm.Post(text="国资小新：平滑下线"),
                                    [to_channel(c) for c in channels], executor=redis_url,
                                    wait=False)
            wait_for(lambda: len(sandbox.posts("webhook")) >= 10, 30, "10 posts")
            first = workers.procs[0]
            first.send_signal(signal.SIGTERM)
            began = time.monotonic()
            try:
                code = first.wait(10)
            except subprocess.TimeoutExpired:
                code = None
            took = time.monotonic() - began
            assert code == 0, workers.logs()
            assert took < 8, f"the worker took {took:.1f} s to stop"
            logs = workers.logs()
            [(given, in_doubt, put_back)] = re.findall(
                r"(\d+) given back \(never sent\), (\d+) in doubt .*?, (\d+) messages put back",
                logs)
            assert int(given) > 0 and int(put_back) >= int(given) + int(in_doubt), logs
            assert "Traceback" not in logs, logs
            # Another worker takes the rest at once (not after claim_idle, 30 s).
            workers.start(1)
            wait_for(lambda: client.journal.find_run(run_id).finished_at is not None, 25,
                     "the run to finish on the second worker")
            info = client.journal.find_run(run_id)
    finally:
        workers.stop()
    assert info.summary == {"published": n}, workers.logs()
    counts = per_account(sandbox, "webhook")
    assert len(counts) == n and set(counts.values()) == {1}


# --------------------------------------------------------------------- the journal fails


def acked(redis_url, n):
    """How many of the run's *n* messages a worker acknowledged (none was given back)."""
    import redis

    with redis.Redis.from_url(redis_url) as r:
        [group] = r.xinfo_groups("govmedia")
    return n - group["pending"] - group["lag"]


@pytest.fixture
def own_postgres():
    """A PostgreSQL of this test's own, to be stopped and started again mid-run."""
    from servers import Postgres

    server = Postgres().start()
    yield server
    server.stop()


def test_postgres_stopped_under_a_worker_nothing_unrecorded_is_acked_nor_sent_twice(
        sandbox, redis_url, own_postgres, tmp_path):
    n = 150
    journal_url = own_postgres.fresh()
    channels = sandbox.channels("webhook", [f"w{i:03}" for i in range(n)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=journal_url, broker=redis_url,
                      rate_store=redis_url, rate_limits=["webhook=40:5"], log_dir=tmp_path,
                      concurrency=16)
    workers.start(1)
    try:
        with gm.Client(journal=journal_url) as client:
            run_id = client.fan_out(gm.Post(text="国资小新：数据库重启"),
                                    [to_channel(c) for c in channels], executor=redis_url,
                                    wait=False)
        wait_for(lambda: len(sandbox.posts("webhook")) >= 20, 30, "20 posts")
        own_postgres.halt()
        # The worker cannot write outcomes: it says so, naming the journal, and stops
        # (its supervisor starts it again), acknowledging nothing it could not record.
        try:
            code = workers.procs[0].wait(15)
        except subprocess.TimeoutExpired:
            code = None
        logs = workers.logs()
        assert code == 3, logs  # a GovMediaError: the CLI exits 3
        assert "journal" in logs and str(own_postgres.root) in logs, logs
        assert acked(redis_url, n) <= len(sandbox.posts("webhook"))
        own_postgres.start()
        workers.start(1)
        with gm.Journal(journal_url) as journal:
            wait_for(lambda: journal.find_run(run_id).finished_at is not None, 30,
                     "the run to finish once the journal is back")
            info = journal.find_run(run_id)
    finally:
        workers.stop()
    assert sum(info.summary.values()) == n, (info.summary, workers.logs())
    assert set(info.summary) <= {"published"}, (info.summary, workers.logs())
    counts = per_account(sandbox, "webhook")
    assert len(counts) == n and set(counts.values()) == {1}, counts


def test_sqlite_journal_replaced_under_a_worker_it_stops_and_acks_nothing_it_could_not_record(
        sandbox, redis_url, tmp_path):
    n = 80
    journal_path = tmp_path / "journal.db"
    channels = sandbox.channels("webhook", [f"w{i:03}" for i in range(n)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=str(journal_path),
                      broker=redis_url, rate_store=redis_url, rate_limits=["webhook=20:5"],
                      log_dir=tmp_path, concurrency=16)
    workers.start(1)
    try:
        with gm.Client(journal=journal_path) as client:
            client.fan_out(gm.Post(text="国资小新：日志被替换"), [to_channel(c) for c in channels],
                           executor=redis_url, wait=False)
        wait_for(lambda: len(sandbox.posts("webhook")) >= 10, 30, "10 posts")
        moved = tmp_path / "journal.db.moved"
        journal_path.rename(moved)
        journal_path.write_bytes(b"")  # an operator "cleans up"
        try:
            code = workers.procs[0].wait(15)
        except subprocess.TimeoutExpired:
            code = None
        logs = workers.logs()
        assert code == 3, logs  # a GovMediaError: the CLI exits 3
        assert str(journal_path) in logs and "replaced" in logs, logs
        sent = len(sandbox.posts("webhook"))
    finally:
        workers.stop()
    assert sent < n
    counts = per_account(sandbox, "webhook")
    assert set(counts.values()) == {1}
    # What the worker had taken but could not record is still on the stream, unacknowledged.
    assert acked(redis_url, n) <= sent
