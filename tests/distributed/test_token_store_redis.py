"""Tokens shared in Redis by processes on several machines (`RedisTokenStore`).

Two stores on one Redis stand for two machines: each has its own in-process
locks, so only what is in Redis can keep them from spending a rotating
refresh token twice.
"""

import threading
import time

import pytest

import govmedia as gm
from govmedia.cli._journal import token_store
from govmedia.testing import Sandbox as Fakes
from govmedia.testing.samples import CLIP_MP4, COVER_JPEG
from govmedia.tokens import _UNLOCK_LUA as _UNLOCK
from govmedia.tokens import MemoryTokenStore, RedisTokenStore, Token

pytestmark = pytest.mark.distributed

SCOPE = ("kuaishou", "ks700:abc")


def video(text):
    return gm.Post(text=text, media=(gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4"),),
                   cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))


def test_a_token_read_is_reused_briefly_but_the_lock_always_reads_anew(redis_url):
    reader, writer = RedisTokenStore(redis_url, fresh_for=60), RedisTokenStore(redis_url)
    writer.put(SCOPE, Token(value="acc-0000001", refresh_token="ref-0000001"))
    assert reader.get(SCOPE).refresh_token == "ref-0000001"
    writer.put(SCOPE, Token(value="acc-0000002", refresh_token="ref-0000002"))  # another machine refreshed
    assert reader.get(SCOPE).refresh_token == "ref-0000001"  # within fresh_for: no round trip
    with reader.lock(SCOPE):
        assert reader.get(SCOPE).refresh_token == "ref-0000002"  # what a refresh would spend


def test_a_live_holder_keeps_its_lock_past_the_lease_and_a_dead_ones_runs_out(redis_url):
    """(That the lock holds across stores is tests/core/test_tokens.py's, for files and Redis.)"""
    import redis

    slow = RedisTokenStore(redis_url, lease=0.3).lock(SCOPE)
    assert slow.acquire()  # a refresh that takes longer than the lease: renewed meanwhile
    other = RedisTokenStore(redis_url, lease=0.3).lock(SCOPE)
    assert not other.acquire(timeout=1.0)
    slow.release()
    assert other.acquire(blocking=False)
    other.release()

    # A holder on another machine that died: it renews no more, its lease frees the lock.
    key = RedisTokenStore(redis_url)._key(SCOPE, "lock")
    with redis.Redis.from_url(redis_url) as r:
        r.set(key, "a-dead-process", px=300)
    started = time.monotonic()
    assert other.acquire(timeout=5)
    assert 0.1 < time.monotonic() - started < 3
    with redis.Redis.from_url(redis_url) as r:  # whoever holds it now, a late release of
        assert r.eval(_UNLOCK, 1, key, "a-dead-process") == 0  # the dead one frees nothing
    assert not RedisTokenStore(redis_url).lock(SCOPE).acquire(blocking=False)
    other.release()


@pytest.mark.parametrize("shared", [True, False])
def test_two_machines_refreshing_at_once_spend_a_rotating_refresh_token_once(redis_url, shared):
    fakes = Fakes(platforms=["kuaishou"])
    fake = fakes["kuaishou"]
    channel = fakes.channel("kuaishou", "hub")
    fake.expire_tokens()
    start = threading.Barrier(2)
    failures = []

    def machine(number):
        store = RedisTokenStore(redis_url) if shared else MemoryTokenStore()
        with gm.Client(http=fakes.client(), tokens=store, retry=gm.RetryPolicy.testing()) as client:
            start.wait()
            for i in range(3):
                try:
                    client.publish(video(f"机器{number}第{i}条"), channel)
                except gm.AuthError as exc:
                    failures.append(exc)

    threads = [threading.Thread(target=machine, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refreshes = fake.requests("/oauth2/refresh_token")
    if shared:
        assert failures == [] and len(fake.posts("hub")) == 6
        assert len(refreshes) == 1
        # A third machine, later, after the access token expired again: the
        # rotated refresh token is in Redis, so its refresh is honoured.
        fake.expire_tokens()
        with gm.Client(http=fakes.client(), tokens=RedisTokenStore(redis_url),
                       retry=gm.RetryPolicy.testing()) as client:
            client.publish(video("第三台"), channel)
        assert len(fake.posts("hub")) == 7
        assert [r.status for r in fake.requests("/oauth2/refresh_token")] == [200, 200]
    else:  # what the shared store prevents: the second machine's refresh is refused
        assert failures and "authorise the account again" in str(failures[0]).lower()


def test_redis_out_of_reach_fails_the_delivery_before_anything_is_sent(tmp_path):
    fakes = Fakes(platforms=["kuaishou"])
    fake = fakes["kuaishou"]
    store = RedisTokenStore(f"unix://{tmp_path}/no-redis.sock")
    with gm.Client(http=fakes.client(), tokens=store, retry=gm.RetryPolicy.testing(),
                   journal=tmp_path / "j.db") as client:
        report = client.fan_out(video("通知"), [fakes.channel("kuaishou", "hub")])
    (delivery,) = report.deliveries
    assert delivery.state == "failed"
    assert isinstance(delivery.error, gm.TransientError)
    assert "token store unix://" in str(delivery.error) and "nothing was sent" in str(delivery.error).lower()
    assert fake.posts() == [] and fake.requests(fake.create_path) == []


def test_the_cli_takes_a_redis_url_for_its_token_store(redis_url):
    store = token_store(redis_url)
    assert isinstance(store, RedisTokenStore)
    assert repr(token_store("redis://:s3cret@127.0.0.1:6379/1")) == "RedisTokenStore('redis://:***@127.0.0.1:6379/1')"


def test_a_refreshed_token_redis_could_not_take_is_kept_and_written_back(redis_url, monkeypatch, caplog):
    import redis

    store, other = RedisTokenStore(redis_url, fresh_for=0), RedisTokenStore(redis_url, fresh_for=0)
    client = store._client()
    real_set = client.set
    down = {"on": True}

    def flaky_set(*args, **kwargs):
        if down["on"]:
            raise redis.ConnectionError("Connection refused")
        return real_set(*args, **kwargs)

    monkeypatch.setattr(client, "set", flaky_set)
    rotated = Token(value="acc-0000009", refresh_token="ref-0000009")
    store.put(SCOPE, rotated)  # the refresh worked; writing its result did not
    assert "written back when Redis answers" in caplog.text
    assert store.get(SCOPE) is rotated  # this process goes on with the new one
    assert other.get(SCOPE) is None
    down["on"] = False
    store._retry_at.clear()  # a second later
    assert store.get(SCOPE) is rotated  # ... and writes it back at the first chance
    assert other.get(SCOPE).refresh_token == "ref-0000009"
