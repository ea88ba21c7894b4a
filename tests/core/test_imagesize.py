"""Image dimensions read from the first bytes, for photo limits checked before sending."""

import struct

import pytest

from govmedia._imagesize import image_size
from govmedia.testing.samples import CHART_PNG, COVER_JPEG


def png(width, height):
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", width, height) + bytes(5)


def jpeg(width, height, *, exif=0):
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + bytes(exif) if exif else b""
    sof = b"\xff\xc2" + struct.pack(">HBHHB", 11, 8, height, width, 3)
    return b"\xff\xd8" + app1 + b"\xff\xdb\x00\x04\x00\x00" + sof + b"\xff\xda\x00\x02"


def webp_vp8x(width, height):
    body = b"VP8X" + struct.pack("<I", 10) + bytes(4)
    body += (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    return b"RIFF" + struct.pack("<I", len(body) + 4) + b"WEBP" + body


def webp_lossless(width, height):
    bits = (width - 1) | ((height - 1) << 14)
    return b"RIFF\x00\x00\x00\x00WEBPVP8L" + bytes(4) + b"\x2f" + bits.to_bytes(4, "little")


def webp_lossy(width, height):
    return (b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(4) + bytes(3) + b"\x9d\x01\x2a"
            + struct.pack("<HH", width, height))


def bmp(width, height):
    return b"BM" + bytes(12) + struct.pack("<I", 40) + struct.pack("<ii", width, height)


@pytest.mark.parametrize(("data", "size"), [
    (png(9000, 1001), (9000, 1001)),
    (b"GIF89a" + struct.pack("<HH", 320, 240), (320, 240)),
    (b"GIF87a" + struct.pack("<HH", 1, 2), (1, 2)),
    (bmp(800, -600), (800, 600)),  # a top-down bitmap stores a negative height
    (b"BM" + bytes(12) + struct.pack("<IHH", 12, 64, 48) + bytes(4), (64, 48)),
    (webp_vp8x(4000, 3000), (4000, 3000)),
    (webp_lossless(640, 360), (640, 360)),
    (webp_lossy(1280, 720), (1280, 720)),
    (jpeg(1920, 1080), (1920, 1080)),
    (jpeg(100, 2100, exif=60_000), (100, 2100)),  # the SOF after a big EXIF block
])
def test_sizes_of_each_format(data, size):
    assert image_size(data) == size


def test_the_samples():
    assert image_size(CHART_PNG) == (64, 36)
    assert image_size(COVER_JPEG) == (64, 36)


@pytest.mark.parametrize("data", [
    b"", b"not an image", b"\x89PNG\r\n\x1a\n", jpeg(10, 10)[:12],
    b"\xff\xd8\xff\xda\x00\x02",  # scan data before any frame header
    b"\xff\xd8\x00\x00", b"RIFF\x00\x00\x00\x00WAVEfmt ", b"RIFF\x00\x00\x00\x00WEBPVP8Z",
])
def test_unknown_is_none_never_zero(data):
    assert image_size(data) is None
