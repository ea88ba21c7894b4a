"""Image sizes and video facts read from headers only, never guessed, never the whole file."""

import struct

import pytest

import govmedia as gm
from govmedia._imagesize import image_size
from govmedia._mediainfo import video_info
from govmedia.testing.samples import CHART_PNG, COVER_JPEG, sample_image, sample_video


def box(kind, payload):
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def test_image_sizes_of_each_format():
    assert image_size(COVER_JPEG) == (64, 36)
    assert image_size(CHART_PNG) == (64, 36)
    assert image_size(sample_image(1146, 717)) == (1146, 717)
    assert image_size(b"GIF89a" + struct.pack("<HH", 960, 600) + bytes(8)) == (960, 600)
    bmp = b"BM" + bytes(16) + struct.pack("<ii", 1200, -800) + bytes(4)  # top-down rows
    assert image_size(bmp) == (1200, 800)


def test_a_jpeg_frame_header_after_a_large_exif_segment_is_found():
    exif = b"\xff\xe1" + struct.pack(">H", 60_002) + bytes(60_000)
    jpeg = COVER_JPEG[:2] + exif + COVER_JPEG[2:]
    assert image_size(jpeg) == (64, 36)


@pytest.mark.parametrize("data", [b"", b"not an image", b"\xff\xd8\xff\xe0\x00\x01", COVER_JPEG[:40],
                                  b"\x89PNG\r\n\x1a\n" + bytes(4) + b"IHDR" + bytes(8)])
def test_unreadable_or_cut_images_have_no_size(data):
    assert image_size(data) is None


def test_mp4_duration_and_size_from_its_boxes():
    info = video_info(gm.Media.from_bytes(sample_video(7200.5, width=3840, height=2160), filename="v.mp4"))
    assert (info.container, info.duration, info.width, info.height) == ("mp4", 7200.5, 3840, 2160)
    assert info.bitrate == pytest.approx(info.size * 8 / 7200.5)


def test_a_moov_after_a_large_mdat_is_reached_by_seeking(tmp_path):
    # A camera's file: the index at the end, after gigabytes of media data (sparse here).
    path = tmp_path / "camera.mp4"
    head = box(b"ftyp", b"isom" + bytes(4))
    mdat_size = 3 * 1024**3
    moov = box(b"moov", box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 600, 600 * 95) + bytes(80)))
    with path.open("wb") as f:
        f.write(head)
        f.write(struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", mdat_size))  # a 64-bit size
        f.seek(len(head) + mdat_size)
        f.write(moov)
    info = video_info(gm.Media.from_path(path))
    assert info.duration == 95.0 and info.size == len(head) + mdat_size + len(moov)
    assert info.width is None  # no track header: unknown, not 0


def test_mp4_version_1_times_and_unknown_duration():
    mvhd1 = box(b"mvhd", b"\x01" + bytes(3) + bytes(16) + struct.pack(">IQ", 90000, 90000 * 30) + bytes(80))
    data = box(b"ftyp", b"mp42" + bytes(4)) + box(b"moov", mvhd1)
    assert video_info(gm.Media.from_bytes(data, filename="v.mp4")).duration == 30.0
    unknown = box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, 0xFFFFFFFF) + bytes(80))
    data = box(b"ftyp", b"mp42" + bytes(4)) + box(b"moov", unknown)
    assert video_info(gm.Media.from_bytes(data, filename="v.mp4")).duration is None


def test_a_box_claiming_more_than_the_file_stops_the_walk():
    data = box(b"ftyp", b"mp42" + bytes(4)) + struct.pack(">I", 10**9) + b"moov" + bytes(40)
    info = video_info(gm.Media.from_bytes(data, filename="v.mp4"))
    assert info.container == "mp4" and info.duration is None


def test_flv_metadata():
    def amf_number(name, value):
        return struct.pack(">H", len(name)) + name + b"\x00" + struct.pack(">d", value)

    meta = b"\x02\x00\x0aonMetaData\x08" + struct.pack(">I", 3) + amf_number(b"duration", 18001.0) \
        + amf_number(b"width", 1280.0) + amf_number(b"height", 720.0) + b"\x00\x00\x09"
    data = b"FLV\x01\x05" + struct.pack(">I", 9) + bytes(4) + b"\x12" + bytes(10) + meta
    info = video_info(gm.Media.from_bytes(data, filename="v.flv"))
    assert (info.container, info.duration, info.width, info.height) == ("flv", 18001.0, 1280, 720)


def test_other_files_and_urls():
    assert video_info(gm.Media.from_bytes(b"RIFF" + bytes(40), filename="v.avi")).container is None
    assert video_info(gm.Media.from_url("https://cdn.example/v.mp4")) is None
