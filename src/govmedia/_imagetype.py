"""Tell an image's format from its first bytes (the platform and its fake both need it)."""

from __future__ import annotations

__all__ = ["image_type"]


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
