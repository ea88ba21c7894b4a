"""FakeBluesky is strict and stateful: it answers raw XRPC as a Bluesky PDS does."""

import base64
import json
import time

import httpx
import pytest

from govmedia.policy.retry import retry_after_from
from govmedia.testing import FakeBluesky, Sandbox

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32
NOW = "2026-06-12T08:00:00.000Z"


@pytest.fixture
def fake():
    return FakeBluesky()


@pytest.fixture
def http(fake):
    with httpx.Client(transport=httpx.MockTransport(fake), base_url=fake.base_url) as client:
        yield client


def login(http, channel, **changes):
    body = {"identifier": channel.credentials["identifier"],
            "password": channel.credentials["app_password"], **changes}
    return http.post("/xrpc/com.atproto.server.createSession", json=body)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def ch(fake):
    return fake.channel("sasac.bsky.social")


@pytest.fixture
def auth(http, ch):
    return bearer(login(http, ch).json()["accessJwt"])


def claims(jwt):
    part = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def post(http, auth, text="国资小新", rkey=None, **record):
    did = http.get("/xrpc/com.atproto.server.getSession", headers=auth).json()["did"]
    body = {"repo": did, "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": text, "createdAt": NOW, **record}}
    if rkey:
        body["rkey"] = rkey
    return http.post("/xrpc/com.atproto.repo.createRecord", headers=auth, json=body)


def upload(http, auth, data=PNG, mime="image/png"):
    return http.post("/xrpc/com.atproto.repo.uploadBlob", headers={**auth, "Content-Type": mime},
                     content=data)


# --------------------------------------------------------------------------- accounts and sessions


def test_channel_registers_an_account_that_signs_in_with_handle_email_or_did(fake, http, ch):
    assert ch.credentials["identifier"] == "sasac.bsky.social"
    assert ch.options == {"base_url": "https://sandbox.govmedia.test/bluesky"}
    assert fake.channel("sasac.bsky.social").credentials == ch.credentials
    assert fake.channel("央企 账号").credentials["identifier"].endswith(".bsky.sandbox")
    account = fake.accounts["sasac.bsky.social"]
    for identifier in (account.handle, account.email, account.did):
        answer = http.post("/xrpc/com.atproto.server.createSession",
                           json={"identifier": identifier, "password": ch.credentials["app_password"]})
        assert answer.status_code == 200, identifier
        assert (answer.json()["did"], answer.json()["handle"]) == (account.did, account.handle)


def test_sessions_are_jwts_that_say_who_and_until_when(fake, http, ch):
    body = login(http, ch).json()
    access, renew = claims(body["accessJwt"]), claims(body["refreshJwt"])
    assert access["sub"] == renew["sub"] == body["did"]
    assert access["exp"] - access["iat"] == 7200
    assert renew["exp"] - renew["iat"] == 90 * 86400 and renew["scope"] == "com.atproto.refresh"
    assert body["didDoc"]["service"][0]["serviceEndpoint"] == fake.base_url
    assert body["active"] is True


@pytest.mark.parametrize(("change", "status", "error"), [
    ({"password": "wrong"}, 401, "AuthenticationRequired"),
    ({"identifier": "nobody.bsky.social"}, 401, "AuthenticationRequired"),
    ({"identifier": None}, 400, "InvalidRequest"),
])
def test_bad_sign_ins_are_refused(http, ch, change, status, error):
    answer = login(http, ch, **change)
    assert (answer.status_code, answer.json()["error"]) == (status, error)


def test_takedown_deactivation_and_email_codes(fake, http, ch):
    account = fake.accounts["sasac.bsky.social"]
    account.email_2fa = True
    assert login(http, ch).status_code == 200  # app passwords need no email code
    main = http.post("/xrpc/com.atproto.server.createSession",
                     json={"identifier": account.handle, "password": account.password})
    assert main.json()["error"] == "AuthFactorTokenRequired"
    account.deactivated = True
    assert (login(http, ch).json()["active"], login(http, ch).json()["status"]) == (False, "deactivated")
    account.takendown = True
    assert login(http, ch).json() == {"error": "AccountTakedown", "message": "Account has been taken down"}


def test_the_refresh_jwt_rotates_and_a_spent_one_is_refused(http, ch):
    """The sheet says the old one is spent (unverified; the PDS allows a 2 h grace): the fake is strict."""
    first = login(http, ch).json()
    renew = http.post("/xrpc/com.atproto.server.refreshSession", headers=bearer(first["refreshJwt"]))
    assert renew.status_code == 200 and renew.json()["refreshJwt"] != first["refreshJwt"]
    again = http.post("/xrpc/com.atproto.server.refreshSession", headers=bearer(first["refreshJwt"]))
    assert (again.status_code, again.json()) == (400, {"error": "ExpiredToken", "message": "Token has been revoked"})
    wrong_kind = http.post("/xrpc/com.atproto.server.refreshSession", headers=bearer(first["accessJwt"]))
    assert wrong_kind.json()["error"] == "InvalidToken"
    refresh_as_access = http.get("/xrpc/com.atproto.server.getSession",
                                 headers=bearer(renew.json()["refreshJwt"]))
    assert refresh_as_access.json()["error"] == "InvalidToken"


def test_an_expired_access_token_is_a_400_expired_token(fake, http, auth):
    fake.tokens.expire()
    answer = http.get("/xrpc/com.atproto.server.getSession", headers=auth)
    assert (answer.status_code, answer.json()["error"]) == (400, "ExpiredToken")
    missing = http.get("/xrpc/com.atproto.server.getSession")
    assert (missing.status_code, missing.json()["error"]) == (401, "AuthenticationRequired")


def test_resolve_handle(fake, http, ch):
    did = fake.accounts["sasac.bsky.social"].did
    found = http.get("/xrpc/com.atproto.identity.resolveHandle", params={"handle": "sasac.bsky.social"})
    assert found.json() == {"did": did}
    gone = http.get("/xrpc/com.atproto.identity.resolveHandle", params={"handle": "nobody.example"})
    assert gone.json()["error"] == "HandleNotFound"


# --------------------------------------------------------------------------- blobs and records


def test_upload_blob_sniffs_the_type_and_caps_the_size(fake, http, auth):
    answer = upload(http, auth, mime="image/jpeg").json()["blob"]
    assert (answer["$type"], answer["mimeType"], answer["size"]) == ("blob", "image/png", len(PNG))
    assert upload(http, auth).json()["blob"]["ref"] == answer["ref"]  # same bytes, same CID
    fake.blob_limit = 10
    too_big = upload(http, auth)
    assert (too_big.status_code, too_big.json()["error"]) == (413, "PayloadTooLarge")
    assert upload(http, auth, data=b"").status_code in (400, 413)


def test_create_post_answers_uri_cid_and_commit(fake, http, auth):
    answer = post(http, auth, rkey="22abcdefghijk")
    body = answer.json()
    did = fake.accounts["sasac.bsky.social"].did
    assert body["uri"] == f"at://{did}/app.bsky.feed.post/22abcdefghijk"
    assert body["cid"].startswith("bafyrei") and body["commit"]["rev"] and body["validationStatus"] == "valid"
    assert fake.posts("sasac.bsky.social") == [{"uri": body["uri"], "cid": body["cid"], "value": {
        "$type": "app.bsky.feed.post", "text": "国资小新", "createdAt": NOW}}]
    auto = post(http, auth, text="no rkey").json()
    assert auto["uri"].rsplit("/", 1)[1][0] in "234567abcdefghij"


def test_a_duplicate_rkey_is_a_bare_500(fake, http, auth):
    """Not on the fact sheet: the PDS's MST refuses the key (unverified live; indigo#873)."""
    assert post(http, auth, rkey="22abcdefghijk").status_code == 200
    again = post(http, auth, text="again", rkey="22abcdefghijk")
    assert (again.status_code, again.json()) == (
        500, {"error": "InternalServerError", "message": "Internal Server Error"})
    assert len(fake.posts()) == 1


@pytest.mark.parametrize(("record", "words"), [
    ({"text": "国" * 301}, "300 graphemes"),
    ({"text": "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466" * 121}, "3000"),
    ({"createdAt": "yesterday"}, "createdAt"),
    ({"langs": ["zh", "en", "ja", "ko"]}, "langs"),
    ({"facets": [{"index": {"byteStart": 0, "byteEnd": 99}, "features": [
        {"$type": "app.bsky.richtext.facet#link", "uri": "https://x.example"}]}]}, "outside the text"),
    ({"facets": [{"index": {"byteStart": 0, "byteEnd": 3}, "features": [
        {"$type": "app.bsky.richtext.facet#tag", "tag": ""}]}]}, "needs a tag"),
    ({"embed": {"$type": "app.bsky.embed.video", "video": {}}}, "not modelled"),
])
def test_invalid_posts_are_refused_as_the_lexicon_says(http, auth, record, words):
    answer = post(http, auth, **({"text": "国资"} | record))
    assert answer.status_code == 400 and answer.json()["error"] == "InvalidRequest"
    assert words in answer.json()["message"]


def test_images_must_be_uploaded_by_the_same_account_with_alt_and_within_the_limits(fake, http, auth, ch):
    ref = upload(http, auth).json()["blob"]

    def with_images(*images):
        return post(http, auth, embed={"$type": "app.bsky.embed.images", "images": list(images)})

    assert with_images({"image": ref, "alt": ""}).status_code == 200
    assert "alt" in with_images({"image": ref}).json()["message"]
    assert "maximum 4" in with_images(*[{"image": ref, "alt": ""}] * 5).json()["message"]
    wrong_size = with_images({"image": {**ref, "size": 1}, "alt": ""})
    assert wrong_size.json()["error"] == "InvalidSize"
    other = fake.channel("cnpc.bsky.social")
    their = upload(http, bearer(login(http, other).json()["accessJwt"])).json()["blob"]
    assert with_images({"image": their, "alt": ""}).json()["error"] == "BlobNotFound"
    big = upload(http, auth, data=PNG + b"\0" * 2_000_000).json()["blob"]
    refused = with_images({"image": big, "alt": ""})
    assert refused.status_code == 400 and "blob too big (maximum 2000000" in refused.json()["message"]


def test_a_link_card_thumbnail_is_at_most_a_million_bytes(http, auth):
    big = upload(http, auth, data=PNG + b"\0" * 1_000_000).json()["blob"]
    card = {"$type": "app.bsky.embed.external",
            "external": {"uri": "https://example.org", "title": "t", "description": "d", "thumb": big}}
    assert "maximum 1000000" in post(http, auth, embed=card).json()["message"]


def test_only_the_own_repo_and_only_valid_tids(fake, http, auth):
    other = fake.channel("cnpc.bsky.social")
    login(http, other)
    body = {"repo": fake.accounts["cnpc.bsky.social"].did, "collection": "app.bsky.feed.post",
            "record": {"$type": "app.bsky.feed.post", "text": "x", "createdAt": NOW}}
    assert http.post("/xrpc/com.atproto.repo.createRecord", headers=auth, json=body).status_code == 401
    assert "valid TID" in post(http, auth, rkey="not-a-tid").json()["message"]


def test_a_repost_replaces_the_accounts_earlier_repost_of_the_same_post(fake, http, auth):
    """createRecord's backlink check (read in the PDS code, unverified live)."""
    original = post(http, auth).json()
    did = original["uri"].split("/")[2]

    def repost(rkey):
        return http.post("/xrpc/com.atproto.repo.createRecord", headers=auth, json={
            "repo": did, "collection": "app.bsky.feed.repost", "rkey": rkey,
            "record": {"$type": "app.bsky.feed.repost", "createdAt": NOW,
                       "subject": {"uri": original["uri"], "cid": original["cid"]}}})

    assert repost("22aaaaaaaaaaa").status_code == 200
    assert repost("22aaaaaaaaaaa").status_code == 200  # same rkey: replaced, no 500
    assert repost("22bbbbbbbbbbb").status_code == 200  # another rkey: the old one goes
    reposts = [p for p in fake.posts() if p["value"]["$type"] == "app.bsky.feed.repost"]
    assert [p["uri"].rsplit("/", 1)[1] for p in reposts] == ["22bbbbbbbbbbb"]


def test_get_and_delete_record(fake, http, auth):
    made = post(http, auth, rkey="22abcdefghijk").json()
    did = made["uri"].split("/")[2]
    params = {"repo": did, "collection": "app.bsky.feed.post", "rkey": "22abcdefghijk"}
    assert http.get("/xrpc/com.atproto.repo.getRecord", params=params).json()["cid"] == made["cid"]
    delete = {"repo": did, "collection": "app.bsky.feed.post", "rkey": "22abcdefghijk"}
    assert "commit" in http.post("/xrpc/com.atproto.repo.deleteRecord", headers=auth, json=delete).json()
    assert http.post("/xrpc/com.atproto.repo.deleteRecord", headers=auth, json=delete).json() == {}
    gone = http.get("/xrpc/com.atproto.repo.getRecord", params=params)
    assert (gone.status_code, gone.json()["error"]) == (400, "RecordNotFound")
    assert fake.posts() == []


def test_get_posts_shows_the_counts_of_indexed_posts(fake, http, auth):
    made = post(http, auth).json()
    fake.set_counts(made["uri"], likes=120, replies=8, reposts=3)
    [view] = http.get("/xrpc/app.bsky.feed.getPosts", params={"uris": [made["uri"]]}).json()["posts"]
    assert (view["likeCount"], view["repostCount"], view["replyCount"]) == (120, 3, 8)
    assert view["author"]["handle"] == "sasac.bsky.social"
    fake.unindexed.add(made["uri"])
    assert http.get("/xrpc/app.bsky.feed.getPosts", params={"uris": [made["uri"]]}).json() == {"posts": []}
    too_many = http.get("/xrpc/app.bsky.feed.getPosts", params={"uris": [made["uri"]] * 26})
    assert too_many.status_code == 400


# --------------------------------------------------------------------------- limits and faults


def test_every_answer_carries_ratelimit_headers_and_the_budget_is_enforced(fake, http, ch):
    first = login(http, ch)
    assert first.headers["RateLimit-Limit"] == "30" and first.headers["RateLimit-Remaining"] == "29"
    assert first.headers["RateLimit-Policy"] == "30;w=300"
    fake.enforce_limits = True
    fake.limits["create-session"] = (1, 300.0)
    refused = login(http, ch)
    assert refused.status_code == 429 and refused.json()["error"] == "RateLimitExceeded"
    wait = retry_after_from(refused)
    assert wait is not None and 0 < wait <= 300


@pytest.mark.parametrize(("kind", "status", "error"), [
    ("rate_limit", 429, "RateLimitExceeded"), ("busy", 503, "NotEnoughResources"),
    ("server_error", 500, "InternalServerError"), ("token_expired", 400, "ExpiredToken"),
])
def test_faults_answer_in_the_pds_shapes(fake, http, auth, kind, status, error):
    fake.inject(kind, path=fake.create_path, retry_after=30)
    answer = post(http, auth)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    if kind == "rate_limit":
        assert abs(int(answer.headers["RateLimit-Reset"]) - (time.time() + 30)) <= 2
    assert fake.posts() == []


def test_unknown_methods_and_wrong_verbs(http):
    assert http.get("/xrpc/app.bsky.actor.getProfile").json()["error"] == "MethodNotImplemented"
    assert http.get("/xrpc/com.atproto.repo.createRecord").status_code == 400
    assert http.post("/xrpc/com.atproto.server.createSession", content=b"{not json").json()["error"] == (
        "InvalidRequest")


def test_the_sandbox_routes_the_bluesky_prefix():
    sandbox = Sandbox(platforms=["bluesky"])
    ch = sandbox.channel("bluesky", "sasac.bsky.social")
    with sandbox.client() as http:
        answer = http.post(f"{ch.options['base_url']}/xrpc/com.atproto.server.createSession",
                           json={"identifier": ch.credentials["identifier"],
                                 "password": ch.credentials["app_password"]})
    assert answer.status_code == 200
    assert sandbox["bluesky"].requests("createSession")[0].account == "sasac.bsky.social"
