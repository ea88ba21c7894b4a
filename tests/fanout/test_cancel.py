"""Cancelling a fan-out (Ctrl-C, a cancelled task) strands nothing (issue 14, item 1).

What never reached the transport is given back (a re-run sends it); only a
delivery whose create was handed over stays ``sending`` and follows the
resume rules.
"""

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time

import anyio
import httpx
import pytest

import govmedia as gm
from govmedia.testing import Sandbox

POST = gm.Post(text="国资小新：关于发布会的通知", key="cancel-post")


def members(sandbox, n):
    return [sandbox.channel("webhook", f"m{i}") for i in range(n)]


def hanging(sandbox, *accounts):
    """A transport where the webhooks of *accounts* never answer (the request is sent)."""
    seen = asyncio.Event()

    async def handle(request: httpx.Request) -> httpx.Response:
        account = request.url.path.rsplit("/", 1)[-1]
        seen.set()
        if account in accounts:
            await anyio.sleep_forever()
        return sandbox(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


def states(journal, key=POST.key):
    return {acct: e.state for (_, acct), e in sorted(journal.entries(key).items())}


@pytest.mark.anyio
async def test_a_cancelled_task_gives_back_what_never_left_and_keeps_what_did(tmp_path):
    sandbox = Sandbox(platforms=["webhook"])
    http, seen = hanging(sandbox, "m0")
    journal = gm.Journal(tmp_path / "j.db")
    # One request a minute: m0 goes out (and hangs); m1 and m2 are claimed and
    # wait for the rate limit, so their creates never reach the transport.
    client = gm.AsyncClient(http=http, journal=journal, concurrency=3,
                            rate_limits={"webhook": gm.RateLimit(1, per=60)})
    channels = members(sandbox, 3)
    task = asyncio.create_task(client.fan_out(POST, channels))
    await seen.wait()
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as info:
        await task
    stopped = info.value.govmedia_stopped
    assert [c.account for c in stopped.in_doubt] == ["m0"]
    assert sorted(c.account for c in stopped.given_back) == ["m1", "m2"]
    assert any("2 given back" in note for note in info.value.__notes__)
    assert states(journal) == {"m0": "sending", "m1": "pending", "m2": "pending"}
    assert journal.entries(POST.key)[("webhook", "m1")].attempts == 0  # never tried
    [run] = journal.runs()
    assert run.finished_at is not None and run.summary["given_back"] == 2

    # The re-run sends what was given back; m0 is resent with the same
    # idempotency key, which the webhook receiver deduplicates.
    async with gm.AsyncClient(http=sandbox.async_client(), journal=journal) as again:
        report = await again.fan_out(POST, channels)
    assert report.summary() == {"published": 3}
    assert sorted(p["account"] for p in sandbox["webhook"].posts()) == ["m0", "m1", "m2"]


@pytest.mark.anyio
async def test_a_cancelled_recovery_keeps_the_earlier_doubt(tmp_path):
    """A delivery an earlier run left in doubt goes back to that doubt, not to pending."""
    sandbox = Sandbox(platforms=["webhook"])
    http, seen = hanging(sandbox, "m0")
    journal = gm.Journal(tmp_path / "j.db")
    first = asyncio.create_task(
        gm.AsyncClient(http=http, journal=journal).fan_out(POST, members(sandbox, 1)))
    await seen.wait()
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert states(journal) == {"m0": "sending"}

    # The second run claims it to look for it, and is cancelled while waiting.
    client = gm.AsyncClient(http=http, journal=journal,
                            rate_limits={"webhook": gm.RateLimit(1, per=60)})
    task = asyncio.create_task(client.fan_out(POST, members(sandbox, 1)))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert states(journal) == {"m0": "sending"}  # still in doubt: never "pending"


def test_a_sync_publish_interrupted_before_sending_is_given_back(tmp_path, monkeypatch):
    sandbox = Sandbox(platforms=["webhook"])
    journal = gm.Journal(tmp_path / "j.db")
    [channel] = members(sandbox, 1)
    client = gm.Client(http=sandbox.client(), journal=journal)

    def interrupted(request):  # Ctrl-C while a request is being prepared
        raise KeyboardInterrupt

    monkeypatch.setattr(client, "_send", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        client.publish(POST, channel)
    # _send was reached: the create was handed over, so it stays in doubt.
    assert [c.account for c in info.value.govmedia_stopped.in_doubt] == ["m0"]
    assert states(journal) == {"m0": "sending"}


HANG_SERVER = """
import socket, sys, time
s = socket.create_server(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
conns = []
while True:
    c, _ = s.accept()
    conns.append(c)  # read nothing, answer nothing
    print("accepted", flush=True)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_in_the_cli_exits_130_and_lists_what_was_given_back(tmp_path):
    server = subprocess.Popen([sys.executable, "-c", HANG_SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        matrix = tmp_path / "m.toml"
        rows = []
        for i in range(3):
            rows.append(f'[[members]]\nplatform = "webhook"\naccount = "m{i}"\n'
                        f'options = {{ url = "http://127.0.0.1:{port}/hook/m{i}" }}\n')
        matrix.write_text("\n".join(rows), encoding="utf-8")
        post = tmp_path / "post.md"
        post.write_text('+++\ntitle = "通知"\nkey = "cli-cancel"\n+++\n国资小新：通知\n',
                        encoding="utf-8")
        journal = tmp_path / "j.db"
        env = {**os.environ, "GOVMEDIA_JOURNAL": str(journal), "PYTHONUNBUFFERED": "1"}
        cli = subprocess.Popen(
            [sys.executable, "-m", "govmedia.cli", "fan-out", str(post), "--matrix", str(matrix),
             "--concurrency", "1", "--quiet"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        assert server.stdout.readline().strip() == "accepted"  # m0's request is out and hangs
        time.sleep(0.3)  # ... and has been written
        cli.send_signal(signal.SIGINT)
        _out, err = cli.communicate(timeout=30)
    finally:
        server.kill()
        server.wait()
        server.stdout.close()
    assert cli.returncode == 130, err
    assert "Traceback" not in err
    assert "in doubt" in err and "m0" in err
    with gm.Journal(journal) as j:
        entries = {a: e.state for (_, a), e in j.entries("cli-cancel").items()}
    assert entries.get("m0") == "sending"
    assert entries.get("m1", "pending") == "pending" and entries.get("m2", "pending") == "pending"


def test_ctrl_c_lands_in_the_middle_of_a_sync_fan_out(tmp_path):
    """A real SIGINT while the sync client's helper thread sends: the main thread's wait ends."""
    sandbox = Sandbox(platforms=["webhook"])
    gate = threading.Event()

    def handle(request):
        account = request.url.path.rsplit("/", 1)[-1]
        if account == "m0":
            gate.wait(10)  # hangs until the test ends
        return sandbox(request)

    journal = gm.Journal(tmp_path / "j.db")
    client = gm.Client(http=httpx.Client(transport=httpx.MockTransport(handle)), journal=journal,
                       concurrency=1)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt) as info:
            client.fan_out(POST, members(sandbox, 3))
    finally:
        gate.set()
        timer.cancel()
    stopped = info.value.govmedia_stopped
    assert [c.account for c in stopped.in_doubt] == ["m0"]
    assert states(journal)["m0"] == "sending"
    assert set(states(journal)) <= {"m0", "m1", "m2"}
