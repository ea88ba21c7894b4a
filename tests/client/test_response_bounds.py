"""Over real sockets: no answer takes a worker's memory or time without bound.

A receiver that answers with an endless body, a declared gigabyte, a gzip
bomb, or one byte at a time is cut off at the cap or the deadline, on every
way govmedia sends: `Client`'s own sender, `AsyncClient`'s aiohttp sender, its
httpcore sender (the one used under trio), and a user's own httpx clients.
"""

import functools
import gzip
import resource
import threading
import time
import zlib

import anyio
import httpx
import pytest
from _rawserver import (
    RawServer,
    body_of,
    drip,
    encoded,
    endless_chunked,
    endless_to_close,
    gigabyte_declared,
)

import govmedia as gm
from govmedia._pool import AsyncPoolSender
from govmedia.platforms.base import json_body, retry_safe

MiB = 2**20
KINDS = ["sync", "sync-user", "async", "async-pool", "async-user"]


class PlainPlatform(gm.BasePlatform):
    """POSTs the text to ``url``; ``max_body`` and ``deadline`` options become extensions."""

    name = "plain"
    option_keys = ("url", "max_body", "deadline")
    json_responses = False

    def _extensions(self, channel):
        ext = {}
        if "max_body" in channel.options:
            ext["govmedia.max_body"] = channel.options["max_body"]
        if "deadline" in channel.options:
            ext["govmedia.deadline"] = channel.options["deadline"]
        return ext

    def publish(self, post, channel, key):
        response = yield httpx.Request("POST", channel.options["url"],
                                       content=json_body({"text": post.text}),
                                       extensions=self._extensions(channel))
        return gm.Receipt(channel=channel, remote_id=str(len(response.content)))

    def metrics(self, receipt):
        request = httpx.Request("GET", receipt.channel.options["url"])
        yield retry_safe(request)
        return gm.Metrics()


@pytest.fixture(autouse=True)
def _plain():
    gm.platforms.register("plain", PlainPlatform, replace=True)
    yield
    gm.platforms.unregister("plain")


@pytest.fixture
def serve():
    servers = []

    def start(answer, **kwargs):
        server = RawServer(answer, **kwargs)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def channel(url, **options):
    return gm.Channel(platform="plain", account="cms@intranet", options={"url": url, **options})


def run(kind, action, **options):
    """*action(client)* on a client of *kind*; async kinds under anyio.run."""
    options.setdefault("retry", gm.RetryPolicy.testing(attempts=3))
    # The same post to the same account from every kind at once: the journal
    # would (rightly) let only one of them send.
    options.setdefault("journal", False)
    if kind == "sync":
        with gm.Client(**options) as client:
            return action(client)
    if kind == "sync-user":
        with httpx.Client() as http, gm.Client(http=http, **options) as client:
            return action(client)

    async def main():
        if kind == "async-user":
            async with httpx.AsyncClient() as http, gm.AsyncClient(http=http, **options) as client:
                return await action(client)
        async with gm.AsyncClient(**options) as client:
            if kind == "async-pool":  # what _default_sender gives under trio
                client._sender = AsyncPoolSender(client.timeout, max_body=client.max_response_bytes)
            else:
                assert client._ready_sender().__class__.__name__ == "AiohttpSender"
            return await action(client)

    return anyio.run(main)


def publish(kind, url, **options):
    return run(kind, lambda c: c.publish(gm.Post(text="招聘季"), channel(url)), **options)


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@functools.cache
def gzip_bomb(size=64 * MiB):
    """*size* zero bytes gzipped (~65 KB), made without holding them all."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = bytes(MiB)
    return b"".join([*(packer.compress(block) for _ in range(size // MiB)), packer.flush()])


# ------------------------------------------------------------------ the cap


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("answer", [endless_chunked, endless_to_close, gigabyte_declared],
                         ids=["endless-chunked", "endless-to-close", "1GB-declared"])
def test_a_body_over_the_cap_stops_reading_and_names_the_account(serve, kind, answer):
    server = serve(answer)
    before = peak_rss_mib()
    started = time.monotonic()
    with pytest.raises(gm.GovMediaError) as info:
        publish(kind, server.url(), max_response_bytes=MiB)
    assert time.monotonic() - started < 5
    err = info.value
    assert err.code == "response_too_large"
    assert err.maybe_applied  # the POST reached the receiver
    assert "plain [cms@intranet]" in str(err)
    assert "1 MiB limit" in str(err)
    assert server.requests == 1  # never resent
    # What left the server before the client hung up: the cap plus what the
    # kernel's socket buffers hold, nowhere near the gigabyte on offer.
    assert server.sent < 64 * MiB
    assert peak_rss_mib() - before < 100


@pytest.mark.parametrize("kind", KINDS)
def test_a_retry_safe_read_over_the_cap_is_not_retried_either(serve, kind):
    server = serve(endless_chunked)
    receipt = gm.Receipt(channel=channel(server.url()), remote_id="1")
    with pytest.raises(gm.PlatformError) as info:
        run(kind, lambda c: c.metrics(receipt), max_response_bytes=MiB)
    assert not isinstance(info.value, gm.DeliveryUnknown)
    assert info.value.code == "response_too_large"
    assert server.requests == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_body_under_the_cap_arrives_whole(serve, kind):
    server = serve(body_of(MiB))
    assert publish(kind, server.url(), max_response_bytes=MiB).remote_id == str(MiB)


@pytest.mark.parametrize("kind", KINDS)
def test_a_platform_raises_the_cap_for_one_request(serve, kind):
    server = serve(body_of(3 * MiB))
    url = server.url()
    receipt = run(kind, lambda c: c.publish(gm.Post(text="视频"), channel(url, max_body=4 * MiB)),
                  max_response_bytes=MiB)
    assert receipt.remote_id == str(3 * MiB)


@pytest.mark.parametrize("kind", KINDS)
def test_a_gzip_bomb_stops_at_the_cap_once_decoded(serve, kind):
    server = serve(encoded(gzip_bomb(), b"gzip"))
    before = peak_rss_mib()
    with pytest.raises(gm.GovMediaError) as info:
        publish(kind, server.url(), max_response_bytes=MiB)
    assert info.value.code == "response_too_large"
    assert "decoded answer" in str(info.value)
    assert peak_rss_mib() - before < 48
    assert server.requests == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_small_gzip_answer_is_decoded(serve, kind):
    server = serve(encoded(gzip.compress(b"z" * 5000), b"gzip"))
    assert publish(kind, server.url()).remote_id == "5000"


@pytest.mark.parametrize("kind", ["sync", "async", "async-pool"])
def test_an_encoding_govmedia_did_not_ask_for_is_an_error_not_a_crash(serve, kind):
    server = serve(encoded(b"\x0b\x02\x80hello\x03", b"br"))
    with pytest.raises(gm.PlatformError) as info:
        publish(kind, server.url())
    assert info.value.code == "undecodable_response"
    assert server.requests == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "8MB", True, None])
def test_max_response_bytes_is_checked(bad):
    with pytest.raises(gm.ConfigError, match="max_response_bytes"):
        gm.Client(max_response_bytes=bad)
    with pytest.raises(gm.ConfigError, match="max_response_bytes"):
        gm.AsyncClient(max_response_bytes=bad)


def test_the_default_cap_is_eight_mebibytes():
    assert gm.Client().max_response_bytes == 8 * MiB
    assert gm.AsyncClient().max_response_bytes == 8 * MiB


# ------------------------------------------------------------------ the deadline

DEADLINE = 0.2


def on_every_kind(kinds, job):
    """*job(kind)* for each kind at once, in threads: the waits overlap. Returns what each gave."""
    results = {}

    def one(kind):
        started = time.monotonic()
        try:
            outcome = job(kind)
        except Exception as exc:
            outcome = exc
        results[kind] = (outcome, time.monotonic() - started)

    threads = [threading.Thread(target=one, args=(kind,)) for kind in kinds]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("in_headers", [False, True], ids=["body", "headers"])
def test_a_dripping_answer_ends_at_the_deadline(serve, in_headers):
    # One byte every 0.05 s: each read comes well within the 0.2 s read
    # timeout, so only a deadline over the whole request ends it.
    kinds = [k for k in KINDS if not (in_headers and k == "sync-user")]  # see _userhttp: documented
    servers = {kind: serve(drip(every=0.05, in_headers=in_headers)) for kind in kinds}
    results = on_every_kind(kinds, lambda kind: publish(kind, servers[kind].url(), timeout=DEADLINE))
    for kind, (error, elapsed) in results.items():
        assert isinstance(error, gm.DeliveryUnknown), (kind, error)
        # 0.2 s (a user's sync client: one read timeout more), where the
        # server would drip for 10 s; the margin is for a loaded machine.
        assert elapsed < 3, (kind, elapsed)
        assert error.code == "ReadTimeout", kind  # after the request was written: maybe applied
        assert "plain [cms@intranet]" in str(error)
        assert servers[kind].requests == 1, kind  # a POST that may have landed is not resent


def test_a_platform_extends_the_deadline_for_a_long_request(serve):
    servers = {kind: serve(drip(every=0.05, in_headers=False, total=7)) for kind in KINDS}  # 0.35 s

    def job(kind):
        ch = channel(servers[kind].url(), deadline=5.0)
        return run(kind, lambda c: c.publish(gm.Post(text="长视频"), ch), timeout=DEADLINE)

    for kind, (receipt, _) in on_every_kind(KINDS, job).items():
        assert isinstance(receipt, gm.Receipt), (kind, receipt)
        assert receipt.remote_id == "7"


def test_the_deadline_is_the_largest_timeout():
    assert gm.Client(timeout=httpx.Timeout(2.0, connect=9.0))._deadline == 9.0
    assert gm.Client()._deadline == 30.0
    assert gm.Client(timeout=httpx.Timeout(2.0, read=None))._deadline is None


# ------------------------------------------------------------------ wiring


def test_the_sender_under_trio_gets_the_cap_and_deadline(monkeypatch):
    import sys
    import types

    from govmedia.client import _default_sender

    fake = types.ModuleType("sniffio")
    fake.current_async_library = lambda: "trio"
    monkeypatch.setitem(sys.modules, "sniffio", fake)
    sender = _default_sender(httpx.Timeout(3.0, connect=7.0), max_body=1234)
    assert isinstance(sender, AsyncPoolSender)
    assert (sender._max_body, sender._deadline) == (1234, 7.0)


@pytest.mark.parametrize("sync", [True, False], ids=["Client", "AsyncClient"])
def test_a_fan_out_reports_the_oversized_answer_per_account(serve, sync):
    server = serve(endless_chunked)
    channels = [gm.Channel(platform="plain", account=f"m{i}", options={"url": server.url(f"/m{i}")})
                for i in range(2)]
    options = {"max_response_bytes": MiB, "retry": gm.RetryPolicy.testing()}
    post = gm.Post(text="招聘季")
    if sync:
        with gm.Client(**options) as client:
            report = client.fan_out(post, channels)
    else:
        async def main():
            async with gm.AsyncClient(**options) as client:
                return await client.fan_out(post, channels)
        report = anyio.run(main)
    assert [d.state for d in report.deliveries] == ["unknown", "unknown"]  # the POSTs may have landed
    assert {d.error.code for d in report.deliveries} == {"response_too_large"}
    assert server.requests == 2


@pytest.mark.parametrize("sync", [True, False], ids=["Client", "AsyncClient"])
def test_a_users_mock_transport_answer_over_the_cap_is_refused(sync):
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=b"x" * 2048))
    post, ch = gm.Post(text="招聘季"), channel("https://cms.example/hook")
    if sync:
        with httpx.Client(transport=transport) as http, \
                gm.Client(http=http, max_response_bytes=1024) as client, \
                pytest.raises(gm.DeliveryUnknown, match="1 KiB limit"):
            client.publish(post, ch)
        return

    async def main():
        async with httpx.AsyncClient(transport=transport) as http, \
                gm.AsyncClient(http=http, max_response_bytes=1024) as client:
            await client.publish(post, ch)
    with pytest.raises(gm.DeliveryUnknown, match="1 KiB limit"):
        anyio.run(main)


def test_deadlines_of_different_lengths_run_side_by_side(serve):
    """One timer keeps every request's deadline: a short one ends, a long one goes on."""
    slow = serve(drip(every=0.05, in_headers=False, total=7))  # 0.35 s
    short = serve(drip(every=0.05, in_headers=False))

    async def main():
        got = {}
        async with gm.AsyncClient(retry=gm.RetryPolicy.testing(), timeout=DEADLINE) as client:
            async def one(name, ch):
                try:
                    got[name] = await client.publish(gm.Post(text=name), ch)
                except gm.GovMediaError as exc:
                    got[name] = exc
            async with anyio.create_task_group() as tg:
                tg.start_soon(one, "long", channel(slow.url(), deadline=5.0))
                tg.start_soon(one, "short", channel(short.url()))
            # The sender is fine after a request it cut off.
            got["after"] = await client.publish(gm.Post(text="again"), channel(slow.url(), deadline=5.0))
        return got

    got = anyio.run(main)
    assert got["long"].remote_id == "7"
    assert isinstance(got["short"], gm.DeliveryUnknown)
    assert got["after"].remote_id == "7"


def test_a_callers_cancel_is_not_mistaken_for_the_deadline(serve):
    server = serve(drip(every=0.05, in_headers=False))

    async def main():
        async with gm.AsyncClient(retry=gm.RetryPolicy.testing(), timeout=5.0) as client:
            with anyio.move_on_after(0.2) as scope:
                await client.publish(gm.Post(text="取消"), channel(server.url()))
            return scope.cancelled_caught

    started = time.monotonic()
    assert anyio.run(main) is True  # cancelled, not turned into a ReadTimeout
    assert time.monotonic() - started < 2
