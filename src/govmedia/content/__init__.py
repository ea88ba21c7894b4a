r"""Content helpers every platform uses: markup, length rules, tags, script, screening.

Example:
    >>> from govmedia import content
    >>> content.to_html("# 标题\n\n**正文**", "markdown")
    '<h1>标题</h1>\n<p><strong>正文</strong></p>\n'
    >>> content.graphemes("👍🏽中文")
    3
    >>> content.count_x("国资小新 https://www.sasac.gov.cn")
    32
    >>> content.render_tags(["一带一路看国企"], "weibo")
    ['#一带一路看国企#']
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from govmedia.content.checks import Checks, load_checks
    from govmedia.content.counting import (
        RULES,
        LengthRule,
        check_length,
        count_bluesky,
        count_bluesky_units,
        count_chars,
        count_telegram,
        count_utf8,
        count_weibo,
        count_x,
        rules_for,
    )
    from govmedia.content.facets import RichText, find_mentions, rich_text
    from govmedia.content.fit import fit, fit_for, fit_post
    from govmedia.content.hashtags import hashtag, render_tags, tag_line, weibo_topics
    from govmedia.content.integrity import body_problems
    from govmedia.content.length import count_mastodon, graphemes, truncate_graphemes
    from govmedia.content.markup import short_text, to_html, to_plain
    from govmedia.content.media import media_problems
    from govmedia.content.sanitize import html_to_markdown, safe_html, sanitize_html, wordpress_html
    from govmedia.content.screen import Hit, Screen
    from govmedia.content.script import convert as convert_script
    from govmedia.content.script import convert_post
    from govmedia.content.telegram import telegram_html

__all__ = [
    "RULES",
    "Checks",
    "Hit",
    "LengthRule",
    "RichText",
    "Screen",
    "body_problems",
    "check_length",
    "convert_post",
    "convert_script",
    "count_bluesky",
    "count_bluesky_units",
    "count_chars",
    "count_mastodon",
    "count_telegram",
    "count_utf8",
    "count_weibo",
    "count_x",
    "find_mentions",
    "fit",
    "fit_for",
    "fit_post",
    "graphemes",
    "hashtag",
    "html_to_markdown",
    "load_checks",
    "media_problems",
    "render_tags",
    "rich_text",
    "rules_for",
    "safe_html",
    "sanitize_html",
    "short_text",
    "tag_line",
    "telegram_html",
    "to_html",
    "to_plain",
    "truncate_graphemes",
    "weibo_topics",
    "wordpress_html",
]


# Each name is imported from its module on first use: `import govmedia.content`
# (which every platform does) stays cheap, and nobody pays for screening,
# OpenCC or sanitising they do not use. `fit` is the exception: it shares its
# name with its module, which would shadow a lazily loaded function.
from govmedia.content.fit import fit

_HOME = {
    "Checks": ("govmedia.content.checks", "Checks"),
    "Hit": ("govmedia.content.screen", "Hit"),
    "LengthRule": ("govmedia.content.counting", "LengthRule"),
    "RULES": ("govmedia.content.counting", "RULES"),
    "RichText": ("govmedia.content.facets", "RichText"),
    "Screen": ("govmedia.content.screen", "Screen"),
    "body_problems": ("govmedia.content.integrity", "body_problems"),
    "check_length": ("govmedia.content.counting", "check_length"),
    "convert_post": ("govmedia.content.script", "convert_post"),
    "convert_script": ("govmedia.content.script", "convert"),
    "count_bluesky": ("govmedia.content.counting", "count_bluesky"),
    "count_bluesky_units": ("govmedia.content.counting", "count_bluesky_units"),
    "count_chars": ("govmedia.content.counting", "count_chars"),
    "count_mastodon": ("govmedia.content.length", "count_mastodon"),
    "count_telegram": ("govmedia.content.counting", "count_telegram"),
    "count_utf8": ("govmedia.content.counting", "count_utf8"),
    "count_weibo": ("govmedia.content.counting", "count_weibo"),
    "count_x": ("govmedia.content.counting", "count_x"),
    "find_mentions": ("govmedia.content.facets", "find_mentions"),
    "fit": ("govmedia.content.fit", "fit"),
    "fit_for": ("govmedia.content.fit", "fit_for"),
    "fit_post": ("govmedia.content.fit", "fit_post"),
    "graphemes": ("govmedia.content.length", "graphemes"),
    "hashtag": ("govmedia.content.hashtags", "hashtag"),
    "html_to_markdown": ("govmedia.content.sanitize", "html_to_markdown"),
    "load_checks": ("govmedia.content.checks", "load_checks"),
    "media_problems": ("govmedia.content.media", "media_problems"),
    "render_tags": ("govmedia.content.hashtags", "render_tags"),
    "rich_text": ("govmedia.content.facets", "rich_text"),
    "rules_for": ("govmedia.content.counting", "rules_for"),
    "safe_html": ("govmedia.content.sanitize", "safe_html"),
    "sanitize_html": ("govmedia.content.sanitize", "sanitize_html"),
    "short_text": ("govmedia.content.markup", "short_text"),
    "tag_line": ("govmedia.content.hashtags", "tag_line"),
    "telegram_html": ("govmedia.content.telegram", "telegram_html"),
    "to_html": ("govmedia.content.markup", "to_html"),
    "to_plain": ("govmedia.content.markup", "to_plain"),
    "truncate_graphemes": ("govmedia.content.length", "truncate_graphemes"),
    "weibo_topics": ("govmedia.content.hashtags", "weibo_topics"),
    "wordpress_html": ("govmedia.content.sanitize", "wordpress_html"),
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        module, attr = _HOME[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'govmedia.content' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
