"""``govmedia fan-out``: publish a post file to every channel of a matrix.

On a terminal a progress bar runs on stderr and the table (hub first) comes
at the end. When stdout is not a terminal (a pipe, a log file, a CI job) each
delivery is printed as a line the moment it finishes, already aligned, so a
long run shows what it did as it goes; ``--format csv|json`` prints every
delivery's fields at the end instead.
"""

from __future__ import annotations

import argparse
import sys
import threading
from typing import TextIO

import govmedia as gm
from govmedia.cli._journal import JOURNAL_HELP, token_store, warn_new_journal
from govmedia.cli._output import FORMATS, cell, render_table, terminal_width, width, write_rows
from govmedia.cli._rows import DELIVERY_COLUMNS, TABLE_COLUMNS, delivery_row, for_table
from govmedia.cli.worker import add_fan_out_options, fan_out_kwargs

__all__ = ["add_parser", "print_report", "print_stopped"]

_STATES = ("published", "skipped", "pending", "invalid", "failed", "unknown")


class Progress:
    """A fan-out's progress for an operator: a bar on a terminal, else a line per delivery.

    The fan-out calls it from a helper thread as each delivery finishes.
    """

    def __init__(self, matrix: gm.Matrix, *, bar: bool, lines: bool, out: TextIO) -> None:
        self.total = len(matrix)
        self.hub = matrix.hub
        self.done = 0
        self.counts: dict[str, int] = {}
        self.bar = bar and sys.stderr.isatty()
        self.lines = lines
        self.out = out
        self._lock = threading.Lock()
        # The widths are known before anything finishes: the lines line up.
        self._sizes = tuple(max(width(head), *sizes) for head, sizes in zip(TABLE_COLUMNS, (
            map(width, _STATES),
            (width(c.platform) for c in matrix),
            (width(cell(c.account)) + (6 if c == matrix.hub else 0) for c in matrix),  # " (hub)"
        ), strict=False))
        if lines:
            self._line(TABLE_COLUMNS)

    def _line(self, values: tuple[str, ...] | list[str]) -> None:
        *head, last = values
        start = "  ".join(v + " " * (n - width(v)) for v, n in zip(head, self._sizes, strict=True))
        self.out.write(f"{start}  {last}".rstrip() + "\n")
        self.out.flush()

    def __call__(self, delivery: gm.Delivery) -> None:
        with self._lock:
            self.done += 1
            self.counts[delivery.state] = self.counts.get(delivery.state, 0) + 1
            if self.lines:
                row = for_table(delivery_row(delivery, hub=self.hub))
                self._line([cell(row[c]) for c in TABLE_COLUMNS])
            if self.bar:
                filled = int(30 * self.done / max(1, self.total))
                states = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
                sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}  "
                                 f"{states}")
                sys.stderr.flush()

    def upload(self, event: gm.UploadProgress) -> None:
        """A media upload's progress, shown on the bar's line."""
        if self.bar and event.total:
            with self._lock:
                sys.stderr.write(f"\r  uploading {event.filename} for {event.channel.id}: "
                                 f"{event.sent / event.total:4.0%}   ")
                sys.stderr.flush()

    def close(self) -> None:
        if self.bar:
            sys.stderr.write("\n")


def _summary(report: gm.Report) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in report.summary().items()) or "nothing to do"
    dry = " (dry run)" if report.dry_run else ""
    what = "retraction" if report.mode == "retract" else f"fan-out {report.mode}{dry}"
    return f"{what} of post {report.post_key[:12]}: {counts}"


def print_report(report: gm.Report, *, hub: gm.Channel | None, fmt: str = "table",
                 rows_shown: bool = False, out: TextIO | None = None) -> None:
    """The report: every delivery (unless already shown line by line), then the summary."""
    out = out if out is not None else sys.stdout
    rows = [delivery_row(d, hub=hub) for d in report.deliveries]
    if fmt != "table":
        write_rows(rows, DELIVERY_COLUMNS, fmt, out)
        return
    if not rows_shown:
        table = render_table(TABLE_COLUMNS, [[for_table(r)[c] for c in TABLE_COLUMNS] for r in rows],
                             wrap_at=terminal_width(out))
        out.write(table + "\n\n")
    out.write(f"{_summary(report)}\nok: {report.ok}   run: {report.run_id or '-'}\n")
    out.flush()


def print_stopped(exc: BaseException) -> None:
    """What an interrupted fan-out gave back and what it left in doubt, for the operator."""
    stopped: gm.Stopped | None = getattr(exc, "govmedia_stopped", None)
    print("\ngovmedia: interrupted", file=sys.stderr)
    if stopped is None:
        return
    print(stopped.describe(), file=sys.stderr)
    if stopped.in_doubt:
        print(f"govmedia: check the accounts in doubt by hand, then settle each with "
              f"`govmedia runs resolve {stopped.run_id} ACCOUNT --published URL` or `--failed`; "
              "a re-run asks the platform where it can.", file=sys.stderr)


def _cmd_fan_out(args: argparse.Namespace) -> int:
    post = gm.Post.from_file(args.post)
    matrix = gm.Matrix.from_file(args.matrix)
    if args.label:
        matrix = matrix.select(args.label)
    out = sys.stdout
    lines = args.format == "table" and terminal_width(out) is None and not args.quiet
    progress = Progress(matrix, bar=not args.quiet, lines=lines, out=out)
    try:
        journal: str | bool | None = False if args.no_journal else args.journal
        if isinstance(journal, str) and not args.dry_run:
            warn_new_journal(journal, post)
        options, remote = fan_out_kwargs(args)  # workers, schedules (govmedia.cli.worker)
        tokens = token_store(getattr(args, "token_store", None))
        with gm.Client(journal=journal, concurrency=args.concurrency, tokens=tokens,
                       **options) as client:
            report = client.fan_out(post, matrix, mode=args.mode, dry_run=args.dry_run,
                                    progress=progress, **remote)
        if isinstance(report, str):
            progress.close()
            print(f"run {report} handed to the workers; `govmedia runs show {report}` reports it")
            return 0
    except KeyboardInterrupt as exc:
        progress.close()
        print_stopped(exc)
        return 130
    except gm.JournalError as exc:
        progress.close()
        if exc.report is not None:
            print_report(exc.report, hub=matrix.hub, fmt=args.format, rows_shown=lines)
            doubt = exc.report.by_state("unknown")
            if doubt:
                print("\nIn flight when the journal failed (may or may not be live; check these):")
                for d in doubt:
                    print(f"  {d.channel.id}")
        print(f"\ngovmedia: {exc}", file=sys.stderr)
        print("govmedia: sending stopped; what was published is listed above. Fix the journal "
              "and run again with it: deliveries it does not show as settled follow the resume "
              "rules (nothing is posted twice).", file=sys.stderr)
        return 3
    progress.close()
    print_report(report, hub=matrix.hub, fmt=args.format, rows_shown=lines)
    refused = [d for d in report.deliveries if d.problems]
    if refused:  # the problems are the post's: say which file to fix
        print(f"govmedia: {args.post}: refused before sending on {len(refused)} account(s); "
              "the problems are listed above", file=sys.stderr)
    return 0 if report.ok else 1


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> None:
    """Add ``fan-out`` to the ``govmedia`` command."""
    fan = sub.add_parser(
        "fan-out", parents=parents, help="publish a post file to every channel of a matrix",
        description="Publish a post file to every channel of a matrix, exactly once: a re-run "
                    "with the same journal skips what was published.")
    fan.add_argument("post", help="Markdown file with front matter (TOML between +++ or YAML "
                                  "between --- lines)")
    fan.add_argument("--matrix", required=True, help="matrix TOML file ([hub], [[members]])")
    fan.add_argument("--journal", default=None, help=JOURNAL_HELP)
    fan.add_argument("--no-journal", action="store_true",
                     help="remember nothing: a re-run sends everything again")
    fan.add_argument("--mode", choices=("broadcast", "amplify"), default="broadcast")
    fan.add_argument("--label", help="only the hub and the members with this label")
    fan.add_argument("--concurrency", type=int, default=16)
    fan.add_argument("--dry-run", action="store_true", help="check every channel, send nothing")
    fan.add_argument("--format", choices=FORMATS, default="table",
                     help="table (default), or csv/json with every field of every delivery")
    fan.add_argument("--quiet", action="store_true", help="no progress bar, no line per delivery")
    add_fan_out_options(fan)
    fan.set_defaults(func=_cmd_fan_out)
