"""Peak memory while a 1 GB video goes to the Bilibili fake in 8 MB parts (issue 11, item 2).

Not a test: run by hand. The video is a sparse file (a real MP4 header, then
zeros the disk never stores), read part by part from disk as any upload is.
Each measured delivery runs in a fresh process (its peak RSS is its own),
with a journal (a checkpoint per part), and prints its peak RSS
(``ru_maxrss``) next to the RSS before the upload began.

- ``loopback``: ``gm.Client()`` / ``gm.AsyncClient()`` as users run them
  (govmedia's own sender), to ``govmedia sandbox`` served by another process
  over real sockets. This is the figure the target (100 MB) is about.
- ``in-process``: the same through ``http=httpx.Client(MockTransport(...))``.
  httpx keeps every response in a reference cycle (the response and its
  bound stream), and the response holds its request, so each 8 MB part
  lives until Python's cyclic collector runs: the peak is far higher and
  says nothing about the upload itself (shown with ``--in-process``).

    python benchmarks/upload_rss_bilibili.py                 # 1 GiB, loopback, sync and async
    python benchmarks/upload_rss_bilibili.py --size-mb 4000 --in-process

Exits 1 when a loopback peak reaches the target or a delivery is not published.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TARGET_MB = 100.0
ROOT = Path(__file__).resolve().parents[1]

SERVER = r"""
import sys
from govmedia.testing.server import SandboxServer
server = SandboxServer(platforms=["bilibili"])
print(server.base_url, flush=True)
server.serve_forever()
"""

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
import anyio, httpx
import govmedia as gm
from govmedia.testing import Sandbox
from govmedia.testing.samples import sample_image

path, mode, journal, channel_json = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
http = ahttp = None
if channel_json == "-":  # in-process: the fake behind a MockTransport
    sandbox = Sandbox(platforms=["bilibili"])
    channel = sandbox["bilibili"].channel("sasac", tid=21)
    http, ahttp = sandbox.client(), sandbox.async_client()
else:
    channel = gm.Channel(**json.loads(channel_json))
post = gm.Post(title="一带一路看国企：中老铁路开通一周年", text="1 GB", tags=("一带一路",),
               cover=gm.Media.from_bytes(sample_image(), filename="cover.png"),
               media=(gm.Media.from_path(path),))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
if mode == "sync":
    with gm.Client(http=http, journal=journal, timeout=120) as client:
        report = client.fan_out(post, [channel])
else:
    async def main():
        async with gm.AsyncClient(http=ahttp, journal=journal, timeout=120) as client:
            return await client.fan_out(post, [channel])
    report = anyio.run(main)
elapsed = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
delivery = report.deliveries[0]
print(json.dumps({"state": delivery.state, "error": str(delivery.error or ""),
                  "seconds": round(elapsed, 2), "peak_mb": round(peak, 1),
                  "before_mb": round(before, 1)}))
"""


def make_video(path: Path, size: int) -> None:
    """A sparse file of *size* bytes that starts with a real MP4 header."""
    sys.path.insert(0, str(ROOT / "src"))
    from govmedia.testing.samples import sample_video

    with path.open("wb") as f:
        f.write(sample_video(600.0, size=64 * 1024))
        f.truncate(size)


def control(base: str, path: str, data: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(data).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        result: dict[str, object] = json.load(answer)
        return result


def measure(python: str, env: dict[str, str], video: Path, mode: str, journal: Path,
            channel: str) -> dict[str, object]:
    out = subprocess.run([python, "-c", CHILD, str(video), mode, str(journal), channel],
                         capture_output=True, text=True, check=True, env=env, timeout=1800)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="video size in MiB (default 1024)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter to measure")
    parser.add_argument("--in-process", action="store_true",
                        help="also measure the in-process http= path (httpx's reference cycle)")
    args = parser.parse_args()
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": os.environ.get("HOME", "/tmp")}
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "video.mp4"
        make_video(video, args.size_mb * 1024 * 1024)
        server = subprocess.Popen([args.python, "-c", SERVER], stdout=subprocess.PIPE, text=True,
                                  env=env)
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            time.sleep(0.2)
            runs = [("sync", "loopback"), ("async", "loopback")]
            if args.in_process:
                runs += [("sync", "in-process"), ("async", "in-process")]
            for mode, where in runs:
                if where == "loopback":
                    channel = json.dumps(control(base, "/_sandbox/channels", {
                        "platform": "bilibili", "account": f"sasac-{mode}", "options": {"tid": 21}}))
                else:
                    channel = "-"
                result = measure(args.python, env, video, mode, Path(tmp) / f"{mode}-{where}.db",
                                 channel)
                published = result["state"] == "published"
                under = float(str(result["peak_mb"])) < TARGET_MB
                if where == "loopback":
                    failed = failed or not (published and under)
                verdict = ("ok" if published and under else
                           result["error"] if not published else f"over {TARGET_MB:g} MB")
                print(f"{where:10} {mode:5} {args.size_mb:,} MiB  {result['seconds']:7.2f} s  "
                      f"peak RSS {result['peak_mb']:7.1f} MB (before the upload "
                      f"{result['before_mb']:.1f} MB)  {verdict}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=10)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
