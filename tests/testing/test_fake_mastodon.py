"""FakeMastodon is strict and stateful: it answers raw HTTP as a Mastodon 4.x instance does."""

import httpx
import pytest

import govmedia as gm
from govmedia.policy.retry import retry_after_from
from govmedia.testing import FakeMastodon, Sandbox
from govmedia.testing import mastodon as fm

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


@pytest.fixture
def fake():
    return FakeMastodon()


@pytest.fixture
def http(fake):
    with httpx.Client(transport=httpx.MockTransport(fake), base_url=fake.base_url) as client:
        yield client


def auth(channel):
    return {"Authorization": f"Bearer {channel.credentials['access_token']}"}


def upload(http, channel, data=PNG, mime="image/png", description=None, name="chart.png"):
    return http.post("/api/v2/media", headers=auth(channel), files={"file": (name, data, mime)},
                     data={"description": description} if description else None)


def create(http, channel, key=None, **params):
    headers = {**auth(channel), **({"Idempotency-Key": key} if key else {})}
    return http.post("/api/v1/statuses", headers=headers, json=params)


# --------------------------------------------------------------------------- accounts


def test_channel_registers_an_account_with_a_fresh_token(fake):
    a = fake.channel("sasac@social.example", visibility="unlisted")
    b = fake.channel("sasac@social.example")
    assert a.credentials["access_token"] != b.credentials["access_token"]
    assert a.options == {"base_url": "https://sandbox.govmedia.test/mastodon", "visibility": "unlisted"}
    assert len(fake.accounts) == 1
    auto = fake.channel()
    assert auto.account == "user2@sandbox.govmedia.test"
    request = httpx.Request("GET", f"{fake.base_url}/api/v1/statuses/1", headers=auth(a))
    assert fake.account_of(request) == "sasac@social.example"
    assert fake.account_of(httpx.Request("GET", fake.base_url)) is None


def test_a_bad_token_is_refused(fake, http):
    response = http.post("/api/v1/statuses", json={"status": "x"},
                         headers={"Authorization": "Bearer nope"})
    assert response.status_code == 401
    assert response.json() == {"error": "The access token is invalid"}
    assert http.post("/api/v1/statuses", json={"status": "x"}).status_code == 401
    assert fake.posts() == []


def test_verify_credentials_and_instance(fake, http):
    ch = fake.channel("sasac@social.example")
    assert http.get("/api/v1/accounts/verify_credentials", headers=auth(ch)).json()["username"] == "sasac"
    config = http.get("/api/v2/instance").json()["configuration"]
    assert config["statuses"] == {"max_characters": 500, "max_media_attachments": 4,
                                  "characters_reserved_per_url": 23}
    assert "image/png" in config["media_attachments"]["supported_mime_types"]


def test_the_sandbox_routes_the_mastodon_prefix():
    sandbox = Sandbox(platforms=["mastodon"])
    ch = sandbox.channel("mastodon", "sasac@social.example")
    assert ch.options["base_url"] == "https://sandbox.govmedia.test/mastodon"
    with sandbox.client() as http:
        response = http.post(f"{ch.options['base_url']}/api/v1/statuses", headers=auth(ch),
                             json={"status": "你好"})
    assert response.status_code == 200
    assert sandbox["mastodon"].posts("sasac@social.example")[0]["id"] == response.json()["id"]


# --------------------------------------------------------------------------- statuses


def test_a_status_as_the_api_shows_it(fake, http):
    ch = fake.channel("sasac@social.example")
    body = create(http, ch, status="一带一路看国企 https://example.org/a/1\n\n#一带一路",
                  visibility="unlisted", language="zh").json()
    assert body["url"] == f"{fake.base_url}/@sasac/{body['id']}"
    assert body["uri"] == f"{fake.base_url}/users/sasac/statuses/{body['id']}"
    assert body["content"].startswith('<p>一带一路看国企 <a href="https://example.org/a/1"')
    assert body["tags"] == [{"name": "一带一路", "url": f"{fake.base_url}/tags/一带一路"}]
    assert (body["visibility"], body["language"]) == ("unlisted", "zh")
    assert (body["favourites_count"], body["reblogs_count"], body["replies_count"]) == (0, 0, 0)
    assert body["created_at"].endswith("Z")
    assert body["reblog"] is None
    assert fake.posts("sasac@social.example") == [body]
    assert fake.posts("other@social.example") == []


def test_text_cannot_be_blank_without_media(fake, http):
    response = create(http, fake.channel(), status="  ")
    assert (response.status_code, response.json()) == (422, {"error": "Validation failed: Text can't be blank"})


def test_the_character_limit_as_mastodon_counts_it(fake, http):
    ch = fake.channel()
    assert create(http, ch, status="国" * 476 + " https://example.org/" + "a" * 300).status_code == 200
    over = create(http, ch, status="国" * 501)
    assert over.status_code == 422
    assert over.json()["error"] == "Validation failed: Text character limit of 500 exceeded"
    fake.max_characters = 1000
    assert create(http, ch, status="国" * 501).status_code == 200


def test_idempotency_key_per_account_for_an_hour(fake, http):
    now = [1_700_000_000.0]
    fake.clock = lambda: now[0]
    a, b = fake.channel("a@x.example"), fake.channel("b@x.example")
    first = create(http, a, key="k1", status="first").json()
    again = create(http, a, key="k1", status="something else").json()
    assert again == first
    other = create(http, b, key="k1", status="first").json()
    assert other["id"] != first["id"]
    now[0] += 3601
    later = create(http, a, key="k1", status="first").json()
    assert later["id"] != first["id"]
    assert len(fake.posts()) == 3


def test_a_repeat_of_a_deleted_status_key_is_not_found(fake, http):
    ch = fake.channel()
    first = create(http, ch, key="k", status="x").json()
    assert http.delete(f"/api/v1/statuses/{first['id']}", headers=auth(ch)).status_code == 200
    assert create(http, ch, key="k", status="x").status_code == 404


def test_form_encoded_statuses_with_media_ids_brackets(fake, http):
    ch = fake.channel()
    media_id = upload(http, ch).json()["id"]
    response = http.post("/api/v1/statuses", headers=auth(ch),
                         data={"status": "图表", "media_ids[]": [media_id]})
    assert response.status_code == 200
    assert [m["id"] for m in response.json()["media_attachments"]] == [media_id]


# --------------------------------------------------------------------------- media


def test_upload_needs_multipart_a_file_and_a_supported_type(fake, http):
    ch = fake.channel()
    not_multipart = http.post("/api/v2/media", headers=auth(ch), json={"file": "x"})
    assert (not_multipart.status_code, not_multipart.json()["error"]) == (422, "Validation failed: File can't be blank")
    no_file = http.post("/api/v2/media", headers=auth(ch), files={"thumbnail": ("t.png", PNG, "image/png")})
    assert no_file.status_code == 422
    pdf = upload(http, ch, b"%PDF-1.7", "application/pdf", name="report.pdf")
    assert (pdf.status_code, pdf.json()["error"]) == (422, "Validation failed: File content type is invalid")
    big = upload(http, ch, b"\0" * (16 * 1024 * 1024 + 1))
    assert big.json()["error"] == "Validation failed: File file size must be less than 16 MB"
    long_alt = upload(http, ch, description="图" * 1501)
    assert long_alt.json()["error"] == "Validation failed: Description is too long (maximum is 1500 characters)"
    assert fake.media == {}


def test_upload_ready_at_once_by_default(fake, http):
    ch = fake.channel()
    response = upload(http, ch, description="招聘数据")
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "image"
    assert body["url"].endswith("/original/chart.png")
    assert body["description"] == "招聘数据"


def test_processing_202_then_206_polls_then_200(fake, http):
    ch = fake.channel()
    fake.processing = 2
    response = upload(http, ch, b"\0\0\0 ftypmp42", "video/mp4", name="clip.mp4")
    assert response.status_code == 202
    assert response.json()["url"] is None
    media_id = response.json()["id"]
    polls = [http.get(f"/api/v1/media/{media_id}", headers=auth(ch)) for _ in range(3)]
    assert [p.status_code for p in polls] == [206, 206, 200]
    assert polls[0].json()["url"] is None
    assert polls[2].json()["url"]
    other = fake.channel("other@x.example")
    assert http.get(f"/api/v1/media/{media_id}", headers=auth(other)).status_code == 404


def test_processing_that_fails_answers_422(fake, http):
    ch = fake.channel()
    fake.processing, fake.processing_fails = 1, True
    media_id = upload(http, ch).json()["id"]
    assert http.get(f"/api/v1/media/{media_id}", headers=auth(ch)).status_code == 206
    failed = http.get(f"/api/v1/media/{media_id}", headers=auth(ch))
    assert (failed.status_code, failed.json()) == (422, {"error": "Error processing thumbnail for uploaded media"})


def test_attaching_media_still_processing_is_refused_until_ready(fake, http):
    ch = fake.channel()
    fake.processing = 1
    media_id = upload(http, ch).json()["id"]
    early = create(http, ch, status="x", media_ids=[media_id])
    assert (early.status_code, early.json()["error"]) == (422, fm.NOT_READY)
    assert create(http, ch, status="x", media_ids=[media_id]).status_code == 200


def test_media_rules_on_create(fake, http):
    ch = fake.channel()
    ids = [upload(http, ch).json()["id"] for _ in range(5)]
    assert create(http, ch, status="x", media_ids=ids).json()["error"] == "Cannot attach more than 4 files"
    unknown = create(http, ch, status="x", media_ids=["999", ids[0]])
    assert unknown.json()["error"] == "Media 999 not found or already attached to another post"
    video = upload(http, ch, b"\0\0\0 ftypmp42", "video/mp4", name="clip.mp4").json()["id"]
    mixed = create(http, ch, status="x", media_ids=[ids[0], video])
    assert mixed.json()["error"] == "Cannot attach a video to a post that already contains images"
    assert create(http, ch, media_ids=[ids[0]]).status_code == 200  # media without text is fine
    reused = create(http, ch, status="x", media_ids=[ids[0]])
    assert reused.status_code == 422
    assert ids[0] in reused.json()["error"]
    stranger = fake.channel("other@x.example")
    assert create(http, stranger, status="x", media_ids=[ids[1]]).status_code == 422


# --------------------------------------------------------------------------- show, delete, boost


def test_show_and_delete(fake, http):
    owner, other = fake.channel("a@x.example"), fake.channel("b@x.example")
    public = create(http, owner, status="公开").json()
    private = create(http, owner, status="私密", visibility="private").json()
    assert http.get(f"/api/v1/statuses/{public['id']}").status_code == 200  # no token needed
    assert http.get(f"/api/v1/statuses/{private['id']}", headers=auth(other)).status_code == 404
    assert http.get(f"/api/v1/statuses/{private['id']}", headers=auth(owner)).status_code == 200
    assert http.delete(f"/api/v1/statuses/{public['id']}", headers=auth(other)).status_code == 404
    deleted = http.delete(f"/api/v1/statuses/{public['id']}", headers=auth(owner))
    assert deleted.status_code == 200
    assert deleted.json()["text"] == "公开"
    assert http.get(f"/api/v1/statuses/{public['id']}").json() == {"error": "Record not found"}
    assert http.delete(f"/api/v1/statuses/{public['id']}", headers=auth(owner)).status_code == 404
    assert [p["id"] for p in fake.posts()] == [private["id"]]


def test_reblog_once_per_account_and_unreblog(fake, http):
    hub, member = fake.channel("sasac@x.example"), fake.channel("cnpc@x.example")
    original = create(http, hub, status="一带一路看国企").json()
    boost = http.post(f"/api/v1/statuses/{original['id']}/reblog", headers=auth(member),
                      json={"visibility": "unlisted"}).json()
    assert boost["reblog"]["id"] == original["id"]
    assert boost["id"] != original["id"]
    assert boost["visibility"] == "unlisted"
    assert boost["url"].endswith(f"/statuses/{boost['id']}/activity")
    again = http.post(f"/api/v1/statuses/{original['id']}/reblog", headers=auth(member)).json()
    assert again["id"] == boost["id"]
    assert fake.statuses[original["id"]].reblogs == 1
    undone = http.post(f"/api/v1/statuses/{original['id']}/unreblog", headers=auth(member))
    assert undone.json()["id"] == original["id"]
    assert undone.json()["reblogs_count"] == 0
    assert [p["id"] for p in fake.posts()] == [original["id"]]


def test_deleting_a_status_takes_its_boosts_along(fake, http):
    hub, member = fake.channel("sasac@x.example"), fake.channel("cnpc@x.example")
    original = create(http, hub, status="一带一路看国企").json()
    boost = http.post(f"/api/v1/statuses/{original['id']}/reblog", headers=auth(member)).json()
    http.delete(f"/api/v1/statuses/{original['id']}", headers=auth(hub))
    assert fake.posts() == []
    assert http.get(f"/api/v1/statuses/{boost['id']}").status_code == 404


def test_reblog_refusals(fake, http):
    hub, member = fake.channel("sasac@x.example"), fake.channel("cnpc@x.example")
    private = create(http, hub, status="私密", visibility="private").json()
    assert http.post(f"/api/v1/statuses/{private['id']}/reblog", headers=auth(member)).status_code == 404
    assert http.post(f"/api/v1/statuses/{private['id']}/reblog", headers=auth(hub)).status_code == 200
    direct = create(http, hub, status="@cnpc 私信", visibility="direct").json()
    refused = http.post(f"/api/v1/statuses/{direct['id']}/reblog", headers=auth(hub))
    assert (refused.status_code, refused.json()) == (403, {"error": "This action is not allowed"})
    assert http.post("/api/v1/statuses/404/reblog", headers=auth(member)).status_code == 404


def test_set_counts_for_metrics(fake, http):
    ch = fake.channel()
    status = create(http, ch, status="x").json()
    fake.set_counts(status["id"], favourites=7, replies=2)
    shown = http.get(f"/api/v1/statuses/{status['id']}").json()
    assert (shown["favourites_count"], shown["reblogs_count"], shown["replies_count"]) == (7, 0, 2)


# --------------------------------------------------------------------------- limits and faults


def test_rate_limit_headers_and_enforced_budgets(fake, http):
    now = [1_700_000_100.0]  # 2023-11-14T22:15:00Z
    fake.clock = lambda: now[0]
    ch = fake.channel()
    read = http.get("/api/v1/accounts/verify_credentials", headers=auth(ch))
    assert read.headers["X-RateLimit-Limit"] == "1500"
    assert read.headers["X-RateLimit-Remaining"] == "1499"
    assert read.headers["X-RateLimit-Reset"] == "2023-11-14T22:20:00.000000Z"  # 5-minute window
    # A create also spends the status budget (300 / 3 h): the tighter one is reported.
    write = create(http, ch, status="x")
    assert (write.headers["X-RateLimit-Limit"], write.headers["X-RateLimit-Remaining"]) == ("300", "299")
    assert write.headers["X-RateLimit-Reset"] == "2023-11-15T00:00:00.000000Z"
    fake.enforce_limits = True
    fake.limits["statuses"] = (2, 10800.0)
    assert create(http, ch, status="y").headers["X-RateLimit-Remaining"] == "0"
    refused = create(http, ch, status="z")
    assert (refused.status_code, refused.json()) == (429, {"error": "Too many requests"})
    assert retry_after_from(refused, now=now[0]) == pytest.approx(6300.0)
    assert len(fake.posts()) == 2


def test_injected_faults_have_mastodons_shapes(fake, http):
    ch = fake.channel()
    fake.inject("rate_limit", retry_after=30)
    limited = create(http, ch, status="x")
    assert (limited.status_code, limited.json()) == (429, {"error": "Too many requests"})
    assert "Retry-After" not in limited.headers
    assert 25 < retry_after_from(limited) <= 30
    fake.inject("token_expired")
    assert create(http, ch, status="x").json() == {"error": "The access token is invalid"}
    fake.inject("busy")
    busy = create(http, ch, status="x")
    assert busy.status_code == 503
    assert "temporary problem" in busy.json()["error"]
    fake.inject("server_error")
    assert create(http, ch, status="x").status_code == 500
    assert fake.posts() == []


def test_timeout_after_applies_then_loses_the_answer(fake, http):
    ch = fake.channel()
    fake.inject("timeout_after", path=fake.create_path)
    with pytest.raises(httpx.ReadTimeout):
        create(http, ch, key="k", status="x")
    assert len(fake.posts()) == 1
    assert create(http, ch, key="k", status="x").json()["id"] == fake.posts()[0]["id"]
    assert [r.account for r in fake.requests(fake.create_path)] == [ch.account, ch.account]


def test_create_path_matches_only_the_create(fake):
    import re

    assert re.search(fake.create_path, "/api/v1/statuses")
    assert not re.search(fake.create_path, "/api/v1/statuses/1/reblog")


def test_through_the_client(fake):
    sandbox = Sandbox(platforms=["mastodon"])
    ch = sandbox.channel("mastodon", "sasac@social.example")
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = client.publish(gm.Post(text="国资小新：今日发布"), ch)
    assert sandbox["mastodon"].posts()[0]["url"] == receipt.url
