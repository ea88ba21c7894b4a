"""The Matrix chat platform: text and HTML, checks, uploads, events and txnIds, errors, redactions, recovery.

respx tests answer with payloads shaped as shared/platforms/matrix_chat.md
shows them (``{"event_id"}``, ``{"content_uri"}``, ``{"errcode", "error"}``);
where the sheet is silent (``/messages``, ``/account/whoami``) as the spec and
Synapse 1.163 answer (shared/servers.md). The tests at the bottom run
through `gm.Client` against `FakeMatrixChat`; tests/integration/ does the same
against a real Synapse.
"""

import json
import time
from urllib.parse import quote

import anyio
import httpx
import pytest
import respx

import govmedia as gm
from govmedia._pipeline import derive_key
from govmedia.platforms.matrix_chat import (
    MARKER,
    TXN_WINDOW,
    MatrixChatPlatform,
    chat_text,
    matrix_to,
    txn_id,
)
from govmedia.platforms.steps import Doubt
from govmedia.testing import Sandbox
from govmedia.testing.samples import CHART_PNG

BASE = "https://matrix.example"
ROOM = "!news:matrix.example"
ROOM_PATH = quote(ROOM, safe="")
TOKEN = "syt_c2FzYWM_sEcReTtOkEn_0abcde"
ACCOUNT = "@sasac:matrix.example"
SEND = rf"/_matrix/client/v3/rooms/{ROOM_PATH}/send/m\.room\.message/(?P<txn>[^/]+)"
FAST = gm.RetryPolicy.testing()
LAX = {"matrix_chat:*": gm.RateLimit(1000)}


def channel(**options):
    return gm.Channel(platform="matrix_chat", account=ACCOUNT, credentials={"access_token": TOKEN},
                      options={"base_url": BASE, "room_id": ROOM, **options})


def key_of(post, ch=None):
    return derive_key(post.key, "matrix_chat", (ch or channel()).account)


def err(status, errcode, error, headers=None, **extra):
    return httpx.Response(status, json={"errcode": errcode, "error": error, **extra}, headers=headers)


def chart(alt="客货运量柱状图"):
    return gm.Media.from_bytes(CHART_PNG, filename="chart.png", alt=alt)


class Events:
    """A send endpoint that numbers events and answers a repeated txnId with its first event."""

    def __init__(self):
        self.by_txn, self.calls = {}, []

    def __call__(self, request, txn):
        self.calls.append((txn, json.loads(request.content)))
        event = self.by_txn.setdefault(txn, f"$event{len(self.by_txn) + 1}")
        return httpx.Response(200, json={"event_id": event})


@pytest.fixture
def api():
    with respx.mock(base_url=BASE, assert_all_called=False) as mock:
        events = Events()
        mock.put(url__regex=BASE + SEND, name="send").mock(side_effect=events)
        mock.post("/_matrix/media/v3/upload", name="upload").mock(
            return_value=httpx.Response(200, json={"content_uri": "mxc://matrix.example/AQwafuaFswefuhsfAFAgsw"}))
        mock.events = events
        yield mock


@pytest.fixture
def client():
    with gm.Client(http=httpx.Client(), retry=FAST, rate_limits=LAX, journal=False) as c:
        yield c


# --------------------------------------------------------------------------- description


def test_registered_with_its_capabilities():
    cls = gm.platforms.get("matrix_chat")
    assert cls is MatrixChatPlatform
    caps = cls.capabilities
    assert (caps.delete, caps.metrics, caps.repost, caps.dedupe, caps.reconcile, caps.refresh) == (
        True, True, False, True, True, False)
    assert caps.dedupe_window == TXN_WINDOW == 24 * 3600
    assert cls.credential_keys == ("access_token",) and cls.optional_credential_keys == ()
    assert cls.required_options == ("base_url", "room_id")
    assert cls.tag_style == "none"
    assert cls.fake == "govmedia.testing.matrix_chat:FakeMatrixChat"
    limit = cls.default_rate_limits["matrix_chat:*"]
    assert (limit.per_second, limit.capacity) == (0.2, 10)  # Synapse's default rc_message


def test_the_txn_id_is_the_key_and_the_part():
    assert txn_id("gm-abc", 0) == "gm-abc.0"
    assert matrix_to("!ab:m.example", "$ev:x", None) == "https://matrix.to/#/!ab%3Am.example/%24ev%3Ax"


@pytest.mark.parametrize(("options", "words"), [
    ({"base_url": BASE}, "missing option(s) room_id"),
    ({"base_url": BASE, "room_id": "#news:matrix.example"}, "not an alias"),
    ({"base_url": BASE, "room_id": "news"}, "a room ID like"),
    ({"base_url": "matrix.example", "room_id": ROOM}, "base_url"),
    ({"base_url": BASE, "room_id": ROOM, "msgtype": "m.emote"}, "m.text, m.notice"),
])
def test_unusable_channels_are_config_errors(options, words):
    ch = gm.Channel(platform="matrix_chat", account=ACCOUNT, credentials={"access_token": TOKEN},
                    options=options)
    with pytest.raises(gm.ConfigError) as info:
        gm.Client().check(gm.Post(text="x"), ch)
    assert words in str(info.value)
    assert TOKEN not in str(info.value)


# --------------------------------------------------------------------------- the text


def test_markdown_goes_out_as_sanitized_html_and_plain_text_stays_plain():
    plain = chat_text(gm.Post(text="国资小新：今日发布 https://example.org/a/1", tags=("央企",)))
    assert plain.content() == {"msgtype": "m.text", "body": "国资小新：今日发布 https://example.org/a/1"}
    rich = chat_text(gm.Post(text="**央企** [详情](javascript:alert(1)) <img src=x onerror=alert(1)> "
                                  "![图](https://x.org/c.png)"))
    assert rich.body.startswith("**央企**")  # the Markdown as written, as Element sends it
    assert rich.formatted_body == (
        "<strong>央企</strong> [详情](javascript:alert(1)) &lt;img src=x onerror=alert(1)&gt; "
        '<a href="https://x.org/c.png">图</a>')
    assert "<p>" not in rich.formatted_body  # a lone paragraph is not wrapped


def test_the_post_s_format_decides_and_a_body_alone_goes_in_its_own():
    assert chat_text(gm.Post(text="**不是粗体**", body="x", body_format="text")).formatted_body is None
    listed = chat_text(gm.Post(body="## 微招聘\n\n- 北京\n- 上海"))
    assert listed.formatted_body == "<h2>微招聘</h2>\n<ul>\n<li>北京</li>\n<li>上海</li>\n</ul>"
    page = chat_text(gm.Post(body='<h2>通知</h2><p style="x" onclick="y()">正文<script>z()</script></p>',
                             body_format="html"))
    assert (page.body, page.formatted_body) == ("通知\n正文", "<h2>通知</h2><p>正文</p>")
    pictured = chat_text(gm.Post(body='<p>图表<img src="https://x.org/c.png" alt="客货运量" onerror="x()"></p>'
                                      '<img src="javascript:alert(1)">', body_format="html"))
    assert pictured.formatted_body == '<p>图表<a href="https://x.org/c.png">客货运量</a></p><a>javascript:alert(1)</a>'
    titled = chat_text(gm.Post(title="一带一路看国企", summary="中老铁路", link="https://example.org/a/1",
                               body="# 长文"))
    assert titled.body == "一带一路看国企\n\n中老铁路\n\nhttps://example.org/a/1"


# --------------------------------------------------------------------------- checks


def rules_of(post, ch=None):
    return [(p.code, p.rule) for p in gm.Client().check(post, ch or channel())]


def test_the_event_size_counts_the_html_too():
    # The 65,536-byte event limit is marked unverified on the fact sheet; Synapse
    # 1.163 answers a larger event 413 "event too large" (the integration tests).
    assert rules_of(gm.Post(text="国" * 19_900)) == []  # 59,700 bytes of body
    [problem] = gm.Client().check(gm.Post(text="国" * 20_001), channel())
    assert problem.rule == "matrix_chat.text.max_bytes"
    assert "60,000" in problem.message
    # As plain text it fits; as Markdown its HTML doubles it.
    bold = "**国**" * 8_000
    assert len(bold.encode()) < 60_000
    assert rules_of(gm.Post(text=bold)) == [("too_long", "matrix_chat.text.max_bytes")]


def test_files_over_the_upload_limit_and_an_empty_message():
    big = gm.Media.from_url("https://cdn.example/v.mp4", size=50 * 1024 * 1024 + 1)
    assert rules_of(gm.Post(text="x", media=[big])) == [("bad_media", "matrix_chat.media.max_size")]
    assert rules_of(gm.Post(text="x", media=[big]), channel(max_upload_size=100 * 1024 * 1024)) == []
    assert rules_of(gm.Post(body="<p></p>", body_format="html")) == [("empty", "matrix_chat.text.not_empty")]
    assert rules_of(gm.Post(body="<p></p>", body_format="html", media=[chart()])) == []


# --------------------------------------------------------------------------- publish


def test_publish_sends_one_event_under_the_txn_id_of_the_key(api, client):
    post = gm.Post(text="**国资小新** 今日发布")
    receipt = client.publish(post, channel())
    [request] = [c.request for c in api["send"].calls]
    txn = txn_id(key_of(post), 0)
    # Room id and txnId are percent-encoded in the path (sheet: "URL-encode roomId and txnId").
    assert request.url.raw_path.decode() == (
        f"/_matrix/client/v3/rooms/%21news%3Amatrix.example/send/m.room.message/{txn}")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "access_token" not in str(request.url)
    assert json.loads(request.content) == {
        "msgtype": "m.text", "body": "**国资小新** 今日发布", "format": "org.matrix.custom.html",
        "formatted_body": "<strong>国资小新</strong> 今日发布", MARKER: txn,
    }
    assert receipt.remote_id == "$event1"
    assert receipt.url == "https://matrix.to/#/!news%3Amatrix.example/%24event1?via=matrix.example"
    assert dict(receipt.raw) == {"room_id": ROOM, "event_ids": ["$event1"]}


def test_media_are_uploaded_first_then_sent_one_event_each(api, client):
    post = gm.Post(text="中老铁路开通一周年", media=[chart(), gm.Media.from_bytes(
        b"%PDF-1.7\n" + b"0" * 40, filename="report.pdf")])
    receipt = client.publish(post, channel(msgtype="m.notice"))
    order = [c.request.method for c in api.calls]
    assert order == ["POST", "POST", "PUT", "PUT", "PUT"]  # every upload before the first event
    upload = api["upload"].calls[0].request
    assert upload.url.params["filename"] == "chart.png"
    assert upload.headers["Content-Type"] == "image/png" and upload.content == CHART_PNG
    key = key_of(post)
    sent = api.events.calls
    assert [txn for txn, _ in sent] == [txn_id(key, 0), txn_id(key, 1), txn_id(key, 2)]
    assert sent[0][1]["msgtype"] == "m.notice"
    assert sent[1][1] == {"msgtype": "m.image", "body": "客货运量柱状图",
                          "url": "mxc://matrix.example/AQwafuaFswefuhsfAFAgsw",
                          "info": {"mimetype": "image/png", "size": len(CHART_PNG), "w": 64, "h": 36},
                          MARKER: txn_id(key, 1)}
    assert (sent[2][1]["msgtype"], sent[2][1]["body"]) == ("m.file", "report.pdf")
    assert receipt.remote_id == "$event1" and receipt.raw["event_ids"] == ["$event1", "$event2", "$event3"]


def test_a_media_only_post_starts_at_part_zero(api, client):
    post = gm.Post(media=[chart(alt=None)])
    client.publish(post, channel())
    [(txn, content)] = api.events.calls
    assert txn == txn_id(key_of(post), 0) and content["body"] == "chart.png"


def test_each_file_goes_out_as_the_msgtype_of_its_kind(api, client):
    mp4 = gm.Media.from_bytes(b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + bytes(40), filename="clip.mp4")
    m4a = gm.Media.from_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00" + bytes(40), filename="talk.m4a")
    client.publish(gm.Post(media=[mp4, m4a]), channel())
    assert [(c["msgtype"], c["info"]["mimetype"]) for _, c in api.events.calls] == [
        ("m.video", "video/mp4"), ("m.audio", "audio/mp4")]
    api["upload"].mock(side_effect=[httpx.Response(200, json={"content_uri": "mxc://matrix.example/a"}),
                                    err(413, "M_TOO_LARGE", "Upload request body is too large")])
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(gm.Post(media=[mp4, m4a], key="another"), channel())
    assert str(info.value).count("media 2 (talk.m4a)") == 1
    assert info.value.code == "M_TOO_LARGE"


@pytest.mark.parametrize("failure", [
    err(500, "M_UNKNOWN", "Internal server error"),
    httpx.ReadTimeout("the answer was lost"),
    httpx.Response(502, text="<html>Bad Gateway</html>"),
])
def test_a_send_that_may_have_landed_is_resent_under_the_same_txn_id(api, client, failure):
    events = api.events

    def flaky(request, txn):
        if not events.calls:
            events(request, txn)  # applied...
            if isinstance(failure, Exception):
                raise failure
            return failure  # ...and the answer lost or spoilt
        return events(request, txn)

    api["send"].mock(side_effect=flaky)
    receipt = client.publish(gm.Post(text="一"), channel())
    first, second = api.events.calls
    assert first[0] == second[0]  # the same txnId: the homeserver dedupes
    assert receipt.remote_id == "$event1" and len(api.events.by_txn) == 1


def test_the_homeserver_s_wait_is_honoured_retry_after_first():
    # The sheet: Retry-After first (spec 1.10), else retry_after_ms, which it marks
    # unverified for the newest Synapse; 1.163.2 sends both (tests/integration).
    platform = MatrixChatPlatform()
    request = httpx.Request("PUT", f"{BASE}/_matrix/client/v3/rooms/x/send/m.room.message/t")
    both = err(429, "M_LIMIT_EXCEEDED", "Too Many Requests", {"Retry-After": "5"}, retry_after_ms=4042)
    body_only = err(429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=4042)
    for answer in (both, body_only):
        answer.request = request
    assert platform.classify(both, channel()).retry_after == 5
    limited = platform.classify(body_only, channel())
    assert type(limited) is gm.RateLimited and limited.retry_after == pytest.approx(4.042)
    assert "override_ratelimit" in limited.hint


def test_a_rate_limit_outlasting_the_retry_policy_is_waited_out_up_to_the_option(api):
    limited = err(429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=10)
    api["send"].mock(side_effect=[limited, limited, limited, httpx.Response(200, json={"event_id": "$e"})])
    one_try = gm.RetryPolicy.testing(attempts=1)
    with gm.Client(http=httpx.Client(), retry=one_try, rate_limits=LAX, journal=False) as client:
        assert client.publish(gm.Post(text="一"), channel()).remote_id == "$e"
        api["send"].mock(side_effect=[limited] * 3)
        with pytest.raises(gm.RateLimited):
            client.publish(gm.Post(text="二"), channel(rate_limit_wait=0.015))


def test_a_homeserver_that_always_says_now_cannot_hold_a_delivery_forever(api):
    api["send"].mock(return_value=err(429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=0))
    one_try = gm.RetryPolicy.testing(attempts=1)
    with gm.Client(http=httpx.Client(), retry=one_try, rate_limits=LAX, journal=False) as client:
        began = time.monotonic()
        with pytest.raises(gm.RateLimited):
            client.publish(gm.Post(text="一"), channel(rate_limit_wait=3))
    assert api["send"].call_count == 5  # each round counts at least a second of the 3
    assert time.monotonic() - began < 1


def test_a_refused_token_says_to_log_in_again_with_the_same_device(api, client):
    api["send"].mock(return_value=err(401, "M_UNKNOWN_TOKEN", "Access token has expired", soft_logout=True))
    with pytest.raises(gm.AuthError) as info:
        client.publish(gm.Post(text="一"), channel())
    assert "device_id" in info.value.hint and api["send"].call_count == 1  # nothing to refresh
    assert TOKEN not in str(info.value)


def test_forbidden_means_join_the_room_when_sending_and_a_refused_file_when_uploading(api, client):
    api["send"].mock(return_value=err(403, "M_FORBIDDEN", f"User {ACCOUNT} not in room {ROOM}"))
    with pytest.raises(gm.PlatformError) as info:
        client.publish(gm.Post(text="一"), channel())
    assert type(info.value) is gm.PlatformError and "join" in info.value.hint
    api["upload"].mock(return_value=err(403, "M_FORBIDDEN", "Media type not allowed"))
    with pytest.raises(gm.ContentRejected) as info:
        client.publish(gm.Post(text="二", media=[chart()]), channel())
    assert "media 1 (chart.png)" in str(info.value) and "type" in info.value.hint


@pytest.mark.parametrize(("answer", "kind"), [
    (err(401, "M_UNKNOWN_TOKEN", "Invalid access token passed.", soft_logout=False), gm.AuthError),
    (err(401, "M_MISSING_TOKEN", "Missing access token"), gm.AuthError),
    (err(429, "M_LIMIT_EXCEEDED", "Too Many Requests", retry_after_ms=2000), gm.RateLimited),
    (err(500, "M_UNKNOWN", "Internal server error"), gm.TransientError),
    (err(403, "M_RESOURCE_LIMIT_EXCEEDED", "Monthly Active User Limit Exceeded",
         admin_contact="mailto:a@b", limit_type="monthly_active_user"), gm.TransientError),
    (err(400, "M_BAD_JSON", "Content not JSON."), gm.ContentRejected),
    (err(400, "M_NOT_JSON", "Content not JSON."), gm.ContentRejected),
    (err(400, "M_INVALID_PARAM", "Invalid param"), gm.ContentRejected),
    (err(400, "M_MISSING_PARAM", "Missing param"), gm.ContentRejected),
    (err(400, "M_DUPLICATE_ANNOTATION", "Can't send same reaction twice"), gm.ContentRejected),
    (err(413, "M_TOO_LARGE", "Upload request body is too large"), gm.ContentRejected),
    (err(403, "M_FORBIDDEN", "You don't have permission to post that to the room."), gm.PlatformError),
    (err(404, "M_NOT_FOUND", "Event not found."), gm.PlatformError),
    (err(404, "M_UNRECOGNIZED", "Unrecognized request"), gm.PlatformError),
    (err(403, "M_USER_DEACTIVATED", "This account has been deactivated"), gm.PlatformError),
    (err(401, "M_USER_LOCKED", "This account has been locked"), gm.PlatformError),
    (err(403, "M_USER_SUSPENDED", "This account has been suspended"), gm.PlatformError),
    (err(403, "M_USER_LIMIT_EXCEEDED", "Quota exceeded", info_uri="https://x"), gm.PlatformError),
])
def test_every_code_on_the_sheet_maps_to_the_tree(answer, kind):
    answer.request = httpx.Request("PUT", f"{BASE}/_matrix/client/v3/rooms/x/send/m.room.message/t")
    error = MatrixChatPlatform().classify(answer, channel())
    assert type(error) is kind
    assert error.code == answer.json()["errcode"]
    if error.code != "M_UNKNOWN":  # judged by its HTTP status, as the sheet says
        assert error.hint


def test_m_unknown_is_judged_by_the_status_and_a_5xx_may_have_landed():
    platform = MatrixChatPlatform()
    request = httpx.Request("PUT", f"{BASE}/_matrix/client/v3/rooms/x/send/m.room.message/t")
    for status, kind, applied in ((500, gm.TransientError, True), (400, gm.ContentRejected, False)):
        answer = err(status, "M_UNKNOWN", "'msgtype' not in content")
        answer.request = request
        error = platform.classify(answer, channel())
        assert type(error) is kind and error.maybe_applied is applied


def test_too_large_points_at_the_rule_of_what_was_too_large():
    table = MatrixChatPlatform.errors
    assert table.entry("M_TOO_LARGE", 413, "event too large").rule == "matrix_chat.text.max_bytes"
    assert table.entry("M_TOO_LARGE", 413, "Upload request body is too large").rule == (
        "matrix_chat.media.max_size")


def test_a_file_over_the_limit_or_not_what_it_says_is_refused_before_anything_is_sent(api, client, tmp_path):
    with pytest.raises(gm.ValidationError) as info:  # its size is known: check() refuses it
        client.publish(gm.Post(text="x", media=[chart()]), channel(max_upload_size=100))
    assert info.value.problems[0].rule == "matrix_chat.media.max_size"
    api.get("https://cdn.example/chart.png").mock(return_value=httpx.Response(200, content=CHART_PNG))
    with pytest.raises(gm.ContentRejected) as info:  # known only once downloaded
        client.publish(gm.Post(text="x", media=[gm.Media.from_url("https://cdn.example/chart.png")]),
                       channel(max_upload_size=100))
    assert "over 100 bytes" in str(info.value)
    fake = tmp_path / "chart.png"
    fake.write_bytes(b"<html>not a picture</html>")
    with pytest.raises(gm.ValidationError):
        client.publish(gm.Post(text="y", media=[gm.Media.from_path(fake)]), channel())
    assert [c.request.url.host for c in api.calls] == ["cdn.example"]


def test_an_upload_that_fails_leaves_nothing_posted(api, client):
    api["upload"].mock(return_value=err(502, "M_UNKNOWN", "Bad gateway"))
    with pytest.raises(gm.TransientError) as info:
        client.publish(gm.Post(text="x", media=[chart()]), channel())
    assert type(info.value) is gm.TransientError and "media 1 (chart.png)" in str(info.value)
    assert api["upload"].call_count == FAST.attempts and api["send"].call_count == 0


def test_a_failure_after_the_first_event_is_unknown_with_the_events_sent(api, client):
    events = api.events

    def image_refused(request, txn):
        if txn.endswith(".1"):
            return err(403, "M_FORBIDDEN", "You don't have permission to post that to the room.")
        return events(request, txn)

    api["send"].mock(side_effect=image_refused)
    with pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(gm.Post(text="一", media=[chart()]), channel())
    assert info.value.known["event_ids"] == ["$event1"] and info.value.known["room_id"] == ROOM


# --------------------------------------------------------------------------- delete, metrics


def test_delete_redacts_every_event_and_gone_is_fine(client):
    receipt = gm.Receipt(channel=channel(), remote_id="$t", raw={"room_id": ROOM, "event_ids": ["$t", "$i"]})
    with respx.mock(base_url=BASE) as mock:
        redact = mock.put(url__regex=rf"{BASE}/_matrix/client/v3/rooms/{ROOM_PATH}/redact/.*").mock(
            side_effect=[httpx.Response(200, json={"event_id": "$r1"}), err(404, "M_NOT_FOUND", "Not found")])
        client.delete(receipt)
    paths = [c.request.url.raw_path.decode() for c in redact.calls]
    assert [p.split("/")[-2] for p in paths] == ["%24i", "%24t"]  # the media first, the text last
    assert all(p.split("/")[-1].startswith("gm-redact-") for p in paths)
    assert json.loads(redact.calls[0].request.content) == {}


def test_a_receipt_settled_by_hand_redacts_its_one_event_in_the_channel_s_room(client):
    receipt = gm.Receipt(channel=channel(), remote_id="$only")
    with respx.mock(base_url=BASE) as mock:
        redact = mock.put(url__regex=rf"{BASE}/_matrix/client/v3/rooms/{ROOM_PATH}/redact/%24only/.*").mock(
            return_value=httpx.Response(200, json={"event_id": "$r"}))
        client.delete(receipt)
    assert redact.call_count == 1


def test_metrics_are_none_and_cost_no_request(client):
    with respx.mock(base_url=BASE) as mock:
        metrics = client.metrics(gm.Receipt(channel=channel(), remote_id="$t"))
    assert (metrics.views, metrics.likes, metrics.shares, metrics.comments) == (None, None, None, None)
    assert not mock.calls


# --------------------------------------------------------------------------- recover


WHOAMI = {"user_id": ACCOUNT, "device_id": "GOVMEDIABOT", "is_guest": False}


def event(event_id, marker=None, *, sender=ACCOUNT, ts=None):
    content = {"msgtype": "m.text", "body": "…"}
    if marker:
        content[MARKER] = marker
    return {"event_id": event_id, "room_id": ROOM, "sender": sender, "type": "m.room.message",
            "content": content, "origin_server_ts": ts or int(time.time() * 1000), "unsigned": {}}


def drive(flow, answer):
    """Run a sans-I/O flow by hand; *answer(request)* gives each response (an error one is raised in)."""
    platform, value, error, requests = MatrixChatPlatform(), None, None, []
    try:
        while True:
            step = flow.throw(error) if error is not None else flow.send(value)
            value = error = None
            if isinstance(step, httpx.Request):
                requests.append(step)
                value = answer(step)
                value.request = step
                error = platform.classify(value, channel())
    except StopIteration as stop:
        return stop.value, requests


def room_answers(pages, sent=None):
    """whoami, then each page of /messages in turn, and sends numbered."""
    pages = list(pages)

    def answer(request):
        path = request.url.path
        if path.endswith("/whoami"):
            return httpx.Response(200, json=WHOAMI)
        if path.endswith("/messages"):
            return httpx.Response(200, json=pages.pop(0))
        if "/send/" in path:
            sent.append(path.rsplit("/", 1)[1])
            return httpx.Response(200, json={"event_id": f"$new{len(sent)}"})
        return httpx.Response(200, json={"content_uri": "mxc://matrix.example/x"})

    return answer


def test_recover_sends_only_the_parts_the_room_does_not_show():
    post = gm.Post(text="一", media=[chart()])
    key = key_of(post)
    sent = []
    page = {"chunk": [event("$text", txn_id(key, 0)), event("$forged", txn_id(key, 1), sender="@eve:x")],
            "start": "s1"}  # the start of the room: nothing older to look at
    receipt, requests = drive(MatrixChatPlatform().recover(post, channel(), key, Doubt(age=30)),
                              room_answers([page], sent))
    assert sent == [txn_id(key, 1)]  # the text is there; another member's copy of the marker is not ours
    assert receipt.raw["event_ids"] == ["$text", "$new1"]
    params = next(r for r in requests if r.url.path.endswith("/messages")).url.params
    assert params["dir"] == "b"
    assert json.loads(params["filter"]) == {"types": ["m.room.message"], "senders": [ACCOUNT]}


def test_recover_finds_nothing_for_sure_at_the_room_s_start_or_past_the_first_attempt():
    post = gm.Post(text="一")
    key = key_of(post)
    start_of_room = {"chunk": [event("$other", "gm-else.0")], "start": "s1"}
    found, _ = drive(MatrixChatPlatform().recover(post, channel(), key, Doubt(age=None)),
                     room_answers([start_of_room]))
    assert found is None
    hour_ago = int((time.time() - 3600) * 1000)
    older = {"chunk": [event("$old", ts=hour_ago)], "start": "s1", "end": "s2"}
    found, _ = drive(MatrixChatPlatform().recover(post, channel(), key, Doubt(age=60)), room_answers([older]))
    assert found is None


def test_recover_resends_within_the_window_but_not_after_it_when_the_room_cannot_tell():
    post = gm.Post(text="一")
    key = key_of(post)
    endless = [{"chunk": [event(f"$e{i}")], "start": f"s{i}", "end": f"s{i + 1}"} for i in range(5)]
    sent = []
    receipt, _ = drive(MatrixChatPlatform().recover(post, channel(), key, Doubt(age=60)),
                       room_answers(endless, sent))
    assert sent == [txn_id(key, 0)] and receipt.remote_id == "$new1"
    with pytest.raises(gm.DeliveryUnknown) as info:
        drive(MatrixChatPlatform().recover(post, channel(), key, Doubt(age=TXN_WINDOW)),
              room_answers(endless, sent))
    assert info.value.known["room_id"] == ROOM and len(sent) == 1


def test_recover_with_every_event_known_sends_nothing():
    post = gm.Post(text="一")
    doubt = Doubt(state="unknown", stage="sent", data={"room_id": ROOM, "event_ids": ["$text"]}, age=9e9)
    receipt, requests = drive(MatrixChatPlatform().recover(post, channel(), key_of(post), doubt),
                              room_answers([]))
    assert receipt.remote_id == "$text" and requests == []


# --------------------------------------------------------------------------- rate scopes


def test_channels_of_one_token_share_a_rate_scope_that_names_no_secret():
    platform = MatrixChatPlatform()
    one = platform.rate_scopes(channel())
    other_room = gm.Channel(platform="matrix_chat", account="@sasac:matrix.example/jobs",
                            credentials={"access_token": TOKEN}, options={"base_url": BASE, "room_id": "!jobs:x"})
    other_bot = gm.Channel(platform="matrix_chat", account="@cnpc:matrix.example",
                           credentials={"access_token": "syt_other"}, options={"base_url": BASE, "room_id": ROOM})
    assert platform.rate_scopes(other_room) == one != platform.rate_scopes(other_bot)
    assert TOKEN not in one[0]


# --------------------------------------------------------------------------- through the fake


@pytest.fixture
def sandbox():
    return Sandbox(platforms=["matrix_chat"])


def test_publish_through_the_fake_on_both_clients_and_read_back(sandbox):
    fake = sandbox["matrix_chat"]
    ch = fake.channel("@sasac:sandbox.govmedia.test")
    post = gm.Post(text="中老铁路开通一周年 **850 万人次**", media=[chart()])

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client(), retry=FAST) as client:
            return await client.publish(gm.Post(text="异步发布"), ch)

    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        receipt = client.publish(post, ch)
    anyio.run(main)
    first, second = fake.posts(ch.account)
    text, image = first["events"]
    assert text["event_id"] == receipt.remote_id and text["content"]["formatted_body"].endswith(
        "<strong>850 万人次</strong>")
    assert fake.media_bytes(image["content"]["url"]) == CHART_PNG
    assert second["content"]["body"] == "异步发布"
    mxc = image["content"]["url"].removeprefix("mxc://")
    with sandbox.client() as http:
        auth = {"Authorization": f"Bearer {ch.credentials['access_token']}"}
        assert http.get(f"{fake.base_url}/_matrix/client/v1/media/download/{mxc}", headers=auth).content == CHART_PNG
        assert http.get(f"{fake.base_url}/_matrix/media/v3/download/{mxc}").status_code == 404
    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        client.delete(receipt)
    assert [p["content"]["body"] for p in fake.posts(ch.account)] == ["异步发布"]


def test_a_lost_media_event_is_finished_by_a_journal_backed_rerun_without_a_second_text(sandbox, tmp_path):
    fake = sandbox["matrix_chat"]
    ch = fake.channel("@sasac:sandbox.govmedia.test")
    post = gm.Post(text="中央企业招聘季", media=[chart()])
    fake.inject("server_error", path=r"/send/m\.room\.message/.*\.1$", times=FAST.attempts)
    with gm.Client(http=sandbox.client(), journal=tmp_path / "j.db", retry=FAST) as client:
        first = client.fan_out(post, [ch])
        # The bot logged in again in between: a new device, for which the txnIds are new.
        ch = gm.Channel(platform="matrix_chat", account=ch.account, options=ch.options,
                        credentials={"access_token": fake.login(ch.account)})
        second = client.fan_out(post, [ch])
        third = client.fan_out(post, [ch])
    assert first.deliveries[0].state == "unknown"
    assert len(first.deliveries[0].error.known["event_ids"]) == 1
    assert (second.deliveries[0].state, third.deliveries[0].state) == ("published", "skipped")
    [published] = fake.posts(ch.account)
    assert [e["content"]["msgtype"] for e in published["events"]] == ["m.text", "m.image"]
    sends = [r for r in fake.requests(fake.create_path) if r.status == 200]
    assert len(sends) == 2  # one text, one image: the re-run looked before sending


def test_a_timeout_after_the_send_is_resent_and_deduplicated_by_the_server(sandbox):
    fake = sandbox["matrix_chat"]
    ch = fake.channel()
    fake.inject("timeout_after", path=fake.create_path)
    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        receipt = client.publish(gm.Post(text="一"), ch)
    assert len(fake.requests(fake.create_path)) == 2
    [post] = fake.posts(ch.account)
    assert post["event_id"] == receipt.remote_id


def test_fan_out_to_rooms_and_bots_and_amplify_posts_a_link(sandbox):
    fake = sandbox["matrix_chat"]
    hub = fake.channel("@sasac:sandbox.govmedia.test")
    shared = fake.room().room_id
    members = [fake.channel(f"@{n}:sandbox.govmedia.test", room_id=shared) for n in ("cnpc", "sinopec")]
    with gm.Client(http=sandbox.client(), retry=FAST) as client:
        report = client.fan_out(gm.Post(text="一带一路看国企"), gm.Matrix(hub=hub, members=members),
                                mode="amplify")
    assert report.ok
    hub_url = report.deliveries[0].receipt.url
    assert all(hub_url in p["content"]["body"] for m in members for p in fake.posts(m.account))
    assert len(fake.timeline(shared)) == 2


def test_the_homeserver_s_rate_limit_is_met_and_no_delivery_fails(sandbox):
    fake = sandbox["matrix_chat"]
    fake.enforce_limits = True
    fake.rc_message = (50.0, 3)  # Synapse's arithmetic, faster: bursts of 3, 50 a second
    bot = fake.channel("@sasac:sandbox.govmedia.test")
    rooms = [fake.room(bot.account).room_id for _ in range(8)]
    channels = [gm.Channel(platform="matrix_chat", account=f"{bot.account}/{i}", credentials=bot.credentials,
                           options={**bot.options, "room_id": room}) for i, room in enumerate(rooms)]
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy(attempts=2, wait_jitter=0),
                   rate_limits=LAX, concurrency=8) as client:
        report = client.fan_out(gm.Post(text="限流"), channels)
    assert report.ok, report.summary()
    assert any(r.status == 429 for r in fake.requests(fake.create_path))
    assert all(len(fake.timeline(room)) == 1 for room in rooms)


def test_no_secret_reaches_a_log_record_or_an_error(sandbox, caplog_all):
    fake = sandbox["matrix_chat"]
    ch = fake.channel()
    fake.inject("token_expired", path=fake.create_path)
    with gm.Client(http=sandbox.client(), retry=FAST) as client, pytest.raises(gm.AuthError) as info:
        client.publish(gm.Post(text="一"), ch)
    text = caplog_all.text + str(info.value) + repr(info.value)
    assert ch.credentials["access_token"] not in text
