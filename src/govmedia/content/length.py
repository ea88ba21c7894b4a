"""Text length as platforms count it."""

from __future__ import annotations

import regex

__all__ = ["count_mastodon", "graphemes", "truncate_graphemes"]

_GRAPHEME = regex.compile(r"\X")
# Mastodon's URL rule: each http(s) URL counts as 23 characters; a mention
# @user@domain counts as @user only (app/validators/status_length_validator.rb).
_URL = regex.compile(r"https?://[^\s<>\"'\u3000-\u303f\uff00-\uffef]+", regex.IGNORECASE)
_MENTION = regex.compile(r"(?<![\w@])@(\w+)@[\w.-]+\w", regex.UNICODE)


def graphemes(text: str) -> int:
    """The number of user-perceived characters (extended grapheme clusters)."""
    return len(_GRAPHEME.findall(text))


def truncate_graphemes(text: str, limit: int) -> str:
    """*text* cut to at most *limit* grapheme clusters, never inside one."""
    return "".join(_GRAPHEME.findall(text)[:limit])


def count_mastodon(text: str, *, url_weight: int = 23) -> int:
    """Length as Mastodon counts a status: graphemes, each URL as 23, mentions by user."""
    text = _MENTION.sub(lambda m: "@" + m.group(1), text)
    urls = _URL.findall(text)
    rest = _URL.sub("", text)
    return graphemes(rest) + url_weight * len(urls)
