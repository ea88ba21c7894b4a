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
from govmedia.content.length import count_mastodon, graphemes, truncate_graphemes
from govmedia.content.markup import short_text, to_html, to_plain
from govmedia.content.sanitize import html_to_markdown, sanitize_html, wordpress_html
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
    "render_tags",
    "rich_text",
    "rules_for",
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
