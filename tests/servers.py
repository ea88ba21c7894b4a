"""Private PostgreSQL and Redis servers for the tests marked ``distributed``.

How (shared/servers.md, section 5): Debian's ``postgresql`` and
``redis-server`` packages, one private server of each per test session in a
temporary folder, on unix sockets only (no TCP port to collide with).
PostgreSQL refuses to run as root, so as root its tools run as the
``postgres`` user in a folder that user owns. Each server runs in a process
group of its own and is stopped by pid on every path: at the end of the
session, at interpreter exit, and (Linux) when the test process dies
(``PR_SET_PDEATHSIG``).

Without the packages the tests are skipped, except under ``CI``, where they
fail: CI (``.ci/run``) installs them.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("GOVMEDIA_PG_BIN", "/usr/lib/postgresql/15/bin"))


def missing(what: str) -> None:
    """Skip (fail under CI) a test whose server is not installed."""
    message = f"{what} is not installed (apt-get install -y redis-server postgresql)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _die_with_parent() -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setsid()


def _kill_group(pid: int, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    return False


class Postgres:
    """A PostgreSQL 15 cluster on a unix socket in a fresh folder (``initdb`` ~0.5 s, start ~0.3 s)."""

    def __init__(self) -> None:
        if not (PG_BIN / "postgres").exists():
            missing("PostgreSQL")
        self.root = Path(tempfile.mkdtemp(prefix="gm-pg-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self._created = False
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
        self._run([str(PG_BIN / "initdb"), "-D", str(self.root / "data"), "-A", "trust",
                   "-U", "govmedia", "--no-sync", "-E", "UTF8", "--locale=C"])
        atexit.register(self.stop)

    def _demote(self) -> None:
        """In the child: a process group of its own, and the ``postgres`` user when root."""
        _die_with_parent()
        if self._as_postgres:
            import pwd

            user = pwd.getpwnam("postgres")
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)

    def _run(self, argv: list[str]) -> None:
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=self._demote, cwd=self.root)

    def start(self) -> Postgres:
        """Start the server and wait until it takes connections."""
        log = (self.root / "pg.log").open("ab")
        self.proc = subprocess.Popen(
            [str(PG_BIN / "postgres"), "-D", str(self.root / "data"), "-k", str(self.root),
             "-c", "listen_addresses=", "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=log, stderr=log, preexec_fn=self._demote, cwd=self.root)  # noqa: PLW1509
        log.close()
        deadline = time.monotonic() + 30
        while not (self.root / ".s.PGSQL.5432").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start: "
                                   + (self.root / "pg.log").read_text(errors="replace")[-2000:])
            time.sleep(0.02)
        for _ in range(200):
            if subprocess.run([str(PG_BIN / "pg_isready"), "-h", str(self.root), "-q"],
                              check=False).returncode == 0:
                break
            time.sleep(0.02)
        if not self._created:
            self.psql("CREATE DATABASE govmedia")
            self._created = True
        return self

    def halt(self) -> None:
        """Stop the server (fast shutdown), keeping its data: `start` brings it back."""
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc.pid, signal.SIGINT)
            if not _wait_gone(self.proc.pid, 10):
                _kill_group(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(5)
        self.proc = None

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run *sql* as the superuser ``govmedia``; its output."""
        out = subprocess.run([str(PG_BIN / "psql"), "-h", str(self.root), "-U", "govmedia",
                              "-d", database, "-qAtc", sql], check=True, capture_output=True,
                             text=True)
        return out.stdout

    @property
    def dsn(self) -> str:
        """The URL of the ``govmedia`` database."""
        return f"postgresql://govmedia@/govmedia?host={self.root}"

    def fresh(self) -> str:
        """The URL of a new, empty schema: each test its own journal (~10 ms)."""
        schema = "t_" + uuid.uuid4().hex[:12]
        self.psql(f"CREATE SCHEMA {schema}", "govmedia")
        return f"{self.dsn}&options=-csearch_path%3D{schema}"

    def stop(self) -> None:
        """Stop the server (SIGINT: fast shutdown; SIGKILL after 10 s), and remove its folder."""
        self.halt()
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """A Redis 7 server on a unix socket, no persistence (starts in ~20 ms)."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            missing("Redis")
        self.root = Path(tempfile.mkdtemp(prefix="gm-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    @property
    def socket(self) -> Path:
        """The unix socket."""
        return self.root / "redis.sock"

    def url(self, db: int = 0) -> str:
        """A ``unix://`` URL of database *db*."""
        return f"unix://{self.socket}?db={db}"

    def start(self) -> Redis:
        """Start (or start again) and wait until it answers PING."""
        assert self.binary is not None
        log = (self.root / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [self.binary, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.root), "--save", "", "--appendonly", "no", "--daemonize", "no"],
            stdout=log, stderr=log, preexec_fn=_die_with_parent)  # noqa: PLW1509
        log.close()
        import redis

        deadline = time.monotonic() + 15
        while True:
            try:
                with redis.Redis(unix_socket_path=str(self.socket)) as r:
                    r.ping()
                return self
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Redis did not start: " + (self.root / "redis.log").read_text(
                        errors="replace")[-2000:]) from None
                time.sleep(0.01)

    def kill(self) -> None:
        """SIGKILL the server: an outage (everything it held is lost)."""
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()

    def stop(self) -> None:
        """Stop the server and remove its folder."""
        if self.proc is not None and self.proc.poll() is None:
            _kill_group(self.proc.pid)
            if not _wait_gone(self.proc.pid, 10):
                _kill_group(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                self.proc.wait(5)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)
