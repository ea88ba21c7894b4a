"""Hostile input: refused with a clean 4xx and nothing processed, recorded or sent."""

import base64
import json
import time

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from servicebot_fixtures import make_bot, sandbox  # noqa: F401 - fixtures

import govmedia as gm
from govmedia._bot.refusal import Refused
from govmedia._bot.telegram import parse_json
from govmedia._bot.wxcrypto import WeChatCipher, signature
from govmedia._bot.wxxml import parse
from govmedia.testing.follower import telegram_update, wechat_callback

pytestmark = pytest.mark.anyio

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


@pytest.fixture
def setup(sandbox, make_bot, tmp_path):
    bot = make_bot(journal=tmp_path / "bot.db")
    wx = sandbox["wechat_oa"].bot_channel("gh_safe")
    plain = sandbox["wechat_oa"].bot_channel("gh_plain", safe=False)
    tg = sandbox["telegram"].bot_channel("@sasac_bot")
    app = bot.asgi({"/wechat": wx, "/plain": plain, "/telegram": tg})
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bot")
    return bot, client, wx, plain, tg


def _nothing_happened(bot, sandbox):
    assert bot.calls == []
    assert sandbox["wechat_oa"].customer_messages == []
    assert sandbox["telegram"].messages() == []
    rows = bot.store.journal._read("SELECT COUNT(*) FROM bot_messages")[0][0]
    assert rows == 0


async def _post(client, path, query, body, headers=None):
    return await client.post(path, params=query, content=body, headers=headers or {})


async def test_forged_plain_signature(setup, sandbox):
    bot, client, _, plain, _ = setup
    query, body = wechat_callback(plain, text="天气 北京")
    query["signature"] = signature("not-the-token", query["timestamp"], query["nonce"])
    response = await _post(client, "/plain", query, body)
    assert (response.status_code, response.text) == (403, "forbidden")
    _nothing_happened(bot, sandbox)


async def test_forged_url_check(setup, sandbox):
    _, client, *_ = setup
    stamp = str(int(time.time()))
    response = await client.get("/wechat", params={"signature": "0" * 40, "timestamp": stamp,
                                                   "nonce": "n", "echostr": "x"})
    assert response.status_code == 403
    assert "x" not in response.text


async def test_forged_msg_signature(setup, sandbox):
    bot, client, wx, _, _ = setup
    query, body = wechat_callback(wx, text="天气 北京")
    query["msg_signature"] = "f" * 40
    assert (await _post(client, "/wechat", query, body)).status_code == 403
    _nothing_happened(bot, sandbox)


async def test_body_swapped_under_a_valid_msg_signature(setup, sandbox):
    bot, client, wx, _, _ = setup
    query, _ = wechat_callback(wx, text="天气 北京")
    _, other = wechat_callback(wx, text="天气 上海")
    assert (await _post(client, "/wechat", query, other)).status_code == 403
    _nothing_happened(bot, sandbox)


async def test_plain_signature_replayed_with_another_body(setup, sandbox):
    """Plain mode signs no body: a captured URL cannot carry a forged message."""
    bot, client, _, plain, _ = setup
    query, body = wechat_callback(plain, text="天气 北京", msg_id="1")
    assert (await _post(client, "/plain", query, body)).status_code == 200
    _, forged = wechat_callback(plain, text="天气 上海", msg_id="2")
    assert (await _post(client, "/plain", query, forged)).status_code == 403
    # the same body again (WeChat's retry) is still fine
    assert (await _post(client, "/plain", query, body)).status_code == 200
    assert [m.text for m in bot.calls] == ["天气 北京"]


@pytest.mark.parametrize("skew", [-301, 301, 100_000])
async def test_stale_or_future_timestamp(setup, sandbox, skew):
    bot, client, wx, plain, _ = setup
    for channel, path in ((wx, "/wechat"), (plain, "/plain")):
        query, body = wechat_callback(channel, text="天气", timestamp=int(time.time()) + skew)
        assert (await _post(client, path, query, body)).status_code == 403
    _nothing_happened(bot, sandbox)


async def test_max_age_none_takes_any_timestamp(sandbox, make_bot):
    bot = make_bot(max_age=None)
    wx = sandbox["wechat_oa"].bot_channel("gh_old")
    follower = sandbox.follower(bot.asgi({"/wechat": wx}))
    assert (await follower.wechat("/wechat", wx, "天气 北京", timestamp=1409735669)).reply == "北京：晴，12°C"


async def test_wrong_appid_in_the_ciphertext(setup, sandbox):
    bot, client, wx, _, _ = setup
    other = gm.Channel(platform="wechat_oa", account="gh_safe", credentials={
        "app_id": "wx_someone_else", "callback_token": wx.credentials["callback_token"],
        "encoding_aes_key": wx.credentials["encoding_aes_key"]})
    query, body = wechat_callback(other, text="天气 北京")  # right key and token, wrong appid
    assert (await _post(client, "/wechat", query, body)).status_code == 403
    _nothing_happened(bot, sandbox)


async def test_plain_callback_to_a_safe_mode_channel_is_a_downgrade(setup, sandbox):
    bot, client, wx, _, _ = setup
    query, body = wechat_callback(wx, text="天气 北京", safe=False)
    assert (await _post(client, "/wechat", query, body)).status_code == 403
    _nothing_happened(bot, sandbox)


async def test_encrypted_callback_to_a_plain_channel(setup, sandbox):
    bot, client, _, plain, _ = setup
    keyed = gm.Channel(platform="wechat_oa", account="gh_plain", credentials={
        **dict(plain.credentials), "encoding_aes_key": KEY})
    query, body = wechat_callback(keyed, text="天气 北京")
    assert (await _post(client, "/plain", query, body)).status_code == 403
    _nothing_happened(bot, sandbox)


@pytest.mark.parametrize("path", ["/plain", "/wechat", "/telegram"])
async def test_oversized_body_with_content_length(setup, sandbox, path):
    bot, client, *_ = setup
    response = await client.post(path, content=b"<xml>" + b"a" * 1_000_001 + b"</xml>")
    assert response.status_code == 413
    _nothing_happened(bot, sandbox)


async def test_oversized_chunked_body_is_cut_off(setup, sandbox):
    bot, client, _, plain, _ = setup
    query, _ = wechat_callback(plain, text="x")
    read = []

    async def chunks():
        for _ in range(50):
            read.append(1)
            yield b"a" * 100_000

    response = await client.post("/plain", params=query, content=chunks())
    assert response.status_code == 413
    _nothing_happened(bot, sandbox)


async def test_bad_content_length(setup):
    _, client, *_ = setup
    response = await client.post("/plain", content=b"x", headers={"Content-Length": "abc"})
    assert response.status_code in (400, 413)


BOMBS = [
    (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
     b"<xml><Content>&lol2;</Content></xml>"),
    b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>',
    b'<!DOCTYPE xml SYSTEM "http://127.0.0.1/evil.dtd"><xml/>',
    b'<!DOCTYPE xml [<!ENTITY % p SYSTEM "http://127.0.0.1/x">%p;]><xml/>',
    b"<xml><Content>&undefined;</Content></xml>",
    b"<xml><a>",
    b"not xml at all",
    b"",
    b"\xff\xfe\x00<\x00x",
    b"<other><MsgType>text</MsgType></other>",
    b"<xml>" + b"<a>" * 50 + b"</a>" * 50 + b"</xml>",
]


@pytest.mark.parametrize("bomb", BOMBS)
async def test_hostile_xml_in_plain_mode(setup, sandbox, bomb):
    bot, client, _, plain, _ = setup
    query, _ = wechat_callback(plain, text="x")
    response = await _post(client, "/plain", query, bomb)
    assert response.status_code == 400
    _nothing_happened(bot, sandbox)


@pytest.mark.parametrize("bomb", BOMBS[:5])
async def test_hostile_xml_inside_the_ciphertext(setup, sandbox, bomb):
    """Signed and encrypted with the right key: the XML inside is still refused."""
    bot, client, wx, _, _ = setup
    token, key, app_id = (wx.credentials[k] for k in ("callback_token", "encoding_aes_key", "app_id"))
    encrypted = WeChatCipher(key, app_id).encrypt(bomb)
    stamp, nonce = str(int(time.time())), "n1"
    query = {"timestamp": stamp, "nonce": nonce, "encrypt_type": "aes",
             "msg_signature": signature(token, stamp, nonce, encrypted)}
    response = await _post(client, "/wechat", query, f"<xml><Encrypt>{encrypted}</Encrypt></xml>".encode())
    assert response.status_code == 400
    _nothing_happened(bot, sandbox)


async def test_signed_message_without_the_required_fields(setup, sandbox):
    bot, client, _, plain, _ = setup
    query, _ = wechat_callback(plain, text="x")
    response = await _post(client, "/plain", query, b"<xml><Content>hi</Content></xml>")
    assert response.status_code == 400
    _nothing_happened(bot, sandbox)


async def test_telegram_wrong_or_missing_secret(setup, sandbox):
    bot, client, _, _, tg = setup
    body = json.dumps(telegram_update("天气 北京"))
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
                    {"X-Telegram-Bot-Api-Secret-Token": tg.credentials["webhook_secret"] + "x"}):
        response = await _post(client, "/telegram", {}, body, headers)
        assert response.status_code == 403
    await bot.drain()
    _nothing_happened(bot, sandbox)


@pytest.mark.parametrize("body", [b"{", b"[1,2]", b'{"message": {}}', b'{"update_id": "1"}',
                                  b'{"update_id": true}', b'{"update_id": NaN}', b"\xff",
                                  b"[" * 100_000, b'{"update_id": 1' + b"0" * 5000 + b"}"])
async def test_telegram_malformed_json(setup, sandbox, body):
    bot, client, _, _, tg = setup
    headers = {"X-Telegram-Bot-Api-Secret-Token": tg.credentials["webhook_secret"]}
    response = await _post(client, "/telegram", {}, body, headers)
    assert response.status_code == 400
    _nothing_happened(bot, sandbox)


async def test_unknown_path_and_method(setup):
    _, client, *_ = setup
    assert (await client.post("/nope", content=b"x")).status_code == 404
    assert (await client.get("/telegram")).status_code == 405
    assert (await client.put("/wechat", content=b"x")).status_code == 405


# ----------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _outcome(call, *args):
    """What *call* returns, or the `Refused` it raises (anything else fails the test)."""
    try:
        return call(*args)
    except Refused as refused:
        return refused


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_xml_parser_only_refuses(data):
    out = _outcome(parse, data)
    assert isinstance(out, dict) or out.status == 400


xml_text = st.text(alphabet=st.sampled_from(list("<>/!?&;%[]\"'= xmlDOCTYPEENTITYabc#\n")), max_size=300)


@FUZZ
@given(xml_text)
def test_fuzz_xml_shaped_text_only_refuses(text):
    out = _outcome(parse, ("<xml>" + text).encode())
    assert isinstance(out, dict) or out.status == 400


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_json_parser_only_refuses(data):
    out = _outcome(parse_json, data)
    assert not isinstance(out, Refused) or out.status == 400


@FUZZ
@given(st.one_of(st.binary(max_size=600).map(lambda b: base64.b64encode(b).decode()),
                 st.text(max_size=200)))
def test_fuzz_aes_layer_only_refuses(encrypted):
    out = _outcome(WeChatCipher(KEY, "wxb11529c136998cb6").decrypt, encrypted)
    assert isinstance(out, bytes) or out.status in (400, 403)


@FUZZ
@given(st.binary(min_size=0, max_size=300))
def test_fuzz_aes_roundtrip(message):
    cipher = WeChatCipher(KEY, "wxb11529c136998cb6")
    assert cipher.decrypt(cipher.encrypt(message)) == message


@FUZZ
@given(body=st.binary(max_size=3000), encrypted=st.booleans())
async def test_fuzz_signed_wechat_bodies_get_a_clean_4xx(sandbox, make_bot, body, encrypted):
    """Correctly signed requests carrying garbage: only 400/403, never a 5xx, never a skill."""
    bot = make_bot()
    wx = sandbox["wechat_oa"].bot_channel("gh_fuzz", app_id="wxfuzz0000000001")
    app = bot.asgi({"/wechat": wx})
    token, key = wx.credentials["callback_token"], wx.credentials["encoding_aes_key"]
    stamp, nonce = str(int(time.time())), "n"
    if encrypted:
        secret = WeChatCipher(key, "wxfuzz0000000001").encrypt(body)
        query = {"timestamp": stamp, "nonce": nonce, "encrypt_type": "aes",
                 "msg_signature": signature(token, stamp, nonce, secret)}
        content = f"<xml><Encrypt>{secret}</Encrypt></xml>".encode()
    else:
        query = {"timestamp": stamp, "nonce": nonce, "encrypt_type": "aes",
                 "msg_signature": signature(token, stamp, nonce, body.decode("latin-1"))}
        content = body
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bot") as client:
        response = await client.post("/wechat", params=query, content=content)
    assert response.status_code in (200, 400, 403), response.status_code
    if response.status_code != 200:
        assert bot.calls == []


@FUZZ
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                    max_leaves=30))
async def test_fuzz_telegram_updates_get_200_or_400(sandbox, make_bot, value):
    bot = make_bot()
    tg = sandbox["telegram"].bot_channel("@fuzz_bot")
    app = bot.asgi({"/telegram": tg})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bot") as client:
        response = await client.post("/telegram", content=json.dumps(value), headers={
            "X-Telegram-Bot-Api-Secret-Token": tg.credentials["webhook_secret"]})
    assert response.status_code in (200, 400)
    await bot.drain()
