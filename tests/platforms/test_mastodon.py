"""The Mastodon platform: text, tags, checks, the media flow, errors, boosts.

respx tests answer with payloads shaped as shared/platforms/mastodon.md and
Mastodon's API docs show them; the end-to-end tests at the bottom run through
`gm.Client` against `FakeMastodon` in the sandbox.
"""

import datetime as dt
import json
import logging
import re

import httpx
import pytest
import respx

import govmedia as gm
from govmedia._pipeline import derive_key
from govmedia.platforms.base import Sleep, is_retry_safe
from govmedia.platforms.mastodon import MastodonPlatform, status_text
from govmedia.testing import Sandbox

BASE = "https://social.example"
TOKEN = "tok-mastodon-3f9a1c77"
ACCOUNT = "sasac@social.example"
MB = 1024 * 1024


def channel(account=ACCOUNT, base=BASE, **options):
    return gm.Channel(platform="mastodon", account=account, credentials={"access_token": TOKEN},
                      options={"base_url": base, **options})


def status_payload(status_id="109348219237623478", **changes):
    """A Status entity as POST/GET /api/v1/statuses return it."""
    body = {
        "id": status_id,
        "created_at": "2024-06-12T08:00:00.123Z",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "zh",
        "uri": f"{BASE}/users/sasac/statuses/{status_id}",
        "url": f"{BASE}/@sasac/{status_id}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": None,
        "content": "<p>央企招聘季开始了</p>",
        "reblog": None,
        "application": {"name": "govmedia", "website": None},
        "account": {"id": "1", "username": "sasac", "acct": "sasac", "url": f"{BASE}/@sasac"},
        "media_attachments": [],
        "mentions": [],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }
    body.update(changes)
    return body


def media_payload(media_id="22345792", *, ready=True, description="全国国资系统招聘数据"):
    """A MediaAttachment entity; `url` is null while the server processes it."""
    files = f"{BASE}/system/media_attachments/files/{media_id}"
    return {
        "id": media_id,
        "type": "image",
        "url": f"{files}/original/chart.png" if ready else None,
        "preview_url": f"{files}/small/chart.png",
        "remote_url": None,
        "text_url": None,
        "meta": {"focus": {"x": 0.0, "y": 0.0}},
        "description": description,
        "blurhash": "UFBWY:8_0Jxv_4%MRjWB9Ft7ofxu",
    }


def iso_in(seconds):
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def rate_limited(seconds):
    return httpx.Response(429, json={"error": "Too many requests"}, headers={
        "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": iso_in(seconds),
    })


HTML_502 = ("<html><head><title>502 Bad Gateway</title></head><body><center>"
            "<h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>")
CHART = gm.Media.from_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, filename="chart.png",
                            alt="全国国资系统招聘数据")
POST = gm.Post(text="央企招聘季开始了", tags=("微招聘",))


@pytest.fixture
def client():
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy.testing()) as c:
        yield c


def drive(flow, answer):
    """Run a sans-I/O flow by hand: *answer(step)* gives each step's response."""
    steps = []
    value = None
    try:
        while True:
            step = flow.send(value)
            steps.append(step)
            value = answer(step)
    except StopIteration as stop:
        return stop.value, steps


# --------------------------------------------------------------------------- description


def test_registered_with_its_capabilities():
    cls = gm.platforms.get("mastodon")
    assert cls is MastodonPlatform
    caps = cls.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.refresh) == (True, True, True, True, False)
    assert (caps.text_max, caps.media_max) == (500, 4)
    assert caps.dedupe_window == 3600  # PostStatusService keeps the key an hour
    assert caps.reconcile is False  # nothing hidden to find a lost create by
    assert set(caps.media_kinds) == {"image", "video", "audio"}
    assert "23" in caps.counting
    assert "@user" in caps.counting
    assert {"text", "tags", "media"} <= set(caps.fields)


# --------------------------------------------------------------------------- status text


def test_tags_are_appended_as_hashtags_once():
    post = gm.Post(text="#央企 招聘季开始了", tags=("央企", "微 招聘", "Belt and Road", "微招聘"))
    assert status_text(post) == "#央企 招聘季开始了\n\n#微招聘 #BeltAndRoad"


def test_a_tag_in_the_text_in_another_case_or_fullwidth_counts_as_present():
    assert status_text(gm.Post(text="Join #SOE jobs", tags=("soe",))) == "Join #SOE jobs"
    assert status_text(gm.Post(text="话题 ＃央企 今日", tags=("央企",))) == "话题 ＃央企 今日"
    # A longer tag that only starts with the name is another tag.
    assert status_text(gm.Post(text="#央企招聘", tags=("央企",))).endswith("\n\n#央企")


def test_tags_follow_mastodons_character_rules(caplog):
    tags = ("COVID-19", "#一带一路 看国企", "state_owned", "हिन्दी", "一带一路·看国企")
    assert status_text(gm.Post(text="x", tags=tags)).split("\n\n")[1].split() == [
        "#COVID19", "#一带一路看国企", "#state_owned", "#हिन्दी", "#一带一路·看国企",
    ]
    with caplog.at_level(logging.WARNING, logger="govmedia"):
        assert status_text(gm.Post(text="年报", tags=("2019",))) == "年报"
    assert "2019" in caplog.text


def test_a_post_without_text_sends_title_summary_and_link():
    post = gm.Post(title="一带一路看国企", summary="第三期", link="https://example.org/a/1")
    assert status_text(post) == "一带一路看国企\n\n第三期\n\nhttps://example.org/a/1"


# --------------------------------------------------------------------------- checks


def test_too_long_gives_the_count_as_mastodon_counts_and_the_limit():
    # 480 graphemes + a space + one URL (23, however long) + "\n\n#微招聘" (6)
    text = "国" * 480 + " https://example.org/" + "a" * 100
    problems = gm.Client().check(gm.Post(text=text, tags=("微招聘",)), channel())
    assert [p.code for p in problems] == ["too_long"]
    assert problems[0].message == (
        "text is 510 characters as Mastodon counts them (URL 23), limit 500: 10 over")
    assert problems[0].field == "text"


def test_exactly_the_limit_passes_and_mentions_count_without_their_domain():
    assert gm.Client().check(gm.Post(text="国" * 500), channel()) == []
    text = "国" * 493 + " @sasac@social.example"  # the mention counts as "@sasac": 6
    assert gm.Client().check(gm.Post(text=text), channel()) == []
    assert gm.Client().check(gm.Post(text=text + "!"), channel())[0].code == "too_long"


def test_max_characters_option_raises_the_limit():
    post = gm.Post(text="国" * 900)
    assert gm.Client().check(post, channel(max_characters=1000)) == []
    problem = gm.Client().check(post, channel(max_characters=800))[0]
    assert "900 characters" in problem.message
    assert "limit 800" in problem.message


def image(name="p.png", size=1000, alt=None):
    return gm.Media.from_url(f"https://cdn.example/{name}", size=size, alt=alt)


def test_media_rules():
    check = gm.Client().check
    assert check(gm.Post(text="x", media=[image(f"{i}.png") for i in range(4)]), channel()) == []
    five = check(gm.Post(text="x", media=[image(f"{i}.png") for i in range(5)]), channel())
    assert [p.code for p in five] == ["bad_media"]
    assert "5 attachments" in five[0].message
    mixed = check(gm.Post(text="x", media=[image(), image("v.mp4")]), channel())
    assert [p.code for p in mixed] == ["bad_media"]
    assert "video" in mixed[0].message
    big = check(gm.Post(text="x", media=[image(size=17 * MB)]), channel())
    assert [p.code for p in big] == ["bad_media"]
    assert "16.0 MB" in big[0].message
    assert check(gm.Post(text="x", media=[image("v.mp4", size=98 * MB)]), channel()) == []
    huge = check(gm.Post(text="x", media=[image("v.mp4", size=100 * MB)]), channel())
    assert "99.0 MB" in huge[0].message
    pdf = check(gm.Post(text="x", media=[image("report.pdf")]), channel())
    assert "application/pdf" in pdf[0].message
    alt = check(gm.Post(text="x", media=[image(alt="图" * 1501)]), channel())
    assert "1501" in alt[0].message


def test_an_empty_status_without_media_is_a_problem():
    post = gm.Post(body="---")  # Markdown with no text in it
    assert [p.code for p in gm.Client().check(post, channel())] == ["empty"]
    media_only = gm.Post(body="---", media=[image()])
    assert gm.Client().check(media_only, channel()) == []


@pytest.mark.parametrize(("credentials", "options", "words"), [
    ({"token": TOKEN}, {"base_url": BASE}, "access_token"),
    ({"access_token": TOKEN, "secret": "x"}, {"base_url": BASE}, "unknown credential(s) secret; mastodon takes access_token"),
    ({"access_token": TOKEN}, {}, "missing option(s) base_url"),
    ({"access_token": TOKEN}, {"base_url": "social.example"}, "base_url"),
    ({"access_token": TOKEN}, {"base_url": BASE, "visibility": "friends"}, "public, unlisted, private, direct"),
    ({"access_token": TOKEN}, {"base_url": BASE, "language": "Chinese"}, "ISO 639-1"),
    ({"access_token": TOKEN}, {"base_url": BASE, "max_characters": "500"}, "max_characters"),
    ({"access_token": TOKEN}, {"base_url": BASE, "poll_timeout": 0}, "poll_timeout"),
    ({"access_token": TOKEN}, {"base_url": BASE, "scheduled_at": "2025"}, "scheduled_at"),
    ({"access_token": TOKEN}, {"base_url": BASE, "schedule": "2025"}, "valid: base_url, visibility"),
])
def test_unusable_channels_are_config_errors(credentials, options, words):
    ch = gm.Channel(platform="mastodon", account=ACCOUNT, credentials=credentials, options=options)
    with pytest.raises(gm.ConfigError) as info:
        gm.Client().check(gm.Post(text="x"), ch)
    assert words in str(info.value)
    assert TOKEN not in str(info.value)


# --------------------------------------------------------------------------- the flow, by hand


def test_publish_flow_step_by_step_uploads_polls_and_posts_with_the_key():
    platform = MastodonPlatform()
    ch = channel(poll_interval=0.5, language="zh", visibility="unlisted")
    answers = iter([
        httpx.Response(202, json=media_payload(ready=False)),
        httpx.Response(206, json=media_payload(ready=False)),
        httpx.Response(200, json=media_payload()),
        httpx.Response(200, json=status_payload()),
    ])
    post = gm.Post(text="央企招聘季开始了", media=[CHART])
    receipt, steps = drive(platform.publish(post, ch, "gm-key-1"),
                           lambda step: None if isinstance(step, Sleep) else next(answers))
    upload, sleep1, poll1, sleep2, poll2, create = steps
    assert (upload.method, upload.url) == ("POST", httpx.URL(f"{BASE}/api/v2/media"))
    upload.read()
    assert b'name="file"; filename="chart.png"' in upload.content
    assert b"Content-Type: image/png" in upload.content
    assert b'name="description"' in upload.content
    assert "全国国资系统招聘数据".encode() in upload.content
    assert sleep1 == sleep2 == Sleep(0.5)
    assert poll1.method == poll2.method == "GET"
    assert poll1.url == httpx.URL(f"{BASE}/api/v1/media/22345792")
    assert (create.method, create.url) == ("POST", httpx.URL(f"{BASE}/api/v1/statuses"))
    assert create.headers["Idempotency-Key"] == "gm-key-1"
    assert json.loads(create.content) == {
        "status": "央企招聘季开始了", "visibility": "unlisted", "media_ids": ["22345792"],
        "language": "zh",
    }
    assert is_retry_safe(create)
    assert is_retry_safe(upload)
    assert receipt.remote_id == "109348219237623478"
    assert receipt.url == f"{BASE}/@sasac/109348219237623478"
    assert receipt.state == "published"
    assert receipt.raw["uri"].endswith("/109348219237623478")


def test_an_upload_answered_200_is_not_polled():
    answers = iter([httpx.Response(200, json=media_payload()), httpx.Response(200, json=status_payload())])
    _, steps = drive(MastodonPlatform().publish(gm.Post(text="x", media=[CHART]), channel(), "k"),
                     lambda step: next(answers))
    assert [s.method for s in steps] == ["POST", "POST"]


def test_processing_longer_than_poll_timeout_is_a_clear_error():
    ch = channel(poll_timeout=2.5, poll_interval=1)
    flow = MastodonPlatform().publish(gm.Post(text="x", media=[CHART]), ch, "k")
    sleeps = []

    def answer(step):
        if isinstance(step, Sleep):
            sleeps.append(step.seconds)
            return None
        status = 202 if step.url.path == "/api/v2/media" else 206
        return httpx.Response(status, json=media_payload(ready=False))

    with pytest.raises(gm.TransientError) as info:
        drive(flow, answer)
    assert sleeps == [1.0, 1.0, 0.5]
    assert "media 1 (chart.png) still processing after 2.5 s" in str(info.value)
    assert "poll_timeout" in str(info.value)
    assert "Nothing was posted" in str(info.value)


# --------------------------------------------------------------------------- over HTTP (respx)


@respx.mock(base_url=BASE, assert_all_called=True)
def test_publish_text_only(respx_mock, client):
    create = respx_mock.post("/api/v1/statuses").respond(200, json=status_payload())
    receipt = client.publish(POST, channel())
    sent = create.calls.last.request
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Idempotency-Key"] == derive_key(POST.key, "mastodon", ACCOUNT)
    assert json.loads(sent.content) == {"status": "央企招聘季开始了\n\n#微招聘", "visibility": "public"}
    assert receipt.url == f"{BASE}/@sasac/109348219237623478"


@respx.mock(base_url=BASE, assert_all_called=True)
def test_media_is_processed_202_206_200_before_the_status(respx_mock, client):
    upload = respx_mock.post("/api/v2/media").respond(202, json=media_payload(ready=False))
    poll = respx_mock.get("/api/v1/media/22345792").mock(side_effect=[
        httpx.Response(206, json=media_payload(ready=False)),
        httpx.Response(200, json=media_payload()),
    ])
    create = respx_mock.post("/api/v1/statuses").respond(200, json=status_payload())
    client.publish(gm.Post(text="招聘数据", media=[CHART]), channel(poll_interval=0.01))
    assert upload.call_count == 1
    assert poll.call_count == 2
    assert json.loads(create.calls.last.request.content)["media_ids"] == ["22345792"]
    assert poll.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.anyio
async def test_async_publish_with_media():
    with respx.mock(base_url=BASE, assert_all_called=True) as router:
        router.post("/api/v2/media").respond(202, json=media_payload(ready=False))
        router.get("/api/v1/media/22345792").mock(side_effect=[
            httpx.Response(206, json=media_payload(ready=False)),
            httpx.Response(200, json=media_payload()),
        ])
        create = router.post("/api/v1/statuses").respond(200, json=status_payload())
        async with gm.AsyncClient(http=httpx.AsyncClient(), retry=gm.RetryPolicy.testing()) as client:
            receipt = await client.publish(gm.Post(text="招聘数据", media=[CHART]),
                                           channel(poll_interval=0.01))
    assert receipt.remote_id == "109348219237623478"
    assert create.calls.last.request.headers["Idempotency-Key"].startswith("gm-")


@respx.mock
def test_url_media_is_fetched_without_the_token(respx_mock, client):
    fetch = respx_mock.get("https://cdn.example/chart.png").respond(
        200, content=b"\x89PNG\r\n\x1a\n-bytes", headers={"Content-Type": "image/png"})
    upload = respx_mock.post(f"{BASE}/api/v2/media").respond(200, json=media_payload())
    respx_mock.post(f"{BASE}/api/v1/statuses").respond(200, json=status_payload())
    media = gm.Media.from_url("https://cdn.example/chart.png", alt="图表")
    client.publish(gm.Post(text="x", media=[media]), channel())
    assert "Authorization" not in fetch.calls.last.request.headers
    assert b"\x89PNG\r\n\x1a\n-bytes" in upload.calls.last.request.content


@respx.mock
def test_a_url_media_that_cannot_be_fetched_names_the_media(respx_mock, client):
    respx_mock.get("https://cdn.example/gone.png").respond(404, text="<h1>Not Found</h1>")
    with pytest.raises(gm.PlatformError) as info:
        client.publish(gm.Post(text="x", media=[gm.Media.from_url("https://cdn.example/gone.png")]),
                       channel())
    assert "media 1 (gone.png): could not download https://cdn.example/gone.png" in str(info.value)


@respx.mock(base_url=BASE)
def test_rate_limit_with_an_iso_reset_is_waited_out_and_retried(respx_mock, client):
    create = respx_mock.post("/api/v1/statuses").mock(side_effect=[
        rate_limited(1.5), httpx.Response(200, json=status_payload()),
    ])
    assert client.publish(POST, channel()).state == "published"
    assert create.call_count == 2
    keys = {c.request.headers["Idempotency-Key"] for c in create.calls}
    assert len(keys) == 1


def test_the_iso_reset_becomes_retry_after():
    error = MastodonPlatform().classify(rate_limited(90), channel())
    assert isinstance(error, gm.RateLimited)
    assert 85 < error.retry_after <= 90


@respx.mock(base_url=BASE)
def test_a_far_reset_raises_rate_limited_at_once(respx_mock, client):
    create = respx_mock.post("/api/v1/statuses").mock(return_value=rate_limited(3 * 3600))
    with pytest.raises(gm.RateLimited) as info:
        client.publish(POST, channel())
    assert create.call_count == 1
    assert info.value.retry_after > 3 * 3600 - 60


@respx.mock(base_url=BASE)
def test_a_revoked_token_is_an_auth_error_without_retry(respx_mock, client):
    create = respx_mock.post("/api/v1/statuses").respond(401, json={"error": "The access token is invalid"})
    with pytest.raises(gm.AuthError) as info:
        client.publish(POST, channel())
    assert create.call_count == 1
    assert "The access token is invalid" in str(info.value)
    assert TOKEN not in str(info.value)


@respx.mock(base_url=BASE)
def test_403_scopes_is_auth_and_403_not_allowed_is_not(respx_mock, client):
    route = respx_mock.post("/api/v1/statuses")
    route.respond(403, json={"error": "This action is outside the authorized scopes"})
    with pytest.raises(gm.AuthError, match="write:statuses"):
        client.publish(POST, channel())
    route.respond(403, json={"error": "This action is not allowed"})
    with pytest.raises(gm.PlatformError) as info:
        client.publish(POST, channel())
    assert type(info.value) is gm.PlatformError
    assert "retrying will not help" in str(info.value)


@respx.mock(base_url=BASE)
def test_422_media_not_processed_is_retried_with_the_same_key(respx_mock, client):
    respx_mock.post("/api/v2/media").respond(200, json=media_payload())
    create = respx_mock.post("/api/v1/statuses").mock(side_effect=[
        httpx.Response(422, json={"error": "Cannot attach files that have not finished processing. "
                                           "Try again in a moment!"}),
        httpx.Response(200, json=status_payload()),
    ])
    client.publish(gm.Post(text="x", media=[CHART]), channel())
    assert create.call_count == 2
    assert len({c.request.headers["Idempotency-Key"] for c in create.calls}) == 1


def test_422_not_processed_is_transient_and_not_applied():
    response = httpx.Response(422, json={"error": "Cannot attach files that have not finished processing. Try again in a moment!"})
    error = MastodonPlatform().classify(response, channel())
    assert isinstance(error, gm.TransientError)
    assert error.maybe_applied is False
    assert error.code == 422


@pytest.mark.parametrize("message", [
    "Validation failed: Text character limit of 500 exceeded",
    "Validation failed: Text can't be blank",
    "Validation failed: File content type is invalid",
])
@respx.mock(base_url=BASE)
def test_other_422_are_content_rejected_once(respx_mock, client, message):
    create = respx_mock.post("/api/v1/statuses").respond(422, json={"error": message})
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(POST, channel())
    assert create.call_count == 1
    assert message in str(info.value)


@respx.mock(base_url=BASE)
def test_a_bare_500_on_the_create_is_resent_with_the_same_key(respx_mock, client):
    create = respx_mock.post("/api/v1/statuses").mock(side_effect=[
        httpx.Response(500, text="Internal Server Error"),
        httpx.Response(502, headers={"Content-Type": "text/html"}, text=HTML_502),
        httpx.Response(200, json=status_payload()),
    ])
    assert client.publish(POST, channel()).state == "published"
    assert create.call_count == 3
    assert len({c.request.headers["Idempotency-Key"] for c in create.calls}) == 1


@respx.mock(base_url=BASE)
def test_an_html_error_page_that_persists_is_a_readable_transient_error(respx_mock, client):
    respx_mock.post("/api/v1/statuses").respond(502, headers={"Content-Type": "text/html"}, text=HTML_502)
    with pytest.raises(gm.TransientError) as info:
        client.publish(POST, channel())
    assert "502 Bad Gateway" in str(info.value)
    assert "<h1>" not in str(info.value)


@respx.mock(base_url=BASE)
def test_upload_is_resent_after_a_5xx(respx_mock, client):
    # A decision (see the comment in publish): a resent upload can only leave an
    # unattached media behind, never a second status.
    upload = respx_mock.post("/api/v2/media").mock(side_effect=[
        httpx.Response(503, json={"error": "There was a temporary problem serving your request, please try again"}),
        httpx.Response(200, json=media_payload()),
    ])
    respx_mock.post("/api/v1/statuses").respond(200, json=status_payload())
    client.publish(gm.Post(text="x", media=[CHART]), channel())
    assert upload.call_count == 2
    assert upload.calls[0].request.content == upload.calls[1].request.content


@respx.mock(base_url=BASE)
def test_upload_refusals_name_the_media(respx_mock, client):
    route = respx_mock.post("/api/v2/media")
    route.respond(413, headers={"Content-Type": "text/html"},
                  text="<html><head><title>413 Request Entity Too Large</title></head></html>")
    with pytest.raises(gm.ContentRejected, match=r"media 1 \(chart.png\): 413 Request Entity Too Large"):
        client.publish(gm.Post(text="x", media=[CHART]), channel())
    route.respond(500, json={"error": "Error processing thumbnail for uploaded media"})
    with pytest.raises(gm.ContentRejected, match="Error processing thumbnail"):
        client.publish(gm.Post(text="x", media=[CHART]), channel())


@respx.mock(base_url=BASE, assert_all_called=False)
def test_failed_processing_on_poll_is_content_rejected(respx_mock, client):
    respx_mock.post("/api/v2/media").respond(202, json=media_payload(ready=False))
    respx_mock.get("/api/v1/media/22345792").respond(
        422, json={"error": "Error processing thumbnail for uploaded media"})
    create = respx_mock.post("/api/v1/statuses")
    with pytest.raises(gm.ContentRejected, match=r"media 1 \(chart.png\): Error processing thumbnail"):
        client.publish(gm.Post(text="x", media=[CHART]), channel(poll_interval=0.01))
    assert not create.called


@respx.mock(base_url=BASE)
def test_delete_and_delete_of_a_gone_status(respx_mock, client):
    receipt = gm.Receipt(channel=channel(), remote_id="109348219237623478", raw=status_payload())
    route = respx_mock.delete("/api/v1/statuses/109348219237623478")
    route.respond(200, json={**status_payload(), "text": "央企招聘季开始了"})
    assert client.delete(receipt) is None
    assert route.calls.last.request.url.params["delete_media"] == "true"
    route.respond(404, json={"error": "Record not found"})
    assert client.delete(receipt) is None  # gone already is what delete wants


@respx.mock(base_url=BASE)
def test_metrics(respx_mock, client):
    respx_mock.get("/api/v1/statuses/109348219237623478").respond(200, json=status_payload(
        favourites_count=12, reblogs_count=3, replies_count=4))
    receipt = gm.Receipt(channel=channel(), remote_id="109348219237623478")
    metrics = client.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, 12, 3, 4)


@respx.mock(base_url=BASE)
def test_metrics_absent_counts_are_none_and_404_is_a_platform_error(respx_mock, client):
    payload = status_payload()
    del payload["replies_count"]
    route = respx_mock.get("/api/v1/statuses/1")
    route.respond(200, json=payload)
    receipt = gm.Receipt(channel=channel(), remote_id="1")
    assert client.metrics(receipt).comments is None
    route.respond(404, json={"error": "Record not found"})
    with pytest.raises(gm.PlatformError, match="Record not found"):
        client.metrics(receipt)


# --------------------------------------------------------------------------- boosts


HUB = gm.Receipt(channel=channel("sasac@social.example"), remote_id="109348219237623478",
                 url=f"{BASE}/@sasac/109348219237623478", raw=status_payload())


def test_can_repost_only_on_the_same_instance_and_a_public_status():
    platform = MastodonPlatform()
    assert platform.can_repost(HUB, channel("cnpc@social.example"))
    assert platform.can_repost(HUB, channel("cnpc@social.example", base="https://SOCIAL.example/"))
    assert not platform.can_repost(HUB, channel("cnpc@other.example", base="https://other.example"))
    private = gm.Receipt(channel=HUB.channel, remote_id="1", raw=status_payload(visibility="private"))
    assert not platform.can_repost(private, channel("cnpc@social.example"))
    webhook = gm.Channel(platform="webhook", account="cms", options={"url": "https://cms.example/h"})
    assert not platform.can_repost(gm.Receipt(channel=webhook, remote_id="x"), channel("cnpc@social.example"))


def test_repost_flow_boosts_and_returns_the_boost():
    boost = status_payload("109348219237699999", reblog=status_payload(), content="",
                           url=f"{BASE}/users/cnpc/statuses/109348219237699999/activity")
    member = channel("cnpc@social.example", visibility="unlisted")
    receipt, (request,) = drive(MastodonPlatform().repost(HUB, member, "k"),
                                lambda step: httpx.Response(200, json=boost))
    assert request.url == httpx.URL(f"{BASE}/api/v1/statuses/109348219237623478/reblog")
    assert json.loads(request.content) == {"visibility": "unlisted"}
    assert is_retry_safe(request)
    assert receipt.remote_id == "109348219237699999"
    assert receipt.channel == member
    assert receipt.url == HUB.url  # a boost has no page of its own


def test_repost_across_instances_is_refused():
    with pytest.raises(gm.ConfigError, match="publish a post with a link"):
        next(MastodonPlatform().repost(HUB, channel("x@other.example", base="https://other.example"), "k"))


def test_deleting_a_boost_undoes_it():
    boost = gm.Receipt(channel=channel("cnpc@social.example"), remote_id="2",
                       raw=status_payload("2", reblog=status_payload()))
    _, (request,) = drive(MastodonPlatform().delete(boost), lambda step: httpx.Response(200, json={}))
    assert (request.method, request.url.path) == ("POST", "/api/v1/statuses/109348219237623478/unreblog")


# --------------------------------------------------------------------------- against the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["mastodon"])


@pytest.fixture
def fake(sandbox):
    return sandbox["mastodon"]


@pytest.fixture
def fake_client(sandbox):
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as c:
        yield c


def run(client, channel_, flow):
    """Run a platform flow through a client's pipeline (what fan-out does for repost)."""
    platform = client._platform(channel_)
    return client._drive(client._pipeline.run_flow(platform, channel_, flow))


def test_a_lost_answer_on_create_is_resent_and_deduplicated(fake, fake_client):
    ch = fake.channel("sasac@sandbox.example")
    fake.inject("timeout_after", path=fake.create_path)
    receipt = fake_client.publish(POST, ch)
    assert len(fake.requests(fake.create_path)) == 2
    posts = fake.posts("sasac@sandbox.example")
    assert len(posts) == 1
    assert posts[0]["id"] == receipt.remote_id
    assert receipt.url == posts[0]["url"]


def test_a_rerun_of_the_same_post_gives_back_the_same_status(fake, fake_client):
    ch = fake.channel("sasac@sandbox.example")
    post = gm.Post(text="招聘数据", media=[CHART])
    first = fake_client.publish(post, ch)
    second = fake_client.publish(post, ch)
    assert first.remote_id == second.remote_id
    assert len(fake.posts()) == 1
    attached = [m for m in fake.media.values() if m.status_id]
    assert len(attached) == 1  # the rerun's upload stays an unattached orphan


def test_media_202_206_200_with_alt_text(fake, fake_client):
    ch = fake.channel("sasac@sandbox.example", poll_interval=0.01)
    fake.processing = 2
    receipt = fake_client.publish(gm.Post(text="招聘数据", media=[CHART]), ch)
    assert [(r.method, r.status) for r in fake.requests(r"^/api/v[12]/media")] == [
        ("POST", 202), ("GET", 206), ("GET", 206), ("GET", 200),
    ]
    (attachment,) = fake.posts()[0]["media_attachments"]
    assert attachment["description"] == "全国国资系统招聘数据"
    assert attachment["url"]
    assert receipt.raw["media_attachments"][0]["id"] == attachment["id"]


def test_media_processing_that_outlasts_poll_timeout_posts_nothing(fake, fake_client):
    ch = fake.channel("sasac@sandbox.example", poll_interval=0.01, poll_timeout=0.03)
    fake.processing = 100
    with pytest.raises(gm.TransientError, match="still processing"):
        fake_client.publish(gm.Post(text="x", media=[CHART]), ch)
    assert fake.posts() == []


def test_a_lost_upload_answer_is_resent_and_only_one_media_is_attached(fake, fake_client):
    ch = fake.channel("sasac@sandbox.example")
    fake.inject("timeout_after", path=r"^/api/v2/media$")
    fake_client.publish(gm.Post(text="x", media=[CHART]), ch)
    assert len(fake.media) == 2
    assert len(fake.posts()[0]["media_attachments"]) == 1


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "busy", "html_error", "truncated"])
def test_faults_on_create_end_with_exactly_one_status(fake, fake_client, kind):
    ch = fake.channel("sasac@sandbox.example")
    fake.inject(kind, path=fake.create_path)
    assert fake_client.publish(POST, ch).state == "published"
    assert len(fake.posts()) == 1


def test_a_revoked_token_posts_nothing(fake, fake_client):
    ch = fake.channel("sasac@sandbox.example")
    fake.inject("token_expired")
    with pytest.raises(gm.AuthError):
        fake_client.publish(POST, ch)
    assert fake.posts() == []


def test_delete_and_metrics(fake, fake_client):
    ch = fake.channel("sasac@sandbox.example")
    receipt = fake_client.publish(POST, ch)
    fake.set_counts(receipt.remote_id, favourites=120, reblogs=35, replies=8)
    metrics = fake_client.metrics(receipt)
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, 120, 35, 8)
    fake_client.delete(receipt)
    assert fake.posts() == []
    fake_client.delete(receipt)  # again: gone already, fine


def test_reblog_on_the_same_instance(fake, fake_client):
    hub = fake.channel("sasac@sandbox.example")
    member = fake.channel("cnpc@sandbox.example")
    original = fake_client.publish(POST, hub)
    platform = MastodonPlatform()
    assert platform.can_repost(original, member)
    boost = run(fake_client, member, platform.repost(original, member, "k"))
    again = run(fake_client, member, platform.repost(original, member, "k"))
    assert boost.remote_id == again.remote_id != original.remote_id
    assert boost.url == original.url
    assert fake_client.metrics(original).shares == 1
    fake_client.delete(boost)
    assert fake_client.metrics(original).shares == 0
    assert [p["id"] for p in fake.posts()] == [original.remote_id]


def test_too_long_in_check_with_the_exact_count(fake, fake_client):
    text = "一带一路看国企" * 70 + " https://example.org/a/1"  # 490 + 1 + 23
    problems = fake_client.check(gm.Post(text=text), fake.channel())
    assert len(problems) == 1
    assert problems[0].code == "too_long"
    assert "text is 514 characters" in problems[0].message
    assert "limit 500: 14 over" in problems[0].message


def test_a_wrong_credential_key_lists_the_valid_keys(fake, fake_client):
    good = fake.channel("sasac@sandbox.example")
    wrong = gm.Channel(platform="mastodon", account=good.account,
                       credentials={"access_token": good.credentials["access_token"], "token": "x"},
                       options=good.options)
    with pytest.raises(gm.ConfigError, match=r"unknown credential.*token; mastodon takes access_token"):
        fake_client.publish(POST, wrong)
    assert fake.log == []


def test_an_instance_with_a_lower_limit_refuses_what_check_let_through(fake, fake_client):
    fake.max_characters = 10
    with pytest.raises(gm.ContentRejected, match="character limit of 10 exceeded"):
        fake_client.publish(gm.Post(text="国" * 11), fake.channel())


@pytest.mark.anyio
async def test_async_against_the_fake(sandbox, fake):
    ch = fake.channel("sasac@sandbox.example", poll_interval=0.01)
    fake.processing = 1
    fake.inject("timeout_after", path=fake.create_path)
    async with gm.AsyncClient(http=sandbox.async_client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = await client.publish(gm.Post(text="招聘数据", media=[CHART]), ch)
        assert (await client.metrics(receipt)).likes == 0
        await client.delete(receipt)
    assert fake.posts() == []
    assert re.fullmatch(r"\d+", receipt.remote_id)
