"""Weibo: requests shaped as the API wants, every sheet code mapped, exactly once, fakes end to end.

The respx tests answer with payloads shaped exactly as shared/platforms/weibo.md
shows (a status object with id, idstr, mid, text, created_at, the three picture
addresses, user, reposts_count and comments_count; errors as a non-200 status
with {"request", "error_code", "error"}; the article API's {code, msg, data}).
Unverified facts a test relies on say so where they are used.
"""

import logging
from urllib.parse import parse_qsl, unquote

import anyio
import httpx
import pytest
import respx

import govmedia as gm
from govmedia.content.counting import count_weibo
from govmedia.content.fit import fit_post
from govmedia.platforms.steps import Doubt
from govmedia.platforms.weibo import ERRORS, WeiboPlatform, mid_to_base62, share_text, status_url
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG, COVER_JPEG, sample_post

BASE = "https://api.weibo.com"
TOKEN = "2.00Gz8kLBxyzAbCdEf0123456789qRsTuV"
RIP = "203.0.113.7"
SAFE = "https://www.sasac.gov.cn/"
UID = 1404376560
MID = "3504803600502730"
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"


def channel(**options):
    return gm.Channel(platform="weibo", account="gzxx", credentials={"access_token": TOKEN},
                      options={"rip": RIP, "safe_domain_url": SAFE, **options})


def status(text="国资小新", *, mid=MID, picture=False):
    """A status object with the fields the sheet lists for statuses/share's answer."""
    body = {
        "created_at": "Wed Oct 24 23:49:17 +0800 2012", "id": int(mid), "mid": mid, "idstr": mid,
        "text": text, "user": {"id": UID, "idstr": str(UID), "screen_name": "国资小新"},
        "reposts_count": 0, "comments_count": 0,
    }
    if picture:
        body.update(thumbnail_pic="http://ww2.sinaimg.cn/thumbnail/71666d49jw1dy6q8t3p0rj.jpg",
                    bmiddle_pic="http://ww2.sinaimg.cn/bmiddle/71666d49jw1dy6q8t3p0rj.jpg",
                    original_pic="http://ww2.sinaimg.cn/large/71666d49jw1dy6q8t3p0rj.jpg")
    return body


def error(code, message="error message", *, path="/2/statuses/share.json", http=400):
    return httpx.Response(http, json={"request": path, "error_code": code, "error": message})


def article_answer(code="100000", **data):
    return httpx.Response(200, json={"code": code, "msg": "success" if code == "100000" else "failed",
                                     **({"data": data} if data else {})})


@pytest.fixture
def api():
    router = respx.MockRouter(base_url=BASE, assert_all_called=False)
    router.post("/2/statuses/share.json", name="share").mock(return_value=httpx.Response(200, json=status()))
    router.post("/2/statuses/repost.json", name="repost").mock(
        return_value=httpx.Response(200, json=status("转发微博", mid="3504803600509999")))
    router.get("/2/statuses/show.json", name="show").mock(return_value=httpx.Response(200, json={
        **status(), "reposts_count": 12, "comments_count": 5, "attitudes_count": 30}))
    router.post("/proxy/article/publish.json", name="article").mock(return_value=article_answer(
        object_id="1001604000000001", url="https://weibo.com/ttarticle/p/show?id=1001604000000001",
        mid=MID))
    return router


def client(router):
    return gm.Client(http=httpx.Client(transport=httpx.MockTransport(router.handler)),
                     retry=gm.RetryPolicy.testing())


def form(call):
    return dict(parse_qsl(call.request.content.decode("ascii"), keep_blank_values=True))


def multipart(request):
    """{name: (filename, content type, bytes)} of a multipart/form-data body."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    parts = {}
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        disposition = lines[0]
        name = disposition.split('name="')[1].split('"')[0]
        filename = disposition.split('filename="')[1].split('"')[0] if "filename=" in disposition else None
        ctype = next((line.split(": ")[1] for line in lines if line.lower().startswith("content-type")), None)
        parts[name] = (filename, ctype, data.removesuffix(b"\r\n"))
    return parts


# --------------------------------------------------------------------------- statuses/share


def test_share_sends_the_form_the_sheet_shows_and_the_receipt_points_at_the_status(api):
    with client(api) as c:
        receipt = c.publish(gm.Post(text="央企招聘季开始了", tags=("微招聘",)), channel())
    call = api["share"].calls.last
    assert call.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form(call) == {"access_token": TOKEN, "status": f"央企招聘季开始了 {SAFE}", "rip": RIP}
    assert receipt.state == "published" and receipt.remote_id == MID
    # DESIGN: https://weibo.com/UID/BASE62(mid)
    assert receipt.url == f"https://weibo.com/{UID}/{mid_to_base62(MID)}"
    assert receipt.raw["idstr"] == MID


def test_a_picture_goes_as_multipart_with_the_text_fields(api):
    post = gm.Post(text="中老铁路开通一周年 https://www.sasac.gov.cn/n1/c2.html",
                   media=(gm.Media.from_bytes(CHART_PNG, filename="客货运量.png"),))
    api["share"].mock(return_value=httpx.Response(200, json=status(picture=True)))
    with client(api) as c:
        receipt = c.publish(post, channel())
    request = api["share"].calls.last.request
    assert request.headers["content-type"].startswith("multipart/form-data; boundary=")
    parts = multipart(request)
    # A file name that is not plain ASCII is replaced; the type is sniffed from the bytes.
    assert parts["pic"] == ("picture.png", "image/png", CHART_PNG)
    assert parts["status"][2].decode() == post.text  # the link on the safe host: nothing appended
    assert parts["access_token"][2].decode() == TOKEN and parts["rip"][2].decode() == RIP
    assert receipt.raw["original_pic"].endswith(".jpg")


def test_the_safe_domain_link_is_added_only_when_the_text_has_none_on_that_host():
    assert share_text(gm.Post(text="见 https://WWW.sasac.gov.cn/a"), SAFE) == "见 https://WWW.sasac.gov.cn/a"
    assert share_text(gm.Post(text="见 https://sasac.gov.cn/a"), SAFE) == f"见 https://sasac.gov.cn/a {SAFE}"
    assert share_text(gm.Post(text="见 https://example.org/a"), SAFE) == f"见 https://example.org/a {SAFE}"
    assert share_text(gm.Post(title="标题", summary="摘要"), None) == "标题\n\n摘要"
    assert share_text(gm.Post(title="标题", link="https://www.sasac.gov.cn/x"), SAFE).endswith("/x")


def test_tags_are_never_sent_and_a_topic_in_the_text_is_refused_before_sending(api, caplog_all):
    with client(api) as c:
        c.publish(gm.Post(text="一带一路看国企", tags=("一带一路看国企", "#国企改革#")), channel())
        assert "#" not in form(api["share"].calls.last)["status"]
        assert any("tags" in r.getMessage() and "not sent" in r.getMessage() for r in caplog_all.records)
        topic = gm.Post(text="#一带一路看国企# 中老铁路开通一周年")
        [problem] = c.check(topic, channel())
        assert (problem.code, problem.rule) == ("topic_not_allowed", "weibo.text.no_topics")
        assert "#一带一路看国企#" in problem.message
        with pytest.raises(gm.ValidationError):
            c.publish(topic, channel())
    assert api["share"].call_count == 1


def test_a_flow_driven_by_hand_still_never_sends_a_topic():
    flow = WeiboPlatform().publish(gm.Post(text="#国企改革# 新进展"), channel(), "k1")
    with pytest.raises(gm.ValidationError, match="#国企改革#"):
        next(flow)


def test_url_pictures_are_fetched_without_the_token_and_checked_before_the_share(api):
    api.route(host="img.example.org", name="image").mock(
        side_effect=[httpx.Response(200, content=GIF), httpx.Response(200, content=b"<html>")])
    pictured = gm.Post(text=f"看图 {SAFE}", media=(gm.Media.from_url("https://img.example.org/a.gif"),))
    with client(api) as c:
        c.publish(pictured, channel())
        fetch = api["image"].calls[0].request
        assert TOKEN not in str(fetch.url) and TOKEN.encode() not in fetch.content
        assert "authorization" not in fetch.headers
        assert multipart(api["share"].calls.last.request)["pic"][1] == "image/gif"
        with pytest.raises(gm.ValidationError) as caught:  # an HTML page, not a picture
            c.publish(pictured.with_variant(platform="weibo", text=f"再看 {SAFE}"), channel())
    assert caught.value.problems[0].rule == "weibo.media.kind"
    assert api["share"].call_count == 1


# --------------------------------------------------------------------------- exactly once


def test_20032_posted_with_a_delay_is_a_pending_success_sent_once(api):
    api["share"].mock(return_value=error(20032, "Your weibo has been posted, it will be shown later"))
    with client(api) as c:
        receipt = c.publish(gm.Post(text="发布会"), channel())
        assert receipt.state == "pending" and receipt.raw["error_code"] == 20032
        assert receipt.remote_id.startswith("delayed:") and receipt.url is None
        metrics = c.metrics(receipt)  # no id to ask about: nothing is sent
    assert metrics.comments is None and "delay" in metrics.raw["reason"]
    assert api["share"].call_count == 1 and api["show"].call_count == 0


@pytest.mark.parametrize("answer", [
    error(10001, "System error"),
    error(10002, "Service unavailable!"),
    httpx.Response(500),
    httpx.Response(502, headers={"Content-Type": "text/html"}, text="<html>502 Bad Gateway</html>"),
    httpx.ReadTimeout("lost"),
    httpx.Response(200, content=b'{"id": 35048036005'),  # cut short: applied, answer lost
], ids=["10001", "10002", "500", "502-html", "timeout", "truncated"])
def test_a_create_that_may_have_been_applied_is_unknown_and_never_resent(api, answer):
    if isinstance(answer, Exception):
        api["share"].mock(side_effect=answer)
    else:
        api["share"].mock(return_value=answer)
    with client(api) as c, pytest.raises(gm.DeliveryUnknown):
        c.publish(gm.Post(text="国资委召开会议"), channel())
    assert api["share"].call_count == 1


def test_busy_codes_and_the_posting_brake_are_retried_then_sent(api):
    api["share"].mock(side_effect=[error(10009, "Too many pending tasks, system is busy!"),
                                   error(20016, "Update weibo too fast!", http=403),
                                   httpx.Response(200, json=status())])
    with client(api) as c:
        assert c.publish(gm.Post(text="国资委召开会议"), channel()).remote_id == MID
    assert api["share"].call_count == 3


def test_reads_are_resent_after_codes_that_may_follow_an_applied_write(api):
    api["show"].mock(side_effect=[error(10002, "Service unavailable!", path="/2/statuses/show.json"),
                                  error(10001, "System error", path="/2/statuses/show.json"),
                                  httpx.Response(200, json=status())])
    with client(api) as c:
        assert c.metrics(gm.Receipt(channel=channel(), remote_id=MID)).shares == 0
    assert api["show"].call_count == 3


@pytest.mark.parametrize("code", [10022, 10023, 10024])
def test_hourly_limits_are_raised_at_once(api, code):
    api["share"].mock(return_value=error(code, "out of rate limit", http=403))
    with client(api) as c, pytest.raises(gm.RateLimited) as caught:
        c.publish(gm.Post(text="国资委召开会议"), channel())
    assert caught.value.quota and "same journal" in caught.value.hint
    assert api["share"].call_count == 1


@pytest.mark.parametrize("code", [21327, 21332, 21314, 21315, 21316, 21317, 21319, 21301])
def test_a_refused_token_asks_for_the_browser_again_and_is_not_retried(api, code):
    api["share"].mock(return_value=error(code, "expired_token", http=403))
    with client(api) as c, pytest.raises(gm.AuthError) as caught:
        c.publish(gm.Post(text="国资委召开会议"), channel())
    assert "oauth2/authorize" in caught.value.hint and "again in the browser" in caught.value.hint
    assert api["share"].call_count == 1


# Every code on the fact sheet, by family (sheet: "Error codes" and the article API's).
SHEET_CODES = {
    gm.AuthError: [21327, 21332, 21314, 21315, 21316, 21317, 21319, 21301],
    gm.RateLimited: [10022, 10023, 10024, 20016, 20505, 11001],
    gm.TransientError: [10009, 10002, 10003, 10010, 10011, 10001, 11003],
    gm.ContentRejected: [20012, 20013, 20005, 20006, 20007, 20008, 20017, 20019, 20111, 20018, 20020,
                         20021, 20031, 20101, 20103],
    gm.PlatformError: [10005, 10014, 10004, 10006, 10008, 10016, 10017, 21321, 21335, 20003, 20015,
                       11002],
}


@pytest.mark.parametrize(("kind", "code"), [(k, c) for k, codes in SHEET_CODES.items() for c in codes])
def test_every_sheet_code_maps_to_the_error_tree_with_a_hint(kind, code):
    request = httpx.Request("POST", f"{BASE}/2/statuses/share.json")
    response = httpx.Response(400, json={"request": "/2/statuses/share.json", "error_code": code,
                                         "error": "message"}, request=request)
    error = WeiboPlatform().classify(response, channel())
    assert type(error) is kind and error.code == code and error.hint
    applied = {10001, 10002, 10003, 10010, 10011, 11003}  # may follow the write: never resent
    if kind is gm.TransientError:
        assert error.maybe_applied is (code in applied)
    if kind is gm.RateLimited:
        assert error.quota is (code in (10022, 10023, 10024, 20505))


def test_the_table_holds_the_sheet_and_20032_is_no_error():
    assert set(ERRORS) == {c for codes in SHEET_CODES.values() for c in codes}
    request = httpx.Request("POST", f"{BASE}/2/statuses/share.json")
    delayed = httpx.Response(400, json={"error_code": "20032", "error": "posted"}, request=request)
    assert WeiboPlatform().classify(delayed, channel()) is None


# --------------------------------------------------------------------------- repost, metrics, delete


def test_amplify_reposts_the_hubs_status_with_weibos_default_text():
    hub = gm.Receipt(channel=channel(), remote_id=MID, url=status_url(UID, MID))
    member = gm.Channel(platform="weibo", account="cnpc", credentials={"access_token": "2.00member-token"},
                        options={"rip": "198.51.100.20"})
    platform = WeiboPlatform()
    assert platform.can_repost(hub, member) and not platform.can_repost(hub, channel())
    assert not platform.can_repost(gm.Receipt(channel=channel(), remote_id="delayed:k", state="pending"),
                                   member)
    flow = platform.repost(hub, member, "k")  # as a fan-out in amplify mode drives it
    request = next(flow)
    assert request.url == f"{BASE}/2/statuses/repost.json"
    assert dict(parse_qsl(request.content.decode())) == {
        "access_token": "2.00member-token", "id": MID, "rip": "198.51.100.20"}
    checkpoint = flow.send(httpx.Response(200, json=status("转发微博", mid="3504803600509999"),
                                          request=request))
    assert checkpoint.stage == "reposted" and checkpoint.data["id"] == "3504803600509999"
    with pytest.raises(StopIteration) as done:
        flow.send(None)
    assert done.value.value.remote_id == "3504803600509999"
    with pytest.raises(gm.ConfigError, match="cannot repost"):
        next(platform.repost(hub, channel(), "k"))


def test_metrics_are_reposts_comments_and_attitudes_from_statuses_show(api):
    receipt = gm.Receipt(channel=channel(), remote_id=MID)
    with client(api) as c:
        metrics = c.metrics(receipt)
    request = api["show"].calls.last.request
    # statuses/show is not on the fact sheet (unverified); its counts are the sheet's fields.
    assert request.url.params["id"] == MID and request.url.params["access_token"] == TOKEN
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, 30, 12, 5)


def test_a_count_weibo_leaves_out_is_none_never_zero(api):
    body = status()
    del body["comments_count"]
    api["show"].mock(return_value=httpx.Response(200, json=body))
    with client(api) as c:
        metrics = c.metrics(gm.Receipt(channel=channel(), remote_id=MID))
    assert (metrics.likes, metrics.shares, metrics.comments) == (None, 0, None)


def test_delete_is_not_offered_and_says_where_to_do_it(api):
    receipt = gm.Receipt(channel=channel(), remote_id=MID, url=status_url(UID, MID))
    with client(api) as c, pytest.raises(gm.ConfigError, match="cannot delete") as caught:
        c.delete(receipt)
    assert receipt.url in str(caught.value)
    assert not WeiboPlatform.capabilities.delete


# --------------------------------------------------------------------------- long article


ARTICLE = gm.Post(
    title="一带一路看国企：中老铁路开通一周年",
    body="# 中老铁路\n\n累计发送旅客 **850 万人次** & more\n\n![图](https://img.example.org/c.png)",
    text="中老铁路开通一周年", summary="客货两旺",
    cover=gm.Media.from_url("https://img.example.org/cover.jpg"),
)


def test_long_article_sends_the_fields_the_sheet_lists(api):
    with client(api) as c:
        receipt = c.publish(ARTICLE, channel(long_article=True))
    sent = form(api["article"].calls.last)
    assert set(sent) == {"access_token", "title", "content", "cover", "summary", "text", "rip"}
    assert (sent["title"], sent["cover"], sent["summary"], sent["text"], sent["rip"]) == (
        ARTICLE.title, "https://img.example.org/cover.jpg", "客货两旺", "中老铁路开通一周年", RIP)
    # rawurlencode (sheet): spaces as %20, nothing left raw but A-Z a-z 0-9 - _ . ~
    assert "%20" in sent["content"] and "+" not in sent["content"] and "<" not in sent["content"]
    html = unquote(sent["content"])
    assert "<h1>中老铁路</h1>" in html and "<strong>850 万人次</strong>" in html and "&amp; more" in html
    assert receipt.remote_id == MID and receipt.url == "https://weibo.com/ttarticle/p/show?id=1001604000000001"
    assert receipt.raw["object_id"] == "1001604000000001" and receipt.raw["article"]
    assert api["share"].call_count == 0


def test_long_article_html_bodies_are_sanitised(api):
    post = gm.Post(title="标题", body='<p onclick="x()">正文<script>alert(1)</script></p>', body_format="html")
    with client(api) as c:
        c.publish(post, channel(long_article=True))
    assert unquote(form(api["article"].calls.last)["content"]) == "<p>正文</p>"


@pytest.mark.parametrize(("code", "kind", "calls"), [
    ("10001", gm.DeliveryUnknown, 1), ("11003", gm.DeliveryUnknown, 1), ("11002", gm.PlatformError, 1),
    ("10008", gm.PlatformError, 1), ("11001", None, 2),
])
def test_long_article_errors(api, code, kind, calls):
    api["article"].mock(side_effect=[article_answer(code), article_answer(
        object_id="1001604000000002", url="https://weibo.com/ttarticle/p/show?id=1001604000000002", mid=MID)])
    with client(api) as c:
        if kind is None:
            assert c.publish(ARTICLE, channel(long_article=True)).raw["object_id"] == "1001604000000002"
        else:
            with pytest.raises(kind) as caught:
                c.publish(ARTICLE, channel(long_article=True))
            assert type(caught.value) is kind
    assert api["article"].call_count == calls


def test_an_article_answer_without_its_status_still_gives_a_receipt(api):
    api["article"].mock(return_value=article_answer(object_id="1001604000000003"))
    with client(api) as c:
        receipt = c.publish(ARTICLE, channel(long_article=True))
        assert receipt.remote_id == "1001604000000003"
        assert receipt.url == "https://weibo.com/ttarticle/p/show?id=1001604000000003"
        assert "no status id" in c.metrics(receipt).raw["reason"]
    assert api["show"].call_count == 0


def test_an_article_answer_without_an_object_id_is_unknown(api):
    api["article"].mock(return_value=article_answer(mid=MID))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown):
        c.publish(ARTICLE, channel(long_article=True))


# --------------------------------------------------------------------------- check()


def rules(post, **options):
    return [p.rule for p in gm.Client().check(post, channel(**options))]


def test_140_as_weibo_counts_two_latin_characters_as_one():
    # The ASCII rule is Weibo's client rule, unverified for the API (sheet: "140 Chinese characters").
    link = " https://www.sasac.gov.cn/"  # 26 ASCII characters: 13
    assert rules(gm.Post(text="国" * 127 + link)) == []
    assert rules(gm.Post(text="国" * 125 + "abcd" + link)) == []
    assert rules(gm.Post(text="国" * 125 + "abcde" + link)) == ["weibo.text.max_length"]
    [problem] = gm.Client().check(gm.Post(text="国" * 128 + link), channel())
    assert problem.message == ("text is 141 characters as Weibo counts them (CJK 1, two ASCII 1), "
                               "limit 140: 1 over")


def test_the_appended_safe_domain_link_counts():
    assert rules(gm.Post(text="国" * 127)) == []          # + " https://www.sasac.gov.cn/" = 140
    assert rules(gm.Post(text="国" * 128)) == ["weibo.text.max_length"]
    assert rules(gm.Post(text="国" * 139), safe_domain_url=None) == ["weibo.text.safe_domain_link"]
    assert rules(gm.Post(text="国" * 100 + " https://example.org/a"), safe_domain_url=None) == []


def test_fit_shortens_around_the_appended_link_and_never_adds_topics():
    post = gm.Post(text="国务院国资委召开中央企业负责人会议，部署下一阶段重点工作。" * 8, tags=("国企改革",))
    ch = channel(fit=True)
    assert gm.Client().check(post, ch) == []
    fitted = fit_post(post, "weibo")  # what the client does first with fit = true
    assert "#" not in fitted.text
    text = WeiboPlatform()._share_text(fitted, ch)
    assert count_weibo(text) <= 140 and text.endswith(SAFE) and "…" in text


def test_empty_and_media_rules():
    assert rules(gm.Post(title=" ", media=(gm.Media.from_bytes(CHART_PNG, filename="a.png"),)),
                 safe_domain_url=None) == ["weibo.text.required"]
    two = (gm.Media.from_bytes(CHART_PNG, filename="a.png"), gm.Media.from_bytes(COVER_JPEG, filename="b.jpg"))
    assert rules(gm.Post(text="图", media=two)) == ["weibo.media.max_count"]
    video = gm.Media.from_bytes(b"\x00\x00\x00\x18ftypmp42", filename="v.mp4")
    assert rules(gm.Post(text="视频", media=(video,))) == ["weibo.media.kind"]
    named_wrong = gm.Media.from_bytes(b"<svg/>", filename="fake.png")  # the bytes decide
    # Weibo's own rule says it; the generic "bytes are not what the name says" adds nothing.
    assert rules(gm.Post(text="图", media=(named_wrong,))) == ["weibo.media.kind"]
    big = gm.Media.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024), filename="big.png")
    assert rules(gm.Post(text="图", media=(big,))) == ["weibo.media.max_size"]
    just_under = gm.Media.from_bytes(b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024 - 9), filename="ok.png")
    assert rules(gm.Post(text="图", media=(just_under,))) == []


def test_article_rules():
    ch = {"long_article": True}
    assert rules(ARTICLE, **ch) == []
    assert rules(gm.Post(text="x", body="正文"), **ch) == ["weibo_article.title.required"]
    assert rules(gm.Post(title="国" * 33, body="正文"), **ch) == ["weibo_article.title.max_length"]
    assert rules(gm.Post(title="标题", text="x"), **ch) == ["weibo_article.body.required"]
    assert rules(gm.Post(title="标题", body="国" * 90_000), **ch) == ["weibo_article.body.max_length"]
    assert rules(gm.Post(title="标题", body="正文", text="国" * 1901), **ch) == ["weibo_article.text.max_length"]
    file_cover = gm.Post(title="标题", body="正文", cover=gm.Media.from_bytes(COVER_JPEG, filename="c.jpg"))
    assert rules(file_cover, **ch) == ["weibo_article.cover.url"]
    assert rules(sample_post(), **ch) == ["weibo_article.image.url", "weibo_article.cover.url"]
    # A long status text is fine for an article (its own limit is 1,900), topics too.
    assert rules(gm.Post(title="标题", body="正文", text="#国企# " + "国" * 300), **ch) == []


def test_channel_options_are_checked():
    with pytest.raises(gm.ConfigError, match=r"missing option.*rip"):
        gm.Client().check(gm.Post(text="x"), gm.Channel(platform="weibo", account="a",
                                                         credentials={"access_token": TOKEN}))
    for options, words in [({"rip": "10.0.0.300"}, "option rip must be the end user's IP"),
                           ({"rip": "0.0.0.0"}, "option rip must be a real address"),
                           ({"safe_domain_url": "www.sasac.gov.cn"}, "option safe_domain_url must be"),
                           ({"long_article": "maybe"}, "option long_article must be true or false")]:
        with pytest.raises(gm.ConfigError, match=words):
            gm.Client().check(gm.Post(text="x"), channel(**options))
    assert rules(gm.Post(text="x"), rip="2001:db8::7", long_article="false") == []


def test_capabilities_and_declarations():
    caps = WeiboPlatform.capabilities
    assert (caps.text_max, caps.title_max, caps.media_max) == (140, 32, 1)
    assert caps.repost and caps.metrics and not caps.delete and not caps.dedupe and not caps.refresh
    assert WeiboPlatform.credential_keys == ("access_token",)
    assert {"safe_domain_url", "rip", "long_article"} <= set(WeiboPlatform.option_keys)
    assert WeiboPlatform.required_options == ("rip",)
    assert gm.content.render_tags(["国企改革"], "weibo") == ["#国企改革#"]  # the style, for other endpoints
    assert gm.platforms.get("weibo") is WeiboPlatform


def test_mid_to_base62_matches_public_examples():
    # Pairs seen on weibo.com (address code <-> mid); DESIGN names the address form.
    pairs = {"z0JH2lOMb": 3501756485200075, "z0Ijpwgk7": 3501703397689247, "z08AUBmUe": 3500330408906190,
             "z06qL6b28": 3500247231472384, "yCtxn8IXR": 3491700092079471, "z579Hz9Wr": 3512191498379699}
    assert {code: mid_to_base62(mid) for code, mid in pairs.items()} == {c: c for c in pairs}
    assert mid_to_base62("10000000") == "10000"
    with pytest.raises(ValueError, match="decimal"):
        mid_to_base62("12a")


# --------------------------------------------------------------------------- recover


def drive(flow):
    try:
        step = next(flow)
    except StopIteration as stop:
        return stop.value, None
    return None, step


def test_recover_finishes_with_ids_it_learnt_and_never_resends_without_them():
    platform, post = WeiboPlatform(), gm.Post(text="x")
    receipt, step = drive(platform.recover(post, channel(), "k", Doubt(
        state="sending", stage="shared", data={"id": MID, "mid": MID, "uid": str(UID)})))
    assert step is None and receipt.remote_id == MID and receipt.url == status_url(UID, MID)
    receipt, _ = drive(platform.recover(post, channel(), "k", Doubt(stage="delayed", data={"error_code": 20032})))
    assert receipt.state == "pending"
    receipt, _ = drive(platform.recover(post, channel(), "k", Doubt(stage="article", data={
        "object_id": "1001604000000001", "mid": MID})))
    assert receipt.remote_id == MID and receipt.raw["object_id"] == "1001604000000001"
    with pytest.raises(gm.DeliveryUnknown, match="cannot deduplicate"):
        drive(platform.recover(post, channel(), "k", Doubt(state="unknown")))


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["weibo"])


def run(sandbox, action, *args, asynchronous=False):
    if not asynchronous:
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
            return getattr(c, action)(*args)

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as c:
            return await getattr(c, action)(*args)

    return anyio.run(main)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_full_publish_and_metrics_through_the_fake(sandbox, asynchronous):
    fake = sandbox["weibo"]
    ch = sandbox.channel("weibo", "gzxx")
    receipt = run(sandbox, "publish", sample_post(), ch, asynchronous=asynchronous)
    (live,) = fake.posts("gzxx")
    assert receipt.remote_id == live["idstr"] and receipt.url.endswith(mid_to_base62(live["mid"]))
    assert live["text"] == sample_post().text and live["original_pic"].endswith(".png")
    fake.set_counts(receipt.remote_id, reposts=3, comments=2, attitudes=9)
    metrics = run(sandbox, "metrics", receipt, asynchronous=asynchronous)
    assert (metrics.likes, metrics.shares, metrics.comments) == (9, 3, 2)


def test_a_journal_rerun_after_a_lost_answer_sends_nothing_twice(sandbox, tmp_path):
    fake = sandbox["weibo"]
    fake.inject("timeout_after", path=fake.create_path)
    channels = [sandbox.channel("weibo", "gzxx"), sandbox.channel("weibo", "cnpc")]
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=gm.RetryPolicy.testing()) as c:
        first = c.fan_out(sample_post(), channels)
        second = c.fan_out(sample_post(), channels)
    assert sorted(d.state for d in first.deliveries) == ["published", "unknown"]
    assert sorted(d.state for d in second.deliveries) == ["skipped", "unknown"]
    assert len(fake.requests(fake.create_path)) == 2  # one create per account, ever
    assert len(fake.posts()) == 2


def test_a_delayed_post_is_pending_and_a_rerun_skips_it(sandbox, tmp_path):
    fake = sandbox["weibo"]
    fake.delayed = 1
    ch = sandbox.channel("weibo", "gzxx")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=gm.RetryPolicy.testing()) as c:
        first = c.fan_out(sample_post(), [ch])
        second = c.fan_out(sample_post(), [ch])
    assert first.deliveries[0].receipt.state == "pending" and first.ok
    assert second.deliveries[0].state == "skipped"
    assert len(fake.requests(fake.create_path)) == 1 and len(fake.posts()) == 1


def test_amplify_mode_reposts_the_hub_from_every_member(sandbox, tmp_path):
    fake = sandbox["weibo"]
    hub = sandbox.channel("weibo", "gzxx")
    members = [sandbox.channel("weibo", "cnpc"), sandbox.channel("weibo", "sgcc")]
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), journal=tmp_path / "j.db") as c:
        report = c.fan_out(sample_post(), gm.Matrix(hub=hub, members=members), mode="amplify")
        assert report.ok, report.rows()
        hub_receipt = report.deliveries[0].receipt
        assert c.metrics(hub_receipt).shares == 2
    reposts = fake.posts("cnpc") + fake.posts("sgcc")
    assert [r["text"] for r in reposts] == ["转发微博", "转发微博"]
    assert {r["retweeted_status"]["idstr"] for r in reposts} == {hub_receipt.remote_id}


def test_long_article_through_the_fake(sandbox):
    fake = sandbox["weibo"]
    ch = sandbox.channel("weibo", "gzxx", long_article=True)
    with pytest.raises(gm.PlatformError, match="permission") as caught:
        run(sandbox, "publish", ARTICLE, ch)  # not yet agreed with Weibo
    assert caught.value.code == 10014
    fake.user("gzxx", long_article=True)
    receipt = run(sandbox, "publish", ARTICLE, ch)
    (article,) = fake.articles.values()
    assert article["title"] == ARTICLE.title and "<strong>850 万人次</strong>" in article["content"]
    assert receipt.remote_id == article["mid"] and run(sandbox, "metrics", receipt).shares == 0


def test_expired_and_revoked_tokens_through_the_fake(sandbox):
    fake = sandbox["weibo"]
    ch = sandbox.channel("weibo", "gzxx")
    real = fake.clock
    fake.clock = lambda: real() + 86_400 + 1  # past the test level's day
    with pytest.raises(gm.AuthError) as caught:
        run(sandbox, "publish", sample_post(), ch)
    assert caught.value.code == 21327
    fake.clock = real
    ch = sandbox.channel("weibo", "gzxx")
    fake.revoke("gzxx")
    with pytest.raises(gm.AuthError, match="revoked") as caught:
        run(sandbox, "publish", sample_post(), ch)
    assert caught.value.code == 21319 and fake.posts() == []


def test_the_access_token_never_reaches_a_log_record_or_an_error(sandbox, caplog_all):
    fake = sandbox["weibo"]
    ch = sandbox.channel("weibo", "gzxx")
    fake.inject("timeout_after", path=fake.create_path)
    with pytest.raises(gm.DeliveryUnknown) as caught:
        run(sandbox, "publish", sample_post(), ch)
    token = ch.credentials["access_token"]
    messages = [r.getMessage() for r in caplog_all.records]
    assert any("ReadTimeout" in m for m in messages)
    assert not any(token in m for m in messages)
    assert token not in str(caught.value) and token not in repr(caught.value)
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
        c.metrics(gm.Receipt(channel=ch, remote_id=fake.posts()[0]["idstr"]))
    assert not any(token in r.getMessage() for r in caplog_all.records)


def test_logging_names_the_account(sandbox, caplog_all):
    ch = sandbox.channel("weibo", "gzxx")
    run(sandbox, "publish", gm.Post(text="央企招聘季", tags=("微招聘",)), ch)
    assert any(r.levelno == logging.INFO and "[gzxx]" in r.getMessage() for r in caplog_all.records)


def test_fit_that_cannot_keep_the_link_beside_the_appended_one_names_the_length_rule():
    link = "https://example.org/" + "a" * 236  # fits alone (139), not beside the safe-domain link
    post = gm.Post(text="国" * 10 + " " + link, link=link)
    [problem] = gm.Client().check(post, channel(fit=True))
    assert (problem.code, problem.rule) == ("too_long", "weibo.text.max_length")
