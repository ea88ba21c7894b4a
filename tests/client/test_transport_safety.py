"""Over real sockets: a dropped connection after the request is never resent.

httpx-aiohttp maps aiohttp's "server disconnected" (which happens after the
request was written) to httpx.ConnectTimeout; the pipeline must still treat it
as possibly applied. Both clients' default transports are checked.
"""

import socket
import threading
import time

import httpx
import pytest

import govmedia as gm
from govmedia.platforms.base import json_body


class PlainPlatform(gm.BasePlatform):
    name = "plain"
    option_keys = ("url",)
    json_responses = False

    def publish(self, post, channel, key):
        yield httpx.Request("POST", channel.options["url"], content=json_body({"text": post.text}))
        return gm.Receipt(channel=channel, remote_id="1")


@pytest.fixture(autouse=True)
def _plain():
    gm.platforms.register("plain", PlainPlatform, replace=True)
    yield
    gm.platforms.unregister("plain")


class HangUpServer:
    """Reads each request fully, then closes the connection with no answer."""

    def __init__(self, linger=0.0):
        self.linger = linger
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.requests = 0
        self._stop = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            data = b""
            conn.settimeout(2)
            try:
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)
                while len(body) < length:
                    body += conn.recv(65536)
                self.requests += 1
                time.sleep(self.linger)  # a server that never answers in time
            finally:
                conn.close()

    def close(self):
        self._stop = True
        self.sock.close()


@pytest.fixture
def hangup():
    server = HangUpServer()
    yield server
    server.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def channel(url):
    return gm.Channel(platform="plain", account="local", options={"url": url})


def test_sync_hang_up_after_send_is_unknown(hangup):
    with gm.Client(retry=gm.RetryPolicy.testing()) as client, pytest.raises(gm.DeliveryUnknown):
        client.publish(gm.Post(text="一次"), channel(f"http://127.0.0.1:{hangup.port}/p"))
    assert hangup.requests == 1


@pytest.mark.anyio
async def test_async_default_transport_hang_up_after_send_is_unknown(hangup):
    async with gm.AsyncClient(retry=gm.RetryPolicy.testing()) as client:
        with pytest.raises(gm.DeliveryUnknown):
            await client.publish(gm.Post(text="一次"), channel(f"http://127.0.0.1:{hangup.port}/p"))
        assert type(client._sender).__name__ == "AiohttpSender"
    assert hangup.requests == 1


@pytest.mark.anyio
async def test_async_refused_connection_is_retried_then_transient():
    url = f"http://127.0.0.1:{free_port()}/p"
    async with gm.AsyncClient(retry=gm.RetryPolicy.testing(attempts=3)) as client:
        with pytest.raises(gm.TransientError) as info:
            await client.publish(gm.Post(text="一次"), channel(url))
    assert not isinstance(info.value, gm.DeliveryUnknown)
    assert "Nothing was created" in str(info.value)


@pytest.fixture
def silent():
    server = HangUpServer(linger=1.5)
    yield server
    server.close()


@pytest.mark.anyio
async def test_async_read_timeout_after_send_is_unknown(silent):
    async with gm.AsyncClient(retry=gm.RetryPolicy.testing(), timeout=0.3) as client:
        with pytest.raises(gm.DeliveryUnknown, match="ReadTimeout"):
            await client.publish(gm.Post(text="一次"), channel(f"http://127.0.0.1:{silent.port}/p"))
    assert silent.requests == 1


@pytest.mark.anyio
async def test_a_users_httpx_aiohttp_client_is_just_as_safe(hangup):
    httpx_aiohttp = pytest.importorskip("httpx_aiohttp")
    http = httpx.AsyncClient(transport=httpx_aiohttp.AiohttpTransport())
    async with gm.AsyncClient(http=http, retry=gm.RetryPolicy.testing()) as client:
        with pytest.raises(gm.DeliveryUnknown):
            await client.publish(gm.Post(text="一次"), channel(f"http://127.0.0.1:{hangup.port}/p"))
    await http.aclose()
    assert hangup.requests == 1


@pytest.mark.anyio
async def test_async_default_sender_reads_gzip_answers(httpserver):
    import gzip
    import json

    body = gzip.compress(json.dumps({"url": "https://cms.example/p/1"}).encode())
    httpserver.expect_request("/hook").respond_with_data(
        body, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    ch = gm.Channel(platform="webhook", account="cms", options={"url": httpserver.url_for("/hook")})
    async with gm.AsyncClient(retry=gm.RetryPolicy.testing()) as client:
        receipt = await client.publish(gm.Post(text="压缩"), ch)
    assert receipt.url == "https://cms.example/p/1"


@pytest.mark.anyio
async def test_fan_out_opens_the_sender_before_taking_a_rate_limit_token(httpserver, monkeypatch):
    # A first send that stalls on importing aiohttp and opening the session
    # lets the bucket refill meanwhile: the opening burst would land doubled.
    httpserver.expect_request("/hook").respond_with_data("ok")
    channels = [gm.Channel(platform="webhook", account=f"m{i}",
                           options={"url": httpserver.url_for("/hook")}) for i in range(3)]
    seen = []
    async with gm.AsyncClient(rate_limits={"webhook": gm.RateLimit(1000, burst=3)}) as client:
        take = client._limiter.take

        def take_first_checking(keys):
            seen.append(client._sender is not None and client._sender._session is not None)
            return take(keys)

        monkeypatch.setattr(client._limiter, "take", take_first_checking)
        report = await client.fan_out(gm.Post(text="限速"), channels)
    assert report.ok
    assert seen == [True, True, True]


@pytest.mark.anyio
async def test_the_default_sender_keeps_header_bytes_as_they_were(httpserver):
    from werkzeug import Response

    from govmedia._aio import AiohttpSender

    got = {}

    def handler(request):
        got["title"] = request.headers["X-Title"]
        return Response("ok")

    httpserver.expect_request("/h").respond_with_handler(handler)
    sender = AiohttpSender(httpx.Timeout(5.0))
    request = httpx.Request("POST", httpserver.url_for("/h"), content=b"{}",
                            headers=[(b"X-Title", "发布会".encode())])
    response = await sender.send(request)
    await sender.aclose()
    assert response.text == "ok"
    assert got["title"].encode("latin-1") == "发布会".encode()  # WSGI hands headers over as Latin-1
