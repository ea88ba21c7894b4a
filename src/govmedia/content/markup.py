"""Markdown (CommonMark), HTML and plain text: one body, every platform's form.

Markdown nested deeper than `MAX_NESTING` (blockquotes in blockquotes, lists
in lists) is never cut: markdown-it stops parsing there and drops the rest of
the document, so govmedia renders the over-deep lines as a plain paragraph
instead (their text kept, their structure flattened) and notes the first such
line for `govmedia.content.integrity`, which reports it as ``too_deep``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_block import StateBlock

from govmedia.content._cache import RENDERED
from govmedia.model import Post

__all__ = ["MAX_NESTING", "TOO_DEEP", "guard_nesting", "markdown", "short_text", "to_html",
           "to_plain"]

#: Block nesting markdown-it parses (each blockquote is one level, each list two).
MAX_NESTING = 32
#: The key in a markdown-it ``env`` holding the first line (1-based) nested too deep.
TOO_DEEP = "govmedia.too_deep"


def _flatten(state: StateBlock, start: int, end: int) -> None:
    """Over-deep lines as plain paragraphs: their text stays, their markup is shown as typed."""
    line = start
    while line < end:
        line = state.skipEmptyLines(line)
        if line >= end or state.sCount[line] < state.blkIndent:
            break  # the lines of an outer block: not ours
        first = line
        while line < end and not state.isEmpty(line) and state.sCount[line] >= state.blkIndent:
            line += 1
        text = state.getLines(first, line, state.blkIndent, keepLastLF=False).strip()
        if text:
            state.env.setdefault(TOO_DEEP, first + 1)
            state.push("paragraph_open", "p", 1).map = [first, line]
            inline = state.push("inline", "", 0)
            inline.content, inline.map, inline.children = text, [first, line], []
            state.push("paragraph_close", "p", -1)
    state.line = line


def guard_nesting(md: MarkdownIt) -> MarkdownIt:
    """Make *md* keep (flattened) the text it would drop past its ``maxNesting``.

    Example:
        >>> from markdown_it import MarkdownIt
        >>> md = guard_nesting(MarkdownIt("commonmark", {"maxNesting": 3}))
        >>> env = {}
        >>> md.render("> > > > 深处的文字", env).count("<blockquote>"), env
        (3, {'govmedia.too_deep': 1})
    """
    tokenize: Callable[..., None] = md.block.tokenize

    def guarded(state: StateBlock, start: int, end: int, *args: Any) -> None:
        if state.level >= state.md.options.maxNesting:
            _flatten(state, start, end)
        else:
            tokenize(state, start, end, *args)

    md.block.tokenize = guarded  # type: ignore[method-assign, assignment]
    return md


@lru_cache(maxsize=1)
def markdown() -> MarkdownIt:
    """The shared CommonMark parser; raw HTML in Markdown is escaped, not passed."""
    return guard_nesting(
        MarkdownIt("commonmark", {"html": False, "linkify": False, "maxNesting": MAX_NESTING})
    )


_BLOCK_END = re.compile(r"</(p|h[1-6]|li|blockquote|pre|div|tr)>|<br\s*/?>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_BLANKS = re.compile(r"\n{3,}")


def _render_markdown(body: str) -> str:
    return str(markdown().render(body))


def to_html(body: str, body_format: str = "markdown") -> str:
    """Render *body* to HTML: Markdown as CommonMark, text escaped into paragraphs.

    HTML is returned as given: sanitize it (`govmedia.content.sanitize`)
    before it goes anywhere. Markdown renderings are kept in a small cache.

    Example:
        >>> to_html("**国资**").strip()
        '<p><strong>国资</strong></p>'
    """
    if body_format == "markdown":
        return RENDERED.get(("markdown", body), lambda: _render_markdown(body),
                            lambda out: len(body) + len(out))
    if body_format == "html":
        return body
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>\n" for p in paragraphs)


# Elements whose text is no text to publish (plain text only: nothing here is
# sent as HTML, which goes through govmedia.content.sanitize).
_NOT_TEXT = re.compile(r"<(script|style|template|noscript)\b.*?(?:</\1\s*>|$)", re.IGNORECASE | re.DOTALL)


def _html_to_plain(text: str) -> str:
    text = _BLOCK_END.sub("\n", _NOT_TEXT.sub("", text))
    text = html.unescape(_TAGS.sub("", text))
    lines = [line.strip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip()


def to_plain(body: str, body_format: str = "markdown") -> str:
    """Plain text of *body*: what a microblog or a video description shows."""
    if body_format == "text":
        return body.strip()
    if body_format == "markdown":
        tokens = markdown().parse(body)
        parts: list[str] = []
        for token in tokens:
            if token.type == "inline" and token.children is not None:
                parts.append("".join(
                    child.content if child.type in ("text", "code_inline") else
                    ("\n" if child.type in ("softbreak", "hardbreak") else "")
                    for child in token.children
                ))
            elif token.type in ("fence", "code_block"):
                parts.append(token.content.rstrip("\n"))
        return "\n\n".join(p for p in parts if p.strip()).strip()
    return _html_to_plain(body)


def short_text(post: Post) -> str:
    """The text a microblog or chat sends: `Post.text`, else title, summary and link."""
    if post.text and post.text.strip():
        return post.text.strip()
    parts = [p.strip() for p in (post.title, post.summary) if p and p.strip()]
    if not parts and post.body:
        parts.append(to_plain(post.body, post.body_format))
    if post.link:
        parts.append(post.link)
    return "\n\n".join(parts)
