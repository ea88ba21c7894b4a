"""Named rules: every limit `check` enforces, with a stable id, a remedy and a source.

A platform declares its rules on its class (``rules``); a `Problem` found by one
carries the rule's id, and the docs' rule catalog is generated from them. A
`LengthRule` also knows how the platform counts (a counter from
`govmedia.content.counting`).

Example:
    >>> from govmedia.content.rules import LengthRule
    >>> rule = LengthRule(id="demo.text.max_length", field="text", limit=5, counter=len,
    ...                   unit="characters", source="the demo's docs",
    ...                   remediation="Shorten the text.")
    >>> rule.check("国资委新闻发布会").message
    'text is 8 characters, limit 5: 3 over'
    >>> rule.check("国资委").rule if rule.check("国资委") else None
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from govmedia.model import Problem

__all__ = ["LengthRule", "Rule"]


@attrs.frozen(kw_only=True)
class Rule:
    """One limit of one platform.

    Attributes:
        id: ``platform.field.what`` (``"bilibili.cover.min_size"``), stable.
        field: the `Post` field it judges (``None``: the post as a whole).
        summary: the limit in words (``"title at most 32 characters"``).
        remediation: what to change so the post fits.
        source: the fact sheet or platform doc it comes from.
        code: the `Problem` code it reports (``too_long``, ``bad_media``, ...).
    """

    id: str
    field: str | None = None
    summary: str = ""
    remediation: str = ""
    source: str = ""
    code: str = "too_long"

    @property
    def platform(self) -> str:
        """The platform part of the id."""
        return self.id.split(".", 1)[0]

    def problem(self, message: str, *, field: str | None = None, code: str | None = None) -> Problem:
        """A `Problem` of this rule, with *message* saying where and by how much."""
        return Problem(code=code or self.code, message=message, field=field or self.field,
                       rule=self.id)


def _unit_summary(rule: LengthRule) -> str:
    bound = "under" if rule.exclusive else "at most"
    return f"{rule.field} {bound} {rule.limit:,} {rule.unit}"


@attrs.frozen(kw_only=True)
class LengthRule(Rule):
    """A length limit: *limit* as *counter* counts, in *unit*.

    ``exclusive``: the platform wants fewer than *limit* (WeChat's "under
    20,000 characters"), not at most.
    """

    field: str = "text"
    limit: int
    counter: Callable[[str], int] = attrs.field(repr=False, eq=False)
    unit: str = "characters"
    exclusive: bool = False

    def __attrs_post_init__(self) -> None:
        if not self.summary:
            object.__setattr__(self, "summary", _unit_summary(self))
        if not self.remediation:
            object.__setattr__(self, "remediation", (
                f"Shorten the {self.field}, give this platform a shorter variant "
                "(post.with_variant), or set the channel option fit = true (text only)."
            ))

    def overflow(self, text: str, *, limit: int | None = None) -> tuple[int, int]:
        """``(length, how many over)`` of *text*; over is 0 when it fits."""
        length = self.counter(text)
        bound = self.limit if limit is None else limit
        allowed = bound - 1 if self.exclusive else bound
        return length, max(0, length - allowed)

    def check(self, text: str, *, limit: int | None = None, field: str | None = None) -> Problem | None:
        """The ``too_long`` problem of *text*, or ``None`` when it fits."""
        length, over = self.overflow(text, limit=limit)
        if not over:
            return None
        bound = self.limit if limit is None else limit
        words = f"under {bound}" if self.exclusive else f"limit {bound}"
        name = field or self.field
        return self.problem(f"{name} is {length} {self.unit}, {words}: {over} over", field=name)
