"""Hostile HTML and Markdown through every renderer: nothing executable comes out.

The payloads follow the XSS filter-evasion cheat sheets: scripts, event
handlers, javascript:/vbscript:/data: URLs in every spelling, SVG and MathML,
CSS url()/expression() hidden behind CSS escapes and comments, entity-encoded
schemes, attribute breaking and mutation tricks. Each renderer's output is
parsed again and judged on what a browser would act on: tags, attributes,
URL schemes and style declarations.
"""

import html
import re
from html.parser import HTMLParser

import pytest

import govmedia as gm
from govmedia.content.sanitize import GENERIC, TELEGRAM, WECHAT, css_unescape, sanitize_html
from govmedia.content.telegram import telegram_html
from govmedia.content.wechat import to_wechat_html
from govmedia.platforms.webhook import WebhookPlatform

HTML_PAYLOADS = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//xss.example/.j></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=\"javascript:alert('XSS');\">",
    "<IMG SRC=JaVaScRiPt:alert('XSS')>",
    ("<IMG SRC=&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;&#97;&#108;&#101;"
    "&#114;&#116;&#40;&#39;&#88;&#83;&#83;&#39;&#41;>"),
    ("<IMG SRC=&#x6A&#x61&#x76&#x61&#x73&#x63&#x72&#x69&#x70&#x74&#x3A&#x61&#x6C&#x65&#x72&#x74"
    "&#x28&#x27&#x58&#x53&#x53&#x27&#x29>"),
    "<IMG SRC=\"jav&#x09;ascript:alert('XSS');\">",
    "<IMG SRC=\" &#14;  javascript:alert('XSS');\">",
    '<a href="jAvAsCrIpT&colon;alert(1)">点我</a>',
    '<a href="javas\x00cript:alert(1)">点我</a>',
    '<a href="&#x6a;avascript:alert(1)">点我</a>',
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">点我</a>',
    '<a href="vbscript:msgbox(1)">点我</a>',
    '<a href="#" onclick="alert(1)">点我</a>',
    '<a href="https://mp.weixin.qq.com/s/x" onmouseover="alert(1)">文章</a>',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">XSS</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math href=javascript:alert(1)>CLICKME</math>",
    '<iframe src="javascript:alert(1)"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
    "<body onload=alert(1)>正文</body>",
    '<div style="background-image: url(javascript:alert(1))">样式</div>',
    '<p style="background:u\\72l(javascript:alert(1))">转义</p>',
    '<p style="background:\\75\\72\\6c(https://evil.example/t.png)">转义</p>',
    '<p style="background:ur/**/l(https://evil.example/t.png)">注释</p>',
    '<p style="width: expression(alert(1))">IE</p>',
    '<p style="width: expr/**/ession(alert(1))">IE</p>',
    '<p style="xss:\\65xpression(alert(1))">IE</p>',
    '<p style="color:red;behavior: url(xss.htc)">IE</p>',
    '<p style="-moz-binding: url(https://evil.example/xss.xml#xss)">FF</p>',
    '<p style="background-image:image-set(\'https://evil.example/t.png\' 1x)">set</p>',
    '<p style="position:fixed;top:0;left:0;width:100%;height:100%">覆盖</p>',
    '<p style="color:red&#59; background:url(https://evil.example/t.png)">实体</p>',
    "<style>@import 'https://evil.example/xss.css';</style>",
    '<link rel=stylesheet href="javascript:alert(1)">',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<form action="javascript:alert(1)"><input type=submit value="提交"></form>',
    "<button formaction=javascript:alert(1)>按钮</button>",
    "<details open ontoggle=alert(1)><summary>摘要</summary></details>",
    '<img src="x" alt="&quot; onerror=&quot;alert(1)">',
    '<p title="</p><script>alert(1)</script>">标题</p>',
    '<!--<img src="--><img src=x onerror=alert(1)//">',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
    "<template><script>alert(1)</script></template>",
    '<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">',
    '<img srcset="javascript:alert(1)">',
    "<video poster=javascript:alert(1)></video><audio src=x onerror=alert(1)></audio>",
    "<marquee onstart=alert(1)>滚动</marquee>",
    "<x onclick=alert(1)>自定义</x>",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)//<</script>/script>",
    '"><script>alert(1)</script>',
    "<table background=javascript:alert(1)><tr><td>格</td></tr></table>",
    '<a href="https://example.org" target="_blank">外链</a>',
    '<span class="tg-spoiler" onclick="alert(1)">剧透</span>',
    '<code class="language-py" onclick="alert(1)">x</code>',
    "<tg-spoiler onclick=alert(1)>剧透</tg-spoiler>",
]

MARKDOWN_PAYLOADS = [
    "[点我](javascript:alert(1))",
    "[点我](JAVASCRIPT:alert(1))",
    "[点我](&#106;avascript:alert(1))",
    "[点我](vbscript:msgbox(1))",
    "[点我](data:text/html,<script>alert(1)</script>)",
    "![图](data:image/svg+xml,<svg onload=alert(1)>)",
    "![图](data:image/png;base64,iVBORw0KGgo=)",
    "<javascript:alert(1)>",
    "正文 <img src=x onerror=alert(1)> <script>alert(1)</script>",
    '[点我](https://example.org "title\\" onclick=\\"alert(1)")',
    "```html\n<script>alert(1)</script>\n```",
]

# Where a browser would follow or load a URL.
_URL_ATTRIBUTES = {"href", "src", "action", "formaction", "poster", "background", "data",
                   "srcset", "xlink:href", "cite", "longdesc", "srcdoc"}
_SAFE_SCHEMES = {"http", "https", "mailto", "tel", "tg"}
_BAD_CSS = re.compile(r"url\(|expression\(|image-set\(|image\(|javascript:|@import|behavior|"
                      r"binding|\\|position", re.IGNORECASE)


class _Judge(HTMLParser):
    def __init__(self, tags, attributes, properties):
        super().__init__(convert_charrefs=True)
        self.tags, self.attributes, self.properties = tags, attributes, properties
        self.faults = []

    def handle_starttag(self, tag, attrs):
        if tag not in self.tags:
            self.faults.append(f"tag <{tag}>")
        allowed = self.attributes.get(tag, set()) | self.attributes.get("*", set()) | {"rel"}
        for name, given in attrs:
            value = given or ""
            if name not in allowed or name.startswith("on"):
                self.faults.append(f"attribute {name}= on <{tag}>")
            if name in _URL_ATTRIBUTES:
                self.judge_url(tag, name, value)
            if name == "style":
                self.judge_style(tag, value)

    handle_startendtag = handle_starttag

    def judge_url(self, tag, name, value):
        squeezed = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(value)).lower()
        scheme = re.match(r"([a-z][a-z0-9+.-]*):", squeezed)
        if scheme and scheme.group(1) not in _SAFE_SCHEMES:
            self.faults.append(f"{name}={value!r} on <{tag}>")

    def judge_style(self, tag, value):
        text = css_unescape(re.sub(r"/\*.*?\*/", "", value, flags=re.DOTALL))
        if _BAD_CSS.search(text):
            self.faults.append(f"style={value!r} on <{tag}>")
        for declaration in filter(None, (d.strip() for d in text.split(";"))):
            name = declaration.split(":", 1)[0].strip().lower()
            if name not in self.properties:
                self.faults.append(f"style property {name!r} on <{tag}>")


def faults(out, policy):
    judge = _Judge(set(policy.tags), {t: set(n) for t, n in policy.attributes}, policy.style)
    judge.feed(out)
    judge.close()
    return judge.faults


def _webhook(body, body_format):
    post = gm.Post(title="t", body=body, body_format=body_format)
    ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/h"})
    return WebhookPlatform().payload(post, ch)["data"]["html"]


RENDERERS = {
    "webhook data.html": (_webhook, GENERIC),
    "sanitize_html": (lambda body, fmt: sanitize_html(body) if fmt == "html"
                      else gm.content.wordpress_html(body, fmt), GENERIC),
    "wordpress_html": (gm.content.wordpress_html, GENERIC),
    "wechat article": (lambda body, fmt: to_wechat_html(body, fmt).html, WECHAT),
    "telegram": (telegram_html, TELEGRAM),
}
CASES = [(p, "html") for p in HTML_PAYLOADS] + [(p, "markdown") for p in MARKDOWN_PAYLOADS]


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
@pytest.mark.parametrize(("payload", "body_format"), CASES,
                         ids=[f"{fmt}-{i}" for i, (_, fmt) in enumerate(CASES)])
def test_nothing_executable_comes_out(renderer, payload, body_format):
    render, policy = RENDERERS[renderer]
    out = render(payload, body_format)
    assert faults(out, policy) == [], out


@pytest.mark.parametrize("renderer", sorted(RENDERERS))
def test_hostile_payloads_as_one_body(renderer):
    render, policy = RENDERERS[renderer]
    out = render("\n".join(HTML_PAYLOADS), "html")
    assert faults(out, policy) == [], out


def test_the_judge_itself_catches_what_it_should():
    assert faults('<p style="background:u\\72l(x)">a</p>', WECHAT)
    assert faults('<a href="jav&#x09;ascript:alert(1)">a</a>', GENERIC)
    assert faults("<img src=x onerror=alert(1)>", GENERIC)
    assert faults('<p style="color:red">a</p>', WECHAT) == []


def test_wechat_keeps_safe_styles_and_text_around_hostile_ones():
    out = to_wechat_html('<p style="color:#c00;background:u\\72l(https://x/y.png)">红字</p>',
                         "html").html
    assert "红字" in out and "color:#c00;" in out
    assert "url" not in out.lower() and "background" not in out


def test_webhook_html_was_raw_before():
    # the payload the issue found passing unchanged: data.html now sanitized,
    # data.body still the body as given (receivers know it is raw input)
    post = gm.Post(title="t", body='<p onclick="x()">正文</p><script>alert(1)</script>',
                   body_format="html")
    ch = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/h"})
    data = WebhookPlatform().payload(post, ch)["data"]
    assert data["html"] == "<p>正文</p>"
    assert data["body"] == post.body


@pytest.mark.parametrize("renderer", sorted(set(RENDERERS) - {"webhook data.html"}))
def test_a_lone_surrogate_never_crashes_a_renderer(renderer):
    # (a Post cannot hold one: its key is a hash of the UTF-8 content)
    render, _ = RENDERERS[renderer]
    for body_format in ("markdown", "html", "text"):
        out = render("正文\ud800结束", body_format)
        assert "正文\N{REPLACEMENT CHARACTER}结束" in out
        out.encode("utf-8")  # sendable
