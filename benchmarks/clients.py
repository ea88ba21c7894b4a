"""One measured client, run in its own process by ``run.py``.

    python3 benchmarks/clients.py CLIENT --n 1000 --concurrency 64 --base http://127.0.0.1:PORT/fast

prints one JSON line: deliveries that got a 2xx, the wall time and the CPU
time of the delivery phase, and the process's own peak RSS. Before the clock
starts: one untimed warm-up delivery (lazy imports and first-use caches) and
the target lists; inside the window: creating the client, its session and
pool, and every delivery. Only the libraries a client needs are imported, so
each process's peak RSS is that client's.

Clients: ``aiohttp``, ``httpx`` (httpx.AsyncClient, default transport),
``httpx-aiohttp`` (httpx.AsyncClient over httpx-aiohttp's transport),
``govmedia-async`` / ``govmedia-async-journal`` (``AsyncClient.fan_out``),
``govmedia-sync`` / ``govmedia-sync-journal`` (``Client.fan_out``),
``govmedia-async-signed`` (with a ``whsec_`` secret: HMAC per attempt) and
``apprise`` (``Apprise.notify`` to N ``json://`` targets). Two diagnostics,
not in the default matrix, split httpx-aiohttp's cost:
``diag-transport-direct`` (its transport without ``httpx.AsyncClient``) and
``diag-slim-transport`` (an httpx.Request sent by aiohttp, the body read at
once into an httpx.Response).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import operator
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The same small event every raw client sends, near the size of govmedia's
# webhook envelope for the benchmark post (~500 bytes).
TEXT = "国资委发布会：2026 年中央企业招聘季正式启动，岗位信息见各企业官网。"


def event(i: int) -> dict[str, Any]:
    return {
        "type": "post.published",
        "timestamp": "2026-11-29T09:00:00Z",
        "data": {"key": "bench", "title": "招聘季", "text": TEXT, "summary": None, "tags": ["招聘"],
                 "link": "https://example.org/a/1", "body": None, "account": f"m{i}"},
    }


def urls(base: str, n: int) -> list[str]:
    return [f"{base}/hook/{i}" for i in range(n)]


# ----------------------------------------------------------------- raw clients


async def _aiohttp(targets: list[str], concurrency: int) -> int:
    import aiohttp

    ok = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        sem = asyncio.Semaphore(concurrency)

        async def one(i: int, url: str) -> None:
            nonlocal ok
            async with sem, session.post(url, json=event(i)) as response:
                await response.read()
                ok += 200 <= response.status < 300

        await asyncio.gather(*(one(i, u) for i, u in enumerate(targets)))
    return ok


async def _httpx(targets: list[str], concurrency: int, *, aiohttp_transport: bool) -> int:
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    if aiohttp_transport:
        from httpx_aiohttp import AiohttpTransport

        client = httpx.AsyncClient(transport=AiohttpTransport(limits=limits))
    else:
        client = httpx.AsyncClient(limits=limits)
    ok = 0
    sem = asyncio.Semaphore(concurrency)
    async with client:

        async def one(i: int, url: str) -> None:
            nonlocal ok
            async with sem:
                response = await client.post(url, json=event(i))
                ok += response.is_success

        await asyncio.gather(*(one(i, u) for i, u in enumerate(targets)))
    return ok


# ----------------------------------------------------------------- diagnostics
# Not in the default matrix: where does httpx-aiohttp's cost go? Both build an
# httpx.Request per delivery (as govmedia does) and skip httpx.AsyncClient.send.


async def _transport_direct(targets: list[str], concurrency: int) -> int:
    """httpx-aiohttp's transport called directly: no client layer (auth, redirects, cookies, hooks)."""
    import httpx
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    transport = AiohttpTransport(limits=limits)
    ok = 0
    sem = asyncio.Semaphore(concurrency)
    async with transport:

        async def one(i: int, url: str) -> None:
            nonlocal ok
            async with sem:
                request = httpx.Request("POST", url, json=event(i))
                response = await transport.handle_async_request(request)
                await response.aread()
                ok += response.is_success

        await asyncio.gather(*(one(i, u) for i, u in enumerate(targets)))
    return ok


async def _slim_transport(targets: list[str], concurrency: int) -> int:
    """httpx.Request in, httpx.Response out, aiohttp in between, body read in one call."""
    import aiohttp
    import httpx

    ok = 0
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def one(i: int, url: str) -> None:
            nonlocal ok
            async with sem:
                request = httpx.Request("POST", url, json=event(i))
                async with session.request(request.method, str(request.url), headers=request.headers.multi_items(),
                                           data=request.content, allow_redirects=False) as answer:
                    body = await answer.read()
                    response = httpx.Response(answer.status, headers=list(answer.raw_headers),
                                              content=body, request=request)
                ok += response.is_success

        await asyncio.gather(*(one(i, u) for i, u in enumerate(targets)))
    return ok


# ----------------------------------------------------------------- govmedia

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _govmedia_setup(targets: list[str], *, signed: bool) -> tuple[Any, list[Any]]:
    import govmedia as gm

    post = gm.Post(title="招聘季", text=TEXT, tags=("招聘",), link="https://example.org/a/1",
                   key=f"bench-{os.getpid()}-{time.time_ns()}")
    creds = {"secret": SECRET} if signed else {}
    channels = [gm.Channel(platform="webhook", account=f"m{i}", credentials=creds, options={"url": u})
                for i, u in enumerate(targets)]
    return post, channels


def _published(report: Any) -> int:
    return sum(1 for d in report.deliveries if d.state == "published")


def _errors(report: Any) -> list[str]:
    return sorted({f"{d.state}: {d.error!r}"[:200] for d in report.deliveries if d.state != "published"})[:5]


async def _govmedia_async(post: Any, channels: list[Any], concurrency: int, journal: str | None,
                          out: list[Any]) -> None:
    import govmedia as gm

    # journal=None would be the default journal (on since the journal became
    # the default): "no journal" is journal=False.
    async with gm.AsyncClient(journal=journal or False, concurrency=concurrency) as client:
        # Handed back through *out*, not returned: on Python 3.11 asyncio.run
        # reprs the main task's result when it restores the SIGINT handler
        # (signal.getsignal -> enum ValueError message), which for a Report
        # of 10,000 deliveries costs more than a second of CPU.
        out.append(await client.fan_out(post, channels))


def _govmedia_sync(post: Any, channels: list[Any], concurrency: int, journal: str | None) -> Any:
    import govmedia as gm

    with gm.Client(journal=journal or False, concurrency=concurrency) as client:
        return client.fan_out(post, channels)


# ----------------------------------------------------------------- apprise


def _apprise_setup(targets: list[str]) -> Any:
    import apprise

    notifier = apprise.Apprise()
    for url in targets:
        notifier.add(url.replace("http://", "json://", 1))
    return notifier


# ----------------------------------------------------------------- main

CLIENTS = ("aiohttp", "httpx", "httpx-aiohttp", "govmedia-async", "govmedia-async-journal",
           "govmedia-async-signed", "govmedia-sync", "govmedia-sync-journal", "apprise")
DIAGNOSTICS = ("diag-transport-direct", "diag-slim-transport")


def prepare(client: str, targets: list[str], concurrency: int, journal: str | None,
            errors: list[str]) -> Callable[[], int]:
    """Build the targets (untimed) and return the delivery phase (timed): it returns the 2xx count."""
    n = len(targets)
    if client == "aiohttp":
        return lambda: asyncio.run(_aiohttp(targets, concurrency))
    if client in ("httpx", "httpx-aiohttp"):
        return lambda: asyncio.run(_httpx(targets, concurrency, aiohttp_transport=client == "httpx-aiohttp"))
    if client == "diag-transport-direct":
        return lambda: asyncio.run(_transport_direct(targets, concurrency))
    if client == "diag-slim-transport":
        return lambda: asyncio.run(_slim_transport(targets, concurrency))
    if client.startswith("govmedia-async"):
        post, channels = _govmedia_setup(targets, signed="signed" in client)

        def work() -> int:
            got: list[Any] = []
            asyncio.run(_govmedia_async(post, channels, concurrency, journal, got))
            errors.extend(_errors(got[0]))
            return _published(got[0])

        return work
    if client.startswith("govmedia-sync"):
        post, channels = _govmedia_setup(targets, signed="signed" in client)

        def sync_work() -> int:
            report = _govmedia_sync(post, channels, concurrency, journal)
            errors.extend(_errors(report))
            return _published(report)

        return sync_work
    if client == "apprise":
        notifier = _apprise_setup(targets)
        # notify() is all-or-nothing; the receiver answers 200 to every POST.
        return lambda: n if notifier.notify(title="招聘季", body=TEXT) else 0
    raise SystemExit(f"unknown client {client!r}; one of {', '.join(CLIENTS + DIAGNOSTICS)}")


def _start_py_spy(path: str) -> subprocess.Popen[bytes]:
    """py-spy on this process, for the delivery phase only (it sees every thread)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("py-spy is not installed")
    process = subprocess.Popen(
        [spy, "record", "--pid", str(os.getpid()), "--format", "raw", "--nonblocking",
         "--rate", "500", "-o", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # let it attach before the clock starts
    return process


def run(client: str, n: int, concurrency: int, base: str, profile: str | None,
        spy_path: str | None = None) -> dict[str, Any]:
    journal_dir = tempfile.mkdtemp(prefix="govmedia-bench-journal-")
    journals = [str(Path(journal_dir) / f"{name}.db") if client.endswith("-journal") else None
                for name in ("warm-up", "journal")]
    errors: list[str] = []
    # One delivery first, untimed, on its own client and journal: it loads
    # what every library imports or caches lazily on first use (the cost of
    # that is measured by importtime.py), so the window holds the fan-out
    # alone. Clients, sessions, pools and TLS contexts are still made anew
    # inside the window, as each run of a script would.
    warm = prepare(client, [f"{base}/warm-up/0"], concurrency, journals[0], errors)
    if warm() != 1:
        raise SystemExit(f"{client}: the warm-up delivery failed: {errors}")
    errors.clear()
    work = prepare(client, urls(base, n), concurrency, journals[1], errors)
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
    spy = _start_py_spy(spy_path) if spy_path else None
    times0, cpu0, wall0 = os.times(), time.process_time(), time.perf_counter()
    # Through operator.call, a C function nothing else here calls: instructions.py
    # counts only this window with callgrind's --toggle-collect=_operator_call.
    ok = operator.call(work)
    wall, cpu, times1 = time.perf_counter() - wall0, time.process_time() - cpu0, os.times()
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file when interrupted
        spy.wait(60)
    if profiler is not None:
        profiler.stop()
        Path(profile).with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False, show_all=False)
        )
        Path(profile).with_suffix(".html").write_text(profiler.output_html())
        profiler.last_session.save(Path(profile).with_suffix(".pyisession"))
    journal_bytes = sum(p.stat().st_size for p in Path(journal_dir).glob("journal.db*"))
    for p in Path(journal_dir).iterdir():
        p.unlink()
    Path(journal_dir).rmdir()
    return {
        "client": client, "n": n, "concurrency": concurrency, "ok": ok, "wall": wall, "cpu": cpu,
        "cpu_sys": times1.system - times0.system,
        "self_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "journal_bytes": journal_bytes, "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("client")
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--base", required=True, help="e.g. http://127.0.0.1:8080/fast")
    parser.add_argument("--profile", help="write a pyinstrument profile to this path (.txt/.html)")
    parser.add_argument("--py-spy", help="write py-spy raw samples of the delivery phase to this path")
    args = parser.parse_args()
    result = run(args.client, args.n, args.concurrency, args.base.rstrip("/"), args.profile, args.py_spy)
    print(json.dumps(result), flush=True)
    sys.exit(0 if result["ok"] == args.n else 1)


if __name__ == "__main__":
    main()
