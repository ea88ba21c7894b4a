"""The Douyin fake: strict like the open platform, stateful, and failing on demand.

Requests here are made by hand (httpx through the fake), shaped as
shared/platforms/douyin.md shows, so the fake is checked on its own terms.
"""

import httpx
import pytest

from govmedia.testing import FakeDouyin, PartRecord

MB = 1024 * 1024
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)
API = "/api/douyin/v1/video"


@pytest.fixture
def fake():
    return FakeDouyin(review_looks=1)


@pytest.fixture
def ch(fake):
    return fake.channel("guozixiaoxin")


@pytest.fixture
def http(fake):
    return httpx.Client(transport=httpx.MockTransport(fake), base_url=fake.base_url)


def call(http, ch, path, *, token=None, open_id=None, **kwargs):
    params = {"open_id": open_id if open_id is not None else ch.credentials["open_id"],
              **kwargs.pop("params", {})}
    headers = {"access-token": token if token is not None else ch.credentials["access_token"]}
    answer = http.post(API + path, params=params, headers=headers, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def code(answer):
    assert answer["data"]["error_code"] == answer["extra"]["error_code"]
    return answer["data"]["error_code"]


def upload_small(http, ch, data=MP4 + bytes(100)):
    answer = call(http, ch, "/upload_video/", files={"video": ("v.mp4", data, "video/mp4")})
    return answer["data"]["video"]["video_id"]


def test_answers_are_the_classic_envelope(http, ch):
    answer = call(http, ch, "/upload_video/", files={"video": ("v.mp4", MP4, "video/mp4")})
    assert code(answer) == 0 and answer["message"] == "success"
    assert set(answer["extra"]) == {"error_code", "description", "sub_error_code",
                                    "sub_description", "logid", "now"}
    assert set(answer["data"]["video"]) == {"video_id", "width", "height"}


@pytest.mark.parametrize(("token", "open_id", "expected"), [
    ("", None, 2190002),                 # no token
    ("act.forged", None, 2190002),       # unknown token
    (None, "_000someoneelse", 2190002),  # another user's open_id
    (None, "", 2100005),                 # no open_id
])
def test_tokens_and_open_ids_are_checked(http, ch, token, open_id, expected):
    answer = call(http, ch, "/init_video_part_upload/", token=token, open_id=open_id)
    assert code(answer) == expected


def test_expired_tokens_are_refused_and_a_refresh_extends_or_renews(fake, http, ch):
    refresh = {"client_key": ch.credentials["client_key"], "grant_type": "refresh_token",
               "refresh_token": ch.credentials["refresh_token"]}
    # not expired yet: the same token, extended
    same = http.post("/oauth/refresh_token/", data=refresh).json()["data"]
    assert same["access_token"] == ch.credentials["access_token"]
    assert same["expires_in"] == 1_296_000 and same["open_id"] == ch.credentials["open_id"]
    assert same["refresh_token"] == ch.credentials["refresh_token"]
    fake.tokens.expire()
    assert code(call(http, ch, "/init_video_part_upload/")) == 2190008
    new = http.post("/oauth/refresh_token/", data=refresh).json()["data"]
    assert new["access_token"] != ch.credentials["access_token"]
    assert code(call(http, ch, "/init_video_part_upload/", token=new["access_token"])) == 0
    # the refresh token is not spent by a refresh
    again = http.post("/oauth/refresh_token/", data=refresh).json()["data"]
    assert again["access_token"] == new["access_token"]


@pytest.mark.parametrize(("change", "expected"), [
    ({"grant_type": "authorization_code"}, 10002),
    ({"client_key": ""}, 10002),
    ({"client_key": "awunknown"}, 10003),
    ({"refresh_token": "rft.forged"}, 10010),
])
def test_refresh_refusals(http, ch, change, expected):
    form = {"client_key": ch.credentials["client_key"], "grant_type": "refresh_token",
            "refresh_token": ch.credentials["refresh_token"], **change}
    assert code(http.post("/oauth/refresh_token/", data=form).json()) == expected


def test_refresh_wants_a_form_not_json(http, ch):
    answer = http.post("/oauth/refresh_token/", json={
        "client_key": ch.credentials["client_key"], "grant_type": "refresh_token",
        "refresh_token": ch.credentials["refresh_token"]})
    assert code(answer.json()) == 10002


def test_refresh_tokens_expire_after_30_days_and_renewal_spends_the_old_one(fake, http, ch):
    form = {"client_key": ch.credentials["client_key"],
            "refresh_token": ch.credentials["refresh_token"]}
    renewed = http.post("/oauth/renew_refresh_token/", data=form).json()["data"]
    assert renewed["expires_in"] == 2_592_000
    assert code(http.post("/oauth/renew_refresh_token/", data=form).json()) == 10010  # spent
    now = fake.now()
    fake.clock = lambda: now + 30 * 86400
    late = {"client_key": form["client_key"], "refresh_token": renewed["refresh_token"],
            "grant_type": "refresh_token"}
    assert code(http.post("/oauth/refresh_token/", data=late).json()) == 10010


def test_chunked_upload_checks_parts_and_keeps_no_bytes(fake, http, ch):
    upload_id = call(http, ch, "/init_video_part_upload/")["data"]["upload_id"]
    first = MP4 + bytes(5 * MB - len(MP4))
    for number, data in ((1, first), (2, b"\x01" * (5 * MB)), (3, b"\x02" * 100)):
        answer = call(http, ch, "/upload_video_part/",
                      params={"upload_id": upload_id, "part_number": number},
                      files={"video": ("v.mp4", data, "video/mp4")})
        assert code(answer) == 0
    done = call(http, ch, "/complete_video_part_upload/", params={"upload_id": upload_id})
    video = fake.videos[done["data"]["video"]["video_id"]]
    assert (video.size, video.parts) == (10 * MB + 100, 3)
    session = fake.uploads[upload_id]
    assert session.parts[3] == PartRecord.of(b"\x02" * 100)
    # completing again answers the same video (a resend after a lost answer)
    again = call(http, ch, "/complete_video_part_upload/", params={"upload_id": upload_id})
    assert again["data"]["video"]["video_id"] == video.video_id


@pytest.mark.parametrize(("parts", "why"), [
    ({1: MP4 + bytes(100), 2: b"x" * 100}, "smaller than allowed"),    # part 1 under 5 MB
    ({1: MP4 + bytes(5 * MB), 3: b"x"}, "missing"),                     # a gap
    ({}, "no part"),
])
def test_complete_refuses_parts_douyin_would_refuse(http, ch, parts, why):
    upload_id = call(http, ch, "/init_video_part_upload/")["data"]["upload_id"]
    for number, data in parts.items():
        call(http, ch, "/upload_video_part/", params={"upload_id": upload_id, "part_number": number},
             files={"video": ("v.mp4", data, "video/mp4")})
    answer = call(http, ch, "/complete_video_part_upload/", params={"upload_id": upload_id})
    assert code(answer) == 2100005 and why in answer["data"]["description"]


def test_parts_need_a_known_session_a_number_and_a_video(fake, http, ch):
    upload_id = call(http, ch, "/init_video_part_upload/")["data"]["upload_id"]

    def part(params, data=MP4, field="video"):
        return code(call(http, ch, "/upload_video_part/", params=params,
                         files={field: ("v.mp4", data, "video/mp4")}))

    assert part({"upload_id": "@nope", "part_number": 1}) == 2100005
    assert part({"upload_id": upload_id, "part_number": "x"}) == 2100005
    assert part({"upload_id": upload_id, "part_number": 0}) == 2100005
    assert part({"upload_id": upload_id, "part_number": 1}, data=b"not a video") == 2100005
    assert part({"upload_id": upload_id, "part_number": 1}, field="file") == 2100005
    other = fake.channel("member")
    assert code(call(http, other, "/upload_video_part/",
                     params={"upload_id": upload_id, "part_number": 1},
                     files={"video": ("v.mp4", MP4, "video/mp4")})) == 2100005
    fake.uploads.expire(upload_id)
    assert part({"upload_id": upload_id, "part_number": 1}) == 2100005


def test_a_single_upload_over_128_mb_gets_the_proxys_413(fake, http, ch):
    fake.single_max = 1024  # the limit, scaled down
    answer = http.post(API + "/upload_video/", params={"open_id": ch.credentials["open_id"]},
                       headers={"access-token": ch.credentials["access_token"]},
                       files={"video": ("v.mp4", MP4 + bytes(2000), "video/mp4")})
    assert answer.status_code == 413


def test_images_are_checked_by_their_bytes(http, ch):
    good = call(http, ch, "/upload_image/", files={"image": ("a.png", PNG, "image/png")})
    assert good["data"]["image"]["image_id"].startswith("tos-cn-i-")
    bad = call(http, ch, "/upload_image/", files={"image": ("a.png", b"<svg/>", "image/png")})
    assert code(bad) == 2100005


def test_creates_check_ids_text_and_anchors(fake, http, ch):
    video_id = upload_small(http, ch)
    other = fake.channel("member")
    bad = [
        {"text": "t"},                                            # no video_id
        {"video_id": upload_small(http, other), "text": "t"},     # another user's video
        {"video_id": video_id, "text": "国" * 1001},              # over 1,000 characters
        {"video_id": video_id, "text": "t", "poi_id": "1", "micro_app_id": "tt1"},
        {"video_id": video_id, "text": "t", "private_status": 3},
    ]
    for body in bad:
        assert code(call(http, ch, "/create_video/", json=body)) == 2100005, body
    assert code(call(http, ch, "/create_video/", content=b"{not json")) == 2100005
    assert code(call(http, ch, "/create_image_text/", json={"image_list": [], "text": "t"})) == 2100005
    assert fake.posts() == []
    made = call(http, ch, "/create_video/", json={"video_id": video_id, "text": "国资小新"})
    assert set(made["data"]) >= {"item_id", "video_id"}
    assert len(fake.posts("guozixiaoxin")) == 1 and fake.posts("member") == []
    assert fake.posts("nobody") == []


def test_the_review_advances_with_each_look(fake, http, ch):
    fake.review_looks = 2
    video_id = upload_small(http, ch)
    item_id = call(http, ch, "/create_video/",
                   json={"video_id": video_id, "text": "t", "private_status": 2})["data"]["item_id"]
    looks = [call(http, ch, "/video_data/", json={"item_ids": [item_id]})["data"]["list"][0]
             for _ in range(3)]
    assert [(i["is_reviewed"], i["video_status"]) for i in looks] == [
        (False, 4), (False, 4), (True, 6)]
    assert fake.posts()[0]["video_status"] == 6  # reading posts() does not advance anything
    assert set(looks[0]) >= {"item_id", "title", "video_status", "cover", "share_url", "is_top",
                             "is_reviewed", "create_time", "media_type", "statistics"}
    assert set(looks[0]["statistics"]) == {"play_count", "digg_count", "comment_count",
                                           "share_count", "forward_count", "download_count"}


def test_video_data_lists_only_the_users_own_items(fake, http, ch):
    item_id = call(http, ch, "/create_video/", json={
        "video_id": upload_small(http, ch), "text": "t"})["data"]["item_id"]
    other = fake.channel("member")
    assert call(http, other, "/video_data/", json={"item_ids": [item_id]})["data"]["list"] == []
    assert code(call(http, ch, "/video_data/", json={"item_ids": []})) == 2100005


def test_video_list_pages_newest_first(fake, http, ch):
    ids = [call(http, ch, "/create_video/", json={"video_id": upload_small(http, ch),
                                                 "text": f"t{n}"})["data"]["item_id"]
           for n in range(3)]
    headers = {"access-token": ch.credentials["access_token"]}
    page = http.get(API + "/video_list/", headers=headers,
                    params={"open_id": ch.credentials["open_id"], "cursor": 0, "count": 2}).json()
    assert [i["item_id"] for i in page["data"]["list"]] == ids[::-1][:2]
    assert page["data"]["has_more"] is True and page["data"]["cursor"] == 2
    bad = http.get(API + "/video_list/", headers=headers,
                   params={"open_id": ch.credentials["open_id"], "count": 50}).json()
    assert code(bad) == 2100005


@pytest.mark.parametrize(("kind", "expected"), [
    ("rate_limit", 2118110), ("busy", 2100004), ("token_expired", 2190008)])
def test_faults_answer_in_douyins_codes(fake, http, ch, kind, expected):
    fake.inject(kind, path=fake.create_path)
    answer = call(http, ch, "/create_video/", json={"video_id": upload_small(http, ch), "text": "t"})
    assert code(answer) == expected and fake.posts() == []


def test_an_expired_token_fault_on_oauth_is_10008(fake, http, ch):
    fake.inject("token_expired", path="/oauth/")
    answer = http.post("/oauth/refresh_token/", data={
        "client_key": ch.credentials["client_key"], "grant_type": "refresh_token",
        "refresh_token": ch.credentials["refresh_token"]})
    assert code(answer.json()) == 10008


def test_the_create_path_matches_both_creates_only(fake):
    import re

    pattern = re.compile(fake.create_path)
    assert pattern.search(f"{API}/create_video/") and pattern.search(f"{API}/create_image_text/")
    assert not pattern.search(f"{API}/video_data/")


def test_unknown_paths_and_counts(fake, http, ch):
    assert http.post("/api/douyin/v1/video/nope/").status_code == 404
    item_id = call(http, ch, "/create_video/", json={
        "video_id": upload_small(http, ch), "text": "t"})["data"]["item_id"]
    with pytest.raises(ValueError, match="unknown counts"):
        fake.set_counts(item_id, views=1)
    with pytest.raises(KeyError):
        fake.set_counts("@nope", play_count=1)
