"""The ``govmedia`` command: one module per command group.

``verify`` (`govmedia.cli.verify`), ``preview`` (`govmedia.cli.preview`),
``fan-out`` (`govmedia.cli.fanout`), ``runs`` with ``runs show`` and ``runs
resolve`` (`govmedia.cli.runs`), ``metrics`` (`govmedia.cli.metrics`),
``retract`` (`govmedia.cli.retract`), ``sandbox`` and ``demo``
(`govmedia.cli.sandbox`), ``worker`` (`govmedia.cli.worker`). Every command
takes ``-v`` (govmedia's INFO log on stderr: retries, network faults) or ``-vv`` (DEBUG: every request); exit
status 0 is success, 1 a run with failed, unknown or refused deliveries, 2 a
configuration mistake, 3 any other govmedia error, 130 an interrupt.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

import govmedia as gm
from govmedia.cli import bot, fanout, metrics, preview, retract, runs, sandbox, verify, worker
from govmedia.cli._journal import TOKENS_HELP
from govmedia.cli._output import clean
from govmedia.cli.fanout import print_stopped

__all__ = ["build_parser", "main"]


class _Clean(logging.Formatter):
    """Log records on one line each, control characters made visible."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record))


def _logging(verbose: int) -> tuple[logging.Handler, int] | None:
    """``-v``: govmedia's INFO records on stderr; ``-vv``: DEBUG. The handler and the old level."""
    if not verbose:
        return None
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Clean("govmedia %(levelname)s %(message)s"))
    logger = logging.getLogger("govmedia")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    return handler, level


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``govmedia`` command."""
    summary = gm.__doc__.splitlines()[0] if gm.__doc__ else None
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                        help="log retries and faults (-v), every request (-vv), on stderr")
    common.add_argument("--token-store", metavar="PATH", default=argparse.SUPPRESS,
                        help=TOKENS_HELP)
    parser = argparse.ArgumentParser(prog="govmedia", description=summary, parents=[common])
    parser.add_argument("--version", action="version", version=f"govmedia {gm.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    sandbox.add_parser(sub, [common])
    verify.add_parser(sub, [common])
    preview.add_parser(sub, [common])
    fanout.add_parser(sub, [common])
    runs.add_parser(sub, [common])
    metrics.add_parser(sub, [common])
    retract.add_parser(sub, [common])
    bot.add_parser(sub, [common])
    worker.add_parser(sub, [common])
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``govmedia`` command."""
    args = build_parser().parse_args(argv)
    logged = _logging(getattr(args, "verbose", 0))
    try:
        status: int = args.func(args)
    except KeyboardInterrupt as exc:
        print_stopped(exc)
        return 130
    except BrokenPipeError:  # `govmedia runs | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
        return 141
    except gm.ConfigError as exc:
        print(f"govmedia: {exc}", file=sys.stderr)
        return 2
    except gm.GovMediaError as exc:
        print(f"govmedia: {exc}", file=sys.stderr)
        return 3
    finally:
        if logged is not None:  # main() may run again in this process (tests, notebooks)
            logging.getLogger("govmedia").removeHandler(logged[0])
            logging.getLogger("govmedia").setLevel(logged[1])
    return status


if __name__ == "__main__":
    sys.exit(main())
