r"""An image's width and height from its first bytes, without an imaging library.

Platforms limit photo dimensions (Telegram: width + height at most 10,000,
aspect ratio at most 20); `check` wants to say so before anything is sent,
and Pillow is not a dependency. PNG, GIF, BMP and WebP keep their size in a
fixed header; a JPEG keeps it in its first SOF segment, after any EXIF or
ICC data, so the caller hands in a generous prefix (`PREFIX_SIZE`). Anything
else, or a size not found in the bytes given, is ``None``: unknown, not
zero.

Example:
    >>> import struct
    >>> png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 640, 360)
    >>> image_size(png)
    (640, 360)
    >>> image_size(b"not an image") is None
    True
"""

from __future__ import annotations

import struct

__all__ = ["PREFIX_SIZE", "image_size"]

#: Bytes worth reading for `image_size`: a JPEG's SOF may follow a large EXIF block.
PREFIX_SIZE = 256 * 1024

# JPEG start-of-frame markers (baseline, progressive, lossless, ...); C4, C8
# and CC are other segments that share the range.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length field.
_STANDALONE = frozenset((0x01, *range(0xD0, 0xD8)))


def _jpeg(data: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if pos + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker == 0xDA:  # start of scan: no SOF before it
            return None
        pos += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _gif(data: bytes) -> tuple[int, int] | None:
    if len(data) < 10:
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) < 26:
        return None
    if data[14:18] == b"\x0c\x00\x00\x00":  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", data[18:22])
        return width, height
    width, height = struct.unpack("<ii", data[18:26])
    return abs(width), abs(height)  # a negative height: stored top-down


def _riff(data: bytes) -> tuple[int, int] | None:
    return _webp(data) if data[8:12] == b"WEBP" else None


_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", _png), (b"GIF87a", _gif), (b"GIF89a", _gif), (b"BM", _bmp),
    (b"RIFF", _riff), (b"\xff\xd8", _jpeg),
)


def image_size(data: bytes) -> tuple[int, int] | None:
    r"""``(width, height)`` of a PNG, GIF, BMP, WebP or JPEG from its first bytes, else ``None``.

    Example:
        >>> gif = b"GIF89a" + (320).to_bytes(2, "little") + (240).to_bytes(2, "little")
        >>> image_size(gif)
        (320, 240)
        >>> image_size(b"\xff\xd8\xff\xc0\x00\x11\x08\x02\xd0\x05\x00\x03")  # SOF0: 1280x720
        (1280, 720)
    """
    for signature, read in _SIGNATURES:
        if data.startswith(signature):
            size = read(data)
            # A header saying 0x0 is a broken file, not a size to check limits against.
            return size if size is not None and min(size) > 0 else None
    return None
