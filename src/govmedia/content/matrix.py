r"""A chat text as a Matrix message: the plain ``body`` and, for rich text, ``formatted_body``.

Matrix clients show ``formatted_body`` (``format: org.matrix.custom.html``)
where they can and fall back to ``body``. Markdown is rendered as CommonMark
(raw HTML in it shown as text) and cleaned by the one sanitizer
(`govmedia.content.sanitize.clean`) with the `MATRIX` policy: the tags and
attributes the spec suggests clients render (matrix-org/matrix-spec
``content/client-server-api/modules/instant_messaging.md``, "m.room.message
msgtypes"; not on the fact sheet), links with ``https``, ``http``, ``ftp``,
``mailto`` or ``magnet`` targets only. A Markdown image becomes a link to it:
an ``<img>`` in a message may only name ``mxc://`` content, so the picture
itself goes out as its own event (`Post.media`); an ``<img>`` of an HTML body
becomes such a link too.

As Element does, ``body`` keeps the Markdown as written (it reads as plain
text and keeps link targets), and a text that Markdown leaves plain (no
emphasis, link, list or heading) goes out as ``body`` alone. A lone paragraph
is not wrapped in ``<p>`` (the spec asks for no needless tags).

Example:
    >>> from govmedia.content.matrix import matrix_text
    >>> rich = matrix_text("**中国石化** 招聘 <工程师> [详情](https://x.org/j)")
    >>> rich.body
    '**中国石化** 招聘 <工程师> [详情](https://x.org/j)'
    >>> rich.formatted_body
    '<strong>中国石化</strong> 招聘 &lt;工程师&gt; <a href="https://x.org/j">详情</a>'
    >>> matrix_text("国资小新：今日发布 https://example.org/a/1")
    MatrixText(body='国资小新：今日发布 https://example.org/a/1', formatted_body=None)
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import attrs
from markdown_it import MarkdownIt
from markdown_it.token import Token

from govmedia.content._cache import RENDERED
from govmedia.content.markup import MAX_NESTING, guard_nesting, to_plain
from govmedia.content.sanitize import Policy, clean
from govmedia.errors import ConfigError

__all__ = ["MATRIX", "MatrixText", "matrix_text"]

#: ``formatted_body`` of ``m.room.message`` (the spec's suggested set, without
#: ``img``, which may only name ``mxc://`` content, and the deprecated ``font``).
MATRIX = Policy(
    name="matrix",
    tags={"del", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "p", "a", "ul", "ol", "sup",
          "sub", "li", "b", "i", "u", "strong", "em", "s", "code", "hr", "br", "div", "table",
          "thead", "tbody", "tr", "th", "td", "caption", "pre", "span", "details", "summary"},
    attributes={"a": {"href"}, "ol": {"start"}, "code": {"class"}},
    url_schemes={"https", "http", "ftp", "mailto", "magnet"},
    link_rel=None,  # `rel` is not among the spec's attributes; clients add their own
)

_PLAIN_INLINE = frozenset({"text", "softbreak", "hardbreak"})
_PLAIN_BLOCK = frozenset({"paragraph_open", "paragraph_close", "inline"})


@attrs.frozen
class MatrixText:
    """The text fields of one ``m.room.message``: ``body``, and ``formatted_body`` or ``None``.

    Example:
        >>> from govmedia.content.matrix import MatrixText
        >>> MatrixText("纯文本").content("m.notice")
        {'msgtype': 'm.notice', 'body': '纯文本'}
    """

    body: str
    formatted_body: str | None = None

    def content(self, msgtype: str = "m.text") -> dict[str, Any]:
        """The event ``content``: ``msgtype``, ``body`` and, where rich, ``format`` with the HTML."""
        content: dict[str, Any] = {"msgtype": msgtype, "body": self.body}
        if self.formatted_body is not None:
            content["format"] = "org.matrix.custom.html"
            content["formatted_body"] = self.formatted_body
        return content


def _image_as_link(renderer: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env) or str(token.attrGet("src"))
    return f'<a href="{html.escape(str(token.attrGet("src") or ""))}">{html.escape(alt)}</a>'


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "maxNesting": MAX_NESTING})
    md.add_render_rule("image", _image_as_link)
    return guard_nesting(md)


def _is_plain(tokens: Sequence[Token]) -> bool:
    """True when Markdown made nothing but paragraphs of text out of the source."""
    for token in tokens:
        if token.type not in _PLAIN_BLOCK:
            return False
        if token.type == "inline" and any(c.type not in _PLAIN_INLINE for c in token.children or ()):
            return False
    return True


def _unwrap(fragment: str) -> str:
    """A lone ``<p>…</p>`` without its tags (the spec asks for no needless paragraph tags)."""
    fragment = fragment.strip()
    if fragment.startswith("<p>") and fragment.endswith("</p>") and fragment.count("<p>") == 1:
        return fragment[3:-4]
    return fragment


_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""([\w-]+)\s*=\s*("[^"]*"|'[^']*'|[^\s"'>]+)""")


def _img_as_link(match: re.Match[str]) -> str:
    """An HTML ``<img>`` as a link to the picture (the sanitizer judges the result)."""
    attrs = {name.lower(): html.unescape(value.strip("\"'")) for name, value in _ATTR.findall(match.group(0))}
    src = attrs.get("src", "")
    label = attrs.get("alt") or src
    return f'<a href="{html.escape(src)}">{html.escape(label)}</a>' if src else html.escape(label)


def _render(text: str, text_format: str) -> MatrixText:
    if text_format == "text":
        return MatrixText(text.strip())
    if text_format == "html":
        plain, rich = to_plain(text, "html"), _unwrap(clean(_IMG.sub(_img_as_link, text), MATRIX))
        return MatrixText(plain, None if rich == html.escape(plain, quote=False) else rich)
    md = _markdown()
    env: dict[str, Any] = {}
    tokens = md.parse(text, env)
    if _is_plain(tokens):
        return MatrixText(to_plain(text, "markdown"))
    rendered = md.renderer.render(tokens, md.options, env)
    return MatrixText(text.strip(), _unwrap(clean(rendered, MATRIX)) or None)


def matrix_text(text: str, text_format: str = "markdown") -> MatrixText:
    r"""*text* as the ``body`` and ``formatted_body`` of a Matrix message.

    Args:
        text: the message, as Markdown (CommonMark), HTML from a CMS, or plain text.
        text_format: ``"markdown"``, ``"html"`` or ``"text"``.

    Example:
        >>> from govmedia.content.matrix import matrix_text
        >>> print(matrix_text("# 微招聘\n\n- 北京\n- 上海\n\n![图表](https://x.org/c.png)").formatted_body)
        <h1>微招聘</h1>
        <ul>
        <li>北京</li>
        <li>上海</li>
        </ul>
        <p><a href="https://x.org/c.png">图表</a></p>
        >>> matrix_text('<p onclick="x()"><b>通知</b><script>x()</script></p>', "html")
        MatrixText(body='通知', formatted_body='<b>通知</b>')
        >>> matrix_text("<p>只有文字</p>", "html").formatted_body is None
        True
    """
    if text_format not in ("markdown", "html", "text"):
        raise ConfigError(f"text_format must be markdown, html or text; got {text_format!r}")
    return RENDERED.get(("matrix", text_format, text), lambda: _render(text, text_format),
                        lambda out: 2 * len(text) + len(out.formatted_body or ""))
