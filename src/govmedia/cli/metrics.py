"""``govmedia metrics RUN --matrix m.toml``: reads, likes, shares and comments of a run's posts.

The journal knows what a run published and where; the matrix supplies the
credentials to ask. A count a platform does not give is empty, never 0, and
the row's note says why (WeChat: from which day).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import govmedia as gm
from govmedia.cli._journal import open_existing_journal
from govmedia.cli._output import write_rows
from govmedia.cli._rows import hub_first
from govmedia.cli.runs import journal_options

__all__ = ["add_parser"]

COLUMNS = ("platform", "account", "url", "views", "likes", "shares", "comments", "error", "note")
TABLE = ("platform", "account", "views", "likes", "shares", "comments", "note")


def _published(journal: gm.Journal, run_id: str, matrix: gm.Matrix) -> tuple[gm.Report, list[str]]:
    """The run's published deliveries with their receipts, and the accounts the matrix lacks."""
    run = journal.find_run(run_id)
    by_id = {(c.platform, c.account): c for c in matrix}
    entries = journal.entries(run.post_key)
    deliveries, missing = [], []
    for row in hub_first(journal.run_rows(run.id)):
        key = (row["platform"], row["account"])
        entry = entries.get(key)
        if entry is None or entry.state != "published":
            continue  # retracted, or never published: nothing to count
        channel = by_id.get(key)
        if channel is None:
            missing.append(f"{key[0]}:{key[1]}")
            continue
        receipt = journal.receipt(run.post_key, channel)
        if receipt is not None:
            deliveries.append(gm.Delivery(channel=channel, state="published", receipt=receipt))
    return gm.Report(post_key=run.post_key, mode=run.mode, run_id=run.id,
                     deliveries=tuple(deliveries)), missing


def _cmd_metrics(args: argparse.Namespace) -> int:
    matrix = gm.Matrix.from_file(args.matrix)
    with open_existing_journal(args.journal) as journal:
        report, missing = _published(journal, args.run, matrix)
    if missing:
        print(f"govmedia: {len(missing)} account(s) of this run are not in {args.matrix}, so "
              f"cannot be asked: {', '.join(missing)}", file=sys.stderr)
    with gm.Client(journal=False) as client:
        campaign = client.metrics(report)
    rows: list[dict[str, Any]] = [dict(r) for r in campaign.rows]
    if args.format == "table":
        for row in rows:  # one column says why a row has no counts
            row["note"] = row.get("error") or row.get("note")
        t = campaign.totals
        rows.append({"platform": "total", "account": f"{len(rows)} account(s)", "views": t.views,
                     "likes": t.likes, "shares": t.shares, "comments": t.comments, "note": None})
        write_rows(rows, TABLE, "table")
    else:
        write_rows(rows, COLUMNS, args.format)
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> None:
    """Add ``metrics`` to the ``govmedia`` command."""
    metrics = sub.add_parser(
        "metrics", parents=parents, help="reads, likes, shares and comments of a run's posts",
        description="Read the counts of every post a run published (the matrix gives the "
                    "credentials); a count the platform does not give is empty, never 0.")
    metrics.add_argument("run", help="run id (a prefix is enough)")
    metrics.add_argument("--matrix", required=True, help="the matrix TOML file the run was sent with")
    journal_options(metrics)
    metrics.set_defaults(func=_cmd_metrics)
