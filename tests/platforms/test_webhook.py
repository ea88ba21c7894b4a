"""webhook: Standard Webhooks 1.0 headers, signatures and delivery rules.

Shapes from shared/platforms/webhook.md: `webhook-id` unchanged across
retries, `webhook-timestamp` per attempt, `v1,<base64 HMAC-SHA256>` over
`{id}.{timestamp}.{raw body}`; 410 disables, 429/502/504 throttle.
"""

import base64
import hashlib
import hmac
import json

import httpx
import pytest
import respx

import govmedia as gm
from govmedia.platforms.webhook import sign

URL = "https://cms.example/hooks/govmedia"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def channel(**options):
    return gm.Channel(platform="webhook", account="cms@example", credentials={"secret": SECRET},
                      options={"url": URL, **options})


POST = gm.Post(title="央企人事调整", body="# 任免\n\n**张三** 任总经理", tags=("央企人事调整",),
               link="https://example.org/a/9")


def verify(request):
    """What a receiver does (shared/platforms/webhook.md, Receiver verification)."""
    msg_id = request.headers["webhook-id"]
    ts = request.headers["webhook-timestamp"]
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + request.content,
                                         hashlib.sha256).digest()).decode()
    return f"v1,{expected}" in request.headers["webhook-signature"].split()


def test_reference_signature_vector():
    # The vector from the Standard Webhooks reference library's tests.
    assert sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}') == \
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@respx.mock
def test_publish_sends_a_signed_event():
    route = respx.post(URL).mock(return_value=httpx.Response(200, json={"url": "https://cms.example/p/1"}))
    with gm.Client() as client:
        receipt = client.publish(POST, channel())
    request = route.calls.last.request
    assert verify(request)
    assert request.headers["content-type"] == "application/json"
    event = json.loads(request.content)
    assert event["type"] == "post.published"
    assert event["timestamp"].endswith("Z")
    assert event["data"]["title"] == "央企人事调整"
    assert event["data"]["html"].startswith("<h1>任免</h1>")
    assert "央企人事调整".encode() in request.content  # raw UTF-8, not \u escapes
    assert receipt.remote_id == request.headers["webhook-id"]
    assert receipt.url == "https://cms.example/p/1"


@respx.mock
def test_retries_keep_the_id_and_re_sign_each_attempt():
    route = respx.post(URL).mock(side_effect=[
        httpx.Response(502, text="<html><body>Bad Gateway</body></html>"),
        httpx.ReadTimeout("lost"),
        httpx.Response(204),
    ])
    with gm.Client(retry=gm.RetryPolicy.testing()) as client:
        client.publish(POST, channel())
    ids = {c.request.headers["webhook-id"] for c in route.calls}
    assert len(ids) == 1 and route.call_count == 3
    assert all(verify(c.request) for c in route.calls)


@respx.mock
def test_the_id_is_stable_across_runs_and_differs_per_account():
    route = respx.post(URL).mock(return_value=httpx.Response(200))
    with gm.Client(journal=False) as client:  # without a journal, a second run sends again
        client.publish(POST, channel())
        client.publish(POST, channel())
        client.publish(POST, gm.Channel(platform="webhook", account="other", options={"url": URL}))
    ids = [c.request.headers["webhook-id"] for c in route.calls]
    assert ids[0] == ids[1] != ids[2]
    assert "webhook-signature" not in route.calls[2].request.headers  # no secret, no signature


@respx.mock
def test_410_disables_and_is_not_retried():
    route = respx.post(URL).mock(return_value=httpx.Response(410))
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.PlatformError) as info:
        client.publish(POST, channel())
    assert route.call_count == 1 and info.value.code == 410
    assert "opted out" in str(info.value)


@respx.mock
@pytest.mark.parametrize("status", [429, 502, 504])
def test_throttle_statuses_honour_retry_after(status, monkeypatch):
    import govmedia.client as client_module

    waits = []
    monkeypatch.setattr(client_module, "_sleep", waits.append)
    respx.post(URL).mock(side_effect=[httpx.Response(status, headers={"Retry-After": "3"}), httpx.Response(200)])
    with gm.Client(retry=gm.RetryPolicy(wait_jitter=0)) as client:
        client.publish(POST, channel())
    assert waits == [3.0]


@respx.mock
@pytest.mark.parametrize(("status", "error"), [
    (401, gm.AuthError), (403, gm.AuthError), (400, gm.ContentRejected), (413, gm.ContentRejected),
    (422, gm.ContentRejected), (404, gm.PlatformError), (301, gm.PlatformError),
])
def test_refusals_are_final(status, error):
    route = respx.post(URL).mock(return_value=httpx.Response(status, headers={"Location": "https://x"}))
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(error):
        client.publish(POST, channel())
    assert route.call_count == 1


def test_channel_checks():
    with gm.Client() as client:
        with pytest.raises(gm.ConfigError, match="missing option"):
            client.check(POST, gm.Channel(platform="webhook", account="x"))
        with pytest.raises(gm.ConfigError, match="http"):
            client.check(POST, gm.Channel(platform="webhook", account="x", options={"url": "ftp://x"}))
        with pytest.raises(gm.ConfigError, match="whsec_"):
            client.check(POST, gm.Channel(platform="webhook", account="x", options={"url": URL},
                                          credentials={"secret": "whsec_!!notbase64"}))
        with pytest.raises(gm.ConfigError, match="unknown credential"):
            client.check(POST, gm.Channel(platform="webhook", account="x", options={"url": URL},
                                          credentials={"token": "abc"}))
        assert client.check(POST, channel()) == []


@respx.mock
def test_publish_twice_with_the_journal_sends_once_and_gives_back_the_receipt():
    route = respx.post(URL).mock(return_value=httpx.Response(200))
    with gm.Client() as client:
        first = client.publish(POST, channel())
        again = client.publish(POST, channel())   # a notebook cell run twice
    assert route.call_count == 1 and again.remote_id == first.remote_id
