"""WeChat Official Accounts: requests shaped as the API wants, errors mapped, fakes end to end.

The respx tests answer with payloads shaped exactly as shared/platforms/wechat_oa.md
shows; the fake-driven tests run the whole flow through `Sandbox` on both clients.
"""

import datetime as dt
import json
import re
from pathlib import Path

import anyio
import attrs
import httpx
import pytest
import respx

import govmedia as gm
from govmedia.platforms.wechat_oa import CHINA_TIME, WeChatOAPlatform
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG, COVER_JPEG, sample_post

BASE = "https://api.weixin.qq.com"
APP_ID = "wx8f3a2b1c0d9e7f65"
SECRET = "c0ffee5ecret0123456789abcdef0123"
TOKEN = "ACCESS_TOKEN_6f9e2a71b3c84d0e9f1a2b3c4d5e6f70"
THUMB_ID = "THUMB_MEDIA_ID_k3Jd9sLqP0"
DRAFT_ID = "DRAFT_MEDIA_ID_Zx8Qw2Er4T"
ARTICLE_ID = "ARTICLE_ID_Hy7Uj6Ik5Ol4"
IMG_URL = "http://mmbiz.qpic.cn/mmbiz_png/gLO17UPS6FS2xsypf378iaNhWacZ1G1Up/0?wx_fmt=png"
ARTICLE_URL = "https://mp.weixin.qq.com/s/AbCdEfGhIjKlMnOp"


def channel(**options):
    return gm.Channel(platform="wechat_oa", account="gh_sasac",
                      credentials={"app_id": APP_ID, "app_secret": SECRET},
                      options={"poll_interval": 0.001, **options})


def wx(payload):
    return httpx.Response(200, json=payload)


def error(code, message):
    return wx({"errcode": code, "errmsg": f"{message} rid: 6561b5e2-1f2e3d4c-5b6a7980"})


PUBLISHING = {"publish_id": "100000001", "publish_status": 1, "fail_idx": []}
PUBLISHED = {
    "publish_id": "100000001", "publish_status": 0, "article_id": ARTICLE_ID,
    "article_detail": {"count": 1, "item": [{"idx": 1, "article_url": ARTICLE_URL}]},
    "fail_idx": [],
}


@pytest.fixture
def api():
    router = respx.MockRouter(base_url=BASE, assert_all_called=False)
    router.post("/cgi-bin/stable_token", name="token").mock(
        return_value=wx({"access_token": TOKEN, "expires_in": 7200}))
    router.post("/cgi-bin/material/add_material", name="material").mock(
        return_value=wx({"media_id": THUMB_ID, "url": IMG_URL.replace("mmbiz_png", "mmbiz_jpg")}))
    router.post("/cgi-bin/media/uploadimg", name="uploadimg").mock(return_value=wx({"url": IMG_URL}))
    router.post("/cgi-bin/draft/add", name="draft").mock(return_value=wx({"media_id": DRAFT_ID}))
    router.post("/cgi-bin/freepublish/submit", name="submit").mock(return_value=wx({
        "errcode": 0, "errmsg": "ok", "publish_id": "100000001", "msg_data_id": 2247483647}))
    router.post("/cgi-bin/freepublish/get", name="get").mock(
        side_effect=[wx(PUBLISHING), wx(PUBLISHED)])
    router.post("/cgi-bin/freepublish/delete", name="fdelete").mock(
        return_value=wx({"errcode": 0, "errmsg": "ok"}))
    router.post("/cgi-bin/draft/delete", name="ddelete").mock(
        return_value=wx({"errcode": 0, "errmsg": "ok"}))
    return router


def client(router):
    return gm.Client(http=httpx.Client(transport=httpx.MockTransport(router.handler)),
                     retry=gm.RetryPolicy.testing())


def body(call):
    return json.loads(call.request.content.decode("utf-8"))


def multipart_file(request):
    """(field name, filename, content type, bytes) of the one file part."""
    boundary = re.search(r"boundary=([^;]+)", request.headers["content-type"]).group(1)
    part = request.content.split(b"--" + boundary.encode())[1]
    head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
    head = head.decode()
    return (re.search(r'name="([^"]+)"', head).group(1), re.search(r'filename="([^"]+)"', head).group(1),
            re.search(r"Content-Type: (\S+)", head).group(1), data.removesuffix(b"\r\n"))


# --------------------------------------------------------------------------- request shapes


def test_publish_sends_every_step_as_the_api_wants(api):
    post = sample_post()
    with client(api) as c:
        receipt = c.publish(post, channel(author="国资小新", need_open_comment=True))

    token_call = api["token"].calls.last
    assert body(token_call) == {"grant_type": "client_credential", "appid": APP_ID,
                                "secret": SECRET, "force_refresh": False}
    assert SECRET not in str(token_call.request.url) and not token_call.request.url.query

    material = api["material"].calls.last.request
    assert material.url.params["type"] == "image" and material.url.params["access_token"] == TOKEN
    assert multipart_file(material) == ("media", "cover.jpg", "image/jpeg", COVER_JPEG)

    upload = api["uploadimg"].calls.last.request
    assert upload.url.params["access_token"] == TOKEN
    assert multipart_file(upload) == ("media", "chart.png", "image/png", CHART_PNG)

    draft_request = api["draft"].calls.last.request
    raw = draft_request.content
    assert b"\\u" not in raw and "中老铁路".encode() in raw  # raw UTF-8, no escapes
    (article,) = json.loads(raw)["articles"]
    assert article["article_type"] == "news"
    assert article["title"] == post.title
    assert article["author"] == "国资小新"
    assert article["digest"] == post.summary
    assert article["content_source_url"] == post.link
    assert article["thumb_media_id"] == THUMB_ID
    assert article["need_open_comment"] == 1 and article["only_fans_can_comment"] == 0
    assert f'src="{IMG_URL}"' in article["content"] and "chart.png" not in article["content"]
    assert "<script" not in article["content"] and "class=" not in article["content"]

    assert body(api["submit"].calls.last) == {"media_id": DRAFT_ID}
    assert [body(c) for c in api["get"].calls] == [{"publish_id": "100000001"}] * 2

    assert receipt.state == "published"
    assert receipt.remote_id == ARTICLE_ID and receipt.url == ARTICLE_URL
    assert receipt.raw["media_id"] == DRAFT_ID and receipt.raw["publish_id"] == "100000001"
    assert receipt.raw["msg_data_id"] == "2247483647"
    assert receipt.raw["ref_date"] == dt.datetime.now(CHINA_TIME).date().isoformat()


def test_publish_false_leaves_a_draft(api):
    with client(api) as c:
        receipt = c.publish(sample_post(), channel(publish=False))
    assert (receipt.state, receipt.remote_id, receipt.url) == ("draft", DRAFT_ID, None)
    assert not api["submit"].called and not api["get"].called


def test_poll_timeout_leaves_the_receipt_pending(api):
    api["get"].mock(side_effect=None, return_value=wx(PUBLISHING))
    with client(api) as c:
        receipt = c.publish(sample_post(), channel(poll_timeout=0.003, poll_interval=0.001))
    assert receipt.state == "pending" and receipt.remote_id == DRAFT_ID
    assert receipt.raw["publish_id"] == "100000001" and receipt.raw["publish_status"] == 1
    assert 2 <= api["get"].call_count <= 5


@pytest.mark.parametrize(("status", "kind", "meaning"), [
    (2, gm.ContentRejected, "originality"),
    (3, gm.ContentRejected, "publishing failed"),
    (4, gm.ContentRejected, "review rejected"),
    (5, gm.PlatformError, "deleted"),
    (6, gm.PlatformError, "banned"),
])
def test_publish_status_failures_name_the_status_and_fail_idx(api, status, kind, meaning):
    api["get"].mock(side_effect=[wx(PUBLISHING), wx({
        "publish_id": "100000001", "publish_status": status, "fail_idx": [1]})])
    with client(api) as c, pytest.raises(kind) as caught:
        c.publish(sample_post(), channel())
    text = str(caught.value)
    assert f"publish_status {status}" in text and meaning in text and "fail_idx=[1]" in text
    assert DRAFT_ID in text
    if status in (2, 3, 4):
        assert type(caught.value) is gm.ContentRejected


def test_appended_images_and_ignored_media(api, caplog_all):
    video = gm.Media.from_bytes(b"\x00\x00\x00\x18ftypmp42", filename="clip.mp4")
    photo = gm.Media.from_bytes(COVER_JPEG, filename="photo.jpg", alt="现场")
    post = gm.Post(title="现场图集", body="正文", cover=gm.Media.from_bytes(COVER_JPEG, filename="c.jpg"),
                   media=(photo, video))
    with client(api) as c:
        c.publish(post, channel())
    content = json.loads(api["draft"].calls.last.request.content)["articles"][0]["content"]
    assert content.endswith(f'<p style="margin:0 0 1em;"><img alt="现场" style="display:block;'
                            f'max-width:100%;height:auto;margin:1em auto;" src="{IMG_URL}"></p></section>')
    assert api["uploadimg"].call_count == 1
    assert any("clip.mp4" in r.getMessage() and "not sent" in r.getMessage() for r in caplog_all.records)


def test_append_images_false_sends_only_what_the_body_shows(api):
    post = attrs.evolve(sample_post(), body="没有图片的正文")
    with client(api) as c:
        c.publish(post, channel(append_images=False))
    assert not api["uploadimg"].called


def test_a_web_image_in_the_body_is_fetched_and_rehosted_never_dropped(api):
    """WeChat shows only images on its own hosts: a web image is uploaded, not left out (issue 14)."""
    fetch = api.get("https://cdn.example.org/a.png").mock(
        return_value=httpx.Response(200, content=CHART_PNG))
    post = attrs.evolve(sample_post(), body="![外链](https://cdn.example.org/a.png)\n\n正文")
    with client(api) as c:
        c.publish(post, channel())
    assert "access_token" not in str(fetch.calls.last.request.url)  # no token to another host
    assert CHART_PNG in [multipart_file(call.request)[3] for call in api["uploadimg"].calls]
    content = json.loads(api["draft"].calls.last.request.content)["articles"][0]["content"]
    assert "cdn.example.org/a.png" not in content and "mmbiz.qpic.cn" in content


def test_a_web_image_that_cannot_be_fetched_fails_before_anything_is_created(api):
    api.get("https://cdn.example.org/gone.png").mock(return_value=httpx.Response(404))
    post = attrs.evolve(sample_post(), body="![外链](https://cdn.example.org/gone.png)\n\n正文")
    with client(api) as c, pytest.raises(gm.PlatformError) as caught:
        c.publish(post, channel())
    assert not isinstance(caught.value, gm.DeliveryUnknown)  # nothing was created
    assert "gone.png" in str(caught.value)
    assert api["draft"].call_count == 0


@pytest.mark.parametrize("src", ["figures/missing.png", "data:image/png;base64,iVBORw0KGgo="])
def test_a_body_image_that_cannot_be_sent_is_a_check_problem_naming_it(src):
    post = attrs.evolve(sample_post(), body=f"正文\n\n![图]({src})")
    problems = gm.Client(journal=False).check(post, channel())
    [problem] = [p for p in problems if p.rule == "wechat_oa.body.image_source"]
    assert problem.code == "bad_media" and src[:20] in problem.message


def test_url_media_is_fetched_without_the_token(api):
    api.get("https://cdn.example.org/chart.png", name="fetch").mock(
        return_value=httpx.Response(200, content=CHART_PNG))
    chart = gm.Media.from_url("https://cdn.example.org/chart.png", alt="图表")
    post = gm.Post(title="图表", body="![图表](https://cdn.example.org/chart.png)",
                   cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"), media=(chart,))
    with client(api) as c:
        c.publish(post, channel())
    fetched = api["fetch"].calls.last.request
    assert "access_token" not in str(fetched.url)
    assert multipart_file(api["uploadimg"].calls.last.request)[3] == CHART_PNG


def test_fetched_media_of_the_wrong_type_is_refused_before_upload(api):
    api.get("https://cdn.example.org/cover.webp").mock(
        return_value=httpx.Response(200, content=b"RIFF\x00\x00\x00\x00WEBPVP8 "))
    post = gm.Post(title="封面", body="正文", cover=gm.Media.from_url("https://cdn.example.org/cover.webp"))
    with client(api) as c, pytest.raises(gm.ValidationError) as caught:
        c.publish(post, channel())
    assert caught.value.problems[0].code == "bad_media"
    assert not api["material"].called


# --------------------------------------------------------------------------- errors


def classify(code, message="errmsg here"):
    request = httpx.Request("POST", f"{BASE}/cgi-bin/draft/add?access_token={TOKEN}")
    response = httpx.Response(200, json={"errcode": code, "errmsg": message}, request=request)
    return WeChatOAPlatform().classify(response, channel())


@pytest.mark.parametrize(("code", "kind", "hint"), [
    (40001, gm.AuthError, "app_secret"),
    (40014, gm.AuthError, "refresh"),
    (42001, gm.AuthError, "expired"),
    (45009, gm.RateLimited, "daily quota"),
    (45011, gm.RateLimited, "per-minute"),
    (53501, gm.RateLimited, "less often"),
    (-1, gm.TransientError, "Nothing was created"),
    (40005, gm.ContentRejected, "file type"),
    (40006, gm.ContentRejected, "size"),
    (40007, gm.ContentRejected, "media_id"),
    (40009, gm.ContentRejected, "image size"),
    (40033, gm.ContentRejected, "UTF-8"),
    (45002, gm.ContentRejected, "20,000"),
    (45003, gm.ContentRejected, "32"),
    (45166, gm.ContentRejected, "invalid"),
    (87014, gm.ContentRejected, "risky"),
    (40013, gm.PlatformError, "app_id"),
    (40125, gm.PlatformError, "app_secret"),
    (40164, gm.PlatformError, "whitelist"),
    (48001, gm.PlatformError, "permission"),
    (48004, gm.PlatformError, "banned"),
    (50002, gm.PlatformError, "restricted"),
    (53500, gm.PlatformError, "banned"),
    (53502, gm.PlatformError, "publish_id"),
    (53600, gm.PlatformError, "article_id"),
    (43002, gm.PlatformError, "POST"),
    (43003, gm.PlatformError, "HTTPS"),
])
def test_error_codes_map_to_the_tree_with_a_hint(code, kind, hint):
    error = classify(code, "the platform's errmsg")
    assert type(error) is kind
    assert error.code == code
    text = str(error)
    assert str(code) in text and "the platform's errmsg" in text and hint in text


def test_quota_and_busy_flags():
    assert classify(45009).quota and not classify(45011).quota
    assert not classify(-1).maybe_applied  # busy: WeChat applied nothing


def test_success_is_errcode_absent_or_zero():
    request = httpx.Request("POST", f"{BASE}/cgi-bin/draft/delete")
    platform = WeChatOAPlatform()
    for payload in ({"errcode": 0, "errmsg": "ok"}, {"media_id": "x"}):
        assert platform.classify(httpx.Response(200, json=payload, request=request), channel()) is None


def test_html_error_page_and_bare_500_are_transient_and_maybe_applied():
    request = httpx.Request("POST", f"{BASE}/cgi-bin/draft/add")
    platform = WeChatOAPlatform()
    page = httpx.Response(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                          headers={"Content-Type": "text/html"}, request=request)
    for response in (page, httpx.Response(500, request=request)):
        error = platform.classify(response, channel())
        assert isinstance(error, gm.TransientError) and error.maybe_applied


def test_45009_is_raised_at_once(api):
    api["draft"].mock(return_value=error(45009, "reach max api daily quota limit"))
    with client(api) as c, pytest.raises(gm.RateLimited) as caught:
        c.publish(sample_post(), channel())
    assert api["draft"].call_count == 1
    assert "45009" in str(caught.value) and "reach max api daily quota limit" in str(caught.value)


def test_45011_is_retried_with_backoff(api):
    api["draft"].mock(side_effect=[error(45011, "api minute-quota reach limit"), wx({"media_id": DRAFT_ID})])
    with client(api) as c:
        assert c.publish(sample_post(), channel()).state == "published"
    assert api["draft"].call_count == 2


def test_busy_minus_one_is_retried_even_on_draft_add(api):
    api["draft"].mock(side_effect=[error(-1, "system error"), wx({"media_id": DRAFT_ID})])
    with client(api) as c:
        c.publish(sample_post(), channel())
    assert api["draft"].call_count == 2


@pytest.mark.parametrize("route", ["draft", "submit"])
def test_a_bare_5xx_on_draft_add_or_submit_is_never_resent(api, route):
    api[route].mock(return_value=httpx.Response(500))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as caught:
        c.publish(sample_post(), channel())
    assert api[route].call_count == 1
    assert ("draft box" if route == "draft" else "发表记录") in str(caught.value)


def test_reads_and_uploads_are_resent_after_a_5xx(api):
    api["uploadimg"].mock(side_effect=[httpx.Response(502, text="<html>bad gateway</html>"),
                                      wx({"url": IMG_URL})])
    api["get"].mock(side_effect=[httpx.Response(500), wx(PUBLISHED)])
    api["token"].mock(side_effect=[httpx.Response(503), wx({"access_token": TOKEN, "expires_in": 7200})])
    with client(api) as c:
        assert c.publish(sample_post(), channel()).state == "published"
    assert api["uploadimg"].call_count == 2 and api["get"].call_count == 2


def test_expired_token_is_refreshed_once_and_the_step_resent(api):
    api["draft"].mock(side_effect=[error(42001, "access_token expired"), wx({"media_id": DRAFT_ID})])
    api["token"].mock(side_effect=[wx({"access_token": TOKEN, "expires_in": 7200}),
                                   wx({"access_token": TOKEN + "2", "expires_in": 7200})])
    with client(api) as c:
        c.publish(sample_post(), channel())
    assert api["token"].call_count == 2
    assert api["draft"].calls[1].request.url.params["access_token"] == TOKEN + "2"


def test_a_submit_refusal_says_the_draft_stays(api):
    api["submit"].mock(return_value=error(48001, "api unauthorized"))
    with client(api) as c, pytest.raises(gm.PlatformError) as caught:
        c.publish(sample_post(), channel())
    assert "48001" in str(caught.value) and DRAFT_ID in str(caught.value)
    assert "接口权限" in str(caught.value)


# --------------------------------------------------------------------------- delete and metrics


def receipt_of(state="published", **raw):
    remote = {"published": ARTICLE_ID, "draft": DRAFT_ID, "pending": DRAFT_ID}[state]
    return gm.Receipt(channel=channel(), remote_id=remote, state=state, raw=raw)


def test_delete_published_and_draft(api):
    with client(api) as c:
        c.delete(receipt_of("published"))
        c.delete(receipt_of("draft"))
    assert body(api["fdelete"].calls.last) == {"article_id": ARTICLE_ID, "index": 0}
    assert body(api["ddelete"].calls.last) == {"media_id": DRAFT_ID}


def test_delete_pending_asks_for_the_article_first(api):
    api["get"].mock(side_effect=None, return_value=wx(PUBLISHED))
    with client(api) as c:
        c.delete(receipt_of("pending", publish_id="100000001", media_id=DRAFT_ID))
    assert body(api["fdelete"].calls.last) == {"article_id": ARTICLE_ID, "index": 0}


DATACUBE = {"list": [
    {"ref_date": "2026-11-20", "msgid": "2247483000_1", "title": "别的文章",
     "details": [{"stat_date": "2026-11-20", "int_page_read_count": 5, "share_count": 1}]},
    {"ref_date": "2026-11-20", "msgid": "2247483647_1", "title": "一带一路看国企",
     "details": [
         {"stat_date": "2026-11-20", "target_user": 261917, "int_page_read_user": 14041,
          "int_page_read_count": 29526, "ori_page_read_user": 0, "ori_page_read_count": 0,
          "share_user": 364, "share_count": 2087, "add_to_fav_user": 2, "add_to_fav_count": 3},
         {"stat_date": "2026-11-21", "target_user": 261917, "int_page_read_user": 15041,
          "int_page_read_count": 31526, "ori_page_read_user": 0, "ori_page_read_count": 0,
          "share_user": 380, "share_count": 2201, "add_to_fav_user": 2, "add_to_fav_count": 3},
     ]},
]}


def test_metrics_read_datacube_getarticletotal(api):
    route = api.post("/datacube/getarticletotal").mock(return_value=wx(DATACUBE))
    with client(api) as c:
        metrics = c.metrics(receipt_of(msg_data_id="2247483647", ref_date="2026-11-20"))
    assert body(route.calls.last) == {"begin_date": "2026-11-20", "end_date": "2026-11-20"}
    assert "access_token" in str(route.calls.last.request.url)
    assert (metrics.views, metrics.shares, metrics.likes, metrics.comments) == (31526, 2201, None, None)
    assert metrics.raw["stat_date"] == "2026-11-21"


def test_metrics_without_a_matching_row_are_all_none(api):
    api.post("/datacube/getarticletotal").mock(return_value=wx({"list": DATACUBE["list"][:1]}))
    with client(api) as c:
        metrics = c.metrics(receipt_of(msg_data_id="2247483647", ref_date="2026-11-20"))
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, None, None, None)
    assert "2247483647_1" in metrics.raw["reason"] and metrics.raw["list"]


def test_metrics_before_datacube_has_the_day_send_nothing(api):
    route = api.post("/datacube/getarticletotal")
    today = dt.datetime.now(CHINA_TIME).date().isoformat()
    with client(api) as c:
        for receipt in (receipt_of(msg_data_id="1", ref_date=today), receipt_of(), receipt_of("draft")):
            metrics = c.metrics(receipt)
            assert metrics.views is None and metrics.shares is None and metrics.raw["reason"]
    assert not route.called and not api["token"].called


# --------------------------------------------------------------------------- validation


def check(post, **options):
    return gm.Client().check(post, channel(**options))


def jpeg(size):
    return b"\xff\xd8\xff\xe0" + b"\x00" * (size - 4)


def test_a_good_post_has_no_problems():
    assert check(sample_post()) == []


def test_limits_are_refused_with_counts_and_limits():
    post = gm.Post(title="标" * 33, body="正文", summary="摘" * 129, link="https://e.example/" + "a" * 1010)
    problems = {p.field: p for p in check(post)}
    assert problems["title"].code == "too_long" and "33" in problems["title"].message
    assert "32" in problems["title"].message
    assert problems["summary"].code == "too_long" and "129" in problems["summary"].message
    assert problems["link"].code == "too_long" and "1,028" in problems["link"].message
    assert problems["cover"].code == "missing_cover"


def test_title_and_body_are_required():
    problems = check(gm.Post(summary="只有摘要", cover=gm.Media.from_bytes(COVER_JPEG, filename="c.jpg")))
    assert {p.code for p in problems} == {"missing_title", "missing_body"}


def test_body_length_is_counted_as_the_html_sent():
    cover = gm.Media.from_bytes(COVER_JPEG, filename="c.jpg")
    assert check(gm.Post(title="长文", body="字" * 19_000, cover=cover)) == []
    (problem,) = check(gm.Post(title="长文", body="字" * 19_900, cover=cover))
    assert problem.code == "too_long" and problem.field == "body"
    assert "20,0" in problem.message and "19,900 characters of text" in problem.message


def test_cover_and_body_image_types_and_sizes(tmp_path):
    webp = gm.Media.from_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 ", filename="c.webp")
    gif = gm.Media.from_bytes(b"GIF89a" + b"\x00" * 10, filename="a.gif")
    big = Path(tmp_path / "big.jpg")
    big.write_bytes(jpeg(1024 * 1024))
    post = gm.Post(title="图", body="![动图](a.gif)\n\n![大图](big.jpg)", cover=webp,
                   media=(gif, gm.Media.from_path(big)))
    problems = check(post)
    assert [p.code for p in problems] == ["bad_media"] * 3
    cover, animated, large = problems
    assert cover.field == "cover" and "bmp/png/jpg/gif" in cover.message
    assert animated.field == "media" and "'a.gif'" in animated.message and "jpg/png" in animated.message
    assert "1,048,576 bytes" in large.message and "under 1 MB" in large.message
    huge_cover = gm.Media.from_bytes(jpeg(10 * 1024 * 1024 + 1), filename="huge.jpg")
    assert check(gm.Post(title="t", body="b", cover=huge_cover))[0].code == "bad_media"
    # a GIF or BMP cover is fine: covers go up as permanent image materials
    assert check(gm.Post(title="t", body="b", cover=gif)) == []


def test_channel_options_are_checked():
    with pytest.raises(gm.ConfigError, match="author"):
        check(sample_post(), author="一" * 17)
    with pytest.raises(gm.ConfigError, match="poll_interval"):
        check(sample_post(), poll_interval=0)
    with pytest.raises(gm.ConfigError, match="publish"):
        check(sample_post(), publish="maybe")
    with pytest.raises(gm.ConfigError, match="unknown option"):
        check(sample_post(), thumb_type="thumb")
    with pytest.raises(gm.ConfigError, match="app_secret"):
        gm.Client().check(sample_post(), gm.Channel(platform="wechat_oa", account="a",
                                                    credentials={"app_id": APP_ID}))


def test_capabilities():
    caps = gm.platforms.get("wechat_oa").capabilities
    assert (caps.delete, caps.metrics, caps.dedupe, caps.refresh, caps.title_max) == (
        True, True, False, True, 32)
    assert caps.fields == ("title", "body", "summary", "cover", "link", "media")
    assert "partial" in caps.counting
    assert WeChatOAPlatform.uses_token
    assert WeChatOAPlatform().token_scope(channel()) == APP_ID


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["wechat_oa"])


def run(sandbox, action, *args, asynchronous=False):
    if not asynchronous:
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
            return getattr(c, action)(*args)

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as c:
            return await getattr(c, action)(*args)

    return anyio.run(main)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_full_publish_through_the_fake(sandbox, asynchronous):
    fake = sandbox["wechat_oa"]
    fake.publish_polls = 2
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    receipt = run(sandbox, "publish", sample_post(), ch, asynchronous=asynchronous)
    (post,) = fake.posts("gh_sasac")
    assert receipt.state == "published" and receipt.remote_id == post["article_id"]
    assert receipt.url == post["url"] and post["state"] == "published"
    assert post["title"] == "一带一路看国企：中老铁路开通一周年"  # Chinese arrived raw and intact
    assert post["stripped_images"] == 0 and "mmbiz.qpic.cn" in post["content"]
    assert len(fake.requests("/freepublish/get")) == 3


def test_expired_token_mid_flow_one_refresh_one_article(sandbox):
    fake = sandbox["wechat_oa"]
    fake.inject("token_expired", path=fake.create_path)
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    run(sandbox, "publish", sample_post(), ch)
    assert len(fake.requests("/stable_token")) == 2
    assert len(fake.requests(fake.create_path)) == 2
    assert len(fake.posts()) == 1


def test_tokens_expired_at_the_fake_are_refetched(sandbox):
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
        c.publish(sample_post(), ch)
        fake.expire_tokens()
        c.publish(sample_post("second"), ch)
    assert len(fake.requests("/stable_token")) == 2
    assert len(fake.posts()) == 2


@pytest.mark.parametrize("asynchronous", [False, True])
def test_channels_under_one_app_share_one_token_fetch(sandbox, asynchronous):
    fake = sandbox["wechat_oa"]
    first = sandbox.channel("wechat_oa", "gh_hub")
    second = fake.channel("gh_member", app_id=first.credentials["app_id"])

    async def both_async():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as c:
            async with anyio.create_task_group() as tg:
                tg.start_soon(c.publish, sample_post(), first)
                tg.start_soon(c.publish, sample_post("member"), second)

    if asynchronous:
        anyio.run(both_async)
    else:
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
            c.publish(sample_post(), first)
            c.publish(sample_post("member"), second)
    assert len(fake.requests("/stable_token")) == 1
    assert len(fake.posts()) == 2


def test_timeout_after_draft_add_is_unknown_and_leaves_exactly_one_draft(sandbox):
    fake = sandbox["wechat_oa"]
    fake.inject("timeout_after", path=fake.create_path)
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    with pytest.raises(gm.DeliveryUnknown) as caught:
        run(sandbox, "publish", sample_post(), ch)
    assert len(fake.requests(fake.create_path)) == 1
    (draft,) = fake.posts()
    assert draft["state"] == "draft"
    assert "草稿箱" in str(caught.value)
    assert not fake.requests("/freepublish")


def test_timeout_after_submit_is_unknown_and_never_resubmitted(sandbox):
    fake = sandbox["wechat_oa"]
    fake.inject("timeout_after", path="/freepublish/submit")
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    with pytest.raises(gm.DeliveryUnknown) as caught:
        run(sandbox, "publish", sample_post(), ch)
    assert len(fake.requests("/freepublish/submit")) == 1
    (post,) = fake.posts()
    assert post["state"] == "publishing" and post["media_id"] in str(caught.value)


def test_busy_is_retried_through_the_fake(sandbox):
    fake = sandbox["wechat_oa"]
    fake.inject("busy", path=fake.create_path, times=2)
    run(sandbox, "publish", sample_post(), sandbox.channel("wechat_oa", "gh_sasac"))
    assert len(fake.requests(fake.create_path)) == 3 and len(fake.posts()) == 1


def test_daily_quota_is_raised_at_once_through_the_fake(sandbox):
    fake = sandbox["wechat_oa"]
    fake.inject("rate_limit", path=fake.create_path, retry_after=None)
    with pytest.raises(gm.RateLimited) as caught:
        run(sandbox, "publish", sample_post(), sandbox.channel("wechat_oa", "gh_sasac"))
    assert caught.value.code == 45009 and caught.value.retry_after is None
    assert len(fake.requests(fake.create_path)) == 1 and fake.posts() == []


def test_publish_false_leaves_a_draft_on_the_fake_and_delete_removes_it(sandbox):
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_sasac", publish=False)
    receipt = run(sandbox, "publish", sample_post(), ch)
    (draft,) = fake.posts()
    assert receipt.state == "draft" and receipt.remote_id == draft["media_id"]
    assert draft["state"] == "draft" and not fake.requests("/freepublish")
    run(sandbox, "delete", receipt)
    assert fake.posts() == []


def test_review_rejection_is_content_rejected(sandbox):
    fake = sandbox["wechat_oa"]
    fake.publish_outcome = 4
    with pytest.raises(gm.ContentRejected) as caught:
        run(sandbox, "publish", sample_post(), sandbox.channel("wechat_oa", "gh_sasac"))
    assert "publish_status 4" in str(caught.value) and "review rejected" in str(caught.value)
    assert fake.posts()[0]["state"] == "draft"


def test_risky_content_and_unauthorized_publishing(sandbox):
    fake = sandbox["wechat_oa"]
    fake.risky_terms.add("中老铁路")
    with pytest.raises(gm.ContentRejected, match="87014"):
        run(sandbox, "publish", sample_post(), sandbox.channel("wechat_oa", "gh_a"))
    fake.risky_terms.clear()
    ch = sandbox.channel("wechat_oa", "gh_b")
    fake.app(ch.credentials["app_id"], can_publish=False)
    with pytest.raises(gm.PlatformError, match="48001") as caught:
        run(sandbox, "publish", sample_post(), ch)
    assert "stays in the draft box" in str(caught.value)


def test_ip_whitelist_and_wrong_secret_are_clear(sandbox):
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    fake.app(ch.credentials["app_id"], whitelisted=False)
    with pytest.raises(gm.PlatformError, match="IP白名单") as caught:
        run(sandbox, "publish", sample_post(), ch)
    assert caught.value.code == 40164 and "not in whitelist" in str(caught.value)
    wrong = gm.Channel(platform="wechat_oa", account="gh_other", options=ch.options,
                       credentials={"app_id": ch.credentials["app_id"], "app_secret": "x" * 32})
    fake.app(ch.credentials["app_id"], whitelisted=True)
    with pytest.raises(gm.AuthError, match="40001"):
        run(sandbox, "publish", sample_post(), wrong)
    assert fake.posts() == []


def test_control_characters_never_reach_wechat_as_escapes(sandbox):
    post = attrs.evolve(sample_post(), title="央企\x0b招聘", summary="摘要\x1f")
    run(sandbox, "publish", post, sandbox.channel("wechat_oa", "gh_sasac"))
    (sent,) = sandbox["wechat_oa"].posts()
    assert sent["title"] == "央企招聘" and sent["digest"] == "摘要"


def test_metrics_and_delete_through_the_fake(sandbox):
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    receipt = run(sandbox, "publish", sample_post(), ch)
    assert run(sandbox, "metrics", receipt).views is None  # published today: not in datacube yet
    yesterday = (dt.datetime.now(CHINA_TIME).date() - dt.timedelta(days=1)).isoformat()
    fake.set_stats(receipt.remote_id, ref_date=yesterday, int_page_read_count=120, share_count=7)
    older = attrs.evolve(receipt, raw={**receipt.raw, "ref_date": yesterday})
    metrics = run(sandbox, "metrics", older)
    assert (metrics.views, metrics.shares, metrics.likes, metrics.comments) == (120, 7, None, None)
    run(sandbox, "delete", receipt)
    assert fake.posts() == []


def test_the_access_token_never_reaches_a_log_record_or_an_error(sandbox, caplog_all):
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_sasac")
    fake.inject("token_expired", path="/media/uploadimg")
    fake.inject("timeout_after", path=fake.create_path)
    with pytest.raises(gm.DeliveryUnknown) as caught:
        run(sandbox, "publish", sample_post(), ch)
    (app,) = fake.apps.values()
    tokens = [t for t in fake.tokens if fake.tokens[t].app_id == app.app_id]
    secrets = [*tokens, app.secret]
    assert tokens
    messages = [r.getMessage() for r in caplog_all.records]
    # httpx's own INFO lines went through, with the token masked
    assert any(m.startswith("HTTP Request: POST") and "access_token=***" in m for m in messages)
    assert any("draft/add?access_token=***" in m and "ReadTimeout" in m for m in messages)
    for secret in secrets:
        assert not any(secret in m for m in messages)
        assert secret not in str(caught.value) and secret not in repr(caught.value)



# --------------------------------------------------------------------------- mass send


def test_mass_send_pushes_the_draft_with_the_delivery_key_as_clientmsgid():
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_mass", mass_send=True)
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = client.publish(sample_post(), ch)
    (sent,) = fake.mass_sends.values()
    assert receipt.state == "pending" and receipt.remote_id == str(sent["msg_id"])
    assert sent["clientmsgid"].startswith("gm-") and receipt.raw["mass_send"] is True
    assert fake.requests("/cgi-bin/freepublish/submit") == []


def test_a_lost_mass_send_answer_is_resent_and_the_repeat_is_recognised():
    """45065: the same clientmsgid was sent before; the answer names the first msg_id."""
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_mass2", mass_send=True)
    fake.inject("timeout_after", path="/cgi-bin/message/mass/sendall")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = client.publish(sample_post(), ch)
    assert len(fake.requests("/cgi-bin/message/mass/sendall")) == 2
    assert len(fake.mass_sends) == 1
    assert receipt.remote_id == str(next(iter(fake.mass_sends.values()))["msg_id"])


@respx.mock(base_url=BASE)
def test_mass_send_request_shape_and_45066_waits_a_minute(respx_mock, monkeypatch):
    waits = []
    import govmedia.client as client_module

    monkeypatch.setattr(client_module, "_sleep", waits.append)
    respx_mock.post("/cgi-bin/stable_token").mock(return_value=wx({"access_token": TOKEN, "expires_in": 7200}))
    respx_mock.post("/cgi-bin/material/add_material").mock(return_value=wx({"media_id": THUMB_ID, "url": IMG_URL}))
    respx_mock.post("/cgi-bin/media/uploadimg").mock(return_value=wx({"url": IMG_URL}))
    respx_mock.post("/cgi-bin/draft/add").mock(return_value=wx({"media_id": DRAFT_ID}))
    sendall = respx_mock.post("/cgi-bin/message/mass/sendall").mock(side_effect=[
        error(45066, "clientmsgid retry too fast"),
        wx({"errcode": 0, "errmsg": "send job submission success", "msg_id": 1000000001,
            "msg_data_id": 2247483647}),
    ])
    with gm.Client(retry=gm.RetryPolicy()) as client:
        receipt = client.publish(sample_post(), channel(mass_send=True))
    body = json.loads(sendall.calls[0].request.content)
    assert body["filter"] == {"is_to_all": True} and body["msgtype"] == "mpnews"
    assert body["mpnews"] == {"media_id": DRAFT_ID} and body["clientmsgid"].startswith("gm-")
    assert json.loads(sendall.calls[1].request.content)["clientmsgid"] == body["clientmsgid"]
    assert waits == [60]
    assert (receipt.remote_id, receipt.raw["msg_data_id"], receipt.state) == ("1000000001", "2247483647", "pending")


def test_a_second_mass_send_on_the_same_day_is_a_quota():
    sandbox = Sandbox(platforms=["wechat_oa"])
    ch = sandbox.channel("wechat_oa", "gh_mass3", mass_send=True)
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        client.publish(sample_post(), ch)
        with pytest.raises(gm.DeliveryUnknown) as info:  # after draft/add: in doubt, with its ids
            client.publish(gm.Post(title="第二篇", body="正文", cover=sample_post().cover), ch)
    assert info.value.code == 45028 and info.value.known.get("media_id")


def test_mass_sent_articles_are_not_deleted_by_guess():
    ch = channel(mass_send=True)
    receipt = gm.Receipt(channel=ch, remote_id="1000000001", state="pending", raw={"mass_send": True})
    with pytest.raises(gm.ConfigError, match="群发记录"):
        next(WeChatOAPlatform().delete(receipt))


def test_a_rerun_after_a_failed_mass_send_sends_that_draft_with_the_same_clientmsgid(tmp_path):
    sandbox = Sandbox(platforms=["wechat_oa"])
    fake = sandbox["wechat_oa"]
    ch = sandbox.channel("wechat_oa", "gh_mass4", mass_send=True)
    fake.inject("timeout_after", path="/cgi-bin/message/mass/sendall", times=4)  # every attempt of run 1
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), journal=tmp_path / "j.db") as client:
        first = client.fan_out(sample_post(), [ch])
        second = client.fan_out(sample_post(), [ch])
    assert first.deliveries[0].state == "unknown"
    assert second.deliveries[0].state == "published" and second.deliveries[0].receipt.state == "pending"
    assert len(fake.drafts) == 1 and len(fake.mass_sends) == 1   # one draft, one send


def test_metrics_on_publishing_day_say_when_they_will_be_there(api):
    """Issue 14, item 9: all None with the reason only in raw; the campaign row says the date."""
    today = dt.datetime.now(CHINA_TIME).date()
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    receipt = receipt_of(msg_data_id="1", ref_date=today.isoformat())
    with client(api) as c:
        metrics = c.metrics(receipt)
    assert metrics.raw["available_from"] == tomorrow
    assert f"from {tomorrow} (China time)" in metrics.raw["reason"]
    row = gm.CampaignMetrics.collect([({"platform": "wechat_oa", "account": "gh_a"}, metrics)]).rows[0]
    assert row["views"] is None and row["error"] is None
    assert f"from {tomorrow}" in row["note"]
