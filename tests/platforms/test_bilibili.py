"""Bilibili: signed requests shaped as the API wants, uploads that stream and resume, review, tokens.

The respx tests answer with payloads shaped as shared/platforms/bilibili.md
shows (``{code, message, ttl, data}``); the fake-driven tests run whole
deliveries through `Sandbox` on both clients, with a journal where re-runs
matter. Facts the sheet marks unverified are named where a test relies on
them.
"""

import concurrent.futures
import hashlib
import hmac
import json
import logging
import os
import pathlib
import re
import time

import anyio
import httpx
import pytest
import respx

import govmedia as gm
from govmedia.platforms.bilibili import (
    ERRORS,
    BilibiliPlatform,
    content_md5,
    signature_headers,
)
from govmedia.testing import CompletedUpload, PartRecord, Sandbox
from govmedia.testing.samples import CHART_PNG, COVER_JPEG, sample_image, sample_post, sample_video

API = "https://member.bilibili.com"
UPOS = "https://openupos.bilivideo.com"
OAUTH = "https://api.bilibili.com"
CLIENT_ID = "34c0f583f0414123"
SECRET = "abc7736bb78947d5a4a90690c861c456"
TOKEN = "acc7f1c2e9d84b6a9e0f1a2b3c4d5e6f"
REFRESH = "ref0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c"
UTOKEN = "utok5a1d7e3c9b2f4a6d8e0c1b3a5f7e9d"
BV = "BV1Kb411W7dJ"
COVER_URL = "http://i0.hdslb.com/bfs/archive/86cfbadbcefc9d0ecec16b7f4f0a41544f38.jpg"
PART = 16 * 1024
SIGNED = ["x-bili-accesskeyid", "x-bili-content-md5", "x-bili-signature-method",
          "x-bili-signature-nonce", "x-bili-signature-version", "x-bili-timestamp"]


@pytest.fixture(autouse=True)
def _small_parts(monkeypatch):
    """Parts of 16 KB instead of the API's 8 MB, so that files of a few parts stay small."""
    monkeypatch.setattr(BilibiliPlatform, "part_size", PART)


def ok(data=None):
    body = {"code": 0, "message": "0", "ttl": 1}
    if data is not None:
        body["data"] = data
    return httpx.Response(200, json=body)


def error(code, message="错误"):
    return httpx.Response(200, json={"code": code, "message": message, "ttl": 1})


def archive(state, **extra):
    # archive/view: the sheet lists the fields; where the review state sits is
    # unverified (addit_info.state as the API docs' list answer has it).
    return ok({"resource_id": BV, "title": "一带一路看国企", "cover": COVER_URL, "tid": 21,
               "no_reprint": 0, "desc": "中老铁路", "tag": "一带一路,国企", "copyright": 1,
               "addit_info": {"state": state, "state_desc": "", "reject_reason": ""}, **extra})


def channel(**options):
    return gm.Channel(platform="bilibili", account="sasac",
                      credentials={"access_token": TOKEN, "refresh_token": REFRESH,
                                   "client_id": CLIENT_ID, "client_secret": SECRET},
                      options={"tid": 21, "poll_interval": 0.001, **options})


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "中老铁路.mp4"
    path.write_bytes(sample_video(30.0, size=2 * PART + 1000))  # three parts, the last short
    return gm.Media.from_path(path)


def video_post(video, **fields):
    return gm.Post(title="一带一路看国企：中老铁路", text="中老铁路开通一周年", tags=("一带一路", "国企"),
                   cover=gm.Media.from_bytes(sample_image(), filename="cover.png"), media=(video,),
                   **fields)


@pytest.fixture
def api():
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{API}/arcopen/fn/archive/video/init", name="init").mock(
        return_value=ok({"upload_token": UTOKEN}))
    router.post(f"{UPOS}/video/v2/part/upload", name="part").mock(
        return_value=httpx.Response(200, json={"code": 0}))
    router.post(f"{API}/arcopen/fn/archive/video/complete", name="complete").mock(return_value=ok())
    router.post(f"{API}/arcopen/fn/archive/cover/upload", name="cover").mock(
        return_value=ok({"url": COVER_URL}))
    router.post(f"{API}/arcopen/fn/archive/add-by-utoken", name="submit").mock(
        return_value=ok({"resource_id": BV}))
    router.get(f"{API}/arcopen/fn/archive/view", name="view").mock(
        side_effect=[archive(-30), archive(0)])
    router.post(f"{API}/arcopen/fn/archive/delete", name="delete").mock(return_value=ok())
    router.get(f"{API}/arcopen/fn/data/arc/stat", name="stat").mock(return_value=ok(
        {"view": 198, "danmaku": 166, "reply": 11, "favorite": 36, "coin": 8, "share": 79, "like": 135}))
    router.post(f"{API}/arcopen/fn/article/add", name="article").mock(return_value=ok({"id": 20000001}))
    router.post(f"{API}/arcopen/fn/article/delete", name="article_delete").mock(return_value=ok())
    router.post(f"{OAUTH}/x/account-oauth2/v1/refresh_token", name="refresh").mock(return_value=ok(
        {"access_token": "acc-renewed-0001", "refresh_token": "ref-renewed-0001", "expires_in": 2592000}))
    return router


def client(router, **kwargs):
    return gm.Client(http=httpx.Client(transport=httpx.MockTransport(router.handler)),
                     retry=gm.RetryPolicy.testing(), **kwargs)


def verify_signature(request, secret=SECRET):
    """The request is signed as signature v2.0 says, computed here independently."""
    names = sorted(h for h in request.headers if h.startswith("x-bili-"))
    assert names == SIGNED
    message = "\n".join(f"{name}:{request.headers[name]}" for name in names)
    expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    assert request.headers["authorization"] == expected
    assert request.headers["x-bili-content-md5"] == hashlib.md5(request.content).hexdigest()
    assert request.headers["x-bili-accesskeyid"] == CLIENT_ID
    assert request.headers["x-bili-signature-method"] == "HMAC-SHA256"
    assert request.headers["x-bili-signature-version"] == "2.0"
    assert abs(int(request.headers["x-bili-timestamp"]) - time.time()) < 60
    assert request.headers["accept"] == "application/json"


# --------------------------------------------------------------------------- signing


def test_the_fact_sheets_signature_vector():
    headers = signature_headers(CLIENT_ID, SECRET, b"", timestamp=1624594467,
                                nonce="ad184c09-095f-91c3-0849-230dd3744045")
    assert headers["x-bili-content-md5"] == "d41d8cd98f00b204e9800998ecf8427e" == content_md5(b"")
    assert headers["Authorization"] == "7cf76cbb96594e68e856e0ddbe619380d30b526725b8f19cf14569a241bafcd0"
    assert sorted(h for h in headers if h.startswith("x-bili-")) == SIGNED


def test_every_arcopen_call_is_signed_and_each_retry_anew(api, video):
    api["init"].mock(side_effect=[error(127201, "系统繁忙"), ok({"upload_token": UTOKEN})])
    with client(api) as c:
        c.publish(video_post(video), channel())
    arcopen = [call.request for call in api.calls if "/arcopen/" in call.request.url.path]
    assert len(arcopen) == 7  # cover, init twice, complete, submit, view twice
    for request in arcopen:
        verify_signature(request)
        assert request.headers["access-token"] == TOKEN
        assert "access_token" not in request.url.params and "client_id" not in request.url.params
    first, second = (call.request for call in api["init"].calls)
    assert first.headers["x-bili-signature-nonce"] != second.headers["x-bili-signature-nonce"]
    assert len({r.headers["x-bili-signature-nonce"] for r in arcopen}) == len(arcopen)
    for call in api["part"].calls:  # the upload host gets the upload_token only
        assert not any(h.startswith("x-bili-") or h in ("authorization", "access-token")
                       for h in call.request.headers)


# --------------------------------------------------------------------------- the video flow


def test_publish_sends_every_step_as_the_api_wants(api, video):
    with client(api) as c:
        receipt = c.publish(video_post(video), channel(no_reprint=True))
    init = json.loads(api["init"].calls.last.request.content)
    assert init == {"name": "中老铁路.mp4", "utype": "0"}  # chunked, with the right extension

    parts = [call.request for call in api["part"].calls]
    assert [(p.url.params["upload_token"], p.url.params["part_number"]) for p in parts] == [
        (UTOKEN, "1"), (UTOKEN, "2"), (UTOKEN, "3")]
    assert [len(p.content) for p in parts] == [PART, PART, 1000]  # fixed parts, the last short
    assert all(p.headers["content-type"] == "application/octet-stream" for p in parts)
    assert b"".join(p.content for p in parts) == video.read()
    assert api["complete"].calls.last.request.url.params["upload_token"] == UTOKEN

    cover = api["cover"].calls.last.request
    assert b'name="file"; filename="cover.png"' in cover.content and sample_image() in cover.content

    submit = api["submit"].calls.last.request
    assert submit.url.params["upload_token"] == UTOKEN
    assert json.loads(submit.content) == {
        "title": "一带一路看国企：中老铁路", "cover": COVER_URL, "tid": 21, "tag": "一带一路,国企",
        "desc": "中老铁路开通一周年", "copyright": 1, "no_reprint": 1,
    }
    assert b"\\u" not in submit.content  # raw UTF-8
    assert [c.request.url.params["resource_id"] for c in api["view"].calls] == [BV, BV]
    assert (receipt.remote_id, receipt.state, receipt.url) == (BV, "published", None)
    assert receipt.raw["kind"] == "archive" and receipt.raw["review_state"] == 0


def test_a_repost_names_its_source_from_the_option_or_the_link(api, video):
    with client(api) as c:
        c.publish(video_post(video, link="https://www.sasac.gov.cn/n2588025/c1.html"),
                  channel(copyright=2))
        sent = json.loads(api["submit"].calls.last.request.content)
        assert (sent["copyright"], sent["source"]) == (2, "https://www.sasac.gov.cn/n2588025/c1.html")
        api["view"].mock(side_effect=[archive(0)])
        c.publish(video_post(video), channel(copyright=2, source="新华社"))
    assert json.loads(api["submit"].calls.last.request.content)["source"] == "新华社"


def test_a_failed_part_is_resent_by_itself(api, video):
    answers = iter([httpx.Response(200, json={"code": 0}), httpx.Response(502, text="Bad Gateway"),
                    error(127201, "系统繁忙")])
    api["part"].mock(side_effect=lambda request: next(answers, httpx.Response(200, json={"code": 0})))
    with client(api) as c:
        c.publish(video_post(video), channel())
    numbers = [call.request.url.params["part_number"] for call in api["part"].calls]
    assert numbers == ["1", "2", "2", "2", "3"]
    assert api["init"].call_count == 1 and api["submit"].call_count == 1


def test_review_still_running_at_the_bound_is_an_honest_pending(api, video):
    api["view"].mock(return_value=archive(-30))
    with client(api) as c:
        receipt = c.publish(video_post(video), channel(poll_timeout=0.005, poll_interval=0.001))
    assert receipt.state == "pending" and receipt.remote_id == BV
    assert 2 <= api["view"].call_count <= 8


@pytest.mark.parametrize(("state", "outcome"), [(0, "published"), (1, "published"),
                                                (-40, "scheduled"), (-9, "pending")])
def test_review_states_end_the_poll(api, video, state, outcome):
    api["view"].mock(return_value=archive(state))
    with client(api) as c:
        receipt = c.publish(video_post(video), channel(poll_timeout=0))
    assert receipt.state == outcome


def test_the_state_is_read_at_the_top_of_the_answer_too(api, video):
    # Unverified which the API does: the API docs' example shows the archive unwrapped.
    api["view"].mock(return_value=httpx.Response(200, json={"resource_id": BV, "state": 0}))
    with client(api) as c:
        assert c.publish(video_post(video), channel()).state == "published"


def test_a_returned_archive_is_content_rejected_naming_it(api, video):
    api["view"].mock(return_value=ok({"resource_id": BV, "addit_info": {
        "state": -2, "state_desc": "被打回", "reject_reason": "封面涉及违规内容"}}))
    with client(api) as c, pytest.raises(gm.ContentRejected) as info:
        c.publish(video_post(video), channel())
    assert BV in str(info.value) and "封面涉及违规内容" in str(info.value)
    assert info.value.code == "state -2"


def test_a_locked_archive_after_submit_is_unknown_with_its_id(api, video):
    api["view"].mock(return_value=archive(-4))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as info:
        c.publish(video_post(video), channel())
    assert info.value.known["resource_id"] == BV


def test_an_answer_without_resource_id_is_unknown_and_not_resent(api, video):
    api["submit"].mock(return_value=ok({}))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown):
        c.publish(video_post(video), channel())
    assert api["submit"].call_count == 1


@pytest.mark.parametrize("answer", [httpx.Response(500), httpx.Response(502, text="<html>nginx</html>"),
                                    error(127200, "业务异常"), httpx.ConnectError("reset")])
def test_a_submit_that_may_have_landed_is_never_resent(api, video, answer):
    if isinstance(answer, Exception):
        api["submit"].mock(side_effect=httpx.ReadTimeout("lost after send"))
    else:
        api["submit"].mock(return_value=answer)
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as info:
        c.publish(video_post(video), channel())
    assert api["submit"].call_count == 1
    assert "稿件管理" in str(info.value)


def test_busy_and_quota_codes_on_the_submit_are_retried(api, video):
    api["submit"].mock(side_effect=[error(127201, "系统繁忙"), error(127009, "API调用次数达到上限"),
                                    ok({"resource_id": BV})])
    with client(api) as c:
        assert c.publish(video_post(video), channel()).remote_id == BV
    assert api["submit"].call_count == 3


def test_a_url_cover_is_fetched_without_credentials(api, video):
    api.get("https://img.example.org/cover.png").mock(
        return_value=httpx.Response(200, content=sample_image()))
    post = video_post(video)
    post = gm.Post(title=post.title, text=post.text, tags=post.tags, media=post.media,
                   cover=gm.Media.from_url("https://img.example.org/cover.png"))
    with client(api) as c:
        c.publish(post, channel())
    download = api.calls[0].request
    assert download.url.host == "img.example.org"
    assert not any(h.startswith("x-bili-") or h == "access-token" for h in download.headers)


def test_a_url_cover_is_judged_by_its_bytes_once_fetched(api, video):
    api.get("https://img.example.org/cover?id=5").mock(
        return_value=httpx.Response(200, content=sample_image()))
    post = video_post(video)
    post = gm.Post(title=post.title, tags=post.tags, media=post.media,
                   cover=gm.Media.from_url("https://img.example.org/cover?id=5"))  # no type by name
    assert problems(post) == []
    gif = gm.Post(title=post.title, tags=post.tags, media=post.media,
                  cover=gm.Media.from_url("https://img.example.org/cover.gif"))
    assert rules(gif) == ["bilibili.cover.type"]
    with client(api) as c:
        assert c.publish(post, channel()).state == "published"


def test_a_url_cover_too_small_is_refused_before_any_upload(api, video):
    api.get("https://img.example.org/cover.jpg").mock(return_value=httpx.Response(200, content=COVER_JPEG))
    post = video_post(video)
    post = gm.Post(title=post.title, tags=post.tags, media=post.media,
                   cover=gm.Media.from_url("https://img.example.org/cover.jpg"))
    with client(api) as c, pytest.raises(gm.ValidationError) as info:
        c.publish(post, channel())
    assert [p.rule for p in info.value.problems] == ["bilibili.cover.min_size"]
    assert api["init"].call_count == 0 and api["cover"].call_count == 0


# --------------------------------------------------------------------------- errors


SHEET_CODES = {
    127001: gm.AuthError, 122007: gm.AuthError, 127011: gm.AuthError, 127012: gm.AuthError,
    127000: gm.AuthError, 127009: gm.RateLimited, 127201: gm.TransientError,
    127200: gm.TransientError, 127100: gm.ContentRejected, 127102: gm.ContentRejected,
    129003: gm.ContentRejected, 129004: gm.ContentRejected, 129005: gm.ContentRejected,
    122000: gm.PlatformError, 122001: gm.PlatformError, 122002: gm.PlatformError,
    127004: gm.PlatformError, 127005: gm.PlatformError, 127006: gm.PlatformError,
    127007: gm.PlatformError, 127022: gm.PlatformError, 127107: gm.PlatformError,
    127124: gm.PlatformError, 127207: gm.PlatformError,
}


def test_every_code_on_the_sheet_is_in_the_table():
    assert set(ERRORS) == set(SHEET_CODES)


@pytest.mark.parametrize(("code", "kind"), sorted(SHEET_CODES.items()))
def test_codes_map_to_the_error_tree_with_a_hint(code, kind):
    request = httpx.Request("POST", f"{API}/arcopen/fn/archive/add-by-utoken")
    err = BilibiliPlatform().classify(
        httpx.Response(200, json={"code": code, "message": "错误", "ttl": 1}, request=request), channel())
    assert type(err) is kind and err.code == code
    if code != 127201:  # busy: retried, the class's own words are enough
        assert err.hint and err.hint != kind.default_hint
    assert not err.quota  # 127009 has no known reset: the policy's backoff, not "stop now"


def test_busy_is_refused_outright_and_127200_may_have_landed():
    table = ERRORS
    assert table[127201].applied is False and table[127200].applied is True


def test_success_is_code_zero():
    request = httpx.Request("GET", f"{API}/arcopen/fn/archive/view")
    answer = httpx.Response(200, json={"code": 0, "message": "0", "ttl": 1}, request=request)
    assert BilibiliPlatform().classify(answer, channel()) is None


# --------------------------------------------------------------------------- tokens


def test_an_expired_token_is_refreshed_once_with_the_app_and_the_new_pair_is_used(api, video):
    api["cover"].mock(side_effect=[error(127001, "access_token无效或过期"), ok({"url": COVER_URL})])
    with client(api) as c:
        c.publish(video_post(video), channel())
    refresh = api["refresh"].calls.last.request  # expires_in's value: unverified, used as given
    assert dict(refresh.url.params) == {"client_id": CLIENT_ID, "client_secret": SECRET,
                                        "grant_type": "refresh_token", "refresh_token": REFRESH}
    assert api["refresh"].call_count == 1
    later = [call.request for call in api.calls if "/arcopen/" in call.request.url.path][1:]
    assert all(r.headers["access-token"] == "acc-renewed-0001" for r in later)


def test_a_refused_refresh_token_says_authorise_again_in_the_browser(api, video):
    api["cover"].mock(return_value=error(127001, "access_token无效或过期"))
    api["refresh"].mock(return_value=error(122007, "refresh_token无效"))
    with client(api) as c, pytest.raises(gm.AuthError) as info:
        c.publish(video_post(video), channel())
    assert "browser" in info.value.hint
    assert api["init"].call_count == 0  # nothing was sent past the refused token


def test_without_a_refresh_token_an_expired_token_is_an_auth_error(api, video):
    api["cover"].mock(return_value=error(127001, "access_token无效或过期"))
    bare = channel()
    bare = gm.Channel(platform="bilibili", account="sasac", options=bare.options,
                      credentials={k: v for k, v in bare.credentials.items() if k != "refresh_token"})
    with client(api) as c, pytest.raises(gm.AuthError) as info:
        c.publish(video_post(video), bare)
    assert "browser" in info.value.hint and api["refresh"].call_count == 0


def test_secrets_never_reach_a_log_record_or_an_error(api, video, caplog_all):
    api["cover"].mock(side_effect=[error(127001, "access_token无效或过期"), ok({"url": COVER_URL})])
    api["submit"].mock(side_effect=httpx.ReadTimeout("lost"))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as info:
        c.publish(video_post(video), channel())
    text = caplog_all.text + str(info.value) + repr(info.value)
    for secret in (SECRET, TOKEN, REFRESH, "acc-renewed-0001", "ref-renewed-0001"):
        assert secret not in text


# --------------------------------------------------------------------------- articles


def test_a_post_without_video_is_an_article(api):
    post = sample_post().for_channel(channel())  # its Bilibili variant: a body without images
    with client(api) as c:
        receipt = c.publish(post, channel(category=15, template_id=4))
    request = api["article"].calls.last.request
    verify_signature(request)
    assert request.headers["content-type"].startswith("multipart/form-data")
    fields = dict(re.findall(rb'name="([^"]+)"\r\n\r\n(.*?)\r\n--', request.content, re.DOTALL))
    assert fields[b"title"].decode() == post.title
    assert fields[b"summary"].decode() == post.summary
    assert (fields[b"category"], fields[b"template_id"]) == (b"15", b"4")
    assert fields[b"tags"].decode() == "一带一路看国企"  # the field's name and format: unverified
    content = fields[b"content"].decode()  # HTML: the content format is unverified on the sheet
    assert "<h1>中老铁路开通一周年</h1>" in content and "<strong>850 万人次</strong>" in content
    assert "<img" not in content
    assert (receipt.state, receipt.remote_id, receipt.raw["kind"]) == ("pending", "20000001", "article")


def test_an_article_body_with_images_is_refused_never_sent_without_them(api):
    """No 专栏 image upload on the sheet: check() says so rather than dropping them (issue 14)."""
    post = gm.Post(title="图文", body="正文\n\n![图](chart.png)",
                   media=(gm.Media.from_bytes(CHART_PNG, filename="chart.png"),))
    [problem] = problems(post)
    assert problem.rule == "bilibili_article.body.images" and "chart.png" in problem.message
    with client(api) as c, pytest.raises(gm.ValidationError):
        c.publish(post, channel())
    assert api["article"].call_count == 0


def test_an_article_that_may_have_landed_is_unknown_and_not_resent(api):
    api["article"].mock(side_effect=httpx.ReadTimeout("lost"))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as info:
        c.publish(sample_post(), channel())
    assert api["article"].call_count == 1 and "专栏" in str(info.value)


def test_article_delete_and_metrics(api):
    with client(api) as c:
        receipt = c.publish(sample_post(), channel())
        c.delete(receipt)
        metrics = c.metrics(receipt)
    assert b'name="id"\r\n\r\n20000001' in api["article_delete"].calls.last.request.content
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, None, None, None)
    assert "no statistics" in metrics.raw["reason"]


# --------------------------------------------------------------------------- delete and metrics


def test_archive_delete_and_metrics(api, video):
    with client(api) as c:
        receipt = c.publish(video_post(video), channel())
        c.delete(receipt)
        metrics = c.metrics(receipt)
    delete = api["delete"].calls.last.request
    verify_signature(delete)
    assert json.loads(delete.content) == {"resource_id": BV}  # path and body: unverified
    stat = api["stat"].calls.last.request  # data/arc/stat: from the API docs, unverified
    assert stat.url.params["resource_id"] == BV
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (198, 135, 79, 11)
    assert metrics.raw["coin"] == 8


def test_deleting_what_is_gone_already_is_fine(api, video):
    api["delete"].mock(return_value=error(127107, "稿件已删除"))
    receipt = gm.Receipt(channel=channel(), remote_id=BV, raw={"kind": "archive"})
    with client(api) as c:
        c.delete(receipt)
    api["delete"].mock(return_value=error(127005, "机构认证未通过"))
    with client(api) as c, pytest.raises(gm.PlatformError):
        c.delete(receipt)


# --------------------------------------------------------------------------- check()


def problems(post, **options):
    return gm.Client().check(post, channel(**options))


def rules(post, **options):
    return [p.rule for p in problems(post, **options)]


def test_a_good_video_post_and_a_good_article_have_no_problems(video):
    assert problems(video_post(video)) == []
    assert problems(sample_post()) == []


def test_article_titles_count_characters_up_to_40():
    post = sample_post().for_channel(channel())
    fits = gm.Post(title="国" * 40, body=post.body)
    assert problems(fits) == []
    [problem] = problems(gm.Post(title="国" * 39 + "😀a", body=post.body))
    assert problem.rule == "bilibili_article.title.max_length" and problem.code == "too_long"
    assert problem.message == "title is 41 characters, limit 40: 1 over"


def test_an_article_needs_a_title_and_a_body():
    assert rules(gm.Post(text="只有一句话")) == ["bilibili.title.required", "bilibili.body.required"]


def test_video_rules_fire_with_their_ids(video, tmp_path):
    post = video_post(video)
    bare = gm.Post(media=post.media, tags=("国企", "一带,一路"))
    assert rules(bare, tid=None) == ["bilibili.title.required", "bilibili.tid.required",
                                     "bilibili.tags.separator", "bilibili.cover.required"]
    untagged = gm.Post(title="t", media=post.media, cover=post.cover)
    assert rules(untagged) == ["bilibili.tags.required"]  # from the demos; unverified on the sheet
    assert rules(post, copyright=2) == ["bilibili.source.required"]
    assert rules(gm.Post(title="t", tags=("a",), cover=post.cover, media=(video, video))) == [
        "bilibili.media.one_video"]
    url_video = gm.Post(title="t", tags=("a",), cover=post.cover,
                        media=(gm.Media.from_url("https://cdn.example.org/v.mp4"),))
    assert rules(url_video) == ["bilibili.video.local"]


@pytest.mark.parametrize(("data", "rule"), [
    (sample_video(5 * 3600.0), "bilibili.video.max_duration"),
    (sample_video(60.0, width=5120, height=2880), "bilibili.video.max_resolution"),
    (sample_video(1.0, size=8 * 1024 * 1024), "bilibili.video.max_bitrate"),  # 67 Mbps average
    (b"\x1aE\xdf\xa3\x42\x82\x84webm" + bytes(4000), "bilibili.video.type"),  # WebM
])
def test_video_spec_rules_read_the_files_headers(tmp_path, data, rule):
    path = tmp_path / ("v.webm" if b"webm" in data[:16] else "v.mp4")
    path.write_bytes(data)
    post = gm.Post(title="t", tags=("a",), media=(gm.Media.from_path(path),),
                   cover=gm.Media.from_bytes(sample_image(), filename="c.png"))
    assert rules(post) == [rule]


def test_a_video_over_4_gb_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "big.mp4"
    with path.open("wb") as f:  # sparse: nothing is written but the header
        f.write(sample_video(600.0, size=4096))
        f.truncate(4_000_000_001)
    post = gm.Post(title="t", tags=("a",), media=(gm.Media.from_path(path),),
                   cover=gm.Media.from_bytes(sample_image(), filename="c.png"))
    [problem] = problems(post)
    assert problem.rule == "bilibili.video.max_size" and "4.00 GB" in problem.message


@pytest.mark.parametrize(("cover", "rule"), [
    (gm.Media.from_bytes(COVER_JPEG, filename="c.jpg"), "bilibili.cover.min_size"),
    (gm.Media.from_bytes(sample_image(959, 717), filename="c.png"), "bilibili.cover.min_size"),
    (gm.Media.from_bytes(b"GIF89a" + bytes(40), filename="c.gif"), "bilibili.cover.type"),
    (gm.Media.from_bytes(sample_image(960, 600) + bytes(5 * 1024 * 1024), filename="c.png"),
     "bilibili.cover.max_size"),
])
def test_cover_rules(video, cover, rule):
    post = video_post(video)
    post = gm.Post(title=post.title, tags=post.tags, media=post.media, cover=cover)
    assert rules(post) == [rule]


def test_every_rule_has_a_remedy_and_a_source():
    for rule in BilibiliPlatform.rules:
        assert rule.remediation and rule.source, rule.id


def test_options_are_checked():
    with pytest.raises(gm.ConfigError, match="option copyright must be one of 1, 2"):
        problems(sample_post(), copyright=3)
    with pytest.raises(gm.ConfigError, match="unknown option"):
        problems(sample_post(), partition=21)
    with pytest.raises(gm.ConfigError, match="client_secret"):
        gm.Client().check(sample_post(), gm.Channel(platform="bilibili", account="a",
                                                    credentials={"access_token": "t", "client_id": "c"}))


def test_capabilities():
    caps = BilibiliPlatform.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.refresh) == (True, True, False,
                                                                                  False, True)
    assert caps.title_max == 40 and "video" in caps.media_kinds
    assert BilibiliPlatform().token_scope(channel()) == channel().id  # tokens are the user's


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    sandbox = Sandbox(platforms=["bilibili"])
    sandbox["bilibili"].part_size = PART
    return sandbox


def fake_video(tmp_path, parts=3):
    path = tmp_path / "video.mp4"
    path.write_bytes(sample_video(30.0, size=(parts - 1) * PART + 500))
    return gm.Media.from_path(path)


def run(sandbox, action, *args, asynchronous=False, **kwargs):
    if not asynchronous:
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), **kwargs) as c:
            return getattr(c, action)(*args)

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing(),
                                  **kwargs) as c:
            return await getattr(c, action)(*args)

    return anyio.run(main)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_full_video_publish_through_the_fake(sandbox, tmp_path, asynchronous):
    fake = sandbox["bilibili"]
    fake.review_polls = 2
    ch = fake.channel("sasac", tid=201)
    receipt = run(sandbox, "publish", video_post(fake_video(tmp_path)), ch, asynchronous=asynchronous)
    (archive_,) = fake.posts("sasac")
    assert receipt.state == "published" and receipt.remote_id == archive_["resource_id"]
    assert archive_["title"] == "一带一路看国企：中老铁路" and archive_["tid"] == 201
    assert archive_["size"] == 2 * PART + 500 and archive_["tag"] == "一带一路,国企"
    assert len(fake.requests("/archive/view")) == 3


def test_upload_progress_reaches_the_fan_outs_progress_object(sandbox, tmp_path):
    class Bar:
        def __init__(self):
            self.uploads = []

        def __call__(self, delivery):
            pass

        def upload(self, event):
            self.uploads.append((event.filename, event.sent, event.total))

    bar = Bar()
    ch = sandbox["bilibili"].channel("sasac", tid=21)
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), journal=tmp_path / "j.db") as c:
        assert c.fan_out(video_post(fake_video(tmp_path)), [ch], progress=bar).ok
    total = 2 * PART + 500
    assert bar.uploads == [("video.mp4", PART, total), ("video.mp4", 2 * PART, total),
                           ("video.mp4", total, total)]


class Crash(BaseException):
    """The process dies."""


def dying_at(sandbox, part_number):
    def handler(request):
        if request.url.path.endswith("/part/upload") and request.url.params["part_number"] == part_number:
            raise Crash
        return sandbox(request)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_an_upload_that_dies_resumes_at_the_next_part(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    post = video_post(fake_video(tmp_path, parts=4))
    journal = tmp_path / "j.db"
    with gm.Client(http=dying_at(sandbox, "3"), journal=journal, retry=gm.RetryPolicy.testing()) as c, \
            pytest.raises(Crash):
        c.fan_out(post, [ch])
    sent = [r.path for r in fake.requests()]
    assert sent.count("/video/v2/part/upload") == 2
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "published"
    after = [(r.path, r.status) for r in fake.requests()][len(sent):]
    assert [p for p, _ in after].count("/arcopen/fn/archive/video/init") == 0  # the same session
    assert [p for p, _ in after].count("/video/v2/part/upload") == 2  # parts 3 and 4 only
    assert len(fake.uploads) == 1 and len(fake.posts()) == 1


def test_a_file_edited_in_place_since_is_uploaded_afresh_not_spliced(sandbox, tmp_path):
    # Same name, same size, other bytes: the saved session was for another file.
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    video = fake_video(tmp_path, parts=4)
    post = video_post(video)
    journal = tmp_path / "j.db"
    with gm.Client(http=dying_at(sandbox, "3"), journal=journal, retry=gm.RetryPolicy.testing()) as c, \
            pytest.raises(Crash):
        c.fan_out(post, [ch])
    path = pathlib.Path(video.path)
    data = bytearray(path.read_bytes())
    data[PART + 10] ^= 0xFF  # in the second part, which the first run sent
    path.write_bytes(bytes(data))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch], changed="allow").deliveries[0].state == "published"
    assert len(fake.requests("/archive/video/init")) == 2 and len(fake.posts()) == 1
    (done,) = [u for u in fake.uploads.values() if u.completed is not None]
    assert done.completed.digest == CompletedUpload.digest_of(
        [PartRecord.of(bytes(data[i:i + PART])) for i in range(0, len(data), PART)])


def test_a_saved_session_that_expired_is_uploaded_afresh(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    post = video_post(fake_video(tmp_path, parts=4))
    journal = tmp_path / "j.db"
    with gm.Client(http=dying_at(sandbox, "3"), journal=journal, retry=gm.RetryPolicy.testing()) as c, \
            pytest.raises(Crash):
        c.fan_out(post, [ch])
    fake.uploads.expire()  # Bilibili let the session lapse (how long it keeps one: unverified)
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "published"
    assert len(fake.requests("/archive/video/init")) == 2 and len(fake.posts()) == 1
    (done,) = [u for u in fake.uploads.values() if u.completed is not None]
    assert sorted(done.parts) == [1, 2, 3, 4]


def test_a_session_expired_after_the_merge_is_uploaded_afresh_before_submitting(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    post = video_post(fake_video(tmp_path))
    journal = tmp_path / "j.db"
    fake.inject("busy", path=r"/archive/add-by-utoken", times=10)  # refused outright, every retry
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "failed"
    fake.faults.clear()
    for kept in fake.sessions.values():
        kept.used = True  # the session is no longer taken
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "published"
    assert len(fake.requests("/archive/video/init")) == 2 and len(fake.posts()) == 1


def test_a_fault_after_the_submit_is_unknown_with_the_id_and_a_rerun_only_polls(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    post = video_post(fake_video(tmp_path))
    journal = tmp_path / "j.db"
    fake.inject("server_error", path=r"/archive/view", times=20)
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        first = c.fan_out(post, [ch])
    delivery = first.deliveries[0]
    (archive_,) = fake.posts()
    assert delivery.state == "unknown"
    assert delivery.error.known["resource_id"] == archive_["resource_id"]
    fake.faults.clear()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        second = c.fan_out(post, [ch])
    assert second.deliveries[0].state == "published"
    assert second.deliveries[0].receipt.remote_id == archive_["resource_id"]
    assert len(fake.requests(fake.create_path)) == 1  # never submitted twice
    assert len(fake.requests("/archive/video/init")) == 1


def test_a_refused_refresh_after_the_submit_is_unknown_not_failed(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    fake.review_polls = 5
    fake.inject("token_expired", path=r"/archive/view")
    for value in list(fake.tokens.refresh_tokens):
        fake.tokens.revoke(value)  # the refresh token was spent elsewhere
    with pytest.raises(gm.DeliveryUnknown) as info:
        run(sandbox, "publish", video_post(fake_video(tmp_path)), ch)
    assert info.value.known["resource_id"] == fake.posts()[0]["resource_id"]


def test_a_timeout_after_the_submit_is_unknown_and_a_rerun_never_resubmits(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    post = video_post(fake_video(tmp_path))
    journal = tmp_path / "j.db"
    fake.inject("timeout_after", path=fake.create_path)
    for _ in range(2):
        with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
            delivery = c.fan_out(post, [ch]).deliveries[0]
        assert delivery.state == "unknown"
    assert len(fake.requests(fake.create_path)) == 1 and len(fake.posts()) == 1
    assert "稿件管理" in str(delivery.error)


def test_expired_tokens_are_refreshed_and_the_rotated_one_replaces_the_old(sandbox):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
        c.publish(sample_post("one"), ch)
        fake.expire_tokens()
        c.publish(sample_post("two"), ch)
        fake.expire_tokens()
        c.publish(sample_post("three"), ch)  # the first refresh token is spent: the new one is used
    refreshes = fake.requests("/refresh_token")
    assert [r.status for r in refreshes] == [200, 200] and len(fake.posts()) == 3


def test_two_concurrent_callers_spend_a_single_use_refresh_token_once_async(sandbox):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac")
    fake.expire_tokens()

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as c:
            async with anyio.create_task_group() as tg:
                for key in ("a", "b", "c"):
                    tg.start_soon(c.publish, sample_post(key), ch)

    anyio.run(main)
    assert len(fake.requests("/refresh_token")) == 1 and len(fake.posts()) == 3


def test_two_concurrent_callers_spend_a_single_use_refresh_token_once_threads(sandbox):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac")
    fake.expire_tokens()
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c, \
            concurrent.futures.ThreadPoolExecutor(4) as pool:
        receipts = list(pool.map(lambda key: c.publish(sample_post(key), ch), "abcd"))
    assert len(fake.requests("/refresh_token")) == 1 and len(receipts) == 4 == len(fake.posts())


def test_a_wrong_secret_is_named_and_spends_no_refresh_token(sandbox):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac")
    wrong = gm.Channel(platform="bilibili", account="sasac", options=ch.options,
                       credentials={**ch.credentials, "client_secret": "0" * 32})
    with pytest.raises(gm.PlatformError) as info:  # 127012 at the API, then 122001 at the refresh
        run(sandbox, "publish", sample_post(), wrong)
    assert info.value.code == 122001 and "client_secret" in info.value.hint
    assert ch.credentials["refresh_token"] in fake.tokens.refresh_tokens  # still unspent
    assert fake.posts() == []


def test_a_skewed_clock_is_an_auth_error_saying_so(sandbox):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac")
    fake.clock = lambda: time.time() + 3600  # the platform's clock an hour ahead of ours
    with pytest.raises(gm.AuthError) as info:
        run(sandbox, "publish", sample_post(), ch)
    assert "clock" in info.value.hint and info.value.code == 127012
    assert fake.posts() == []


def test_a_returned_archive_through_the_fake(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    fake.review_outcome = -2
    with pytest.raises(gm.ContentRejected) as info:
        run(sandbox, "publish", video_post(fake_video(tmp_path)), fake.channel("sasac", tid=21))
    assert fake.posts()[0]["resource_id"] in str(info.value)


def test_an_unknown_partition_is_refused_with_a_hint(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    with pytest.raises(gm.PlatformError) as info:
        run(sandbox, "publish", video_post(fake_video(tmp_path)), fake.channel("sasac", tid=99999))
    assert info.value.code == 127207 and "tid" in info.value.hint
    assert fake.posts() == []


def test_metrics_and_delete_through_the_fake(sandbox, tmp_path):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    receipt = run(sandbox, "publish", video_post(fake_video(tmp_path)), ch)
    fake.set_stats(receipt.remote_id, view=4_600_000, like=25_000, share=3_100, reply=900)
    metrics = run(sandbox, "metrics", receipt)
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (4_600_000, 25_000, 3_100, 900)
    run(sandbox, "delete", receipt)
    run(sandbox, "delete", receipt)  # twice: gone already is fine
    assert fake.posts() == []


def test_the_access_token_never_reaches_a_log_record(sandbox, tmp_path, caplog_all):
    fake = sandbox["bilibili"]
    ch = fake.channel("sasac", tid=21)
    fake.expire_tokens()
    caplog_all.set_level(logging.DEBUG)
    run(sandbox, "publish", video_post(fake_video(tmp_path)), ch)
    for name in ("access_token", "refresh_token", "client_secret"):
        assert ch.credentials[name] not in caplog_all.text


def test_token_answers_keep_the_rotated_pair_and_a_sane_lifetime():
    platform = BilibiliPlatform()
    request = httpx.Request("POST", f"{OAUTH}/x/account-oauth2/v1/refresh_token")

    def token(data):
        return platform.token_from(httpx.Response(200, json={"code": 0, "message": "0", "ttl": 1,
                                                             "data": data}, request=request),
                                   channel(), previous=None)

    pair = {"access_token": "acc-new-00000001", "refresh_token": "ref-new-00000001"}
    fresh = token({**pair, "expires_in": 2592000})
    assert (fresh.value, fresh.refresh_token, fresh.expires_in) == (
        "acc-new-00000001", "ref-new-00000001", 2592000.0)
    assert token({**pair, "expires_in": "soon"}).expires_in is None      # used until refused
    assert token({**pair, "expires_in": 10**12}).expires_in is None
    with pytest.raises(gm.PlatformError, match="refresh_token"):         # a pair, or nothing
        token({"access_token": "acc-new-00000001", "expires_in": 60})
