"""Run fan-outs under faults, kills and a flaky link, and count what ends up live.

The fault matrix the exactly-once promise is held against: the sandbox fakes
(served over real HTTP) fail a share of all requests at random; a proxy
between client and fakes cuts connections mid-request and mid-answer; the
client process is killed with SIGKILL while deliveries are in flight; then it
runs again with the same journal until every delivery is settled, and once
more with the faults off. What counts is on the fakes: how many posts each
account has (never more than one), and whether the journal's word matches
them.

Example:
    >>> from govmedia.testing.faultrun import FaultRun
    >>> FaultRun(per_platform=2, fault_rate=0.0, kills=0).platforms
    ('webhook', 'mastodon', 'wechat_oa')
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from govmedia.testing.server import SandboxServer

__all__ = ["FaultRun", "FlakyProxy", "Outcome"]

_RUNNER = """
import sys, govmedia as gm
post = gm.Post.from_file(sys.argv[1])
matrix = gm.Matrix.from_file(sys.argv[2])
retry = gm.RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.01, timeout=5)
with gm.Client(journal=sys.argv[3], retry=retry, concurrency=int(sys.argv[4]), timeout=3) as client:
    report = client.fan_out(post, matrix)
print(report.summary(), flush=True)
"""


class FlakyProxy:
    """A TCP proxy on loopback that cuts a share of connections at a random byte.

    Each chunk forwarded in either direction is the last one with probability
    *cut_rate*: both sockets are then closed, the way a dying proxy or a
    dropped link ends a request (sent but unanswered, or half-answered).
    """

    def __init__(self, target: tuple[str, int], *, cut_rate: float = 0.05, seed: int = 0) -> None:
        self.target = target
        self.cut_rate = cut_rate
        self._rng = random.Random(seed)  # noqa: S311 - fault injection, not cryptography
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.cuts = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def start(self) -> FlakyProxy:
        """Accept connections in a background thread."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop accepting (open connections end with their peers)."""
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, client, upstream),
                                 daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, *both: socket.socket) -> None:
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    break
                if self.cut_rate and self._rng.random() < self.cut_rate:
                    self.cuts += 1
                    dst.sendall(chunk[: self._rng.randrange(len(chunk) + 1)])
                    break
                dst.sendall(chunk)
        except OSError:
            pass
        for sock in both:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


@attrs.frozen(kw_only=True)
class Outcome:
    """What a fault run left behind.

    Attributes:
        deliveries: planned deliveries (accounts).
        runs: client processes started; killed: of them, killed with SIGKILL.
        posts: live posts per account, as a histogram ``{posts: accounts}``.
        duplicates: accounts with more than one live post (must be 0).
        lost: accounts the journal calls published with no live post (must be 0).
        unknown: accounts left ``unknown`` (an operator settles them);
            ``unknown_live`` of them do have their post.
        failed: accounts still ``failed`` after the clean run (must be 0).
        stray_drafts: WeChat drafts never published (invisible to readers).
        cuts: connections the flaky link cut.
    """

    deliveries: int
    runs: int
    killed: int
    posts: dict[int, int]
    duplicates: int
    lost: int
    unknown: int
    unknown_live: int
    failed: int
    stray_drafts: int
    cuts: int
    states: dict[str, int]
    unknown_by_platform: dict[str, int] = attrs.field(factory=dict)

    @property
    def exactly_once(self) -> bool:
        """No duplicate, nothing lost, nothing failed that could be sent."""
        return self.duplicates == 0 and self.lost == 0 and self.failed == 0


@attrs.define(kw_only=True)
class FaultRun:
    """One trial: a matrix over the fakes, faults at *fault_rate*, *kills* SIGKILLs.

    Args:
        platforms: which fakes the members are on.
        per_platform: member accounts per platform.
        fault_rate: share of requests the fakes fail at random.
        cut_rate: share of forwarded chunks after which the link is cut.
        kills: client processes killed with SIGKILL, each after a random delay.
        concurrency: the client's concurrency.
        seed: makes the faults, cuts and kill times repeatable.
    """

    platforms: Sequence[str] = ("webhook", "mastodon", "wechat_oa")
    per_platform: int = 10
    fault_rate: float = 0.3
    cut_rate: float = 0.02
    kills: int = 2
    concurrency: int = 8
    seed: int = 0
    max_runs: int = 12

    def run(self, workdir: str | os.PathLike[str] | None = None) -> Outcome:
        """Run the trial (in *workdir*, default a temporary folder) and count."""
        if workdir is None:
            with tempfile.TemporaryDirectory() as tmp:
                return self._run(Path(tmp))
        return self._run(Path(workdir))

    def _run(self, work: Path) -> Outcome:
        rng = random.Random(self.seed)  # noqa: S311 - fault injection, not cryptography
        with SandboxServer(platforms=list(self.platforms)) as server:
            host, port = server.base_url.removeprefix("http://").split(":")
            proxy = FlakyProxy((host, int(port)), cut_rate=self.cut_rate, seed=self.seed).start()
            try:
                accounts = self._write_inputs(work, server, f"http://127.0.0.1:{proxy.port}")
                for i, fake in enumerate(server.sandbox.fakes.values()):
                    fake.chaos(self.fault_rate, seed=self.seed * 31 + i)
                runs = killed = 0
                journal = work / "journal.db"
                while runs < self.max_runs:
                    runs += 1
                    kill_after = rng.uniform(0.2, 1.5) if killed < self.kills else None
                    finished = self._client(work, journal, kill_after)
                    killed += not finished
                    if finished and self._settled(journal):
                        break
                for fake in server.sandbox.fakes.values():  # a clean re-run settles what failed
                    fake.chaos(0.0)
                proxy.cut_rate = 0.0
                self._client(work, journal, None)
                runs += 1
                return self._count(server, journal, accounts, runs=runs, killed=killed, cuts=proxy.cuts)
            finally:
                proxy.close()

    def _write_inputs(self, work: Path, server: SandboxServer, proxied: str) -> list[tuple[str, str]]:
        rows, accounts = [], []
        for platform in self.platforms:
            for i in range(self.per_platform):
                ch = server.sandbox.channel(platform, f"{platform[:2]}{i:03d}")
                options = {k: (v.replace(server.base_url, proxied) if isinstance(v, str) else v)
                           for k, v in ch.options.items()}
                rows.append(_toml_member(ch.platform, ch.account, dict(ch.credentials), options))
                accounts.append((ch.platform, ch.account))
        (work / "matrix.toml").write_text("".join(rows), encoding="utf-8")
        (work / "post.md").write_text(_POST, encoding="utf-8")
        (work / "cover.jpg").write_bytes(_cover())
        return accounts

    def _client(self, work: Path, journal: Path, kill_after: float | None) -> bool:
        """Run one client process; True when it ended on its own."""
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", _RUNNER, str(work / "post.md"), str(work / "matrix.toml"),
             str(journal), str(self.concurrency)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            proc.wait(timeout=kill_after if kill_after is not None else 300)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return False
        return True

    @staticmethod
    def _settled(journal: Path) -> bool:
        states = _states(journal)
        return not set(states) - {"published", "unknown", "skipped"}

    def _count(self, server: SandboxServer, journal: Path, accounts: list[tuple[str, str]],
               *, runs: int, killed: int, cuts: int) -> Outcome:
        rows = _rows(journal)
        histogram: Counter[int] = Counter()
        duplicates = lost = unknown = unknown_live = failed = stray = 0
        by_platform: Counter[str] = Counter()
        for platform, account in accounts:
            fake = server.sandbox[platform]
            posts = fake.posts(account)
            if platform == "wechat_oa":
                stray += sum(1 for p in posts if p["state"] == "draft")
                posts = [p for p in posts if p["state"] != "draft"]
            live = len(posts)
            histogram[live] += 1
            state = rows.get((platform, account), "pending")
            duplicates += live > 1
            lost += state == "published" and live == 0
            failed += state in ("failed", "pending", "sending")
            if state == "unknown":
                unknown += 1
                unknown_live += live > 0
                by_platform[platform] += 1
        return Outcome(deliveries=len(accounts), runs=runs, killed=killed, posts=dict(histogram),
                       duplicates=duplicates, lost=lost, unknown=unknown, unknown_live=unknown_live,
                       failed=failed, stray_drafts=stray, cuts=cuts, states=_states(journal),
                       unknown_by_platform=dict(by_platform))


def _rows(journal: Path) -> dict[tuple[str, str], str]:
    db = sqlite3.connect(journal)
    try:
        return {(p, a): s for p, a, s in db.execute("SELECT platform, account, state FROM deliveries")}
    finally:
        db.close()


def _states(journal: Path) -> dict[str, int]:
    if not journal.exists():
        return {"pending": 1}
    return dict(Counter(_rows(journal).values()))


def _toml_member(platform: str, account: str, credentials: dict[str, str],
                 options: dict[str, Any]) -> str:
    def table(data: dict[str, Any]) -> str:
        return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in data.items()) + " }"

    return (f'[[members]]\nplatform = "{platform}"\naccount = "{account}"\n'
            f"credentials = {table(credentials)}\noptions = {table(options)}\n")


_POST = """+++
title = "一带一路看国企：中老铁路开通一周年"
text = "一带一路看国企：中老铁路开通一周年，累计发送旅客850万人次"
cover = "cover.jpg"
+++
# 中老铁路开通一周年

一年来，中老铁路累计发送旅客 **850 万人次**。
"""


def _cover() -> bytes:
    from govmedia.testing.samples import COVER_JPEG

    return COVER_JPEG


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m govmedia.testing.faultrun [TRIALS] [PER_PLATFORM]``: print the counts."""
    args = list(sys.argv[1:] if argv is None else argv)
    trials = int(args[0]) if args else 3
    per = int(args[1]) if len(args) > 1 else 20
    bad = 0
    for seed in range(trials):
        started = time.perf_counter()
        outcome = FaultRun(per_platform=per, seed=seed).run()
        bad += not outcome.exactly_once
        took = round(time.perf_counter() - started, 1)
        line = json.dumps({"seed": seed, "seconds": took, **attrs.asdict(outcome)}, ensure_ascii=False)
        print(line, flush=True)  # noqa: T201 - this is the command's output
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
