"""``govmedia worker``, and the fan-out options that hand a run to workers (``--broker``, ``--at``).

`add_parser` adds the command; ``fan-out`` takes `add_fan_out_options` and
`fan_out_kwargs` (`govmedia.cli.fanout`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import sys
from typing import Any

import govmedia as gm
from govmedia.cli._journal import token_store

__all__ = ["add_fan_out_options", "add_parser", "fan_out_kwargs", "parse_at", "parse_rate_limit"]

_RATE = re.compile(r"^(?P<key>[^=]+)=(?P<rate>[0-9.]+)(?:/(?P<per>[0-9.]+))?(?::(?P<burst>[0-9.]+))?$")


def parse_rate_limit(text: str) -> tuple[str, gm.RateLimit]:
    """``KEY=RATE[/PER][:BURST]`` (``mastodon:*=300/10800:10``) as a key and a `RateLimit`.

    Example:
        >>> from govmedia.cli.worker import parse_rate_limit
        >>> parse_rate_limit("mastodon:*=300/10800:10")
        ('mastodon:*', RateLimit(rate=300.0, per=10800.0, burst=10.0))
    """
    match = _RATE.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give KEY=RATE[/PER][:BURST], e.g. 'mastodon:*=300/10800:10'")
    per = float(match["per"]) if match["per"] else 1.0
    burst = float(match["burst"]) if match["burst"] else None
    return match["key"], gm.RateLimit(float(match["rate"]), per=per, burst=burst)


def parse_at(text: str) -> dt.datetime:
    """``--at``: ISO 8601 with a time zone (``2026-12-07T07:00+08:00``), or ``+SECONDS``.

    Example:
        >>> from govmedia.cli.worker import parse_at
        >>> parse_at("2026-12-07T07:00+08:00").isoformat()
        '2026-12-07T07:00:00+08:00'
    """
    if text.startswith("+"):
        try:
            return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=float(text[1:]))
        except ValueError:
            pass
    else:
        try:
            when = dt.datetime.fromisoformat(text)
        except ValueError:
            when = None
        if when is not None and when.tzinfo is not None:
            return when
    raise argparse.ArgumentTypeError(
        f"{text!r}: give a time with its zone, e.g. 2026-12-07T07:00+08:00, or +SECONDS from now")


def add_fan_out_options(fan: argparse.ArgumentParser) -> None:
    """The options of ``govmedia fan-out`` that hand the run to workers or schedule it."""
    fan.add_argument("--broker", help="send through `govmedia worker` processes on this taskiq "
                                      "Redis broker (redis://...); the journal must be shared")
    fan.add_argument("--at", type=parse_at,
                     help="send at this time (ISO 8601 with zone, or +SECONDS): the run waits in "
                          "the journal until then")
    fan.add_argument("--no-wait", action="store_true",
                     help="with --broker: print the run id and return; `govmedia runs show RUN`")
    fan.add_argument("--rate-store", help="keep rate budgets in Redis (redis://...), shared with "
                                          "the workers")


def fan_out_kwargs(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(client options, fan_out options)`` from the fan-out options above."""
    client: dict[str, Any] = {}
    if getattr(args, "rate_store", None):
        client["rate_store"] = args.rate_store
    run: dict[str, Any] = {}
    if getattr(args, "broker", None):
        run["executor"] = args.broker
    if getattr(args, "at", None):
        run["at"] = args.at
    if getattr(args, "no_wait", False):
        run["wait"] = False
    return client, run


def _cmd_worker(args: argparse.Namespace) -> int:
    from govmedia.distributed import Worker

    logging.basicConfig(level=logging.INFO if not args.quiet else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    # taskiq says "Executing task" at INFO for every message: a line per delivery.
    logging.getLogger("taskiq").setLevel(logging.WARNING)
    journal = args.journal or os.environ.get("GOVMEDIA_JOURNAL")
    if not journal:
        raise gm.ConfigError("govmedia worker needs --journal (the journal every submitter and "
                             "worker shares: a postgresql:// URL, or a path on this machine)")
    matrix = gm.Matrix.from_file(args.matrix)
    worker = Worker(matrix=matrix, journal=journal, broker=args.broker,
                    rate_store=args.rate_store, rate_limits=dict(args.rate_limit or ()) or None,
                    concurrency=args.concurrency, queue=args.queue, sweep_every=args.sweep_every,
                    claim_idle=args.claim_idle, stop_grace=args.stop_grace,
                    tokens=token_store(getattr(args, "token_store", None)))
    print(f"govmedia worker: {len(matrix)} channels, broker {worker!r}",
          file=sys.stderr, flush=True)
    worker.run()
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               parents: list[argparse.ArgumentParser]) -> None:
    """Add ``worker`` to the ``govmedia`` command."""
    worker = sub.add_parser(
        "worker", parents=parents,
        help="send fan-outs' deliveries from a taskiq Redis broker (one of several processes)",
        description="Take delivery ids from a taskiq Redis broker and send them, with the "
                    "channels of this worker's own matrix; the run and the post come from the "
                    "shared journal. Run several, on one machine or many (docs: deployment).")
    worker.add_argument("--matrix", required=True,
                        help="matrix TOML: the channels and credentials this worker sends with")
    worker.add_argument("--journal", help="the shared journal: postgresql://... or a SQLite path "
                                          "(default: $GOVMEDIA_JOURNAL)")
    worker.add_argument("--broker", required=True, help="taskiq Redis broker, redis://...")
    worker.add_argument("--rate-store", help="rate budgets shared by every worker, redis://...")
    worker.add_argument("--rate-limit", action="append", type=parse_rate_limit,
                        metavar="KEY=RATE[/PER][:BURST]",
                        help="a rate limit (repeatable); every worker should set the same")
    worker.add_argument("--concurrency", type=int, default=64, help="deliveries at once")
    worker.add_argument("--queue", default="govmedia", help="the Redis stream (default: govmedia)")
    worker.add_argument("--sweep-every", type=float, default=30.0,
                        help="seconds between looks for lost work when idle (default 30)")
    worker.add_argument("--claim-idle", type=float, default=60.0,
                        help="take over a message another worker held this long unacknowledged")
    worker.add_argument("--stop-grace", type=float, default=5.0,
                        help="on SIGTERM, seconds a delivery already sent to a platform has to "
                             "finish (the rest is given back at once; default 5)")
    worker.add_argument("--quiet", action="store_true", help="warnings only")
    worker.set_defaults(func=_cmd_worker)
