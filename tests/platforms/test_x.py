"""The X platform: text and counting, checks, chunked media, the create sent once, tokens, errors.

respx tests answer with payloads shaped as shared/platforms/x.md shows them
(RFC 7807 problems, ``{"data": {...}}`` answers, OAuth token answers); the
end-to-end tests at the bottom run through `gm.Client` against `FakeX`.
Facts the sheet marks unverified, and tests that rely on them, say so.
"""

import base64
import json
import logging
import sqlite3
import threading
import time
from urllib.parse import parse_qs

import anyio
import httpx
import pytest

import govmedia as gm
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Recall,
    Sleep,
    Uploaded,
    creates_something,
    is_retry_safe,
)
from govmedia.platforms.x import XPlatform, post_text
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG
from govmedia.testing.x import FakeX

BASE = "https://api.x.com"
TOKEN = "tok-x-access-5b1f0c3e"
REFRESH = "ref-x-refresh-77aa01"
CLIENT_ID = "cl-x-client-id-0001"
SECRET = "sec-x-client-secret-9f"
ACCOUNT = "@sasac"
TWEET_ID = "1445880548472328192"
MEDIA_ID = "1880028106020515840"
USER_ID = "2244994945"
PNG = CHART_PNG
GIF = b"GIF89a" + bytes(200)
MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(300)


def channel(account=ACCOUNT, *, refresh=True, secret=True, **options):
    credentials = {"access_token": TOKEN}
    if refresh:
        credentials.update(refresh_token=REFRESH, client_id=CLIENT_ID)
        if secret:
            credentials["client_secret"] = SECRET
    return gm.Channel(platform="x", account=account, credentials=credentials, options=options)


def problem(status, title, detail, kind=None, **extra):
    """An RFC 7807 problem, as the sheet's "Errors" shows v2 errors."""
    body = {"title": title, "detail": detail, "status": status,
            "type": f"https://api.twitter.com/2/problems/{kind}" if kind else "about:blank", **extra}
    return httpx.Response(status, json=body)


def created(tweet_id=TWEET_ID, text="央企招聘季开始了"):
    """201 -> {"data": {"id", "text"}} (sheet: POST /2/tweets)."""
    return httpx.Response(201, json={"data": {"id": tweet_id, "text": text}})


def initialized(media_id=MEDIA_ID, key_prefix="3"):
    """initialize -> data.id, data.media_key, data.expires_after_secs (sheet: Media v2)."""
    return httpx.Response(200, json={"data": {"id": media_id, "media_key": f"{key_prefix}_{media_id}",
                                              "expires_after_secs": 86400}})


def finalized(media_id=MEDIA_ID, processing=None, key_prefix="3"):
    data = {"id": media_id, "media_key": f"{key_prefix}_{media_id}", "size": 1024,
            "expires_after_secs": 86400}
    if processing is not None:
        data["processing_info"] = processing
    return httpx.Response(200, json={"data": data})


def status(state, media_id=MEDIA_ID, **info):
    """STATUS -> data.processing_info.state (+check_after_secs, progress_percent, error)."""
    return httpx.Response(200, json={"data": {"id": media_id, "media_key": f"7_{media_id}",
                                              "processing_info": {"state": state, **info}}})


def token_answer(access="tok-x-access-new-0002", refresh="ref-x-refresh-new-0002"):
    """POST /2/oauth2/token: a new pair (X rotates the refresh token)."""
    return httpx.Response(200, json={"token_type": "bearer", "expires_in": 7200, "access_token": access,
                                     "scope": "tweet.read tweet.write users.read media.write offline.access",
                                     "refresh_token": refresh})


def rate_limited(reset_in, **headers):
    """A 429: no Retry-After; x-rate-limit-reset in Unix seconds (sheet: Rate limits)."""
    response = problem(429, "Too Many Requests", "Too Many Requests")
    response.headers.update({"x-rate-limit-limit": "100", "x-rate-limit-remaining": "0",
                             "x-rate-limit-reset": str(int(time.time() + reset_in)), **headers})
    return response


POST = gm.Post(text="央企招聘季开始了", tags=("微招聘",))


@pytest.fixture
def client():
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy.testing()) as c:
        yield c


def drive(flow, answer):
    """Run a sans-I/O flow by hand: *answer(step)* gives each request's response."""
    steps, value = [], None
    try:
        while True:
            step = flow.send(value)
            steps.append(step)
            if isinstance(step, httpx.Request):
                value = answer(step)
            elif isinstance(step, Recall):
                value = {}
            else:
                value = None
    except StopIteration as stop:
        return stop.value, steps


def requests_of(steps):
    return [s for s in steps if isinstance(s, httpx.Request)]


def form_of(request):
    """The fields of a multipart request (segment_index) and its file part's bytes."""
    from govmedia.testing import parse_multipart

    parts = parse_multipart(request)
    return parts.fields, parts["media"].data


# --------------------------------------------------------------------------- description


def test_registered_with_its_capabilities():
    cls = gm.platforms.get("x")
    assert cls is XPlatform
    caps = cls.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.refresh, caps.reconcile) == (
        True, True, True, False, True, False)
    assert (caps.text_max, caps.media_max) == (280, 4)
    assert set(caps.media_kinds) == {"image", "video"}
    assert "URL 23" in caps.counting or "every URL 23" in caps.counting
    assert cls.tag_style == "x"
    assert cls.credential_keys == ("access_token",)
    assert set(cls.optional_credential_keys) == {"client_id", "client_secret", "refresh_token"}


def test_the_length_rule_and_tag_style_moved_out_of_the_transitional_tables():
    from govmedia.content import counting, hashtags

    assert not [r for r in counting.RULES if r.platform == "x"]
    assert "x" not in hashtags._UNBUILT
    [rule] = counting.rules_for("x")
    assert rule is XPlatform().rule("x.text.max_length")
    assert hashtags.style_for("x") == "x"


# --------------------------------------------------------------------------- text


def test_tags_are_appended_in_xs_style_once():
    post = gm.Post(text="#央企 招聘季开始了", tags=("央企", "Belt and Road", "COVID-19", "#beltandroad"))
    assert post_text(post) == "#央企 招聘季开始了\n\n#BeltAndRoad #COVID19"


def test_a_tag_already_in_the_text_is_not_repeated_but_a_longer_one_is_another_tag():
    assert post_text(gm.Post(text="Join #SOE jobs", tags=("soe",))) == "Join #SOE jobs"
    assert post_text(gm.Post(text="#央企招聘", tags=("央企",))).endswith("\n\n#央企")


def test_an_all_digit_tag_is_left_out_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        assert post_text(gm.Post(text="年报", tags=("2019",))) == "年报"
    assert "2019" in caplog.text


def test_a_post_without_text_sends_title_summary_and_link():
    post = gm.Post(title="一带一路看国企", summary="第三期", link="https://example.org/a/1")
    assert post_text(post) == "一带一路看国企\n\n第三期\n\nhttps://example.org/a/1"


# --------------------------------------------------------------------------- checks


def test_weighted_length_cjk_counts_2_and_each_url_23():
    # 130 CJK (260) + " " (1) + a long URL (23) = 284
    text = "国" * 130 + " https://www.sasac.gov.cn/n2588025/n2588119/" + "a" * 200
    [problem] = gm.Client().check(gm.Post(text=text), channel())
    assert (problem.code, problem.rule, problem.field) == ("too_long", "x.text.max_length", "text")
    assert problem.message == "text is 284 characters as X counts them (CJK 2, URL 23), limit 280: 4 over"


def test_exactly_280_passes_and_tags_count_too():
    assert gm.Client().check(gm.Post(text="国" * 140), channel()) == []
    assert gm.Client().check(gm.Post(text="a" * 280), channel()) == []
    # 136 CJK (272) + "\n\n#央企" (2 + 1 + 4) = 279; one more tag letter goes over
    assert gm.Client().check(gm.Post(text="国" * 136, tags=("央企",)), channel()) == []
    [problem] = gm.Client().check(gm.Post(text="国" * 136, tags=("央企改",)), channel())
    assert "281" in problem.message


def test_emoji_sequences_count_2_and_latin_punctuation_1():
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    assert gm.Client().check(gm.Post(text=family * 140), channel()) == []
    assert gm.Client().check(gm.Post(text=family * 141), channel())[0].message.startswith("text is 282")
    assert gm.Client().check(gm.Post(text="\u201c" * 280), channel()) == []  # U+2010-201F weigh 1


def image(name="p.png", data=PNG):
    return gm.Media.from_bytes(data, filename=name)


@pytest.mark.parametrize(("media", "rule"), [
    ((image("1.png"), image("2.png"), image("3.png"), image("4.png"), image("5.png")), "x.media.max_count"),
    ((image("v.mp4", MP4), image("p.png")), "x.media.no_mix"),
    ((image("a.gif", GIF), image("p.png")), "x.media.no_mix"),
    ((gm.Media.from_bytes(b"ID3" + bytes(10), filename="a.mp3"),), "x.media.kind"),
    ((gm.Media.from_bytes(b"%PDF-1.7", filename="report.pdf"),), "x.media.kind"),
])
def test_media_rules(media, rule):
    """Four images or one video/GIF per post: marked unverified on the sheet."""
    problems = gm.Client().check(gm.Post(text="图", media=media), channel())
    assert [(p.code, p.rule) for p in problems] == [("bad_media", rule)]


def test_four_images_or_one_video_or_one_gif_pass():
    check = gm.Client().check
    assert check(gm.Post(text="图", media=tuple(image(f"{i}.png") for i in range(4))), channel()) == []
    assert check(gm.Post(text="视频", media=(image("v.mp4", MP4),)), channel()) == []
    assert check(gm.Post(text="动图", media=(image("a.gif", GIF),)), channel()) == []
    # a GIF named .png is told by its bytes
    assert check(gm.Post(text="图", media=(image("a.png", GIF), image("b.png"))), channel())[0].rule == \
        "x.media.no_mix"


def test_a_file_too_big_for_1000_parts_of_5_mb(tmp_path):
    big = tmp_path / "huge.mp4"
    with big.open("wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")  # an MP4 by its bytes
        f.truncate(5_000_000_001)  # sparse: the rest is never written
    [problem] = gm.Client().check(gm.Post(text="视频", media=(gm.Media.from_path(big),)), channel())
    assert problem.rule == "x.media.max_size"


def test_an_empty_post_without_media_is_a_problem():
    [problem] = gm.Client().check(gm.Post(body="![图](chart.png)"), channel())  # no text to send
    assert (problem.code, problem.rule) == ("empty", "x.text.not_empty")
    assert gm.Client().check(gm.Post(text=" ", media=(image(),)), channel()) == []


@pytest.mark.parametrize(("credentials", "options", "words"), [
    ({"access_token": TOKEN, "refresh_token": REFRESH}, {}, "refresh_token and client_secret need client_id"),
    ({"access_token": TOKEN, "client_secret": SECRET}, {}, "need client_id"),
    ({"token": TOKEN}, {}, "missing credential(s) access_token"),
    ({"access_token": TOKEN}, {"reply_settings": "everyone"}, "option reply_settings must be one of"),
    ({"access_token": TOKEN}, {"part_size": 6_000_000}, "option part_size must be an integer"),
    ({"access_token": TOKEN}, {"poll_interval": 0}, "option poll_interval must be a positive"),
    ({"access_token": TOKEN}, {"visibility": "public"}, "unknown option(s) visibility"),
])
def test_unusable_channels_are_config_errors(credentials, options, words):
    ch = gm.Channel(platform="x", account=ACCOUNT, credentials=credentials, options=options)
    with pytest.raises(gm.ConfigError) as info:
        gm.Client().check(POST, ch)
    assert words in str(info.value)
    assert TOKEN not in str(info.value) and SECRET not in str(info.value)


# --------------------------------------------------------------------------- publish: text


def test_publish_text_only(respx_mock, client):
    create = respx_mock.post(f"{BASE}/2/tweets").mock(return_value=created())
    receipt = client.publish(POST, channel(refresh=False))
    request = create.calls.last.request
    assert json.loads(request.content) == {"text": "央企招聘季开始了\n\n#微招聘"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert (receipt.remote_id, receipt.state) == (TWEET_ID, "published")
    assert receipt.url == f"https://x.com/i/web/status/{TWEET_ID}"
    assert receipt.raw == {"id": TWEET_ID, "text": "央企招聘季开始了"}


def test_reply_settings_option_is_sent(respx_mock, client):
    create = respx_mock.post(f"{BASE}/2/tweets").mock(return_value=created())
    client.publish(POST, channel(reply_settings="following"))
    assert json.loads(create.calls.last.request.content)["reply_settings"] == "following"


def test_the_create_is_the_point_of_no_return_and_never_marked_safe():
    flow = XPlatform().publish(POST, channel(), "gm-key")
    request = next(flow)
    assert request.url == f"{BASE}/2/tweets"
    assert creates_something(request) and not is_retry_safe(request)
    assert b"gm-key" not in request.content  # X takes no idempotency key


# --------------------------------------------------------------------------- publish: media


def upload_routes(respx_mock, *, finalize=None, statuses=(), append=None):
    return {
        "init": respx_mock.post(f"{BASE}/2/media/upload/initialize").mock(return_value=initialized()),
        "append": respx_mock.post(f"{BASE}/2/media/upload/{MEDIA_ID}/append").mock(
            side_effect=append or (lambda request: httpx.Response(204))),
        "finalize": respx_mock.post(f"{BASE}/2/media/upload/{MEDIA_ID}/finalize").mock(
            return_value=finalize or finalized()),
        "status": respx_mock.get(f"{BASE}/2/media/upload").mock(side_effect=list(statuses)),
        "create": respx_mock.post(f"{BASE}/2/tweets").mock(return_value=created()),
    }


def test_an_image_goes_up_init_append_finalize_then_the_post(respx_mock, client):
    routes = upload_routes(respx_mock)
    post = gm.Post(text="图表", media=(gm.Media.from_bytes(PNG, filename="chart.png", alt="招聘人数"),))
    receipt = client.publish(post, channel())
    assert json.loads(routes["init"].calls.last.request.content) == {
        "media_type": "image/png", "total_bytes": len(PNG), "media_category": "tweet_image"}
    fields, data = form_of(routes["append"].calls.last.request)
    assert fields == {"segment_index": "0"} and data == PNG
    assert routes["finalize"].called and not routes["status"].called  # an image has no processing_info
    assert json.loads(routes["create"].calls.last.request.content) == {
        "text": "图表", "media": {"media_ids": [MEDIA_ID]}}
    assert receipt.remote_id == TWEET_ID
    for route in ("init", "append", "finalize"):
        assert routes[route].calls.last.request.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_file_is_streamed_from_disk_in_parts_with_progress(tmp_path):
    path = tmp_path / "clip.mp4"
    data = MP4 + bytes(range(256)) * 1200  # 307,520 bytes: five parts of 64 KiB
    path.write_bytes(data)
    post = gm.Post(text="视频", media=(gm.Media.from_path(path),))
    flow = XPlatform().publish(post, channel(part_size=64 * 1024), "k")
    sent = []

    def answer(request):
        if request.url.path.endswith("/append"):
            fields, chunk = form_of(request)
            sent.append((int(fields["segment_index"]), chunk))
            return httpx.Response(204, request=request)
        if request.url.path.endswith("/initialize"):
            return initialized(key_prefix="7")
        if request.url.path.endswith("/finalize"):
            return finalized(key_prefix="7")
        return created()

    receipt, steps = drive(flow, answer)
    assert [i for i, _ in sent] == [0, 1, 2, 3, 4]
    assert all(len(chunk) <= 64 * 1024 for _, chunk in sent)
    assert b"".join(chunk for _, chunk in sent) == data
    assert [s.sent for s in steps if isinstance(s, Uploaded)] == [65536, 131072, 196608, 262144, len(data)]
    assert {s.total for s in steps if isinstance(s, Uploaded)} == {len(data)}
    init = next(r for r in requests_of(steps) if r.url.path.endswith("initialize"))
    assert json.loads(init.content)["media_category"] == "tweet_video"
    assert receipt.remote_id == TWEET_ID


def test_uploads_are_resent_freely_and_marked_before_the_point_of_no_return():
    post = gm.Post(text="图", media=(image(),))
    flow = XPlatform().publish(post, channel(), "k")
    _, steps = drive(flow, lambda r: (
        initialized() if r.url.path.endswith("initialize") else
        httpx.Response(204) if r.url.path.endswith("append") else
        finalized() if r.url.path.endswith("finalize") else created()))
    init, append, finalize, create = requests_of(steps)
    for request in (init, append, finalize):
        assert is_retry_safe(request) and not creates_something(request)
    assert creates_something(create) and not is_retry_safe(create)
    saved = [s for s in steps if isinstance(s, Checkpoint) and s.save]
    assert [s.stage for s in saved] == ["uploading", "processing", "uploaded"]
    assert saved[0].data["upload_0"]["media_id"] == MEDIA_ID and saved[-1].data["upload_0"]["done"]
    assert [s.stage for s in steps if isinstance(s, Checkpoint) and not s.save] == ["creating", "created"]


def test_a_part_answered_with_a_5xx_is_resent_alone(respx_mock, client):
    answers = iter([problem(503, "Service Unavailable", "Service Unavailable"), httpx.Response(204)])
    routes = upload_routes(respx_mock, append=lambda request: next(answers))
    client.publish(gm.Post(text="图", media=(image(),)), channel())
    assert routes["init"].call_count == 1 and routes["append"].call_count == 2
    assert routes["create"].call_count == 1


def test_an_append_answered_200_with_an_empty_body_is_fine(respx_mock, client):
    routes = upload_routes(respx_mock, append=lambda request: httpx.Response(200))
    client.publish(gm.Post(text="图", media=(image(),)), channel())
    assert routes["create"].called


def test_video_processing_is_polled_until_succeeded_honouring_check_after_secs():
    post = gm.Post(text="视频", media=(image("v.mp4", MP4),))
    answers = {
        "initialize": [initialized(key_prefix="7")],
        "append": [httpx.Response(204)],
        "finalize": [finalized(key_prefix="7", processing={"state": "pending", "check_after_secs": 3})],
        "upload": [status("in_progress", check_after_secs=1, progress_percent=40),
                   status("succeeded", progress_percent=100)],
        "tweets": [created()],
    }
    flow = XPlatform().publish(post, channel(poll_interval=2), "k")
    receipt, steps = drive(flow, lambda r: answers[r.url.path.rsplit("/", 1)[-1]].pop(0))
    assert [s.seconds for s in steps if isinstance(s, Sleep)] == [3, 2]  # the longer of the two
    polls = [r for r in requests_of(steps) if r.method == "GET"]
    assert [dict(r.url.params) for r in polls] == [{"command": "STATUS", "media_id": MEDIA_ID}] * 2
    assert receipt.remote_id == TWEET_ID


def test_failed_processing_is_content_rejected_and_nothing_is_posted(respx_mock, client):
    error = {"code": 1, "name": "InvalidMedia", "message": "Unsupported video format"}
    routes = upload_routes(respx_mock, finalize=finalized(processing={"state": "pending", "check_after_secs": 0}),
                           statuses=[status("failed", error=error, progress_percent=100)])
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(gm.Post(text="视频", media=(image("v.mp4", MP4),)), channel(poll_interval=0.001))
    assert "media 1 (v.mp4): X could not process it: Unsupported video format" in str(info.value)
    assert info.value.code == "media_failed" and not routes["create"].called


def test_processing_longer_than_poll_timeout_posts_nothing():
    post = gm.Post(text="视频", media=(image("v.mp4", MP4),))
    flow = XPlatform().publish(post, channel(poll_timeout=2, poll_interval=1), "k")
    answers = {
        "initialize": initialized, "append": lambda: httpx.Response(204),
        "finalize": lambda: finalized(processing={"state": "pending", "check_after_secs": 1}),
        "upload": lambda: status("in_progress", check_after_secs=1, progress_percent=50),
    }
    with pytest.raises(gm.TransientError) as info:
        drive(flow, lambda r: answers[r.url.path.rsplit("/", 1)[-1]]())
    assert info.value.code == "media_processing"
    assert "Nothing was posted" in str(info.value) and "poll_timeout" in str(info.value)


def test_url_media_is_fetched_without_the_token(respx_mock, client):
    cdn = respx_mock.get("https://cdn.example/chart.png").mock(return_value=httpx.Response(200, content=PNG))
    routes = upload_routes(respx_mock)
    client.publish(gm.Post(text="图", media=(gm.Media.from_url("https://cdn.example/chart.png"),)), channel())
    assert "authorization" not in cdn.calls.last.request.headers
    assert form_of(routes["append"].calls.last.request)[1] == PNG


# --------------------------------------------------------------------------- the create, sent once


@pytest.mark.parametrize("failure", [
    httpx.ReadTimeout("lost"),
    problem(503, "Service Unavailable", "Service Unavailable"),
    httpx.Response(502, text="<html><body>502 Bad Gateway</body></html>",
                   headers={"Content-Type": "text/html"}),
    httpx.Response(201, content=b'{"data": {"id": "14458805'),  # applied, the answer cut short
])
def test_a_create_that_may_have_been_applied_is_unknown_and_never_resent(respx_mock, client, failure):
    routes = upload_routes(respx_mock)
    routes["create"].mock(side_effect=[failure, created()])
    with pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(gm.Post(text="图", media=(image(),)), channel())
    assert routes["create"].call_count == 1
    assert info.value.known["media_ids"] == [MEDIA_ID]
    assert "no idempotency key" in str(info.value)


def test_a_create_refused_as_duplicate_is_content_rejected(respx_mock, client):
    route = respx_mock.post(f"{BASE}/2/tweets").mock(return_value=problem(
        403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."))
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(POST, channel())
    assert route.call_count == 1 and "identical" in str(info.value)


# --------------------------------------------------------------------------- rate limits


def test_a_429_with_a_near_reset_is_waited_out_and_the_create_sent_again(respx_mock, client):
    route = respx_mock.post(f"{BASE}/2/tweets").mock(side_effect=[rate_limited(5), created()])
    assert client.publish(POST, channel()).remote_id == TWEET_ID
    assert route.call_count == 2  # a 429 is a refusal: nothing was created


def test_a_far_reset_raises_rate_limited_at_once_with_the_wait(respx_mock, client):
    route = respx_mock.post(f"{BASE}/2/tweets").mock(return_value=rate_limited(900))
    with pytest.raises(gm.RateLimited) as info:
        client.publish(POST, channel())
    assert route.call_count == 1
    assert 890 <= info.value.retry_after <= 900 and not info.value.quota


def test_a_spent_24_hour_cap_is_waited_for_not_the_window(respx_mock, client):
    """x-user-limit-24hour-* are undocumented on the sheet (unverified)."""
    day = str(int(time.time() + 20_000))
    respx_mock.post(f"{BASE}/2/tweets").mock(return_value=rate_limited(
        5, **{"x-user-limit-24hour-limit": "100", "x-user-limit-24hour-remaining": "0",
              "x-user-limit-24hour-reset": day}))
    with pytest.raises(gm.RateLimited) as info:
        client.publish(POST, channel())
    assert info.value.retry_after > 19_000


def test_usage_capped_is_a_quota_raised_at_once(respx_mock, client):
    route = respx_mock.post(f"{BASE}/2/tweets").mock(return_value=problem(
        429, "UsageCapExceeded", "Usage cap exceeded: Monthly product cap", "usage-capped"))
    with pytest.raises(gm.RateLimited) as info:
        client.publish(POST, channel())
    assert route.call_count == 1 and info.value.quota and info.value.code == "usage-capped"
    assert "plan" in str(info.value)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("response", "kind", "code", "words"), [
    (problem(403, "Client Forbidden", "When authenticating requests to the Twitter API v2 endpoints, "
             "you must use keys and tokens from a Twitter developer App that is attached to a Project.",
             "client-forbidden", reason="client-not-enrolled"),
     gm.PlatformError, "client-forbidden", "Project"),
    (problem(403, "Forbidden", "You are not permitted to perform this action."),
     gm.PlatformError, 403, "Read and Write permission"),
    (problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
             "invalid-request", errors=[{"parameters": {"media.media_ids": ["1"]},
                                         "message": "Your media IDs are invalid."}]),
     gm.ContentRejected, "invalid-request", "Your media IDs are invalid"),
    (problem(404, "Not Found Error", "Could not find tweet with id: [1].", "resource-not-found"),
     gm.PlatformError, "resource-not-found", "deleted already"),
    (problem(422, "Unprocessable Entity", "Something new", "a-problem-x-added-later"),
     gm.ContentRejected, 422, "a-problem-x-added-later"),
])
def test_error_answers(respx_mock, client, response, kind, code, words):
    respx_mock.post(f"{BASE}/2/tweets").mock(return_value=response)
    with pytest.raises(kind) as info:
        client.publish(POST, channel())
    assert type(info.value) is kind and info.value.code == code
    assert words in str(info.value)


def test_v1_code_88_is_a_rate_limit():
    platform = XPlatform()
    request = httpx.Request("GET", f"{BASE}/2/media/upload")
    response = httpx.Response(429, json={"errors": [{"code": 88, "message": "Rate limit exceeded"}]},
                              request=request)
    error = platform.classify(response, channel())
    assert isinstance(error, gm.RateLimited) and error.code == 88


def test_too_long_as_x_words_it_names_the_length_rule():
    table = XPlatform.errors
    entry = table.entry("invalid-request", 400, "One or more parameters...; Tweet text is too long")
    assert entry.rule == "x.text.max_length"


# --------------------------------------------------------------------------- tokens


def test_a_refused_token_is_refreshed_once_with_basic_auth_and_the_create_resent(respx_mock, client):
    create = respx_mock.post(f"{BASE}/2/tweets").mock(side_effect=[
        problem(401, "Unauthorized", "Unauthorized"), created()])
    refresh = respx_mock.post(f"{BASE}/2/oauth2/token").mock(return_value=token_answer())
    client.publish(POST, channel())
    request = refresh.calls.last.request
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["refresh_token"], "refresh_token": [REFRESH], "client_id": [CLIENT_ID]}
    assert request.headers["authorization"] == "Basic " + base64.b64encode(
        f"{CLIENT_ID}:{SECRET}".encode()).decode()
    assert [c.request.headers["authorization"] for c in create.calls] == [
        f"Bearer {TOKEN}", "Bearer tok-x-access-new-0002"]


def test_a_public_client_refreshes_without_basic_auth(respx_mock, client):
    respx_mock.post(f"{BASE}/2/tweets").mock(side_effect=[problem(401, "Unauthorized", "Unauthorized"),
                                                          created()])
    refresh = respx_mock.post(f"{BASE}/2/oauth2/token").mock(return_value=token_answer())
    client.publish(POST, channel(secret=False))
    assert "authorization" not in refresh.calls.last.request.headers


def test_the_rotated_refresh_token_is_the_one_spent_next(respx_mock, client):
    respx_mock.post(f"{BASE}/2/tweets").mock(side_effect=[
        problem(401, "Unauthorized", "Unauthorized"), created("1"),
        problem(401, "Unauthorized", "Unauthorized"), created("2")])
    refresh = respx_mock.post(f"{BASE}/2/oauth2/token").mock(side_effect=[
        token_answer("tok-x-access-0002", "ref-x-refresh-0002"),
        token_answer("tok-x-access-0003", "ref-x-refresh-0003")])
    ch = channel()
    client.publish(POST, ch)
    client.publish(gm.Post(text="第二条"), ch)
    spent = [parse_qs(c.request.content.decode())["refresh_token"] for c in refresh.calls]
    assert spent == [[REFRESH], ["ref-x-refresh-0002"]]


@pytest.mark.parametrize("answer", [
    httpx.Response(400, json={"error": "invalid_grant", "error_description": "Value passed for the token was invalid."}),
    httpx.Response(400, json={"error": "invalid_request", "error_description": "Value passed for the token was invalid."}),
    httpx.Response(400, json={"error": "invalid_scope", "error_description": "The scope is invalid."}),
    httpx.Response(401, json={"error": "unauthorized_client", "error_description": "Missing valid authorization header"}),
])
def test_a_refused_refresh_token_asks_for_a_new_authorisation(respx_mock, client, answer):
    create = respx_mock.post(f"{BASE}/2/tweets").mock(return_value=problem(401, "Unauthorized", "Unauthorized"))
    respx_mock.post(f"{BASE}/2/oauth2/token").mock(return_value=answer)
    with pytest.raises(gm.AuthError) as info:
        client.publish(POST, channel())
    assert "authorise the account again in the browser" in str(info.value)
    assert create.call_count == 1 and REFRESH not in str(info.value)


def test_without_a_refresh_token_a_refused_token_is_an_auth_error(respx_mock, client):
    respx_mock.post(f"{BASE}/2/tweets").mock(return_value=problem(401, "Unauthorized", "Unauthorized"))
    with pytest.raises(gm.AuthError) as info:
        client.publish(POST, channel(refresh=False))
    assert "refresh_token and client_id" in str(info.value)


def test_a_token_answer_without_an_access_token_is_an_auth_error():
    request = httpx.Request("POST", f"{BASE}/2/oauth2/token")
    with pytest.raises(gm.AuthError):
        XPlatform().token_from(httpx.Response(200, json={"token_type": "bearer"}, request=request),
                               channel(), previous=None)
    token = XPlatform().token_from(httpx.Response(200, json={"access_token": "tok-x-a-1234567"},
                                                 request=request), channel(),
                                   previous=gm.platforms.Token(value=TOKEN, refresh_token=REFRESH))
    assert (token.expires_in, token.refresh_token) == (7200.0, REFRESH)  # 2 h when not said


def test_two_concurrent_callers_spend_a_single_use_refresh_token_once():
    """Both deliveries of one channel meet the refused token; one refresh, both posts."""
    spent, lock = [], threading.Lock()

    def handler(request):
        if request.url.path == "/2/oauth2/token":
            refresh = parse_qs(request.content.decode())["refresh_token"][0]
            with lock:
                if refresh in spent:
                    return httpx.Response(400, json={"error": "invalid_grant",
                                                     "error_description": "Value passed for the token was invalid."})
                spent.append(refresh)
            return token_answer()
        if request.headers["authorization"] == f"Bearer {TOKEN}":
            return problem(401, "Unauthorized", "Unauthorized")
        body = json.loads(request.content)
        return created(str(abs(hash(body["text"])) % 10**18))

    ch = channel()

    async def main():
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with gm.AsyncClient(http=http, retry=gm.RetryPolicy.testing()) as client:
            async with anyio.create_task_group() as tg:
                for text in ("第一条", "第二条"):
                    tg.start_soon(client.publish, gm.Post(text=text), ch)
        await http.aclose()

    anyio.run(main)
    assert spent == [REFRESH]


# --------------------------------------------------------------------------- delete, metrics


def test_delete_and_delete_of_a_gone_post(respx_mock, client):
    route = respx_mock.delete(f"{BASE}/2/tweets/{TWEET_ID}").mock(side_effect=[
        httpx.Response(200, json={"data": {"deleted": True}}),
        problem(404, "Not Found Error", f"Could not find tweet with id: [{TWEET_ID}].", "resource-not-found")])
    receipt = gm.Receipt(channel=channel(), remote_id=TWEET_ID)
    client.delete(receipt)
    client.delete(receipt)  # gone already: fine
    assert route.call_count == 2


def test_a_delete_answered_deleted_false_is_an_error(respx_mock, client):
    respx_mock.delete(f"{BASE}/2/tweets/{TWEET_ID}").mock(
        return_value=httpx.Response(200, json={"data": {"deleted": False}}))
    with pytest.raises(gm.PlatformError, match="may still be there"):
        client.delete(gm.Receipt(channel=channel(), remote_id=TWEET_ID))


def test_metrics_from_public_metrics(respx_mock, client):
    """public_metrics' field names are X's documented ones, not on the sheet (unverified)."""
    route = respx_mock.get(f"{BASE}/2/tweets/{TWEET_ID}").mock(return_value=httpx.Response(200, json={
        "data": {"id": TWEET_ID, "text": "央企招聘季开始了", "edit_history_tweet_ids": [TWEET_ID],
                 "public_metrics": {"retweet_count": 35, "reply_count": 8, "like_count": 120,
                                    "quote_count": 3, "bookmark_count": 2, "impression_count": 5400}}}))
    metrics = client.metrics(gm.Receipt(channel=channel(), remote_id=TWEET_ID))
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (5400, 120, 35, 8)
    assert metrics.raw["public_metrics"]["quote_count"] == 3
    assert dict(route.calls.last.request.url.params) == {"tweet.fields": "public_metrics"}


def test_metrics_missing_counts_are_none_and_a_gone_post_is_an_error(respx_mock, client):
    respx_mock.get(f"{BASE}/2/tweets/{TWEET_ID}").mock(side_effect=[
        httpx.Response(200, json={"data": {"id": TWEET_ID, "text": "x", "public_metrics": {"like_count": 1}}}),
        httpx.Response(200, json={"errors": [{"value": TWEET_ID, "detail": f"Could not find tweet with id: "
                                              f"[{TWEET_ID}].", "title": "Not Found Error",
                                              "type": "https://api.twitter.com/2/problems/resource-not-found"}]}),
    ])
    receipt = gm.Receipt(channel=channel(), remote_id=TWEET_ID)
    metrics = client.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, 1, None, None)
    with pytest.raises(gm.PlatformError) as info:
        client.metrics(receipt)
    assert info.value.code == "resource-not-found"


# --------------------------------------------------------------------------- repost


def test_repost_finds_the_user_then_retweets_once(respx_mock, client):
    """That an OAuth 2.0 user token may manage reposts is unverified (some docs say OAuth 1.0a)."""
    me = respx_mock.get(f"{BASE}/2/users/me").mock(return_value=httpx.Response(200, json={
        "data": {"id": USER_ID, "name": "国资小新", "username": "sasac_member"}}))
    retweet = respx_mock.post(f"{BASE}/2/users/{USER_ID}/retweets").mock(
        return_value=httpx.Response(200, json={"data": {"retweeted": True}}))
    hub = gm.Receipt(channel=channel("@hub"), remote_id=TWEET_ID)
    platform = XPlatform()
    assert platform.can_repost(hub, channel("@member"))
    receipt = client._drive(client._pipeline.run_flow(platform, channel("@member"),
                                                      platform.repost(hub, channel("@member"), "k")))
    assert me.called and json.loads(retweet.calls.last.request.content) == {"tweet_id": TWEET_ID}
    assert not is_retry_safe(retweet.calls.last.request)
    assert (receipt.remote_id, receipt.url) == (f"retweet:{TWEET_ID}",
                                                f"https://x.com/i/web/status/{TWEET_ID}")
    assert receipt.raw["user_id"] == USER_ID
    assert client.metrics(receipt).likes is None  # a repost has no counts of its own


def test_can_repost_only_an_x_post_on_the_same_api_and_not_a_repost():
    platform = XPlatform()
    hub = gm.Receipt(channel=channel("@hub"), remote_id=TWEET_ID)
    assert not platform.can_repost(hub, channel("@m", base_url="https://x.sandbox.example"))
    assert not platform.can_repost(gm.Receipt(channel=channel("@hub"), remote_id=f"retweet:{TWEET_ID}"),
                                   channel("@m"))
    mastodon = gm.Channel(platform="mastodon", account="a@b.example", credentials={"access_token": "t"},
                          options={"base_url": "https://b.example"})
    assert not platform.can_repost(gm.Receipt(channel=mastodon, remote_id="1"), channel("@m"))


def test_undoing_a_repost_uses_the_saved_user_id(respx_mock, client):
    undo = respx_mock.delete(f"{BASE}/2/users/{USER_ID}/retweets/{TWEET_ID}").mock(
        return_value=httpx.Response(200, json={"data": {"retweeted": False}}))
    client.delete(gm.Receipt(channel=channel(), remote_id=f"retweet:{TWEET_ID}", raw={"user_id": USER_ID}))
    assert undo.called


# --------------------------------------------------------------------------- recover


def recover(doubt):
    platform = XPlatform()
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy.testing()) as client:
        return client._drive(client._pipeline.run_flow(
            platform, channel(), platform.recover(POST, channel(), "k", doubt)))


def test_recover_with_the_post_id_known_gives_its_receipt_without_asking(respx_mock):
    receipt = recover(Doubt(state="sending", stage="created", data={"tweet_id": TWEET_ID}))
    assert (receipt.remote_id, receipt.state) == (TWEET_ID, "published")
    assert not respx_mock.calls


def test_recover_without_an_id_stays_unknown_and_sends_nothing(respx_mock):
    with pytest.raises(gm.DeliveryUnknown) as info:
        recover(Doubt(state="unknown", stage="claimed", data={"media_ids": [MEDIA_ID]}))
    assert info.value.known == {"media_ids": [MEDIA_ID]}
    assert "look at the account's posts" in str(info.value) and not respx_mock.calls
    with pytest.raises(gm.DeliveryUnknown, match="reposted post"):
        recover(Doubt(state="unknown", stage="reposting", data={"repost_of": TWEET_ID}))


# --------------------------------------------------------------------------- against FakeX


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["x"])


@pytest.fixture
def fake(sandbox) -> FakeX:
    fake = sandbox["x"]
    fake.check_after_secs = 0
    return fake


def run(sandbox, action, *args):
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        return getattr(client, action)(*args)


def test_publish_with_a_video_through_the_fake(sandbox, fake, tmp_path):
    fake.processing_polls = 2
    path = tmp_path / "clip.mp4"
    path.write_bytes(MP4 + bytes(200_000))
    ch = fake.channel("@sasac", part_size=64 * 1024, poll_interval=0.001)
    receipt = run(sandbox, "publish", gm.Post(text="中老铁路开通一周年", media=(gm.Media.from_path(path),)), ch)
    [post] = fake.posts("@sasac")
    assert post["id"] == receipt.remote_id and post["attachments"]["media_keys"][0].startswith("7_")
    assert len(fake.requests(r"/append$")) == 4 and len(fake.requests(r"^/2/media/upload$")) == 3


def test_a_lost_answer_to_the_create_leaves_one_post_and_a_rerun_sends_nothing(sandbox, fake, tmp_path):
    ch = fake.channel("@sasac")
    post = gm.Post(text="一带一路看国企", media=(image(),))
    fake.inject("timeout_after", path=fake.create_path)
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(post, [ch])
        second = client.fan_out(post, [ch])
    assert first.deliveries[0].state == "unknown"
    assert first.deliveries[0].error.known["media_ids"] == [fake.posts()[0]["attachments"]["media_keys"][0][2:]]
    assert second.deliveries[0].state == "unknown"
    assert "not sent again" in str(second.deliveries[0].error)
    assert len(fake.requests(fake.create_path)) == 1 and len(fake.posts("@sasac")) == 1


def test_a_rerun_after_the_create_answered_finishes_without_a_second_create(sandbox, fake, tmp_path):
    """The process died after X answered but before the journal said published: the
    recorded post id settles it (the journal row is set as such a crash leaves it)."""
    ch = fake.channel("@sasac")
    post = gm.Post(text="一带一路看国企")
    fake.inject("timeout_after", path=fake.create_path)
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        assert client.fan_out(post, [ch]).deliveries[0].state == "unknown"
    [live] = fake.posts("@sasac")
    db = sqlite3.connect(journal)
    db.execute("UPDATE deliveries SET state='sending', stage='created', progress=?",
               (json.dumps({"tweet_id": live["id"]}),))
    db.commit()
    db.close()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(post, [ch])
    assert report.deliveries[0].state == "published"
    assert report.deliveries[0].receipt.remote_id == live["id"]
    assert len(fake.requests(fake.create_path)) == 1


def test_an_upload_cut_by_a_crash_is_resumed_by_the_next_run(sandbox, fake, tmp_path):
    path = tmp_path / "clip.mp4"
    data = MP4 + bytes(range(256)) * 800  # 205,138 bytes: four parts of 64 KiB
    path.write_bytes(data)
    ch = fake.channel("@sasac", part_size=64 * 1024, poll_interval=0.001)
    post = gm.Post(text="视频", media=(gm.Media.from_path(path),))

    class Crash(BaseException):
        pass

    def dying(request):
        if request.url.path.endswith("/append") and b'name="segment_index"\r\n\r\n2' in request.read():
            raise Crash  # the process dies while sending the third part
        return sandbox(request)

    journal = tmp_path / "j.db"
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(dying)), journal=journal,
                   retry=gm.RetryPolicy.testing()) as client, pytest.raises(Crash):
        client.fan_out(post, [ch])
    assert len(fake.requests(r"/append$")) == 2
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(post, [ch])
    assert report.deliveries[0].state == "published"
    assert len(fake.requests(r"/initialize$")) == 1  # the same session, resumed
    assert len(fake.requests(r"/append$")) == 4  # parts 0-1, then 2-3
    [media] = fake.media.values()
    assert sorted(media.segments) == [0, 1, 2, 3] and sum(media.segments.values()) == len(data)
    assert len(fake.posts("@sasac")) == 1


def test_a_crash_while_x_processes_the_video_is_resumed_by_polling_it(sandbox, fake, tmp_path):
    fake.processing_polls = 3
    path = tmp_path / "clip.mp4"
    path.write_bytes(MP4 + bytes(70_000))
    ch = fake.channel("@sasac", part_size=64 * 1024, poll_interval=0.001)
    post = gm.Post(text="视频", media=(gm.Media.from_path(path),))

    class Crash(BaseException):
        pass

    def dying(request):
        if request.method == "GET" and len(fake.requests(r"^/2/media/upload$")) == 1:
            raise Crash  # the process dies during the second STATUS poll
        return sandbox(request)

    journal = tmp_path / "j.db"
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(dying)), journal=journal,
                   retry=gm.RetryPolicy.testing()) as client, pytest.raises(Crash):
        client.fan_out(post, [ch])
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        assert client.fan_out(post, [ch]).deliveries[0].state == "published"
    assert [len(fake.requests(p)) for p in (r"/initialize$", r"/append$", r"/finalize$")] == [1, 2, 1]
    assert len(fake.posts("@sasac")) == 1


def test_an_expired_saved_session_is_not_resumed(sandbox, fake, tmp_path):
    ch = fake.channel("@sasac")
    post = gm.Post(text="图", media=(image(),))
    flow = XPlatform().publish(post, ch, "k")
    assert isinstance(next(flow), Recall)
    old = {"upload_0": {"media_id": "1", "size": len(PNG), "part": 4 * 1024 * 1024, "sent": 0,
                        "expires_at": time.time() + 60, "done": False, "source": fingerprint(PNG)}}
    request = flow.send(old)
    assert request.url.path.endswith("/2/media/upload/initialize")  # a fresh session


def fingerprint(data):
    import hashlib

    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_saved_session_of_another_file_of_the_same_size_is_not_resumed():
    other = b"\x89PNG\r\n\x1a\n" + b"\1" * (len(PNG) - 8)
    saved = {"upload_0": {"media_id": "1", "size": len(PNG), "part": 4 * 1024 * 1024, "sent": 0,
                          "expires_at": time.time() + 80_000, "done": False, "source": fingerprint(other)}}
    flow = XPlatform().publish(gm.Post(text="图", media=(image(),)), channel(), "k")
    next(flow)
    assert flow.send(saved).url.path.endswith("/initialize")
    saved["upload_0"]["source"] = fingerprint(PNG)
    flow = XPlatform().publish(gm.Post(text="图", media=(image(),)), channel(), "k")
    next(flow)
    assert flow.send(saved).url.path == "/2/media/upload/1/append"  # the same file: resumed


def test_a_finished_upload_saved_by_an_earlier_run_is_checked_then_attached(sandbox, fake, tmp_path):
    ch = fake.channel("@sasac")
    post = gm.Post(text="图", media=(image(),))
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        flow = client._pipeline.run_flow(XPlatform(), ch, _upload_only(post, ch))
        session = client._drive(flow)
    assert session["done"]
    flow = XPlatform().publish(post, ch, "k")
    next(flow)
    status_request = flow.send({"upload_0": session})
    assert status_request.method == "GET" and status_request.url.params["media_id"] == session["media_id"]


def recalling(flow, saved):
    """*flow* with *saved* as what its `Recall` gives back (a journal's saved session)."""
    step = next(flow)
    assert isinstance(step, Recall)
    value, error = saved, None
    while True:
        try:
            step = flow.throw(error) if error is not None else flow.send(value)
        except StopIteration as stop:
            return stop.value
        value, error = None, None
        try:
            value = yield step
        except gm.GovMediaError as exc:
            error = exc


def _upload_only(post, ch):
    platform = XPlatform()
    saved = {}
    flow = platform._upload(post.media[0], 0, ch, platform.opts(ch), {})
    try:
        step = next(flow)
        while True:
            answer = yield step
            if isinstance(step, Checkpoint) and step.save:
                saved.update(step.data)
            step = flow.send(answer)
    except StopIteration:
        return saved["upload_0"]


def test_a_refused_resumed_session_uploads_afresh(sandbox, fake, tmp_path):
    ch = fake.channel("@sasac")
    post = gm.Post(text="图", media=(image(),))
    stale = {"media_id": "999", "size": len(PNG), "part": 4 * 1024 * 1024, "sent": 0,
             "expires_at": time.time() + 86_000, "done": False, "source": fingerprint(PNG)}
    platform = XPlatform()
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = client._drive(client._pipeline.run_flow(
            platform, ch, recalling(platform.publish(post, ch, "k"), {"upload_0": stale})))
    assert receipt.remote_id == fake.posts()[0]["id"]
    assert [r.status for r in fake.requests(r"/append$")] == [404, 204]  # the stale one, then anew


def test_faults_on_the_create_never_make_two_posts(sandbox, fake):
    for kind in ("server_error", "html_error", "timeout_after", "truncated", "busy"):
        ch = fake.channel(f"@{kind}")
        fake.inject(kind, path=fake.create_path)
        with pytest.raises(gm.DeliveryUnknown):
            run(sandbox, "publish", gm.Post(text=f"故障 {kind}"), ch)
        assert len(fake.posts(ch.account)) <= 1
    assert len(fake.requests(fake.create_path)) == 5


def test_an_expired_token_is_refreshed_through_the_fake_and_the_old_refresh_token_dies(sandbox, fake):
    ch = fake.channel("@sasac")
    fake.tokens.expire()
    receipt = run(sandbox, "publish", POST, ch)
    assert fake.posts("@sasac")[0]["id"] == receipt.remote_id
    # a second client starts from the credentials: their refresh token was spent
    fake.tokens.expire()
    with pytest.raises(gm.AuthError) as info:
        run(sandbox, "publish", gm.Post(text="第二条"), ch)
    assert "authorise the account again" in str(info.value)


def test_amplify_the_member_reposts_the_hubs_post(sandbox, fake):
    hub, member = fake.channel("@sasac"), fake.channel("@cnpc")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(gm.Post(text="一带一路看国企"), gm.Matrix(hub=hub, members=[member]),
                                mode="amplify")
        assert report.ok
        original = report.deliveries[0].receipt.remote_id
        [repost] = fake.posts("@cnpc")
        assert repost["retweet_of"] == original
        member_receipt = report.deliveries[1].receipt
        assert member_receipt.remote_id == f"retweet:{original}"
        assert client.metrics(report.deliveries[0].receipt).shares == 1
        client.delete(member_receipt)
    assert fake.posts("@cnpc") == []


def test_a_lost_answer_to_a_repost_stays_unknown_and_is_not_reposted_again(sandbox, fake, tmp_path):
    hub, member = fake.channel("@sasac"), fake.channel("@cnpc")
    matrix = gm.Matrix(hub=hub, members=[member])
    post = gm.Post(text="一带一路看国企")
    fake.inject("timeout_after", path=r"/retweets$")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(post, matrix, mode="amplify")
        second = client.fan_out(post, matrix, mode="amplify")
    assert [d.state for d in first.deliveries] == ["published", "unknown"]
    assert first.deliveries[1].error.known["repost_of"] == first.deliveries[0].receipt.remote_id
    assert [d.state for d in second.deliveries] == ["skipped", "unknown"]
    assert "reposted post" in str(second.deliveries[1].error)
    assert len(fake.requests(r"/retweets$")) == 1 and len(fake.posts("@cnpc")) == 1


def test_delete_and_metrics_through_the_fake(sandbox, fake):
    ch = fake.channel("@sasac")
    receipt = run(sandbox, "publish", POST, ch)
    fake.set_counts(receipt.remote_id, likes=120, retweets=35, replies=8, impressions=5400)
    metrics = run(sandbox, "metrics", receipt)
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (5400, 120, 35, 8)
    run(sandbox, "delete", receipt)
    assert fake.posts() == []
    run(sandbox, "delete", receipt)  # gone already: fine


def test_the_fakes_24_hour_cap_is_raised_at_once(sandbox, fake):
    fake.inject("rate_limit", path=fake.create_path, retry_after=None)
    with pytest.raises(gm.RateLimited) as info:
        run(sandbox, "publish", POST, fake.channel("@sasac"))
    assert info.value.retry_after > 80_000 and fake.posts() == []


@pytest.mark.anyio
async def test_async_publish_with_media_against_the_fake(sandbox, fake):
    ch = fake.channel("@sasac")
    async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = await client.publish(gm.Post(text="异步", media=(image(),)), ch)
    assert fake.posts("@sasac")[0]["id"] == receipt.remote_id

