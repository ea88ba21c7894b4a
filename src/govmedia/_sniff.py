r"""Tell a media file's format from its first bytes, never from its name.

A name says what a file claims to be; the first bytes say what it is. A
``chart.png`` that is a link to ``/etc/passwd`` and a URL ending in ``#.png``
that answers with cloud metadata both claim to be images; neither starts
with an image signature. `sniff` reads at most `HEAD_SIZE` bytes.

Containers that hold either sound or pictures (MP4, Matroska/WebM, Ogg, ASF)
fit both ``video`` and ``audio``; `Sniffed.kinds` lists every kind a format
may carry, and a declared kind matches when it is one of them.

Example:
    >>> sniff(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    Sniffed(format='png', mime_type='image/png', kinds=frozenset({'image'}))
    >>> sniff(b"root:x:0:0:root:/root:/bin/bash") is None
    True
"""

from __future__ import annotations

import struct

import attrs

__all__ = ["HEAD_SIZE", "Sniffed", "image_type", "kind_of", "sniff", "video_type"]

#: How many leading bytes `sniff` looks at (enough for an ISO-BMFF brand or an EBML DocType).
HEAD_SIZE = 64

_IMAGE = frozenset({"image"})
_VIDEO = frozenset({"video"})
_AUDIO = frozenset({"audio"})
_EITHER = frozenset({"video", "audio"})
_FILE = frozenset({"file"})


@attrs.frozen
class Sniffed:
    r"""What the first bytes of a file are.

    Attributes:
        format: a short name (``jpeg``, ``png``, ``mp4``, ``webm``, ``mp3`` ...).
        mime_type: the MIME type that format is sent as.
        kinds: the `Media.kind` values this format can be (``image``,
            ``video``, ``audio`` or ``file``).

    Example:
        >>> sniff(b"OggS\x00\x02" + bytes(22) + b"\x01vorbis").kind
        'audio'
    """

    format: str
    mime_type: str
    kinds: frozenset[str]

    @property
    def description(self) -> str:
        r"""What the file is, in words for a message: ``a PDF document``, ``a JPEG image`` ...

        Example:
            >>> sniff(b"%PDF-1.7\n").description
            'a PDF document'
        """
        return _DESCRIPTIONS.get(self.format, f"a {self.format} file")

    @property
    def kind(self) -> str:
        """The most likely kind: ``video`` for a container that may be either."""
        return "video" if "video" in self.kinds else next(iter(sorted(self.kinds)))

    def fits(self, kind: str) -> bool:
        r"""True when a file declared as *kind* may have these bytes.

        Example:
            >>> sniff(b"\x1aE\xdf\xa3" + b"\x42\x82\x84webm").fits("audio")
            True
        """
        return kind in self.kinds


_DESCRIPTIONS = {
    "jpeg": "a JPEG image", "png": "a PNG image", "gif": "a GIF image", "bmp": "a BMP image",
    "webp": "a WebP image", "tiff": "a TIFF image", "heic": "a HEIC image", "heif": "a HEIF image",
    "avif": "an AVIF image", "jxl": "a JPEG XL image",
    "mp4": "an MP4 video", "mov": "a QuickTime video", "3gp": "a 3GP video", "webm": "a WebM video",
    "mkv": "a Matroska video", "avi": "an AVI video", "flv": "a Flash video", "mpeg": "an MPEG video",
    "ogv": "an Ogg video", "asf": "a Windows Media file",
    "mp3": "an MP3 sound file", "aac": "an AAC sound file", "m4a": "an M4A sound file",
    "ogg": "an Ogg sound file", "wav": "a WAV sound file", "aiff": "an AIFF sound file",
    "amr": "an AMR voice recording", "flac": "a FLAC sound file",
    "pdf": "a PDF document",
}


def _s(fmt: str, mime: str, kinds: frozenset[str]) -> Sniffed:
    return Sniffed(format=fmt, mime_type=mime, kinds=kinds)


# ISO base media (MP4, QuickTime, 3GP, HEIF): the major brand after "ftyp".
_BRANDS: dict[bytes, Sniffed] = {
    **dict.fromkeys((b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "), _s("m4a", "audio/mp4", _AUDIO)),
    **dict.fromkeys((b"heic", b"heix", b"heim", b"heis"), _s("heic", "image/heic", _IMAGE)),
    **dict.fromkeys((b"mif1", b"msf1"), _s("heif", "image/heif", _IMAGE)),
    **dict.fromkeys((b"avif", b"avis"), _s("avif", "image/avif", _IMAGE)),
    b"qt  ": _s("mov", "video/quicktime", _EITHER),
}
_QUICKTIME_ATOMS = (b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot")


def _iso_media(head: bytes) -> Sniffed | None:
    if len(head) < 12:
        return None
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _BRANDS:
            return _BRANDS[brand]
        if brand.startswith(b"3g"):
            return _s("3gp", "video/3gpp", _EITHER)
        return _s("mp4", "video/mp4", _EITHER) if brand.isalnum() or b" " in brand else None
    if head[4:8] in _QUICKTIME_ATOMS and struct.unpack(">I", head[:4])[0] >= 8:
        return _s("mov", "video/quicktime", _EITHER)
    return None


def _riff(head: bytes) -> Sniffed | None:
    forms = {b"WEBP": _s("webp", "image/webp", _IMAGE), b"WAVE": _s("wav", "audio/wav", _AUDIO),
             b"AVI ": _s("avi", "video/x-msvideo", _VIDEO)}
    return forms.get(head[8:12]) if head.startswith(b"RIFF") else None


def _aiff(head: bytes) -> Sniffed | None:
    if head.startswith(b"FORM") and head[8:12] in (b"AIFF", b"AIFC"):
        return _s("aiff", "audio/aiff", _AUDIO)
    return None


def _bmp(head: bytes) -> Sniffed | None:
    # "BM" alone is two letters any text may start with: also require the
    # reserved words to be zero and a known DIB header size.
    if not head.startswith(b"BM") or len(head) < 18:
        return None
    header = struct.unpack("<I", head[14:18])[0]
    if head[6:10] == b"\x00\x00\x00\x00" and header in (12, 40, 52, 56, 64, 108, 124):
        return _s("bmp", "image/bmp", _IMAGE)
    return None


def _mpeg_audio(head: bytes) -> Sniffed | None:
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    layer = (head[1] >> 1) & 0b11
    if layer == 0:  # ADTS: MPEG-4 AAC in a frame stream
        return _s("aac", "audio/aac", _AUDIO) if head[1] & 0b0110 == 0 else None
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 0b11
    if (head[1] >> 3) & 0b11 == 1 or bitrate in (0, 15) or rate == 3:
        return None  # reserved version, free/bad bitrate or bad sample rate: no frame
    return _s("mp3", "audio/mpeg", _AUDIO)


def _ogg(head: bytes) -> Sniffed | None:
    if not head.startswith(b"OggS"):
        return None
    if b"\x80theora" in head:
        return _s("ogv", "video/ogg", _EITHER)
    return _s("ogg", "audio/ogg", _AUDIO)


def _ebml(head: bytes) -> Sniffed | None:
    if not head.startswith(b"\x1aE\xdf\xa3"):
        return None
    if b"webm" in head:
        return _s("webm", "video/webm", _EITHER)
    return _s("mkv", "video/x-matroska", _EITHER)


# Signatures checked in order: (prefix, result or a function of the head).
_PREFIXES: tuple[tuple[bytes, Sniffed], ...] = (
    (b"\xff\xd8\xff", _s("jpeg", "image/jpeg", _IMAGE)),
    (b"\x89PNG\r\n\x1a\n", _s("png", "image/png", _IMAGE)),
    (b"GIF87a", _s("gif", "image/gif", _IMAGE)),
    (b"GIF89a", _s("gif", "image/gif", _IMAGE)),
    (b"II*\x00", _s("tiff", "image/tiff", _IMAGE)),
    (b"MM\x00*", _s("tiff", "image/tiff", _IMAGE)),
    (b"\xff\x0a", _s("jxl", "image/jxl", _IMAGE)),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", _s("jxl", "image/jxl", _IMAGE)),
    (b"ID3", _s("mp3", "audio/mpeg", _AUDIO)),
    (b"#!AMR-WB\n", _s("amr", "audio/amr-wb", _AUDIO)),
    (b"#!AMR\n", _s("amr", "audio/amr", _AUDIO)),
    (b"fLaC", _s("flac", "audio/flac", _AUDIO)),
    (b"FLV\x01", _s("flv", "video/x-flv", _VIDEO)),
    (b"\x00\x00\x01\xba", _s("mpeg", "video/mpeg", _VIDEO)),
    (b"0&\xb2u\x8ef\xcf\x11", _s("asf", "video/x-ms-asf", _EITHER)),
    (b"%PDF-", _s("pdf", "application/pdf", _FILE)),
)


def sniff(head: bytes) -> Sniffed | None:
    r"""The format of a file from its first bytes (`HEAD_SIZE` are enough), else ``None``.

    Recognised: images jpeg, png, gif, bmp, webp, tiff, heic/heif, avif, jxl;
    video mp4, mov, 3gp, webm, mkv, avi, flv, mpeg, ogv, asf; audio mp3, aac,
    m4a, ogg, wav, amr, flac; and pdf. SVG and other text formats are never
    recognised: text has no signature to trust.

    Example:
        >>> sniff(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00").mime_type
        'video/mp4'
        >>> sniff(b"#!AMR\n<...>").format
        'amr'
    """
    head = bytes(head[:HEAD_SIZE])
    for prefix, result in _PREFIXES:
        if head.startswith(prefix):
            return result
    for test in (_bmp, _riff, _aiff, _ogg, _ebml, _iso_media, _mpeg_audio):
        found = test(head)
        if found is not None:
            return found
    return None


_IMAGE_TYPES = frozenset({"jpeg", "png", "gif", "bmp", "webp"})


def image_type(head: bytes) -> str | None:
    r"""``jpeg``, ``png``, ``gif``, ``bmp`` or ``webp`` from a file's first bytes, else ``None``.

    Example:
        >>> image_type(b"\x89PNG\r\n\x1a\n....")
        'png'
        >>> image_type(b"BMW annual report") is None
        True
    """
    found = sniff(head)
    return found.format if found is not None and found.format in _IMAGE_TYPES else None


def video_type(head: bytes) -> str | None:
    r"""The container of a video (``mp4``, ``mov``, ``webm``...) from its first bytes, else ``None``.

    Only the container is told, never the codecs inside.

    Example:
        >>> video_type(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41")
        'mp4'
        >>> video_type(b"\xff\xd8\xff\xe0 a JPEG named .mp4") is None
        True
    """
    found = sniff(head)
    return found.format if found is not None and "video" in found.kinds else None


def kind_of(mime_type: str) -> str:
    """``image``, ``video``, ``audio`` or ``file`` for a MIME type (as `Media.kind` says).

    Example:
        >>> kind_of("image/png"), kind_of("application/pdf")
        ('image', 'file')
    """
    major = mime_type.split("/", 1)[0].strip().lower()
    return major if major in ("image", "video", "audio") else "file"
