"""The Bilibili fake refuses what the open platform refuses, and its state advances."""

import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest

from govmedia.testing import FakeBilibili
from govmedia.testing.samples import COVER_JPEG, sample_image, sample_video

PART = 1024


@pytest.fixture
def fake():
    fake = FakeBilibili(part_size=PART)
    fake.channel("sasac")
    return fake


def creds(fake, account="sasac"):
    return fake.channel(account).credentials


def signed(fake, method, path, *, credentials, body=b"", content_type="application/json",
           params=None, timestamp=None, nonce=None, secret=None, headers=None):
    """A request signed the way the sheet says (computed here, not by govmedia's signer)."""
    sign = {
        "x-bili-accesskeyid": credentials["client_id"],
        "x-bili-content-md5": hashlib.md5(body).hexdigest(),
        "x-bili-signature-method": "HMAC-SHA256",
        "x-bili-signature-nonce": nonce or str(uuid.uuid4()),
        "x-bili-signature-version": "2.0",
        "x-bili-timestamp": str(int(time.time()) if timestamp is None else timestamp),
    }
    message = "\n".join(f"{k}:{sign[k]}" for k in sorted(sign))
    key = (secret or credentials["client_secret"]).encode()
    sign["Authorization"] = hmac.new(key, message.encode(), hashlib.sha256).hexdigest()
    sign["access-token"] = credentials["access_token"]
    sign["Content-Type"] = content_type
    sign.update(headers or {})
    return fake(httpx.Request(method, f"{fake.base_url}{path}", params=params, content=body, headers=sign))


def code(response):
    assert response.status_code == 200
    return response.json()["code"]


def post_json(fake, path, data, credentials, **kwargs):
    return signed(fake, "POST", path, credentials=credentials,
                  body=json.dumps(data, ensure_ascii=False).encode(), **kwargs)


def upload(fake, credentials, video, *, name="v.mp4"):
    """init, every part, complete: the upload_token."""
    token = post_json(fake, "/arcopen/fn/archive/video/init", {"name": name, "utype": "0"},
                      credentials).json()["data"]["upload_token"]
    for number, start in enumerate(range(0, len(video), PART), 1):
        answer = fake(httpx.Request("POST", f"{fake.base_url}/video/v2/part/upload",
                                    params={"upload_token": token, "part_number": number},
                                    content=video[start:start + PART],
                                    headers={"Content-Type": "application/octet-stream"}))
        assert answer.json() == {"code": 0}
    assert code(signed(fake, "POST", "/arcopen/fn/archive/video/complete", credentials=credentials,
                       params={"upload_token": token})) == 0
    return token


def cover(fake, credentials, data=None):
    request_files = {"file": ("cover.png", data or sample_image(), "image/png")}
    built = httpx.Request("POST", "https://x.test/", files=request_files)
    built.read()
    return signed(fake, "POST", "/arcopen/fn/archive/cover/upload", credentials=credentials,
                  body=built.content, content_type=built.headers["content-type"])


def submit(fake, credentials, token, **fields):
    url = cover(fake, credentials).json()["data"]["url"]
    body = {"title": "央企", "cover": url, "tid": 21, "tag": "国企", "copyright": 1, **fields}
    return post_json(fake, "/arcopen/fn/archive/add-by-utoken", body, credentials,
                     params={"upload_token": token})


# --------------------------------------------------------------------------- signature


def test_a_correctly_signed_request_passes(fake):
    answer = signed(fake, "GET", "/arcopen/fn/archive/type/list", credentials=creds(fake))
    assert code(answer) == 0 and {"id": 21, "name": "日常"} in answer.json()["data"]


@pytest.mark.parametrize(("change", "expected"), [
    ({"secret": "0" * 32}, 127012),                       # a wrong signature
    ({"timestamp": int(time.time()) - 601}, 127012),      # more than 10 minutes old
    ({"headers": {"x-bili-content-md5": hashlib.md5(b"other").hexdigest()}}, 127012),
    ({"headers": {"x-bili-signature-version": "1.0"}}, 127012),
    ({"headers": {"x-bili-accesskeyid": "bili000000000000"}}, 127004),
    ({"headers": {"access-token": "not-a-token"}}, 127001),
])
def test_what_is_refused(fake, change, expected):
    assert code(signed(fake, "GET", "/arcopen/fn/archive/type/list", credentials=creds(fake),
                       **change)) == expected


def test_missing_headers_and_a_replayed_nonce(fake):
    bare = fake(httpx.Request("GET", f"{fake.base_url}/arcopen/fn/archive/type/list"))
    assert code(bare) == 127000
    credentials = creds(fake)
    nonce = str(uuid.uuid4())
    assert code(signed(fake, "GET", "/arcopen/fn/archive/type/list", credentials=credentials,
                       nonce=nonce)) == 0
    assert code(signed(fake, "GET", "/arcopen/fn/archive/type/list", credentials=credentials,
                       nonce=nonce)) == 127012


def test_expired_tokens_are_refused(fake):
    credentials = creds(fake)
    fake.expire_tokens()
    assert code(signed(fake, "GET", "/arcopen/fn/archive/type/list", credentials=credentials)) == 127001


# --------------------------------------------------------------------------- OAuth


def refresh(fake, credentials, token, **changes):
    params = {"client_id": credentials["client_id"], "client_secret": credentials["client_secret"],
              "grant_type": "refresh_token", "refresh_token": token, **changes}
    return fake(httpx.Request("POST", f"{fake.base_url}/x/account-oauth2/v1/refresh_token", params=params))


def test_refresh_tokens_rotate_and_work_once(fake):
    credentials = creds(fake)
    first = refresh(fake, credentials, credentials["refresh_token"])
    data = first.json()["data"]
    assert set(data) == {"access_token", "refresh_token", "expires_in"} and data["expires_in"] > 0
    assert code(refresh(fake, credentials, credentials["refresh_token"])) == 122007  # spent
    assert code(refresh(fake, credentials, data["refresh_token"])) == 0
    assert code(refresh(fake, credentials, "never-issued")) == 122007
    assert code(refresh(fake, credentials, data["refresh_token"], client_secret="x")) == 122001
    assert code(refresh(fake, credentials, data["refresh_token"], client_id="x")) == 122000


def test_an_authorization_code_is_traded_once(fake):
    credentials = creds(fake)
    code_value = fake.authorization_code("member")
    params = {"client_id": credentials["client_id"], "client_secret": credentials["client_secret"],
              "grant_type": "authorization_code", "code": code_value}
    url = f"{fake.base_url}/x/account-oauth2/v1/token"
    assert code(fake(httpx.Request("POST", url, params=params))) == 0
    assert code(fake(httpx.Request("POST", url, params=params))) == 122002


# --------------------------------------------------------------------------- uploads


def test_a_whole_submission_advances_through_review(fake):
    fake.review_polls = 2
    credentials = creds(fake)
    video = sample_video(30.0, size=3 * PART + 10)
    token = upload(fake, credentials, video)
    answer = submit(fake, credentials, token, desc="中老铁路")
    resource_id = answer.json()["data"]["resource_id"]
    assert resource_id.startswith("BV1") and len(resource_id) == 12
    states = [signed(fake, "GET", "/arcopen/fn/archive/view", credentials=credentials,
                     params={"resource_id": resource_id}).json()["data"]["addit_info"]["state"]
              for _ in range(4)]
    assert states == [-30, -30, 0, 0]
    (post,) = fake.posts("sasac")
    assert (post["size"], post["desc"], post["state"]) == (len(video), "中老铁路", 0)
    assert code(submit(fake, credentials, token)) == 127022  # a session is submitted once
    listed = signed(fake, "GET", "/arcopen/fn/archive/viewlist", credentials=credentials,
                    params={"pn": 1, "ps": 20}).json()["data"]
    assert listed["page"] == {"pn": 1, "ps": 20, "total": 1}
    assert listed["list"][0]["resource_id"] == resource_id


def test_parts_are_checked_at_the_merge(fake):
    credentials = creds(fake)
    token = post_json(fake, "/arcopen/fn/archive/video/init", {"name": "v.mp4"}, credentials).json()[
        "data"]["upload_token"]

    def part(number, data, content_type="application/octet-stream"):
        return fake(httpx.Request("POST", f"{fake.base_url}/video/v2/part/upload",
                                  params={"upload_token": token, "part_number": number},
                                  content=data, headers={"Content-Type": content_type}))

    def complete():
        return code(signed(fake, "POST", "/arcopen/fn/archive/video/complete", credentials=credentials,
                           params={"upload_token": token}))

    video = sample_video(10.0, size=3 * PART)
    assert code(part(1, video[:PART], "application/json")) == 127100
    assert code(part(1, video[:PART + 1])) == 127100  # larger than a part
    assert code(part(0, video[:PART])) == 127100
    part(1, video[:PART])
    part(3, video[2 * PART:])
    assert complete() == 127100  # part 2 is missing
    part(2, video[PART:PART + 10])
    assert complete() == 127100  # part 2 is short but not the last
    part(2, video[PART:2 * PART])  # sent again: replaces the first
    assert complete() == 0
    assert complete() == 0  # merging twice is harmless (unverified, modelled)
    assert code(part(4, b"x")) == 127022  # merged: no more parts


def test_file_types_are_judged_by_name_and_bytes(fake):
    credentials = creds(fake)
    assert code(post_json(fake, "/arcopen/fn/archive/video/init", {"name": "v.avi"}, credentials)) == 127102
    token = post_json(fake, "/arcopen/fn/archive/video/init", {"name": "v.flv"}, credentials).json()[
        "data"]["upload_token"]
    fake(httpx.Request("POST", f"{fake.base_url}/video/v2/part/upload",
                       params={"upload_token": token, "part_number": 1}, content=sample_video(size=500),
                       headers={"Content-Type": "application/octet-stream"}))
    assert code(signed(fake, "POST", "/arcopen/fn/archive/video/complete", credentials=credentials,
                       params={"upload_token": token})) == 127102  # MP4 bytes named .flv
    unknown = fake(httpx.Request("POST", f"{fake.base_url}/video/v2/part/upload",
                                 params={"upload_token": "nope", "part_number": 1}, content=b"x",
                                 headers={"Content-Type": "application/octet-stream"}))
    assert code(unknown) == 127022


@pytest.mark.parametrize(("data", "expected"), [
    (COVER_JPEG, 127100),                                  # 64x36: under 960x600
    (b"GIF89a" + bytes(100), 127102),
    (sample_image(960, 600) + bytes(5 * 1024 * 1024), 127100),  # over 5 MB
    (sample_image(960, 600), 0),
])
def test_covers(fake, data, expected):
    assert code(cover(fake, creds(fake), data)) == expected


@pytest.mark.parametrize(("fields", "expected"), [
    ({"tid": 99999}, 127207),
    ({"tid": "21"}, 127100),
    ({"cover": "https://i0.hdslb.com/bfs/archive/forged.jpg"}, 129004),
    ({"tag": "国企,,"}, 129003),
    ({"copyright": 2}, 127100),                # a repost without its source
    ({"copyright": 2, "source": "新华社"}, 0),
    ({"title": " "}, 127100),
])
def test_submissions_refused_as_the_platform_does(fake, fields, expected):
    credentials = creds(fake)
    token = upload(fake, credentials, sample_video(size=2 * PART))
    assert code(submit(fake, credentials, token, **fields)) == expected
    assert len(fake.posts()) == (1 if expected == 0 else 0)


def test_another_accounts_session_cover_and_archive_are_not_yours(fake):
    mine, theirs = creds(fake, "sasac"), creds(fake, "member")
    token = upload(fake, mine, sample_video(size=PART))
    assert code(submit(fake, theirs, token)) == 127022
    resource_id = submit(fake, mine, token).json()["data"]["resource_id"]
    assert code(signed(fake, "GET", "/arcopen/fn/archive/view", credentials=theirs,
                       params={"resource_id": resource_id})) == 127124


def test_delete_stats_and_review_by_hand(fake):
    credentials = creds(fake)
    resource_id = submit(fake, credentials, upload(fake, credentials, sample_video(size=PART))).json()[
        "data"]["resource_id"]
    fake.review(resource_id, -2, reason="标题党")
    view = signed(fake, "GET", "/arcopen/fn/archive/view", credentials=credentials,
                  params={"resource_id": resource_id}).json()["data"]["addit_info"]
    assert view == {"state": -2, "state_desc": "被打回", "reject_reason": "标题党"}
    fake.set_stats(resource_id, view=10, like=2)
    stats = signed(fake, "GET", "/arcopen/fn/data/arc/stat", credentials=credentials,
                   params={"resource_id": resource_id}).json()["data"]
    assert stats == {"view": 10, "danmaku": 0, "reply": 0, "favorite": 0, "coin": 0, "share": 0, "like": 2}
    gone = {"resource_id": resource_id}
    assert code(post_json(fake, "/arcopen/fn/archive/delete", gone, credentials)) == 0
    assert code(post_json(fake, "/arcopen/fn/archive/delete", gone, credentials)) == 127107
    assert fake.posts() == []


# --------------------------------------------------------------------------- articles


def article(fake, credentials, **fields):
    form = {"title": "一带一路看国企", "content": "<p>正文</p>", **fields}
    built = httpx.Request("POST", "https://x.test/", files={k: (None, v.encode()) for k, v in form.items()})
    built.read()
    return signed(fake, "POST", "/arcopen/fn/article/add", credentials=credentials, body=built.content,
                  content_type=built.headers["content-type"])


@pytest.mark.parametrize(("fields", "expected"), [
    ({}, 0),
    ({"title": "国" * 40}, 0),
    ({"title": "国" * 41}, 129005),
    ({"title": "标题<script>"}, 129005),
    ({"content": " "}, 127100),
    ({"category": "科技"}, 127100),
])
def test_articles(fake, fields, expected):
    assert code(article(fake, creds(fake), **fields)) == expected


def test_an_article_is_kept_until_deleted(fake):
    credentials = creds(fake)
    article_id = article(fake, credentials, summary="摘要").json()["data"]["id"]
    assert fake.posts() == [{"kind": "article", "id": article_id, "title": "一带一路看国企",
                             "content": "<p>正文</p>", "summary": "摘要", "account": "sasac"}]
    built = httpx.Request("POST", "https://x.test/", files={"id": (None, str(article_id).encode())})
    built.read()
    assert code(signed(fake, "POST", "/arcopen/fn/article/delete", credentials=credentials,
                       body=built.content, content_type=built.headers["content-type"])) == 0
    assert fake.posts() == []


def test_a_form_body_is_no_article(fake):
    credentials = creds(fake)
    body = b"title=x&content=y"
    answer = signed(fake, "POST", "/arcopen/fn/article/add", credentials=credentials, body=body,
                    content_type="application/x-www-form-urlencoded")
    assert code(answer) == 127100


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(("kind", "expected"), [("rate_limit", 127009), ("busy", 127201),
                                                ("token_expired", 127001)])
def test_faults_in_bilibilis_own_shapes(fake, kind, expected):
    fake.inject(kind, path=fake.create_path)
    assert code(article(fake, creds(fake))) == expected
    assert code(article(fake, creds(fake))) == 0  # once


def test_a_bare_500_and_an_unknown_path(fake):
    fake.inject("server_error")
    assert fake(httpx.Request("GET", f"{fake.base_url}/arcopen/fn/archive/type/list")).status_code == 500
    missing = fake(httpx.Request("GET", f"{fake.base_url}/arcopen/fn/nothing"))
    assert missing.status_code == 404 and missing.json()["code"] == -404
