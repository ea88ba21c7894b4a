"""One part of a big file as a multipart/form-data body, with the part's bytes in memory once.

Chunked upload APIs (Douyin's ``upload_video_part``, Kuaishou's, Bilibili's)
take each part as a multipart file field. Built the usual way (read the part,
hand it to httpx as ``files=``), the part is held twice while it is sent:
once as read, once in the encoded body the client keeps to resend it byte for
byte. `multipart_part` reads the part from disk in pieces straight into the
body, so a 20 MB part costs 20 MB.
"""

from __future__ import annotations

import io
import pathlib
import secrets

from govmedia.errors import ConfigError
from govmedia.model import Media

__all__ = ["multipart_part"]

_PIECE = 1024 * 1024
# The HTML5 form encoding of a name or file name in Content-Disposition (as httpx does it).
_ESCAPES = {ord('"'): "%22", ord("\\"): "\\\\", ord("\r"): "%0D", ord("\n"): "%0A"}


def multipart_part(
    media: Media, offset: int, size: int, *, field: str, filename: str | None = None,
    mime_type: str | None = None,
) -> tuple[bytes, str]:
    r"""``(body, content type)``: bytes ``offset`` to ``offset + size`` of *media* as file *field*.

    The body is one form field with a file name and content type, as httpx
    would encode ``files={field: (filename, part, mime_type)}``. A file is
    read from disk in 1 MB pieces; bytes in memory are sliced without a copy.
    A file that ends before ``offset + size`` (it changed since the upload
    began) is a `ConfigError`: a part is never sent short.

    Example:
        >>> import govmedia as gm
        >>> body, kind = multipart_part(gm.Media.from_bytes(b"0123456789", filename="v.mp4"), 4, 3,
        ...                             field="video")
        >>> kind.startswith("multipart/form-data; boundary="), body.count(b"456")
        (True, 1)
        >>> b'name="video"; filename="v.mp4"\r\nContent-Type: video/mp4\r\n\r\n456\r\n' in body
        True
    """
    if offset < 0 or size < 0:
        raise ValueError("offset and size must not be negative")
    boundary = secrets.token_hex(16)
    name = (filename or media.filename).translate(_ESCAPES)
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field.translate(_ESCAPES)}"; '
            f'filename="{name}"\r\nContent-Type: {mime_type or media.mime_type}\r\n\r\n')
    body = io.BytesIO()
    body.write(head.encode("utf-8"))
    if media.data is not None:
        left = size - body.write(memoryview(media.data)[offset:offset + size])
    elif media.path is not None:
        with pathlib.Path(media.path).open("rb") as stream:
            stream.seek(offset)
            left = size
            while left > 0:
                piece = stream.read(min(_PIECE, left))
                if not piece:
                    break
                body.write(piece)
                left -= len(piece)
    else:
        raise ConfigError(f"{media.filename}: URL media must be fetched first")
    if left:
        raise ConfigError(f"{media.filename} ended {left:,} bytes before the part it was cut into: "
                          "the file changed while it was being sent")
    body.write(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"
