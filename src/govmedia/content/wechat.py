r"""Markdown, HTML or text -> the HTML a WeChat Official Account article accepts.

WeChat's article editor keeps a narrow subset of HTML: no ``<script>``, no
stylesheets, no classes or ids to hang CSS on, and images only from its own
hosts (``mmbiz.qpic.cn``). `to_wechat_html` renders a post body (CommonMark
through `govmedia.content.markup.markdown`, HTML as given, plain text as
escaped paragraphs) and rewrites it for that editor:

- every kept element gets its look from an inline ``style`` (see `STYLES`),
  inside one ``<section>`` that sets the font, size and colour;
- scripts, styles, frames, embeds, media players, templates, comments, SVG
  and MathML are removed with their content (a reader never sees the text of
  the others; `govmedia.content.integrity` reports text inside SVG or MathML
  as ``content_lost``); forms, buttons and other unknown elements are
  unwrapped, their text kept; ``class``, ``id``, ``on*`` and ``data-*``
  attributes are dropped;
- a ``style`` written in an HTML body is kept after the default one, judged
  by `govmedia.content.sanitize.safe_style` after CSS unescaping: only
  presentational properties with plain values stay;
- ``<img src>`` is replaced through the *images* mapping (the platform uploads
  each body image and maps its ``src`` to the returned URL); an image already
  on a WeChat host is kept; any other is removed and listed in
  `WeChatHTML.dropped` (WeChat would strip it anyway);
- links to WeChat articles (``mp.weixin.qq.com``) stay links; WeChat does not
  let other links be clicked, so they become their text followed by the
  address in brackets, and are listed in `WeChatHTML.external_links`;
- control characters are removed (``json.dumps`` would write them as
  ``\u00XX``, which WeChat refuses with 40033);
- the result passes `govmedia.content.sanitize.clean` with the `WECHAT`
  policy, the sanitizer every HTML leaving govmedia goes through.

A body is rendered once per distinct body, format, styles and set of mapped
image sources (a small cache): image URLs are put in afterwards, so every
member of a fan-out shares one rendering.

Example:
    >>> from govmedia.content.wechat import to_wechat_html
    >>> out = to_wechat_html("**央企**招聘\n\n![图表](chart.png)",
    ...                      images={"chart.png": "http://mmbiz.qpic.cn/mmbiz_png/x/0?wx_fmt=png"})
    >>> out.images, out.dropped
    (('chart.png',), ())
    >>> "<script" in to_wechat_html("<p>hi<script>alert(1)</script></p>", "html").html
    False
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Mapping, Sequence
from html.parser import HTMLParser
from urllib.parse import urlsplit

import attrs

from govmedia.content._cache import RENDERED
from govmedia.content.integrity import REMOVED, SELF_CLOSING, VOID
from govmedia.content.markup import to_html
from govmedia.content.sanitize import WECHAT, clean, safe_style
from govmedia.errors import ConfigError

__all__ = [
    "STYLES",
    "WECHAT_IMAGE_HOSTS",
    "WRAPPER_STYLE",
    "WeChatHTML",
    "clean_text",
    "image_sources",
    "to_wechat_html",
]

#: Hosts whose images an article may show as they are (WeChat's own CDN).
WECHAT_IMAGE_HOSTS: tuple[str, ...] = ("mmbiz.qpic.cn", "mmbiz.qlogo.cn")

#: Hosts whose links stay clickable in an article.
_LINK_HOSTS: tuple[str, ...] = ("mp.weixin.qq.com",)

#: The style of the one ``<section>`` that wraps the article.
WRAPPER_STYLE = (
    "font-size:16px;line-height:1.75;color:#333;letter-spacing:0.5px;word-wrap:break-word;"
)

#: The inline style each kept element gets (an HTML body's own ``style`` follows it).
STYLES: Mapping[str, str] = {
    "p": "margin:0 0 1em;",
    "h1": "font-size:1.4em;font-weight:bold;line-height:1.4;margin:1.2em 0 0.8em;",
    "h2": "font-size:1.3em;font-weight:bold;line-height:1.4;margin:1.2em 0 0.8em;",
    "h3": "font-size:1.2em;font-weight:bold;line-height:1.4;margin:1em 0 0.6em;",
    "h4": "font-size:1.1em;font-weight:bold;margin:1em 0 0.6em;",
    "h5": "font-size:1em;font-weight:bold;margin:1em 0 0.6em;",
    "h6": "font-size:1em;font-weight:bold;color:#666;margin:1em 0 0.6em;",
    "blockquote": "margin:1em 0;padding:0.6em 1em;border-left:4px solid #d0d7de;"
                  "background:#f7f7f7;color:#666;",
    "pre": "margin:1em 0;padding:1em;background:#f6f8fa;border-radius:4px;overflow-x:auto;"
           "white-space:pre-wrap;word-break:break-all;font-size:14px;line-height:1.6;"
           "font-family:Menlo,Consolas,monospace;",
    "code": "padding:2px 4px;background:#f6f8fa;border-radius:3px;font-size:0.9em;"
            "font-family:Menlo,Consolas,monospace;color:#c7254e;",
    "ul": "margin:0 0 1em;padding-left:2em;list-style-type:disc;",
    "ol": "margin:0 0 1em;padding-left:2em;list-style-type:decimal;",
    "li": "margin:0.3em 0;",
    "a": "color:#576b95;text-decoration:none;",
    "img": "display:block;max-width:100%;height:auto;margin:1em auto;",
    "hr": "border:0;border-top:1px solid #e5e5e5;margin:1.5em 0;",
    "table": "border-collapse:collapse;width:100%;margin:1em 0;font-size:14px;",
    "th": "border:1px solid #dfe2e5;padding:6px 12px;background:#f6f8fa;font-weight:bold;",
    "td": "border:1px solid #dfe2e5;padding:6px 12px;",
    "strong": "font-weight:bold;",
    "b": "font-weight:bold;",
    "em": "font-style:italic;",
    "i": "font-style:italic;",
    "figcaption": "text-align:center;color:#888;font-size:14px;",
}
_LINK_NOTE_STYLE = "color:#888;font-size:0.9em;"

# Elements kept as they are (with an inline style); others are unwrapped.
_KEEP = frozenset({
    "p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em", "i", "u", "s",
    "del", "ins", "mark", "small", "sub", "sup", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "img", "hr", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "caption",
    "section", "span", "figure", "figcaption",
})
_RENAME = {"div": "section", "article": "section", "main": "section", "header": "section",
           "footer": "section", "aside": "section", "nav": "section"}
# Removed with everything inside them, and void: the sets the integrity check
# (and its text floor) uses, so what it promises is what this renderer does.
_DROP = REMOVED
_VOID = VOID
_ATTRS: Mapping[str, frozenset[str]] = {
    "img": frozenset({"alt", "width", "height"}),
    "td": frozenset({"colspan", "rowspan", "align"}),
    "th": frozenset({"colspan", "rowspan", "align"}),
    "ol": frozenset({"start"}),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMBER = re.compile(r"^\d{1,4}(%|px)?$")
# Elements left out when nothing ended up inside them.
_EMPTY_DROPPED = frozenset({"p", "section", "span", "strong", "b", "em", "i", "u", "s", "del",
                            "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "figure", "li"})
_NUMERIC = frozenset({"width", "height", "colspan", "rowspan", "start"})
# The address of a link WeChat will not make clickable follows its text in brackets.
_NOTE_OPEN, _NOTE_CLOSE = "\N{FULLWIDTH LEFT PARENTHESIS}", "\N{FULLWIDTH RIGHT PARENTHESIS}"


def clean_text(text: str) -> str:
    r"""*text* without control characters (tab, newline and carriage return stay).

    ``json.dumps(..., ensure_ascii=False)`` still writes control characters as
    ``\u00XX`` escapes, which WeChat refuses (40033), so they go before sending.

    Example:
        >>> clean_text("标题\x0b一")
        '标题一'
    """
    return _CONTROL.sub("", text)


@attrs.frozen
class WeChatHTML:
    """The result of `to_wechat_html`.

    Attributes:
        html: the article content to send (one ``<section>``).
        images: every ``<img src>`` met, in order, as written in the body.
        dropped: the image sources removed (not mapped, not on a WeChat host).
        external_links: link targets that became text (WeChat makes only its
            own article links clickable).
        text_length: the characters of text in the article (markup excluded).
    """

    html: str
    images: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    external_links: tuple[str, ...] = ()
    text_length: int = 0


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _on_hosts(url: str, hosts: Sequence[str]) -> bool:
    if not url.lower().startswith(("http://", "https://", "//")):
        return False
    host = _host(url if not url.startswith("//") else "https:" + url)
    return any(host == h or host.endswith("." + h) for h in hosts)


class _Renderer(HTMLParser):
    def __init__(self, images: Mapping[str, str], styles: Mapping[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.images = images
        self.styles = styles
        self.out: list[str] = []
        # (tag as opened in the input, the html that closes it, len(out) once opened)
        self.stack: list[tuple[str, str, int]] = []
        self.skip = 0
        self.pre = 0
        self.seen: list[str] = []
        self.dropped: list[str] = []
        self.external: list[str] = []
        self.link_text: list[list[str]] = []
        self.text_length = 0

    # ------------------------------------------------------------- helpers

    def _style(self, tag: str, given: str | None) -> str:
        style = self.styles.get(tag, "")
        if tag == "code" and self.pre:
            style = ""  # a code block is styled by its <pre>
        if given:
            style += safe_style(given, WECHAT.style)
        return style

    def _open(self, tag: str, attrs: dict[str, str], extra: str = "") -> str:
        parts = [tag]
        for name in sorted(_ATTRS.get(tag, ())):
            value = attrs.get(name)
            if value is None:
                continue
            if name in _NUMERIC and not _NUMBER.match(value):
                continue
            parts.append(f'{name}="{html.escape(clean_text(value))}"')
        style = self._style(tag, attrs.get("style"))
        if style:
            parts.append(f'style="{html.escape(style)}"')
        if extra:
            parts.append(extra)
        return "<" + " ".join(parts) + ">"

    def _text(self, data: str) -> None:
        if self.link_text:
            self.link_text[-1].append(data)
        text = clean_text(data)
        self.text_length += len(text)
        self.out.append(html.escape(text, quote=False))

    # ------------------------------------------------------------- parser hooks

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP or self.skip:
            if tag in _DROP and tag not in _VOID:
                self.skip += 1
            return
        values = {k.lower(): (v or "") for k, v in attrs}
        if tag == "img":
            self._image(values)
        elif tag in ("br", "hr"):
            self.out.append(self._open(tag, values))
        elif tag == "a":
            self._link(values)
        elif tag not in _VOID:
            self._element(tag, values)

    def _element(self, tag: str, values: dict[str, str]) -> None:
        name = _RENAME.get(tag, tag)
        if name not in _KEEP:
            self._push(tag, "")  # unwrapped: keep the content only
            return
        if name == "pre":
            self.pre += 1
        self.out.append(self._open(name, values))
        self._push(tag, f"</{name}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SELF_CLOSING:
            return  # <svg/>: complete and empty (a browser goes on after it)
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and not self.skip:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip:
            if tag in _DROP and tag not in _VOID:
                self.skip -= 1
            return
        if tag in _VOID or not any(entry[0] == tag for entry in self.stack):
            return  # a stray end tag
        while self.stack:
            opened, closing, mark = self.stack.pop()
            self._close(opened, closing, mark)
            if opened == tag:
                break

    def _push(self, tag: str, closing: str) -> None:
        self.stack.append((tag, closing, len(self.out)))

    def _close(self, opened: str, closing: str, mark: int) -> None:
        if opened == "pre":
            self.pre -= 1
        if closing.startswith("\x00link:"):
            href = closing[len("\x00link:"):]
            text = "".join(self.link_text.pop()).strip()
            self.out.append("</span>")
            if text != href:
                self.out.append(
                    f'<span style="{_LINK_NOTE_STYLE}">{_NOTE_OPEN}'
                    f"{html.escape(clean_text(href))}{_NOTE_CLOSE}</span>"
                )
            return
        if len(self.out) == mark and closing[2:-1] in _EMPTY_DROPPED:
            self.out.pop()  # nothing inside (a removed image, say): drop the element
            return
        self.out.append(closing)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if not self.pre and not data.strip() and "\n" in data:
            return  # whitespace between blocks: noise to WeChat's editor
        self._text(data)

    # comments, doctypes and processing instructions are dropped (the defaults do nothing)

    # ------------------------------------------------------------- images and links

    def _image(self, attrs: dict[str, str]) -> None:
        src = attrs.get("src", "")
        if not src:
            return
        self.seen.append(src)
        target = self.images.get(src)
        if target is None and _on_hosts(src, WECHAT_IMAGE_HOSTS):
            target = src
        if target is None:
            self.dropped.append(src)
            return
        self.out.append(self._open("img", attrs, f'src="{html.escape(target)}"'))

    def _link(self, attrs: dict[str, str]) -> None:
        href = clean_text(attrs.get("href", "")).strip()
        if href and _on_hosts(href, _LINK_HOSTS):
            self.out.append(self._open("a", attrs, f'href="{html.escape(href)}"'))
            self._push("a", "</a>")
        elif href.lower().startswith(("http://", "https://")):
            self.external.append(href)
            self.out.append(f'<span style="{html.escape(self.styles.get("a", ""))}">')
            self.link_text.append([])
            self._push("a", "\x00link:" + href)
        else:
            self._push("a", "")  # anchors, mailto:, javascript:: text only

    def finish(self) -> str:
        self.close()
        while self.stack:
            self._close(*self.stack.pop())
        return "".join(self.out)


# Mapped image sources are rendered as these placeholders, replaced by the
# real URLs afterwards; the nonce keeps a body from forging one.
_NONCE = secrets.token_hex(8)
_PLACEHOLDER = re.compile(rf'src="https://govmedia\.invalid/{_NONCE}/(\d+)"')
_URL_CHARS = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)


def _render(
    body: str, body_format: str, mapped: tuple[str, ...],
    append: tuple[tuple[str, str | None], ...], styles: Mapping[str, str],
) -> WeChatHTML:
    source = to_html(body, body_format)
    for src, alt in append:
        alt_attr = f' alt="{html.escape(alt)}"' if alt else ""
        source += f'<p><img src="{html.escape(src)}"{alt_attr}></p>'
    placeholders = {src: f"https://govmedia.invalid/{_NONCE}/{i}" for i, src in enumerate(mapped)}
    renderer = _Renderer(placeholders, styles)
    renderer.feed(source)
    inner = renderer.finish()
    return WeChatHTML(
        html=clean(f'<section style="{WRAPPER_STYLE}">{inner}</section>', WECHAT),
        images=tuple(renderer.seen),
        dropped=tuple(renderer.dropped),
        external_links=tuple(renderer.external),
        text_length=renderer.text_length,
    )


def to_wechat_html(
    body: str,
    body_format: str = "markdown",
    *,
    images: Mapping[str, str] | None = None,
    append: Sequence[tuple[str, str | None]] = (),
    styles: Mapping[str, str] | None = None,
) -> WeChatHTML:
    """Render *body* as WeChat-safe HTML with inline styles.

    Args:
        body: the post body.
        body_format: ``"markdown"`` (CommonMark), ``"html"`` or ``"text"``.
        images: ``{src as written in the body: http(s) URL to show}``; a
            source not here and not on a WeChat host is removed.
        append: images ``(src, alt)`` to add at the end of the article, each
            resolved through *images* like any other.
        styles: per-tag inline styles that replace entries of `STYLES`.

    Returns:
        The HTML and what was met, removed or rewritten on the way.

    Example:
        >>> to_wechat_html("[国资委](https://www.sasac.gov.cn)").external_links
        ('https://www.sasac.gov.cn',)
    """
    urls = dict(images or {})
    for src, url in urls.items():
        if not isinstance(url, str) or not _URL_CHARS.fullmatch(url):
            raise ConfigError(f"images[{src!r}] must be an http(s) URL, got {url!r}")
    mapped = tuple(sorted(urls))
    extra = tuple(sorted((styles or {}).items()))
    key = ("wechat", body, body_format, mapped, tuple(append), extra)
    rendered: WeChatHTML = RENDERED.get(
        key, lambda: _render(body, body_format, mapped, tuple(append), {**STYLES, **dict(extra)}),
        lambda out: len(body) + len(out.html),
    )
    if not mapped:
        return rendered
    content = _PLACEHOLDER.sub(
        lambda m: f'src="{html.escape(urls[mapped[int(m.group(1))]])}"', rendered.html
    )
    return attrs.evolve(rendered, html=content)


def image_sources(body: str, body_format: str = "markdown") -> list[str]:
    """Every ``<img src>`` of *body* once rendered, in order, as written.

    Example:
        >>> image_sources("![a](chart.png) and <img src='x.png'>", "markdown")
        ['chart.png']
    """
    return list(to_wechat_html(body, body_format).images)
