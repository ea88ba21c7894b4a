"""Content helpers every platform uses: markup conversion and length rules.

Example:
    >>> from govmedia import content
    >>> content.to_html("# 标题\\n\\n**正文**", "markdown")
    '<h1>标题</h1>\\n<p><strong>正文</strong></p>\\n'
    >>> content.graphemes("👍🏽中文")
    3
"""

from govmedia.content.length import count_mastodon, graphemes, truncate_graphemes
from govmedia.content.markup import short_text, to_html, to_plain

__all__ = [
    "count_mastodon",
    "graphemes",
    "short_text",
    "to_html",
    "to_plain",
    "truncate_graphemes",
]
