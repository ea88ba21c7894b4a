"""The Bluesky platform: text and facets, checks, the session, uploads, records, errors.

respx tests answer with payloads shaped as shared/platforms/bluesky.md shows
them (and, where the sheet is silent, as the lexicons in bluesky-social/atproto
define them: getSession, getPosts); the end-to-end tests at the bottom run
through `gm.Client` against `FakeBluesky` in the sandbox.
"""

import base64
import contextlib
import json
import logging
import re
import threading

import anyio
import httpx
import pytest
import respx

import govmedia as gm
from govmedia._pipeline import derive_key
from govmedia.platforms.bluesky import BlueskyPlatform, post_text, record_key
from govmedia.platforms.steps import Doubt
from govmedia.testing import Sandbox

BASE = "https://pds.example"
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
HANDLE = "sasac.bsky.social"
EMAIL = "press@sasac.example"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ACCOUNT = "sasac@bsky"
NOW = 1_750_000_000
TID = re.compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64
FAST = gm.RetryPolicy.testing()


def jwt(kind="access", *, iat=NOW, lifetime=7200, n=1):
    """A JWT shaped as the PDS signs them (claims readable; the signature is opaque)."""
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    typ, scope = ("at+jwt", "com.atproto.appPass") if kind == "access" else (
        "refresh+jwt", "com.atproto.refresh")
    claims = {"scope": scope, "sub": DID, "aud": "did:web:pds.example", "iat": iat, "exp": iat + lifetime}
    return f"{part({'typ': typ, 'alg': 'HS256'})}.{part(claims)}.sig{kind}{n:04d}xxxxxxxx"


def session(n=1, **changes):
    """com.atproto.server.createSession / refreshSession's answer."""
    body = {
        "accessJwt": jwt("access", n=n), "refreshJwt": jwt("refresh", lifetime=90 * 86400, n=n),
        "handle": HANDLE, "did": DID,
        "didDoc": {"id": DID, "alsoKnownAs": [f"at://{HANDLE}"],
                   "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer",
                                "serviceEndpoint": BASE}]},
        "email": EMAIL, "emailConfirmed": True, "active": True,
    }
    body.update(changes)
    return body


def created(rkey, collection="app.bsky.feed.post"):
    """createRecord's answer."""
    return {"uri": f"at://{DID}/{collection}/{rkey}",
            "cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q",
            "commit": {"cid": "bafyreihvcyfzsq2ccd4hq3pvyeh7y6yi3ayb2b5qqmlxc6jxmafa3tegqi",
                       "rev": "3lbqkjz3mz22y"},
            "validationStatus": "valid"}


def blob(cid="bafkreibabalobzn6cd366ukcsjycp4yymjymgfxcv6xczmlgpemzkz3cfa", mime="image/png", size=72):
    return {"blob": {"$type": "blob", "ref": {"$link": cid}, "mimeType": mime, "size": size}}


def error(status, name, message, headers=None):
    return httpx.Response(status, json={"error": name, "message": message}, headers=headers)


def channel(identifier=EMAIL, **options):
    return gm.Channel(platform="bluesky", account=ACCOUNT,
                      credentials={"identifier": identifier, "app_password": APP_PASSWORD},
                      options={"base_url": BASE, **options})


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        mock.post("/xrpc/com.atproto.server.createSession", name="login").mock(
            return_value=httpx.Response(200, json=session()))
        mock.get("/xrpc/com.atproto.server.getSession", name="whoami").mock(
            return_value=httpx.Response(200, json={"handle": HANDLE, "did": DID, "active": True}))
        yield mock


@pytest.fixture
def client():
    with gm.Client(http=httpx.Client(), retry=FAST) as c:
        yield c


def sent(route, n=-1):
    return json.loads(route.calls[n].request.content)


def drive(flow, answers):
    """Run a sans-I/O flow by hand: each request is answered by *answers*[its XRPC method].

    An error answer is raised into the flow, as the client's pipeline does.
    """
    platform, value, error, requests = BlueskyPlatform(), None, None, []
    try:
        while True:
            step = flow.throw(error) if error is not None else flow.send(value)
            value = error = None
            if isinstance(step, httpx.Request):
                requests.append(step)
                value = answers[step.url.path.rsplit("/", 1)[1]]
                value.request = step
                error = platform.classify(value, channel())
    except StopIteration as stop:
        return stop.value, requests


WHOAMI = {"com.atproto.server.getSession": httpx.Response(200, json={"handle": HANDLE, "did": DID})}


def key_of(post, ch=None):
    ch = ch or channel()
    return derive_key(post.key, "bluesky", ch.account)


# --------------------------------------------------------------------------- description


def test_registered_with_its_capabilities():
    cls = gm.platforms.get("bluesky")
    assert cls is BlueskyPlatform
    caps = cls.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.refresh) == (True, True, True, True, True)
    assert caps.dedupe_window is None  # the rkey is the key: the PDS never forgets it
    assert (caps.text_max, caps.media_max, caps.media_kinds) == (300, 4, ("image",))
    assert cls.credential_keys == ("identifier", "app_password")
    assert cls.option_keys == ("base_url", "langs")
    assert cls.tag_style == "bluesky"
    assert cls.fake == "govmedia.testing.bluesky:FakeBluesky"
    assert cls.default_rate_limits["bluesky:*"].rate == 1666


def test_the_length_rules_moved_from_the_transitional_table_keep_their_ids():
    from govmedia.content import counting
    from govmedia.content.hashtags import _UNBUILT

    assert not [r for r in counting.RULES if r.platform == "bluesky"]
    assert "bluesky" not in _UNBUILT
    assert [(r.id, r.limit, r.unit) for r in counting.rules_for("bluesky")] == [
        ("bluesky.text.max_graphemes", 300, "graphemes"), ("bluesky.text.max_bytes", 3000, "UTF-8 bytes")]


def test_record_key_is_a_valid_tid_derived_from_the_key_alone():
    keys = [record_key(f"k{i}") for i in range(200)]
    assert all(TID.match(k) and k.startswith("22") for k in keys)
    assert len(set(keys)) == 200
    assert record_key("k1") == record_key("k1") == keys[1]


def test_tags_are_appended_once_in_bluesky_style():
    post = gm.Post(text="#央企 招聘季开始了", tags=("央企", "微 招聘", "Belt and Road", "2024"))
    assert post_text(post) == "#央企 招聘季开始了\n\n#微招聘 #BeltAndRoad"
    assert post_text(gm.Post(text="Join #SOE jobs", tags=("soe",))) == "Join #SOE jobs"
    assert post_text(gm.Post(title="一带一路看国企", link="https://example.org/a/1")) == (
        "一带一路看国企\n\nhttps://example.org/a/1")


# --------------------------------------------------------------------------- checks


FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 1 grapheme, 25 bytes


def image(name="p.png", size=1000, alt=None):
    return gm.Media.from_url(f"https://cdn.example/{name}", size=size, alt=alt)


def rules_of(post, ch=None):
    return [(p.code, p.rule) for p in gm.Client().check(post, ch or channel())]


def test_300_graphemes_and_3000_bytes_are_both_limits_tags_included():
    assert rules_of(gm.Post(text="国" * 300)) == []
    [problem] = gm.Client().check(gm.Post(text="国" * 300, tags=("央企",)), channel())
    assert (problem.rule, problem.message) == (
        "bluesky.text.max_graphemes", "text is 305 graphemes, limit 300: 5 over")
    [problem] = gm.Client().check(gm.Post(text=FAMILY * 121), channel())
    assert (problem.rule, problem.message) == (
        "bluesky.text.max_bytes", "text is 3025 UTF-8 bytes, limit 3000: 25 over")
    assert rules_of(gm.Post(text=FAMILY * 120)) == []


def test_media_and_cover_rules():
    assert rules_of(gm.Post(text="x", media=[image(f"{i}.png") for i in range(4)])) == []
    assert rules_of(gm.Post(text="x", media=[image(f"{i}.png") for i in range(5)])) == [
        ("bad_media", "bluesky.media.max_count")]
    assert rules_of(gm.Post(text="x", media=[image("v.mp4")])) == [("bad_media", "bluesky.media.kind")]
    assert rules_of(gm.Post(text="x", media=[image(size=2_000_000)])) == []
    [big] = gm.Client().check(gm.Post(text="x", media=[image(size=2_000_001)]), channel())
    assert (big.rule, big.message) == (
        "bluesky.image.max_size", "media 1 (p.png) is 2,000,001 bytes; Bluesky takes at most 2,000,000")
    card = gm.Post(text="x", link="https://example.org/a", cover=image("c.jpg", size=1_000_001))
    assert rules_of(card) == [("bad_media", "bluesky.cover.max_size")]
    # With images there is no link card, so the cover is not sent and not judged.
    assert rules_of(gm.Post(text="x", link="https://example.org/a", cover=image("c.jpg", size=9_000_000),
                            media=[image()])) == []


def test_an_empty_post_is_a_problem_but_an_image_or_a_link_is_enough():
    assert rules_of(gm.Post(body="---")) == [("empty", "bluesky.text.not_empty")]
    assert rules_of(gm.Post(body="---", media=[image()])) == []


@pytest.mark.parametrize(("credentials", "options", "words"), [
    ({"handle": HANDLE, "app_password": APP_PASSWORD}, {}, "missing credential(s) identifier"),
    ({"identifier": HANDLE, "password": APP_PASSWORD}, {}, "app_password"),
    ({"identifier": HANDLE, "app_password": APP_PASSWORD}, {"base_url": "bsky.social"}, "base_url"),
    ({"identifier": HANDLE, "app_password": APP_PASSWORD}, {"langs": ["zh", "en", "ja", "ko"]}, "at most 3"),
    ({"identifier": HANDLE, "app_password": APP_PASSWORD}, {"langs": "Chinese"}, "language tags"),
])
def test_unusable_channels_are_config_errors(credentials, options, words):
    ch = gm.Channel(platform="bluesky", account=ACCOUNT, credentials=credentials, options=options)
    with pytest.raises(gm.ConfigError) as info:
        gm.Client().check(gm.Post(text="x"), ch)
    assert words in str(info.value)
    assert APP_PASSWORD not in str(info.value)


# --------------------------------------------------------------------------- publish


def test_publish_signs_in_once_and_creates_the_record_under_the_derived_rkey(api, client):
    post = gm.Post(text="国资小新 @cnpc.bsky.social 详见 https://www.sasac.gov.cn/a #国企")
    resolve = api.get("/xrpc/com.atproto.identity.resolveHandle").mock(
        return_value=httpx.Response(200, json={"did": "did:plc:cnpc0000000000000000000"}))
    rkey = record_key(key_of(post))
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(200, json=created(rkey)))
    # A handle no channel of this process signs in with (those are masked as secrets).
    api["login"].mock(return_value=httpx.Response(200, json=session(handle="news.sasac.example")))
    api["whoami"].mock(return_value=httpx.Response(200, json={"handle": "news.sasac.example", "did": DID}))
    receipt = client.publish(post, channel(langs=["zh"]))

    login = sent(api["login"])
    assert login == {"identifier": EMAIL, "password": APP_PASSWORD}
    assert resolve.calls[0].request.url.params["handle"] == "cnpc.bsky.social"
    request = create.calls[0].request
    assert request.headers["authorization"] == f"Bearer {session()['accessJwt']}"
    body = json.loads(request.content)
    assert (body["repo"], body["collection"], body["rkey"]) == (DID, "app.bsky.feed.post", rkey)
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post"
    assert record["text"] == post.text
    assert record["langs"] == ["zh"]
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", record["createdAt"])
    # UTF-8 byte offsets: "国资小新 " is 13 bytes, the mention 17, " 详见 " 8, the URL 26, " " 1.
    assert [(f["index"]["byteStart"], f["index"]["byteEnd"], f["features"]) for f in record["facets"]] == [
        (13, 30, [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:cnpc0000000000000000000"}]),
        (38, 64, [{"$type": "app.bsky.richtext.facet#link", "uri": "https://www.sasac.gov.cn/a"}]),
        (65, 72, [{"$type": "app.bsky.richtext.facet#tag", "tag": "国企"}]),
    ]
    assert "embed" not in record
    assert receipt.remote_id == f"at://{DID}/app.bsky.feed.post/{rkey}"
    assert receipt.url == f"https://bsky.app/profile/news.sasac.example/post/{rkey}"
    assert receipt.raw["cid"] == created(rkey)["cid"] and receipt.state == "published"

    client.publish(gm.Post(text="第二条"), channel())
    assert api["login"].call_count == 1  # the session is cached per identifier
    assert api["whoami"].call_count == 1  # and so is who it acts for


def test_a_handle_that_is_the_identifier_stays_readable_in_the_url(api, client):
    api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(200, json=created("22abcdefghijk")))
    receipt = client.publish(gm.Post(text="x"), channel(identifier=HANDLE))
    assert receipt.url == f"https://bsky.app/profile/{HANDLE}/post/22abcdefghijk"


def test_an_unknown_mention_stays_plain_text_with_a_warning(api, client, caplog):
    api.get("/xrpc/com.atproto.identity.resolveHandle").mock(
        return_value=error(400, "HandleNotFound", "Unable to resolve handle"))
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(200, json=created("22abcdefghijk")))
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        client.publish(gm.Post(text="请关注 @nobody.example.org"), channel())
    assert "facets" not in sent(create)["record"]
    assert "nobody.example.org" in caplog.text


def test_images_are_uploaded_raw_with_their_sniffed_type_and_alt_text(api, client):
    upload = api.post("/xrpc/com.atproto.repo.uploadBlob").mock(side_effect=[
        httpx.Response(200, json=blob(mime="image/png", size=len(PNG))),
        httpx.Response(200, json=blob("bafkreiother", mime="image/jpeg", size=len(JPEG))),
    ])
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(200, json=created("22abcdefghijk")))
    media = [gm.Media.from_bytes(PNG, filename="chart.jpg", alt="2019年央企招聘人数"),  # a PNG named .jpg
             gm.Media.from_bytes(JPEG, filename="photo.jpg")]
    client.publish(gm.Post(text="央企招聘", media=media), channel())
    first, second = (c.request for c in upload.calls)
    assert (first.content, first.headers["content-type"]) == (PNG, "image/png")
    assert (second.content, second.headers["content-type"]) == (JPEG, "image/jpeg")
    assert sent(create)["record"]["embed"] == {"$type": "app.bsky.embed.images", "images": [
        {"image": blob(mime="image/png", size=len(PNG))["blob"], "alt": "2019年央企招聘人数"},
        {"image": blob("bafkreiother", mime="image/jpeg", size=len(JPEG))["blob"], "alt": ""},
    ]}


def test_a_link_becomes_a_card_with_the_cover_as_thumbnail(api, client):
    upload = api.post("/xrpc/com.atproto.repo.uploadBlob").mock(
        return_value=httpx.Response(200, json=blob(mime="image/jpeg", size=len(JPEG))))
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(200, json=created("22abcdefghijk")))
    post = gm.Post(text="中老铁路开通一周年", title="一带一路看国企", summary="客货两旺",
                   link="https://example.org/a/1", cover=gm.Media.from_bytes(JPEG, filename="c.jpg"))
    client.publish(post, channel())
    assert upload.call_count == 1
    assert sent(create)["record"]["embed"] == {"$type": "app.bsky.embed.external", "external": {
        "uri": "https://example.org/a/1", "title": "一带一路看国企", "description": "客货两旺",
        "thumb": blob(mime="image/jpeg", size=len(JPEG))["blob"]}}


def test_an_image_over_the_limit_found_at_publish_is_refused_before_upload(api, client):
    big = api.get("https://cdn.example/big.png").mock(
        return_value=httpx.Response(200, content=PNG + b"\0" * 2_000_000))
    upload = api.post("/xrpc/com.atproto.repo.uploadBlob")
    with pytest.raises(gm.ValidationError) as info:
        client.publish(gm.Post(text="x", media=[gm.Media.from_url("https://cdn.example/big.png")]),
                       channel())
    assert info.value.problems[0].rule == "bluesky.image.max_size"
    assert big.called and not upload.called


# --------------------------------------------------------------------------- the session


def test_the_token_lives_as_long_as_its_jwt_says_and_refreshes_before_it_expires():
    platform = BlueskyPlatform()
    response = httpx.Response(200, json=session(accessJwt=jwt(iat=NOW - 10_000, lifetime=600)),
                              request=httpx.Request("POST", BASE))
    token = platform.token_from(response, channel(), previous=None)
    assert token.expires_in == 600  # exp - iat: the client's clock plays no part
    assert token.refresh_expires_in == 90 * 86400
    odd = httpx.Response(200, json=session(accessJwt="not-a-jwt"), request=httpx.Request("POST", BASE))
    assert platform.token_from(odd, channel(), previous=None).expires_in == 7200  # the PDS default


def test_expired_token_is_renewed_with_the_rotating_refresh_jwt(api, client):
    # The sheet: the old refresh JWT is spent once used (unverified; the PDS code keeps it
    # usable for a two-hour grace). Either way govmedia uses each refresh JWT once.
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(side_effect=[
        error(400, "ExpiredToken", "Token has expired"),
        httpx.Response(200, json=created("22abcdefghijk")),
        error(400, "ExpiredToken", "Token has expired"),
        httpx.Response(200, json=created("22abcdefghijl")),
    ])
    renew = api.post("/xrpc/com.atproto.server.refreshSession").mock(side_effect=[
        httpx.Response(200, json=session(2)), httpx.Response(200, json=session(3))])
    client.publish(gm.Post(text="一"), channel())
    client.publish(gm.Post(text="二"), channel())
    assert [c.request.headers["authorization"] for c in renew.calls] == [
        f"Bearer {session(1)['refreshJwt']}", f"Bearer {session(2)['refreshJwt']}"]  # each spent once
    assert all(not c.request.content for c in renew.calls)  # refreshSession has no body
    assert [c.request.headers["authorization"] for c in create.calls] == [
        f"Bearer {session(n)['accessJwt']}" for n in (1, 2, 2, 3)]
    assert api["login"].call_count == 1


def test_a_refused_refresh_jwt_signs_in_again_with_the_app_password(api, client):
    api.post("/xrpc/com.atproto.repo.createRecord").mock(side_effect=[
        error(400, "ExpiredToken", "Token has expired"), httpx.Response(200, json=created("22abcdefghijk"))])
    api.post("/xrpc/com.atproto.server.refreshSession").mock(
        return_value=error(400, "ExpiredToken", "Token has been revoked"))
    api["login"].side_effect = [httpx.Response(200, json=session(1)), httpx.Response(200, json=session(2))]
    assert client.publish(gm.Post(text="一"), channel()).state == "published"
    assert api["login"].call_count == 2


def test_a_refused_app_password_says_to_make_a_new_one_on_both_paths(api, client):
    api["login"].mock(return_value=error(401, "AuthenticationRequired", "Invalid identifier or password"))
    with pytest.raises(gm.AuthError) as info:
        client.publish(gm.Post(text="一"), channel())
    assert "App passwords" in info.value.hint
    # The renewal path: the session expired, its refresh JWT and the app password were refused.
    api["login"].mock(side_effect=[
        httpx.Response(200, json=session()),
        error(401, "AuthenticationRequired", "Invalid identifier or password")])
    api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=error(400, "ExpiredToken", "Token has expired"))
    api.post("/xrpc/com.atproto.server.refreshSession").mock(
        return_value=error(400, "ExpiredToken", "Token has been revoked"))
    with gm.Client(http=httpx.Client(), retry=FAST) as fresh, pytest.raises(gm.AuthError) as info:
        fresh.publish(gm.Post(text="二"), channel())
    assert "App passwords" in info.value.hint and "browser" not in str(info.value)
    assert APP_PASSWORD not in str(info.value)


@pytest.mark.parametrize(("answer", "kind", "words"), [
    (error(401, "AccountTakedown", "Account has been taken down"), gm.PlatformError, "taken down"),
    (error(401, "AuthFactorTokenRequired", "A sign in code has been sent to your email address"),
     gm.PlatformError, "app password"),
    (httpx.Response(200, json=session(active=False, status="deactivated")), gm.PlatformError, "deactivated"),
])
def test_accounts_that_cannot_post_are_told_apart(api, client, answer, kind, words):
    api["login"].mock(return_value=answer)
    with pytest.raises(kind) as info:
        client.publish(gm.Post(text="一"), channel())
    assert type(info.value) is kind  # not an AuthError: a new password would not help
    assert words in str(info.value)


# --------------------------------------------------------------------------- exactly once


def test_a_5xx_on_the_create_is_resent_with_the_same_record_key(api, client):
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(side_effect=[
        error(502, "UpstreamFailure", "Upstream Failure"), httpx.Response(200, json=created("22abcdefghijk"))])
    client.publish(gm.Post(text="一"), channel())
    assert create.calls[0].request.content == create.calls[1].request.content


def test_a_record_that_exists_already_is_found_by_its_rkey(api, client):
    """The PDS answers a duplicate rkey with a bare 500 (unverified: PDS code, indigo#873)."""
    post = gm.Post(text="一带一路看国企")
    rkey = record_key(key_of(post))
    uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=error(500, "InternalServerError", "Internal Server Error"))
    lookup = api.get("/xrpc/com.atproto.repo.getRecord").mock(return_value=httpx.Response(200, json={
        "uri": uri, "cid": "bafyreiexisting",
        "value": {"$type": "app.bsky.feed.post", "text": post.text, "createdAt": "2026-01-01T00:00:00.000Z"}}))
    receipt = client.publish(post, channel())
    assert create.call_count == 4  # the pipeline's attempts, each refused
    assert dict(lookup.calls[0].request.url.params) == {
        "repo": DID, "collection": "app.bsky.feed.post", "rkey": rkey}
    assert (receipt.remote_id, receipt.raw["cid"], receipt.raw["confirmed"]) == (uri, "bafyreiexisting", "getRecord")


def test_a_5xx_with_no_record_behind_it_is_a_plain_transient_failure(api, client):
    api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=error(500, "InternalServerError", "Internal Server Error"))
    api.get("/xrpc/com.atproto.repo.getRecord").mock(
        return_value=error(400, "RecordNotFound", "Could not locate record"))
    with pytest.raises(gm.TransientError) as info:
        client.publish(gm.Post(text="一"), channel())
    assert type(info.value) is gm.TransientError  # nothing exists: not DeliveryUnknown


def test_when_the_lookup_fails_too_the_delivery_is_unknown_with_the_uri(api, client):
    post = gm.Post(text="一")
    api.post("/xrpc/com.atproto.repo.createRecord").mock(side_effect=httpx.ReadTimeout("lost"))
    api.get("/xrpc/com.atproto.repo.getRecord").mock(
        return_value=error(503, "NotEnoughResources", "Not Enough Resources"))
    with pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(post, channel())
    assert info.value.known["uri"] == f"at://{DID}/app.bsky.feed.post/{record_key(key_of(post))}"


def test_another_post_under_the_rkey_is_never_taken_for_this_one(api, client):
    api.post("/xrpc/com.atproto.repo.createRecord").mock(
        return_value=error(500, "InternalServerError", "Internal Server Error"))
    api.get("/xrpc/com.atproto.repo.getRecord").mock(return_value=httpx.Response(200, json={
        "uri": f"at://{DID}/app.bsky.feed.post/22abcdefghijk", "cid": "bafyreiother",
        "value": {"$type": "app.bsky.feed.post", "text": "another post", "createdAt": "2026-01-01T00:00:00Z"}}))
    with pytest.raises(gm.PlatformError) as info:
        client.publish(gm.Post(text="一"), channel())
    assert info.value.code == "rkey_taken" and "new Post.key" in info.value.hint


def test_recover_finds_the_record_or_says_nothing_exists():
    platform = BlueskyPlatform()
    post = gm.Post(text="一")
    rkey = record_key("k-1")
    uri = f"at://{DID}/app.bsky.feed.post/{rkey}"
    doubt = Doubt(state="unknown", stage="creating", data={"uri": uri})
    found, sent_ = drive(platform.recover(post, channel(), "k-1", doubt), {**WHOAMI,
        "com.atproto.repo.getRecord": httpx.Response(200, json={
            "uri": uri, "cid": "bafyreione", "value": {"$type": "app.bsky.feed.post", "text": "一"}})})
    assert found.remote_id == uri and found.raw["confirmed"] == "getRecord"
    assert [r.method for r in sent_] == ["GET", "GET"]  # it only looks: no create
    gone, _ = drive(platform.recover(post, channel(), "k-1", doubt), {
        "com.atproto.repo.getRecord": error(400, "RecordNotFound", "Could not locate record")})
    assert gone is None


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(("answer", "kind"), [
    (error(400, "ExpiredToken", "Token has expired"), gm.AuthError),
    (error(400, "InvalidToken", "Token could not be verified"), gm.AuthError),
    (error(401, "AuthenticationRequired", "Authentication Required"), gm.AuthError),
    (error(429, "RateLimitExceeded", "Rate Limit Exceeded"), gm.RateLimited),
    (error(500, "InternalServerError", "Internal Server Error"), gm.TransientError),
    (error(502, "UpstreamFailure", "Upstream Failure"), gm.TransientError),
    (error(503, "NotEnoughResources", "Not Enough Resources"), gm.TransientError),
    (error(504, "UpstreamTimeout", "Upstream Timeout"), gm.TransientError),
    (error(400, "InvalidRequest", "Invalid app.bsky.feed.post record: Record/text must not be longer "
                                  "than 300 graphemes"), gm.ContentRejected),
    (error(413, "PayloadTooLarge", "request entity too large"), gm.ContentRejected),
    (error(415, "UnsupportedMediaType", "Unsupported Media Type"), gm.ContentRejected),
    (error(403, "Forbidden", "Forbidden"), gm.PlatformError),
    (error(400, "InvalidSwap", "Commit was at bafy..."), gm.PlatformError),
    (error(401, "AccountTakedown", "Account has been taken down"), gm.PlatformError),
    (error(401, "AuthFactorTokenRequired", "A sign in code has been sent"), gm.PlatformError),
])
def test_every_code_on_the_sheet_maps_to_the_tree(answer, kind):
    answer.request = httpx.Request("POST", f"{BASE}/xrpc/com.atproto.repo.createRecord")
    err = BlueskyPlatform().classify(answer, channel())
    assert type(err) is kind
    assert err.code == answer.json()["error"]
    assert err.hint


def test_the_validator_words_point_at_the_rule():
    table = BlueskyPlatform.errors
    assert table.entry("InvalidRequest", 400, "Record/text grapheme too big (maximum 300, got 301)").rule == (
        "bluesky.text.max_graphemes")
    assert table.entry("InvalidRequest", 400, "Record/text must not be longer than 3000 characters").rule == (
        "bluesky.text.max_bytes")
    assert table.entry("InvalidRequest", 400, "Record/embed/images/0/image blob too big (maximum "
                                              "2000000, got 2000001)").rule == "bluesky.image.max_size"


def test_rate_limit_reset_is_honoured_or_raised_at_once(api, client):
    import time

    soon = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(time.time()) + 1)}
    later = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(time.time()) + 3600)}
    create = api.post("/xrpc/com.atproto.repo.createRecord").mock(side_effect=[
        error(429, "RateLimitExceeded", "Rate Limit Exceeded", soon),
        httpx.Response(200, json=created("22abcdefghijk")),
        error(429, "RateLimitExceeded", "Rate Limit Exceeded", later),
    ])
    client.publish(gm.Post(text="一"), channel())
    with pytest.raises(gm.RateLimited) as info:
        client.publish(gm.Post(text="二"), channel())
    assert create.call_count == 3  # the hour-long wait is not waited out
    assert 3500 < info.value.retry_after <= 3600


def test_an_upload_refused_for_its_size_names_the_media(api, client):
    api.post("/xrpc/com.atproto.repo.uploadBlob").mock(
        return_value=error(413, "PayloadTooLarge", "request entity too large"))
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(gm.Post(text="x", media=[gm.Media.from_bytes(PNG, filename="chart.png")]), channel())
    assert "media 1 (chart.png)" in str(info.value)


# --------------------------------------------------------------------------- delete, metrics, repost


def receipt_of(rkey="22abcdefghijk", collection="app.bsky.feed.post", **raw):
    return gm.Receipt(channel=channel(), remote_id=f"at://{DID}/{collection}/{rkey}",
                      url=f"https://bsky.app/profile/{HANDLE}/post/{rkey}",
                      raw={"cid": "bafyreig2fjxi3rptqdgylg7e5hmjl6mcke7rn2b6cugzlqq3i4zu6rq52q", **raw})


def test_delete_removes_the_record_named_by_the_uri(api, client):
    delete = api.post("/xrpc/com.atproto.repo.deleteRecord").mock(return_value=httpx.Response(200, json={}))
    client.delete(receipt_of())
    client.delete(receipt_of("22zzzzzzzzzzz", "app.bsky.feed.repost"))
    assert [sent(delete, n) for n in (0, 1)] == [
        {"repo": DID, "collection": "app.bsky.feed.post", "rkey": "22abcdefghijk"},
        {"repo": DID, "collection": "app.bsky.feed.repost", "rkey": "22zzzzzzzzzzz"}]


def test_metrics_read_the_counts_of_getposts(api, client):
    # getPosts is not on the fact sheet: its shape is the lexicon's (unverified live).
    uri = receipt_of().remote_id
    posts = api.get("/xrpc/app.bsky.feed.getPosts").mock(side_effect=[
        httpx.Response(200, json={"posts": [{
            "uri": uri, "cid": "bafy...", "author": {"did": DID, "handle": HANDLE},
            "record": {"$type": "app.bsky.feed.post", "text": "一"}, "replyCount": 8, "repostCount": 35,
            "likeCount": 120, "quoteCount": 2, "indexedAt": "2026-01-01T00:00:00.000Z"}]}),
        httpx.Response(200, json={"posts": []}),
    ])
    metrics = client.metrics(receipt_of())
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, 120, 35, 8)
    assert posts.calls[0].request.url.params.get_list("uris") == [uri]
    gone = client.metrics(receipt_of())
    assert (gone.likes, gone.shares, gone.comments) == (None, None, None) and "indexed" in gone.raw["reason"]
    repost = client.metrics(receipt_of(collection="app.bsky.feed.repost"))
    assert repost.likes is None and posts.call_count == 2


def test_repost_makes_a_repost_record_of_the_hub_post():
    hub = receipt_of()
    member = channel()
    key = "amplify-key"
    platform = BlueskyPlatform()
    assert platform.can_repost(hub, member)
    assert not platform.can_repost(receipt_of(cid=None), member)
    assert not platform.can_repost(receipt_of(collection="app.bsky.feed.repost"), member)
    receipt, requests = drive(platform.repost(hub, member, key), {**WHOAMI,
        "com.atproto.repo.createRecord": httpx.Response(
            200, json=created(record_key(key), "app.bsky.feed.repost"))})
    body = json.loads(requests[-1].content)
    assert (body["collection"], body["rkey"]) == ("app.bsky.feed.repost", record_key(key))
    assert body["record"]["subject"] == {"uri": hub.remote_id, "cid": hub.raw["cid"]}
    assert body["record"]["$type"] == "app.bsky.feed.repost"
    assert receipt.url == hub.url and receipt.remote_id.endswith(f"/app.bsky.feed.repost/{record_key(key)}")


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["bluesky"])


def test_publish_through_the_fake_on_both_clients(sandbox):
    fake = sandbox["bluesky"]
    ch = sandbox.channel("bluesky", "sasac.bsky.social")
    chart = gm.Media.from_bytes(PNG, filename="chart.png", alt="2019年央企招聘人数")
    post = gm.Post(text="央企校园招聘今日启动 https://example.org/jobs", tags=("微招聘",), media=(chart,))

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=FAST) as client:
            return await client.publish(gm.Post(text="异步发布"), ch)

    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        receipt = client.publish(post, ch)
        fake.set_counts(receipt.remote_id, likes=120, replies=8)
        metrics = client.metrics(receipt)
    anyio.run(main)
    [first, second] = fake.posts("sasac.bsky.social")
    assert first["uri"] == receipt.remote_id and first["cid"] == receipt.raw["cid"]
    assert first["value"]["embed"]["images"][0]["alt"] == "2019年央企招聘人数"
    assert [f["features"][0]["$type"].rsplit("#")[1] for f in first["value"]["facets"]] == ["link", "tag"]
    assert second["value"]["text"] == "异步发布"
    assert (metrics.likes, metrics.shares, metrics.comments) == (120, 0, 8)
    assert len(fake.requests(r"createSession")) == 2  # one sign-in per client and identifier
    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        client.delete(receipt)
    assert [p["value"]["text"] for p in fake.posts()] == ["异步发布"]


def test_a_lost_create_is_finished_by_a_journal_backed_rerun_without_a_second_create(sandbox, tmp_path):
    """After the point of no return every failure is unknown, with the uri; the re-run only looks."""
    fake = sandbox["bluesky"]
    ch = sandbox.channel("bluesky", "sasac.bsky.social")
    post = gm.Post(text="中央企业招聘季")
    fake.inject("timeout_after", path=fake.create_path)          # applied, the answer lost
    fake.inject("server_error", path=fake.create_path, times=3)  # every resend of this run
    fake.inject("server_error", path="getRecord", times=4)       # and the lookup too
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        first = client.fan_out(post, [ch])
        creates = len(fake.requests(fake.create_path))
        second = client.fan_out(post, [ch])
        third = client.fan_out(post, [ch])
    assert first.deliveries[0].state == "unknown"
    assert first.deliveries[0].error.known["uri"].startswith("at://did:plc:")
    assert second.deliveries[0].state == "published" and third.deliveries[0].state == "skipped"
    assert len(fake.requests(fake.create_path)) == creates  # the re-run created nothing
    assert len(fake.posts(ch.account)) == 1
    assert second.deliveries[0].receipt.remote_id == fake.posts(ch.account)[0]["uri"]


def test_a_rerun_of_a_create_that_never_landed_sends_it_under_the_same_rkey(sandbox, tmp_path):
    fake = sandbox["bluesky"]
    ch = sandbox.channel("bluesky", "sasac.bsky.social")
    post = gm.Post(text="中央企业招聘季")
    fake.inject("timeout_before", path=fake.create_path, times=4)  # never reached the PDS
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        assert client.fan_out(post, [ch]).deliveries[0].state == "failed"
        again = client.fan_out(post, [ch])
    assert again.deliveries[0].state == "published"
    assert again.deliveries[0].receipt.remote_id.endswith(record_key(key_of(post, ch)))
    assert len(fake.posts(ch.account)) == 1


def test_concurrent_deliveries_spend_a_single_use_refresh_jwt_once(sandbox):
    """Two channels sign in with one identifier; their session expires at the PDS under both."""
    fake = sandbox["bluesky"]
    hub = sandbox.channel("bluesky", "sasac.bsky.social")
    twin = gm.Channel(platform="bluesky", account="sasac-2", credentials=hub.credentials, options=hub.options)
    barrier = threading.Barrier(2, timeout=2)
    paired = threading.Event()

    def handler(request):
        # Both creates reach the PDS together, with the same expired token.
        if paired.is_set() and request.url.path.endswith("createRecord"):
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait()
        return sandbox(request)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    with gm.Client(http=http, retry=FAST, concurrency=2) as client:
        client.publish(gm.Post(text="一"), hub)
        fake.tokens.expire()  # the client still holds a token it thinks is good
        paired.set()
        report = client.fan_out(gm.Post(text="二"), [hub, twin])
    http.close()
    assert report.ok
    assert [r.status for r in fake.requests("createRecord")][1:3] == [400, 400]  # both refused
    renewals = fake.requests("refreshSession")
    assert [r.status for r in renewals] == [200]  # one renewal, no spent token sent
    assert len(fake.requests("createSession")) == 1


def test_amplify_members_repost_the_hub_post(sandbox):
    fake = sandbox["bluesky"]
    hub = sandbox.channel("bluesky", "sasac.bsky.social")
    members = [sandbox.channel("bluesky", name) for name in ("cnpc.bsky.social", "sinopec.bsky.social")]
    matrix = gm.Matrix(hub=hub, members=members)
    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        report = client.fan_out(gm.Post(text="一带一路看国企"), matrix, mode="amplify")
        again = client.fan_out(gm.Post(text="一带一路看国企"), matrix, mode="amplify")
        metrics = client.metrics(report.deliveries[0].receipt)
    assert report.ok and again.ok
    hub_uri = report.deliveries[0].receipt.remote_id
    for member in members:
        [repost] = fake.posts(member.account)  # the second run replaced, never doubled
        assert repost["value"]["subject"]["uri"] == hub_uri
    assert metrics.shares == 2


def test_no_secret_reaches_a_log_record_or_an_error(sandbox, caplog_all):
    fake = sandbox["bluesky"]
    ch = sandbox.channel("bluesky", "sasac.bsky.social")
    fake.inject("token_expired", path=fake.create_path)
    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        client.publish(gm.Post(text="一"), ch)
        fake.inject("server_error", path=fake.create_path, times=10)
        fake.inject("server_error", path="getRecord", times=10)
        with pytest.raises(gm.DeliveryUnknown) as info:
            client.publish(gm.Post(text="二"), ch)
    secrets = [ch.credentials["app_password"], *fake._jwts]
    text = caplog_all.text + str(info.value) + repr(info.value)
    assert not [s for s in secrets if s in text]
