r"""Media judged by their bytes: what ``client.check`` reports and what uploads enforce.

A `gm.Media` declares a MIME type (given, or guessed from its name). Its
bytes must be of that kind: an ``image/png`` must start like an image, an
``audio/mpeg`` like audio. A file whose bytes are another format *of the same
kind* (a PNG named ``.jpg``) is accepted and uploaded with the MIME type of
its bytes; a file whose bytes are of another kind, or of no format govmedia
recognises (a ``chart.png`` that links to ``/etc/passwd``), is refused:

- `media_problems` (called by the client's check) reads the first bytes of
  each local file and reports ``bad_media`` naming it;
- `verify_bytes` judges the bytes a platform is about to upload (read from
  disk, which may have changed since the check, or fetched from a URL) and
  raises `gm.ValidationError` with the same problem.

A media declared as a plain file (``application/octet-stream``) promises no
format and is not judged, except ``application/pdf``, which has a signature.

Example:
    >>> import govmedia as gm, pathlib, tempfile
    >>> from govmedia.content.media import media_problems
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> fake = folder / "chart.png"
    >>> _ = fake.write_text("root:x:0:0:root:/root:/bin/bash\n")
    >>> [p.message for p in media_problems(gm.Post(text="图表", media=(gm.Media.from_path(fake),)))]
    ['media 1 (chart.png) is declared image/png but its bytes are not an image format govmedia recognises']
"""

from __future__ import annotations

import hashlib
import pathlib
from urllib.parse import unquote

from govmedia._sniff import HEAD_SIZE, Sniffed, kind_of, sniff
from govmedia.errors import ConfigError, ValidationError
from govmedia.model import Media, Post, Problem, open_regular

__all__ = [
    "media_fingerprint", "media_head", "media_problems", "media_size", "mismatch", "names_media",
    "read_bytes", "verify_bytes",
]

# MIME types of kind "file" whose bytes have a signature to check.
_FILE_FORMATS = {"application/pdf": "pdf"}
# Containers that carry sound or pictures: the declared type says which.
_NOUN = {"image": "an image format", "video": "a video format", "audio": "an audio format"}
_CONTAINERS = frozenset({"mp4", "mov", "3gp", "webm", "mkv", "ogg", "ogv", "asf"})


def mismatch(mime_type: str, found: Sniffed | None) -> str | None:
    r"""Why bytes sniffed as *found* are not what *mime_type* declares, else ``None``.

    Example:
        >>> from govmedia._sniff import sniff
        >>> mismatch("image/jpeg", sniff(b"\x89PNG\r\n\x1a\n")) is None   # same kind: fine
        True
        >>> mismatch("image/png", sniff(b"\x00\x00\x00\x18ftypmp42"))
        'is an MP4 video, not an image (it is declared image/png)'
        >>> mismatch("image/jpeg", sniff(b"%PDF-1.4"))
        'is a PDF document, not an image (it is declared image/jpeg)'
    """
    kind = kind_of(mime_type)
    if kind == "file":
        expected = _FILE_FORMATS.get(mime_type.strip().lower())
        if expected is None or (found is not None and found.format == expected):
            return None
    elif found is not None and found.fits(kind):
        return None
    if found is None:
        if kind == "file":
            return f"is declared {mime_type} but its bytes are not a {expected} file"
        return f"is declared {mime_type} but its bytes are not {_NOUN[kind]} govmedia recognises"
    what = "a PDF document" if kind == "file" else _NOUN[kind].removesuffix(" format")
    return f"is {found.description}, not {what} (it is declared {mime_type})"


def _head(media: Media) -> bytes | None:
    if media.data is not None:
        return media.data[:HEAD_SIZE]
    if media.path is not None:
        with open_regular(media.path) as f:
            return f.read(HEAD_SIZE)
    return None  # URL media: judged when fetched


def _problem(media: Media, where: str, field: str) -> Problem | None:
    try:
        head = _head(media)
    except ConfigError as exc:
        reason = str(exc).removeprefix("Media.path: ")
        return Problem(code="bad_media", field=field, message=f"{where}: {reason}")
    if head is None:
        return None
    why = mismatch(media.mime_type, sniff(head))
    return Problem(code="bad_media", field=field, message=f"{where} {why}") if why else None


def media_problems(post: Post) -> list[Problem]:
    r"""A ``bad_media`` problem for each local cover or media whose bytes are not what it declares.

    Reads the first bytes of each file now (so a file changed since
    `Media.from_path` is judged as it is); URL media are judged when fetched.

    Example:
        >>> import govmedia as gm
        >>> png = gm.Media.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(8), filename="a.jpg")
        >>> media_problems(gm.Post(text="正文", cover=png))
        []
    """
    problems = []
    if post.cover is not None:
        problem = _problem(post.cover, f"cover ({post.cover.filename})", "cover")
        if problem:
            problems.append(problem)
    for number, item in enumerate(post.media, 1):
        problem = _problem(item, f"media {number} ({item.filename})", "media")
        if problem:
            problems.append(problem)
    return problems


def read_bytes(media: Media, *, limit: int | None = None) -> bytes:
    """The bytes of a path or in-memory media, at most ``limit + 1`` of them.

    One byte over *limit* is enough for the caller's size check to refuse the
    file, so a file swapped for a huge one is never read whole.

    Example:
        >>> import govmedia as gm
        >>> read_bytes(gm.Media.from_bytes(b"0123456789", filename="a.bin"), limit=3)
        b'0123'
    """
    if media.path is not None:
        with open_regular(media.path) as f:
            head: bytes = f.read() if limit is None else f.read(limit + 1)
            return head
    data: bytes = media.read()
    return data if limit is None else data[:limit + 1]


def _upload_type(media: Media, found: Sniffed) -> str:
    declared = media.mime_type.strip().lower()
    if declared == found.mime_type or (
        found.format in _CONTAINERS and kind_of(declared) in found.kinds
    ):
        return media.mime_type
    return found.mime_type


def verify_bytes(
    media: Media, data: bytes, *, platform: str, account: str, field: str = "media",
    where: str | None = None,
) -> Sniffed | None:
    r"""Judge the bytes about to be uploaded for *media*; the format to send them as.

    Call it on every file read or fetched for an upload. The result's
    ``mime_type`` is the type to send: the declared one where it names the
    bytes' format, else the type of the bytes (a PNG named ``.jpg`` goes up
    as ``image/png``). ``None`` for a plain file of no known format.

    Raises:
        ValidationError: ``bad_media`` when the bytes are not what *media*
            declares (a file swapped after the check, a URL that answered
            with an HTML page or cloud metadata).

    Example:
        >>> import govmedia as gm
        >>> m = gm.Media.from_url("https://cdn.example/chart.png")
        >>> verify_bytes(m, b"\x89PNG\r\n\x1a\n....", platform="mastodon", account="a@b").mime_type
        'image/png'
        >>> verify_bytes(m, b"<html>login</html>", platform="mastodon", account="a@b")
        Traceback (most recent call last):
        ...
        govmedia.errors.ValidationError: mastodon [a@b]: ... declared image/png but ... (bad_media)
    """
    found = sniff(data[:HEAD_SIZE])
    why = mismatch(media.mime_type, found)
    if why:
        problem = Problem(code="bad_media", field=field, message=f"{where or media.filename} {why}")
        raise ValidationError([problem], platform=platform, account=account)
    if found is None:
        return None
    mime = _upload_type(media, found)
    return found if mime == found.mime_type else Sniffed(format=found.format, mime_type=mime,
                                                         kinds=found.kinds)


def media_size(media: Media) -> int | None:
    """Bytes of *media* now: a file is asked again (it may have changed since it was attached).

    ``None`` for a file that cannot be read, and for URL media whose size is
    not known before it is fetched.

    Example:
        >>> import govmedia as gm
        >>> media_size(gm.Media.from_bytes(b"0123456789", filename="clip.mp4"))
        10
    """
    if media.data is not None:
        return len(media.data)
    if media.path is not None:
        try:
            return pathlib.Path(media.path).stat().st_size
        except (OSError, ValueError):
            return None
    return media.size


def media_head(media: Media, size: int = HEAD_SIZE) -> bytes | None:
    """The first *size* bytes of a local file or in-memory media (``None``: URL media).

    A file that cannot be read (gone, or not a regular file) gives ``b""``.

    Example:
        >>> import govmedia as gm
        >>> media_head(gm.Media.from_bytes(b"GIF89a....", filename="a.gif"), 6)
        b'GIF89a'
    """
    if media.data is not None:
        return media.data[:size]
    if media.path is not None:
        try:
            with open_regular(media.path) as f:
                head: bytes = f.read(size)
                return head
        except ConfigError:
            return b""
    return None


def media_fingerprint(media: Media) -> str:
    """Which file a saved upload session belongs to: resume it only for the same one.

    A file on disk by its path, size and modification time (hashing a big
    video to tell would cost what resuming saves), so a file changed in place
    is uploaded afresh, never spliced; bytes in memory by their SHA-256.
    ``""`` for a file that cannot be read.

    Example:
        >>> import govmedia as gm
        >>> a = gm.Media.from_bytes(b"clip", filename="a.mp4")
        >>> media_fingerprint(a) == media_fingerprint(gm.Media.from_bytes(b"clip", filename="b.mp4"))
        True
    """
    if media.path is not None:
        try:
            info = pathlib.Path(media.path).stat()
        except (OSError, ValueError):
            return ""
        return f"path:{media.path}:{info.st_size}:{info.st_mtime_ns}"
    return "sha256:" + hashlib.sha256(media.data or b"").hexdigest()


def names_media(src: str, media: Media) -> bool:
    r"""True when a body image's *src* names *media*: its file name, path or URL (or their %-decoding).

    Articles (WeChat, WordPress) refer to the post's images by name in the
    body (``![图表](chart.png)``); the upload's address replaces each such src.

    Example:
        >>> import govmedia as gm
        >>> chart = gm.Media.from_bytes(b"\x89PNG\r\n\x1a\n", filename="图表 1.png")
        >>> names_media("%E5%9B%BE%E8%A1%A8%201.png", chart), names_media("other.png", chart)
        (True, False)
    """
    wanted = {src, unquote(src)}
    names = {media.filename, media.url, media.path}
    if media.path:
        names.add(pathlib.PurePath(media.path).name)
    return bool(wanted & {n for n in names if n})
