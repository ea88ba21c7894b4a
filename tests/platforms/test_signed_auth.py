"""`Signed`: a token from another auth, then a signature made afresh for every attempt."""

import itertools
import typing

import httpx
import pytest
import respx

import govmedia as gm
from govmedia.platforms import BasePlatform, Code, ErrorTable, Header, Signed, StaticToken
from govmedia.tokens import Token

API = "https://api.signed.test"
NONCES = itertools.count(1)


def sign(platform, request, channel):
    request.headers["X-Nonce"] = str(next(NONCES))
    request.headers["X-Signed-Body"] = str(len(request.content))
    return request


class SignedPlatform(BasePlatform):
    name = "signed_relay"
    credential_keys = ("access_token",)
    optional_credential_keys = ("refresh_token",)
    auth = Signed(StaticToken("access_token", Header("access-token", "{}"), refresh=True), sign)
    api_base = API
    errors = ErrorTable({1: Code.busy(), 2: Code.auth()}, code_field="code")
    renewed: typing.ClassVar[list] = []

    def publish(self, post, channel, key):
        # a download from another host first: it must carry nothing
        yield from self.fetch(gm.Media.from_url("https://cdn.other.test/a.png"), channel)
        created = yield from self.call(channel, "POST", "/posts", json={"text": post.text},
                                       creates=True, expect=("id",))
        return gm.Receipt(channel=channel, remote_id=str(created["id"]))

    def refresh_request(self, channel, token):
        SignedPlatform.renewed.append(token.refresh_token)
        return self.request(channel, "POST", "/refresh", safe=True, creates=False)

    def token_from(self, response, channel, *, previous):
        return Token(value="acc-renewed-0002", refresh_token="ref-renewed-0002")


@pytest.fixture(autouse=True)
def _registered():
    SignedPlatform.renewed = []
    gm.platforms.register("signed_relay", SignedPlatform, replace=True)
    yield
    gm.platforms.unregister("signed_relay")


def channel():
    return gm.Channel(platform="signed_relay", account="a1",
                      credentials={"access_token": "acc-first-0001", "refresh_token": "ref-first-0001"})


def run(router):
    with gm.Client(http=httpx.Client(transport=httpx.MockTransport(router.handler)),
                   retry=gm.RetryPolicy.testing()) as client:
        return client.publish(gm.Post(text="国资小新"), channel())


def test_each_attempt_is_signed_anew_and_a_download_carries_nothing():
    router = respx.MockRouter(assert_all_called=False)
    cdn = router.get("https://cdn.other.test/a.png").mock(return_value=httpx.Response(200, content=b"PNG"))
    posts = router.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, json={"code": 1}),           # busy: retried
        httpx.Response(200, json={"code": 0, "id": 7}),
    ])
    assert run(router).remote_id == "7"
    first, second = (call.request for call in posts.calls)
    assert first.headers["X-Nonce"] != second.headers["X-Nonce"]  # never a replayed signature
    assert first.headers["access-token"] == second.headers["access-token"] == "acc-first-0001"
    assert first.headers["X-Signed-Body"] == str(len(first.content))  # the body was read by then
    download = cdn.calls.last.request
    assert "X-Nonce" not in download.headers and "access-token" not in download.headers


def test_a_refused_token_is_renewed_by_the_inner_auth_then_signed():
    router = respx.MockRouter(assert_all_called=False)
    router.get("https://cdn.other.test/a.png").mock(return_value=httpx.Response(200, content=b"PNG"))
    router.post(f"{API}/refresh").mock(return_value=httpx.Response(200, json={"code": 0}))
    posts = router.post(f"{API}/posts").mock(side_effect=[
        httpx.Response(200, json={"code": 2}),           # token refused
        httpx.Response(200, json={"code": 0, "id": 8}),
    ])
    run(router)
    assert SignedPlatform.renewed == ["ref-first-0001"]
    retried = posts.calls.last.request
    assert retried.headers["access-token"] == "acc-renewed-0002" and retried.headers["X-Nonce"]
    assert SignedPlatform.capabilities.refresh and SignedPlatform.uses_token
