"""Fan-outs sent by `govmedia worker` processes over real Redis and PostgreSQL.

The submitter writes the run to the journal and queues delivery ids only;
workers load the matrix themselves. Exactly-once is checked on the fakes
(one post per account), rate budgets on the fakes' request timestamps.
"""


import itertools
import time

import pytest

import govmedia as gm
from conftest import Sandbox, Workers, matrix_toml, to_channel, wait_for

pytestmark = pytest.mark.distributed


@pytest.fixture
def sandbox():
    box = Sandbox(["webhook", "mastodon"])
    yield box
    box.stop()


def test_workers_send_a_run_queued_by_id_and_the_client_waits_for_the_report(
        sandbox, redis_url, pg_journal, tmp_path):
    channels = sandbox.channels("webhook", [f"w{i}" for i in range(20)]) + sandbox.channels(
        "mastodon", [f"m{i}" for i in range(20)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=[], log_dir=tmp_path)
    workers.start(2)
    try:
        seen = []
        post = gm.Post(text="国资小新：分布式发布")
        with gm.Client(journal=pg_journal) as client:
            report = client.fan_out(post, [to_channel(c) for c in channels], executor=redis_url,
                                    progress=seen.append)
            assert report.summary() == {"published": 40}, workers.logs()
            assert len(seen) == 40
            assert [d.channel.account for d in report.deliveries][:2] == ["w0", "w1"]
            assert report.deliveries[25].receipt.remote_id
            # The same post again: nothing is sent twice.
            again = client.fan_out(post, [to_channel(c) for c in channels], executor=redis_url)
            assert again.summary() == {"skipped": 40}
    finally:
        workers.stop()
    assert len(sandbox.posts("webhook")) == 20 and len(sandbox.posts("mastodon")) == 20


# --------------------------------------------------------------------- 10,000 deliveries, a SIGKILL

N_WEBHOOK = 6000
N_MASTODON = 4000
# The platforms' budgets (per second, burst), checked on the fakes' clocks; the
# workers are given SHARE of them, as an operator would, for the jitter of
# requests on their way: the Redis store has no correction for a request that
# reaches the wire late, and on a loaded 2-core machine (the sandbox is one
# Python process) requests taken 10 ms apart arrive bunched. At 90 % a full
# suite run saw 12 requests over mastodon's 1-second window once.
PLATFORM_RATE = {"webhook": (400, 40), "mastodon": (200, 20)}
SHARE = 0.75


def over_budget(times, rate, burst, window):
    """The largest count of requests in any *window* seconds, less what the budget allows."""
    times = sorted(times)
    worst, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] > window:
            start += 1
        worst = max(worst, end - start + 1 - (burst + rate * window))
    return worst


def check_budgets(sandbox, budgets=None):
    for platform, (rate, burst) in (budgets or PLATFORM_RATE).items():
        creates = [r for r in sandbox.requests(platform) if r[1] == "POST"]
        times = [r[0] for r in creates]
        for window in (1.0, 5.0):
            assert over_budget(times, rate, burst, window) <= 0, (platform, window)
        by_account = {}
        for at, _, _, account, _ in creates:
            by_account.setdefault(account, []).append(at)
        for account, stamps in by_account.items():  # one per second per account at most
            stamps.sort()
            assert all(b - a >= 0.9 for a, b in itertools.pairwise(stamps)), account


def test_ten_thousand_deliveries_four_workers_one_killed_every_account_posted_once(
        sandbox, redis_url, pg_journal, tmp_path):
    started = time.monotonic()
    channels = sandbox.channels("webhook", [f"w{i:05}" for i in range(N_WEBHOOK)]) + sandbox.channels(
        "mastodon", [f"m{i:05}" for i in range(N_MASTODON)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    limits = [f"{p}={rate * SHARE}:{burst * SHARE}" for p, (rate, burst) in PLATFORM_RATE.items()]
    limits += ["webhook:*=1:1", "mastodon:*=1:1"]
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=limits, log_dir=tmp_path, concurrency=48)
    workers.start(4)
    post = gm.Post(text="国资小新：一万个账号同时发布")
    made = time.monotonic()
    try:
        with gm.Client(journal=pg_journal) as client:
            run_id = client.fan_out(post, [to_channel(c) for c in channels], executor=redis_url,
                                    wait=False)
            submitted = time.monotonic()

            def published():
                return client.journal.find_run(run_id).finished_at is not None or sum(
                    1 for r in client.journal.last_outcomes(run_id).values()
                    if r["state"] == "published") >= 3000

            # Generous: alone this run takes ~50 s; on a machine shared with
            # other test runs it took over four times that.
            wait_for(published, 240, "3,000 deliveries")
            workers.kill(0)           # mid-run, mid-send
            workers.start(1)          # the supervisor starts another
            wait_for(lambda: client.journal.find_run(run_id).finished_at is not None, 480,
                     "the run to finish")
            finished = time.monotonic()
            info = client.journal.find_run(run_id)
    finally:
        workers.stop()
    assert info.summary == {"published": N_WEBHOOK + N_MASTODON}, workers.logs()
    for platform, n in (("webhook", N_WEBHOOK), ("mastodon", N_MASTODON)):
        per_account = {}
        for p in sandbox.posts(platform):
            account = p["account"]["acct"] if isinstance(p["account"], dict) else p["account"]
            per_account[account] = per_account.get(account, 0) + 1
        assert len(per_account) == n and set(per_account.values()) == {1}, platform
    check_budgets(sandbox)
    print(f"\n10k: channels {made - started:.1f} s, submit {submitted - made:.1f} s, run {finished - submitted:.1f} s "
          f"({(N_WEBHOOK + N_MASTODON) / (finished - submitted):.0f} deliveries/s)")


# --------------------------------------------------------------------- Redis goes away


def test_redis_killed_mid_run_the_run_finishes_once_it_is_back_nothing_lost_or_doubled(
        sandbox, redis_server, redis_url, pg_journal, tmp_path):
    """Redis holds the queue and the rate buckets, without persistence: a restart loses both.

    While it is down the workers send nothing (no token, no budget) and keep
    trying; once it is back they find the run's lost work in the journal.
    """
    n = 1500
    channels = sandbox.channels("webhook", [f"w{i:04}" for i in range(n)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=["webhook=150:15", "webhook:*=1:1"],
                      log_dir=tmp_path)
    workers.start(2)
    try:
        with gm.Client(journal=pg_journal) as client:
            run_id = client.fan_out(gm.Post(text="国资小新：断线重连"), [to_channel(c) for c in channels],
                                    executor=redis_url, wait=False)

            def count():
                return client.journal._read("SELECT count(*) FROM outcomes WHERE run_id=?",
                                            (run_id,))[0][0]

            wait_for(lambda: count() >= 300, 60, "300 deliveries")
            redis_server.kill()
            before = len(sandbox.posts("webhook"))
            time.sleep(3)
            during = len(sandbox.posts("webhook"))
            redis_server.start()
            wait_for(lambda: client.journal.find_run(run_id).finished_at is not None, 90,
                     "the run to finish after Redis came back")
            info = client.journal.find_run(run_id)
            report = client.fan_out(gm.Post(text="国资小新：断线重连"),
                                    [to_channel(c) for c in channels], executor=redis_url)
    finally:
        workers.stop()
    assert info.summary == {"published": n}, workers.logs()
    assert during - before <= 48, "sent without a rate budget while Redis was down"
    accounts = [p["account"] for p in sandbox.posts("webhook")]
    assert len(accounts) == n and len(set(accounts)) == n
    assert report.summary() == {"skipped": n}
    assert "unreachable" in workers.logs()
    check_budgets(sandbox, {"webhook": (150 / 0.9, 15 / 0.9)})


# --------------------------------------------------------------------- scheduled runs, the CLI


def test_a_scheduled_run_waits_in_the_journal_and_one_worker_starts_it_when_due(
        sandbox, redis_url, pg_journal, tmp_path):
    """Through the command line: ``fan-out --broker --at +5 --no-wait``, then ``runs``.

    Two commands start before the check that nothing went out early (about a
    second each on a loaded 2-core machine): +3 left too little margin.
    """
    import subprocess
    import sys

    channels = sandbox.channels("webhook", [f"w{i}" for i in range(30)])
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    (tmp_path / "post.md").write_text('+++\ntitle = "发布会"\ntext = "国资委新闻发布会明早七点举行"\n+++\n',
                                      encoding="utf-8")
    workers = Workers(matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=redis_url,
                      rate_store=redis_url, rate_limits=[], log_dir=tmp_path)
    workers.start(3)
    cli = [sys.executable, "-m", "govmedia.cli"]
    try:
        out = subprocess.run([*cli, "fan-out", str(tmp_path / "post.md"), "--matrix",
                              str(tmp_path / "matrix.toml"), "--journal", pg_journal, "--broker",
                              redis_url, "--at", "+5", "--no-wait", "--quiet"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        run_id = out.split()[1]
        listed = subprocess.run([*cli, "runs", "--journal", pg_journal], capture_output=True,
                                text=True, timeout=60, check=True).stdout
        assert f"{run_id}" in listed and "scheduled" in listed
        time.sleep(1)
        assert sandbox.posts("webhook") == []  # not before its time
        with gm.Journal(pg_journal) as journal:
            wait_for(lambda: journal.find_run(run_id).finished_at is not None, 30, "the run")
            info = journal.find_run(run_id)
        shown = subprocess.run([*cli, "runs", "show", run_id, "--journal", pg_journal],
                               capture_output=True, text=True, timeout=60, check=True).stdout
    finally:
        workers.stop()
    assert info.summary == {"published": 30}
    assert shown.count("published") == 30
    assert len(sandbox.posts("webhook")) == 30
    assert workers.logs().count("is due: started") == 1  # one of three workers started it
