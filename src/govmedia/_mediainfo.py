"""What a media file's own headers say: image dimensions, a video's container, length and size.

Platforms check covers and videos before uploading them (Bilibili wants a
cover of at least 960x600 and a video under five hours); these readers get
the facts from the file's headers alone, never decoding it and never holding
more than a few kilobytes of a video in memory: an MP4 is walked box by box
with seeks (its ``moov`` may sit at the end of a 4 GB file), an FLV's
``onMetaData`` is read from its first tag. Anything they cannot read is
``None``, never a guess.

Example:
    >>> from govmedia._mediainfo import image_size
    >>> from govmedia.testing.samples import COVER_JPEG
    >>> image_size(COVER_JPEG)
    (64, 36)
"""

from __future__ import annotations

import io
import math
import pathlib
import struct
from collections.abc import Iterator
from typing import BinaryIO

import attrs

from govmedia.model import Media

__all__ = ["VideoInfo", "image_size", "video_info"]

_IMAGE_HEAD = 256 * 1024  # a JPEG's frame header follows its EXIF and ICC segments
_FLV_HEAD = 64 * 1024     # onMetaData is the first tag
_BOX_DEPTH = 3            # moov > trak > tkhd is as deep as we go
_MAX_BOXES = 10_000       # a hostile file of tiny boxes ends the walk, not the process


def image_size(data: bytes) -> tuple[int, int] | None:
    r"""``(width, height)`` of a JPEG, PNG, GIF or BMP from its first bytes; ``None`` if unknown.

    Give at least the first 256 KB of a JPEG (its size sits after the EXIF
    and colour-profile segments); 32 bytes are enough for the others.

    Example:
        >>> from govmedia._mediainfo import image_size
        >>> from govmedia.testing.samples import CHART_PNG
        >>> image_size(CHART_PNG), image_size(b"not an image")
        ((64, 36), None)
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n") and data[12:16] == b"IHDR" and len(data) >= 24:
        return _positive(*struct.unpack(">II", data[16:24]))
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return _positive(*struct.unpack("<HH", data[6:10]))
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return _positive(width, abs(height))  # a negative height means top-down rows
    if data.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    return None


def _positive(width: int, height: int) -> tuple[int, int] | None:
    return (width, height) if width > 0 and height > 0 else None


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # no length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if length < 2:
            return None
        if marker in _SOF:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return _positive(width, height)
        if marker == 0xDA:  # the scan starts: no frame header before it
            return None
        i += 2 + length
    return None


@attrs.frozen
class VideoInfo:
    """What a video's headers say.

    Attributes:
        container: ``mp4`` (ISO BMFF: mp4, mov, m4v, 3gp) or ``flv``; ``None`` if neither.
        size: bytes.
        duration: seconds, ``None`` when the headers do not say.
        width: the widest video track's width in pixels, ``None`` when unknown.
        height: its height.

    Example:
        >>> from govmedia._mediainfo import VideoInfo
        >>> VideoInfo("mp4", size=75_000_000, duration=10.0).bitrate
        60000000.0
    """

    container: str | None
    size: int = attrs.field(kw_only=True)
    duration: float | None = attrs.field(default=None, kw_only=True)
    width: int | None = attrs.field(default=None, kw_only=True)
    height: int | None = attrs.field(default=None, kw_only=True)

    @property
    def bitrate(self) -> float | None:
        """Average bits per second over the whole file, where the duration is known."""
        if not self.duration:
            return None
        return self.size * 8 / self.duration


def video_info(media: Media) -> VideoInfo | None:
    r"""The container, size, duration and dimensions of a local video; ``None`` if unreadable.

    Reads only headers (seeking through an MP4's boxes), so a 4 GB file costs
    a few kilobytes of reads. A URL media is not fetched: ``None``.

    Example:
        >>> import govmedia as gm
        >>> from govmedia._mediainfo import video_info
        >>> video_info(gm.Media.from_bytes(b"FLV\x01\x05" + bytes(20), filename="a.flv"))
        VideoInfo(container='flv', size=25, duration=None, width=None, height=None)
    """
    try:
        stream = _open(media)
    except OSError:
        return None
    if stream is None:
        return None
    with stream:
        try:
            stream.seek(0, io.SEEK_END)
            size = stream.tell()
            stream.seek(0)
            head = stream.read(12)
            if head[4:8] == b"ftyp":
                return _mp4(stream, size)
            if head.startswith(b"FLV"):
                stream.seek(0)
                return _flv(stream.read(_FLV_HEAD), size)
        except (OSError, struct.error, ValueError, OverflowError):
            return None
        return VideoInfo(None, size=size)


def _open(media: Media) -> BinaryIO | None:
    if media.data is not None:
        return io.BytesIO(media.data)
    if media.path is not None:
        return pathlib.Path(media.path).open("rb")
    return None


def _boxes(stream: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """``(type, payload start, box end)`` of each ISO BMFF box between *start* and *end*."""
    offset = start
    seen = 0
    while offset + 8 <= end and seen < _MAX_BOXES:
        seen += 1
        stream.seek(offset)
        header = stream.read(16)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header[:8])
        payload = offset + 8
        if size == 1:  # a 64-bit size follows the type
            if len(header) < 16:
                return
            (size,) = struct.unpack(">Q", header[8:16])
            payload = offset + 16
        elif size == 0:  # the box runs to the end of its parent
            size = end - offset
        if size < payload - offset or offset + size > end:
            return  # a box that claims more than there is: stop, do not guess
        yield kind, payload, offset + size
        offset += size


def _mp4(stream: BinaryIO, size: int) -> VideoInfo:
    duration: float | None = None
    width = height = 0
    for kind, payload, end in _boxes(stream, 0, size):
        if kind != b"moov":
            continue
        for inner, start, stop in _boxes(stream, payload, end):
            if inner == b"mvhd":
                duration = _mvhd_duration(stream, start, stop)
            elif inner == b"trak":
                for leaf, lstart, lstop in _boxes(stream, start, stop):
                    if leaf == b"tkhd":
                        w, h = _tkhd_size(stream, lstart, lstop)
                        if w * h > width * height:
                            width, height = w, h
        break
    return VideoInfo("mp4", size=size, duration=duration,
                     width=width or None, height=height or None)


def _mvhd_duration(stream: BinaryIO, start: int, stop: int) -> float | None:
    stream.seek(start)
    body = stream.read(min(stop - start, 32))
    if not body:
        return None
    if body[0] == 1:  # version 1: 64-bit times
        timescale, duration = struct.unpack(">IQ", body[20:32])
    else:
        timescale, duration = struct.unpack(">II", body[12:20])
    if not timescale or duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        return None  # "unknown" as ISO 14496-12 writes it
    return float(duration / timescale)


def _tkhd_size(stream: BinaryIO, start: int, stop: int) -> tuple[int, int]:
    # width and height are the last 8 bytes of the box, 16.16 fixed point
    if stop - start < 8:
        return 0, 0
    stream.seek(stop - 8)
    w, h = struct.unpack(">II", stream.read(8))
    return w >> 16, h >> 16


def _flv(head: bytes, size: int) -> VideoInfo:
    def number(name: bytes) -> float | None:
        # AMF0 in onMetaData: the key as a 2-byte length and its bytes, then
        # type 0 (a number) and a big-endian double.
        key = struct.pack(">H", len(name)) + name + b"\x00"
        at = head.find(key)
        if at < 0 or at + len(key) + 8 > len(head):
            return None
        (value,) = struct.unpack(">d", head[at + len(key):at + len(key) + 8])
        return value if math.isfinite(value) and value > 0 else None

    width, height = number(b"width"), number(b"height")
    return VideoInfo("flv", size=size, duration=number(b"duration"),
                     width=int(width) if width else None, height=int(height) if height else None)
