"""The YouTube platform: checks, the resumable upload, the create sent once, recover, tokens, errors.

respx tests answer with payloads shaped as shared/platforms/youtube.md shows
them (``Location`` with the session URI, ``308`` with ``Range``, the video
resource with ``id`` and ``status.uploadStatus``, Google's error body with
``errors[0].reason``, OAuth token answers); the end-to-end tests at the
bottom run through `gm.Client` against `FakeYouTube`, with journals.
Facts the sheet marks unverified (or does not hold), and tests that rely on
them, say so.
"""

import datetime as dt
import hashlib
import json
import logging
import sqlite3
import threading
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
from govmedia.platforms.youtube import YouTubePlatform, _until_pacific_midnight, description, tag_list
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG, COVER_JPEG
from govmedia.testing.youtube import FakeYouTube, google_error

BASE = "https://www.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"
UPLOAD = f"{BASE}/upload/youtube/v3/videos"
SESSION = f"{UPLOAD}?uploadType=resumable&part=snippet,status&upload_id=xa298sd_sdlkj2"
VIDEOS = f"{BASE}/youtube/v3/videos"
THUMBS = f"{BASE}/upload/youtube/v3/thumbnails/set"
TOKEN = "ya29.a0-access-token-5b1f0c3e"
REFRESH = "1//0g-refresh-token-77aa01"
CLIENT_ID = "12345-abc.apps.googleusercontent.com"
SECRET = "GOCSPX-client-secret-9f"
VIDEO_ID = "dQw4w9WgXcQ"
UNIT = 256 * 1024
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


def channel(account="@sasac", *, refresh=True, **options):
    credentials = {"access_token": TOKEN}
    if refresh:
        credentials.update(refresh_token=REFRESH, client_id=CLIENT_ID, client_secret=SECRET)
    return gm.Channel(platform="youtube", account=account, credentials=credentials,
                      options={"poll_interval": 0.001, **options})


def clip(size=1000, name="railway.mp4"):
    return gm.Media.from_bytes(MP4 + bytes(range(256)) * (size // 256 + 1), filename=name) \
        if size > 1000 else gm.Media.from_bytes(MP4 + bytes(size - len(MP4)), filename=name)


def post(size=1000, **fields):
    return gm.Post(**{"title": "中老铁路开通一周年", "text": "一年来累计发送旅客850万人次",
                      "tags": ("一带一路看国企",), "media": (clip(size),), **fields})


def video(uploaded="uploaded", **status):
    """The video resource: ``id``, ``snippet``, ``status.uploadStatus`` (sheet: videos.insert)."""
    return {"kind": "youtube#video", "id": VIDEO_ID,
            "snippet": {"title": "中老铁路开通一周年", "channelId": "UCsasac"},
            "status": {"uploadStatus": uploaded, "privacyStatus": "private", **status}}


def listed(uploaded="processed", processing="succeeded", **status):
    """videos.list?part=status,processingDetails (sheet: "Other calls")."""
    return httpx.Response(200, json={"kind": "youtube#videoListResponse", "items": [
        {"id": VIDEO_ID, "status": {"uploadStatus": uploaded, "privacyStatus": "private", **status},
         "processingDetails": {"processingStatus": processing}}]})


def started(location=SESSION):
    """Step 1: 200, the session URI in Location, no body."""
    return httpx.Response(200, headers={"Location": location})


def resume_incomplete(held=None):
    """308 Resume Incomplete with the Range the server holds (none: nothing)."""
    return httpx.Response(308, headers={"Range": f"bytes=0-{held - 1}"} if held else {})


def error(status, reason, message="…", domain="youtube.video"):
    """The sheet's error body: branch on errors[0].reason."""
    return google_error(status, reason, message, domain)


@pytest.fixture
def client():
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy.testing(), journal=False) as c:
        yield c


def upload_routes(respx_mock, *, puts, polls=(listed(),)):
    return {
        "start": respx_mock.post(UPLOAD).mock(return_value=started()),
        "put": respx_mock.put(SESSION).mock(side_effect=list(puts)),
        "list": respx_mock.get(VIDEOS).mock(side_effect=list(polls)),
        "thumb": respx_mock.post(THUMBS).mock(return_value=httpx.Response(200, json={
            "kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": "https://i.ytimg.com/x"}}]})),
    }


def drive(flow, answer, saved=None):
    """Run a sans-I/O flow by hand: *answer(step)* gives each request's response.

    An answer the platform classifies as an error is thrown into the flow, as
    the pipeline does (without its retries).
    """
    steps, value, error = [], None, None
    try:
        while True:
            step = flow.throw(error) if error is not None else flow.send(value)
            steps.append(step)
            value, error = None, None
            if isinstance(step, httpx.Request):
                value = answer(step)
                value.request = step
                error = YouTubePlatform().classify(value, channel())
            elif isinstance(step, Recall):
                value = dict(saved or {})
    except StopIteration as stop:
        return stop.value, steps


# --------------------------------------------------------------------------- description


def test_registered_with_its_capabilities_and_keys():
    cls = gm.platforms.get("youtube")
    assert cls is YouTubePlatform
    caps = cls.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.refresh, caps.reconcile) == (
        True, True, False, False, True, False)
    assert (caps.title_max, caps.text_max, caps.media_max, caps.media_kinds) == (100, 5000, 1, ("video",))
    assert cls.credential_keys == ("access_token",)
    assert set(cls.optional_credential_keys) == {"client_id", "client_secret", "refresh_token"}
    assert YouTubePlatform().opts(channel()).privacy_status == "private"  # DESIGN's default


def test_the_length_rules_moved_out_of_the_transitional_table_with_their_ids():
    from govmedia.content import counting

    assert not [r for r in counting.RULES if r.platform == "youtube"]
    [title] = counting.rules_for("youtube", "title")
    [text] = counting.rules_for("youtube", "text")
    assert (title.id, title.limit, text.id, text.limit) == (
        "youtube.title.max_length", 100, "youtube.text.max_bytes", 5000)
    assert title is YouTubePlatform().rule("youtube.title.max_length")


def test_the_description_is_the_text_else_the_summary_then_the_link():
    assert description(gm.Post(title="t", text="正文 https://example.org/a/1",
                               link="https://example.org/a/1")) == "正文 https://example.org/a/1"
    assert description(gm.Post(title="t", summary="摘要", link="https://example.org/a/1")) == \
        "摘要\n\nhttps://example.org/a/1"
    assert description(gm.Post(title="t", link="https://example.org/a/1")) == "https://example.org/a/1"


# --------------------------------------------------------------------------- checks


def problems(p, ch=None):
    return [(x.code, x.rule) for x in gm.Client().check(p, ch or channel())]


def test_a_good_post_passes():
    assert problems(post(cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))) == []


def test_the_title_is_required_at_most_100_characters_without_angle_brackets():
    assert problems(post(title=None)) == [("empty", "youtube.title.required")]
    assert problems(post(title="国" * 100)) == []  # CJK counts 1
    [problem] = gm.Client().check(post(title="国" * 101), channel())
    assert (problem.rule, problem.message) == ("youtube.title.max_length",
                                               "title is 101 characters, limit 100: 1 over")
    assert problems(post(title="<国资委> 发布")) == [("bad_text", "youtube.title.no_angle_brackets")]


def test_the_description_is_counted_in_utf8_bytes():
    assert problems(post(text="国" * 1666, link=None)) == []           # 4,998 bytes
    [problem] = gm.Client().check(post(text="国" * 1667), channel())   # 5,001 bytes
    assert (problem.rule, problem.message) == ("youtube.text.max_bytes",
                                               "text is 5001 UTF-8 bytes, limit 5000: 1 over")


def test_angle_brackets_in_the_description_are_refused_unverified():
    # Not on the fact sheet (YouTube's videos resource reference): unverified.
    assert problems(post(text="a < b")) == [("bad_text", "youtube.text.no_angle_brackets")]


def test_tags_count_with_their_commas_and_quotes_unverified():
    # "<=500 chars total" is the sheet's; commas and quotes counting is unverified.
    assert tag_list(("国企", "Belt and Road")) == '国企,"Belt and Road"'
    assert problems(post(tags=tuple(f"{i:04d}" for i in range(100)))) == []  # 100*4 + 99 = 499
    assert problems(post(tags=tuple(f"{i:04d}" for i in range(101)))) == [
        ("too_long", "youtube.tags.max_length")]


def test_media_rules():
    assert problems(post(media=())) == [("bad_media", "youtube.media.required")]
    assert problems(post(media=(clip(), clip(name="b.mp4")))) == [("bad_media", "youtube.media.single")]
    png = gm.Media.from_bytes(CHART_PNG, filename="chart.png")
    assert problems(post(media=(png,))) == [("bad_media", "youtube.media.kind")]
    # application/octet-stream is taken when its bytes are a video (sheet: MIME video/* or octet-stream)
    plain = gm.Media.from_bytes(MP4 + bytes(100), filename="clip.bin")
    assert plain.mime_type == "application/octet-stream" and problems(post(media=(plain,))) == []
    junk = gm.Media.from_bytes(b"just some text", filename="notes.bin")
    assert problems(post(media=(junk,))) == [("bad_media", "youtube.media.kind")]


def test_a_video_over_256_gb(tmp_path):
    big = tmp_path / "huge.mp4"
    with big.open("wb") as f:
        f.write(MP4)
        f.truncate(256 * 1024**3 + 1)  # sparse
    assert problems(post(media=(gm.Media.from_path(big),))) == [("bad_media", "youtube.media.max_size")]


def test_cover_rules_unverified():
    # thumbnails.set's limits are YouTube's reference, not on the fact sheet: unverified.
    gif = gm.Media.from_bytes(b"GIF89a" + bytes(100), filename="cover.gif")
    assert problems(post(cover=gif)) == [("bad_media", "youtube.cover.kind")]
    big = gm.Media.from_bytes(COVER_JPEG + bytes(2 * 1024 * 1024), filename="cover.jpg")
    assert problems(post(cover=big)) == [("bad_media", "youtube.cover.max_size")]


def test_renewing_takes_the_refresh_token_and_both_client_keys():
    half = gm.Channel(platform="youtube", account="@a",
                      credentials={"access_token": TOKEN, "refresh_token": REFRESH, "client_id": CLIENT_ID})
    with pytest.raises(gm.ConfigError, match="missing client_secret"):
        gm.Client().check(post(), half)
    with pytest.raises(gm.ConfigError, match="part_size must be a multiple of 262,144"):
        gm.Client().check(post(), channel(part_size=300_000))
    with pytest.raises(gm.ConfigError, match="privacy_status"):
        gm.Client().check(post(), channel(privacy_status="friends"))
    with pytest.raises(gm.ConfigError, match="poll_interval must be a positive number of seconds"):
        gm.Client().check(post(), channel(poll_interval=0))


# --------------------------------------------------------------------------- the upload, as the sheet shows it


def test_a_small_video_in_one_chunk(respx_mock, client):
    data = clip(3000).data
    routes = upload_routes(respx_mock, puts=[httpx.Response(200, json=video())],
                           polls=[listed("uploaded", "processing"), listed()])
    receipt = client.publish(post(3000, cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg")),
                             channel(category_id="25", made_for_kids=False, notify_subscribers=False))
    start = routes["start"].calls.last.request
    assert dict(start.url.params) == {"uploadType": "resumable", "part": "snippet,status",
                                      "notifySubscribers": "false"}
    assert start.headers["content-type"] == "application/json; charset=UTF-8"
    assert start.headers["x-upload-content-length"] == str(len(data))
    assert start.headers["x-upload-content-type"] == "video/mp4"
    assert start.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(start.content) == {
        "snippet": {"title": "中老铁路开通一周年", "description": "一年来累计发送旅客850万人次",
                    "tags": ["一带一路看国企"], "categoryId": "25"},
        "status": {"privacyStatus": "private", "selfDeclaredMadeForKids": False}}
    [put] = [c.request for c in routes["put"].calls]
    assert put.headers["content-range"] == f"bytes 0-{len(data) - 1}/{len(data)}"
    assert put.headers["content-type"] == "video/mp4" and put.content == data
    assert put.headers["authorization"] == f"Bearer {TOKEN}"
    thumb = routes["thumb"].calls.last.request
    assert thumb.url.params["videoId"] == VIDEO_ID and thumb.content == COVER_JPEG
    assert thumb.headers["content-type"] == "image/jpeg"
    assert dict(routes["list"].calls.last.request.url.params) == {"part": "status,processingDetails",
                                                                  "id": VIDEO_ID}
    assert (receipt.remote_id, receipt.url, receipt.state) == (
        VIDEO_ID, f"https://www.youtube.com/watch?v={VIDEO_ID}", "published")
    assert receipt.raw["thumbnail"] == "set" and receipt.raw["status"]["uploadStatus"] == "processed"


def test_chunks_are_256_kib_multiples_and_each_308_moves_on(respx_mock, client):
    data = clip(3 * UNIT + 500).data
    size = len(data)
    routes = upload_routes(respx_mock, puts=[resume_incomplete(UNIT), resume_incomplete(2 * UNIT),
                                             resume_incomplete(3 * UNIT),
                                             httpx.Response(201, json=video("processed"))])
    receipt = client.publish(gm.Post(title="t", media=(gm.Media.from_bytes(data, filename="v.mp4"),)),
                             channel(part_size=UNIT))
    ranges = [c.request.headers["content-range"] for c in routes["put"].calls]
    assert ranges == [f"bytes 0-{UNIT - 1}/{size}", f"bytes {UNIT}-{2 * UNIT - 1}/{size}",
                      f"bytes {2 * UNIT}-{3 * UNIT - 1}/{size}", f"bytes {3 * UNIT}-{size - 1}/{size}"]
    assert b"".join(c.request.content for c in routes["put"].calls) == data
    assert routes["list"].call_count == 0  # the answer said processed already
    assert receipt.state == "published"


def test_only_the_chunk_with_the_last_byte_is_the_create():
    data = clip(2 * UNIT + 10).data
    flow = YouTubePlatform().publish(gm.Post(title="t", media=(gm.Media.from_bytes(data, filename="v.mp4"),)),
                                     channel(part_size=UNIT), "k")
    answers = iter([started(), resume_incomplete(UNIT), resume_incomplete(2 * UNIT),
                    httpx.Response(200, json=video("processed"))])
    receipt, steps = drive(flow, lambda request: next(answers))
    requests = [s for s in steps if isinstance(s, httpx.Request)]
    assert [creates_something(r) for r in requests] == [False, False, False, True]
    assert is_retry_safe(requests[0])  # a second session is invisible: resent freely
    assert not is_retry_safe(requests[-1])  # YouTube does not deduplicate: sent once
    assert [s.sent for s in steps if isinstance(s, Uploaded)] == [UNIT, 2 * UNIT, len(data)]
    saved = [s for s in steps if isinstance(s, Checkpoint) and s.save]
    assert [s.data["upload"]["sent"] for s in saved if s.data.get("upload")] == [0, UNIT, 2 * UNIT]
    assert saved[-1].data == {"video_id": VIDEO_ID, "upload": None,  # the spent session is forgotten
                              "made_from": {"size": len(data),
                                            "source": "sha256:" + hashlib.sha256(data).hexdigest()}}
    assert receipt.remote_id == VIDEO_ID


def test_the_journal_layout_saved_by_earlier_versions_is_read_as_before():
    """``upload`` (the open session) and ``made_from`` (the file a video came from) keep their layout.

    Both are bound to the file's fingerprint (`SavedUpload`): what an earlier
    version saved for this very file resumes, or finishes its video; for any
    other file it is ignored and the file is uploaded afresh, never spliced.
    """
    data = clip(2 * UNIT + 10).data
    source = "sha256:" + hashlib.sha256(data).hexdigest()
    p = gm.Post(title="t", media=(gm.Media.from_bytes(data, filename="v.mp4"),))
    session = {"url": SESSION, "size": len(data), "source": source, "sent": UNIT}

    def first_request(saved):
        flow = YouTubePlatform().publish(p, channel(part_size=UNIT), "k")
        step = next(flow)
        while not isinstance(step, httpx.Request):
            step = flow.send(dict(saved) if isinstance(step, Recall) else None)
        flow.close()
        return step.method, step.headers.get("content-range")

    assert first_request({"upload": session}) == ("PUT", f"bytes */{len(data)}")  # asked, then resumed
    made = {"video_id": VIDEO_ID, "upload": None, "made_from": {"size": len(data), "source": source}}
    assert first_request(made) == ("GET", None)  # that video is finished, the file not sent again
    other = "sha256:" + "0" * 64
    assert first_request({"upload": {**session, "source": other}}) == ("POST", None)
    assert first_request({**made, "made_from": {"size": len(data), "source": other}}) == ("POST", None)
    assert first_request({"upload": {**session, "size": len(data) + 1}}) == ("POST", None)


def test_a_broken_chunk_asks_the_server_and_resumes_from_the_last_byte_it_holds(respx_mock, client):
    data = clip(3 * UNIT + 7).data
    size = len(data)

    def server(request):
        rng = request.headers["content-range"]
        if rng == f"bytes {UNIT}-{2 * UNIT - 1}/{size}" and not server.broke:
            server.broke = True
            raise httpx.ReadError("connection reset by peer")
        if rng == f"bytes */{size}":
            return resume_incomplete(UNIT)
        end = int(rng.split("-")[1].split("/")[0]) + 1
        return httpx.Response(200, json=video("processed")) if end == size else resume_incomplete(end)

    server.broke = False
    respx_mock.post(UPLOAD).mock(return_value=started())
    put = respx_mock.put(SESSION).mock(side_effect=server)
    client.publish(gm.Post(title="t", media=(gm.Media.from_bytes(data, filename="v.mp4"),)),
                   channel(part_size=UNIT))
    ranges = [c.request.headers["content-range"] for c in put.calls]
    assert ranges == [f"bytes 0-{UNIT - 1}/{size}", f"bytes {UNIT}-{2 * UNIT - 1}/{size}",
                      f"bytes */{size}",  # step 3: what do you hold?
                      f"bytes {UNIT}-{2 * UNIT - 1}/{size}", f"bytes {2 * UNIT}-{3 * UNIT - 1}/{size}",
                      f"bytes {3 * UNIT}-{size - 1}/{size}"]
    assert put.calls[2].request.content == b""


def test_a_5xx_on_a_chunk_and_a_308_without_range_resume_from_zero(respx_mock, client):
    data = clip(UNIT + 9).data
    size = len(data)
    routes = upload_routes(respx_mock, puts=[
        error(503, "backendError", "Backend Error", "global"),
        resume_incomplete(None),                      # no Range: nothing held, resume at 0
        resume_incomplete(UNIT), httpx.Response(201, json=video("processed"))])
    client.publish(gm.Post(title="t", media=(gm.Media.from_bytes(data, filename="v.mp4"),)),
                   channel(part_size=UNIT))
    ranges = [c.request.headers["content-range"] for c in routes["put"].calls]
    assert ranges == [f"bytes 0-{UNIT - 1}/{size}", f"bytes */{size}", f"bytes 0-{UNIT - 1}/{size}",
                      f"bytes {UNIT}-{size - 1}/{size}"]


def test_a_server_that_keeps_less_than_was_sent_is_resumed_from_what_it_keeps(respx_mock, client):
    data = clip(4 * UNIT).data
    size = len(data)
    routes = upload_routes(respx_mock, puts=[resume_incomplete(UNIT),  # 2 units sent, 1 kept
                                             resume_incomplete(3 * UNIT), resume_incomplete(size - 16),
                                             httpx.Response(200, json=video("processed"))])
    client.publish(gm.Post(title="t", media=(gm.Media.from_bytes(data, filename="v.mp4"),)),
                   channel(part_size=2 * UNIT))
    ranges = [c.request.headers["content-range"] for c in routes["put"].calls]
    assert ranges[:3] == [f"bytes 0-{2 * UNIT - 1}/{size}", f"bytes {UNIT}-{3 * UNIT - 1}/{size}",
                          f"bytes {3 * UNIT}-{size - 1}/{size}"]
    # the last chunk was held short too: its tail goes again, as the last chunk
    assert ranges[3] == f"bytes {size - 16}-{size - 1}/{size}"


def test_many_broken_chunks_in_a_row_end_the_upload_nothing_created(respx_mock, client):
    respx_mock.post(UPLOAD).mock(return_value=started())

    def server(request):
        if request.headers["content-range"].startswith("bytes */"):
            return resume_incomplete(None)
        return error(500, "backendError", "Backend Error", "global")

    put = respx_mock.put(SESSION).mock(side_effect=server)
    with pytest.raises(gm.TransientError) as info:
        client.publish(gm.Post(title="t", media=(clip(UNIT + 5),)), channel(part_size=UNIT))
    # Each chunk that broke was not the last: nothing can exist, so the delivery is
    # failed (a re-run resumes), not unknown.
    assert not isinstance(info.value, gm.DeliveryUnknown) and not info.value.maybe_applied
    assert "moved no further than byte 0 of" in info.value.message and "broke" in info.value.message
    assert put.call_count == 2 * 5 - 1  # five breaks, four questions


def upload_steps(size, answers, **options):
    """The requests (``PUT <Content-Range>``) and waits (``sleep <s>``) of an upload, and how it ended."""
    flow = YouTubePlatform().publish(gm.Post(title="t", media=(clip(size),)),
                                     channel(part_size=UNIT, **options), "k")
    it, seen, value, error = iter(answers), [], None, None
    try:
        while True:
            step = flow.throw(error) if error is not None else flow.send(value)
            value, error = None, None
            if isinstance(step, Sleep):
                seen.append(f"sleep {step.seconds:g}")
            elif isinstance(step, Recall):
                value = {}
            elif isinstance(step, httpx.Request):
                seen.append(f"{step.method} {step.headers.get('content-range', '')}".strip())
                value = next(it)
                value.request = step
                error = YouTubePlatform().classify(value, channel())
    except StopIteration as stop:
        return seen, stop.value
    except gm.GovMediaError as exc:
        return seen, exc


def test_a_stalled_upload_waits_longer_after_each_stall_in_a_row_then_gives_up():
    # "I hold nothing" every time: five stalls in a row, waits of 1, 2, 4 and 8 intervals between.
    seen, ended = upload_steps(3 * UNIT, [started()] + [resume_incomplete(None)] * 5, poll_interval=0.5)
    chunk = f"PUT bytes 0-{UNIT - 1}/{len(clip(3 * UNIT).data)}"
    assert seen == ["POST", chunk, "sleep 0.5", chunk, "sleep 1", chunk, "sleep 2", chunk, "sleep 4", chunk]
    assert isinstance(ended, gm.TransientError) and ended.code == "stalled" and not ended.maybe_applied


def test_a_round_that_moved_the_upload_goes_on_at_once_and_a_stall_waits_before_asking():
    size = len(clip(2 * UNIT + 100).data)  # three chunks, the last a short one
    broken = error(500, "backendError", "Backend Error", "global")
    seen, ended = upload_steps(2 * UNIT + 100, [
        started(), resume_incomplete(UNIT), broken,    # the second chunk breaks: moved 0 -> UNIT
        resume_incomplete(UNIT), broken,               # asked at once; broken again: a stall
        resume_incomplete(UNIT), resume_incomplete(2 * UNIT), httpx.Response(200, json=video("processed")),
    ], poll_interval=0.5)
    first, second, third = (f"PUT bytes {a}-{b}/{size}" for a, b in
                            ((0, UNIT - 1), (UNIT, 2 * UNIT - 1), (2 * UNIT, size - 1)))
    ask = f"PUT bytes */{size}"
    assert seen == ["POST", first, second, ask, second, "sleep 0.5", ask, second, third]
    assert ended.remote_id == VIDEO_ID


def test_a_server_that_keeps_nothing_cannot_loop_the_upload_forever(respx_mock, client):
    respx_mock.post(UPLOAD).mock(return_value=started())
    put = respx_mock.put(SESSION).mock(return_value=resume_incomplete(None))  # "I hold nothing"
    with pytest.raises(gm.TransientError) as info:
        client.publish(gm.Post(title="t", media=(clip(3 * UNIT),)), channel(part_size=UNIT))
    assert not info.value.maybe_applied and info.value.code == "stalled"
    assert put.call_count == 5


def test_a_session_uri_on_another_host_is_never_used(respx_mock, client):
    respx_mock.post(UPLOAD).mock(return_value=started("https://evil.example/upload?upload_id=1"))
    with pytest.raises(gm.PlatformError) as info:
        client.publish(post(), channel())
    assert info.value.code == "bad_response" and not info.value.maybe_applied
    assert "Nothing was uploaded" in info.value.hint


def test_the_last_chunk_lost_is_delivery_unknown_and_never_resent(respx_mock, client):
    respx_mock.post(UPLOAD).mock(return_value=started())
    put = respx_mock.put(SESSION).mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(post(), channel())
    assert put.call_count == 1
    assert info.value.known["upload"]["url"] == SESSION  # what a re-run asks
    assert "re-run asks the upload session" in str(info.value)


def test_the_session_uri_stays_out_of_logs_and_messages(respx_mock, client, caplog_all):
    """Whoever holds a session URI may finish the upload with bytes of their own."""
    respx_mock.post(UPLOAD).mock(return_value=started())
    respx_mock.put(SESSION).mock(side_effect=httpx.ReadTimeout("lost"))
    with pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(post(), channel())
    assert info.value.known["upload"]["url"] == SESSION  # kept, to ask it on a re-run
    for text in (str(info.value), repr(info.value), caplog_all.text):
        assert "xa298sd_sdlkj2" not in text
    assert "upload_id=***" in caplog_all.text


@pytest.mark.parametrize("answer", [
    error(500, "backendError", "Backend Error", "global"),
    httpx.Response(502, text="<html>bad gateway</html>"),
    httpx.Response(200, text="<html>captive portal</html>"),
    resume_incomplete(1000),  # the last chunk "held", every byte in, no video: may be in the making
])
def test_a_doubtful_answer_to_the_last_chunk_is_unknown(respx_mock, client, answer):
    respx_mock.post(UPLOAD).mock(return_value=started())
    put = respx_mock.put(SESSION).mock(return_value=answer)
    with pytest.raises(gm.DeliveryUnknown):
        client.publish(post(1000), channel())
    assert put.call_count == 1


@pytest.mark.parametrize("video_id", [12345, "", "x" * 65, "dQw4\nw9WgXcQ", "视频视频"])
def test_a_last_chunk_answered_with_a_garbage_video_id_is_unknown(respx_mock, client, video_id):
    # A video id is a short printable-ASCII string (id_or_none(most=64)): anything else never
    # reaches a URL, a log or the journal; the video may exist, so the delivery is in doubt.
    respx_mock.post(UPLOAD).mock(return_value=started())
    put = respx_mock.put(SESSION).mock(return_value=httpx.Response(200, json={**video(), "id": video_id}))
    listing = respx_mock.get(VIDEOS).mock(return_value=listed())
    with pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(post(1000), channel())
    assert put.call_count == 1 and not listing.called and "video_id" not in info.value.known


def test_a_refused_last_chunk_is_a_plain_failure(respx_mock, client):
    respx_mock.post(UPLOAD).mock(return_value=started())
    respx_mock.put(SESSION).mock(return_value=error(400, "mediaBodyRequired"))
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(post(), channel())
    assert not isinstance(info.value, gm.DeliveryUnknown)


# --------------------------------------------------------------------------- processing


def test_still_processing_at_the_bound_is_pending(respx_mock, client):
    routes = upload_routes(respx_mock, puts=[httpx.Response(200, json=video())],
                           polls=[listed("uploaded", "processing")] * 50)
    receipt = client.publish(post(), channel(poll_timeout=0.003))
    assert receipt.state == "pending" and routes["list"].call_count >= 2


@pytest.mark.parametrize(("status", "code"), [
    ({"uploadStatus": "failed", "failureReason": "codec"}, "failed:codec"),
    ({"uploadStatus": "rejected", "rejectionReason": "duplicate"}, "rejected:duplicate"),
])
def test_a_video_youtube_failed_or_rejected_is_content_rejected_naming_it(respx_mock, client, status, code):
    # The uploadStatus values and reasons are YouTube's reference, not the sheet's (unverified).
    upload_routes(respx_mock, puts=[httpx.Response(200, json=video())],
                  polls=[httpx.Response(200, json={"items": [{"id": VIDEO_ID, "status": status}]})])
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(post(), channel())
    assert info.value.code == code and info.value.known == {"video_id": VIDEO_ID}
    assert "YouTube Studio" in info.value.hint


def test_a_private_lock_is_warned_about(respx_mock, client, caplog):
    """Sheet: unaudited API projects have every upload locked to private."""
    upload_routes(respx_mock, puts=[httpx.Response(200, json=video())], polls=[listed()])
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        client.publish(post(), channel(privacy_status="public"))
    assert "asked for public, YouTube made it private" in caplog.text


def test_a_token_that_may_not_read_videos_list_still_gives_the_receipt(respx_mock, client):
    # Which scope videos.list takes is not on the sheet (unverified): a refusal
    # would refuse every re-run too, so the receipt is pending and says why.
    upload_routes(respx_mock, puts=[httpx.Response(200, json=video())],
                  polls=[error(403, "insufficientPermissions", "Request had insufficient scopes.", "global")])
    receipt = client.publish(post(), channel())
    assert receipt.state == "pending" and "insufficient" in receipt.raw["status_error"]


def test_a_thumbnail_youtube_refuses_leaves_the_video_published(respx_mock, client, caplog):
    routes = upload_routes(respx_mock, puts=[httpx.Response(200, json=video())], polls=[listed()])
    routes["thumb"].mock(return_value=error(403, "forbidden", "The authenticated user doesn't have "
                                            "permissions to upload and set custom video thumbnails."))
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        receipt = client.publish(post(cover=gm.Media.from_bytes(COVER_JPEG, filename="c.jpg")), channel())
    assert receipt.state == "published" and receipt.raw["thumbnail"].startswith("not set")
    assert "set it in YouTube Studio" in caplog.text


@pytest.mark.parametrize(("extra", "set_"), [(0, True), (2 * 1024 * 1024 - len(COVER_JPEG) + 1, False),
                                            (3 * 1024 * 1024, False)])
def test_a_cover_by_url_is_fetched_without_credentials_and_never_past_2_mb(respx_mock, client, extra, set_):
    routes = upload_routes(respx_mock, puts=[httpx.Response(200, json=video())], polls=[listed()])
    picture = respx_mock.get("https://cdn.example/cover.jpg").mock(
        return_value=httpx.Response(200, content=COVER_JPEG + bytes(extra)))
    receipt = client.publish(post(cover=gm.Media.from_url("https://cdn.example/cover.jpg")), channel())
    assert "authorization" not in picture.calls.last.request.headers
    assert receipt.state == "published" and (receipt.raw["thumbnail"] == "set") is set_
    assert routes["thumb"].called is set_
    if set_:
        assert routes["thumb"].calls.last.request.content == COVER_JPEG


# --------------------------------------------------------------------------- recover


def recover(doubt, answers, post_=None):
    flow = YouTubePlatform().recover(post_ or post(), channel(), "k", doubt)
    it = iter(answers)
    return drive(flow, lambda request: next(it))


def test_recover_with_a_known_video_id_polls_it_and_uploads_nothing():
    receipt, steps = recover(Doubt(stage="created", data={"video_id": VIDEO_ID}), [listed()])
    [request] = [s for s in steps if isinstance(s, httpx.Request)]
    assert request.method == "GET" and receipt.remote_id == VIDEO_ID and receipt.state == "published"


def test_recover_asks_the_session_a_completed_upload_is_the_video():
    upload = {"url": SESSION, "size": 1000, "source": "sha256:ab", "sent": 0}
    receipt, steps = recover(Doubt(stage="uploading", data={"upload": upload}),
                             [httpx.Response(200, json=video()), listed()])
    ask = steps[0]
    assert (ask.method, ask.headers["content-range"], ask.content) == ("PUT", "bytes */1000", b"")
    assert receipt.remote_id == VIDEO_ID
    assert Checkpoint("created", {"video_id": VIDEO_ID, "upload": None, "made_from": {
        "size": 1000, "source": "sha256:ab"}}) in steps


def test_recover_an_incomplete_session_means_nothing_exists():
    upload = {"url": SESSION, "size": 1000, "source": "sha256:ab", "sent": 0}
    found, _ = recover(Doubt(stage="uploading", data={"upload": upload}), [resume_incomplete(512)])
    assert found is None  # the engine publishes again, which resumes that session


@pytest.mark.parametrize("data", [
    {},
    {"upload": {"url": "https://evil.example/x", "size": 1000}},  # a tampered journal: never asked
])
def test_recover_without_a_session_to_ask_stays_unknown(data):
    with pytest.raises(gm.DeliveryUnknown, match="YouTube Studio"):
        recover(Doubt(stage="uploading", data=data), [])


def test_recover_with_a_vanished_session_stays_unknown():
    upload = {"url": SESSION, "size": 1000}
    with pytest.raises(gm.DeliveryUnknown, match="session is gone"):
        recover(Doubt(stage="uploading", data={"upload": upload}), [error(404, "notFound", domain="global")])


# --------------------------------------------------------------------------- scheduling

LATER = "2030-12-07T15:00:00+08:00"  # sent as 2030-12-07T07:00:00Z


def test_publish_at_goes_with_private_and_a_scheduled_video_is_a_scheduled_receipt(respx_mock, client):
    routes = upload_routes(respx_mock, puts=[httpx.Response(200, json=video(publishAt="2030-12-07T07:00:00Z"))],
                           polls=[listed("uploaded", "processing", publishAt="2030-12-07T07:00:00Z"),
                                  listed(publishAt="2030-12-07T07:00:00Z")])
    receipt = client.publish(post(), channel(publish_at=LATER))
    sent = json.loads(routes["start"].calls.last.request.content)
    # Sheet: status.publishAt (ISO 8601), only with privacyStatus private.
    assert sent["status"] == {"privacyStatus": "private", "publishAt": "2030-12-07T07:00:00Z"}
    assert (receipt.state, receipt.remote_id) == ("scheduled", VIDEO_ID)
    assert receipt.raw["status"]["publishAt"] == "2030-12-07T07:00:00Z"


def test_a_scheduled_video_still_processing_at_the_bound_is_pending(respx_mock, client):
    upload_routes(respx_mock, puts=[httpx.Response(200, json=video(publishAt="2030-12-07T07:00:00Z"))],
                  polls=[listed("uploaded", "processing", publishAt="2030-12-07T07:00:00Z")] * 50)
    receipt = client.publish(post(), channel(publish_at=LATER, poll_timeout=0.003))
    assert receipt.state == "pending"  # a video that fails processing is never published
    assert receipt.raw["status"]["publishAt"] == "2030-12-07T07:00:00Z"


@pytest.mark.parametrize("privacy", ["public", "unlisted"])
def test_publish_at_with_another_privacy_is_refused_before_any_request(respx_mock, client, privacy):
    with pytest.raises(gm.ConfigError, match="publish_at needs privacy_status 'private'") as info:
        client.publish(post(), channel(publish_at=LATER, privacy_status=privacy))
    assert "youtube:@sasac" in str(info.value) and not respx_mock.calls


def test_a_publish_at_already_past_is_a_problem_naming_the_channel_and_field(respx_mock, client):
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
    [problem] = client.check(post(), channel(publish_at=past))
    assert (problem.field, problem.rule) == ("publish_at", "youtube.publish_at.future")
    assert "youtube:@sasac" in problem.message and "not in the future" in problem.message
    with pytest.raises(gm.ValidationError):
        client.publish(post(), channel(publish_at=past))
    assert not respx_mock.calls
    with pytest.raises(gm.ConfigError, match="publish_at"):  # no zone: which time is meant?
        client.check(post(), channel(publish_at="2030-12-07T07:00:00"))


def test_invalid_publish_at_is_content_rejected_and_nothing_is_uploaded(respx_mock, client):
    routes = upload_routes(respx_mock, puts=[])
    routes["start"].mock(return_value=error(400, "invalidPublishAt", "The request metadata specifies "
                                            "an invalid scheduled publishing time."))
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(post(), channel(publish_at=LATER))
    assert info.value.code == "invalidPublishAt" and "later time" in info.value.hint
    assert routes["put"].call_count == 0


def test_a_publish_time_youtube_did_not_keep_is_warned_about(respx_mock, client, caplog):
    # An unaudited project's uploads are locked private (sheet); whether it
    # keeps publishAt is not said: without it the video is never published.
    upload_routes(respx_mock, puts=[httpx.Response(200, json=video())], polls=[listed()])
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        receipt = client.publish(post(), channel(publish_at=LATER))
    assert receipt.state == "published" and "keeps no publishAt" in caplog.text


def test_a_scheduled_video_already_public_when_read_is_published_without_a_warning(respx_mock, client, caplog):
    upload_routes(respx_mock, puts=[httpx.Response(200, json=video(publishAt="2030-12-07T07:00:00Z"))],
                  polls=[listed(privacyStatus="public")])
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        receipt = client.publish(post(), channel(publish_at=LATER))
    assert receipt.state == "published" and not caplog.records


def test_schedule_sends_a_public_channel_private_with_the_time_and_refuses_the_others():
    at = dt.datetime(2030, 12, 7, 15, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    scheduled = YouTubePlatform().schedule(channel(privacy_status="public"), at)
    assert scheduled.options["privacy_status"] == "private"
    assert scheduled.options["publish_at"] == "2030-12-07T07:00:00Z"
    YouTubePlatform().check_channel(scheduled)
    for privacy in ({}, {"privacy_status": "private"}, {"privacy_status": "unlisted"}):
        # YouTube would make it public at that time: the channel did not ask for that.
        with pytest.raises(gm.ConfigError, match="privacy_status 'public'"):
            YouTubePlatform().schedule(channel(**privacy), at)


# --------------------------------------------------------------------------- tokens


def test_a_refused_token_is_renewed_once_with_the_refresh_token(respx_mock, client):
    respx_mock.post(UPLOAD).mock(side_effect=[
        error(401, "authError", "Invalid Credentials", "global"), started()])
    token = respx_mock.post(TOKEN_URL).mock(return_value=httpx.Response(200, json={
        "access_token": "ya29.new-token-0002", "expires_in": 3599, "scope": "https://www.googleapis.com/auth/youtube",
        "token_type": "Bearer"}))
    put = respx_mock.put(SESSION).mock(return_value=httpx.Response(200, json=video("processed")))
    client.publish(post(), channel())
    form = parse_qs(token.calls.last.request.content.decode())
    assert form == {"grant_type": ["refresh_token"], "refresh_token": [REFRESH], "client_id": [CLIENT_ID],
                    "client_secret": [SECRET]}
    assert "authorization" not in token.calls.last.request.headers  # no bearer to the token endpoint
    assert put.calls.last.request.headers["authorization"] == "Bearer ya29.new-token-0002"


def test_the_token_answer_keeps_the_refresh_token_google_does_not_rotate():
    request = httpx.Request("POST", TOKEN_URL)
    previous = gm.platforms.Token(value=TOKEN, refresh_token=REFRESH)
    token = YouTubePlatform().token_from(httpx.Response(200, json={"access_token": "ya29.b-1234567",
                                                                   "expires_in": 3599}, request=request),
                                         channel(), previous=previous)
    assert (token.value, token.refresh_token, token.expires_in) == ("ya29.b-1234567", REFRESH, 3599.0)
    with pytest.raises(gm.AuthError):
        YouTubePlatform().token_from(httpx.Response(200, json={}, request=request), channel(),
                                     previous=previous)


@pytest.mark.parametrize("lifetime", [None, 0, -5, True, "3599", 1.7e9, 24 * 3600 + 1])
def test_a_token_answer_without_a_usable_lifetime_is_taken_for_an_hour(lifetime):
    request = httpx.Request("POST", TOKEN_URL)
    answer = {"access_token": "ya29.b-1234567", **({"expires_in": lifetime} if lifetime is not None else {})}
    token = YouTubePlatform().token_from(httpx.Response(200, json=answer, request=request), channel(),
                                         previous=None)
    assert token.expires_in == 3600.0  # "access tokens last ~1 h"


@pytest.mark.parametrize("answer", [
    httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
    httpx.Response(401, json={"error": "invalid_client", "error_description": "The OAuth client was not found."}),
])
def test_a_refused_refresh_asks_for_a_new_authorisation(respx_mock, client, answer):
    start = respx_mock.post(UPLOAD).mock(return_value=error(401, "authError", "Invalid Credentials", "global"))
    respx_mock.post(TOKEN_URL).mock(return_value=answer)
    with pytest.raises(gm.AuthError) as info:
        client.publish(post(), channel())
    assert "authorise the account again in the browser" in str(info.value)
    assert start.call_count == 1 and REFRESH not in str(info.value) and SECRET not in str(info.value)


def test_without_a_refresh_token_a_refused_token_is_an_auth_error(respx_mock, client):
    respx_mock.post(UPLOAD).mock(return_value=error(401, "authError", "Invalid Credentials", "global"))
    with pytest.raises(gm.AuthError, match="refresh_token, client_id and client_secret"):
        client.publish(post(), channel(refresh=False))


def test_two_concurrent_callers_refresh_once():
    refreshed, lock = [], threading.Lock()

    def handler(request):
        if request.url.host == "oauth2.googleapis.com":
            with lock:
                refreshed.append(parse_qs(request.content.decode())["refresh_token"][0])
            return httpx.Response(200, json={"access_token": "ya29.fresh-0003", "expires_in": 3599})
        if request.headers["authorization"] == f"Bearer {TOKEN}":
            return error(401, "authError", "Invalid Credentials", "global")
        if request.method == "POST":
            return started(SESSION + request.url.params["part"][:0] + str(len(refreshed)))
        return httpx.Response(200, json=video("processed"))

    ch = channel()

    async def main():
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with gm.AsyncClient(http=http, retry=gm.RetryPolicy.testing(), journal=False) as client:
            async with anyio.create_task_group() as tg:
                for title in ("第一条", "第二条"):
                    tg.start_soon(client.publish, post(title=title), ch)
        await http.aclose()

    anyio.run(main)
    assert refreshed == [REFRESH]


# --------------------------------------------------------------------------- errors


def classify(response, method="POST", url=UPLOAD, **headers):
    response.request = httpx.Request(method, url, headers=headers)
    return YouTubePlatform().classify(response, channel())


def test_errors_branch_on_the_first_reason():
    quota = classify(error(403, "quotaExceeded", "The request cannot be completed because you have exceeded "
                           "your quota.", "youtube.quota"))
    assert isinstance(quota, gm.RateLimited) and quota.quota and "Pacific" in quota.hint
    assert 0 < quota.retry_after <= 86400  # until midnight Pacific Time
    for reason in ("rateLimitExceeded", "userRateLimitExceeded"):
        slow = classify(error(403, reason, "Rate Limit Exceeded", "usageLimits"))
        assert isinstance(slow, gm.RateLimited) and not slow.quota
    assert isinstance(classify(error(429, "rateLimitExceeded")), gm.RateLimited)
    cap = classify(error(400, "uploadLimitExceeded"))
    assert isinstance(cap, gm.RateLimited) and cap.quota
    auth = classify(error(401, "authError", "Invalid Credentials", "global"))
    assert isinstance(auth, gm.AuthError)
    signup = classify(error(401, "youtubeSignupRequired"))
    assert type(signup) is gm.PlatformError and "no YouTube channel" in signup.hint
    scope = classify(error(403, "insufficientPermissions", domain="global"))
    assert type(scope) is gm.PlatformError and "youtube.upload" in scope.hint
    title = classify(error(400, "invalidTitle"))
    assert isinstance(title, gm.ContentRejected) and title.code == "invalidTitle"
    backend = classify(error(500, "backendError", "Backend Error", "global"))
    assert isinstance(backend, gm.TransientError) and backend.maybe_applied
    odd = classify(error(400, "someNewReason", "Something new"))
    assert isinstance(odd, gm.ContentRejected) and odd.code == 400 and "someNewReason" in odd.message


def test_a_308_is_a_success_only_as_the_answer_to_a_chunk():
    assert classify(resume_incomplete(10), "PUT", SESSION, **{"Content-Range": "bytes 0-9/20"}) is None
    assert classify(httpx.Response(308), "PUT", SESSION) is not None
    assert classify(httpx.Response(308), "GET", VIDEOS) is not None
    assert classify(httpx.Response(200), "POST", UPLOAD) is None  # the start: Location, no body


def test_quota_resets_at_midnight_pacific():
    noon_pacific = dt.datetime(2026, 7, 1, 19, 0, tzinfo=dt.UTC)  # 12:00 PDT
    assert _until_pacific_midnight(noon_pacific) == 12 * 3600


# --------------------------------------------------------------------------- delete, metrics


def test_delete_and_a_video_gone_already(respx_mock, client):
    route = respx_mock.delete(VIDEOS).mock(side_effect=[
        httpx.Response(204), error(404, "videoNotFound", "The video that you are trying to delete cannot be found.")])
    receipt = gm.Receipt(channel=channel(), remote_id=VIDEO_ID)
    client.delete(receipt)
    client.delete(receipt)
    assert route.call_count == 2 and route.calls.last.request.url.params["id"] == VIDEO_ID


@pytest.mark.parametrize(("given", "read"), [
    ("5400", 5400), (5400, 5400), ("0", 0), ("-1", None), ("5,400", None), (" 54", None), ("١٢", None),
    ("9" * 21, None), (True, None), (None, None), (5.0, None),
])
def test_a_count_is_digits_or_a_whole_number_never_a_made_up_zero(respx_mock, client, given, read):
    receipt = gm.Receipt(channel=channel(), remote_id=VIDEO_ID)
    stats = {} if given is None else {"viewCount": given}
    respx_mock.get(VIDEOS).mock(return_value=httpx.Response(200, json={"items": [
        {"id": VIDEO_ID, "statistics": stats}]}))
    assert client.metrics(receipt).views == read


def test_metrics_from_statistics_strings_and_no_shares(respx_mock, client):
    # statistics' counts as strings and a hidden likeCount are YouTube's reference (unverified).
    route = respx_mock.get(VIDEOS).mock(side_effect=[
        httpx.Response(200, json={"items": [{"id": VIDEO_ID, "statistics": {
            "viewCount": "5400", "likeCount": "120", "favoriteCount": "0", "commentCount": "8"}}]}),
        httpx.Response(200, json={"items": [{"id": VIDEO_ID, "statistics": {"viewCount": "7",
                                                                             "commentCount": "0"}}]}),
        httpx.Response(200, json={"items": []})])
    receipt = gm.Receipt(channel=channel(), remote_id=VIDEO_ID)
    metrics = client.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (5400, 120, None, 8)
    assert dict(route.calls.last.request.url.params) == {"part": "statistics", "id": VIDEO_ID}
    hidden = client.metrics(receipt)
    assert (hidden.views, hidden.likes, hidden.comments) == (7, None, 0)
    with pytest.raises(gm.PlatformError, match="does not list"):
        client.metrics(receipt)


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["youtube"])


@pytest.fixture
def fake(sandbox) -> FakeYouTube:
    return sandbox["youtube"]


def video_file(tmp_path, size=3 * UNIT + 1234):
    path = tmp_path / "railway.mp4"
    data = MP4 + bytes(range(256)) * (size // 256)
    path.write_bytes(data[:size])
    return path, data[:size]


def fan_out(sandbox, p, ch, journal, http=None, progress=None):
    with gm.Client(http=http or sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        return client.fan_out(p, [ch], progress=progress)


def test_a_video_from_disk_through_the_fake_with_progress(sandbox, fake, tmp_path):
    path, data = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    seen = []

    class Progress:
        def __call__(self, delivery):
            pass

        def upload(self, event):
            seen.append(event.sent)

    p = post(media=(gm.Media.from_path(path),), cover=gm.Media.from_bytes(COVER_JPEG, filename="c.jpg"))
    report = fan_out(sandbox, p, ch, tmp_path / "j.db", progress=Progress())
    assert report.ok and report.deliveries[0].receipt.state == "published"
    [made] = fake.videos.values()
    assert made.sha256 == hashlib.sha256(data).hexdigest() and made.thumbnail == ("image/jpeg", len(COVER_JPEG))
    assert seen == [UNIT, 2 * UNIT, 3 * UNIT, len(data)]


def test_a_lost_answer_to_the_last_chunk_is_settled_by_a_rerun_without_a_second_video(sandbox, fake, tmp_path):
    path, _ = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    p = post(media=(gm.Media.from_path(path),))

    def losing(request):
        response = sandbox(request)
        if response.status_code == 200 and request.method == "PUT" and not losing.done:
            losing.done = True
            raise httpx.ReadTimeout("applied, then the answer was lost", request=request)
        return response

    losing.done = False
    journal = tmp_path / "j.db"
    first = fan_out(sandbox, p, ch, journal, http=httpx.Client(transport=httpx.MockTransport(losing)))
    assert first.deliveries[0].state == "unknown"
    assert first.deliveries[0].error.known["upload"]["url"].startswith(fake.base_url)
    second = fan_out(sandbox, p, ch, journal)
    assert second.deliveries[0].state == "published"
    [live] = fake.posts("@sasac")
    assert second.deliveries[0].receipt.remote_id == live["id"]
    assert len(fake.sessions) == 1 and len(fake.requests(r"^/upload/youtube/v3/videos$")) == 1
    # the re-run asked the session (bytes */TOTAL), sent no video byte again
    assert [r.status for r in fake.requests(fake.create_path)] == [308, 308, 308, 200, 200]


def test_a_rerun_after_a_lost_last_chunk_that_never_landed_resumes_the_same_session(sandbox, fake, tmp_path):
    path, _ = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    p = post(media=(gm.Media.from_path(path),))

    def dropping(request):
        last = request.headers.get("content-range", "").endswith(f"-{path.stat().st_size - 1}/{path.stat().st_size}")
        if request.method == "PUT" and last and not dropping.done:
            dropping.done = True  # the connection dies mid-body: YouTube kept nothing of it
            raise httpx.WriteError("broken pipe", request=request)
        return sandbox(request)

    dropping.done = False
    journal = tmp_path / "j.db"
    first = fan_out(sandbox, p, ch, journal, http=httpx.Client(transport=httpx.MockTransport(dropping)))
    assert first.deliveries[0].state == "unknown"
    second = fan_out(sandbox, p, ch, journal)
    assert second.deliveries[0].state == "published" and len(fake.posts()) == 1
    assert len(fake.sessions) == 1  # recover found it incomplete (nothing exists); publish resumed it


def test_a_fault_after_the_create_is_unknown_with_the_id_and_a_rerun_finishes_it(sandbox, fake, tmp_path):
    ch = fake.channel("@sasac")
    fake.inject("server_error", path=r"^/youtube/v3/videos$", method="GET", times=10)
    journal = tmp_path / "j.db"
    first = fan_out(sandbox, post(), ch, journal)
    delivery = first.deliveries[0]
    assert delivery.state == "unknown" and isinstance(delivery.error, gm.DeliveryUnknown)
    [live] = fake.posts("@sasac")
    assert delivery.error.known["video_id"] == live["id"]
    fake.faults.clear()
    second = fan_out(sandbox, post(), ch, journal)
    assert second.deliveries[0].state == "published"
    assert second.deliveries[0].receipt.remote_id == live["id"]
    assert len(fake.sessions) == 1 and len(fake.posts()) == 1


def test_an_upload_cut_by_a_crash_is_resumed_by_the_next_run(sandbox, fake, tmp_path):
    path, data = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    p = post(media=(gm.Media.from_path(path),))

    class Crash(BaseException):
        pass

    def dying(request):
        if request.headers.get("content-range", "").startswith(f"bytes {2 * UNIT}-"):
            raise Crash  # the process dies sending the third chunk
        return sandbox(request)

    journal = tmp_path / "j.db"
    with pytest.raises(Crash):
        fan_out(sandbox, p, ch, journal, http=httpx.Client(transport=httpx.MockTransport(dying)))
    row = sqlite3.connect(journal).execute("SELECT state, progress FROM deliveries").fetchone()
    assert row[0] == "pending" and json.loads(row[1])["upload"]["sent"] == 2 * UNIT
    report = fan_out(sandbox, p, ch, journal)
    assert report.deliveries[0].state == "published"
    assert len(fake.sessions) == 1  # the same session, resumed
    [made] = fake.videos.values()
    assert made.sha256 == hashlib.sha256(data).hexdigest()


def test_a_changed_file_is_uploaded_afresh_never_spliced(sandbox, fake, tmp_path):
    path, _ = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    p = post(media=(gm.Media.from_path(path),))
    flow = YouTubePlatform().publish(p, ch, "k")
    stat = path.stat()
    saved = {"upload": {"url": f"{fake.base_url}/upload/sessions/old", "size": stat.st_size,
                        "source": f"path:{path}:{stat.st_size}:{stat.st_mtime_ns - 1}", "sent": UNIT}}
    _, steps = drive(flow, lambda request: sandbox(YouTubePlatform().authorize(request, ch, None)),
                     saved=saved)
    first = next(s for s in steps if isinstance(s, httpx.Request))
    assert first.method == "POST"  # a new session: the saved one was of another version of the file


def test_an_expired_session_is_started_afresh(sandbox, fake, tmp_path):
    path, _ = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    p = post(media=(gm.Media.from_path(path),))

    class Crash(BaseException):
        pass

    def dying(request):
        if request.headers.get("content-range", "").startswith(f"bytes {UNIT}-"):
            raise Crash
        return sandbox(request)

    journal = tmp_path / "j.db"
    with pytest.raises(Crash):
        fan_out(sandbox, p, ch, journal, http=httpx.Client(transport=httpx.MockTransport(dying)))
    for session in fake.sessions.values():
        session.expires_at = 0  # a week later (the session's life is unverified)
    assert fan_out(sandbox, p, ch, journal).deliveries[0].state == "published"
    assert len(fake.sessions) == 2 and len(fake.posts()) == 1


def test_a_session_that_vanishes_mid_upload_is_started_afresh_once(sandbox, fake, tmp_path):
    """Sheet: a 404 on the session URI means the session is gone: restart at step 1."""
    path, data = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)

    def expiring(request):
        response = sandbox(request)
        if request.method == "PUT" and (len(fake.sessions) == 1 or always):
            for session in fake.sessions.values():
                session.expires_at = 0  # gone after its first chunk
        return response

    always = False

    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(expiring)), journal=False) as client:
        client.publish(post(media=(gm.Media.from_path(path),)), ch)
    assert len(fake.sessions) == 2 and len(fake.videos) == 1
    [made] = fake.videos.values()
    assert made.sha256 == hashlib.sha256(data).hexdigest()
    always = True
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(expiring)), journal=False) as client, \
            pytest.raises(gm.PlatformError) as info:
        client.publish(post(media=(gm.Media.from_path(path),), title="第二条"), ch)
    assert info.value.code == 404 and not isinstance(info.value, gm.DeliveryUnknown)
    assert len(fake.videos) == 1  # twice gone in one run: stop, nothing made


def test_a_server_that_keeps_half_of_each_chunk(sandbox, fake, tmp_path):
    path, data = video_file(tmp_path, size=5 * UNIT + 77)
    fake.short_acks = 2
    ch = fake.channel("@sasac", part_size=2 * UNIT)
    with gm.Client(http=sandbox.client(), journal=False) as client:
        client.publish(post(media=(gm.Media.from_path(path),)), ch)
    [made] = fake.videos.values()
    assert made.sha256 == hashlib.sha256(data).hexdigest()


def test_a_broken_chunk_is_resumed_within_the_run(sandbox, fake, tmp_path):
    path, data = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    fake.inject("timeout_after", path=fake.create_path)  # the first chunk: kept, its answer lost
    fake.inject("server_error", path=fake.create_path)   # the next: refused
    with gm.Client(http=sandbox.client(), journal=False, retry=gm.RetryPolicy.testing()) as client:
        client.publish(post(media=(gm.Media.from_path(path),)), ch)
    [made] = fake.videos.values()
    assert made.sha256 == hashlib.sha256(data).hexdigest() and len(fake.sessions) == 1


@pytest.mark.anyio
async def test_the_async_client_uploads_and_resumes_too(sandbox, fake, tmp_path):
    path, data = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    fake.inject("timeout_after", path=fake.create_path)
    async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing(),
                              journal=False) as client:
        receipt = await client.publish(post(media=(gm.Media.from_path(path),)), ch)
    assert receipt.state == "published"
    [made] = fake.videos.values()
    assert made.sha256 == hashlib.sha256(data).hexdigest()


def test_processing_the_fake_fails_is_content_rejected_and_leaves_one_video(sandbox, fake):
    fake.processing_fails = "codec"
    with gm.Client(http=sandbox.client(), journal=False) as client, pytest.raises(gm.ContentRejected) as info:
        client.publish(post(), fake.channel("@sasac"))
    assert info.value.code == "failed:codec"
    assert [v["status"]["uploadStatus"] for v in fake.posts()] == ["failed"]


def test_a_rerun_after_youtube_failed_the_video_does_not_upload_the_same_file_again(sandbox, fake, tmp_path):
    path, _ = video_file(tmp_path)
    fake.processing_fails = "codec"
    ch = fake.channel("@sasac", part_size=UNIT)
    p = post(media=(gm.Media.from_path(path),))
    journal = tmp_path / "j.db"
    first = fan_out(sandbox, p, ch, journal)
    second = fan_out(sandbox, p, ch, journal)
    assert [r.deliveries[0].state for r in (first, second)] == ["failed", "failed"]
    assert second.deliveries[0].error.code == "failed:codec"
    assert len(fake.sessions) == 1 and len(fake.videos) == 1  # the same file is not a second video


def test_a_saved_video_of_another_file_is_not_taken_for_this_one(sandbox, fake, tmp_path):
    path, _ = video_file(tmp_path)
    ch = fake.channel("@sasac", part_size=UNIT)
    flow = YouTubePlatform().publish(post(media=(gm.Media.from_path(path),)), ch, "k")
    saved = {"video_id": "oldVideo123", "made_from": {"size": 1, "source": "path:/tmp/other.mp4:1:1"}}
    receipt, _ = drive(flow, lambda request: sandbox(YouTubePlatform().authorize(request, ch, None)),
                       saved=saved)
    assert receipt.remote_id != "oldVideo123" and len(fake.videos) == 1


def test_a_daily_quota_spent_is_raised_at_once(sandbox, fake):
    fake.quota["videos.insert"] = 0
    with gm.Client(http=sandbox.client(), journal=False) as client, pytest.raises(gm.RateLimited) as info:
        client.publish(post(), fake.channel("@sasac"))
    assert info.value.quota and fake.posts() == []
    assert len(fake.requests()) == 1


def test_the_fake_served_over_http_uploads_too(tmp_path):
    from govmedia.testing.server import SandboxServer

    path, data = video_file(tmp_path)
    with SandboxServer(platforms=["youtube"]) as server:
        fake = server.sandbox["youtube"]
        with gm.Client(journal=False) as client:
            receipt = client.publish(post(media=(gm.Media.from_path(path),)),
                                     fake.channel("@sasac", part_size=UNIT))
    assert receipt.state == "published"
    [made] = fake.videos.values()
    assert made.sha256 == hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- scheduling, the fake


def ceil_second(at):
    up = (at + dt.timedelta(microseconds=999_999)).replace(microsecond=0)
    return up.isoformat().replace("+00:00", "Z")


def test_the_fake_keeps_a_scheduled_video_private_until_its_time(sandbox, fake):
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    ch = fake.channel("@sasac", privacy_status="private", publish_at=at.isoformat())
    with gm.Client(http=sandbox.client(), journal=False) as client:
        receipt = client.publish(post(), ch)
    assert receipt.state == "scheduled"
    [waiting] = fake.scheduled("@sasac")
    assert waiting["status"]["privacyStatus"] == "private"
    assert waiting["status"]["publishAt"] == ceil_second(at)
    stranger = fake.channel("@someone")
    listing = sandbox.client().get(f"{fake.base_url}/youtube/v3/videos",
                                   params={"part": "status", "id": receipt.remote_id},
                                   headers={"Authorization": f"Bearer {stranger.credentials['access_token']}"})
    assert listing.json()["items"] == []  # not public: others do not see it
    fake.clock = lambda: at.timestamp() + 1
    [live] = fake.posts("@sasac")
    assert live["status"]["privacyStatus"] == "public" and "publishAt" not in live["status"]
    assert fake.scheduled() == []


@pytest.mark.parametrize(("status", "late"), [
    ({"privacyStatus": "public"}, False), ({"privacyStatus": "unlisted"}, False),
    ({"privacyStatus": "private"}, True), ({"privacyStatus": "private", "publishAt": "2030-12-07"}, False),
])
def test_the_fake_takes_publish_at_only_private_and_ahead(sandbox, fake, status, late):
    ch = fake.channel("@sasac")
    when = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=-1 if late else 60)
    answer = sandbox.client().post(
        f"{fake.base_url}/upload/youtube/v3/videos", params={"uploadType": "resumable", "part": "snippet,status"},
        json={"snippet": {"title": "中老铁路"}, "status": {"publishAt": when.isoformat(), **status}},
        headers={"Authorization": f"Bearer {ch.credentials['access_token']}", "X-Upload-Content-Length": "1000",
                 "X-Upload-Content-Type": "video/mp4"})
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["reason"] == "invalidPublishAt"
    assert fake.sessions == {}


def test_a_time_that_passed_before_the_upload_started_is_content_rejected(sandbox, fake):
    at = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    fake.clock = lambda: at.timestamp() + 60  # YouTube's clock is past it by the time it is asked
    with gm.Client(http=sandbox.client(), journal=False) as client, pytest.raises(gm.ContentRejected) as info:
        client.publish(post(), fake.channel("@sasac", publish_at=at.isoformat()))
    assert info.value.code == "invalidPublishAt" and fake.videos == {} and fake.sessions == {}


def test_an_unaudited_project_keeps_no_publish_time(sandbox, fake, caplog):
    fake.audited = False
    at = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with gm.Client(http=sandbox.client(), journal=False) as client, caplog.at_level(logging.WARNING):
        receipt = client.publish(post(), fake.channel("@sasac", publish_at=at.isoformat()))
    assert receipt.state == "published" and "keeps no publishAt" in caplog.text
    assert fake.scheduled() == []
