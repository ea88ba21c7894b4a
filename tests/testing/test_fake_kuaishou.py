"""The Kuaishou fake is strict: it refuses what the real API refuses, the way it refuses it.

Codes the sheet leaves unverified (a refused refresh token, a bad upload) are the
fake's model, named in its module docs.
"""

import httpx
import pytest

from govmedia.testing import FakeKuaishou
from govmedia.testing.samples import CHART_PNG, CLIP_MP4, COVER_JPEG


class Api:
    """A bare client of the fake, as a caller of the real API would be."""

    def __init__(self, fake=None, **kwargs):
        self.fake = fake or FakeKuaishou(**kwargs)
        self.channel = self.fake.channel("sasac_ks")
        self.creds = dict(self.channel.credentials)
        self.http = httpx.Client(transport=httpx.MockTransport(self.fake))

    def url(self, path):
        return f"{self.fake.base_url}{path}"

    def auth(self, **params):
        return {"app_id": self.creds["app_id"], "access_token": self.creds["access_token"], **params}

    def get(self, path, **params):
        return self.http.get(self.url(path), params=self.auth(**params)).json()

    def start(self):
        answer = self.http.post(self.url("/openapi/photo/start_upload"), params=self.auth()).json()
        return answer["upload_token"], f"http://{answer['endpoint']}"

    def gateway(self, gateway, path, token, content=b"", method="POST", headers=None, **params):
        return self.http.request(method, f"{gateway}{path}", params={"upload_token": token, **params},
                                 content=content, headers=headers).json()

    def upload(self, data=CLIP_MP4):
        token, gateway = self.start()
        assert self.gateway(gateway, "/api/upload", token, data,
                            headers={"Content-Type": "video/mp4"}) == {"result": 1}
        return token

    def publish(self, token, caption="中老铁路 #一带一路看国企 ", cover=COVER_JPEG, **fields):
        files = ({"cover": ("cover.jpg", cover, "image/jpeg")} if cover is not None
                 else {"thumbnail": ("cover.jpg", COVER_JPEG, "image/jpeg")})
        return self.http.post(self.url("/openapi/photo/publish"), params=self.auth(upload_token=token),
                              data={"caption": caption, **fields}, files=files).json()

    def refresh(self, refresh_token, secret=None):
        return self.http.get(self.url("/oauth2/refresh_token"), params={
            "app_id": self.creds["app_id"], "app_secret": secret or self.creds["app_secret"],
            "refresh_token": refresh_token, "grant_type": "refresh_token"}).json()


@pytest.fixture
def api():
    return Api()


def test_channel_points_at_the_fake(api):
    ch = api.channel
    assert ch.platform == "kuaishou" and ch.options["base_url"] == "https://sandbox.govmedia.test/kuaishou"
    assert set(ch.credentials) == {"access_token", "app_id", "app_secret", "refresh_token"}


def test_every_call_needs_a_valid_token_for_its_app(api):
    assert api.get("/openapi/photo/list", access_token="nope") == {
        "result": 100200102, "error_msg": "无效的 access_token"}
    assert api.get("/openapi/photo/list", access_token="")["result"] == 100200102
    assert api.get("/openapi/photo/list", app_id="ks000")["result"] == 100200101
    api.fake.expire_tokens()
    assert api.get("/openapi/photo/list") == {"result": 100200102, "error_msg": "access_token 已过期"}


def test_a_missing_scope_is_refused():
    fake = FakeKuaishou()
    _, creds = fake.authorize("viewer", scopes=("user_info",))
    http = httpx.Client(transport=httpx.MockTransport(fake))
    answer = http.post(f"{fake.base_url}/openapi/photo/start_upload",
                       params={"app_id": creds["app_id"], "access_token": creds["access_token"]}).json()
    assert answer["result"] == 100200102 and "scope" in answer["error_msg"]


def test_refresh_rotates_and_the_spent_token_is_refused(api):
    first = api.refresh(api.creds["refresh_token"])
    assert first["result"] == 1 and 3599 <= first["expires_in"] <= 3600
    assert 647_999 <= first["refresh_token_expires_in"] <= 648_000
    assert first["scopes"] == ["user_info", "user_video_publish", "user_video_info"]
    assert api.refresh(api.creds["refresh_token"]) == {"result": 100200100,
                                                       "error_msg": "refresh_token 已被使用"}
    # The old and the new access tokens both work until each expires.
    assert api.get("/openapi/photo/list")["result"] == 1
    assert api.get("/openapi/photo/list", access_token=first["access_token"])["result"] == 1
    assert api.refresh(first["refresh_token"], secret="wrong")["result"] == 100200101
    assert api.refresh("never-issued")["result"] == 100200100


def test_a_refreshed_refresh_token_inherits_the_old_expiry(api):
    now = [1_700_000_000.0]
    api.fake.clock = lambda: now[0]
    pair = api.fake.authorize("member", app_id=api.creds["app_id"])[1]
    now[0] += 600_000
    renewed = api.refresh(pair["refresh_token"])
    assert renewed["refresh_token_expires_in"] == 48_000  # what was left, not a fresh 648,000
    now[0] += 48_000
    assert api.refresh(renewed["refresh_token"]) == {"result": 100200100,
                                                     "error_msg": "refresh_token 已过期"}


def test_an_authorisation_code_is_exchanged_once(api):
    code, creds = api.fake.authorize("member", app_id=api.creds["app_id"])
    params = {"app_id": creds["app_id"], "app_secret": creds["app_secret"], "code": code,
              "grant_type": "authorization_code"}
    answer = api.http.get(api.url("/oauth2/access_token"), params=params).json()
    assert answer["result"] == 1 and answer["refresh_token"] and answer["open_id"]
    assert api.http.get(api.url("/oauth2/access_token"), params=params).json()["result"] == 100200100
    app = api.http.post(api.url("/oauth2/access_token"), data={
        "app_id": creds["app_id"], "app_secret": creds["app_secret"],
        "grant_type": "client_credentials"}).json()
    assert app["token_type"] == "bearer" and app["expires_in"] == 48 * 3600


def test_the_gateway_is_plain_http_and_answers_result_one(api):
    token, gateway = api.start()
    assert gateway == "http://sandbox.govmedia.test/kuaishou/uploader"
    assert api.gateway(gateway, "/api/upload", token, CLIP_MP4) == {"result": 1}


def test_a_direct_upload_takes_raw_bytes_only(api):
    token, gateway = api.start()
    form = api.http.post(f"{gateway}/api/upload", params={"upload_token": token},
                         files={"file": ("clip.mp4", CLIP_MP4, "video/mp4")}).json()
    assert form["result"] == 10000200  # "不要在body中放boundary"
    assert api.gateway(gateway, "/api/upload", "nope", CLIP_MP4)["result"] == 10000200
    api.fake.direct_max = 100
    assert api.gateway(gateway, "/api/upload", token, CLIP_MP4)["result"] == 10000200
    api.fake.direct_max = 10_000_000
    assert api.gateway(gateway, "/api/upload", token, CLIP_MP4)["result"] == 1
    assert api.gateway(gateway, "/api/upload", token, CLIP_MP4)["result"] == 10000200  # done already


def test_the_multipart_direct_upload_takes_one_file(api):
    token, gateway = api.start()
    answer = api.http.post(f"{gateway}/api/upload/multipart", params={"upload_token": token},
                           files={"file": ("clip.mp4", CLIP_MP4, "video/mp4")}).json()
    assert answer == {"result": 1}
    assert api.publish(token)["result"] == 1


def test_fragments_are_checked_when_the_upload_completes(api):
    token, gateway = api.start()
    parts = [CLIP_MP4[:1000], CLIP_MP4[1000:2000], CLIP_MP4[2000:]]
    for index in (0, 2):
        assert api.gateway(gateway, "/api/upload/fragment", token, parts[index],
                           fragment_id=index)["result"] == 1
    missing = api.gateway(gateway, "/api/upload/complete", token, fragment_count=3)
    assert missing["result"] == 10000200 and "[0, 2]" in missing["error_msg"]
    assert api.publish(token)["result"] == 10000200  # not complete
    resume = api.gateway(gateway, "/api/upload/resume", token, method="GET")
    assert (resume["existed"], resume["fragment_index"], resume["fragment_list"]) == (True, 0, [0, 2])
    assert resume["endpoint"] == [{"protocol": "http", "host": "sandbox.govmedia.test", "port": 80}]
    assert api.gateway(gateway, "/api/upload/fragment", token, parts[1], fragment_id=1)["result"] == 1
    assert api.gateway(gateway, "/api/upload/fragment", token, parts[1], fragment_id=1)["result"] == 1
    assert api.gateway(gateway, "/api/upload/complete", token, fragment_count=2)["result"] == 10000200
    assert api.gateway(gateway, "/api/upload/complete", token, fragment_count=3) == {"result": 1}
    assert api.gateway(gateway, "/api/upload/fragment", token, b"x", fragment_id=3)["result"] == 10000200
    assert api.fake.uploads[token].size == len(CLIP_MP4)
    assert api.publish(token)["result"] == 1


def test_bad_fragments_are_refused(api):
    token, gateway = api.start()
    assert api.gateway(gateway, "/api/upload/fragment", token, b"x", fragment_id="-1")["result"] == 10000200
    assert api.gateway(gateway, "/api/upload/fragment", token, b"", fragment_id=0)["result"] == 10000200
    too_big = bytes(10_000_001)
    assert api.gateway(gateway, "/api/upload/fragment", token, too_big, fragment_id=0)["result"] == 10000200
    fresh = api.gateway(gateway, "/api/upload/resume", "unknown", method="GET")
    assert (fresh["existed"], fresh["fragment_index"], fresh["fragment_list"]) == (False, -1, [])


def test_the_fake_keeps_no_video_bytes(api):
    token, gateway = api.start()
    for index in range(3):
        api.gateway(gateway, "/api/upload/fragment", token, bytes(1_000_000), fragment_id=index)
    upload = api.fake.uploads[token]
    assert upload.fragments == {0: 1_000_000, 1: 1_000_000, 2: 1_000_000}
    assert len(upload.head) <= 512


def test_publish_checks_the_form_and_the_upload(api):
    assert api.publish(api.upload(), cover=None) == {"result": 100200100, "error_msg": "缺少参数 cover"}
    assert api.publish(api.upload(), cover=b"GIF89a....")["result"] == 10000200
    assert api.publish(api.upload(), cover=COVER_JPEG + bytes(10_000_000))["result"] == 10000200
    assert api.publish(api.upload(), stereo_type="3D")["result"] == 100200100
    assert api.publish(api.upload(CHART_PNG))["error_msg"] == "视频格式不支持"
    token = api.upload()
    no_caption = api.http.post(api.url("/openapi/photo/publish"), params=api.auth(upload_token=token),
                               files={"cover": ("c.jpg", COVER_JPEG, "image/jpeg")}).json()
    assert no_caption["result"] == 100200100
    assert api.publish("nope")["result"] == 10000200
    assert api.fake.posts() == []


def test_an_upload_token_publishes_once_and_only_for_its_user(api):
    token = api.upload()
    first = api.publish(token, stereo_type="SPHERICAL_VIDEO_360")
    assert first["result"] == 1 and first["video_info"]["pending"] is True
    assert set(first["video_info"]) == {"photo_id", "caption", "cover", "play_url", "create_time",
                                        "like_count", "comment_count", "view_count", "pending"}
    assert api.publish(token) == {"result": 10000200, "error_msg": "upload_token 已使用"}
    other = api.fake.channel("other", app_id=api.creds["app_id"]).credentials
    stolen = api.http.post(api.url("/openapi/photo/publish"), params={
        "app_id": other["app_id"], "access_token": other["access_token"], "upload_token": api.upload()},
        data={"caption": "x"}, files={"cover": ("c.jpg", COVER_JPEG, "image/jpeg")}).json()
    assert stolen["result"] == 10000200
    assert len(api.fake.posts()) == 1


def test_review_advances_with_each_look_and_ends_as_configured():
    api = Api(review_polls=2)
    photo = api.publish(api.upload())["video_info"]["photo_id"]
    states = [api.get("/openapi/photo/list")["video_list"][0]["pending"] for _ in range(3)]
    assert states == [True, True, False]
    assert api.fake.posts()[0]["state"] == "published"
    rejected = Api(review_polls=0, review_outcome="rejected")
    rejected.publish(rejected.upload())
    assert rejected.get("/openapi/photo/list") == {"result": 1, "video_list": []}
    assert rejected.fake.posts() == [] and photo


def test_the_list_is_newest_first_and_pages_by_cursor(api):
    ids = [api.publish(api.upload(), caption=f"第{i}条")["video_info"]["photo_id"] for i in range(5)]
    first = api.get("/openapi/photo/list", count=2)["video_list"]
    assert [v["photo_id"] for v in first] == ids[::-1][:2]
    second = api.get("/openapi/photo/list", count=2, cursor=first[-1]["photo_id"])["video_list"]
    assert [v["photo_id"] for v in second] == ids[::-1][2:4]
    assert api.get("/openapi/photo/list", count=0)["result"] == 100200100
    assert api.get("/openapi/photo/list", cursor="unknown")["video_list"] == []


def test_counts_and_delete(api):
    photo = api.publish(api.upload())["video_info"]["photo_id"]
    api.fake.set_counts(photo, views=1200, likes=88, comments=9)
    item = api.get("/openapi/photo/list")["video_list"][0]
    assert (item["view_count"], item["like_count"], item["comment_count"]) == (1200, 88, 9)
    delete = api.http.post(api.url("/openapi/photo/delete"), params=api.auth(photo_id=photo)).json()
    assert delete == {"result": 1}
    again = api.http.post(api.url("/openapi/photo/delete"), params=api.auth(photo_id=photo)).json()
    assert again["result"] == 100200100
    assert api.fake.posts() == []


def test_sensitive_captions_are_refused(api):
    api.fake.sensitive_terms.add("违禁")
    assert api.publish(api.upload(), caption="违禁内容") == {"result": 10000200,
                                                          "error_msg": "文件包含敏感内容"}


def test_user_info(api):
    info = api.get("/openapi/user_info")
    assert info["result"] == 1 and info["user_info"]["name"] == "sasac_ks"


@pytest.mark.parametrize(("kind", "status", "body"), [
    ("token_expired", 200, {"result": 100200102, "error_msg": "access_token 已过期"}),
    ("server_error", 500, None),
    ("busy", 503, None),
])
def test_faults_answer_in_kuaishous_shapes(api, kind, status, body):
    api.fake.inject(kind, path=api.fake.create_path)
    answer = api.http.post(api.url("/openapi/photo/publish"), params=api.auth())
    assert answer.status_code == status
    if body is not None:
        assert answer.json() == body
    assert api.fake.posts() == []


def test_a_rate_limit_is_a_429_with_its_wait(api):
    api.fake.inject("rate_limit", path="/openapi/photo/list", retry_after=3)
    answer = api.http.get(api.url("/openapi/photo/list"), params=api.auth())
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "3"


def test_timeout_after_applies_the_publish_then_loses_the_answer(api):
    token = api.upload()
    api.fake.inject("timeout_after", path=api.fake.create_path)
    with pytest.raises(httpx.ReadTimeout):
        api.publish(token)
    assert len(api.fake.posts()) == 1


def test_requests_are_logged_with_their_account(api):
    token = api.upload()
    api.publish(token)
    accounts = {r.path: r.account for r in api.fake.requests()}
    assert accounts["/openapi/photo/start_upload"] == "sasac_ks"
    assert accounts["/uploader/api/upload"] == "sasac_ks"
    assert accounts["/openapi/photo/publish"] == "sasac_ks"


def test_unknown_paths_and_the_gateway_on_https_too(api):
    assert api.http.get(api.url("/openapi/nothing"), params=api.auth()).status_code == 404
    token, _ = api.start()
    secure = api.gateway("https://sandbox.govmedia.test/kuaishou/uploader", "/api/upload", token, CLIP_MP4)
    assert secure == {"result": 1}
    assert not api.fake.owns(httpx.Request("GET", "http://sandbox.govmedia.test/elsewhere/api/upload"))
