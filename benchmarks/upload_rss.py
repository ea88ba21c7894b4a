"""Peak memory while a large video goes up to a platform's fake in fragments.

Run by hand, never by the test suite:

    PYTHONPATH=src python benchmarks/upload_rss.py [--platform kuaishou] [--size-mb 1024]
        [--part-mb 8] [--journal] [--async]

Writes a sparse file of ``--size-mb`` MiB that starts like an MP4, publishes
it through the platform's fake (in-process, ``Sandbox``) with fragments of
``--part-mb`` MiB, and prints the process's peak resident memory before and
after (``ru_maxrss``), the time taken and the fragments the fake received.
The upload streams from disk, so the peak should stay a few fragments above
the interpreter's baseline, however large the file (the issue's bar: under
100 MB for 1 GB). ``--journal`` runs it as a journal-backed fan-out (an upload
checkpoint per fragment); ``--async`` uses `AsyncClient`.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path


def peak_mb() -> float:
    """The process's peak resident set so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform != "darwin" else kib / 1024 / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", default="kuaishou")
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--part-mb", type=int, default=8)
    parser.add_argument("--journal", action="store_true")
    parser.add_argument("--async", dest="asynchronous", action="store_true")
    args = parser.parse_args()

    import anyio

    import govmedia as gm
    from govmedia.testing import Sandbox
    from govmedia.testing.samples import CLIP_MP4, COVER_JPEG

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.mp4"
        with path.open("wb") as f:
            f.write(CLIP_MP4)
            f.truncate(args.size_mb * 1024 * 1024)  # sparse: no disk, no page cache to speak of
        sandbox = Sandbox(platforms=[args.platform])
        fake = sandbox[args.platform]
        channel = sandbox.channel(args.platform, "bench", part_size=args.part_mb * 1024 * 1024,
                                  direct_max=0)
        post = gm.Post(text="一带一路看国企：大文件上传", media=(gm.Media.from_path(path),),
                       cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))
        journal = Path(tmp) / "j.db" if args.journal else None
        options = {"retry": gm.RetryPolicy.testing()}
        before = peak_mb()
        started = time.perf_counter()
        if args.asynchronous:
            async def run() -> str:
                async with gm.AsyncClient(http=sandbox.async_client(), journal=journal,
                                          **options) as client:
                    if journal:
                        return (await client.fan_out(post, [channel])).deliveries[0].state
                    return (await client.publish(post, channel)).state

            state = anyio.run(run)
        else:
            with gm.Client(http=sandbox.client(), journal=journal, **options) as client:
                state = (client.fan_out(post, [channel]).deliveries[0].state if journal
                         else client.publish(post, channel).state)
        elapsed = time.perf_counter() - started
        after = peak_mb()
        fragments = len(fake.requests(r"/fragment$"))
        size = path.stat().st_size
    print(f"platform={args.platform} size={size / 2**20:.0f} MiB part={args.part_mb} MiB "
          f"journal={bool(args.journal)} async={args.asynchronous}")
    print(f"state={state} fragments={fragments} time={elapsed:.2f} s "
          f"({size / 2**20 / elapsed:.0f} MiB/s through the in-process fake)")
    print(f"peak RSS: {before:.1f} MiB before the upload, {after:.1f} MiB after "
          f"(+{after - before:.1f} MiB)")
    return 0 if after < 100 else 1


if __name__ == "__main__":
    raise SystemExit(main())
