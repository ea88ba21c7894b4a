"""`ChunkedUploads`: the fake toolkit's chunked upload sessions, kept as sizes and hashes."""

import threading

import attrs
import httpx
import pytest

from govmedia.testing import ChunkedUploads, CompletedUpload, PartRecord, Refuse


class Clock:
    def __init__(self, now=1_700_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


def refusal(reason):
    return httpx.Response(200, json={"code": 2100005, "reason": reason})


def reason_of(call):
    with pytest.raises(Refuse) as info:
        call()
    return info.value.response.json()["reason"]


@pytest.fixture
def uploads():
    return ChunkedUploads(min_part=4, max_part=8, max_total=20, max_parts=5, refuse=refusal,
                          clock=Clock())


def test_parts_are_kept_as_size_and_hash_never_bytes(uploads):
    session = uploads.start("sasac")
    record = uploads.put(session.upload_id, "sasac", 1, b"0123")
    assert record == PartRecord(4, PartRecord.of(b"0123").sha256)
    kept = repr(attrs.asdict(session))
    assert "0123" not in kept.replace(session.upload_id, "") and "b'" not in kept


def test_complete_checks_order_sizes_and_gives_one_digest(uploads):
    session = uploads.start("sasac")
    for number, data in ((3, b"89"), (1, b"0123"), (2, b"4567")):  # any order
        uploads.put(session.upload_id, "sasac", number, data)
    done = uploads.complete(session.upload_id, "sasac")
    assert (done.size, len(done.parts)) == (10, 3)
    assert done.digest == CompletedUpload.digest_of(
        [PartRecord.of(b"0123"), PartRecord.of(b"4567"), PartRecord.of(b"89")])
    assert uploads.complete(session.upload_id, "sasac") is done  # idempotent
    assert reason_of(lambda: uploads.put(session.upload_id, "sasac", 4, b"xxxx")) == "completed"


def test_a_resent_part_replaces_the_first(uploads):
    session = uploads.start("sasac")
    uploads.put(session.upload_id, "sasac", 1, b"AAAA")
    uploads.put(session.upload_id, "sasac", 1, b"0123")
    uploads.put(session.upload_id, "sasac", 2, b"4")
    done = uploads.complete(session.upload_id, "sasac")
    assert done.size == 5 and done.parts[0] == PartRecord.of(b"0123")


@pytest.mark.parametrize(("parts", "reason"), [
    ({}, "no_parts"),
    ({1: b"0123", 3: b"89"}, "missing_part"),
    ({2: b"0123"}, "missing_part"),
    ({1: b"012", 2: b"3456"}, "part_too_small"),
])
def test_complete_refuses_what_the_api_refuses(uploads, parts, reason):
    session = uploads.start("sasac")
    for number, data in parts.items():
        uploads.put(session.upload_id, "sasac", number, data)
    assert reason_of(lambda: uploads.complete(session.upload_id, "sasac")) == reason


def test_put_refuses_bad_numbers_sizes_owners_and_sessions(uploads):
    session = uploads.start("sasac")
    put = uploads.put
    assert reason_of(lambda: put(session.upload_id, "sasac", 0, b"0123")) == "part_number"
    assert reason_of(lambda: put(session.upload_id, "sasac", 6, b"0123")) == "part_number"
    assert reason_of(lambda: put(session.upload_id, "sasac", 1, b"")) == "empty_part"
    assert reason_of(lambda: put(session.upload_id, "sasac", 1, b"012345678")) == "part_too_large"
    assert reason_of(lambda: put(session.upload_id, "member", 1, b"0123")) == "not_owner"
    assert reason_of(lambda: put("no-such-id", "sasac", 1, b"0123")) == "unknown_upload"
    assert reason_of(lambda: put(None, "sasac", 1, b"0123")) == "unknown_upload"
    for number in (1, 2):
        put(session.upload_id, "sasac", number, b"01234567")
    put(session.upload_id, "sasac", 3, b"0123")
    assert reason_of(lambda: put(session.upload_id, "sasac", 3, b"01234567")) == "too_large"
    assert session.parts[3] == PartRecord.of(b"0123")  # the refused resend kept the first
    assert reason_of(lambda: put(session.upload_id, "sasac", 4, b"01234567")) == "too_large"
    assert sorted(session.parts) == [1, 2, 3]  # the refused part was not kept


def test_sessions_expire_by_the_fakes_clock():
    clock = Clock()
    uploads = ChunkedUploads(ttl=3600, refuse=refusal, clock=clock)
    session = uploads.start("sasac")
    uploads.put(session.upload_id, "sasac", 1, b"0")
    clock.now += 3600
    assert reason_of(lambda: uploads.put(session.upload_id, "sasac", 2, b"1")) == "expired"
    other = uploads.start("sasac")
    uploads.expire(other.upload_id)
    assert reason_of(lambda: uploads.complete(other.upload_id, "sasac")) == "expired"


def test_first_part_zero_and_the_default_refusal():
    uploads = ChunkedUploads(first_part=0)
    session = uploads.start("sasac", prefix="@")
    assert session.upload_id.startswith("@") and uploads[session.upload_id] is session
    uploads.put(session.upload_id, "sasac", 0, b"x")
    assert uploads.complete(session.upload_id, "sasac").size == 1
    with pytest.raises(Refuse) as info:
        uploads.complete("nope", "sasac")
    assert info.value.response.status_code == 400
    assert list(uploads) == [session.upload_id] and len(uploads) == 1


def test_parts_from_many_threads_are_all_kept():
    uploads = ChunkedUploads()
    session = uploads.start("sasac")
    threads = [threading.Thread(target=uploads.put, args=(session.upload_id, "sasac", n, b"x" * n))
               for n in range(1, 65)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert uploads.complete(session.upload_id, "sasac").size == sum(range(1, 65))
