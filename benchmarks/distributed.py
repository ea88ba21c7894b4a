"""Beyond one machine: workers' throughput, and what a claim costs on PostgreSQL next to SQLite.

    python3 benchmarks/distributed.py                 # both parts (~2 minutes)
    python3 benchmarks/distributed.py --claims        # the journal alone
    python3 benchmarks/distributed.py --workers 1,2,4 -n 4000

Needs Debian's redis-server, postgresql and nginx-light (the 100 ms
receiver, benchmarks/receiver.py) and govmedia's ``distributed`` extra. The
servers are private ones started here (tests/servers.py) and stopped at the
end. Results are printed as a Markdown table; docs/deployment.md quotes them.

* **claims**: a journal as one worker drives it: per delivery a claim
  (its own commit) and an outcome (its own commit), then the same with
  claims and outcomes of 32 deliveries sharing commits, as a busy worker's
  do. Wall time per delivery in the client, and the server's CPU.
* **throughput**: N webhook deliveries to nginx answering after 100 ms, sent
  by 1, 2 and 4 ``govmedia worker`` processes (64 at once each) over Redis,
  the journal on PostgreSQL. Deliveries/s from the first message to the
  run's end, and CPU seconds per process kind.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "benchmarks")]


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / os.sysconf(
        "SC_CLK_TCK")


def _tree_cpu(pid: int) -> float:
    total = _cpu(pid)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    total += _cpu(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return total


def claims(n: int, pg) -> list[tuple[str, float, float, float]]:
    import govmedia as gm

    rows = []
    channels = [gm.Channel(platform="webhook", account=f"m{i}", options={"url": "http://127.0.0.1/h"})
                for i in range(n)]
    receipt = {"status": 200, "response": {"ok": True}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, target in (("SQLite (WAL, synchronous=NORMAL)", str(Path(tmp) / "j.db")),
                             ("PostgreSQL 15 (unix socket, fsync off)", pg.fresh())):
            for batch in (1, 32):
                journal = gm.Journal(target)
                run = journal.start_run(post_key=f"k{batch}", title=None, mode="broadcast",
                                        planned=((c, "member") for c in channels))
                server0 = _tree_cpu(pg.proc.pid) if "Postgre" in name else 0.0
                wall0 = time.perf_counter()
                for start in range(0, n, batch):
                    group = channels[start:start + batch]
                    journal.claim_many(f"k{batch}", [(c, "pending", "gm-x", None) for c in group],
                                       run_id=run)
                    for c in group:
                        journal.settle(run, f"k{batch}", c, state="published", attempts=1,
                                       receipt=gm.Receipt(channel=c, remote_id="1", raw=receipt))
                    journal.flush()
                wall = (time.perf_counter() - wall0) / n * 1e6
                server = ((_tree_cpu(pg.proc.pid) - server0) / n * 1e6) if "Postgre" in name else 0.0
                rows.append((name, batch, wall, server))
                journal.close()
    return rows


def _matrix(n: int, base: str, path: Path) -> None:
    lines = []
    for i in range(n):
        lines.append(f'[[members]]\nplatform = "webhook"\naccount = "m{i:05}"\n'
                     f'options = {{ url = "{base}/slow/hook/{i}" }}\n')
    path.write_text("".join(lines), encoding="utf-8")


def run_workers(n: int, counts: list[int], pg, redis) -> list[tuple[int, float, float, float, float]]:
    from receiver import Nginx

    import govmedia as gm

    results = []
    with Nginx() as nginx, tempfile.TemporaryDirectory() as tmp:
        if not nginx.slow:
            raise SystemExit("the 100 ms receiver needs nginx's echo module: apt-get install nginx-light")
        matrix = Path(tmp) / "matrix.toml"
        _matrix(n, nginx.base, matrix)
        channels = list(gm.Matrix.from_file(matrix))
        for count in counts:
            import redis as redis_py

            with redis_py.Redis(unix_socket_path=str(redis.socket)) as r:
                r.flushall()
            journal = pg.fresh()
            procs = [subprocess.Popen(
                [sys.executable, "-m", "govmedia.cli", "worker", "--matrix", str(matrix), "--journal",
                 journal, "--broker", redis.url(), "--concurrency", "64", "--quiet"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "PYTHONPATH": str(ROOT / "src")}) for _ in range(count)]
            time.sleep(2.5)  # imported and listening
            cpu0 = [_cpu(p.pid) for p in procs]
            pg0, nginx0, redis0 = _tree_cpu(pg.proc.pid), nginx.cpu_seconds(), _cpu(redis.proc.pid)
            me0 = time.process_time()
            with gm.Client(journal=journal) as client:
                started = time.perf_counter()
                report = client.fan_out(gm.Post(text="国资小新：吞吐量测试"), channels,
                                        executor=redis.url())
                wall = time.perf_counter() - started
            assert report.summary() == {"published": n}, report.summary()
            workers_cpu = sum(_cpu(p.pid) - c for p, c in zip(procs, cpu0, strict=True))
            others = (_tree_cpu(pg.proc.pid) - pg0, nginx.cpu_seconds() - nginx0,
                      _cpu(redis.proc.pid) - redis0, time.process_time() - me0)
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait(20)
            results.append((count, n / wall, workers_cpu / n * 1e3, others[0] / n * 1e3, wall))
            print(f"  {count} worker(s): {n / wall:.0f} deliveries/s ({wall:.1f} s); CPU ms per "
                  f"delivery: workers {workers_cpu / n * 1e3:.2f}, postgres {others[0] / n * 1e3:.2f}, "
                  f"nginx {others[1] / n * 1e3:.2f}, redis {others[2] / n * 1e3:.2f}, "
                  f"submitter {others[3] / n * 1e3:.2f}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=4000, help="deliveries per throughput run")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--claims", action="store_true", help="only the journal's claim cost")
    parser.add_argument("--claims-n", type=int, default=2000)
    args = parser.parse_args()
    from servers import Postgres, Redis

    pg = Postgres().start()
    redis = Redis().start()
    try:
        print(f"## Claim cost per delivery (N = {args.claims_n}, this machine: {os.cpu_count()} cores)\n")
        print("| journal | deliveries per commit | wall µs per delivery | server CPU µs |")
        print("|---|---|---|---|")
        for name, batch, wall, server in claims(args.claims_n, pg):
            print(f"| {name} | {batch} | {wall:.0f} | {server:.0f} |")
        if args.claims:
            return
        print(f"\n## Workers against the 100 ms receiver (N = {args.n}, 64 at once per worker)\n")
        rows = run_workers(args.n, [int(c) for c in args.workers.split(",")], pg, redis)
        print("\n| workers | deliveries/s | worker CPU ms per delivery | PostgreSQL CPU ms | wall s |")
        print("|---|---|---|---|---|")
        for count, rate, wcpu, pcpu, wall in rows:
            print(f"| {count} | {rate:.0f} | {wcpu:.2f} | {pcpu:.2f} | {wall:.1f} |")
    finally:
        redis.stop()
        pg.stop()


if __name__ == "__main__":
    main()
