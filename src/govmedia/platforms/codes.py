"""Declared error tables: a platform's codes, what each means, and what to do.

One table per platform maps the platform's own codes (in a JSON body, at a
dotted path) or HTTP statuses to a meaning, a hint in words, and the flags the
pipeline acts on:

- `Code.auth`: the token or credentials were refused (renewed once where possible);
- `Code.rate_limited`: slow down, retried after the wait the platform asks for;
- `Code.quota`: a limit with no known reset (a daily quota): raised at once;
- `Code.busy`: the platform refused it outright and applied nothing: retried;
- `Code.transient`: a failure that may come after the write was applied;
- `Code.rejected`: the content itself was refused; the table says which
  `check` rule foresees it (``rule=``), or why none can (``unforeseeable=``);
- `Code.permanent`: a refusal that retrying will not change.

A code not in the table is judged by its HTTP status (401/403 auth, 429 rate
limit, 5xx transient and possibly applied, 400/413/415/422 rejected).

Example:
    >>> from govmedia.platforms.codes import Code, ErrorTable
    >>> table = ErrorTable({-1: Code.busy(), 45009: Code.quota("Re-run tomorrow.")},
    ...                    code_field="errcode", message_field="errmsg")
    >>> table[45009].no_reset, table[-1].applied
    (True, False)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import httpx

from govmedia.errors import (
    AuthError,
    ContentRejected,
    PlatformError,
    RateLimited,
    TransientError,
)

__all__ = ["Code", "ErrorTable"]


@attrs.frozen(kw_only=True)
class Code:
    """What one platform code (or HTTP status) means.

    Attributes:
        kind: the `PlatformError` subclass it is raised as.
        hint: what the user can do (``None``: the class's default).
        no_reset: a rate limit with no known reset (a quota).
        applied: for a transient code, whether the write may have been
            applied (``None``: a 5xx may have been, anything else not).
        rule: for a content refusal, the id of the `check` rule that foresees it.
        unforeseeable: for a content refusal no rule can foresee, why.
        wait: for a rate limit, the seconds to wait where the answer names none.
    """

    kind: type[PlatformError]
    hint: str | None = None
    no_reset: bool = False
    applied: bool | None = None
    rule: str | None = None
    unforeseeable: str | None = None
    wait: float | None = None

    @classmethod
    def auth(cls, hint: str | None = None) -> Code:
        """The token or the credentials were refused."""
        return cls(kind=AuthError, hint=hint)

    @classmethod
    def rate_limited(cls, hint: str | None = None, *, wait: float | None = None) -> Code:
        """Slow down: retried after the wait the platform asks for (or *wait* seconds)."""
        return cls(kind=RateLimited, hint=hint, wait=wait)

    @classmethod
    def quota(cls, hint: str | None = None) -> Code:
        """A limit with no known reset (a daily quota): not worth waiting for."""
        return cls(kind=RateLimited, hint=hint, no_reset=True)

    @classmethod
    def busy(cls, hint: str | None = None) -> Code:
        """Refused outright, nothing applied: safe to retry."""
        return cls(kind=TransientError, hint=hint, applied=False)

    @classmethod
    def transient(cls, hint: str | None = None) -> Code:
        """A failure that may have come after the write was applied."""
        return cls(kind=TransientError, hint=hint, applied=True)

    @classmethod
    def rejected(cls, hint: str | None = None, *, rule: str | None = None,
                 unforeseeable: str | None = None) -> Code:
        """The platform refused the content; *rule* foresees it, or *unforeseeable* says why not."""
        return cls(kind=ContentRejected, hint=hint, rule=rule, unforeseeable=unforeseeable)

    @classmethod
    def permanent(cls, hint: str | None = None) -> Code:
        """A refusal that retrying will not change (a permission, a ban, a bad id)."""
        return cls(kind=PlatformError, hint=hint)


def _dig(data: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


class ErrorTable(Mapping[int | str, Code]):
    """A platform's codes and where its error answers keep them.

    Args:
        codes: code (or HTTP status) -> `Code`.
        code_field: dotted path of the code in a JSON body (``"errcode"``,
            ``"data.error_code"``); ``None``: the HTTP status is the code.
        message_field: dotted path of the message; ``None``: the usual
            ``error_description``/``error``/``message`` fields.
        ok: codes in *code_field* that mean success (an HTTP 200 with
            ``errcode: 0``).
        messages: ``(code, words, Code)``: a code whose message contains
            *words* means *Code* instead (Mastodon's 422s, say).
    """

    def __init__(self, codes: Mapping[int | str, Code] | None = None, *,
                 code_field: str | None = None, message_field: str | None = None,
                 ok: Sequence[int | str | None] = (0, "0"),
                 messages: Sequence[tuple[int | str, str, Code]] = ()) -> None:
        self._codes = dict(codes or {})
        self.code_field = tuple(code_field.split(".")) if code_field else None
        self.message_field = tuple(message_field.split(".")) if message_field else None
        self.ok = tuple(ok)
        self.messages = tuple(messages)

    def __getitem__(self, code: int | str) -> Code:
        return self._codes[code]

    def __iter__(self) -> Iterator[int | str]:
        return iter(self._codes)

    def __len__(self) -> int:
        return len(self._codes)

    def __repr__(self) -> str:
        return f"ErrorTable({len(self._codes)} codes, code_field={self.code_field!r})"

    def body_code(self, response: httpx.Response) -> tuple[int | str, str] | None:
        """``(code, message)`` from a JSON body that carries an error code, else ``None``."""
        if self.code_field is None:
            return None
        try:
            body = json.loads(response.content)
        except (ValueError, RecursionError, httpx.ResponseNotRead):
            return None
        code = _dig(body, self.code_field)
        if code is None or code in self.ok or isinstance(code, bool):
            return None
        if isinstance(code, str) and code.lstrip("-").isdigit():
            code = int(code)
        if not isinstance(code, int | str):
            code = str(code)
        message = _dig(body, self.message_field) if self.message_field else None
        return code, str(message) if message not in (None, "") else f"code {code}"

    def entry(self, code: int | str, status: int, message: str) -> Code | None:
        """The meaning of *code* (refined by its *message* where the table says so)."""
        for known, words, meaning in self.messages:
            if known in (code, status) and words in message:
                return meaning
        return self._codes.get(code)
