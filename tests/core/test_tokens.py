"""Token stores: a file store outlives the process and holds its lock across processes."""

import os
import stat
import threading
import time

import pytest

import govmedia as gm
from govmedia.tokens import FileTokenStore, Token

SCOPE = ("kuaishou", "ks700:abc")


def test_a_token_written_by_one_store_is_read_by_another(tmp_path):
    path = tmp_path / "state" / "tokens.json"
    first, second = FileTokenStore(path), FileTokenStore(path)
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


def test_the_refresh_lock_holds_across_stores(tmp_path):
    """Two stores on one file stand for two processes: only one refreshes at a time."""
    path = tmp_path / "tokens.json"
    holding = FileTokenStore(path).lock(SCOPE)
    assert holding.acquire()
    other = FileTokenStore(path).lock(SCOPE)
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
