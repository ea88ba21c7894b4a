"""Two `govmedia worker` machines, each with its own token file, and a rotating refresh token.

Kuaishou voids a refresh token once it is spent. Two workers standing for two
machines (their own ``$GOVMEDIA_TOKENS`` file each, nothing shared on disk)
send for the same accounts while every access token has expired, so both
need a refresh for each account: with ``--token-store redis://...`` the
refresh happens once per account and both post; with only their own files
each spends the credentials' refresh token and the second is refused.

Each machine listens on a broker of its own (another Redis database) and is
sent one of two posts, so that both send for every account whatever order
the stream hands out messages in: on one shared stream a worker may take all
of a small run's messages in one read, and the contrast would pass or fail
by chance. The journal (PostgreSQL) is shared as in production.
"""

import concurrent.futures
import json

import pytest

import govmedia as gm
from conftest import Sandbox, Workers, matrix_toml, to_channel, wait_for
from govmedia.testing.samples import CLIP_MP4, COVER_JPEG

pytestmark = pytest.mark.distributed

ACCOUNTS = ["ks_sasac", "ks_cnpc", "ks_sinopec"]
CAPTIONS = ["国资小新：第一台机器发布", "国资小新：第二台机器发布"]
REFRESH = "/oauth2/refresh_token"


def video(text):
    return gm.Post(text=text, media=(gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4"),),
                   cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))


@pytest.fixture
def sandbox():
    box = Sandbox(["kuaishou"])
    yield box
    box.stop()


def two_machines_send(sandbox, redis_server, pg_journal, tmp_path, *, token_store):
    """Both posts to every account, one through each machine.

    Returns each run's outcomes, the machines and the channels.
    """
    channels = sandbox.channels("kuaishou", ACCOUNTS)
    (tmp_path / "matrix.toml").write_text(matrix_toml(channels), encoding="utf-8")
    assert sandbox.http.post("/_sandbox/expire-tokens", json={"platform": "kuaishou"}).is_success
    # Each answer takes a while, so that the second machine's first request
    # (with the expired token) goes out before the first machine's refresh is
    # back: both need one at once, which is what the lock in Redis is for.
    # The assertions hold however the two overlap.
    sandbox.http.post("/_sandbox/delay", json={"seconds": 0.2})
    machines, brokers = [], [redis_server.url(1), redis_server.url(2)]
    for name, broker in zip("ab", brokers, strict=True):
        (tmp_path / name).mkdir()
        machines.append(Workers(
            matrix=tmp_path / "matrix.toml", journal=pg_journal, broker=broker,
            rate_store=redis_server.url(0), rate_limits=[], log_dir=tmp_path / name,
            # No sweep for the test's few seconds: a machine would hand the
            # other's messages to its own broker and send them itself.
            sweep_every=60.0, token_store=token_store,
            env={"GOVMEDIA_TOKENS": str(tmp_path / name / "tokens.json")}))
    for machine in machines:
        machine.start(1)

    def submit(caption, broker):
        with gm.Client(journal=pg_journal) as client:
            return client.fan_out(video(caption), [to_channel(c) for c in channels],
                                  executor=broker, wait=False)

    try:
        with concurrent.futures.ThreadPoolExecutor(2) as pool:  # both runs at once
            run_ids = [f.result(60) for f in [pool.submit(submit, c, b)
                                              for c, b in zip(CAPTIONS, brokers, strict=True)]]
        with gm.Journal(pg_journal) as journal:
            # As a waiting client would (with no time limit): a run closes once
            # every delivery has an outcome.
            try:
                wait_for(lambda: all(journal.finish_if_done(r) for r in run_ids), 60,
                         "both runs to finish")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{logs(machines)}") from None
            return [journal.last_outcomes(r) for r in run_ids], machines, channels
    finally:
        for machine in machines:
            machine.stop()


def posts_by_account(sandbox):
    found = {}
    for post in sandbox.posts("kuaishou"):
        found.setdefault(post["account"], []).append(post["caption"])
    return found


def logs(machines):
    return "\n".join(machine.logs() for machine in machines)


def test_two_machines_share_tokens_in_redis_and_refresh_each_account_once(
        sandbox, redis_url, redis_server, pg_journal, tmp_path):
    store = redis_server.url(3)
    runs, machines, channels = two_machines_send(sandbox, redis_server, pg_journal, tmp_path,
                                                 token_store=store)
    for outcomes in runs:
        assert sorted(a for _, a in outcomes) == sorted(ACCOUNTS)
        assert {o["state"] for o in outcomes.values()} == {"published"}, (outcomes, logs(machines))
    posted = posts_by_account(sandbox)
    assert sorted(posted) == sorted(ACCOUNTS)
    for account, captions in posted.items():  # each post once on every account
        assert sorted(c.split(" ")[0] for c in captions) == sorted(CAPTIONS), account
    refreshes = [r for r in sandbox.requests("kuaishou") if r[2] == REFRESH]
    assert len(refreshes) == len(ACCOUNTS), refreshes  # one per account, for both machines
    # Redis holds one token per authorisation, the rotated one each refresh
    # handed out (so every refresh was honoured); neither machine's file was used.
    import redis

    with redis.Redis(unix_socket_path=str(redis_server.socket), db=3) as r:
        kept = [json.loads(r.get(key)) for key in r.keys("govmedia-tokens:token:kuaishou:*")]
    given = {c["credentials"]["refresh_token"] for c in channels}
    assert len(kept) == len(ACCOUNTS) and not given & {t["refresh_token"] for t in kept}
    assert not (tmp_path / "a" / "tokens.json").exists()
    assert not (tmp_path / "b" / "tokens.json").exists()
    assert "Traceback" not in logs(machines), logs(machines)


def test_two_machines_with_only_their_own_token_files_spend_one_refresh_token_twice(
        sandbox, redis_url, redis_server, pg_journal, tmp_path):
    # What the test above guards against: each machine refreshes every account
    # with the credentials' refresh token; Kuaishou honours the first only.
    runs, machines, _ = two_machines_send(sandbox, redis_server, pg_journal, tmp_path,
                                          token_store=None)
    outcomes = [o | {"account": account} for run in runs for (_, account), o in run.items()]
    failed = [o for o in outcomes if o["state"] == "failed"]
    assert sorted(o["account"] for o in failed) == sorted(ACCOUNTS), (outcomes, logs(machines))
    for outcome in failed:
        assert outcome["error_type"] == "AuthError", outcome
        assert "authorise the account again" in outcome["error_message"].lower(), outcome
    assert sum(o["state"] == "published" for o in outcomes) == len(ACCOUNTS)
    assert {a: len(c) for a, c in posts_by_account(sandbox).items()} == dict.fromkeys(ACCOUNTS, 1)
    refreshes = [r for r in sandbox.requests("kuaishou") if r[2] == REFRESH]
    assert len(refreshes) == 2 * len(ACCOUNTS), refreshes
    assert (tmp_path / "a" / "tokens.json").exists() and (tmp_path / "b" / "tokens.json").exists()
    assert "Traceback" not in logs(machines), logs(machines)
