"""The Telegram platform: text, checks, each send method, errors, the token in the path, forwards.

respx tests answer with payloads shaped as shared/platforms/telegram.md shows
them (``{"ok": true, "result": Message}``, ``{"ok": false, "error_code",
"description", "parameters"}``); the end-to-end tests at the bottom run
through `gm.Client` against `FakeTelegram`.
"""

import json
import logging
import pickle
import struct

import httpx
import pytest

import govmedia as gm
from govmedia import client as client_module
from govmedia.platforms.base import Doubt
from govmedia.platforms.telegram import TelegramPlatform, message_html
from govmedia.testing import Sandbox, parse_multipart

API = "https://api.telegram.org"
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SECRET = TOKEN.partition(":")[2]
CHAT = -1001234567890
PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 640, 360) + bytes(40)
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + bytes(64)
MB = 1024 * 1024
POST = gm.Post(text="央企招聘季开始了", tags=("微招聘",))


def channel(account="@sasac_news", token=TOKEN, **options):
    return gm.Channel(platform="telegram", account=account, credentials={"bot_token": token},
                      options={"chat_id": CHAT, **options})


def chat(username="sasac_news", chat_id=CHAT):
    found = {"id": chat_id, "title": "国资小新", "type": "channel"}
    if username:
        found["username"] = username
    return found


def message(message_id=42, *, username="sasac_news", chat_id=CHAT, **content):
    """A Message as the send methods return it (channel post)."""
    return {"message_id": message_id, "sender_chat": chat(username, chat_id),
            "chat": chat(username, chat_id), "date": 1718150400, **content}


def ok(result):
    return httpx.Response(200, json={"ok": True, "result": result})


def refused(status, description, **parameters):
    body = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return httpx.Response(status, json=body)


def png(width=640, height=360):
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", width, height) + bytes(40)


def photo(name="chart.png", data=PNG, **kw):
    return gm.Media.from_bytes(data, filename=name, **kw)


@pytest.fixture
def client():
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy.testing()) as c:
        yield c


def sent_json(route, index=-1):
    return json.loads(route.calls[index].request.content)


def sent_form(route, index=-1):
    return parse_multipart(route.calls[index].request)


# --------------------------------------------------------------------------- the text


def test_text_is_escaped_html_with_tags_added_once():
    post = gm.Post(text="国资 <小新> & #央企 发布", tags=("央企", "一带 一路", "2024"))
    assert message_html(post) == "国资 &lt;小新&gt; &amp; #央企 发布\n\n#一带一路"


def test_without_text_title_summary_and_link_else_the_body():
    post = gm.Post(title="微招聘", summary="中国石化招聘", link="https://example.org/j?a=1&b=2")
    assert message_html(post) == "<b>微招聘</b>\n\n中国石化招聘\n\nhttps://example.org/j?a=1&amp;b=2"
    body = gm.Post(body="# 通知\n\n**中国石化** [详情](https://example.org/j)\n\n<script>x()</script>")
    assert message_html(body) == ('<b>通知</b>\n\n<b>中国石化</b> <a href="https://example.org/j">详情</a>'
                                  "\n\n&lt;script&gt;x()&lt;/script&gt;")


def test_the_text_uses_only_telegrams_tags():
    post = gm.Post(body='<h1>标题</h1><p onclick="x()">正文<iframe src="https://x"></iframe>'
                        '<a href="javascript:alert(1)">链接</a></p>', body_format="html")
    assert message_html(post) == "<b>标题</b>\n\n正文链接"


# --------------------------------------------------------------------------- channels


def test_channel_keys_and_options():
    check = gm.Client().check
    assert check(POST, channel()) == []
    assert check(POST, channel(chat_id="@sasac_news")) == []
    inbound = gm.Channel(platform="telegram", account="@s",
                         credentials={"bot_token": TOKEN, "webhook_secret": "wh-secret-1"},
                         options={"chat_id": "-100123"})
    assert check(POST, inbound) == []  # the service bot's credential is accepted now
    with pytest.raises(gm.ConfigError, match="missing option"):
        check(POST, gm.Channel(platform="telegram", account="@s", credentials={"bot_token": TOKEN}))
    with pytest.raises(gm.ConfigError, match="option chat_id must be a chat id"):
        check(POST, channel(chat_id="sasac news"))
    with pytest.raises(gm.ConfigError, match="missing credential"):
        check(POST, gm.Channel(platform="telegram", account="@s", options={"chat_id": CHAT}))


@pytest.mark.parametrize("token", [
    "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",                  # the bot id left out
    "123456789:AAHdqTcv/../../setWebhook?url=x",           # would change the URL path
    "123456789:AAHdqTcv CH1vG",
])
def test_a_token_that_is_no_bot_token_is_refused_without_quoting_it(token):
    with pytest.raises(gm.ConfigError, match="not a bot token") as info:
        gm.Client().check(POST, channel(token=token))
    assert token not in str(info.value)


# --------------------------------------------------------------------------- check()


def rules(post, ch=None):
    return [(p.code, p.rule) for p in gm.Client().check(post, ch or channel())]


def test_text_limit_is_4096_utf16_units_after_parsing():
    # The sheet says "characters after entity parsing" without the unit; UTF-16
    # units (never fewer than code points) are counted: unverified which one.
    assert rules(gm.Post(text="国" * 4096)) == []
    assert rules(gm.Post(text="<b>" * 500 + "国" * 2000)) == []  # escaped: each < counts 1
    assert rules(gm.Post(text="国" * 4097)) == [("too_long", "telegram.text.max_length")]
    # an emoji outside the BMP is two UTF-16 units
    [problem] = gm.Client().check(gm.Post(text="👍" * 2049), channel())
    assert problem.message == "text is 4098 characters (UTF-16 units), limit 4096: 2 over"


def test_with_media_the_text_is_a_caption_of_1024():
    assert rules(gm.Post(text="国" * 1024, media=(photo(),))) == []
    [problem] = gm.Client().check(gm.Post(text="国" * 1020, tags=("央企改革",), media=(photo(),)),
                                  channel())
    assert problem.rule == "telegram.caption.max_length"
    assert problem.message == "caption is 1027 characters (UTF-16 units), limit 1024: 3 over"


def test_formatting_counts_as_readers_see_it():
    body = "**" + "国" * 4000 + "** [链接](https://example.org/" + "a" * 300 + ")"
    assert rules(gm.Post(body=body)) == []


def test_an_empty_message_and_lost_formatting():
    # ~100 entities: found by experiment (python-telegram-bot), unverified.
    assert rules(gm.Post(body="<script>x()</script>", body_format="html")) == [
        ("empty", "telegram.text.not_empty")]
    links = " ".join(f"[{i}](https://example.org/{i})" for i in range(101))
    assert rules(gm.Post(body=links)) == [("content_lost", "telegram.text.max_entities")]
    assert rules(gm.Post(body=links.rsplit(" ", 1)[0])) == []


def test_a_body_sent_as_the_message_is_checked_for_lost_content():
    deep = ">" * 40 + " 深处的一段话"
    assert ("too_deep", None) in rules(gm.Post(body=deep))
    assert rules(gm.Post(body=deep, title="标题")) == []  # the title is sent, not the body


def test_media_rules():
    audio = gm.Media.from_bytes(b"ID3" + bytes(64), filename="a.mp3")
    assert rules(gm.Post(text="x", media=(photo(),) * 11)) == [
        ("bad_media", "telegram.media.max_count")]
    assert rules(gm.Post(text="x", media=(audio,))) == [("bad_media", "telegram.media.kind")]
    big = photo(data=PNG + bytes(10 * MB))
    assert rules(gm.Post(text="x", media=(big,))) == [("bad_media", "telegram.media.max_size")]
    by_url = gm.Media.from_url("https://cdn.example/chart.png", size=6 * MB)
    [problem] = gm.Client().check(gm.Post(text="x", media=(by_url,)), channel())
    assert (problem.rule, problem.message) == (
        "telegram.media.max_size", "media 1 (chart.png) is 6.0 MB; Telegram takes images up to 5.0 MB by URL")
    video = gm.Media.from_bytes(MP4, filename="v.mp4")
    assert rules(gm.Post(text="x", media=(video, photo()))) == []


@pytest.mark.parametrize(("size", "ok"), [
    ((5000, 5000), True), ((9000, 1001), False), ((2000, 100), True), ((2100, 100), False),
])
def test_photo_dimensions(size, ok):
    found = rules(gm.Post(text="x", media=(photo(data=png(*size)),)))
    assert found == ([] if ok else [("bad_media", "telegram.photo.dimensions")])


# --------------------------------------------------------------------------- sendMessage


@pytest.mark.respx(base_url=API)
def test_send_message(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(return_value=ok(message(
        42, text="央企招聘季开始了\n\n#微招聘", entities=[{"type": "hashtag", "offset": 10, "length": 4}])))
    receipt = client.publish(POST, channel())
    assert sent_json(route) == {"chat_id": str(CHAT), "text": "央企招聘季开始了\n\n#微招聘",
                                "parse_mode": "HTML"}
    assert (receipt.remote_id, receipt.url, receipt.state) == ("42", "https://t.me/sasac_news/42",
                                                               "published")
    assert receipt.raw["chat_id"] == CHAT and receipt.raw["message_ids"] == [42]


@pytest.mark.respx(base_url=API)
def test_flags_and_a_private_chat(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(
        return_value=ok(message(7, username=None, text="x")))
    receipt = client.publish(POST, channel(disable_notification=True, protect_content="true",
                                           link_preview=False))
    body = sent_json(route)
    assert body["disable_notification"] is True and body["protect_content"] is True
    assert body["link_preview_options"] == {"is_disabled": True}
    assert receipt.url is None  # no username: no public link
    assert receipt.raw["protected"] is True


# --------------------------------------------------------------------------- sendPhoto / sendVideo


@pytest.mark.respx(base_url=API)
def test_send_photo_uploads_the_sniffed_file(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/sendPhoto").mock(return_value=ok(message(
        43, photo=[{"file_id": "AgAC", "file_unique_id": "AQAD", "width": 640, "height": 360}],
        caption="央企招聘季开始了")))
    mislabelled = photo(name="chart.jpg")  # a PNG named .jpg goes up as image/png
    receipt = client.publish(attrs_evolve(POST, media=(mislabelled,)), channel())
    form = sent_form(route)
    assert form.fields == {"chat_id": str(CHAT), "caption": "央企招聘季开始了\n\n#微招聘",
                           "parse_mode": "HTML"}
    part = form["photo"]
    assert (part.filename, part.content_type, part.data) == ("chart.jpg", "image/png", PNG)
    assert receipt.remote_id == "43"


@pytest.mark.respx(base_url=API)
def test_send_photo_by_url_lets_telegram_fetch_it(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/sendPhoto").mock(return_value=ok(message(44)))
    media = gm.Media.from_url("https://cdn.example/chart.png")
    client.publish(gm.Post(text="图表", media=(media,)), channel())
    assert sent_json(route) == {"chat_id": str(CHAT), "caption": "图表", "parse_mode": "HTML",
                                "photo": "https://cdn.example/chart.png"}


@pytest.mark.respx(base_url=API)
def test_send_video_streams_the_file_from_disk(respx_mock, client, tmp_path):
    path = tmp_path / "launch.mp4"
    path.write_bytes(MP4 + bytes(300_000))
    route = respx_mock.post(f"/bot{TOKEN}/sendVideo").mock(return_value=ok(message(45)))
    client.publish(gm.Post(text="发布会", media=(gm.Media.from_path(path),)), channel())
    form = sent_form(route)
    assert form.fields["supports_streaming"] == "true"
    assert form["video"].data == path.read_bytes()
    assert form["video"].content_type == "video/mp4"


@pytest.mark.respx(base_url=API)
def test_a_file_swapped_after_the_check_is_refused_before_sending(respx_mock, client, tmp_path):
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    media = gm.Media.from_path(path)
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(gm.ValidationError, match="bad_media"):
        client.publish(gm.Post(text="x", media=(media,)), channel())
    assert not respx_mock.calls


@pytest.mark.respx(base_url=API)
@pytest.mark.parametrize("measured", [10, 40])  # the file grew, or shrank, after it was measured
def test_a_file_that_changes_size_while_it_is_read_is_refused(respx_mock, client, tmp_path,
                                                               monkeypatch, measured):
    from govmedia.platforms import telegram

    path = tmp_path / "v.mp4"
    path.write_bytes(MP4[:20])  # 20 bytes: a video's signature
    monkeypatch.setattr(telegram, "_file_size", lambda stream: measured)
    with pytest.raises(gm.ValidationError, match="changed size while it was read"):
        client.publish(gm.Post(text="x", media=(gm.Media.from_path(path),)), channel())
    assert not respx_mock.calls


def test_the_body_holds_each_file_once(tmp_path):
    """A 50 MB video costs about 50 MB while it is sent, not twice that."""
    import tracemalloc

    path = tmp_path / "v.mp4"
    path.write_bytes(MP4 + bytes(20 * MB))
    sent = []

    def receive(request):
        sent.append(len(request.content))
        return ok(message(3))

    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(receive))) as client:
        tracemalloc.start()
        try:
            client.publish(gm.Post(text="x", media=(gm.Media.from_path(path),)), channel())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert sent[0] > 20 * MB
    assert peak < 1.3 * 20 * MB, peak


# --------------------------------------------------------------------------- sendMediaGroup


@pytest.mark.respx(base_url=API)
def test_send_media_group_uploads_and_urls_caption_on_the_first(respx_mock, client):
    # Only item captions exist; how clients show several is unverified, so one goes on the first.
    album = [message(50 + i, media_group_id="13600000000000001") for i in range(3)]
    route = respx_mock.post(f"/bot{TOKEN}/sendMediaGroup").mock(return_value=ok(album))
    media = (photo(), gm.Media.from_bytes(MP4, filename="v.mp4"),
             gm.Media.from_url("https://cdn.example/b.jpg"))
    receipt = client.publish(gm.Post(text="一带一路看国企", media=media), channel())
    form = sent_form(route)
    assert form.fields["chat_id"] == str(CHAT)
    assert json.loads(form.fields["media"]) == [
        {"type": "photo", "media": "attach://file0", "caption": "一带一路看国企", "parse_mode": "HTML"},
        {"type": "video", "media": "attach://file1", "supports_streaming": True},
        {"type": "photo", "media": "https://cdn.example/b.jpg"},
    ]
    assert [p.name for p in form.parts if p.is_file] == ["file0", "file1"]
    assert receipt.remote_id == "50" and receipt.raw["message_ids"] == [50, 51, 52]


@pytest.mark.respx(base_url=API)
def test_an_album_of_urls_is_json(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/sendMediaGroup").mock(
        return_value=ok([message(60), message(61)]))
    media = tuple(gm.Media.from_url(f"https://cdn.example/{n}.jpg") for n in "ab")
    client.publish(gm.Post(title=" ", media=media), channel())
    assert sent_json(route)["media"] == [{"type": "photo", "media": "https://cdn.example/a.jpg"},
                                         {"type": "photo", "media": "https://cdn.example/b.jpg"}]


# --------------------------------------------------------------------------- exactly once


@pytest.mark.respx(base_url=API)
@pytest.mark.parametrize("answer", [
    httpx.ReadTimeout("read timed out"),
    refused(500, "Internal Server Error"),
    refused(502, "Bad Gateway"),
    httpx.Response(200, headers={"Content-Type": "application/json"}, content=b'{"ok":true,"res'),
    httpx.Response(200, json={"ok": True}),
    httpx.Response(200, json={"ok": True, "result": {"date": 1}}),
])
def test_a_send_that_may_have_been_applied_is_unknown_and_never_resent(respx_mock, client, answer):
    route = respx_mock.post(f"/bot{TOKEN}/sendMessage")
    route.side_effect = [answer] if isinstance(answer, Exception) else None
    if not isinstance(answer, Exception):
        route.return_value = answer
    with pytest.raises(gm.DeliveryUnknown):
        client.publish(POST, channel())
    assert route.call_count == 1


@pytest.mark.respx(base_url=API)
def test_a_send_that_surely_never_left_is_retried(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(side_effect=[
        httpx.ConnectError("refused"), ok(message(9))])
    assert client.publish(POST, channel()).remote_id == "9"
    assert route.call_count == 2


def test_recover_settles_a_send_whose_ids_were_journaled():
    platform = TelegramPlatform()
    doubt = Doubt(state="unknown", stage="sent",
                  data={"chat_id": CHAT, "message_ids": [70, 71], "username": "sasac_news"})
    flow = platform.recover(POST, channel(), "k", doubt)
    with pytest.raises(StopIteration) as stop:
        next(flow)  # no request: the ids say it is there
    receipt = stop.value.value
    assert (receipt.remote_id, receipt.url, receipt.raw["message_ids"]) == (
        "70", "https://t.me/sasac_news/70", [70, 71])
    unknown = platform.recover(POST, channel(), "k", Doubt(state="sending"))
    with pytest.raises(gm.DeliveryUnknown, match="not resent"):
        next(unknown)


# --------------------------------------------------------------------------- rate limits


@pytest.mark.respx(base_url=API)
def test_429_waits_the_retry_after_telegram_names(respx_mock, monkeypatch):
    waits = []
    monkeypatch.setattr(client_module, "_sleep", waits.append)
    route = respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(side_effect=[
        refused(429, "Too Many Requests: retry after 7", retry_after=7), ok(message(11))])
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy(wait_jitter=0)) as client:
        assert client.publish(POST, channel()).remote_id == "11"
    assert route.call_count == 2
    assert 7 in waits  # the wait Telegram named, not a computed backoff


@pytest.mark.respx(base_url=API)
def test_a_long_retry_after_raises_rate_limited_at_once(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(
        return_value=refused(429, "Too Many Requests: retry after 3600", retry_after=3600))
    with pytest.raises(gm.RateLimited) as info:
        client.publish(POST, channel())
    assert info.value.retry_after == 3600 and route.call_count == 1
    assert "banned" in str(info.value)


# --------------------------------------------------------------------------- errors


@pytest.mark.respx(base_url=API)
@pytest.mark.parametrize(("status", "description", "kind", "words"), [
    (401, "Unauthorized", gm.AuthError, "@BotFather"),
    (404, "Not Found", gm.AuthError, "malformed bot token"),
    (403, "Forbidden: bot is not a member of the channel chat", gm.PlatformError, "administrator"),
    (403, "Forbidden: bot was kicked from the channel chat", gm.PlatformError, "administrator"),
    (403, "Forbidden: need administrator rights in the channel chat", gm.PlatformError,
     "administrator"),
    (400, "Bad Request: chat not found", gm.PlatformError, "chat_id"),
    (400, "Bad Request: message is too long", gm.ContentRejected, "4,096"),
    (400, "Bad Request: message caption is too long", gm.ContentRejected, "1,024"),
    (400, "Bad Request: can't parse entities: Unsupported start tag \"x\" at byte offset 0",
     gm.ContentRejected, "HTML"),
    (400, "Bad Request: wrong file identifier/HTTP URL specified", gm.ContentRejected, "URL"),
    (400, "Bad Request: failed to get HTTP URL content", gm.ContentRejected, "download"),
    (400, "Bad Request: PHOTO_INVALID_DIMENSIONS", gm.ContentRejected, "10,000"),
    (413, "Request Entity Too Large", gm.ContentRejected, "50 MB"),  # wording unverified
])
def test_errors(respx_mock, client, status, description, kind, words):
    route = respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(return_value=refused(status, description))
    with pytest.raises(kind) as info:
        client.publish(POST, channel())
    assert type(info.value) is kind  # 403 is a permission, never an AuthError
    assert description in str(info.value) and words in str(info.value)
    assert route.call_count == 1  # refused outright: nothing to retry, nothing posted


@pytest.mark.respx(base_url=API)
def test_a_migrated_group_names_its_new_id(respx_mock, client):
    respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(return_value=refused(
        400, "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=-1009876543210))
    with pytest.raises(gm.PlatformError) as info:
        client.publish(POST, channel())
    assert type(info.value) is gm.PlatformError
    assert "set the channel's chat_id to -1009876543210" in str(info.value)


def test_every_error_family_on_the_sheet_is_declared():
    table = TelegramPlatform.errors
    assert {401, 404, 403, 409, 413, 429, 400} <= set(table)
    refusals = [c for _, _, c in table.messages if issubclass(c.kind, gm.ContentRejected)]
    ids = {r.id for r in TelegramPlatform.rules}
    assert all(c.rule in ids or c.unforeseeable for c in refusals)
    assert 500 not in table and 502 not in table  # a bare 5xx may have been applied


# --------------------------------------------------------------------------- the token stays secret


@pytest.mark.respx(base_url=API)
def test_the_bot_token_in_the_path_is_masked_everywhere(respx_mock, caplog):
    caplog.set_level(logging.DEBUG)
    respx_mock.post(f"/bot{TOKEN}/sendMessage").mock(side_effect=[
        ok(message(1)),
        refused(401, f"Unauthorized: token {TOKEN} revoked"),   # a server that echoes it
        httpx.ReadTimeout(f"timed out reading https://api.telegram.org/bot{TOKEN}/sendMessage"),
        refused(500, f"upstream failed for /bot{TOKEN}/sendMessage"),
    ])
    respx_mock.post(f"/bot{TOKEN}/deleteMessage").mock(return_value=refused(
        400, "Bad Request: message can't be deleted"))
    errors = []
    with gm.Client(http=httpx.Client(), retry=gm.RetryPolicy.testing()) as client:
        receipt = client.publish(POST, channel())
        for attempt in range(4):  # a new post each time: a journal never skips one
            try:
                if attempt < 3:
                    client.publish(gm.Post(text=f"第{attempt}条"), channel())
                else:
                    client.delete(receipt)
            except gm.GovMediaError as exc:
                errors.append(exc)
    assert len(errors) == 4
    assert respx_mock.calls[0].request.url.path == f"/bot{TOKEN}/sendMessage"  # it was sent there
    texts = [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records]
    for exc in errors:
        texts += [str(exc), repr(exc), exc.message, repr(pickle.loads(pickle.dumps(exc)).__dict__)]
        if exc.response is not None:  # the answer an error keeps, and the request it answers
            texts += [str(exc.response.request.url), repr(exc.response.request)]
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert len(httpx_lines) == 4 and all("https://api.telegram.org/bot***/" in t for t in httpx_lines)
    for text in texts:
        assert SECRET not in text, text


# --------------------------------------------------------------------------- delete


@pytest.mark.respx(base_url=API)
def test_delete_removes_every_message_of_an_album_and_gone_is_fine(respx_mock, client):
    # "message to delete not found" is not on the sheet (unverified wording).
    route = respx_mock.post(f"/bot{TOKEN}/deleteMessage").mock(side_effect=[
        ok(True), refused(400, "Bad Request: message to delete not found"), ok(True)])
    receipt = gm.Receipt(channel=channel(), remote_id="50",
                         raw={"chat_id": CHAT, "message_ids": [50, 51, 52]})
    client.delete(receipt)
    assert [sent_json(route, i) for i in range(3)] == [
        {"chat_id": CHAT, "message_id": m} for m in (50, 51, 52)]


@pytest.mark.respx(base_url=API)
def test_delete_from_a_receipt_settled_by_hand(respx_mock, client):
    route = respx_mock.post(f"/bot{TOKEN}/deleteMessage").mock(return_value=ok(True))
    client.delete(gm.Receipt(channel=channel(), remote_id="77"))
    assert sent_json(route) == {"chat_id": str(CHAT), "message_id": 77}


def test_no_metrics_the_bot_api_gives_none():
    assert TelegramPlatform.capabilities.metrics is False
    assert "no counts" in TelegramPlatform.capabilities.counting
    with pytest.raises(gm.ConfigError, match="no metrics"):
        gm.Client().metrics(gm.Receipt(channel=channel(), remote_id="1"))


# --------------------------------------------------------------------------- forwards (amplify)


def hub_receipt(ids=(42,), token=TOKEN, **raw):
    hub = channel("@sasac_news", token=token)
    return gm.Receipt(channel=hub, remote_id=str(ids[0]),
                      raw={"chat_id": CHAT, "message_ids": list(ids), **raw})


MEMBER_CHAT = -1005555555555


def member(token=TOKEN):
    return channel("@cnpc_news", token=token, chat_id=MEMBER_CHAT)


def test_can_forward_with_the_same_bot_and_unprotected_posts_only():
    platform = TelegramPlatform()
    assert platform.can_repost(hub_receipt(), member())
    assert not platform.can_repost(hub_receipt(), member(token="987654:BBHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"))
    assert not platform.can_repost(hub_receipt(protected=True), member())


@pytest.mark.respx(base_url=API)
def test_forward_message(respx_mock, client):
    # forwardMessage(s) are not on the fact sheet: shapes from the Bot API docs, unverified.
    route = respx_mock.post(f"/bot{TOKEN}/forwardMessage").mock(return_value=ok(message(
        5, username="cnpc_news", chat_id=MEMBER_CHAT, text="x",
        forward_origin={"type": "channel", "chat": chat(), "message_id": 42, "date": 1})))
    receipt = client._drive(client_ops_repost(client, hub_receipt(), member()))
    assert sent_json(route) == {"chat_id": str(MEMBER_CHAT), "from_chat_id": CHAT, "message_id": 42}
    assert (receipt.remote_id, receipt.url) == ("5", "https://t.me/cnpc_news/5")


@pytest.mark.respx(base_url=API)
def test_an_album_is_forwarded_whole(respx_mock, client):
    respx_mock.post(f"/bot{TOKEN}/getChat").mock(return_value=ok(chat("cnpc_news", MEMBER_CHAT)))
    route = respx_mock.post(f"/bot{TOKEN}/forwardMessages").mock(
        return_value=ok([{"message_id": 8}, {"message_id": 9}]))
    receipt = client._drive(client_ops_repost(client, hub_receipt(ids=(43, 42)), member()))
    assert sent_json(route) == {"chat_id": str(MEMBER_CHAT), "from_chat_id": CHAT,
                                "message_ids": [42, 43]}
    assert (receipt.remote_id, receipt.url, receipt.raw["message_ids"]) == (
        "8", "https://t.me/cnpc_news/8", [8, 9])


def client_ops_repost(client, original, ch):
    platform = TelegramPlatform()
    return client._pipeline.run_flow(platform, ch, platform.repost(original, ch, "k"))


# --------------------------------------------------------------------------- against the fake


def sandbox_channel(**options):
    sandbox = Sandbox(platforms=["telegram"])
    return sandbox, sandbox["telegram"], sandbox["telegram"].channel("@sasac_news", **options)


def test_end_to_end_an_album_then_retract():
    sandbox, fake, ch = sandbox_channel()
    media = (photo(), gm.Media.from_bytes(MP4, filename="v.mp4"))
    with gm.Client(http=sandbox.client()) as client:
        receipt = client.publish(gm.Post(text="**不是** Markdown", tags=("央企",), media=media), ch)
        [post] = fake.posts("@sasac_news")
        assert post["caption"] == "**不是** Markdown\n\n#央企"
        assert len(post["album"]) == 2 and post["message_id"] == int(receipt.remote_id)
        client.delete(receipt)
    assert fake.messages() == []


def test_end_to_end_markdown_body_arrives_as_entities():
    sandbox, fake, ch = sandbox_channel()
    with gm.Client(http=sandbox.client()) as client:
        client.publish(gm.Post(body="# 通知\n\n**中国石化** 招聘 👍 [详情](https://example.org/j)"), ch)
    [post] = fake.posts()
    assert post["text"] == "通知\n\n中国石化 招聘 👍 详情"
    assert post["entities"] == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "bold", "offset": 4, "length": 4},
        {"type": "text_link", "offset": 15, "length": 2, "url": "https://example.org/j"},
    ]


def test_a_timeout_after_the_send_is_unknown_and_a_rerun_never_sends_again(tmp_path):
    sandbox, fake, ch = sandbox_channel()
    fake.inject("timeout_after", path=fake.create_path)
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(POST, [ch])
        second = client.fan_out(POST, [ch])
    assert [r.deliveries[0].state for r in (first, second)] == ["unknown", "unknown"]
    assert len(fake.requests(fake.create_path)) == 1
    assert len(fake.posts()) == 1  # it was posted; only the answer was lost


def test_a_failure_after_the_send_keeps_the_ids_and_a_rerun_settles_without_sending(
        tmp_path, monkeypatch):
    sandbox, fake, ch = sandbox_channel()
    original = TelegramPlatform._receipt
    calls = []

    def broken(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyError("message_id")  # a bug after the point of no return
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TelegramPlatform, "_receipt", broken)
    media = (photo(), photo(name="b.png"))
    journal = tmp_path / "j.db"
    with gm.Client(http=sandbox.client(), journal=journal, retry=gm.RetryPolicy.testing()) as client:
        first = client.fan_out(gm.Post(text="一带一路", media=media), [ch])
        second = client.fan_out(gm.Post(text="一带一路", media=media), [ch])
        third = client.fan_out(gm.Post(text="一带一路", media=media), [ch])
    [delivery] = first.deliveries
    assert delivery.state == "unknown"
    ids = [m["message_id"] for m in fake.messages()]
    assert delivery.error.known["message_ids"] == ids
    assert second.deliveries[0].state == "published"
    assert second.deliveries[0].receipt.raw["message_ids"] == ids
    assert second.deliveries[0].receipt.url == f"https://t.me/sasac_news/{ids[0]}"
    assert third.deliveries[0].state == "skipped"
    assert len(fake.requests(fake.create_path)) == 1 and len(fake.posts()) == 1


def test_rate_limited_by_the_fake_is_waited_out(monkeypatch):
    waits = []
    monkeypatch.setattr(client_module, "_sleep", waits.append)
    sandbox, fake, ch = sandbox_channel()
    fake.inject("rate_limit", path=fake.create_path, retry_after=4)
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy(wait_jitter=0)) as client:
        client.publish(POST, ch)
    assert 4 in waits and len(fake.posts()) == 1


def test_amplify_forwards_the_hubs_album_to_members_of_the_same_bot():
    sandbox = Sandbox(platforms=["telegram"])
    fake = sandbox["telegram"]
    hub = fake.channel("@sasac_news")
    same_bot = fake.channel("@cnpc_news")
    other_bot = fake.channel("@sinopec_news", bot="sinopec_bot")
    media = (photo(), photo(name="b.png"))
    with gm.Client(http=sandbox.client(), retry=gm.RetryPolicy.testing()) as client:
        report = client.fan_out(gm.Post(text="一带一路看国企", media=media),
                                gm.Matrix(hub=hub, members=[same_bot, other_bot]), mode="amplify")
    assert report.ok, report.summary()
    [forwarded] = fake.posts("@cnpc_news")
    assert forwarded["forward_origin"]["chat"]["username"] == "sasac_news"
    assert len(forwarded["album"]) == 2
    [linked] = fake.posts("@sinopec_news")  # another bot cannot read the hub: a link instead
    assert "https://t.me/sasac_news/1" in linked["caption"]


def test_async_client_publishes_too():
    import anyio

    sandbox, fake, ch = sandbox_channel()

    async def main():
        async with gm.AsyncClient(http=sandbox.async_client()) as client:
            return await client.publish(gm.Post(text="异步", media=(photo(),)), ch)

    receipt = anyio.run(main)
    assert fake.posts()[0]["message_id"] == int(receipt.remote_id)


def attrs_evolve(post, **changes):
    import attrs

    return attrs.evolve(post, **changes)
