"""`multipart_part`: one part of a big file as a multipart body, its bytes in memory once."""

import tracemalloc

import httpx
import pytest

import govmedia as gm
from govmedia.platforms._parts import multipart_part
from govmedia.testing import parse_multipart

MB = 1024 * 1024


def parts_of(body, kind):
    return parse_multipart(httpx.Request("POST", "https://x.test/", content=body,
                                         headers={"Content-Type": kind}))


@pytest.mark.parametrize("source", ["path", "bytes"])
def test_the_body_is_the_part_as_a_file_field(tmp_path, source):
    data = bytes(range(256)) * 40
    if source == "path":
        (tmp_path / "v.mp4").write_bytes(data)
        media = gm.Media.from_path(tmp_path / "v.mp4")
    else:
        media = gm.Media.from_bytes(data, filename="v.mp4")
    body, kind = multipart_part(media, 1000, 5000, field="video")
    [part] = parts_of(body, kind).parts
    assert (part.name, part.filename, part.content_type) == ("video", "v.mp4", "video/mp4")
    assert part.data == data[1000:6000]


def test_names_are_escaped_as_html5_forms_do():
    media = gm.Media.from_bytes(b"x", filename='a"b\r\n.mp4', mime_type="video/mp4")
    body, kind = multipart_part(media, 0, 1, field="video", filename='视频"1".mp4')
    assert b'filename="\xe8\xa7\x86\xe9\xa2\x91%221%22.mp4"' in body
    assert parts_of(body, kind)["video"].data == b"x"


def test_a_file_that_shrank_is_refused_not_sent_short(tmp_path):
    (tmp_path / "v.mp4").write_bytes(b"0123456789")
    media = gm.Media.from_path(tmp_path / "v.mp4")
    (tmp_path / "v.mp4").write_bytes(b"01234")
    with pytest.raises(gm.ConfigError, match="changed while it was being sent"):
        multipart_part(media, 0, 10, field="video")
    with pytest.raises(gm.ConfigError, match="URL media"):
        multipart_part(gm.Media.from_url("https://x.example/v.mp4"), 0, 1, field="video")


def test_a_part_of_a_big_file_is_in_memory_once(tmp_path):
    video = tmp_path / "big.mp4"
    with video.open("wb") as f:
        f.truncate(64 * MB)
    media = gm.Media.from_path(video)
    tracemalloc.start()
    try:
        body, _ = multipart_part(media, 32 * MB, 16 * MB, field="video")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(body) > 16 * MB
    assert peak < 16 * MB * 1.3  # the body, a 1 MB piece and the buffer's growth; never two parts
