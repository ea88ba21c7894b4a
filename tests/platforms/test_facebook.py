"""The Facebook platform: message and checks, photos, the chunked video upload, the create
sent once, Page tokens that cannot be refreshed, rate limits, errors, share, delete, counts.

respx tests answer with payloads shaped as shared/platforms/facebook.md shows them
(``{"id": "<page-id>_<post-id>"}``, ``{"id", "post_id"}``, the upload phases'
``upload_session_id``/``video_id``/``start_offset``/``end_offset``, ``{"success": true}``,
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id", "is_transient"}}``,
``X-Business-Use-Case-Usage``); the end-to-end tests at the bottom run through
`gm.Client` against `FakeFacebook`. Facts the sheet marks unverified, or does not
hold at all, and the tests that rely on them, say so.
"""

import json
import logging
import sqlite3
from urllib.parse import parse_qs

import httpx
import pytest

import govmedia as gm
from govmedia.platforms.facebook import FacebookPlatform, message_of, post_url
from govmedia.platforms.steps import (
    Checkpoint,
    Doubt,
    Recall,
    Uploaded,
    creates_something,
    is_retry_safe,
)
from govmedia.testing import Sandbox, parse_multipart
from govmedia.testing.facebook import FakeFacebook
from govmedia.testing.samples import CHART_PNG, CLIP_MP4

PAGE = "104123456789012"
OTHER_PAGE = "104987654321098"
TOKEN = "EAAGpage-token-5b1f0c3e77aa01"
GRAPH = "https://graph.facebook.com/v24.0"
VIDEO = "https://graph-video.facebook.com/v24.0"
POST_ID = f"{PAGE}_778899001122"
PHOTO_ID = "1203948576123"
VIDEO_ID = "998877665544"
SESSION = "2918273645"
ACCOUNT = "sasac-page"
POST = gm.Post(text="央企招聘季开始了", tags=("微招聘",))


def channel(account=ACCOUNT, page=PAGE, **options):
    return gm.Channel(platform="facebook", account=account,
                      credentials={"page_access_token": TOKEN},
                      options={"page_id": page, **options})


def graph_error(code, message, *, status=400, subcode=None, transient=None, user_msg=None,
                headers=None):
    """The sheet's error body: {"error": {"message", "type", "code", "error_subcode", ...}}."""
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    if transient is not None:
        error["is_transient"] = transient
    if user_msg:
        error.update(error_user_title="Error", error_user_msg=user_msg)
    return httpx.Response(status, json={"error": error}, headers=headers)


def usage(minutes, page=PAGE):
    """X-Business-Use-Case-Usage with estimated_time_to_regain_access in minutes (sheet)."""
    return {"X-Business-Use-Case-Usage": json.dumps({page: [{
        "type": "pages", "call_count": 100, "total_cputime": 40, "total_time": 52,
        "estimated_time_to_regain_access": minutes}]})}


def created(post_id=POST_ID):
    """POST /{page-id}/feed -> {"id": "<page-id>_<post-id>"}."""
    return httpx.Response(200, json={"id": post_id})


def form(request):
    return {k: v[0] for k, v in parse_qs(request.content.decode(), keep_blank_values=True).items()}


@pytest.fixture
def client():
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy.testing(), journal=False) as c:
        yield c


def drive(flow, answer, saved=None):
    """Run a sans-I/O flow by hand: *answer(step)* gives each request's response."""
    steps, value = [], None
    try:
        while True:
            step = flow.send(value)
            steps.append(step)
            if isinstance(step, httpx.Request):
                step.read()
                value = answer(step)
                value.request = step
            elif isinstance(step, Recall):
                value = dict(saved or {})
            else:
                value = None
    except StopIteration as stop:
        return stop.value, steps


def requests_of(steps):
    return [s for s in steps if isinstance(s, httpx.Request)]


def classify(response, url=f"{GRAPH}/{PAGE}/feed"):
    response.request = httpx.Request("POST", url)
    return FacebookPlatform().classify(response, channel())


# --------------------------------------------------------------------------- description


def test_registered_with_its_capabilities():
    cls = gm.platforms.get("facebook")
    assert cls is FacebookPlatform
    caps = cls.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.refresh, caps.reconcile) == (
        True, True, True, False, False, False)
    assert caps.text_max == 63_206  # the often-quoted limit (sheet: unverified)
    assert set(caps.media_kinds) == {"image", "video"}
    assert cls.credential_keys == ("page_access_token",) and cls.optional_credential_keys == ()
    assert cls.required_options == ("page_id",)
    assert {"page_id", "graph_version"} <= set(cls.option_keys)
    assert cls.tag_style == "hash"


def test_the_tag_style_moved_out_of_the_transitional_table():
    from govmedia.content import counting, hashtags

    assert "facebook" not in hashtags._UNBUILT
    assert hashtags.style_for("facebook") == "hash"
    assert not [r for r in counting.RULES if r.platform == "facebook"]


# --------------------------------------------------------------------------- message and checks


def test_tags_are_added_once_as_hashtags():
    post = gm.Post(text="招聘季开始了 #央企", tags=("央企", "一带一路看国企", "Belt and Road", "#beltandroad"))
    assert message_of(post) == "招聘季开始了 #央企\n\n#一带一路看国企 #BeltAndRoad"


def test_an_all_digit_tag_is_left_out_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        assert message_of(gm.Post(text="国庆", tags=("2019",))) == "国庆"
    assert "2019" in caplog.text


def test_with_media_the_link_goes_into_the_message_once():
    image = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    link = "https://example.org/a/1"
    assert message_of(gm.Post(text="中老铁路", link=link, media=(image,))) == f"中老铁路\n\n{link}"
    assert message_of(gm.Post(text=f"中老铁路 {link}", link=link, media=(image,))) == f"中老铁路 {link}"
    assert message_of(gm.Post(text="中老铁路", link=link)) == "中老铁路"  # sent as `link` instead


def test_checks_each_rule_with_its_id(tmp_path):
    big = tmp_path / "big.png"
    with big.open("wb") as f:
        f.write(CHART_PNG)
        f.truncate(10 * 1024 * 1024 + 1)  # over the often-quoted 10 MB (sheet: unverified)
    image = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    clip = gm.Media.from_bytes(CLIP_MP4, filename="clip.mp4")
    pdf = gm.Media.from_bytes(b"%PDF-1.7\n", filename="report.pdf")
    cases = {
        "facebook.text.max_length": gm.Post(text="国" * 63_207),
        "facebook.post.not_empty": gm.Post(body="![客货运量](chart.png)", tags=("2019",)),
        "facebook.media.kind": gm.Post(text="报告", media=(pdf,)),
        "facebook.media.one_video": gm.Post(text="视频", media=(clip, image)),
        "facebook.photo.max_size": gm.Post(text="大图", media=(gm.Media.from_path(big),)),
    }
    for rule, post in cases.items():
        problems = gm.Client().check(post, channel())
        assert rule in [p.rule for p in problems], (rule, problems)
    ok = (gm.Post(text="国" * 63_206), gm.Post(body="---", link="https://example.org/a/1"),
          gm.Post(media=(image, image)), gm.Post(title="视频", media=(clip,)))
    for post in ok:
        assert gm.Client().check(post, channel()) == []


def test_tags_count_toward_the_length():
    post = gm.Post(text="国" * 63_200, tags=("一带一路看国企",))
    [problem] = gm.Client().check(post, channel())
    assert problem.rule == "facebook.text.max_length" and "63206" in problem.message.replace(",", "")


@pytest.mark.parametrize(("credentials", "options", "words"), [
    ({"page_access_token": TOKEN}, {}, "missing option(s) page_id"),
    ({"page_access_token": TOKEN}, {"page_id": "sasac"}, "option page_id must be the Page's numeric id"),
    ({"page_access_token": TOKEN}, {"page_id": PAGE, "graph_version": "latest"},
     "option graph_version must be a Graph API version"),
    ({"access_token": TOKEN}, {"page_id": PAGE}, "missing credential(s) page_access_token"),
    ({"page_access_token": TOKEN, "refresh_token": "r"}, {"page_id": PAGE},
     "unknown credential(s) refresh_token"),
    ({"page_access_token": TOKEN}, {"page_id": PAGE, "chat_id": "1"}, "unknown option(s) chat_id"),
])
def test_unusable_channels_are_config_errors(credentials, options, words):
    bad = gm.Channel(platform="facebook", account=ACCOUNT, credentials=credentials, options=options)
    with pytest.raises(gm.ConfigError) as info:
        gm.Client().check(POST, bad)
    assert words in str(info.value)


# --------------------------------------------------------------------------- text and link posts


def test_publish_a_text_post(respx_mock, client):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=created())
    receipt = client.publish(POST, channel())
    request = create.calls.last.request
    assert form(request) == {"message": "央企招聘季开始了\n\n#微招聘"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(request.url)
    assert (receipt.remote_id, receipt.state) == (POST_ID, "published")
    assert receipt.url == f"https://www.facebook.com/{PAGE}/posts/778899001122"  # address unverified


def test_a_link_post_sends_link_and_a_pinned_version(respx_mock, client):
    create = respx_mock.post("https://graph.facebook.com/v26.0/104123456789012/feed").mock(
        return_value=created())
    client.publish(gm.Post(text="中老铁路开通一周年", link="https://example.org/a/1"),
                   channel(graph_version="26"))
    assert form(create.calls.last.request) == {"message": "中老铁路开通一周年",
                                               "link": "https://example.org/a/1"}
    # A post that is only its link: the preview says it, the address is not repeated.
    client.publish(gm.Post(body="---", link="https://example.org/a/2"), channel(graph_version="v26.0"))
    assert form(create.calls.last.request) == {"link": "https://example.org/a/2"}


def test_the_create_is_the_point_of_no_return_and_never_marked_safe():
    _, steps = drive(FacebookPlatform().publish(POST, channel(), "k"), lambda r: created())
    [create] = requests_of(steps)
    assert creates_something(create) and not is_retry_safe(create)
    assert Checkpoint("published", {"post_id": POST_ID}) in steps


@pytest.mark.parametrize("failure", [
    httpx.ReadTimeout("lost"),
    graph_error(1, "An unknown error has occurred.", status=500, transient=True),
    graph_error(2, "Service temporarily unavailable", status=500, transient=True),
    httpx.Response(502, text="<html>Bad Gateway</html>"),
])
def test_a_create_that_may_have_been_applied_is_unknown_and_never_resent(respx_mock, client, failure):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(side_effect=[failure, created()])
    with pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(POST, channel())
    assert create.call_count == 1
    assert "no idempotency key" in str(info.value)


def test_a_duplicate_is_content_rejected_with_what_to_do(respx_mock, client):
    respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(
        return_value=graph_error(506, "(#506) Duplicate status message"))
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(POST, channel())
    assert info.value.code == 506 and "identical to the Page's latest" in str(info.value)


# --------------------------------------------------------------------------- photos


def photo_answer(photo_id=PHOTO_ID):
    """POST /{page-id}/photos with published=false -> {"id": "<photo-id>"}."""
    return httpx.Response(200, json={"id": photo_id})


def test_photos_go_up_unpublished_then_one_feed_post_attaches_them(respx_mock, client):
    photos = respx_mock.post(f"{GRAPH}/{PAGE}/photos").mock(
        side_effect=[photo_answer("111"), photo_answer("222")])
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=created())
    image = gm.Media.from_bytes(CHART_PNG, filename="chart.png", alt="客货运量")
    post = gm.Post(text="中老铁路", link="https://example.org/a/1", media=(image, image))
    receipt = client.publish(post, channel())
    for call in photos.calls:
        parts = parse_multipart(call.request)
        assert parts.fields == {"published": "false"}
        assert (parts["source"].data, parts["source"].content_type) == (CHART_PNG, "image/png")
        assert call.request.headers["authorization"] == f"Bearer {TOKEN}"
    sent = form(create.calls.last.request)
    assert sent == {"message": "中老铁路\n\nhttps://example.org/a/1",
                    "attached_media[0]": '{"media_fbid": "111"}',
                    "attached_media[1]": '{"media_fbid": "222"}'}  # one-photo use: unverified
    assert receipt.remote_id == POST_ID and receipt.raw["photo_ids"] == ["111", "222"]


def test_photo_uploads_are_resent_freely_and_come_before_the_point_of_no_return(respx_mock, client):
    image = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    _, steps = drive(FacebookPlatform().publish(gm.Post(text="图", media=(image,)), channel(), "k"),
                     lambda r: photo_answer() if r.url.path.endswith("/photos") else created())
    upload, create = requests_of(steps)
    assert is_retry_safe(upload) and not creates_something(upload)
    assert creates_something(create) and not is_retry_safe(create)
    assert steps.index(Checkpoint("posting", {"photo_ids": [PHOTO_ID]})) < steps.index(create)
    photos = respx_mock.post(f"{GRAPH}/{PAGE}/photos").mock(side_effect=[
        graph_error(2, "Service temporarily unavailable", status=500, transient=True), photo_answer()])
    respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=created())
    client.publish(gm.Post(text="图", media=(image,)), channel())
    assert photos.call_count == 2


def test_a_url_photo_is_fetched_without_the_token_and_judged_by_its_bytes(respx_mock, client):
    cdn = respx_mock.get("https://cdn.example/chart.png").mock(
        return_value=httpx.Response(200, content=CHART_PNG))
    photos = respx_mock.post(f"{GRAPH}/{PAGE}/photos").mock(return_value=photo_answer())
    respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=created())
    client.publish(gm.Post(text="图", media=(gm.Media.from_url("https://cdn.example/chart.png"),)),
                   channel())
    assert "authorization" not in cdn.calls.last.request.headers
    assert parse_multipart(photos.calls.last.request)["source"].data == CHART_PNG
    cdn.mock(return_value=httpx.Response(200, text="<html>login</html>"))
    with pytest.raises(gm.ValidationError, match="bad_media"):
        client.publish(gm.Post(text="另一张图", media=(gm.Media.from_url("https://cdn.example/chart.png"),)),
                       channel())
    assert photos.call_count == 1  # nothing uploaded for the HTML page


def test_a_photo_refused_for_its_format_names_the_rule(respx_mock, client):
    respx_mock.post(f"{GRAPH}/{PAGE}/photos").mock(
        return_value=graph_error(324, "(#324) Missing or invalid image file"))  # code unverified
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed")
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(gm.Post(text="图", media=(gm.Media.from_bytes(CHART_PNG, filename="a.png"),)),
                       channel())
    assert info.value.code == 324 and not info.value.maybe_applied and not create.called


# --------------------------------------------------------------------------- video


def start_answer(end="1000"):
    """upload_phase=start -> upload_session_id, video_id, start_offset, end_offset (strings:
    how Facebook's clients read them; the type is not on the sheet)."""
    return httpx.Response(200, json={"upload_session_id": SESSION, "video_id": VIDEO_ID,
                                     "start_offset": "0", "end_offset": end})


def offsets(start, end):
    return httpx.Response(200, json={"start_offset": str(start), "end_offset": str(end)})


def status(state, progress=50):
    """GET /{video-id}?fields=status (shape not on the sheet: unverified)."""
    return httpx.Response(200, json={"id": VIDEO_ID, "status": {"video_status": state,
                                                                "processing_progress": progress}})


def video_handler(size, chunk=1000, states=("processing", "ready"), finish=None):
    """A graph-video host that asks for *chunk* bytes at a time, and the status reads."""
    states = list(states)
    got = {"chunks": [], "phases": []}

    def answer(request):
        if request.method == "GET":
            return status(states.pop(0) if len(states) > 1 else states[0])
        query = dict(request.url.params)
        phase = query.get("upload_phase") or form(request).get("upload_phase")
        got["phases"].append(phase)
        if phase == "start":
            assert form(request) == {"upload_phase": "start", "file_size": str(size)}
            return start_answer(str(min(chunk, size)))
        if phase == "transfer":
            start = int(query["start_offset"])
            assert query["upload_session_id"] == SESSION
            data = parse_multipart(request)["video_file_chunk"].data
            got["chunks"].append((start, data))
            end = start + len(data)
            return offsets(end, min(end + chunk, size))
        got["finish"] = form(request)
        return finish or httpx.Response(200, json={"success": True})

    return answer, got


def clip(size):
    return CLIP_MP4 + bytes(range(256)) * ((size - len(CLIP_MP4)) // 256) + bytes(
        (size - len(CLIP_MP4)) % 256)


def test_a_video_goes_up_in_the_chunks_facebook_asks_for_then_finish_then_encoding(tmp_path):
    data = clip(3500)
    path = tmp_path / "railway.mp4"
    path.write_bytes(data)
    answer, got = video_handler(len(data))
    post = gm.Post(title="中老铁路", text="开通一周年", tags=("一带一路看国企",),
                   media=(gm.Media.from_path(path),))
    receipt, steps = drive(FacebookPlatform().publish(post, channel(poll_interval=0.01), "k"), answer)
    assert got["phases"] == ["start", "transfer", "transfer", "transfer", "transfer", "finish"]
    assert b"".join(chunk for _, chunk in got["chunks"]) == data
    assert [start for start, _ in got["chunks"]] == [0, 1000, 2000, 3000]
    assert got["finish"] == {"upload_phase": "finish", "upload_session_id": SESSION,
                             "title": "中老铁路", "description": "开通一周年\n\n#一带一路看国企"}
    uploads = requests_of(steps)
    assert all(r.url.host == "graph-video.facebook.com" for r in uploads[:6])
    assert uploads[6].url == httpx.URL(f"{GRAPH}/{VIDEO_ID}?fields=status")
    assert all(is_retry_safe(r) and not creates_something(r) for r in uploads[:5])
    assert creates_something(uploads[5]) and not is_retry_safe(uploads[5])
    assert [s.sent for s in steps if isinstance(s, Uploaded)] == [1000, 2000, 3000, 3500]
    saved = [s for s in steps if isinstance(s, Checkpoint) and s.save]
    assert saved[-1].data["video"]["start_offset"] == 3500
    assert (receipt.remote_id, receipt.state) == (VIDEO_ID, "published")
    assert receipt.url == f"https://www.facebook.com/{PAGE}/videos/{VIDEO_ID}"  # address unverified


def test_the_token_goes_to_the_video_host_and_nowhere_else(respx_mock, client):
    answer, _ = video_handler(len(CLIP_MP4), chunk=10_000)
    host = respx_mock.route(host="graph-video.facebook.com").mock(side_effect=answer)
    graph = respx_mock.get(f"{GRAPH}/{VIDEO_ID}").mock(return_value=status("ready"))
    client.publish(gm.Post(text="视频", media=(gm.Media.from_bytes(CLIP_MP4, filename="v.mp4"),)),
                   channel(poll_interval=0.01))
    for call in (*host.calls, *graph.calls):
        assert call.request.headers["authorization"] == f"Bearer {TOKEN}"
        assert TOKEN not in str(call.request.url)


def test_encoding_past_poll_timeout_is_pending():
    answer, _ = video_handler(len(CLIP_MP4), chunk=10_000, states=("processing",))
    flow = FacebookPlatform().publish(
        gm.Post(text="视频", media=(gm.Media.from_bytes(CLIP_MP4, filename="v.mp4"),)),
        channel(poll_interval=0.5, poll_timeout=1), "k")
    receipt, steps = drive(flow, answer)
    assert receipt.state == "pending" and receipt.remote_id == VIDEO_ID
    assert len([r for r in requests_of(steps) if r.method == "GET"]) == 3


def test_failed_encoding_is_content_rejected_holding_the_video_id():
    answer, _ = video_handler(len(CLIP_MP4), chunk=10_000, states=("processing", "error"))
    flow = FacebookPlatform().publish(
        gm.Post(text="视频", media=(gm.Media.from_bytes(CLIP_MP4, filename="v.mp4"),)),
        channel(poll_interval=0.01), "k")
    with pytest.raises(gm.ContentRejected) as info:
        drive(flow, answer)
    assert info.value.code == "video_failed" and info.value.maybe_applied
    assert info.value.known == {"video_id": VIDEO_ID}


def test_a_finish_not_answered_success_may_have_been_applied():
    answer, _ = video_handler(len(CLIP_MP4), chunk=10_000,
                              finish=httpx.Response(200, json={"success": False}))
    flow = FacebookPlatform().publish(
        gm.Post(text="视频", media=(gm.Media.from_bytes(CLIP_MP4, filename="v.mp4"),)), channel(), "k")
    with pytest.raises(gm.PlatformError) as info:
        drive(flow, answer)
    assert info.value.maybe_applied and info.value.known == {"video_id": VIDEO_ID}


def test_a_chunk_answered_with_a_5xx_is_resent_alone_and_the_finish_never(respx_mock, client):
    answer, got = video_handler(len(CLIP_MP4), chunk=1000)
    failed = []

    def flaky(request):
        if request.url.params.get("start_offset") == "1000" and not failed:
            failed.append(1)
            return graph_error(1, "An unknown error has occurred.", status=500, transient=True)
        return answer(request)

    respx_mock.route(host="graph-video.facebook.com").mock(side_effect=flaky)
    respx_mock.get(f"{GRAPH}/{VIDEO_ID}").mock(return_value=status("ready"))
    client.publish(gm.Post(text="视频", media=(gm.Media.from_bytes(CLIP_MP4, filename="v.mp4"),)),
                   channel(poll_interval=0.01))
    assert [start for start, _ in got["chunks"]] == [0, 1000, 2000]  # 1000 twice: refused once
    assert got["phases"].count("finish") == 1 and got["phases"].count("start") == 1


def test_a_saved_session_is_resumed_where_facebook_left_it(tmp_path):
    data = clip(3500)
    path = tmp_path / "railway.mp4"
    path.write_bytes(data)
    media = gm.Media.from_path(path)
    from govmedia.content.media import media_fingerprint

    saved = {"video": {"upload_session_id": SESSION, "video_id": VIDEO_ID, "start_offset": 2000,
                       "end_offset": 3000, "size": 3500, "source": media_fingerprint(media)}}
    answer, got = video_handler(len(data))
    receipt, _ = drive(FacebookPlatform().publish(gm.Post(text="视频", media=(media,)),
                                                  channel(poll_interval=0.01), "k"), answer, saved)
    assert got["phases"] == ["transfer", "transfer", "finish"]
    assert [start for start, _ in got["chunks"]] == [2000, 3000]
    assert receipt.remote_id == VIDEO_ID
    # Another file (or the same one changed) never resumes the session.
    answer, got = video_handler(len(data))
    drive(FacebookPlatform().publish(gm.Post(text="视频", media=(gm.Media.from_path(path),)),
                                     channel(poll_interval=0.01), "k"), answer,
          {"video": {**saved["video"], "source": "path:elsewhere"}})
    assert got["phases"][0] == "start"


# --------------------------------------------------------------------------- rate limits


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001, 341])
def test_each_rate_limit_code_is_rate_limited_with_the_usage_headers_wait(code):
    error = classify(graph_error(code, f"(#{code}) limit reached", headers=usage(2)))
    assert isinstance(error, gm.RateLimited) and not error.quota
    assert error.retry_after == 120.0  # estimated_time_to_regain_access: 2 minutes
    bare = classify(graph_error(code, f"(#{code}) limit reached"))
    assert isinstance(bare, gm.RateLimited) and bare.retry_after is None  # backoff instead


def test_a_short_wait_is_waited_out_and_the_create_sent_again(respx_mock, client):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(side_effect=[
        graph_error(80001, "(#80001) There have been too many calls to this Page account.",
                    headers=usage(1)),
        graph_error(613, "(#613) Calls to this api have exceeded the rate limit."),  # no wait known
        created()])
    assert client.publish(POST, channel()).remote_id == POST_ID
    assert create.call_count == 3


def test_a_long_wait_raises_rate_limited_at_once_with_nothing_posted(respx_mock, client):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(
        return_value=graph_error(32, "(#32) Page request limit reached", headers=usage(30)))
    with pytest.raises(gm.RateLimited) as info:
        client.publish(POST, channel())
    assert info.value.retry_after == 1800.0 and create.call_count == 1
    assert not isinstance(info.value, gm.DeliveryUnknown)


def test_a_policy_block_is_not_hammered(respx_mock, client):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(
        return_value=graph_error(368, "The action attempted has been deemed abusive or is otherwise "
                                      "disallowed", subcode=1390008))
    with pytest.raises(gm.RateLimited) as info:
        client.publish(POST, channel())
    assert info.value.quota and create.call_count == 1 and "policy block" in str(info.value)


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(("subcode", "words"), [
    (463, "The token expired"),
    (460, "password of the account that made the token changed"),
    (458, "app was removed"),
    (459, "security checkpoint"),
    (464, "not confirmed"),
    (467, "no longer valid"),
    (None, "refused the Page access token"),
])
def test_a_dead_page_token_is_an_auth_error_saying_why_and_how_to_get_a_new_one(
        respx_mock, client, subcode, words):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=graph_error(
        190, "Error validating access token", subcode=subcode))
    with pytest.raises(gm.AuthError) as info:
        client.publish(POST, channel())
    text = str(info.value)
    assert words in text and "GET /me/accounts" in text and "page_access_token" in text
    assert create.call_count == 1  # a Page token cannot be refreshed: never asked twice
    assert TOKEN not in text


def test_an_invalid_session_is_an_auth_error(respx_mock, client):
    respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=graph_error(102, "Session key invalid"))
    with pytest.raises(gm.AuthError, match="session"):
        client.publish(POST, channel())


def test_the_token_is_masked_in_logs_and_errors(respx_mock, client, caplog):
    respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=graph_error(
        190, f"Malformed access token {TOKEN}"))
    with caplog.at_level(logging.DEBUG), pytest.raises(gm.AuthError) as info:
        client.publish(POST, channel())
    assert TOKEN not in caplog.text and TOKEN not in str(info.value) and TOKEN not in repr(info.value)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("response", "kind", "words"), [
    (graph_error(100, "(#100) Invalid parameter"), gm.ContentRejected, "refused a parameter"),
    (graph_error(1609005, "Error posting link", user_msg="The link could not be posted."),
     gm.ContentRejected, "could not fetch the link"),
    (graph_error(10, "(#10) Application does not have permission for this action"),
     gm.PlatformError, "CREATE_CONTENT"),
    (graph_error(200, "(#200) Permissions error", status=403), gm.PlatformError, "pages_manage_posts"),
    (graph_error(299, "(#299) Requires a permission"), gm.PlatformError, "pages_manage_posts"),
    (graph_error(3, "(#3) Application does not have the capability to make this API call."),
     gm.PlatformError, "capability"),
])
def test_error_families(respx_mock, client, response, kind, words):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=response)
    with pytest.raises(kind) as info:
        client.publish(POST, channel())
    assert type(info.value) is kind and words in str(info.value) and create.call_count == 1
    assert not info.value.maybe_applied


def test_the_message_carries_the_user_message_subcode_and_trace_id():
    error = classify(graph_error(1609005, "Error posting link", subcode=1609005,
                                 user_msg="The link could not be posted."))
    assert error.code == 1609005
    assert error.message == ("Error posting link (The link could not be posted.; subcode 1609005; "
                             "fbtrace_id AbCdEf123)")


def test_is_transient_makes_any_code_transient_and_possibly_applied():
    error = classify(graph_error(1363030, "Your video upload timed out", transient=True))
    assert isinstance(error, gm.TransientError) and error.maybe_applied
    settled = classify(graph_error(1363030, "Your video upload timed out", transient=False))
    assert isinstance(settled, gm.ContentRejected)  # an unknown code: judged by its status (400)
    assert classify(httpx.Response(200, json={"id": POST_ID})) is None


def test_every_code_on_the_sheet_is_in_the_table():
    from govmedia.platforms.facebook import ERRORS

    sheet = {190, 102, 4, 17, 32, 613, 80001, 341, 1, 2, 368, 100, 506, 1609005, 10, 3,
             *range(200, 300)}
    assert sheet <= set(ERRORS)


# --------------------------------------------------------------------------- delete, metrics


def test_delete_and_delete_of_a_gone_post(respx_mock, client):
    route = respx_mock.delete(f"{GRAPH}/{POST_ID}").mock(side_effect=[
        httpx.Response(200, json={"success": True}),
        graph_error(100, "Unsupported delete request. Object with ID does not exist", subcode=33)])
    receipt = gm.Receipt(channel=channel(), remote_id=POST_ID)
    client.delete(receipt)
    client.delete(receipt)  # gone already (100, subcode 33; the subcode is unverified): fine
    assert route.call_count == 2
    respx_mock.delete(f"{GRAPH}/{VIDEO_ID}").mock(return_value=graph_error(200, "(#200) Permissions"))
    with pytest.raises(gm.PlatformError):
        client.delete(gm.Receipt(channel=channel(), remote_id=VIDEO_ID))


def test_a_delete_not_answered_success_is_an_error(respx_mock, client):
    respx_mock.delete(f"{GRAPH}/{POST_ID}").mock(return_value=httpx.Response(200, json={"success": False}))
    with pytest.raises(gm.PlatformError, match="may still be there"):
        client.delete(gm.Receipt(channel=channel(), remote_id=POST_ID))


def test_metrics_from_reactions_comments_and_shares(respx_mock, client):
    """The fields are not on the fact sheet (unverified); a count left out is None."""
    route = respx_mock.get(f"{GRAPH}/{POST_ID}").mock(side_effect=[
        httpx.Response(200, json={"id": POST_ID,
                                  "reactions": {"data": [], "summary": {"total_count": 120}},
                                  "comments": {"data": [], "summary": {"total_count": 8,
                                                                       "order": "ranked"}},
                                  "shares": {"count": 35}}),
        httpx.Response(200, json={"id": POST_ID, "reactions": {"data": []}})])
    receipt = gm.Receipt(channel=channel(), remote_id=POST_ID)
    metrics = client.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.comments, metrics.shares) == (None, 120, 8, 35)
    assert route.calls.last.request.url.params["fields"] == (
        "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),shares")
    bare = client.metrics(receipt)
    assert (bare.views, bare.likes, bare.comments, bare.shares) == (None, None, None, None)


# --------------------------------------------------------------------------- share (amplify)


def hub_receipt(**changes):
    fields = {"channel": channel("hub-page", page=OTHER_PAGE), "remote_id": f"{OTHER_PAGE}_5566",
              "url": post_url(f"{OTHER_PAGE}_5566"), "state": "published"}
    return gm.Receipt(**{**fields, **changes})


def test_a_member_page_shares_the_hubs_post_with_its_address_as_link(respx_mock, client):
    create = respx_mock.post(f"{GRAPH}/{PAGE}/feed").mock(return_value=created())
    platform = FacebookPlatform()
    hub = hub_receipt()
    assert platform.can_repost(hub, channel())
    receipt, steps = drive(platform.repost(hub, channel(), "k"), lambda r: created())
    [request] = requests_of(steps)
    assert form(request) == {"link": f"https://www.facebook.com/{OTHER_PAGE}/posts/5566"}
    assert creates_something(request) and not is_retry_safe(request)
    assert steps[0] == Checkpoint("sharing", {"share_of": f"{OTHER_PAGE}_5566"})
    assert (receipt.remote_id, receipt.raw["share_of"]) == (POST_ID, f"{OTHER_PAGE}_5566")
    assert not create.called


def test_what_cannot_be_shared():
    platform = FacebookPlatform()
    mastodon = gm.Channel(platform="mastodon", account="a@social.example",
                          credentials={"access_token": "t"}, options={"base_url": "https://social.example"})
    assert not platform.can_repost(hub_receipt(channel=channel()), channel())        # the same Page
    assert not platform.can_repost(hub_receipt(state="pending"), channel())          # still encoding
    assert not platform.can_repost(hub_receipt(url=None), channel())                 # no address
    assert not platform.can_repost(gm.Receipt(channel=mastodon, remote_id="1", url="https://x"),
                                   channel())
    assert not platform.can_repost(hub_receipt(), channel(base_url="https://graph.sandbox.test"))
    with pytest.raises(gm.ConfigError, match="cannot share"):
        next(platform.repost(hub_receipt(channel=channel()), channel(), "k"))


# --------------------------------------------------------------------------- recover (by hand)


def feed_page(items, after=None):
    """GET /{page-id}/feed (the answer's shape is not on the sheet: unverified)."""
    body = {"data": items}
    if after:
        body["paging"] = {"cursors": {"before": "b", "after": after}}
    return httpx.Response(200, json=body)


def stamp(seconds_ago):
    import datetime as dt
    import time

    moment = dt.datetime.fromtimestamp(time.time() - seconds_ago, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


def recover(doubt, answer=None, post=POST):
    def refuse(request):
        raise AssertionError(f"nothing should be asked: {request.url}")

    return drive(FacebookPlatform().recover(post, channel(poll_interval=0.01), "k", doubt),
                 answer or refuse)


def test_recover_with_the_post_id_known_asks_nothing():
    receipt, _ = recover(Doubt(state="sending", stage="published", data={"post_id": POST_ID}))
    assert (receipt.remote_id, receipt.state, receipt.url) == (POST_ID, "published", post_url(POST_ID))


def test_recover_finds_the_lost_post_in_the_feed_by_its_message():
    message = message_of(POST)
    pages = [feed_page([{"id": f"{PAGE}_3", "message": "另一条", "created_time": stamp(10)},
                        {"id": POST_ID, "message": message, "created_time": stamp(50)}], after="c1"),
             feed_page([{"id": f"{PAGE}_1", "message": message, "created_time": stamp(86_400)}],
                       after="c2")]
    receipt, steps = recover(Doubt(state="unknown", data={}, age=60.0), lambda r: pages.pop(0))
    assert receipt.remote_id == POST_ID and receipt.raw["reconciled"]
    feed = requests_of(steps)
    assert [r.url.params.get("after") for r in feed] == [None, "c1"]  # read back past the first try
    assert feed[0].url.params["fields"] == "id,message,created_time" and feed[0].method == "GET"
    assert Checkpoint("published", {"post_id": POST_ID}) in steps


@pytest.mark.parametrize("items", [
    [],                                                                        # not there (yet?)
    [{"id": POST_ID, "message": message_of(POST), "created_time": stamp(40)},
     {"id": f"{PAGE}_2", "message": message_of(POST), "created_time": stamp(45)}],  # two: which?
    [{"id": POST_ID, "message": message_of(POST), "created_time": stamp(7200)}],    # older: not ours
])
def test_recover_without_exactly_one_match_stays_unknown_and_never_sends(items):
    asked = []

    def answer(request):
        asked.append(request)
        return feed_page(items)

    with pytest.raises(gm.DeliveryUnknown) as info:
        recover(Doubt(state="unknown", data={"photo_ids": ["1"]}, age=60.0), answer)
    assert all(r.method == "GET" for r in asked) and info.value.known == {"photo_ids": ["1"]}
    assert "govmedia runs resolve" in str(info.value)


def test_recover_of_a_share_or_without_a_time_stays_unknown_without_asking():
    with pytest.raises(gm.DeliveryUnknown, match="shared post"):
        recover(Doubt(state="unknown", data={"share_of": f"{OTHER_PAGE}_5566"}, age=60.0))
    with pytest.raises(gm.DeliveryUnknown, match="cannot be looked up"):
        recover(Doubt(state="sending", data={}, age=None))


def test_recover_of_a_video_whose_finish_may_have_gone_polls_it():
    states = [status("processing"), status("ready", 100)]
    receipt, steps = recover(Doubt(state="unknown", data={"video_id": VIDEO_ID, "finishing": True},
                                   age=30.0), lambda r: states.pop(0))
    assert (receipt.remote_id, receipt.state) == (VIDEO_ID, "published")
    assert all(r.method == "GET" for r in requests_of(steps))


def test_recover_of_a_video_facebook_does_not_report_as_finished_stays_unknown():
    with pytest.raises(gm.DeliveryUnknown, match="video 998877665544") as info:
        recover(Doubt(state="unknown", data={"video_id": VIDEO_ID, "finishing": True}, age=30.0),
                lambda r: status("uploading"))  # a status name the sheet does not give
    assert info.value.known["video_id"] == VIDEO_ID


# --------------------------------------------------------------------------- against FakeFacebook


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["facebook"])


@pytest.fixture
def fake(sandbox) -> FakeFacebook:
    return sandbox["facebook"]


def finishes(fake):
    """Video finishes the fake received (the finish is what makes the post)."""
    return [r for r in fake.requests(fake.video_path) if r.status == 200]


def test_publish_photos_through_the_fake(sandbox, fake):
    ch = fake.channel("sasac-page")
    image = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = client.publish(gm.Post(text="中老铁路", media=(image, image)), ch)
    [live] = fake.posts("sasac-page")
    assert live["id"] == receipt.remote_id and len(live["attached_media"]) == 2
    assert all(not p.published and p.attached_to == live["id"] for p in fake.photos.values())


def test_a_lost_feed_answer_is_unknown_then_found_in_the_feed_by_a_rerun(sandbox, fake, tmp_path):
    ch = fake.channel("sasac-page")
    post = gm.Post(text="一带一路看国企：中老铁路开通一周年",
                   media=(gm.Media.from_bytes(CHART_PNG, filename="chart.png"),))
    fake.inject("timeout_after", path=fake.create_path, method="POST")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db",
                   retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(post, [ch])
        second = client.fan_out(post, [ch])
        third = client.fan_out(post, [ch])
    assert first.deliveries[0].state == "unknown"
    assert first.deliveries[0].error.known["photo_ids"] == list(fake.photos)
    [live] = fake.posts("sasac-page")
    assert second.deliveries[0].state == "published"
    assert second.deliveries[0].receipt.remote_id == live["id"]
    assert third.deliveries[0].state == "skipped"
    assert len(fake.requests(fake.create_path, method="POST")) == 1  # created once, found once


def test_a_rerun_that_cannot_be_sure_sends_nothing(sandbox, fake, tmp_path):
    """The lost post is not in the feed (someone deleted it, or it never landed): still unknown."""
    ch = fake.channel("sasac-page")
    post = gm.Post(text="央企人事调整")
    fake.inject("timeout_after", path=fake.create_path, method="POST")
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db",
                   retry=gm.RetryPolicy.testing()) as client:
        assert client.fan_out(post, [ch]).deliveries[0].state == "unknown"
        [live] = fake.posts("sasac-page")
        fake.feed[live["id"]].deleted = True
        again = client.fan_out(post, [ch])
    assert again.deliveries[0].state == "unknown" and "no post with this text" in str(
        again.deliveries[0].error)
    assert len(fake.requests(fake.create_path, method="POST")) == 1


def test_a_lost_finish_is_settled_by_polling_the_video_without_a_second_finish(sandbox, fake, tmp_path):
    fake.chunk_size = 1000
    fake.processing_polls = 2
    ch = fake.channel("sasac-page", poll_interval=0.001)
    post = gm.Post(title="中老铁路", text="开通一周年", media=(gm.Media.from_bytes(clip(2500), filename="v.mp4"),))
    calls = []

    def lose_the_finish(request):
        """The finish is applied, then its answer is lost (the start and chunks go through)."""
        response = sandbox(request)
        if request.url.path.endswith("/videos") and b"upload_phase=finish" in request.content:
            calls.append(request)
            raise httpx.ReadTimeout("lost", request=request)
        return response

    journal = tmp_path / "j.db"
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(lose_the_finish)),
                   journal=journal, retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(post, [ch])
    assert first.deliveries[0].state == "unknown"
    [video] = fake.videos.values()
    assert first.deliveries[0].error.known["video_id"] == video.id
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        second = client.fan_out(post, [ch])
    assert second.deliveries[0].state == "published"
    assert second.deliveries[0].receipt.remote_id == video.id and video.state == "ready"
    assert len(calls) == 1 and len(fake.videos) == 1 and len(fake.uploads) == 1
    assert len(fake.posts("sasac-page")) == 1


def test_an_upload_cut_by_a_crash_is_resumed_by_the_next_run(sandbox, fake, tmp_path):
    fake.chunk_size = 1000
    data = clip(4200)
    path = tmp_path / "railway.mp4"
    path.write_bytes(data)
    ch = fake.channel("sasac-page", poll_interval=0.001)
    post = gm.Post(text="视频", media=(gm.Media.from_path(path),))

    class Crash(BaseException):
        pass

    def dying(request):
        if request.url.params.get("start_offset") == "2000":
            raise Crash  # the process dies while sending the third chunk
        return sandbox(request)

    journal = tmp_path / "j.db"
    progress = []
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(dying)), journal=journal,
                   retry=gm.RetryPolicy.testing()) as client, pytest.raises(Crash):
        client.fan_out(post, [ch])
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(post, [ch], progress=progress.append)
    assert report.deliveries[0].state == "published" and len(progress) == 1
    assert len(fake.uploads) == 1  # the same session, resumed
    [session] = fake.uploads.values()
    assert sorted(session.parts) == [1, 2, 3, 4, 5] and session.received == len(data)
    transfers = [r for r in fake.requests(fake.video_path) if r.status == 200]
    assert len(transfers) == 1 + 5 + 1  # start, five chunks (two before the crash), finish
    assert len(fake.posts("sasac-page")) == 1


def test_a_saved_session_facebook_no_longer_keeps_is_uploaded_afresh(sandbox, fake, tmp_path):
    fake.chunk_size = 1000
    path = tmp_path / "railway.mp4"
    path.write_bytes(clip(3000))
    ch = fake.channel("sasac-page", poll_interval=0.001)
    post = gm.Post(text="视频", media=(gm.Media.from_path(path),))

    class Crash(BaseException):
        pass

    def dying(request):
        if request.url.params.get("start_offset") == "1000":
            raise Crash
        return sandbox(request)

    journal = tmp_path / "j.db"
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(dying)), journal=journal,
                   retry=gm.RetryPolicy.testing()) as client, pytest.raises(Crash):
        client.fan_out(post, [ch])
    fake.uploads.expire()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        assert client.fan_out(post, [ch]).deliveries[0].state == "published"
    assert len(fake.uploads) == 2 and len(fake.posts("sasac-page")) == 1


def test_amplify_members_share_the_hubs_post(sandbox, fake):
    hub, member = fake.channel("sasac-page"), fake.channel("cnpc-page")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(gm.Post(text="一带一路看国企"), gm.Matrix(hub=hub, members=[member]),
                                mode="amplify")
        assert report.ok
        shared = report.deliveries[1].receipt
        [share] = fake.posts("cnpc-page")
        assert share["share_of"] == report.deliveries[0].receipt.remote_id == shared.raw["share_of"]
        assert client.metrics(report.deliveries[0].receipt).shares == 1
        client.delete(shared)
    assert fake.posts("cnpc-page") == []


def test_a_lost_share_is_unknown_and_never_sent_again(sandbox, fake, tmp_path):
    hub, member = fake.channel("sasac-page"), fake.channel("cnpc-page")
    fake.inject("timeout_after", path=fake.create_path, method="POST", account="cnpc-page")
    matrix = gm.Matrix(hub=hub, members=[member])
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db",
                   retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(gm.Post(text="央企出海"), matrix, mode="amplify")
        second = client.fan_out(gm.Post(text="央企出海"), matrix, mode="amplify")
    assert [d.state for d in first.deliveries] == ["published", "unknown"]
    assert [d.state for d in second.deliveries] == ["skipped", "unknown"]
    assert len(fake.posts("cnpc-page")) == 1
    assert len([r for r in fake.requests(fake.create_path, method="POST") if r.account == "cnpc-page"]) == 1


def test_a_page_token_killed_by_a_password_change_says_so(sandbox, fake):
    ch = fake.channel("sasac-page")
    fake.kill_token("sasac-page", subcode=460)
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client, \
            pytest.raises(gm.AuthError) as info:
        client.publish(gm.Post(text="国资小新"), ch)
    assert "password" in str(info.value) and "GET /me/accounts" in str(info.value)
    assert fake.posts("sasac-page") == []


def test_the_page_budget_is_honoured_with_the_usage_headers_wait(sandbox, fake):
    fake.enforce_limits = True
    fake.engaged_users = 1
    fake.limits["pages"] = (2, 86_400.0)
    ch = fake.channel("sasac-page")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing(), journal=False) as client:
        client.publish(gm.Post(text="第一条"), ch)
        client.publish(gm.Post(text="第二条"), ch)
        with pytest.raises(gm.RateLimited) as info:
            client.publish(gm.Post(text="第三条"), ch)
    assert info.value.code == 80001 and info.value.retry_after is not None
    assert info.value.retry_after > 120  # hours away: raised at once, nothing posted
    assert len(fake.posts("sasac-page")) == 2


def test_a_rerun_after_the_create_answered_finishes_without_a_second_create(sandbox, fake, tmp_path):
    """The process died after Facebook answered but before the journal said published: the
    recorded post id settles it (the journal row is set as such a crash leaves it)."""
    ch = fake.channel("sasac-page")
    post = gm.Post(text="一带一路看国企")
    fake.inject("timeout_after", path=fake.create_path, method="POST")
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        assert client.fan_out(post, [ch]).deliveries[0].state == "unknown"
    [live] = fake.posts("sasac-page")
    db = sqlite3.connect(journal)
    db.execute("UPDATE deliveries SET state='sending', stage='published', progress=?",
               (json.dumps({"post_id": live["id"]}),))
    db.commit()
    db.close()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(post, [ch])
    assert report.deliveries[0].receipt.remote_id == live["id"]
    assert len(fake.requests(fake.create_path, method="POST")) == 1
    assert len(fake.requests(fake.create_path, method="GET")) == 0  # the id settled it


def test_a_status_poll_failing_after_the_finish_is_unknown_with_the_id_then_finished(sandbox, fake,
                                                                                      tmp_path):
    fake.chunk_size = 1000
    ch = fake.channel("sasac-page", poll_interval=0.001)
    post = gm.Post(title="中老铁路", text="开通一周年", media=(gm.Media.from_bytes(clip(2500), filename="v.mp4"),))
    fake.inject("server_error", path=r"^/v24\.0/\d+$", method="GET", times=50)
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(post, [ch])
    [video] = fake.videos.values()
    error = first.deliveries[0].error
    assert first.deliveries[0].state == "unknown" and isinstance(error, gm.DeliveryUnknown)
    assert error.known["video_id"] == video.id
    fake.faults.clear()
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        second = client.fan_out(post, [ch])
    assert second.deliveries[0].state == "published"
    assert second.deliveries[0].receipt.remote_id == video.id
    finished = [r for r in fake.requests(fake.video_path, method="POST") if r.status == 200]
    assert len(finished) == 1 + 3 + 1 and len(fake.uploads) == 1   # start, three chunks, one finish
