"""FakeTelegram refuses what the Bot API refuses, keeps what it is sent, and fails on demand.

Spoken to over plain HTTP (an `httpx.Client` on the fake as transport), the
way any Bot API client would.
"""

import json
import struct

import httpx
import pytest

from govmedia.testing import Sandbox
from govmedia.testing.telegram import FakeTelegram, parse_html

PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 640, 360) + bytes(40)
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00" + bytes(64)
MB = 1024 * 1024


@pytest.fixture
def fake():
    return FakeTelegram()


@pytest.fixture
def api(fake):
    with httpx.Client(transport=httpx.MockTransport(fake)) as http:
        yield http


def bot_url(fake, channel, method):
    return f"{fake.base_url}/bot{channel.credentials['bot_token']}/{method}"


def call(api, fake, channel, method, **kwargs):
    response = api.post(bot_url(fake, channel, method), **kwargs)
    return response.status_code, response.json()


def send(api, fake, ch, text="国资小新", **params):
    return call(api, fake, ch, "sendMessage",
                json={"chat_id": ch.options["chat_id"], "text": text, **params})


# --------------------------------------------------------------------------- tokens and routing


def test_tokens_methods_and_envelopes(fake, api):
    ch = fake.channel("@sasac_news")
    status, body = call(api, fake, ch, "getMe")
    assert status == 200 and body["ok"] is True and body["result"]["is_bot"] is True
    # method names are case-insensitive; GET with a query string works too
    answer = api.get(bot_url(fake, ch, "SENDMESSAGE"), params={"chat_id": ch.options["chat_id"],
                                                               "text": "查询参数"})
    assert answer.json()["result"]["text"] == "查询参数"
    unknown = api.post(f"{fake.base_url}/bot123:AAunknownToken/getMe")
    assert (unknown.status_code, unknown.json()) == (
        401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    malformed = api.post(f"{fake.base_url}/botnot-a-token/getMe")
    assert (malformed.status_code, malformed.json()["description"]) == (404, "Not Found")
    assert call(api, fake, ch, "sendCarrierPigeon")[0] == 404


def test_chats_rights_and_migration(fake, api):
    ch = fake.channel("@sasac_news")
    other = fake.channel("@cnpc_news", bot="other_bot")
    # the other bot administers its own channel only
    status, body = call(api, fake, other, "sendMessage", json={"chat_id": ch.options["chat_id"], "text": "x"})
    assert (status, body["description"]) == (403, "Forbidden: bot is not a member of the channel chat")
    status, body = call(api, fake, ch, "sendMessage", json={"chat_id": "-100999", "text": "x"})
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    assert send(api, fake, ch, chat_id="@SASAC_news")[0] == 200  # usernames, any case
    fake.kick("@sasac_news")
    assert send(api, fake, ch)[1]["description"] == "Forbidden: bot was kicked from the channel chat"
    group = fake.channel("@old_group")
    new_id = fake.migrate("@old_group")
    status, body = send(api, fake, group)
    assert status == 400 and body["parameters"] == {"migrate_to_chat_id": new_id}
    assert body["description"] == "Bad Request: group chat was upgraded to a supergroup chat"


# --------------------------------------------------------------------------- text


def test_html_becomes_entities_in_utf16_units():
    text, entities = parse_html('👍<b>粗<i>斜</i></b> <a href="https://x.org/?a=1&amp;b=2">链</a>'
                                '<pre><code class="language-python">x</code></pre>&#x1F600;&#39;')
    assert text == "👍粗斜 链x😀'"
    assert entities == [
        {"type": "bold", "offset": 2, "length": 2},
        {"type": "italic", "offset": 3, "length": 1},
        {"type": "text_link", "offset": 5, "length": 1, "url": "https://x.org/?a=1&b=2"},
        {"type": "pre", "offset": 6, "length": 1, "language": "python"},
    ]


@pytest.mark.parametrize(("text", "words"), [
    ("<p>段落</p>", 'Unsupported start tag "p"'),
    ("<b>未闭合", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>交叉</b></i>", "Unmatched end tag"),
    ("a < b", "Unclosed start tag"),
    ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
    ('<span class="x">s</span>', 'Unsupported start tag "span"'),
])
def test_bad_html_is_refused_as_telegram_does(fake, api, text, words):
    ch = fake.channel()
    status, body = send(api, fake, ch, text, parse_mode="HTML")
    assert status == 400 and body["description"].startswith("Bad Request: can't parse entities: ")
    assert words in body["description"]


def test_text_limits_count_after_parsing(fake, api):
    ch = fake.channel()
    assert send(api, fake, ch, "<b>" + "国" * 4096 + "</b>", parse_mode="HTML")[0] == 200
    assert send(api, fake, ch, "👍" * 2049)[1]["description"] == "Bad Request: message is too long"
    assert send(api, fake, ch, "<b></b>", parse_mode="HTML")[1]["description"] == \
        "Bad Request: message text is empty"
    assert send(api, fake, ch, "x", parse_mode="MarkdownV2")[0] == 400  # the fake reads HTML only
    many = "".join(f'<a href="https://x.org/{i}">{i}</a> ' for i in range(120))
    status, body = send(api, fake, ch, many, parse_mode="HTML")
    assert status == 200 and len(body["result"]["entities"]) == 100  # the rest: ignored


def test_no_deduplication_every_send_posts(fake, api):
    ch = fake.channel("@sasac_news")
    first, second = send(api, fake, ch), send(api, fake, ch)
    assert first[1]["result"]["message_id"] != second[1]["result"]["message_id"]
    assert len(fake.posts("@sasac_news")) == 2


# --------------------------------------------------------------------------- files


def test_photo_and_video_uploads(fake, api):
    ch = fake.channel("@sasac_news")
    chat_id = ch.options["chat_id"]
    status, body = call(api, fake, ch, "sendPhoto", data={"chat_id": chat_id, "caption": "<b>图</b>",
                                                          "parse_mode": "HTML"},
                        files={"photo": ("a.png", PNG, "image/png")})
    assert status == 200
    result = body["result"]
    assert result["photo"][0]["width"] == 640 and result["caption"] == "图"
    assert result["caption_entities"] == [{"type": "bold", "offset": 0, "length": 1}]
    status, body = call(api, fake, ch, "sendVideo", data={"chat_id": chat_id},
                        files={"video": ("v.mp4", MP4, "video/mp4")})
    assert body["result"]["video"]["mime_type"] == "video/mp4"
    # the file_id of a stored file can be sent again
    again = call(api, fake, ch, "sendPhoto",
                 json={"chat_id": chat_id, "photo": result["photo"][0]["file_id"]})
    assert again[0] == 200


@pytest.mark.parametrize(("method", "part", "data", "status", "words"), [
    ("sendPhoto", "photo", b"<html>not an image</html>", 400, "IMAGE_PROCESS_FAILED"),
    ("sendPhoto", "photo", PNG + bytes(10 * MB), 413, "Request Entity Too Large"),  # unverified wording
    ("sendPhoto", "photo", b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 9000, 1001),
     400, "PHOTO_INVALID_DIMENSIONS"),
    ("sendPhoto", "photo", b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 2100, 100),
     400, "PHOTO_INVALID_DIMENSIONS"),
    ("sendVideo", "video", PNG, 400, "VIDEO_FILE_INVALID"),
])
def test_uploads_refused(fake, api, method, part, data, status, words):
    ch = fake.channel()
    got, body = call(api, fake, ch, method, data={"chat_id": ch.options["chat_id"]},
                     files={part: ("f", data, "application/octet-stream")})
    assert got == status and words in body["description"]
    assert fake.messages() == []


def test_urls_are_fetched_from_remote_within_their_limits(fake, api):
    ch = fake.channel()
    chat_id = ch.options["chat_id"]
    fake.remote["https://cdn.example/a.png"] = PNG
    fake.remote["https://cdn.example/big.png"] = PNG + bytes(5 * MB)
    assert call(api, fake, ch, "sendPhoto", json={"chat_id": chat_id, "photo": "https://cdn.example/a.png"})[0] == 200
    for url in ("https://cdn.example/big.png", "https://cdn.example/missing.png"):
        body = call(api, fake, ch, "sendPhoto", json={"chat_id": chat_id, "photo": url})[1]
        assert body["description"] == "Bad Request: failed to get HTTP URL content"
    body = call(api, fake, ch, "sendPhoto", json={"chat_id": chat_id, "photo": "not-a-file-id"})[1]
    assert body["description"] == "Bad Request: wrong file identifier/HTTP URL specified"


def test_media_groups(fake, api):
    ch = fake.channel("@sasac_news")
    chat_id = ch.options["chat_id"]
    media = [{"type": "photo", "media": "attach://a", "caption": "<i>组图</i>", "parse_mode": "HTML"},
             {"type": "video", "media": "attach://b"}]
    status, body = call(api, fake, ch, "sendMediaGroup",
                        data={"chat_id": chat_id, "media": json.dumps(media)},
                        files={"a": ("a.png", PNG, "image/png"), "b": ("b.mp4", MP4, "video/mp4")})
    assert status == 200
    first, second = body["result"]
    assert first["media_group_id"] == second["media_group_id"] and first["caption"] == "组图"
    [post] = fake.posts("@sasac_news")
    assert [m["message_id"] for m in post["album"]] == [first["message_id"], second["message_id"]]

    def refused(items, files=None):
        got = call(api, fake, ch, "sendMediaGroup", data={"chat_id": chat_id, "media": json.dumps(items)},
                   files=files or {"a": ("a.png", PNG, "image/png")})
        assert got[0] == 400
        return got[1]["description"]

    one = [{"type": "photo", "media": "attach://a"}]
    assert "2-10" in refused(one)
    assert "2-10" in refused(one * 11)
    assert "grouped" in refused([{"type": "document", "media": "attach://a"}, *one])
    assert "wrong file identifier" in refused([*one, {"type": "photo", "media": "attach://missing"}])
    assert "caption is too long" in refused([{**one[0], "caption": "国" * 1025}, *one])
    assert len(fake.posts()) == 1


# --------------------------------------------------------------------------- delete and forward


def test_delete(fake, api):
    ch = fake.channel("@sasac_news")
    chat_id = ch.options["chat_id"]
    message_id = send(api, fake, ch)[1]["result"]["message_id"]
    assert call(api, fake, ch, "deleteMessage", json={"chat_id": chat_id, "message_id": message_id}) == (
        200, {"ok": True, "result": True})
    again = call(api, fake, ch, "deleteMessage", json={"chat_id": chat_id, "message_id": message_id})
    assert again[1]["description"] == "Bad Request: message to delete not found"
    kept = send(api, fake, ch)[1]["result"]["message_id"]
    fake.chat_of("@sasac_news").undeletable.add(kept)
    body = call(api, fake, ch, "deleteMessage", json={"chat_id": chat_id, "message_id": kept})[1]
    assert body["description"] == "Bad Request: message can't be deleted"


def test_forwards(fake, api):
    hub = fake.channel("@sasac_news")
    member = fake.channel("@cnpc_news")
    stranger = fake.channel("@other_news", bot="other_bot")
    original = send(api, fake, hub, "<b>原文</b>", parse_mode="HTML")[1]["result"]
    status, body = call(api, fake, member, "forwardMessage", json={
        "chat_id": member.options["chat_id"], "from_chat_id": hub.options["chat_id"],
        "message_id": original["message_id"]})
    assert status == 200
    assert body["result"]["forward_origin"] == {"type": "channel", "chat": original["chat"],
                                                "message_id": original["message_id"],
                                                "date": original["date"]}
    assert body["result"]["entities"] == original["entities"]
    cannot_read = call(api, fake, stranger, "forwardMessage", json={
        "chat_id": stranger.options["chat_id"], "from_chat_id": hub.options["chat_id"],
        "message_id": original["message_id"]})[1]
    assert cannot_read["description"] == "Bad Request: chat not found"
    protected = send(api, fake, hub, "保密", protect_content=True)[1]["result"]
    assert protected["has_protected_content"] is True
    refused = call(api, fake, member, "forwardMessage", json={
        "chat_id": member.options["chat_id"], "from_chat_id": hub.options["chat_id"],
        "message_id": protected["message_id"]})[1]
    assert refused["description"] == "Bad Request: message can't be forwarded"
    status, body = call(api, fake, member, "forwardMessages", json={
        "chat_id": member.options["chat_id"], "from_chat_id": hub.options["chat_id"],
        "message_ids": [original["message_id"] + 50]})
    assert body["description"] == "Bad Request: message to forward not found"


# --------------------------------------------------------------------------- faults and limits


def test_faults_in_telegrams_shapes(fake, api):
    ch = fake.channel()
    fake.inject("rate_limit", retry_after=12)
    answer = api.post(bot_url(fake, ch, "sendMessage"), json={"chat_id": ch.options["chat_id"], "text": "x"})
    assert answer.status_code == 429 and "retry-after" not in answer.headers
    assert answer.json() == {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 12",
                             "parameters": {"retry_after": 12}}
    fake.inject("server_error")
    assert send(api, fake, ch)[1] == {"ok": False, "error_code": 500,
                                      "description": "Internal Server Error"}
    fake.inject("token_expired")
    assert send(api, fake, ch)[0] == 401
    fake.inject("busy")
    assert send(api, fake, ch)[1]["description"] == "Bad Gateway"
    assert fake.messages() == []
    fake.inject("timeout_after", path=fake.create_path)
    with pytest.raises(httpx.ReadTimeout):
        send(api, fake, ch)
    assert len(fake.messages()) == 1  # applied, the answer lost


def test_the_create_path_matches_the_sends_only(fake):
    import re

    for method, creates in [("sendMessage", True), ("SENDPHOTO", True), ("sendVideo", True),
                            ("sendMediaGroup", True), ("deleteMessage", False), ("getMe", False),
                            ("forwardMessage", False)]:
        assert bool(re.search(fake.create_path, f"/bot1:AA/{method}")) is creates


def test_budgets_per_chat_when_enforced(fake, api):
    # 20 a minute to one group; that channels share it is unverified (the sheet), and an
    # album counting as several messages is unverified too.
    ch = fake.channel()
    fake.enforce_limits = True
    fake.clock = lambda: 1_700_000_010.0
    for _ in range(20):
        assert send(api, fake, ch)[0] == 200
    status, body = send(api, fake, ch)
    assert status == 429 and body["parameters"]["retry_after"] == 30  # when the minute's window ends
    assert len(fake.messages()) == 20


def test_in_the_sandbox_with_the_others():
    sandbox = Sandbox()
    assert isinstance(sandbox["telegram"], FakeTelegram)
    ch = sandbox.channel("telegram", "@sasac_news")
    assert ch.options["base_url"] == "https://sandbox.govmedia.test/telegram"
