"""Bluesky rich text: the post text plus facets with UTF-8 byte offsets.

Bluesky does not link anything by itself: without facets a post is plain text
(shared/platforms/bluesky.md, "Facets"). `rich_text` finds the links, the
``@handle.domain`` mentions and the ``#tags`` and returns facets in the lexicon's
shape, ready for the ``facets`` field of an ``app.bsky.feed.post`` record:
``index.byteStart``/``byteEnd`` are UTF-8 byte offsets (start inclusive, end
exclusive) and each facet has one feature: ``app.bsky.richtext.facet#link``
``{uri}``, ``#mention`` ``{did}`` or ``#tag`` ``{tag}`` (no leading ``#``).

A mention facet needs the account's DID. `rich_text` takes a *resolve* callable
(handle -> DID or ``None``); a handle it cannot resolve, or every handle when no
resolver is given, gets no facet and is listed in `RichText.unresolved`, so a
platform flow can look the handles up (``com.atproto.identity.resolveHandle``)
and call `rich_text` again with a dict's ``get`` as the resolver.

Example:
    >>> from govmedia.content.facets import rich_text
    >>> rt = rich_text("国资小新 https://www.sasac.gov.cn #国企", resolve={}.get)
    >>> [(f["index"]["byteStart"], f["index"]["byteEnd"], f["features"][0]["$type"]) for f in rt.facets]
    [(13, 37, 'app.bsky.richtext.facet#link'), (38, 45, 'app.bsky.richtext.facet#tag')]
    >>> rt.text.encode()[38:45].decode()
    '#国企'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import regex

from govmedia.content._urls import find_urls

__all__ = ["LINK", "MENTION", "TAG", "RichText", "find_mentions", "rich_text"]

LINK = "app.bsky.richtext.facet#link"
MENTION = "app.bsky.richtext.facet#mention"
TAG = "app.bsky.richtext.facet#tag"

# An atproto handle: dot-separated labels of letters, digits and hyphens, at
# least two labels, the last not starting with a digit (atproto handle syntax).
_MENTION = regex.compile(
    r"(?<![A-Za-z0-9_@.])@((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+"
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(?![A-Za-z0-9-])"
)
# Bluesky's own tag detection: `#` after a start or space, then anything but
# space; trailing punctuation is not part of the tag; an all-digit tag is none.
_HASHTAG = regex.compile(r"(?:(?<=^)|(?<=\s))[#＃]((?!\ufe0f)[^\s\u00ad\u2060\u200a-\u200d\u20e2]+)")
_TRAILING_PUNCT = regex.compile(r"\p{P}+$")
_GRAPHEME = regex.compile(r"\X")
_MAX_TAG_GRAPHEMES = 64  # shared/platforms/bluesky.md: #tag <= 64 graphemes / 640 bytes
_MAX_TAG_BYTES = 640
_SHORT_URL = 27


@attrs.frozen(kw_only=True)
class RichText:
    """A Bluesky post text with its facets.

    Attributes:
        text: The text to send (links may be shortened for display).
        facets: Lexicon-shaped facet dicts, in text order.
        unresolved: Handles (without ``@``) that got no mention facet.

    Example:
        >>> from govmedia.content.facets import rich_text
        >>> rich_text("请关注 @sasac.bsky.social").unresolved
        ('sasac.bsky.social',)
    """

    text: str
    facets: tuple[dict[str, Any], ...] = ()
    unresolved: tuple[str, ...] = ()

    def record_fields(self) -> dict[str, Any]:
        """``{"text": ..., "facets": [...]}`` (no ``facets`` key when there are none).

        Example:
            >>> from govmedia.content.facets import rich_text
            >>> rich_text("国资小新").record_fields()
            {'text': '国资小新'}
        """
        fields: dict[str, Any] = {"text": self.text}
        if self.facets:
            fields["facets"] = [dict(f) for f in self.facets]
        return fields


def find_mentions(text: str) -> list[str]:
    """The ``@handle.domain`` handles in *text* (without ``@``), in order, no repeats.

    Example:
        >>> from govmedia.content.facets import find_mentions
        >>> find_mentions("@sasac.bsky.social 与 @gov.example.cn，邮件 a@b.org")
        ['sasac.bsky.social', 'gov.example.cn']
    """
    seen: dict[str, None] = {}
    for m in _MENTION.finditer(text):
        seen.setdefault(m.group(1).lower(), None)
    return list(seen)


def _shorten(url: str) -> str:
    shown = regex.sub(r"^https?://", "", url)
    return shown if len(shown) <= _SHORT_URL else shown[: _SHORT_URL - 1] + "…"


def rich_text(text: str, *, resolve: Callable[[str], str | None] | None = None,
              shorten_links: bool = False) -> RichText:
    """*text* with link, mention and tag facets for a Bluesky post.

    Args:
        text: The plain text of the post (tags already appended if wanted).
        resolve: handle -> DID (``did:plc:...``) or ``None``; without it no
            mention facets are made and every handle is listed as unresolved.
        shorten_links: Show each link as ``host/path…`` (27 characters at most,
            scheme dropped) while the facet keeps the full URL; saves graphemes
            toward the 300 limit.

    Returns:
        The text to send and its facets.

    Example:
        >>> from govmedia.content.facets import rich_text
        >>> rt = rich_text("详见 https://www.sasac.gov.cn/n2588025/n2588119/c30000000/content.html",
        ...                shorten_links=True)
        >>> rt.text, rt.facets[0]["features"][0]["uri"][-12:]
        ('详见 www.sasac.gov.cn/n2588025/…', 'content.html')
    """
    # start, end, feature, shown text
    spans: list[tuple[int, int, dict[str, Any], str]] = [
        (url.start, url.end, {"$type": LINK, "uri": url.href},
         _shorten(url.href) if shorten_links else url.url)
        for url in find_urls(text)
    ]
    taken = [(s, e) for s, e, _, _ in spans]

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    unresolved: dict[str, None] = {}
    for m in _MENTION.finditer(text):
        if not free(m.start(), m.end()):
            continue
        handle = m.group(1).lower()
        did = resolve(handle) if resolve is not None else None
        if not did:
            unresolved.setdefault(handle, None)
            continue
        spans.append((m.start(), m.end(), {"$type": MENTION, "did": did}, m.group(0)))
        taken.append((m.start(), m.end()))
    for m in _HASHTAG.finditer(text):
        tag = _TRAILING_PUNCT.sub("", m.group(1))
        end = m.start() + 1 + len(tag)
        if (not tag or tag.isdigit() or not free(m.start(), end)
                or len(_GRAPHEME.findall(tag)) > _MAX_TAG_GRAPHEMES
                or len(tag.encode("utf-8")) > _MAX_TAG_BYTES):
            continue
        spans.append((m.start(), end, {"$type": TAG, "tag": tag}, text[m.start():end]))
        taken.append((m.start(), end))

    spans.sort(key=lambda s: s[0])
    out: list[str] = []
    facets: list[dict[str, Any]] = []
    pos = 0
    size = 0
    for start, end, feature, shown in spans:
        before = text[pos:start]
        out.append(before)
        size += len(before.encode("utf-8"))
        shown_bytes = len(shown.encode("utf-8"))
        facets.append({"index": {"byteStart": size, "byteEnd": size + shown_bytes},
                       "features": [feature]})
        out.append(shown)
        size += shown_bytes
        pos = end
    out.append(text[pos:])
    return RichText(text="".join(out), facets=tuple(facets), unresolved=tuple(unresolved))
