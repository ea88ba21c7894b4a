"""The ``govmedia`` command: ``demo``, ``sandbox``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import govmedia as gm
from govmedia._journal_pg import is_postgres
from govmedia._secrets import mask
from govmedia._worker_cli import add_fan_out_options, add_worker, fan_out_kwargs

__all__ = ["main"]


class _ProgressBar:
    """A one-line progress bar on stderr (redrawn only on a terminal)."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.done = 0
        self.counts: dict[str, int] = {}
        self.enabled = enabled and sys.stderr.isatty()

    def __call__(self, delivery: gm.Delivery) -> None:
        self.done += 1
        self.counts[delivery.state] = self.counts.get(delivery.state, 0) + 1
        if self.enabled:
            width = 30
            filled = int(width * self.done / max(1, self.total))
            states = " ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}  {states}")
            sys.stderr.flush()

    def upload(self, event: gm.UploadProgress) -> None:
        """A media upload's progress, shown on the same line."""
        if self.enabled and event.total:
            sys.stderr.write(f"\r  uploading {event.filename} for {event.channel.id}: "
                             f"{event.sent / event.total:4.0%}   ")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _print_report(report: gm.Report) -> None:
    print(str(report))
    print(f"\nok: {report.ok}   run: {report.run_id or '-'}")


def _cmd_fan_out(args: argparse.Namespace) -> int:
    post = gm.Post.from_file(args.post)
    matrix = gm.Matrix.from_file(args.matrix)
    if args.label:
        matrix = matrix.select(args.label)
    bar = _ProgressBar(len(matrix), enabled=not args.quiet)
    try:
        journal: str | bool | None = False if args.no_journal else args.journal
        if isinstance(journal, str) and not args.dry_run:
            _warn_new_journal(journal, post)
        options, remote = fan_out_kwargs(args)  # workers, schedules (govmedia._worker_cli)
        with gm.Client(journal=journal, concurrency=args.concurrency, **options) as client:
            report = client.fan_out(post, matrix, mode=args.mode, dry_run=args.dry_run, progress=bar,
                                    **remote)
        if isinstance(report, str):
            bar.close()
            print(f"run {report} handed to the workers; `govmedia runs show {report}` reports it")
            return 0
    except KeyboardInterrupt as exc:
        bar.close()
        _print_stopped(exc)
        return 130
    except gm.JournalError as exc:
        bar.close()
        if exc.report is not None:
            _print_report(exc.report)
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
    bar.close()
    _print_report(report)
    return 0 if report.ok else 1


def _print_stopped(exc: BaseException) -> None:
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


def _warn_new_journal(path: str, post: gm.Post) -> None:
    """A new journal file named for a post that the default journal knows: sent twice?"""
    from govmedia.journal import default_journal_path

    default = default_journal_path()
    if is_postgres(path) or Path(path).exists() or not default.exists() or (
            Path(path).resolve() == default.resolve()):
        return
    with gm.Journal(default) as known:
        sent = [e for e in known.entries(post.key).values() if e.state != "pending"]
    if sent:
        print(f"govmedia: warning: {path} is a new journal, but the default journal {default} "
              f"already holds {len(sent)} deliveries of this post; accounts published there "
              "will be published again. Use that journal (leave out --journal) unless this is "
              "meant.", file=sys.stderr)


def _open_existing_journal(path: str | None) -> gm.Journal:
    """The journal at *path* (default: the user's), never creating an empty one for a typo."""
    from govmedia.journal import default_journal_path

    if is_postgres(path):
        return gm.Journal(str(path))
    where = Path(path) if path else default_journal_path()
    if not where.exists():
        raise gm.ConfigError(f"no journal at {where}" + (
            "" if path else " (nothing was sent with the default journal yet)"))
    return gm.Journal(where)


def _cmd_runs(args: argparse.Namespace) -> int:
    journal = _open_existing_journal(args.journal)
    try:
        if args.run:
            rows = journal.run_rows(args.run)
            for r in rows:
                # Masked again: a journal written by an older govmedia may hold
                # what this one masks.
                detail = mask(r["url"] or r["remote_id"] or r["error_message"] or "")
                if len(detail) > 100:
                    detail = detail[:99] + "…"
                print(f"{r['state']:<9} {r['platform']:<10} {r['account']:<28} "
                      f"attempts={r['attempts']}  {detail}")
            return 0
        for run in journal.runs():
            summary = ", ".join(f"{n} {s}" for s, n in run.summary.items()) or (
                f"scheduled {run.due_at[:19]}" if run.state == "scheduled" and run.due_at
                else "unfinished")
            print(f"{run.id}  {run.started_at[:19]}  {run.mode:<9} planned={run.planned:<5} "
                  f"{summary}  {mask(run.title or run.post_key[:12])}")
    finally:
        journal.close()
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from govmedia.testing.server import SandboxServer

    platforms = args.platforms.split(",") if args.platforms else None
    server = SandboxServer(args.host, args.port, platforms=platforms)
    print(f"govmedia sandbox serving fakes at {server.base_url}", flush=True)
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


def _cmd_demo(args: argparse.Namespace) -> int:  # noqa: ARG001 - a subcommand's signature
    from govmedia._demo import run_demo

    return run_demo()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``govmedia`` command."""
    summary = gm.__doc__.splitlines()[0] if gm.__doc__ else None
    parser = argparse.ArgumentParser(prog="govmedia", description=summary)
    parser.add_argument("--version", action="version", version=f"govmedia {gm.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="publish a sample post to the built-in fakes over loopback")
    demo.set_defaults(func=_cmd_demo)
    fan = sub.add_parser("fan-out", help="publish a post file to every channel of a matrix")
    fan.add_argument("post", help="Markdown file with TOML front matter (+++)")
    fan.add_argument("--matrix", required=True, help="matrix TOML file ([hub], [[members]])")
    fan.add_argument("--journal", default=None,
                     help="SQLite journal (default: $GOVMEDIA_JOURNAL, else the user's, shared "
                          "with the library)")
    fan.add_argument("--no-journal", action="store_true",
                     help="remember nothing: a re-run sends everything again")
    fan.add_argument("--mode", choices=("broadcast", "amplify"), default="broadcast")
    fan.add_argument("--label", help="only the hub and the members with this label")
    fan.add_argument("--concurrency", type=int, default=16)
    fan.add_argument("--dry-run", action="store_true", help="check every channel, send nothing")
    fan.add_argument("--quiet", action="store_true", help="no progress bar")
    add_fan_out_options(fan)
    fan.set_defaults(func=_cmd_fan_out)
    runs = sub.add_parser("runs", help="list fan-out runs in a journal, or show one")
    runs.add_argument("action", nargs="?", choices=("show",))
    runs.add_argument("run", nargs="?", help="run id (a prefix is enough)")
    runs.add_argument("--journal", default=None,
                      help="SQLite journal (default: $GOVMEDIA_JOURNAL, else the user's)")
    runs.set_defaults(func=_cmd_runs)
    sandbox = sub.add_parser("sandbox", help="serve the fake platforms over HTTP on loopback")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    sandbox.add_argument("--platforms", help="comma-separated fakes to serve (default: all)")
    sandbox.set_defaults(func=_cmd_sandbox)
    add_worker(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``govmedia`` command."""
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
    except KeyboardInterrupt as exc:
        _print_stopped(exc)
        return 130
    except gm.ConfigError as exc:
        print(f"govmedia: {exc}", file=sys.stderr)
        return 2
    except gm.GovMediaError as exc:
        print(f"govmedia: {exc}", file=sys.stderr)
        return 3
    return status


if __name__ == "__main__":
    sys.exit(main())
