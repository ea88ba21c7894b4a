"""CPU work per delivery, counted in instructions: a figure this noisy machine cannot blur.

    python3 benchmarks/instructions.py                       # the default clients, ~5 minutes
    python3 benchmarks/instructions.py --clients aiohttp,govmedia-async-journal

On a shared virtual machine the same client's deliveries/s swing by up to
±40 % between runs, and throughput ratios with them. When a client is bound
by its own CPU (nginx on loopback answers at once), its deliveries/s are
inversely proportional to its work per delivery, so the ratio of work is
what the ratio of speeds converges to on a quiet machine.

Each client of ``clients.py`` runs under ``valgrind --tool=callgrind`` twice,
with N = ``--low`` and N = ``--high`` deliveries to nginx on 127.0.0.1;
``(instructions(high) - instructions(low)) / (high - low)`` is its cost per
delivery with start-up, imports and the warm-up cancelled out. The counts
are user-space instructions: the same for the same code and input whatever
else the machine is doing (within about 1 %: thread interleaving varies).
What it leaves out: time in the kernel (socket calls), and waits; ``run.py``
measures those.

By default only the timed window is counted, as ``run.py`` times it:
``clients.py`` calls the delivery phase through ``operator.call`` and
callgrind collects inside it (``--toggle-collect=_operator_call``) and inside
every other thread (``thread_run``: the sync client's event loop, Apprise's
pool). Building the N targets (N ``gm.Channel`` objects, which register
their secrets) is left out, as it is from the timed runs.
``--whole-process`` counts the whole process instead, targets included (the
figures of docs/performance.md before December 2026).

Prints a JSON list and, with ``--out``, writes it plus a Markdown table.
Needs valgrind (Debian's ``valgrind``) and nginx-light, like ``run.py``.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_CLIENTS = ("aiohttp", "govmedia-async", "govmedia-async-journal", "govmedia-sync-journal",
                   "httpx-aiohttp", "apprise")


WINDOW = ("--collect-atstart=no", "--toggle-collect=_operator_call", "--toggle-collect=thread_run")


def _instructions(python: str, client: str, n: int, base: str, concurrency: int,
                  whole: bool = False) -> int:
    with tempfile.TemporaryDirectory(prefix="govmedia-cg-") as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", *(() if whole else WINDOW), f"--callgrind-out-file={out}",
             python, str(HERE / "clients.py"), client, "--n", str(n), "--base", base,
             "--concurrency", str(concurrency)],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"{client} at N={n} failed under valgrind:\n{proc.stderr[-2000:]}")
        found = re.findall(r"Collected : (\d+)", proc.stderr)
        if not found:
            raise SystemExit(f"{client}: valgrind printed no instruction count:\n{proc.stderr[-2000:]}")
        return sum(int(x) for x in found)  # one line per process


def measure(python: str, clients: list[str], base: str, low: int, high: int,
            concurrency: int, whole: bool = False) -> list[dict[str, Any]]:
    results = []
    for client in clients:
        a = _instructions(python, client, low, base, concurrency, whole)
        b = _instructions(python, client, high, base, concurrency, whole)
        per = (b - a) / (high - low)
        results.append({"client": client, "low": low, "high": high, "window": not whole,
                        "instructions_low": a, "instructions_high": b,
                        "instructions_per_delivery": per})
        print(f"{client:28s} {per / 1e3:8.0f} k instructions per delivery", file=sys.stderr, flush=True)
    base_cost = next((r["instructions_per_delivery"] for r in results if r["client"] == "aiohttp"), None)
    for r in results:
        r["work_vs_aiohttp"] = r["instructions_per_delivery"] / base_cost if base_cost else None
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| client | k instructions per delivery | × raw aiohttp's work | speed bound, × raw aiohttp |",
             "|---|---|---|---|"]
    for r in results:
        ratio = r["work_vs_aiohttp"]
        lines.append(f"| {r['client']} | {r['instructions_per_delivery'] / 1e3:,.0f} | "
                     f"{ratio:.2f} | {1 / ratio:.2f} |" if ratio else
                     f"| {r['client']} | {r['instructions_per_delivery'] / 1e3:,.0f} | - | - |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", default=",".join(DEFAULT_CLIENTS))
    parser.add_argument("--low", type=int, default=200)
    parser.add_argument("--high", type=int, default=700)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--python", default=str(HERE.parent / ".venv" / "bin" / "python"))
    parser.add_argument("--base", help="a running receiver's /fast URL; default: start nginx here")
    parser.add_argument("--out", type=Path, help="write <out>.json and <out>.md")
    parser.add_argument("--whole-process", action="store_true",
                        help="count the whole process (targets included), not the timed window")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt-get install -y valgrind")
    clients = [c for c in args.clients.split(",") if c]
    if args.base:
        results = measure(args.python, clients, args.base, args.low, args.high, args.concurrency,
                          args.whole_process)
    else:
        sys.path.insert(0, str(HERE))
        from receiver import Nginx

        with Nginx() as nginx:
            results = measure(args.python, clients, f"{nginx.base}/fast", args.low, args.high,
                              args.concurrency, args.whole_process)
    print(json.dumps(results))
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=2))
        args.out.with_suffix(".md").write_text(table(results) + "\n")
        print(table(results), file=sys.stderr)


if __name__ == "__main__":
    main()
