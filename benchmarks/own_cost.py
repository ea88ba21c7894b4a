"""govmedia's own work per delivery, with aiohttp's session replaced by a canned answer.

    python3 benchmarks/own_cost.py count [--modes async,async-journal] [--low 200] [--high 1200]
    python3 benchmarks/own_cost.py bytecodes --mode async-journal [--n 400] [--top 40]
    python3 benchmarks/own_cost.py run MODE N     # one run (what the other two call)

What raw aiohttp does inside a govmedia fan-out is the same work raw aiohttp
does on its own; what is left is govmedia's. This takes the network and
aiohttp's request machinery out: the sender's session answers every request
with a canned 200 at once (after one yield to the loop), so everything else
runs as in a real fan-out (``AsyncClient.fan_out`` / ``Client.fan_out`` of one
post to N webhook channels, concurrency 64, journal on or off).

``count``: instructions per delivery under callgrind, the timed window only
(as in ``instructions.py``), ``(I(high) - I(low)) / (high - low)``; the
figures in docs/performance.md's "govmedia's own work" table.

``bytecodes``: Python bytecodes executed per delivery, by module and by
function (``sys.settrace`` with opcode events): where the interpreter's time
goes, exactly, whatever the machine is doing. C work (SQLite, JSON, regular
expressions) does not show here; ``count`` includes it.

Modes: ``async``, ``async-journal``, ``sync``, ``sync-journal``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import operator
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

TEXT = "国资委发布会：2026 年中央企业招聘季正式启动，岗位信息见各企业官网。"
HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------- a canned answer


class _Answer:
    status = 200
    raw_headers = ((b"Server", b"nginx/1.22.1"), (b"Date", b"Sun, 29 Nov 2026 09:00:00 GMT"),
                   (b"Content-Type", b"application/json"), (b"Content-Length", b"11"),
                   (b"Connection", b"keep-alive"))
    content_length = 11

    async def read(self) -> bytes:
        return b'{"ok":true}'


class _Exchange:
    async def __aenter__(self) -> _Answer:
        await asyncio.sleep(0)  # the request goes out and the answer comes back: one loop turn
        return _Answer()

    async def __aexit__(self, *exc: object) -> None:
        return None


class _Session:
    def request(self, *_args: Any, **_kwargs: Any) -> _Exchange:
        return _Exchange()

    async def close(self) -> None:
        return None


class _Resolver:
    async def close(self) -> None:
        return None


def _canned() -> None:
    from govmedia import _aio

    def open_session(self: Any) -> Any:
        if self._session is None:
            self._session, self._resolver, self._check_literals = _Session(), _Resolver(), False
        return self._session

    _aio.AiohttpSender.open = open_session  # type: ignore[method-assign]


def _entry_points_once() -> None:
    """Read entry points once: the shared venv changes while others install, and counts would drift."""
    import importlib.metadata as md

    original, memo = md.entry_points, {}

    def entry_points(**params: Any) -> Any:
        key = tuple(sorted(params.items()))
        if key not in memo:
            memo[key] = original(**params)
        return memo[key]

    md.entry_points = entry_points  # type: ignore[assignment]


# ----------------------------------------------------------------- one run


def _targets(n: int) -> tuple[Any, list[Any]]:
    import govmedia as gm

    post = gm.Post(title="招聘季", text=TEXT, tags=("招聘",), link="https://example.org/a/1",
                   key=f"own-{os.getpid()}-{time.time_ns()}")
    channels = [gm.Channel(platform="webhook", account=f"m{i}",
                           options={"url": f"http://127.0.0.1:8080/fast/hook/{i}"}) for i in range(n)]
    return post, channels


def _fan_out(mode: str, post: Any, channels: list[Any], journal: str | bool) -> int:
    import govmedia as gm

    if mode.startswith("async"):
        got: list[Any] = []

        async def go() -> None:
            async with gm.AsyncClient(journal=journal, concurrency=64) as client:
                got.append(await client.fan_out(post, channels))

        asyncio.run(go())
        report = got[0]
    else:
        with gm.Client(journal=journal, concurrency=64) as client:
            report = client.fan_out(post, channels)
    return sum(d.state == "published" for d in report.deliveries)


def run(mode: str, n: int, wrap: Callable[..., Any] = operator.call) -> dict[str, float]:
    """A warm-up delivery, then N: the N through *wrap* (callgrind counts inside operator.call)."""
    _entry_points_once()
    _canned()
    tmp = tempfile.mkdtemp(prefix="govmedia-own-")
    journal: Callable[[str], str | bool] = ((lambda name: str(Path(tmp) / name)) if mode.endswith("journal")
                                            else (lambda _name: False))
    post, channels = _targets(1)
    _fan_out(mode, post, channels, journal("warm.db"))
    post, channels = _targets(n)  # built outside the window, as clients.py does
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ok = wrap(_fan_out, mode, post, channels, journal("run.db"))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if ok != n:
        raise SystemExit(f"{mode}: {ok} of {n} published")
    return {"cpu_us_per_delivery": cpu / n * 1e6, "wall_us_per_delivery": wall / n * 1e6}


# ----------------------------------------------------------------- count


WINDOW = ("--collect-atstart=no", "--toggle-collect=_operator_call", "--toggle-collect=thread_run")


def _instructions(python: str, mode: str, n: int) -> int:
    with tempfile.TemporaryDirectory(prefix="govmedia-own-cg-") as tmp:
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", *WINDOW, f"--callgrind-out-file={tmp}/out",
             python, str(Path(__file__).resolve()), "run", mode, str(n)],
            capture_output=True, text=True, check=False)
        found = re.findall(r"Collected : (\d+)", proc.stderr)
        if proc.returncode or not found:
            raise SystemExit(f"{mode} at N={n} failed under valgrind:\n{proc.stderr[-2000:]}")
        return sum(int(x) for x in found)


def count(python: str, modes: list[str], low: int, high: int) -> None:
    with ThreadPoolExecutor(2) as pool:  # the two runs of a mode side by side
        for mode in modes:
            a, b = pool.map(lambda n, m=mode: _instructions(python, m, n), (low, high))
            print(f"{mode:16s} {(b - a) / (high - low) / 1e3:8.1f} k instructions per delivery", flush=True)


# ----------------------------------------------------------------- bytecodes


def bytecodes(mode: str, n: int, top: int) -> None:
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    calls: collections.Counter[tuple[str, str]] = collections.Counter()

    def tracer(frame: Any, event: str, _arg: Any) -> Any:
        key = (frame.f_code.co_filename, frame.f_code.co_name)
        if event == "call":
            frame.f_trace_opcodes = True
            calls[key] += 1
        elif event == "opcode":
            counts[key] += 1
        return tracer

    def traced(fn: Callable[..., Any], *args: Any) -> Any:
        sys.settrace(tracer)
        threading.settrace(tracer)
        try:
            return fn(*args)
        finally:
            sys.settrace(None)
            threading.settrace(None)  # type: ignore[arg-type]

    run(mode, n, wrap=traced)

    def short(path: str) -> str:
        for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/lib/python3.12/"):
            if marker in path:
                return path.split(marker, 1)[1]
        return path

    print(f"{sum(counts.values()) / n:.0f} bytecodes per delivery ({mode}, N = {n})")
    modules: collections.Counter[str] = collections.Counter()
    for (path, _), c in counts.items():
        modules[short(path)] += c
    for path, c in modules.most_common(top // 2):
        print(f"{c / n:8.0f}  {path}")
    print("--- by function (calls per delivery: a generator counts each resume)")
    for (path, name), c in counts.most_common(top):
        print(f"{c / n:8.0f}  {calls[path, name] / n:5.1f} calls  {short(path)}:{name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    one = sub.add_parser("run")
    one.add_argument("mode")
    one.add_argument("n", type=int)
    cnt = sub.add_parser("count")
    cnt.add_argument("--modes", default="async,async-journal,sync,sync-journal")
    cnt.add_argument("--low", type=int, default=200)
    cnt.add_argument("--high", type=int, default=1200)
    cnt.add_argument("--python", default=sys.executable)
    byt = sub.add_parser("bytecodes")
    byt.add_argument("--mode", default="async-journal")
    byt.add_argument("--n", type=int, default=400)
    byt.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    if args.command == "run":
        print(run(args.mode, args.n), file=sys.stderr)
    elif args.command == "count":
        count(args.python, [m for m in args.modes.split(",") if m], args.low, args.high)
    else:
        bytecodes(args.mode, args.n, args.top)


if __name__ == "__main__":
    main()
