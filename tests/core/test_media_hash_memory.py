"""Hashing a post's content never holds a whole video in memory."""

import hashlib
import tracemalloc

import govmedia as gm


def test_a_path_medias_bytes_are_hashed_as_they_are_read(tmp_path):
    path = tmp_path / "video.mp4"
    with path.open("wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42")
        f.truncate(64 * 1024 * 1024)  # sparse: 64 MB of zeros after the header
    post = gm.Post(title="一带一路看国企", media=[gm.Media.from_path(path)])
    tracemalloc.start()
    try:
        digest = post.content_hash
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024 * 1024  # read whole, the file alone is 64 MB
    with path.open("r+b") as f:  # one byte changed in place: same path, same size
        f.seek(1000)
        f.write(b"\x01")
    changed = gm.Post(title="一带一路看国企", media=[gm.Media.from_path(path)])
    assert changed.content_hash != digest  # the bytes themselves are bound
    assert len(digest) == len(hashlib.sha256().hexdigest())
