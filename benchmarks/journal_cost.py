"""What the journal costs per delivery, and govmedia's own cost without a network.

    python3 benchmarks/journal_cost.py [--n 1000] [--repeats 5]

Two measurements, printed as one JSON object:

* ``journal``: the SQLite journal alone, as a fan-out drives it: one
  ``start_run`` with N planned deliveries, then ``claim`` and ``settle`` per
  delivery (two committed transactions), then ``finish_run``; wall and CPU
  microseconds per delivery, on the file system of the temp directory;
* ``overhead``: ``fan_out`` of one post to N webhook channels over an
  ``httpx.MockTransport`` that answers 200 at once, journal off and on, sync
  and async: everything govmedia and httpx's client layer do per delivery
  except the network. ``raw httpx async``/``sync`` post the same number of
  JSON bodies through plain httpx over the same transport (the sync one from
  one thread), so the difference is govmedia's own cost; the difference
  between journal on and off is the journal's cost inside a fan-out.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _channels(n: int) -> list[Any]:
    import govmedia as gm

    return [gm.Channel(platform="webhook", account=f"m{i}", options={"url": f"http://bench.invalid/hook/{i}"})
            for i in range(n)]


def journal_alone(n: int, directory: str) -> dict[str, float]:
    import govmedia as gm

    channels = _channels(n)
    path = Path(directory) / f"j-{time.time_ns()}.db"
    journal = gm.Journal(path)
    _cpu0, wall0 = time.process_time(), time.perf_counter()
    run_id = journal.start_run(post_key="k", title="t", mode="broadcast",
                               planned=((c, "member") for c in channels))
    cpu1, wall1 = time.process_time(), time.perf_counter()
    for ch in channels:
        journal.claim(run_id, "k", ch, expect="pending", idem_key="gm-x")
        receipt = gm.Receipt(channel=ch, remote_id="gm-x", url=None, state="published",
                             raw={"status": 200, "response": {"ok": True}})
        journal.settle(run_id, "k", ch, state="published", receipt=receipt, attempts=1)
    cpu2, wall2 = time.process_time(), time.perf_counter()
    journal.finish_run(run_id, {"published": n})
    journal.close()
    size = sum(p.stat().st_size for p in Path(directory).glob(path.name + "*"))
    for p in Path(directory).glob(path.name + "*"):
        p.unlink()
    return {
        "start_run_us_per_delivery": (wall1 - wall0) / n * 1e6,
        "claim_settle_us_per_delivery": (wall2 - wall1) / n * 1e6,
        "claim_settle_cpu_us_per_delivery": (cpu2 - cpu1) / n * 1e6,
        "bytes_per_delivery": size / n,
    }


def _mock() -> Any:
    import httpx

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    return httpx.MockTransport(handler)


def fan_out_no_network(n: int, kind: str, journal: str | None) -> dict[str, float]:
    import httpx

    import govmedia as gm

    post = gm.Post(title="招聘季", text="国资委发布会：中央企业招聘季正式启动。", key=f"o-{time.time_ns()}")
    channels = _channels(n)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if kind == "async":

        got: list[Any] = []

        async def go() -> None:  # returns nothing: see clients.py on asyncio.run and big results
            http = httpx.AsyncClient(transport=_mock())
            async with gm.AsyncClient(http=http, journal=journal or False, concurrency=64) as client:
                got.append(await client.fan_out(post, channels))
            await http.aclose()

        asyncio.run(go())
        report = got[0]
    else:
        with httpx.Client(transport=_mock()) as http, \
                gm.Client(http=http, journal=journal or False, concurrency=64) as client:
            report = client.fan_out(post, channels)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    published = sum(1 for d in report.deliveries if d.state == "published")
    if published != n:
        raise SystemExit(f"{kind} journal={journal is not None}: only {published} of {n} published")
    return {"wall_us_per_delivery": wall / n * 1e6, "cpu_us_per_delivery": cpu / n * 1e6}


def raw_httpx_no_network(n: int, kind: str) -> dict[str, float]:
    """The baseline: httpx alone posting N JSON bodies over the same MockTransport."""
    import httpx

    body = {"type": "post.published", "data": {"text": "国资委发布会：中央企业招聘季正式启动。"}}
    urls = [f"http://bench.invalid/hook/{i}" for i in range(n)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if kind == "async":

        async def go() -> None:
            async with httpx.AsyncClient(transport=_mock()) as http:
                sem = asyncio.Semaphore(64)

                async def one(url: str) -> None:
                    async with sem:
                        (await http.post(url, json=body)).raise_for_status()

                await asyncio.gather(*(one(u) for u in urls))

        asyncio.run(go())
    else:
        with httpx.Client(transport=_mock()) as http:
            for url in urls:
                http.post(url, json=body).raise_for_status()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"wall_us_per_delivery": wall / n * 1e6, "cpu_us_per_delivery": cpu / n * 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    out: dict[str, Any] = {"n": args.n, "repeats": args.repeats}
    with tempfile.TemporaryDirectory(prefix="govmedia-bench-") as tmp:
        fs = os.statvfs(tmp)
        out["tmp_dir"] = tmp
        out["tmp_fs_free_gb"] = fs.f_bavail * fs.f_frsize / 1e9
        journal_alone(200, tmp)  # warm up
        runs = [journal_alone(args.n, tmp) for _ in range(args.repeats)]
        out["journal"] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        overhead: dict[str, Any] = {}
        for kind in ("async", "sync"):
            raw_httpx_no_network(100, kind)
            samples = [raw_httpx_no_network(args.n, kind) for _ in range(args.repeats)]
            overhead[f"raw httpx {kind}"] = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            overhead[f"raw httpx {kind}"]["cpu_us_all"] = [s["cpu_us_per_delivery"] for s in samples]
        for kind in ("async", "sync"):
            for with_journal in (False, True):
                label = f"{kind}-journal" if with_journal else kind
                fan_out_no_network(100, kind, None)  # warm up lazy imports and caches
                samples = []
                for r in range(args.repeats):
                    path = str(Path(tmp) / f"{label}-{r}.db") if with_journal else None
                    samples.append(fan_out_no_network(args.n, kind, path))
                overhead[label] = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
                overhead[label]["cpu_us_all"] = [s["cpu_us_per_delivery"] for s in samples]
        out["overhead"] = overhead
    print(json.dumps(out))


if __name__ == "__main__":
    main()
