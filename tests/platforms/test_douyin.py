"""Douyin: requests shaped as the open platform wants, errors mapped, tokens, the fake end to end.

The respx tests answer with payloads shaped exactly as shared/platforms/douyin.md
shows (the classic envelope: ``data`` with ``error_code``/``description``,
``extra`` with ``logid``). Where a test relies on a fact the sheet marks
unverified, or that comes from public clients only, its docstring says so.
"""

import json
import logging

import anyio
import httpx
import pytest
import respx

import govmedia as gm
from govmedia.platforms.douyin import DouyinPlatform, caption, envelope_error
from govmedia.testing import CompletedUpload, PartRecord, Sandbox, parse_multipart
from govmedia.testing.samples import CHART_PNG, sample_post
from govmedia.tokens import MemoryTokenStore

BASE = "https://open.douyin.com"
API = "/api/douyin/v1/video"
TOKEN = "act.1d1021d2aee3d41fee2d2add43456badMFZnrhFhfWotu3Ecuiuka27L56lr"
NEW_TOKEN = "act.f7094fbffab2ecbfc45e9af9c32bc241oYdckvBKe82BPx8T"
OPEN_ID = "_000ZtjClQeqDALsDfLqd3mTRmk3Gtar9TnR"
CLIENT_KEY = "awk0pbkw5mxjxe6w"
REFRESH = "rft.e5fc8d7bd67e7ebb6a9d9b3d0f0d24eaG7mjRBkhz8UN1r2W"
RENEWED = "rft.713900b74edde9f30ec4e246b706da30t4ie9LiKqGAS2Jd5"
VIDEO_ID = "v0200f0a0000bu2j1mg3ubm4qpb1qggg"
ITEM_ID = "@8hxdhauTCMppanGnM4ltGM780mDqPP+KPpR0qQOmLVAXb/T060zdRmYqig357zEBq6CZRp4NVe6qLIJW/V/x1w=="
UPLOAD_ID = "@8hxdhauTCMppanGnM4ltGM780mDqPP+KPpR0qQOmLVAXb/T0"
MB = 1024 * 1024
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def channel(**options):
    credentials = {"access_token": TOKEN, "open_id": OPEN_ID, "client_key": CLIENT_KEY,
                   "refresh_token": REFRESH}
    credentials.update(options.pop("credentials", {}))
    return gm.Channel(platform="douyin", account="guozixiaoxin", credentials=credentials,
                      options={"poll_interval": 0.001, **options})


def ok(data=None):
    """The classic envelope of a success: every error_code 0."""
    return httpx.Response(200, json={
        "data": {**(data or {}), "error_code": 0, "description": ""},
        "extra": {"error_code": 0, "description": "", "sub_error_code": 0, "sub_description": "",
                  "logid": "202312031530450102251700A0B1C2D3E4", "now": 1701588645000},
        "message": "success"})


def error(code, description):
    return httpx.Response(200, json={
        "data": {"error_code": code, "description": description},
        "extra": {"error_code": code, "description": description, "sub_error_code": 0,
                  "sub_description": "", "logid": "202312031530450102251700A0B1C2D3E4",
                  "now": 1701588645000},
        "message": "error"})


def item(status=5, reviewed=True, **counts):
    return {"item_id": ITEM_ID, "title": "t", "video_status": status, "is_reviewed": reviewed,
            "is_top": False, "create_time": 1701588645, "media_type": 4,
            "cover": "https://p3-sign.douyinpic.com/cover.jpeg",
            "share_url": "https://www.iesdouyin.com/share/video/7308012345678901234/",
            "statistics": {"play_count": 0, "digg_count": 0, "comment_count": 0, "share_count": 0,
                           "forward_count": 0, "download_count": 0, **counts}}


def refreshed(token=NEW_TOKEN, refresh_expires_in=2_500_000, **more):
    return ok({"access_token": token, "expires_in": 1_296_000, "open_id": OPEN_ID,
               "refresh_token": REFRESH, "refresh_expires_in": refresh_expires_in,
               "scope": "user_info,video.create.bind,video.data.bind", **more})


@pytest.fixture
def api():
    router = respx.MockRouter(base_url=BASE, assert_all_called=False)
    router.post(f"{API}/upload_video/", name="upload").mock(
        return_value=ok({"video": {"video_id": VIDEO_ID, "width": 1080, "height": 1920}}))
    router.post(f"{API}/init_video_part_upload/", name="init").mock(
        return_value=ok({"upload_id": UPLOAD_ID}))
    router.post(f"{API}/upload_video_part/", name="part").mock(return_value=ok())
    router.post(f"{API}/complete_video_part_upload/", name="complete").mock(
        return_value=ok({"video": {"video_id": VIDEO_ID, "width": 1080, "height": 1920}}))
    router.post(f"{API}/upload_image/", name="image").mock(side_effect=[
        ok({"image": {"image_id": f"tos-cn-i-0813/{n}", "width": 64, "height": 36}})
        for n in range(1, 10)])
    router.post(f"{API}/create_video/", name="create").mock(
        return_value=ok({"item_id": ITEM_ID, "video_id": VIDEO_ID}))
    # create_image_text's answer field is "unverified" on the fact sheet (data.item_id
    # as public clients read it).
    router.post(f"{API}/create_image_text/", name="create_image").mock(
        return_value=ok({"item_id": ITEM_ID}))
    router.post(f"{API}/video_data/", name="data").mock(side_effect=[
        ok({"list": [item(status=4, reviewed=False)]}), ok({"list": [item()]})])
    router.post("/oauth/refresh_token/", name="refresh").mock(return_value=refreshed())
    router.post("/oauth/renew_refresh_token/", name="renew").mock(
        return_value=ok({"refresh_token": RENEWED, "expires_in": 2_592_000}))
    return router


def client(router, **kwargs):
    return gm.Client(http=httpx.Client(transport=httpx.MockTransport(router.handler)),
                     retry=gm.RetryPolicy.testing(), **kwargs)


def body(call):
    return json.loads(call.request.content.decode("utf-8"))


def form(call):
    return dict(httpx.QueryParams(call.request.content.decode()))


def file_of(request, field):
    parts = parse_multipart(request)
    return parts[field]


def video_file(tmp_path, size, name="video.mp4"):
    path = tmp_path / name
    with path.open("wb") as f:
        f.write(MP4_HEAD)
        f.write(bytes(range(256)) * ((size - len(MP4_HEAD)) // 256))
        f.write(b"\x07" * ((size - len(MP4_HEAD)) % 256))
    return gm.Media.from_path(path)


def video_post(media, **fields):
    return gm.Post(title="央企人事调整", text="一带一路看国企：中老铁路开通一周年",
                   tags=("一带一路看国企", "央企 出海"), media=(media,), **fields)


# --------------------------------------------------------------------------- request shapes


def test_a_small_video_goes_up_in_one_request_then_create_and_review(api, tmp_path):
    """private_status's meanings are "unverified" on the fact sheet; only its passing-on is tested."""
    media = video_file(tmp_path, 200_000)
    with client(api) as c:
        receipt = c.publish(video_post(media), channel(private_status=1, cover_tsp=2.5))

    upload = api["upload"].calls.last.request
    assert upload.url.params["open_id"] == OPEN_ID
    assert upload.headers["access-token"] == TOKEN
    assert "access_token" not in str(upload.url)
    video = file_of(upload, "video")
    assert (video.filename, video.content_type, video.data) == (
        "video.mp4", "video/mp4", media.read())

    create = api["create"].calls.last
    assert create.request.url.params["open_id"] == OPEN_ID
    assert create.request.headers["content-type"] == "application/json"
    assert body(create) == {"video_id": VIDEO_ID,
                            "text": "一带一路看国企：中老铁路开通一周年\n#一带一路看国企 #央企出海",
                            "private_status": 1, "cover_tsp": 2.5}
    assert b"\\u" not in create.request.content  # raw UTF-8

    assert [body(c) for c in api["data"].calls] == [{"item_ids": [ITEM_ID]}] * 2
    assert receipt.state == "published" and receipt.remote_id == ITEM_ID
    assert receipt.url is None  # DESIGN: Douyin has no stable public page at publish time
    assert receipt.raw["video_id"] == VIDEO_ID and receipt.raw["video_status"] == 5
    assert receipt.raw["share_url"].startswith("https://www.iesdouyin.com/")
    assert not api["init"].called and not api["refresh"].called


def test_a_big_video_goes_up_in_parts_read_from_disk(api, tmp_path):
    media = video_file(tmp_path, 12 * MB + 5)
    data = media.read()
    with client(api) as c:
        receipt = c.publish(video_post(media), channel(part_size=5 * MB))

    assert api["init"].call_count == 1 and not api["upload"].called
    parts = api["part"].calls
    assert [c.request.url.params["part_number"] for c in parts] == ["1", "2", "3"]
    assert {c.request.url.params["upload_id"] for c in parts} == {UPLOAD_ID}
    assert {c.request.url.params["open_id"] for c in parts} == {OPEN_ID}
    assert all(c.request.headers["access-token"] == TOKEN for c in parts)
    sent = [file_of(c.request, "video").data for c in parts]
    assert [len(s) for s in sent] == [5 * MB, 5 * MB, 2 * MB + 5]
    assert b"".join(sent) == data
    complete = api["complete"].calls.last.request
    assert complete.url.params["upload_id"] == UPLOAD_ID
    assert body(api["create"].calls.last)["video_id"] == VIDEO_ID
    assert receipt.state == "published"


def test_images_become_an_image_text_post(api):
    """create_image_text's answer field (data.item_id) is "unverified" on the fact sheet."""
    post = gm.Post(text="中老铁路开通一周年", media=(
        gm.Media.from_bytes(CHART_PNG, filename="chart.png"),
        gm.Media.from_bytes(CHART_PNG, filename="chart2.png")))
    with client(api) as c:
        receipt = c.publish(post, channel())
    uploads = api["image"].calls
    assert [file_of(c.request, "image").filename for c in uploads] == ["chart.png", "chart2.png"]
    assert file_of(uploads[0].request, "image").data == CHART_PNG
    assert uploads[0].request.url.params["open_id"] == OPEN_ID
    assert body(api["create_image"].calls.last) == {
        "image_list": ["tos-cn-i-0813/1", "tos-cn-i-0813/2"], "text": "中老铁路开通一周年"}
    assert receipt.remote_id == ITEM_ID and receipt.raw["image_ids"] == ["tos-cn-i-0813/1",
                                                                       "tos-cn-i-0813/2"]


def test_a_review_still_running_at_the_timeout_is_pending(api, tmp_path):
    api["data"].mock(side_effect=None, return_value=ok({"list": [item(status=4, reviewed=False)]}))
    with client(api) as c:
        receipt = c.publish(video_post(video_file(tmp_path, 1000)), channel(poll_timeout=0))
    assert receipt.state == "pending" and receipt.remote_id == ITEM_ID
    assert api["data"].call_count == 1


def test_an_item_not_listed_yet_is_pending_too(api, tmp_path):
    api["data"].mock(side_effect=None, return_value=ok({"list": []}))
    with client(api) as c:
        receipt = c.publish(video_post(video_file(tmp_path, 1000)),
                            channel(poll_timeout=0.002, poll_interval=0.001))
    assert receipt.state == "pending" and api["data"].call_count == 3


def test_a_refused_review_is_content_rejected_naming_the_item(api, tmp_path):
    """video_status 2 (不适宜公开) comes from public clients, not the sheet (unverified)."""
    api["data"].mock(side_effect=None, return_value=ok({"list": [item(status=2)]}))
    with client(api) as c, pytest.raises(gm.ContentRejected) as caught:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert ITEM_ID in str(caught.value) and "visible to its author only" in str(caught.value)
    assert caught.value.known == {"item_id": ITEM_ID}


# --------------------------------------------------------------------------- errors


ALL_CODES = [
    (10008, gm.AuthError), (2190008, gm.AuthError), (10010, gm.AuthError),
    (2190002, gm.AuthError), (28001003, gm.AuthError),
    (2118110, gm.RateLimited),
    (2100004, gm.TransientError), (28005002, gm.TransientError),
    (2100005, gm.ContentRejected), (28001007, gm.ContentRejected),
    (10002, gm.PlatformError), (10003, gm.PlatformError), (10013, gm.PlatformError),
    (29002002, gm.PlatformError), (28001018, gm.PlatformError), (2190004, gm.PlatformError),
]


@pytest.mark.parametrize(("code", "kind"), ALL_CODES)
def test_every_code_on_the_sheet_maps_to_the_tree_with_a_hint(code, kind):
    """2190002 and 2190004 are "unverified" on the fact sheet."""
    request = httpx.Request("POST", f"{BASE}{API}/create_video/")
    response = error(code, "错误")
    response.request = request
    err = DouyinPlatform().classify(response, channel())
    assert type(err) is kind
    assert err.code == code and err.hint and err.hint != kind.default_hint
    assert "logid 202312031530450102251700A0B1C2D3E4" in err.message


def test_busy_applied_nothing_but_an_internal_error_may_have():
    platform = DouyinPlatform()
    busy = platform.classify(_answered(error(2100004, "系统繁忙")), channel())
    internal = platform.classify(_answered(error(28005002, "内部错误")), channel())
    assert busy.maybe_applied is False and internal.maybe_applied is True


def _answered(response, path=f"{API}/create_video/"):
    response.request = httpx.Request("POST", BASE + path)
    return response


@pytest.mark.parametrize("payload", [
    {"data": {"error_code": 0}, "extra": {"error_code": 0, "sub_error_code": 0}},
    {"data": {"item_id": "1"}},
    {"err_no": 0, "err_msg": "", "log_id": "x", "data": {}},
    {"data": {"error_code": "0"}, "extra": {"error_code": "0", "sub_error_code": None}},
])
def test_success_needs_every_code_zero_or_absent(payload):
    assert DouyinPlatform().classify(_answered(httpx.Response(200, json=payload)), channel()) is None


def test_either_envelope_and_a_sub_error_code_are_read():
    assert envelope_error({"data": {"error_code": 0}, "extra": {"error_code": 0,
                           "sub_error_code": 2190008, "sub_description": "token过期"}}) == (
        2190008, "token过期")
    assert envelope_error({"err_no": 28001003, "err_msg": "token invalid", "log_id": "L1"}) == (
        28001003, "token invalid (logid L1)")
    # a code govmedia knows wins over one it does not
    assert envelope_error({"data": {"error_code": 777}, "extra": {"error_code": 10008}})[0] == 10008
    err = DouyinPlatform().classify(_answered(httpx.Response(
        200, json={"err_no": 2118110, "err_msg": "too frequent"})), channel())
    assert isinstance(err, gm.RateLimited)


def test_a_bare_5xx_on_a_create_may_have_been_applied():
    err = DouyinPlatform().classify(_answered(httpx.Response(502, text="Bad Gateway")), channel())
    assert isinstance(err, gm.TransientError) and err.maybe_applied


def test_busy_on_create_is_retried_and_makes_one_item(api, tmp_path):
    api["create"].mock(side_effect=[error(2100004, "系统繁忙"),
                                    ok({"item_id": ITEM_ID, "video_id": VIDEO_ID})])
    with client(api) as c:
        assert c.publish(video_post(video_file(tmp_path, 1000)), channel()).remote_id == ITEM_ID
    assert api["create"].call_count == 2


@pytest.mark.parametrize("answer", [
    httpx.Response(500, text="Internal Server Error"),
    error(28005002, "内部错误"),
    httpx.ReadTimeout("lost"),
])
def test_a_create_that_may_have_been_applied_is_unknown_and_never_resent(api, tmp_path, answer):
    api["create"].mock(side_effect=[answer, ok({"item_id": ITEM_ID})])
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as caught:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert api["create"].call_count == 1
    assert "works in the Douyin app" in str(caught.value)


def test_a_failed_look_after_the_create_is_unknown_carrying_the_item(api, tmp_path):
    api["data"].mock(side_effect=None, return_value=httpx.Response(500))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as caught:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert caught.value.known["item_id"] == ITEM_ID
    assert api["create"].call_count == 1


def test_a_create_answer_without_an_item_id_is_unknown(api, tmp_path):
    api["create"].mock(return_value=ok({"video_id": VIDEO_ID}))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown):
        c.publish(video_post(video_file(tmp_path, 1000)), channel())


def test_uploads_and_parts_are_resent_by_themselves(api, tmp_path):
    api["part"].mock(side_effect=[ok(), httpx.Response(503), httpx.ReadTimeout("lost"), ok(), ok()])
    with client(api) as c:
        c.publish(video_post(video_file(tmp_path, 12 * MB)), channel(part_size=5 * MB))
    numbers = [c.request.url.params["part_number"] for c in api["part"].calls]
    assert numbers == ["1", "2", "2", "2", "3"]
    assert api["init"].call_count == 1 and api["create"].call_count == 1


def test_a_rate_limit_is_waited_out(api, tmp_path):
    api["create"].mock(side_effect=[error(2118110, "请求太频繁"), ok({"item_id": ITEM_ID})])
    with client(api) as c:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert api["create"].call_count == 2


# --------------------------------------------------------------------------- tokens


def test_an_expired_token_is_refreshed_and_the_step_resent(api, tmp_path):
    api["create"].mock(side_effect=[error(2190008, "access_token过期"),
                                    ok({"item_id": ITEM_ID})])
    store = MemoryTokenStore()
    with client(api, tokens=store) as c:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert form(api["refresh"].calls.last) == {
        "client_key": CLIENT_KEY, "grant_type": "refresh_token", "refresh_token": REFRESH}
    refresh = api["refresh"].calls.last.request
    assert refresh.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "access-token" not in refresh.headers and REFRESH not in str(refresh.url)
    tokens = [c.request.headers["access-token"] for c in api["create"].calls]
    assert tokens == [TOKEN, NEW_TOKEN]
    assert api["data"].calls.last.request.headers["access-token"] == NEW_TOKEN
    kept = store.get(("douyin", channel().id))
    assert kept.value == NEW_TOKEN and kept.refresh_token == REFRESH
    assert not api["renew"].called  # 29 days left: more than the new access token's 15


def test_a_refused_refresh_token_says_authorise_again_in_the_browser(api, tmp_path):
    api["create"].mock(return_value=error(2190008, "access_token过期"))
    api["refresh"].mock(return_value=error(10010, "refresh_token过期,请重新授权"))
    with client(api) as c, pytest.raises(gm.AuthError) as caught:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert "authorise the account again in the browser" in str(caught.value)
    assert api["create"].call_count == 1


def test_without_a_refresh_token_an_expired_token_is_an_auth_error(api, tmp_path):
    api["create"].mock(return_value=error(2190008, "access_token过期"))
    ch = gm.Channel(platform="douyin", account="guozixiaoxin",
                    credentials={"access_token": TOKEN, "open_id": OPEN_ID})
    with client(api) as c, pytest.raises(gm.AuthError) as caught:
        c.publish(video_post(video_file(tmp_path, 1000)), ch)
    assert "browser" in caught.value.hint and not api["refresh"].called


def test_a_refresh_token_without_its_client_key_is_a_config_error(tmp_path):
    ch = gm.Channel(platform="douyin", account="guozixiaoxin",
                    credentials={"access_token": TOKEN, "open_id": OPEN_ID, "refresh_token": REFRESH})
    with pytest.raises(gm.ConfigError, match="needs the app's client_key"):
        gm.Client().check(video_post(video_file(tmp_path, 1000)), ch)


def test_a_token_refreshed_for_another_user_is_refused(api, tmp_path):
    api["create"].mock(return_value=error(2190008, "access_token过期"))
    api["refresh"].mock(return_value=refreshed(open_id="_000SomeoneElse"))
    with client(api) as c, pytest.raises(gm.AuthError, match="another Douyin user"):
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert api["create"].call_count == 1


def test_the_refresh_token_is_renewed_when_it_would_die_first(api, tmp_path, caplog_all):
    """The renewal endpoint is on the sheet; that it spends the old refresh token is not."""
    api["create"].mock(side_effect=[error(2190008, "access_token过期"), ok({"item_id": ITEM_ID})])
    api["refresh"].mock(return_value=refreshed(refresh_expires_in=14 * 86400))
    store = MemoryTokenStore()
    with client(api, tokens=store) as c:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert form(api["renew"].calls.last) == {"client_key": CLIENT_KEY, "refresh_token": REFRESH}
    kept = store.get(("douyin", channel().id))
    assert kept.value == NEW_TOKEN and kept.refresh_token == RENEWED
    assert 29 * 86400 < kept.refresh_expires_at - kept.issued_at <= 30 * 86400 + 1
    assert "refresh token was renewed" in caplog_all.text
    assert RENEWED not in caplog_all.text and NEW_TOKEN not in caplog_all.text


def test_a_failed_renewal_keeps_the_refreshed_token(api, tmp_path, caplog_all):
    api["create"].mock(side_effect=[error(2190008, "access_token过期"), ok({"item_id": ITEM_ID})])
    api["refresh"].mock(return_value=refreshed(refresh_expires_in=3 * 86400))
    api["renew"].mock(return_value=error(10010, "refresh_token续期次数已达上限"))
    store = MemoryTokenStore()
    with client(api, tokens=store) as c:
        assert c.publish(video_post(video_file(tmp_path, 1000)), channel()).remote_id == ITEM_ID
    kept = store.get(("douyin", channel().id))
    assert kept.value == NEW_TOKEN and kept.refresh_token == REFRESH
    assert "renewing the refresh token failed" in caplog_all.text


def test_no_renewal_when_the_refresh_tokens_expiry_is_not_known(api, tmp_path):
    api["create"].mock(side_effect=[error(2190008, "access_token过期"), ok({"item_id": ITEM_ID})])
    api["refresh"].mock(return_value=ok({"access_token": NEW_TOKEN, "expires_in": 1_296_000,
                                         "open_id": OPEN_ID}))
    with client(api) as c:
        c.publish(video_post(video_file(tmp_path, 1000)), channel())
    assert not api["renew"].called  # renewals are few (5, unverified): not spent blindly


# --------------------------------------------------------------------------- metrics


def test_metrics_read_video_data_statistics(api):
    api["data"].mock(side_effect=None, return_value=ok({"list": [item(
        play_count=15230, digg_count=812, comment_count=64, share_count=37, forward_count=5)]}))
    receipt = gm.Receipt(channel=channel(), remote_id=ITEM_ID, state="published")
    with client(api) as c:
        metrics = c.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.comments, metrics.shares) == (15230, 812, 64, 37)
    assert metrics.raw["statistics"]["forward_count"] == 5
    assert body(api["data"].calls.last) == {"item_ids": [ITEM_ID]}


def test_metrics_of_an_item_douyin_does_not_list_are_none(api):
    api["data"].mock(side_effect=None, return_value=ok({"list": []}))
    receipt = gm.Receipt(channel=channel(), remote_id=ITEM_ID, state="published")
    with client(api) as c:
        metrics = c.metrics(receipt)
    assert metrics.views is metrics.likes is metrics.shares is metrics.comments is None
    assert "does not list" in metrics.raw["reason"]


def test_delete_is_not_offered():
    receipt = gm.Receipt(channel=channel(), remote_id=ITEM_ID, state="published")
    with pytest.raises(gm.ConfigError, match="cannot delete"):
        gm.Client().delete(receipt)
    assert not DouyinPlatform.capabilities.delete


# --------------------------------------------------------------------------- checks


def test_a_good_video_post_has_no_problems(tmp_path):
    assert gm.Client().check(video_post(video_file(tmp_path, 1000)), channel()) == []


def test_the_text_limit_counts_characters_topics_included(tmp_path):
    """The 1,000-character limit is "unverified" (a third-party client) on the fact sheet."""
    media = video_file(tmp_path, 1000)
    fits = gm.Post(text="国" * 990, tags=("央企招聘",), media=(media,))  # + "\n#央企招聘" = 996
    assert gm.Client().check(fits, channel()) == []
    over = gm.Post(text="国" * 995, tags=("央企招聘",), media=(media,))
    [problem] = gm.Client().check(over, channel())
    assert (problem.code, problem.rule) == ("too_long", "douyin.text.max_length")
    assert "1001" in problem.message.replace(",", "")


def test_media_rules(tmp_path):
    video = video_file(tmp_path, 1000)
    image = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    audio = gm.Media.from_bytes(b"ID3", filename="a.mp3")

    def rules(*media, **fields):
        return [p.rule for p in gm.Client().check(gm.Post(text="t", media=media, **fields), channel())]

    assert rules() == ["douyin.media.required"]
    assert rules(audio) == ["douyin.media.kind", "douyin.media.required"]
    assert rules(video, image) == ["douyin.media.mix"]
    assert rules(video, video_file(tmp_path, 1000, "b.mp4")) == ["douyin.media.mix"]
    assert rules(image, image) == []


def test_a_video_over_4_gb_is_refused_before_anything_is_sent(tmp_path):
    big = tmp_path / "big.mp4"
    with big.open("wb") as f:  # sparse after a real MP4 header
        f.write(MP4_HEAD)
        f.truncate(4 * 1024 * MB + 1)
    [problem] = gm.Client().check(video_post(gm.Media.from_path(big)), channel())
    assert (problem.code, problem.rule) == ("bad_media", "douyin.video.max_size")


@pytest.mark.parametrize(("options", "words"), [
    ({"part_size": 4 * MB}, "option part_size must be an integer from"),
    ({"part_size": 200 * MB}, "option part_size must be an integer from"),
    ({"private_status": 3}, "option private_status must be one of 0, 1, 2"),
    ({"poll_interval": 0}, "option poll_interval must be a positive number"),
    ({"base_url": "ftp://open.douyin.com"}, "option base_url must be an http(s) URL"),
])
def test_options_are_checked(tmp_path, options, words):
    with pytest.raises(gm.ConfigError, match=words.replace("(", r"\(").replace(")", r"\)")):
        gm.Client().check(video_post(video_file(tmp_path, 1000)), channel(**options))


def test_caption_adds_missing_topics_only():
    post = gm.Post(text="中老铁路 #一带一路看国企 今日", tags=("一带一路看国企", "央企"))
    assert caption(post) == "中老铁路 #一带一路看国企 今日\n#央企"
    assert caption(gm.Post(title="标题", tags=("央企",))) == "标题\n#央企"
    assert caption(gm.Post(title="标题")) == "标题"
    # a longer topic that starts like the tag is another topic
    assert caption(gm.Post(text="#央企出海", tags=("央企",))) == "#央企出海\n#央企"


def test_capabilities():
    caps = DouyinPlatform.capabilities
    assert caps.refresh and caps.metrics and not caps.dedupe and not caps.delete
    assert not caps.reconcile and caps.text_max == 1000
    assert caps.media_kinds == ("video", "image")
    assert DouyinPlatform.credential_keys == ("access_token", "open_id")
    assert set(DouyinPlatform.optional_credential_keys) == {"client_key", "client_secret",
                                                           "refresh_token"}
    assert DouyinPlatform.tag_style == "douyin"
    assert DouyinPlatform().rate_scopes(channel()) == (CLIENT_KEY,)


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["douyin"])


def run(sandbox, action, *args, asynchronous=False, **kwargs):
    if not asynchronous:
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), **kwargs) as c:
            return getattr(c, action)(*args)

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing(),
                                  **kwargs) as c:
            return await getattr(c, action)(*args)

    return anyio.run(main)


class Progress:
    def __init__(self):
        self.uploads = []
        self.deliveries = []

    def __call__(self, delivery):
        self.deliveries.append(delivery)

    def upload(self, event):
        self.uploads.append((event.filename, event.sent, event.total))


@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_chunked_video_through_the_fake_arrives_whole(sandbox, tmp_path, asynchronous):
    fake = sandbox["douyin"]
    fake.review_looks = 2
    media = video_file(tmp_path, 11 * MB + 3)
    ch = sandbox.channel("douyin", "guozixiaoxin", part_size=5 * MB)
    receipt = run(sandbox, "publish", video_post(media), ch, asynchronous=asynchronous)
    [video] = fake.videos.values()
    data = media.read()
    expected = [PartRecord.of(data[i:i + 5 * MB]) for i in range(0, len(data), 5 * MB)]
    assert (video.size, video.parts, video.digest) == (
        len(data), 3, CompletedUpload.digest_of(expected))
    [live] = fake.posts("guozixiaoxin")
    assert receipt.state == "published" and receipt.remote_id == live["item_id"]
    assert live["title"].endswith("#一带一路看国企 #央企出海")
    assert len(fake.requests("/video_data/")) == 3


def test_upload_progress_reaches_the_fan_outs_progress_object(sandbox, tmp_path):
    ch = sandbox.channel("douyin", "guozixiaoxin", part_size=5 * MB)
    bar = Progress()
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as c:
        c.fan_out(video_post(video_file(tmp_path, 11 * MB)), [ch], progress=bar)
    assert bar.uploads == [("video.mp4", 5 * MB, 11 * MB), ("video.mp4", 10 * MB, 11 * MB),
                           ("video.mp4", 11 * MB, 11 * MB)]
    assert [d.state for d in bar.deliveries] == ["published"]


def test_a_small_video_reports_its_upload_once(sandbox, tmp_path):
    ch = sandbox.channel("douyin", "guozixiaoxin")
    bar = Progress()
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db") as c:
        c.fan_out(video_post(video_file(tmp_path, 3000)), [ch], progress=bar)
    assert bar.uploads == [("video.mp4", 3000, 3000)]
    assert len(sandbox["douyin"].requests("/upload_video/")) == 1


def test_an_upload_that_died_resumes_at_the_first_unacknowledged_part(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin", part_size=5 * MB)
    post = video_post(video_file(tmp_path, 16 * MB))
    journal = tmp_path / "j.db"

    class BreakAfterTwoParts(Progress):
        def upload(self, event):
            super().upload(event)
            if len(self.uploads) == 2:  # Douyin goes down once two parts have landed
                fake.inject("server_error", path="/upload_video_part/", times=100)

    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        report = c.fan_out(post, [ch], progress=BreakAfterTwoParts())
    assert report.deliveries[0].state == "failed"  # nothing was created: a re-run sends it
    fake.faults.clear()
    sent_before = len(fake.requests("/upload_video_part/"))
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        report = c.fan_out(post, [ch])
    assert report.deliveries[0].state == "published"
    assert len(fake.requests("/upload_video_part/")) - sent_before == 2  # parts 3 and 4 only
    assert len(fake.requests("/init_video_part_upload/")) == 1
    [video] = fake.videos.values()
    data = post.media[0].read()
    assert video.digest == CompletedUpload.digest_of(
        [PartRecord.of(data[i:i + 5 * MB]) for i in range(0, len(data), 5 * MB)])


def test_a_saved_upload_douyin_forgot_is_started_over(sandbox, tmp_path):
    """How long an upload_id lives is not on the fact sheet: a refused one is started afresh."""
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin", part_size=5 * MB)
    post = video_post(video_file(tmp_path, 11 * MB))
    journal = tmp_path / "j.db"
    fake.inject("server_error", path="/complete_video_part_upload/", times=10)
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "failed"
    fake.faults.clear()
    fake.uploads.expire()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "published"
    assert len(fake.requests("/init_video_part_upload/")) == 2
    assert len(fake.posts()) == 1


def test_a_fault_after_the_create_is_unknown_and_a_rerun_polls_the_known_item(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    post = video_post(video_file(tmp_path, 3000))
    journal = tmp_path / "j.db"
    fake.inject("server_error", path="/video_data/", times=20)
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        first = c.fan_out(post, [ch]).deliveries[0]
    assert first.state == "unknown"
    [live] = fake.posts()
    assert first.error.known["item_id"] == live["item_id"]
    fake.faults.clear()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        second = c.fan_out(post, [ch]).deliveries[0]
    assert second.state == "published" and second.receipt.remote_id == live["item_id"]
    assert len(fake.requests(fake.create_path)) == 1  # one create over both runs
    assert len(fake.posts()) == 1


def test_a_lost_create_answer_stays_unknown_on_a_rerun_and_is_never_resent(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    post = video_post(video_file(tmp_path, 3000))
    journal = tmp_path / "j.db"
    fake.inject("timeout_after", path=fake.create_path)
    for _ in range(2):
        with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
            delivery = c.fan_out(post, [ch]).deliveries[0]
        assert delivery.state == "unknown"
    assert "client.resolve" in str(delivery.error)
    assert len(fake.requests(fake.create_path)) == 1 and len(fake.posts()) == 1


def test_two_concurrent_publishes_refresh_an_expired_token_once(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    fake.tokens.expire()

    async def both():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as c:
            async with anyio.create_task_group() as tg:
                tg.start_soon(c.publish, video_post(video_file(tmp_path, 3000, "a.mp4")), ch)
                tg.start_soon(c.publish, video_post(video_file(tmp_path, 3000, "b.mp4")), ch)

    anyio.run(both)
    assert len(fake.requests("/oauth/refresh_token/")) == 1
    assert len(fake.posts()) == 2


def test_an_expired_refresh_token_at_the_fake_asks_for_the_browser(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    fake.tokens.expire()
    fake.clock = lambda: 2_000_000_000.0 + 31 * 86400  # past every refresh token's 30 days
    with pytest.raises(gm.AuthError) as caught:
        run(sandbox, "publish", video_post(video_file(tmp_path, 3000)), ch)
    assert "browser" in str(caught.value) and fake.posts() == []


def test_the_fake_renews_five_times_then_asks_for_the_browser(sandbox):
    """The five-renewal cap is "unverified" (reported) on the fact sheet: the fake models it."""
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    http = sandbox.client()
    value = ch.credentials["refresh_token"]
    for _ in range(5):
        answer = http.post(f"{fake.base_url}/oauth/renew_refresh_token/",
                           data={"client_key": ch.credentials["client_key"], "refresh_token": value})
        new = answer.json()["data"]["refresh_token"]
        assert new != value
        value = new
    refused = http.post(f"{fake.base_url}/oauth/renew_refresh_token/",
                        data={"client_key": ch.credentials["client_key"], "refresh_token": value})
    assert refused.json()["data"]["error_code"] == 10010


def test_the_access_token_never_reaches_a_log_record_or_an_error(sandbox, tmp_path, caplog_all):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    fake.tokens.expire()
    fake.inject("timeout_after", path=fake.create_path)
    with pytest.raises(gm.DeliveryUnknown) as caught:
        run(sandbox, "publish", video_post(video_file(tmp_path, 3000)), ch)
    secrets = [ch.credentials["access_token"], ch.credentials["refresh_token"]]
    secrets += list(fake.tokens)
    text = caplog_all.text + str(caught.value) + repr(caught.value)
    assert not [s for s in secrets if s in text]


def test_review_refusal_through_the_fake(sandbox, tmp_path):
    fake = sandbox["douyin"]
    fake.refused_terms.add("违规")
    ch = sandbox.channel("douyin", "guozixiaoxin")
    with pytest.raises(gm.ContentRejected, match="video_status 2"):
        run(sandbox, "publish", gm.Post(text="违规内容", media=(video_file(tmp_path, 3000),)), ch)
    [live] = fake.posts()
    assert live["video_status"] == 2


def test_metrics_through_the_fake(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    receipt = run(sandbox, "publish", sample_post(), ch)
    fake.set_counts(receipt.remote_id, play_count=1200, digg_count=88, comment_count=9,
                    share_count=4)
    metrics = run(sandbox, "metrics", receipt)
    assert (metrics.views, metrics.likes, metrics.comments, metrics.shares) == (1200, 88, 9, 4)


def test_an_app_without_the_capability_is_a_permanent_refusal(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin")
    fake.apps[ch.credentials["client_key"]].can_publish = False
    with pytest.raises(gm.PlatformError) as caught:
        run(sandbox, "publish", video_post(video_file(tmp_path, 3000)), ch)
    assert caught.value.code == 28001018 and "console" in caught.value.hint
    assert type(caught.value) is gm.PlatformError and fake.posts() == []


def test_logging_names_the_account_not_the_token(sandbox, tmp_path, caplog_all):
    ch = sandbox.channel("douyin", "guozixiaoxin")
    post = video_post(video_file(tmp_path, 3000), cover=gm.Media.from_bytes(CHART_PNG,
                                                                           filename="c.png"))
    run(sandbox, "publish", post, ch)
    assert any("cover is not sent" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog_all.records)


def test_a_file_changed_in_place_is_uploaded_afresh_not_spliced(sandbox, tmp_path):
    fake = sandbox["douyin"]
    ch = sandbox.channel("douyin", "guozixiaoxin", part_size=5 * MB)
    media = video_file(tmp_path, 16 * MB)
    post = video_post(media)
    journal = tmp_path / "j.db"

    class BreakAfterOnePart(Progress):
        def upload(self, event):
            super().upload(event)
            fake.inject("server_error", path="/upload_video_part/", times=100)

    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch], progress=BreakAfterOnePart()).deliveries[0].state == "failed"
    fake.faults.clear()
    with open(media.path, "r+b") as f:  # same path, same size, new bytes  # noqa: PTH123
        f.seek(20)
        f.write(b"edited")
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "published"
    assert len(fake.requests("/init_video_part_upload/")) == 2
    [video] = fake.videos.values()
    data = media.read()
    assert video.digest == CompletedUpload.digest_of(
        [PartRecord.of(data[i:i + 5 * MB]) for i in range(0, len(data), 5 * MB)])
