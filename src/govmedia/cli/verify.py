"""``govmedia verify --matrix m.toml``: can every account publish now? Asked live, nothing posted."""

from __future__ import annotations

import argparse
from typing import Any

import govmedia as gm
from govmedia.cli._journal import token_store
from govmedia.cli._output import FORMATS, write_rows

__all__ = ["add_parser"]

COLUMNS = ("status", "platform", "account", "role", "expires_at", "problem")
TABLE = ("status", "platform", "account", "expires_at", "problem")


def _row(health: gm.Health, hub: gm.Channel | None) -> dict[str, Any]:
    status = "ok" if health.ok and health.checked else "unchecked" if health.ok else "PROBLEM"
    problem = health.problem
    if health.ok and not health.checked:
        problem = "settings well-formed; no check without posting is known for this platform"
    is_hub = hub is not None and health.channel == hub
    return {
        "status": status, "platform": health.channel.platform, "account": health.channel.account,
        "role": "hub" if is_hub else "member",
        "expires_at": health.expires_at.isoformat(timespec="minutes") if health.expires_at else None,
        "problem": problem,
    }


def _cmd_verify(args: argparse.Namespace) -> int:
    matrix = gm.Matrix.from_file(args.matrix)
    if args.label:
        matrix = matrix.select(args.label)
    with gm.Client(journal=False, concurrency=args.concurrency,
                   tokens=token_store(getattr(args, "token_store", None))) as client:
        found = client.verify(matrix)
    rows = [_row(h, matrix.hub) for h in found]
    if args.format == "table":
        shown = [dict(r, account=f"{r['account']} (hub)") if r["role"] == "hub" else r for r in rows]
        write_rows(shown, TABLE, "table")
        bad = sum(1 for h in found if not h.ok)
        print(f"\n{len(found) - bad} of {len(found)} account(s) can publish"
              + (f"; {bad} cannot: fix them before the campaign" if bad else ""))
    else:
        write_rows(rows, COLUMNS, args.format)
    return 0 if all(h.ok for h in found) else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> None:
    """Add ``verify`` to the ``govmedia`` command."""
    verify = sub.add_parser(
        "verify", parents=parents, help="check every account of a matrix live, posting nothing",
        description="One cheap authenticated call per account (a token fetch, verify_credentials, "
                    "...) under the platforms' rate limits: expired tokens, missing permissions "
                    "and IP whitelists are found before a campaign, not in the middle of it.")
    verify.add_argument("--matrix", required=True, help="matrix TOML file ([hub], [[members]])")
    verify.add_argument("--label", help="only the hub and the members with this label")
    verify.add_argument("--concurrency", type=int, default=16)
    verify.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")
    verify.set_defaults(func=_cmd_verify)
