"""Never publish less than was given without a check problem; render once per variant.

Each cause of silent loss found in issue 9 has a test here: markdown-it's
nesting limit dropping the rest of a document (a 100,000-character body
published as a 113-character article; 25 nested quotes cut), forms and other
elements removed with their text, SVG/MathML text, and a length check made on
what was left after the cut instead of what was given.
"""

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import govmedia as gm
from govmedia.content import wechat
from govmedia.content._cache import RENDERED
from govmedia.content.integrity import body_problems, text_floor
from govmedia.content.markup import MAX_NESTING, to_html, to_plain
from govmedia.content.sanitize import safe_html
from govmedia.content.telegram import telegram_html
from govmedia.content.wechat import to_wechat_html
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG, COVER_JPEG


@pytest.fixture(autouse=True)
def _fresh_cache():
    RENDERED.clear()
    yield
    RENDERED.clear()


def _wechat_post(body, body_format="markdown", media=()):
    cover = gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg")
    return gm.Post(title="一带一路看国企", body=body, body_format=body_format, cover=cover,
                   media=media)


def _check(post, platform="wechat_oa", members=1):
    sandbox = Sandbox(platforms=[platform])
    with gm.Client(http=sandbox.client()) as client:
        return [client.check(post, sandbox.channel(platform, f"m{i}")) for i in range(members)]


def _renderings(body, body_format="markdown"):
    return {
        "wechat": to_wechat_html(body, body_format).html,
        "webhook": safe_html(body, body_format),
        "telegram": telegram_html(body, body_format),
        "plain": to_plain(body, body_format),
    }


# --------------------------------------------------------------------------- nesting


def test_25_nested_quotes_keep_their_text_everywhere():
    body = ">" * 25 + " 第二十五层的文字\n\n之后的段落"
    for name, out in _renderings(body).items():
        assert "第二十五层的文字" in out and "之后的段落" in out, name
    assert body_problems(body) == []
    assert _check(_wechat_post(body)) == [[]]


@pytest.mark.parametrize("body", [
    ">" * (MAX_NESTING + 8) + " 深处的文字\n\n之后的段落",
    "\n".join("  " * i + f"- 第{i}项" for i in range(MAX_NESTING)) + "\n\n之后的段落",
    "\n".join("> " * i + f"第{i}层" for i in range(MAX_NESTING + 8)) + "\n\n之后的段落",
])
def test_deeper_nesting_is_kept_as_text_and_reported_with_its_line(body):
    words = re.findall(r"第\d+[项层]|深处的文字|之后的段落", body)
    for name, out in _renderings(body).items():
        missing = [w for w in words if w not in out]
        assert missing == [], name
    (problem,) = body_problems(body)
    assert (problem.code, problem.field) == ("too_deep", "body")
    assert re.search(r"at line \d+ is nested more than 32 levels", problem.message)
    for platform in ("wechat_oa", "webhook"):
        post = _wechat_post(body) if platform == "wechat_oa" else gm.Post(title="t", body=body)
        assert "too_deep" in {p.code for p in _check(post, platform)[0]}


def test_a_100000_character_body_is_never_a_113_character_article():
    body = ">" * 100_000  # markdown-it alone rendered this to nothing at all
    assert len(to_html(body)) > 100_000
    codes = {p.code for p in _check(_wechat_post(body))[0]}
    assert {"too_long", "too_deep"} <= codes


# --------------------------------------------------------------------------- HTML bodies


def test_a_cms_page_wrapped_in_a_form_keeps_its_text():
    page = ('<form id="form1" action="/x.aspx"><div class="article"><h1>央企人事调整</h1>'
            "<p>任免名单如下。</p><button>打印</button><select><option>分享</option></select>"
            "</div></form>")
    for name, out in _renderings(page, "html").items():
        for word in ("央企人事调整", "任免名单如下", "打印", "分享"):
            assert word in out, (name, word)
    assert _check(_wechat_post(page, "html")) == [[]]


@pytest.mark.parametrize(("page", "tag"), [
    ('<p>产量</p><svg viewBox="0 0 10 10"><text x="1" y="5">1120 万吨</text></svg>', "svg"),
    ("<p>公式</p><math><mi>E</mi><mo>=</mo><mi>m</mi><msup><mi>c</mi><mn>2</mn></msup></math>",
     "math"),
    ("<p>未闭合</p><svg><text>到文末为止", "svg"),
])
def test_text_inside_svg_or_math_is_reported_as_lost(page, tag):
    (problem,) = body_problems(page, "html")
    assert problem.code == "content_lost"
    assert f"the <{tag}> at line 1 holds text" in problem.message
    for platform in ("wechat_oa", "webhook"):
        post = (_wechat_post(page, "html") if platform == "wechat_oa"
                else gm.Post(title="t", body=page, body_format="html"))
        assert "content_lost" in {p.code for p in _check(post, platform)[0]}


def test_text_a_browser_never_shows_is_no_loss():
    page = ("<p>正文</p><script>var x = '脚本';</script><style>p{}</style>"
            "<template>模板</template><noscript>无脚本</noscript><svg><rect/></svg>")
    assert body_problems(page, "html") == []


# --------------------------------------------------------------------------- length


def test_plain_text_over_the_limit_is_refused_without_rendering(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("rendered a body whose text alone is over the limit")

    monkeypatch.setattr(wechat, "_render", never)
    (problems,) = _check(_wechat_post("国" * 100_000))
    (problem,) = problems
    assert (problem.code, problem.field) == ("too_long", "body")
    assert "at least 100,000 characters of text" in problem.message


def test_the_limit_is_judged_on_everything_given():
    body = "国资委召开会议。" * 2_600  # 20,800 characters of text
    assert text_floor(body) >= 20_000
    assert [p.code for p in _check(_wechat_post(body))[0]] == ["too_long"]
    just_under = "国资委召开会议。" * 2_000  # the HTML around 16,000 characters: fits
    assert _check(_wechat_post(just_under)) == [[]]


_FRAGMENTS = st.sampled_from([
    "国资委召开会议", "Central SOEs", "**粗体**", "*斜体*", "`代码`", "[链接](https://例.cn/路径)",
    "![图](https://example.org/图.png)", "[引用][r]", '\n\n[r]: https://x.org/参考 "标题"\n\n',
    "&amp;", "&#20013;", "&copy;", "> ", "- ", "1. ", "\n", "\n\n", "    缩进代码\n",
    "\n```python\n代码块 = 1\n```\n", "<b>原样</b>", "\\*", "# ", "---\n", "<https://a.org>",
    "　", "\u00a0", "中文，标点。", "[未闭合", "](", "\x07",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, max_size=30).map("".join))
def test_the_text_floor_never_exceeds_the_rendered_text(body):
    shown = to_wechat_html(body).text_length
    assert text_floor(body) <= shown
    head = text_floor(body, enough=3)  # judged by its head when long enough
    assert head < 3 or shown >= 3


_HTML_FRAGMENTS = st.sampled_from([
    "国资委召开会议", "<p>", "</p>", "<b>粗", "</b>", "<script>隐藏", "</script>", "<style>p{}",
    "</style>", "<svg>", "</svg>", "<svg/>", "<math>", "</math>", "<title>题", "</title>",
    "<noscript>", "</noscript>", "<iframe>", "</iframe>", "<embed>", "</embed>", "<video>",
    "</video>", "<!-- 注释 -->", "<!--", "&amp;", "&#20013;", "&nbsp;", "<a href='https://x.org'>",
    "</a>", "<img src=x alt='图'>", "<br>", "\n", " ", "<form>", "</form>", "<textarea>文",
    "</textarea>", "<![CDATA[数据]]>", "<?php 代码 ?>", "< 不是标签", "<pre>  空格  </pre>",
    "\x07", "<x-custom>自定义</x-custom>", "<td>格</td>",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_HTML_FRAGMENTS, max_size=30).map("".join))
def test_the_html_text_floor_never_exceeds_the_rendered_text(page):
    shown = to_wechat_html(page, "html").text_length
    assert text_floor(page, "html") <= shown
    head = text_floor(page, "html", enough=3)  # judged by its head when long enough
    assert head < 3 or shown >= 3


def test_a_huge_body_is_judged_by_its_head(monkeypatch):
    from govmedia.content import integrity

    monkeypatch.setattr(integrity, "body_facts", lambda *a: pytest.fail("read it all"))
    for body, fmt in [("国资委召开会议。\n\n" * 1_000_000, "markdown"),
                      ("<p>国资委召开会议。</p>" * 1_000_000, "html"),
                      ("国资委召开会议。" * 1_000_000, "text")]:
        assert text_floor(body, fmt, enough=20_000) >= 20_000


def test_a_self_closing_svg_does_not_swallow_the_rest():
    out = to_wechat_html("<p>前<svg/>后</p><p>再一段</p>", "html").html
    assert "后" in out and "再一段" in out
    assert body_problems("<p>前<svg/>后</p>", "html") == []


def test_a_large_html_body_is_refused_without_rendering(monkeypatch):
    monkeypatch.setattr(wechat, "_render", lambda *a: pytest.fail("rendered"))
    page = "<p>国务院国资委召开中央企业负责人会议。<b>部署</b>工作。</p>\n" * 2_000
    (problems,) = _check(_wechat_post(page, "html"))
    assert [p.code for p in problems] == ["too_long"]


# --------------------------------------------------------------------------- cost


def test_one_rendering_serves_every_member(monkeypatch):
    calls = []
    real = wechat._render
    monkeypatch.setattr(wechat, "_render", lambda *a: calls.append(a[0][:10]) or real(*a))
    chart = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    body = "# 标题\n\n" + "国资委召开会议。\n\n" * 200 + "![图表](chart.png)"
    post = _wechat_post(body, media=(chart,))
    sandbox = Sandbox(platforms=["wechat_oa"])
    members = [sandbox.channel("wechat_oa", f"gh_m{i}") for i in range(5)]
    with gm.Client(http=sandbox.client()) as client:
        for ch in members:
            assert client.check(post, ch) == []
        checked = len(calls)
        receipts = [client.publish(post, ch) for ch in members]
    assert checked == 2  # image discovery, then the article with its images mapped
    assert len(calls) == 2  # publishing reused them: only the image URLs differ
    contents = [sandbox["wechat_oa"].drafts[r.raw["media_id"]].articles[0]["content"]
                for r in receipts]
    assert len(set(contents)) == len(members)  # each with its own uploaded image URL
    assert all("国资委召开会议" in c and "mmbiz.qpic.cn" in c for c in contents)


def test_mapped_image_urls_must_be_http():
    with pytest.raises(gm.ConfigError, match="must be an http"):
        to_wechat_html("![x](a.png)", images={"a.png": "javascript:alert(1)"})
    out = to_wechat_html("![x](a.png)", images={"a.png": 'https://x.org/a"b.png'}).html
    assert 'src="https://x.org/a&quot;b.png"' in out


def test_placeholders_cannot_be_forged_by_a_body():
    forged = "https://govmedia.invalid/0000000000000000/0"
    out = to_wechat_html(f'<img src="{forged}"><img src="a.png">', "html",
                         images={"a.png": "https://mmbiz.qpic.cn/a.png"}).html
    assert forged not in out and out.count("<img") == 1
