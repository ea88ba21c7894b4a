"""Markdown (CommonMark), HTML and plain text: one body, every platform's form."""

from __future__ import annotations

import html
import re
from functools import lru_cache

from markdown_it import MarkdownIt

from govmedia.model import Post

__all__ = ["markdown", "short_text", "to_html", "to_plain"]


@lru_cache(maxsize=1)
def markdown() -> MarkdownIt:
    """The shared CommonMark parser; raw HTML in Markdown is escaped, not passed."""
    return MarkdownIt("commonmark", {"html": False, "linkify": False})


_BLOCK_END = re.compile(r"</(p|h[1-6]|li|blockquote|pre|div|tr)>|<br\s*/?>", re.IGNORECASE)
_TAGS = re.compile(r"<[^>]+>")
_BLANKS = re.compile(r"\n{3,}")


def to_html(body: str, body_format: str = "markdown") -> str:
    """Render *body* to HTML: Markdown as CommonMark, text escaped into paragraphs."""
    if body_format == "markdown":
        return str(markdown().render(body))
    if body_format == "html":
        return body
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    return "".join(f"<p>{html.escape(p).replace(chr(10), '<br>')}</p>\n" for p in paragraphs)


def _html_to_plain(text: str) -> str:
    text = _BLOCK_END.sub("\n", text)
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
