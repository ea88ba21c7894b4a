"""WeChat OA callbacks: Tencent's vectors, passive replies, MsgId retries, the 5-second budget."""

import time

import anyio
import httpx
import pytest
from servicebot_fixtures import make_bot, sandbox  # noqa: F401 - fixtures

import govmedia as gm
from govmedia._bot.wxcrypto import WeChatCipher, signature
from govmedia._bot.wxxml import parse
from govmedia.testing import Follower
from govmedia.testing.follower import wechat_callback

pytestmark = pytest.mark.anyio

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
# Tencent's WXBizMsgCrypt sample 2 (shared/platforms/wechat_oa.md)
V2_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFm"
    "OD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8d"
    "KOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5"
    "RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNP"
    "fUM669WuMyVWQLCzpu9GhglF2PE="
)


def test_tencent_vector_1_encrypt_and_signature():
    cipher = WeChatCipher(KEY, "wxb11529c136998cb6")
    encrypted = cipher.encrypt("我是中文abcd123".encode(), random=b"aaaabbbbccccdddd")
    assert encrypted == ("jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGM"
                         "hkP72vVOfg==")
    assert signature("pamtest", "1409304348", "xxxxxx", encrypted) == "82c962d39941aa48552f90ef55aa323dc620cc10"


def test_tencent_vector_2_signatures_and_decryption():
    assert signature("spamtest", "1409735669", "1320562132", V2_ENCRYPT) == "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
    assert signature("spamtest", "1409735669", "1320562132") == "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"
    fields = parse(WeChatCipher(KEY, "wx2c2769f8efd9abc2").decrypt(V2_ENCRYPT))
    assert fields["Content"] == "abcdteT"
    assert fields["MsgType"] == "text"


def test_url_check_vector():
    assert signature("test", "1410685589", "test") == "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"


def _vector2_channel(account="gh_10f6c3c3ac5a"):
    return gm.Channel(platform="wechat_oa", account=account, credentials={
        "app_id": "wx2c2769f8efd9abc2", "callback_token": "spamtest", "encoding_aes_key": KEY})


async def test_official_safe_mode_callback_is_answered_encrypted(make_bot, monkeypatch):
    """Tencent's own sample request, as WeChat would send it, reaches the skill."""
    bot = make_bot(max_age=None)  # the vector's timestamp is from 2014
    channel = _vector2_channel()
    app = bot.asgi({"/wechat": channel})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bot") as client:
        response = await client.post("/wechat", params={
            "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a", "timestamp": "1409735669",
            "nonce": "1320562132", "encrypt_type": "aes",
            "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa"},
            content=f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><Encrypt><![CDATA[{V2_ENCRYPT}]]></Encrypt></xml>")
    assert response.status_code == 200
    envelope = parse(response.content)
    assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    assert envelope["Nonce"] == "1320562132"
    assert envelope["MsgSignature"] == signature("spamtest", envelope["TimeStamp"], "1320562132", envelope["Encrypt"])
    reply = parse(WeChatCipher(KEY, "wx2c2769f8efd9abc2").decrypt(envelope["Encrypt"]))
    assert reply["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"   # swapped
    assert reply["FromUserName"] == "gh_10f6c3c3ac5a"
    assert reply["MsgType"] == "text"
    assert reply["Content"] == "回复“天气 北京”查询天气"
    assert [m.text for m in bot.calls] == ["abcdteT"]
    msg = bot.calls[0]
    assert msg.user == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert msg.message_id == "6054768590064713728"
    assert msg.at.tzinfo is not None and msg.at.year == 2014
    assert msg.raw["Content"] == "abcdteT"


async def test_url_check_answers_echostr(sandbox, make_bot):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    follower = sandbox.follower(make_bot().asgi({"/wechat": channel}))
    heard = await follower.url_check("/wechat", channel, echostr="8437539102")
    assert (heard.status, heard.reply) == (200, "8437539102")


@pytest.mark.parametrize("safe", [False, True])
async def test_text_message_gets_a_passive_reply(sandbox, make_bot, safe):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac", safe=safe)
    bot = make_bot()
    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    heard = await follower.wechat("/wechat", channel, "天气 北京", user="o_abc")
    assert heard.status == 200
    assert heard.reply == "北京：晴，12°C"
    assert heard.fields["ToUserName"] == "o_abc"
    assert heard.fields["FromUserName"] == "gh_sasac"
    assert abs(int(heard.fields["CreateTime"]) - time.time()) < 5
    assert ("Encrypt" in parse(heard.body)) is safe


async def test_image_and_articles_replies(sandbox, make_bot):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = make_bot()

    @bot.skill(r"^图片")
    def picture(msg):
        return gm.Reply(image="MEDIA_ID_1")

    @bot.skill(r"^推荐")
    def news(msg):
        return gm.Reply(articles=[("一带一路看国企", "第一期", "https://example.org/1", "https://example.org/c.jpg")])

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    heard = await follower.wechat("/wechat", channel, "图片")
    assert heard.fields["MsgType"] == "image"
    assert heard.fields["Image"] == {"MediaId": "MEDIA_ID_1"}
    heard = await follower.wechat("/wechat", channel, "推荐")
    assert heard.fields["MsgType"] == "news"
    assert heard.fields["ArticleCount"] == "1"
    assert heard.fields["Articles"]["item"] == {
        "Title": "一带一路看国企", "Description": "第一期", "PicUrl": "https://example.org/c.jpg",
        "Url": "https://example.org/1"}


async def test_image_voice_and_event_messages_reach_skills(sandbox, make_bot):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = make_bot()
    seen = []

    @bot.skill(None, kinds=("event",))
    def welcome(msg):
        seen.append((msg.kind, msg.raw["Event"], msg.text))
        return "欢迎关注国资小新" if msg.raw["Event"] == "subscribe" else None

    @bot.skill(None, kinds=("image", "voice"))
    def media(msg):
        seen.append((msg.kind, msg.raw.get("MediaId"), msg.text))
        return "收到"

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    assert (await follower.wechat("/wechat", channel, event="subscribe")).reply == "欢迎关注国资小新"
    assert (await follower.wechat("/wechat", channel, event="unsubscribe")).reply is None
    assert (await follower.wechat("/wechat", channel, kind="image", extra={"MediaId": "m1", "PicUrl": "http://p"})).reply == "收到"
    assert (await follower.wechat("/wechat", channel, kind="voice", extra={"MediaId": "v1", "Recognition": "天气"})).reply == "收到"
    assert seen == [("event", "subscribe", ""), ("event", "unsubscribe", ""), ("image", "m1", ""),
                    ("voice", "v1", "天气")]


async def test_no_match_and_no_fallback_answers_success(sandbox):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = gm.Bot()

    @bot.skill(r"^天气")
    def weather(msg):
        return "晴"

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    heard = await follower.wechat("/wechat", channel, "你好")
    assert (heard.status, heard.body) == (200, b"success")


async def test_retries_of_one_msgid_run_the_skill_once_and_get_the_same_reply(sandbox, make_bot):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = make_bot()
    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    first = await follower.wechat("/wechat", channel, "天气 北京", msg_id="1001")
    again = await follower.wechat("/wechat", channel, "天气 北京", msg_id="1001")
    assert first.reply == again.reply == "北京：晴，12°C"
    assert len(bot.calls) == 1
    # an event's retry is known by FromUserName + CreateTime (+ Event)
    await follower.wechat("/wechat", channel, event="subscribe", timestamp=int(time.time()))
    await follower.wechat("/wechat", channel, event="subscribe", timestamp=int(time.time()))
    assert len(bot.calls) <= 3


async def test_concurrent_retries_while_the_skill_runs_share_one_run(sandbox):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = gm.Bot()
    runs = []

    @bot.skill(r"^慢")
    async def slow(msg):
        runs.append(msg)
        await anyio.sleep(0.2)
        return "好了"

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    heard = []

    async def send():
        heard.append(await follower.wechat("/wechat", channel, "慢", msg_id="77"))

    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(send)
    assert len(runs) == 1
    assert [h.reply for h in heard] == ["好了"] * 3


async def test_slow_skill_answers_success_then_a_customer_service_message(sandbox, make_bot):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = make_bot(reply_within=0.1)
    done = anyio.Event()

    @bot.skill(r"^查快递")
    async def parcel(msg):
        await anyio.sleep(0.3)
        done.set()
        return "您的快递已到北京"

    # registered after weather: move it first
    bot.skills.insert(0, bot.skills.pop())
    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    started = time.monotonic()
    heard = await follower.wechat("/wechat", channel, "查快递 123", user="o_parcel", msg_id="555")
    assert time.monotonic() - started < 0.3
    assert (heard.status, heard.body) == (200, b"success")
    # WeChat's retry, while the skill still runs: success, not a second run
    again = await follower.wechat("/wechat", channel, "查快递 123", user="o_parcel", msg_id="555")
    assert again.body == b"success"
    await done.wait()
    await bot.drain()
    assert follower.inbox(channel, "o_parcel") == ["您的快递已到北京"]
    sent = sandbox["wechat_oa"].customer_messages_to("o_parcel")
    assert sent[0]["msgtype"] == "text"
    # and a retry after it went out gets success, nothing sent twice
    later = await follower.wechat("/wechat", channel, "查快递 123", user="o_parcel", msg_id="555")
    assert later.body == b"success"
    await bot.drain()
    assert len(sandbox["wechat_oa"].customer_messages_to("o_parcel")) == 1


async def test_late_reply_goes_through_the_pipeline_retry_and_token(sandbox, make_bot):
    """The customer-service call takes its token from stable_token and is retried when WeChat is busy."""
    fake = sandbox["wechat_oa"]
    channel = fake.bot_channel("gh_sasac")
    bot = make_bot(reply_within=0)
    fake.inject("busy", path="/cgi-bin/message/custom/send")
    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    await follower.wechat("/wechat", channel, "天气 北京", user="o_b")
    await bot.drain()
    assert follower.inbox(channel, "o_b") == ["北京：晴，12°C"]
    paths = [r.path for r in fake.requests()]
    assert paths.count("/cgi-bin/message/custom/send") == 2
    assert "/cgi-bin/stable_token" in paths


async def test_late_reply_without_app_secret_is_dropped_and_logged(sandbox, caplog):
    fake = sandbox["wechat_oa"]
    full = fake.bot_channel("gh_sasac")
    creds = {k: full.credentials[k] for k in ("app_id", "callback_token", "encoding_aes_key")}
    channel = gm.Channel(platform="wechat_oa", account="gh_sasac", credentials=creds)
    bot = gm.Bot(reply_within=0, http=sandbox.async_client())

    @bot.skill(None)
    def anything(msg):
        return "迟到的回复"

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    assert "no app_secret" in caplog.text
    await follower.wechat("/wechat", channel, "你好", user="o_c")
    await bot.drain()
    assert fake.customer_messages == []
    assert "reply dropped" in caplog.text


async def test_failing_skill_answers_success_and_logs_its_traceback(sandbox, caplog):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = gm.Bot()

    @bot.skill(None)
    def broken(msg):
        raise RuntimeError("upstream weather service down")

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    heard = await follower.wechat("/wechat", channel, "天气", msg_id="4242")
    assert (heard.status, heard.body) == (200, b"success")
    record = next(r for r in caplog.records if r.levelname == "ERROR")
    assert "broken" in record.getMessage() and "4242" in record.getMessage()
    assert record.exc_info is not None
    for secret in ("callback_token", "encoding_aes_key", "app_secret"):
        assert channel.credentials[secret] not in caplog.text


async def test_sync_skill_never_blocks_the_event_loop(sandbox):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = gm.Bot()
    import threading

    loop_thread = threading.get_ident()
    where = []

    @bot.skill(None)
    def blocking(msg):
        where.append(threading.get_ident())
        time.sleep(0.3)
        return "ok"

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    ticks = 0

    async def ticker():
        nonlocal ticks
        for _ in range(10):
            await anyio.sleep(0.02)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        heard = await follower.wechat("/wechat", channel, "x")
    assert heard.reply == "ok"
    assert where and where[0] != loop_thread
    assert ticks == 10


async def test_per_user_limit_runs_no_skill_and_answers_nothing(sandbox, make_bot):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = make_bot(per_user=gm.RateLimit(2, per=60))
    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    replies = [(await follower.wechat("/wechat", channel, "天气 北京", user="o_spam")).reply for _ in range(4)]
    assert replies == ["北京：晴，12°C", "北京：晴，12°C", None, None]
    assert len(bot.calls) == 2
    # another user is not held back
    assert (await follower.wechat("/wechat", channel, "天气 上海", user="o_other")).reply == "上海：晴，12°C"


async def test_state_is_kept_per_user(sandbox):
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = gm.Bot()

    @bot.skill(None)
    def count(msg):
        msg.state["n"] = msg.state.get("n", 0) + 1
        return str(msg.state["n"])

    follower = sandbox.follower(bot.asgi({"/wechat": channel}))
    a = [(await follower.wechat("/wechat", channel, "x", user="o_a")).reply for _ in range(3)]
    b = (await follower.wechat("/wechat", channel, "x", user="o_b")).reply
    assert (a, b) == (["1", "2", "3"], "1")


async def test_over_http_with_a_follower_on_a_url(sandbox, make_bot):
    """The follower also reaches a bot by URL (here an ASGI app behind httpx's transport)."""
    channel = sandbox["wechat_oa"].bot_channel("gh_sasac", safe=False)
    follower = Follower(make_bot().asgi({"/wechat": channel}))
    query, _ = wechat_callback(channel, text="天气 深圳")
    assert "encrypt_type" not in query
    assert (await follower.wechat("/wechat", channel, "天气 深圳")).reply == "深圳：晴，12°C"
    await follower.aclose()


def test_asgi_refuses_channels_that_cannot_serve():
    bot = gm.Bot()
    wx = gm.Channel(platform="wechat_oa", account="gh_a", credentials={"app_id": "wx1"})
    with pytest.raises(gm.ConfigError, match="callback_token"):
        bot.asgi({"/wechat": wx})
    bad_key = gm.Channel(platform="wechat_oa", account="gh_a", credentials={
        "app_id": "wx1", "callback_token": "t", "encoding_aes_key": "short"})
    with pytest.raises(gm.ConfigError, match="encoding_aes_key") as info:
        bot.asgi({"/wechat": bad_key})
    assert "short" not in str(info.value)
    tg = gm.Channel(platform="telegram", account="@b", credentials={"bot_token": "1:x"})
    with pytest.raises(gm.ConfigError, match="webhook_secret"):
        bot.asgi({"/tg": tg})
    mx = gm.Channel(platform="matrix_chat", account="@bot:m.example", credentials={"access_token": "t"},
                    options={"base_url": "https://m.example", "room_id": "!r:m.example"})
    with pytest.raises(gm.ConfigError, match=r"bot\.run"):
        bot.asgi({"/mx": mx})
    with pytest.raises(gm.ConfigError, match="starts with '/'"):
        bot.asgi({"wechat": gm.Channel(platform="wechat_oa", account="gh_a", credentials={
            "app_id": "wx1", "callback_token": "t"})})


def test_wechat_channel_takes_the_inbound_credentials():
    """callback_token and encoding_aes_key are wechat_oa credentials: a matrix with them loads."""
    channel = gm.Channel(platform="wechat_oa", account="gh_a", credentials={
        "app_id": "wx1", "app_secret": "s" * 32, "callback_token": "t", "encoding_aes_key": KEY})
    gm.platforms.get("wechat_oa")().check_channel(channel)
    assert KEY not in repr(channel)
