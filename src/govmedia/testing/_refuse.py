"""`Refuse`: answer a fake's request with an error from anywhere below its handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import httpx

__all__ = ["Refusal", "Refuse"]

Refusal = Callable[[str], httpx.Response]
"""A platform's answer to a named reason (``"expired"``, ``"syntax"``, ...): a hook of the toolkit.

Example:
    ``FakeTokens(refuse=lambda reason: httpx.Response(401, json={"error": reason}))``
"""


class Refuse(Exception):
    """Raised inside a fake's handler: the fake answers with `response`.

    `FakePlatform` catches it around every handler, so a helper called from a
    handler (a token check, a body parser, a lookup) can refuse the request
    on its own, however deep it sits. It never leaves the fake.

    Args:
        response: the answer, or an HTTP status to build one from.
        json: the JSON body, with a status.
        text: a text body, with a status.
        headers: headers, with a status.

    Example:
        >>> from govmedia.testing import Refuse
        >>> def status_of(statuses: dict[str, str], status_id: str) -> str:
        ...     if status_id not in statuses:
        ...         raise Refuse(404, json={"error": "Record not found"})
        ...     return statuses[status_id]
        >>> try:
        ...     status_of({}, "1")
        ... except Refuse as refusal:
        ...     refusal.response.status_code, refusal.response.json()
        (404, {'error': 'Record not found'})
    """

    def __init__(
        self, response: httpx.Response | int, /, *, json: Any = None, text: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(response, int):
            body: dict[str, Any] = {"json": json} if json is not None else {"text": text}
            response = httpx.Response(response, headers=headers, **body)
        super().__init__(f"refused with HTTP {response.status_code}")
        self.response = response
