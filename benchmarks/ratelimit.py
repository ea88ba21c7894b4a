"""Rate-limiter precision: does a fan-out hold R requests/s, never above the burst?

    python3 benchmarks/ratelimit.py --base http://127.0.0.1:PORT/logged --log .../arrivals.log

``run.py`` calls it with its nginx. Each case is one fan-out of
``burst + R * seconds`` webhook channels under ``rate_limits={"webhook":
gm.RateLimit(R, burst=B)}`` and a concurrency well above R, so only the limiter
holds the pace. Arrival times come from the receiver (nginx's ``$msec``,
1 ms resolution), not from the client, so they include every delay on the way.

Per case it reports:

* ``rate``: sustained requests/s after the opening burst, i.e.
  ``(arrivals after the first B - 1) / (their last - their first time)``;
  the target is within 2 % of R;
* ``observed_burst``: the largest ``count(i..j) - R * (t_j - t_i)`` over all
  pairs of arrivals, i.e. how far the traffic ever ran ahead of the
  sustained rate; a token bucket of size B keeps it at most B (the receiver's
  1 ms clock and scheduling jitter may add a fraction of one request).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

CASES = (  # (name, client, rate per second, burst)
    ("async-20-b5", "async", 20.0, 5),
    ("async-100-b10", "async", 100.0, 10),
    ("sync-50-b1", "sync", 50.0, 1),
)


def read_arrivals(log: Path, case: str) -> list[float]:
    times = []
    for line in log.read_text().splitlines():
        msec, uri, status = line.split()
        if uri.startswith(f"/logged/{case}/") and status == "200":
            times.append(float(msec))
    return sorted(times)


def analyse(times: list[float], rate: float, burst: int) -> dict[str, Any]:
    steady = times[burst:]
    sustained = (len(steady) - 1) / (steady[-1] - steady[0]) if len(steady) > 1 else float("nan")
    # max over i <= j of (j - i + 1) - rate * (t_j - t_i), in one pass.
    best_start = float("-inf")
    observed = 0.0
    for j, t in enumerate(times):
        best_start = max(best_start, rate * t - j)
        observed = max(observed, (j + 1) - rate * t + best_start)
    return {
        "arrivals": len(times),
        "span_s": times[-1] - times[0] if times else 0.0,
        "rate": sustained,
        "rate_error_pct": (sustained - rate) / rate * 100,
        "observed_burst": observed,
        "max_in_any_1s": max(
            sum(1 for u in times[i:] if u < t + 1.0) for i, t in enumerate(times)
        ) if times else 0,
    }


def run_case(base: str, case: str, kind: str, rate: float, burst: int, seconds: float) -> int:
    import govmedia as gm

    n = burst + round(rate * seconds)
    post = gm.Post(text="限速测试", key=f"rl-{case}-{time.time_ns()}")
    channels = [gm.Channel(platform="webhook", account=f"{case}-{i}",
                           options={"url": f"{base}/{case}/{i}"}) for i in range(n)]
    limits = {"webhook": gm.RateLimit(rate, burst=burst)}
    concurrency = min(n, max(64, int(rate)))
    if kind == "async":

        got: list[Any] = []

        async def go() -> None:  # returns nothing: see clients.py on asyncio.run and big results
            async with gm.AsyncClient(rate_limits=limits, concurrency=concurrency, journal=False) as client:
                got.append(await client.fan_out(post, channels))

        asyncio.run(go())
        report = got[0]
    else:
        with gm.Client(rate_limits=limits, concurrency=concurrency, journal=False) as client:
            report = client.fan_out(post, channels)
    return sum(1 for d in report.deliveries if d.state == "published")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True, help="nginx's logged path, e.g. http://127.0.0.1:P/logged")
    parser.add_argument("--log", required=True, type=Path, help="nginx's arrivals.log")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    results = []
    for case, kind, rate, burst in CASES:
        wall0 = time.perf_counter()
        ok = run_case(args.base.rstrip("/"), case, kind, rate, burst, args.seconds)
        wall = time.perf_counter() - wall0
        time.sleep(0.3)  # let nginx write the last log lines
        stats = analyse(read_arrivals(args.log, case), rate, burst)
        results.append({"case": case, "client": kind, "rate_target": rate, "burst": burst,
                        "seconds": args.seconds, "published": ok, "wall": wall, **stats})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
