"""Opt-in shortening of a text to a platform's limit.

Over-long text is refused by default (``too_long``); `fit` is what a user asks
for when a shortened post is acceptable. It cuts at a grapheme boundary, never
inside a link, backs up to a word boundary in scripts written with spaces (any
boundary will do in Chinese and Japanese), adds an ellipsis and keeps the
items that must survive (the link, the tags) at the end.

Example:
    >>> from govmedia.content.fit import fit
    >>> from govmedia.content.counting import count_x
    >>> text = "国资委召开中央企业负责人会议，部署下一阶段重点工作。" * 20
    >>> short = fit(text, 280, count_x, keep=("https://www.sasac.gov.cn/n1/c2.html", "#国资委"))
    >>> short.endswith("… https://www.sasac.gov.cn/n1/c2.html #国资委"), count_x(short) <= 280
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs
import regex

from govmedia.content._urls import find_urls
from govmedia.content.counting import LengthRule, rules_for
from govmedia.content.hashtags import tag_line
from govmedia.content.markup import short_text
from govmedia.errors import ConfigError, ValidationError
from govmedia.model import Post, Problem

__all__ = ["fit", "fit_for", "fit_post"]

_GRAPHEME = regex.compile(r"\X")
# Letters of scripts written without spaces: a cut between two of them is a
# fine place to stop, so no backing up to a space is needed there.
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}_'’-]")
# Trailing punctuation that reads badly before an ellipsis; closing brackets and
# quotes (Pe, Pf) stay so a quotation is not left open-looking.
_TRAILING = regex.compile(r"[\s\p{Po}\p{Pd}\p{Ps}\p{Pi}\p{Pc}]+$")


def _is_word(ch: str) -> bool:
    return bool(_WORD.match(ch)) and not _UNSPACED.match(ch)


def _remove(body: str, item: str) -> str:
    parts = body.split(item)
    if len(parts) == 1:
        return body
    pieces = [parts[0].rstrip(), *(p.strip() for p in parts[1:-1]), parts[-1].lstrip()]
    return " ".join(p for p in pieces if p)


def _cut_points(body: str) -> list[int]:
    inside: set[int] = set()
    for url in find_urls(body):
        inside.update(range(url.start + 1, url.end))
    points = [0]
    pos = 0
    for cluster in _GRAPHEME.findall(body):
        pos += len(cluster)
        if pos not in inside:
            points.append(pos)
    return points


def _word_start(body: str, cut: int) -> int:
    if cut <= 0 or cut >= len(body) or not (_is_word(body[cut - 1]) and _is_word(body[cut])):
        return cut
    start = cut
    while start > 0 and _is_word(body[start - 1]):
        start -= 1
    # A single word longer than the room left is cut where it must be.
    return start if start > 0 else cut


def _shorten(text: str, ok: Callable[[str], bool], *, keep: Iterable[str | None],
             ellipsis: str, separator: str, describe: Callable[[str], str]) -> str:
    if ok(text):
        return text
    kept = [k.strip() for k in keep if k and k.strip()]
    body = text
    for item in kept:
        body = _remove(body, item)
    body = body.strip()
    tail = separator.join(kept)

    def compose(prefix: str) -> str:
        prefix = _TRAILING.sub("", prefix)
        if not prefix:
            return tail or (ellipsis if ok(ellipsis) else "")
        return prefix + ellipsis + (separator + tail if tail else "")

    if not ok(compose("")):
        raise ValidationError([Problem(
            code="too_long",
            message=f"cannot fit: what must be kept ({describe(tail)}) is already over the limit",
            field="text",
        )])
    points = _cut_points(body)
    low, high = 0, len(points) - 1
    while low < high:  # largest cut point whose result fits
        mid = (low + high + 1) // 2
        if ok(compose(body[: points[mid]])):
            low = mid
        else:
            high = mid - 1
    # Counters are monotone in practice, but a cut may still create a link-like
    # token; step back until the result really fits.
    index = low
    while index > 0:
        cut = _word_start(body, points[index])
        result = compose(body[:cut])
        if ok(result):
            return result
        index -= 1
    return compose("")


def fit(text: str, limit: int, counter: Callable[[str], int], *,
        keep: Iterable[str | None] = (), ellipsis: str = "…", separator: str = " ") -> str:
    """*text* unchanged if ``counter(text) <= limit``, else shortened to fit.

    Args:
        text: Plain text (a microblog post, a caption).
        limit: The largest allowed ``counter`` value.
        counter: How the platform counts, e.g. `count_x` or `count_bluesky_units`.
        keep: Parts of *text* that must survive a cut (the link, rendered tags):
            when the text is too long they are taken out of it and put back, in
            this order, after the ellipsis. Build the full text first; a text
            that fits is returned as it is. Empty items are ignored.
        ellipsis: Added where the body was cut.
        separator: Put between the shortened body and each kept item.

    Returns:
        A text with ``counter(result) <= limit``.

    Raises:
        ValidationError: the kept items alone do not fit (``too_long``).

    Example:
        >>> from govmedia.content.fit import fit
        >>> fit("Central SOEs report steady growth in the first quarter of the year", 40, len,
        ...     keep=("https://x.org/a",))
        'Central SOEs report… https://x.org/a'
    """
    return _shorten(text, lambda t: counter(t) <= limit, keep=keep, ellipsis=ellipsis,
                    separator=separator, describe=lambda t: f"{counter(t)} > {limit}")


def fit_for(text: str, platform: str, field: str = "text", *,
            keep: Iterable[str | None] = (), ellipsis: str = "…", separator: str = " ",
            limit: int | None = None) -> str:
    """Shorten *text* to every length rule of *platform*'s *field* (see `rules_for`).

    Bluesky's two limits (300 graphemes, 3000 bytes) are both honoured; *limit*
    replaces the limit of a single-rule field (a Mastodon instance's
    ``max_characters``).

    Example:
        >>> from govmedia.content.fit import fit_for
        >>> from govmedia.content.counting import count_bluesky
        >>> out = fit_for("一带一路看国企。" * 60, "bluesky", keep=("https://example.org/a",))
        >>> count_bluesky(out)[0] <= 300
        True
    """
    rules: list[LengthRule] = rules_for(platform, field)
    if not rules:
        return text
    if limit is not None:
        if len(rules) != 1:
            raise ConfigError(f"limit= needs exactly one rule for {platform}.{field}")
        rules = [attrs.evolve(rules[0], limit=limit)]

    def ok(candidate: str) -> bool:
        return all(r.overflow(candidate)[1] == 0 for r in rules)

    def describe(candidate: str) -> str:
        return ", ".join(f"{r.counter(candidate)} {r.unit} of {r.limit}" for r in rules)

    return _shorten(text, ok, keep=keep, ellipsis=ellipsis, separator=separator,
                    describe=describe)


def fit_post(post: Post, platform: str, *, limit: int | None = None) -> Post:
    """*post* with its `text` shortened to *platform*'s limit, link and tags kept.

    This is what the channel option ``fit = true`` does before checking: the
    text the platform would send (`short_text` plus its rendered tags) is
    built, and if it is too long it is cut at a word or grapheme boundary with
    an ellipsis, the link and the tags put back at the end. A post that fits
    is returned as it is; a platform with no text limit leaves it alone.

    Example:
        >>> import govmedia as gm
        >>> from govmedia.content.fit import fit_post
        >>> from govmedia.content.counting import count_x
        >>> post = gm.Post(text="央企" * 200 + " https://example.org/a", link="https://example.org/a",
        ...                tags=("一带一路",))
        >>> out = fit_post(post, "x")
        >>> count_x(out.text) <= 280, out.text.endswith("https://example.org/a #一带一路")
        (True, True)
    """
    if not rules_for(platform, "text"):
        return post
    text = short_text(post)
    # Weibo's short text goes to statuses/share, which refuses #话题#: no tags there.
    tags = tag_line(post.tags, platform, endpoint="statuses/share" if platform == "weibo" else None)
    missing_tags = " ".join(t for t in tags.split() if t not in text)
    full = f"{text} {missing_tags}".strip() if missing_tags else text
    link = post.link if post.link and post.link in full else None
    fitted = fit_for(full, platform, keep=(link, missing_tags or None), limit=limit)
    if fitted == text:
        return post
    return attrs.evolve(post, text=fitted)
