"""`Refused`: hostile or broken input, answered with a clean 4xx and nothing processed."""

from __future__ import annotations

__all__ = ["Refused"]


class Refused(Exception):
    """The request is refused with *status*; *reason* goes to the log, never to the caller.

    Example:
        >>> Refused(403, "bad signature").status
        403
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
