"""The per-step pipeline: retries, waits, refresh, duplicates, masking.

A tiny made-up platform ("ticket") with an expiring token and no idempotency
key exercises the rules in DESIGN.md "Retry and duplicates" on both clients.
"""

import logging
from typing import ClassVar

import anyio
import httpx
import pytest
import respx

import govmedia as gm
import govmedia.client as client_module
from govmedia.platforms.base import Token, json_body, json_of

API = "https://api.ticket.test"


class TicketPlatform(gm.BasePlatform):
    name = "ticket"
    credential_keys = ("app_id", "app_secret")
    uses_token = True
    capabilities = gm.Capabilities(refresh=True)
    error_codes: ClassVar = {"expired": gm.AuthError, "busy": gm.TransientError,
                             "quota": gm.RateLimited, "slow": gm.RateLimited}
    quota_codes = frozenset({"quota"})

    def authenticate(self, channel):
        response = yield httpx.Request("POST", f"{API}/token", content=json_body(
            {"app": channel.credentials["app_id"], "secret": channel.credentials["app_secret"]}))
        body = json_of(response)
        return Token(value=body["token"], expires_in=body["expires_in"])

    def token_scope(self, channel):
        return channel.credentials["app_id"]

    def authorize(self, request, channel, token):
        request.url = request.url.copy_merge_params({"access_token": token.value})
        return request

    def error_details(self, response):
        if response.status_code == 200:
            body = json_of(response) if response.content else {}
            if isinstance(body, dict) and body.get("code"):
                return body["code"], body.get("msg", "")
            return None
        return super().error_details(response)

    def publish(self, post, channel, key):
        response = yield httpx.Request("POST", f"{API}/posts", content=json_body({"text": post.text}))
        return gm.Receipt(channel=channel, remote_id=str(json_of(response)["id"]))


@pytest.fixture(autouse=True)
def _ticket():
    gm.platforms.register("ticket", TicketPlatform, replace=True)
    yield
    gm.platforms.unregister("ticket")


@pytest.fixture
def waits(monkeypatch):
    seen = []
    monkeypatch.setattr(client_module, "_sleep", seen.append)
    return seen


def channel(app="app1", account="acct1"):
    return gm.Channel(platform="ticket", account=account,
                      credentials={"app_id": app, "app_secret": "app-secret-value"})


POST = gm.Post(text="国资委发布会")


def token_route(router, *tokens):
    return router.post(f"{API}/token").mock(side_effect=[
        httpx.Response(200, json={"token": t, "expires_in": 7200}) for t in tokens
    ])


@respx.mock
def test_publish_fetches_a_token_once_and_reuses_it():
    tokens = token_route(respx, "tok-AAAAAAAA")
    posts = respx.post(f"{API}/posts").mock(return_value=httpx.Response(200, json={"id": 1}))
    with gm.Client(retry=gm.RetryPolicy.testing()) as client:
        client.publish(POST, channel())
        client.publish(gm.Post(text="第二条"), channel(account="acct2"))
    assert tokens.call_count == 1
    assert posts.calls[0].request.url.params["access_token"] == "tok-AAAAAAAA"


@respx.mock
def test_expired_token_is_refreshed_once_and_the_step_resent():
    token_route(respx, "tok-OLD00000", "tok-NEW00000")
    posts = respx.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, json={"code": "expired", "msg": "token expired"}),
        httpx.Response(200, json={"id": 7}),
    ])
    with gm.Client(retry=gm.RetryPolicy.testing()) as client:
        assert client.publish(POST, channel()).remote_id == "7"
    assert [c.request.url.params["access_token"] for c in posts.calls] == ["tok-OLD00000", "tok-NEW00000"]


@respx.mock
def test_a_token_refused_twice_is_an_auth_error():
    token_route(respx, "tok-OLD00000", "tok-NEW00000")
    respx.post(f"{API}/posts").mock(return_value=httpx.Response(200, json={"code": "expired"}))
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.AuthError) as info:
        client.publish(POST, channel())
    assert info.value.platform == "ticket" and info.value.account == "acct1"


@respx.mock
def test_busy_code_is_retried_but_a_bare_5xx_on_a_plain_write_is_unknown(waits):
    token_route(respx, "tok-AAAAAAAA")
    posts = respx.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, json={"code": "busy", "msg": "system busy"}),
        httpx.Response(502, text="<html><body><h1>502 Bad Gateway</h1></body></html>"),
    ])
    with gm.Client(retry=gm.RetryPolicy(wait_initial=0.5, wait_jitter=0)) as client, \
            pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(POST, channel())
    assert posts.call_count == 2  # the 502 was not resent
    assert waits == [0.5]
    assert "502 Bad Gateway" in str(info.value)
    assert "<h1>" not in str(info.value)


@respx.mock
def test_timeout_after_send_is_never_resent_without_idempotency():
    token_route(respx, "tok-AAAAAAAA")
    posts = respx.post(f"{API}/posts").mock(side_effect=httpx.ReadTimeout("read timed out"))
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.DeliveryUnknown):
        client.publish(POST, channel())
    assert posts.call_count == 1


@respx.mock
def test_connect_failure_is_retried_because_nothing_was_sent():
    token_route(respx, "tok-AAAAAAAA")
    posts = respx.post(f"{API}/posts").mock(side_effect=[
        httpx.ConnectError("connection refused"), httpx.Response(200, json={"id": 3})])
    with gm.Client(retry=gm.RetryPolicy.testing()) as client:
        assert client.publish(POST, channel()).remote_id == "3"
    assert posts.call_count == 2


@respx.mock
def test_truncated_json_on_a_write_is_unknown():
    token_route(respx, "tok-AAAAAAAA")
    respx.post(f"{API}/posts").mock(return_value=httpx.Response(200, content=b'{"id": 1'))
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.DeliveryUnknown, match=r"not valid JSON"):
        client.publish(POST, channel())


@respx.mock
def test_retry_after_is_honoured_before_backoff(waits):
    token_route(respx, "tok-AAAAAAAA")
    respx.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, headers={"Retry-After": "7"}, json={"code": "slow"}),
        httpx.Response(200, json={"id": 1}),
    ])
    with gm.Client(retry=gm.RetryPolicy(wait_jitter=0)) as client:
        client.publish(POST, channel())
    assert waits == [7.0]


@respx.mock
def test_a_wait_beyond_the_cap_or_a_daily_quota_raises_at_once(waits):
    token_route(respx, "tok-AAAAAAAA")
    posts = respx.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, headers={"Retry-After": "3600"}, json={"code": "slow"}),
        httpx.Response(200, json={"code": "quota", "msg": "daily quota reached"}),
    ])
    with gm.Client(retry=gm.RetryPolicy(max_retry_after=120)) as client:
        with pytest.raises(gm.RateLimited) as first:
            client.publish(POST, channel())
        with pytest.raises(gm.RateLimited) as second:
            client.publish(POST, channel())
    assert first.value.retry_after == 3600
    assert second.value.retry_after is None
    assert posts.call_count == 2 and waits == []


@respx.mock
def test_attempts_are_bounded():
    token_route(respx, "tok-AAAAAAAA")
    posts = respx.post(f"{API}/posts").mock(return_value=httpx.Response(200, json={"code": "busy"}))
    with gm.Client(retry=gm.RetryPolicy.testing(attempts=3)) as client, pytest.raises(gm.TransientError):
        client.publish(POST, channel())
    assert posts.call_count == 3


@respx.mock
def test_no_secret_or_token_reaches_any_log_record(caplog):
    caplog.set_level(logging.DEBUG)
    token_route(respx, "tok-SECRET-123456", "tok-SECRET-789012")
    respx.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, json={"code": "expired", "msg": "bad token tok-SECRET-123456"}),
        httpx.ReadTimeout("timed out"),
    ])
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.DeliveryUnknown) as info:
        client.publish(POST, channel())
    text = caplog.text + str(info.value) + repr(info.value)
    assert "access_token=" in caplog.text  # httpx logged the URL...
    for secret in ("tok-SECRET-123456", "tok-SECRET-789012", "app-secret-value"):
        assert secret not in text  # ...with the token masked


@pytest.mark.anyio
async def test_concurrent_callers_share_one_token_fetch():
    calls = {"token": 0, "posts": 0}

    async def handler(request):
        if request.url.path == "/token":
            calls["token"] += 1
            await anyio.sleep(0.01)
            return httpx.Response(200, json={"token": f"tok-{calls['token']:08d}", "expires_in": 7200})
        calls["posts"] += 1
        return httpx.Response(200, json={"id": calls["posts"]})

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    async with gm.AsyncClient(http=http, retry=gm.RetryPolicy.testing()) as client:
        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(client.publish, gm.Post(text=f"第{i}条"), channel(account=f"m{i}"))
    assert calls == {"token": 1, "posts": 20}
    assert not http.is_closed  # a client passed in is never closed by govmedia
    await http.aclose()


@pytest.mark.anyio
async def test_async_client_follows_the_same_rules():
    with respx.mock:
        token_route(respx, "tok-OLD00000", "tok-NEW00000")
        posts = respx.post(f"{API}/posts").mock(side_effect=[
            httpx.Response(200, json={"code": "expired"}),
            httpx.Response(200, json={"code": "busy"}),
            httpx.ReadTimeout("lost"),
        ])
        async with gm.AsyncClient(http=httpx.AsyncClient(), retry=gm.RetryPolicy.testing()) as client:
            with pytest.raises(gm.DeliveryUnknown):
                await client.publish(POST, channel())
        assert posts.call_count == 3


def test_bad_options_are_config_errors():
    with pytest.raises(gm.ConfigError, match="concurrency"):
        gm.Client(concurrency=0)
    with pytest.raises(gm.ConfigError, match="RetryPolicy"):
        gm.Client(retry={"attempts": 3})
    with pytest.raises(gm.ConfigError, match="RateLimit"):
        gm.Client(rate_limits={"ticket": 5})
    with pytest.raises(gm.ConfigError, match=r"httpx\.Client"):
        gm.Client(http=httpx.AsyncClient())


def test_wrong_credential_key_lists_valid_keys():
    ch = gm.Channel(platform="ticket", account="a", credentials={"appid": "x", "app_secret": "y"})
    with gm.Client() as client, pytest.raises(gm.ConfigError) as info:
        client.publish(POST, ch)
    assert "app_id" in str(info.value) and "ticket:a" in str(info.value)


def test_approvals_gate():
    post = gm.Post(text="需要审核").approve("张三")
    ch = channel()
    with gm.Client(require_approvals=2) as client:
        problems = client.check(post, ch)
        assert [p.code for p in problems] == ["approvals_missing"]
        with pytest.raises(gm.ValidationError):
            client.publish(post, ch)
        assert client.check(post.approve("李四"), ch) == []


def test_a_failing_authorize_returns_its_rate_limit_ticket(monkeypatch):
    # A platform whose authorize raises must not leave a pending ticket
    # behind: it would hold the bucket's refill back for good.
    import govmedia as gm
    from govmedia.testing import Sandbox

    sandbox = Sandbox()
    channel = sandbox.channel("webhook")
    platform_cls = gm.platforms.get("webhook")

    def broken(self, request, channel, token):
        raise gm.ConfigError("cannot sign")

    monkeypatch.setattr(platform_cls, "authorize", broken)
    with gm.Client(http=sandbox.client(), rate_limits={"webhook": gm.RateLimit(5, burst=1)}) as client:
        with pytest.raises(gm.ConfigError):
            client.publish(gm.Post(text="签名失败"), channel)
        buckets = client._limiter._buckets.values()
        assert buckets and not any(b.pending for b in buckets)
