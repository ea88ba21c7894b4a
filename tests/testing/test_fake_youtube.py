"""FakeYouTube: refuses what the Data API refuses, keeps sessions and videos, advances processing.

Driven with plain httpx requests shaped as shared/platforms/youtube.md shows
them, so the fake is checked on its own, not through the platform. Where the
fake models what the sheet does not say, the test names it.
"""

import hashlib
import json

import httpx
import pytest

from govmedia.testing import FakeYouTube
from govmedia.testing.samples import CHART_PNG, COVER_JPEG

UNIT = 256 * 1024
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@pytest.fixture
def fake():
    return FakeYouTube()


@pytest.fixture
def ch(fake):
    return fake.channel("@sasac")


def call(fake, method, path, *, token=None, ch=None, **kwargs):
    headers = kwargs.pop("headers", {})
    bearer = token if token is not None else (ch.credentials["access_token"] if ch else None)
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    url = path if path.startswith("http") else fake.base_url + path
    return fake(httpx.Request(method, url, headers=headers, **kwargs))


def reason(response):
    return response.json()["error"]["errors"][0]["reason"]


def start(fake, ch, size, *, metadata=None, kind="video/mp4", params=None):
    body = metadata or {"snippet": {"title": "中老铁路开通一周年", "description": "一周年",
                                    "tags": ["一带一路看国企"]},
                        "status": {"privacyStatus": "unlisted"}}
    return call(fake, "POST", "/upload/youtube/v3/videos", ch=ch, json=body,
                params=params or {"uploadType": "resumable", "part": "snippet,status"},
                headers={"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": kind})


def put(fake, ch, url, data, first, total):
    rng = f"bytes {first}-{first + len(data) - 1}/{total}" if data else f"bytes */{total}"
    return call(fake, "PUT", url, ch=ch, content=data, headers={"Content-Range": rng})


def upload(fake, ch, data, part=UNIT):
    url = start(fake, ch, len(data)).headers["location"]
    answer = None
    for offset in range(0, len(data), part):
        answer = put(fake, ch, url, data[offset:offset + part], offset, len(data))
    return url, answer


def test_a_session_takes_the_bytes_in_chunks_and_answers_the_video(fake, ch):
    data = MP4 + bytes(2 * UNIT)
    started = start(fake, ch, len(data))
    assert started.status_code == 200 and started.content == b""
    url = started.headers["location"]
    assert url.startswith(f"{fake.base_url}/upload/sessions/")
    first = put(fake, ch, url, data[:UNIT], 0, len(data))
    assert (first.status_code, first.headers["range"]) == (308, f"bytes=0-{UNIT - 1}")
    asked = put(fake, ch, url, b"", 0, len(data))
    assert (asked.status_code, asked.headers["range"]) == (308, f"bytes=0-{UNIT - 1}")
    done = put(fake, ch, url, data[UNIT:], UNIT, len(data))
    assert done.status_code == 200
    video = done.json()
    assert video["status"] == {"uploadStatus": "uploaded", "privacyStatus": "unlisted", "license": "youtube",
                               "embeddable": True, "publicStatsViewable": True}
    assert video["snippet"]["title"] == "中老铁路开通一周年" and video["snippet"]["tags"] == ["一带一路看国企"]
    made = fake.videos[video["id"]]
    assert made.sha256 == hashlib.sha256(data).hexdigest() and made.size == len(data)
    # A finished session answers the video again (modelled: not on the sheet).
    assert put(fake, ch, url, b"", 0, len(data)).json()["id"] == video["id"]


def test_no_idempotency_a_second_session_is_a_second_video(fake, ch):
    data = MP4 + bytes(100)
    upload(fake, ch, data)
    upload(fake, ch, data)
    assert len(fake.posts("@sasac")) == 2


def test_an_empty_session_answers_308_without_range(fake, ch):
    url = start(fake, ch, 1000).headers["location"]
    asked = put(fake, ch, url, b"", 0, 1000)
    assert asked.status_code == 308 and "range" not in asked.headers


@pytest.mark.parametrize(("first", "size", "total", "words"), [
    (UNIT, UNIT, 3 * UNIT, "starts at byte"),          # not the next byte (modelled)
    (0, UNIT + 1, 3 * UNIT, "multiple of 256 KiB"),    # a middle chunk not a multiple (modelled)
    (0, UNIT, 4 * UNIT, "TOTAL"),                      # another total
])
def test_chunks_out_of_order_or_of_the_wrong_size_are_refused(fake, ch, first, size, total, words):
    url = start(fake, ch, 3 * UNIT).headers["location"]
    rng = f"bytes {first}-{first + size - 1}/{total}"
    answer = call(fake, "PUT", url, ch=ch, content=bytes(size), headers={"Content-Range": rng})
    assert (answer.status_code, reason(answer)) == (400, "badRequest") and words in answer.text


def test_a_chunk_whose_header_misstates_its_length_is_refused(fake, ch):
    url = start(fake, ch, 1000).headers["location"]
    answer = call(fake, "PUT", url, ch=ch, content=bytes(10), headers={"Content-Range": "bytes 0-19/1000"})
    assert answer.status_code == 400
    missing = call(fake, "PUT", url, ch=ch, content=bytes(10))
    assert missing.status_code == 400 and "Content-Range" in missing.json()["error"]["message"]


def test_an_expired_or_unknown_session_is_404(fake, ch):
    url = start(fake, ch, 1000).headers["location"]
    for session in fake.sessions.values():
        session.expires_at = fake.now() - 1
    answer = put(fake, ch, url, b"", 0, 1000)
    assert (answer.status_code, reason(answer)) == (404, "notFound")
    other = fake.channel("@cnpc")
    assert put(fake, other, start(fake, ch, 10).headers["location"], b"", 0, 10).status_code == 404


def test_a_session_lives_session_ttl_but_a_finished_one_answers_its_video_for_good(fake, ch):
    """A week (unverified); a finished session answering its video later is modelled too."""
    now = [fake.now()]
    fake.clock = lambda: now[0]
    fake.session_ttl = 60
    data = MP4 + bytes(UNIT)
    open_url = start(fake, ch, len(data)).headers["location"]
    done_url, done = upload(fake, ch, data)
    now[0] += 61
    assert put(fake, ch, open_url, data[:UNIT], 0, len(data)).status_code == 404
    assert put(fake, ch, done_url, b"", 0, len(data)).json()["id"] == done.json()["id"]
    fake.session_ttl = None  # for good, from now on
    assert put(fake, ch, start(fake, ch, 10).headers["location"], b"", 0, 10).status_code == 308


def test_a_session_keeps_sizes_and_hashes_of_what_it_kept_never_the_bytes(fake, ch):
    data = MP4 + bytes(range(256)) * 4096  # 4 UNIT + 24 bytes
    fake.short_acks = 1
    url = start(fake, ch, len(data)).headers["location"]
    put(fake, ch, url, data[:2 * UNIT], 0, len(data))                  # half kept
    put(fake, ch, url, data[UNIT:3 * UNIT], UNIT, len(data))
    done = put(fake, ch, url, data[3 * UNIT:], 3 * UNIT, len(data))
    [session] = fake.sessions.values()
    assert [p.size for p in session.upload.parts.values()] == [UNIT, 2 * UNIT, UNIT + len(MP4)]
    assert session.received == len(data) and session.upload.completed is not None
    assert fake.videos[done.json()["id"]].sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("metadata", "expected"), [
    ({"snippet": {"title": ""}}, "invalidTitle"),
    ({"snippet": {"title": "国" * 101}}, "invalidTitle"),
    ({"snippet": {"title": "<b>"}}, "invalidTitle"),
    ({"snippet": {"title": "t", "description": "国" * 1667}}, "invalidDescription"),
    ({"snippet": {"title": "t", "tags": [f"{i:04d}" for i in range(101)]}}, "invalidTags"),
    ({"snippet": {"title": "t", "categoryId": "999"}}, "invalidCategoryId"),
    ({"snippet": {"title": "t"}, "status": {"privacyStatus": "public", "publishAt": "2026-12-07T07:00:00Z"}},
     "invalidPublishAt"),
    ({"snippet": {"title": "t"}, "status": {"privacyStatus": "friends"}}, "invalidValue"),
    ({"snippet": {"title": "t"}, "recordingDetails": {}}, "unexpectedPart"),
])
def test_metadata_is_checked_as_videos_insert_checks_it(fake, ch, metadata, expected):
    answer = start(fake, ch, 100, metadata=metadata)
    assert (answer.status_code, reason(answer)) == (400, expected)
    assert fake.sessions == {}


def test_the_start_takes_resumable_uploads_of_video_only(fake, ch):
    assert start(fake, ch, 100, params={"uploadType": "multipart", "part": "snippet"}).status_code == 400
    assert reason(start(fake, ch, 100, kind="image/png")) == "badContent"
    assert start(fake, ch, 100, kind="application/octet-stream").status_code == 200  # sheet: allowed
    assert start(fake, ch, 256 * 1024**3 + 1).status_code == 400  # sheet: <=256 GB


def test_tokens_scopes_and_the_token_endpoint(fake, ch):
    assert reason(start(fake, None, 100)) == "authError"
    weak = fake.tokens.issue("@sasac", scopes=("youtube.readonly",)).access.value
    answer = call(fake, "POST", "/upload/youtube/v3/videos", token=weak, json={})
    assert (answer.status_code, reason(answer)) == (403, "insufficientPermissions")
    form = {"grant_type": "refresh_token", "refresh_token": ch.credentials["refresh_token"],
            "client_id": fake.client_id, "client_secret": fake.client_secret}
    first = call(fake, "POST", "/token", data=form).json()
    second = call(fake, "POST", "/token", data=form).json()  # Google keeps the refresh token
    assert first["access_token"] != second["access_token"] and "refresh_token" not in first
    assert first["expires_in"] == 3599 and first["token_type"] == "Bearer"
    wrong = call(fake, "POST", "/token", data={**form, "client_secret": "nope"})
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")
    revoked = call(fake, "POST", "/token", data={**form, "refresh_token": "1//unknown"})
    assert (revoked.status_code, revoked.json()["error"]) == (400, "invalid_grant")
    fake.tokens.expire(ch.credentials["access_token"])
    assert reason(start(fake, ch, 100)) == "authError"


def test_the_token_answer_says_how_long_the_token_lives(fake, ch):
    # Google says a second short of the token's life: 3599 for its hour.
    form = {"grant_type": "refresh_token", "refresh_token": ch.credentials["refresh_token"],
            "client_id": fake.client_id, "client_secret": fake.client_secret}
    fake.token_ttl = 60
    answer = call(fake, "POST", "/token", data=form).json()
    assert answer["expires_in"] == 59
    assert fake.tokens[answer["access_token"]].expires_at == pytest.approx(fake.now() + 60, abs=1)


def test_processing_advances_on_each_look_and_ends(fake, ch):
    fake.processing_polls = 2
    _, done = upload(fake, ch, MP4 + bytes(100))
    video_id = done.json()["id"]

    def look():
        answer = call(fake, "GET", "/youtube/v3/videos", ch=ch,
                      params={"part": "status,processingDetails", "id": video_id})
        [item] = answer.json()["items"]
        return item["status"]["uploadStatus"], item["processingDetails"]["processingStatus"]

    assert [look() for _ in range(3)] == [("uploaded", "processing"), ("uploaded", "processing"),
                                          ("processed", "succeeded")]


@pytest.mark.parametrize(("setup", "head", "status"), [
    ({"processing_fails": "codec"}, MP4, {"uploadStatus": "failed", "failureReason": "codec"}),
    ({"rejects": "duplicate"}, MP4, {"uploadStatus": "rejected", "rejectionReason": "duplicate"}),
    ({}, b"plain text, not a video....", {"uploadStatus": "failed", "failureReason": "invalidFile"}),
])
def test_processing_can_fail_or_be_rejected(fake, ch, setup, head, status):
    for name, value in setup.items():
        setattr(fake, name, value)
    fake.processing_polls = 0
    _, done = upload(fake, ch, head + bytes(100))
    answer = call(fake, "GET", "/youtube/v3/videos", ch=ch, params={"part": "status", "id": done.json()["id"]})
    assert status.items() <= answer.json()["items"][0]["status"].items()


def test_an_unaudited_project_uploads_private(fake, ch):
    fake.audited = False
    _, done = upload(fake, ch, MP4)
    assert done.json()["status"]["privacyStatus"] == "private"


def test_thumbnails(fake, ch):
    _, done = upload(fake, ch, MP4)
    video_id = done.json()["id"]

    def thumb(data, kind="image/jpeg", vid=video_id):
        return call(fake, "POST", "/upload/youtube/v3/thumbnails/set", ch=ch, content=data,
                    params={"videoId": vid}, headers={"Content-Type": kind})

    assert thumb(COVER_JPEG).status_code == 200
    assert fake.videos[video_id].thumbnail == ("image/jpeg", len(COVER_JPEG))
    assert thumb(CHART_PNG, "image/png").status_code == 200
    assert reason(thumb(b"GIF89a" + bytes(10), "image/gif")) == "invalidImage"
    assert reason(thumb(COVER_JPEG + bytes(2 * 1024 * 1024))) == "mediaBodyTooLarge"
    assert reason(thumb(COVER_JPEG, vid="nope")) == "videoNotFound"
    fake.thumbnails_allowed = False
    assert (thumb(COVER_JPEG).status_code, reason(thumb(COVER_JPEG))) == (403, "forbidden")


def test_delete_list_and_counts(fake, ch):
    _, done = upload(fake, ch, MP4)
    video_id = done.json()["id"]
    fake.set_counts(video_id, views=5400, likes=120, comments=8)
    stats = call(fake, "GET", "/youtube/v3/videos", ch=ch, params={"part": "statistics", "id": video_id})
    # Counts as strings of digits (YouTube's reference; modelled).
    assert stats.json()["items"][0]["statistics"] == {"viewCount": "5400", "likeCount": "120",
                                                      "favoriteCount": "0", "commentCount": "8"}
    other = fake.channel("@cnpc")
    assert reason(call(fake, "DELETE", "/youtube/v3/videos", ch=other, params={"id": video_id})) == "forbidden"
    assert call(fake, "DELETE", "/youtube/v3/videos", ch=ch, params={"id": video_id}).status_code == 204
    again = call(fake, "DELETE", "/youtube/v3/videos", ch=ch, params={"id": video_id})
    assert (again.status_code, reason(again)) == (404, "videoNotFound")
    assert fake.posts() == []
    assert call(fake, "GET", "/youtube/v3/videos", ch=ch, params={"part": "status", "id": video_id}
                ).json()["items"] == []
    with pytest.raises(ValueError, match="unknown count"):
        fake.set_counts(video_id, shares=1)


def test_delete_needs_more_than_the_upload_scope(fake, ch):
    # Which scopes delete takes is YouTube's reference, not the sheet's (modelled).
    _, done = upload(fake, ch, MP4)
    narrow = fake.tokens.issue("@sasac", scopes=("youtube.upload",)).access.value
    answer = call(fake, "DELETE", "/youtube/v3/videos", token=narrow, params={"id": done.json()["id"]})
    assert reason(answer) == "insufficientPermissions"


def test_the_daily_quota_and_the_channels_upload_cap(fake, ch):
    fake.quota["videos.insert"] = 1
    assert start(fake, ch, 10).status_code == 200
    spent = start(fake, ch, 10)
    assert (spent.status_code, reason(spent)) == (403, "quotaExceeded")
    fake.reset_quota()
    fake.uploads_per_day = 1
    upload(fake, ch, MP4)
    capped = start(fake, ch, 10)
    assert (capped.status_code, reason(capped)) == (400, "uploadLimitExceeded")
    fake.quota["units"] = 0
    listed = call(fake, "GET", "/youtube/v3/videos", ch=ch, params={"part": "status", "id": "x"})
    assert reason(listed) == "quotaExceeded"


def test_a_server_that_keeps_less_than_it_was_sent(fake, ch):
    fake.short_acks = 1
    data = MP4 + bytes(4 * UNIT)
    url = start(fake, ch, len(data)).headers["location"]
    answer = put(fake, ch, url, data[:2 * UNIT], 0, len(data))
    assert answer.headers["range"] == f"bytes=0-{UNIT - 1}"  # half kept: resend from there
    assert put(fake, ch, url, data[UNIT:3 * UNIT], UNIT, len(data)).headers["range"] == f"bytes=0-{3 * UNIT - 1}"


@pytest.mark.parametrize(("kind", "status", "expected"), [
    ("rate_limit", 403, "rateLimitExceeded"),
    ("server_error", 500, "backendError"),
    ("busy", 503, "backendError"),
    ("token_expired", 401, "authError"),
])
def test_faults_come_in_googles_shapes(fake, ch, kind, status, expected):
    fake.inject(kind, path=fake.create_path)
    url = start(fake, ch, 100).headers["location"]
    answer = put(fake, ch, url, b"", 0, 100)
    assert (answer.status_code, reason(answer)) == (status, expected)
    assert "retry-after" not in answer.headers  # Google sends no rate-limit headers


def test_a_rate_limit_without_a_wait_is_the_daily_quota(fake, ch):
    fake.inject("rate_limit", retry_after=None)
    assert reason(start(fake, ch, 100)) == "quotaExceeded"


def test_bad_bodies_and_unknown_paths(fake, ch):
    answer = call(fake, "POST", "/upload/youtube/v3/videos", ch=ch, content=b"{not json",
                  params={"uploadType": "resumable", "part": "snippet"},
                  headers={"X-Upload-Content-Length": "10", "X-Upload-Content-Type": "video/mp4",
                           "Content-Type": "application/json"})
    assert (answer.status_code, reason(answer)) == (400, "parseError")
    assert reason(call(fake, "GET", "/youtube/v3/nothing", ch=ch)) == "notFound"
    assert json.loads(call(fake, "GET", "/youtube/v3/videos", ch=ch).content)["error"]["code"] == 400
