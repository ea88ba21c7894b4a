"""`media_size`, `media_head` and `media_fingerprint`: what uploads ask of a media file."""

import os

import govmedia as gm
from govmedia.content.media import media_fingerprint, media_head, media_size
from govmedia.testing.samples import CLIP_MP4


def test_size_and_head_of_bytes_a_file_and_a_url(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(CLIP_MP4)
    on_disk = gm.Media.from_path(path)
    in_memory = gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4")
    remote = gm.Media.from_url("https://cdn.example/clip.mp4")
    assert media_size(on_disk) == media_size(in_memory) == len(CLIP_MP4)
    assert media_head(on_disk, 12) == media_head(in_memory, 12) == CLIP_MP4[:12]
    assert media_size(remote) is None and media_head(remote) is None


def test_a_file_is_asked_again_not_trusted_from_when_it_was_attached(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(CLIP_MP4)
    media = gm.Media.from_path(path)
    path.write_bytes(CLIP_MP4 + bytes(100))            # grew since it was attached
    assert media_size(media) == len(CLIP_MP4) + 100
    path.unlink()                                       # gone: unknown, never an error
    assert media_size(media) is None and media_head(media) == b"" and media_fingerprint(media) == ""


def test_fingerprint_tells_a_changed_file_from_the_same_one(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(CLIP_MP4)
    media = gm.Media.from_path(path)
    first = media_fingerprint(media)
    assert media_fingerprint(gm.Media.from_path(path)) == first        # the same file
    path.write_bytes(CLIP_MP4[:-1] + b"\x01")                           # same size, new bytes
    os.utime(path, ns=(1, 1))
    assert media_fingerprint(media) != first
    same = gm.Media.from_bytes(CLIP_MP4, filename="a.mp4")
    assert media_fingerprint(same) == media_fingerprint(gm.Media.from_bytes(CLIP_MP4, filename="b.mp4"))
    assert media_fingerprint(same) != media_fingerprint(gm.Media.from_bytes(CLIP_MP4[:-1], filename="a.mp4"))
