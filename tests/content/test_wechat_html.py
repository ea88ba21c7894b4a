"""Markdown/HTML/text -> WeChat-safe HTML: inline styles, nothing WeChat strips or refuses."""

import json
import re

import pytest

from govmedia.content.wechat import (
    STYLES,
    WRAPPER_STYLE,
    clean_text,
    image_sources,
    to_wechat_html,
)

WX = "http://mmbiz.qpic.cn/mmbiz_png/abc/0?wx_fmt=png"


def test_markdown_renders_with_inline_styles_in_one_section():
    out = to_wechat_html("# 央企招聘\n\n一年来，**850 万人次**。\n\n- 甲\n- 乙\n\n> 引用")
    html = out.html
    assert html.startswith(f'<section style="{WRAPPER_STYLE}">') and html.endswith("</section>")
    assert f'<h1 style="{STYLES["h1"]}">央企招聘</h1>' in html
    assert f'<strong style="{STYLES["strong"]}">850 万人次</strong>' in html
    assert f'<ul style="{STYLES["ul"]}"><li style="{STYLES["li"]}">甲</li>' in html
    assert f'<blockquote style="{STYLES["blockquote"]}">' in html
    assert "class=" not in html and " id=" not in html
    assert "\n" not in html  # whitespace between blocks is dropped


def test_every_element_is_styled_inline_or_plain():
    body = "# h\n\np *em* `code`\n\n```\nx = 1\n```\n\n1. one\n\n---\n"
    html = to_wechat_html(body).html
    for tag in ("h1", "p", "em", "code", "pre", "ol", "li", "hr"):
        assert re.search(rf"<{tag} style=", html), tag
    # a code block is styled once, by its <pre>
    assert "<pre style=" in html and "<code>x = 1\n</code>" in html


def test_scripts_styles_and_frames_are_removed_with_their_content_forms_unwrapped():
    body = ('<p onclick="x()" class="lead" id="top" data-x="1">正文</p>'
            "<script>alert('x')</script><style>p{color:red}</style>"
            '<iframe src="https://evil.example"></iframe><form><input name="a">提交</form>'
            "<!-- a comment --><noscript>no</noscript><link rel=stylesheet href=x.css>")
    html = to_wechat_html(body, "html").html
    for gone in ("onclick", "class=", "id=", "data-x", "script", "alert", "<style", "color:red",
                 "iframe", "evil", "form", "input", "comment", "noscript", "stylesheet"):
        assert gone not in html, gone
    assert "正文</p>" in html
    assert "提交" in html  # a form's text is text a reader sees: kept, the form unwrapped


def test_user_styles_are_kept_after_the_default_minus_unsafe_declarations():
    html = to_wechat_html(
        '<p style="color:#c00; background:url(https://x/y.png); width: expression(1)">红</p>',
        "html",
    ).html
    assert f'<p style="{STYLES["p"]}color:#c00;">红</p>' in html


def test_html_is_repaired_and_unknown_tags_unwrapped():
    html = to_wechat_html("<div><p>a<b>b</i></div><font color=red>c</font></b>", "html").html
    assert "<section><p" in html and "b</b></p></section>" in html
    assert "<font" not in html and ">c<" in html


def test_text_is_escaped_into_paragraphs():
    html = to_wechat_html("第一行\n第二行\n\n<b>不是标签</b>", "text").html
    assert "第一行<br>第二行" in html
    assert "&lt;b&gt;不是标签&lt;/b&gt;" in html


def test_raw_html_in_markdown_is_escaped_not_passed():
    html = to_wechat_html("正文 <script>alert(1)</script>").html
    assert "<script" not in html and "&lt;script&gt;" in html


def test_images_are_mapped_kept_on_wechat_hosts_or_dropped():
    body = f"![图表](chart.png)\n\n![旧图]({WX})\n\n![外链](https://example.org/x.png)"
    out = to_wechat_html(body, images={"chart.png": "http://mmbiz.qpic.cn/mmbiz_png/new/0"})
    assert out.images == ("chart.png", WX, "https://example.org/x.png")
    assert out.dropped == ("https://example.org/x.png",)
    assert 'src="http://mmbiz.qpic.cn/mmbiz_png/new/0"' in out.html
    assert f'src="{WX.replace("&", "&amp;")}"' in out.html
    assert "example.org" not in out.html
    assert 'alt="图表"' in out.html


def test_non_ascii_image_names_keep_their_markdown_spelling():
    # markdown-it percent-encodes the destination; the caller maps what it sees
    assert image_sources("![图](图表 一.png)") == []  # a space ends the destination
    assert image_sources("![图](<图表 一.png>)") == ["%E5%9B%BE%E8%A1%A8%20%E4%B8%80.png"]


def test_appended_images_go_at_the_end_through_the_same_mapping():
    out = to_wechat_html("正文", images={"k:0": WX}, append=[("k:0", "说明"), ("k:1", None)])
    assert out.html.endswith(f'<img alt="说明" style="{STYLES["img"]}" src="{WX}"></p></section>'
                             .replace("&", "&amp;"))
    assert out.dropped == ("k:1",)


def test_links_to_wechat_articles_stay_others_become_text_and_address():
    body = ("[往期](https://mp.weixin.qq.com/s/abc) [国资委](https://www.sasac.gov.cn) "
            "<https://example.org> [锚点](#x) [邮件](mailto:a@b.example)")
    out = to_wechat_html(body)
    assert '<a style="' in out.html and 'href="https://mp.weixin.qq.com/s/abc">往期</a>' in out.html
    assert "国资委</span>" in out.html and "（https://www.sasac.gov.cn）" in out.html
    assert "（https://example.org）" not in out.html  # an autolink shows its address once
    assert out.external_links == ("https://www.sasac.gov.cn", "https://example.org")
    assert "锚点" in out.html and "#x" not in out.html and "mailto" not in out.html


def test_control_characters_are_removed_so_json_needs_no_escapes():
    html = to_wechat_html("标题\x0b正文\x1f完").html
    assert "标题正文完" in html
    encoded = json.dumps({"content": html}, ensure_ascii=False)
    assert "\\u" not in encoded
    assert clean_text("a\tb\nc\x00d\x7f") == "a\tb\ncd"


@pytest.mark.parametrize("fmt", ["markdown", "html", "text"])
def test_output_is_well_formed(fmt):
    html = to_wechat_html("<p><b>未闭合 <i>标签", fmt).html
    opened = re.findall(r"<(p|b|i|section|strong|em)\b", html)
    closed = re.findall(r"</(p|b|i|section|strong|em)>", html)
    assert sorted(opened) == sorted(closed)


def test_custom_styles_replace_defaults():
    html = to_wechat_html("段落", styles={"p": "margin:0;"}).html
    assert '<p style="margin:0;">段落</p>' in html
