"""The Weibo fake is strict: it refuses what the real API refuses, the way it refuses it.

Codes and shapes come from shared/platforms/weibo.md; where the sheet names no
code (a status without a safe-domain link, a #话题#, a missing parameter) the
fake's choice is marked unverified in its module docs and here.
"""

from urllib.parse import quote

import httpx
import pytest

from govmedia.testing import FakeWeibo
from govmedia.testing.samples import CHART_PNG, COVER_JPEG

RIP = "203.0.113.7"


class Api:
    """A bare client of the fake, as a caller of the real API would be."""

    def __init__(self, fake=None):
        self.fake = fake or FakeWeibo()
        self.channel = self.fake.channel("gzxx")
        self.token = self.channel.credentials["access_token"]
        self.http = httpx.Client(transport=httpx.MockTransport(self.fake), base_url=self.fake.base_url)

    def post(self, path, token=True, files=None, **fields):
        data = {**({"access_token": self.token} if token else {}), **fields}
        return self.http.post(path, data=data, files=files)

    def share(self, status="央企招聘季 https://example.org/a", **fields):
        return self.post("/2/statuses/share.json", status=status, rip=RIP, **fields)

    def show(self, status_id, **params):
        return self.http.get("/2/statuses/show.json",
                             params={"access_token": self.token, "id": status_id, **params})


def code(response):
    body = response.json()
    return response.status_code, body.get("error_code", body.get("code"))


@pytest.fixture
def api():
    return Api()


def test_channel_points_at_the_fake(api):
    ch = api.channel
    assert ch.options == {"base_url": "https://sandbox.govmedia.test/weibo", "rip": RIP,
                          "safe_domain_url": "https://example.org/"}
    assert api.token.startswith("2.00")


def test_share_answers_a_status_object(api):
    answer = api.share()
    assert answer.status_code == 200
    body = answer.json()
    assert {"id", "idstr", "mid", "text", "created_at", "user", "reposts_count", "comments_count"} <= set(body)
    assert body["idstr"] == str(body["id"]) == body["mid"]
    assert body["user"]["idstr"] == str(api.fake.user("gzxx").uid)
    assert [p["idstr"] for p in api.fake.posts("gzxx")] == [body["idstr"]] and api.fake.posts("other") == []


@pytest.mark.parametrize(("fields", "expected"), [
    ({"rip": None}, (400, 10016)),
    ({"rip": "not-an-ip"}, (400, 10017)),
    ({"status": ""}, (400, 20008)),
    ({"status": "没有链接"}, (400, 10017)),                          # unverified code
    ({"status": "别的域名 https://sasac.gov.cn/"}, (400, 10017)),     # unverified code
    ({"status": "#国企改革# https://example.org/"}, (400, 10017)),    # unverified code
    ({"status": "国" * 120 + " https://example.org/" + "a" * 20}, (400, 20012)),
])
def test_share_refusals(api, fields, expected):
    fields = {"status": "央企 https://example.org/", "rip": RIP, **fields}
    fields = {k: v for k, v in fields.items() if v is not None}
    assert code(api.post("/2/statuses/share.json", **fields)) == expected
    assert api.fake.posts() == []


def test_140_is_counted_the_way_weibo_counts(api):
    link = " https://example.org/"  # 21 ASCII: 10.5
    assert api.share("国" * 129 + "a" + link).status_code == 200
    assert code(api.share("国" * 129 + "ab" + link)) == (400, 20012)


def test_the_same_text_twice_in_a_row_is_refused(api):
    assert api.share().status_code == 200
    assert code(api.share()) == (400, 20019)
    assert api.share("另一条 https://example.org/").status_code == 200
    assert api.share().status_code == 200  # no longer the last one


def test_illegal_terms_and_an_app_without_a_safe_domain(api):
    api.fake.illegal_terms.add("违禁词")
    assert code(api.share("违禁词 https://example.org/")) == (400, 20021)
    api.fake.safe_domain = None
    assert code(api.share()) == (400, 10017)
    assert "not bind domain" in api.share().json()["error"]


@pytest.mark.parametrize(("filename", "data", "expected"), [
    ("a.png", CHART_PNG, None),
    ("c.jpg", COVER_JPEG, None),
    ("a.png", b"<svg/>", (400, 20005)),                       # sniffed, not trusted by name
    ("big.png", b"\x89PNG\r\n\x1a\n" + bytes(5 * 1024 * 1024), (400, 20006)),
])
def test_pictures_are_checked_from_their_bytes(api, filename, data, expected):
    answer = api.share(files={"pic": (filename, data, "image/png")})
    if expected is None:
        assert answer.status_code == 200 and answer.json()["original_pic"].startswith("https://")
    else:
        assert code(answer) == expected


def test_a_picture_outside_multipart_is_refused(api):
    assert code(api.share(pic="not a file")) == (400, 20007)


def test_tokens_missing_invalid_expired_and_revoked(api):
    assert code(api.post("/2/statuses/share.json", token=False, status="x https://example.org/",
                         rip=RIP)) == (400, 10006)
    api.token = "2.00forged"
    assert code(api.share()) == (403, 21332)
    api.token = api.channel.credentials["access_token"]
    api.fake.clock = lambda: 4_000_000_000.0  # long after the test level's day
    assert code(api.share()) == (403, 21327)
    fresh = Api(api.fake)  # a new token, issued at the fake's (moved) time
    api.fake.revoke("gzxx")
    assert code(fresh.share()) == (403, 21319)
    assert "revoked" in fresh.share().json()["error"]


def test_the_token_is_read_from_the_query_and_the_oauth2_header_too(api):
    ok = api.http.post("/2/statuses/share.json", params={"access_token": api.token},
                       data={"status": "一 https://example.org/", "rip": RIP})
    assert ok.status_code == 200
    header = api.http.post("/2/statuses/share.json", headers={"Authorization": f"OAuth2 {api.token}"},
                           data={"status": "二 https://example.org/", "rip": RIP})
    assert header.status_code == 200


def test_delayed_creates_are_kept_and_answered_20032(api):
    api.fake.delayed = 1
    assert code(api.share()) == (400, 20032)
    assert len(api.fake.posts()) == 1
    assert api.share("下一条 https://example.org/").status_code == 200


def test_repost_and_comment_advance_the_counts(api):
    hub = api.share().json()
    member = Api(api.fake)
    member.channel = api.fake.channel("cnpc")
    member.token = member.channel.credentials["access_token"]
    assert code(api.post("/2/statuses/repost.json", id=hub["idstr"], rip=RIP)) == (400, 20103)
    assert code(member.post("/2/statuses/repost.json", id="123", rip=RIP)) == (400, 20101)
    assert code(member.post("/2/statuses/repost.json", rip=RIP)) == (400, 10016)
    assert code(member.post("/2/statuses/repost.json", id=hub["idstr"], rip=RIP, is_comment="9")) == (400, 10017)
    repost = member.post("/2/statuses/repost.json", id=hub["idstr"], rip=RIP, is_comment="1").json()
    assert repost["text"] == "转发微博" and repost["retweeted_status"]["idstr"] == hub["idstr"]
    # A repost of a repost counts on the original too.
    third = Api(api.fake)
    third.token = api.fake.channel("sgcc").credentials["access_token"]
    third.post("/2/statuses/repost.json", id=repost["idstr"], rip=RIP, status="支持")
    comment = third.post("/2/comments/create.json", id=hub["idstr"], comment="点赞", rip=RIP).json()
    assert comment["text"] == "点赞" and comment["status"]["idstr"] == hub["idstr"]
    shown = api.show(hub["idstr"]).json()
    assert (shown["reposts_count"], shown["comments_count"]) == (2, 2)
    assert code(api.show("999")) == (400, 20101)


def test_set_counts_and_get_token_info(api):
    status = api.share().json()
    api.fake.set_counts(status["idstr"], reposts=4, comments=3, attitudes=12)
    shown = api.show(status["idstr"]).json()
    assert (shown["reposts_count"], shown["comments_count"], shown["attitudes_count"]) == (4, 3, 12)
    info = api.post("/oauth2/get_token_info").json()
    assert info["appkey"] == api.fake.appkey and info["uid"] == api.fake.user("gzxx").uid
    assert 0 < info["expire_in"] <= 86_400


def test_article_permission_encoding_and_answer(api):
    fields = {"title": "标题", "content": quote("<p>正文 内容</p>", safe=""), "rip": RIP, "text": "导语",
              "cover": "https://img.example.org/c.jpg"}
    assert code(api.post("/proxy/article/publish.json", **fields)) == (403, 10014)
    api.fake.user("gzxx", long_article=True)
    raw_html = api.post("/proxy/article/publish.json", **{**fields, "content": "<p>正文 内容</p>"})
    assert raw_html.status_code == 200 and raw_html.json()["code"] == "10008"  # not rawurlencoded
    assert api.post("/proxy/article/publish.json", **{**fields, "title": "国" * 33}).json()["code"] == "10008"
    assert api.post("/proxy/article/publish.json", **{**fields, "cover": "c.jpg"}).json()["code"] == "10008"
    answer = api.post("/proxy/article/publish.json", **fields).json()
    assert answer["code"] == "100000" and set(answer["data"]) == {"object_id", "url", "mid"}
    article = api.fake.articles[answer["data"]["object_id"]]
    assert article["content"] == "<p>正文 内容</p>"
    (bound,) = api.fake.posts("gzxx")
    assert bound["idstr"] == answer["data"]["mid"] and answer["data"]["url"] in bound["text"]


def test_faults_in_weibos_shapes(api):
    fake = api.fake
    fake.inject("rate_limit", path=fake.create_path)
    assert code(api.share()) == (403, 20016)
    fake.inject("rate_limit", path="/2/statuses/show.json")
    assert code(api.show("1")) == (403, 10023)
    fake.inject("busy")
    assert code(api.share()) == (400, 10009)
    fake.inject("token_expired")
    assert code(api.share()) == (403, 21327)
    fake.inject("server_error")
    assert api.share().status_code == 500
    assert fake.posts() == []


def test_the_hourly_posting_budget(api):
    fake = api.fake
    fake.enforce_limits = True
    fake.limits["posts"] = (2, 3600.0)
    assert api.share("一 https://example.org/").status_code == 200
    assert api.share("二 https://example.org/").status_code == 200
    assert code(api.share("三 https://example.org/")) == (403, 10024)
    assert len(fake.posts()) == 2


def test_unknown_paths_and_methods(api):
    assert code(api.http.get("/2/statuses/nothing.json")) == (404, 10020)
    assert code(api.http.get("/2/statuses/share.json")) == (405, 10021)
    assert api.fake.requests("/2/statuses/share.json")[0].account is None
