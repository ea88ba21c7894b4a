"""The service bot on a real Synapse (127.0.0.1): /sync long-poll, answers, invites, restarts.

Starts its own Synapse (synapse_server.py), as test_matrix_synapse.py does.
"""

import json
import time

import anyio
import pytest
from synapse_server import Synapse

import govmedia as gm

pytestmark = [pytest.mark.integration, pytest.mark.anyio]


@pytest.fixture(scope="module")
def synapse(tmp_path_factory):
    server = Synapse(tmp_path_factory.mktemp("synapse-bot"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def channel_of(synapse, user, room_id):
    return gm.Channel(platform="matrix_chat", account=user["user_id"],
                      credentials={"access_token": user["access_token"]},
                      options={"base_url": synapse.url, "room_id": room_id})


def say(synapse, who, room_id, text, msgtype="m.text"):
    txn = f"t{time.monotonic_ns()}"
    from urllib.parse import quote

    synapse.http.put(f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/send/m.room.message/{txn}",
                     headers=synapse.auth(who["access_token"]),
                     json={"msgtype": msgtype, "body": text}).raise_for_status()


def make_bot(**options):
    bot = gm.Bot(retry=gm.RetryPolicy(wait_jitter=0.1), **options)
    bot.calls = []

    @bot.skill(r"^天气\s*(?P<city>\S+)")
    def weather(msg, city):
        bot.calls.append(msg)
        return f"{city}：晴，12°C"

    return bot


async def wait_for(predicate, seconds=20.0):
    with anyio.fail_after(seconds):
        while not (result := await anyio.to_thread.run_sync(predicate)):  # noqa: ASYNC110 - polls Synapse
            await anyio.sleep(0.2)
    return result


def notices(synapse, room_id, reader):
    return [m["content"]["body"] for m in synapse.messages(room_id, reader)
            if m["content"].get("msgtype") == "m.notice"]


async def test_room_message_is_answered_once_by_sync(synapse, tmp_path):
    bot_user, follower = synapse.register("svc-bot"), synapse.register("follower1")
    room = synapse.create_room(follower, members=(bot_user,))
    say(synapse, follower, room, "天气 北京")  # history before the bot starts: not answered
    bot = make_bot(journal=tmp_path / "bot.db")
    channel = channel_of(synapse, bot_user, room)
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: bot.run(channel, poll_timeout=2))
        await anyio.sleep(1.5)
        say(synapse, follower, room, "天气 上海")
        say(synapse, follower, room, "别的话")  # no skill matches, no fallback: no answer
        await wait_for(lambda: notices(synapse, room, follower))
        await anyio.sleep(1.0)
        tg.cancel_scope.cancel()
    assert notices(synapse, room, follower) == ["上海：晴，12°C"]
    msg = bot.calls[0]
    assert (msg.user, msg.kind, msg.text) == (follower["user_id"], "text", "天气 上海")
    assert msg.raw["room_id"] == room
    assert msg.message_id.startswith("$")
    # its own notice was not answered either
    assert len(bot.calls) == 1

    # a restart with the journal catches up on what came meanwhile, and answers nothing twice
    say(synapse, follower, room, "天气 广州")
    again = make_bot(journal=tmp_path / "bot.db")
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: again.run(channel, poll_timeout=2))
        await wait_for(lambda: len(notices(synapse, room, follower)) == 2)
        await anyio.sleep(1.0)
        tg.cancel_scope.cancel()
    assert notices(synapse, room, follower) == ["上海：晴，12°C", "广州：晴，12°C"]
    assert [m.text for m in again.calls] == ["天气 广州"]


async def test_invite_is_joined_and_answered(synapse):
    bot_user, follower = synapse.register("svc-bot2"), synapse.register("follower2")
    room = synapse.http.post("/_matrix/client/v3/createRoom", headers=synapse.auth(follower["access_token"]),
                             json={"preset": "private_chat", "is_direct": True,
                                   "invite": [bot_user["user_id"]]}).raise_for_status().json()["room_id"]
    bot = make_bot()
    channel = gm.Channel(platform="matrix_chat", account=bot_user["user_id"],
                         credentials={"access_token": bot_user["access_token"]},
                         options={"base_url": synapse.url, "room_id": room})

    def joined():
        members = synapse.http.get(f"/_matrix/client/v3/rooms/{room}/joined_members",
                                   headers=synapse.auth(follower["access_token"])).json()
        return bot_user["user_id"] in json.dumps(members)

    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: bot.run(channel, poll_timeout=2))
        await wait_for(joined)
        await anyio.sleep(1.0)
        say(synapse, follower, room, "天气 深圳")
        await wait_for(lambda: notices(synapse, room, follower))
        tg.cancel_scope.cancel()
    assert notices(synapse, room, follower) == ["深圳：晴，12°C"]


async def test_bad_token_stops_the_loop_with_an_auth_error(synapse):
    bot = make_bot()
    channel = gm.Channel(platform="matrix_chat", account="@nobody:localhost",
                         credentials={"access_token": "syt_not_a_token"},
                         options={"base_url": synapse.url, "room_id": "!r:localhost"})
    with pytest.raises(gm.AuthError):
        await bot.run(channel, poll_timeout=1)
