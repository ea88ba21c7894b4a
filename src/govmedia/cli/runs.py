"""``govmedia runs``: the fan-out runs a journal holds, and what one run did (hub first)."""

from __future__ import annotations

import argparse

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
        "summary": ", ".join(f"{n} {s}" for s, n in run.summary.items()) or "unfinished",
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
    return actions
