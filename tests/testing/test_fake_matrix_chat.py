"""FakeMatrixChat is strict and stateful: it answers the client-server API as Synapse does."""

import json
from urllib.parse import quote

import httpx
import pytest

from govmedia.policy.retry import retry_after_from
from govmedia.testing import FakeMatrixChat
from govmedia.testing.samples import CHART_PNG


@pytest.fixture
def fake():
    return FakeMatrixChat()


@pytest.fixture
def http(fake):
    with httpx.Client(transport=httpx.MockTransport(fake), base_url=fake.base_url) as client:
        yield client


@pytest.fixture
def ch(fake):
    return fake.channel("@sasac:sandbox.govmedia.test")


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def send(http, token, room, txn, content=None, event_type="m.room.message"):
    path = f"/_matrix/client/v3/rooms/{quote(room, safe='')}/send/{event_type}/{txn}"
    return http.put(path, headers=auth(token), json={"msgtype": "m.text", "body": "国资小新"} if content is None
                    else content)


def token(ch):
    return ch.credentials["access_token"]


def room(ch):
    return ch.options["room_id"]


def test_a_channel_is_a_joined_user_with_a_token_and_a_room(fake, http, ch):
    me = http.get("/_matrix/client/v3/account/whoami", headers=auth(token(ch))).json()
    assert me["user_id"] == "@sasac:sandbox.govmedia.test" and me["device_id"]
    assert ch.options["base_url"] == fake.base_url and room(ch).startswith("!")
    other = fake.channel("contract-acct")
    assert fake.user_id(other.account) == "@contract-acct:sandbox.govmedia.test"


@pytest.mark.parametrize(("headers", "errcode"), [
    ({}, "M_MISSING_TOKEN"),
    ({"Authorization": "Bearer syt_nope"}, "M_UNKNOWN_TOKEN"),
])
def test_tokens_are_checked(http, ch, headers, errcode):
    answer = http.put(f"/_matrix/client/v3/rooms/{quote(room(ch), safe='')}/send/m.room.message/t1",
                      headers=headers, json={"msgtype": "m.text", "body": "x"})
    assert (answer.status_code, answer.json()["errcode"]) == (401, errcode)


def test_a_repeated_txn_id_from_the_same_device_is_the_same_event_even_with_another_body(fake, http, ch):
    first = send(http, token(ch), room(ch), "t1").json()["event_id"]
    again = send(http, token(ch), room(ch), "t1", {"msgtype": "m.text", "body": "改过的"}).json()["event_id"]
    assert first == again and len(fake.posts()) == 1
    other_device = fake.login(ch.account)
    assert send(http, other_device, room(ch), "t1").json()["event_id"] != first  # scoped per device
    same_device = fake.login(ch.account, device_id=http.get(
        "/_matrix/client/v3/account/whoami", headers=auth(token(ch))).json()["device_id"])
    assert send(http, same_device, room(ch), "t1").json()["event_id"] == first
    fake.clock = lambda: 2e10  # more than a day later: Synapse has forgotten the txnId
    assert send(http, token(ch), room(ch), "t1").json()["event_id"] != first


@pytest.mark.parametrize(("content", "status", "words"), [
    ({"msgtype": "m.text"}, 400, "'body' not in content"),
    ({"body": "x"}, 400, "'msgtype' not in content"),
    ({"body": 1, "msgtype": "m.text"}, 400, "'body' not a string type"),
    ({"body": "x", "msgtype": "m.text", "format": "org.matrix.custom.html"}, 400, "formatted_body"),
    ({"body": "x", "msgtype": "m.image", "url": "mxc://sandbox.govmedia.test/nope"}, 400, "uploaded here"),
    ({"body": "x" * 65_000, "msgtype": "m.text"}, 413, "event too large"),
])
def test_messages_synapse_would_refuse_are_refused(fake, http, ch, content, status, words):
    answer = send(http, token(ch), room(ch), "bad", content)
    assert answer.status_code == status and words in answer.json()["error"]
    assert fake.posts() == []
    assert send(http, token(ch), room(ch), "bad").status_code == 200  # a refusal is not remembered


def test_only_joined_members_with_the_power_to_send_may_post(fake, http, ch):
    stranger = fake.login("@stranger:sandbox.govmedia.test")
    answer = send(http, stranger, room(ch), "t1")
    assert answer.status_code == 403 and "not in room" in answer.json()["error"]
    fake.join("@stranger:sandbox.govmedia.test", room(ch))
    fake.set_power(room(ch), "@stranger:sandbox.govmedia.test", 0, send_level=50)
    answer = send(http, stranger, room(ch), "t1")
    assert answer.status_code == 403 and "send_level (50)" in answer.json()["error"]
    assert send(http, token(ch), room(ch), "t2").status_code == 200  # the creator has 100


def test_uploads_are_kept_and_served_to_authenticated_readers_only(fake, http, ch):
    up = http.post("/_matrix/media/v3/upload", params={"filename": "chart.png"}, content=CHART_PNG,
                   headers={**auth(token(ch)), "Content-Type": "image/png"})
    mxc = up.json()["content_uri"]
    assert mxc.startswith("mxc://sandbox.govmedia.test/")
    media = mxc.removeprefix("mxc://")
    download = http.get(f"/_matrix/client/v1/media/download/{media}", headers=auth(token(ch)))
    assert download.content == CHART_PNG and download.headers["content-type"] == "image/png"
    assert http.get(f"/_matrix/client/v1/media/download/{media}").status_code == 401
    assert http.get(f"/_matrix/media/v3/download/{media}").status_code == 404  # authenticated media only
    image = {"msgtype": "m.image", "body": "图", "url": mxc, "info": {"mimetype": "image/png"}}
    assert send(http, token(ch), room(ch), "img", image).status_code == 200
    fake.max_upload_size = 10
    too_big = http.post("/_matrix/media/v3/upload", content=CHART_PNG,
                        headers={**auth(token(ch)), "Content-Type": "image/png"})
    assert (too_big.status_code, too_big.json()["errcode"]) == (413, "M_TOO_LARGE")
    untyped = http.post("/_matrix/media/v3/upload", content=b"x", headers=auth(token(ch)))
    assert untyped.json()["errcode"] == "M_MISSING_PARAM"


def test_synapse_s_message_rate_limit_per_user(fake, http, ch):
    fake.enforce_limits = True
    now = [1_700_000_000.0]
    fake.clock = lambda: now[0]
    codes = [send(http, token(ch), room(ch), f"t{i}").status_code for i in range(11)]
    assert codes == [200] * 10 + [429]
    limited = send(http, token(ch), room(ch), "t99")
    body = limited.json()
    assert body["errcode"] == "M_LIMIT_EXCEEDED" and body["retry_after_ms"] == 5000
    assert limited.headers["Retry-After"] == "5" and retry_after_from(limited) == 5
    assert send(http, token(ch), room(ch), "t0").status_code == 200  # a repeat is answered, not counted
    now[0] += 5
    assert send(http, token(ch), room(ch), "t99").status_code == 200
    fake.unlimited.add(fake.user_id(ch.account))  # override_ratelimit
    assert all(send(http, token(ch), room(ch), f"u{i}").status_code == 200 for i in range(20))


def test_redactions_empty_the_event_and_are_deduplicated_too(fake, http, ch):
    event = send(http, token(ch), room(ch), "t1").json()["event_id"]
    path = f"/_matrix/client/v3/rooms/{quote(room(ch), safe='')}/redact/{quote(event, safe='')}/r1"
    first = http.put(path, headers=auth(token(ch)), json={"reason": "撤回"}).json()["event_id"]
    assert http.put(path, headers=auth(token(ch)), json={}).json()["event_id"] == first
    assert fake.posts() == []
    redacted = http.get(f"/_matrix/client/v3/rooms/{quote(room(ch), safe='')}/event/{quote(event, safe='')}",
                        headers=auth(token(ch))).json()
    assert redacted["content"] == {} and redacted["unsigned"]["redacted_because"]["event_id"] == first
    unknown = http.put(path.replace(quote(event, safe=""), "%24nope").replace("/r1", "/r2"),
                       headers=auth(token(ch)), json={})
    assert unknown.status_code == 200  # Synapse redacts an id it does not know, too
    member = fake.channel("@cnpc:sandbox.govmedia.test", room_id=room(ch))
    mine = send(http, token(ch), room(ch), "t2").json()["event_id"]
    theirs = http.put(f"/_matrix/client/v3/rooms/{quote(room(ch), safe='')}/redact/{quote(mine, safe='')}/x",
                      headers=auth(token(member)), json={})
    assert theirs.status_code == 403


def test_messages_pages_backwards_through_a_filter(fake, http, ch):
    member = fake.channel("@cnpc:sandbox.govmedia.test", room_id=room(ch))
    for i in range(5):
        send(http, token(ch), room(ch), f"s{i}", {"msgtype": "m.text", "body": f"sasac {i}"})
        send(http, token(member), room(ch), f"c{i}", {"msgtype": "m.text", "body": f"cnpc {i}"})
    params = {"dir": "b", "limit": 2,
              "filter": json.dumps({"types": ["m.room.message"], "senders": [fake.user_id(ch.account)]})}
    url = f"/_matrix/client/v3/rooms/{quote(room(ch), safe='')}/messages"
    bodies, pages = [], 0
    while True:
        page = http.get(url, params=params, headers=auth(token(ch))).json()
        pages += 1
        bodies += [e["content"]["body"] for e in page["chunk"]]
        assert all(e["unsigned"]["transaction_id"].startswith("s") for e in page["chunk"])  # same device
        if "end" not in page:
            break
        params["from"] = page["end"]
    assert bodies == [f"sasac {i}" for i in range(4, -1, -1)] and pages == 3
    other = http.get(url, params={"dir": "b"}, headers=auth(token(member))).json()["chunk"]
    assert not [e for e in other if "transaction_id" in e["unsigned"] and e["sender"] != "@cnpc:sandbox.govmedia.test"]


def test_posts_group_a_post_s_events_by_govmedia_s_marker(fake, http, ch):
    send(http, token(ch), room(ch), "k.0", {"msgtype": "m.text", "body": "一", "org.govmedia.key": "gm-k.0"})
    up = http.post("/_matrix/media/v3/upload", content=CHART_PNG,
                   headers={**auth(token(ch)), "Content-Type": "image/png"}).json()
    send(http, token(ch), room(ch), "k.1", {"msgtype": "m.image", "body": "图", "url": up["content_uri"],
                                           "org.govmedia.key": "gm-k.1"})
    send(http, token(ch), room(ch), "plain", {"msgtype": "m.text", "body": "手写"})
    posts = fake.posts(ch.account)
    assert [len(p["events"]) for p in posts] == [2, 1]
    assert posts[0]["content"]["body"] == "一" and fake.posts("@nobody:x") == []


@pytest.mark.parametrize(("kind", "status", "errcode"), [
    ("rate_limit", 429, "M_LIMIT_EXCEEDED"),
    ("busy", 403, "M_RESOURCE_LIMIT_EXCEEDED"),
    ("server_error", 500, "M_UNKNOWN"),
    ("token_expired", 401, "M_UNKNOWN_TOKEN"),
])
def test_faults_come_in_synapse_s_shapes(fake, http, ch, kind, status, errcode):
    fake.inject(kind, path=fake.create_path, retry_after=2)
    answer = send(http, token(ch), room(ch), "t1")
    assert (answer.status_code, answer.json()["errcode"]) == (status, errcode)
    if kind == "rate_limit":
        assert answer.json()["retry_after_ms"] == 2000 and answer.headers["Retry-After"] == "2"
    assert fake.posts() == []


def test_unknown_endpoints_and_bodies(http, ch):
    assert http.get("/_matrix/client/v3/nope").json()["errcode"] == "M_UNRECOGNIZED"
    bad = http.put(f"/_matrix/client/v3/rooms/{quote(room(ch), safe='')}/send/m.room.message/t",
                   headers={**auth(token(ch)), "Content-Type": "application/json"}, content=b"{not json")
    assert (bad.status_code, bad.json()["errcode"]) == (400, "M_NOT_JSON")
