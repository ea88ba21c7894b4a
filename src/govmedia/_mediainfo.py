"""What a video's own headers say: its container, length and size (images: `govmedia._imagesize`).

Platforms check covers and videos before uploading them (Bilibili wants a
cover of at least 960x600 and a video under five hours); these readers get
the facts from the file's headers alone, never decoding it and never holding
more than a few kilobytes of a video in memory: an MP4 is walked box by box
with seeks (its ``moov`` may sit at the end of a 4 GB file), an FLV's
``onMetaData`` is read from its first tag. Anything they cannot read is
``None``, never a guess.

Example:
    >>> from govmedia._mediainfo import video_info
    >>> from govmedia.testing.samples import CLIP_MP4
    >>> import govmedia as gm
    >>> video_info(gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4")).container
    'mp4'
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

__all__ = ["VideoInfo", "video_info"]

_FLV_HEAD = 64 * 1024     # onMetaData is the first tag
_BOX_DEPTH = 3            # moov > trak > tkhd is as deep as we go
_MAX_BOXES = 10_000       # a hostile file of tiny boxes ends the walk, not the process


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
