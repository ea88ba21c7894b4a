"""Peak RSS of a govmedia client while it uploads a 1 GB video to a platform's fake.

The fake runs in another process (``govmedia.testing.server.SandboxServer``
over real HTTP on loopback), so what is measured is the client alone: the
process that reads the file, cuts it into parts and sends them. The video is
a sparse file in a temporary directory (a container header, then zeros): it
costs no disk and no page cache worth counting. The fakes keep each part's
size and SHA-256, never its bytes.

    PYTHONPATH=src python benchmarks/upload_rss.py               # douyin, 1 GB, its default parts
    PYTHONPATH=src python benchmarks/upload_rss.py --part-mb 20 --size-mb 256
    PYTHONPATH=src python benchmarks/upload_rss.py --platform kuaishou --async
    PYTHONPATH=src python benchmarks/upload_rss.py --platform youtube             # 8 MiB chunks

It prints the RSS before the upload, the peak (``ru_maxrss``) and the rate,
and exits 1 when the peak is over ``--limit-mb`` (100 MB by default) or the
post did not arrive.

Adding a platform: add a `Target` to `TARGETS` below, saying which channel
options set its part size and how to build a post around the video. The
platform's fake must be served by `Sandbox` (its class declares ``fake``)
and must keep parts as sizes and hashes (`govmedia.testing.ChunkedUploads`),
or the fake's process, not the client, runs out of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

import govmedia as gm

MB = 1024 * 1024
# An ISO-BMFF ftyp box: enough for a fake (and a sniffer) to see an mp4.
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"


@attrs.frozen
class Target:
    """How to upload a big video to one platform's fake."""

    options: Callable[[int | None], dict[str, Any]]
    """Channel options for a part size in bytes (``None``: the platform's default), short polls."""
    post: Callable[[gm.Media], gm.Post]
    """A post around the video."""
    head: bytes = MP4_HEAD
    """The first bytes of the file (a container signature the fake checks)."""


def _video_post(media: gm.Media) -> gm.Post:
    return gm.Post(title="一带一路看国企", text="一带一路看国企：中老铁路开通一周年",
                   tags=("一带一路看国企",), media=(media,))


def _covered_post(media: gm.Media) -> gm.Post:
    # Kuaishou takes a cover with every video (the fake checks it is an image).
    from govmedia.testing.samples import COVER_JPEG

    return attrs.evolve(_video_post(media), cover=gm.Media.from_bytes(COVER_JPEG, filename="cover.jpg"))


def _bilibili_post(media: gm.Media) -> gm.Post:
    # Bilibili wants a cover of at least 960x600.
    from govmedia.testing.samples import sample_image

    return attrs.evolve(_video_post(media), cover=gm.Media.from_bytes(sample_image(), filename="cover.png"))


TARGETS: dict[str, Target] = {
    "douyin": Target(options=lambda part: {"poll_interval": 0.01,
                                           **({"part_size": part} if part else {})},
                     post=_video_post),
    # direct_max=0: every size goes up in fragments, the path under test.
    "kuaishou": Target(options=lambda part: {"poll_interval": 0.01, "direct_max": 0,
                                             **({"part_size": part} if part else {})},
                       post=_covered_post),
    # Bilibili's parts are fixed at 8 MB by the API: --part-mb does not apply.
    "bilibili": Target(options=lambda _part: {"poll_interval": 0.01, "tid": 21},
                       post=_bilibili_post),
    # The resumable protocol: chunks PUT with Content-Range (part_size: a multiple of 256 KiB).
    "youtube": Target(options=lambda part: {"poll_interval": 0.01,
                                            **({"part_size": part} if part else {})},
                      post=_covered_post),
}


def serve(platform: str) -> None:
    """The fake's process: serve *platform*'s fake, print the address, wait to be stopped."""
    from govmedia.testing.server import SandboxServer

    server = SandboxServer(platforms=[platform])
    print(server.base_url, flush=True)
    server.serve_forever()


def _control(base: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _rss_mb() -> float:
    """This process's resident set now, from /proc (MB)."""
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class _Progress:
    """A fan-out progress object that prints every tenth of the upload."""

    def __init__(self) -> None:
        self.next = 0.1

    def __call__(self, delivery: gm.Delivery) -> None:
        pass

    def upload(self, event: gm.UploadProgress) -> None:
        fraction = event.fraction or 0.0
        if fraction >= self.next or fraction >= 1.0:
            print(f"  {event.sent / MB:7.0f} MB of {(event.total or 0) / MB:.0f} MB "
                  f"(RSS now {_rss_mb():.1f} MB)", flush=True)
            while self.next <= fraction:
                self.next += 0.1


def _publish(args: argparse.Namespace, channel: gm.Channel, post: gm.Post, journal: Path) -> gm.Report:
    if not args.use_async:
        with gm.Client(journal=journal) as client:
            return client.fan_out(post, [channel], progress=_Progress())

    import anyio

    async def main() -> gm.Report:
        async with gm.AsyncClient(journal=journal) as client:
            return await client.fan_out(post, [channel], progress=_Progress())

    return anyio.run(main)


def run(args: argparse.Namespace) -> int:
    target = TARGETS[args.platform]
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="govmedia-rss-") as tmp:
        video = Path(tmp) / "big.mp4"
        with video.open("wb") as f:  # sparse: the header, then a hole up to the size
            f.write(target.head)
            f.truncate(size)
        server = subprocess.Popen([sys.executable, __file__, "--serve", args.platform],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            base = server.stdout.readline().strip()
            if not base.startswith("http://"):
                print(f"the fake's process did not start (said {base!r})", file=sys.stderr)
                return 1
            made = _control(base, "/_sandbox/channels", {
                "platform": args.platform, "account": "rss-bench",
                "options": target.options(args.part_mb * MB if args.part_mb else None)})
            channel = gm.Channel(platform=made["platform"], account=made["account"],
                                 credentials=made["credentials"], options=made["options"])
            post = target.post(gm.Media.from_path(video))
            before = _rss_mb()
            parts = f"{args.part_mb} MB parts" if args.part_mb else "the platform's default parts"
            print(f"{args.platform}: uploading {size / MB:.0f} MB in {parts} to "
                  f"{base} ({'AsyncClient' if args.use_async else 'Client'}); RSS before "
                  f"{before:.1f} MB", flush=True)
            started = time.perf_counter()
            report = _publish(args, channel, post, Path(tmp) / "journal.db")
            took = time.perf_counter() - started
            posts = _control(base, f"/_sandbox/posts/{args.platform}?account=rss-bench")
        finally:
            server.terminate()
            server.wait(timeout=10)
    peak = _peak_mb()
    delivery = report.deliveries[0]
    print(f"delivery: {delivery.state}; posts on the fake: {len(posts)}")
    print(f"took {took:.1f} s ({size / MB / took:.0f} MB/s); RSS before {before:.1f} MB, "
          f"peak {peak:.1f} MB (limit {args.limit_mb} MB)")
    ok = delivery.state == "published" and len(posts) == 1 and peak < args.limit_mb
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--platform", default="douyin", choices=sorted(TARGETS))
    parser.add_argument("--size-mb", type=int, default=1024, help="the video's size (MB)")
    parser.add_argument("--part-mb", type=int, default=None,
                        help="part size (MB; default: the platform's own)")
    parser.add_argument("--limit-mb", type=float, default=100.0, help="the peak RSS allowed")
    parser.add_argument("--async", dest="use_async", action="store_true",
                        help="use gm.AsyncClient instead of gm.Client")
    parser.add_argument("--serve", metavar="PLATFORM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
