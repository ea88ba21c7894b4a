"""Summarise a profile as hot spots: self time and inclusive time per function.

    python3 benchmarks/profile_report.py PROFILE.pyisession [--top 15]
    python3 benchmarks/profile_report.py PROFILE.raw        # py-spy record --format raw

``clients.py --profile`` writes the session (sampled with async mode off, so
the event loop's wait for sockets shows up as ``select``: time the process
was idle, not working). Prints JSON: the total, then the functions with the
most self time (where the CPU went) and the govmedia functions with the most
inclusive time (which of our steps cost most, children included), each with
its share of the total, as ``path:function``.

A py-spy ``raw`` file (collapsed stacks, one ``frame;frame;... count`` per
line) is read the same way; ``run.py`` profiles the sync client with py-spy
because its work runs in worker threads, which pyinstrument does not sample.
py-spy leaves out idle threads, so its shares are of busy time.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/", "/lib/python3.12/", "/lib/python3.13/"):
        if marker in path:
            return path.split(marker, 1)[1]
    if "/govmedia/" in path:  # run.py's snapshot of the source, in a temp directory
        return "govmedia/" + path.rsplit("/govmedia/", 1)[1]
    return path


def _where(frame_info: str) -> str:
    from pyinstrument.frame_info import frame_info_get_identifier

    function, path, *_ = [*frame_info_get_identifier(frame_info).split("\x00"), "", ""]
    return f"{_short(path)}:{function}"


def _spy_where(frame: str) -> str:
    # py-spy writes "function (path/to/file.py:123)"; the line is kept, since
    # py-spy charges C calls (a SQLite COMMIT, a lock wait) to the calling line.
    function, _, rest = frame.partition(" (")
    path, _, line = rest.rstrip(")").rpartition(":")
    return f"{_short(path) if path else '?'}:{function.split('.')[-1]}@{line}"


def _records(path: Path) -> tuple[list[tuple[list[str], float]], float | None]:
    """(stack as path:function list, seconds or samples) records, and the CPU time if known."""
    if path.suffix == ".pyisession":
        from pyinstrument.session import Session

        session = Session.load(path)
        return [([_where(f) for f in stack], t) for stack, t in session.frame_records], session.cpu_time
    records = []
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            records.append(([_spy_where(f) for f in stack.split(";")], float(count)))
    return records, None


# Steps of one delivery, by the frames that mark them (inclusive time; they overlap:
# the platform's publish flow contains the send, for one).
GROUPS = (
    ("journal (SQLite)", ("govmedia/journal.py:",)),
    ("send (govmedia's sender or transport)", ("govmedia/_aio.py:send", "httpx/_client.py:send")),
    ("aiohttp request", ("aiohttp/client.py:_request",)),
    ("httpx Request/Response objects", ("httpx/_models.py:__init__",)),
    ("URL parsing (httpx)", ("httpx/_urls.py:__init__",)),
    ("platform flow (webhook.publish)", ("govmedia/platforms/webhook.py:publish",)),
    ("pipeline step", ("govmedia/_pipeline.py:step",)),
    ("retry machinery (tenacity)", ("tenacity/",)),
    ("plan and checks (fanout.decide)", ("govmedia/fanout.py:decide",)),
    ("outcome and report", ("govmedia/fanout.py:outcome", "govmedia/fanout.py:report")),
    ("TLS contexts", ("ssl.py:create_default_context", "aiohttp/connector.py:_make_ssl_context")),
)


def summarise(session_path: Path, top: int = 15, within: str | None = None) -> dict[str, Any]:
    records, cpu_time = _records(session_path)
    if within:
        # Only the samples taken inside *within* (e.g. the fan-out's worker
        # threads), not the process's start-up and shutdown around it.
        inside = [(stack, t) for stack, t in records if any(w.split("@")[0] == within for w in stack)]
        if inside:
            records = inside
        else:  # the function was renamed: better all samples than none
            within = f"{within} (not found: all samples)"
    total = sum(t for _, t in records) or 1.0
    self_time: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)
    for stack, t in records:
        if not stack:
            continue
        self_time[stack[-1]] += t
        for where in {w.split("@")[0] for w in stack}:  # once per sample, whatever the line
            inclusive[where] += t

    def rows(table: dict[str, float], keep: Any) -> list[dict[str, Any]]:
        ranked = sorted(((w, t) for w, t in table.items() if keep(w)), key=lambda wt: -wt[1])
        return [{"where": w, "weight": round(t, 4), "share_pct": round(t / total * 100, 1)}
                for w, t in ranked[:top]]

    idle = sum(t for w, t in self_time.items() if w.split("@")[0].endswith((":select", ":poll")))
    groups = []
    for name, prefixes in GROUPS:
        weight = sum(t for stack, t in records if any(w.startswith(prefixes) for w in stack))
        groups.append({"group": name, "share_pct": round(weight / total * 100, 1)})
    return {
        "source": session_path.name,
        "within": within,
        "total": round(total, 3),
        "unit": "seconds" if cpu_time is not None else "samples",
        "cpu_seconds": cpu_time,
        "idle_in_select_pct": round(idle / total * 100, 1),
        "groups": groups,
        "top_self": rows(self_time, lambda _w: True),
        "top_govmedia_inclusive": rows(inclusive, lambda w: w.startswith("govmedia/")),
        "top_library_inclusive": rows(
            inclusive,
            lambda w: w.split("/")[0] in {"httpx", "httpx_aiohttp", "aiohttp", "tenacity", "attr", "sqlite3", "anyio"},
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("session", type=Path)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--within", help="keep only samples under this path:function, "
                        "e.g. govmedia/client.py:_worker")
    args = parser.parse_args()
    print(json.dumps(summarise(args.session, args.top, args.within), indent=2))


if __name__ == "__main__":
    main()
