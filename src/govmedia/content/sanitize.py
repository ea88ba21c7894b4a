"""Incoming HTML (from a CMS) made safe, turned into Markdown, or into WordPress HTML.

A post body may arrive as HTML from a content-management system. Before it goes
anywhere it is sanitized with nh3 (the Rust ammonia sanitizer): scripts,
styles, event handlers, ``javascript:`` and ``data:`` links and unknown tags go;
text and safe formatting stay. `html_to_markdown` turns it into Markdown
(markdownify) so the same Markdown pipeline renders it for every platform.

Needs the ``content`` extra (``pip install 'govmedia[content]'``).

Example:
    >>> from govmedia.content.sanitize import sanitize_html
    >>> sanitize_html('<p onclick="x()">国资<script>alert(1)</script><a href="javascript:x()">链接</a></p>')
    '<p>国资<a rel="noopener noreferrer">链接</a></p>'
"""

from __future__ import annotations

from types import ModuleType

from govmedia.content.markup import to_html
from govmedia.errors import ConfigError

__all__ = ["html_to_markdown", "sanitize_html", "wordpress_html"]

# Only schemes a reader can safely follow; ammonia's default list also lets
# through ftp, sms, magnet, bitcoin and others a government page has no use for.
_SCHEMES = {"http", "https", "mailto", "tel"}


def _require(module: str) -> ModuleType:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"{module} is not installed; install the content extra: pip install 'govmedia[content]'"
        ) from None


def sanitize_html(html: str) -> str:
    """*html* with everything unsafe removed (scripts, handlers, unsafe links, unknown tags).

    Example:
        >>> from govmedia.content.sanitize import sanitize_html
        >>> sanitize_html('<img src="data:image/png;base64,AAA" alt="图"><b>粗</b><iframe src="https://x"></iframe>')
        '<img alt="图"><b>粗</b>'
    """
    nh3 = _require("nh3")
    cleaned: str = nh3.clean(html, url_schemes=_SCHEMES)
    return cleaned


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
    sanitized, plain text becomes escaped paragraphs.

    Example:
        >>> from govmedia.content.sanitize import wordpress_html
        >>> wordpress_html("**央企** <b>x</b>")
        '<p><strong>央企</strong> &lt;b&gt;x&lt;/b&gt;</p>\n'
        >>> wordpress_html('<p style="x">正文</p><script>x</script>', "html")
        '<p>正文</p>'
    """
    if body_format == "html":
        return sanitize_html(body)
    if body_format not in ("markdown", "text"):
        raise ConfigError(f"body_format must be markdown, html or text; got {body_format!r}")
    return to_html(body, body_format)
