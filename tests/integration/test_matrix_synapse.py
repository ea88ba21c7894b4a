"""govmedia against a real Synapse on 127.0.0.1, read back through Synapse's own API.

The session fixture installs Synapse once (cached, see synapse_server.py),
starts it with a fresh config and stops it by pid however the session ends.
Users are registered through the admin API with their message rate limit
lifted, except the one the rate-limit test drives into Synapse's default
``rc_message`` (0.2 a second, bursts of 10).
"""

import json
import time
from urllib.parse import quote

import httpx
import pytest
from synapse_server import SERVER_NAME, Synapse

import govmedia as gm
from govmedia.platforms.matrix_chat import MARKER
from govmedia.testing.samples import CHART_PNG

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def synapse(tmp_path_factory):
    server = Synapse(tmp_path_factory.mktemp("synapse"))
    try:
        server.start()
        (server.workdir / "timings.json").write_text(json.dumps(server.timings))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def reader(synapse):
    """A user who reads every room the tests post in."""
    return synapse.register("reader")


def bot_channel(synapse, user, room_id, account=None):
    return gm.Channel(platform="matrix_chat", account=account or user["user_id"],
                      credentials={"access_token": user["access_token"]},
                      options={"base_url": synapse.url, "room_id": room_id})


def get_event(synapse, room_id, event_id, who):
    return synapse.http.get(
        f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/event/{quote(event_id, safe='')}",
        headers=synapse.auth(who["access_token"])).raise_for_status().json()


def ours(messages):
    """The events govmedia sent (they carry its marker)."""
    return [m for m in messages if MARKER in m.get("content", {})]


@pytest.fixture
def client():
    # Only the rate-limit test keeps the default client-side limits; elsewhere they would only slow it.
    with gm.Client(retry=gm.RetryPolicy(wait_jitter=0.1), journal=False,
                   rate_limits={"matrix_chat:*": gm.RateLimit(1000)}) as c:
        yield c


def test_synapse_started_in_seconds(synapse):
    assert synapse.timings["ready"] < 60
    assert synapse.http.get("/_matrix/client/versions").json()["versions"]


def test_markdown_text_reads_back_as_formatted_body(synapse, reader, client):
    bot = synapse.register("text-bot")
    room = synapse.create_room(bot, members=(reader,))
    receipt = client.publish(gm.Post(text="**国资小新**：中老铁路开通一周年 [详情](https://example.org/a/1)"),
                             bot_channel(synapse, bot, room))
    event = get_event(synapse, room, receipt.remote_id, reader)
    assert event["sender"] == bot["user_id"]
    assert event["content"]["body"].startswith("**国资小新**")
    assert event["content"]["format"] == "org.matrix.custom.html"
    assert event["content"]["formatted_body"] == (
        '<strong>国资小新</strong>：中老铁路开通一周年 <a href="https://example.org/a/1">详情</a>')
    assert receipt.url.startswith("https://matrix.to/#/!")
    assert receipt.url.endswith(f"?via={SERVER_NAME}")


def test_an_image_goes_to_the_media_repository_and_reads_back_with_authentication(synapse, reader, client):
    bot = synapse.register("image-bot")
    room = synapse.create_room(bot, members=(reader,))
    chart = gm.Media.from_bytes(CHART_PNG, filename="chart.png", alt="客货运量柱状图")
    receipt = client.publish(gm.Post(text="客货两旺", media=[chart]), bot_channel(synapse, bot, room))
    text, image = ours(synapse.messages(room, reader))
    assert [text["event_id"], image["event_id"]] == list(receipt.raw["event_ids"])
    content = image["content"]
    assert (content["msgtype"], content["body"], content["info"]) == (
        "m.image", "客货运量柱状图", {"mimetype": "image/png", "size": len(CHART_PNG), "w": 64, "h": 36})
    media = content["url"].removeprefix("mxc://")
    download = synapse.http.get(f"/_matrix/client/v1/media/download/{media}",
                                headers=synapse.auth(reader["access_token"]))
    assert download.status_code == 200 and download.content == CHART_PNG
    assert synapse.http.get(f"/_matrix/media/v3/download/{media}").status_code == 404  # authenticated media
    client.delete(receipt)
    assert ours(synapse.messages(room, reader)) == []  # both redacted: no content, no marker


def test_a_fan_out_reaches_several_rooms_and_bots(synapse, reader, client):
    bots = [synapse.register(f"fan-{name}") for name in ("sasac", "cnpc", "sinopec")]
    shared = synapse.create_room(bots[0], members=(reader, bots[2]))
    own = synapse.create_room(bots[1], members=(reader,))
    channels = [bot_channel(synapse, bots[0], shared), bot_channel(synapse, bots[1], own),
                bot_channel(synapse, bots[2], shared)]
    report = client.fan_out(gm.Post(text="一带一路看国企"), channels)
    assert report.ok, report.summary()
    in_shared = ours(synapse.messages(shared, reader))
    assert sorted(m["sender"] for m in in_shared) == sorted([bots[0]["user_id"], bots[2]["user_id"]])
    [in_own] = ours(synapse.messages(own, reader))
    assert in_own["sender"] == bots[1]["user_id"] and in_own["content"]["body"] == "一带一路看国企"


class LoseFirstAnswer(httpx.BaseTransport):
    """Sends every request to Synapse; the first answer to a matching send is lost (applied, not heard)."""

    def __init__(self, ending):
        self.inner, self.ending, self.lost = httpx.HTTPTransport(), ending, []

    def close(self):
        self.inner.close()

    def handle_request(self, request):
        response = self.inner.handle_request(request)
        if "/send/" in request.url.path and request.url.path.endswith(self.ending) and not self.lost:
            response.read()
            self.lost.append(response.json()["event_id"])
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_a_resend_with_the_same_key_creates_nothing_new(synapse, reader, client):
    bot = synapse.register("resend-bot")
    room = synapse.create_room(bot, members=(reader,))
    ch = bot_channel(synapse, bot, room)
    post = gm.Post(text="重复发送只生效一次")
    first = client.publish(post, ch)
    again = client.publish(post, ch)  # no journal: sent again, same txnId
    assert again.remote_id == first.remote_id
    transport = LoseFirstAnswer(".0")
    with httpx.Client(transport=transport) as http, gm.Client(
            http=http, retry=gm.RetryPolicy(wait_jitter=0), journal=False) as lossy:
        lost = lossy.publish(gm.Post(text="第一次的回答丢了"), ch)
    assert transport.lost == [lost.remote_id]  # the resend got the event the lost answer named
    bodies = [m["content"]["body"] for m in ours(synapse.messages(room, reader))]
    assert bodies == ["重复发送只生效一次", "第一次的回答丢了"]


def test_a_rerun_on_a_new_device_finds_the_sent_text_and_sends_only_the_image(synapse, reader, tmp_path):
    bot = synapse.register("device-bot")
    room = synapse.create_room(bot, members=(reader,))
    ch = bot_channel(synapse, bot, room)
    post = gm.Post(text="换了设备再补发", media=[gm.Media.from_bytes(CHART_PNG, filename="chart.png")])

    def refuse_the_image(request):
        if "/send/" in request.url.path and request.url.path.endswith(".1"):
            return httpx.Response(500, json={"errcode": "M_UNKNOWN", "error": "injected"})
        with httpx.Client() as direct:
            answer = direct.send(request)
            answer.read()
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    with httpx.Client(transport=httpx.MockTransport(refuse_the_image)) as broken, gm.Client(
            http=broken, journal=tmp_path / "j.db", retry=gm.RetryPolicy.testing()) as first:
        report = first.fan_out(post, [ch])
    assert report.deliveries[0].state == "unknown"
    # The bot logs in again: a new device, for which Synapse has no record of the txnIds.
    login = synapse.http.post("/_matrix/client/v3/login", json={
        "type": "m.login.password", "identifier": {"type": "m.id.user", "user": "device-bot"},
        "password": bot["password"]}).raise_for_status().json()
    assert login["device_id"] != bot["device_id"]
    renewed = gm.Channel(platform="matrix_chat", account=ch.account, options=ch.options,
                         credentials={"access_token": login["access_token"]})
    with gm.Client(journal=tmp_path / "j.db", retry=gm.RetryPolicy(wait_jitter=0)) as second:
        again = second.fan_out(post, [renewed])
    assert again.deliveries[0].state == "published"
    sent = ours(synapse.messages(room, reader))
    assert [m["content"]["msgtype"] for m in sent] == ["m.text", "m.image"]  # the text once
    assert again.deliveries[0].receipt.remote_id == sent[0]["event_id"]


def test_synapse_s_default_message_rate_limit_is_met_and_no_delivery_fails(synapse, reader):
    bot = synapse.register("limited-bot", limited=True)  # Synapse's default rc_message applies
    admin = synapse.register("room-maker")
    rooms = [synapse.create_room(admin, members=(bot, reader)) for _ in range(4)]
    # Another client of the same bot (a person in Element, say) has spent its burst already.
    for i in range(20):
        answer = synapse.http.put(
            f"/_matrix/client/v3/rooms/{quote(rooms[3], safe='')}/send/m.room.message/other-{i}",
            headers=synapse.auth(bot["access_token"]), json={"msgtype": "m.text", "body": f"手动 {i}"})
        if answer.status_code == 429:
            break
    else:
        pytest.fail("Synapse's default rate limit did not apply")
    limited = []

    def seen(response):
        if response.status_code == 429:
            limited.append(response.headers.get("Retry-After"))

    channels = [bot_channel(synapse, bot, room, account=f"{bot['user_id']}/{n}") for n, room in
                enumerate(rooms[:3])]
    began = time.monotonic()
    with httpx.Client(event_hooks={"response": [seen]}) as http, gm.Client(http=http, journal=False) as client:
        report = client.fan_out(gm.Post(text="限流之下，一条不少"), channels)  # default limits and retries
    took = time.monotonic() - began
    assert report.ok, report.summary()
    assert limited and all(limited), "the limit was not met, or Synapse sent no Retry-After"
    for room in rooms[:3]:
        assert [m["content"]["body"] for m in ours(synapse.messages(room, reader))] == ["限流之下，一条不少"]
    assert took > 4  # each send waited for the bucket to refill (one every 5 s)
