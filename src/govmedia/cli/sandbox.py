"""``govmedia sandbox`` (the fake platforms over HTTP) and ``govmedia demo``.

The fakes keep their accounts in memory: credentials they accept are made
while the sandbox runs. ``--write-matrix FILE`` writes a matrix of such
accounts at start-up; ``POST /_sandbox/channels`` makes one more at any time.
The banner says both.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import govmedia as gm

__all__ = ["add_parser", "matrix_toml"]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)  # a JSON string is a TOML basic string


def _table(channel: gm.Channel, labels: tuple[str, ...] = ()) -> str:
    def inline(values: Any) -> str:
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in values.items()) + " }"

    lines = [f"platform = {_toml_value(channel.platform)}", f"account = {_toml_value(channel.account)}"]
    if labels:
        lines.append("labels = [" + ", ".join(_toml_value(label) for label in labels) + "]")
    if channel.credentials:
        lines.append(f"credentials = {inline(channel.credentials)}")
    if channel.options:
        lines.append(f"options = {inline(channel.options)}")
    return "\n".join(lines) + "\n"


def matrix_toml(sandbox: Any, *, accounts: int = 2) -> str:
    """A matrix file of new sandbox accounts: a WeChat hub, *accounts* members per platform.

    Example:
        >>> from govmedia.testing import Sandbox
        >>> text = matrix_toml(Sandbox(platforms=["webhook"]), accounts=1)
        >>> gm.Matrix.from_dict(__import__("tomllib").loads(text)).members[0].platform
        'webhook'
    """
    names = list(sandbox.fakes)
    hub_platform = "wechat_oa" if "wechat_oa" in names else names[0]
    parts = ["# Accounts of a running `govmedia sandbox`: valid until it stops.\n",
             "[hub]\n" + _table(sandbox.channel(hub_platform, ""))]
    parts += ["[[members]]\n" + _table(sandbox.channel(name, ""), ("sandbox", name))
              for name in names for _ in range(accounts)]
    return "\n".join(parts)


def _banner(server: Any, written: Path | None) -> str:
    fakes = "\n".join(f"  {name:<10} {fake.base_url}" for name, fake in server.sandbox.fakes.items())
    platform = "mastodon" if "mastodon" in server.sandbox.fakes else next(iter(server.sandbox.fakes))
    body = json.dumps({"platform": platform, "account": "me"})
    lines = [
        f"govmedia sandbox serving fakes at {server.base_url}",
        fakes,
        "",
        "The fakes accept only accounts they made (kept in memory while this runs). Get one:",
    ]
    if written is not None:
        lines.append(f"  - a matrix of accounts is in {written}: "
                     f"govmedia fan-out post.md --matrix {written}")
    lines += [
        (f"  - another account, as JSON: curl -s -X POST {server.base_url}/_sandbox/channels "
         f"-d '{body}'"),
        '  - from Python: see the docs page "A matrix against the sandbox"',
        "Ctrl-C stops it.",
    ]
    return "\n".join(lines)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from govmedia.testing.server import SandboxServer

    platforms = args.platforms.split(",") if args.platforms else None
    server = SandboxServer(args.host, args.port, platforms=platforms)
    written = None
    if args.write_matrix:
        written = Path(args.write_matrix)
        written.write_text(matrix_toml(server.sandbox, accounts=args.accounts), encoding="utf-8")
    print(_banner(server, written), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:  # noqa: ARG001 - a subcommand's signature
    from govmedia._demo import run_demo

    return run_demo()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> None:
    """Add ``demo`` and ``sandbox`` to the ``govmedia`` command."""
    demo = sub.add_parser("demo", parents=parents,
                          help="publish a sample post to the built-in fakes over loopback")
    demo.set_defaults(func=_cmd_demo)
    sandbox = sub.add_parser(
        "sandbox", parents=parents, help="serve the fake platforms over HTTP on loopback",
        description="Serve strict fakes of every built-in platform over HTTP on loopback, for "
                    "trying a matrix, the CLI or your own code without real accounts.")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    sandbox.add_argument("--platforms", help="comma-separated fakes to serve (default: all)")
    sandbox.add_argument("--write-matrix", metavar="FILE",
                         help="write a matrix TOML of new sandbox accounts to FILE at start-up")
    sandbox.add_argument("--accounts", type=int, default=2,
                         help="members per platform in --write-matrix (default 2)")
    sandbox.set_defaults(func=_cmd_sandbox)
