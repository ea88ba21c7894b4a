"""Telegram webhooks: the secret header, 200 at once, sendMessage replies, repeated update_id."""

import json

import anyio
import httpx
import pytest
from servicebot_fixtures import make_bot, sandbox  # noqa: F401 - fixtures

import govmedia as gm
from govmedia.testing.follower import telegram_update

pytestmark = pytest.mark.anyio


async def test_update_is_answered_by_send_message_to_its_chat(sandbox, make_bot):
    channel = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = make_bot()
    follower = sandbox.follower(bot.asgi({"/telegram": channel}))
    heard = await follower.telegram("/telegram", channel, "天气 北京", user=4242)
    assert heard.status == 200
    await bot.drain()
    assert follower.inbox(channel, 4242) == ["北京：晴，12°C"]
    msg = bot.calls[0]
    assert (msg.user, msg.kind, msg.text) == ("4242", "text", "天气 北京")
    assert msg.raw["chat"]["id"] == 4242
    assert msg.at.tzinfo is not None


async def test_webhook_answers_before_the_skill_finishes(sandbox):
    channel = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = gm.Bot(http=sandbox.async_client())
    release = anyio.Event()

    @bot.skill(None)
    async def slow(msg):
        await release.wait()
        return "好了"

    follower = sandbox.follower(bot.asgi({"/telegram": channel}))
    with anyio.fail_after(2):
        heard = await follower.telegram("/telegram", channel, "你好", user=5)
    assert heard.status == 200
    assert follower.inbox(channel, 5) == []
    release.set()
    await bot.drain()
    assert follower.inbox(channel, 5) == ["好了"]


async def test_repeated_update_id_runs_nothing(sandbox, make_bot):
    channel = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = make_bot()
    follower = sandbox.follower(bot.asgi({"/telegram": channel}))
    for _ in range(3):
        assert (await follower.telegram("/telegram", channel, "天气 北京", user=9, update_id=777)).status == 200
    await bot.drain()
    assert len(bot.calls) == 1
    assert follower.inbox(channel, 9) == ["北京：晴，12°C"]


async def test_photo_reply_and_articles_as_text(sandbox):
    channel = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = gm.Bot(http=sandbox.async_client())
    sandbox["telegram"].remote["https://example.org/c.jpg"] = (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
        b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
        b"\x00IEND\xaeB`\x82")

    @bot.skill(r"^图")
    def picture(msg):
        return gm.Reply("国资小新", image="https://example.org/c.jpg")

    @bot.skill(r"^推荐")
    def news(msg):
        return gm.Reply("今日推荐", articles=[("一带一路看国企", "", "https://example.org/1", "")])

    follower = sandbox.follower(bot.asgi({"/telegram": channel}))
    await follower.telegram("/telegram", channel, "图", user=11)
    await follower.telegram("/telegram", channel, "推荐", user=11)
    await bot.drain()
    assert follower.inbox(channel, 11) == ["国资小新", "今日推荐\n一带一路看国企 https://example.org/1"]


async def test_updates_the_bot_does_not_answer(sandbox, make_bot):
    channel = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = make_bot()
    app = bot.asgi({"/telegram": channel})
    headers = {"X-Telegram-Bot-Api-Secret-Token": channel.credentials["webhook_secret"]}
    bot_sender = telegram_update("hi", user=3)
    bot_sender["message"]["from"]["is_bot"] = True
    for update in ({"update_id": 1, "edited_message": {"text": "x"}},
                   {"update_id": 2, "my_chat_member": {}}, bot_sender):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://b") as c:
            response = await c.post("/telegram", content=json.dumps(update), headers=headers)
        assert response.status_code == 200
    await bot.drain()
    assert bot.calls == []


async def test_send_failure_is_logged_and_the_webhook_still_200(sandbox, make_bot, caplog):
    channel = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = make_bot()
    follower = sandbox.follower(bot.asgi({"/telegram": channel}))
    # no private chat with user 99 in the fake: "chat not found"
    app_client = httpx.AsyncClient(transport=httpx.ASGITransport(bot.app), base_url="http://b")
    response = await app_client.post("/telegram", content=json.dumps(telegram_update("天气 北京", user=99)),
                                      headers={"X-Telegram-Bot-Api-Secret-Token": channel.credentials["webhook_secret"]})
    assert response.status_code == 200
    await bot.drain()
    assert "chat not found" in caplog.text
    assert channel.credentials["bot_token"] not in caplog.text
    assert follower.inbox(channel, 99) == []


async def test_skill_platform_filter(sandbox):
    wx = sandbox["wechat_oa"].bot_channel("gh_sasac")
    tg = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = gm.Bot(http=sandbox.async_client())

    @bot.skill(r"^hi", platforms=("telegram",))
    def tg_only(msg):
        return "telegram"

    @bot.fallback
    def other(msg):
        return "fallback"

    follower = sandbox.follower(bot.asgi({"/wechat": wx, "/telegram": tg}))
    assert (await follower.wechat("/wechat", wx, "hi")).reply == "fallback"
    await follower.telegram("/telegram", tg, "hi", user=1)
    await bot.drain()
    assert follower.inbox(tg, 1) == ["telegram"]
