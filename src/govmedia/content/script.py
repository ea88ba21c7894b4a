"""Simplified or Traditional Chinese on the way out (channel option ``script``).

``script="traditional"`` runs OpenCC ``s2t`` over a post's text fields,
``"simplified"`` runs ``t2s``; any other value is a `ConfigError`
(shared/DESIGN.md, "Content and compliance"). Links, Markdown link targets and
HTML tags inside the text are left exactly as written, and so are `Post.link`,
the key and the approvals. Approvals bind the content hash, so check them
(and screen the post) on the post as given, before converting it.

Needs the ``content`` extra (the official ``opencc`` package).

Example:
    >>> from govmedia.content.script import convert
    >>> convert("国务院国资委发布 https://www.sasac.gov.cn/国资/a.html", "traditional")
    '國務院國資委發佈 https://www.sasac.gov.cn/国资/a.html'
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any, Literal

import attrs
import regex

from govmedia.content._urls import find_urls
from govmedia.errors import ConfigError
from govmedia.model import Media, Post

__all__ = ["SCRIPTS", "Script", "convert", "convert_post"]

Script = Literal["traditional", "simplified"]
SCRIPTS: dict[str, str] = {"traditional": "s2t", "simplified": "t2s"}

# Spans that must survive byte for byte: HTML tags (their attributes hold URLs),
# Markdown link/image targets ``](...)`` and http(s) links up to a space or CJK
# punctuation (a path may hold Chinese characters, which twitter-text's link
# rules would stop at); bare domains are found by find_urls.
_PROTECTED = regex.compile(
    r"<[^<>]*>"
    r"|\]\([^()\s]*(?:\([^()\s]*\)[^()\s]*)*(?:\s+\"[^\"]*\")?\)"
    r"|https?://[^\s<>\"'，。；：！？、（）【】「」『』《》\u3000]+",
    regex.IGNORECASE,
)
_LOCK = threading.Lock()


@lru_cache(maxsize=4)
def _converter(config: str) -> Any:
    try:
        import opencc
    except ImportError:
        from govmedia._extras import install_hint

        raise ConfigError(
            f"script conversion needs OpenCC (govmedia's content extra): {install_hint('opencc')}"
        ) from None
    return opencc.OpenCC(config)


def _config(script: str) -> str:
    if script not in SCRIPTS:
        raise ConfigError(
            f"script must be 'traditional' or 'simplified', got {script!r}"
        )
    return SCRIPTS[script]


def _run(config: str, text: str) -> str:
    converter = _converter(config)
    with _LOCK:  # the C++ converter is not documented as thread-safe
        out: str = converter.convert(text)
    return out


def convert(text: str, script: str) -> str:
    """*text* in Traditional (``"traditional"``) or Simplified (``"simplified"``) Chinese.

    Links, Markdown link targets and HTML tags keep their exact spelling.

    Raises:
        ConfigError: *script* is neither value, or OpenCC is not installed.

    Example:
        >>> from govmedia.content.script import convert
        >>> convert("[國資委](https://example.org/國資) <a href='/國'>頭條</a>", "simplified")
        "[国资委](https://example.org/國資) <a href='/國'>头条</a>"
    """
    config = _config(script)
    if not text:
        return text
    keep = [(m.start(), m.end()) for m in _PROTECTED.finditer(text)]
    keep += [(u.start, u.end) for u in find_urls(text)]
    keep.sort()
    out: list[str] = []
    pos = 0
    for span_start, end in keep:
        if end <= pos:
            continue
        start = max(span_start, pos)
        if start > pos:
            out.append(_run(config, text[pos:start]))
        out.append(text[start:end])
        pos = end
    if pos < len(text):
        out.append(_run(config, text[pos:]))
    return "".join(out)


def _media(item: Media, script: str) -> Media:
    if not item.alt:
        return item
    return attrs.evolve(item, alt=convert(item.alt, script))


def convert_post(post: Post, script: str) -> Post:
    """A copy of *post* with title, body, text, summary, tags and alt texts converted.

    `Post.link`, `Post.key` and the approvals are kept as they are; the
    approvals no longer match the converted content, which is why approvals
    and screening are checked on the post as given.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.content.script import convert_post
        >>> post = gm.Post(title="国资小新", text="央企发布", tags=("国企改革",), link="https://x.org/国")
        >>> out = convert_post(post, "traditional")
        >>> out.title, out.text, out.tags, out.link, out.key == post.key
        ('國資小新', '央企發佈', ('國企改革',), 'https://x.org/国', True)
    """
    _config(script)

    def conv(value: str | None) -> str | None:
        return convert(value, script) if value else value

    return attrs.evolve(
        post,
        title=conv(post.title),
        body=conv(post.body),
        text=conv(post.text),
        summary=conv(post.summary),
        tags=tuple(convert(t, script) for t in post.tags),
        cover=_media(post.cover, script) if post.cover else None,
        media=tuple(_media(m, script) for m in post.media),
    )
