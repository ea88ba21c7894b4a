"""CMS HTML sanitized, turned into Markdown or WordPress HTML; OpenCC script conversion."""

import attrs
import pytest

import govmedia as gm
from govmedia.content import script
from govmedia.content.sanitize import html_to_markdown, sanitize_html, wordpress_html
from govmedia.content.script import convert, convert_post
from govmedia.errors import ConfigError


@pytest.mark.parametrize(("dirty", "clean"), [
    ('<p onclick="steal()">正文</p>', "<p>正文</p>"),
    ("<script>alert(1)</script><b>粗</b>", "<b>粗</b>"),
    ("<style>p{}</style><i>斜</i>", "<i>斜</i>"),
    ('<a href="javascript:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
    ('<a href="https://www.sasac.gov.cn">国资委</a>',
     '<a href="https://www.sasac.gov.cn" rel="noopener noreferrer">国资委</a>'),
    ('<img src="data:image/png;base64,AAAA" alt="图">', '<img alt="图">'),
    ('<iframe src="https://evil.example"></iframe>正文', "正文"),
    ("<p>未闭合<b>粗", "<p>未闭合<b>粗</b></p>"),
])
def test_sanitize_removes_what_could_run_or_track(dirty, clean):
    assert sanitize_html(dirty) == clean


def test_cms_html_becomes_markdown():
    page = ("<h1>一带一路看国企</h1><p>央企<strong>海外</strong>项目<em>进展</em></p>"
            "<ul><li>印尼雅万高铁</li><li>中老铁路</li></ul><script>x()</script>"
            '<p><a href="https://example.org/a">详情</a></p>')
    assert html_to_markdown(page) == (
        "# 一带一路看国企\n\n央企**海外**项目*进展*\n\n- 印尼雅万高铁\n- 中老铁路\n\n[详情](https://example.org/a)"
    )


def test_wordpress_html_from_each_body_format():
    assert wordpress_html("## 标题\n\n正文 <em>x</em>") == (
        "<h2>标题</h2>\n<p>正文 &lt;em&gt;x&lt;/em&gt;</p>\n"
    )
    assert wordpress_html('<h2 id="a">标题</h2><script>x</script>', "html") == "<h2>标题</h2>"
    assert wordpress_html("第一段\n\n第二段 <b>", "text") == "<p>第一段</p>\n<p>第二段 &lt;b&gt;</p>\n"
    with pytest.raises(ConfigError):
        wordpress_html("x", "docx")


def _without(monkeypatch, module):
    import sys

    monkeypatch.setitem(sys.modules, module, None)  # the next import raises ImportError


def test_missing_optional_dependency_says_which_extra(monkeypatch):
    _without(monkeypatch, "markdownify")
    with pytest.raises(ConfigError, match=r"content extra: python -m pip install 'markdownify>=1\.1'"):
        html_to_markdown("<b>x</b>")


def test_the_sanitizer_is_no_extra_and_never_skipped(monkeypatch):
    from govmedia.content import sanitize

    sanitize._cleaner.cache_clear()
    _without(monkeypatch, "nh3")
    with pytest.raises(ConfigError, match="dependency of govmedia"):
        sanitize_html("<b>x</b>")
    monkeypatch.undo()
    sanitize._cleaner.cache_clear()


# ------------------------------------------------------------------ script


def test_convert_both_ways():
    assert convert("国务院国有资产监督管理委员会", "traditional") == "國務院國有資產監督管理委員會"
    assert convert("國務院國有資產監督管理委員會", "simplified") == "国务院国有资产监督管理委员会"
    # OpenCC converts by phrase: 发 is 髮 in 头发 (hair) but 發 in 发展
    assert convert("头发", "traditional") == "頭髮"
    assert convert("发展", "traditional") == "發展"


def test_links_and_markup_are_never_converted():
    text = ('国资 https://example.org/国资/发布?q=国 和 example.com/a '
            '[国资](https://x.org/国) <a href="/国资">国资</a>')
    assert convert(text, "traditional") == (
        '國資 https://example.org/国资/发布?q=国 和 example.com/a '
        '[國資](https://x.org/国) <a href="/国资">國資</a>'
    )


def test_other_script_values_are_a_config_error():
    # shared/DESIGN.md: any other value of the script option is a ConfigError.
    for bad in ("zh-TW", "Traditional", "hk", ""):
        with pytest.raises(ConfigError):
            convert("国资", bad)


def test_convert_post_converts_text_fields_only():
    post = gm.Post(
        title="国资小新", body="# 标题\n\n[链接](https://x.org/国)", text="央企发布", summary="摘要",
        tags=("国企改革",), link="https://example.org/国资",
        cover=gm.Media.from_bytes(b"\x89PNG", filename="c.png", alt="封面图"),
        media=(gm.Media.from_bytes(b"\x89PNG", filename="a.png", alt="现场图"),),
    ).approve("张三")
    out = convert_post(post, "traditional")
    assert (out.title, out.text, out.summary, out.tags) == ("國資小新", "央企發佈", "摘要", ("國企改革",))
    assert out.body == "# 標題\n\n[鏈接](https://x.org/国)"
    assert out.cover.alt == "封面圖"
    assert out.media[0].alt == "現場圖"
    assert out.link == post.link
    assert out.key == post.key
    assert out.approvals == post.approvals  # kept, though they bind the unconverted content
    assert post.valid_approvers == {"张三"}


def test_missing_opencc_is_a_config_error_naming_the_extra(monkeypatch):
    import builtins
    import sys

    real_import = builtins.__import__

    def no_opencc(name, *args, **kwargs):
        if name == "opencc":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    script._converter.cache_clear()
    monkeypatch.setattr(builtins, "__import__", no_opencc)
    monkeypatch.delitem(sys.modules, "opencc", raising=False)
    try:
        with pytest.raises(ConfigError, match=r"content extra\): python -m pip install 'opencc>=1\.4'"):
            convert("国资", "traditional")
    finally:
        script._converter.cache_clear()


def test_untouched_post_fields_survive_evolve():
    post = gm.Post(text="国资")
    out = convert_post(post, "simplified")
    assert attrs.asdict(out)["text"] == "国资"
