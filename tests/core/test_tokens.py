"""Token stores: a file store outlives the process and holds its lock across processes."""

import os
import stat
import threading
import time

import pytest

import govmedia as gm
from govmedia.tokens import FileTokenStore, RedisTokenStore, Token

SCOPE = ("kuaishou", "ks700:abc")


@pytest.fixture(params=["file", pytest.param("redis", marks=pytest.mark.distributed)])
def shared_store(request, tmp_path):
    """Makes stores that share their tokens: on one file, or on one Redis (processes, machines)."""
    if request.param == "file":
        return lambda: FileTokenStore(tmp_path / "state" / "tokens.json")
    import redis

    server = request.getfixturevalue("redis_server")
    with redis.Redis(unix_socket_path=str(server.socket)) as r:
        r.flushall()
    return lambda: RedisTokenStore(server.url(), fresh_for=0)


def test_a_token_written_by_one_store_is_read_by_another(shared_store):
    first, second = shared_store(), shared_store()
    assert second.get(SCOPE) is None
    first.put(SCOPE, Token(value="acc-0000001", expires_in=3600, refresh_token="ref-0000001",
                           refresh_expires_in=600, issued_at=1_700_000_000))
    kept = second.get(SCOPE)
    assert (kept.value, kept.refresh_token, kept.expires_at, kept.refresh_expires_at) == (
        "acc-0000001", "ref-0000001", 1_700_003_600.0, 1_700_000_600.0)
    second.put(SCOPE, Token(value="acc-0000002", refresh_token="ref-0000002"))
    assert first.get(SCOPE).refresh_token == "ref-0000002"  # the other "process" wrote it
    first.put(("bilibili", "app"), Token(value="acc-0000003"))
    assert second.get(SCOPE).value == "acc-0000002" and second.get(("bilibili", "app")) is not None


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_the_file_is_readable_by_its_owner_only_and_never_half_written(tmp_path):
    path = tmp_path / "tokens.json"
    store = FileTokenStore(path)
    store.put(SCOPE, Token(value="acc-0000001"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert "acc-0000001" not in repr(store)


def test_a_damaged_file_is_a_config_error_naming_it(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(gm.ConfigError, match=r"tokens\.json"):
        FileTokenStore(path).get(SCOPE)


def test_the_refresh_lock_holds_across_stores(shared_store):
    """Two stores on one file (or one Redis) stand for two processes: one refreshes at a time."""
    holding = shared_store().lock(SCOPE)
    assert holding.acquire()
    other = shared_store().lock(SCOPE)
    assert not other.acquire(blocking=False)
    order = []

    def wait():
        with other:
            order.append("other")

    thread = threading.Thread(target=wait)
    thread.start()
    time.sleep(0.05)
    order.append("first")
    holding.release()
    thread.join(2)
    assert order == ["first", "other"]
    assert other.acquire(blocking=False)
    other.release()


def test_a_store_in_a_folder_not_made_yet_can_take_its_lock(tmp_path):
    """--token-store /new/place/tokens.json: the first refresh locks before anything is written."""
    path = tmp_path / "new" / "place" / "tokens.json"
    lock = FileTokenStore(path).lock(SCOPE)  # was: ConfigError "... No such file or directory"
    assert lock.acquire(blocking=False)
    lock.release()
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
