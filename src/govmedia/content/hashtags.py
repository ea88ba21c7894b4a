"""`Post.tags` written the way each platform recognises a hashtag or topic.

| style | looks like | platforms |
|---|---|---|
| ``weibo`` | ``#一带一路#`` | weibo, except ``statuses/share`` (which forbids ``#话题#``) |
| ``x`` | ``#一带一路`` | x |
| ``mastodon`` | ``#一带一路`` | mastodon |
| ``bluesky`` | ``#一带一路`` | bluesky (also a ``#tag`` facet, see `facets`) |
| ``douyin`` / ``kuaishou`` | ``#一带一路`` | douyin, kuaishou |
| ``hash`` | ``#一带一路`` | telegram, facebook |
| ``none`` | nothing | every other platform |

A tag that has characters a platform does not allow in a hashtag (spaces,
hyphens, punctuation) is joined into one word, later words capitalised
(``"Belt and Road"`` -> ``#BeltAndRoad``); a tag left with no letter is dropped,
as is a repeat.

Example:
    >>> from govmedia.content.hashtags import render_tags
    >>> render_tags(["一带一路看国企", "Belt and Road"], "x")
    ['#一带一路看国企', '#BeltAndRoad']
    >>> render_tags(["一带一路看国企"], "weibo")
    ['#一带一路看国企#']
    >>> render_tags(["一带一路看国企"], "weibo", endpoint="statuses/share")
    []
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Literal

import regex

from govmedia.errors import ConfigError

__all__ = [
    "PLATFORM_STYLES",
    "WEIBO_ENDPOINTS_WITHOUT_TOPICS",
    "After",
    "Style",
    "has_tag",
    "hashtag",
    "new_tags",
    "render_tags",
    "style_for",
    "tag_line",
    "weibo_topics",
    "with_tags",
]

log = logging.getLogger("govmedia.content")

Style = Literal["weibo", "x", "mastodon", "bluesky", "douyin", "kuaishou", "hash", "none"]
_STYLES = ("weibo", "x", "mastodon", "bluesky", "douyin", "kuaishou", "hash", "none")

# Styles of platforms whose modules are not written yet; a registered
# platform's style is its class's ``tag_style``, and each entry here goes when
# its platform is built.
_UNBUILT: dict[str, Style] = {
}


class _Styles(Mapping[str, Style]):
    """Each platform's tag style: registered platforms' declarations, then the unbuilt ones."""

    def _all(self) -> dict[str, Style]:
        found = dict(_UNBUILT)
        from govmedia.platforms import registry

        for name in registry.available():
            style = _declared_style(name)
            if style is not None and style != "none":
                found[name] = style
        return found

    def __getitem__(self, platform: str) -> Style:
        return self._all()[platform]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


PLATFORM_STYLES: Mapping[str, Style] = _Styles()
"""``{platform: style}`` for every platform that writes tags (derived; read-only)."""

# shared/platforms/weibo.md: statuses/share "must not contain #话题#"; the
# repost and comment endpoints share its 140-character status rules.
WEIBO_ENDPOINTS_WITHOUT_TOPICS = frozenset({"statuses/share", "statuses/repost", "comments/create"})

# twitter-text's hashtag letters: letters, marks, digits, underscore and a few
# joiners (ZWNJ, ZWJ, middle dots, the Japanese prolonged-sound marks).
_X_CHARS = regex.compile(
    r"[\p{L}\p{M}\p{Nd}_\u200c\u200d\ua67e\u05be\u05f3\u05f4\uff5e\u301c\u309b\u309c"
    r"\u30a0\u30fb\u3003\u0f0b\u0f0c\u00b7]"
)
# Mastodon's HASHTAG_RE uses [[:word:]] plus `·` and ZWNJ and needs one letter
# (app/models/tag.rb; not on the fact sheet, unverified against the newest code).
_WORD_CHARS = regex.compile(r"[\p{L}\p{M}\p{N}_\u00b7\u200c]")
# Weibo topics end at the next `#`; line breaks break them (unverified beyond that).
_WEIBO_BAD = regex.compile(r"[#＃\s]")
_LETTER = regex.compile(r"\p{L}")
_BLUESKY_MAX_GRAPHEMES = 64  # shared/platforms/bluesky.md: #tag <= 64 graphemes / 640 bytes
_BLUESKY_MAX_BYTES = 640
_GRAPHEME = regex.compile(r"\X")
_WEIBO_TOPIC = regex.compile(r"#([^#\n]{1,64})#")


def style_for(platform: str, *, endpoint: str | None = None) -> Style:
    """The tag style of *platform*; Weibo endpoints that forbid topics give ``none``.

    Example:
        >>> from govmedia.content.hashtags import style_for
        >>> style_for("mastodon"), style_for("wechat_oa"), style_for("weibo", endpoint="statuses/share")
        ('mastodon', 'none', 'none')
    """
    if platform == "weibo" and endpoint in WEIBO_ENDPOINTS_WITHOUT_TOPICS:
        return "none"
    declared = _declared_style(platform)
    if declared is not None:
        return declared
    return _UNBUILT.get(platform, "none")


def _declared_style(platform: str) -> Style | None:
    """The ``tag_style`` a registered platform's class declares, or ``None``."""
    from govmedia.errors import ConfigError
    from govmedia.platforms import registry

    if platform not in registry.available():
        return None
    try:
        style = getattr(registry.get(platform), "tag_style", None)
    except ConfigError:
        return None
    return style if style in _STYLES else None


def _join_words(tag: str, allowed: regex.Pattern[str]) -> str:
    words: list[str] = []
    current: list[str] = []
    for ch in tag:
        if allowed.match(ch):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    if not words:
        return ""
    return words[0] + "".join(w[:1].upper() + w[1:] for w in words[1:])


def hashtag(tag: str, style: Style) -> str | None:
    """*tag* as one hashtag in *style*, or ``None`` if it cannot be one there.

    Example:
        >>> from govmedia.content.hashtags import hashtag
        >>> hashtag("COVID-19", "x"), hashtag("2024", "x"), hashtag("国企 改革", "weibo")
        ('#COVID19', None, '#国企改革#')
    """
    if style not in _STYLES:
        raise ConfigError(f"unknown tag style {style!r}; valid styles: {', '.join(_STYLES)}")
    tag = tag.strip().lstrip("#＃")
    if style == "none" or not tag:
        return None
    if style == "weibo":
        word = _WEIBO_BAD.sub("", tag)
        return f"#{word}#" if word else None
    word = _join_words(tag, _X_CHARS if style == "x" else _WORD_CHARS)
    if not word or not _LETTER.search(word):
        return None  # X, Mastodon and Bluesky do not link an all-digit tag
    if style == "bluesky" and (
        len(_GRAPHEME.findall(word)) > _BLUESKY_MAX_GRAPHEMES
        or len(word.encode("utf-8")) > _BLUESKY_MAX_BYTES
    ):
        log.warning("tag %r left out: longer than Bluesky's 64 graphemes", tag)
        return None
    return "#" + word


After = Literal["boundary", "space", "anything"]
"""What may stand before a tag's ``#`` for a platform to see a hashtag (see `has_tag`)."""

_BEFORE: dict[str, str] = {
    "boundary": r"(?<![\p{L}\p{M}\p{N}_&])",  # not glued to a word, nor an entity's &#
    "space": r"(?<!\S)",                       # the start, or white space
    "anything": "",
}


def has_tag(text: str, tag: str, style: Style, *, after: After = "boundary",
            signs: str = "#＃") -> bool:
    """True when *text* holds *tag*, as *style* writes it, as a hashtag already.

    One of *signs* (``#`` or a full-width ``＃``), then the tag
    (case-insensitive), not running on into more tag letters of *style*:
    ``#央企`` is in ``"#央企 招聘"`` but not in ``"#央企改革"``. Before the
    sign, *after* says what the platform takes: ``boundary`` (the start, or a
    character that cannot be part of a word: twitter-text's rule),
    ``space`` (the start or white space only: Mastodon's, Kuaishou's and
    Telegram's readings here), ``anything`` (Douyin's topics). Weibo's
    ``#话题#`` counts wherever it stands. Platforms use it not to add a tag twice.

    Example:
        >>> from govmedia.content.hashtags import has_tag
        >>> has_tag("招聘季 #央企", "央企", "hash"), has_tag("#央企改革", "央企", "hash")
        (True, False)
        >>> has_tag("see #BeltAndRoad", "Belt and Road", "x"), has_tag("#一带一路#", "一带一路", "weibo")
        (True, True)
        >>> has_tag("（#央企）", "央企", "mastodon"), has_tag("（#央企）", "央企", "mastodon", after="space")
        (True, False)
    """
    rendered = hashtag(tag, style)
    if rendered is None:
        return False
    if style == "weibo":
        return rendered in text
    ending = (_X_CHARS if style == "x" else _WORD_CHARS).pattern
    pattern = (_BEFORE[after] + "[" + regex.escape(signs) + "]" + regex.escape(rendered[1:])
               + f"(?!{ending})")
    return regex.search(pattern, text, regex.IGNORECASE) is not None


def new_tags(text: str, tags: Iterable[str], style: Style, *, platform: str,
             after: After = "boundary", signs: str = "#＃") -> list[str]:
    """*tags* as *style* writes them, less those *text* holds already (`has_tag`) and repeats.

    A tag that cannot be one in *style* (no letter, say) is left out with a
    warning naming *platform*.

    Example:
        >>> from govmedia.content.hashtags import new_tags
        >>> new_tags("#央企 招聘季", ["央企", "微 招聘", "微招聘", "2024"], "x", platform="x")
        ['#微招聘']
    """
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        rendered = hashtag(tag, style)
        if rendered is None:
            log.warning("%s: tag %r has no letter, so it is no hashtag there; left out",
                        platform, tag)
        elif rendered.casefold() not in seen and not has_tag(text, rendered, style, after=after,
                                                             signs=signs):
            seen.add(rendered.casefold())
            out.append(rendered)
    return out


def with_tags(text: str, tags: Iterable[str], style: Style, *, platform: str,
              separator: str = "\n\n", after: After = "boundary", signs: str = "#＃") -> str:
    """*text*, then the `new_tags` on one line, *separator* between (either may be empty).

    Example:
        >>> from govmedia.content.hashtags import with_tags
        >>> print(with_tags("#央企 招聘季", ["央企", "Belt and Road"], "mastodon", platform="mastodon"))
        #央企 招聘季
        <BLANKLINE>
        #BeltAndRoad
    """
    line = " ".join(new_tags(text, tags, style, platform=platform, after=after, signs=signs))
    return f"{text}{separator}{line}" if text and line else text or line


def render_tags(tags: Iterable[str], platform: str, *, endpoint: str | None = None,
                style: Style | None = None) -> list[str]:
    """Each of *tags* as *platform* writes it, repeats and impossible tags dropped.

    Args:
        tags: Usually `Post.tags`, with or without a leading ``#``.
        platform: The platform name; its style comes from `PLATFORM_STYLES`.
        endpoint: For Weibo, the API used (``statuses/share`` forbids topics).
        style: Overrides the platform's style.

    Example:
        >>> from govmedia.content.hashtags import render_tags
        >>> render_tags(["#国企", "国企", "央企"], "mastodon")
        ['#国企', '#央企']
    """
    chosen = style or style_for(platform, endpoint=endpoint)
    seen: set[str] = set()
    out: list[str] = []
    for tag in tags:
        rendered = hashtag(tag, chosen)
        if rendered is None or rendered.casefold() in seen:
            continue
        seen.add(rendered.casefold())
        out.append(rendered)
    return out


def tag_line(tags: Iterable[str], platform: str, *, endpoint: str | None = None,
             style: Style | None = None) -> str:
    """The rendered tags as one space-separated line (``""`` when there are none).

    Example:
        >>> from govmedia.content.hashtags import tag_line
        >>> tag_line(["央企", "国企改革"], "bluesky")
        '#央企 #国企改革'
    """
    return " ".join(render_tags(tags, platform, endpoint=endpoint, style=style))


def weibo_topics(text: str) -> list[str]:
    """The ``#话题#`` topics in *text* (what ``statuses/share`` refuses).

    Example:
        >>> from govmedia.content.hashtags import weibo_topics
        >>> weibo_topics("#一带一路看国企# 央企出海 #国企改革#")
        ['一带一路看国企', '国企改革']
    """
    return [m.group(1) for m in _WEIBO_TOPIC.finditer(text) if m.group(1).strip()]
