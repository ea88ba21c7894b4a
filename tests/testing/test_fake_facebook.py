"""FakeFacebook refuses what the Graph API refuses, keeps its state, and fails on demand.

Shapes follow shared/platforms/facebook.md; what the sheet does not hold (the feed's
answer, ``video_status``, the counts' fields, some codes) is modelled and marked
unverified in the fake's docstring.
"""

import json

import httpx
import pytest

from govmedia.testing.facebook import FakeFacebook, graph_error
from govmedia.testing.samples import CHART_PNG, CLIP_MP4

V = "/v24.0"


@pytest.fixture
def fake():
    return FakeFacebook()


@pytest.fixture
def page(fake):
    return fake.channel("sasac-page")


@pytest.fixture
def http(fake):
    with httpx.Client(transport=httpx.MockTransport(fake), base_url=fake.base_url) as client:
        yield client


def auth(channel):
    return {"Authorization": f"Bearer {channel.credentials['page_access_token']}"}


def error_of(response):
    return response.json()["error"]


def post(http, channel, **fields):
    return http.post(f"{V}/{channel.options['page_id']}/feed", data=fields, headers=auth(channel))


def upload_photo(http, channel, data=CHART_PNG, published="false"):
    return http.post(f"{V}/{channel.options['page_id']}/photos", data={"published": published},
                     files={"source": ("chart.png", data, "image/png")}, headers=auth(channel))


# --------------------------------------------------------------------------- tokens and paths


def test_a_missing_bad_or_dead_token_is_190_with_its_subcode(fake, http, page):
    assert error_of(http.post(f"{V}/{page.options['page_id']}/feed", data={"message": "x"}))["code"] == 190
    bad = http.post(f"{V}/{page.options['page_id']}/feed", data={"message": "x"},
                    headers={"Authorization": "Bearer EAAGnot-a-token"})
    assert (bad.status_code, error_of(bad)["code"]) == (400, 190)
    assert post(http, page, message="用 access_token 参数也行").status_code == 200
    by_param = http.post(f"{V}/{page.options['page_id']}/feed", data={"message": "参数"},
                         params={"access_token": page.credentials["page_access_token"]})
    assert by_param.status_code == 200
    fake.kill_token("sasac-page", subcode=460)
    dead = error_of(post(http, page, message="x"))
    assert (dead["code"], dead["error_subcode"]) == (190, 460) and "password" in dead["message"]
    assert dead["type"] == "OAuthException" and dead["fbtrace_id"]


def test_another_pages_token_and_a_missing_permission_are_200(fake, http, page):
    other = fake.channel("cnpc-page")
    wrong = http.post(f"{V}/{other.options['page_id']}/feed", data={"message": "x"}, headers=auth(page))
    assert (wrong.status_code, error_of(wrong)["code"]) == (403, 200)
    token = fake.tokens[page.credentials["page_access_token"]]
    token.scopes = ("pages_read_engagement",)
    assert error_of(post(http, page, message="x"))["code"] == 200


def test_every_path_needs_a_pinned_version(http, page):
    response = http.post(f"/{page.options['page_id']}/feed", data={"message": "x"}, headers=auth(page))
    assert error_of(response)["code"] == 2500
    assert error_of(http.put(f"{V}/{page.options['page_id']}/feed", headers=auth(page)))["code"] == 100


# --------------------------------------------------------------------------- feed


def test_feed_posts_and_the_refusals_of_the_create(fake, http, page):
    first = post(http, page, message="国资小新", link="https://example.org/a/1")
    assert first.status_code == 200 and first.json()["id"].startswith(page.options["page_id"] + "_")
    assert error_of(post(http, page))["code"] == 100                            # nothing to post
    assert error_of(post(http, page, message="国资小新"))["code"] == 506         # the latest again
    assert post(http, page, message="另一条").status_code == 200
    assert post(http, page, message="国资小新").status_code == 200              # not consecutive now
    assert error_of(post(http, page, message="国" * 63_207))["code"] == 100     # unverified limit
    assert error_of(post(http, page, message="x", published="maybe"))["code"] == 100
    fake.unscrapable.add("down.example")
    refused = error_of(post(http, page, message="链接", link="https://down.example/a"))
    assert refused["code"] == 1609005 and refused["error_user_msg"]
    assert [p["kind"] for p in fake.posts("sasac-page")] == ["link", "status", "status"]


def test_scheduled_posts_need_published_false_and_a_time_in_the_window(fake, http, page):
    soon = int(fake.now()) + 3600
    assert error_of(post(http, page, message="x", scheduled_publish_time=str(soon)))["code"] == 100
    assert error_of(post(http, page, message="x", published="false",
                         scheduled_publish_time=str(int(fake.now()) + 60)))["code"] == 100
    assert post(http, page, message="明早发布", published="false",
                scheduled_publish_time=str(soon)).status_code == 200
    assert fake.posts("sasac-page") == [] and len(fake.scheduled("sasac-page")) == 1
    fake.clock = lambda: soon + 1
    assert [p["message"] for p in fake.posts("sasac-page")] == ["明早发布"]


def test_attached_media_takes_unpublished_photos_of_the_page_once(fake, http, page):
    photo = upload_photo(http, page).json()["id"]
    other = fake.channel("cnpc-page")
    foreign = upload_photo(http, other).json()["id"]
    attach = {"attached_media[0]": json.dumps({"media_fbid": photo})}
    assert error_of(post(http, page, **{"attached_media[0]": json.dumps({"media_fbid": foreign})}))["code"] == 100
    assert error_of(post(http, page, **{"attached_media[1]": json.dumps({"media_fbid": photo})}))["code"] == 100
    assert error_of(post(http, page, **{"attached_media[0]": "not json"}))["code"] == 100
    created = post(http, page, message="图", **attach)
    assert created.status_code == 200
    assert error_of(post(http, page, message="又一次", **attach))["code"] == 100  # attached already
    [live] = fake.posts("sasac-page")
    assert live["attached_media"] == [photo] and live["kind"] == "photos"


def test_reading_the_feed_newest_first_with_cursors(fake, http, page):
    now = [1_800_000_000.0]
    fake.clock = lambda: now[0]
    for number in range(5):
        post(http, page, message=f"第{number}条")
        now[0] += 60
    first = http.get(f"{V}/{page.options['page_id']}/feed", params={"limit": 2}, headers=auth(page)).json()
    assert [i["message"] for i in first["data"]] == ["第4条", "第3条"]
    assert first["data"][0]["created_time"] == "2027-01-15T08:04:00+0000"
    after = first["paging"]["cursors"]["after"]
    second = http.get(f"{V}/{page.options['page_id']}/feed", params={"limit": 2, "after": after},
                      headers=auth(page)).json()
    assert [i["message"] for i in second["data"]] == ["第2条", "第1条"]
    fields = http.get(f"{V}/{page.options['page_id']}/feed", params={"fields": "id"},
                      headers=auth(page)).json()
    assert set(fields["data"][0]) == {"id"}
    assert error_of(http.get(f"{V}/{page.options['page_id']}/feed", params={"after": "nope"},
                             headers=auth(page)))["code"] == 100


# --------------------------------------------------------------------------- photos


def test_photos_are_judged_by_their_bytes_and_size(fake, http, page):
    assert error_of(upload_photo(http, page, data=b"<html>login</html>"))["code"] == 324
    fake.photo_max = 100
    assert error_of(upload_photo(http, page))["code"] == 100
    fake.photo_max = 10 * 1024 * 1024
    published = upload_photo(http, page, published="true").json()
    assert set(published) == {"id", "post_id"}
    assert [p["id"] for p in fake.posts("sasac-page")] == [published["post_id"]]
    assert set(upload_photo(http, page).json()) == {"id"}           # unpublished: no post
    assert len(fake.posts("sasac-page")) == 1
    no_file = http.post(f"{V}/{page.options['page_id']}/photos", data={"published": "false"},
                        headers=auth(page))
    assert error_of(no_file)["code"] == 324


# --------------------------------------------------------------------------- videos


def video(http, channel, **fields):
    return http.post(f"/video{V}/{channel.options['page_id']}/videos", data=fields, headers=auth(channel))


def transfer(http, channel, session, start, chunk):
    return http.post(f"/video{V}/{channel.options['page_id']}/videos",
                     params={"upload_phase": "transfer", "upload_session_id": session,
                             "start_offset": str(start)},
                     files={"video_file_chunk": ("blob", chunk, "application/octet-stream")},
                     headers=auth(channel))


def test_the_chunked_upload_asks_for_each_chunk_and_checks_it(fake, http, page):
    fake.chunk_size = 100
    data = CLIP_MP4[:250]
    started = video(http, page, upload_phase="start", file_size=str(len(data))).json()
    assert (started["start_offset"], started["end_offset"]) == ("0", "100")
    session = started["upload_session_id"]
    assert error_of(transfer(http, page, session, 100, data[100:200]))["code"] == 100  # a gap
    assert error_of(transfer(http, page, session, 0, data[:99]))["code"] == 100       # short
    assert transfer(http, page, session, 0, data[:100]).json() == {"start_offset": "100",
                                                                   "end_offset": "200"}
    assert transfer(http, page, session, 0, data[:100]).json()["start_offset"] == "100"  # resent
    assert error_of(video(http, page, upload_phase="finish", upload_session_id=session))["code"] == 100
    transfer(http, page, session, 100, data[100:200])
    assert transfer(http, page, session, 200, data[200:]).json() == {"start_offset": "250",
                                                                     "end_offset": "250"}
    assert error_of(transfer(http, fake.channel("cnpc-page"), session, 0, data[:100]))["code"] == 100
    finished = video(http, page, upload_phase="finish", upload_session_id=session, title="中老铁路",
                     description="开通一周年")
    assert finished.json() == {"success": True}
    assert error_of(video(http, page, upload_phase="finish", upload_session_id=session))["code"] == 100
    [live] = fake.posts("sasac-page")
    assert (live["kind"], live["title"], live["message"], live["status"]) == (
        "video", "中老铁路", "开通一周年", "processing")


def test_encoding_advances_with_each_status_read_and_may_fail(fake, http, page):
    fake.chunk_size = 10_000
    fake.processing_polls = 1

    def upload():
        started = video(http, page, upload_phase="start", file_size=str(len(CLIP_MP4))).json()
        transfer(http, page, started["upload_session_id"], 0, CLIP_MP4)
        video(http, page, upload_phase="finish", upload_session_id=started["upload_session_id"])
        return started["video_id"]

    def state(video_id):
        return http.get(f"{V}/{video_id}", params={"fields": "status"},
                        headers=auth(page)).json()["status"]["video_status"]

    ok = upload()
    assert [state(ok), state(ok), state(ok)] == ["processing", "ready", "ready"]
    fake.processing_fails = True
    bad = upload()
    assert [state(bad), state(bad)] == ["processing", "error"]
    assert [p["video_id"] for p in fake.posts("sasac-page")] == [ok]  # a failed video is no post


def test_a_file_that_is_no_video_is_352_and_sessions_expire(fake, http, page):
    fake.chunk_size = 10_000
    started = video(http, page, upload_phase="start", file_size=str(len(CHART_PNG))).json()
    transfer(http, page, started["upload_session_id"], 0, CHART_PNG)
    refused = video(http, page, upload_phase="finish", upload_session_id=started["upload_session_id"])
    assert error_of(refused)["code"] == 352
    again = video(http, page, upload_phase="start", file_size="10").json()
    fake.uploads.expire()
    assert error_of(transfer(http, page, again["upload_session_id"], 0, bytes(10)))["code"] == 100
    assert error_of(video(http, page, upload_phase="start", file_size="0"))["code"] == 100
    assert error_of(video(http, page, upload_phase="resume"))["code"] == 100
    graph_host = http.post(f"{V}/{page.options['page_id']}/videos", data={"upload_phase": "start"},
                           headers=auth(page))
    assert error_of(graph_host)["code"] == 2500  # uploads go to the video host


# --------------------------------------------------------------------------- objects


def test_counts_delete_and_a_gone_object(fake, http, page):
    post_id = post(http, page, message="国资小新").json()["id"]
    fake.set_counts(post_id, reactions=120, comments=8)
    fields = "reactions.summary(total_count).limit(0),comments.summary(total_count).limit(0),shares"
    counts = http.get(f"{V}/{post_id}", params={"fields": fields}, headers=auth(page)).json()
    assert counts["reactions"]["summary"]["total_count"] == 120
    assert counts["comments"]["summary"]["total_count"] == 8 and "shares" not in counts  # 0: left out
    other = fake.channel("cnpc-page")
    assert error_of(http.get(f"{V}/{post_id}", headers=auth(other)))["error_subcode"] == 33
    assert http.delete(f"{V}/{post_id}", headers=auth(page)).json() == {"success": True}
    gone = error_of(http.delete(f"{V}/{post_id}", headers=auth(page)))
    assert (gone["code"], gone["error_subcode"]) == (100, 33)
    assert fake.posts("sasac-page") == []
    with pytest.raises(ValueError, match="likes"):
        fake.set_counts(post_id, likes=1)


def test_a_link_to_a_page_post_is_a_share_of_it(fake, http, page):
    hub = fake.channel("hub-page")
    original = post(http, hub, message="一带一路看国企").json()["id"]
    own = original.split("_")[1]
    link = f"https://www.facebook.com/{hub.options['page_id']}/posts/{own}"
    shared = post(http, page, link=link).json()["id"]
    assert fake.feed[shared].share_of == original and fake.feed[original].shares == 1
    missing = f"https://www.facebook.com/{hub.options['page_id']}/posts/1"
    assert error_of(post(http, page, link=missing))["code"] == 100


# --------------------------------------------------------------------------- limits and faults


def test_the_page_budget_and_its_usage_header(fake, http, page):
    fake.engaged_users = 2
    assert fake.limits["pages"] == (9600, 86_400.0)
    fake.limits["pages"] = (1, 86_400.0)
    ok = post(http, page, message="第一条")
    usage = json.loads(ok.headers["X-Business-Use-Case-Usage"])
    [entry] = usage[page.options["page_id"]]
    assert (entry["type"], entry["call_count"], entry["estimated_time_to_regain_access"]) == ("pages", 100, 0)
    fake.enforce_limits = True
    limited = post(http, page, message="第二条")
    assert error_of(limited)["code"] == 80001 and "Retry-After" not in limited.headers
    [entry] = json.loads(limited.headers["X-Business-Use-Case-Usage"])[page.options["page_id"]]
    assert entry["estimated_time_to_regain_access"] > 0


@pytest.mark.parametrize(("kind", "retry_after", "code", "status"), [
    ("rate_limit", 90, 80001, 400),
    ("rate_limit", None, 4, 400),
    ("busy", 1, 2, 500),
    ("server_error", 1, 1, 500),
    ("token_expired", 1, 190, 400),
])
def test_faults_in_facebooks_shapes(fake, http, page, kind, retry_after, code, status):
    fake.inject(kind, path=fake.create_path, retry_after=retry_after)
    response = post(http, page, message="x")
    assert (response.status_code, error_of(response)["code"]) == (status, code)
    if kind == "rate_limit" and retry_after:
        [entry] = json.loads(response.headers["X-Business-Use-Case-Usage"])[page.options["page_id"]]
        assert entry["estimated_time_to_regain_access"] == 2  # 90 s, in whole minutes
    if kind in ("busy", "server_error"):
        assert error_of(response)["is_transient"] is True
    if kind == "token_expired":
        assert error_of(response)["error_subcode"] == 463
    assert fake.posts("sasac-page") == []


def test_graph_error_shape():
    body = graph_error(1609005, "Error posting link", user_msg="The link could not be posted.").json()
    assert set(body["error"]) == {"message", "type", "code", "fbtrace_id", "error_user_title",
                                  "error_user_msg"}
