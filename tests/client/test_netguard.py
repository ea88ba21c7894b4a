"""No request to link-local or cloud metadata addresses, however the address is written.

govmedia's own senders check the addresses a name resolves to (a resolver
stand-in maps test names onto them here: no test reaches the internet); a
user's own client gets the literal host and the metadata names. Private and
loopback addresses stay allowed.
"""

import socket
import time

import anyio
import httpx
import pytest
from _rawserver import RawServer, body_of

import govmedia as gm
from govmedia._netguard import BlockedAddress, blocked_reason, check_host
from govmedia._pool import AsyncPoolSender

KINDS = ["sync", "sync-user", "async", "async-pool", "async-user"]
OWN = ["sync", "async", "async-pool"]


class PlainPlatform(gm.BasePlatform):
    name = "plain"
    option_keys = ("url",)
    json_responses = False

    def publish(self, post, channel, key):
        response = yield httpx.Request("POST", channel.options["url"], content=b"{}")
        return gm.Receipt(channel=channel, remote_id=str(response.status_code))


@pytest.fixture(autouse=True)
def _plain():
    gm.platforms.register("plain", PlainPlatform, replace=True)
    yield
    gm.platforms.unregister("plain")


@pytest.fixture
def server():
    srv = RawServer(body_of(2))
    yield srv
    srv.close()


@pytest.fixture
def dns(monkeypatch):
    """Test names resolve to chosen addresses; every lookup is counted."""
    real = socket.getaddrinfo
    names = {}
    lookups = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, bytes):
            host = host.decode()
        if host in names:
            lookups.append(host)
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                     (a, int(port or 0))) for a in names[host]]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    names["lookups"] = lookups
    return names


def publish(kind, url, *, transport=None):
    """Publish to *url* with a client of *kind*; a user's client may use *transport*."""
    post = gm.Post(text="通知")
    ch = gm.Channel(platform="plain", account="cms@intranet", options={"url": url})
    retry = gm.RetryPolicy.testing(attempts=3)
    if kind == "sync":
        with gm.Client(retry=retry, timeout=2) as client:
            return client.publish(post, ch)
    if kind == "sync-user":
        with httpx.Client(transport=transport) as http, gm.Client(http=http, retry=retry) as client:
            return client.publish(post, ch)

    async def main():
        if kind == "async-user":
            async with httpx.AsyncClient(transport=transport) as http, \
                    gm.AsyncClient(http=http, retry=retry) as client:
                return await client.publish(post, ch)
        async with gm.AsyncClient(retry=retry, timeout=2) as client:
            if kind == "async-pool":
                client._sender = AsyncPoolSender(client.timeout, max_body=client.max_response_bytes)
            return await client.publish(post, ch)

    return anyio.run(main)


# ------------------------------------------------------------------ the policy

REFUSED = [
    "169.254.169.254", "169.254.170.2", "169.254.0.23", "169.254.1.1", "100.100.100.200",
    "192.0.0.192", "168.63.129.16", "fd00:ec2::254", "fd20:ce::254", "fe80::1", "fe80::1%eth0",
    "::ffff:169.254.169.254", "::ffff:a9fe:a9fe", "64:ff9b::a9fe:a9fe", "2002:a9fe:a9fe::1",
    "::169.254.169.254", "::ffff:100.100.100.200",
]
ALLOWED = ["10.0.0.7", "172.16.3.4", "192.168.1.10", "127.0.0.1", "::1", "100.100.100.201",
           "203.0.113.9", "2001:db8::1", "fd12:3456::1", "0.0.0.0"]


@pytest.mark.parametrize("address", REFUSED)
def test_link_local_and_metadata_addresses_are_refused(address):
    assert blocked_reason(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_private_loopback_and_public_addresses_are_allowed(address):
    assert blocked_reason(address) is None


@pytest.mark.parametrize("host", [
    "2852039166", "0xa9fea9fe", "0xa9.0xfe.0xa9.0xfe", "0251.0376.0251.0376", "169.254.43518",
    "[fd00:ec2::254]", "metadata.google.internal", "METADATA.Google.Internal.", "metadata",
    "metadata.tencentyun.com", "instance-data", "computeMetadata.metadata.google.internal",
    "169.254.169.254.", "0xa9fea9fe.",
])
def test_every_spelling_of_a_metadata_host_is_refused_without_dns(host, dns):
    with pytest.raises(BlockedAddress):
        check_host(host)
    assert dns["lookups"] == []


@pytest.mark.parametrize("host", ["cms.intranet", "metadata.example.org", "notmetadata.google.internal",
                                  "10.1.2.3", "localhost", "0x7f.1"])
def test_other_hosts_pass_the_literal_check(host):
    check_host(host)


# ------------------------------------------------------------------ every sender


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/iam/#.png",
                                 "http://[fd00:ec2::254]/latest/api/token",
                                 "http://metadata.google.internal/computeMetadata/v1/"])
def test_a_metadata_url_is_never_sent_or_retried(kind, url):
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(200, json={"AccessKeyId": "AKIA..."})

    transport = None
    if kind.endswith("user"):
        transport = httpx.MockTransport(handler)
    started = time.monotonic()
    with pytest.raises(gm.PlatformError) as info:
        publish(kind, url, transport=transport)
    assert time.monotonic() - started < 5  # refused at once, not after 3 connect timeouts
    err = info.value
    assert err.code == "blocked_address"
    assert not err.maybe_applied
    assert not isinstance(err, (gm.DeliveryUnknown, gm.TransientError))  # never retried
    assert "plain [cms@intranet]" in str(err)
    assert "metadata" in str(err)
    assert calls == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/",
                                 "http://[::ffff:169.254.169.254]/latest/meta-data/"])
def test_an_aiohttp_without_socket_factory_checks_literals_per_request(url, monkeypatch):
    import govmedia._aio

    monkeypatch.setattr(govmedia._aio, "_has_socket_factory", lambda: False)  # aiohttp < 3.12
    with pytest.raises(gm.PlatformError) as info:
        publish("async", url)
    assert info.value.code == "blocked_address"


@pytest.mark.parametrize("kind", OWN)
def test_a_name_that_resolves_to_a_metadata_address_is_refused(kind, dns):
    dns["cms.evil.test"] = ["169.254.169.254"]
    with pytest.raises(gm.PlatformError) as info:
        publish(kind, "http://cms.evil.test/hook")
    assert info.value.code == "blocked_address"
    assert "cms.evil.test (169.254.169.254)" in str(info.value)
    assert dns["lookups"] == ["cms.evil.test"]  # looked up once, not retried


@pytest.mark.parametrize("kind", OWN)
def test_only_the_allowed_addresses_of_a_name_are_used(kind, dns, server):
    dns["mixed.test"] = ["169.254.169.254", "127.0.0.1"]
    receipt = publish(kind, f"http://mixed.test:{server.port}/hook")
    assert receipt.remote_id == "200"
    assert server.requests == 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_intranet_receiver_on_a_private_or_loopback_address_is_fine(kind, server):
    transport = None
    if kind.endswith("user"):
        transport = httpx.MockTransport(lambda request: httpx.Response(201))
    assert publish(kind, f"http://127.0.0.1:{server.port}/hook", transport=transport).remote_id


@pytest.mark.parametrize("kind", ["sync-user", "async-user"])
def test_a_users_client_gets_the_literal_and_name_check_only(kind, dns):
    # Documented: a user's client resolves names itself, so a name that its
    # DNS maps onto a metadata address is not caught by govmedia.
    dns["cms.evil.test"] = ["169.254.169.254"]
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    assert publish(kind, "http://cms.evil.test/hook", transport=transport).remote_id == "200"
    assert dns["lookups"] == []  # govmedia asked no DNS of its own


@pytest.mark.parametrize("kind", ["sync-user", "async-user"])
def test_a_users_client_is_not_led_to_metadata_by_a_redirect(kind):
    calls = []

    def handler(request):
        calls.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

    transport = httpx.MockTransport(handler)
    post = gm.Post(text="通知")
    ch = gm.Channel(platform="plain", account="cms@intranet", options={"url": "https://cms.example/h"})
    if kind == "sync-user":
        with httpx.Client(transport=transport, follow_redirects=True) as http, \
                gm.Client(http=http) as client, pytest.raises(gm.PlatformError) as info:
            client.publish(post, ch)
    else:
        async def main():
            async with httpx.AsyncClient(transport=transport, follow_redirects=True) as http, \
                    gm.AsyncClient(http=http) as client:
                await client.publish(post, ch)
        with pytest.raises(gm.PlatformError) as info:
            anyio.run(main)
    assert info.value.code == 302  # the platform sees the redirect; nothing followed it
    assert calls == ["https://cms.example/h"]


# ------------------------------------------------------------------ refused early


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/iam#.png",
                                 "https://metadata.google.internal/logo.png",
                                 "http://[::ffff:169.254.169.254]/a.jpg",
                                 "http://2852039166/a.jpg"])
def test_media_from_a_metadata_url_is_refused_when_made(url):
    with pytest.raises(gm.ConfigError, match=r"Media\.url: refused"):
        gm.Media.from_url(url)


def test_media_from_an_intranet_url_is_fine():
    assert gm.Media.from_url("http://10.0.0.5/cms/chart.png").filename == "chart.png"


@pytest.mark.parametrize("url", ["http://169.254.169.254/hook", "http://[fe80::1]:8080/hook",
                                 "https://metadata.tencentyun.com/hook"])
def test_a_webhook_to_a_metadata_address_is_a_config_error_naming_the_channel(url):
    ch = gm.Channel(platform="webhook", account="cms@intranet", options={"url": url})
    with pytest.raises(gm.ConfigError) as info:
        gm.Client().check(gm.Post(text="通知"), ch)
    assert "webhook:cms@intranet" in str(info.value) or "cms@intranet" in str(info.value)
    assert "option url" in str(info.value)
