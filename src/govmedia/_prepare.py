"""Preparing a delivery: everything decided about a post on a channel before any I/O.

One `Preparer` serves `check`, `publish` and every delivery of a fan-out:
platform lookup, the channel check (once per channel object), the channel's
variant, screening and approvals (judged on the content as written), script
conversion and `fit`, the platform's own checks and the registered compliance
checks (judged on what is sent), and the audit record of a refusal.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import attrs

from govmedia.content import checks as checks_module
from govmedia.content.checks import load_checks
from govmedia.content.media import media_problems
from govmedia.content.screen import Screen
from govmedia.errors import ConfigError
from govmedia.journal import Journal
from govmedia.model import Channel, Post, Problem
from govmedia.platforms import registry
from govmedia.platforms.base import BasePlatform

__all__ = ["GATE_CODES", "Prepared", "Preparer"]

GATE_CODES = frozenset({"screened_term", "approvals_missing", "check_failed", "check_unavailable"})
"""Problem codes of the compliance gate (written to the journal's audit trail)."""


@attrs.frozen
class Prepared:
    """A post as one channel sends it, and what stands in its way."""

    platform: BasePlatform
    post: Post
    problems: list[Problem]


_declared: tuple[Any, Any] | None = None  # (the entry-point reader used, what it found)


def _declared_checks() -> Any:
    """The declared compliance checks, read once per process, as the platform registry is.

    Reading the entry points scans every installed distribution (~5 ms here,
    paid by each new client before this). A reader swapped in (tests do)
    is read afresh.
    """
    global _declared  # noqa: PLW0603 - a process-wide cache, like the registry's
    reader = checks_module._entry_points  # noqa: SLF001 - what load_checks reads through
    found = _declared
    if found is None or found[0] is not reader:
        found = _declared = (reader, load_checks())
    return found[1]


class Preparer:
    """The non-I/O decisions about a post on a channel, shared by every client path."""

    def __init__(self, *, screen: Screen | None, require_approvals: int,
                 journal: Callable[[], Journal | None],
                 on_platform: Callable[[BasePlatform], None] | None = None) -> None:
        self.screen = screen
        self.require_approvals = require_approvals
        self._journal = journal
        self._on_platform = on_platform
        # Extra compliance checks from the govmedia.checks entry points,
        # imported the first time one runs.
        self.checks: Any = _declared_checks()
        self._platforms: dict[str, BasePlatform] = {}
        # Channels are immutable, so one check per channel object is enough;
        # keyed by id() with the object kept, as equal channels may differ in
        # credentials.
        self._checked: weakref.WeakValueDictionary[int, Channel] = weakref.WeakValueDictionary()

    def platform(self, channel: Channel, *, remember: bool = True,
                 passed: type | None = None) -> BasePlatform:
        """The platform of *channel*, with the channel checked (`ConfigError` if unusable).

        *remember*: keep the checked channel, and skip one checked before. A
        fan-out, which meets each channel once, says False: the weak mapping
        costs more there than the check it would save. *passed*: the platform
        class that already found nothing wrong with this channel object (its
        `Matrix` did); the check is not repeated when it is this platform's.
        """
        if not isinstance(channel, Channel):
            raise ConfigError(f"expected a gm.Channel, got {type(channel).__name__}")
        platform = self._platforms.get(channel.platform) or self.platform_named(channel.platform)
        if passed is not None and passed is type(platform):
            return platform
        if not remember:
            platform.check_channel(channel)
        elif self._checked.get(id(channel)) is not channel:
            platform.check_channel(channel)
            self._checked[id(channel)] = channel
        return platform

    def platform_named(self, name: str) -> BasePlatform:
        """The platform instance for *name* (no channel check)."""
        platform = self._platforms.get(name)
        if platform is None:
            platform = self._platforms[name] = registry.get(name)()
            if self._on_platform is not None:
                self._on_platform(platform)
        return platform

    def prepare(
        self, post: Post, channel: Channel, *, variants: bool = True, original: Post | None = None,
        platform: BasePlatform | None = None, memo: dict[str, Any] | None = None,
    ) -> Prepared:
        """The post as *channel* sends it, and every problem it has there.

        Screening and approvals judge the content as written (variant applied,
        before any script conversion); the platform's own checks judge what
        is actually sent.

        *memo*: a fan-out's own dict, where what depends on the post alone
        (screening, approvals, the media sniff) is kept for its next channel
        that sends the same post object.
        """
        if not isinstance(post, Post):
            raise ConfigError(f"expected a gm.Post, got {type(post).__name__}")
        if platform is None:
            platform = self.platform(channel)
        written = post.for_channel(channel) if variants else post
        original = original or post
        same: tuple[Post, list[Problem], list[Problem]] | None = None
        if memo is not None and written is original:  # the post as it is: judged once per run
            same = memo.get("post")
            if same is None or same[0] is not written:
                same = memo["post"] = (written, self.gate(original, written), media_problems(written))
            problems = list(same[1])
        else:
            problems = self.gate(original, written)
        options = channel.options
        script = options.get("script")
        outgoing = written
        if script:
            from govmedia.content.script import convert_post  # OpenCC: only when asked

            outgoing = convert_post(written, script)
        if options.get("fit"):
            from govmedia.content.fit import fit_post

            limit = options.get("max_characters")
            outgoing = fit_post(outgoing, platform.name,
                                limit=limit if isinstance(limit, int) else None)
        problems.extend(platform.validate(outgoing, channel))
        # Media bytes are sniffed, not trusted by name. A platform's own rule
        # on the same field says it better (it names what the platform takes).
        media = same[2] if same is not None and outgoing is written else media_problems(outgoing)
        if media:
            flagged = {(p.field, p.code) for p in problems}
            problems.extend(p for p in media if (p.field, p.code) not in flagged)
        if self.checks:
            problems.extend(self.checks(outgoing, channel))
        return Prepared(platform, outgoing, problems)

    def gate(self, post: Post, written: Post) -> list[Problem]:
        """Screening hits and missing approvals, found before any platform rule."""
        problems = self.screen.problems(written) if self.screen is not None else []
        if self.require_approvals:
            have = post.valid_approvers
            if len(have) < self.require_approvals:
                voided = len({a.approver for a in post.approvals}) - len(have)
                extra = f" ({voided} approval(s) void: the content changed since)" if voided else ""
                problems.append(Problem(
                    code="approvals_missing",
                    message=(f"{len(have)} of {self.require_approvals} required approvals "
                             f"match this content{extra}"),
                    field="approvals",
                ))
        return problems

    def audit_refusal(self, post: Post, channel: Channel, problems: list[Problem]) -> None:
        """Write a compliance refusal (screening, approvals, checks) to the journal."""
        journal = self._journal()
        gate = [p for p in problems if p.code in GATE_CODES]
        if journal is not None and gate:
            detail = "; ".join(f"{p.code}: {p.message}" for p in gate)
            journal.audit(post.key, "refusal", content_hash=post.content_hash,
                          detail=f"{channel.id}: {detail}")
