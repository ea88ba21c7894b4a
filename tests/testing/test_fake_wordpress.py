"""FakeWordPress refuses what WordPress refuses, keeps what it is sent, and fails on demand.

Shapes the fact sheet does not give are the ones WordPress 6.1 answered in the
integration tests (tests/integration/test_wordpress_live.py).
"""

import base64
import hashlib

import httpx
import pytest

from govmedia.testing import FakeWordPress
from govmedia.testing.samples import CHART_PNG

API = "https://sandbox.govmedia.test/wordpress/wp-json"


@pytest.fixture
def fake():
    return FakeWordPress()


def auth(channel):
    pair = f"{channel.credentials['username']}:{channel.credentials['app_password']}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def call(fake, method, path, channel=None, **kwargs):
    headers = {**(auth(channel) if channel is not None else {}), **kwargs.pop("headers", {})}
    return fake(httpx.Request(method, f"{API}{path}", headers=headers, **kwargs))


def upload(fake, channel, data=CHART_PNG, name="chart.png", mime="image/png", **headers):
    return call(fake, "POST", "/wp/v2/media", channel, content=data, headers={
        "Content-Type": mime, "Content-Disposition": f'attachment; filename="{name}"', **headers})


def code(response):
    return response.status_code, response.json()["code"]


# --------------------------------------------------------------------------- auth and roles


def test_application_passwords_ignore_spaces_and_a_wrong_one_runs_anonymous(fake):
    ch = fake.channel("editor@sandbox.example", role="editor")
    squeezed = ch.credentials["app_password"].replace(" ", "")
    assert len(squeezed) == 24 and ch.credentials["app_password"].count(" ") == 5
    me = call(fake, "GET", "/wp/v2/users/me", headers={
        "Authorization": "Basic " + base64.b64encode(f"editor:{squeezed}".encode()).decode()})
    assert me.status_code == 200 and me.json()["slug"] == "editor"
    wrong = {"Authorization": "Basic " + base64.b64encode(b"editor:AAAABBBBCCCCDDDDEEEEFFFF").decode()}
    # Verified on 6.1: reads answer anonymously, writes get 401.
    assert call(fake, "GET", "/wp/v2/posts", headers=wrong).status_code == 200
    assert code(call(fake, "GET", "/wp/v2/users/me", headers=wrong)) == (401, "rest_not_logged_in")
    assert code(call(fake, "POST", "/wp/v2/posts", headers=wrong, json={"title": "x"})) == (
        401, "rest_cannot_create")
    fake.revoke("editor")
    assert code(call(fake, "POST", "/wp/v2/posts", ch, json={"title": "x"})) == (401, "rest_cannot_create")


def test_roles_decide_who_publishes_and_uploads(fake):
    contributor = fake.channel("intern@sandbox.example", role="contributor")
    assert code(call(fake, "POST", "/wp/v2/posts", contributor, json={"title": "x", "status": "publish"})) == (
        403, "rest_cannot_publish")
    pending = call(fake, "POST", "/wp/v2/posts", contributor, json={"title": "x", "status": "pending"})
    assert pending.status_code == 201 and pending.json()["link"].endswith(f"/?p={pending.json()['id']}")
    assert code(upload(fake, contributor)) == (403, "rest_cannot_create")


def test_an_author_touches_only_their_own_posts(fake):
    editor = fake.channel("editor@sandbox.example", role="editor")
    author = fake.channel("author@sandbox.example", role="author")
    draft = call(fake, "POST", "/wp/v2/posts", editor, json={"title": "草稿", "status": "draft"}).json()
    assert code(call(fake, "DELETE", f"/wp/v2/posts/{draft['id']}", author)) == (403, "rest_cannot_delete")
    assert code(call(fake, "GET", f"/wp/v2/posts/{draft['id']}", author)) == (403, "rest_forbidden")
    assert code(call(fake, "DELETE", f"/wp/v2/posts/{draft['id']}")) == (401, "rest_cannot_delete")


# --------------------------------------------------------------------------- posts


def test_a_second_create_is_a_second_post_with_a_unique_slug(fake):
    ch = fake.channel("editor@sandbox.example")
    first = call(fake, "POST", "/wp/v2/posts", ch, json={"title": "Belt and Road", "status": "publish"})
    second = call(fake, "POST", "/wp/v2/posts", ch, json={"title": "Belt and Road", "status": "publish"})
    assert (first.json()["slug"], second.json()["slug"]) == ("belt-and-road", "belt-and-road-2")
    assert first.headers["Location"].endswith(f"/wp/v2/posts/{first.json()['id']}")
    assert len(fake.posts("editor@sandbox.example")) == 2


def test_status_and_dates_as_wordpress_turns_them(fake):
    ch = fake.channel("editor@sandbox.example")
    fake.clock = lambda: 1_800_000_000.0  # 2027-01-15

    def status(**body):
        return call(fake, "POST", "/wp/v2/posts", ch, json={"title": "t", **body}).json()["status"]

    assert status(status="publish", date_gmt="2030-01-01T00:00:00") == "future"
    assert status(status="future", date_gmt="2020-01-01T00:00:00") == "publish"
    assert status(status="future") == "publish"
    assert status() == "draft"
    bad = call(fake, "POST", "/wp/v2/posts", ch, json={"title": "t", "status": "bogus"})
    assert code(bad) == (400, "rest_invalid_param") and "status" in bad.json()["data"]["params"]
    assert code(call(fake, "POST", "/wp/v2/posts", ch, json={"content": ""})) == (400, "empty_content")
    assert code(call(fake, "POST", "/wp/v2/posts", ch, json={"title": "t", "id": 3})) == (400, "rest_post_exists")
    assert code(call(fake, "POST", "/wp/v2/posts", ch, content=b"{nope",
                     headers={"Content-Type": "application/json"})) == (400, "rest_invalid_json")


def test_a_bad_featured_media_or_tag_id_is_dropped_without_a_word(fake):
    # Verified on 6.1: 201, featured_media 0, the unknown tag left out.
    ch = fake.channel("editor@sandbox.example")
    created = call(fake, "POST", "/wp/v2/posts", ch, json={"title": "t", "featured_media": 999, "tags": [999]})
    assert created.status_code == 201
    assert (created.json()["featured_media"], created.json()["tags"]) == (0, [])


def test_comments_in_content_are_kept_and_searched_raw(fake):
    author = fake.channel("author@sandbox.example", role="author")
    body = {"title": "t", "status": "publish",
            "content": "<p>正文<!-- govmedia:gm-1 --><script>x</script></p>"}
    post = call(fake, "POST", "/wp/v2/posts", author, json=body).json()
    assert post["content"]["raw"] == "<p>正文<!-- govmedia:gm-1 -->x</p>"  # kses: no script for an Author
    found = call(fake, "GET", "/wp/v2/posts", author, params={
        "search": "govmedia:gm-1", "status": "publish,draft,trash", "context": "edit"})
    assert [p["id"] for p in found.json()] == [post["id"]] and found.headers["X-WP-Total"] == "1"


def test_list_permissions_and_bounds(fake):
    ch = fake.channel("editor@sandbox.example")
    # Verified on 6.1: an anonymous status filter is a rest_invalid_param naming status.
    refused = call(fake, "GET", "/wp/v2/posts", params={"status": "draft"})
    assert code(refused) == (400, "rest_invalid_param") and refused.json()["data"]["params"]["status"]
    assert code(call(fake, "GET", "/wp/v2/posts", params={"context": "edit"})) == (401, "rest_forbidden_context")
    assert code(call(fake, "GET", "/wp/v2/posts", ch, params={"per_page": 101})) == (400, "rest_invalid_param")
    assert code(call(fake, "GET", "/wp/v2/nothing")) == (404, "rest_no_route")


def test_delete_trashes_then_410_and_force_removes(fake):
    ch = fake.channel("editor@sandbox.example")
    post = call(fake, "POST", "/wp/v2/posts", ch, json={"title": "t", "status": "publish"}).json()
    trashed = call(fake, "DELETE", f"/wp/v2/posts/{post['id']}", ch)
    assert trashed.json()["status"] == "trash" and fake.posts() == []
    assert code(call(fake, "DELETE", f"/wp/v2/posts/{post['id']}", ch)) == (410, "rest_already_trashed")
    gone = call(fake, "DELETE", f"/wp/v2/posts/{post['id']}", ch, params={"force": "true"}).json()
    assert gone["deleted"] is True and gone["previous"]["id"] == post["id"]
    assert code(call(fake, "DELETE", f"/wp/v2/posts/{post['id']}", ch)) == (404, "rest_post_invalid_id")


def test_rest_route_reaches_the_same_routes(fake):
    ch = fake.channel("editor@sandbox.example")
    answer = fake(httpx.Request("GET", "https://sandbox.govmedia.test/wordpress/",
                                params={"rest_route": "/wp/v2/users/me"}, headers=auth(ch)))
    assert answer.json()["slug"] == "editor"


# --------------------------------------------------------------------------- media


def test_an_upload_is_kept_and_served(fake):
    ch = fake.channel("editor@sandbox.example")
    made = upload(fake, ch, **{"Content-MD5": hashlib.md5(CHART_PNG).hexdigest()})
    assert made.status_code == 201
    item = made.json()
    assert (item["mime_type"], item["media_type"]) == ("image/png", "image")
    served = fake(httpx.Request("GET", item["source_url"]))
    assert served.content == CHART_PNG
    again = upload(fake, ch).json()  # no deduplication: a second copy, its name made unique
    assert again["source_url"].endswith("/chart-1.png") and again["id"] != item["id"]
    alt = call(fake, "POST", f"/wp/v2/media/{item['id']}", ch, json={"alt_text": "柱状图"})
    assert alt.json()["alt_text"] == "柱状图"


@pytest.mark.parametrize(("data", "headers", "expected"), [
    (b"", {}, (400, "rest_upload_no_data")),
    (CHART_PNG, {"Content-Type": ""}, (400, "rest_upload_no_content_type")),
    (CHART_PNG, {"Content-Disposition": ""}, (400, "rest_upload_no_content_disposition")),
    (CHART_PNG, {"Content-Disposition": "attachment; filename*=UTF-8''%E5%9B%BE.png"},
     (400, "rest_upload_invalid_disposition")),  # verified on 6.1
    # Verified on 6.1: WordPress wants the hex digest, and refuses RFC 1864's base64.
    (CHART_PNG, {"Content-MD5": base64.b64encode(hashlib.md5(CHART_PNG).digest()).decode()},
     (412, "rest_upload_hash_mismatch")),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>",
     {"Content-Type": "image/svg+xml", "Content-Disposition": 'attachment; filename="logo.svg"'},
     (500, "rest_upload_sideload_error")),
    (b"MZ\x90\x00", {"Content-Type": "application/x-msdownload",
                     "Content-Disposition": 'attachment; filename="setup.exe"'}, (500, "rest_upload_sideload_error")),
    (b"not a png", {}, (500, "rest_upload_sideload_error")),  # an image extension needs image bytes
])
def test_uploads_are_refused_as_wordpress_refuses_them(fake, data, headers, expected):
    ch = fake.channel("editor@sandbox.example")
    base = {"Content-Type": "image/png", "Content-Disposition": 'attachment; filename="chart.png"'}
    sent = {k: v for k, v in {**base, **headers}.items() if v}
    assert code(call(fake, "POST", "/wp/v2/media", ch, content=data, headers=sent)) == expected


def test_an_upload_over_the_limit(fake):
    fake.upload_max_bytes = 100
    assert code(upload(fake, fake.channel("editor@sandbox.example"))) == (400, "rest_upload_file_too_big")


# --------------------------------------------------------------------------- tags, comments


def test_tags_exist_once_and_keep_escaped_names(fake):
    ch = fake.channel("editor@sandbox.example")
    made = call(fake, "POST", "/wp/v2/tags", ch, json={"name": "A & B"}).json()
    assert made["name"] == "A &amp; B"  # as WordPress 6.1 keeps it
    again = call(fake, "POST", "/wp/v2/tags", ch, json={"name": "a & b"})
    assert code(again) == (400, "term_exists") and again.json()["data"]["term_id"] == made["id"]
    assert call(fake, "GET", "/wp/v2/tags", params={"search": "a & b"}).json() == []  # as on 6.1
    assert [t["id"] for t in call(fake, "GET", "/wp/v2/tags", params={"search": "a-b"}).json()] == [made["id"]]
    fake.users["editor"].can_create_tags = False
    assert code(call(fake, "POST", "/wp/v2/tags", ch, json={"name": "新"})) == (403, "rest_cannot_create")
    assert code(call(fake, "POST", "/wp/v2/tags", json={"name": "新"})) == (401, "rest_cannot_create")


def test_comment_counts_come_in_x_wp_total(fake):
    fake.set_comments(12, 3)
    answer = call(fake, "GET", "/wp/v2/comments", params={"post": 12, "per_page": 1})
    assert answer.headers["X-WP-Total"] == "3" and len(answer.json()) == 1


# --------------------------------------------------------------------------- faults


def test_fault_shapes(fake):
    fake.inject("rate_limit", retry_after=7)
    limited = call(fake, "GET", "/wp/v2/posts")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
    fake.inject("server_error")
    assert code(call(fake, "GET", "/wp/v2/posts")) == (500, "internal_server_error")
    fake.inject("token_expired")
    assert code(call(fake, "GET", "/wp/v2/posts")) == (401, "rest_not_logged_in")
    fake.inject("busy")
    assert call(fake, "GET", "/wp/v2/posts").status_code == 503


def test_timeout_after_applies_the_create(fake):
    ch = fake.channel("editor@sandbox.example")
    fake.inject("timeout_after", path=fake.create_path)
    with pytest.raises(httpx.ReadTimeout):
        call(fake, "POST", "/wp/v2/posts", ch, json={"title": "t", "status": "publish"})
    assert len(fake.posts()) == 1
