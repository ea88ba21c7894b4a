"""multipart/form-data bodies with each file's bytes in memory once.

Chunked upload APIs (Douyin's ``upload_video_part``, Facebook's transfer
phase) take each part as a multipart file field, and Telegram takes whole
files so. Built the usual way (read the file, hand it to httpx as
``files=``), the bytes are held twice while they are sent: once as read,
once in the encoded body the client keeps to resend it byte for byte.
`FormBody` writes fields and files into one buffer, a file read from disk in
pieces straight into it, so a 20 MB part costs 20 MB; `multipart_part` is
one byte range of a media as one file field.
"""

from __future__ import annotations

import io
import pathlib
import secrets
from typing import BinaryIO

from govmedia.errors import ConfigError
from govmedia.model import Media

__all__ = ["FormBody", "multipart_part"]

_PIECE = 1024 * 1024
# The HTML5 form encoding of a name or file name in Content-Disposition (as httpx does it).
_ESCAPES = {ord('"'): "%22", ord("\\"): "\\\\", ord("\r"): "%0D", ord("\n"): "%0A"}


class FormBody:
    r"""A multipart/form-data body written into one buffer: text fields and files, then `finish`.

    Example:
        >>> form = FormBody()
        >>> form.field("chat_id", "-1001")
        >>> form.file("photo", filename="a.png", mime_type="image/png", data=b"PNG")
        >>> body, kind = form.finish()
        >>> kind.startswith("multipart/form-data; boundary="), body.count(b"\r\n\r\nPNG\r\n")
        (True, 1)
    """

    def __init__(self) -> None:
        self.boundary = secrets.token_hex(16)
        self._out = io.BytesIO()

    def field(self, name: str, value: str) -> None:
        """A text field."""
        self._out.write(f'--{self.boundary}\r\nContent-Disposition: form-data; '
                        f'name="{name.translate(_ESCAPES)}"\r\n\r\n'.encode())
        self._out.write(value.encode("utf-8") + b"\r\n")

    def file(self, name: str, *, filename: str, mime_type: str, data: bytes | memoryview) -> None:
        """A file field whose bytes are at hand (a memoryview is copied once, into the body)."""
        self._file_head(name, filename, mime_type)
        self._out.write(data)
        self._out.write(b"\r\n")

    def copy(self, name: str, *, filename: str, mime_type: str, stream: BinaryIO, size: int,
             head: bytes = b"") -> int:
        """A file field of *size* bytes: *head* (read already), then the rest from *stream*.

        Reads in 1 MB pieces; returns how many bytes *stream* fell short of
        *size* (0: all there), for the caller to refuse a file that changed.
        """
        self._file_head(name, filename, mime_type)
        self._out.write(head)
        left = size - len(head)
        while left > 0:
            piece = stream.read(min(_PIECE, left))
            if not piece:
                break
            self._out.write(piece)
            left -= len(piece)
        self._out.write(b"\r\n")
        return left

    def finish(self) -> tuple[bytes, str]:
        """``(body, content type)``; the form takes nothing more."""
        self._out.write(f"--{self.boundary}--\r\n".encode("ascii"))
        return self._out.getvalue(), f"multipart/form-data; boundary={self.boundary}"

    def _file_head(self, name: str, filename: str, mime_type: str) -> None:
        self._out.write(f'--{self.boundary}\r\nContent-Disposition: form-data; '
                        f'name="{name.translate(_ESCAPES)}"; filename="{filename.translate(_ESCAPES)}"'
                        f'\r\nContent-Type: {mime_type}\r\n\r\n'.encode())


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
    form = FormBody()
    name, kind = filename or media.filename, mime_type or media.mime_type
    if media.data is not None:
        part = memoryview(media.data)[offset:offset + size]
        form.file(field, filename=name, mime_type=kind, data=part)
        left = size - len(part)
    elif media.path is not None:
        with pathlib.Path(media.path).open("rb") as stream:
            stream.seek(offset)
            left = form.copy(field, filename=name, mime_type=kind, stream=stream, size=size)
    else:
        raise ConfigError(f"{media.filename}: URL media must be fetched first")
    if left:
        raise ConfigError(f"{media.filename} ended {left:,} bytes before the part it was cut into: "
                          "the file changed while it was being sent")
    return form.finish()
