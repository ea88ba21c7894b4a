"""``govmedia retract RUN --matrix m.toml``: delete a fan-out across the matrix (撤稿)."""

from __future__ import annotations

import argparse

import govmedia as gm
from govmedia.cli._journal import open_existing_journal, token_store
from govmedia.cli.fanout import print_report
from govmedia.cli.runs import journal_options

__all__ = ["add_parser"]


def _cmd_retract(args: argparse.Namespace) -> int:
    matrix = gm.Matrix.from_file(args.matrix)
    tokens = token_store(getattr(args, "token_store", None))
    with open_existing_journal(args.journal) as journal, gm.Client(journal=journal,
                                                                   tokens=tokens) as client:
        report = client.retract(args.run, matrix=matrix, by=args.by)
    print_report(report, hub=matrix.hub, fmt=args.format)
    return 0 if report.ok else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> None:
    """Add ``retract`` to the ``govmedia`` command."""
    retract = sub.add_parser(
        "retract", parents=parents, help="delete what a run published, on every account (撤稿)",
        description="Delete every post of a run that the journal holds as published; the matrix "
                    "gives the credentials. Running it again is safe; a re-run of the post skips "
                    "what was retracted (publishing it again takes a new key).")
    retract.add_argument("run", help="run id (a prefix is enough)")
    retract.add_argument("--matrix", required=True, help="the matrix TOML file the run was sent with")
    retract.add_argument("--by", metavar="NAME", help="who retracts (goes to the audit trail)")
    journal_options(retract)
    retract.set_defaults(func=_cmd_retract)
