"""FakeX is strict and stateful: it answers raw HTTP the way shared/platforms/x.md describes X."""

import base64
import math

import httpx
import pytest

from govmedia.policy.retry import retry_after_from
from govmedia.testing import FakeX, Sandbox

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
GIF = b"GIF89a" + b"\0" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\0" * 64


@pytest.fixture
def fake():
    fake = FakeX()
    fake.check_after_secs = 0
    return fake


@pytest.fixture
def http(fake):
    with httpx.Client(transport=httpx.MockTransport(fake), base_url=fake.base_url) as client:
        yield client


def auth(channel):
    return {"Authorization": f"Bearer {channel.credentials['access_token']}"}


def upload(http, channel, data=PNG, media_type="image/png", category="tweet_image", *, finalize=True):
    init = http.post("/2/media/upload/initialize", headers=auth(channel),
                     json={"media_type": media_type, "total_bytes": len(data), "media_category": category})
    assert init.status_code == 200, init.json()
    media_id = init.json()["data"]["id"]
    appended = http.post(f"/2/media/upload/{media_id}/append", headers=auth(channel),
                         files={"media": ("blob", data, "application/octet-stream")},
                         data={"segment_index": "0"})
    assert appended.status_code == 204 and appended.content == b""
    if finalize:
        done = http.post(f"/2/media/upload/{media_id}/finalize", headers=auth(channel))
        assert done.status_code == 200, done.json()
    return media_id


def status(http, channel, media_id):
    return http.get("/2/media/upload", headers=auth(channel),
                    params={"command": "STATUS", "media_id": media_id})


def create(http, channel, **body):
    return http.post("/2/tweets", headers=auth(channel), json=body)


def problem_type(response):
    return response.json()["type"].rsplit("/", 1)[-1]


# --------------------------------------------------------------------------- accounts and tokens


def test_channel_registers_a_user_with_a_token_pair(fake):
    a = fake.channel("@sasac", reply_settings="following")
    assert set(a.credentials) == {"access_token", "refresh_token", "client_id", "client_secret"}
    assert a.options == {"base_url": "https://sandbox.govmedia.test/x", "reply_settings": "following"}
    assert fake.channel("@sasac").credentials["access_token"] != a.credentials["access_token"]
    assert len(fake.users) == 1 and fake.channel().account == "@user2"
    assert fake.account_of(httpx.Request("GET", fake.base_url, headers=auth(a))) == "@sasac"


def test_users_me(fake, http):
    ch = fake.channel("@sasac")
    assert http.get("/2/users/me", headers=auth(ch)).json() == {
        "data": {"id": fake.users["@sasac"].id, "name": "@sasac", "username": "sasac"}}


@pytest.mark.parametrize("header", [{}, {"Authorization": "Bearer nope"}])
def test_a_missing_or_bad_token_is_a_401_problem(fake, http, header):
    response = http.post("/2/tweets", headers=header, json={"text": "x"})
    assert response.status_code == 401
    assert response.json() == {"title": "Unauthorized", "detail": "Unauthorized", "type": "about:blank",
                               "status": 401}
    assert fake.posts() == []


def test_an_expired_token_is_refused(fake, http):
    ch = fake.channel("@sasac")
    fake.clock = lambda: 4_000_000_000.0  # far past the 2 h
    assert create(http, ch, text="x").status_code == 401


def test_a_token_without_the_scope_is_forbidden(fake, http):
    token = fake.tokens.issue("@sasac", app_id=fake.client_id, scopes=("tweet.read",)).access.value
    fake.channel("@sasac")
    response = http.post("/2/tweets", headers={"Authorization": f"Bearer {token}"}, json={"text": "x"})
    assert response.status_code == 403


def refresh(http, fake, value, *, secret="default", client_id=None):
    secret = fake.client_secret if secret == "default" else secret
    headers = {}
    if secret is not None:
        pair = f"{fake.client_id}:{secret}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    return http.post("/2/oauth2/token", headers=headers, data={
        "grant_type": "refresh_token", "refresh_token": value, "client_id": client_id or fake.client_id})


def test_refresh_tokens_rotate_and_the_old_one_is_refused(fake, http):
    ch = fake.channel("@sasac")
    first = refresh(http, fake, ch.credentials["refresh_token"])
    body = first.json()
    assert first.status_code == 200
    assert (body["token_type"], body["expires_in"]) == ("bearer", 7200)
    assert body["refresh_token"] != ch.credentials["refresh_token"]
    assert "offline.access" in body["scope"].split()
    again = refresh(http, fake, ch.credentials["refresh_token"])
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert refresh(http, fake, body["refresh_token"]).status_code == 200
    assert create(http, ch, text="旧令牌仍可用").status_code == 201  # the access token lives on


def test_a_confidential_client_needs_basic_auth_and_a_public_one_does_not(fake, http):
    ch = fake.channel("@sasac")
    wrong = refresh(http, fake, ch.credentials["refresh_token"], secret="guess")
    assert wrong.status_code == 401 and wrong.json()["error"] == "unauthorized_client"
    assert refresh(http, fake, ch.credentials["refresh_token"], client_id="other").status_code == 400
    fake.client_secret = None
    public = fake.channel("@public")
    assert "client_secret" not in public.credentials
    assert refresh(http, fake, public.credentials["refresh_token"], secret=None).status_code == 200


# --------------------------------------------------------------------------- media


def test_an_image_is_ready_once_finalized(fake, http):
    ch = fake.channel("@sasac")
    media_id = upload(http, ch)
    answer = status(http, ch, media_id).json()["data"]
    assert answer["media_key"] == f"3_{media_id}"
    assert answer["processing_info"]["state"] == "succeeded"


def test_a_video_is_processed_pending_in_progress_succeeded(fake, http):
    fake.processing_polls = 2
    fake.check_after_secs = 3
    ch = fake.channel("@sasac")
    init = http.post("/2/media/upload/initialize", headers=auth(ch),
                     json={"media_type": "video/mp4", "total_bytes": len(MP4), "media_category": "tweet_video"})
    media_id = init.json()["data"]["id"]
    assert init.json()["data"]["expires_after_secs"] == 86400
    http.post(f"/2/media/upload/{media_id}/append", headers=auth(ch),
              files={"media": ("blob", MP4)}, data={"segment_index": "0"})
    done = http.post(f"/2/media/upload/{media_id}/finalize", headers=auth(ch)).json()["data"]
    assert done["processing_info"] == {"state": "pending", "check_after_secs": 3}
    early = create(http, ch, text="视频", media={"media_ids": [media_id]})
    assert early.status_code == 400 and "not ready" in str(early.json()["errors"])
    states = [status(http, ch, media_id).json()["data"]["processing_info"]["state"] for _ in range(2)]
    assert states == ["in_progress", "succeeded"]
    assert create(http, ch, text="视频", media={"media_ids": [media_id]}).status_code == 201


def test_failed_processing_is_reported_with_its_error(fake, http):
    fake.processing_fails = True
    fake.processing_polls = 0
    ch = fake.channel("@sasac")
    media_id = upload(http, ch, GIF, "image/gif", "tweet_gif")
    info = status(http, ch, media_id).json()["data"]["processing_info"]
    assert info["state"] == "failed" and info["error"]["name"] == "InvalidMedia"
    assert create(http, ch, text="动图", media={"media_ids": [media_id]}).status_code == 400


@pytest.mark.parametrize(("body", "words"), [
    ({"media_type": "image/png", "total_bytes": 10, "media_category": "tweet_photo"}, "media_category"),
    ({"media_type": "video/mp4", "total_bytes": 10, "media_category": "tweet_image"}, "does not fit"),
    ({"media_type": "image/png", "total_bytes": 0, "media_category": "tweet_image"}, "total_bytes"),
    ({"media_type": "image/png", "total_bytes": 6 * 1024 * 1024, "media_category": "tweet_image"}, "5 MB"),
])
def test_initialize_refuses_what_x_refuses(fake, http, body, words):
    response = http.post("/2/media/upload/initialize", headers=auth(fake.channel("@sasac")), json=body)
    assert response.status_code == 400 and problem_type(response) == "invalid-request"
    assert words in str(response.json()["errors"])


def test_append_and_finalize_are_strict(fake, http):
    ch = fake.channel("@sasac")
    init = http.post("/2/media/upload/initialize", headers=auth(ch),
                     json={"media_type": "image/png", "total_bytes": len(PNG), "media_category": "tweet_image"})
    media_id = init.json()["data"]["id"]
    path = f"/2/media/upload/{media_id}"
    bad_index = http.post(f"{path}/append", headers=auth(ch), files={"media": ("b", PNG)},
                          data={"segment_index": "1000"})
    assert bad_index.status_code == 400 and "segment_index" in str(bad_index.json())
    too_big = http.post(f"{path}/append", headers=auth(ch), files={"media": ("b", b"\0" * (5 * 1024 * 1024 + 1))},
                        data={"segment_index": "0"})
    assert too_big.status_code == 400
    http.post(f"{path}/append", headers=auth(ch), files={"media": ("b", PNG[:20])}, data={"segment_index": "0"})
    short = http.post(f"{path}/finalize", headers=auth(ch))
    assert short.status_code == 400 and "size mismatch" in str(short.json())
    http.post(f"{path}/append", headers=auth(ch), files={"media": ("b", PNG[20:])}, data={"segment_index": "1"})
    assert http.post(f"{path}/finalize", headers=auth(ch)).status_code == 200
    late = http.post(f"{path}/append", headers=auth(ch), files={"media": ("b", PNG)}, data={"segment_index": "2"})
    assert late.status_code == 400 and "finalized already" in str(late.json())
    other = fake.channel("@other")
    assert status(http, other, media_id).status_code == 404  # another user's media
    assert http.post("/2/media/upload/424242/append", headers=auth(ch), files={"media": ("b", PNG)},
                     data={"segment_index": "0"}).status_code == 404


def test_an_image_whose_bytes_are_not_its_type_is_refused_at_finalize(fake, http):
    ch = fake.channel("@sasac")
    init = http.post("/2/media/upload/initialize", headers=auth(ch),
                     json={"media_type": "image/png", "total_bytes": len(GIF), "media_category": "tweet_image"})
    media_id = init.json()["data"]["id"]
    http.post(f"/2/media/upload/{media_id}/append", headers=auth(ch), files={"media": ("b", GIF)},
              data={"segment_index": "0"})
    assert http.post(f"/2/media/upload/{media_id}/finalize", headers=auth(ch)).status_code == 400


def test_an_expired_upload_session_is_refused(fake, http):
    ch = fake.channel("@sasac")
    media_id = upload(http, ch, finalize=False)
    fake.expires_after_secs = 10
    now = fake.now()
    fake.media[media_id].expires_at = now - 1
    response = http.post(f"/2/media/upload/{media_id}/finalize", headers=auth(ch))
    assert response.status_code == 400 and "expired" in str(response.json())


# --------------------------------------------------------------------------- posts


def test_create_answers_201_with_id_and_text_and_keeps_the_post(fake, http):
    ch = fake.channel("@sasac")
    response = create(http, ch, text="国资小新", reply_settings="following")
    assert response.status_code == 201
    data = response.json()["data"]
    assert set(data) == {"id", "text"} and data["text"] == "国资小新"
    [post] = fake.posts("@sasac")
    assert post["id"] == data["id"] and post["reply_settings"] == "following"
    assert post["public_metrics"]["like_count"] == 0


@pytest.mark.parametrize(("body", "words"), [
    ({"text": "国" * 141}, "too long"),
    ({"text": " "}, "text or media is required"),
    ({}, "text or media is required"),
    ({"text": "x", "status": "x"}, "status"),
    ({"text": "x", "media": {"media_ids": ["1"]}, "poll": {"options": ["a", "b"], "duration_minutes": 5}},
     "mutually exclusive"),
    ({"text": "x", "reply_settings": "everyone"}, "reply_settings"),
    ({"text": "x", "media": {"media_ids": [1]}}, "array of strings"),
    ({"text": "x", "media": {"media_ids": ["424242"]}}, "media IDs are invalid"),
    ({"text": 5}, "text must be a string"),
])
def test_create_refuses_what_x_refuses(fake, http, body, words):
    response = create(http, fake.channel("@sasac"), **body)
    assert response.status_code == 400 and problem_type(response) == "invalid-request"
    assert words in str(response.json()["errors"])
    assert fake.posts() == []


def test_280_weighted_characters_pass_and_a_url_counts_23(fake, http):
    ch = fake.channel("@sasac")
    assert create(http, ch, text="国" * 140).status_code == 201
    assert create(http, ch, text="国" * 128 + " https://example.org/" + "a" * 300).status_code == 201


def test_four_images_or_one_video(fake, http):
    ch = fake.channel("@sasac")
    images = [upload(http, ch) for _ in range(5)]
    assert create(http, ch, text="五图", media={"media_ids": images}).status_code == 400
    assert create(http, ch, text="四图", media={"media_ids": images[:4]}).status_code == 201
    fake.processing_polls = 0
    gif = upload(http, ch, GIF, "image/gif", "tweet_gif")
    assert status(http, ch, gif).json()["data"]["processing_info"]["state"] == "succeeded"
    assert create(http, ch, text="混合", media={"media_ids": [gif, images[4]]}).status_code == 400


def test_another_users_media_is_invalid(fake, http):
    media_id = upload(http, fake.channel("@sasac"))
    response = create(http, fake.channel("@other"), text="x", media={"media_ids": [media_id]})
    assert response.status_code == 400


def test_no_idempotency_a_resend_makes_a_second_post_unless_the_text_is_identical(fake, http):
    ch = fake.channel("@sasac")
    assert create(http, ch, text="第一条").status_code == 201
    duplicate = create(http, ch, text="第一条")
    assert duplicate.status_code == 403
    assert duplicate.json()["detail"] == "You are not allowed to create a Tweet with duplicate content."
    assert create(http, ch, text="第一条 ").status_code == 201  # any change is a new post
    assert create(http, fake.channel("@other"), text="第一条").status_code == 201  # another account
    assert len(fake.posts()) == 3


def test_lookup_with_public_metrics_and_delete(fake, http):
    ch = fake.channel("@sasac")
    post_id = create(http, ch, text="指标").json()["data"]["id"]
    fake.set_counts(post_id, likes=120, retweets=35, replies=8, quotes=2, impressions=5400)
    plain = http.get(f"/2/tweets/{post_id}", headers=auth(ch)).json()["data"]
    assert "public_metrics" not in plain and plain["edit_history_tweet_ids"] == [post_id]
    shown = http.get(f"/2/tweets/{post_id}", headers=auth(ch), params={"tweet.fields": "public_metrics"})
    assert shown.json()["data"]["public_metrics"] == {
        "retweet_count": 35, "reply_count": 8, "like_count": 120, "quote_count": 2, "bookmark_count": 0,
        "impression_count": 5400}
    assert http.delete(f"/2/tweets/{post_id}", headers=auth(fake.channel("@other"))).status_code == 403
    assert http.delete(f"/2/tweets/{post_id}", headers=auth(ch)).json() == {"data": {"deleted": True}}
    gone = http.delete(f"/2/tweets/{post_id}", headers=auth(ch))
    assert gone.status_code == 404 and problem_type(gone) == "resource-not-found"
    assert http.get(f"/2/tweets/{post_id}", headers=auth(ch)).status_code == 404
    with pytest.raises(ValueError, match="unknown count"):
        fake.set_counts(post_id, views=1)


def test_reposts_one_per_user_undone_and_only_for_oneself(fake, http):
    hub, member = fake.channel("@sasac"), fake.channel("@cnpc")
    post_id = create(http, hub, text="一带一路看国企").json()["data"]["id"]
    me = fake.users["@cnpc"].id
    for _ in range(2):
        answer = http.post(f"/2/users/{me}/retweets", headers=auth(member), json={"tweet_id": post_id})
        assert answer.json() == {"data": {"retweeted": True}}
    [repost] = fake.posts("@cnpc")
    assert repost["retweet_of"] == post_id
    assert fake.statuses[post_id].retweets == 1
    someone_else = http.post(f"/2/users/{fake.users['@sasac'].id}/retweets", headers=auth(member),
                             json={"tweet_id": post_id})
    assert someone_else.status_code == 403
    assert http.post(f"/2/users/{me}/retweets", headers=auth(member), json={"tweet_id": "424242"}).status_code == 404
    undo = http.delete(f"/2/users/{me}/retweets/{post_id}", headers=auth(member))
    assert undo.json() == {"data": {"retweeted": False}} and fake.posts("@cnpc") == []
    assert fake.statuses[post_id].retweets == 0


def test_deleting_a_post_takes_its_reposts_along(fake, http):
    hub, member = fake.channel("@sasac"), fake.channel("@cnpc")
    post_id = create(http, hub, text="转发").json()["data"]["id"]
    http.post(f"/2/users/{fake.users['@cnpc'].id}/retweets", headers=auth(member), json={"tweet_id": post_id})
    http.delete(f"/2/tweets/{post_id}", headers=auth(hub))
    assert fake.posts() == []


# --------------------------------------------------------------------------- bodies, paths, faults, limits


def test_an_unreadable_body_and_an_unknown_path(fake, http):
    ch = fake.channel("@sasac")
    bad = http.post("/2/tweets", headers={**auth(ch), "Content-Type": "application/json"}, content=b"{nope")
    assert bad.status_code == 400 and problem_type(bad) == "invalid-request"
    unknown = http.get("/1.1/statuses/home_timeline.json", headers=auth(ch))
    assert unknown.status_code == 404 and unknown.json()["errors"][0]["code"] == 34
    assert http.get("/2/tweets", headers=auth(ch)).status_code == 405


def test_the_rate_limit_fault_has_xs_headers(fake, http):
    fake.clock = lambda: 1_700_000_000.4
    fake.inject("rate_limit", path=fake.create_path, retry_after=30)
    response = create(http, fake.channel("@sasac"), text="x")
    assert response.status_code == 429 and "retry-after" not in response.headers
    assert response.headers["x-rate-limit-reset"] == str(math.ceil(1_700_000_030.4))
    assert retry_after_from(response, now=1_700_000_000.4) == pytest.approx(30.6)


def test_the_24_hour_cap_fault(fake, http):
    fake.clock = lambda: 1_700_000_000.0
    fake.inject("rate_limit", path=fake.create_path, retry_after=None)
    response = create(http, fake.channel("@sasac"), text="x")
    assert response.headers["x-user-limit-24hour-remaining"] == "0"
    assert retry_after_from(response, now=1_700_000_000.0) == 86_000


@pytest.mark.parametrize(("kind", "status"), [("busy", 503), ("token_expired", 401), ("server_error", 500)])
def test_faults_in_xs_shapes(fake, http, kind, status):
    fake.inject(kind, path=fake.create_path)
    response = create(http, fake.channel("@sasac"), text="x")
    assert response.status_code == status and fake.posts() == []


def test_posting_windows_send_headers_and_refuse_once_spent(fake, http):
    fake.clock = lambda: 1_700_000_100.0
    fake.limits["tweets"] = (2, 900.0)
    ch = fake.channel("@sasac")
    first = create(http, ch, text="一")
    assert (first.headers["x-rate-limit-limit"], first.headers["x-rate-limit-remaining"]) == ("2", "1")
    assert first.headers["x-rate-limit-reset"] == str(1_700_000_100 // 900 * 900 + 900)
    create(http, ch, text="二")
    assert create(http, ch, text="三").status_code == 201  # counted, not enforced
    fake.enforce_limits = True
    refused = create(http, ch, text="四")
    assert refused.status_code == 429 and retry_after_from(refused, now=1_700_000_100.0) > 0
    assert create(http, fake.channel("@other"), text="四").status_code == 201  # per user


def test_the_sandbox_routes_the_x_prefix():
    sandbox = Sandbox(platforms=["x"])
    ch = sandbox.channel("x", "@sasac")
    assert ch.options["base_url"] == "https://sandbox.govmedia.test/x"
    with sandbox.client() as http:
        response = http.post(f"{ch.options['base_url']}/2/tweets", headers=auth(ch), json={"text": "你好"})
    assert response.status_code == 201
