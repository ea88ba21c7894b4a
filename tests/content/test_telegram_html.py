"""Markdown and CMS HTML rendered into the HTML subset Telegram accepts."""

import html.parser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from govmedia.content.counting import count_telegram
from govmedia.content.telegram import telegram_html
from govmedia.errors import ConfigError

# shared/platforms/telegram.md: HTML supports <b> <i> <u> <s> <a href> <code>
# <pre> <blockquote> <tg-spoiler>.
ALLOWED = {"b", "i", "u", "s", "a", "code", "pre", "blockquote", "tg-spoiler"}


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack = []
        self.seen = set()
        self.balanced = True

    def handle_starttag(self, tag, attrs):
        self.seen.add(tag)
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def _tags(markup):
    parser = _Tags()
    parser.feed(markup)
    parser.close()
    return parser


def test_markdown_article_becomes_telegram_html():
    md = (
        "# 微招聘：中国石化2025年校园招聘\n\n"
        "**岗位**：*工程师*、~~实习生~~\n\n"
        "1. 北京\n2. 上海\n   - 浦东\n\n"
        "> 截止日期：6月30日\n\n"
        "```python\nprint('<简历>')\n```\n\n"
        "报名 [入口](https://example.org/jobs?id=1&src=tg) 或 `apply@example.org`"
    )
    assert telegram_html(md) == (
        "<b>微招聘：中国石化2025年校园招聘</b>\n\n"
        "<b>岗位</b>：<i>工程师</i>、<s>实习生</s>\n\n"
        "1. 北京\n2. 上海\n  • 浦东\n\n"
        "<blockquote>截止日期：6月30日</blockquote>\n\n"
        "<pre><code class=\"language-python\">print('&lt;简历&gt;')</code></pre>\n\n"
        '报名 <a href="https://example.org/jobs?id=1&amp;src=tg">入口</a> 或 <code>apply@example.org</code>'
    )


def test_text_is_escaped_and_raw_html_in_markdown_is_shown_not_obeyed():
    out = telegram_html("A & B < C > D <script>alert(1)</script>")
    assert out == "A &amp; B &lt; C &gt; D &lt;script&gt;alert(1)&lt;/script&gt;"


def test_cms_html_is_flattened_to_allowed_tags():
    page = (
        '<div class="article"><h2>通知</h2><p style="color:red">请<strong>务必</strong>'
        '<span class="tg-spoiler">保密</span><u>下划线</u><ins>插入</ins><del>删除</del></p>'
        '<table><tr><th>单位</th><th>人数</th></tr><tr><td>国资委</td><td>3</td></tr></table>'
        '<img src="https://x.org/a.png" alt="配图"><script>track()</script>'
        '<a href="javascript:alert(1)">坏链接</a> <a href="https://x.org">好链接</a></div>'
    )
    out = telegram_html(page, "html")
    assert out == (
        "<b>通知</b>\n\n请<b>务必</b><tg-spoiler>保密</tg-spoiler><u>下划线</u><u>插入</u><s>删除</s>\n\n"
        '单位 | 人数\n国资委 | 3\n\n配图坏链接 <a href="https://x.org">好链接</a>'
    )


def test_nothing_nests_inside_code_and_broken_html_is_balanced():
    out = telegram_html("<pre><b>粗</b> code</pre><p><b>未闭合 <i>斜体</p>", "html")
    assert out == "<pre>粗 code</pre>\n\n<b>未闭合 <i>斜体</i></b>"
    assert _tags(out).balanced


def test_plain_text_is_only_escaped():
    assert telegram_html("国资 <小新> & 央企\n第二行", "text") == "国资 &lt;小新&gt; &amp; 央企\n第二行"


def test_unknown_body_format_is_refused():
    with pytest.raises(ConfigError):
        telegram_html("x", "rst")


def test_count_uses_the_visible_text():
    out = telegram_html("**国资** [小新](https://example.org/a/very/long/link)")
    assert count_telegram(out, html=True) == len("国资 小新")


_md_pieces = st.sampled_from([
    "# 标题\n\n", "**粗** ", "*斜* ", "~~删~~ ", "`代码 <x>` ", "[链接](https://x.org/?a=1&b=2) ",
    "- 项\n", "1. 项\n", "> 引用\n\n", "```\n<pre> & code\n```\n", "<b>raw</b> ", "A & B < C ",
    "\n\n", "  \n", "![图](https://x.org/a.png) ", "---\n", "普通文字 ", "| a | b |\n",
])


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(_md_pieces, max_size=25))
def test_markdown_output_uses_only_telegram_tags_balanced(parts):
    out = telegram_html("".join(parts))
    tags = _tags(out)
    assert tags.seen <= ALLOWED
    assert tags.balanced
    assert not tags.stack


@settings(max_examples=200, deadline=None)
@given(page=st.text(alphabet="<>/=\"' abpiudelstrongmcyhx&;#1国资", max_size=80))
def test_any_html_input_gives_only_telegram_tags(page):
    out = telegram_html(page, "html")
    tags = _tags(out)
    assert tags.seen <= ALLOWED
    assert tags.balanced
