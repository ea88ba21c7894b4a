"""Extra compliance checks, plugged in through the ``govmedia.checks`` entry-point group.

A check is any callable ``(post, channel) -> list[Problem]``. A package adds
one by declaring it::

    [project.entry-points."govmedia.checks"]
    no_draft_marks = "mycompany.checks:no_draft_marks"

`load_checks` reads the group without importing anything; each check is
imported the first time the checks run. This is a compliance gate, so it
fails closed: a check that cannot be imported is logged once and then reported
as a ``check_unavailable`` problem every time the checks run, and a check that
raises or returns something other than problems is reported as
``check_failed``; neither is skipped silently.

Example:
    >>> import govmedia as gm
    >>> from govmedia.content.checks import Checks
    >>> def no_draft(post, channel):
    ...     if "草稿" in (post.title or ""):
    ...         return [gm.Problem(code="draft", message="title still says 草稿", field="title")]
    ...     return []
    >>> checks = Checks({"no_draft": no_draft})
    >>> ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/hook"})
    >>> checks(gm.Post(title="草稿：通知", text="正文"), ch)
    [Problem(code='draft', message='title still says 草稿', field='title')]
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from govmedia.model import Channel, Post, Problem

__all__ = ["GROUP", "Check", "Checks", "load_checks"]

log = logging.getLogger("govmedia.content")

GROUP = "govmedia.checks"
Check = Callable[[Post, Channel], Sequence[Problem]]


class _Entry:
    """One check: a callable, or a lazily imported entry point."""

    def __init__(self, name: str, target: Check | importlib.metadata.EntryPoint) -> None:
        self.name = name
        self.target = target
        self.check: Check | None = None if isinstance(target, importlib.metadata.EntryPoint) else target
        self.error: str | None = None
        self.lock = threading.Lock()

    def load(self) -> Check | None:
        if self.check is not None or self.error is not None:
            return self.check
        with self.lock:
            if self.check is None and self.error is None:
                entry = self.target
                if not isinstance(entry, importlib.metadata.EntryPoint):  # pragma: no cover
                    return self.check
                try:
                    loaded = entry.load()
                    if not callable(loaded):
                        raise TypeError(f"{entry.value} is not callable")  # noqa: TRY301
                    self.check = loaded
                except Exception as exc:  # noqa: BLE001 - any plugin failure is reported, not raised
                    self.error = f"{type(exc).__name__}: {exc}"
                    log.warning("compliance check %r (%s) could not be loaded: %s",
                                self.name, entry.value, self.error)
        return self.check


class Checks:
    """A named set of checks run together; calling it runs them all.

    Args:
        checks: name -> check callable, or name -> ``EntryPoint`` (loaded on first use).

    Example:
        >>> from govmedia.content.checks import Checks
        >>> Checks({}).names
        ()
    """

    def __init__(self, checks: Mapping[str, Check | importlib.metadata.EntryPoint] | None = None) -> None:
        self._entries = [_Entry(name, target) for name, target in (checks or {}).items()]

    @property
    def names(self) -> tuple[str, ...]:
        """The checks' names, in order.

        Example:
            >>> from govmedia.content.checks import Checks
            >>> Checks({"a": lambda p, c: [], "b": lambda p, c: []}).names
            ('a', 'b')
        """
        return tuple(e.name for e in self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Checks({list(self.names)!r})"

    def __call__(self, post: Post, channel: Channel) -> list[Problem]:
        """Run every check on *post* for *channel* and collect their problems.

        Example:
            >>> import govmedia as gm
            >>> from govmedia.content.checks import Checks
            >>> def broken(post, channel):
            ...     raise RuntimeError("database down")
            >>> ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://c.example/h"})
            >>> Checks({"broken": broken})(gm.Post(text="正文"), ch)[0].code
            'check_failed'
        """
        problems: list[Problem] = []
        for entry in self._entries:
            check = entry.load()
            if check is None:
                problems.append(Problem(
                    code="check_unavailable",
                    message=f"compliance check {entry.name!r} could not be loaded ({entry.error})",
                ))
                continue
            problems.extend(_run(entry.name, check, post, channel))
        return problems


def _run(name: str, check: Check, post: Post, channel: Channel) -> list[Problem]:
    try:
        result: Any = check(post, channel)
        found = list(result or ())
    except Exception as exc:  # a failing check blocks the post, it does not crash the run
        log.warning("compliance check %r failed on %s", name, channel.id, exc_info=True)
        return [Problem(code="check_failed",
                        message=f"compliance check {name!r} failed: {type(exc).__name__}: {exc}")]
    bad = [p for p in found if not isinstance(p, Problem)]
    if bad:
        return [Problem(code="check_failed",
                        message=f"compliance check {name!r} returned {type(bad[0]).__name__}, "
                                f"not gm.Problem")]
    return found


def _entry_points(group: str) -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=group)


def load_checks(group: str = GROUP) -> Checks:
    """The checks declared in the *group* entry-point group, not yet imported.

    Two entry points with the same name: the first one found wins (logged).

    Example:
        >>> from govmedia.content.checks import load_checks
        >>> isinstance(load_checks().names, tuple)
        True
    """
    found: dict[str, Check | importlib.metadata.EntryPoint] = {}
    for entry in _entry_points(group):
        if entry.name in found:
            log.warning("compliance check %r declared twice; using the first (%s)",
                        entry.name, getattr(found[entry.name], "value", found[entry.name]))
            continue
        found[entry.name] = entry
    return Checks(found)
