"""Tell an image's or a video's format from its first bytes (platforms and fakes both need it)."""

from __future__ import annotations

__all__ = ["VIDEO_HEAD", "image_type", "video_type"]

VIDEO_HEAD = 512
"""How many leading bytes `video_type` wants (Matroska's doctype, MPEG-TS's second packet)."""

_TS_PACKET = 188


def image_type(head: bytes) -> str | None:
    r"""``jpeg``, ``png``, ``gif`` or ``bmp`` from a file's first bytes, else ``None``.

    Example:
        >>> image_type(b"\x89PNG\r\n\x1a\n....")
        'png'
    """
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head.startswith(b"BM"):
        return "bmp"
    return None


def video_type(head: bytes) -> str | None:
    r"""The container of a video from its first bytes (`VIDEO_HEAD` of them), else ``None``.

    ``mp4`` (any ISO-BMFF ``ftyp`` brand but QuickTime's and 3GPP's), ``mov``,
    ``3gp``, ``webm``, ``mkv``, ``flv``, ``avi``, ``mpeg`` (program stream),
    ``ts`` or ``wmv``. Only the container is told, never the codecs inside.

    Example:
        >>> video_type(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41")
        'mp4'
        >>> video_type(b"\xff\xd8\xff\xe0 a JPEG named .mp4") is None
        True
    """
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "mov"
        return "3gp" if brand.startswith(b"3g") else "mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "webm" if b"webm" in head[:64] else "mkv"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    found = next((kind for magic, kind in _VIDEO_MAGIC if head.startswith(magic)), None)
    if found is None and len(head) > _TS_PACKET and head[0] == head[_TS_PACKET] == 0x47:
        return "ts"
    return found


_VIDEO_MAGIC = ((b"FLV\x01", "flv"), (b"\x00\x00\x01\xba", "mpeg"),
                (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "wmv"))
