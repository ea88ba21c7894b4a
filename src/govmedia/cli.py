"""The ``govmedia`` command: ``demo``, ``sandbox``."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import govmedia as gm

__all__ = ["main"]


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from govmedia.testing.server import SandboxServer

    server = SandboxServer(args.host, args.port)
    print(f"govmedia sandbox serving fakes at {server.base_url}")
    for name, fake in server.sandbox.fakes.items():
        print(f"  {name:<10} {fake.base_url}")
    print("Ctrl-C stops it.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from govmedia.testing.samples import sample_post
    from govmedia.testing.server import serve

    post = sample_post()
    print("govmedia demo: one post, three platforms, real HTTP on loopback\n")
    print(f"  post: {post.title}  (key {post.key[:12]}…)\n")
    with serve() as server, gm.Client(retry=gm.RetryPolicy(wait_initial=0.05, wait_jitter=0.05)) as client:
        sandbox = server.sandbox
        for name in sandbox.fakes:
            channel = sandbox.channel(name, f"{name}-demo")
            started = time.perf_counter()
            try:
                receipt = client.publish(post, channel)
            except gm.GovMediaError as exc:
                print(f"  {name:<10} FAILED  {exc}")
                continue
            took = time.perf_counter() - started
            print(f"  {name:<10} {receipt.state:<10} id={receipt.remote_id}  url={receipt.url or '-'}"
                  f"  ({took * 1000:.0f} ms)")
    print("\nEverything above went over HTTP to govmedia's strict fakes (govmedia.testing).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``govmedia`` command."""
    parser = argparse.ArgumentParser(prog="govmedia", description=gm.__doc__.splitlines()[0] if gm.__doc__ else None)
    parser.add_argument("--version", action="version", version=f"govmedia {gm.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="publish a sample post to the built-in fakes over loopback")
    demo.set_defaults(func=_cmd_demo)
    sandbox = sub.add_parser("sandbox", help="serve the fake platforms over HTTP on loopback")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.set_defaults(func=_cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``govmedia`` command."""
    args = build_parser().parse_args(argv)
    status: int = args.func(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
