r"""Chunked uploads resumed across runs, only ever for the very file they were for.

A platform whose upload sessions outlive a process (Douyin, Kuaishou,
Bilibili, Facebook, X) saves its session in the journal after each part
(``Checkpoint(..., save=True)``) and asks for it at the start of the next run
(``saved = yield Recall()``). `SavedUpload` is that bookkeeping in one place:
the slot the session is kept under, and the file it belongs to (its
`govmedia.content.media.media_fingerprint`: path, size and modification time
for a file, a hash for bytes), so a file edited in place, or another file of
the same name and size, is uploaded afresh and never spliced onto the parts
of the first. `refused` tells a resumed session the platform refuses (start
afresh) from a fault that starting afresh would meet again (raise).
`media_bytes` reads a file to upload whole, never past a limit.

Example:
    >>> import govmedia as gm
    >>> from govmedia.platforms.uploads import SavedUpload
    >>> clip = gm.Media.from_bytes(b"\x00\x00\x00\x18ftypmp42", filename="clip.mp4")
    >>> upload = SavedUpload.of(clip, "video")
    >>> saved = upload.save("uploading", {"upload_id": "u1", "offset": 8}).data
    >>> upload.recall(saved, offset=8)["upload_id"]
    'u1'
    >>> SavedUpload.of(gm.Media.from_bytes(b"other", filename="clip.mp4"), "video").recall(saved)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from govmedia.content.media import media_fingerprint, read_bytes
from govmedia.errors import AuthError, DeliveryUnknown, PlatformError, RateLimited, TransientError
from govmedia.model import Channel, Media
from govmedia.platforms.steps import Checkpoint, Flow, Step, Uploaded

if TYPE_CHECKING:
    from govmedia.platforms.base import BasePlatform

__all__ = ["SavedUpload", "media_bytes", "refused"]


@attrs.frozen
class SavedUpload:
    """Where one file's upload session is kept in the journal, and which file it is for.

    Attributes:
        slot: the key of the checkpoint data the session is kept under
            (``"video"``, ``"upload_0"`` for a post's first media).
        source: the file's `media_fingerprint`, saved with the session.
    """

    slot: str
    source: str

    @classmethod
    def of(cls, media: Media, slot: str = "upload") -> SavedUpload:
        """The slot *slot* for *media* as it is now (a file is asked for its size and time)."""
        return cls(slot, media_fingerprint(media))

    def recall(self, saved: Any, **same: Any) -> dict[str, Any] | None:
        """The session an earlier run saved for this very file, or ``None``.

        *saved* is what ``yield Recall()`` answered. ``None`` too where the
        session was saved for another file (or one changed since), or where
        one of *same* (the part size, the name sent) differs: parts cut
        another way cannot be resumed. A file that cannot be read now has no
        fingerprint, and so no session.
        """
        data = saved.get(self.slot) if isinstance(saved, Mapping) else None
        if not isinstance(data, Mapping) or not self.source or data.get("source") != self.source:
            return None
        if any(data.get(name) != value for name, value in same.items()):
            return None
        return dict(data)

    def save(self, stage: str, session: Mapping[str, Any]) -> Checkpoint:
        """The step that saves *session* at once (JSON values, no secret of the account)."""
        return Checkpoint(stage, {self.slot: {**session, "source": self.source}}, save=True)

    def sent(self, filename: str, session: Mapping[str, Any], *, sent: int,
             total: int) -> Iterator[Step]:
        """After each acknowledged part: report the progress, then save *session* at once.

        Use as ``yield from upload.sent(media.filename, session, sent=..., total=...)``.
        """
        yield Uploaded(filename, sent=sent, total=total)
        yield self.save("uploading", session)

    def forget(self, stage: str = "uploaded") -> Checkpoint:
        """The step that drops the saved session: spent (merged, published) or refused."""
        return Checkpoint(stage, {self.slot: None}, save=True)


def refused(error: PlatformError) -> bool:
    """True when the platform refused a resumed session outright: upload afresh.

    A fault that retrying, waiting or a new token would mend (or a write
    that may have landed) is no refusal: a fresh upload would meet it too.

    Example:
        >>> import govmedia as gm
        >>> refused(gm.ContentRejected("upload_id expired")), refused(gm.TransientError("502"))
        (True, False)
    """
    return not isinstance(error, TransientError | RateLimited | AuthError | DeliveryUnknown)


def media_bytes(platform: BasePlatform, media: Media, channel: Channel, *, limit: int) -> Flow[bytes]:
    """The bytes of *media* to upload whole, at most ``limit + 1`` of them.

    A file is read (a regular file only, never more than one byte past
    *limit*); a URL is fetched without the channel's credentials
    (`BasePlatform.fetch`: a download far over the limit stops there). One
    byte over *limit* is enough for the caller to refuse the file in the
    platform's own words, so a file swapped for a huge one is never read whole.

    Example:
        >>> # data = yield from media_bytes(self, item, channel, limit=IMAGE_MAX)
        >>> # if len(data) > IMAGE_MAX: raise ContentRejected(...)
    """
    if media.url is None:
        return read_bytes(media, limit=limit)
    data: bytes = yield from platform.fetch(media, channel, limit=limit + 1)
    return data
