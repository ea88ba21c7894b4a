r"""Markdown or HTML to the HTML subset Telegram accepts (``parse_mode=HTML``).

Telegram accepts ``<b> <i> <u> <s> <a href> <code> <pre> <blockquote>
<tg-spoiler>`` (shared/platforms/telegram.md, "Content limits"); anything else
makes ``sendMessage`` fail with "can't parse entities". So everything else is
flattened: headings become bold lines, paragraphs blank-line separated text,
list items ``•``/``1.`` lines, images their alt text, scripts and styles
vanish; ``strong``/``em``/``ins``/``del``/``strike`` map to their Telegram tags,
and ``&``, ``<`` and ``>`` in text are escaped. Links keep only ``http(s)``,
``tg`` and ``mailto`` targets. The result passes the one sanitizer
(`govmedia.content.sanitize.clean`, policy `TELEGRAM`) like every HTML that
leaves govmedia.

Example:
    >>> from govmedia.content.telegram import telegram_html
    >>> md = "# 微招聘\n\n**中国石化** 招聘 <工程师> [详情](https://x.org/j?a=1&b=2)\n\n- 北京\n- 上海"
    >>> print(telegram_html(md))
    <b>微招聘</b>
    <BLANKLINE>
    <b>中国石化</b> 招聘 &lt;工程师&gt; <a href="https://x.org/j?a=1&amp;b=2">详情</a>
    <BLANKLINE>
    • 北京
    • 上海
"""

from __future__ import annotations

import html
from functools import lru_cache
from html.parser import HTMLParser

import regex
from markdown_it import MarkdownIt

from govmedia.content.markup import MAX_NESTING, guard_nesting
from govmedia.content.sanitize import TELEGRAM, clean
from govmedia.errors import ConfigError

__all__ = ["telegram_html"]

_INLINE = {
    "b": "b", "strong": "b",
    "i": "i", "em": "i", "cite": "i", "var": "i",
    "u": "u", "ins": "u",
    "s": "s", "strike": "s", "del": "s",
    "tg-spoiler": "tg-spoiler",
}
_PARAGRAPHS = {"p", "div", "section", "article", "header", "footer", "main", "aside", "figure",
               "figcaption", "dl", "dd", "dt", "address", "details", "summary", "table",
               "thead", "tbody", "tfoot", "caption"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
# Removed with their content: what a reader never sees as text, and SVG and
# MathML, which the sanitizer removes whole (`govmedia.content.integrity`
# reports text inside them). Forms, buttons and the like keep their text.
_SKIP = {"script", "style", "head", "title", "template", "noscript", "iframe", "object",
         "svg", "math"}
_SAFE_HREF = regex.compile(r"^(?:https?://|tg://|mailto:)", regex.IGNORECASE)
_LANGUAGE = regex.compile(r"^language-[\w+#.-]{1,32}$")
_SPACES = regex.compile(r"\s+")


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []  # Telegram tags currently open, innermost last
        self.newlines = 0  # visible newlines at the end of the output
        self.pending = 0  # line breaks owed before the next visible thing
        self.started = False  # any visible text written yet
        self.skip = 0
        self.pre = 0
        self.code = 0
        self.lists: list[list[int]] = []  # per list: [ordered?, next number]
        self.item_start = False
        self.cell = 0
        self.ignored_ends: list[str] = []

    # ---------------------------------------------------------------- output
    # Line breaks wait in `pending` until something visible follows, so a closing
    # tag never ends up after blank lines and the output never ends in them.
    def flush(self) -> None:
        if self.pending > self.newlines and self.started:
            for i in range(len(self.out) - 1, -1, -1):  # no spaces before a line break
                if not self.out[i].startswith("<"):
                    self.out[i] = self.out[i].rstrip(" ")
                    break
            self.out.append("\n" * (self.pending - self.newlines))
            self.newlines = self.pending
        self.pending = 0

    def text(self, data: str) -> None:
        if not data:
            return
        self.flush()
        self.out.append(html.escape(data, quote=False))
        self.started = True
        self.item_start = False
        stripped = data.rstrip("\n")
        self.newlines = (self.newlines + len(data)) if not stripped else len(data) - len(stripped)

    def tag(self, markup: str) -> None:
        if not markup.startswith("</"):
            self.flush()
        self.out.append(markup)

    def brk(self, count: int) -> None:
        if self.started:
            self.pending = max(self.pending, count)

    def push(self, name: str, markup: str | None = None) -> None:
        self.tag(markup or f"<{name}>")
        self.open.append(name)

    def pop(self, name: str) -> None:
        if name not in self.open:
            return
        while self.open:
            top = self.open.pop()
            self.tag(f"</{top}>")
            if top == name:
                break

    # ---------------------------------------------------------------- parsing
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skip += 1
            return
        if self.skip:
            return
        values = dict(attrs)
        if tag == "br":
            self.text("\n")
        elif self.code or (self.pre and tag != "code"):
            return  # Telegram allows no entities inside code and pre
        elif tag in _INLINE or (tag == "span" and "tg-spoiler" in (values.get("class") or "")):
            self.inline(tag, _INLINE.get(tag, "tg-spoiler"))
        elif tag == "a":
            self.link(values)
        elif tag == "code":
            self.start_code(values)
        elif tag == "img":
            alt = (values.get("alt") or "").strip()
            if alt:
                self.text(alt)
        else:
            self.block(tag, values)

    def link(self, values: dict[str, str | None]) -> None:
        href = (values.get("href") or "").strip()
        if "a" in self.open or not _SAFE_HREF.match(href):
            self.ignored_ends.append("a")
        else:
            self.push("a", f'<a href="{html.escape(href, quote=True)}">')

    def start_code(self, values: dict[str, str | None]) -> None:
        language = values.get("class") or ""
        if self.pre and _LANGUAGE.match(language):
            self.push("code", f'<code class="{html.escape(language, quote=True)}">')
        else:
            self.push("code")
        self.code += 1

    def inline(self, tag: str, name: str) -> None:
        if name in self.open:
            self.ignored_ends.append(tag)
        else:
            self.push(name)

    def block(self, tag: str, values: dict[str, str | None]) -> None:  # noqa: C901
        if tag == "pre":
            self.brk(2)
            self.push("pre")
            self.pre += 1
        elif tag == "blockquote":
            self.brk(2)
            self.inline(tag, "blockquote")
        elif tag in _HEADINGS:
            self.brk(2)
            self.push("b")
        elif tag in ("ul", "ol"):
            self.brk(1)
            start = values.get("start") or "1"
            self.lists.append([tag == "ol", int(start) if start.isdigit() else 1])
        elif tag == "li":
            self.brk(1)
            self.start_item()
        elif tag == "hr":
            self.brk(2)
            self.text("——————")
            self.brk(2)
        elif tag == "tr":
            self.brk(1)
            self.cell = 0
        elif tag in ("td", "th"):
            if self.cell:
                self.text(" | ")
            self.cell += 1
        elif tag in _PARAGRAPHS and not self.item_start:
            self.brk(1 if self.lists else 2)

    def trim_newline(self) -> None:
        if self.out and not self.out[-1].startswith("<") and self.out[-1].endswith("\n"):
            self.out[-1] = self.out[-1].rstrip("\n")
            self.newlines = 0

    def start_item(self) -> None:
        depth = max(len(self.lists), 1)
        marker = "•"
        if self.lists and self.lists[-1][0]:
            marker = f"{self.lists[-1][1]}."
            self.lists[-1][1] += 1
        self.text("  " * (depth - 1) + marker + " ")
        self.item_start = True

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "img"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:  # noqa: C901, PLR0912
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip:
            return
        if tag in self.ignored_ends:
            self.ignored_ends.remove(tag)
            return
        if tag == "code" and self.code:
            self.code -= 1
            if self.pre:  # a fenced block's last newline is not part of the code
                self.trim_newline()
            self.pop("code")
        elif self.code:
            return
        elif tag == "pre" and self.pre:
            self.pre -= 1
            self.trim_newline()
            self.pop("pre")
            self.brk(2)
        elif self.pre:
            return
        elif tag in _INLINE:
            self.pop(_INLINE[tag])
        elif tag == "span" and "tg-spoiler" in self.open:
            self.pop("tg-spoiler")
        elif tag == "a":
            self.pop("a")
        elif tag == "blockquote":
            self.pop("blockquote")
            self.brk(2)
        elif tag in _HEADINGS:
            self.pop("b")
            self.brk(2)
        elif tag in ("ul", "ol"):
            if self.lists:
                self.lists.pop()
            self.brk(1 if self.lists else 2)
        elif tag in ("li", "tr"):
            self.brk(1)
        elif tag in _PARAGRAPHS:
            self.brk(1 if self.lists else 2)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre:
            self.text(data)
            return
        data = _SPACES.sub(" ", data)
        if self.newlines or self.pending or not self.started or self.item_start:
            data = data.lstrip(" ")
        self.text(data)

    def result(self) -> str:
        while self.open:
            self.tag(f"</{self.open.pop()}>")
        return "".join(self.out).strip()


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # Raw HTML in Markdown is shown as text, as everywhere in govmedia; ~~x~~ is
    # the one extension Telegram has a tag for. Over-deep nesting is flattened,
    # never cut (see govmedia.content.markup).
    md = MarkdownIt("commonmark", {"html": False, "maxNesting": MAX_NESTING})
    return guard_nesting(md.enable("strikethrough"))


def telegram_html(body: str, body_format: str = "markdown") -> str:
    r"""*body* as Telegram HTML (``parse_mode="HTML"``).

    Args:
        body: Markdown (CommonMark plus ``~~strike~~``), HTML from a CMS, or text.
        body_format: ``"markdown"``, ``"html"`` or ``"text"``.

    Returns:
        Text using only Telegram's tags, with ``&<>`` escaped; count it with
        ``count_telegram(..., html=True)``.

    Example:
        >>> from govmedia.content.telegram import telegram_html
        >>> page = '<h2>通知</h2><p>请<span class="tg-spoiler">保密</span><script>x()</script></p>'
        >>> telegram_html(page, "html")
        '<b>通知</b>\n\n请<tg-spoiler>保密</tg-spoiler>'
    """
    if body_format == "text":
        out = html.escape(body.strip(), quote=False)
    else:
        if body_format == "markdown":
            body = _markdown().render(body)
        elif body_format != "html":
            raise ConfigError(f"body_format must be markdown, html or text; got {body_format!r}")
        converter = _Converter()
        converter.feed(body)
        converter.close()
        out = regex.sub(r"\n{3,}", "\n\n", converter.result())
    # Telegram knows only the &lt; &gt; &amp; &quot; entities: a no-break space
    # goes as the character (a typed "&nbsp;" arrives escaped as "&amp;nbsp;").
    return clean(out, TELEGRAM).replace("&nbsp;", "\N{NO-BREAK SPACE}")
