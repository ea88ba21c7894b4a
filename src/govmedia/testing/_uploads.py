"""`ChunkedUploads`: a fake's upload sessions (init, parts, complete), kept as sizes and hashes.

Douyin, Kuaishou, Bilibili and YouTube take big videos in parts: a session
is opened, numbered parts are sent (a part may be sent again, it replaces
the first), and a final call checks the parts and turns them into one file.
A fake must check what the real API checks (every part but the last at least
a minimum size, no gap in the numbers, a total under the limit) without
keeping gigabytes in memory: each part is kept as its size and SHA-256 only.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping

import attrs
import httpx

from govmedia.testing._refuse import Refusal, Refuse

__all__ = [
    "REASONS", "ChunkedUploads", "CompletedUpload", "PartRecord", "UploadSession",
    "default_upload_refusal",
]

REASONS = {
    "unknown_upload": "no such upload session",
    "expired": "the upload session has expired",
    "not_owner": "the upload session belongs to another account",
    "completed": "the upload session is completed already",
    "part_number": "the part number is out of range",
    "empty_part": "the part is empty",
    "part_too_large": "the part is larger than allowed",
    "part_too_small": "a part other than the last is smaller than allowed",
    "missing_part": "a part number is missing",
    "no_parts": "no part was uploaded",
    "too_large": "the upload is larger than allowed",
}


def default_upload_refusal(reason: str) -> httpx.Response:
    """A 400 with ``{"error": ...}``: the answer when a fake gives no hook of its own.

    Example:
        >>> from govmedia.testing import default_upload_refusal
        >>> default_upload_refusal("missing_part").json()
        {'error': 'a part number is missing'}
    """
    return httpx.Response(400, json={"error": REASONS.get(reason, reason)})


@attrs.frozen
class PartRecord:
    """One part as the fake keeps it: never its bytes.

    Example:
        >>> from govmedia.testing import PartRecord
        >>> PartRecord.of(b"abc").size
        3
    """

    size: int
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> PartRecord:
        """The record of *data*."""
        return cls(len(data), hashlib.sha256(data).hexdigest())


@attrs.define
class UploadSession:
    """An open upload: who opened it, when it stops being accepted, its parts so far.

    Example:
        >>> from govmedia.testing import ChunkedUploads
        >>> uploads = ChunkedUploads()
        >>> session = uploads.start("sasac")
        >>> _ = uploads.put(session.upload_id, "sasac", 1, b"0123")
        >>> session.received, session.completed is None
        (4, True)
    """

    upload_id: str
    owner: str
    expires_at: float | None
    parts: dict[int, PartRecord] = attrs.field(factory=dict)
    completed: CompletedUpload | None = None

    @property
    def received(self) -> int:
        """Bytes received so far (a part sent twice counts once)."""
        return sum(p.size for p in self.parts.values())


@attrs.frozen
class CompletedUpload:
    """What a completed session became: its size, part records and one digest over them.

    ``digest`` is the SHA-256 of the parts' SHA-256 digests in order (a test
    computes the same over the file it sent, with `CompletedUpload.digest_of`).

    Example:
        >>> from govmedia.testing import ChunkedUploads, CompletedUpload, PartRecord
        >>> uploads = ChunkedUploads()
        >>> session = uploads.start("sasac")
        >>> _ = uploads.put(session.upload_id, "sasac", 1, b"video")
        >>> done = uploads.complete(session.upload_id, "sasac")
        >>> done.digest == CompletedUpload.digest_of([PartRecord.of(b"video")])
        True
    """

    upload_id: str
    owner: str
    size: int
    parts: tuple[PartRecord, ...]
    digest: str

    @staticmethod
    def digest_of(records: tuple[PartRecord, ...] | list[PartRecord]) -> str:
        """The digest over part records, in order.

        Example:
            >>> from govmedia.testing import CompletedUpload, PartRecord
            >>> len(CompletedUpload.digest_of([PartRecord.of(b"ab"), PartRecord.of(b"c")]))
            64
        """
        outer = hashlib.sha256()
        for record in records:
            outer.update(bytes.fromhex(record.sha256))
        return outer.hexdigest()


class ChunkedUploads(Mapping[str, UploadSession]):
    """Upload sessions by id (a read-only mapping), checked the way chunked upload APIs check.

    Parts are numbered from *first_part*; sending a number again replaces the
    part (so a client that resends a part after a lost answer does no harm).
    `complete` checks that the numbers run without a gap from *first_part*,
    that every part but the last has at least *min_part* bytes and that the
    total is at most *max_total*; it is idempotent (a second call returns the
    same `CompletedUpload`). Every refusal raises `Refuse` with the platform's
    answer from *refuse* for a reason in ``REASONS``. Safe from several threads.

    Args:
        min_part: the least bytes of every part but the last.
        max_part: the most bytes of one part (``None``: no limit).
        max_total: the most bytes of the whole upload (``None``: no limit).
        max_parts: the highest part number accepted (``None``: no limit).
        first_part: the number of the first part (1 or 0).
        ttl: seconds a session stays open (``None``: for good); may be changed later.
        refuse: the platform's answer per reason.
        clock: Unix time now.

    Example:
        >>> from govmedia.testing import ChunkedUploads, Refuse
        >>> uploads = ChunkedUploads(min_part=4, max_total=10)
        >>> session = uploads.start("sasac")
        >>> _ = uploads.put(session.upload_id, "sasac", 2, b"89")
        >>> _ = uploads.put(session.upload_id, "sasac", 1, b"0123")
        >>> done = uploads.complete(session.upload_id, "sasac")
        >>> done.size, [p.size for p in done.parts]
        (6, [4, 2])
        >>> try:
        ...     uploads.put(uploads.start("sasac").upload_id, "member", 1, b"x")
        ... except Refuse as refusal:
        ...     refusal.response.json()
        {'error': 'the upload session belongs to another account'}
    """

    def __init__(
        self, *, min_part: int = 1, max_part: int | None = None, max_total: int | None = None,
        max_parts: int | None = None, first_part: int = 1, ttl: float | None = None,
        refuse: Refusal = default_upload_refusal, clock: Callable[[], float] = time.time,
    ) -> None:
        self.min_part = min_part
        self.max_part = max_part
        self.max_total = max_total
        self.max_parts = max_parts
        self.first_part = first_part
        self.ttl = ttl
        self.refuse = refuse
        self.clock = clock
        self._sessions: dict[str, UploadSession] = {}
        self._lock = threading.RLock()

    def __getitem__(self, upload_id: str) -> UploadSession:
        return self._sessions[upload_id]

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._sessions))

    def __len__(self) -> int:
        return len(self._sessions)

    def start(self, owner: str, *, prefix: str = "") -> UploadSession:
        """Open a session for *owner*; its ``upload_id`` is random (after *prefix*)."""
        with self._lock:
            expires = None if self.ttl is None else self.clock() + self.ttl
            session = UploadSession(prefix + secrets.token_urlsafe(24), owner, expires)
            self._sessions[session.upload_id] = session
            return session

    def session(self, upload_id: str | None, owner: str) -> UploadSession:
        """The open session *upload_id* of *owner*, or `Refuse`.

        Reasons: ``unknown_upload``, ``not_owner``, ``expired``.
        """
        with self._lock:
            session = self._sessions.get(upload_id or "")
            if session is None:
                raise Refuse(self.refuse("unknown_upload"))
            if session.owner != owner:
                raise Refuse(self.refuse("not_owner"))
            if session.expires_at is not None and session.expires_at <= self.clock() \
                    and session.completed is None:
                raise Refuse(self.refuse("expired"))
            return session

    def put(self, upload_id: str | None, owner: str, number: int, data: bytes) -> PartRecord:
        """Keep part *number* of the session (its size and hash); a resent number replaces it.

        Reasons: those of `session`, ``completed``, ``part_number``,
        ``empty_part``, ``part_too_large``.
        """
        with self._lock:
            session = self.session(upload_id, owner)
            if session.completed is not None:
                raise Refuse(self.refuse("completed"))
            if number < self.first_part or (self.max_parts is not None and number > self.max_parts):
                raise Refuse(self.refuse("part_number"))
            if not data:
                raise Refuse(self.refuse("empty_part"))
            if self.max_part is not None and len(data) > self.max_part:
                raise Refuse(self.refuse("part_too_large"))
            record = PartRecord.of(data)
            before = session.parts.get(number)
            session.parts[number] = record
            if self.max_total is not None and session.received > self.max_total:
                if before is None:
                    del session.parts[number]
                else:
                    session.parts[number] = before
                raise Refuse(self.refuse("too_large"))
            return record

    def complete(self, upload_id: str | None, owner: str) -> CompletedUpload:
        """Check the parts and close the session; a second call gives the same result.

        Reasons: those of `session`, ``no_parts``, ``missing_part``,
        ``part_too_small``, ``too_large``.
        """
        with self._lock:
            session = self.session(upload_id, owner)
            if session.completed is not None:
                return session.completed
            numbers = sorted(session.parts)
            if not numbers:
                raise Refuse(self.refuse("no_parts"))
            if numbers != list(range(self.first_part, self.first_part + len(numbers))):
                raise Refuse(self.refuse("missing_part"))
            records = tuple(session.parts[n] for n in numbers)
            if any(r.size < self.min_part for r in records[:-1]):
                raise Refuse(self.refuse("part_too_small"))
            size = sum(r.size for r in records)
            if self.max_total is not None and size > self.max_total:
                raise Refuse(self.refuse("too_large"))
            session.completed = CompletedUpload(session.upload_id, owner, size, records,
                                                CompletedUpload.digest_of(records))
            return session.completed

    def expire(self, upload_id: str | None = None) -> None:
        """Make session *upload_id*, or every open session, expired as of now."""
        with self._lock:
            past = self.clock() - 1
            chosen = [self._sessions[upload_id]] if upload_id is not None else self._sessions.values()
            for session in chosen:
                session.expires_at = past
