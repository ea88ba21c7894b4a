"""The bot's journal: messages and replies recorded, handled ids and state across restarts."""

import sqlite3

import pytest
from servicebot_fixtures import make_bot, sandbox  # noqa: F401 - fixtures

import govmedia as gm

pytestmark = pytest.mark.anyio


async def test_messages_and_replies_are_recorded_without_credentials(sandbox, make_bot, tmp_path):
    path = tmp_path / "bot.db"
    wx = sandbox["wechat_oa"].bot_channel("gh_sasac")
    tg = sandbox["telegram"].bot_channel("@sasac_bot")
    bot = make_bot(journal=path)
    follower = sandbox.follower(bot.asgi({"/wechat": wx, "/telegram": tg}))
    await follower.wechat("/wechat", wx, "天气 北京", user="o_a", msg_id="1")
    await follower.wechat("/wechat", wx, "你好", user="o_a", msg_id="2")
    await follower.telegram("/telegram", tg, "天气 上海", user=7, update_id=50)
    await bot.drain()
    db = sqlite3.connect(path)
    rows = db.execute("SELECT platform, account, message_id, user, kind, text, skill, outcome, reply, "
                      "received_at, replied_at FROM bot_messages ORDER BY id").fetchall()
    assert [r[:8] for r in rows] == [
        ("wechat_oa", "gh_sasac", "1", "o_a", "text", "天气 北京", "weather", "replied"),
        ("wechat_oa", "gh_sasac", "2", "o_a", "text", "你好", "menu", "replied"),
        ("telegram", "@sasac_bot", "50", "7", "text", "天气 上海", "weather", "sent"),
    ]
    assert '"北京：晴，12°C"' in rows[0][8]
    assert all(r[9] and r[10] for r in rows)
    dump = "\n".join(db.iterdump())
    for channel in (wx, tg):
        for name, value in channel.credentials.items():
            if name != "app_id":
                assert value not in dump, name


async def test_handled_ids_and_state_survive_a_restart(sandbox, make_bot, tmp_path):
    path = tmp_path / "bot.db"
    wx = sandbox["wechat_oa"].bot_channel("gh_sasac")

    def counting_bot():
        bot = make_bot(journal=path)

        @bot.skill(r"^数")
        def count(msg):
            bot.calls.append(msg)
            msg.state["n"] = msg.state.get("n", 0) + 1
            return f"第{msg.state['n']}次"

        bot.skills.insert(0, bot.skills.pop())
        return bot

    first = counting_bot()
    follower = sandbox.follower(first.asgi({"/wechat": wx}))
    assert (await follower.wechat("/wechat", wx, "数", user="o_a", msg_id="10")).reply == "第1次"
    assert (await follower.wechat("/wechat", wx, "数", user="o_a", msg_id="11")).reply == "第2次"
    await first.drain()
    first.store.journal.close()

    second = counting_bot()  # a new process, the same journal
    follower = sandbox.follower(second.asgi({"/wechat": wx}))
    retry = await follower.wechat("/wechat", wx, "数", user="o_a", msg_id="11")
    assert retry.reply == "第2次"          # the same reply, from the journal
    assert second.calls == []              # nothing ran again
    assert (await follower.wechat("/wechat", wx, "数", user="o_a", msg_id="12")).reply == "第3次"
    await second.drain()


async def test_a_journal_of_an_older_govmedia_gains_the_bot_tables(tmp_path):
    path = tmp_path / "old.db"
    with gm.Journal(path) as journal:
        journal._db.execute("DROP TABLE bot_messages")
        journal._db.execute("DROP TABLE bot_state")
    with gm.Journal(path) as journal:
        tables = {r[0] for r in journal._read("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"bot_messages", "bot_state", "runs", "deliveries"} <= tables


async def test_state_that_is_not_json_stays_in_memory(sandbox, tmp_path, caplog):
    wx = sandbox["wechat_oa"].bot_channel("gh_sasac")
    bot = gm.Bot(journal=tmp_path / "bot.db")

    @bot.skill(None)
    def keep(msg):
        msg.state["when"] = object()
        return "ok"

    follower = sandbox.follower(bot.asgi({"/wechat": wx}))
    assert (await follower.wechat("/wechat", wx, "x")).reply == "ok"
    await bot.drain()
    assert "not JSON" in caplog.text
