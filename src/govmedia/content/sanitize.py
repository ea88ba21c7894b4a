r"""One sanitizer for every HTML that leaves govmedia; CMS HTML as Markdown or WordPress HTML.

Every HTML govmedia sends (a webhook's ``data.html``, a WeChat article, a
Telegram message, a WordPress post) goes through `clean` as its last step,
each with its own `Policy`: which tags, which attributes on which tag, which
URL schemes, and which CSS properties a ``style`` may set. `clean` is nh3 (the
Rust *ammonia* sanitizer, an html5ever parser): whatever a renderer builds,
nothing executable gets past it: no ``<script>``, no ``on*`` handler, no
``javascript:`` or ``data:`` URL, no SVG or MathML, no ``<style>``.

A ``style`` attribute is judged by `safe_style` *after* CSS unescaping and
with comments removed, and what is kept is re-written from what was judged:
``u\72l(`` is ``url(`` and goes, ``ur/**/l(`` goes, and only properties of the
policy's list with plain values (colours, lengths, keywords, ``rgb()``) stay.

nh3 is a core dependency: a missing optional extra must never mean HTML
going out unsanitized.

Example:
    >>> from govmedia.content.sanitize import sanitize_html
    >>> sanitize_html('<p onclick="x()">国资<script>alert(1)</script><a href="javascript:x()">链接</a></p>')
    '<p>国资<a rel="noopener noreferrer">链接</a></p>'
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import attrs

from govmedia.content._cache import RENDERED
from govmedia.content.markup import to_html
from govmedia.errors import ConfigError

__all__ = [
    "GENERIC",
    "TELEGRAM",
    "WECHAT",
    "Policy",
    "clean",
    "css_unescape",
    "html_to_markdown",
    "safe_html",
    "safe_style",
    "sanitize_html",
    "wordpress_html",
]


def _attributes(value: Mapping[str, Iterable[str]]) -> tuple[tuple[str, frozenset[str]], ...]:
    return tuple(sorted((tag, frozenset(names)) for tag, names in dict(value).items()))


def _names(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen
class Policy:
    """What one destination accepts of HTML.

    Attributes:
        name: what the policy is for (shown in errors and docs).
        tags: the elements kept; others are unwrapped (their text stays).
        attributes: ``{tag: names}`` of attributes kept; ``"*"`` for every tag.
        url_schemes: schemes allowed in ``href`` and ``src`` (relative URLs stay).
        link_rel: the ``rel`` every link gets, or ``None``.
        style: CSS properties a ``style`` attribute may set (allow ``style``
            in *attributes* too); empty: every ``style`` goes.

    Example:
        >>> from govmedia.content.sanitize import Policy, clean
        >>> plain = Policy(name="plain", tags=frozenset({"p", "b"}), attributes={})
        >>> clean('<p class="x"><b>粗</b><i>斜</i></p>', plain)
        '<p><b>粗</b>斜</p>'
    """

    name: str
    tags: frozenset[str] = attrs.field(converter=_names)
    attributes: tuple[tuple[str, frozenset[str]], ...] = attrs.field(converter=_attributes)
    url_schemes: frozenset[str] = attrs.field(
        default=frozenset({"http", "https", "mailto", "tel"}), converter=_names
    )
    link_rel: str | None = "noopener noreferrer"
    style: frozenset[str] = attrs.field(default=frozenset(), converter=_names)


# The elements of ordinary article HTML (ammonia's defaults without image
# maps and the legacy presentational attributes).
_ARTICLE_TAGS = frozenset({
    "a", "abbr", "article", "aside", "b", "bdi", "bdo", "blockquote", "br", "caption",
    "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt", "em",
    "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "i",
    "img", "ins", "kbd", "li", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "ruby", "s",
    "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul", "var", "wbr",
})

#: Webhooks, WordPress and `sanitize_html`: article HTML, no styles.
GENERIC = Policy(
    name="generic",
    tags=_ARTICLE_TAGS,
    attributes={
        "*": {"lang", "dir", "title"},
        "a": {"href", "hreflang"},
        "img": {"src", "alt", "width", "height"},
        "ol": {"start", "reversed"}, "li": {"value"},
        "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align", "scope"},
        "code": {"class"},  # CommonMark's language-xxx on fenced code
        "time": {"datetime"},
    },
)

# Presentational properties only: nothing that positions, layers or loads.
_WECHAT_CSS = frozenset({
    "color", "background", "background-color", "font", "font-family", "font-size",
    "font-style", "font-variant", "font-weight", "letter-spacing", "line-height",
    "text-align", "text-decoration", "text-indent", "text-transform", "vertical-align",
    "white-space", "word-break", "word-spacing", "word-wrap", "overflow-wrap", "overflow-x",
    "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
    "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
    "border", "border-top", "border-right", "border-bottom", "border-left", "border-color",
    "border-style", "border-width", "border-radius", "border-collapse", "border-spacing",
    "width", "height", "max-width", "max-height", "min-width", "min-height", "box-sizing",
    "display", "list-style-type", "list-style-position", "float", "clear",
})

#: WeChat article content (`govmedia.content.wechat`): inline styles, images, few links.
WECHAT = Policy(
    name="wechat",
    tags={"p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em", "i", "u", "s",
          "del", "ins", "mark", "small", "sub", "sup", "code", "pre", "blockquote", "ul", "ol",
          "li", "a", "img", "hr", "table", "thead", "tbody", "tfoot", "tr", "th", "td",
          "caption", "section", "span", "figure", "figcaption"},
    attributes={
        "*": {"style"},
        "a": {"href"},
        "img": {"src", "alt", "width", "height"},
        "td": {"colspan", "rowspan", "align"}, "th": {"colspan", "rowspan", "align"},
        "ol": {"start"},
    },
    url_schemes={"http", "https"},
    link_rel=None,
    style=_WECHAT_CSS,
)

#: Telegram ``parse_mode=HTML`` (`govmedia.content.telegram`).
TELEGRAM = Policy(
    name="telegram",
    tags={"b", "i", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"},
    attributes={"a": {"href"}, "code": {"class"}},
    url_schemes={"http", "https", "tg", "mailto"},
    link_rel=None,
)


# --------------------------------------------------------------------------- CSS

_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\r\f]?|(\r\n|[\n\r\f])|(.)|\Z)", re.DOTALL)
_PROPERTY = re.compile(r"-?[a-z][a-z-]*")
_FUNCTION = re.compile(r"([a-z-]*)\s*\(")
_SAFE_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla", "calc"})
# After unescaping, a value may hold letters (any script: font names),
# digits, spaces and these; never a backslash, quote-breaking or markup character.
_VALUE = re.compile(r"[\w\s#%.,+\-/!'\"()]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _unescape_char(match: re.Match[str]) -> str:
    hex_digits, newline, char = match.groups()
    if hex_digits:
        point = int(hex_digits, 16)
        valid = 0 < point <= 0x10FFFF and not 0xD800 <= point <= 0xDFFF
        return chr(point) if valid else "\ufffd"
    if newline is not None:
        return ""
    return char or ""


def css_unescape(text: str) -> str:
    r"""*text* with CSS escapes decoded as a browser decodes them.

    Example:
        >>> from govmedia.content.sanitize import css_unescape
        >>> css_unescape(r"u\72l(x) \000075rl \e9 t\E9")
        'url(x) url ét\xe9'
    """
    return _ESCAPE.sub(_unescape_char, text)


def _safe_value(value: str) -> bool:
    if not _VALUE.fullmatch(value) or ":" in value:
        return False
    if value.count('"') % 2 or value.count("'") % 2 or value.count("(") != value.count(")"):
        return False
    functions = _FUNCTION.findall(value.lower())
    return len(functions) == value.count("(") and all(f in _SAFE_FUNCTIONS for f in functions)


@functools.lru_cache(maxsize=4096)
def safe_style(style: str, properties: frozenset[str]) -> str:
    r"""The declarations of *style* a policy allows, re-written from what was judged.

    Comments are removed and CSS escapes decoded first, so what is judged is
    what a browser would read; each declaration is kept only when its
    property is in *properties* and its value holds nothing but plain
    values (no ``url()``, ``expression()``, ``image-set()``, ``var()``, no
    backslash, no ``@``, ``<``, ``{``, ``:``).

    Example:
        >>> from govmedia.content.sanitize import WECHAT, safe_style
        >>> safe_style(r"color:#c00; background:u\72l(https://x/y.png); POSITION:fixed", WECHAT.style)
        'color:#c00;'
        >>> safe_style("width: expr/**/ession(alert(1)); font-family:'宋体', serif", WECHAT.style)
        "font-family:'宋体', serif;"
    """
    text = _CONTROL.sub(" ", css_unescape(_COMMENT.sub("", style)))
    kept = []
    for part in text.split(";"):
        name, colon, value = part.partition(":")
        name, value = name.strip().lower(), " ".join(value.split())
        if not colon or not value or not _PROPERTY.fullmatch(name) or name not in properties:
            continue
        if _safe_value(value):
            kept.append(f"{name}:{value}")
    return "".join(f"{declaration};" for declaration in kept)


# --------------------------------------------------------------------------- the sanitizer


def _require(module: str, extra: str | None = "content") -> ModuleType:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        from govmedia._extras import install_hint

        package = module.replace("_", "-")
        how = (f"it is in govmedia's {extra} extra: {install_hint(package)}" if extra else
               "it is a dependency of govmedia: reinstall govmedia")
        raise ConfigError(f"{module} is not installed; {how}") from None


@functools.lru_cache(maxsize=16)
def _cleaner(policy: Policy) -> Any:
    nh3 = _require("nh3", extra=None)  # a core dependency (see the module docstring)

    attributes = {tag: set(names) for tag, names in policy.attributes}
    options: dict[str, Any] = {}
    if policy.style:
        properties = policy.style

        def judge(tag: str, name: str, value: str) -> str | None:  # noqa: ARG001
            if name != "style":
                return value
            return safe_style(value, properties) or None

        options["attribute_filter"] = judge
    return nh3.Cleaner(
        tags=set(policy.tags), clean_content_tags={"script", "style"}, attributes=attributes,
        url_schemes=set(policy.url_schemes), link_rel=policy.link_rel, strip_comments=True,
        **options,
    )


def clean(html: str, policy: Policy = GENERIC) -> str:
    """*html* with everything *policy* does not allow removed: the one sanitizer.

    Elements outside ``policy.tags`` are unwrapped (their text stays), except
    ``<script>`` and ``<style>``, which go with their content, and SVG and
    MathML, which the parser removes whole.

    Example:
        >>> from govmedia.content.sanitize import GENERIC, WECHAT, clean
        >>> clean('<p style="color:red" onmouseover="x()">红</p>', WECHAT)
        '<p style="color:red;">红</p>'
        >>> clean('<p style="color:red">红</p>', GENERIC)
        '<p>红</p>'
    """
    cleaner = _cleaner(policy)
    try:
        cleaned: str = cleaner.clean(html)
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 can carry it, so no platform can
        cleaned = cleaner.clean(_SURROGATE.sub("\N{REPLACEMENT CHARACTER}", html))
    return cleaned


def sanitize_html(html: str) -> str:
    """*html* with everything unsafe removed (scripts, handlers, unsafe links, unknown tags).

    Example:
        >>> from govmedia.content.sanitize import sanitize_html
        >>> sanitize_html('<img src="data:image/png;base64,AAA" alt="图"><b>粗</b><iframe src="https://x"></iframe>')
        '<img alt="图"><b>粗</b>'
    """
    return clean(html, GENERIC)


def safe_html(body: str, body_format: str = "markdown", policy: Policy = GENERIC) -> str:
    r"""*body* rendered to HTML (CommonMark, HTML as given, text as paragraphs), then cleaned.

    Example:
        >>> from govmedia.content.sanitize import safe_html
        >>> safe_html('<p>正文</p><img src=x onerror="alert(1)">', "html")
        '<p>正文</p><img src="x">'
        >>> safe_html("[链接](javascript:alert(1)) **粗**")
        '<p>[链接](javascript:alert(1)) <strong>粗</strong></p>\n'
    """
    if body_format not in ("markdown", "html", "text"):
        raise ConfigError(f"body_format must be markdown, html or text; got {body_format!r}")
    return RENDERED.get(("safe_html", policy, body_format, body),
                        lambda: clean(to_html(body, body_format), policy),
                        lambda out: len(body) + len(out))


def html_to_markdown(html: str) -> str:
    """Sanitized *html* as CommonMark Markdown (ATX headings, ``-`` bullets).

    Example:
        >>> from govmedia.content.sanitize import html_to_markdown
        >>> print(html_to_markdown('<h2>微招聘</h2><p><strong>中国石化</strong> <a href="https://x.org/j">详情</a></p><ul><li>北京</li></ul>'))
        ## 微招聘
        <BLANKLINE>
        **中国石化** [详情](https://x.org/j)
        <BLANKLINE>
        - 北京
    """
    markdownify = _require("markdownify")
    text: str = markdownify.markdownify(
        sanitize_html(html), heading_style="ATX", bullets="-", escape_misc=False,
    )
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:  # markdownify leaves runs of blank lines between blocks
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out)


def wordpress_html(body: str, body_format: str = "markdown") -> str:
    r"""*body* as the HTML of a WordPress post's ``content``.

    Markdown is rendered as CommonMark (raw HTML in it shown as text), HTML is
    sanitized, plain text becomes escaped paragraphs; all of it is cleaned.

    Example:
        >>> from govmedia.content.sanitize import wordpress_html
        >>> wordpress_html("**央企** <b>x</b>")
        '<p><strong>央企</strong> &lt;b&gt;x&lt;/b&gt;</p>\n'
        >>> wordpress_html('<p style="x">正文</p><script>x</script>', "html")
        '<p>正文</p>'
    """
    return safe_html(body, body_format, GENERIC)
