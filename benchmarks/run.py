#!/usr/bin/env python3
"""govmedia's benchmarks: fan-out speed and weight next to raw aiohttp, raw httpx and Apprise.

    python3 benchmarks/run.py               # the full run (about 30 minutes on 2 cores)
    python3 benchmarks/run.py --quick       # N = 100 and 1,000, one repeat, short extras (~2 minutes)
    python3 benchmarks/run.py --n 1000 --repeats 5 --clients aiohttp,govmedia-async-journal
    python3 benchmarks/run.py --n 0 --slow-n 0   # only the extras (import, rate limiter, journal, profile)
    python3 benchmarks/run.py --install     # install the prerequisites first (apt-get and pip)

One run starts nginx from Debian's packages on 127.0.0.1 (one worker) as the
receiver, then measures every client in its own process, side by side:

* ``fast``: nginx answers each POST at once; N = 100, 1,000 and 10,000;
* ``slow``: nginx answers after 100 ms (``echo_sleep``), like a real
  platform, so what counts is concurrency, not CPU; N = 100 and 1,000.

For each client, scenario and N it reports the median deliveries/s with the
spread (min-max) over the repeats, the ratio to raw aiohttp (and to Apprise)
in the same run, CPU ms per delivery, peak RSS of the client's process,
nginx's CPU (to show the receiver is not the bottleneck) and the CPU that
other processes on the machine used meanwhile. Then: ``import govmedia``
time, the rate limiter's precision, the journal's cost per delivery, and a
pyinstrument profile of ``AsyncClient.fan_out`` at N = 1,000 with the journal
on, summarised as hot spots, and (full runs, with valgrind) each client's CPU
work per delivery counted in instructions by callgrind (``instructions.py``),
which this machine's swings in speed cannot blur.

Results go to ``benchmarks/results/<label>.json`` and ``<label>.md``. The
exit status is non-zero only if a run failed outright (a client crashed or
did not deliver all N, or a prerequisite is missing); a missed target is
reported, not failed. Runs only against 127.0.0.1.

This script needs only the standard library; the clients run under the
project's ``.venv`` (or ``--python``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from clients import CLIENTS, DIAGNOSTICS  # noqa: E402 - the path above makes the sibling importable
from receiver import ECHO_MODULE, Nginx, nginx_binary  # noqa: E402

MODULES = ("govmedia", "aiohttp", "httpx", "httpx_aiohttp", "apprise", "pyinstrument")
TARGETS_N = 1000
CHILD_TIMEOUT = 900.0


# ----------------------------------------------------------------- prerequisites


def default_python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def missing_prerequisites(python: str) -> list[tuple[str, list[str]]]:
    """What is missing, each with the command that installs it."""
    missing: list[tuple[str, list[str]]] = []
    if nginx_binary() is None or not ECHO_MODULE.exists():
        missing.append(("nginx with the echo module (Debian: nginx-light)",
                        ["sh", "-c", "apt-get update && apt-get install -y nginx-light"]))
    probe = subprocess.run(
        [python, "-c", ("import importlib.util, sys; "
         f"print(' '.join(m for m in {MODULES!r} if importlib.util.find_spec(m) is None))")],
        capture_output=True, text=True, check=False,
    )
    if probe.returncode != 0:
        missing.append((f"a working Python at {python}", ["python3", str(ROOT / "dev.py"), "help"]))
        return missing
    absent = probe.stdout.split()
    if "govmedia" in absent:
        missing.append(("govmedia (editable)", [python, "-m", "pip", "install", "-e", str(ROOT)]))
    pip_names = {"aiohttp": "aiohttp", "httpx": "httpx", "httpx_aiohttp": "httpx-aiohttp",
                 "apprise": "apprise", "pyinstrument": "pyinstrument"}
    extra = [pip_names[m] for m in absent if m in pip_names]
    if extra:
        missing.append((", ".join(extra), [python, "-m", "pip", "install", *extra]))
    return missing


def ensure_prerequisites(python: str, install: bool) -> bool:
    if not (shutil.which("py-spy", path=str(Path(python).parent)) or shutil.which("py-spy")):
        # Optional: without it the run skips the py-spy profiles.
        command = [python, "-m", "pip", "install", "py-spy"]
        if install:
            subprocess.run(command, check=False)
        else:
            print(f"note: py-spy is missing, so its profiles are skipped: {shlex.join(command)}", file=sys.stderr)
    if shutil.which("valgrind") is None:
        # Optional too: without it the instruction counts are skipped.
        command = ["sh", "-c", "apt-get update && apt-get install -y valgrind"]
        if install:
            subprocess.run(command, check=False)
        else:
            print(f"note: valgrind is missing, so instruction counts are skipped: {shlex.join(command)}",
                  file=sys.stderr)
    missing = missing_prerequisites(python)
    if not missing:
        return True
    if not install:
        print("Missing prerequisites; install them with (or rerun with --install):", file=sys.stderr)
        for what, command in missing:
            print(f"  # {what}\n  {shlex.join(command)}", file=sys.stderr)
        return False
    for what, command in missing:
        print(f"installing {what}: {shlex.join(command)}", flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            print(f"failed: {shlex.join(command)}", file=sys.stderr)
            return False
    return not missing_prerequisites(python)


# ----------------------------------------------------------------- machine


SNAPSHOT: Path | None = None  # a frozen copy of src/govmedia the clients import, if taken


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    # Bytecode is cached (in a private directory, not the source tree), as it
    # would be for an installed wheel; without it every import recompiles.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "govmedia-bench-pycache")
    if SNAPSHOT is not None:
        # PYTHONPATH comes before the editable install's .pth entry.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SNAPSHOT), env.get("PYTHONPATH")]))
    return env


def source_fingerprint(package: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def take_snapshot(python: str) -> dict[str, str]:
    """Copy src/govmedia aside so that edits made during a long run do not mix versions."""
    global SNAPSHOT  # noqa: PLW0603 - set once, before any child starts
    live = ROOT / "src" / "govmedia"
    SNAPSHOT = Path(tempfile.mkdtemp(prefix="govmedia-bench-src-"))
    shutil.copytree(live, SNAPSHOT / "govmedia", ignore=shutil.ignore_patterns("__pycache__"))
    where = subprocess.run([python, "-c", "import govmedia; print(govmedia.__file__)"],
                           capture_output=True, text=True, check=True, env=child_env()).stdout.strip()
    if not where.startswith(str(SNAPSHOT)):
        raise SystemExit(f"the snapshot is not what the clients import ({where}); rerun with --no-snapshot")
    return {"snapshot_of": str(live), "fingerprint": source_fingerprint(SNAPSHOT / "govmedia")}


def _busy_jiffies() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle, sum(fields[:8])


def busy_cores(seconds: float) -> float:
    b0, _ = _busy_jiffies()
    time.sleep(seconds)
    b1, _ = _busy_jiffies()
    return (b1 - b0) / os.sysconf("SC_CLK_TCK") / seconds


def wait_quiet(limit: float, max_wait: float) -> float:
    """Wait (up to *max_wait* s) until other processes use under *limit* cores."""
    deadline = time.monotonic() + max_wait
    load = busy_cores(0.5)
    while load > limit and time.monotonic() < deadline:
        load = busy_cores(0.5)
    return load


def machine(python: str) -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines()
                  if line.startswith("model name")), platform.processor())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    versions = subprocess.run(
        [python, "-c", ("import json, sys, importlib.metadata as m; print(json.dumps("
         "{'python': sys.version.split()[0], **{p: m.version(p) for p in "
         "('govmedia', 'httpx', 'aiohttp', 'httpx-aiohttp', 'apprise', 'anyio', 'requests')}}))")],
        capture_output=True, text=True, check=True, env=child_env(),
    ).stdout
    nginx = subprocess.run([nginx_binary() or "nginx", "-v"], capture_output=True, text=True, check=False)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return {
        "nproc": os.cpu_count(), "cpu_model": model, "mem_gb": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(), "os": _os_name(), "nginx": nginx.stderr.strip().split("/")[-1],
        "versions": json.loads(versions), "commit": commit + ("+dirty src" if dirty else ""),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return platform.system()


# ----------------------------------------------------------------- one client run


def measure(python: str, client: str, n: int, base: str, concurrency: int, nginx: Nginx,
            profile: str | None = None, spy: str | None = None) -> dict[str, Any]:
    """Run one client in its own process; its rusage gives peak RSS and total CPU."""
    command = [python, str(HERE / "clients.py"), client, "--n", str(n), "--base", base,
               "--concurrency", str(concurrency)]
    if profile:
        command += ["--profile", profile]
    if spy:
        command += ["--py-spy", spy]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        busy0, _ = _busy_jiffies()
        nginx0 = nginx.cpu_seconds()
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=err, env=child_env())
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > CHILD_TIMEOUT:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.01)
        process.returncode = os.waitstatus_to_exitcode(status)
        lifetime = time.perf_counter() - start
        nginx_cpu = nginx.cpu_seconds() - nginx0
        busy = (_busy_jiffies()[0] - busy0) / os.sysconf("SC_CLK_TCK")
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        stderr = err.read()
    row: dict[str, Any] = {"client": client, "n": n, "exit": process.returncode}
    try:
        child = json.loads(lines[-1])
    except (IndexError, ValueError):
        row.update(failed=True, stderr=stderr[-2000:])
        return row
    process_cpu = usage.ru_utime + usage.ru_stime
    row.update(
        ok=child["ok"], wall=child["wall"], cpu=child["cpu"], cpu_sys=child.get("cpu_sys"),
        rate=child["ok"] / child["wall"] if child["wall"] else 0.0,
        cpu_ms_per_delivery=child["cpu"] / n * 1000,
        peak_rss_mb=usage.ru_maxrss / 1024, process_cpu=process_cpu,
        nginx_cpu=nginx_cpu, nginx_core_pct=nginx_cpu / child["wall"] * 100 if child["wall"] else 0.0,
        other_cores=max(0.0, busy - process_cpu - nginx_cpu) / lifetime,
        journal_bytes=child.get("journal_bytes", 0), errors=child.get("errors", []),
        failed=process.returncode != 0 or child["ok"] != n,
    )
    if row["failed"]:
        row["stderr"] = stderr[-2000:]
    return row


# ----------------------------------------------------------------- summary


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["scenario"], r["n"], r["client"])].append(r)
    out = []
    for (scenario, n, client), runs in groups.items():
        good = [r for r in runs if not r.get("failed")]
        if not good:
            out.append({"scenario": scenario, "n": n, "client": client, "failed": len(runs)})
            continue
        rates = [r["rate"] for r in good]
        out.append({
            "scenario": scenario, "n": n, "client": client, "repeats": len(good),
            "failed": len(runs) - len(good),
            "rate_median": statistics.median(rates), "rate_min": min(rates), "rate_max": max(rates),
            "cpu_ms_per_delivery": statistics.median(r["cpu_ms_per_delivery"] for r in good),
            "sys_share_pct": statistics.median(100 * (r.get("cpu_sys") or 0) / r["cpu"] for r in good if r["cpu"]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in good),
            "nginx_core_pct": statistics.median(r["nginx_core_pct"] for r in good),
            "other_cores": statistics.median(r["other_cores"] for r in good),
            "client_core_pct": statistics.median(r["cpu"] / r["wall"] * 100 for r in good),
        })
    for s in out:
        base = next((b for b in out if (b["scenario"], b["n"], b["client"]) == (s["scenario"], s["n"], "aiohttp")
                     and "rate_median" in b), None)
        apprise = next((b for b in out if (b["scenario"], b["n"], b["client"]) == (s["scenario"], s["n"], "apprise")
                        and "rate_median" in b), None)
        if "rate_median" in s:
            s["x_aiohttp"] = s["rate_median"] / base["rate_median"] if base else None
            s["x_apprise"] = s["rate_median"] / apprise["rate_median"] if apprise else None
    order = {c: i for i, c in enumerate(CLIENTS + DIAGNOSTICS)}
    out.sort(key=lambda s: (s["scenario"] != "fast", s["n"], order.get(s["client"], 99)))
    return out


def _find(summary: list[dict[str, Any]], scenario: str, n: int, client: str) -> dict[str, Any] | None:
    return next((s for s in summary if (s["scenario"], s["n"], s["client"]) == (scenario, n, client)
                 and "rate_median" in s), None)


def targets(summary: list[dict[str, Any]], extras: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []

    def add(name: str, value: float | None, goal: str, met: bool | None) -> None:
        checks.append({"target": name, "measured": value, "goal": goal, "met": met})

    # Issue 10 (the targets of issue 5 were 0.4x aiohttp, 3x and 2x Apprise).
    for n, goal in ((TARGETS_N, 0.6), (10_000, 0.45)):
        s = _find(summary, "fast", n, "govmedia-async-journal")
        ratio = s["x_aiohttp"] if s else None
        add(f"govmedia-async-journal vs raw aiohttp, N={n:,}", ratio, f">= {goal}x",
            None if ratio is None else ratio >= goal)
    for client, goal in (("govmedia-async-journal", 3), ("govmedia-sync-journal", 5)):
        s = _find(summary, "fast", TARGETS_N, client)
        ratio = s["x_apprise"] if s else None
        add(f"{client} vs Apprise, N={TARGETS_N:,}", ratio, f">= {goal}x",
            None if ratio is None else ratio >= goal)
    rss = [s["peak_rss_mb"] for s in summary
           if s["n"] == 10_000 and s["client"].startswith("govmedia") and "peak_rss_mb" in s]
    add("govmedia peak RSS, N=10,000 (worst client)", max(rss) if rss else None, "< 150 MB",
        max(rss) < 150 if rss else None)
    for row in extras.get("instructions") or []:
        if row["client"] == "govmedia-async-journal" and row.get("work_vs_aiohttp"):
            bound = 1 / row["work_vs_aiohttp"]
            add("govmedia-async-journal vs raw aiohttp, CPU work (callgrind; noise-free speed bound)",
                bound, ">= 0.6x", bound >= 0.6)
    imp = extras.get("importtime") or {}
    if imp:
        add("import govmedia (-X importtime, cumulative)", imp["importtime_ms_median"], "< 150 ms",
            imp["importtime_ms_median"] < 150)
        add("import govmedia (wall, minus bare interpreter)", imp["wall_ms_median"], "< 150 ms",
            imp["wall_ms_median"] < 150)
        add("import + first use of Client/AsyncClient (wall)", imp["ready_ms_median"], "< 150 ms",
            imp["ready_ms_median"] < 150)
    for case in extras.get("ratelimit") or []:
        ok_rate = abs(case["rate_error_pct"]) <= 2
        # nginx logs whole milliseconds: allow half a request of clock and scheduling jitter.
        ok_burst = case["observed_burst"] <= case["burst"] + 0.5
        add(f"rate limit {case['case']}: sustained rate error", case["rate_error_pct"], "within 2 %", ok_rate)
        add(f"rate limit {case['case']}: observed burst", case["observed_burst"],
            f"<= burst {case['burst']} (+0.5)", ok_burst)
    return checks


def markdown(meta: dict[str, Any], summary: list[dict[str, Any]], checks: list[dict[str, Any]],
             extras: dict[str, Any]) -> str:
    m = meta["machine"]
    v = m["versions"]
    lines = [
        f"# govmedia benchmark: {meta['label']}",
        "",
        f"- {m['date']}, commit {m['commit']}"
        + (f", source snapshot {meta['source']['fingerprint']}" if meta.get("source") else "")
        + f"; command: `{meta['command']}`",
        f"- {m['nproc']} cores, {m['cpu_model']}, {m['mem_gb']} GB, {m['os']}, kernel {m['kernel']}",
        (f"- Python {v['python']}; govmedia {v['govmedia']}, httpx {v['httpx']}, aiohttp {v['aiohttp']}, "
        f"httpx-aiohttp {v['httpx-aiohttp']}, apprise {v['apprise']}, requests {v['requests']}; nginx {m['nginx']}"),
        (f"- concurrency {meta['concurrency']} for every client but Apprise (its own pool of "
        f"min(32, cores + 4) threads); {meta['repeats']} repeat(s); median (min-max)"),
        "",
    ]
    for scenario, title in (("fast", "Receiver answers at once"), ("slow", "Receiver answers after 100 ms")):
        rows = [s for s in summary if s["scenario"] == scenario]
        if not rows:
            continue
        lines += [f"## {title}", "",
                  ("| N | client | deliveries/s (min-max) | x aiohttp | x Apprise | CPU ms/delivery (sys) "
                  "| peak RSS MB | client CPU % | nginx CPU % | other load (cores) |"),
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in rows:
            if "rate_median" not in s:
                lines.append(f"| {s['n']:,} | {s['client']} | FAILED ({s['failed']} runs) | | | | | | | |")
                continue
            xa = f"{s['x_aiohttp']:.2f}" if s.get("x_aiohttp") is not None else "-"
            xp = f"{s['x_apprise']:.2f}" if s.get("x_apprise") is not None else "-"
            fail = f" ({s['failed']} failed)" if s["failed"] else ""
            lines.append(
                f"| {s['n']:,} | {s['client']}{fail} | {s['rate_median']:,.0f} ({s['rate_min']:,.0f}-"
                f"{s['rate_max']:,.0f}) | {xa} | {xp} | {s['cpu_ms_per_delivery']:.2f} ({s['sys_share_pct']:.0f}%) | "
                f"{s['peak_rss_mb']:.0f} | {s['client_core_pct']:.0f} | {s['nginx_core_pct']:.0f} | "
                f"{s['other_cores']:.2f} |")
        lines.append("")
    imp = extras.get("importtime")
    if imp:
        lines += ["## import govmedia", "",
                  (f"- `-X importtime` cumulative: {imp['importtime_ms_median']:.0f} ms median "
                  f"(all: {', '.join(f'{x:.0f}' for x in imp['importtime_ms_all'])})"),
                  (f"- wall, `python -c 'import govmedia'` minus `python -c pass`: {imp['wall_ms_median']:.0f} ms; "
                  f"{imp['modules_loaded']} modules loaded"),
                  (f"- ready to publish (first use of gm.Post, gm.Client, gm.AsyncClient, the webhook platform): "
                  f"{imp['ready_ms_median']:.0f} ms; with aiohttp too (loaded by a client's first request): "
                  f"{imp['ready_async_ms_median']:.0f} ms"),
                  "- self time by package: " + ", ".join(f"{p} {t:.0f} ms" for p, t in imp["top_packages_self_ms"]),
                  ""]
    rl = extras.get("ratelimit")
    if rl:
        lines += ["## Rate limiter", "",
                  "| case | R/s | burst | sent | span s | sustained R/s | error % | observed burst | max in any 1 s |",
                  "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {c['case']} | {c['rate_target']:.0f} | {c['burst']} | {c['arrivals']} | {c['span_s']:.2f} | "
                  f"{c['rate']:.2f} | {c['rate_error_pct']:+.2f} | {c['observed_burst']:.2f} | {c['max_in_any_1s']} |"
                  for c in rl]
        lines.append("")
    ins = extras.get("instructions")
    if ins:
        lines += ["## CPU work per delivery (callgrind)", "",
                  (f"User-space instructions per delivery, (N={ins[0]['high']} minus N={ins[0]['low']}) / "
                   f"{ins[0]['high'] - ins[0]['low']}: the same whatever else the machine does. A client "
                   "bound by its own CPU runs at the inverse of its work, so the last column is what the "
                   "ratio of deliveries/s tends to on a quiet machine."), "",
                  "| client | k instructions per delivery | x raw aiohttp's work | speed bound, x raw aiohttp |",
                  "|---|---|---|---|"]
        for r in ins:
            ratio = r.get("work_vs_aiohttp")
            lines.append(f"| {r['client']} | {r['instructions_per_delivery'] / 1e3:,.0f} | "
                         + (f"{ratio:.2f} | {1 / ratio:.2f} |" if ratio else "- | - |"))
        lines.append("")
    jc = extras.get("journal")
    if jc:
        j = jc["journal"]
        lines += ["## Journal and overhead without network", "",
                  (f"- journal alone (N={jc['n']}): claim + settle {j['claim_settle_us_per_delivery']:.0f} us/delivery "
                  f"wall ({j['claim_settle_cpu_us_per_delivery']:.0f} us CPU), start_run "
                  f"{j['start_run_us_per_delivery']:.1f} us/delivery, {j['bytes_per_delivery']:.0f} bytes/delivery"),
                  "", "| fan-out over MockTransport | wall us/delivery | CPU us/delivery |", "|---|---|---|"]
        lines += [f"| {k} | {o['wall_us_per_delivery']:.0f} | {o['cpu_us_per_delivery']:.0f} |"
                  for k, o in jc["overhead"].items()]
        lines.append("")
    for key, title in (("pyspy_async", "AsyncClient.fan_out (py-spy)"),
                       ("pyspy_sync", "Client.fan_out (py-spy, every thread; lock waits count as busy)"),
                       ("profile", "AsyncClient.fan_out (pyinstrument: inflates call-heavy Python code)")):
        prof = extras.get(key)
        if not prof:
            continue
        lines += [f"## Profile: {title}, journal on, N={TARGETS_N}", "",
                  f"{prof['total']:.0f} {prof['unit']} sampled; idle in select: {prof['idle_in_select_pct']}%", "",
                  "| self time | share | | govmedia, inclusive | share | | libraries, inclusive | share |",
                  "|---|---|---|---|---|---|---|---|"]
        for a, b, c in zip(prof["top_self"], prof["top_govmedia_inclusive"], prof["top_library_inclusive"],
                           strict=False):
            lines.append(f"| `{a['where']}` | {a['share_pct']}% | | `{b['where']}` | {b['share_pct']}% | "
                         f"| `{c['where']}` | {c['share_pct']}% |")
        lines += ["", "Grouped (inclusive, groups overlap): " + ", ".join(
            f"{g['group']} {g['share_pct']}%" for g in prof.get("groups", [])), ""]
    if checks:
        lines += ["## Targets", "", "| target | measured | goal | met |", "|---|---|---|---|"]
        for c in checks:
            value = "-" if c["measured"] is None else f"{c['measured']:.2f}"
            met = {True: "yes", False: "**no**", None: "not measured"}[c["met"]]
            lines.append(f"| {c['target']} | {value} | {c['goal']} | {met} |")
        lines.append("")
    return "\n".join(lines)


# ----------------------------------------------------------------- extras


def run_json(command: list[str], what: str) -> Any:
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=child_env())
    if done.returncode != 0:
        print(f"{what} failed:\n{done.stderr[-3000:]}", file=sys.stderr)
        return None
    try:
        return json.loads(done.stdout)
    except ValueError:
        print(f"{what} printed no JSON:\n{done.stdout[-1000:]}", file=sys.stderr)
        return None


def profile_spy(args: argparse.Namespace, nginx: Nginx, client: str) -> Any:
    """py-spy over one client's delivery phase: every thread, and no per-call overhead.

    pyinstrument hooks every Python call, which inflates call-heavy code next
    to time spent in C (SQLite, sockets); py-spy samples from outside.
    """
    raw = args.out / f"{args.label}-pyspy-{client}-n{TARGETS_N}.raw"
    row = measure(args.python, client, TARGETS_N, f"{nginx.base}/fast", args.concurrency, nginx, spy=str(raw))
    if row.get("failed") or not raw.exists():
        # Not a failed benchmark: py-spy needs ptrace, which some containers forbid.
        print(f"py-spy could not profile (skipped): {row.get('stderr', '')[-1000:]}", file=sys.stderr)
        return None
    summary = run_json([args.python, str(HERE / "profile_report.py"), str(raw)], f"{client} profile summary")
    if summary is not None:
        summary["rate_under_profiler"] = row["rate"]
    return summary


# ----------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="N = 100 and 1,000, slow N = 100, one repeat, short extras")
    parser.add_argument("--n", help="comma-separated N for the fast receiver (default 100,1000,10000)")
    parser.add_argument("--slow-n", help="comma-separated N for the 100 ms receiver (default 100,1000; 0: skip)")
    parser.add_argument("--repeats", type=int, help="repeats per client and N (default 3)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--clients", default=",".join(CLIENTS + DIAGNOSTICS),
                        help=f"comma-separated, from: {', '.join(CLIENTS + DIAGNOSTICS)}")
    parser.add_argument("--no-extras", action="store_true", help="skip import time, rate limiter, journal, profile")
    parser.add_argument("--no-instructions", action="store_true",
                        help="skip the callgrind count of CPU work per delivery (needs valgrind; ~8 minutes)")
    parser.add_argument("--rate-seconds", type=float, help="seconds each rate-limit case holds (default 10)")
    parser.add_argument("--python", default=default_python(), help="the Python that runs the clients")
    parser.add_argument("--install", action="store_true", help="install missing prerequisites (apt-get, pip)")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="import govmedia from the live tree (default: a copy taken at the start)")
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--label", help="results file name (default: quick or full)")
    parser.add_argument("--quiet-wait", type=float, default=20.0,
                        help="seconds to wait, before each run, for other processes to calm down")
    args = parser.parse_args(argv)
    quick = args.quick
    args.ns = [int(x) for x in (args.n or ("100,1000" if quick else "100,1000,10000")).split(",") if int(x)]
    args.slow_ns = [int(x) for x in (args.slow_n or ("100" if quick else "100,1000")).split(",") if int(x)]
    args.repeats = args.repeats or (1 if quick else 3)
    args.rate_seconds = args.rate_seconds or (3.0 if quick else 10.0)
    args.label = args.label or ("quick" if quick else "full")
    args.client_list = [c.strip() for c in args.clients.split(",") if c.strip()]
    unknown = set(args.client_list) - set(CLIENTS + DIAGNOSTICS)
    if unknown:
        parser.error(f"unknown clients: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if not ensure_prerequisites(args.python, args.install):
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        return _main(args, argv)
    finally:
        if SNAPSHOT is not None:
            shutil.rmtree(SNAPSHOT, ignore_errors=True)


def _main(args: argparse.Namespace, argv: list[str]) -> int:
    source = {} if args.no_snapshot else take_snapshot(args.python)
    meta: dict[str, Any] = {
        "source": source,
        "label": args.label, "command": "python3 benchmarks/run.py " + shlex.join(argv),
        "concurrency": args.concurrency, "repeats": args.repeats, "machine": machine(args.python),
    }
    print(f"{meta['machine']['nproc']} cores, {meta['machine']['cpu_model']}, "
          f"Python {meta['machine']['versions']['python']}, commit {meta['machine']['commit']}", flush=True)
    rows: list[dict[str, Any]] = []
    extras: dict[str, Any] = {}
    failed = False
    with Nginx() as nginx:
        if not nginx.slow:
            args.slow_ns = []
        print(f"nginx {meta['machine']['nginx']} on {nginx.base}, one worker", flush=True)
        for warm in ("aiohttp", "govmedia-async", "govmedia-sync", "apprise"):  # pyc cache, nginx, page cache
            if warm in args.client_list:
                measure(args.python, warm, 200, f"{nginx.base}/fast", args.concurrency, nginx)
        plan = [("fast", n) for n in args.ns] + [("slow", n) for n in args.slow_ns]
        for scenario, n in plan:
            for repeat in range(args.repeats):
                shift = repeat % len(args.client_list)  # rotate the order so drift spreads evenly
                for client in args.client_list[shift:] + args.client_list[:shift]:
                    load = wait_quiet(0.3, args.quiet_wait)
                    row = measure(args.python, client, n, f"{nginx.base}/{scenario}", args.concurrency, nginx)
                    row.update(scenario=scenario, repeat=repeat, load_before=load)
                    rows.append(row)
                    failed |= bool(row.get("failed"))
                    status = ("FAILED " + (row.get("stderr") or str(row.get("errors")))[-300:]
                              if row.get("failed") else
                              f"{row['rate']:8,.0f}/s  cpu {row['cpu_ms_per_delivery']:.3f} ms/dlv  "
                              f"rss {row['peak_rss_mb']:.0f} MB  nginx {row['nginx_core_pct']:.0f}%  "
                              f"other {row['other_cores']:.2f}")
                    print(f"{scenario:4} N={n:<6} #{repeat} {client:24} {status}", flush=True)
        if not args.no_extras:
            wait_quiet(0.3, args.quiet_wait)
            print("rate limiter ...", flush=True)
            extras["ratelimit"] = run_json(
                [args.python, str(HERE / "ratelimit.py"), "--base", f"{nginx.base}/logged",
                 "--log", str(nginx.arrivals), "--seconds", str(args.rate_seconds)], "rate limiter")
            wait_quiet(0.3, args.quiet_wait)
            print("profile ...", flush=True)
            profile = args.out / f"{args.label}-profile-async-journal-n{TARGETS_N}"
            prof_row = measure(args.python, "govmedia-async-journal", TARGETS_N, f"{nginx.base}/fast",
                               args.concurrency, nginx, profile=str(profile))
            if prof_row.get("failed"):
                failed = True
            else:
                extras["profile"] = run_json(
                    [args.python, str(HERE / "profile_report.py"), str(profile.with_suffix(".pyisession"))],
                    "profile summary")
                if extras["profile"] is not None:
                    extras["profile"]["rate_under_profiler"] = prof_row["rate"]
            if not (args.quick or args.no_instructions) and shutil.which("valgrind"):
                print("instructions per delivery (callgrind) ...", flush=True)
                extras["instructions"] = run_json(
                    [args.python, str(HERE / "instructions.py"), "--base", f"{nginx.base}/fast",
                     "--python", args.python, "--concurrency", str(args.concurrency),
                     "--low", "200", "--high", "1200",
                     "--clients", ("aiohttp,govmedia-async,govmedia-async-journal,govmedia-sync,"
                                   "govmedia-sync-journal")],
                    "instruction counts")
                failed |= extras["instructions"] is None
            if shutil.which("py-spy", path=str(Path(args.python).parent)) or shutil.which("py-spy"):
                for key, client in (("pyspy_async", "govmedia-async-journal"),
                                    ("pyspy_sync", "govmedia-sync-journal")):
                    print(f"profile ({client}, py-spy) ...", flush=True)
                    wait_quiet(0.3, args.quiet_wait)
                    extras[key] = profile_spy(args, nginx, client)
    if not args.no_extras:
        wait_quiet(0.3, args.quiet_wait)
        print("import time ...", flush=True)
        extras["importtime"] = run_json(
            [args.python, str(HERE / "importtime.py"), "--repeats", "3" if args.quick else "9",
             "--python", args.python], "import time")
        wait_quiet(0.3, args.quiet_wait)
        print("journal cost ...", flush=True)
        extras["journal"] = run_json(
            [args.python, str(HERE / "journal_cost.py"), "--repeats", "2" if args.quick else "5"], "journal cost")
        failed |= any(extras.get(k) is None for k in ("ratelimit", "importtime", "journal", "profile"))
    if source and source_fingerprint(ROOT / "src" / "govmedia") != source["fingerprint"]:
        source["note"] = "src/govmedia changed during the run; the snapshot taken at the start was measured"
        print(source["note"], flush=True)
    summary = summarise(rows)
    checks = targets(summary, extras)
    report = markdown(meta, summary, checks, extras)
    (args.out / f"{args.label}.json").write_text(json.dumps(
        {"meta": meta, "summary": summary, "targets": checks, "extras": extras, "runs": rows}, indent=1))
    (args.out / f"{args.label}.md").write_text(report + "\n")
    print("\n" + report)
    print(f"results: {args.out / (args.label + '.json')} and .md", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
