#!/usr/bin/env python3
"""Set up a local environment and run the project's commands, with nothing but Python.

    python3 dev.py demo      # the fan-out demo on the built-in sandbox
    python3 dev.py test      # the whole test suite (integration tests included)
    python3 dev.py check     # ruff, mypy (strict on src/) and the docs build
    python3 dev.py docs      # build the docs site into site/

The first run creates .venv/ and installs govmedia (editable) with the test,
lint and docs dependency groups from pyproject.toml; later runs reinstall only
when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("GOVMEDIA_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".govmedia-installed"


def ensure_env() -> None:
    pyproject = (ROOT / "pyproject.toml").read_bytes()
    digest = hashlib.sha256(pyproject).hexdigest()
    if STAMP.exists() and STAMP.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    groups = tomllib.loads(pyproject.decode())["dependency-groups"]
    reqs = [r for name in ("test", "lint", "docs") for r in groups.get(name, [])]
    print("installing govmedia and its test, lint and docs tools ...", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[content,bot,distributed]", *reqs], check=True)
    STAMP.write_text(digest)


def run(*cmd: str) -> int:
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # the theme's end-of-life banner
    return subprocess.call(list(cmd), cwd=ROOT)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "help"
    rest = argv[1:]
    if command not in {"demo", "test", "check", "docs"}:
        print(__doc__)
        return 0 if command in {"help", "-h", "--help"} else 2
    ensure_env()
    if command == "demo":
        return run(str(BIN / "govmedia"), "demo", *rest)
    if command == "test":
        return run(str(PY), "-m", "pytest", *rest)
    if command == "docs":
        return run(str(PY), "-m", "mkdocs", "build", "--strict", *rest)
    status = 0
    for cmd in (
        (str(PY), "-m", "ruff", "check", "src", "tests", "benchmarks", "docs", "dev.py"),
        (str(PY), "-m", "mypy"),
        (str(PY), "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(ROOT / "site")),
    ):
        print("$", " ".join(Path(c).name if i == 0 else c for i, c in enumerate(cmd)), flush=True)
        status = run(*cmd) or status
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
