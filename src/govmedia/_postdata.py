"""A post as plain data in the journal, its media bytes kept once per hash.

Workers on other machines have neither the submitter's files nor its memory:
the post travels through the journal. `post_to_data` keeps every media file's
bytes in the journal's ``blobs`` table (in parts, once per SHA-256, however
many runs and variants use it) and returns JSON that names them;
`post_from_data` writes each blob to a file of the worker's cache folder once
and rebuilds the post with path media there, so uploads stream from disk as
they do on the submitter. URL media stay URLs. The key travels as it is; the
content hash of the rebuilt post may differ (a path is part of it), which is
why approvals and screening are judged where the post was submitted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from govmedia.journal import Journal
from govmedia.model import Approval, Media, Post, Variant

__all__ = ["PART_BYTES", "post_from_data", "post_to_data"]

PART_BYTES = 4 * 1024 * 1024
"""Media bytes are kept in parts of this size (one part in memory at a time)."""

_MEDIA = "__media__"


def _parts(media: Media) -> Iterator[bytes]:
    if media.data is not None:
        for start in range(0, len(media.data), PART_BYTES):
            yield media.data[start:start + PART_BYTES]
        return
    assert media.path is not None
    with Path(media.path).open("rb") as f:
        while part := f.read(PART_BYTES):
            yield part


def _sha256(media: Media) -> str:
    digest = hashlib.sha256()
    for part in _parts(media):
        digest.update(part)
    return digest.hexdigest()


def _media_out(media: Media, journal: Journal, seen: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"mime_type": media.mime_type, "filename": media.filename,
                           "size": media.size, "alt": media.alt}
    if media.url is not None:
        out["url"] = media.url
        return out
    sha = seen.get(id(media))
    if sha is None:
        sha = seen[id(media)] = _sha256(media)
        if not journal.has_blob(sha):
            journal.put_blob(sha, _parts(media))
    out["blob"] = sha
    return out


def _value_out(value: Any, journal: Journal, seen: dict[int, str]) -> Any:
    if isinstance(value, Media):
        return {_MEDIA: _media_out(value, journal, seen)}
    if isinstance(value, tuple | list):
        return [_value_out(v, journal, seen) for v in value]
    return value


def post_to_data(post: Post, journal: Journal) -> str:
    """*post* as JSON for the journal; its media bytes go to the journal's blobs first.

    Example:
        >>> import govmedia as gm
        >>> from govmedia._postdata import post_from_data, post_to_data
        >>> journal = gm.Journal(":memory:")
        >>> post = gm.Post(text="国资小新", media=[gm.Media.from_bytes(b"GIF89a...", filename="a.gif")])
        >>> again = post_from_data(post_to_data(post, journal), journal)
        >>> (again.key == post.key, again.media[0].read(), again.media[0].filename)
        (True, b'GIF89a...', 'a.gif')
    """
    seen: dict[int, str] = {}
    data = {
        "key": post.key, "title": post.title, "body": post.body, "body_format": post.body_format,
        "text": post.text, "summary": post.summary, "tags": list(post.tags), "link": post.link,
        "cover": _value_out(post.cover, journal, seen) if post.cover else None,
        "media": [_value_out(m, journal, seen) for m in post.media],
        "variants": [{"platform": v.platform, "label": v.label,
                      "fields": {k: _value_out(val, journal, seen) for k, val in v.fields.items()}}
                     for v in post.variants],
        "approvals": [{"approver": a.approver, "content_hash": a.content_hash,
                       "at": a.at.isoformat()} for a in post.approvals],
    }
    return json.dumps(data, ensure_ascii=False)


def _cache_folder() -> Path:
    folder = Path(os.environ.get("GOVMEDIA_MEDIA_CACHE") or Path(tempfile.gettempdir())
                  / f"govmedia-media-{os.getuid() if hasattr(os, 'getuid') else 0}")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _blob_file(sha: str, journal: Journal, folder: Path) -> Path:
    path = folder / sha
    if path.exists():
        return path
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:
            for part in journal.blob_parts(sha):
                digest.update(part)
                f.write(part)
        if digest.hexdigest() != sha:
            from govmedia.errors import JournalError

            raise JournalError(f"media {sha[:12]} in the journal does not match its hash",  # noqa: TRY301
                               path=journal.path)
        Path(tmp).replace(path)  # atomic: another worker writing the same file is harmless
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _media_in(data: Mapping[str, Any], journal: Journal, folder: Path) -> Media:
    if "url" in data:
        return Media(mime_type=data["mime_type"], filename=data["filename"], size=data["size"],
                     url=data["url"], alt=data["alt"])
    path = _blob_file(data["blob"], journal, folder)
    return Media(mime_type=data["mime_type"], filename=data["filename"], size=data["size"],
                 path=str(path), alt=data["alt"])


def _value_in(value: Any, journal: Journal, folder: Path) -> Any:
    if isinstance(value, dict) and _MEDIA in value:
        return _media_in(value[_MEDIA], journal, folder)
    if isinstance(value, list):
        return tuple(_value_in(v, journal, folder) for v in value)
    return value


def post_from_data(text: str, journal: Journal, folder: Path | None = None) -> Post:
    """The post `post_to_data` wrote, its media as files in *folder* (the worker's cache)."""
    import datetime as dt

    data = json.loads(text)
    where = folder or _cache_folder()
    return Post(
        key=data["key"], title=data["title"], body=data["body"], body_format=data["body_format"],
        text=data["text"], summary=data["summary"], tags=tuple(data["tags"]), link=data["link"],
        cover=_value_in(data["cover"], journal, where) if data["cover"] else None,
        media=tuple(_value_in(m, journal, where) for m in data["media"]),
        variants=tuple(Variant(platform=v["platform"], label=v["label"],
                               fields={k: _value_in(val, journal, where)
                                       for k, val in v["fields"].items()})
                       for v in data["variants"]),
        approvals=tuple(Approval(approver=a["approver"], content_hash=a["content_hash"],
                                 at=dt.datetime.fromisoformat(a["at"])) for a in data["approvals"]),
    )
