"""``govmedia runs``: the runs a journal holds, what one did (hub first), settling one in doubt."""

from __future__ import annotations

import argparse

import govmedia as gm
from govmedia._secrets import mask
from govmedia.cli._journal import JOURNAL_HELP, open_existing_journal
from govmedia.cli._output import FORMATS, write_rows
from govmedia.cli._rows import DELIVERY_COLUMNS, TABLE_COLUMNS, for_table, hub_first, journal_row

__all__ = ["add_parser", "journal_options"]

RUN_COLUMNS = ("id", "started_at", "mode", "planned", "summary", "title")


def _list(args: argparse.Namespace) -> int:
    with open_existing_journal(args.journal) as journal:
        runs = journal.runs(limit=args.limit)
    rows = [{
        "id": run.id, "started_at": run.started_at[:19], "mode": run.mode, "planned": run.planned,
        "summary": ", ".join(f"{n} {s}" for s, n in run.summary.items()) or (
            f"scheduled {run.due_at[:19]}" if run.state == "scheduled" and run.due_at
            else "unfinished"),
        "title": mask(run.title or run.post_key[:12]),
    } for run in runs]
    write_rows(rows, RUN_COLUMNS, args.format)
    return 0


def _show(args: argparse.Namespace) -> int:
    with open_existing_journal(args.journal) as journal:
        rows = hub_first([journal_row(r) for r in journal.run_rows(args.run)])
    if args.format == "table":
        write_rows([for_table(r) for r in rows], TABLE_COLUMNS, "table")
    else:
        write_rows(rows, DELIVERY_COLUMNS, args.format)
    return 0


def _resolve(args: argparse.Namespace) -> int:
    state = "published" if args.published or args.remote_id else "failed"
    with open_existing_journal(args.journal) as journal, gm.Client(journal=journal) as client:
        delivery = client.resolve(args.run, args.account, state, url=args.published,
                                  remote_id=args.remote_id, by=args.by)
    who = f" by {args.by}" if args.by else ""
    if state == "published":
        where = delivery.receipt.url or delivery.receipt.remote_id if delivery.receipt else ""
        print(f"{delivery.channel.id}: settled as published{who} ({where}); a re-run skips it, "
              "retract and metrics use it")
    else:
        print(f"{delivery.channel.id}: settled as failed{who}; a re-run sends it")
    return 0


def journal_options(parser: argparse.ArgumentParser, *, nested: bool = False) -> None:
    """``--journal`` and ``--format``; *nested* ones leave what the parent parsed alone."""
    keep = argparse.SUPPRESS if nested else None
    parser.add_argument("--journal", default=keep, help=JOURNAL_HELP)
    parser.add_argument("--format", choices=FORMATS, default=keep if nested else "table",
                        help="table (default), csv or json")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> argparse._SubParsersAction[
                   argparse.ArgumentParser]:
    """Add ``runs`` and ``runs show`` to the ``govmedia`` command; returns the ``runs`` actions."""
    runs = sub.add_parser("runs", parents=parents, help="list fan-out runs in a journal, or show one",
                          description="List the fan-out runs a journal holds (newest first), "
                                      "or show what one run did on every account, hub first.")
    journal_options(runs)
    runs.add_argument("--limit", type=int, default=50, help="how many runs to list (default 50)")
    runs.set_defaults(func=_list)
    actions = runs.add_subparsers(dest="action")
    show = actions.add_parser("show", parents=parents, help="what one run did on every account",
                              description="What one run did on every account, hub first.")
    show.add_argument("run", help="run id (a prefix is enough)")
    journal_options(show, nested=True)
    show.set_defaults(func=_show)
    resolve = actions.add_parser(
        "resolve", parents=parents, help="settle a delivery in doubt after checking the account",
        description="Settle a delivery the journal holds in doubt (unknown, or sending from a run "
                    "that stopped), after checking the account by hand: --published URL when the "
                    "post is there (a re-run skips it), --failed when it is not (a re-run sends it).")
    resolve.add_argument("run", help="run id (a prefix is enough)")
    resolve.add_argument("account", help="the account, or platform:account")
    found = resolve.add_mutually_exclusive_group(required=True)
    found.add_argument("--published", metavar="URL", help="the post is live at URL")
    found.add_argument("--remote-id", metavar="ID",
                       help="the post is live; the platform's id of it (where there is no URL)")
    found.add_argument("--failed", action="store_true", help="nothing was published there")
    resolve.add_argument("--by", metavar="NAME", help="who checked (goes to the audit trail)")
    resolve.add_argument("--journal", default=argparse.SUPPRESS, help=JOURNAL_HELP)
    resolve.set_defaults(func=_resolve)
    return actions
