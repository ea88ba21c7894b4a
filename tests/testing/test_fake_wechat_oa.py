"""The WeChat fake is strict: it refuses what the real API refuses, the way it refuses it."""

import datetime as dt
import json

import httpx
import pytest

from govmedia.testing import FakeWeChatOA
from govmedia.testing.samples import CHART_PNG, COVER_JPEG

CHINA = dt.timezone(dt.timedelta(hours=8))


class Api:
    """A bare client of the fake, as a caller of the real API would be."""

    def __init__(self, fake=None, **kwargs):
        self.fake = fake or FakeWeChatOA(**kwargs)
        self.channel = self.fake.channel("gh_sasac")
        self.app_id = self.channel.credentials["app_id"]
        self.secret = self.channel.credentials["app_secret"]
        self.http = httpx.Client(transport=httpx.MockTransport(self.fake), base_url=self.fake.base_url)
        self.token = None

    def raw(self, path, content, token=True, **kwargs):
        params = {"access_token": self.token} if token and self.token else {}
        return self.http.post(path, content=content, params={**params, **kwargs.pop("params", {})},
                              **kwargs).json()

    def post(self, path, data, **kwargs):
        return self.raw(path, json.dumps(data, ensure_ascii=False).encode(), **kwargs)

    def login(self, **extra):
        answer = self.post("/cgi-bin/stable_token", {
            "grant_type": "client_credential", "appid": self.app_id, "secret": self.secret,
            "force_refresh": False, **extra}, token=False)
        self.token = answer.get("access_token")
        return answer

    def upload(self, path, filename, data, **params):
        return self.http.post(path, params={"access_token": self.token, **params},
                              files={"media": (filename, data)}).json()

    def cover(self):
        return self.upload("/cgi-bin/material/add_material", "cover.jpg", COVER_JPEG, type="image")["media_id"]

    def draft(self, **article):
        return self.post("/cgi-bin/draft/add", {"articles": [{
            "title": "标题", "content": "<p>正文</p>", "thumb_media_id": self.cover(), **article}]})


@pytest.fixture
def api():
    api = Api()
    api.login()
    return api


def test_channel_points_at_the_fake():
    fake = FakeWeChatOA()
    ch = fake.channel("gh_sasac", publish=False)
    assert ch.options["base_url"] == "https://sandbox.govmedia.test/wechat_oa"
    assert ch.options["publish"] is False
    assert fake.apps[ch.credentials["app_id"]].accounts == ["gh_sasac"]
    member = fake.channel("gh_member", app_id=ch.credentials["app_id"])
    assert member.credentials == ch.credentials
    assert fake.apps[ch.credentials["app_id"]].accounts == ["gh_sasac", "gh_member"]


def test_stable_token_is_the_same_until_five_minutes_before_expiry():
    api = Api(token_ttl=7200)
    first = api.login()
    assert set(first) == {"access_token", "expires_in"} and 7190 < first["expires_in"] <= 7200
    assert api.login()["access_token"] == first["access_token"]
    forced = api.login(force_refresh=True)
    assert forced["access_token"] != first["access_token"]
    short = Api(token_ttl=200)  # under five minutes left: a new token, the old one still works
    one = short.login()["access_token"]
    two = short.login()["access_token"]
    assert one != two and short.fake.tokens[one].expires_at > 0


def test_token_errors():
    api = Api()
    assert api.post("/cgi-bin/stable_token", {"grant_type": "client_credential", "appid": api.app_id,
                                              "secret": "wrong"}, token=False)["errcode"] == 40001
    assert api.post("/cgi-bin/stable_token", {"grant_type": "client_credential", "appid": "wx0",
                                              "secret": "x"}, token=False)["errcode"] == 40013
    assert api.post("/cgi-bin/stable_token", {"grant_type": "x"}, token=False)["errcode"] == 40002
    api.fake.app(api.app_id, whitelisted=False)
    answer = api.login()
    assert answer["errcode"] == 40164 and "not in whitelist" in answer["errmsg"]


def test_the_token_endpoint_rotates():
    api = Api()
    params = {"grant_type": "client_credential", "appid": api.app_id, "secret": api.secret}
    one = api.http.get("/cgi-bin/token", params=params).json()["access_token"]
    two = api.http.get("/cgi-bin/token", params=params).json()["access_token"]
    assert one != two and one not in api.fake.tokens and two in api.fake.tokens


def test_access_token_missing_invalid_expired(api):
    assert api.post("/cgi-bin/draft/add", {}, token=False)["errcode"] == 41001
    assert api.post("/cgi-bin/draft/add", {}, token=False,
                    params={"access_token": "nope"})["errcode"] == 40014
    api.fake.expire_tokens()
    answer = api.post("/cgi-bin/draft/add", {})
    assert answer["errcode"] == 42001 and "rid:" in answer["errmsg"]
    api.login()  # the expired token is replaced by a new one
    assert api.post("/cgi-bin/draft/add", {})["errcode"] == 47001


def test_unicode_escapes_are_refused_with_40033(api):
    escaped = json.dumps({"articles": [{"title": "标题", "content": "正文"}]}).encode()  # ensure_ascii
    assert b"\\u" in escaped
    answer = api.raw("/cgi-bin/draft/add", escaped)
    assert answer["errcode"] == 40033 and "\\uxxxx" in answer["errmsg"]
    # an escaped backslash followed by "u" is no escape
    literal = json.dumps({"media_id": "C:\\users"}, ensure_ascii=False).encode()
    assert api.raw("/cgi-bin/draft/delete", literal)["errcode"] == 40007


def test_errors_are_http_200_with_errcode_and_errmsg(api):
    response = api.http.post("/cgi-bin/draft/add", content=b"{}")
    assert response.status_code == 200 and set(response.json()) == {"errcode", "errmsg"}
    assert api.http.get("/cgi-bin/draft/add").json()["errcode"] == 43002


def test_media_types_and_sizes(api):
    image = "/cgi-bin/material/add_material"
    ok = api.upload(image, "cover.jpg", COVER_JPEG, type="image")
    assert ok["media_id"] and ok["url"].startswith("http://mmbiz.qpic.cn/")
    assert api.upload(image, "c.png", COVER_JPEG, type="image")["errcode"] == 40005  # bytes say jpeg
    assert api.upload(image, "c.webp", b"RIFF0000WEBP", type="image")["errcode"] == 40005
    assert api.upload(image, "big.jpg", b"\xff\xd8\xff" + b"0" * (10 * 1024 * 1024), type="image")["errcode"] == 40009
    assert api.upload(image, "c.jpg", COVER_JPEG, type="sticker")["errcode"] == 40004
    thumb = api.upload(image, "t.jpg", COVER_JPEG, type="thumb")
    assert thumb["media_id"] and "url" not in thumb
    assert api.upload(image, "t.jpg", b"\xff\xd8\xff" + b"0" * 65536, type="thumb")["errcode"] == 40006
    assert api.upload(image, "t.png", CHART_PNG, type="thumb")["errcode"] == 40005
    body = "/cgi-bin/media/uploadimg"
    assert api.upload(body, "chart.png", CHART_PNG)["url"].startswith("http://mmbiz.qpic.cn/mmbiz_png/")
    assert api.upload(body, "a.gif", b"GIF89a0000")["errcode"] == 40005
    assert api.upload(body, "big.png", b"\x89PNG\r\n\x1a\n" + b"0" * (1024 * 1024))["errcode"] == 40009
    assert api.http.post(body, params={"access_token": api.token}, content=b"x").json()["errcode"] == 41005


def test_draft_limits(api):
    assert api.draft(title="标" * 33)["errcode"] == 45003
    assert api.draft(title="标" * 32)["media_id"]
    assert api.draft(author="作" * 17)["errcode"] == 45110
    assert api.draft(digest="摘" * 129)["errcode"] == 45004
    assert api.draft(content="字" * 20_000)["errcode"] == 45002
    assert api.draft(content="")["errcode"] == 44004
    assert api.draft(content_source_url="https://e.example/" + "a" * 1010)["errcode"] == 45005
    assert api.draft(thumb_media_id="nope")["errcode"] == 40007
    assert api.draft(need_open_comment=True)["errcode"] == 47001
    assert api.post("/cgi-bin/draft/add", {"articles": []})["errcode"] == 47001
    other = Api(api.fake)  # another app's material is not this app's
    other.login()
    assert other.draft(thumb_media_id=api.cover())["errcode"] == 40007


def test_scripts_and_foreign_images_are_stripped(api):
    media_id = api.draft(content='<p>正文</p><script>x()</script><img src="https://e.example/a.png">'
                                 '<img src="http://mmbiz.qpic.cn/mmbiz_png/ok/0">')["media_id"]
    (post,) = api.fake.posts()
    assert post["media_id"] == media_id and post["stripped_images"] == 1
    assert "script" not in post["content"] and "e.example" not in post["content"]
    assert "mmbiz.qpic.cn/mmbiz_png/ok" in post["content"]


def test_risky_terms_are_refused(api):
    api.fake.risky_terms.add("敏感词")
    assert api.draft(content="<p>敏感词</p>")["errcode"] == 87014


def test_publish_job_polls_then_publishes(api):
    api.fake.publish_polls = 2
    media_id = api.draft()["media_id"]
    submitted = api.post("/cgi-bin/freepublish/submit", {"media_id": media_id})
    assert submitted["errcode"] == 0 and submitted["publish_id"] and submitted["msg_data_id"]
    assert api.post("/cgi-bin/freepublish/submit", {"media_id": media_id})["errcode"] == 40007
    publish_id = submitted["publish_id"]
    statuses = [api.post("/cgi-bin/freepublish/get", {"publish_id": publish_id}) for _ in range(3)]
    assert [s["publish_status"] for s in statuses] == [1, 1, 0]
    done = statuses[-1]
    assert done["article_detail"]["item"][0]["article_url"].startswith("https://mp.weixin.qq.com/s/")
    assert api.post("/cgi-bin/freepublish/get", {"publish_id": publish_id}) == done
    assert api.post("/cgi-bin/freepublish/get", {"publish_id": "0"})["errcode"] == 53502
    (post,) = api.fake.posts("gh_sasac")
    assert post["state"] == "published" and post["article_id"] == done["article_id"]
    assert api.fake.posts("gh_someone_else") == []
    assert api.post("/cgi-bin/freepublish/delete", {"article_id": done["article_id"], "index": 0}) == {
        "errcode": 0, "errmsg": "ok"}
    assert api.fake.posts() == []
    assert api.post("/cgi-bin/freepublish/delete", {"article_id": done["article_id"]})["errcode"] == 53600


@pytest.mark.parametrize("outcome", [2, 3, 4])
def test_a_failed_publish_reports_fail_idx_and_keeps_the_draft(outcome):
    api = Api(publish_polls=0, publish_outcome=outcome)
    api.login()
    media_id = api.draft()["media_id"]
    publish_id = api.post("/cgi-bin/freepublish/submit", {"media_id": media_id})["publish_id"]
    status = api.post("/cgi-bin/freepublish/get", {"publish_id": publish_id})
    assert status == {"publish_id": publish_id, "publish_status": outcome, "fail_idx": [1]}
    assert api.fake.posts()[0]["state"] == "draft"


def test_submit_needs_the_permission(api):
    api.fake.app(api.app_id, can_publish=False)
    assert api.post("/cgi-bin/freepublish/submit", {"media_id": api.draft()["media_id"]})["errcode"] == 48001


def test_draft_delete(api):
    media_id = api.draft()["media_id"]
    assert api.post("/cgi-bin/draft/delete", {"media_id": media_id})["errcode"] == 0
    assert api.fake.posts() == []
    assert api.post("/cgi-bin/draft/delete", {"media_id": media_id})["errcode"] == 40007


def test_datacube_dates_and_rows(api):
    api.fake.publish_polls = 0
    publish_id = api.post("/cgi-bin/freepublish/submit", {"media_id": api.draft()["media_id"]})["publish_id"]
    done = api.post("/cgi-bin/freepublish/get", {"publish_id": publish_id})
    today = dt.datetime.now(CHINA).date()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    cube = "/datacube/getarticletotal"
    assert api.post(cube, {"begin_date": today.isoformat(), "end_date": today.isoformat()})["errcode"] == 61501
    assert api.post(cube, {"begin_date": "2026/11/01", "end_date": yesterday})["errcode"] == 61500
    before = (today - dt.timedelta(days=2)).isoformat()
    assert api.post(cube, {"begin_date": before, "end_date": yesterday})["errcode"] == 61501  # span 1
    assert api.post("/datacube/getusershare", {"begin_date": before, "end_date": yesterday}) == {"list": []}
    assert api.post(cube, {"begin_date": yesterday, "end_date": yesterday}) == {"list": []}
    api.fake.set_stats(done["article_id"], ref_date=yesterday, int_page_read_count=42, share_count=3)
    (row,) = api.post(cube, {"begin_date": yesterday, "end_date": yesterday})["list"]
    assert row["ref_date"] == yesterday and row["title"] == "标题"
    assert row["msgid"].endswith("_1") and row["details"][0]["int_page_read_count"] == 42
    assert row["details"][0]["share_count"] == 3 and row["details"][0]["add_to_fav_count"] == 0


@pytest.mark.parametrize(("kind", "retry_after", "expected"), [
    ("rate_limit", 1.0, 45011), ("rate_limit", None, 45009), ("busy", 1.0, -1),
    ("token_expired", 1.0, 42001),
])
def test_fault_shapes(api, kind, retry_after, expected):
    api.fake.inject(kind, path="/cgi-bin/draft/add", retry_after=retry_after)
    response = api.http.post("/cgi-bin/draft/add", content=b"{}", params={"access_token": api.token})
    assert response.status_code == 200 and response.json()["errcode"] == expected


def test_server_error_is_a_bare_500(api):
    api.fake.inject("server_error", path="/cgi-bin/draft/add")
    response = api.http.post("/cgi-bin/draft/add", content=b"{}", params={"access_token": api.token})
    assert response.status_code == 500 and response.content == b""


def test_the_log_names_the_account(api):
    api.draft()
    assert {r.account for r in api.fake.requests()} == {"gh_sasac"}
