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

from collections.abc import Mapping
from typing import Any

import attrs

from govmedia.content.media import media_fingerprint
from govmedia.errors import AuthError, DeliveryUnknown, PlatformError, RateLimited, TransientError
from govmedia.model import Media
from govmedia.platforms.steps import Checkpoint

__all__ = ["SavedUpload", "refused"]


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
