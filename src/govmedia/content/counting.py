"""Text length as each platform counts it, and each platform's limits.

Every rule cites the fact sheet it comes from (``shared/platforms/<name>.md``);
where the sheet does not say how a platform counts, the comment says so and the
rule counts on the side that never lets an over-long post through.

Example:
    >>> from govmedia.content import counting
    >>> counting.count_x("国资小新 https://www.sasac.gov.cn/n2588025/index.html")
    32
    >>> counting.count_bluesky("国资小新 👍🏽")
    (6, 21)
    >>> [p.message for p in counting.check_length("国" * 141, "weibo")]
    ['text is 141 characters as Weibo counts them (CJK 1, two ASCII 1), limit 140: 1 over']
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence

import regex

from govmedia.content._urls import find_urls
from govmedia.content.length import count_mastodon, graphemes
from govmedia.content.rules import LengthRule
from govmedia.errors import ConfigError
from govmedia.model import Problem

__all__ = [
    "RULES",
    "LengthRule",
    "check_length",
    "count_bluesky",
    "count_bluesky_units",
    "count_chars",
    "count_mastodon",
    "count_telegram",
    "count_utf8",
    "count_weibo",
    "count_x",
    "rules_for",
    "telegram_visible_text",
]

# twitter-text config v3 (shared/platforms/x.md, "Content limits"): weights are
# in hundredths; a code point weighs 200 unless it falls in one of these ranges.
_X_SCALE = 100
_X_DEFAULT_WEIGHT = 200
_X_URL_WEIGHT = 23 * _X_SCALE
_X_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))

_GRAPHEME = regex.compile(r"\X")
# An emoji sequence (ZWJ family, skin tone, flag, keycap) is one grapheme
# cluster holding a pictographic code point, regional indicators or the keycap
# mark; twitter-text v3 weighs each such sequence as one default-weight unit.
_EMOJI = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}\u20e3]")


def _x_weight(cp: int) -> int:
    for low, high in _X_RANGES:
        if low <= cp <= high:
            return _X_SCALE
    return _X_DEFAULT_WEIGHT


def _x_plain(segment: str) -> int:
    total = 0
    if segment.isascii():
        return len(segment) * _X_SCALE
    for cluster in _GRAPHEME.findall(segment):
        # Plain ``©``/``®`` are pictographic too: counted as an emoji (2), as
        # twitter-text's emoji list includes their unqualified forms (unverified).
        if (len(cluster) > 1 or ord(cluster) > 0x7F) and _EMOJI.search(cluster):
            total += _X_DEFAULT_WEIGHT
            continue
        total += sum(_x_weight(ord(ch)) for ch in cluster)
    return total


def count_x(text: str) -> int:
    """Weighted length as X counts a post (twitter-text config v3; limit 280).

    NFC first; then each URL counts 23, each emoji sequence 2, a code point in
    U+0000-10FF, U+2000-200D, U+2010-201F or U+2032-2037 counts 1 and any other
    (CJK included) 2. Source: shared/platforms/x.md "Content limits".

    Example:
        >>> from govmedia.content.counting import count_x
        >>> count_x("Hi http://test.co"), count_x("故人西辞黄鹤楼"), count_x("👨‍👩‍👧‍👦")
        (26, 14, 2)
    """
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for url in find_urls(text):
        total += _x_plain(text[pos : url.start]) + _X_URL_WEIGHT
        pos = url.end
    total += _x_plain(text[pos:])
    return total // _X_SCALE


def count_weibo(text: str, *, url_weight: float | None = None) -> int:
    """Length as Weibo counts a status (limit 140 "Chinese characters").

    The fact sheet (shared/platforms/weibo.md, ``statuses/share``) gives the limit
    in Chinese characters only. The rule used here, one Chinese (any non-ASCII)
    code point counts 1 and two ASCII characters count 1, rounded up, is Weibo's
    client rule and unverified for the API; emoji count per code point, which
    can only over-count. Links are counted as written unless *url_weight* (in
    Chinese characters) says what Weibo's t.cn short link costs (unverified).

    Example:
        >>> from govmedia.content.counting import count_weibo
        >>> count_weibo("国资小新"), count_weibo("SASAC"), count_weibo("国资 news")
        (4, 3, 5)
    """
    halves = 0
    pos = 0
    if url_weight is not None:
        for url in find_urls(text):
            halves += _weibo_halves(text[pos : url.start]) + math.ceil(2 * url_weight)
            pos = url.end
    halves += _weibo_halves(text[pos:])
    return (halves + 1) // 2


def _weibo_halves(segment: str) -> int:
    ascii_count = sum(1 for ch in segment if ord(ch) < 0x80)
    return ascii_count + 2 * (len(segment) - ascii_count)


def count_bluesky(text: str) -> tuple[int, int]:
    """``(graphemes, UTF-8 bytes)`` of a Bluesky post text (limits 300 and 3000).

    Source: shared/platforms/bluesky.md "Content limits" (lexicon ``maxGraphemes``
    300, ``maxLength`` 3000 counted with ``utf8Len``).

    Example:
        >>> from govmedia.content.counting import count_bluesky
        >>> count_bluesky("国资 👨‍👩‍👧‍👦")
        (4, 32)
    """
    return graphemes(text), len(text.encode("utf-8"))


def count_bluesky_units(text: str) -> int:
    """One number that is <= 300 exactly when a text fits Bluesky's two limits.

    ``max(graphemes, ceil(bytes / 10))``: a text fits 300 graphemes and 3000
    bytes exactly when this is at most 300, so `fit` can use it as a counter.

    Example:
        >>> from govmedia.content.counting import count_bluesky_units
        >>> count_bluesky_units("a" * 10), count_bluesky_units("👨‍👩‍👧‍👦" * 10)
        (10, 25)
    """
    chars, size = count_bluesky(text)
    return max(chars, -(-size // 10))


_TAG = regex.compile(r"<[^>]*>")


def telegram_visible_text(html_text: str) -> str:
    """What a reader sees of a Telegram HTML message: tags dropped, entities decoded.

    Example:
        >>> from govmedia.content.counting import telegram_visible_text
        >>> telegram_visible_text('<b>国资</b> &amp; <a href="https://x.org">央企</a>')
        '国资 & 央企'
    """
    import html

    return html.unescape(_TAG.sub("", html_text))


def count_telegram(text: str, *, html: bool = False) -> int:
    """Length of a Telegram message text or caption (limits 4096 and 1024).

    Telegram counts "characters after entity parsing" (shared/platforms/telegram.md
    "Content limits"): with ``html=True`` the tags are dropped and entities
    decoded first. The unit is not stated; this counts UTF-16 code units, the
    unit of Telegram's entity offsets, which is never less than the number of
    code points (unverified which of the two the server checks).

    Example:
        >>> from govmedia.content.counting import count_telegram
        >>> count_telegram("<b>国资</b> 👍", html=True)
        5
    """
    if html:
        text = telegram_visible_text(text)
    return len(text.encode("utf-16-le")) // 2


def count_chars(text: str) -> int:
    """Code points: how limits given in plain "characters" are counted here.

    Used for WeChat, Weibo long articles, YouTube titles and Bilibili titles,
    whose fact sheets give a number of characters without saying how emoji or
    astral characters count (unverified; CJK is one either way).

    Example:
        >>> from govmedia.content.counting import count_chars
        >>> count_chars("国资小新")
        4
    """
    return len(text)


def count_utf8(text: str) -> int:
    """UTF-8 bytes (YouTube descriptions, WeChat article bodies).

    Example:
        >>> from govmedia.content.counting import count_utf8
        >>> count_utf8("国资")
        6
    """
    return len(text.encode("utf-8"))


_WX = "shared/platforms/wechat_oa.md: draft/add"

# Rules of platforms whose modules are not written yet; each moves to its
# platform class (``rules``) when the platform is built, and this table goes.
RULES: tuple[LengthRule, ...] = ()


def _declared(platform: str) -> list[LengthRule] | None:
    """The length rules a registered platform's class declares, or ``None``."""
    from govmedia.errors import ConfigError as _Missing
    from govmedia.platforms import registry

    if platform not in registry.available():
        return None
    try:
        cls = registry.get(platform)
    except _Missing:
        return None
    declared = getattr(cls, "rules", None)
    if declared is None:
        return None
    return [r for r in declared if isinstance(r, LengthRule)]


def rules_for(platform: str, field: str | None = None) -> list[LengthRule]:
    """The length rules of *platform* (optionally only those of *field*).

    A registered platform's rules come from its class (``rules``). A platform
    with no rules (WordPress, webhook) has no length limit.

    Example:
        >>> from govmedia.content.counting import rules_for
        >>> [(r.field, r.limit) for r in rules_for("wechat_oa", "title")]
        [('title', 32)]
        >>> [(r.field, r.limit, r.unit) for r in rules_for("bluesky")]
        [('text', 300, 'graphemes'), ('text', 3000, 'UTF-8 bytes')]
    """
    rules = _declared(platform)
    if rules is None:
        rules = [r for r in RULES if r.platform == platform]
    return [r for r in rules if field is None or r.field == field]


def check_length(text: str, platform: str, field: str = "text", *,
                 limit: int | None = None,
                 rules: Sequence[LengthRule] | None = None) -> list[Problem]:
    """``too_long`` problems for *text* in *field* on *platform*, with the exact overflow.

    Args:
        text: The text as it will be sent.
        platform: A platform name (one with no rules has no limit: ``[]``).
        field: The post field (``text``, ``title``, ``body``, ``summary``, ``caption``, ...).
        limit: Overrides the limit of a single-rule field, e.g. a Mastodon
            instance's ``max_characters``.
        rules: Check against these rules instead of the platform's.

    Example:
        >>> from govmedia.content.counting import check_length
        >>> check_length("国" * 141, "x")[0].message
        'text is 282 characters as X counts them (CJK 2, URL 23), limit 280: 2 over'
        >>> check_length("国" * 141, "x", limit=300)
        []
    """
    chosen = list(rules) if rules is not None else rules_for(platform, field)
    if limit is not None and len(chosen) != 1:
        raise ConfigError(f"limit= needs exactly one rule for {platform}.{field}, found {len(chosen)}")
    problems = []
    for rule in chosen:
        problem = rule.check(text, limit=limit, field=field)
        if problem is not None:
            problems.append(problem)
    return problems
