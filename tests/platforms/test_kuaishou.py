"""Kuaishou: requests shaped as the open API wants, errors mapped, tokens rotated, fakes end to end.

The respx tests answer with payloads shaped exactly as shared/platforms/kuaishou.md
shows; the fake-driven tests run the whole flow through `Sandbox` on both clients.
Facts the sheet marks unverified, and that a test relies on, are named there.
"""

import gc
import threading

import anyio
import attrs
import httpx
import pytest
import respx

import govmedia as gm
from govmedia.platforms.kuaishou import KuaishouPlatform, caption_of
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG, CLIP_MP4, COVER_JPEG
from govmedia.tokens import FileTokenStore, MemoryTokenStore

BASE = "https://open.kuaishou.com"
GATEWAY = "http://uploader.test.gifshow.com"
APP_ID = "ks700123456789012345"
SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
TOKEN = "ChFvYXV0aC5hY2Nlc3NUb2tlbhJgdeDIR4WqaJkHl"
REFRESH = "ChJvYXV0aC5yZWZyZXNoVG9rZW4SoAHmQ3cU6sFvV"
UPLOAD_TOKEN = "3xwn3kkerxj6g9n"
PHOTO_ID = "5212345678901"
CREATED = 1_701_590_400_000  # 2023-12-03, in milliseconds (the unit is unverified)


def channel(account="sasac_ks", **options):
    return gm.Channel(platform="kuaishou", account=account,
                      credentials={"access_token": TOKEN, "app_id": APP_ID, "app_secret": SECRET,
                                   "refresh_token": REFRESH},
                      options={"poll_interval": 0.001, **options})


def ks(**payload):
    return httpx.Response(200, json={"result": 1, **payload})


def error(code, message):
    return httpx.Response(200, json={"result": code, "error_msg": message})


def video_info(pending=True, **extra):
    return {"photo_id": PHOTO_ID, "caption": "中老铁路开通一周年 #一带一路看国企 ",
            "cover": "https://p1.a.yximgs.com/upic/cover.jpg",
            "play_url": "https://v1.kwaicdn.com/upic/video.mp4", "create_time": CREATED,
            "like_count": 0, "comment_count": 0, "view_count": 0, "pending": pending, **extra}


def video_post(video=None, text="中老铁路开通一周年"):
    video = video or gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4")
    return gm.Post(text=text, tags=("一带一路看国企",), media=(video,),
                   cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))


def big_video(tmp_path, size=2560):
    path = tmp_path / "big.mp4"
    path.write_bytes((CLIP_MP4 * (size // len(CLIP_MP4) + 1))[:size])
    return gm.Media.from_path(path)


@pytest.fixture
def api():
    router = respx.MockRouter(assert_all_called=False)
    router.post(f"{BASE}/openapi/photo/start_upload", name="start").mock(
        return_value=ks(upload_token=UPLOAD_TOKEN, endpoint="uploader.test.gifshow.com"))
    router.post(f"{GATEWAY}/api/upload", name="direct").mock(return_value=ks())
    router.post(f"{GATEWAY}/api/upload/fragment", name="fragment").mock(return_value=ks())
    router.post(f"{GATEWAY}/api/upload/complete", name="complete").mock(return_value=ks())
    router.get(f"{GATEWAY}/api/upload/resume", name="resume").mock(
        return_value=ks(existed=False, fragment_index=-1, fragment_list=[]))
    router.post(f"{BASE}/openapi/photo/publish", name="publish").mock(
        return_value=ks(video_info=video_info()))
    router.get(f"{BASE}/openapi/photo/list", name="list").mock(side_effect=[
        ks(video_list=[video_info(pending=True)]), ks(video_list=[video_info(pending=False)])])
    router.post(f"{BASE}/openapi/photo/delete", name="delete").mock(return_value=ks())
    router.get(f"{BASE}/oauth2/refresh_token", name="refresh").mock(return_value=ks(
        access_token="ChFvYXV0aC5uZXdBY2Nlc3NUb2tlbg", expires_in=3600,
        refresh_token="ChJvYXV0aC5uZXdSZWZyZXNoVG9rZW4", refresh_token_expires_in=648000,
        open_id="f18a6c7b2e3d4c5b", scopes=["user_info", "user_video_publish", "user_video_info"]))
    return router


def client(router, **options):
    return gm.Client(http=httpx.Client(transport=httpx.MockTransport(router.handler)),
                     retry=gm.RetryPolicy.testing(), **options)


def multipart(request):
    """{field name: (filename or None, content type or None, bytes)} of a multipart body."""
    boundary = request.headers["content-type"].split("boundary=")[1].encode()
    parts = {}
    for chunk in request.content.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        text = head.decode()
        name = text.split('name="')[1].split('"')[0]
        filename = text.split('filename="')[1].split('"')[0] if 'filename="' in text else None
        kind = text.split("Content-Type: ")[1].split("\r\n")[0] if "Content-Type: " in text else None
        parts[name] = (filename, kind, data.removesuffix(b"\r\n"))
    return parts


# --------------------------------------------------------------------------- request shapes


def test_a_small_video_goes_up_in_one_request_then_publish_then_review(api):
    with client(api) as c:
        receipt = c.publish(video_post(), channel())
    start = api["start"].calls.last.request
    assert start.url.params["app_id"] == APP_ID and start.url.params["access_token"] == TOKEN
    upload = api["direct"].calls.last.request
    # "不要在body中放boundary": the bytes alone, over plain http as the docs say.
    assert upload.url.scheme == "http" and upload.content == CLIP_MP4
    assert upload.headers["content-type"] == "video/mp4"
    assert dict(upload.url.params) == {"upload_token": UPLOAD_TOKEN}  # never the access token
    published = api["publish"].calls.last.request
    assert dict(published.url.params) == {"app_id": APP_ID, "upload_token": UPLOAD_TOKEN,
                                          "access_token": TOKEN}
    form = multipart(published)
    assert form["caption"] == (None, None, "中老铁路开通一周年 #一带一路看国企 ".encode())
    assert form["cover"] == ("cover.jpg", "image/jpeg", COVER_JPEG)
    assert "stereo_type" not in form
    assert not api["fragment"].called and not api["resume"].called
    listing = api["list"].calls.last.request
    assert listing.url.params["app_id"] == APP_ID and listing.url.params["count"] == "20"
    assert receipt.state == "published" and receipt.remote_id == PHOTO_ID
    assert receipt.url is None  # Kuaishou gives no page address at publish time
    assert receipt.raw["play_url"] == "https://v1.kwaicdn.com/upic/video.mp4"
    assert len(api["list"].calls) == 2


def test_a_large_video_goes_up_in_fragments_streamed_from_disk(api, tmp_path):
    video = big_video(tmp_path)
    with client(api) as c:
        c.publish(video_post(video), channel(part_size=1024, direct_max=0))
    fragments = [call.request for call in api["fragment"].calls]
    assert [r.url.params["fragment_id"] for r in fragments] == ["0", "1", "2"]
    assert [len(r.content) for r in fragments] == [1024, 1024, 512]
    assert b"".join(r.content for r in fragments) == video.read()
    assert {r.headers["content-type"] for r in fragments} == {"application/octet-stream"}
    complete = api["complete"].calls.last.request
    assert dict(complete.url.params) == {"upload_token": UPLOAD_TOKEN, "fragment_count": "3"}
    assert not api["direct"].called


def test_a_failed_fragment_is_retried_alone(api, tmp_path):
    answers = {"1": [httpx.Response(502, text="<html>Bad Gateway</html>"), ks()]}
    api["fragment"].mock(side_effect=lambda request: (
        answers.get(request.url.params["fragment_id"]) or [ks()]).pop(0))
    with client(api) as c:
        c.publish(video_post(big_video(tmp_path)), channel(part_size=1024, direct_max=0))
    sent = [call.request.url.params["fragment_id"] for call in api["fragment"].calls]
    assert sent == ["0", "1", "1", "2"]


def test_a_gateway_reply_that_is_not_json_is_transient_and_the_part_resent(api):
    api["direct"].mock(side_effect=[httpx.Response(200, text="<html>upstream reset</html>"), ks()])
    with client(api) as c:
        assert c.publish(video_post(), channel()).state == "published"
    assert len(api["direct"].calls) == 2


def test_upload_progress_reaches_the_progress_object(api, tmp_path):
    class Bar:
        def __init__(self):
            self.uploads = []

        def __call__(self, delivery):
            pass

        def upload(self, event):
            self.uploads.append((event.filename, event.sent, event.total))

    bar = Bar()
    with client(api) as c:
        c.fan_out(video_post(big_video(tmp_path)), [channel(part_size=1024, direct_max=0)],
                  progress=bar)
    assert bar.uploads == [("big.mp4", 1024, 2560), ("big.mp4", 2048, 2560), ("big.mp4", 2560, 2560)]


def test_options_stereo_type_and_https_upload(api):
    api.post("https://uploader.test.gifshow.com/api/upload", name="secure").mock(return_value=ks())
    with client(api) as c:
        c.publish(video_post(), channel(stereo_type="SPHERICAL_VIDEO_360", upload_https=True))
    assert api["secure"].called and not api["direct"].called
    assert multipart(api["publish"].calls.last.request)["stereo_type"][2] == b"SPHERICAL_VIDEO_360"


@pytest.mark.parametrize("endpoint", ["", "uploader.test.gifshow.com/?steal=1",
                                      "user:pw@uploader.test.gifshow.com", "ftp://uploader.example"])
def test_an_unusable_upload_host_is_refused_before_any_byte_is_sent(api, endpoint):
    api["start"].mock(return_value=ks(upload_token=UPLOAD_TOKEN, endpoint=endpoint))
    with client(api) as c, pytest.raises(gm.PlatformError) as info:
        c.publish(video_post(), channel())
    assert info.value.code == "bad_response" and not isinstance(info.value, gm.DeliveryUnknown)
    assert not api["direct"].called and not api["publish"].called


def test_the_access_token_never_reaches_the_gateway_nor_a_log_record(api, tmp_path, caplog_all):
    with client(api) as c:
        c.publish(video_post(big_video(tmp_path)), channel(part_size=1024, direct_max=0))
    for route in ("fragment", "complete"):
        for call in api[route].calls:
            assert TOKEN not in str(call.request.url) and "access_token" not in str(call.request.url)
    assert TOKEN not in caplog_all.text and UPLOAD_TOKEN not in caplog_all.text


def test_url_media_is_downloaded_without_credentials(api):
    api.get("https://cdn.example.org/clip.mp4", name="download").mock(
        return_value=httpx.Response(200, content=CLIP_MP4))
    with client(api) as c:
        c.publish(video_post(gm.Media.from_url("https://cdn.example.org/clip.mp4")), channel())
    assert "access_token" not in str(api["download"].calls.last.request.url)
    assert api["direct"].calls.last.request.content == CLIP_MP4


def test_a_downloaded_file_that_is_no_video_is_refused_before_upload(api):
    api.get("https://cdn.example.org/clip.mp4").mock(
        return_value=httpx.Response(200, content=b"<html>not found</html>"))
    with client(api) as c, pytest.raises(gm.ValidationError) as info:
        c.publish(video_post(gm.Media.from_url("https://cdn.example.org/clip.mp4")), channel())
    assert info.value.problems[0].rule == "kuaishou.video.type"
    assert not api["start"].called


# --------------------------------------------------------------------------- the point of no return


def test_a_timeout_after_publish_is_unknown_and_never_resent(api):
    api["publish"].mock(side_effect=httpx.ReadTimeout("lost"))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as info:
        c.publish(video_post(), channel())
    assert len(api["publish"].calls) == 1
    assert "Kuaishou app" in str(info.value)


@pytest.mark.parametrize("answer", [httpx.Response(500), httpx.Response(502, text="<html>502</html>"),
                                    httpx.Response(200, text='{"result": 1, "video_in')])
def test_a_5xx_or_a_cut_answer_on_publish_is_unknown_and_never_resent(api, answer):
    api["publish"].mock(return_value=answer)
    with client(api) as c, pytest.raises(gm.DeliveryUnknown):
        c.publish(video_post(), channel())
    assert len(api["publish"].calls) == 1


def test_an_answer_without_photo_id_is_unknown(api):
    api["publish"].mock(return_value=ks(video_info={}))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown):
        c.publish(video_post(), channel())


def test_a_failed_review_poll_after_publish_is_unknown_with_the_photo_id(api):
    api["list"].mock(return_value=httpx.Response(500))
    with client(api) as c, pytest.raises(gm.DeliveryUnknown) as info:
        c.publish(video_post(), channel())
    assert info.value.known["photo_id"] == PHOTO_ID
    assert len(api["publish"].calls) == 1


def test_a_publish_refused_outright_fails_cleanly(api):
    api["publish"].mock(return_value=error(100200100, "参数有误: caption"))
    with client(api) as c, pytest.raises(gm.PlatformError) as info:
        c.publish(video_post(), channel())
    assert type(info.value) is gm.PlatformError and not info.value.maybe_applied


def test_a_video_still_in_review_after_poll_timeout_is_pending(api):
    api["list"].mock(return_value=ks(video_list=[video_info(pending=True)]))
    with client(api) as c:
        receipt = c.publish(video_post(), channel(poll_timeout=0.0025, poll_interval=0.001))
    assert receipt.state == "pending" and receipt.remote_id == PHOTO_ID
    assert len(api["list"].calls) == 4


def test_a_video_that_leaves_the_list_is_refused_in_review(api):
    # Unverified (the sheet's reading): a video refused in review leaves photo/list.
    api["list"].mock(side_effect=[ks(video_list=[video_info(pending=True)]), ks(video_list=[])])
    with client(api) as c, pytest.raises(gm.ContentRejected) as info:
        c.publish(video_post(), channel())
    assert info.value.maybe_applied  # a re-run does not send it again on its own
    assert info.value.known == {"photo_id": PHOTO_ID}


def test_a_video_never_listed_yet_is_pending_not_refused(api):
    api["list"].mock(return_value=ks(video_list=[]))
    with client(api) as c:
        receipt = c.publish(video_post(), channel(poll_timeout=0.002, poll_interval=0.001))
    assert receipt.state == "pending"


def test_an_answer_already_live_needs_no_poll(api):
    api["publish"].mock(return_value=ks(video_info=video_info(pending=False)))
    with client(api) as c:
        assert c.publish(video_post(), channel()).state == "published"
    assert not api["list"].called


# --------------------------------------------------------------------------- resume


class Crash(BaseException):
    """The process dies."""


def die_at_fragment(handler, post, ch, journal, fragment_id):
    """Fan *post* out to *ch* until the upload of fragment *fragment_id*, where the process dies."""

    def dying(request):
        if request.url.path.endswith("/fragment") and request.url.params["fragment_id"] == fragment_id:
            raise Crash
        return handler(request)

    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(dying)), journal=journal,
                   retry=gm.RetryPolicy.testing()) as c, pytest.raises(Crash):
        c.fan_out(post, [ch])


def test_an_upload_that_died_resumes_where_the_gateway_says(api, tmp_path):
    video = big_video(tmp_path, size=4096)
    post = video_post(video)
    ch = channel(part_size=1024, direct_max=0)
    journal = tmp_path / "j.db"

    die_at_fragment(api.handler, post, ch, journal, "2")
    assert [call.request.url.params["fragment_id"] for call in api["fragment"].calls] == ["0", "1"]
    api["fragment"].reset()
    # The gateway has 0 and 1 (and, say, 3 from a retry we never heard of): 2 is the first it lacks.
    api["resume"].mock(return_value=ks(
        existed=True, fragment_index=1, fragment_list=[0, 1, 3], fragment_index_bytes=2048,
        endpoint=[{"protocol": "http", "host": "uploader.test.gifshow.com", "port": 80}],
        token_id="tk-1"))
    with client(api, journal=journal) as c:
        report = c.fan_out(post, [ch])
    assert report.deliveries[0].state == "published"
    assert api["resume"].calls.last.request.url.params["upload_token"] == UPLOAD_TOKEN
    assert [call.request.url.params["fragment_id"] for call in api["fragment"].calls] == ["2", "3"]
    assert len(api["start"].calls) == 1 and len(api["publish"].calls) == 1


def test_a_session_the_gateway_forgot_is_started_afresh(api, tmp_path):
    post = video_post(big_video(tmp_path, size=3072))
    ch = channel(part_size=1024, direct_max=0)
    journal = tmp_path / "j.db"

    die_at_fragment(api.handler, post, ch, journal, "1")
    api["fragment"].reset()
    with client(api, journal=journal) as c:  # resume answers existed=false
        assert c.fan_out(post, [ch]).deliveries[0].state == "published"
    assert len(api["start"].calls) == 2
    assert [call.request.url.params["fragment_id"] for call in api["fragment"].calls] == ["0", "1", "2"]


def test_a_finished_upload_is_published_by_the_next_run_without_uploading_again(api, tmp_path):
    post = video_post()
    journal = tmp_path / "j.db"
    # The connection fails before publish is sent, every attempt: nothing was made.
    api["publish"].mock(side_effect=httpx.ConnectError("refused"))
    with client(api, journal=journal) as c:
        assert c.fan_out(post, [channel()]).deliveries[0].state == "failed"
    api["publish"].mock(return_value=ks(video_info=video_info()))
    with client(api, journal=journal) as c:
        assert c.fan_out(post, [channel()]).deliveries[0].state == "published"
    assert len(api["start"].calls) == 1 and len(api["direct"].calls) == 1


def test_a_publish_refused_for_the_token_keeps_the_upload_for_the_next_run(api, tmp_path):
    post = video_post()
    journal = tmp_path / "j.db"
    api["publish"].mock(return_value=error(100200102, "无效的 access_token"))
    api["refresh"].mock(return_value=error(100200100, "refresh_token 已被使用"))
    with client(api, journal=journal) as c:
        assert isinstance(c.fan_out(post, [channel()]).deliveries[0].error, gm.AuthError)
    api["publish"].mock(return_value=ks(video_info=video_info()))
    with client(api, journal=journal) as c:  # authorised again: new tokens, same upload
        fresh = gm.Channel(platform="kuaishou", account="sasac_ks", credentials={
            **channel().credentials, "access_token": "ChFuZXdBdXRob3Jpc2F0aW9u"},
            options=channel().options)
        assert c.fan_out(post, [fresh]).deliveries[0].state == "published"
    assert len(api["start"].calls) == 1 and len(api["direct"].calls) == 1


def test_a_refused_publish_forgets_the_upload_so_the_next_run_uploads_afresh(api, tmp_path):
    post = video_post()
    journal = tmp_path / "j.db"
    api["publish"].mock(return_value=error(10000200, "upload_token 无效"))
    with client(api, journal=journal) as c:
        assert c.fan_out(post, [channel()]).deliveries[0].state == "failed"
    api["publish"].mock(return_value=ks(video_info=video_info()))
    with client(api, journal=journal) as c:
        assert c.fan_out(post, [channel()]).deliveries[0].state == "published"
    assert len(api["start"].calls) == 2


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("code", "message", "kind", "hint"), [
    (100200102, "无效的 access_token", gm.AuthError, "in the browser"),
    (100200101, "验证出错", gm.PlatformError, "app_secret"),
    (100200100, "参数有误", gm.PlatformError, "parameter"),
    (10000200, "参数错误", gm.PlatformError, "upload"),
    # Unverified for photo/publish: the content-library upload's sensitive-content answer.
    (10000200, "文件包含敏感内容", gm.ContentRejected, "sensitive"),
])
def test_every_code_on_the_sheet_maps_to_the_tree_with_a_hint(code, message, kind, hint):
    platform = KuaishouPlatform()
    request = httpx.Request("POST", f"{BASE}/openapi/photo/publish")
    answer = httpx.Response(200, json={"result": code, "error_msg": message}, request=request)
    err = platform.classify(answer, channel())
    assert type(err) is kind and err.code == code and hint in err.hint and err.message == message


def test_success_is_result_one_and_a_429_carries_its_wait():
    platform = KuaishouPlatform()
    request = httpx.Request("GET", f"{BASE}/openapi/photo/list")
    assert platform.classify(httpx.Response(200, json={"result": 1}, request=request), channel()) is None
    assert platform.classify(httpx.Response(200, json={"result": "1"}, request=request), channel()) is None
    limited = platform.classify(httpx.Response(429, headers={"Retry-After": "7"}, text="busy",
                                               request=request), channel())
    assert isinstance(limited, gm.RateLimited) and limited.retry_after == 7
    bare = platform.classify(httpx.Response(503, request=request), channel())
    assert isinstance(bare, gm.TransientError) and bare.maybe_applied


def test_a_rate_limit_on_publish_is_waited_out_and_sent_once_more(api):
    api["publish"].mock(side_effect=[httpx.Response(429, headers={"Retry-After": "0"}),
                                     ks(video_info=video_info(pending=False))])
    with client(api) as c:
        assert c.publish(video_post(), channel()).state == "published"
    assert len(api["publish"].calls) == 2


# --------------------------------------------------------------------------- tokens


def test_a_refused_token_is_refreshed_and_the_new_refresh_token_replaces_the_old(api):
    api["start"].mock(side_effect=[error(100200102, "无效的 access_token"),
                                   ks(upload_token=UPLOAD_TOKEN, endpoint="uploader.test.gifshow.com"),
                                   ks(upload_token=UPLOAD_TOKEN, endpoint="uploader.test.gifshow.com")])
    store = MemoryTokenStore()
    ch = channel()
    with client(api, tokens=store) as c:
        c.publish(video_post(), ch)
        api["list"].mock(return_value=ks(video_list=[video_info(pending=False)]))
        c.publish(video_post(text="第二条"), ch)
    refresh = api["refresh"].calls.last.request
    assert len(api["refresh"].calls) == 1
    assert dict(refresh.url.params) == {"app_id": APP_ID, "app_secret": SECRET,
                                        "refresh_token": REFRESH, "grant_type": "refresh_token"}
    used = [call.request.url.params["access_token"] for call in api["start"].calls]
    assert used == [TOKEN, "ChFvYXV0aC5uZXdBY2Nlc3NUb2tlbg", "ChFvYXV0aC5uZXdBY2Nlc3NUb2tlbg"]
    kept = store.get(("kuaishou", KuaishouPlatform().token_scope(ch)))
    assert kept.refresh_token == "ChJvYXV0aC5uZXdSZWZyZXNoVG9rZW4"
    assert kept.expires_in == 3600 and kept.refresh_expires_in == 648000


def test_a_refused_refresh_token_asks_for_a_new_authorisation(api):
    api["start"].mock(return_value=error(100200102, "无效的 access_token"))
    # Which code Kuaishou gives a spent refresh token is unverified: any refusal means re-authorise.
    api["refresh"].mock(return_value=error(100200100, "refresh_token 已被使用"))
    with client(api) as c, pytest.raises(gm.AuthError) as info:
        c.publish(video_post(), channel())
    assert "authorise the account again in the browser" in str(info.value).lower()
    assert not api["direct"].called


def test_a_wrong_app_secret_at_refresh_says_so(api):
    api["start"].mock(return_value=error(100200102, "无效的 access_token"))
    api["refresh"].mock(return_value=error(100200101, "验证出错"))
    with client(api) as c, pytest.raises(gm.PlatformError) as info:
        c.publish(video_post(), channel())
    assert "app_secret" in info.value.hint


def test_without_refresh_credentials_a_refused_token_asks_for_a_new_authorisation(api):
    api["start"].mock(return_value=error(100200102, "无效的 access_token"))
    bare = gm.Channel(platform="kuaishou", account="sasac_ks",
                      credentials={"access_token": TOKEN, "app_id": APP_ID})
    with client(api) as c, pytest.raises(gm.AuthError) as info:
        c.publish(video_post(), bare)
    assert "in the browser" in str(info.value) and not api["refresh"].called


def test_a_refresh_token_needs_the_app_secret():
    ch = gm.Channel(platform="kuaishou", account="a",
                    credentials={"access_token": TOKEN, "app_id": APP_ID, "refresh_token": REFRESH})
    with pytest.raises(gm.ConfigError, match="refresh_token needs app_secret"):
        gm.Client().check(video_post(), ch)


def test_the_token_store_entry_follows_the_authorisation_not_the_channel_name():
    platform = KuaishouPlatform()
    a, b = channel("hub"), channel("hub-again")
    renewed = gm.Channel(platform="kuaishou", account="hub",
                         credentials={**a.credentials, "access_token": "a-new-authorisation"})
    assert platform.token_scope(a) == platform.token_scope(b) != platform.token_scope(renewed)
    assert TOKEN not in platform.token_scope(a) and REFRESH not in platform.token_scope(a)
    assert platform.token_scope(a).startswith(f"{APP_ID}:")


def test_the_app_secret_never_reaches_a_log_record_or_an_error(api, caplog_all):
    api["start"].mock(return_value=error(100200102, "无效的 access_token"))
    api["refresh"].mock(return_value=error(100200100, "参数有误"))
    with client(api) as c, pytest.raises(gm.AuthError) as info:
        c.publish(video_post(), channel())
    for text in (caplog_all.text, str(info.value), repr(info.value)):
        assert SECRET not in text and REFRESH not in text and TOKEN not in text


def test_a_refresh_without_the_publish_scope_is_logged(api, caplog_all):
    api["start"].mock(side_effect=[error(100200102, "无效的 access_token"),
                                   ks(upload_token=UPLOAD_TOKEN, endpoint="uploader.test.gifshow.com")])
    api["refresh"].mock(return_value=ks(access_token="ChFvYXV0aC5uZXdBY2Nlc3NUb2tlbg",
                                        expires_in=3600, refresh_token="ChJuZXdSZWZyZXNo",
                                        refresh_token_expires_in=600, scopes=["user_info"]))
    with client(api) as c:
        c.publish(video_post(), channel())
    assert "lacks user_video_publish, user_video_info" in caplog_all.text


# --------------------------------------------------------------------------- delete and metrics


def test_delete_sends_the_photo_id(api):
    receipt = gm.Receipt(channel=channel(), remote_id=PHOTO_ID, state="published")
    with client(api) as c:
        c.delete(receipt)
    request = api["delete"].calls.last.request
    assert dict(request.url.params) == {"app_id": APP_ID, "photo_id": PHOTO_ID, "access_token": TOKEN}


def test_metrics_read_the_counts_from_photo_list(api):
    other = {**video_info(pending=False), "photo_id": "5212345678900"}
    api["list"].mock(return_value=ks(video_list=[
        other, video_info(pending=False, view_count=1200, like_count=88, comment_count=9)]))
    receipt = gm.Receipt(channel=channel(), remote_id=PHOTO_ID, state="published",
                         raw={"create_time": CREATED})
    with client(api) as c:
        metrics = c.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.comments, metrics.shares) == (1200, 88, 9, None)


def test_metrics_of_a_video_not_listed_are_all_none(api):
    api["list"].mock(return_value=ks(video_list=[]))
    receipt = gm.Receipt(channel=channel(), remote_id=PHOTO_ID, state="published")
    with client(api) as c:
        metrics = c.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.comments) == (None, None, None)
    assert "not among" in metrics.raw["reason"]


def test_list_pages_follow_the_cursor(api):
    # Unverified: the cursor is the last photo_id of the previous page.
    page = [{**video_info(pending=False), "photo_id": f"52123456780{i:02d}",
             "create_time": CREATED + 1000 * (99 - i)} for i in range(20)]
    api["list"].mock(side_effect=[ks(video_list=page), ks(video_list=[
        video_info(pending=False, view_count=5)])])
    receipt = gm.Receipt(channel=channel(), remote_id=PHOTO_ID, state="published")
    with client(api) as c:
        assert c.metrics(receipt).views == 5
    assert api["list"].calls.last.request.url.params["cursor"] == "5212345678019"


# --------------------------------------------------------------------------- check()


def test_a_good_post_has_no_problems():
    assert gm.Client().check(video_post(), channel()) == []


def test_each_rule_fires_with_its_id(tmp_path):
    c = gm.Client()
    no_video = gm.Post(text="视频", cover=gm.Media.from_bytes(COVER_JPEG, filename="c.jpg"),
                       media=(gm.Media.from_bytes(CHART_PNG, filename="chart.png"),))
    assert [p.rule for p in c.check(no_video, channel())] == ["kuaishou.video.required"]
    fake_video = gm.Media.from_bytes(b"\xff\xd8\xff\xe0 a JPEG", filename="clip.mp4")
    assert [(p.rule, p.code) for p in c.check(video_post(fake_video), channel())] == [
        ("kuaishou.video.type", "bad_media")]
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    assert [p.rule for p in c.check(video_post(gm.Media.from_path(empty)), channel())] == [
        "kuaishou.video.type"]
    uncovered = attrs.evolve(video_post(), cover=None)
    assert [(p.rule, p.code) for p in c.check(uncovered, channel())] == [
        ("kuaishou.cover.required", "missing_cover")]
    gif = attrs.evolve(video_post(), cover=gm.Media.from_bytes(b"GIF89a....", filename="c.gif"))
    assert [p.rule for p in c.check(gif, channel())] == ["kuaishou.cover.type"]
    huge = tmp_path / "cover.jpg"
    huge.write_bytes(COVER_JPEG + bytes(10_000_000))
    big = attrs.evolve(video_post(), cover=gm.Media.from_path(huge))
    [problem] = c.check(big, channel())
    assert problem.rule == "kuaishou.cover.max_size" and "under 10 MB" in problem.message


def test_a_video_from_a_url_is_judged_once_downloaded():
    post = video_post(gm.Media.from_url("https://cdn.example.org/clip.mp4"))
    assert gm.Client().check(post, channel()) == []


def test_extra_media_are_left_out_with_a_warning(api, caplog_all):
    post = attrs.evolve(video_post(), media=(
        gm.Media.from_bytes(CHART_PNG, filename="chart.png"),
        gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4"),
        gm.Media.from_bytes(CLIP_MP4, filename="second.mp4")))
    with client(api) as c:
        c.publish(post, channel())
    assert "not sent: chart.png, second.mp4" in caplog_all.text
    assert api["direct"].calls.last.request.content == CLIP_MP4


def test_the_caption_is_the_text_then_topics():
    assert caption_of(gm.Post(text="中老铁路", tags=("一带一路看国企", "Belt and Road"))) == \
        "中老铁路 #一带一路看国企 #BeltAndRoad "
    assert caption_of(gm.Post(text="#央企 招聘季", tags=("央企",))) == "#央企 招聘季"
    assert caption_of(gm.Post(title="微招聘", tags=("微招聘",))) == "微招聘 #微招聘 "
    assert caption_of(gm.Post(title="标题", summary="摘要", link="https://example.org/a")) == \
        "标题\n\n摘要\n\nhttps://example.org/a"


def test_channel_options_are_checked():
    for options, words in [({"part_size": 20_000_000}, "part_size"), ({"part_size": 10}, "part_size"),
                           ({"stereo_type": "3D"}, "stereo_type"), ({"direct_max": -1}, "direct_max"),
                           ({"poll_timeout": "soon"}, "poll_timeout")]:
        with pytest.raises(gm.ConfigError, match=words):
            gm.Client().check(video_post(), channel(**options))


def test_capabilities_and_declarations():
    caps = KuaishouPlatform.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.refresh) == (
        True, True, False, False, True)
    assert caps.media_kinds == ("video",) and caps.text_max is None
    assert KuaishouPlatform.tag_style == "kuaishou"
    assert KuaishouPlatform.credential_keys == ("access_token", "app_id")
    assert KuaishouPlatform.optional_credential_keys == ("app_secret", "refresh_token")
    from govmedia.content.hashtags import _UNBUILT, PLATFORM_STYLES

    assert PLATFORM_STYLES["kuaishou"] == "kuaishou" and "kuaishou" not in _UNBUILT


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["kuaishou"])


def run(sandbox, action, *args, asynchronous=False, **options):
    if not asynchronous:
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), **options) as c:
            return getattr(c, action)(*args)

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing(),
                                  **options) as c:
            return await getattr(c, action)(*args)

    return anyio.run(main)


def creates(fake):
    return len(fake.requests(fake.create_path))


@pytest.mark.parametrize("asynchronous", [False, True])
def test_full_publish_in_fragments_through_the_fake(sandbox, asynchronous, tmp_path):
    fake = sandbox["kuaishou"]
    fake.review_polls = 2
    ch = sandbox.channel("kuaishou", "sasac_ks", part_size=1024, direct_max=0)
    video = big_video(tmp_path, size=5000)
    receipt = run(sandbox, "publish", video_post(video), ch, asynchronous=asynchronous)
    (posted,) = fake.posts("sasac_ks")
    assert receipt.state == "published" and receipt.remote_id == posted["photo_id"]
    assert posted["size"] == 5000 and posted["caption"] == "中老铁路开通一周年 #一带一路看国企 "
    assert len(fake.requests("/uploader/api/upload/fragment")) == 5
    assert len(fake.requests("/openapi/photo/list")) == 3
    metrics = run(sandbox, "metrics", receipt, asynchronous=asynchronous)
    assert (metrics.views, metrics.shares) == (0, None)
    run(sandbox, "delete", receipt, asynchronous=asynchronous)
    assert fake.posts() == []


@pytest.mark.parametrize("asynchronous", [False, True])
def test_concurrent_deliveries_of_one_authorisation_spend_its_refresh_token_once(sandbox, asynchronous):
    """Twelve deliveries find the access token expired at once: one refresh, twelve videos."""
    fake = sandbox["kuaishou"]
    hub = sandbox.channel("kuaishou", "hub")
    # The same authorisation under other names (a matrix that lists an account twice by
    # mistake, or one per column): one token store entry, one refresh.
    alias = [gm.Channel(platform="kuaishou", account=f"hub-{i}", credentials=hub.credentials,
                        options=hub.options) for i in range(3)]
    fake.expire_tokens()
    posts = [video_post(text=f"第{i}条") for i in range(12)]
    pairs = [(post, (hub, *alias)[i % 4]) for i, post in enumerate(posts)]
    if asynchronous:
        async def main():
            async with gm.AsyncClient(http=sandbox.async_client(),
                                      retry=gm.RetryPolicy.testing()) as c:
                async with anyio.create_task_group() as tg:
                    for post, ch in pairs:
                        tg.start_soon(c.publish, post, ch)

        anyio.run(main)
    else:
        with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
            threads = [threading.Thread(target=c.publish, args=pair) for pair in pairs]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
    assert len(fake.requests("/oauth2/refresh_token")) == 1
    assert all(r.status == 200 for r in fake.requests("/oauth2/refresh_token"))
    assert len(fake.posts()) == 12


def test_a_spent_refresh_token_is_refused_so_the_next_run_needs_the_stored_one(sandbox, tmp_path):
    fake = sandbox["kuaishou"]
    ch = sandbox.channel("kuaishou", "hub")
    fake.expire_tokens()
    run(sandbox, "publish", video_post(), ch)  # refreshes: the credentials' refresh token is spent
    fake.expire_tokens()
    # A new client (a new process) with a memory store starts from the credentials again:
    # their refresh token is spent, and Kuaishou refuses it.
    with pytest.raises(gm.AuthError) as info:
        run(sandbox, "publish", video_post(text="第二条"), ch)
    assert "authorise the account again" in str(info.value).lower()
    # A file store hands the rotated refresh token to the next run.
    member = sandbox.channel("kuaishou", "member")
    path = tmp_path / "tokens.json"
    for number in range(3):
        fake.expire_tokens()
        run(sandbox, "publish", video_post(text=f"第{number}条"), member,
            tokens=FileTokenStore(path))  # a new process each time
    assert len(fake.posts("member")) == 3
    assert len(fake.requests("/oauth2/refresh_token")) == 5  # 2 above (one refused), then 1 a run


def test_a_fault_after_publish_is_unknown_and_a_rerun_finishes_without_a_second_video(sandbox, tmp_path):
    fake = sandbox["kuaishou"]
    ch = sandbox.channel("kuaishou", "sasac_ks")
    fake.inject("server_error", path="/openapi/photo/list", times=10)
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        first = c.fan_out(video_post(), [ch])
    (delivery,) = first.deliveries
    assert delivery.state == "unknown" and delivery.error.known["photo_id"]
    fake.faults.clear()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        second = c.fan_out(video_post(), [ch])
    (delivery,) = second.deliveries
    assert delivery.state == "published"
    assert delivery.receipt.remote_id == fake.posts()[0]["photo_id"]
    assert creates(fake) == 1 and len(fake.posts()) == 1


def test_a_lost_publish_answer_is_found_by_its_caption_on_the_rerun(sandbox, tmp_path):
    fake = sandbox["kuaishou"]
    ch = sandbox.channel("kuaishou", "sasac_ks")
    fake.inject("timeout_after", path=fake.create_path)
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(video_post(), [ch]).deliveries[0].state == "unknown"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        (delivery,) = c.fan_out(video_post(), [ch]).deliveries
    assert delivery.state == "published" and delivery.receipt.raw["reconciled"] is True
    assert creates(fake) == 1 and len(fake.posts()) == 1


def test_a_lost_publish_answer_with_no_video_listed_stays_unknown(sandbox, tmp_path):
    fake = sandbox["kuaishou"]
    ch = sandbox.channel("kuaishou", "sasac_ks")
    fake.inject("timeout_after", path=fake.create_path)
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        c.fan_out(video_post(), [ch])
    for video in fake.videos.values():
        video.state = "deleted"  # as if Kuaishou had not listed it (yet)
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        (delivery,) = c.fan_out(video_post(), [ch]).deliveries
    assert delivery.state == "unknown" and "client.resolve" in str(delivery.error)
    assert creates(fake) == 1


def test_review_rejection_fails_and_a_rerun_does_not_send_it_again(sandbox, tmp_path):
    fake = sandbox["kuaishou"]
    fake.review_outcome = "rejected"
    ch = sandbox.channel("kuaishou", "sasac_ks")
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        (delivery,) = c.fan_out(video_post(), [ch]).deliveries
    assert delivery.state == "failed" and isinstance(delivery.error, gm.ContentRejected)
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        (delivery,) = c.fan_out(video_post(), [ch]).deliveries
    assert delivery.state == "unknown" and "no longer in the account's list" in str(delivery.error)
    assert creates(fake) == 1


def test_a_run_that_died_mid_upload_resumes_at_the_fake(sandbox, tmp_path):
    fake = sandbox["kuaishou"]
    ch = sandbox.channel("kuaishou", "sasac_ks", part_size=1024, direct_max=0)
    post = video_post(big_video(tmp_path, size=6000))
    journal = tmp_path / "j.db"

    die_at_fragment(sandbox, post, ch, journal, "3")
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as c:
        assert c.fan_out(post, [ch]).deliveries[0].state == "published"
    sent = fake.requests("/fragment")
    assert len(sent) == 6  # 0, 1, 2, then 3, 4, 5: nothing sent twice
    assert len(fake.requests("/start_upload")) == 1 and fake.posts()[0]["size"] == 6000


def test_sensitive_content_is_content_rejected_through_the_fake(sandbox):
    fake = sandbox["kuaishou"]
    fake.sensitive_terms.add("违禁")
    with pytest.raises(gm.ContentRejected):
        run(sandbox, "publish", video_post(text="违禁词"), sandbox.channel("kuaishou", "a"))
    assert fake.posts() == []


def test_logs_name_the_resume_point(api, tmp_path, caplog_all):
    post = video_post(big_video(tmp_path, size=3072))
    ch = channel(part_size=1024, direct_max=0)
    journal = tmp_path / "j.db"

    die_at_fragment(api.handler, post, ch, journal, "2")
    api["resume"].mock(return_value=ks(existed=True, fragment_index=1, fragment_list=[0, 1]))
    with client(api, journal=journal) as c:
        c.fan_out(post, [ch])
    assert "resuming the upload at fragment 2" in caplog_all.text


def test_upload_parts_are_freed_as_they_go_not_at_the_next_garbage_collection(sandbox, tmp_path):
    """httpx binds a response to its stream in a cycle: each part must not wait for the collector."""
    ch = sandbox.channel("kuaishou", "sasac_ks", part_size=1024, direct_max=0)
    post = video_post(big_video(tmp_path, size=16 * 1024))
    gc.collect()
    gc.disable()
    try:
        run(sandbox, "publish", post, ch)
        alive = [o for o in gc.get_objects()
                 if isinstance(o, httpx.Request) and o.url.path.endswith("/fragment")]
    finally:
        gc.enable()
    assert len(sandbox["kuaishou"].requests("/fragment")) == 16
    assert alive == []


def test_a_gateway_on_the_apis_own_host_still_gets_no_token():
    # The served sandbox puts the gateway under the API's origin: only /openapi/ carries it.
    platform = KuaishouPlatform()
    ch = channel(base_url="http://127.0.0.1:8765/kuaishou")
    on = httpx.Request("GET", "http://127.0.0.1:8765/kuaishou/openapi/photo/list")
    gateway = httpx.Request("POST", "http://127.0.0.1:8765/kuaishou/uploader/api/upload/fragment")
    assert platform.carries_credentials(on, ch) and not platform.carries_credentials(gateway, ch)
    assert "access_token" not in str(platform.authorize(gateway, ch, None).url)
