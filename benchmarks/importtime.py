"""How long ``import govmedia`` takes, from ``python -X importtime``.

    python3 benchmarks/importtime.py [--repeats 7] [--python .venv/bin/python]

Prints one JSON object: the median cumulative import time of ``govmedia``
(what ``-X importtime`` reports, in ms), the median wall time of a fresh
``python -c "import govmedia"`` minus that of ``python -c pass``, the same
for a first use (``gm.Post``, ``gm.Client``, ``gm.AsyncClient``, the webhook
platform), then that plus aiohttp, which the clients load on their first
request, and the packages that cost most (self time summed per top-level package, from the
median run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def default_python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


READY = ("import govmedia as gm; gm.Post; gm.Channel; gm.Client; gm.AsyncClient; "
         "import govmedia.platforms.webhook")


def importtime_once(python: str, module: str) -> tuple[float, dict[str, float]]:
    """Cumulative µs of *module*, and self µs per top-level package."""
    out = subprocess.run([python, "-X", "importtime", "-c", f"import {module}"],
                         capture_output=True, text=True, check=True).stderr
    cumulative = 0.0
    by_package: dict[str, float] = defaultdict(float)
    for line in out.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = line.removeprefix("import time:").split("|")
        name = name.strip()
        by_package[name.split(".")[0]] += float(self_us)
        if name == module:
            cumulative = float(cum_us)
    return cumulative, dict(by_package)


def wall_once(python: str, code: str) -> float:
    start = time.perf_counter()
    subprocess.run([python, "-c", code], check=True)
    return time.perf_counter() - start


def measure(python: str, repeats: int) -> dict[str, object]:
    runs = [importtime_once(python, "govmedia") for _ in range(repeats)]
    runs.sort(key=lambda r: r[0])
    median_cum, median_packages = runs[len(runs) // 2]
    bare = [wall_once(python, "pass") for _ in range(repeats)]
    full = [wall_once(python, "import govmedia") for _ in range(repeats)]
    # govmedia loads its public names on first use: what a script pays before
    # it can publish is the import plus that first use.
    ready = [wall_once(python, READY) for _ in range(repeats)]
    ready_async = [wall_once(python, READY + "; import aiohttp") for _ in range(repeats)]
    top = sorted(median_packages.items(), key=lambda kv: -kv[1])[:12]
    modules = subprocess.run(
        [python, "-c", "import sys; n=len(sys.modules); import govmedia; print(len(sys.modules)-n)"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    return {
        "importtime_ms_median": median_cum / 1000,
        "importtime_ms_all": [r[0] / 1000 for r in runs],
        "wall_ms_median": (statistics.median(full) - statistics.median(bare)) * 1000,
        "ready_ms_median": (statistics.median(ready) - statistics.median(bare)) * 1000,
        "ready_async_ms_median": (statistics.median(ready_async) - statistics.median(bare)) * 1000,
        "interpreter_start_ms_median": statistics.median(bare) * 1000,
        "modules_loaded": int(modules),
        "top_packages_self_ms": [(name, us / 1000) for name, us in top],
        "repeats": repeats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--python", default=default_python())
    args = parser.parse_args()
    measure(args.python, 1)  # warm the file cache and the bytecode cache
    print(json.dumps(measure(args.python, args.repeats)))


if __name__ == "__main__":
    main()
